"""Benign workloads that looked like attacks on real accounts: IaC runs creating dozens of resources in minutes
(and tearing them down later), bulk S3 reads with a KMS Decrypt per object, and AWS-service noise."""

from __future__ import annotations

import json
from collections import Counter
from typing import Any, Dict, List, Tuple

import pytest
from ctad.simulate import SimConfig, generate, plan
from ctad.simulate.org import DAY

CREATE_VERBS = ("Create", "Put", "Attach", "Authorize", "Add", "Enable", "Set")


@pytest.fixture(scope="module")
def run() -> Tuple[Any, List[Dict[str, Any]]]:
    cfg = SimConfig(seed=11, days=14, events=30_000, campaigns=10)
    p = plan(cfg)
    return p, list(generate(cfg, p))


def _epoch(text: str) -> float:
    import calendar
    import time

    return float(calendar.timegm(time.strptime(text, "%Y-%m-%dT%H:%M:%SZ")))


def test_iac_runs_at_a_realistic_rate_and_in_the_output(run) -> None:
    p, recs = run
    runs = p.workloads["iac"]
    workdays = 10  # 14 days from a Monday
    assert len(runs) >= 0.2 * workdays * len(p.org.accounts)  # a few runs per account per week
    assert {r.executor for r in runs} == {"admin", "ci"}
    assert {r.tool for r in runs} == {"terraform", "cloudformation"}
    assert any(r.teardown is not None for r in runs)
    ids = {r["eventID"] for r in recs}
    for job in runs[:5]:  # a job's stream is deterministic: the same records are in the merged output
        assert {rec["eventID"] for _t, rec in job.stream()} <= ids
        assert all(rec["_label"] == 0 for _t, rec in job.stream())


def test_iac_run_creates_dozens_of_resources_in_minutes(run) -> None:
    p, _recs = run
    seen: Counter = Counter()
    big = 0
    for job in p.workloads["iac"]:
        recs = [rec for _t, rec in job.stream()]
        apply = [r for r in recs if _epoch(r["eventTime"]) < job.t + 3600]
        creates = [
            r for r in apply if r["eventName"].startswith(CREATE_VERBS) and r["eventName"] != "CreateStack"
        ]
        span = _epoch(creates[-1]["eventTime"]) - _epoch(creates[0]["eventTime"])
        assert span < 15 * 60
        big += len(creates) >= 20
        seen.update(r["eventName"] for r in recs)
        by_name = {}
        for r in recs:
            by_name.setdefault(r["eventName"], []).append(r["requestParameters"] or {})
        users = {x["userName"] for x in by_name.get("CreateUser", [])}
        for x in by_name.get("CreateAccessKey", []) + by_name.get("CreateLoginProfile", []):
            assert x["userName"] in users  # credentials for the users this run just created
        secrets = {x["name"] for x in by_name.get("CreateSecret", [])}
        for x in by_name.get("GetSecretValue", []):
            if x.get("secretId", "").startswith(job.stack):
                assert x["secretId"] in secrets
        for x in by_name.get("PutBucketPolicy", []):
            doc = json.loads(x["bucketPolicy"])
            for st in doc["Statement"]:
                if st["Effect"] == "Allow":  # never public, never another account
                    assert st["Principal"] != "*" and job.account.id in json.dumps(st["Principal"])
        if job.tool == "cloudformation":
            made = [r for r in recs if r["userIdentity"].get("invokedBy") == "cloudformation.amazonaws.com"]
            assert made and all(r["sourceIPAddress"] == "cloudformation.amazonaws.com" for r in made)
        else:
            assert all("Terraform/" in r["userAgent"] for r in creates)
        if job.teardown is not None:
            assert any(
                r["eventName"].startswith("Delete") and _epoch(r["eventTime"]) >= job.teardown for r in recs
            )
    assert big >= len(p.workloads["iac"]) // 2
    for name in ("CreateRole", "PutRolePolicy", "AttachRolePolicy", "CreateUser", "CreateLoginProfile",
                 "CreateAccessKey", "PutBucketPolicy", "CreateFunction20150331", "AuthorizeSecurityGroupEgress",
                 "CreateSecret", "GetSecretValue", "DeleteRole", "DeleteUser"):  # fmt: skip
        assert seen[name], name


def test_bulk_read_comes_with_kms_decrypts(run) -> None:
    p, recs = run
    jobs = p.workloads["bulk-read"]
    assert jobs
    ids = {r["eventID"] for r in recs}
    for job in jobs:
        out = [rec for _t, rec in job.stream()]
        assert {r["eventID"] for r in out} <= ids
        gets = [r for r in out if r["eventName"] == "GetObject"]
        decrypts = [r for r in out if r["eventName"] == "Decrypt"]
        assert len(gets) >= 1000 and len(decrypts) == len(gets)
        assert _epoch(out[-1]["eventTime"]) - _epoch(out[0]["eventTime"]) <= 3600
        assert all(r["eventCategory"] == "Data" for r in gets)
        objects = {
            "arn:aws:s3:::%s/%s" % (g["requestParameters"]["bucketName"], g["requestParameters"]["key"])
            for g in gets
        }
        assert {d["requestParameters"]["encryptionContext"]["aws:s3:arn"] for d in decrypts} == objects
        for d in decrypts:
            assert d["eventSource"] == "kms.amazonaws.com" and d["resources"][0]["type"] == "AWS::KMS::Key"
            if job.kms_by == "s3":
                assert (
                    d["sourceIPAddress"] == "s3.amazonaws.com"
                    and d["userIdentity"]["invokedBy"] == "s3.amazonaws.com"
                )
            else:
                assert d["sourceIPAddress"] == gets[0]["sourceIPAddress"]
            assert d["userIdentity"]["arn"] == gets[0]["userIdentity"]["arn"]  # on behalf of the reader


def test_bulk_reads_now_and_then() -> None:
    """About one a week per organisation, whatever the seed (planned from the calendar, not from luck)."""
    counts = [
        len(plan(SimConfig(seed=s, days=28, events=40_000, campaigns=1)).workloads["bulk-read"])
        for s in range(6)
    ]
    assert all(c >= 1 for c in counts) and 3 <= sum(counts) / len(counts) <= 8, counts


def test_aws_service_noise_all_the_time(run) -> None:
    p, recs = run
    benign = [r for r in recs if r["_label"] == 0]
    invoked = Counter(
        r["userIdentity"].get("invokedBy") for r in benign if r["userIdentity"].get("invokedBy")
    )
    for svc in ("config", "cloudtrail", "guardduty", "inspector2", "rds", "lambda", "secretsmanager",
                "elasticloadbalancing", "autoscaling"):  # fmt: skip
        assert invoked[svc + ".amazonaws.com"], svc
    assert sum(invoked.values()) >= 0.15 * len(benign)  # a large share, as on real accounts
    assert any(
        "/aws-service-role/"
        in r["userIdentity"].get("sessionContext", {}).get("sessionIssuer", {}).get("arn", "")
        for r in benign
    )
    assert Counter(r["userAgent"] for r in benign)["AWS Internal"] >= 20
    assert any(r["eventType"] == "AwsServiceEvent" for r in benign)
    # every day of the period, not in bursts
    days = {
        int((_epoch(r["eventTime"]) - p.org.start) // DAY)
        for r in benign
        if r["userIdentity"].get("invokedBy")
    }
    assert days == set(range(p.org.days))
