"""Features, defined once for training and serving.

Every feature is causal: an event sees the profile (baseline) plus the events strictly before it in the engine's
order ((eventTime, eventID, content), `ctad.core.ordering`), never its future. The engine therefore gives the same answer to a scheduled run over a
window (profile loaded from history) and to a replay of everything, and the same answer whatever order or batches
the rows arrive in, because the caller sorts before calling `FeatureState.process`.

Numbers: `process` relies on finite, non-negative counts and plausible times, which its inputs guarantee by
construction (`ctad.core.bounded`: the normaliser refuses implausible times, `Profile.to_state` bounds a profile's
counts and times), so its hot path uses `math.log1p` and plain division without checks.

Missing values are NaN: a tree follows its default branch, which is how "no history yet" reaches the model
(hunting over a folder of logs starts with an empty profile; identity maturity features say how much it knows).
"""

from __future__ import annotations

import math
from collections import deque
from typing import Any, Dict, List, NamedTuple, Optional, Sequence, Tuple

from ctad.core.risk_checks import JUDGED
from ctad.core.risk_flags import FLAGS as RISK_FLAG_ROWS
from ctad.core.schema import CATEGORIES, UA_KINDS, Event

NAN = float("nan")
WIN_SHORT = 300.0  # 5 minutes
WIN_LONG = 3600.0  # 1 hour
DAY = 86400.0

# Categorical vocabularies: codes are stable; unknown values map to the last code of each list. The user-agent
# kinds and API categories are shared with the catalogue, so they live in ctad.core.schema.
IDENTITY_TYPES = ("IAMUser", "AssumedRole", "Root", "AWSService", "FederatedUser", "AWSAccount", "SAMLUser",
                  "WebIdentityUser", "Unknown")  # fmt: skip
IP_KINDS = ("public", "private", "aws_service", "aws_internal", "hostname", "missing", "invalid")
SERVICES = ("iam", "sts", "s3", "ec2", "lambda", "cloudtrail", "kms", "secretsmanager", "ssm", "rds", "guardduty",
            "logs", "cloudwatch", "organizations", "signin", "config", "sns", "sqs", "dynamodb", "ecr", "ecs",
            "eks", "route53", "cloudformation", "bedrock", "other")  # fmt: skip

_UA_KIND_CODE = {k: i for i, k in enumerate(UA_KINDS)}
_ITYPE_CODE = {k: i for i, k in enumerate(IDENTITY_TYPES)}
_IP_KIND_CODE = {k: i for i, k in enumerate(IP_KINDS)}
_CATEGORY_CODE = {k: i for i, k in enumerate(CATEGORIES)}
_SERVICE_CODE = {k: i for i, k in enumerate(SERVICES)}
_UA_UNKNOWN = len(UA_KINDS) - 1
_ITYPE_UNKNOWN = len(IDENTITY_TYPES) - 1
_IP_UNKNOWN = len(IP_KINDS) - 1
log1p = math.log1p

