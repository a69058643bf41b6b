"""Every shape CloudTrail arrives in, reduced to one `Event`.

Shapes: raw records (S3 `Records` members, JSON lines), EventBridge envelopes, Splunk `aws:cloudtrail` rows
(`_raw` plus KV_MODE=json flattened fields, multivalue lists) and Elastic ECS documents from the AWS integration.
Identity keys follow what practitioners learned the hard way: an assumed-role session is keyed by its role (the
session name is kept apart, otherwise every session looks new), AWS service principals are separated from humans,
access key ids are kept.

Bad input raises `NormalizeError` with a message meant for the analyst; callers turn it into `ct_error`.
"""

from __future__ import annotations

import datetime as _dt
import hashlib
import ipaddress
import re
from functools import lru_cache
from typing import Any, Dict, Mapping, Optional, Tuple

from ctad.core import bounded
from ctad.core.errors import CtadError
from ctad.core.jsonio import loads
from ctad.core.risk_checks import CHECKED, risk_flags
from ctad.core.risk_checks import JUDGED_BY_PARAMETERS as JUDGED_BY_PARAMETERS
from ctad.core.risk_checks import json_object as _json_obj
from ctad.core.schema import Event

MAX_VALUE_BYTES = 1_000_000  # CloudTrail caps events at 256 KB; anything over 1 MB is not a CloudTrail record
MAX_UA = 1024  # userAgent is attacker-written: keep a bounded prefix


class NormalizeError(CtadError, ValueError):
    """The row is not a CloudTrail event we can score; the message says why."""


# ---------------------------------------------------------------------------------------------------- time
_EPOCH_ORD = _dt.date(1970, 1, 1).toordinal()


@lru_cache(maxsize=4096)
def _day_seconds(day: str) -> int:
    return (_dt.date(int(day[0:4]), int(day[5:7]), int(day[8:10])).toordinal() - _EPOCH_ORD) * 86400


# CloudTrail writes `2024-03-04T00:00:18Z`: once a minute (`2024-03-04T00:00`) has been parsed, its seconds
# since the epoch are remembered, and a timestamp in that minute costs two dict lookups.
_STRICT_TIME = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}Z")
_TWO_DIGITS = {"%02d" % i: i for i in range(100)}
_MINUTES: Dict[str, int] = {}
_MAX_MINUTES = 100_000  # ~70 days of minutes; timestamps are attacker-written, so the memo is bounded


def parse_time(value: Any) -> float:
    """Seconds since the epoch from ISO-8601 (CloudTrail, ECS) or epoch numbers (Splunk `_time`)."""
    if type(value) is str and len(value) == 20 and value[16] == ":" and value[19] == "Z":
        minute = _MINUTES.get(value[:16])  # only ever holds minutes of the strict form above
        second = _TWO_DIGITS.get(value[17:19])
        if minute is not None and second is not None:
            return float(minute + second)
    t = _parse_time(value)
    if type(value) is str and len(value) == 20 and _STRICT_TIME.fullmatch(value):
        if len(_MINUTES) >= _MAX_MINUTES:
            _MINUTES.clear()
        _MINUTES[value[:16]] = int(t) - int(value[17:19])
    return t


