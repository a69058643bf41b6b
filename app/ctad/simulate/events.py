"""Build CloudTrail records in the exact shape AWS writes them.

A `Caller` is one authenticated session (an IAM user's key, an assumed-role session, a console session, an AWS
service); `Caller.event(...)` turns one API call into a record. Nested objects that do not change within a session
(userIdentity, tlsDetails) are shared between the session's records for speed: treat records as read-only.
"""

from __future__ import annotations

import random
from typing import Any, Dict, Optional

from ctad.simulate.apis import DATA_EVENT_NAMES, GLOBAL_SOURCES, read_only
from ctad.simulate.ids import iso, s3_request_id, uuid4

EVENT_VERSION = "1.09"
TLS_CIPHERS = (
    ("TLSv1.3", "TLS_AES_128_GCM_SHA256"),
    ("TLSv1.3", "TLS_AES_256_GCM_SHA384"),
    ("TLSv1.2", "ECDHE-RSA-AES128-GCM-SHA256"),
)
_TLS_CACHE: Dict[tuple, Dict[str, str]] = {}
# CloudTrail's record version differs by service; attack replays use the same mapping so it is no shortcut.
_VERSIONS = {
    "sts.amazonaws.com": "1.08",
    "s3.amazonaws.com": "1.09",
    "kms.amazonaws.com": "1.08",
    "ssm.amazonaws.com": "1.08",
    "signin.amazonaws.com": "1.09",
    "iam.amazonaws.com": "1.09",
}
BENIGN_LABELS = {"_label": 0, "_technique": "", "_scenario": "", "_campaign": "", "_tactic": ""}


_OP_INFO: Dict[tuple, tuple] = {}


def _op_info(source: str, name: str) -> tuple:
    """Per (eventSource, eventName): (global service, eventVersion, data event, readOnly, is S3) - cached."""
    data = name in DATA_EVENT_NAMES
    got = (
        source in GLOBAL_SOURCES,
        event_version(source, data),
        data,
        read_only(name),
        source == "s3.amazonaws.com",
    )
    _OP_INFO[(source, name)] = got
    return got


def s3_additional(rng: random.Random) -> Dict[str, Any]:
    """additionalEventData S3 writes on every API call (signature, TLS suite, bytes, auth method, host id)."""
    return {
        "SignatureVersion": "SigV4",
        "CipherSuite": "TLS_AES_128_GCM_SHA256",
        "bytesTransferredIn": 0,
        "AuthenticationMethod": "AuthHeader",
        "x-amz-id-2": f"{rng.getrandbits(200):x}",
        "bytesTransferredOut": rng.choice((0, 0, 232, 1024, 4096)),
    }


def event_version(source: str, data: bool = False) -> str:
    return "1.10" if data else _VERSIONS.get(source, EVENT_VERSION)


def host_header(source: str, region: str) -> str:
    svc = source[: -len(".amazonaws.com")] if source.endswith(".amazonaws.com") else source
    if source in GLOBAL_SOURCES:
        return source
    if svc == "s3":
        return f"s3.{region}.amazonaws.com"
    return f"{svc}.{region}.amazonaws.com"


def tls_details(source: str, region: str, tls: int) -> Dict[str, str]:
    key = (source, region, tls)
    got = _TLS_CACHE.get(key)
    if got is None:
        ver, cipher = TLS_CIPHERS[tls % len(TLS_CIPHERS)]
        got = {
            "tlsVersion": ver,
            "cipherSuite": cipher,
            "clientProvidedHostHeader": host_header(source, region),
        }
        _TLS_CACHE[key] = got
    return got


def service_region(source: str, region: str) -> str:
    """Global services are recorded in us-east-1 whatever region the caller's tools default to."""
    return "us-east-1" if source in GLOBAL_SOURCES else region


