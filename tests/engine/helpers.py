"""Builders for test events in every shape the engine accepts."""

from __future__ import annotations

import json
from typing import Any, Dict, List, Optional


def raw_event(
    name: str = "ListBuckets",
    source: str = "s3.amazonaws.com",
    time: str = "2024-05-01T10:00:00Z",
    event_id: str = "e-1",
    arn: str = "arn:aws:iam::111122223333:user/alice",
    itype: str = "IAMUser",
    ip: str = "198.51.100.7",
    ua: str = "aws-cli/2.15.0 Python/3.11.6 Linux/6.1 exe/x86_64.ubuntu.22",
    key: str = "AKIAEXAMPLE0000001",
    error: Optional[str] = None,
    params: Optional[Dict[str, Any]] = None,
    region: str = "us-east-1",
    account: str = "111122223333",
    issuer: Optional[str] = None,
) -> Dict[str, Any]:
    uid: Dict[str, Any] = {"type": itype, "arn": arn, "accountId": account, "accessKeyId": key,
                           "principalId": "AIDAEXAMPLE"}  # fmt: skip
    if itype == "IAMUser":
        uid["userName"] = arn.rsplit("/", 1)[-1]
    if issuer:
        uid["sessionContext"] = {"sessionIssuer": {"type": "Role", "arn": issuer, "accountId": account},
                                 "attributes": {"mfaAuthenticated": "false", "creationDate": time}}  # fmt: skip
    ev = {
        "eventVersion": "1.09",
        "userIdentity": uid,
        "eventTime": time,
        "eventSource": source,
        "eventName": name,
        "awsRegion": region,
        "sourceIPAddress": ip,
        "userAgent": ua,
        "requestParameters": params,
        "responseElements": None,
        "requestID": "r-" + event_id,
        "eventID": event_id,
        "readOnly": name.startswith(("List", "Get", "Describe")),
        "eventType": "AwsApiCall",
        "managementEvent": True,
        "recipientAccountId": account,
        "eventCategory": "Management",
    }
    if error:
        ev["errorCode"] = error
        ev["errorMessage"] = "User is not authorized"
    return ev


def flatten(obj: Any, prefix: str = "", out: Optional[Dict[str, Any]] = None) -> Dict[str, Any]:
    """KV_MODE=json style: dotted keys, `{}` for arrays, multivalue lists for arrays of scalars."""
    out = {} if out is None else out
    if isinstance(obj, dict):
        for k, v in obj.items():
            flatten(v, f"{prefix}.{k}" if prefix else k, out)
    elif isinstance(obj, list):
        for v in obj:
            sub = flatten(v, prefix + "{}", {})
            for k, val in sub.items():
                out.setdefault(k, [])
                out[k] = (out[k] if isinstance(out[k], list) else [out[k]]) + (
                    val if isinstance(val, list) else [val]
                )
    elif obj is not None:
        out[prefix] = obj if isinstance(obj, str) else json.dumps(obj)
    return out


def splunk_row(ev: Dict[str, Any], with_raw: bool = True) -> Dict[str, Any]:
    row = {k: v for k, v in flatten(ev).items()}
    if with_raw:
        row["_raw"] = json.dumps(ev)
    row["_time"] = "1714557600.000"
    row["sourcetype"] = "aws:cloudtrail"
    return row


def ecs_doc(ev: Dict[str, Any], with_original: bool = False) -> Dict[str, Any]:
    uid = ev["userIdentity"]
    doc: Dict[str, Any] = {
        "@timestamp": ev["eventTime"],
        "event": {
            "action": ev["eventName"],
            "provider": ev["eventSource"],
            "id": ev["eventID"],
            "outcome": "failure" if ev.get("errorCode") else "success",
        },  # fmt: skip
        "cloud": {"region": ev["awsRegion"], "account": {"id": ev["recipientAccountId"]}},
        "source": {"ip": ev["sourceIPAddress"]},
        "user_agent": {"original": ev["userAgent"]},
        "aws": {
            "cloudtrail": {
                "user_identity": {
                    "arn": uid["arn"],
                    "type": uid["type"],
                    "access_key_id": uid.get("accessKeyId"),
                },  # fmt: skip
                "error_code": ev.get("errorCode"),
                "flattened": {"request_parameters": ev.get("requestParameters")},
            }
        },  # fmt: skip
    }
    if "sessionContext" in uid:
        doc["aws"]["cloudtrail"]["user_identity"]["session_context"] = {
            "session_issuer": {"arn": uid["sessionContext"]["sessionIssuer"]["arn"]}
        }
    if with_original:
        doc["event"]["original"] = json.dumps(ev)
    return doc


def eventbridge(ev: Dict[str, Any]) -> Dict[str, Any]:
    return {"version": "0", "id": "x", "detail-type": "AWS API Call via CloudTrail", "source": "aws.s3",
            "account": ev["recipientAccountId"], "time": ev["eventTime"], "region": ev["awsRegion"],
            "resources": [], "detail": ev}  # fmt: skip


def timeline(n: int = 200, start: int = 1714557600, identities: int = 5) -> List[Dict[str, Any]]:
    """A small deterministic mixed timeline for invariance tests."""
    names = [
        "ListBuckets",
        "GetObject",
        "DescribeInstances",
        "GetCallerIdentity",
        "AssumeRole",
        "PutBucketPolicy",
    ]
    sources = ["s3.amazonaws.com", "s3.amazonaws.com", "ec2.amazonaws.com", "sts.amazonaws.com",
               "sts.amazonaws.com", "s3.amazonaws.com"]  # fmt: skip
    out = []
    for i in range(n):
        j = (i * 7) % len(names)
        t = start + i * 37 + (i % 3)
        stamp = __import__("datetime").datetime.utcfromtimestamp(t).strftime("%Y-%m-%dT%H:%M:%SZ")
        out.append(raw_event(name=names[j], source=sources[j], time=stamp, event_id=f"ev-{i:05d}",
                             arn=f"arn:aws:iam::111122223333:user/u{i % identities}",
                             ip=f"198.51.100.{(i * 13) % 40}", error="AccessDenied" if i % 17 == 0 else None))  # fmt: skip
    return out
