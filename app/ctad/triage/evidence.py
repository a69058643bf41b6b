"""From detector output rows to alert groups and the context an analyst would look at.

Only rows stage one flagged (ct_anomaly=1) are triaged. They are grouped so one chain of calls covers one entity
incident (`ct_incident`: the detector already joined the identity's anomalies, whatever their API, so the analyst
agent sees the recon, the escalation and the persistence together); rows without an incident (older detector
output, lookups) fall back to bursts by the same identity doing the same thing (same technique or API, no gap
longer than `gap_s`). Each group gets the evidence the agents reason over: detector fields, the identity's activity in this run and in
the baseline profile when one is given, related events (same source IP, same access key) in the window, threat
intel, allowlist and knowledge-base matches, and injection findings in attacker-written fields.

`group.context` is everything triage computed (values reduced to safe tokens), `group.untrusted` the raw samples.
A prompt shows only `prompt_trusted(context)` (numbers, fixed vocabulary, lookup text) as trusted; every value
taken from a log field, reasons included, goes into the spotlighted block with the samples (`prompt_untrusted`).
"""

from __future__ import annotations

import datetime as _dt
import hashlib
import json
import math
import re
from collections import Counter, defaultdict
from typing import Any, Dict, List, Optional, Sequence, Tuple

from ctad.core.bounded import text_too_deep
from ctad.core.normalize import NormalizeError, normalize
from ctad.core.schema import SEVERITIES
from ctad.triage.injection import find_injection

UNTRUSTED_KEYS = (
    "userAgent",
    "requestParameters",
    "responseElements",
    "errorMessage",
    "errorCode",
    "additionalEventData",
    "serviceEventDetails",
    "resources",
    "userIdentity",
    "eventName",
    "eventSource",
    "sourceIPAddress",
    "tlsDetails",
    "eventID",
    "eventTime",
    "awsRegion",
)
_SAFE = re.compile(r"[^\w:/+=,.@*\-]")
SAMPLES = 5
RELATED_WINDOW_S = 3600.0


def safe_token(value: Any, limit: int = 256) -> str:
    """An identifier reduced to the characters AWS allows in ARNs, names and ids (anything else becomes '?').

    Used for the values put in the trusted part of a prompt: a legitimate ARN, API name or IP never changes, and
    text smuggled in a session name or a forged field cannot read as sentences.
    """
    return _SAFE.sub("?", str(value or ""))[:limit]