def _parse_time(value: Any) -> float:
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        t = bounded.to_float(value)  # float(10**400) raises, float("nan") is no time
        if t is None:
            raise NormalizeError(f"eventTime is not a finite number ({type(value).__name__})")
        return t
    if isinstance(value, list) and value:
        value = value[0]
    if not isinstance(value, str) or not value:
        raise NormalizeError("eventTime is missing")
    s = value.strip()
    if len(s) >= 19 and s[4] == "-" and s[10] in "T " and s[13] == ":":
        try:
            t = _day_seconds(s[:10]) + int(s[11:13]) * 3600 + int(s[14:16]) * 60 + int(s[17:19])
        except ValueError:
            raise NormalizeError(f"eventTime is not a timestamp: {s[:40]!r}") from None
        rest = s[19:]
        if rest in ("Z", "", "+00:00"):
            return float(t)
        frac = 0.0
        if rest.startswith("."):
            i = 1
            while i < len(rest) and rest[i].isdigit():
                i += 1
            frac = float("0" + rest[:i]) if i > 1 else 0.0
            rest = rest[i:]
        if rest in ("Z", "", "+00:00"):
            return t + frac
        if len(rest) == 6 and rest[0] in "+-" and rest[3] == ":":
            try:
                offset = int(rest[1:3]) * 3600 + int(rest[4:6]) * 60
            except ValueError:
                raise NormalizeError(f"eventTime has a bad offset: {s[:40]!r}") from None
            return t + frac - offset if rest[0] == "+" else t + frac + offset
        raise NormalizeError(f"eventTime is not a timestamp: {s[:40]!r}")
    t = bounded.to_float(s)
    if t is None:
        raise NormalizeError(f"eventTime is not a timestamp: {s[:40]!r}")
    return t


# ------------------------------------------------------------------------------------------------- network
_PRIVATE4 = (
    ipaddress.ip_network("10.0.0.0/8"),
    ipaddress.ip_network("172.16.0.0/12"),
    ipaddress.ip_network("192.168.0.0/16"),
    ipaddress.ip_network("100.64.0.0/10"),
    ipaddress.ip_network("127.0.0.0/8"),
)


@lru_cache(maxsize=200_000)
def classify_source(ip: str) -> Tuple[str, str]:
    """(network key, kind) for a sourceIPAddress: a /24 or /48 for addresses, the host for AWS services."""
    if not ip:
        return "", "missing"
    if ip == "AWS Internal":
        return "aws-internal", "aws_internal"
    if ip.endswith(".amazonaws.com") or ip.endswith(".aws.internal"):
        return "svc:" + ip, "aws_service"
    parts = ip.split(".")
    if len(parts) == 4 and all(p.isdigit() and len(p) <= 3 for p in parts):
        if any(int(p) > 255 for p in parts):
            return "invalid", "invalid"
        first, second = int(parts[0]), int(parts[1])
        private = (
            first == 10
            or (first == 172 and 16 <= second <= 31)
            or (first == 192 and second == 168)
            or (first == 100 and 64 <= second <= 127)
            or first == 127
        )
        return ".".join(parts[:3]) + ".0/24", "private" if private else "public"
    try:
        addr = ipaddress.ip_address(ip)
    except ValueError:
        return "host:" + ip[:128], "invalid" if " " in ip or len(ip) > 253 else "hostname"
    if addr.version == 6:
        net = ipaddress.ip_network(f"{addr}/48", strict=False)
        return str(net), "private" if addr.is_private else "public"
    return str(ipaddress.ip_network(f"{addr}/24", strict=False)), "public"  # pragma: no cover


# ----------------------------------------------------------------------------------------------- identity
def _role_from_assumed(arn: str) -> Tuple[str, str]:
    """arn:aws:sts::123:assumed-role/Name/session -> (arn:aws:iam::123:role/Name, session)."""
    try:
        prefix, rest = arn.split(":assumed-role/", 1)
    except ValueError:
        return arn, ""
    role, _, session = rest.partition("/")
    partition_account = prefix.replace(":sts:", ":iam:", 1)
    return f"{partition_account}:role/{role}", session


