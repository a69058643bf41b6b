"""Entity incidents: the SOC's unit of work (risk-based alerting), built from the anomalous events of an identity.

An analyst does not want 2,300 rows for one admin's bulk download, nor 29 rows for one credential-stealing
burst: they want "role/ci: incident, score 87, 3 techniques". Each anomalous event therefore adds risk to its
identity (`ct_risk`), and an identity's anomalous events with gaps of at most `gap` seconds form one incident:

- `ct_incident`: a stable id, `ctad-` + a digest of (identity, time and eventID of the incident's first event),
  so the same events give the same id in every front door, order and chunking;
- `ct_incident_score` (0..100): a noisy-or of the best risk of each distinct API in the incident so far, so a
  burst of one call counts once and different kinds of evidence add up with diminishing returns;
- `ct_incident_severity`: low / medium / high / critical from that score.

Causal like the features: an event's incident fields say what the incident was when that event arrived (the
running score), so a scheduled search and a replay agree and the parallel writer never waits for the future.
The incident's current state is the row of its latest event (`max(ct_incident_score) by ct_incident`).
Normal events carry `ct_risk` 0 and no incident.

Incidents continue across runs: a run's open incidents (`IncidentTracker.export`) go into the baseline it saves, or
are rebuilt from the anomalies a Splunk search stored (`open_incidents_from_anomalies`), and the next run starts
from them (`read_open_incidents`, then `IncidentTracker.seed`). That state comes from a file or a KV store anyone
can edit, so it is read like event data: ids must look like ours, times must be plausible, risks are clamped, and a
bad entry is skipped and counted, never a crash.
"""

from __future__ import annotations

import hashlib
import re
from typing import Any, Dict, Iterable, List, NamedTuple, Optional, Tuple

from ctad.core import bounded

DEFAULT_GAP = 1800.0  # seconds between two anomalies of one identity that still make one incident
MAX_INCIDENT_APIS = 256  # distinct APIs remembered per incident: attacker-driven, so bounded
# A severity's risk points at score 1.0; ct_risk = points x score (rounded), so 0 < ct_risk <= 100.
SEVERITY_POINTS = {"low": 20, "medium": 40, "high": 70, "critical": 100}
INCIDENT_SEVERITY_CUTS = (("critical", 75), ("high", 50), ("medium", 25))
# The incident score from which the SOC is paged: the default of the Splunk macro `ctad_incident_alert_score` that
# the "CTAD - Incident" alert uses (high and critical incidents), and the line `ctad eval` counts alerted incidents at.
ALERT_INCIDENT_SCORE = 50
# Continuation across runs. An incident can only continue while its last anomaly is within the largest gap a front
# door accepts (a week: `MAX_INCIDENT_GAP_MINUTES`), so older ones are not kept; nor more than this many identities'
# incidents (the most recent win), since a baseline or a KV read must stay bounded whatever the estate does.
KEEP_SECONDS = 7 * 24 * 3600.0
MAX_OPEN_INCIDENTS = 20_000
INCIDENT_ID = re.compile(r"ctad-[0-9a-f]{16}\Z")
MAX_KEY_CHARS = 4096  # identities and API names read back longer than this are not ones the engine writes


def event_risk(severity: str, score: float) -> int:
    """Risk an anomalous event adds to its identity (0 for anything else)."""
    points = SEVERITY_POINTS.get(severity, 0)
    if not points or score != score:  # not an anomaly, or no score
        return 0
    score = min(max(score, 0.0), 1.0)
    return max(1, int(round(points * score)))


def incident_severity(score: float) -> str:
    for name, cut in INCIDENT_SEVERITY_CUTS:
        if score >= cut:
            return name
    return "low"


def incident_id(identity: str, t: float, event_id: str) -> str:
    basis = "\x1f".join((identity, repr(float(t)), event_id))
    return "ctad-" + hashlib.sha1(basis.encode("utf-8", "replace")).hexdigest()[:16]


class _Incident:
    __slots__ = ("id", "last", "apis", "score", "counted")

    def __init__(self, iid: str, t: float) -> None:
        self.id = iid
        self.last = t
        self.apis: Dict[str, int] = {}
        self.score = 0.0
        self.counted = False  # has an anomaly of this run (a seeded incident has none until one continues it)

    def rescore(self) -> None:
        remaining = 1.0
        for r in self.apis.values():
            remaining *= 1.0 - min(r, 100) / 100.0
        self.score = 100.0 * (1.0 - remaining)


