"""Stage two: triage the rows stage one flagged, write the answers back as triage_* fields.

`Triage(config).run(rows)` returns every row (same order, nothing dropped) with the triage fields added. Only
flagged rows are triaged, at most `max_rows` of them (highest ct_score first), grouped into bursts, looked up in
the cache, sent to the configured backend, and checked on the way back: schema (done by the backend), ATT&CK ids
against the accepted table, injection findings that forbid a false_positive verdict and raise severity. A backend
failure gives the row the offline verdict plus `triage_error`; the run itself never fails.
"""

from __future__ import annotations

import os
import time
from pathlib import Path
from typing import Any, Dict, List, Optional, Tuple

from ctad.triage.agents import AgentSet
from ctad.triage.evidence import (
    Alert,
    Baseline,
    Group,
    RunIndex,
    _cti_index,
    build_context,
    group_alerts,
    incident_of,
    incident_score_of,
    is_flagged,
    read_event,
    score_of,
)
from ctad.triage.fields import TRIAGE_FIELDS, TriageFields, empty_triage, raise_severity
from ctad.triage.llm import RetryPolicy, TriageConfigError, make_client, redact
from ctad.triage.offline import OfflineExpert
from ctad.triage.reference import Reference

DEFAULT_MODEL = "claude-sonnet-4-6"
# Dollars per million tokens (defaults: Claude Sonnet list prices); override with --price-* or the config.
DEFAULT_PRICES = {
    "input": 3.0,
    "output": 15.0,
    "cache_write": 3.75,
    "cache_read": 0.30,
    "batch_discount": 0.5,
}


def cap_by_incident(candidates: List[Alert], max_rows: int) -> List[Alert]:
    """At most `max_rows` alerts, whole incidents first: strongest incident (its current score, then its best
    ct_score) first, so the cap drops the weakest incidents instead of the tail of every incident. A row without an
    incident counts as an incident of its own, ranked by its ct_score. Ties are broken by incident id, event time
    and eventID, not by input position, so which rows make the cap does not depend on the order Splunk sent them."""

    def key(a: Alert) -> str:
        return incident_of(a.row) or "event:" + str(a.event.get("event_id") or a.index)

    best: Dict[str, Tuple[int, float]] = {}
    for a in candidates:
        inc, score = best.get(key(a), (0, 0.0))
        best[key(a)] = (max(inc, incident_score_of(a.row)), max(score, score_of(a.row)))

    def rank(a: Alert) -> Tuple[int, float, str, float, float, str, int]:
        inc, score = best[key(a)]
        t = a.event.get("time")
        return (-inc, -score, key(a), -score_of(a.row), t if isinstance(t, float) else 0.0,
                str(a.event.get("event_id") or ""), a.index)  # fmt: skip

    return sorted(candidates, key=rank)[: max(0, max_rows)]


class TriageConfig:
    """Everything a run can be told; the CLI and the Splunk command both fill one."""

    def __init__(
        self,
        backend: str = "auto",
        model: str = DEFAULT_MODEL,
        api_key: str = "",
        base_url: str = "",
        timeout: float = 60.0,
        retries: int = 2,
        transport: str = "auto",
        max_rows: int = 200,
        concurrency: int = 4,
        batch: bool = False,
        cache_ttl_s: float = 86400.0,
        prices: Optional[Dict[str, float]] = None,
        agents_dir: Optional[str] = None,
        lookups_dir: Optional[str] = None,
        profile_path: Optional[str] = None,
        cti_path: Optional[str] = None,
        gap_s: float = 1800.0,
        group_max: int = 50,
        strict_tools: bool = True,
        batch_poll_s: float = 30.0,
    ):
        self.backend = backend
        self.model = model
        self.api_key = api_key
        self.base_url = base_url
        self.timeout = timeout
        self.retries = retries
        self.transport = transport
        self.max_rows = max_rows
        self.concurrency = concurrency
        self.batch = batch
        self.cache_ttl_s = cache_ttl_s
        self.prices = dict(DEFAULT_PRICES, **(prices or {}))
        self.agents_dir = agents_dir
        self.lookups_dir = lookups_dir
        self.profile_path = profile_path
        self.cti_path = cti_path
        self.gap_s = gap_s
        self.group_max = group_max
        self.strict_tools = strict_tools
        self.batch_poll_s = batch_poll_s


class TriageStats:
    """What a run cost and how long it took, for the report lines and eval-triage."""

    def __init__(self) -> None:
        self.rows = 0
        self.flagged = 0
        self.triaged = 0
        self.over_cap = 0
        self.groups = 0
        self.cached_groups = 0
        self.fallback_groups = 0
        self.errors: List[str] = []
        self.seconds = 0.0
        self.usage: Dict[str, Any] = {}
        self.cost_usd = 0.0

    def as_dict(self) -> Dict[str, Any]:
        per_alert = self.seconds / self.triaged if self.triaged else 0.0
        calls = int(self.usage.get("calls", 0))
        return {
            "rows": self.rows,
            "flagged": self.flagged,
            "triaged": self.triaged,
            "over_cap": self.over_cap,
            "groups": self.groups,
            "cached_groups": self.cached_groups,
            "fallback_groups": self.fallback_groups,
            "seconds": round(self.seconds, 3),
            "latency_per_alert_ms": round(per_alert * 1000, 2),
            "calls_per_alert": round(calls / self.triaged, 3) if self.triaged else 0.0,
            "cost_usd": round(self.cost_usd, 6),
            "cost_per_1000_alerts_usd": round(self.cost_usd / self.triaged * 1000, 4)
            if self.triaged
            else 0.0,
            "usage": self.usage,
            "errors": self.errors[:20],
        }