def identity_key(
    itype: str,
    arn: str,
    issuer_arn: str,
    account: str,
    invoked_by: str,
    principal_id: str,
    user_name: str,
    event_source: str,
) -> Tuple[str, str]:
    """The key a baseline is kept under, and the session name kept beside it."""
    session = ""
    if itype == "AssumedRole":
        if ":assumed-role/" in arn:
            role, session = _role_from_assumed(arn)
        else:
            role = ""
            session = principal_id.partition(":")[2]
        return (issuer_arn or role or "role:" + (principal_id.partition(":")[0] or "unknown")), session
    if itype == "AWSService":
        return "svc:" + (invoked_by or event_source or "unknown"), session
    if itype == "Root":
        return arn or f"arn:aws:iam::{account}:root", session
    if itype in ("IAMUser", "FederatedUser"):
        if arn:
            return arn, session
        if itype == "IAMUser" and user_name and len(account) == 12 and account.isdigit():
            # Sign-in events (CheckMfa, ConsoleLogin failures) carry the user's name but no ARN: the same user's
            # ARN keeps one history per person (a user with an IAM path keeps a second key: the path is unknown).
            return f"arn:aws:iam::{account}:user/{user_name}", session
        return f"{itype.lower()}:{account}:{user_name or principal_id or 'unknown'}", session
    if itype == "AWSAccount":
        return f"acct:{account or principal_id or 'unknown'}", session
    if itype in ("SAMLUser", "WebIdentityUser", "IdentityCenterUser"):
        return f"{itype}:{user_name or principal_id or 'unknown'}", session
    if arn:
        return arn, session
    return f"anon:{account or 'unknown'}:{user_name or principal_id or 'unknown'}", session


# ------------------------------------------------------------------------------------------ request risk
# The checks live in ctad.core.risk_checks, one registered entry per (eventSource, eventName) with its test events;
# `risk_flags` and `JUDGED_BY_PARAMETERS` are re-exported here for the callers that have always imported them.


# The keys naming the main resource of a request, most telling first.
_RESOURCE_KEYS = ("bucketName", "roleName", "userName", "policyArn", "groupId", "snapshotId", "imageId",
                  "instanceId", "functionName", "secretId", "name", "trailName", "keyId", "detectorId",
                  "dBSnapshotIdentifier", "roleArn", "logGroupName", "groupName", "resolverQueryLogConfigId",
                  "configurationRecorderName")  # fmt: skip
_RESOURCE_KEY_SET = frozenset(_RESOURCE_KEYS)


def _resource(params: Any) -> str:
    """The main resource a request touches, for reasons and triage (bounded, attacker-written)."""
    if not isinstance(params, dict):
        return ""
    if type(params) is dict and _RESOURCE_KEY_SET.isdisjoint(params):
        return ""  # many requests name none: one C-level pass over their keys, not 16 lookups
    for key in _RESOURCE_KEYS:
        value = params.get(key)
        if isinstance(value, str) and value:
            return value[:256]
    return ""


# -------------------------------------------------------------------------------------------- accessors
def _first(value: Any) -> Any:
    if isinstance(value, list):
        return value[0] if value else None
    return value


def _s(value: Any, limit: int = 4096) -> str:
    if type(value) is str:  # the common case, kept cheap: this runs ~15 times per event
        return value if len(value) <= limit else value[:limit]
    if value is None:  # the next most common: an absent field
        return ""
    value = _first(value)
    if value is None:
        return ""
    if isinstance(value, str):
        return value[:limit]
    if isinstance(value, (dict, list)):
        return ""
    return str(value)[:limit]


def _bool(value: Any) -> Optional[bool]:
    if value is None or type(value) is bool:  # the common cases, kept cheap
        return value
    value = _first(value)
    if isinstance(value, bool):
        return value
    if isinstance(value, str):
        low = value.lower()
        if low in ("true", "1", "yes"):
            return True
        if low in ("false", "0", "no"):
            return False
    return None


def _unflatten(row: Mapping[str, Any], prefix: str) -> Any:
    """Rebuild a nested object from Splunk's KV_MODE=json keys (`a.b{}.c`), for request risk checks."""
    start = prefix + "."
    out: Dict[str, Any] = {}
    found = False
    for key, value in row.items():
        if not key.startswith(start) or key.startswith("__mv_"):
            continue
        found = True
        node = out
        parts = key[len(start) :].replace("{}", "").split(".")
        for part in parts[:-1]:
            nxt = node.get(part)
            if not isinstance(nxt, dict):
                nxt = {}
                node[part] = nxt
            node = nxt
        node[parts[-1]] = value
    if not found:
        return row.get(prefix)
    return out