class OpenIncident(NamedTuple):
    """An open incident of an earlier run, checked by `read_open_incidents`."""

    identity: str
    id: str
    last: float  # time of its last anomaly
    apis: Tuple[Tuple[str, int], ...]  # (api, best risk), sorted


def _checked_entry(entry: Any, latest: float) -> Tuple[Optional[Tuple[str, str, float, Dict[str, int]]], str]:
    """One exported incident read back: (identity, id, last, apis) or None, and the problem ("" if none)."""
    if not isinstance(entry, dict):
        return None, "entry is not an object"
    identity, iid, apis = entry.get("identity"), entry.get("id"), entry.get("apis")
    if not isinstance(identity, str) or not identity or len(identity) > MAX_KEY_CHARS:
        return None, "identity missing or too long"
    if not isinstance(iid, str) or not INCIDENT_ID.match(iid):
        return None, "incident id is not ctad-<16 hex digits>"
    last = bounded.seconds(entry.get("last"))
    if last is None or bounded.implausible_time(last, latest):
        return None, "last anomaly time is not a plausible time"
    if not isinstance(apis, dict):
        return None, "apis is not an object"
    risks: Dict[str, int] = {}
    problem = ""
    for api, value in apis.items():
        risk = bounded.to_float(value)
        if not isinstance(api, str) or not api or len(api) > MAX_KEY_CHARS:
            return None, "an API name is empty or too long"
        if risk is None:
            return None, "an API risk is not a number"
        if not 0 <= risk <= 100:
            problem = "risk outside 0..100 (clamped)"
        risk = int(round(bounded.clamp(risk, 0.0, 100.0)))
        if risk:
            risks[api] = risk
    if len(risks) > MAX_INCIDENT_APIS:  # the strongest, ties by name: the same whatever order the entry lists
        strongest = sorted(risks.items(), key=lambda kv: (-kv[1], kv[0]))[:MAX_INCIDENT_APIS]
        risks = dict(strongest)
        problem = f"more than {MAX_INCIDENT_APIS} APIs (the strongest kept)"
    return (identity, iid, last, risks), problem


def read_open_incidents(
    entries: Any, latest: Optional[float] = None
) -> Tuple[List[OpenIncident], Dict[str, int]]:
    """Check open incidents read back from a baseline or rebuilt from stored anomalies (untrusted input).

    Returns the usable ones (at most one per identity: the later, then the greater id; at most
    MAX_OPEN_INCIDENTS, the most recent) and the problems found, reason -> entries. `latest`: the newest
    plausible time (`bounded.latest_plausible`). Never raises."""
    latest = bounded.latest_plausible() if latest is None else latest
    problems: Dict[str, int] = {}

    def problem(reason: str) -> None:
        problems[reason] = problems.get(reason, 0) + 1

    if entries is None:
        return [], problems
    if not isinstance(entries, list):
        problem("open incidents are not a list")
        return [], problems
    best: Dict[str, Tuple[str, str, float, Dict[str, int]]] = {}
    for entry in entries:
        checked, reason = _checked_entry(entry, latest)
        if reason:
            problem(reason)
        if checked is None:
            continue
        have = best.get(checked[0])
        if have is not None:
            problem("more than one incident for an identity (the latest kept)")
            if (have[2], have[1]) >= (checked[2], checked[1]):
                continue
        best[checked[0]] = checked
    kept = sorted(best.values(), key=lambda e: (-e[2], e[0]))
    if len(kept) > MAX_OPEN_INCIDENTS:
        problems[f"more than {MAX_OPEN_INCIDENTS} open incidents (the most recent kept)"] = (
            len(kept) - MAX_OPEN_INCIDENTS
        )
        kept = kept[:MAX_OPEN_INCIDENTS]
    out = [OpenIncident(i, iid, last, tuple(sorted(apis.items()))) for i, iid, last, apis in kept]
    out.sort()
    return out, problems


