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
from cloudtrail_event import CloudTrailEvent, ecs_from_raw, iam_user

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
        event = CloudTrailEvent(action, provider, time=when.timestamp(), ip=ip, version="1.08",
                                ua="aws-cli/2.15.0 Python/3.11.6 Linux/6.1 exe/x86_64", account=account,
                                identity=iam_user(user, account, key="AKIAEXAMPLE" + user.upper(),
                                                  principal_id="AIDAEXAMPLE" + user.upper()),
                                params={"maxResults": 5}, event_id=f"00000000-0000-0000-0000-{i:012d}")  # fmt: skip
        return event.as_ecs(keep_original=keep_original)

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
