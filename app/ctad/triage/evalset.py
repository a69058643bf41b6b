"""A small labelled set of simulated detections for `ctad eval-triage`, and the triage metrics over it.

Until the simulator and the model produce real detector output, this builds one from public data: attack events
(Stratus Red Team detonations, TrailDiscover examples: label 1) and benign events that a high-recall detector
flags anyway (Panther and OTRF benign test events, plus generated CI bots, AWS service calls, scanner and admin
routines: label 0). Every row gets ct_anomaly=1 and ct_* fields assigned the way the detector would without
looking at the label (score from a hash, technique and severity from the catalogue), so the validator is
measured on what it would see. The eval takes any detection file instead (`ctad eval-triage FILE`).
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any, Dict, Iterable, List, Optional

from ctad.core.catalog import Catalog

ATTACK_FILES = ("stratus_detonations.jsonl", "traildiscover.jsonl")
BENIGN_FILES = ("panther_rule_tests.jsonl", "otrf_scenarios.jsonl")
RISK_SEVERITY = {5: "critical", 4: "high", 3: "medium", 2: "low", 1: "low"}


def _ts(i: int) -> str:
    return f"2024-05-{1 + (i // 1440) % 28:02d}T{(i // 60) % 24:02d}:{i % 60:02d}:00Z"


def generated_benign(n_each: int = 6) -> List[Dict[str, Any]]:
    """Benign activity a high-recall detector flags: CI deploys, AWS services, scanners, admin routines."""
    acct = "111122223333"
    out: List[Dict[str, Any]] = []

    def ev(
        i: int,
        source: str,
        name: str,
        uid: Dict[str, Any],
        ua: str,
        ip: str,
        params: Any = None,
        scenario: str = "",
        error: str = "",
    ) -> Dict[str, Any]:
        e = {
            "eventVersion": "1.08",
            "userIdentity": uid,
            "eventTime": _ts(i),
            "eventSource": source,
            "eventName": name,
            "awsRegion": "us-east-1",
            "sourceIPAddress": ip,
            "userAgent": ua,
            "requestParameters": params,
            "responseElements": None,
            "requestID": f"req-{scenario}-{i}",
            "eventID": f"gen-{scenario}-{i}",
            "readOnly": name.startswith(("Get", "List", "Describe")),
            "eventType": "AwsApiCall",
            "managementEvent": True,
            "recipientAccountId": acct,
            "label": 0,
            "scenario": scenario,
        }
        if error:
            e["errorCode"] = error
        return e

    def role(name: str, session: str, invoked_by: str = "") -> Dict[str, Any]:
        uid = {
            "type": "AssumedRole",
            "principalId": f"AROAEXAMPLE{abs(hash(name)) % 9999}:{session}",
            "arn": f"arn:aws:sts::{acct}:assumed-role/{name}/{session}",
            "accountId": acct,
            "accessKeyId": "ASIAEXAMPLE" + hashlib.md5(session.encode()).hexdigest()[:9].upper(),
            "sessionContext": {
                "sessionIssuer": {
                    "type": "Role",
                    "arn": f"arn:aws:iam::{acct}:role/{name}",
                    "accountId": acct,
                    "userName": name,
                },
                "attributes": {"mfaAuthenticated": "false"},
            },
        }
        if invoked_by:
            uid["invokedBy"] = invoked_by
        return uid

    for k in range(n_each):
        # Service-linked and AWS-service automation
        out.append(
            ev(
                10 + k,
                "ec2.amazonaws.com",
                "CreateSnapshot",
                role("AWSServiceRoleForBackup", f"backup-{k}", "backup.amazonaws.com"),
                "backup.amazonaws.com",
                "backup.amazonaws.com",
                {"volumeId": f"vol-0{k}abc"},
                "aws_backup",
            )
        )
        out.append(
            ev(
                30 + k,
                "kms.amazonaws.com",
                "Decrypt",
                {"type": "AWSService", "invokedBy": "s3.amazonaws.com"},
                "s3.amazonaws.com",
                "s3.amazonaws.com",
                {"encryptionAlgorithm": "SYMMETRIC_DEFAULT"},
                "aws_service_kms",
            )
        )
        out.append(
            ev(
                50 + k,
                "iam.amazonaws.com",
                "ListRoles",
                role("WizAccess-Role", f"wiz-{k}"),
                "Wiz-Scanner/1.0 aws-sdk-go/1.44.0",
                f"34.{120 + k}.10.5",
                None,
                "scanner_wiz",
            )
        )
        out.append(
            ev(
                70 + k,
                "s3.amazonaws.com",
                "GetBucketPolicy",
                role("DatadogIntegrationRole", f"dd-{k}"),
                "aws-sdk-go/1.44.0 (go1.20; linux; amd64) datadog",
                f"3.233.{140 + k}.9",
                {"bucketName": f"logs-{k}"},
                "scanner_datadog",
            )
        )
        out.append(
            ev(
                90 + k,
                "cloudformation.amazonaws.com",
                "CreateStack",
                role("stacksets-exec-" + "0" * 31 + str(k), f"stackset-{k}"),
                "cloudformation.amazonaws.com",
                "cloudformation.amazonaws.com",
                {"stackName": f"baseline-{k}"},
                "stacksets_admin",
            )
        )
        out.append(
            ev(
                110 + k,
                "ec2.amazonaws.com",
                "DescribeInstances",
                role("aws-controltower-AuditReadOnlyRole", f"ct-audit-{k}"),
                "AWS Internal",
                "AWS Internal",
                None,
                "controltower_audit",
            )
        )
    return out


def build(shared_dir: Path, catalog: Optional[Catalog] = None) -> List[Dict[str, Any]]:
    """Detection rows (CloudTrail fields + ct_* + `_label`) built from ../shared/data/cloudtrail."""
    from ctad.core.normalize import NormalizeError, normalize

    catalog = catalog or Catalog.load()
    folder = Path(shared_dir)
    records: List[Dict[str, Any]] = []
    for name in ATTACK_FILES + BENIGN_FILES:
        path = folder / name
        if not path.is_file():
            continue
        with path.open(encoding="utf-8") as fh:
            for line in fh:
                if line.strip():
                    rec = json.loads(line)
                    if name in ATTACK_FILES and rec.get("label") != 1:
                        continue
                    records.append(rec)
    records.extend(generated_benign())
    rows = []
    for rec in records:
        label = int(rec.get("label") or 0)
        scenario = str(rec.get("scenario") or "")
        clean = {
            k: v for k, v in rec.items() if k not in ("label", "scenario") and not k.startswith(("_", "p_"))
        }
        try:
            ev = normalize(clean)
        except NormalizeError:
            continue
        info = catalog.api(ev.source, ev.name)
        digest = hashlib.sha256(json.dumps(clean, sort_keys=True, default=str).encode()).digest()
        score = 0.55 + 0.44 * (digest[0] / 255.0)  # stage one flagged it; score independent of the label
        reasons = []
        if info:
            reasons.append(f"{ev.name} is a sensitive API ({info.category}, risk {info.risk})")
        if ev.error_code:
            reasons.append(f"call failed with {ev.error_code}")
        reasons.append("first time this identity called this API")
        rows.append(
            dict(
                clean,
                ct_score=round(score, 4),
                ct_anomaly=1,
                ct_severity=RISK_SEVERITY.get(info.risk if info else 2, "low"),
                ct_reasons=reasons,
                ct_tactic=info.tactic_id if info else "",
                ct_technique=info.technique_id if info else "",
                ct_identity=ev.identity,
                ct_model="simulated-stage-one",
                ct_error="",
                _label=label,
                _scenario=scenario,
            )
        )
    return rows


def metrics(rows: Iterable[Dict[str, Any]]) -> Dict[str, Any]:
    """Precision/recall before and after the validator, automation rate, false action rate."""
    rows = [r for r in rows if r.get("triage_verdict")]
    n = len(rows)
    pos = sum(1 for r in rows if int(r.get("_label") or 0) == 1)
    neg = n - pos

    def pr(pred: List[bool]) -> Dict[str, float]:
        tp = sum(1 for r, p in zip(rows, pred) if p and int(r.get("_label") or 0) == 1)
        fp = sum(1 for r, p in zip(rows, pred) if p and int(r.get("_label") or 0) == 0)
        precision = tp / (tp + fp) if tp + fp else 0.0
        recall = tp / pos if pos else 0.0
        return {"precision": round(precision, 4), "recall": round(recall, 4), "kept": tp + fp}

    verdicts = [r["triage_verdict"] for r in rows]
    kept = [v != "false_positive" for v in verdicts]
    escalated = [v == "true_positive" for v in verdicts]
    benign_actions = sum(
        1 for r, v in zip(rows, verdicts) if v == "true_positive" and int(r.get("_label") or 0) == 0
    )
    attacks_dismissed = sum(
        1 for r, v in zip(rows, verdicts) if v == "false_positive" and int(r.get("_label") or 0) == 1
    )
    return {
        "alerts": n,
        "attacks": pos,
        "benign": neg,
        "before_validator": {
            "precision": round(pos / n, 4) if n else 0.0,
            "recall": 1.0 if pos else 0.0,
            "kept": n,
        },
        "after_validator_kept": pr(kept),
        "after_validator_true_positive_only": pr(escalated),
        "automation_rate": round(sum(1 for v in verdicts if v != "needs_review") / n, 4) if n else 0.0,
        "false_action_rate": round(benign_actions / neg, 4) if neg else 0.0,
        "attacks_dismissed": attacks_dismissed,
        "benign_removed": sum(
            1 for r, v in zip(rows, verdicts) if v == "false_positive" and int(r.get("_label") or 0) == 0
        ),
        "verdicts": {v: verdicts.count(v) for v in sorted(set(verdicts))},
        "injection_flagged": sum(1 for r in rows if r.get("triage_injection_suspected")),
        "errors": sum(1 for r in rows if r.get("triage_error")),
    }
