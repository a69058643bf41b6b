"""The one CloudTrail event builder for tests, rendering an event in every shape ctad reads.

Tests used to build CloudTrail dicts in four places (engine helpers, the risk-flag cases, the triage row
fixture, the Elastic conftest), each with its own defaults and its own idea of a Splunk row or an ECS document; a
change to one shape then had to be found in all of them. Here an event is described once and rendered as:

- ``as_record()``: plain CloudTrail JSON, as one element of an S3 object's ``Records``;
- ``as_s3_record()`` / ``write_s3()``: the S3 object CloudTrail delivers (``{"Records": [...]}``, gzipped file);
- ``as_splunk_row()``: an ``aws:cloudtrail`` search result (``_raw`` plus KV_MODE=json fields) exactly as
  ``ctad.splunk.splunkd_sim`` renders it for the protocol tests, so the two can never disagree;
- ``as_ecs()``: the document Elastic's AWS integration ingest pipeline writes (what the Elastic reader accepts);
- ``as_eventbridge()``: the EventBridge envelope with the record under ``detail``.

Importable from every test folder as ``from cloudtrail_event import CloudTrailEvent`` (tests/conftest.py puts
tests/ on the path). Stdlib only, so the Splunk Python tests can use it too.
"""

from __future__ import annotations

import datetime as dt
import gzip
import json
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Dict, Iterable, List, Optional, Union

ACCOUNT = "111122223333"
CLI_UA = "aws-cli/2.15.0 Python/3.11.6 Linux/6.1 exe/x86_64.ubuntu.22"
ACCESS_KEY = "AKIAEXAMPLE0000001"
START = 1714557600  # 2024-05-01T10:00:00Z

Record = Dict[str, Any]
When = Union[str, int, float]