# --------------------------------------------------------------------------------------------- normalise
class Normalizer:
    """Turns any accepted row shape into an `Event`; holds the catalogue used for user-agent families."""

    def __init__(self, catalog: Any = None, now: Optional[float] = None) -> None:
        """`now`: the run's clock (default: the wall clock now); events dated more than a day after it, or
        before CloudTrail existed, are refused (`bounded.implausible_time`)."""
        if catalog is None:
            from ctad.core.catalog import Catalog

            catalog = Catalog.load()
        self.catalog = catalog
        self.latest = bounded.latest_plausible(now)
        self._ua_cache: Dict[str, Tuple[str, str]] = {}
        self._identities: Dict[Tuple[str, ...], Tuple[str, str, bool]] = {}

    def check_time(self, t: Any) -> float:
        """`t` as seconds when it can be a CloudTrail event time for this run, else NormalizeError (used for the
        first/last times of Splunk's aggregate rows, which never pass through `_build`)."""
        seconds = parse_time(t)
        problem = bounded.implausible_time(seconds, self.latest)
        if problem:
            raise NormalizeError(problem)
        return seconds

    def _ua(self, ua: str) -> Tuple[str, str]:
        hit = self._ua_cache.get(ua)
        if hit is None:
            hit = self.catalog.ua_family(ua)
            if len(self._ua_cache) < 100_000:
                self._ua_cache[ua] = hit
        return hit

    def _identity(
        self,
        itype: str,
        arn: str,
        issuer_arn: str,
        account: str,
        invoked_by: str,
        principal_id: str,
        user_name: str,
        source: str,
    ) -> Tuple[str, str, bool]:
        """`identity_key` and `_mfa_at_idp`, memoised: a few identities make most events."""
        # The event source only matters to AWS service principals; leaving it out of the other signatures keeps
        # one entry per identity rather than one per identity and service.
        signature = (itype, arn, issuer_arn, account, invoked_by, principal_id, user_name,
                     source if itype == "AWSService" else "")  # fmt: skip
        hit = self._identities.get(signature)
        if hit is None:
            key, session = identity_key(
                itype, arn, issuer_arn, account, invoked_by, principal_id, user_name, source
            )
            hit = (key, session, _mfa_at_idp(itype, issuer_arn, arn))
            if len(self._identities) < 100_000:  # the fields are attacker-written: keep the memo bounded
                self._identities[signature] = hit
        return hit

    @staticmethod
    def _flags(
        source: str,
        name: str,
        params: Any,
        account: str,
        itype: str,
        arn: str,
        issuer_arn: str,
        user_name: str,
    ) -> Tuple[str, ...]:
        user, role = _caller_names(itype, arn, issuer_arn, user_name)
        return risk_flags(source, name, params, account, user, role)

    def normalize(self, row: Any) -> Event:
        """One Event from one row of any accepted shape, or NormalizeError saying what is wrong."""
        if isinstance(row, (bytes, str)):
            if len(row) > MAX_VALUE_BYTES:
                raise NormalizeError(f"row is {len(row)} bytes, over the 1 MB limit for one event")
            text = row
            try:
                row = loads(text)
            except ValueError as exc:
                if bounded.text_too_deep(text):  # beyond the parser's limit: the same answer as within it
                    raise NormalizeError(bounded.nesting_error()) from None
                raise NormalizeError(f"not valid JSON: {str(exc)[:120]}") from None
            if bounded.too_deep(row, text):
                raise NormalizeError(bounded.nesting_error())
        if not isinstance(row, dict):
            raise NormalizeError(f"expected a JSON object, got {type(row).__name__}")
        if "Records" in row and isinstance(row["Records"], list):
            raise NormalizeError(
                "a CloudTrail Records file, not a single event (read it with ctad.engine.readers)"
            )
        detail = row.get("detail")
        if isinstance(detail, dict) and ("detail-type" in row or "eventName" in detail):
            return self.from_raw(detail)
        if "_raw" in row:
            return self.from_splunk(row)
        if isinstance(row.get("userIdentity"), dict) or (
            "eventName" in row and "eventSource" in row and "userIdentity.type" not in row
        ):
            return self.from_raw(row)
        if "eventName" in row or "eventSource" in row:
            return self.from_flat(row)
        if isinstance(row.get("event"), dict) or "event.action" in row:
            return self.from_ecs(row)
        keys = ", ".join(sorted(str(k) for k in row)[:8])
        raise NormalizeError(f"unknown shape: no eventName/eventSource (keys: {keys})")

    # Raw CloudTrail (S3, JSON lines, EventBridge detail, Splunk _raw)
    def from_raw(self, r: Mapping[str, Any]) -> Event:
        uid = r.get("userIdentity")
        if not isinstance(uid, dict):
            uid = {}
        ctx = uid.get("sessionContext")
        issuer = ctx.get("sessionIssuer") if isinstance(ctx, dict) else None
        attrs = ctx.get("attributes") if isinstance(ctx, dict) else None
        mfa = _bool(attrs.get("mfaAuthenticated")) if isinstance(attrs, dict) else None
        add = r.get("additionalEventData")
        if r.get("eventName") == "ConsoleLogin" and isinstance(add, dict) and "MFAUsed" in add:
            mfa = add.get("MFAUsed") == "Yes"
        return self._build(
            _s(r.get("eventID")),  # event_id
            r.get("eventTime"),  # time_value
            _s(r.get("eventSource")),  # source
            _s(r.get("eventName")),  # name
            _s(r.get("awsRegion")),  # region
            _s(r.get("sourceIPAddress")),  # ip
            _s(r.get("userAgent"), MAX_UA),  # ua
            _s(r.get("errorCode")),  # error_code
            _bool(r.get("readOnly")),  # read_only
            _s(r.get("recipientAccountId")) or _s(uid.get("accountId")),  # account
            _s(uid.get("type")),  # itype
            _s(uid.get("arn")),  # arn
            _s(issuer.get("arn")) if isinstance(issuer, dict) else "",  # issuer_arn
            _s(uid.get("accessKeyId")),  # access_key
            _s(uid.get("invokedBy")),  # invoked_by
            _s(uid.get("principalId")),  # principal_id
            _s(uid.get("userName")),  # user_name
            _bool(r.get("sessionCredentialFromConsole")) is True,  # console
            mfa,  # mfa
            r.get("requestParameters"),  # params
            _s(r.get("requestID")),  # request_id
        )

    def from_splunk(self, row: Mapping[str, Any]) -> Event:
        raw = _first(row.get("_raw"))
        if isinstance(raw, str) and raw:
            if len(raw) > MAX_VALUE_BYTES:
                raise NormalizeError(f"_raw is {len(raw)} bytes, over the 1 MB limit for one event")
            try:
                parsed = loads(raw)
            except ValueError:
                # A _raw nested beyond the parser's limit is refused like one within it: falling back to the
                # extracted fields would score it in one process and refuse it in another (the standard
                # library's limit is the interpreter's stack), so chunking or the door would decide.
                if bounded.text_too_deep(raw):
                    raise NormalizeError(bounded.nesting_error()) from None
                parsed = None
            if isinstance(parsed, dict):
                if bounded.too_deep(parsed, raw):
                    raise NormalizeError(bounded.nesting_error())
                detail = parsed.get("detail")
                if isinstance(detail, dict) and "eventName" in detail:
                    parsed = detail
                if "eventName" in parsed:
                    return self.from_raw(parsed)
        if "eventName" in row or "eventSource" in row:
            return self.from_flat(row)
        raise NormalizeError(
            "_raw is not a CloudTrail JSON event and no extracted eventName field is present"
        )

    # Splunk extracted fields (KV_MODE=json), inputlookup rows, makeresults
    def from_flat(self, row: Mapping[str, Any]) -> Event:
        g = row.get
        time_value = g("eventTime") or g("_time")
        mfa = _bool(g("userIdentity.sessionContext.attributes.mfaAuthenticated"))
        if _s(g("eventName")) == "ConsoleLogin" and g("additionalEventData.MFAUsed") is not None:
            mfa = _s(g("additionalEventData.MFAUsed")) == "Yes"
        return self._build(
            _s(g("eventID")),  # event_id
            time_value,  # time_value
            _s(g("eventSource")),  # source
            _s(g("eventName")),  # name
            _s(g("awsRegion")),  # region
            _s(g("sourceIPAddress")),  # ip
            _s(g("userAgent"), MAX_UA),  # ua
            _s(g("errorCode")),  # error_code
            _bool(g("readOnly")),  # read_only
            _s(g("recipientAccountId")) or _s(g("userIdentity.accountId")),  # account
            _s(g("userIdentity.type")),  # itype
            _s(g("userIdentity.arn")),  # arn
            _s(g("userIdentity.sessionContext.sessionIssuer.arn")),  # issuer_arn
            _s(g("userIdentity.accessKeyId")),  # access_key
            _s(g("userIdentity.invokedBy")),  # invoked_by
            _s(g("userIdentity.principalId")),  # principal_id
            _s(g("userIdentity.userName")),  # user_name
            _bool(g("sessionCredentialFromConsole")) is True,  # console
            mfa,  # mfa
            _unflatten(row, "requestParameters"),  # params
            _s(g("requestID")),  # request_id
        )

    # Elastic ECS documents (AWS integration), nested or with dotted keys
    def from_ecs(self, doc: Mapping[str, Any]) -> Event:
        def get(path: str) -> Any:
            if path in doc:
                return doc[path]
            node: Any = doc
            for part in path.split("."):
                if not isinstance(node, dict):
                    return None
                if part in node:
                    node = node[part]
                else:
                    return None
            return node

        original = get("event.original")
        if isinstance(original, str) and original[:1] == "{":
            try:
                parsed = loads(original)
            except ValueError:
                if bounded.text_too_deep(original):  # as for Splunk's _raw: not the ECS fields instead
                    raise NormalizeError(bounded.nesting_error()) from None
                parsed = None
            if isinstance(parsed, dict) and "eventName" in parsed:
                if bounded.too_deep(parsed, original):
                    raise NormalizeError(bounded.nesting_error())
                return self.from_raw(parsed)
        ui = "aws.cloudtrail.user_identity."
        params = get("aws.cloudtrail.flattened.request_parameters")
        if params is None:
            params = get("aws.cloudtrail.request_parameters")
        provider = _s(get("event.provider"))
        mfa = _bool(get(ui + "session_context.mfa_authenticated"))
        if _s(get("event.action")) == "ConsoleLogin":
            used = get("aws.cloudtrail.flattened.additional_eventdata.MFAUsed")
            if used is None:
                used = get("aws.cloudtrail.console_login.additional_eventdata.mfa_used")
            if used is not None:
                mfa = used is True or _s(used).lower() in ("yes", "true")
        return self._build(
            _s(get("event.id")) or _s(get("aws.cloudtrail.event_id")),  # event_id
            get("@timestamp") or get("event.created"),  # time_value
            provider,  # source
            _s(get("event.action")),  # name
            _s(get("cloud.region")),  # region
            _s(get("source.ip")) or _s(get("source.address")),  # ip
            _s(get("user_agent.original"), MAX_UA),  # ua
            _s(get("aws.cloudtrail.error_code")),  # error_code
            _bool(get("aws.cloudtrail.read_only")),  # read_only
            _s(get("aws.cloudtrail.recipient_account_id")) or _s(get("cloud.account.id")),  # account
            _s(get(ui + "type")),  # itype
            _s(get(ui + "arn")),  # arn
            _s(get(ui + "session_context.session_issuer.arn")),  # issuer_arn
            _s(get(ui + "access_key_id")),  # access_key
            _s(get(ui + "invoked_by")),  # invoked_by
            _s(get(ui + "principal_id")) or _s(get("user.id")),  # principal_id
            _s(get("user.name")),  # user_name
            False,  # console
            mfa,  # mfa
            params,  # params
            _s(get("aws.cloudtrail.request_id")),  # request_id
        )

    def _build(
        self,
        event_id: str,
        time_value: Any,
        source: str,
        name: str,
        region: str,
        ip: str,
        ua: str,
        error_code: str,
        read_only: Optional[bool],
        account: str,
        itype: str,
        arn: str,
        issuer_arn: str,
        access_key: str,
        invoked_by: str,
        principal_id: str,
        user_name: str,
        console: bool,
        mfa: Optional[bool],
        params: Any,
        request_id: str,
        /,
    ) -> Event:
        """The Event from the fields every shape yields; positional only, because keyword arguments cost more
        than the rest of this method, which runs once per event."""
        if not name:
            raise NormalizeError("eventName is missing")
        if not source:
            raise NormalizeError(f"eventSource is missing (eventName {name[:80]!r})")
        t = parse_time(time_value)
        if not bounded.CLOUDTRAIL_START <= t <= self.latest:
            raise NormalizeError(bounded.implausible_time(t, self.latest) or "implausible eventTime")
        if not itype:
            itype = "Unknown"
        key, session, mfa_at_idp = self._identity(
            itype, arn, issuer_arn, account, invoked_by, principal_id, user_name, source
        )
        if not event_id:
            # Without an eventID, a content hash still lets duplicates collapse and keeps order deterministic.
            basis = "|".join((repr(t), source, name, key, ip, request_id, access_key))
            event_id = "h-" + hashlib.sha1(basis.encode("utf-8", "replace")).hexdigest()[:24]
        if mfa is not None and mfa_at_idp:
            # Identity Center / SAML / OIDC sessions: MFA happens at the identity provider and CloudTrail records
            # `mfaAuthenticated: false` / `MFAUsed: No` whatever it was, so the flag says nothing here.
            mfa = None
        net, ip_kind = classify_source(ip)
        family, kind = self._ua_cache.get(ua) or self._ua(ua)
        if ua.startswith(("signin.amazonaws.com", "console.")):
            console = True
        risky = _CHECKED_KNOWN.get(name)  # whether a risk check judges it (Lambda: AddPermission20150331v2)
        if risky is None:
            risky = CHECKED(name)
        return Event(  # positionally, in __slots__ order: keywords would double the cost of this call
            event_id,
            t,  # time
            source,
            name,
            region,
            ip,
            ua,  # user_agent
            error_code,
            read_only,
            account,
            key,  # identity
            itype,  # identity_type
            session,
            access_key,
            invoked_by,
            console,
            mfa,
            family,  # ua_family
            kind,  # ua_kind
            net,
            ip_kind,
            self._flags(source, name, params, account, itype, arn, issuer_arn, user_name)
            if risky
            else (),  # flags
            _resource(params) if type(params) is dict else _resource(_json_obj(params)),  # resource
        )


