"""Throughput of the Elastic adapter against the in-process fake cluster (tests/elastic/fake_es.py).

    .venv/bin/python bench/elastic_roundtrip.py --docs 20000 [--model DIR]

What it measures: ctad's read (PIT + search_after), bulk write and full ``ctad elastic detect`` loop through the
real elasticsearch-py client over HTTP. The fake server is single-process Python and shares the 2 cores with the
client, so these are lower bounds for ctad's own cost and say nothing about a real cluster's speed.
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
REPO = HERE.parent


def _load(name: str, path: Path):
    spec = importlib.util.spec_from_file_location(name, path)
    mod = importlib.util.module_from_spec(spec)
    sys.modules[name] = mod
    spec.loader.exec_module(mod)
    return mod


def _tiny_model(out: Path) -> Path:
    import numpy as np
    import xgboost as xgb
    from ctad.core.features import FEATURE_NAMES, FEATURES

    rng = np.random.default_rng(1)
    X = rng.random((3000, len(FEATURE_NAMES))).astype(np.float32)
    y = X[:, 0] > 0.8
    booster = xgb.train({"objective": "binary:logistic", "max_depth": 6, "nthread": 1},
                        xgb.DMatrix(X, label=y.astype(int)), num_boost_round=100)  # fmt: skip
    booster.save_model(str(out / "model.json"))
    spec = {"version": "bench", "file": "model.json", "threshold": 0.5,
            "features": [{"name": n, "meaning": m} for n, m in FEATURES]}  # fmt: skip
    (out / "feature_spec.json").write_text(json.dumps(spec))
    return out


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--docs", type=int, default=20000)
    ap.add_argument("--page-size", type=int, default=1000)
    ap.add_argument(
        "--model", default=None, help="model dir (default: a 100-tree depth-6 XGBoost trained here)"
    )
    args = ap.parse_args()

    fake_mod = _load("ctad_bench_fake_es", REPO / "tests" / "elastic" / "fake_es.py")
    conf = _load("ctad_bench_conftest", REPO / "tests" / "elastic" / "conftest.py")
    from ctad.cli import main as ctad_main
    from ctad.elastic.connect import make_client
    from ctad.elastic.reader import read_documents
    from ctad.elastic.writer import WriteTarget, row_meta, write_results

    index = ".ds-logs-aws.cloudtrail-default-bench"
    server = fake_mod.FakeES()
    url = server.start()
    make = conf.make_ecs.__wrapped__()  # the fixture's factory
    users = [f"user{i}" for i in range(50)]
    docs = [make(i, user=users[i % 50], minutes=i / 20, ip=f"198.51.100.{i % 200}") for i in range(args.docs)]
    server.add_docs(index, docs)
    client = make_client(argparse.Namespace(url=url, api_key=None, user=None, password=None, ca_certs=None,
                                            insecure=False, request_timeout=60.0), environ={})  # fmt: skip
    figures = {"docs": args.docs, "page_size": args.page_size}

    # Wall rates include the fake server (other threads, same 2 cores); *_per_cpu_s counts only this thread's CPU,
    # i.e. ctad + elasticsearch-py, which is what a real deployment pays on the client side.
    for slices in (1, 2):
        t, c = time.perf_counter(), time.thread_time()
        n = sum(1 for _ in read_documents(client, index, page_size=args.page_size, slices=slices))
        figures[f"read_docs_per_s_slices{slices}"] = round(n / (time.perf_counter() - t))
        if slices == 1:
            figures["read_docs_per_client_cpu_s"] = round(n / (time.thread_time() - c))

    metas = [row_meta(d, True) for d in read_documents(client, index, page_size=args.page_size)]
    ct = {"ct_score": 0.1, "ct_anomaly": 0, "ct_severity": "informational", "ct_reasons": [], "ct_tactic": "",
          "ct_technique": "", "ct_identity": "x", "ct_model": "bench", "ct_error": ""}  # fmt: skip
    for target in (WriteTarget("update"), WriteTarget("index", "ctad-anomalies-bench")):
        t, c = time.perf_counter(), time.thread_time()
        report = write_results(client, ((m, ct) for m in metas), target)
        assert report.failed == 0, report.as_dict()
        figures[f"write_{target.mode}_rows_per_s"] = round(report.written / (time.perf_counter() - t))
        figures[f"write_{target.mode}_rows_per_client_cpu_s"] = round(
            report.written / (time.thread_time() - c)
        )

    with tempfile.TemporaryDirectory() as tmp:
        model = args.model or str(_tiny_model(Path(tmp)))
        summary = Path(tmp) / "summary.json"
        t, c = time.perf_counter(), time.thread_time()
        code = ctad_main(["elastic", "detect", "--url", url, "--index", index, "--from", "2000-01-01T00:00:00Z",
                          "--to", "now", "--model", model, "--write", "index:ctad-anomalies-bench",
                          "--page-size", str(args.page_size), "--summary-json", str(summary)])  # fmt: skip
        elapsed, cpu = time.perf_counter() - t, time.thread_time() - c
        assert code == 0, summary.read_text()
        figures["detect_end_to_end_rows_per_s"] = round(args.docs / elapsed)
        figures["detect_end_to_end_rows_per_client_cpu_s"] = round(args.docs / cpu)
    server.stop()
    print(json.dumps(figures, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