def iso(t: When) -> str:
    """eventTime as CloudTrail writes it; strings pass through (tests feed odd ones on purpose)."""
    if isinstance(t, str):
        return t
    return dt.datetime.fromtimestamp(t, tz=dt.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def principal(
    arn: str,
    kind: str = "IAMUser",
    key: Optional[str] = ACCESS_KEY,
    issuer: Optional[str] = None,
    account: str = ACCOUNT,
    principal_id: str = "AIDAEXAMPLE",
    created: str = "2024-05-01T10:00:00Z",
) -> Record:
    """A ``userIdentity`` block of any type; IAM users get ``userName``, a session issuer gets its role and
    ``mfaAuthenticated: false`` (the shape of an assumed-role session CloudTrail writes)."""
    uid: Record = {"type": kind, "arn": arn, "accountId": account}
    if key is not None:
        uid["accessKeyId"] = key
    uid["principalId"] = principal_id
    if kind == "IAMUser":
        uid["userName"] = arn.rsplit("/", 1)[-1]
    if issuer:
        uid["sessionContext"] = {
            "sessionIssuer": {"type": "Role", "arn": issuer, "accountId": account,
                              "userName": issuer.rsplit("/", 1)[-1]},
            "attributes": {"mfaAuthenticated": "false", "creationDate": created},
        }  # fmt: skip
    return uid


def iam_user(
    name: str = "alice", account: str = ACCOUNT, key: Optional[str] = ACCESS_KEY, **kw: Any
) -> Record:
    return principal(f"arn:aws:iam::{account}:user/{name}", "IAMUser", key=key, account=account, **kw)


def assumed_role(
    role: str = "ci-deployer", session: str = "s", account: str = ACCOUNT, issuer: bool = True, **kw: Any
) -> Record:
    kw.setdefault("key", "ASIAEXAMPLE0000001")
    kw.setdefault("principal_id", f"AROAEXAMPLE:{session}")
    return principal(f"arn:aws:sts::{account}:assumed-role/{role}/{session}", "AssumedRole",
                     issuer=f"arn:aws:iam::{account}:role/{role}" if issuer else None, account=account,
                     **kw)  # fmt: skip


@dataclass
class CloudTrailEvent:
    """One management event; every field a test does not name gets a plausible aws-cli default."""

    name: str = "ListBuckets"
    source: str = "s3.amazonaws.com"
    identity: Record = field(default_factory=iam_user)
    ip: str = "198.51.100.7"
    params: Any = None
    time: When = "2024-05-01T10:00:00Z"
    event_id: str = "e-1"
    ua: str = CLI_UA
    error: Optional[str] = None
    region: str = "us-east-1"
    account: str = ACCOUNT
    version: str = "1.09"
    extra: Record = field(default_factory=dict)  # other top-level fields (labels, ct_* fields, ...), last

    def as_record(self) -> Record:
        ev: Record = {
            "eventVersion": self.version,
            "userIdentity": self.identity,
            "eventTime": iso(self.time),
            "eventSource": self.source,
            "eventName": self.name,
            "awsRegion": self.region,
            "sourceIPAddress": self.ip,
            "userAgent": self.ua,
            "requestParameters": self.params,
            "responseElements": None,
            "requestID": "r-" + self.event_id,
            "eventID": self.event_id,
            "readOnly": self.name.startswith(("List", "Get", "Describe")),
            "eventType": "AwsApiCall",
            "managementEvent": True,
            "recipientAccountId": self.account,
            "eventCategory": "Management",
        }
        if self.error:
            ev["errorCode"] = self.error
            ev["errorMessage"] = "User is not authorized"
        ev.update(self.extra)
        return ev

    def as_s3_record(self) -> Record:
        """The S3 object CloudTrail would deliver holding only this event."""
        return {"Records": [self.as_record()]}

    def as_splunk_row(self, with_raw: bool = True) -> Record:
        from ctad.splunk.splunkd_sim import splunk_row

        return splunk_row(self.as_record(), with_raw=with_raw)

    def as_ecs(self, keep_original: bool = False) -> Record:
        return ecs_from_raw(self.as_record(), keep_original=keep_original)

    def as_eventbridge(self) -> Record:
        return eventbridge(self.as_record())


def record_of(event: Union[CloudTrailEvent, Record]) -> Record:
    return event.as_record() if isinstance(event, CloudTrailEvent) else event


def write_s3(path: Path, events: Iterable[Union[CloudTrailEvent, Record, Any]]) -> Path:
    """A gzipped CloudTrail S3 object at `path` (parents made); non-dict items are written as given, so a test
    can put hostile values in ``Records``."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with gzip.open(path, "wt") as fh:
        fh.write(json.dumps({"Records": [record_of(e) for e in events]}))
    return path


def eventbridge(record: Record) -> Record:
    """The EventBridge envelope ("AWS API Call via CloudTrail") around a record."""
    service = str(record.get("eventSource", "")).split(".", 1)[0]
    return {"version": "0", "id": "x", "detail-type": "AWS API Call via CloudTrail", "source": "aws." + service,
            "account": record.get("recipientAccountId"), "time": record.get("eventTime"),
            "region": record.get("awsRegion"), "resources": [], "detail": record}  # fmt: skip


def timeline(n: int = 200, start: int = START, identities: int = 5) -> List[Record]:
    """A small deterministic mixed timeline (five APIs, a few identities and addresses, some AccessDenied) for
    order- and chunking-invariance tests."""
    apis = [("ListBuckets", "s3.amazonaws.com"), ("GetObject", "s3.amazonaws.com"),
            ("DescribeInstances", "ec2.amazonaws.com"), ("GetCallerIdentity", "sts.amazonaws.com"),
            ("AssumeRole", "sts.amazonaws.com"), ("PutBucketPolicy", "s3.amazonaws.com")]  # fmt: skip
    out = []
    for i in range(n):
        name, source = apis[(i * 7) % len(apis)]
        out.append(CloudTrailEvent(name, source, time=start + i * 37 + (i % 3), event_id=f"ev-{i:05d}",
                                   identity=iam_user(f"u{i % identities}"), ip=f"198.51.100.{(i * 13) % 40}",
                                   error="AccessDenied" if i % 17 == 0 else None).as_record())  # fmt: skip
    return out


# ------------------------------------------------------------------------------------------------ ECS


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


def _es_date(value: Any) -> Any:
    """The pipeline's date processor re-renders eventTime with milliseconds (2019-10-02T22:12:29.000Z)."""
    if isinstance(value, str) and len(value) == 20 and value.endswith("Z"):
        return value[:-1] + ".000Z"
    return value


def ecs_from_raw(raw: Record, keep_original: bool = False) -> Record:
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
    ct: Record = {
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
    flattened: Record = {}
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
    source: Record = {"address": address}
    if isinstance(address, str) and re.match(
        r"^(\d{1,3}(\.\d{1,3}){3}|[0-9a-fA-F:]+:[0-9a-fA-F:]*)$", address
    ):
        source["ip"] = address
    doc: Record = {
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
