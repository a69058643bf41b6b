"""Deterministic detection + triage output rows for the report tests (shaped like `ctad detect`/`ctad triage`)."""

from __future__ import annotations

import datetime as dt
import random
from typing import Any, Dict, Iterator

XSS_UA = '"><script>alert("ua")</script><img src=x onerror=alert(1)>'
XSS_REASON = "<script>alert('reason')</script> first use of iam:CreateAccessKey"
XSS_IDENTITY = "arn:aws:iam::123456789012:user/<svg onload=alert(3)>"
XSS_SUMMARY = "</td></tr></table><iframe src=javascript:alert(4)>"

IDENTITIES = [
    "arn:aws:iam::123456789012:user/ci-deployer",
    "arn:aws:iam::123456789012:role/DataPipeline",
    "arn:aws:iam::123456789012:user/alice",
    "arn:aws:iam::123456789012:root",
    XSS_IDENTITY,
]
CALLS = [
    ("iam.amazonaws.com", "CreateAccessKey", "TA0003", "T1098.001", "first CreateAccessKey by this identity"),
    (
        "sts.amazonaws.com",
        "GetCallerIdentity",
        "TA0007",
        "T1087.004",
        "API call from a new ASN for this identity",
    ),
    (
        "ec2.amazonaws.com",
        "ModifySnapshotAttribute",
        "TA0010",
        "T1537",
        "snapshot shared with a foreign account",
    ),
    ("cloudtrail.amazonaws.com", "StopLogging", "TA0005", "T1562.008", "logging disabled"),
    ("secretsmanager.amazonaws.com", "GetSecretValue", "TA0006", "T1555.006", "burst of GetSecretValue"),
    ("s3.amazonaws.com", "GetObject", "", "", "unusual hour for this identity"),
]
SEVS = ["critical", "high", "medium", "low", "informational"]


def rows(
    n: int = 400, anomaly_every: int = 7, triage: bool = True, xss: bool = True, seed: int = 3
) -> Iterator[Dict[str, Any]]:
    rng = random.Random(seed)
    start = dt.datetime(2024, 5, 6, 0, 0, tzinfo=dt.timezone.utc)
    for i in range(n):
        t = start + dt.timedelta(minutes=11 * i + rng.randint(0, 9))
        src, name, tactic, technique, reason = CALLS[i % len(CALLS)]
        # background noise every `anomaly_every` rows, plus an attack burst in the middle of the span
        burst = n * 0.45 <= i < n * 0.55 and i % 2 == 0
        anomaly = i % anomaly_every == 0 or burst
        identity = IDENTITIES[3 if burst and i % 3 else (i // 3) % len(IDENTITIES)]
        row: Dict[str, Any] = {
            "eventTime": t.strftime("%Y-%m-%dT%H:%M:%SZ"),
            "eventID": f"evt-{i:05d}",
            "eventSource": src,
            "eventName": name,
            "awsRegion": "eu-west-1",
            "sourceIPAddress": f"198.51.100.{i % 250}",
            "userAgent": XSS_UA if (xss and i % 14 == 0) else "aws-cli/2.15.0 Python/3.11.6 Linux/6.1",
            "recipientAccountId": "123456789012",
            "userIdentity": {"type": "IAMUser", "arn": identity},
            "ct_score": round(0.62 + 0.38 * rng.random(), 4) if anomaly else round(0.2 * rng.random(), 4),
            "ct_anomaly": 1 if anomaly else 0,
            "ct_severity": (SEVS[(i // 2) % 2] if burst else SEVS[2 + i % 3]) if anomaly else "informational",
            "ct_reasons": ([XSS_REASON] if xss and i % 21 == 0 else [])
            + [reason, f"score {i % 9} above peer median"]
            if anomaly
            else [],
            "ct_tactic": tactic if anomaly else "",
            "ct_technique": technique if anomaly else "",
            "ct_identity": identity,
            "ct_model": "xgb-2024.05",
            "ct_error": "",
        }
        if triage:
            row.update(
                {
                    "triage_verdict": ["true_positive", "needs_review", "false_positive"][i % 3]
                    if anomaly
                    else "",
                    "triage_confidence": 0.81 if anomaly else None,
                    "triage_severity": row["ct_severity"] if anomaly else "",
                    "triage_summary": (
                        XSS_SUMMARY
                        if xss and i % 28 == 0
                        else f"{name} by {identity.rsplit('/', 1)[-1]} looks off-pattern"
                    )
                    if anomaly
                    else "",
                    "triage_explanation": "Baseline shows no prior use.\nNo allowlist entry matches."
                    if anomaly
                    else "",
                    "triage_tactic": tactic if anomaly else "",
                    "triage_technique": technique if anomaly else "",
                    "triage_actions": [
                        "Disable the access key",
                        "Review CloudTrail for the key's other calls",
                    ]
                    if anomaly
                    else [],
                    "triage_backend": "offline" if anomaly else "",
                    "triage_cached": 1 if anomaly and i % 2 else 0,
                    "triage_error": "",
                    "triage_injection_suspected": 1 if anomaly and xss and i % 14 == 0 else 0,
                }
            )
        yield row
