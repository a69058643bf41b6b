"""How well detection holds on labelled CloudTrail: the figures `ctad eval` prints, in pure Python.

The scorecard must run wherever the CLI runs (no numpy, no scikit-learn: those come with the train extra), so
the ranking metrics are written here and held to scikit-learn's definitions by tests:
- ROC-AUC is the Mann-Whitney statistic with mid-ranks, so tied scores count one half (the CLI's scores are
  rounded to six decimals, and quiet events tie a lot);
- average precision is scikit-learn's `average_precision_score`: the sum over distinct score thresholds, from
  the highest down, of (recall gained) x (precision at that threshold); no interpolation;
- recall at a false-positive rate is the best recall of any threshold whose benign flag rate stays within it.

Beside the detector's figures stands a naive reference: events ranked by how rare their (identity, API) pair is in
the file, what an analyst gets from `stats count by identity, eventName` sorted ascending (Splunk's `rare`). A
detector that does not beat it on a file has learned nothing that file needs; on real CloudTrail an earlier model
did not, which is why the scorecard prints both.

A row that could not be scored (`ct_error`) has no score: it ranks below every scored event and is never
flagged, so an engine that fails on attack events cannot look better for it. Every row of a file lands in
exactly one bucket (unreadable, unlabelled, attack, benign), and the figures say how many went where.
"""

from __future__ import annotations

import math
import re
from collections import Counter
from dataclasses import dataclass
from typing import Any, Dict, Iterable, List, Mapping, Optional, Sequence, Tuple

from ctad.core import bounded
from ctad.core.incidents import ALERT_INCIDENT_SCORE

INCIDENT_GAP_SECONDS = 30 * 60
MAX_TECHNIQUE_CHARS = 200  # labels come from files the user hands us: keep what is shown and stored bounded
NO_SCORE = float("-inf")


# ------------------------------------------------------------------------------------------------ metrics
def _clean(scores: Sequence[Optional[float]]) -> List[float]:
    """Scores as floats, with a missing or non-finite score ranked below every real one."""
    out = []
    for s in scores:
        out.append(float(s) if isinstance(s, (int, float)) and math.isfinite(s) else NO_SCORE)
    return out


def _check(labels: Sequence[int], scores: Sequence[Any]) -> None:
    if len(labels) != len(scores):
        raise ValueError(f"{len(labels)} labels but {len(scores)} scores")


def roc_auc(labels: Sequence[int], scores: Sequence[Optional[float]]) -> Optional[float]:
    """Probability that an attack event outscores a benign one, ties counting one half; None without both
    classes (the figure is undefined, and 0.5 would read as a measurement)."""
    _check(labels, scores)
    values = _clean(scores)
    positives = sum(1 for y in labels if y == 1)
    negatives = len(labels) - positives
    if positives == 0 or negatives == 0:
        return None
    order = sorted(range(len(values)), key=values.__getitem__)
    rank_sum = 0.0  # of the positives, 1-based mid-ranks
    i = 0
    while i < len(order):
        j = i
        while j + 1 < len(order) and values[order[j + 1]] == values[order[i]]:
            j += 1
        mid_rank = (i + j) / 2 + 1
        rank_sum += mid_rank * sum(1 for k in range(i, j + 1) if labels[order[k]] == 1)
        i = j + 1
    u = rank_sum - positives * (positives + 1) / 2
    return u / (positives * negatives)


def _threshold_counts(labels: Sequence[int], scores: Sequence[Optional[float]]) -> List[Tuple[int, int]]:
    """(true positives, false positives) flagged at each distinct score, from the highest down: what a
    threshold set at that score (flag when score >= threshold) would give."""
    _check(labels, scores)
    values = _clean(scores)
    order = sorted(range(len(values)), key=values.__getitem__, reverse=True)
    counts: List[Tuple[int, int]] = []
    tp = fp = 0
    for n, k in enumerate(order):
        if labels[k] == 1:
            tp += 1
        else:
            fp += 1
        if n + 1 == len(order) or values[order[n + 1]] != values[k]:
            counts.append((tp, fp))
    return counts


