"""Fixtures for the Elastic adapter tests: a strict fake Elasticsearch and ECS documents.

The ECS documents follow what Elastic's AWS integration ingest pipeline produces for CloudTrail (nested objects,
``aws.cloudtrail.*``, ``event.original`` kept when the integration is told to preserve it).
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import re
import sys
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any, Callable, Dict, Iterator, Optional

import pytest

_spec = importlib.util.spec_from_file_location("ctad_tests_fake_es", Path(__file__).with_name("fake_es.py"))
fake_es_module = importlib.util.module_from_spec(_spec)  # type: ignore[arg-type]
sys.modules["ctad_tests_fake_es"] = fake_es_module
_spec.loader.exec_module(fake_es_module)  # type: ignore[union-attr]
FakeES = fake_es_module.FakeES

pytest.importorskip("elasticsearch")


@pytest.fixture
def fake_es() -> Iterator[Any]:
    """A running fake cluster; the test fails at teardown if ctad sent a request shape Elasticsearch rejects."""
    server = FakeES()
    server.url = server.start()
    server.expect_shape_errors = False
    yield server
    server.stop()
    if not server.expect_shape_errors:
        assert server.shape_errors == [], server.shape_errors


def conn_args(url: str, **extra: Any) -> argparse.Namespace:
    base = {"url": url, "api_key": None, "user": None, "password": None, "ca_certs": None, "insecure": False,
            "request_timeout": 10.0}  # fmt: skip
    base.update(extra)
    return argparse.Namespace(**base)


@pytest.fixture
def es_client(fake_es: Any) -> Any:
    """The real elasticsearch-py client, built by ctad's own connection code."""
    from ctad.elastic.connect import make_client

    client = make_client(conn_args(fake_es.url), environ={})
    yield client
    client.close()


def _drop_empty(obj: Any) -> Any:
    """The integration drops null/empty values recursively before mapping."""
    if isinstance(obj, dict):
        out = {k: _drop_empty(v) for k, v in obj.items()}
        return {k: v for k, v in out.items() if v not in (None, "", {}, [])}
    if isinstance(obj, list):
        out_list = [_drop_empty(v) for v in obj]
        return [v for v in out_list if v not in (None, "", {}, [])]
    return obj


def _java_map_string(value: Any) -> str:
    """What the pipeline's painless ``toString()`` makes of requestParameters: ``{k=v, k2=[a, b]}``, not JSON."""
    if isinstance(value, dict):
        return "{" + ", ".join(f"{k}={_java_map_string(v)}" for k, v in value.items()) + "}"
    if isinstance(value, list):
        return "[" + ", ".join(_java_map_string(v) for v in value) + "]"
    return str(value)


def ecs_from_raw(raw: Dict[str, Any], keep_original: bool = False) -> Dict[str, Any]:
    """An ECS document shaped like the AWS integration's ingest pipeline output for one CloudTrail record.

    Field by field after packages/aws/data_stream/cloudtrail/elasticsearch/ingest_pipeline/default.yml in
    elastic/integrations: cloud.account.id from userIdentity.accountId, user.name from userName (or the session
    issuer's userName), source.address always and source.ip only for an IP, request_parameters as a Java map
    string plus aws.cloudtrail.flattened.request_parameters as an object, event.original only when the
    integration preserves it, empty values dropped.
    """
    raw = _drop_empty(raw)
    ui = raw.get("userIdentity") or {}
    sc = ui.get("sessionContext") or {}
    issuer = sc.get("sessionIssuer") or {}
    ct: Dict[str, Any] = {
        "event_version": raw.get("eventVersion"),
        "event_type": raw.get("eventType"),
        "event_category": raw.get("eventCategory"),
        "recipient_account_id": raw.get("recipientAccountId"),
        "request_id": raw.get("requestID"),
        "read_only": raw.get("readOnly"),
        "management_event": raw.get("managementEvent"),
        "error_code": raw.get("errorCode"),
        "error_message": raw.get("errorMessage"),
        "user_identity": {
            "type": ui.get("type"),
            "arn": ui.get("arn"),
            "access_key_id": ui.get("accessKeyId"),
            "invoked_by": ui.get("invokedBy"),
            "session_context": {
                "mfa_authenticated": (sc.get("attributes") or {}).get("mfaAuthenticated"),
                "creation_date": (sc.get("attributes") or {}).get("creationDate"),
                "session_issuer": {
                    "type": issuer.get("type"),
                    "arn": issuer.get("arn"),
                    "principal_id": issuer.get("principalId"),
                    "account_id": issuer.get("accountId"),
                },
            },
        },
    }
    flattened: Dict[str, Any] = {}
    for src, dst in (("requestParameters", "request_parameters"), ("responseElements", "response_elements"),
                     ("additionalEventData", "additional_eventdata")):  # fmt: skip
        value = raw.get(src)
        if value is not None:
            ct[dst] = _java_map_string(value)
            if len(ct[dst]) < 32766:
                flattened[dst] = value
    ct["flattened"] = flattened
    extra = raw.get("additionalEventData") or {}
    if raw.get("eventName") == "ConsoleLogin" and isinstance(extra, dict) and "MFAUsed" in extra:
        ct["console_login"] = {"additional_eventdata": {"mfa_used": extra["MFAUsed"] != "No"}}
    address = raw.get("sourceIPAddress")
    source: Dict[str, Any] = {"address": address}
    if isinstance(address, str) and re.match(
        r"^(\d{1,3}(\.\d{1,3}){3}|[0-9a-fA-F:]+:[0-9a-fA-F:]*)$", address
    ):
        source["ip"] = address
    doc: Dict[str, Any] = {
        "@timestamp": _es_date(raw.get("eventTime")),
        "event": {
            "action": raw.get("eventName"),
            "provider": raw.get("eventSource"),
            "id": raw.get("eventID"),
            "outcome": "failure" if raw.get("errorCode") else "success",
            "kind": "event",
            "original": json.dumps(raw) if keep_original else None,
        },
        "cloud": {"account": {"id": ui.get("accountId")}, "region": raw.get("awsRegion")},
        "source": source,
        "user": {"name": issuer.get("userName") or ui.get("userName"), "id": ui.get("principalId")},
        "user_agent": {"original": raw.get("userAgent")},
        "aws": {"cloudtrail": ct},
        "data_stream": {"type": "logs", "dataset": "aws.cloudtrail", "namespace": "default"},
    }
    return _drop_empty(doc)