class Caller:
    """One session of one principal: identity block, network, tool, and how CloudTrail records its calls."""

    __slots__ = (
        "ui",
        "account",
        "ip",
        "agent",
        "fixed_ua",
        "console",
        "invoked_by",
        "tls",
        "rng",
        "labels",
        "arn",
    )

    def __init__(
        self,
        ui: Dict[str, Any],
        account: str,
        ip: str,
        rng: random.Random,
        agent: Any = None,
        fixed_ua: str = "",
        console: bool = False,
        invoked_by: str = "",
        tls: int = 0,
        labels: Optional[Dict[str, Any]] = None,
    ) -> None:
        self.ui = ui
        self.account = account
        self.ip = ip
        self.agent = agent
        self.fixed_ua = fixed_ua
        self.console = console
        self.invoked_by = invoked_by
        self.tls = tls
        self.rng = rng
        self.labels = labels if labels is not None else BENIGN_LABELS
        self.arn = ui.get("arn", "")

    def event(
        self,
        ts: float,
        source: str,
        name: str,
        region: str,
        params: Optional[Dict[str, Any]] = None,
        response: Optional[Dict[str, Any]] = None,
        error: Optional[tuple] = None,
        ua: Optional[str] = None,
        extra: Optional[Dict[str, Any]] = None,
    ) -> Dict[str, Any]:
        rng = self.rng
        info = _OP_INFO.get((source, name))
        if info is None:
            info = _op_info(source, name)
        is_global, version, data, ro, is_s3 = info
        if is_global:
            region = "us-east-1"
        if ua is None:
            ua = self.fixed_ua or self.agent.ua(source, name)
        rec: Dict[str, Any] = {
            "eventVersion": version,
            "userIdentity": self.ui,
            "eventTime": iso(ts),
            "eventSource": source,
            "eventName": name,
            "awsRegion": region,
            "sourceIPAddress": self.ip,
            "userAgent": ua,
        }
        if error is not None:
            rec["errorCode"] = error[0]
            if error[1]:
                rec["errorMessage"] = error[1]
            rec["requestParameters"] = params
            rec["responseElements"] = None
        else:
            rec["requestParameters"] = params
            rec["responseElements"] = response
        if is_s3:
            rec["additionalEventData"] = s3_additional(rng)
        if extra:
            rec.update(extra)
        rec["requestID"] = s3_request_id(rng) if is_s3 else uuid4(rng)
        rec["eventID"] = uuid4(rng)
        rec["readOnly"] = ro
        if data and params and "bucketName" in params:
            rec["resources"] = [
                {
                    "type": "AWS::S3::Object",
                    "ARN": "arn:aws:s3:::{}/{}".format(params["bucketName"], params.get("key", "")),
                },
                {
                    "accountId": self.account,
                    "type": "AWS::S3::Bucket",
                    "ARN": "arn:aws:s3:::" + params["bucketName"],
                },
            ]
        rec["eventType"] = "AwsApiCall"
        rec["managementEvent"] = not data
        rec["recipientAccountId"] = self.account
        rec["eventCategory"] = "Data" if data else "Management"
        if not self.invoked_by:
            tls = _TLS_CACHE.get((source, region, self.tls))
            rec["tlsDetails"] = tls if tls is not None else tls_details(source, region, self.tls)
        if self.console:
            rec["sessionCredentialFromConsole"] = "true"
        rec.update(self.labels)
        return rec

    def console_login(self, ts: float, ua: str, mfa: bool, success: bool = True) -> Dict[str, Any]:
        """signin:ConsoleLogin (eventType AwsConsoleSignIn; recorded in us-east-1 for IAM users)."""
        rng = self.rng
        ui = self.ui
        rec: Dict[str, Any] = {
            "eventVersion": EVENT_VERSION,
            "userIdentity": ui,
            "eventTime": iso(ts),
            "eventSource": "signin.amazonaws.com",
            "eventName": "ConsoleLogin",
            "awsRegion": "us-east-1",
            "sourceIPAddress": self.ip,
            "userAgent": ua,
        }
        if not success:
            rec["errorMessage"] = "Failed authentication"
        rec["requestParameters"] = None
        rec["responseElements"] = {"ConsoleLogin": "Success" if success else "Failure"}
        rec["additionalEventData"] = {
            "LoginTo": "https://console.aws.amazon.com/console/home?hashArgs=%23&isauthcode=true&state=hashArgsFromTB_us-east-1_"
            + f"{rng.getrandbits(64):016x}",
            "MobileVersion": "No",
            "MFAIdentifier": "arn:aws:iam::{}:mfa/{}".format(self.account, ui.get("userName", "")),
            "MFAUsed": "Yes" if mfa else "No",
        }
        if not mfa:
            del rec["additionalEventData"]["MFAIdentifier"]
        rec["eventID"] = uuid4(rng)
        rec["readOnly"] = False
        rec["eventType"] = "AwsConsoleSignIn"
        rec["managementEvent"] = True
        rec["recipientAccountId"] = self.account
        rec["eventCategory"] = "Management"
        rec["tlsDetails"] = {
            "tlsVersion": "TLSv1.3",
            "cipherSuite": "TLS_AES_128_GCM_SHA256",
            "clientProvidedHostHeader": "signin.aws.amazon.com",
        }
        rec.update(self.labels)
        return rec


def iam_user_identity(
    account: str, user: str, pid: str, key: str, console_since: Optional[float] = None, mfa: bool = False
) -> Dict[str, Any]:
    ui: Dict[str, Any] = {
        "type": "IAMUser",
        "principalId": pid,
        "arn": f"arn:aws:iam::{account}:user/{user}",
        "accountId": account,
        "accessKeyId": key,
        "userName": user,
    }
    if console_since is not None:
        ui["sessionContext"] = {
            "sessionIssuer": {},
            "webIdFederationData": {},
            "attributes": {
                "creationDate": iso(console_since),
                "mfaAuthenticated": "true" if mfa else "false",
            },
        }
    return ui


def assumed_role_identity(
    account: str,
    role: str,
    role_pid: str,
    session: str,
    key: str,
    since: float,
    mfa: bool = False,
    path: str = "",
    ec2: bool = False,
    web_identity: Optional[Dict[str, Any]] = None,
) -> Dict[str, Any]:
    role_arn = f"arn:aws:iam::{account}:role/{path}{role}"
    ctx: Dict[str, Any] = {
        "sessionIssuer": {
            "type": "Role",
            "principalId": role_pid,
            "arn": role_arn,
            "accountId": account,
            "userName": role,
        },
        "webIdFederationData": web_identity or {},
        "attributes": {"creationDate": iso(since), "mfaAuthenticated": "true" if mfa else "false"},
    }
    if ec2:
        ctx["ec2RoleDelivery"] = "2.0"
    return {
        "type": "AssumedRole",
        "principalId": f"{role_pid}:{session}",
        "arn": f"arn:aws:sts::{account}:assumed-role/{role}/{session}",
        "accountId": account,
        "accessKeyId": key,
        "sessionContext": ctx,
    }


def service_identity(service: str) -> Dict[str, Any]:
    return {"type": "AWSService", "invokedBy": service}
