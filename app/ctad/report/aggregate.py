"""Streaming aggregation of detection/triage rows for the HTML report.

A month of CloudTrail is millions of rows; the report must not hold them. Every row updates bounded state:
counters (Space-Saving top-k sketches when a field can have unbounded distinct values, such as identities or
reasons that embed IPs), hour buckets for the timeline (coarsened to days if the span is absurd), and a min-heap
that keeps only the N highest-scoring anomalies for the table. The page says when counts are approximate or
the table is truncated.
"""

from __future__ import annotations

import heapq
import math
import re
from collections import Counter
from dataclasses import dataclass, field
from typing import Any, Dict, Iterable, List, Optional, Tuple

from ctad.core import schema
from ctad.core.normalize import NormalizeError, parse_time

SEVERITIES = tuple(reversed(schema.SEVERITIES))  # display order: most severe first
SEVERITY_RANK = {s: len(SEVERITIES) - i for i, s in enumerate(SEVERITIES)}  # critical=5 ... informational=1
VERDICTS = ("true_positive", "needs_review", "false_positive")

MAX_TEXT = 400  # characters kept of any one attacker-influenced string in the table
MAX_LONG_TEXT = 4000  # triage explanation
MAX_LIST = 12  # reasons / actions kept per row
MAX_BUCKETS = 20_000  # distinct timeline buckets before coarsening

TRUE_WORDS = {"1", "true", "yes", "t", "y"}
# Entity incidents (ctad.core.incidents): ids as the detector writes them; anything else in ct_incident joins nothing.
INCIDENT_ID = re.compile(r"ctad-[0-9a-f]{16}")
INCIDENT_SEVERITIES = SEVERITIES[:-1]  # an incident is never informational
_SEV_ORDER = {s: len(INCIDENT_SEVERITIES) - i for i, s in enumerate(INCIDENT_SEVERITIES)}
# Incidents tracked exactly; past twice this many the weakest are dropped and the page says so.
MAX_INCIDENTS = 20_000


def truthy(value: Any) -> bool:
    """Splunk and CSV round-trips turn 1/True into "1"/"true"; multivalue fields into lists."""
    if isinstance(value, list):
        value = value[0] if value else None
    if isinstance(value, bool):
        return value
    if isinstance(value, (int, float)):
        return value != 0 and not (isinstance(value, float) and math.isnan(value))
    return isinstance(value, str) and value.strip().lower() in TRUE_WORDS


def as_float(value: Any) -> Optional[float]:
    if isinstance(value, list):
        value = value[0] if value else None
    if value is None or isinstance(value, bool) or value == "":
        return None
    try:
        out = float(value)
    except (TypeError, ValueError):
        return None
    return None if math.isnan(out) or math.isinf(out) else out


def as_text(value: Any, limit: int = MAX_TEXT) -> str:
    if value is None:
        return ""
    if isinstance(value, list):
        value = ", ".join(str(v) for v in value[:MAX_LIST])
    text = str(value)
    return text if len(text) <= limit else text[: limit - 1] + "…"


def as_list(value: Any, limit: int = MAX_TEXT) -> List[str]:
    """ct_reasons / triage_actions as a list, whether they arrive as a list, a JSON string or '|'-joined text."""
    if value is None or value == "":
        return []
    if isinstance(value, str):
        text = value.strip()
        if text.startswith("["):
            import json

            try:
                parsed = json.loads(text)
            except ValueError:
                parsed = None
            if isinstance(parsed, list):
                value = parsed
        if isinstance(value, str):
            value = [part for part in (p.strip() for p in text.split("\n" if "\n" in text else "|")) if part]
    if not isinstance(value, (list, tuple)):
        value = [value]
    return [as_text(v, limit) for v in list(value)[:MAX_LIST] if v not in (None, "")]