def average_precision(labels: Sequence[int], scores: Sequence[Optional[float]]) -> Optional[float]:
    """PR-AUC as scikit-learn's `average_precision_score` defines it; None without attack events."""
    positives = sum(1 for y in labels if y == 1)
    if positives == 0:
        _check(labels, scores)
        return None
    total = 0.0
    previous_recall = 0.0
    for tp, fp in _threshold_counts(labels, scores):
        recall = tp / positives
        total += (recall - previous_recall) * (tp / (tp + fp))
        previous_recall = recall
    return total


def recall_at_fpr(
    labels: Sequence[int], scores: Sequence[Optional[float]], max_fpr: float = 0.01
) -> Optional[float]:
    """The best recall of a threshold that flags at most `max_fpr` of the benign events (tied scores are
    flagged together, so a tie can cost recall); None without both classes."""
    positives = sum(1 for y in labels if y == 1)
    negatives = len(labels) - positives
    if positives == 0 or negatives == 0:
        _check(labels, scores)
        return None
    best = 0
    for tp, fp in _threshold_counts(labels, scores):
        if fp / negatives > max_fpr:
            break  # false positives only grow as the threshold goes down
        best = tp
    return best / positives


# ---------------------------------------------------------------------------------------------- incidents
@dataclass(frozen=True)
class Flagged:
    """One flagged event, as far as incidents care."""

    identity: str
    time: float
    attack: bool
    incident: str = ""  # the engine's `ct_incident`, when it writes one
    incident_score: Optional[float] = None  # the engine's `ct_incident_score` (0..100) after this event


@dataclass
class Incident:
    key: str
    events: int = 0
    attack_events: int = 0
    score: Optional[float] = None  # the highest `ct_incident_score` of its events (None: the output has none)


def incidents_by_identity(
    flagged: Iterable[Flagged], gap_seconds: float = INCIDENT_GAP_SECONDS
) -> List[Incident]:
    """Fallback incidents for output without `ct_incident`: an identity's flagged events, split where more than
    `gap_seconds` pass between two of them. This is how the SOC would group the alerts by hand (one identity,
    one burst of activity), so false incidents are measurable before the engine writes incidents itself.
    Sorted first, so the answer does not depend on the order rows came in."""
    incidents: List[Incident] = []
    last_identity: Optional[str] = None
    last_time = 0.0
    for f in sorted(flagged, key=lambda f: (f.identity, f.time, f.attack)):
        if f.identity != last_identity or f.time - last_time > gap_seconds:
            incidents.append(Incident(f"{f.identity}@{f.time:.0f}"))
        incidents[-1].events += 1
        incidents[-1].attack_events += int(f.attack)
        last_identity, last_time = f.identity, f.time
    return incidents


def incidents_by_field(flagged: Iterable[Flagged]) -> List[Incident]:
    """Incidents as the engine groups them: flagged events sharing `ct_incident`."""
    by_key: Dict[str, Incident] = {}
    for f in flagged:
        incident = by_key.setdefault(f.incident, Incident(f.incident))
        incident.events += 1
        incident.attack_events += int(f.attack)
        if f.incident_score is not None:
            incident.score = max(incident.score or 0.0, f.incident_score)
    return [by_key[k] for k in sorted(by_key)]


# --------------------------------------------------------------------------------------------- one file
def label_of(row: Mapping[str, Any]) -> Optional[int]:
    """The row's `_label` as 0 or 1, or None when it has none we can trust (missing, 2, "yes", 0.5)."""
    value = row.get("_label")
    if isinstance(value, bool):
        return int(value)
    if isinstance(value, int) and value in (0, 1):
        return value
    if isinstance(value, float) and value in (0.0, 1.0):
        return int(value)
    if isinstance(value, str) and value.strip() in ("0", "1"):
        return int(value.strip())
    return None


