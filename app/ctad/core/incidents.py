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
"""

from __future__ import annotations

import hashlib
from typing import Dict, Optional, Tuple

DEFAULT_GAP = 1800.0  # seconds between two anomalies of one identity that still make one incident
MAX_INCIDENT_APIS = 256  # distinct APIs remembered per incident: attacker-driven, so bounded
# A severity's risk points at score 1.0; ct_risk = points x score (rounded), so 0 < ct_risk <= 100.
SEVERITY_POINTS = {"low": 20, "medium": 40, "high": 70, "critical": 100}
INCIDENT_SEVERITY_CUTS = (("critical", 75), ("high", 50), ("medium", 25))


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
    __slots__ = ("id", "last", "apis", "score")

    def __init__(self, iid: str, t: float) -> None:
        self.id = iid
        self.last = t
        self.apis: Dict[str, int] = {}
        self.score = 0.0


class IncidentTracker:
    """Fed anomalies in (time, eventID) order, the order the features walk; one per run."""

    def __init__(self, gap: float = DEFAULT_GAP) -> None:
        self.gap = float(gap)
        self.open: Dict[str, _Incident] = {}
        self.count = 0

    def add(self, identity: str, t: float, event_id: str, api: str, risk: int) -> Tuple[str, int, str]:
        """(ct_incident, ct_incident_score, ct_incident_severity) of an anomaly with risk `risk`."""
        inc: Optional[_Incident] = self.open.get(identity)
        if inc is None or not t - inc.last <= self.gap:
            inc = self.open[identity] = _Incident(incident_id(identity, t, event_id), t)
            self.count += 1
        if t > inc.last:
            inc.last = t
        best = inc.apis.get(api, 0)
        if risk > best and (best or len(inc.apis) < MAX_INCIDENT_APIS):
            inc.apis[api] = risk
            remaining = 1.0
            for r in inc.apis.values():
                remaining *= 1.0 - min(r, 100) / 100.0
            inc.score = 100.0 * (1.0 - remaining)
        score = int(round(inc.score))
        return inc.id, score, incident_severity(score)