# name, meaning: written into the model's feature spec and used by reasons. Order = model column order.
FEATURES: Tuple[Tuple[str, str], ...] = (
    # temporal
    ("id_hour_share", "share of the identity's past events in this UTC hour +-1h (low: unusual hour for it)"),
    ("id_weekend_share", "share of the identity's past events on the same kind of day (weekend vs weekday)"),
    ("log_gap_id", "log1p seconds since the identity's previous event"),
    # frequency
    ("id_rate_5m", "events by the identity in the last 5 minutes, this one included"),
    ("id_rate_1h", "events by the identity in the last hour, this one included"),
    ("id_rate_vs_usual", "events in the last hour divided by the identity's usual events per active hour"),
    ("id_distinct_api_1h", "distinct APIs called by the identity in the last hour"),
    (
        "id_errors_5m",
        "on a failed call only: failed calls by the identity in the last 5 minutes, this one included",
    ),
    (
        "id_denied_1h",
        "on a denied call only: AccessDenied/Unauthorized calls by the identity in the last hour",
    ),
    (
        "novel_api_burst_1h",
        "on a first-time API call only: APIs the identity used for the first time within the "
        "last hour, this one included (0 on calls it made before: novelty stays with the new event)",
    ),
    ("ip_rate_5m", "events from this source address in the last 5 minutes"),
    (
        "ip_denied_1h",
        "on a denied call only: AccessDenied/Unauthorized calls from this address in the last hour",
    ),
    ("ip_identities", "distinct identities seen before from this source address"),
    # scarcity / novelty
    ("api_global_log_count", "log1p of how often anyone called this API before"),
    ("api_global_identities", "distinct identities that called this API before"),
    ("id_api_log_count", "log1p of how often this identity called this API before"),
    ("id_api_first", "1 if this identity never called this API before"),
    ("log_gap_id_api", "log1p seconds since this identity last called this API"),
    ("id_ip_first", "1 if this identity was never seen from this source address"),
    ("id_net_first", "1 if this identity was never seen from this network (/24 or /48)"),
    ("id_uaf_first", "1 if this identity never used this user-agent family"),
    ("id_region_first", "1 if this identity never called from this region"),
    (
        "id_key_first",
        "1 if this access key is new for this identity (a session key counts by its kind, ASIA*)",
    ),
    ("ip_first_global", "1 if nobody was seen from this source address before"),
    ("id_net_count", "distinct networks the identity was seen from before"),
    ("id_log_events", "log1p of the identity's past event count (how much the baseline knows)"),
    ("id_age_days", "days since the identity was first seen"),
    # categorical
    ("service", "AWS service of the call (code)"),
    ("read_only", "1 read-only call, 0 mutating, missing when CloudTrail does not say"),
    ("error_class", "0 success, 1 access denied, 2 not found/invalid, 3 throttled, 4 other error"),
    ("ua_kind", "user-agent kind: console, AWS internal, service, CLI, SDK, IaC, scanner, attack tool, ..."),
    ("identity_type", "CloudTrail identity type (code)"),
    ("ip_kind", "source address kind: public, private, AWS service, AWS internal, ..."),
    ("invoked_by_service", "1 if an AWS service made the call on the principal's behalf"),
    ("console_session", "1 if the call came from a console session"),
    ("mfa", "1 MFA used, 0 not used, missing when unknown"),
    ("api_risk", "sensitivity of the API in the catalogue (0 unknown .. 5)"),
    ("api_category", "catalogue category of the API (code)"),
    ("api_tactic", "ATT&CK tactic number of the API in the catalogue (TA0005 -> 5, 0 unknown)"),
    # request details
    ("req_public", "1 if the request makes a resource public (policy, ACL, snapshot, image, permission)"),
    ("req_cross_account", "1 if the request shares a resource with another AWS account"),
    ("req_open_ingress", "1 if the request opens ingress to 0.0.0.0/0 or ::/0"),
    ("req_logging_off", "1 if the request stops, deletes or weakens logging or detection"),
    ("req_credential_other", "1 if the request makes credentials or a console login for another principal"),
    ("req_self_grant", "1 if the request attaches or puts a policy on the caller itself"),
    ("req_short_expiry", "1 if the request sets objects to expire within days (lifecycle rule)"),
    # relative to the estate and to impact
    (
        "id_api_surprise",
        "bits of surprise that this identity calls this API: -log2 of its smoothed share of the "
        "identity's calls, the estate's share of the API as the prior (busy or quiet estate alike)",
    ),
    ("api_estate_share", "share of the estate's identities that called this API before"),
    (
        "impact",
        "impact of the action, 0..5: the catalogue's risk (at most 3 for an API whose request decides its "
        "risk, such as ModifySnapshotAttribute), raised by the request's risk flags",
    ),
    (
        "id_action_log_count",
        "log1p of how often this identity made this very request before: for a flagged request or a sensitive "
        "API (catalogue risk 3 or more), the same API with the same risk flags through the same user-agent "
        "family; else the same API",
    ),
    (
        "id_uaf_share",
        "share of the identity's past events made through this user-agent family (low: a tool it rarely uses, "
        "such as an SDK script in the middle of its Terraform work)",
    ),
    # appended, so the columns before it keep their places
    ("req_customer_key", "1 if the request writes an S3 object with a customer-provided key (SSE-C)"),
)
FEATURE_NAMES: Tuple[str, ...] = tuple(name for name, _ in FEATURES)