def _iso(t: Optional[float]) -> str:
    """UTC ISO time, or "" for a time no calendar holds (NaN, year 10000+): a label must not end the run."""
    if t is None:
        return ""
    try:
        return _dt.datetime.fromtimestamp(t, tz=_dt.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")
    except (OverflowError, OSError, ValueError):
        return ""


def _number(value: Any) -> float:
    """A finite float from a profile cell, else 0.0 (profiles are files and KV records: they can be damaged)."""
    try:
        number = float(value)
    except (TypeError, ValueError, OverflowError):
        return 0.0
    return number if math.isfinite(number) else 0.0


# ------------------------------------------------------------------------------------------- reading rows
def raw_record(row: Dict[str, Any]) -> Dict[str, Any]:
    """The CloudTrail record inside a detection row: `_raw` JSON in Splunk, the row itself in the CLI."""
    raw = row.get("_raw")
    if isinstance(raw, list) and raw:
        raw = raw[0]
    if isinstance(raw, str) and raw.strip().startswith("{"):
        try:
            parsed = json.loads(raw)
        except (ValueError, RecursionError):  # unparseable or too deep: the extracted fields are the record
            parsed = None
        if isinstance(parsed, dict):
            detail = parsed.get("detail")
            return detail if isinstance(detail, dict) and "eventName" in detail else parsed
    detail = row.get("detail")
    if isinstance(detail, dict) and "eventName" in detail:
        return detail
    return {k: v for k, v in row.items() if not (isinstance(k, str) and k.startswith(("ct_", "triage_")))}


def _root(key: Any) -> str:
    """`requestParameters` for `requestParameters.bucketName` or `resources{}.ARN` (Splunk's flattened names)."""
    return re.split(r"[.{\[]", str(key), maxsplit=1)[0]


def untrusted_fields(raw: Dict[str, Any]) -> Dict[str, Any]:
    """The caller-written fields of a record, nested (`_raw`, CLI rows) or flattened (`table`, `fields - _raw`)."""
    return {k: v for k, v in raw.items() if _root(k) in UNTRUSTED_KEYS and v not in (None, "", {}, [])}


def scanned_fields(alert: Any) -> Dict[str, Any]:
    """What the injection scan reads for one alert: the whole record, whatever its shape, and the detector's reasons.

    Not only UNTRUSTED_KEYS: after `table`, `fields - _raw` or a data model the attacker's text sits under
    flattened or renamed fields, and a reason can quote a resource name. Only ct_*/triage_* (written by ctad)
    are left out, by raw_record.
    """
    fields = dict(alert.raw)
    reasons = _reasons(alert.row.get("ct_reasons"))
    if reasons:
        fields["ct_reasons"] = reasons
    return fields


def _role_name(identity: str) -> str:
    return identity.rsplit("/", 1)[-1] if ":role/" in identity else ""


def read_event(row: Dict[str, Any]) -> Tuple[Dict[str, Any], Dict[str, Any]]:
    """(normalised event fields as a dict, raw CloudTrail record); NormalizeError when the row is not an event."""
    raw = raw_record(row)
    try:
        ev = normalize(row).to_dict()
    except NormalizeError:
        # A `_raw` nested deeper than detection reads (bounded.MAX_NESTING: a ct_error at detection's doors) in a
        # row something flagged anyway: its extracted fields are the event. The record for the injection scan
        # is still `raw`, as deep as the parser goes.
        text = row.get("_raw")
        text = text[0] if isinstance(text, list) and text else text
        if not text_too_deep(text):
            raise
        ev = normalize({k: v for k, v in row.items() if k != "_raw"}).to_dict()
    if row.get("ct_identity"):
        ev["identity"] = str(row["ct_identity"])
    ev["api"] = f"{ev.get('source', '')}:{ev.get('name', '')}"
    return ev, raw


def _reasons(value: Any) -> List[str]:
    if value is None or value == "":
        return []
    if isinstance(value, list):
        return [str(v) for v in value if str(v)]
    if isinstance(value, str) and value.startswith("["):
        try:
            parsed = json.loads(value)
            if isinstance(parsed, list):
                return [str(v) for v in parsed]
        except ValueError:
            pass
    return [s for s in str(value).split("\n") if s]


def is_flagged(row: Dict[str, Any]) -> bool:
    value = row.get("ct_anomaly")
    if isinstance(value, list) and value:
        value = value[0]
    return str(value).strip() in ("1", "1.0", "true", "True")


def score_of(row: Dict[str, Any]) -> float:
    """ct_score as a number in [0, 1]: NaN, inf or text (a hand-edited or foreign row) cannot reach round()."""
    value = row.get("ct_score")
    if isinstance(value, list) and value:
        value = value[0]
    try:
        score = float(value or 0.0)
    except (TypeError, ValueError, OverflowError):
        return 0.0
    if not math.isfinite(score):
        return 1.0 if score > 0 else 0.0
    return min(1.0, max(0.0, score))


# Nesting kept in prompt samples and cache keys; CloudTrail's own records stay under ~10 levels.
MAX_DEPTH = 24
MAX_ITEMS = 200  # members kept per object or array in those samples


def bounded(value: Any, depth: int = MAX_DEPTH) -> Any:
    """A copy of a decoded JSON value cut at `depth` levels and `MAX_ITEMS` members per container.

    Samples go through json.dumps (fingerprint, prompt, cache) far from where they were parsed; an event nested
    1,000 levels deep would end those calls with RecursionError. The cut is marked, never silent.
    """
    if isinstance(value, dict):
        if depth <= 0:
            return f"<object nested deeper than {MAX_DEPTH} levels: not shown>"
        items = list(value.items())
        out = {str(k): bounded(v, depth - 1) for k, v in items[:MAX_ITEMS]}
        if len(items) > MAX_ITEMS:
            out["<truncated>"] = f"{len(items) - MAX_ITEMS} more members"
        return out
    if isinstance(value, (list, tuple)):
        if depth <= 0:
            return f"<array nested deeper than {MAX_DEPTH} levels: not shown>"
        out_list = [bounded(v, depth - 1) for v in value[:MAX_ITEMS]]
        if len(value) > MAX_ITEMS:
            out_list.append(f"<truncated: {len(value) - MAX_ITEMS} more items>")
        return out_list
    if isinstance(value, float) and not math.isfinite(value):
        return str(value)
    if value is None or isinstance(value, (str, int, float, bool)):
        return value
    return str(value)


# ----------------------------------------------------------------------------------------------- grouping
class Alert:
    """One flagged row with what triage read from it."""

    __slots__ = ("index", "row", "event", "raw")

    def __init__(self, index: int, row: Dict[str, Any], event: Dict[str, Any], raw: Dict[str, Any]):
        self.index = index
        self.row = row
        self.event = event
        self.raw = raw


class Group:
    """A burst of alerts by one identity with one behaviour: one chain of agent calls covers it."""

    def __init__(self, key: Tuple[str, str], alerts: List[Alert]):
        self.key = key
        self.alerts = alerts
        self.context: Dict[str, Any] = {}
        self.untrusted: List[Dict[str, Any]] = []
        self.fingerprint = ""

    @property
    def group_id(self) -> str:
        return self.fingerprint[:12] or hashlib.sha256(repr(self.key).encode()).hexdigest()[:12]

    @property
    def size(self) -> int:
        return len(self.alerts)


_INCIDENT_ID = re.compile(r"ctad-[0-9a-f]{16}")


def incident_of(row: Dict[str, Any]) -> str:
    """The row's `ct_incident`, or "" when it has none or it is not one the detector could have written (the
    field comes back from a lookup anyone can write to, so it is checked before it joins rows together)."""
    value = row.get("ct_incident")
    if isinstance(value, list):
        value = value[0] if value else ""
    value = str(value or "")
    return value if _INCIDENT_ID.fullmatch(value) else ""


def incident_score_of(row: Dict[str, Any]) -> int:
    """`ct_incident_score` as a bounded int (0 when missing or not a number)."""
    try:
        value = float(row.get("ct_incident_score") or 0)
    except (TypeError, ValueError):
        return 0
    return int(min(max(value, 0.0), 100.0)) if value == value else 0


def group_alerts(alerts: Sequence[Alert], gap_s: float = 1800.0, max_size: int = 50) -> List[Group]:
    """One group per incident (split at `max_size`); rows without one: bursts of the same identity and behaviour
    (technique, else API), split on a gap over `gap_s` or at `max_size`."""
    by_key: Dict[Tuple[str, str], List[Alert]] = defaultdict(list)
    for a in alerts:
        incident = incident_of(a.row)
        behaviour = (
            ("incident:" + incident) if incident else (str(a.row.get("ct_technique") or "") or a.event["api"])
        )
        by_key[(a.event.get("identity") or "unknown", behaviour)].append(a)
    groups: List[Group] = []
    for key, items in by_key.items():
        items.sort(key=lambda a: (a.event.get("time") or 0.0, a.index))
        split_on_gap = not key[1].startswith("incident:")  # the detector already cut incidents on its own gap
        current: List[Alert] = []
        last: Optional[float] = None
        for a in items:
            t = a.event.get("time")
            if current and (
                len(current) >= max_size
                or (split_on_gap and t is not None and last is not None and t - last > gap_s)
            ):
                groups.append(Group(key, current))
                current = []
            current.append(a)
            last = t if t is not None else last
        if current:
            groups.append(Group(key, current))
    groups.sort(key=lambda g: min(a.index for a in g.alerts))
    return groups


def incident_context(rows: Sequence[Dict[str, Any]]) -> Dict[str, Any]:
    """What the detector said about the group's incident: its id, current score and severity (those of its
    strongest row: the score only grows as events arrive), and every technique and tactic it holds."""
    ids = {incident_of(r) for r in rows} - {""}
    if not ids:
        return {}
    top = max(rows, key=incident_score_of)
    severity = str(top.get("ct_incident_severity") or "")
    return {
        "id": sorted(ids)[0],
        "score": incident_score_of(top),
        "severity": severity if severity in ("low", "medium", "high", "critical") else "",
        "techniques": sorted({safe_token(r.get("ct_technique"), 16) for r in rows if r.get("ct_technique")})[
            :20
        ],
        "tactics": sorted({safe_token(r.get("ct_tactic"), 8) for r in rows if r.get("ct_tactic")})[:20],
    }


# ------------------------------------------------------------------------------------------------ context
class RunIndex:
    """Every row of the run (flagged or not) indexed by identity, source IP and access key, for related events."""

    def __init__(self) -> None:
        self.events: List[Dict[str, Any]] = []
        self.by: Dict[str, Dict[str, List[int]]] = {
            "identity": defaultdict(list),
            "ip": defaultdict(list),
            "access_key": defaultdict(list),
        }

    def add(self, event: Dict[str, Any], flagged: bool) -> None:
        i = len(self.events)
        self.events.append(
            dict(
                identity=event.get("identity"),
                ip=event.get("ip"),
                access_key=event.get("access_key"),
                api=event.get("api"),
                time=event.get("time"),
                error_code=event.get("error_code"),
                flagged=flagged,
            )
        )
        for field in ("identity", "ip", "access_key"):
            value = event.get(field)
            if value:
                self.by[field][value].append(i)

    def related(
        self, field: str, value: str, t0: Optional[float], t1: Optional[float], exclude_identity: str = ""
    ) -> Dict[str, Any]:
        idx = self.by[field].get(value, [])
        hits = []
        for i in idx:
            e = self.events[i]
            t = e["time"]
            if t0 is not None and t is not None and not (t0 - RELATED_WINDOW_S <= t <= t1 + RELATED_WINDOW_S):
                continue
            if exclude_identity and e["identity"] == exclude_identity:
                continue
            hits.append(e)
        apis = Counter(e["api"] for e in hits)
        return {
            "events": len(hits),
            "flagged": sum(1 for e in hits if e["flagged"]),
            "errors": sum(1 for e in hits if e["error_code"]),
            "identities": len({e["identity"] for e in hits}),
            "top_apis": [safe_token(a) for a, _ in apis.most_common(8)],
        }


class Baseline:
    """Per-identity history from a saved profile (`ctad.core.profile.Profile`), when one is given."""

    def __init__(self, rows: Optional[Sequence[Dict[str, Any]]] = None):
        self._by: Dict[str, List[Dict[str, Any]]] = defaultdict(list)
        for r in rows or ():
            self._by[str(r.get("identity", ""))].append(r)

    @classmethod
    def load(cls, path: Optional[str]) -> Baseline:
        if not path:
            return cls()
        from ctad.core.profile import Profile  # the engine's profile; only needed when --profile is given

        return cls(Profile.load(path).to_rows())

    def describe(self, identity: str, apis: Sequence[str], ips: Sequence[str]) -> Dict[str, Any]:
        rows = self._by.get(identity)
        if not rows:
            return {"available": bool(self._by), "known_identity": False}
        seen = {(r.get("kind"), r.get("value")) for r in rows}
        total = int(sum(min(1e12, max(0.0, _number(r.get("count")))) for r in rows if r.get("kind") == "api"))
        firsts = [_number(r["first"]) for r in rows if r.get("first") not in (None, "")]
        return {
            "available": True,
            "known_identity": True,
            "events_in_baseline": total,
            "first_seen": _iso(min(firsts)) if firsts else "",
            "apis_seen_before": sorted(safe_token(a) for a in apis if ("api", a) in seen),
            "apis_new": sorted(safe_token(a) for a in apis if ("api", a) not in seen),
            "ips_new": sorted(safe_token(i) for i in ips if ("ip", i) not in seen),
        }


def _cti_index(path: Optional[str] = None) -> Any:
    """`ctad.cti.CTIIndex` when that package is built and loads; None otherwise (triage runs without CTI)."""
    try:
        from ctad.cti import CTIIndex
    except Exception:
        return None
    try:
        return CTIIndex.load(path) if path else CTIIndex.load()
    except Exception:
        return None


# Allowlist fields whose value the API caller sets (any HTTP client can send `userAgent: AWS Internal`).
CALLER_CHOSEN_FIELDS = ("user_agent",)


def aws_vouches(ev: Dict[str, Any]) -> bool:
    """True when a field AWS itself writes says AWS acted: invokedBy, an AWSService identity, or a service name
    (or `AWS Internal`) as sourceIPAddress. Only then may a caller-chosen header count as benign evidence."""
    return (
        bool(ev.get("invoked_by"))
        or ev.get("identity_type") == "AWSService"
        or (ev.get("ip_kind") in ("aws_service", "aws_internal"))
    )


def allow_values(ev: Dict[str, Any]) -> Dict[str, Any]:
    """The event's values under the allowlist's field names (ctad.core.catalog.ALLOWLIST_FIELDS)."""
    return {
        "identity": ev.get("identity", ""),
        "invoked_by": ev.get("invoked_by", ""),
        "user_agent": ev.get("user_agent", ""),
        "source_ip": ev.get("ip", ""),
        "role_name": _role_name(ev.get("identity", "")),
        "event_source": ev.get("source", ""),
        "account_id": ev.get("account", ""),
    }


def build_context(
    group: Group,
    index: RunIndex,
    reference: Any,
    knowledge: Any = None,
    cti: Any = None,
    baseline: Optional[Baseline] = None,
) -> None:
    """Fill group.context (trusted evidence) and group.untrusted (raw samples) and group.fingerprint."""
    alerts = group.alerts
    evs = [a.event for a in alerts]
    identity = evs[0].get("identity") or "unknown"
    times = [e["time"] for e in evs if e.get("time") is not None]
    t0, t1 = (min(times), max(times)) if times else (None, None)
    apis = sorted({e["api"] for e in evs})
    ips = Counter(e.get("ip") or "" for e in evs)
    ua = Counter((e.get("ua_family") or "unknown", e.get("ua_kind") or "unknown") for e in evs)
    errors = Counter(e.get("error_code") for e in evs if e.get("error_code"))
    flags = sorted({f for e in evs for f in (e.get("flags") or ())})
    keys = sorted({e.get("access_key") for e in evs if e.get("access_key")})
    rows = [a.row for a in alerts]
    reasons = Counter(r for row in rows for r in _reasons(row.get("ct_reasons")))
    techniques = Counter(str(row.get("ct_technique") or "") for row in rows if row.get("ct_technique"))
    tactics = Counter(str(row.get("ct_tactic") or "") for row in rows if row.get("ct_tactic"))
    sev = Counter(str(row.get("ct_severity") or "") for row in rows if row.get("ct_severity"))

    injection: List[Dict[str, str]] = []
    allow: List[Dict[str, str]] = []
    claims: List[
        Dict[str, str]
    ] = []  # allowlist matches on headers the caller chose, with nothing AWS wrote behind
    cti_hits: List[Dict[str, Any]] = []
    for a in alerts:
        for f in find_injection(scanned_fields(a)):
            if f not in injection and len(injection) < 20:
                injection.append(f)
        for m in reference.allow_matches(allow_values(a.event)) if reference is not None else ():
            if m["field"] in CALLER_CHOSEN_FIELDS and not aws_vouches(a.event):
                claim = {"field": m["field"], "claim": safe_token(m["reason"], 200).replace("?", " ")}
                if claim not in claims:
                    claims.append(claim)
            elif m not in allow:
                allow.append(m)
        if cti is not None and len(cti_hits) < 10:
            try:
                for hit in cti.match(a.raw) or []:
                    slim = {
                        k: (safe_token(v, 128) if isinstance(v, str) else v)
                        for k, v in hit.items()
                        if k in ("indicator", "type", "source", "threat", "confidence", "field")
                    }
                    if slim not in cti_hits:
                        cti_hits.append(slim)
            except Exception:
                pass
    kb: List[Dict[str, Any]] = []
    if knowledge is not None:
        try:
            kb = [
                {
                    "verdict": k.get("verdict"),
                    "identity": safe_token(k.get("identity")),
                    "api": safe_token(k.get("api")),
                    "event_id": safe_token(k.get("event_id"), 80),
                    "analyst": safe_token(k.get("analyst"), 80),
                }
                for k in knowledge.match(identity, apis, [e.get("event_id") for e in evs])
            ]
        except Exception as exc:  # the knowledge base is advisory: triage goes on without it
            kb = [{"error": f"knowledge base unavailable: {type(exc).__name__}"}]

    related = {}
    for ip in [i for i, _ in ips.most_common(3) if i]:
        related[f"same_ip:{safe_token(ip, 64)}"] = index.related("ip", ip, t0, t1, exclude_identity=identity)
    for key in keys[:3]:
        related[f"same_key:{safe_token(key, 32)}"] = index.related("access_key", key, t0, t1)
    activity = index.related("identity", identity, t0, t1)

    ctx = {
        "identity": safe_token(identity),
        "identity_type": safe_token(evs[0].get("identity_type"), 40),
        "events": len(evs),
        "apis": [safe_token(a) for a in apis],
        "window": {"first": _iso(t0), "last": _iso(t1)},
        "source_ips": [
            {
                "ip": safe_token(i, 64),
                "kind": safe_token(next((e.get("ip_kind") for e in evs if e.get("ip") == i), ""), 20),
                "events": n,
            }
            for i, n in ips.most_common(5)
        ],
        "access_keys": [safe_token(k, 32) for k in keys[:5]],
        "user_agents": [
            {"family": safe_token(f, 40), "kind": safe_token(k, 20), "events": n}
            for (f, k), n in ua.most_common(5)
        ],
        "error_codes": {safe_token(k, 60): n for k, n in errors.most_common(5)},
        "risk_flags": flags,
        "detector": {
            "max_score": round(max(score_of(r) for r in rows), 4),
            "severity": sev.most_common(1)[0][0] if sev else "",
            "technique": safe_token(techniques.most_common(1)[0][0], 16) if techniques else "",
            "tactic": safe_token(tactics.most_common(1)[0][0], 8) if tactics else "",
            "reasons": [safe_token(r, 200).replace("?", " ") for r, _ in reasons.most_common(8)],
            "invoked_by": safe_token(next((e.get("invoked_by") for e in evs if e.get("invoked_by")), ""), 80),
        },
        "incident": incident_context(rows),
        "identity_activity": activity,
        "related": related,
        "baseline": (baseline or Baseline()).describe(identity, apis, [i for i in ips if i]),
        "cti_matches": cti_hits,
        "allowlist_matches": [
            {"field": m["field"], "reason": safe_token(m["reason"], 200).replace("?", " ")} for m in allow
        ],
        "unverified_claims": claims,
        "knowledge_matches": kb,
        "injection_findings": injection,
    }
    group.context = ctx
    samples = []
    seen_api = set()
    for a in alerts:  # one sample per API first, then the rest, up to SAMPLES
        if a.event["api"] not in seen_api and len(samples) < SAMPLES:
            seen_api.add(a.event["api"])
            samples.append(bounded(untrusted_fields(a.raw)))
    group.untrusted = samples
    group.fingerprint = fingerprint(ctx, samples)


_TECHNIQUE = re.compile(r"T\d{4}(?:\.\d{3})?")
_TACTIC = re.compile(r"TA\d{4}")
_WORD = re.compile(r"[a-z][a-z0-9_]{0,31}")  # classifier vocabulary (ip/ua kinds, risk flags)


def prompt_trusted(ctx: Dict[str, Any]) -> Dict[str, Any]:
    """The part of the context a prompt may show outside the untrusted block: numbers, times, fixed vocabulary
    and the admin's own lookup text, nothing copied from an event.

    Identities, API names, IPs, user-agent families, error codes and the detector's reasons all come from log
    fields (a reason quotes a bucket name; a role or session name can spell a sentence in ARN characters), so
    they travel in the untrusted block with the raw samples (`prompt_untrusted`), never here.
    """
    det = ctx["detector"]

    def kinds(items: List[Dict[str, Any]]) -> Dict[str, int]:
        out: Counter = Counter()
        for item in items:
            kind = str(item.get("kind") or "")
            out[kind if _WORD.fullmatch(kind) else "other"] += int(item.get("events") or 0)
        return dict(out)

    def counts(rel: Dict[str, Any]) -> Dict[str, int]:
        return {k: int(rel.get(k) or 0) for k in ("events", "flagged", "errors", "identities")}

    base = ctx["baseline"]
    return {
        "events": ctx["events"],
        "window": ctx["window"],
        "risk_flags": [f for f in ctx["risk_flags"] if _WORD.fullmatch(str(f))],
        "detector": {
            "max_score": det["max_score"],
            "severity": det["severity"] if det["severity"] in SEVERITIES else "",
            "technique": det["technique"] if _TECHNIQUE.fullmatch(det["technique"] or "") else "",
            "tactic": det["tactic"] if _TACTIC.fullmatch(det["tactic"] or "") else "",
            "reasons": len(det["reasons"]),
        },
        "source_ip_kinds": kinds(ctx["source_ips"]),
        "user_agent_kinds": kinds(ctx["user_agents"]),
        "errors": sum(int(n) for n in ctx["error_codes"].values()),
        "identity_activity": counts(ctx["identity_activity"]),
        "related": [
            dict(counts(rel), link=key.split(":", 1)[0]) for key, rel in sorted(ctx["related"].items())
        ],
        "baseline": {
            "available": bool(base.get("available")),
            "known_identity": bool(base.get("known_identity")),
            "events_in_baseline": int(base.get("events_in_baseline") or 0),
            "first_seen": str(base.get("first_seen") or ""),
            "apis_new": len(base.get("apis_new") or ()),
            "ips_new": len(base.get("ips_new") or ()),
        },
        "allowlist_matches": ctx["allowlist_matches"],  # field names and reasons from lookups/allowlist.csv
        "unverified_claims": sorted({c["field"] for c in ctx.get("unverified_claims") or ()}),
        "cti_matches": len(ctx["cti_matches"]),
        "knowledge_matches": dict(
            Counter(str(k.get("verdict") or "error") for k in ctx["knowledge_matches"])
        ),
        "injection_findings": len(ctx["injection_findings"]),
    }


def prompt_untrusted(
    ctx: Dict[str, Any], samples: List[Dict[str, Any]], previous: Dict[str, Any]
) -> Dict[str, Any]:
    """Everything else a prompt carries, for the spotlighted block: raw samples, the context with its values
    from log fields, earlier agents' answers (a model's text, which may repeat the attacker's) and findings."""
    out: Dict[str, Any] = {
        "events": samples,
        "context": {k: v for k, v in ctx.items() if k != "injection_findings"},
    }
    if previous:
        out["earlier_agents"] = previous
    if ctx.get("injection_findings"):
        out["injection_findings"] = ctx["injection_findings"]
    return out


def fingerprint(ctx: Dict[str, Any], samples: List[Dict[str, Any]]) -> str:
    """Evidence hash: same identity, behaviour, reasons, request shapes and context -> same triage answer.

    Times, event ids and request ids are left out so a repeat of the same behaviour hits the cache.
    """
    volatile = ("eventID", "eventTime", "requestID", "tlsDetails")
    stable_ctx = {
        k: v
        for k, v in ctx.items()
        if k not in ("window", "identity_activity", "related", "events", "incident")
    }
    incident = ctx.get("incident") or {}
    stable_ctx["incident"] = {k: incident[k] for k in ("severity", "techniques", "tactics") if k in incident}
    stable_ctx["detector"] = {k: v for k, v in ctx["detector"].items() if k != "max_score"}
    stable_ctx["score_band"] = round(float(ctx["detector"]["max_score"]) * 10)
    stable_samples = [{k: v for k, v in s.items() if k not in volatile} for s in samples]
    text = json.dumps([stable_ctx, stable_samples], sort_keys=True, default=str)
    return hashlib.sha256(text.encode()).hexdigest()
