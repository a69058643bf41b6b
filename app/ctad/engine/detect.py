"""The detector: normalise, order, featurise, score, explain; every row in gives one result out.

A run is a function of (profile, set of events): rows may arrive in any order and in any batches (Splunk sends
newest first, in chunks of 1 to 50,000). The run therefore collects events first, sorts them in the engine's
order (eventTime, eventID, content: `ctad.core.ordering`), spilling sorted runs to disk beyond `max_memory_rows`,
then walks them once through the causal feature state, scores them in batches, and hands results back in the
order rows were added.
"""

from __future__ import annotations

import json
import math
import sys
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Dict, Iterator, List, Optional, Sequence, Tuple, Union

from ctad.core import bounded
from ctad.core.catalog import Catalog
from ctad.core.errors import CtadError
from ctad.core.features import FEATURE_NAMES, FeatureState
from ctad.core.incidents import DEFAULT_GAP, IncidentTracker, event_risk, read_open_incidents
from ctad.core.normalize import NormalizeError, Normalizer
from ctad.core.ordering import EventWalk, start_state
from ctad.core.profile import Profile
from ctad.core.reasons import Explainer
from ctad.core.resources import find_dir
from ctad.core.schema import OUTPUT_FIELDS, SEVERITIES, CtFields, Event, empty_output
from ctad.core.scoring import final_scores
from ctad.engine.spill import EventSorter, ExternalSorter