# Which way a feature may move the score, as a monotone constraint on the booster (+1 never lowers it, -1 never
# raises it; features not named are free). Why: the booster learns from a simulator, and an unconstrained tree can
# learn the simulator's quirks ("a known API is suspicious when the hour share is 0.31"); a model that may only
# read novelty, rarity, impact and failures in the direction an analyst reads them transfers to accounts it has
# never seen. Identity maturity (event count, age) is deliberately free *and* never a reason to discount a
# high-impact action: that is the knowledge prior's job (ctad.core.scoring).
DIRECTIONS: Dict[str, int] = {
    "novel_api_burst_1h": 1, "id_errors_5m": 1, "id_denied_1h": 1, "ip_denied_1h": 1,
    "api_global_log_count": -1, "api_global_identities": -1, "id_api_log_count": -1, "id_api_first": 1,
    "id_ip_first": 1, "id_net_first": 1, "id_uaf_first": 1, "id_region_first": 1, "id_key_first": 1,
    "ip_first_global": 1, "api_risk": 1, "req_public": 1, "req_cross_account": 1, "req_open_ingress": 1,
    "req_logging_off": 1, "req_credential_other": 1, "req_self_grant": 1, "req_short_expiry": 1,
    "id_api_surprise": 1, "api_estate_share": -1, "impact": 1, "id_action_log_count": -1, "id_uaf_share": -1,
    "req_customer_key": 1,
}  # fmt: skip
FEATURE_INDEX: Dict[str, int] = {name: i for i, name in enumerate(FEATURE_NAMES)}

_DENIED = ("AccessDenied", "Unauthorized", "UnauthorizedOperation", "AccessDeniedException", "Client.UnauthorizedOperation",
           "AuthFailure", "InvalidClientTokenId", "SignatureDoesNotMatch", "UnrecognizedClientException")  # fmt: skip
_NOT_FOUND = ("NotFound", "NoSuch", "Invalid", "Validation", "Malformed", "DoesNotExist", "Missing")
_THROTTLE = ("Throttl", "RequestLimitExceeded", "TooManyRequests", "SlowDown", "RateExceeded")


_ERROR_CLASSES: Dict[str, int] = {}  # error_class per code seen, for FeatureState.process (bounded there)
_NO_FLAGS = (0, 0, 0, 0, 0, 0, 0)


def error_class(code: str) -> int:
    if not code:
        return 0
    for token in _DENIED:
        if token in code:
            return 1
    for token in _THROTTLE:
        if token in code:
            return 3
    for token in _NOT_FOUND:
        if token in code:
            return 2
    return 4


def _tactic_number(tactic_id: str) -> int:
    if tactic_id.startswith("TA") and tactic_id[2:].isdigit():
        return int(tactic_id[2:])
    return 0


def _service(source: str) -> int:
    return _SERVICE_CODE.get(source.split(".", 1)[0], len(SERVICES) - 1)


class ApiFacts(NamedTuple):
    """What the features and reasons use of the catalogue's entry for one eventSource+eventName, encoded once
    per API (``FeatureState.api_info``); an API the catalogue does not list has risk 0 and empty ids."""

    risk: int  # 0 (not in the catalogue) .. 5
    category: int  # code in CATEGORIES
    tactic_number: int  # 5 for TA0005; 0 when none
    tactic_id: str  # "TA0005" or ""
    technique_id: str  # "T1562.001" or ""
    service: int  # code in SERVICES


KINDS = ("api", "ip", "net", "uaf", "region", "key", "action")

# Access key id prefixes of temporary credentials (STS session keys, service bearer tokens, context-specific
# credentials) -> the value an identity's history keeps for all of them.
_TEMPORARY_KEYS = {"ASIA": "ASIA*", "ABIA": "ABIA*", "ACCA": "ACCA*"}


def history_key(access_key: str) -> str:
    """An access key id as the identity's history remembers it ("key" table, `id_key_first`).

    A long-term key (AKIA...) belongs to one IAM user for months: a new one is worth noticing, so it is kept by
    its id. A temporary key is new for every session by nature (each assumed-role session, console sign-in,
    GetSessionToken): kept by id, every session of every role would look like a novel key and the baseline would
    hold one row per session (about 40 % of the sample's rows). It is kept by its kind ("ASIA*"), which still
    says something when it is new: an identity that never used temporary credentials now does. Idempotent, so a
    folded value (from a baseline or a search that folded keys before its stats) folds to itself."""
    return _TEMPORARY_KEYS.get(access_key[:4], access_key)


