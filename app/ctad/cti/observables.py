"""Pull the values worth checking against threat intelligence out of one event, whatever its shape.

Events arrive as raw CloudTrail (nested dicts), flattened Splunk rows (``userIdentity.accessKeyId`` keys, ``{}``
for list levels, often with the full record in ``_raw``) or ECS documents (``source.ip``). Rather than depend on
the detection engine, this walks the record once and classifies each leaf by its path. Everything here is
attacker-influenced, so the walk is bounded (depth, number of leaves, string length) and never raises.
"""

from __future__ import annotations

import json
import re
from functools import lru_cache
from typing import Any, Dict, Iterator, List, Set, Tuple

MAX_DEPTH = 10
MAX_LEAVES = 4000
MAX_STRING = 4096
MAX_RAW = 512 * 1024

# kind of observable: "ip" (address, or a hostname when CloudTrail puts a service name there), "ua", "key",
# "account", "scan" (free text from request parameters: look for IPs, CIDRs, ARNs, key ids, domains inside).
IP_FIELDS = {
    "sourceipaddress",
    "src",
    "src_ip",
    "source.ip",
    "source.address",
    "client.ip",
    "aws.cloudtrail.source_ip_address",
}
UA_FIELDS = {
    "useragent",
    "user_agent",
    "user_agent.original",
    "http_user_agent",
    "aws.cloudtrail.user_agent",
}
ACCOUNT_FIELDS = {
    "recipientaccountid",
    "useridentity.accountid",
    "useridentity.sessioncontext.sessionissuer.accountid",
    "vendor_account",
    "cloud.account.id",
    "aws.cloudtrail.recipient_account_id",
    "aws.cloudtrail.user_identity.account_id",
}
KEY_LEAVES = {"accesskeyid", "access_key_id"}
SCAN_PREFIXES = (
    "requestparameters.",
    "resources.",
    "useridentity.arn",
    "useridentity.sessioncontext.sessionissuer.arn",
    "useridentity.principalid",
    "tlsdetails.clientprovidedhostheader",
    "additionaleventdata.",
    "aws.cloudtrail.request_parameters",
    "aws.cloudtrail.flattened.request_parameters",
    "aws.cloudtrail.user_identity.arn",
    "aws.cloudtrail.resources",
    "user.name",
    "related.ip",
)
SCAN_EXACT = {"requestparameters", "resources", "arn"}

# First path segments worth walking: everything else (responseElements, eventName, _raw, ct_*, triage_*...) is
# skipped without descending, which keeps matching cheap on large records.
ROOTS = frozenset(
    [k.split(".", 1)[0] for k in IP_FIELDS | UA_FIELDS | ACCOUNT_FIELDS]
    + [p.split(".", 1)[0] for p in SCAN_PREFIXES]
    + list(SCAN_EXACT)
)

Observable = Tuple[str, str, str]  # (field path as it appears, kind, value)


@lru_cache(maxsize=8192)
def _classify(path: str) -> str:
    key = path.replace("{}", "").lower()
    if key in IP_FIELDS:
        return "ip"
    if key in UA_FIELDS:
        return "ua"
    if key in ACCOUNT_FIELDS:
        return "account"
    if key.rsplit(".", 1)[-1] in KEY_LEAVES and (
        key.startswith(("useridentity.", "aws.cloudtrail.user_identity."))
    ):
        return "key"
    if key in SCAN_EXACT or key.startswith(SCAN_PREFIXES):
        return "scan"
    return ""


def _leaves(record: Dict[str, Any], budget: List[int]) -> Iterator[Tuple[str, str]]:
    """(path, string) for each scalar leaf under a relevant root; lists add '{}' like Splunk's spath.

    Iterative (explicit stack) and bounded by depth and a shared leaf budget: records are attacker-shaped.
    """
    stack: List[Tuple[str, Any, int]] = []
    for key, value in record.items():
        name = str(key)
        if name.split(".", 1)[0].lower() in ROOTS:
            stack.append((name, value, 0))
    while stack:
        path, value, depth = stack.pop()
        if isinstance(value, dict):
            if depth < MAX_DEPTH:
                stack.extend((f"{path}.{k}", v, depth + 1) for k, v in value.items())
        elif isinstance(value, (list, tuple)):
            if depth < MAX_DEPTH:
                stack.extend((f"{path}{{}}", v, depth + 1) for v in value)
        elif value is None or isinstance(value, bool):
            continue
        else:
            if budget[0] <= 0:
                return
            budget[0] -= 1
            text = value if isinstance(value, str) else str(value)
            yield path, text[:MAX_STRING]


def _raw_record(event: Dict[str, Any]) -> Any:
    """The JSON record in a Splunk row's `_raw`, when there is one and it is not absurdly large."""
    raw = event.get("_raw")
    if not isinstance(raw, str) or len(raw) > MAX_RAW:
        return None
    raw = raw.strip()
    if not raw.startswith("{"):
        return None
    try:
        record = json.loads(raw)
    except ValueError:
        return None
    return record if isinstance(record, dict) else None


def observables(event: Any) -> Iterator[Observable]:
    """Yield (field, kind, value) for every leaf of `event` that threat intelligence can match, once each."""
    if not isinstance(event, dict):
        return
    seen: Set[Tuple[str, str]] = set()
    budget = [MAX_LEAVES]
    sources = [event]
    raw = _raw_record(event)
    if raw is not None:
        sources.append(raw)
    for record in sources:
        for path, text in _leaves(record, budget):
            kind = _classify(path)
            if not kind:
                continue
            text = text.strip()
            if not text or (path, text) in seen:
                continue
            seen.add((path, text))
            yield path.replace("{}", ""), kind, text


# Patterns for free-text scanning of request parameters (policy documents are JSON inside a string).
ARN_ACCOUNT_RE = re.compile(r"arn:aws[a-z-]*:[a-z0-9-]*:[a-z0-9-]*:(\d{12}):")
ACCESS_KEY_IN_TEXT_RE = re.compile(r"(?<![A-Z0-9])((?:AKIA|ASIA|ABIA|ACCA)[A-Z0-9]{16})(?![A-Z0-9])")
IPV4_IN_TEXT_RE = re.compile(r"(?<![\d.])((?:\d{1,3}\.){3}\d{1,3}(?:/\d{1,2})?)(?![\d.])")
URL_HOST_RE = re.compile(r"[a-z][a-z0-9+.-]{1,15}://(?:[^/@\s]*@)?(\[[0-9a-f:.]+\]|[^/:?#\s\"'\\]+)", re.I)
EMAIL_DOMAIN_RE = re.compile(r"[^\s@\"']+@([a-z0-9.-]+\.[a-z]{2,63})", re.I)
HOSTNAME_RE = re.compile(r"^(?:[a-z0-9_](?:[a-z0-9_-]{0,61}[a-z0-9])?\.)+[a-z][a-z0-9-]{1,62}\.?$", re.I)
TWELVE_DIGITS_RE = re.compile(r"^\d{12}$")