SCORE_BATCH = 2048
# Front doors take the incident gap in whole minutes (`--incident-gap`, `incident_gap=`): 0 makes every anomaly its
# own incident unless two share a second; a week is already longer than any alert window a SOC keeps open.
MAX_INCIDENT_GAP_MINUTES = 7 * 24 * 60
DEFAULT_INCIDENT_GAP_MINUTES = int(DEFAULT_GAP // 60)


class ModelError(CtadError, RuntimeError):
    """The model directory is missing, unreadable or does not match this engine's features."""


@dataclass
class ModelBundle:
    """The booster plus what the spec says about using it."""

    model: Any
    version: str
    threshold: float
    severity_cuts: Dict[str, float]
    spec: Dict[str, Any]
    shift: float = 0.0  # calibration: log-odds shift that puts the alert line at 0.5 (ctad.core.scoring)

    @classmethod
    def load(
        cls, model_dir: Optional[Union[str, Path]] = None, cache_dir: Optional[str] = None
    ) -> ModelBundle:
        """`cache_dir`: optional trusted directory for the parsed-model cache (see `load_model`)."""
        from ctad.forest.runtime import load_model

        directory = Path(model_dir) if model_dir else find_dir("model")
        spec_path = directory / "feature_spec.json"
        try:
            spec = json.loads(spec_path.read_text(encoding="utf-8"))
        except FileNotFoundError:
            raise ModelError(
                f"no model in {directory}: {spec_path.name} is missing (run `ctad train`)"
            ) from None
        except ValueError as exc:
            raise ModelError(f"{spec_path} is not valid JSON: {exc}") from None
        names = [f["name"] for f in spec.get("features", [])]
        if tuple(names) != FEATURE_NAMES:
            missing = sorted(set(names) - set(FEATURE_NAMES))
            raise ModelError(
                f"model in {directory} was trained on other features than this engine computes"
                + (f" (unknown: {', '.join(missing[:5])})" if missing else " (order or count differs)")
                + "; retrain it with `ctad train`"
            )
        model_path = directory / spec.get("file", "model.json")
        try:
            model = load_model(model_path, cache_dir=cache_dir)
        except (OSError, ValueError) as exc:
            raise ModelError(f"cannot load {model_path}: {exc}") from None
        cuts = spec.get("severity_cuts") or {"medium": 0.6, "high": 0.85, "critical": 0.97}
        try:
            shift = float((spec.get("calibration") or {}).get("shift", 0.0))
        except (TypeError, ValueError, AttributeError):
            raise ModelError(f"{spec_path}: calibration.shift must be a number") from None
        if not math.isfinite(shift):
            raise ModelError(f"{spec_path}: calibration.shift must be finite")
        version = str(spec.get("version", "unknown"))
        return cls(model, version, float(spec.get("threshold", 0.5)), cuts, spec, shift)


def severity(score: float, threshold: float, cuts: Dict[str, float], risky: bool) -> str:
    """informational below the threshold; low..critical above it, one step up for risky requests."""
    if score < threshold:
        return "informational"
    level = 1
    for i, name in enumerate(("medium", "high", "critical"), start=2):
        if score >= cuts.get(name, 2.0):
            level = i
    if risky:
        level = min(level + 1, len(SEVERITIES) - 1)
    return SEVERITIES[level]


@dataclass
class Summary:
    rows: int = 0
    events: int = 0
    errors: int = 0
    duplicates: int = 0
    anomalies: int = 0
    severities: Counter = field(default_factory=Counter)
    top_identities: Counter = field(default_factory=Counter)
    top_reasons: Counter = field(default_factory=Counter)
    error_messages: Counter = field(default_factory=Counter)
    phases: Dict[str, float] = field(default_factory=dict)  # wall seconds per stage, when the runner says

    def count_result(self, res: Dict[str, Any]) -> None:
        """Count one scored event's result (a re-delivery is not counted: it is in `duplicates`)."""
        self.events += 1
        if res["ct_anomaly"]:
            self.anomalies += 1
            self.top_identities[res["ct_identity"]] += 1
        self.severities[res["ct_severity"]] += 1

    def count_quiet(self, n: int) -> None:
        """Count `n` scored events below the threshold at once (the parallel run's common case)."""
        self.events += n
        self.severities[SEVERITIES[0]] += n

    def count_errors(self, keys: Counter) -> None:
        """Count rows that could not be scored, by `error_key` of their ct_error message."""
        self.errors += sum(keys.values())
        self.error_messages.update(keys)

    def count_error(self, message: str) -> None:
        """Count one row that could not be scored."""
        self.errors += 1
        self.error_messages[error_key(message)] += 1

    def as_dict(self) -> Dict[str, Any]:
        return {
            "rows": self.rows,
            "events": self.events,
            "errors": self.errors,
            "duplicates": self.duplicates,
            "anomalies": self.anomalies,
            "severities": {k: self.severities[k] for k in SEVERITIES if self.severities.get(k)},
            "top_identities": _top(self.top_identities),
            "top_reasons": _top(self.top_reasons),
            "error_messages": _top(self.error_messages),
            **({"phases": {k: round(v, 3) for k, v in self.phases.items()}} if self.phases else {}),
        }


def _top(counter: Counter, n: int = 10) -> List[Tuple[str, int]]:
    """Most common first, ties by name: the summary must not depend on the order rows were counted in."""
    return sorted(counter.items(), key=lambda kv: (-kv[1], kv[0]))[:n]


class Detector:
    """Loads the model, catalogue and profile once; `start()` gives a fresh run over a set of events."""

    def __init__(
        self,
        model_dir: Optional[Union[str, Path]] = None,
        profile: Optional[Profile] = None,
        threshold: Optional[float] = None,
        explain: bool = True,
        spill_dir: Optional[str] = None,
        max_memory_rows: int = 100_000,
        catalog: Optional[Catalog] = None,
        bundle: Optional[ModelBundle] = None,
        engine: str = "auto",
        model_cache_dir: Optional[str] = None,
        incident_gap: float = DEFAULT_GAP,
        now: Optional[float] = None,
    ) -> None:
        """`now`: the run's clock for the plausibility of event times (default: the wall clock at start-up)."""
        self.catalog = catalog or Catalog.load()
        self.bundle = bundle or ModelBundle.load(model_dir, cache_dir=model_cache_dir)
        self.threshold = float(threshold) if threshold is not None else self.bundle.threshold
        self.profile = profile
        self.explain = explain
        self.spill_dir = spill_dir
        self.max_memory_rows = max_memory_rows
        self.normalizer = Normalizer(self.catalog, now=now)
        self.now = self.normalizer.latest - bounded.FUTURE_SLACK
        self.explainer = Explainer()
        self.engine = engine  # model evaluation: "auto" (numpy when importable), "python" or "numpy"
        self.incident_gap = incident_gap  # seconds between anomalies of one identity within one incident
        # The baseline's open incidents, checked once: every run starts from them (the front doors warn about
        # what `incident_problems` counts: reason -> entries skipped or clamped)
        self.open_incidents, self.incident_problems = read_open_incidents(
            profile.open_incidents if profile is not None else None, self.normalizer.latest
        )

    @property
    def model_version(self) -> str:
        return self.bundle.version

    def start(self) -> Run:
        return Run(self)


def normalize_row(normalizer: Normalizer, row: Any) -> Union[Event, str]:
    """The row's Event, or the message its ct_error gets: whatever the row holds, this does not raise."""
    try:
        return normalizer.normalize(row)
    except NormalizeError as exc:
        return str(exc)
    except RecursionError:
        return "event nested too deeply to read"
    except Exception as exc:  # a shape we did not foresee must still not lose the row
        return f"could not read the event: {type(exc).__name__}: {str(exc)[:160]}"


def ct_score(score: float) -> Optional[float]:
    """The ct_score field of a score: six decimals, or None when the model gave no number."""
    return round(score, 6) if math.isfinite(score) else None


def error_key(message: str) -> str:
    """How the summary groups ct_error messages (their text before the first colon)."""
    return message.split(":")[0][:60]


class Run:
    """One set of events. Add rows, then read results once, in add order."""

    def __init__(self, detector: Detector) -> None:
        self.det = detector
        self.summary = Summary()
        # (eventTime, eventID, row number, Event): `EventWalk` orders ties on (time, eventID) by content
        self._events = EventSorter(max_items=detector.max_memory_rows, directory=detector.spill_dir)
        self._errors: Dict[int, Tuple[str, str]] = {}
        self._dups: Dict[int, int] = {}  # duplicate row -> the row holding the same eventID
        self._n = 0
        self._done = False
        self.profile: Optional[Profile] = None
        self.state: Optional[FeatureState] = None
        self.incidents = IncidentTracker(detector.incident_gap)
        self.incidents.seed(detector.open_incidents)
        self.earliest: Optional[float] = None  # earliest event time added: Splunk seeds incidents before it

    def add(self, row: Any) -> int:
        """Queue one row of any accepted shape; returns its sequence number. Never raises for bad rows."""
        ev = normalize_row(self.det.normalizer, row)
        if isinstance(ev, str):
            return self.skip(ev)
        return self.add_event(ev)

    def add_event(self, ev: Event) -> int:
        """Queue an event the caller already normalised with `det.normalizer` (adapters with a fast path)."""
        seq = self._n
        self._n += 1
        self._events.add((ev.time, ev.event_id, seq, ev))
        if self.earliest is None or ev.time < self.earliest:
            self.earliest = ev.time
        return seq

    def add_error(self, seq: int, message: str, identity: str = "") -> None:
        """Record a row that cannot be scored (also used by readers for unreadable input)."""
        self._errors[seq] = (message, identity)

    def skip(self, message: str) -> int:
        """A row that cannot be scored (unreadable line, unreadable event): it still gets a result."""
        seq = self._n
        self._n += 1
        self.add_error(seq, message)
        return seq

    # ------------------------------------------------------------------------------------------ scoring
    def _scored(self) -> Iterator[Tuple[int, Dict[str, Any]]]:
        det = self.det
        model = det.bundle.model
        threshold = det.threshold
        self.state = start_state(det.catalog, det.profile)
        batch: List[Tuple[int, Event, List[float]]] = []
        walk = EventWalk(self._events.sorted(), self.state)
        for item, ev, row, first in walk:
            if first is not None:
                # A true re-delivery (same time, eventID and content): counted once, answered alike.
                self._dups[item[2]] = first[2]
                continue
            batch.append((item[2], ev, row))  # type: ignore[arg-type]
            if len(batch) >= SCORE_BATCH:
                yield from self._score_batch(batch, model, threshold)
                batch = []
        self.summary.duplicates += walk.duplicates
        if batch:
            yield from self._score_batch(batch, model, threshold)
        self.keep_profile(walk.profile())

    def keep_profile(self, profile: Profile) -> None:
        """The profile after the run, with the incidents still open at its newest event, so that the next run
        given this profile continues them (`run.profile`, saved by `--update-baseline`)."""
        end = bounded.seconds(profile.data.get("last_time"))
        profile.open_incidents = self.incidents.export(end) if end is not None else []
        self.profile = profile

    def _score_batch(
        self, batch: List[Tuple[int, Event, List[float]]], model: Any, threshold: float
    ) -> Iterator[Tuple[int, Dict[str, Any]]]:
        scores, contributions = score_rows_batch(
            model,
            [b[2] for b in batch],
            threshold if self.det.explain else None,
            self.det.engine,
            self.det.bundle.shift,
        )
        for i, ((seq, ev, row), score) in enumerate(zip(batch, scores)):
            yield seq, self.result_for(ev, row, score, threshold, contributions.get(i))

    def result_for(
        self,
        ev: Event,
        row: List[float],
        score: float,
        threshold: float,
        contributions: Optional[Sequence[float]] = None,
    ) -> CtFields:
        """The ct_* fields of a scored event; `contributions` (from `score_rows_batch`) feed the reasons."""
        det = self.det
        info = self.state.api_info(ev.source, ev.name)  # type: ignore[union-attr]
        anomaly = score >= threshold
        risky = bool(ev.flags) or info.risk >= 4
        sev = severity(score, threshold, det.bundle.severity_cuts, risky and anomaly)
        reasons: List[str] = []
        if anomaly and det.explain:
            if contributions is None:
                contributions = det.bundle.model.contributions(row)
            for sentence, template in det.explainer.explain(ev, row, contributions, info)[:5]:
                reasons.append(sentence)
                if len(reasons) <= 3:
                    self.summary.top_reasons[template] += 1
        risk = event_risk(sev, score) if anomaly else 0
        if risk:
            incident, incident_score, incident_sev = self.incidents.add(
                ev.identity, ev.time, ev.event_id, ev.api, risk
            )
        else:
            incident, incident_score, incident_sev = "", 0, ""
        return {
            "ct_score": ct_score(score),
            "ct_anomaly": 1 if anomaly else 0,
            "ct_severity": sev,
            "ct_reasons": reasons,
            "ct_risk": risk,
            "ct_incident": incident,
            "ct_incident_score": incident_score,
            "ct_incident_severity": incident_sev,
            "ct_tactic": info.tactic_id,
            "ct_technique": info.technique_id,
            "ct_identity": ev.identity,
            "ct_model": det.model_version,
            "ct_error": "",
        }

    def results(self) -> Iterator[CtFields]:
        """ct_* dicts for every added row, in add order. Call once, after the last `add`."""
        if self._done:
            raise RuntimeError("results() was already read for this run")
        self._done = True
        total = self._n
        summary = self.summary
        summary.rows = total
        in_memory = total <= self.det.max_memory_rows
        model_version = self.det.model_version
        if in_memory:
            slots: List[Optional[Dict[str, Any]]] = [None] * total
            for seq, res in self._scored():
                slots[seq] = res
            ordered: Iterator[Tuple[int, Optional[Dict[str, Any]]]] = enumerate(slots)
        else:
            sink = ExternalSorter(key=lambda item: item[0], max_items=self.det.max_memory_rows,
                                  directory=self.det.spill_dir)  # fmt: skip
            fields = OUTPUT_FIELDS
            for seq, res in self._scored():
                sink.add((seq, tuple([res[k] for k in fields])))  # a tuple pickles ~2x faster than the dict
            ordered = self._fill(((seq, dict(zip(fields, values))) for seq, values in sink.sorted()), total)
        dups = self._dups
        originals: Dict[int, Dict[str, Any]] = {}
        wanted = set(dups.values())
        for seq, res in ordered:
            if seq in dups:
                yield dict(originals[dups[seq]])  # the original has a lower seq, so it came first
                continue
            if seq in wanted and res is not None:
                originals[seq] = res
            if res is None:
                message, identity = self._errors.get(seq, ("internal error: row was not scored", ""))
                res = empty_output(message, model_version, identity)
                summary.count_error(message)
            else:
                summary.count_result(res)
            yield res

    @staticmethod
    def _fill(
        items: Iterator[Tuple[int, Dict[str, Any]]], total: int
    ) -> Iterator[Tuple[int, Optional[Dict[str, Any]]]]:
        expected = 0
        for seq, res in items:
            while expected < seq:
                yield expected, None
                expected += 1
            yield seq, res
            expected = seq + 1
        while expected < total:
            yield expected, None
            expected += 1


def score_rows_batch(
    model: Any, rows: Any, explain_threshold: Optional[float], engine: str = "auto", shift: float = 0.0
) -> Tuple[List[float], Dict[int, List[float]]]:
    """ct_scores of a batch of feature rows (booster, knowledge prior, calibration: `ctad.core.scoring`), plus the
    booster's contributions for the rows at or over `explain_threshold`.

    One function for the single-process run and the parallel workers, so both score and explain alike.
    """
    scores = final_scores(model.predict(rows, engine=engine), rows, shift)
    contributions: Dict[int, List[float]] = {}
    if explain_threshold is not None:
        flagged = [i for i, score in enumerate(scores) if score >= explain_threshold]
        if flagged:
            many = model.contributions_many([rows[i] for i in flagged], engine=engine)
            contributions = dict(zip(flagged, many))
    return scores, contributions


def score_rows(rows: Sequence[Any], **kwargs: Any) -> List[CtFields]:
    """Convenience: one run over an in-memory list of rows (tests, notebooks)."""
    run = Detector(**kwargs).start()
    for row in rows:
        run.add(row)
    return list(run.results())


if __name__ == "__main__":  # pragma: no cover
    sys.exit("use the `ctad detect` command")