def action_key(api: str, flags: Sequence[str], ua_family: Optional[str]) -> str:
    """A risky request as the identity's history remembers it: the API, what the request did and the tool that
    made it. "Has this role shared a snapshot with another account before?" is the question, not "has it called
    ModifySnapshotAttribute".

    Why the tool: what may lower a high-impact action's score is evidence that this identity does this very action
    routinely (`ctad.core.scoring`). An admin whose Terraform creates users with console passwords does not make a
    `CreateLoginProfile` from a hand-run SDK script routine: that is how stolen keys are used (the attacker's
    tooling, the victim's identity). A stolen CI key replayed with the pipeline's own tool stays routine here; the
    other features (network, hour, novelty of the API) have to carry that case."""
    return api + "|" + "|".join(flags) + "#" + (ua_family or "")


ROUTINE_RISK = 3  # catalogue risk from which an unflagged call's routine is counted per tool (`routine_key`)


def routine_key(api: str, flags: Sequence[str], ua_family: Optional[str], risk: int) -> Optional[str]:
    """The "action" history key of a call, or None when the API's own count is its routine (`id_action_log_count`).

    Only flagged requests and sensitive APIs (catalogue risk >= ROUTINE_RISK) are kept per tool: those are the
    calls whose routine decides whether a first time is worth an analyst's look (GetSecretValue, UpdateFunctionCode,
    CreateLoginProfile, ...), and keeping every API per tool would grow the baseline by a row per (API, tool) for
    each identity. `FeatureState.process` inlines this; `ctad.splunk.baseline_command` calls it for stats rows."""
    if flags or risk >= ROUTINE_RISK:
        return action_key(api, flags, ua_family)
    return None


MAX_ACTIONS = 1024  # risky-request kinds remembered per identity: request flags are attacker-chosen
# pseudo-calls of the estate's API mix added to each identity's own (Bayesian smoothing)
SURPRISE_PRIOR = 10.0
MAX_SURPRISE = 40.0
_JUDGED_KNOWN = JUDGED.known  # eventName -> whether its request decides its risk (bound once: the hot path)
# Request risk flags that put an action at the top of the impact scale, whatever the catalogue says of the API.
FLAG_IMPACT: Dict[str, int] = {flag.name: flag.impact for flag in RISK_FLAG_ROWS}
_LOG2 = math.log(2.0)


def surprise(calls: float, identity_events: float, api_events: float, total: float, apis: float) -> float:
    """-log2 P(api | identity): the identity's own share of calls to the API, smoothed towards the estate's
    share so a rare API in a quiet estate and a routine one in a busy estate both score sensibly. Counts come
    from the profile and the event stream: each is clamped before the logarithm."""
    calls = max(0.0, calls)
    identity_events = max(calls, identity_events)
    estate = (max(0.0, api_events) + 1.0) / (max(0.0, total) + max(0.0, apis) + 1.0)
    if estate > 1.0:
        estate = 1.0
    p = (calls + SURPRISE_PRIOR * estate) / (identity_events + SURPRISE_PRIOR)
    if not p > 0.0:  # NaN or underflow
        return MAX_SURPRISE
    value = -math.log(p) / _LOG2 if p < 1.0 else 0.0
    return value if value < MAX_SURPRISE else MAX_SURPRISE


def impact(api_risk: int, flags: Sequence[str]) -> int:
    """The action's impact, 0..5: catalogue risk raised by what the request does (FLAG_IMPACT)."""
    level = api_risk
    for flag in flags:
        level = max(level, FLAG_IMPACT.get(flag, 0))
    return level


class IdentityState:
    """What the engine knows about one identity: aggregates (persisted in the profile) and recent windows.

    Each sighting table maps a value to [count, first_seen, last_seen]; they are attributes rather than a dict of
    dicts because this object is touched for every event and attribute access on slots is the cheapest there is.
    """

    __slots__ = ("n", "first", "last", "hours", "weekend", "api", "ip", "net", "uaf", "region", "key", "action",
                 "win_long", "win_short", "win_api", "novel", "denied_long", "errors_short")  # fmt: skip

    def __init__(self) -> None:
        self.n = 0
        self.first = 0.0
        self.last = 0.0
        self.hours = [0] * 24
        self.weekend = 0
        self.api: Dict[str, List[float]] = {}
        self.ip: Dict[str, List[float]] = {}
        self.net: Dict[str, List[float]] = {}
        self.uaf: Dict[str, List[float]] = {}
        self.region: Dict[str, List[float]] = {}
        self.key: Dict[str, List[float]] = {}
        self.action: Dict[
            str, List[float]
        ] = {}  # risky requests made: "source:name|flag|flag#ua-family" (see action_key)
        self.win_long: deque = deque()  # (time, api, denied) over the last hour
        self.win_short: deque = deque()  # (time, is_error) over the last 5 minutes
        self.win_api: Dict[str, int] = {}
        self.novel: deque = deque()  # times of first-time API calls
        self.denied_long = 0  # running counts over the windows, so each event costs O(1)
        self.errors_short = 0

    def table(self, kind: str) -> Dict[str, List[float]]:
        return getattr(self, kind)