_CHECKED_KNOWN = CHECKED.known  # bound once: the hot path's one dict lookup


def _caller_names(itype: str, arn: str, issuer_arn: str, user_name: str) -> Tuple[str, str]:
    """(IAM user name, role name) of the caller, from what AWS wrote in userIdentity."""
    if itype == "IAMUser":
        return (user_name or (arn.rsplit("/", 1)[-1] if ":user/" in arn else "")), ""
    if itype == "AssumedRole":
        if issuer_arn and ":role/" in issuer_arn:
            return "", issuer_arn.rsplit("/", 1)[-1]
        if ":assumed-role/" in arn:
            parts = arn.split(":assumed-role/", 1)[1].split("/")
            return "", parts[0] if parts else ""
    return "", ""


def _mfa_at_idp(itype: str, issuer_arn: str, arn: str) -> bool:
    return (
        itype in ("SAMLUser", "WebIdentityUser")
        or "/AWSReservedSSO_" in issuer_arn
        or ":assumed-role/AWSReservedSSO_" in arn
    )


_default: Optional[Normalizer] = None


def normalize(row: Any) -> Event:
    """Module-level convenience with the default catalogue (what triage and adapters call)."""
    global _default
    if _default is None or _default.latest < bounded.latest_plausible() - 3600:
        _default = Normalizer()  # a long-lived process: the plausible window moves with the clock
    return _default.normalize(row)