def get_path(row: Dict[str, Any], dotted: str) -> Any:
    """A field by dotted path in a nested record, or the flattened key a Splunk row uses."""
    if dotted in row:
        return row[dotted]
    node: Any = row
    for part in dotted.split("."):
        if not isinstance(node, dict) or part not in node:
            return None
        node = node[part]
    return node


class TopK:
    """Bounded heavy-hitter counter: exact while distinct keys <= capacity.

    Past that, whenever the table reaches twice the capacity it is pruned back to the `capacity` largest counts
    (amortised O(log k) per add). Keys that recur often survive; the counts of keys that were pruned and came back
    are under-counted, so the page marks such tables as approximate. `extra` keeps a per-key maximum (e.g. the
    worst severity seen for an identity).
    """

    def __init__(self, capacity: int = 2000) -> None:
        self.capacity = max(1, capacity)
        self.counts: Dict[str, int] = {}
        self.extra: Dict[str, float] = {}
        self.approximate = False

    def add(self, key: str, weight: int = 1, extra: float = 0.0) -> None:
        self.counts[key] = self.counts.get(key, 0) + weight
        if extra > self.extra.get(key, float("-inf")):
            self.extra[key] = extra
        if len(self.counts) >= 2 * self.capacity:
            self.approximate = True
            keep = dict(self.top(self.capacity))
            self.counts = keep
            self.extra = {k: v for k, v in self.extra.items() if k in keep}

    def top(self, n: int) -> List[Tuple[str, int]]:
        return heapq.nsmallest(n, self.counts.items(), key=lambda kv: (-kv[1], kv[0]))

    def __len__(self) -> int:
        return len(self.counts)


@dataclass
class AnomalyRow:
    """What the table shows of one anomaly (every string truncated; raw row discarded)."""

    score: float
    severity: str
    time: Optional[float]
    time_text: str
    identity: str
    event: str
    region: str
    source_ip: str
    user_agent: str
    account: str
    error_code: str
    tactic: str
    technique: str
    reasons: List[str]
    verdict: str
    confidence: str
    triage_severity: str
    summary: str
    explanation: str
    actions: List[str]
    backend: str
    cached: bool
    triage_error: str
    injection: bool
    event_id: str
    source_ref: str
    incident: str = ""


@dataclass
class Incident:
    """One entity incident as the report shows it: bounded state updated by each of its anomalies, in any order.

    Its current score is the highest `ct_incident_score` of its rows (the detector's running score only grows),
    so the summary is the same whatever order the rows arrive in.
    """

    id: str
    identity: str
    score: int = 0
    severity: str = ""
    events: int = 0
    max_ct_score: float = 0.0
    first: Optional[float] = None
    last: Optional[float] = None
    apis: Counter = field(default_factory=Counter)
    techniques: Counter = field(default_factory=Counter)
    tactics: Counter = field(default_factory=Counter)
    verdicts: Counter = field(default_factory=Counter)

    def add(self, row: Dict[str, Any], when: Optional[float], score: float, event: str, technique: str,
            tactic: str) -> None:  # fmt: skip
        self.events += 1
        inc_score = as_float(row.get("ct_incident_score"))
        inc_score = int(min(max(inc_score, 0.0), 100.0)) if inc_score is not None else 0
        severity = as_text(row.get("ct_incident_severity"), 20).lower()
        severity = severity if severity in INCIDENT_SEVERITIES else ""
        # The strongest row decides; on equal scores the higher severity, so the outcome is order-free.
        if (inc_score, _SEV_ORDER.get(severity, -1)) > (self.score, _SEV_ORDER.get(self.severity, -1)):
            self.score, self.severity = inc_score, severity
        self.max_ct_score = max(self.max_ct_score, min(max(score, 0.0), 1.0))
        if when is not None:
            self.first = when if self.first is None else min(self.first, when)
            self.last = when if self.last is None else max(self.last, when)
        for counter, value in ((self.apis, event), (self.techniques, technique), (self.tactics, tactic)):
            if value and (value in counter or len(counter) < MAX_LIST * 4):
                counter[value] += 1
        verdict = as_text(row.get("triage_verdict"), 40).lower()
        if verdict and (verdict in self.verdicts or len(self.verdicts) < 8):
            self.verdicts[verdict] += 1

    def rank(self) -> Tuple[int, float, int, str]:
        """Strongest first: score, best event score, size; the id breaks ties so the order never depends on input."""
        return (-self.score, -self.max_ct_score, -self.events, self.id)

    def top(self, counter: Counter) -> List[str]:
        return [k for k, _ in sorted(counter.items(), key=lambda kv: (-kv[1], kv[0]))[:MAX_LIST]]

    @property
    def api_list(self) -> List[str]:
        return self.top(self.apis)

    @property
    def technique_list(self) -> List[str]:
        return self.top(self.techniques)

    @property
    def tactic_list(self) -> List[str]:
        return self.top(self.tactics)

    @property
    def verdict_list(self) -> List[str]:
        return self.top(self.verdicts)


