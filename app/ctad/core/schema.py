"""The canonical event and the output contract shared by every adapter (CLI, Splunk, Elastic).

One `Event` per CloudTrail record whatever shape it arrived in, so features are defined once. It is a
`__slots__` class because the engine creates millions of them and attribute access on slots is the cheapest
Python offers; it pickles as a plain tuple so spilled runs stay small.
"""

from __future__ import annotations

import operator
import re
from typing import Any, Dict, List, Optional, Tuple, TypedDict

from ctad.core.risk_flags import FLAG_NAMES


class CtFields(TypedDict):
    """The fields every adapter adds to a row, in this order (docs/DESIGN.md "Output contract"). A row that could
    not be scored has them all too, empty, with the reason in ct_error (`empty_output`)."""

    ct_score: Optional[float]  # None when the row was not scored
    ct_anomaly: int  # 0/1
    ct_severity: str  # one of SEVERITIES, or "" when not scored
    ct_reasons: List[str]
    ct_risk: int
    ct_incident: str
    ct_incident_score: int
    ct_incident_severity: str
    ct_tactic: str
    ct_technique: str
    ct_identity: str
    ct_model: str
    ct_error: str


OUTPUT_FIELDS: Tuple[str, ...] = tuple(CtFields.__annotations__)

# Every severity scale in ctad (ct_severity, ct_incident_severity, triage_severity), least severe first: the
# index is the rank. Triage, the report and the evidence filter all read this one tuple.
SEVERITIES: Tuple[str, ...] = ("informational", "low", "medium", "high", "critical")

# Categorical vocabularies shared by the lookups (validated by ctad.core.catalog) and the model's features
# (encoded by ctad.core.features). A value's index is its feature code, written into the shipped model: append
# new values just before the last one, never reorder. The last value is where anything unknown goes; the
# catalogue's own vocabulary is the same list without the empty and catch-all entries.
UA_KINDS: Tuple[str, ...] = ("aws_console", "aws_internal", "aws_service", "cli", "sdk", "iac", "scanner",
                             "attack_tool", "browser", "script", "unknown")  # fmt: skip
CATEGORIES: Tuple[str, ...] = ("", "discovery", "credential_access", "persistence", "privilege_escalation",
                               "defense_evasion", "exfiltration", "impact", "lateral_movement", "initial_access",
                               "execution", "collection", "resource_hijacking", "other")  # fmt: skip

# API version suffixes some services put on eventName (Lambda: CreateFunction20150331, AddPermission20150331v2;
# CloudFront: CreateDistribution2020_05_31). Catalogues, risk checks, rules and people write the bare name.
_VERSION_SUFFIX = re.compile(r"(?:\d{8}(?:v\d+)?|\d{4}_\d{2}_\d{2})\Z")


def bare_event_name(event_name: str) -> str:
    """`event_name` without an API version suffix ("AddPermission20150331v2" -> "AddPermission")."""
    return _VERSION_SUFFIX.sub("", event_name)


# Request details that change risk, found by the registered checks (ctad.core.risk_checks) and used as features
# and reasons: one row each in `ctad.core.risk_flags`, in output order.
RISK_FLAGS: Tuple[str, ...] = FLAG_NAMES


class Event:
    """A normalised CloudTrail event: only what features, reasons and triage need."""

    __slots__ = (
        "event_id",
        "time",
        "source",
        "name",
        "region",
        "ip",
        "user_agent",
        "error_code",
        "read_only",
        "account",
        "identity",
        "identity_type",
        "session",
        "access_key",
        "invoked_by",
        "console",
        "mfa",
        "ua_family",
        "ua_kind",
        "net",
        "ip_kind",
        "flags",
        "resource",
    )

    def __init__(
        self,
        event_id: str,
        time: float,
        source: str,
        name: str,
        region: str = "",
        ip: str = "",
        user_agent: str = "",
        error_code: str = "",
        read_only: Optional[bool] = None,
        account: str = "",
        identity: str = "",
        identity_type: str = "",
        session: str = "",
        access_key: str = "",
        invoked_by: str = "",
        console: bool = False,
        mfa: Optional[bool] = None,
        ua_family: str = "unknown",
        ua_kind: str = "unknown",
        net: str = "",
        ip_kind: str = "",
        flags: Tuple[str, ...] = (),
        resource: str = "",
    ) -> None:
        self.event_id = event_id
        self.time = time
        self.source = source
        self.name = name
        self.region = region
        self.ip = ip
        self.user_agent = user_agent
        self.error_code = error_code
        self.read_only = read_only
        self.account = account
        self.identity = identity
        self.identity_type = identity_type
        self.session = session
        self.access_key = access_key
        self.invoked_by = invoked_by
        self.console = console
        self.mfa = mfa
        self.ua_family = ua_family
        self.ua_kind = ua_kind
        self.net = net
        self.ip_kind = ip_kind
        self.flags = flags
        self.resource = resource

    @property
    def api(self) -> str:
        """`eventSource:eventName`: practitioners match on both (DeleteRules exists in two services)."""
        return self.source + ":" + self.name

    def to_tuple(self) -> Tuple[Any, ...]:
        return _GET_ALL(self)

    @classmethod
    def from_tuple(cls, values: Tuple[Any, ...]) -> Event:
        return cls(*values)  # __init__ takes the fields in __slots__ order (a test holds it to that)

    def __reduce__(self):  # pickle as one tuple: smaller and faster than a dict of slots
        return (Event.from_tuple, (self.to_tuple(),))

    def to_dict(self) -> Dict[str, Any]:
        return {name: getattr(self, name) for name in self.__slots__}

    def __repr__(self) -> str:
        return f"Event({self.event_id!r}, {self.time!r}, {self.api!r}, identity={self.identity!r})"


def empty_output(error: str = "", model: str = "", identity: str = "") -> CtFields:
    """The ct_* fields of a row that could not be scored: present, empty, with the reason in ct_error."""
    return {
        "ct_score": None,
        "ct_anomaly": 0,
        "ct_severity": "",
        "ct_reasons": [],
        "ct_risk": 0,
        "ct_incident": "",
        "ct_incident_score": 0,
        "ct_incident_severity": "",
        "ct_tactic": "",
        "ct_technique": "",
        "ct_identity": identity,
        "ct_model": model,
        "ct_error": error,
    }


def as_list(value: Any) -> List[Any]:
    if value is None:
        return []
    if isinstance(value, list):
        return value
    return [value]


# One C-level call for every slot, in __slots__ order: spilling a million events to disk calls this per event.
_GET_ALL = operator.attrgetter(*Event.__slots__)