_LINE_PREFIX = re.compile(r"^line [0-9]+: ")
_OVERSIZED = re.compile(r"^line [0-9]+ is [0-9]+ bytes, ")


def unreadable_kind(message: str) -> str:
    """What went wrong with an unreadable row, without its line number or parser detail, so rows that failed
    alike are counted together ("line 7: not valid JSON (Expecting value...)" -> "not valid JSON")."""
    message = _OVERSIZED.sub("line ", _LINE_PREFIX.sub("", message))
    return message.split(" (")[0].strip()[:80] or "unreadable"


def technique_of(row: Mapping[str, Any]) -> str:
    value = row.get("_technique")
    return value.strip()[:MAX_TECHNIQUE_CHARS] if isinstance(value, str) else ""


class FileScore:
    """Collects one labelled file's rows with the engine's verdicts, then computes its figures."""

    def __init__(self, name: str) -> None:
        self.name = name
        self.labels: List[int] = []
        self.scores: List[Optional[float]] = []
        self.flags: List[bool] = []
        self.unreadable: Counter = Counter()  # message -> rows
        self.unlabelled = 0
        self.errors: Counter = Counter()  # ct_error text (before its first colon) -> labelled rows
        self.error_labels: Counter = Counter()  # label -> labelled rows with ct_error
        self.techniques: Dict[str, List[int]] = {}  # technique -> [attack events, flagged]
        self.flagged: List[Flagged] = []
        self.has_incident_field = True
        # per labelled row: its (identity, API) pair, keyed by search window when the file is scored in windows;
        # None when the row could not be normalised
        self.pairs: List[Optional[Tuple[Any, ...]]] = []
        self.pair_counts: Counter = Counter()  # pair -> events of the file (or window), labelled or not

    def count_pair(self, pair: Tuple[Any, ...]) -> None:
        """One normalised event of the file, labelled or not: the naive reference counts every one."""
        self.pair_counts[pair] += 1

    def add_unreadable(self, message: str) -> None:
        """A row that is not a JSON object: it has no label, so it can only be counted."""
        self.unreadable[unreadable_kind(message)] += 1

    def add_unlabelled(self) -> None:
        """A readable row without a usable `_label`: scored with the rest (it is part of the account's activity),
        left out of the figures, and counted."""
        self.unlabelled += 1

    def add(
        self,
        label: int,
        technique: str,
        result: Mapping[str, Any],
        time: Optional[float],
        pair: Optional[Tuple[Any, ...]] = None,
    ) -> None:
        """One labelled row with its ct_* fields; `time` is its event time and `pair` its (identity, API) pair as
        given to `count_pair`, both None when the row could not be normalised."""
        error = result.get("ct_error") or ""
        self.pairs.append(pair)
        score = None if error else result.get("ct_score")
        flagged = not error and result.get("ct_anomaly") in (1, True, "1")
        self.labels.append(label)
        self.scores.append(score if isinstance(score, (int, float)) and not isinstance(score, bool) else None)
        self.flags.append(flagged)
        if error:
            self.errors[str(error).split(":")[0][:80]] += 1
            self.error_labels[label] += 1
        if label == 1:
            counts = self.techniques.setdefault(technique, [0, 0])
            counts[0] += 1
            counts[1] += int(flagged)
        if flagged:
            incident = result.get("ct_incident")
            incident = "" if incident is None or isinstance(incident, (dict, list)) else str(incident)
            if not incident:
                self.has_incident_field = False
            # A flagged row was normalised, so its time is known; 0.0 only keeps the type honest.
            when = time if time is not None else 0.0
            self.flagged.append(
                Flagged(str(result.get("ct_identity") or ""), when, label == 1, incident,
                        _incident_score(result.get("ct_incident_score")))
            )  # fmt: skip

    def figures(self, max_fpr: float = 0.01, gap_seconds: float = INCIDENT_GAP_SECONDS) -> Dict[str, Any]:
        """Every figure of the file as plain JSON values (None where a figure is undefined)."""
        labels, scores, flags = self.labels, self.scores, self.flags
        attack = sum(labels)
        benign = len(labels) - attack
        tp = sum(1 for y, f in zip(labels, flags) if f and y == 1)
        fp = sum(1 for y, f in zip(labels, flags) if f and y == 0)
        if self.flagged and self.has_incident_field:
            incidents, grouping = incidents_by_field(self.flagged), "ct_incident"
        else:
            incidents = incidents_by_identity(self.flagged, gap_seconds)
            grouping = f"fallback: ct_identity, gaps <= {gap_seconds / 60:g} min"
        named = {t: c for t, c in self.techniques.items() if t}
        unreadable = sum(self.unreadable.values())
        # incidents without scores are output of older versions: nothing can be said of what would page
        scored = not incidents or any(i.score is not None for i in incidents)
        alerted = [i for i in incidents if i.score is not None and i.score >= ALERT_INCIDENT_SCORE]
        reference = self.rare_pair_scores()
        return {
            "file": self.name,
            "rows": unreadable + self.unlabelled + len(labels),
            "unreadable_rows": unreadable,
            "unreadable_messages": _top(self.unreadable),
            "unlabelled_rows": self.unlabelled,
            "events": len(labels),
            "attack_events": attack,
            "benign_events": benign,
            "error_rows": sum(self.errors.values()),
            "error_attack_rows": self.error_labels[1],
            "error_benign_rows": self.error_labels[0],
            "error_messages": _top(self.errors),
            "roc_auc": roc_auc(labels, scores),
            "pr_auc": average_precision(labels, scores),
            "max_fpr": max_fpr,
            "recall_at_fpr": recall_at_fpr(labels, scores, max_fpr),
            "rare_pair_roc_auc": roc_auc(labels, reference),
            "rare_pair_pr_auc": average_precision(labels, reference),
            "flagged": tp + fp,
            "true_alerts": tp,
            "false_alerts": fp,
            "false_alert_rate": fp / benign if benign else None,
            "precision": tp / (tp + fp) if tp + fp else None,
            "recall": tp / attack if attack else None,
            "techniques_total": len(named),
            "techniques_hit": sum(1 for c in named.values() if c[1]),
            "missed_techniques": sorted(t for t, c in named.items() if not c[1]),
            "attack_events_without_technique": self.techniques.get("", [0, 0])[0],
            "techniques": {
                t: {"events": c[0], "flagged": c[1], "recall": c[1] / c[0]} for t, c in sorted(named.items())
            },
            "incident_grouping": grouping,
            "incidents": len(incidents),
            "false_incidents": sum(1 for i in incidents if not i.attack_events),
            # What pages the SOC: incidents at or above the alert line (None when the output has no scores).
            "alert_incident_score": ALERT_INCIDENT_SCORE,
            "alerted_incidents": None if not scored else len(alerted),
            "false_alerted_incidents": None if not scored else sum(1 for i in alerted if not i.attack_events),
            "attack_incidents_alerted": None if not scored else sum(1 for i in alerted if i.attack_events),
        }

    def rare_pair_scores(self) -> List[Optional[float]]:
        """The naive reference's score per labelled row: 1 / (events of its identity x API pair in the file, or in
        its window: what `stats count` over the same search gives), so a pair seen once ranks first; a row that
        could not be normalised has none."""
        out: List[Optional[float]] = []
        for pair in self.pairs:
            count = self.pair_counts.get(pair, 0) if pair is not None else 0
            out.append(1.0 / count if count else None)
        return out


def _incident_score(value: Any) -> Optional[float]:
    """`ct_incident_score` as a number in 0..100, None when absent or not a number (output of older versions)."""
    score = bounded.to_float(value)
    return None if score is None else bounded.clamp(score, 0.0, 100.0)


def _top(counter: Counter) -> List[Tuple[str, int]]:
    """Most common first, ties by text: figures must not depend on row order."""
    return sorted(counter.items(), key=lambda kv: (-kv[1], kv[0]))
