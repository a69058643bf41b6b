"""Benchmark `FeatureState.process`, the serial critical path of detection, against another git revision.

Streams simulated S3 CloudTrail files (as written by bench_detect.py) through the feature state in
(time, eventID) order with gc disabled and reports µs/event for this tree and for `--ref` (default aaa392f, before the tuning),
interleaved in one process because the host is noisy. It also checks the two give identical rows and state,
from an empty state and from a profile built over the first half (which exercises restored windows).

    .venv/bin/python bench/bench_features.py [--data DIR]
"""

from __future__ import annotations

import argparse
import gc
import gzip
import hashlib
import importlib.util
import pickle
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import orjson
from ctad.core import features as new
from ctad.core import normalize as normalize_mod
from ctad.core import profile as profile_mod
from ctad.core.catalog import Catalog
from ctad.core.normalize import Normalizer
from ctad.core.profile import Profile
from sample_data import sample_data


def load_events(data: Path, catalog):
    # outside the data folder, and redone when the normaliser changes
    version = hashlib.sha1(Path(normalize_mod.__file__).read_bytes()).hexdigest()[:10]
    cache = Path(tempfile.gettempdir()) / f"ctad-features-events-{data.name}-{version}.pkl"
    if cache.exists():
        return pickle.loads(cache.read_bytes())
    norm = Normalizer(catalog).from_raw
    events = []
    for path in sorted(data.rglob("*.json.gz")):
        with gzip.open(path, "rb") as fh:
            events.extend(norm(r) for r in orjson.loads(fh.read())["Records"])
    events.sort(key=lambda e: (e.time, e.event_id))
    cache.write_bytes(pickle.dumps(events, protocol=pickle.HIGHEST_PROTOCOL))
    return events


def load_ref(ref: str):
    root = Path(__file__).resolve().parent.parent
    text = subprocess.run(["git", "show", f"{ref}:app/ctad/core/features.py"], cwd=root, check=True, capture_output=True,
                          text=True).stdout  # fmt: skip
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "features_ref.py"
        path.write_text(text)
        # named inside the ctad package so its relative imports resolve
        spec = importlib.util.spec_from_file_location("ctad._features_ref", path)
        mod = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(mod)
    return mod


def timed(mods, catalog, events, rounds: int, chunk: int = 2000):
    """Seconds per module: each module's state walks the stream in lockstep, chunk by chunk, alternating which
    goes first; per chunk the fastest of `rounds` passes counts, so a burst of noise spoils one chunk of one pass."""
    chunks = [events[i : i + chunk] for i in range(0, len(events), chunk)]
    best = {name: [float("inf")] * len(chunks) for name in mods}
    clock = time.perf_counter
    for r in range(rounds):
        states = {name: mod.FeatureState(catalog) for name, mod in mods.items()}
        order = list(states.items())
        gc.disable()
        try:
            for i, part in enumerate(chunks):
                for name, state in order if (i + r) % 2 == 0 else order[::-1]:
                    process = state.process
                    started = clock()
                    for ev in part:
                        process(ev)
                    elapsed = clock() - started
                    if elapsed < best[name][i]:
                        best[name][i] = elapsed
        finally:
            gc.enable()
        del states
        gc.collect()
    return {name: sum(times) for name, times in best.items()}


def same_row(a, b) -> bool:
    return len(a) == len(b) and all((x != x and y != y) or x == y for x, y in zip(a, b))


def to_state(mod, profile: Profile, catalog):
    """Profile.to_state building `mod`'s classes (the profile module imports them by name)."""
    saved = profile_mod.FeatureState, profile_mod.IdentityState, profile_mod.SourceState
    profile_mod.FeatureState, profile_mod.IdentityState, profile_mod.SourceState = (
        mod.FeatureState, mod.IdentityState, mod.SourceState)  # fmt: skip
    try:
        return profile.to_state(catalog)
    finally:
        profile_mod.FeatureState, profile_mod.IdentityState, profile_mod.SourceState = saved


def compare(old, catalog, events, start=None) -> int:
    a = to_state(old, start, catalog) if start else old.FeatureState(catalog)
    b = to_state(new, start, catalog) if start else new.FeatureState(catalog)
    bad = 0
    for ev in events:
        if not same_row(a.process(ev), b.process(ev)):
            bad += 1
            if bad <= 3:
                print("  row differs:", ev)
    if Profile.from_state(a).data != Profile.from_state(b).data:
        print("  state differs")
        bad += 1
    return bad


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data", type=Path, help="simulated S3 files (default: bench_detect.py's 250k set)")
    ap.add_argument("--ref", default="aaa392f", help="git revision to compare against")
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument("--limit", type=int, default=0, help="use only the first N events")
    ap.add_argument("--no-check", action="store_true")
    args = ap.parse_args()

    catalog = Catalog.load()
    events = load_events(args.data or sample_data(), catalog)
    if args.limit:
        events = events[: args.limit]
    old = load_ref(args.ref)
    print(f"{len(events)} events, ref {args.ref}")

    if not args.no_check:
        half = len(events) // 2
        base = old.FeatureState(catalog)
        for ev in events[:half]:
            base.process(ev)
        profile = Profile(pickle.loads(pickle.dumps(Profile.from_state(base).data)))
        bad = compare(old, catalog, events) + compare(old, catalog, events[half:], profile)
        print("equivalence:", "identical" if not bad else f"{bad} differences")
        if bad:
            sys.exit(1)

    best = timed({"ref": old, "new": new}, catalog, events, args.rounds)
    per = {k: v / len(events) * 1e6 for k, v in best.items()}
    print(f"{args.ref}: {per['ref']:.2f} µs/event   this tree: {per['new']:.2f} µs/event   "
          f"speed-up {per['ref'] / per['new']:.2f}x  (best of {args.rounds} rounds per chunk)")  # fmt: skip


if __name__ == "__main__":
    main()
