"""Fixtures for the Elastic adapter tests: a strict fake Elasticsearch and ECS documents.

The ECS documents follow what Elastic's AWS integration ingest pipeline produces for CloudTrail (nested objects,
``aws.cloudtrail.*``, ``event.original`` kept when the integration is told to preserve it).
"""

from __future__ import annotations

import argparse
import importlib.util
import json
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


def ecs_from_raw(raw: Dict[str, Any], keep_original: bool = False) -> Dict[str, Any]:
    """An ECS document shaped like the AWS integration's output for one CloudTrail record."""
    ui = raw.get("userIdentity") or {}
    sc = ui.get("sessionContext") or {}
    issuer = sc.get("sessionIssuer") or {}
    doc: Dict[str, Any] = {
        "@timestamp": raw.get("eventTime"),
        "event": {
            "action": raw.get("eventName"),
            "provider": raw.get("eventSource"),
            "id": raw.get("eventID"),
            "outcome": "failure" if raw.get("errorCode") else "success",
            "kind": "event",
            "dataset": "aws.cloudtrail",
        },
        "cloud": {"account": {"id": raw.get("recipientAccountId")}, "region": raw.get("awsRegion")},
        "source": {"address": raw.get("sourceIPAddress")},
        "user_agent": {"original": raw.get("userAgent")},
        "aws": {
            "cloudtrail": {
                "event_version": raw.get("eventVersion"),
                "event_type": raw.get("eventType"),
                "user_identity": {
                    "type": ui.get("type"),
                    "arn": ui.get("arn"),
                    "access_key_id": ui.get("accessKeyId"),
                    "invoked_by": ui.get("invokedBy"),
                    "session_context": {
                        "mfa_authenticated": (sc.get("attributes") or {}).get("mfaAuthenticated"),
                        "session_issuer": {"arn": issuer.get("arn"), "type": issuer.get("type")},
                    },
                },
            }
        },
        "data_stream": {"type": "logs", "dataset": "aws.cloudtrail", "namespace": "default"},
    }
    ip = raw.get("sourceIPAddress") or ""
    if ip and ip[0].isdigit():
        doc["source"]["ip"] = ip
    if ui.get("userName"):
        doc["user"] = {"name": ui["userName"]}
    if raw.get("errorCode"):
        doc["aws"]["cloudtrail"]["error_code"] = raw["errorCode"]
        doc["aws"]["cloudtrail"]["error_message"] = raw.get("errorMessage")
    if raw.get("requestParameters") is not None:
        doc["aws"]["cloudtrail"]["request_parameters"] = json.dumps(raw["requestParameters"])
        doc["aws"]["cloudtrail"]["flattened"] = {"request_parameters": raw["requestParameters"]}
    if keep_original:
        doc["event"]["original"] = json.dumps(raw)
    return doc


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
    from ctad.features import FEATURE_INDEX, FEATURE_NAMES, FEATURES

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