class Triage:
    def __init__(
        self,
        config: Optional[TriageConfig] = None,
        cache: Any = None,
        knowledge: Any = None,
        client: Any = None,
        reference: Optional[Reference] = None,
        agents: Optional[AgentSet] = None,
    ):
        self.config = config or TriageConfig()
        self.agents = agents or AgentSet.load(
            Path(self.config.agents_dir) if self.config.agents_dir else None
        )
        self.reference = reference or Reference.load(
            Path(self.config.lookups_dir) if self.config.lookups_dir else None
        )
        self.offline = OfflineExpert(self.reference)
        self.cache = cache
        self.knowledge = knowledge
        self.cti = _cti_index(self.config.cti_path)
        self.baseline = Baseline.load(self.config.profile_path) if self.config.profile_path else Baseline()
        self.stats = TriageStats()
        self.llm = None
        backend = self.config.backend
        key = self.config.api_key or ("" if client is not None else os.environ.get("ANTHROPIC_API_KEY", ""))
        if backend == "anthropic" or (backend == "auto" and (key or client is not None)):
            from ctad.triage.claude import ClaudeBackend

            if client is None:
                if not key:
                    raise TriageConfigError(
                        "the anthropic backend needs a key (ANTHROPIC_API_KEY, or storage/passwords "
                        "in Splunk); use --backend offline to triage without one"
                    )
                client = make_client(key, self.config.base_url, self.config.timeout, self.config.transport)
            self.llm = ClaudeBackend(
                client,
                self.agents,
                self.config.model,
                RetryPolicy(retries=self.config.retries),
                self.config.concurrency,
                self.config.strict_tools,
                batch=self.config.batch,
                batch_poll_s=self.config.batch_poll_s,
            )

    @property
    def backend_name(self) -> str:
        return self.llm.name if self.llm is not None else OfflineExpert.name

    def _cache_key(self, group: Group) -> str:
        return f"{self.backend_name}|{self.agents.version}|{group.fingerprint}"

    def run(self, rows: List[Dict[str, Any]]) -> List[Dict[str, Any]]:
        """Every row with triage fields added (non-flagged rows: fields present and empty)."""
        t_start = time.perf_counter()
        stats = self.stats
        stats.rows = len(rows)
        index = RunIndex()
        candidates: List[Alert] = []
        read_errors: Dict[int, str] = {}
        for i, row in enumerate(rows):
            flagged = isinstance(row, dict) and is_flagged(row)
            try:
                ev, raw = read_event(row) if isinstance(row, dict) else ({}, {})
            except Exception as exc:  # a row we cannot read is still returned, with the reason
                read_errors[i] = redact(f"unreadable event: {type(exc).__name__}: {str(exc)[:120]}")
                continue
            if ev:
                index.add(ev, flagged)
            if flagged:
                candidates.append(Alert(i, row, ev, raw))
        stats.flagged = len(candidates) + sum(1 for i in read_errors if is_flagged(rows[i]))
        chosen = cap_by_incident(candidates, self.config.max_rows)
        over_cap = {a.index for a in candidates} - {a.index for a in chosen}
        stats.over_cap = len(over_cap)
        groups = group_alerts(chosen, self.config.gap_s, self.config.group_max)
        stats.groups = len(groups)
        group_errors: Dict[int, str] = {}  # row index -> why its group could not be triaged
        ready: List[Group] = []
        for g in groups:
            try:
                build_context(g, index, self.reference, self.knowledge, self.cti, self.baseline)
            except Exception as exc:  # one hostile group must not cost the other rows their triage
                self._fail_group(g, f"context: {type(exc).__name__}: {exc}", group_errors)
                continue
            ready.append(g)
        groups = ready
        answers: Dict[
            str, Tuple[Dict[str, Any], bool, str, str]
        ] = {}  # gid -> (outputs, cached, backend, error)
        todo: List[Group] = []
        for g in groups:
            hit = (
                self.cache.get(self._cache_key(g))
                if (self.cache is not None and self.llm is not None)
                else None
            )
            if hit is not None and self._valid_cached(hit):
                answers[g.group_id] = (hit, True, self.backend_name, "")
                stats.cached_groups += 1
            else:
                todo.append(g)
        if self.llm is not None and todo:
            results = self.llm.run(todo)
            for g in todo:
                res = results.get(g.group_id)
                if isinstance(res, dict):
                    answers[g.group_id] = (res, False, self.backend_name, "")
                    if self.cache is not None:
                        self.cache.put(self._cache_key(g), res)
                else:
                    err = redact(
                        f"{self.backend_name} failed, offline verdict used: "
                        + (res.short() if hasattr(res, "short") else str(res))
                    )
                    try:
                        answers[g.group_id] = (self.offline.run(g), False, OfflineExpert.name, err)
                    except Exception as exc:
                        self._fail_group(g, f"offline expert: {type(exc).__name__}: {exc}", group_errors)
                        continue
                    stats.fallback_groups += 1
                    stats.errors.append(err)
            stats.usage = self.llm.usage.as_dict()
            stats.cost_usd = self.llm.usage.cost(self.config.prices)
        else:
            for g in todo:
                try:
                    answers[g.group_id] = (self.offline.run(g), False, OfflineExpert.name, "")
                except Exception as exc:
                    self._fail_group(g, f"offline expert: {type(exc).__name__}: {exc}", group_errors)
        out: List[Dict[str, Any]] = []
        fields_by_index: Dict[int, Dict[str, Any]] = {}
        for g in groups:
            if g.group_id not in answers:
                continue
            outputs, cached, backend, error = answers[g.group_id]
            try:
                fields = self.finalize(g, outputs, backend, cached, error)
            except Exception as exc:
                self._fail_group(g, f"checks: {type(exc).__name__}: {exc}", group_errors)
                continue
            for a in g.alerts:
                fields_by_index[a.index] = fields
        stats.triaged = len(fields_by_index)
        for i, row in enumerate(rows):
            base = dict(row) if isinstance(row, dict) else {"_raw": row}
            if i in fields_by_index:
                base.update(fields_by_index[i])
            elif i in read_errors:
                base.update(empty_triage(read_errors[i]))
            elif i in group_errors:
                base.update(empty_triage(group_errors[i]))
            elif i in over_cap:
                base.update(empty_triage(f"not triaged: over max_rows={self.config.max_rows}"))
            else:
                base.update(empty_triage())
            out.append(base)
        stats.seconds = time.perf_counter() - t_start
        return out

    def _fail_group(self, group: Group, why: str, errors: Dict[int, str]) -> None:
        """Record that a group could not be triaged: its rows come back with the reason, the run goes on."""
        message = redact(f"not triaged: {why}")[:300]
        self.stats.errors.append(message)
        for a in group.alerts:
            errors[a.index] = message

    def _valid_cached(self, hit: Dict[str, Any]) -> bool:
        try:
            for agent in self.agents.llm_agents():
                agent.validate(hit[agent.name])
            return True
        except Exception:
            return False

    def finalize(
        self, group: Group, outputs: Dict[str, Any], backend: str, cached: bool, error: str
    ) -> TriageFields:
        """Triage fields from the agents' answers, with the checks no model output may bypass."""
        analyst, intel = outputs["analyst"], outputs["intel"]
        validator, responder = outputs["validator"], outputs["responder"]
        notes: List[str] = []
        technique, tactic = intel.get("technique_id", ""), intel.get("tactic_id", "")
        if technique and not self.reference.valid_technique(technique):
            notes.append(f"technique {technique} rejected (not in the ATT&CK table)")
            technique = ""
        if tactic and not self.reference.valid_tactic(tactic):
            notes.append(f"tactic {tactic} rejected (not an ATT&CK tactic)")
            tactic = ""
        if technique:
            tactic = self.reference.tactic_for(technique, tactic)
        verdict = validator["verdict"]
        confidence = float(validator["confidence"])
        severity = analyst["severity"]
        injected = bool(group.context.get("injection_findings")) or bool(validator.get("injection_suspected"))
        if injected:
            if verdict == "false_positive":
                notes.append("false_positive overruled: injection attempt in the event")
                verdict, confidence = "needs_review", min(confidence, 0.5)
            severity = raise_severity(severity)
        if verdict == "false_positive":
            severity = "informational"
        actions = []
        for a in responder.get("actions", []):
            text = f"[{a['phase']}] {a['action']}"
            if a.get("command"):
                text += f" :: {a['command']}"
            actions.append(text)
        explanation = analyst["what_happened"]
        if analyst["why_suspicious"]:
            explanation += " Why: " + "; ".join(analyst["why_suspicious"]) + "."
        if analyst["attack_sequence"]:
            explanation += " Likely sequence: " + " -> ".join(analyst["attack_sequence"]) + "."
        explanation += f" Verdict {verdict} ({confidence:.2f}): " + "; ".join(validator["evidence"]) + "."
        if notes:
            explanation += " Checks: " + "; ".join(notes) + "."
        return {
            "triage_verdict": verdict,
            "triage_confidence": round(confidence, 3),
            "triage_severity": severity,
            "triage_summary": analyst["summary"],
            "triage_explanation": explanation[:4000],
            "triage_tactic": tactic,
            "triage_technique": technique,
            "triage_actions": actions,
            "triage_backend": backend,
            "triage_cached": 1 if cached else 0,
            "triage_error": error,
            "triage_injection_suspected": 1 if injected else 0,
        }


__all__ = ["TRIAGE_FIELDS", "Triage", "TriageConfig", "TriageStats", "DEFAULT_MODEL", "DEFAULT_PRICES"]