def open_incidents_from_anomalies(
    rows: Iterable[Dict[str, Any]], before: float, gap: float
) -> Tuple[List[Dict[str, Any]], Dict[str, int]]:
    """Open incidents as a run ending just before `before` would have exported them, rebuilt from stored
    anomaly rows (`time`, `ct_identity`, `ct_incident`, `ct_risk`, `eventSource`, `eventName`): for each identity,
    the incident of its latest anomaly before `before` when that anomaly is at most `gap` seconds earlier, with
    the best risk of each API among that incident's anomalies before `before`.

    The rows are untrusted (a KV store anyone can edit): a row whose time, risk, identity or incident id cannot be
    read is left out and counted in the problems returned (reason -> rows); the entries still go through
    `read_open_incidents`, which checks the rest."""
    problems: Dict[str, int] = {}

    def problem(reason: str) -> None:
        problems[reason] = problems.get(reason, 0) + 1

    latest: Dict[str, Tuple[float, str]] = {}
    usable: List[Tuple[str, str, float, str, float]] = []
    for row in rows:
        if not isinstance(row, dict):
            problem("stored anomaly is not an object")
            continue
        t, risk = bounded.seconds(row.get("time")), bounded.to_float(row.get("ct_risk"))
        identity, iid = row.get("ct_identity"), row.get("ct_incident")
        if t is None or risk is None:
            problem("stored anomaly without a readable time or ct_risk")
            continue
        if not t < before or risk <= 0:
            continue  # inside this search, or no risk: not part of any incident
        if (
            not isinstance(identity, str)
            or not identity
            or not isinstance(iid, str)
            or not INCIDENT_ID.match(iid)
        ):
            problem("stored anomaly without an identity or a ctad-<16 hex digits> incident id")
            continue
        api = f"{row.get('eventSource') or ''}:{row.get('eventName') or ''}"
        usable.append((identity, iid, t, api, min(risk, 100.0)))
        have = latest.get(identity)
        if have is None or (t, iid) > have:
            latest[identity] = (t, iid)
    entries: Dict[Tuple[str, str], Dict[str, Any]] = {}
    for identity, (t, iid) in latest.items():
        if before - t <= gap:
            entries[identity, iid] = {"identity": identity, "id": iid, "last": t, "apis": {}}
    for identity, iid, _t, api, risk in usable:
        entry = entries.get((identity, iid))
        if entry is not None:
            apis = entry["apis"]
            apis[api] = max(apis.get(api, 0), risk)
    return sorted(entries.values(), key=lambda e: e["identity"]), problems


class IncidentTracker:
    """Fed anomalies in (time, eventID) order, the order the features walk; one per run."""

    def __init__(self, gap: float = DEFAULT_GAP) -> None:
        self.gap = float(gap)
        self.open: Dict[str, _Incident] = {}
        self.count = 0  # incidents with an anomaly in this run: new ones and continued ones

    def seed(self, incidents: Iterable[OpenIncident]) -> int:
        """Start from open incidents of earlier runs (checked by `read_open_incidents`), before the first `add`;
        an identity that already has an open incident keeps it. Returns how many were taken."""
        taken = 0
        for identity, iid, last, apis in incidents:
            if identity in self.open:
                continue
            inc = self.open[identity] = _Incident(iid, last)
            inc.apis = dict(apis)
            inc.rescore()
            taken += 1
        return taken

    def export(self, end: float, keep: float = KEEP_SECONDS) -> List[Dict[str, Any]]:
        """The open incidents a later run could still continue: those whose last anomaly is within `keep` seconds
        of `end` (the newest event seen), at most MAX_OPEN_INCIDENTS (the most recent), as plain JSON data sorted
        by identity. A later run's own gap decides whether each one continues."""
        live = [(identity, inc) for identity, inc in self.open.items() if end - inc.last <= keep]
        if len(live) > MAX_OPEN_INCIDENTS:
            live.sort(key=lambda kv: (-kv[1].last, kv[0]))
            live = live[:MAX_OPEN_INCIDENTS]
        live.sort(key=lambda kv: kv[0])
        return [
            {"identity": identity, "id": inc.id, "last": inc.last, "apis": dict(sorted(inc.apis.items()))}
            for identity, inc in live
        ]

    def add(self, identity: str, t: float, event_id: str, api: str, risk: int) -> Tuple[str, int, str]:
        """(ct_incident, ct_incident_score, ct_incident_severity) of an anomaly with risk `risk`."""
        inc: Optional[_Incident] = self.open.get(identity)
        # abs(): within a run events come in time order (t >= last); a seeded incident may be newer than a
        # late-delivered event, which joins it only when it is within the gap on either side
        if inc is None or not abs(t - inc.last) <= self.gap:
            inc = self.open[identity] = _Incident(incident_id(identity, t, event_id), t)
        if not inc.counted:
            inc.counted = True
            self.count += 1
        if t > inc.last:
            inc.last = t
        best = inc.apis.get(api, 0)
        if risk > best and (best or len(inc.apis) < MAX_INCIDENT_APIS):
            inc.apis[api] = risk
            inc.rescore()
        score = int(round(inc.score))
        return inc.id, score, incident_severity(score)