class SourceState:
    __slots__ = ("n", "identities", "win_short", "win_denied")

    def __init__(self) -> None:
        self.n = 0
        self.identities = 0
        self.win_short: deque = deque()
        self.win_denied: deque = deque()


def _weekend(t: float) -> bool:
    return ((int(t // DAY) + 3) % 7) >= 5  # 1970-01-01 was a Thursday


class FeatureState:
    """The causal state: feed events in (time, eventID) order with `process`, get one feature row each."""

    def __init__(self, catalog: Any) -> None:
        self.catalog = catalog
        self.identities: Dict[str, IdentityState] = {}
        self.sources: Dict[str, SourceState] = {}
        self.apis: Dict[str, List[int]] = {}  # api -> [count, distinct identities]
        self.total = 0
        self.active = 0  # identities with at least one event (the estate's size for `api_estate_share`)
        self.first_time: Optional[float] = None
        self.last_time: Optional[float] = None
        self._api_info: Dict[str, ApiFacts] = {}
        self._hour: Tuple[float, float, int, int, int, bool] = (0.0, 0.0, 0, 0, 0, False)  # see process
        # "source:name" -> (source, "source:name", api_info); _api_names holds the first source seen per name
        self._api_keys: Dict[str, Tuple[str, str, ApiFacts]] = {}
        self._api_names: Dict[str, Tuple[str, str, ApiFacts]] = {}

    def api_info(self, source: str, name: str) -> ApiFacts:
        """Catalogue facts per API, cached (see `ApiFacts`)."""
        key = source + ":" + name
        info = self._api_info.get(key)
        if info is None:
            api = self.catalog.api(source, name) if self.catalog is not None else None
            service = _service(source)
            if api is None:
                info = ApiFacts(0, 0, 0, "", "", service)
            else:
                info = ApiFacts(
                    int(api.risk or 0),
                    _CATEGORY_CODE.get(api.category or "", len(CATEGORIES) - 1),
                    _tactic_number(api.tactic_id or ""),
                    api.tactic_id or "",
                    api.technique_id or "",
                    service,
                )
            self._api_info[key] = info
        return info

    def _api_key(self, source: str, name: str) -> Tuple[str, str, ApiFacts]:
        """(source, "source:name", api_info), cached so `process` usually finds it by name without building a string."""
        key = source + ":" + name
        entry = self._api_keys.get(key)
        if entry is None:
            entry = self._api_keys[key] = (source, key, self.api_info(source, name))
            self._api_names.setdefault(name, entry)
        return entry

    def process(self, ev: Event) -> List[float]:
        """Features of `ev` from its past, then fold `ev` into the state."""
        t = ev.time
        entry = self._api_names.get(ev.name)
        if entry is None or entry[0] != ev.source:  # new, or a name that exists in several services
            entry = self._api_key(ev.source, ev.name)
        _, api, info = entry
        code = ev.error_code
        if code:
            ecls = _ERROR_CLASSES.get(code)
            if ecls is None:
                ecls = error_class(code)
                if len(_ERROR_CLASSES) < 10_000:
                    _ERROR_CLASSES[code] = ecls
            denied = ecls == 1
            failed = ecls > 0
        else:
            ecls = 0
            denied = failed = False

        st = self.identities.get(ev.identity)
        if st is None:
            st = self.identities[ev.identity] = IdentityState()
        n = st.n

        # --- windows: drop what fell out, then count with this event included
        wl, ws, novel, win_api = st.win_long, st.win_short, st.novel, st.win_api
        cut_long = t - WIN_LONG
        cut_short = t - WIN_SHORT
        while wl and wl[0][0] <= cut_long:
            _, old_api, old_denied = wl.popleft()
            c = win_api[old_api] - 1
            if c:
                win_api[old_api] = c
            else:
                del win_api[old_api]
            if old_denied:
                st.denied_long -= 1
        while ws and ws[0][0] <= cut_short:
            if ws.popleft()[1]:
                st.errors_short -= 1
        while novel and novel[0] <= cut_long:
            novel.popleft()

        # --- source address
        ip = ev.ip
        src = self.sources.get(ip)
        ip_first_global = src is None
        if src is None:
            src = self.sources[ip] = SourceState()
        sws, swd = src.win_short, src.win_denied
        while sws and sws[0] <= cut_short:
            sws.popleft()
        while swd and swd[0] <= cut_long:
            swd.popleft()

        # --- novelty against the identity's history: one lookup per table, reused when folding the event in
        api_seen = st.api.get(api)
        ip_seen = st.ip.get(ip)
        net, uaf, region, key = ev.net, ev.ua_family, ev.region, ev.access_key
        if key:  # a session key is history by its kind only (history_key, inlined on the hot path)
            key = _TEMPORARY_KEYS.get(key[:4], key)
        net_seen = st.net.get(net)
        uaf_seen = st.uaf.get(uaf)
        region_seen = st.region.get(region) if region else None
        key_seen = st.key.get(key) if key else None
        # the UTC hour of t (and its neighbours) and whether it is a weekend day, reused within the same hour
        start, end, hour, prev_hour, next_hour, weekend = self._hour
        if not start <= t < end:
            hour = int(t // 3600) % 24
            prev_hour, next_hour, weekend = hour - 1, (hour + 1) % 24, _weekend(t)
            start = t // 3600 * 3600.0
            self._hour = (start, start + 3600.0, hour, prev_hour, next_hour, weekend)
        last = st.last
        rate_1h = len(wl) + 1
        # 0/1 flags once the identity has history, NaN (unknown) before (annotations only: no runtime cost)
        id_api_first: float
        ip_first: float
        net_first: float
        uaf_first: float
        uaf_share: float
        region_first: float
        key_first: float
        if n:
            hours = st.hours
            hour_share = (hours[prev_hour] + hours[hour] + hours[next_hour]) / n
            weekend_share = (st.weekend if weekend else n - st.weekend) / n
            log_gap = log1p(t - last) if t > last else 0.0
            active_hours = (last - st.first) / 3600.0
            if n < active_hours:  # min(active_hours, n)
                active_hours = n
            if active_hours < 1.0:
                active_hours = 1.0
            rate_vs_usual = rate_1h * active_hours / n
            if api_seen is None:
                id_api_first, id_api_log, gap_api = 1, 0.0, NAN
            else:
                id_api_first = 0
                id_api_log = log1p(api_seen[0])
                gap_api = log1p(t - api_seen[2]) if t > api_seen[2] else 0.0
            ip_first = 0 if ip_seen else 1
            net_first = 0 if net_seen is not None else 1
            if uaf_seen is not None:
                uaf_first, uaf_share = 0, min(uaf_seen[0] / n, 1.0)  # a baseline read back may be forged
            else:
                uaf_first, uaf_share = 1, 0.0
            region_first = 1 if (region and region_seen is None) else 0
            key_first = 1 if (key and key_seen is None) else 0
            net_count = len(st.net)
            age_days = (t - st.first) / DAY
        else:
            hour_share = weekend_share = log_gap = rate_vs_usual = gap_api = NAN
            id_api_first = ip_first = net_first = uaf_first = region_first = key_first = uaf_share = NAN
            id_api_log = 0.0
            net_count = 0
            age_days = 0.0

        g = self.apis.get(api)
        in_window = win_api.get(api)
        flags = ev.flags
        # the catalogue's risk, capped where the request decides the risk (raised below by the request's flags)
        judged = _JUDGED_KNOWN.get(ev.name)
        if judged is None:
            judged = JUDGED(ev.name)
        level = min(info.risk, 3) if judged else info.risk
        if flags:
            req = (1 if "public" in flags else 0, 1 if "cross_account" in flags else 0,
                   1 if "open_ingress" in flags else 0, 1 if "logging_off" in flags else 0,
                   1 if "credential_other" in flags else 0, 1 if "self_grant" in flags else 0,
                   1 if "short_expiry" in flags else 0)  # fmt: skip
            customer_key = 1 if "customer_key" in flags else 0
            level = impact(level, flags)
            akey: Optional[str] = action_key(api, flags, uaf)
        else:
            req = _NO_FLAGS
            customer_key = 0
            akey = action_key(api, flags, uaf) if info.risk >= ROUTINE_RISK else None  # routine_key, inlined
        if akey is not None:
            action_seen = st.action.get(akey)
            action_count = action_seen[0] if action_seen is not None else 0
        else:
            action_seen = None
            action_count = api_seen[0] if api_seen is not None else 0
        known = self.active  # identities with events before this one
        novel_api = n and api_seen is None
        mfa = ev.mfa
        ro = ev.read_only
        row = [
            hour_share,
            weekend_share,
            log_gap,
            len(ws) + 1,
            rate_1h,
            rate_vs_usual,
            len(win_api) + (in_window is None),
            st.errors_short + 1 if failed else 0,
            st.denied_long + 1 if denied else 0,
            len(novel) + 1 if novel_api else 0,
            len(sws) + 1,
            len(swd) + 1 if denied else 0,
            src.identities,
            log1p(g[0]) if g else 0.0,
            g[1] if g else 0,
            id_api_log,
            id_api_first,
            gap_api,
            ip_first,
            net_first,
            uaf_first,
            region_first,
            key_first,
            1 if ip_first_global else 0,
            net_count,
            log1p(n),
            age_days,
            info.service,
            NAN if ro is None else (1 if ro else 0),
            ecls,
            _UA_KIND_CODE.get(ev.ua_kind, _UA_UNKNOWN),
            _ITYPE_CODE.get(ev.identity_type, _ITYPE_UNKNOWN),
            _IP_KIND_CODE.get(ev.ip_kind, _IP_UNKNOWN),
            1 if ev.invoked_by else 0,
            1 if ev.console else 0,
            NAN if mfa is None else (1 if mfa else 0),
            info.risk,
            info.category,
            info.tactic_number,
            *req,
            surprise(api_seen[0] if api_seen else 0, n, g[0] if g else 0, self.total, len(self.apis)),
            (g[1] / known if known > 0 else 0.0) if g else 0.0,
            level,
            log1p(action_count),
            uaf_share,
            customer_key,
        ]

        # --- fold the event in
        if n == 0:
            st.first = t
            self.active += 1
        st.n = n + 1
        if t > last:
            st.last = t
        st.hours[hour] += 1
        if weekend:
            st.weekend += 1
        if api_seen is None:
            st.api[api] = [1, t, t]
            if n:
                novel.append(t)
            if g is None:
                g = self.apis[api] = [0, 0]
            g[1] += 1
        else:
            api_seen[0] += 1
            if t > api_seen[2]:
                api_seen[2] = t
            if g is None:  # known to the identity (profile) but not to the global table
                g = self.apis[api] = [0, 1]
        g[0] += 1
        if ip_seen is None:
            st.ip[ip] = [1, t, t]
            src.identities += 1
        else:
            ip_seen[0] += 1
            if t > ip_seen[2]:
                ip_seen[2] = t
        # the same [count, first, last] update for the other sighting tables (region and key only when known)
        if net is not None:
            if net_seen is None:
                st.net[net] = [1, t, t]
            else:
                net_seen[0] += 1
                if t > net_seen[2]:
                    net_seen[2] = t
        if uaf is not None:
            if uaf_seen is None:
                st.uaf[uaf] = [1, t, t]
            else:
                uaf_seen[0] += 1
                if t > uaf_seen[2]:
                    uaf_seen[2] = t
        if region:
            if region_seen is None:
                st.region[region] = [1, t, t]
            else:
                region_seen[0] += 1
                if t > region_seen[2]:
                    region_seen[2] = t
        if key:
            if key_seen is None:
                st.key[key] = [1, t, t]
            else:
                key_seen[0] += 1
                if t > key_seen[2]:
                    key_seen[2] = t
        if akey is not None:
            if action_seen is None:
                if len(st.action) < MAX_ACTIONS:  # request flags are attacker-chosen: the table is bounded
                    st.action[akey] = [1, t, t]
            else:
                action_seen[0] += 1
                if t > action_seen[2]:
                    action_seen[2] = t
        wl.append((t, api, denied))
        win_api[api] = 1 if in_window is None else in_window + 1
        ws.append((t, failed))
        if denied:
            st.denied_long += 1
            swd.append(t)
        if failed:
            st.errors_short += 1
        src.n += 1
        sws.append(t)
        self.total += 1
        if self.first_time is None:
            self.first_time = t
        if self.last_time is None or t > self.last_time:
            self.last_time = t
        return row