@dataclass
class ReportData:
    """Everything the template needs, built by `Aggregator.finish()`."""

    title: str
    inputs: List[str]
    generated: float
    rows: int = 0
    unreadable: int = 0
    unreadable_examples: List[str] = field(default_factory=list)
    scored: int = 0
    score_errors: int = 0
    score_error_examples: List[Tuple[str, int]] = field(default_factory=list)
    not_scored: int = 0
    anomalies: int = 0
    first: Optional[float] = None
    last: Optional[float] = None
    undated: int = 0
    timeline: List[Dict[str, Any]] = field(default_factory=list)
    bucket_seconds: int = 3600
    by_severity: List[Tuple[str, int]] = field(default_factory=list)
    by_tactic: List[Tuple[str, str, int]] = field(default_factory=list)  # (id, name, count)
    by_technique: List[Tuple[str, str, int]] = field(default_factory=list)
    identities: List[Tuple[str, int, str]] = field(
        default_factory=list
    )  # (identity, anomalies, worst severity)
    identities_total: int = 0
    reasons: List[Tuple[str, int]] = field(default_factory=list)
    approximate: bool = False
    triage_ran: bool = False
    triaged: int = 0
    verdicts: List[Tuple[str, int]] = field(default_factory=list)
    triage_errors: int = 0
    injection_suspected: int = 0
    cached: int = 0
    backends: List[Tuple[str, int]] = field(default_factory=list)
    table: List[AnomalyRow] = field(default_factory=list)
    table_limit: int = 0
    incidents: List[Incident] = field(default_factory=list)  # strongest first, at most incidents_limit
    incidents_total: int = 0
    incidents_limit: int = 0
    incidents_approximate: bool = False
    incident_severity: List[Tuple[str, int]] = field(default_factory=list)
    models: List[str] = field(default_factory=list)

    @property
    def high_or_critical(self) -> int:
        return sum(n for s, n in self.by_severity if s in ("critical", "high"))

    @property
    def true_positives(self) -> int:
        return dict(self.verdicts).get("true_positive", 0)


