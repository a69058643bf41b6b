"""Labelled feature matrices from labelled CloudTrail, computed by the serving engine's own code.

Both ways of use are featurised, so the shipped model is good at both:
- scheduled: one causal pass over the whole timeline. Because features are causal, the rows after the warm-up
  period are exactly what a scheduled run with a baseline built from the earlier days would compute;
- hunting: fresh, empty states over short windows (a responder pointing `ctad detect` at a folder of logs with no
  baseline), so the model also learns what novelty means when history is thin.
Labels (`_label`, `_technique`, `_campaign`, `_scenario`) are read from the raw records and never reach the features.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any, Dict, Iterable, List, Optional, Sequence

from ctad.core.catalog import Catalog
from ctad.core.features import FEATURE_NAMES, FeatureState
from ctad.core.normalize import NormalizeError, Normalizer
from ctad.core.ordering import EventWalk, start_state
from ctad.engine.spill import EventSorter

DAY = 86400.0


@dataclass
class Dataset:
    """Columns as plain lists until `arrays()`; meta columns are what the honest splits group by."""

    X: List[List[float]] = field(default_factory=list)
    y: List[int] = field(default_factory=list)
    technique: List[str] = field(default_factory=list)
    campaign: List[str] = field(default_factory=list)
    scenario: List[str] = field(default_factory=list)  # the simulator's `_scenario` ("" for benign / unknown)
    account: List[str] = field(default_factory=list)
    time: List[float] = field(default_factory=list)
    mode: List[str] = field(default_factory=list)
    event_id: List[str] = field(default_factory=list)
    stats: Dict[str, Any] = field(default_factory=dict)

    def __len__(self) -> int:
        return len(self.y)

    def append(self, row: List[float], label: int, technique: str, campaign: str, account: str, t: float,
               mode: str, event_id: str, scenario: str = "") -> None:  # fmt: skip
        self.X.append(row)
        self.y.append(label)
        self.technique.append(technique)
        self.campaign.append(campaign)
        self.scenario.append(scenario)
        self.account.append(account)
        self.time.append(t)
        self.mode.append(mode)
        self.event_id.append(event_id)

    def extend(self, other: Dataset) -> None:
        """Append another organisation's rows (featurised with its own state: orgs never share history)."""
        for name in ("X", "y", "technique", "campaign", "scenario", "account", "time", "mode", "event_id"):
            getattr(self, name).extend(getattr(other, name))
        for key, value in other.stats.items():
            if key == "features":
                self.stats[key] = value
            else:
                self.stats[key] = round(self.stats.get(key, 0) + value, 2)

    def arrays(self) -> Dict[str, Any]:
        import numpy as np

        return {
            "X": np.asarray(self.X, dtype=np.float32),
            "y": np.asarray(self.y, dtype=np.int8),
            "technique": np.asarray(self.technique, dtype=object),
            "campaign": np.asarray(self.campaign, dtype=object),
            "scenario": np.asarray(self.scenario, dtype=object),
            "account": np.asarray(self.account, dtype=object),
            "time": np.asarray(self.time, dtype=np.float64),
            "mode": np.asarray(self.mode, dtype=object),
            "event_id": np.asarray(self.event_id, dtype=object),
        }


def featurize(
    records: Iterable[Dict[str, Any]],
    catalog: Optional[Catalog] = None,
    warmup_days: float = 7.0,
    hunting_window_days: float = 3.0,
    hunting_every_days: float = 7.0,
    labels: Optional[Dict[str, int]] = None,
    max_memory_rows: int = 500_000,
) -> Dataset:
    """Feature rows for labelled records (any order); `labels` (eventID -> 0/1) overrides `_label`."""
    catalog = catalog or Catalog.load()
    normalizer = Normalizer(catalog)
    # (time, eventID, record number, Event, labels): `EventWalk` orders ties on (time, eventID) by content
    sorter = EventSorter(max_items=max_memory_rows)
    started = time.perf_counter()
    bad = 0
    n = 0
    t_min, t_max = float("inf"), float("-inf")
    for rec in records:
        n += 1
        try:
            ev = normalizer.normalize(rec)
        except NormalizeError:
            bad += 1
            continue
        label = int(rec.get("_label") or 0)
        if labels is not None and ev.event_id in labels:
            label = labels[ev.event_id]
        meta = (
            label,
            str(rec.get("_technique") or ""),
            str(rec.get("_campaign") or ""),
            str(rec.get("_scenario") or ""),
        )
        sorter.add((ev.time, ev.event_id, n, ev, meta))
        t_min, t_max = min(t_min, ev.time), max(t_max, ev.time)
    read_seconds = time.perf_counter() - started

    # A short export still gets a warm-up (a quarter of its span) so no row is scored against almost no history.
    # Warm-up rows are dropped whatever their label: keeping attacks there but not benign rows would teach the
    # model that "identity barely seen" means attack.
    warmup = min(warmup_days * DAY, 0.25 * max(0.0, t_max - t_min))
    data = Dataset()
    scheduled = start_state(catalog)
    hunting: Optional[FeatureState] = None
    hunt_start = hunt_end = None
    t0: Optional[float] = None
    walk = EventWalk(sorter.sorted(), scheduled)
    for item, ev, row, first in walk:
        if first is not None:  # a true re-delivery: one training row
            continue
        t, event_id, (label, technique, campaign, scenario) = item[0], item[1], item[4]
        if t0 is None:
            t0 = t
            hunt_start = t0 + warmup
            hunt_end = hunt_start + hunting_window_days * DAY
        if t >= t0 + warmup:
            data.append(row, label, technique, campaign, ev.account, t, "scheduled", event_id, scenario)
        if hunting_window_days > 0 and hunt_start is not None:
            while t >= hunt_end:  # type: ignore[operator]
                hunt_start += hunting_every_days * DAY
                hunt_end = hunt_start + hunting_window_days * DAY
                hunting = None
            if t >= hunt_start:
                if hunting is None:
                    hunting = FeatureState(catalog)
                data.append(
                    hunting.process(ev),
                    label,
                    technique,
                    campaign,
                    ev.account,
                    t,
                    "hunting",
                    event_id,
                    scenario,
                )
    data.stats = {
        "records": n,
        "unreadable": bad,
        "rows": len(data),
        "attack_rows": sum(data.y),
        "read_seconds": round(read_seconds, 2),
        "featurize_seconds": round(time.perf_counter() - started - read_seconds, 2),
        "features": len(FEATURE_NAMES),
    }
    return data


def featurize_orgs(
    record_sets: Sequence[Iterable[Dict[str, Any]]], labels: Optional[Dict[str, int]] = None
) -> Dataset:
    """One dataset from several organisations: each is featurised with its own causal state (histories are never
    mixed: an identity of one organisation is no baseline for another), then appended."""
    data = featurize(record_sets[0], labels=labels)
    for more in record_sets[1:]:
        data.extend(featurize(more, labels=labels))
    return data