def _es_date(value: Any) -> Any:
    """The pipeline's date processor re-renders eventTime with milliseconds (2019-10-02T22:12:29.000Z)."""
    if isinstance(value, str) and len(value) == 20 and value.endswith("Z"):
        return value[:-1] + ".000Z"
    return value


@pytest.fixture
def to_ecs() -> Callable[..., Dict[str, Any]]:
    """``to_ecs(raw_record, keep_original=False)``: the integration's ECS document for a CloudTrail record."""
    return ecs_from_raw


@pytest.fixture
def make_ecs() -> Callable[..., Dict[str, Any]]:
    """Synthetic ECS CloudTrail documents: ``make_ecs(i, action=..., provider=..., user=...)``."""
    start = datetime(2026, 11, 20, 8, 0, tzinfo=timezone.utc)

    def build(
        i: int,
        action: str = "DescribeInstances",
        provider: str = "ec2.amazonaws.com",
        user: str = "alice",
        account: str = "111122223333",
        ip: str = "198.51.100.7",
        minutes: Optional[float] = None,
        keep_original: bool = False,
    ) -> Dict[str, Any]:
        when = start + timedelta(minutes=i if minutes is None else minutes)
        raw = {
            "eventVersion": "1.08",
            "eventTime": when.strftime("%Y-%m-%dT%H:%M:%SZ"),
            "eventSource": provider,
            "eventName": action,
            "awsRegion": "us-east-1",
            "sourceIPAddress": ip,
            "userAgent": "aws-cli/2.15.0 Python/3.11.6 Linux/6.1 exe/x86_64",
            "userIdentity": {
                "type": "IAMUser",
                "principalId": "AIDAEXAMPLE" + user.upper(),
                "arn": f"arn:aws:iam::{account}:user/{user}",
                "accountId": account,
                "accessKeyId": "AKIAEXAMPLE" + user.upper(),
                "userName": user,
            },
            "requestParameters": {"maxResults": 5},
            "eventID": f"00000000-0000-0000-0000-{i:012d}",
            "eventType": "AwsApiCall",
            "recipientAccountId": account,
        }
        return ecs_from_raw(raw, keep_original=keep_original)

    return build


@pytest.fixture(scope="session")
def tiny_model(tmp_path_factory: Any) -> Path:
    """A small real XGBoost model over the engine's feature list: novel API from a novel address scores high.

    Quality is irrelevant here; it makes the Elastic round trip run the real model runtime, not a stub.
    """
    np = pytest.importorskip("numpy")
    xgb = pytest.importorskip("xgboost")
    from ctad.core.features import FEATURE_INDEX, FEATURE_NAMES, FEATURES

    rng = np.random.default_rng(11)
    X = rng.random((3000, len(FEATURE_NAMES))).astype(np.float32)
    for name in ("id_api_first", "id_ip_first"):
        X[:, FEATURE_INDEX[name]] = (rng.random(len(X)) < 0.3).astype(np.float32)
    y = (X[:, FEATURE_INDEX["id_api_first"]] == 1) & (X[:, FEATURE_INDEX["id_ip_first"]] == 1)
    booster = xgb.train({"objective": "binary:logistic", "max_depth": 3, "nthread": 1},
                        xgb.DMatrix(X, label=y.astype(int)), num_boost_round=15)  # fmt: skip
    out = tmp_path_factory.mktemp("elastic-model")
    booster.save_model(str(out / "model.json"))
    spec = {"version": "elastic-test", "file": "model.json", "threshold": 0.5,
            "features": [{"name": n, "meaning": m} for n, m in FEATURES]}  # fmt: skip
    (out / "feature_spec.json").write_text(json.dumps(spec))
    return out