class Aggregator:
    """Feed rows with `add(row)` (or `add_error(message)` for unreadable input), then call `finish()`."""

    def __init__(self, top_n: int = 200, top_k_capacity: int = 2000, top_incidents: int = 50) -> None:
        self.top_n = top_n
        self.top_incidents = top_incidents
        self.incidents: Dict[str, Incident] = {}
        self.incidents_dropped = False
        self.rows = 0
        self.unreadable = 0
        self.unreadable_examples: List[str] = []
        self.scored = 0
        self.score_errors = TopK(200)
        self.not_scored = 0
        self.anomalies = 0
        self.first: Optional[float] = None
        self.last: Optional[float] = None
        self.undated = 0
        self.bucket_seconds = 3600
        self.buckets: Dict[int, List[int]] = {}  # bucket start -> [events, crit, high, med, low, info]
        self.severity: Counter = Counter()
        self.tactics: Counter = Counter()
        self.techniques: Counter = Counter()
        self.identities = TopK(top_k_capacity)
        self.reasons = TopK(top_k_capacity)
        self.models = TopK(20)
        self.triage_seen = False
        self.triaged = 0
        self.verdicts = TopK(20)
        self.triage_errors = 0
        self.injection = 0
        self.cached = 0
        self.backends = TopK(20)
        self._heap: List[Tuple[float, int, int, AnomalyRow]] = []
        self._seq = 0

    # ---------------------------------------------------------------- input
    def add_error(self, message: str) -> None:
        self.rows += 1
        self.unreadable += 1
        if len(self.unreadable_examples) < 5:
            self.unreadable_examples.append(as_text(message, 200))

    def add(self, row: Any, source_ref: str = "") -> None:
        if not isinstance(row, dict):
            self.add_error(f"{source_ref}: not a JSON object")
            return
        self.rows += 1
        when = self._time(row)
        score = as_float(row.get("ct_score"))
        error = as_text(row.get("ct_error"), 200)
        has_ct = "ct_score" in row or "ct_anomaly" in row
        triage_touched = self._triage_touched(row)
        if error:
            self.score_errors.add(error)
        elif has_ct:
            self.scored += 1
        else:
            self.not_scored += 1
        anomaly = truthy(row.get("ct_anomaly")) or (
            "ct_anomaly" not in row and bool(as_text(row.get("triage_verdict")))
        )
        severity = as_text(row.get("ct_severity"), 20).lower() if anomaly else ""
        if anomaly and severity not in SEVERITY_RANK:
            severity = "medium" if severity == "" else "informational"
        self._bucket(when, severity if anomaly else None)
        model = as_text(row.get("ct_model"), 60)
        if model:
            self.models.add(model)
        if triage_touched:
            self._triage(row)
        if not anomaly:
            return
        self.anomalies += 1
        self.severity[severity] += 1
        tactic = as_text(row.get("ct_tactic"), 20)
        technique = as_text(row.get("ct_technique"), 20)
        if tactic:
            self.tactics[tactic] += 1
        if technique:
            self.techniques[technique] += 1
        identity = (
            as_text(row.get("ct_identity") or get_path(row, "userIdentity.arn"), 300) or "(unknown identity)"
        )
        self.identities.add(identity, extra=SEVERITY_RANK.get(severity, 0))
        reasons = as_list(row.get("ct_reasons"))
        for reason in reasons:
            self.reasons.add(reason)
        self._incident(row, when, score or 0.0, identity, technique, tactic)
        self._keep(row, score or 0.0, severity, when, identity, tactic, technique, reasons, source_ref)

    def add_all(self, rows: Iterable[Any]) -> None:
        for row in rows:
            self.add(row)

    # ---------------------------------------------------------------- parts
    @staticmethod
    def _time(row: Dict[str, Any]) -> Optional[float]:
        for key in ("eventTime", "_time", "@timestamp", "timestamp"):
            value = row.get(key)
            if value in (None, ""):
                continue
            try:
                t = parse_time(value)
            except NormalizeError:
                continue
            if 0 < t < 32503680000:  # year 3000: anything past it is a broken clock, not a time
                return t
        return None

    def _bucket(self, when: Optional[float], severity: Optional[str]) -> None:
        if when is None:
            self.undated += 1
            return
        self.first = when if self.first is None else min(self.first, when)
        self.last = when if self.last is None else max(self.last, when)
        start = int(when // self.bucket_seconds * self.bucket_seconds)
        slot = self.buckets.get(start)
        if slot is None:
            if len(self.buckets) >= MAX_BUCKETS:
                self._coarsen()
                start = int(when // self.bucket_seconds * self.bucket_seconds)
            slot = self.buckets.setdefault(start, [0, 0, 0, 0, 0, 0])
        slot[0] += 1
        if severity:
            slot[1 + SEVERITIES.index(severity)] += 1

    def _coarsen(self) -> None:
        """Too many distinct hours (a decade of data, or broken clocks): merge buckets into wider ones."""
        self.bucket_seconds *= 24 if self.bucket_seconds < 86400 else 7
        merged: Dict[int, List[int]] = {}
        for start, slot in self.buckets.items():
            key = start // self.bucket_seconds * self.bucket_seconds
            into = merged.setdefault(key, [0] * 6)
            for i, v in enumerate(slot):
                into[i] += v
        self.buckets = merged

    @staticmethod
    def _triage_touched(row: Dict[str, Any]) -> bool:
        return any(
            as_text(row.get(k))
            for k in ("triage_verdict", "triage_backend", "triage_error", "triage_summary")
        )

    def _triage(self, row: Dict[str, Any]) -> None:
        self.triage_seen = True
        verdict = as_text(row.get("triage_verdict"), 40).lower()
        if verdict:
            self.triaged += 1
            self.verdicts.add(verdict)
        if as_text(row.get("triage_error")):
            self.triage_errors += 1
        if truthy(row.get("triage_injection_suspected")):
            self.injection += 1
        if truthy(row.get("triage_cached")):
            self.cached += 1
        backend = as_text(row.get("triage_backend"), 60)
        if backend:
            self.backends.add(backend)

    def _incident(
        self,
        row: Dict[str, Any],
        when: Optional[float],
        score: float,
        identity: str,
        technique: str,
        tactic: str,
    ) -> None:
        iid = as_text(row.get("ct_incident"), 40)
        if not INCIDENT_ID.fullmatch(iid):
            return
        inc = self.incidents.get(iid)
        if inc is None:
            inc = self.incidents[iid] = Incident(iid, identity)
        event = as_text(row.get("eventName") or get_path(row, "event.action"), 120)
        inc.add(row, when, score, event, technique, tactic)
        if len(self.incidents) >= 2 * MAX_INCIDENTS:
            self.incidents_dropped = True
            keep = sorted(self.incidents.values(), key=Incident.rank)[:MAX_INCIDENTS]
            self.incidents = {i.id: i for i in keep}

    def _keep(
        self,
        row: Dict[str, Any],
        score: float,
        severity: str,
        when: Optional[float],
        identity: str,
        tactic: str,
        technique: str,
        reasons: List[str],
        source_ref: str,
    ) -> None:
        self._seq += 1
        key = (score, SEVERITY_RANK.get(severity, 0), -self._seq)
        if len(self._heap) >= self.top_n and self.top_n > 0 and key <= self._heap[0][:3]:
            return
        if self.top_n <= 0:
            return
        confidence = as_float(row.get("triage_confidence"))
        incident = as_text(row.get("ct_incident"), 40)
        item = AnomalyRow(
            score=score,
            severity=severity,
            time=when,
            time_text=_fmt_time(when) if when is not None else as_text(row.get("eventTime"), 40),
            identity=identity,
            event=as_text(
                f"{as_text(row.get('eventSource') or get_path(row, 'event.provider'), 80)}:"
                f"{as_text(row.get('eventName') or get_path(row, 'event.action'), 120)}".strip(":"),
                200,
            ),
            region=as_text(row.get("awsRegion"), 40),
            source_ip=as_text(row.get("sourceIPAddress") or get_path(row, "source.ip"), 80),
            user_agent=as_text(row.get("userAgent") or get_path(row, "user_agent.original")),
            account=as_text(row.get("recipientAccountId"), 20),
            error_code=as_text(row.get("errorCode"), 80),
            tactic=tactic,
            technique=technique,
            reasons=reasons,
            verdict=as_text(row.get("triage_verdict"), 40).lower(),
            confidence=_fmt_confidence(confidence),
            triage_severity=as_text(row.get("triage_severity"), 20).lower(),
            summary=as_text(row.get("triage_summary"), 1000),
            explanation=as_text(row.get("triage_explanation"), MAX_LONG_TEXT),
            actions=as_list(row.get("triage_actions"), 500),
            backend=as_text(row.get("triage_backend"), 60),
            cached=truthy(row.get("triage_cached")),
            triage_error=as_text(row.get("triage_error"), 400),
            injection=truthy(row.get("triage_injection_suspected")),
            event_id=as_text(row.get("eventID"), 80),
            source_ref=as_text(source_ref, 200),
            incident=incident if INCIDENT_ID.fullmatch(incident) else "",
        )
        entry = (*key, item)
        if len(self._heap) < self.top_n:
            heapq.heappush(self._heap, entry)
        else:
            heapq.heapreplace(self._heap, entry)

    # ---------------------------------------------------------------- output
    def finish(
        self, title: str = "CloudTrail anomaly report", inputs: Optional[List[str]] = None
    ) -> ReportData:
        import time

        from ctad.report.catalog_names import tactic_name, technique_name

        table = [
            entry[3]
            for entry in sorted(
                self._heap, key=lambda e: (SEVERITY_RANK.get(e[3].severity, 0), e[0], e[2]), reverse=True
            )
        ]
        worst = {v: k for k, v in SEVERITY_RANK.items()}
        return ReportData(
            title=title,
            inputs=list(inputs or []),
            generated=time.time(),
            rows=self.rows,
            unreadable=self.unreadable,
            unreadable_examples=self.unreadable_examples,
            scored=self.scored,
            score_errors=sum(self.score_errors.counts.values()),
            score_error_examples=self.score_errors.top(5),
            not_scored=self.not_scored,
            anomalies=self.anomalies,
            first=self.first,
            last=self.last,
            undated=self.undated,
            timeline=[
                {"start": start, "events": slot[0], "by_severity": dict(zip(SEVERITIES, slot[1:]))}
                for start, slot in sorted(self.buckets.items())
            ],
            bucket_seconds=self.bucket_seconds,
            by_severity=[(s, self.severity[s]) for s in SEVERITIES if self.severity[s]],
            by_tactic=[(t, tactic_name(t), n) for t, n in self.tactics.most_common(14)],
            by_technique=[(t, technique_name(t), n) for t, n in self.techniques.most_common(10)],
            identities=[
                (ident, n, worst.get(int(self.identities.extra.get(ident, 0)), ""))
                for ident, n in self.identities.top(10)
            ],
            identities_total=len(self.identities),
            reasons=self.reasons.top(10),
            approximate=self.identities.approximate or self.reasons.approximate,
            triage_ran=self.triage_seen,
            triaged=self.triaged,
            verdicts=sorted(
                self.verdicts.top(20),
                key=lambda kv: (VERDICTS.index(kv[0]) if kv[0] in VERDICTS else 9, kv[0]),
            ),
            triage_errors=self.triage_errors,
            injection_suspected=self.injection,
            cached=self.cached,
            backends=self.backends.top(5),
            table=table,
            table_limit=self.top_n,
            incidents=sorted(self.incidents.values(), key=Incident.rank)[: max(0, self.top_incidents)],
            incidents_total=len(self.incidents),
            incidents_limit=self.top_incidents,
            incidents_approximate=self.incidents_dropped,
            incident_severity=[
                (s, n)
                for s, n in Counter(i.severity or "low" for i in self.incidents.values()).most_common()
                if s in INCIDENT_SEVERITIES
            ],
            models=[m for m, _ in self.models.top(3)],
        )


def _fmt_time(t: float) -> str:
    import datetime as dt

    return dt.datetime.fromtimestamp(t, tz=dt.timezone.utc).strftime("%Y-%m-%d %H:%M:%S")


def _fmt_confidence(value: Optional[float]) -> str:
    if value is None:
        return ""
    pct = value * 100 if 0 <= value <= 1 else value
    return f"{pct:.0f}%"
