"""The baseline profile: what the engine knows about every identity before the events it is asked to score.

It holds aggregates only (counts, first/last seen, hour histograms), so it can be built three ways that agree:
by the engine itself over history (`ctad baseline build`, `run.profile` after a detect run), from Splunk's
distributed `stats` rows (`add_aggregate`, used by `| ctadbaseline`), or loaded from a file / lookup / KV store.
Recent 1-hour windows are kept too when the engine built the profile, so a scheduled run that starts where the
profile ends gets exactly the answer a replay would.
"""

from __future__ import annotations

import gc
import gzip
import json
import math
import time as _time
import zlib
from collections import deque
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Callable, Dict, Iterable, Iterator, List, Optional, Set, Tuple, Union

from ctad.core import bounded
from ctad.core.errors import CtadError
from ctad.core.features import (
    DAY,
    KINDS,
    WIN_LONG,
    WIN_SHORT,
    FeatureState,
    IdentityState,
    SourceState,
    history_key,
)
from ctad.core.schema import Event

FORMAT_VERSION = 1
MIN_TRUSTED_DAYS = 7  # practitioners (and Splunk's own UBA content) trust a baseline after a week of data
MAX_COUNT = 10**12  # more calls than any identity makes in a retention window: a bigger count is corrupt
# Values a baseline keeps per identity and kind. A CI role meets hundreds of runner addresses a month and an attacker
# can spray addresses or user agents: beyond the cap the least recently seen values are forgotten when the
# baseline is pruned (they look new again, as after the retention), so no identity grows the baseline unbounded.
MAX_SEEN = {"api": 2048, "ip": 512, "net": 256, "uaf": 64, "region": 64, "key": 64, "action": 1024}


def _finite(value: Any) -> Optional[float]:
    """`value` as a finite float, or None (text, NaN, inf, 1e400, None: never a count or a time)."""
    if isinstance(value, bool):
        return None
    try:
        out = float(value)
    except (TypeError, ValueError, OverflowError):
        return None
    return out if math.isfinite(out) else None


def _shape_problem(data: Dict[str, Any]) -> str:
    """What makes a loaded profile's structure unusable by `to_state` ("" when nothing does).

    Only shapes are checked (containers, list lengths): the numbers in them are bounded when the engine takes
    them in. An edited or damaged file then fails with one clear message instead of a KeyError mid-run.
    """

    def is_list(v: Any, n: int) -> bool:
        return isinstance(v, list) and len(v) >= n

    for name in ("identities", "apis", "sources"):
        if not isinstance(data.get(name), dict):
            return f"'{name}' is not an object"
    if not all(is_list(v, 2) for v in data["apis"].values()):
        return "an 'apis' entry is not a [count, identities] list"
    for v in data["sources"].values():
        if not is_list(v, 2) or not all(isinstance(x, list) for x in v[2:4]):
            return "a 'sources' entry is not a [count, identities, ...] list"
    for key, ident in data["identities"].items():
        if not isinstance(ident, dict) or not all(
            k in ident for k in ("n", "first", "last", "hours", "seen")
        ):
            return f"identity {str(key)[:80]!r} lacks n/first/last/hours/seen"
        seen = ident["seen"]
        if not isinstance(ident["hours"], list) or not isinstance(seen, dict):
            return f"identity {str(key)[:80]!r}: hours or seen has the wrong type"
        for kind in KINDS:
            table = seen.get(kind, {})
            if not isinstance(table, dict) or not all(is_list(e, 3) for e in table.values()):
                return f"identity {str(key)[:80]!r}: seen {kind} entries are not [count, first, last] lists"
        for name, width in (("win_long", 3), ("win_short", 2), ("novel", 0)):
            entries = ident.get(name, [])
            if not isinstance(entries, list) or width and not all(is_list(e, width) for e in entries):
                return f"identity {str(key)[:80]!r}: {name} is not a list (of lists of {width})"
    return ""


def _merge_sighting(table: Dict[str, Any], value: str, entry: List[Any]) -> None:
    """Add a [count, first, last] sighting to `table[value]` (the sum capped at MAX_COUNT)."""
    have = table.get(value)
    if have is None:
        table[value] = list(entry)
        return
    have[0] = min(bounded.count(have[0]) + bounded.count(entry[0]), MAX_COUNT)
    have[1] = min(have[1], entry[1])
    have[2] = max(have[2], entry[2])


def fold_session_keys(identities: Dict[str, Any]) -> int:
    """Fold the temporary access keys a baseline written before `history_key` holds into their kind ("ASIA*"),
    in place; returns how many entries went. A stored baseline then sheds its per-session rows on its next
    rewrite instead of carrying them for the whole retention."""
    removed = 0
    for ident in identities.values():
        table = ident.get("seen", {}).get("key")
        if not table or all(history_key(k) == k for k in table):
            continue
        folded: Dict[str, Any] = {}
        for value, entry in table.items():
            _merge_sighting(folded, history_key(value), entry)
        removed += len(table) - len(folded)
        ident["seen"]["key"] = folded
    return removed


def drop_untooled_actions(identities: Dict[str, Any]) -> int:
    """Drop the "action" entries a baseline written before `action_key` named the tool holds ("api|flag", no
    "#family"), in place; returns how many went. No event can match them any more, so they would only take room
    for their whole retention; the engine relearns each identity's routine, per tool, from its next events."""
    removed = 0
    for ident in identities.values():
        table = ident.get("seen", {}).get("action")
        if not table:
            continue
        old = [value for value in table if "#" not in value]
        for value in old:
            del table[value]
        removed += len(old)
    return removed


def _evict_least_recent(table: Dict[str, Any], limit: int) -> int:
    """Keep the `limit` most recently seen values of a sighting table (ties: more calls, then the value, so the
    outcome never depends on the table's order); returns how many went."""
    extra = len(table) - limit
    if extra <= 0:
        return 0
    order = sorted(table.items(), key=lambda item: (_seconds(item[1][2]), bounded.count(item[1][0]), item[0]))
    for value, _ in order[:extra]:
        del table[value]
    return extra


def _seconds(value: Any) -> float:
    """A time from a profile as a finite float (0.0 when it is not one): the feature code subtracts times."""
    if type(value) is float and -bounded.MAX_ABS_SECONDS <= value <= bounded.MAX_ABS_SECONDS:
        return value  # the common case, as bounded.seconds would return it (NaN and inf fail the comparison)
    return bounded.seconds(value, 0.0)  # type: ignore[return-value]


class ProfileError(CtadError, ValueError):
    """A baseline profile file cannot be read, is not a ctad profile, or is damaged; the message names the file."""


def _count(value: Any) -> int:
    """`bounded.count`, with the profile's own in-range ints returned as they are (the same result, faster)."""
    if type(value) is int and 0 <= value <= MAX_COUNT:
        return value
    return bounded.count(value)


@contextmanager
def _gc_paused() -> Iterator[None]:
    """Loading a baseline allocates millions of small lists and dicts that hold no reference cycles, and the
    cyclic collector would walk the growing heap again and again for nothing (about 40 % of the load time at
    1,000 identities, more as the heap grows: bench/bench_baseline.py). Paused while loading, then restored."""
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if enabled:
            gc.enable()


class Profile:
    """Plain-data baseline; `to_state` turns it into the engine's working state and `from_state` back."""

    def __init__(self, data: Optional[Dict[str, Any]] = None) -> None:
        self.data: Dict[str, Any] = data or {
            "version": FORMAT_VERSION,
            "identities": {},
            "apis": {},
            "sources": {},
            "total": 0,
            "first_time": None,
            "last_time": None,
        }
        # (kind, identity, value) of every row `add_aggregate` changed, when a caller wants them (None: not kept):
        # an incremental update writes only those rows (`to_rows(only=...)`)
        self.touched: Optional[Set[Tuple[str, str, str]]] = None

    # ------------------------------------------------------------------------------------------ summary
    @property
    def total(self) -> int:
        return bounded.count(self.data.get("total"))

    def time_range(self) -> Tuple[Optional[float], Optional[float]]:
        """(first, last) event time the profile covers, each a time CloudTrail can have written.

        A profile saved before implausible times were refused (or built by other tools) may say 1970 or 2199:
        such a bound is ignored and taken from the identities' own plausible times instead, so a stray date never
        makes an hour of history look like a trusted baseline, nor prunes every identity as stale."""
        latest = bounded.latest_plausible()

        def plausible(value: Any) -> Optional[float]:
            t = bounded.seconds(value)
            return t if t is not None and not bounded.implausible_time(t, latest) else None

        first, last = plausible(self.data.get("first_time")), plausible(self.data.get("last_time"))
        if (first is None) != (self.data.get("first_time") is None) or (last is None) != (
            self.data.get("last_time") is None
        ):
            firsts = [t for t in (plausible(i.get("first")) for i in self.data["identities"].values()) if t]
            lasts = [t for t in (plausible(i.get("last")) for i in self.data["identities"].values()) if t]
            first = first if first is not None else min(firsts, default=None)
            last = last if last is not None else max(lasts, default=None)
        return first, last

    @property
    def span_days(self) -> float:
        first, last = self.time_range()
        if first is None or last is None:
            return 0.0
        return max(0.0, last - first) / DAY

    @property
    def trusted(self) -> bool:
        """False while the history is shorter than a week: novelty features are then weak evidence."""
        return self.span_days >= MIN_TRUSTED_DAYS

    @property
    def open_incidents(self) -> Any:
        """The open entity incidents the run that saved this profile left (`IncidentTracker.export`), as stored:
        untrusted until `incidents.read_open_incidents` has checked them. None for a baseline saved before
        incidents continued across runs, or built without detection (`ctad baseline build`, `| ctadbaseline`)."""
        return self.data.get("incidents")

    @open_incidents.setter
    def open_incidents(self, entries: List[Dict[str, Any]]) -> None:
        self.data["incidents"] = entries

    def describe(self) -> Dict[str, Any]:
        return {
            "events": self.total,
            "identities": len(self.data["identities"]),
            "span_days": round(self.span_days, 2),
            "trusted": self.trusted,
            "first_time": self.data.get("first_time"),
            "last_time": self.data.get("last_time"),
        }

    # ------------------------------------------------------------------------------------- state bridge
    def to_state(self, catalog: Any) -> FeatureState:
        """The engine's working state. Every number is bounded here (`ctad.core.bounded`), on the way in, so the
        feature code can rely on finite, non-negative counts and finite times whatever the profile holds."""
        with _gc_paused():
            return self._to_state(catalog)

    def _to_state(self, catalog: Any) -> FeatureState:
        count, when = _count, _seconds
        state = FeatureState(catalog)
        d = self.data
        state.total = count(d.get("total"))
        # kept as stored (int or float) when finite: a profile saved again must come out the same
        state.first_time = d.get("first_time") if bounded.seconds(d.get("first_time")) is not None else None
        state.last_time = d.get("last_time") if bounded.seconds(d.get("last_time")) is not None else None
        state.apis = {k: [count(v[0]), count(v[1])] for k, v in d["apis"].items()}
        for ip, v in d["sources"].items():
            src = SourceState()
            src.n, src.identities = count(v[0]), count(v[1])
            for t in v[2] if len(v) > 2 else ():
                src.win_short.append(when(t))
            for t in v[3] if len(v) > 3 else ():
                src.win_denied.append(when(t))
            state.sources[ip] = src
        for key, v in d["identities"].items():
            st = IdentityState()
            st.n = count(v["n"])
            st.first = when(v["first"])
            st.last = when(v["last"])
            st.hours = ([count(h) for h in v["hours"]] + [0] * 24)[:24]  # features index it by hour
            st.weekend = count(v.get("weekend", 0))
            for kind in KINDS:
                st.table(kind).update(
                    {val: [count(e[0]), when(e[1]), when(e[2])] for val, e in v["seen"].get(kind, {}).items()}
                )
            for t, api, denied in v.get("win_long", ()):
                st.win_long.append((when(t), api, bool(denied)))
                st.win_api[api] = st.win_api.get(api, 0) + 1
                st.denied_long += bool(denied)
            for t, err in v.get("win_short", ()):
                st.win_short.append((when(t), bool(err)))
                st.errors_short += bool(err)
            if st.n > 0:
                state.active += 1
            st.novel = deque(when(t) for t in v.get("novel", ()))
            state.identities[key] = st
        return state

    @classmethod
    def from_state(cls, state: FeatureState) -> Profile:
        identities: Dict[str, Any] = {}
        end = state.last_time or 0.0
        for key, st in state.identities.items():
            item: Dict[str, Any] = {
                "n": st.n,
                "first": st.first,
                "last": st.last,
                "hours": list(st.hours),
                "weekend": st.weekend,
                "seen": {kind: {val: list(e) for val, e in st.table(kind).items()} for kind in KINDS},
            }
            recent_long = [list(x) for x in st.win_long if x[0] > end - WIN_LONG]
            if recent_long:
                item["win_long"] = recent_long
                item["win_short"] = [list(x) for x in st.win_short if x[0] > end - WIN_SHORT]
                item["novel"] = [t for t in st.novel if t > end - WIN_LONG]
            identities[key] = item
        sources: Dict[str, Any] = {}
        for ip, src in state.sources.items():
            entry: List[Any] = [src.n, src.identities]
            short = [t for t in src.win_short if t > end - WIN_SHORT]
            denied = [t for t in src.win_denied if t > end - WIN_LONG]
            if short or denied:
                entry += [short, denied]
            sources[ip] = entry
        return cls(
            {
                "version": FORMAT_VERSION,
                "identities": identities,
                "apis": {k: list(v) for k, v in state.apis.items()},
                "sources": sources,
                "total": state.total,
                "first_time": state.first_time,
                "last_time": state.last_time,
            }
        )

    # ------------------------------------------------------------------------------ Splunk aggregates
    def add_aggregate(
        self,
        event: Event,
        count: int,
        first: float,
        last: float,
        hour: Optional[int] = None,
        weekend_count: Optional[int] = None,
        action: Optional[str] = None,
    ) -> None:
        """Merge one `stats count min(_time) max(_time) by ...` row, keyed the way detection keys events.

        `action` is the row's "action" history key (`ctad.core.features.routine_key`: a sensitive API through one
        user-agent family), None for the rest; the caller has the catalogue that knows which APIs are sensitive.
        A stats row has no request parameters, so a flagged request's own history (`api|public#family`) is never
        learned here: such a request stays a first time until the engine itself has seen it.

        The numbers come from a search's results: bounded here (`ctad.core.bounded`, then MAX_COUNT for every count and
        sum, the bound `from_rows` checks), so a forged count or hour can neither raise nor grow the profile without
        limit, and the profile reads back as written; times must be plausible (the caller checks them)."""
        count = min(bounded.count(count), MAX_COUNT)  # Splunk's stats never counts this high: a corrupt row
        if count <= 0:
            return

        def plus(total: Any) -> int:
            # sums stay within the bound `from_rows` checks, so a profile written here reads back unclamped; the
            # profile's own ints (from_rows and this method write nothing else) skip the general bound
            if type(total) is not int or total < 0:
                total = bounded.count(total)
            total += count
            return total if total < MAX_COUNT else MAX_COUNT

        d = self.data
        touched = self.touched
        ident = d["identities"].get(event.identity)
        if ident is None:
            ident = {
                "n": 0,
                "first": first,
                "last": last,
                "hours": [0] * 24,
                "weekend": 0,
                "seen": {k: {} for k in KINDS},
            }
            d["identities"][event.identity] = ident
        ident["n"] = plus(ident["n"])
        ident["first"] = min(ident["first"], first)
        ident["last"] = max(ident["last"], last)
        h = bounded.whole(hour) % 24 if hour is not None else bounded.whole(last // 3600) % 24
        ident["hours"][h] = plus(ident["hours"][h])
        if weekend_count is not None:  # the weekend calls are some of this row's calls
            weekend = min(bounded.count(weekend_count), count)
            ident["weekend"] = min(bounded.count(ident.get("weekend")) + weekend, MAX_COUNT)
        api = event.source + ":" + event.name
        new_api = api not in ident["seen"]["api"]
        new_ip = event.ip not in ident["seen"]["ip"]
        for kind, value in (
            ("api", api),
            ("ip", event.ip),
            ("net", event.net),
            ("uaf", event.ua_family),
            ("region", event.region),
            ("key", history_key(event.access_key)),  # a session key is history by its kind only
            ("action", action or ""),
        ):
            if not value and kind in ("region", "key", "action"):
                continue
            table = ident["seen"].setdefault(kind, {})
            entry = table.get(value)
            if entry is None:
                table[value] = [count, first, last]
            else:
                entry[0] = plus(entry[0])
                if first < entry[1]:
                    entry[1] = first
                if last > entry[2]:
                    entry[2] = last
            if touched is not None:
                touched.add((kind, event.identity, value))
        g = d["apis"].setdefault(api, [0, 0])
        g[0] = plus(g[0])
        g[1] += 1 if new_api else 0
        s = d["sources"].setdefault(event.ip, [0, 0])
        s[0] = plus(s[0])
        s[1] += 1 if new_ip else 0
        if touched is not None:
            touched.update((("id", event.identity, ""), ("gapi", "", api), ("gsrc", "", event.ip)))
        d["total"] = plus(d.get("total"))
        d["first_time"] = first if d.get("first_time") is None else min(d["first_time"], first)
        d["last_time"] = last if d.get("last_time") is None else max(d["last_time"], last)

    def prune(self, retention_days: float, now: Optional[float] = None) -> int:
        """Forget sightings older than the retention, and each identity's least recently seen values beyond
        MAX_SEEN; then the estate-wide API and source entries no remaining identity has seen (without this they
        were never pruned and an hourly merge grew them for ever). Returns how many entries went."""
        # the newest event (a plausible one: a stored 2199 must not prune everything), else the clock
        end = now if now is not None else (self.time_range()[1] or _time.time())
        cut = end - retention_days * DAY
        removed = 0
        live: Dict[str, Set[str]] = {"api": set(), "ip": set()}
        for key in list(self.data["identities"]):
            ident = self.data["identities"][key]
            if ident["last"] < cut:
                del self.data["identities"][key]
                removed += 1
                continue
            for kind in KINDS:
                table = ident["seen"].get(kind) or {}  # a profile saved before a kind existed has none
                for value in [v for v, e in table.items() if e[2] < cut]:
                    del table[value]
                    removed += 1
                removed += _evict_least_recent(table, MAX_SEEN[kind])
                if kind in live:
                    live[kind].update(table)
        for name, kind in (("apis", "api"), ("sources", "ip")):
            table = self.data[name]
            for value in [v for v in table if v not in live[kind]]:
                del table[value]
                removed += 1
        return removed

    # ------------------------------------------------------------------------------------ persistence
    def save(self, path: Union[str, Path]) -> None:
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        text = json.dumps(self.data, separators=(",", ":"))
        tmp = path.with_name(path.name + ".tmp")
        if path.suffix == ".gz":
            with gzip.open(tmp, "wt", encoding="utf-8") as fh:
                fh.write(text)
        else:
            tmp.write_text(text, encoding="utf-8")
        tmp.replace(path)

    @classmethod
    def load(cls, path: Union[str, Path]) -> Profile:
        path = Path(path)
        try:
            with open(path, "rb") as fh:
                magic = fh.read(2)
            opener = gzip.open if magic == b"\x1f\x8b" else open
            with opener(path, "rt", encoding="utf-8") as fh:  # type: ignore[operator]
                data = json.load(fh)
        except (OSError, ValueError, EOFError, zlib.error, RecursionError) as exc:
            # EOFError: a truncated .gz (a copy cut short, a full disk); zlib.error: corrupt deflate data
            raise ProfileError(f"cannot read baseline profile {path}: {exc}") from None
        if not isinstance(data, dict) or data.get("version") != FORMAT_VERSION or "identities" not in data:
            raise ProfileError(f"{path} is not a ctad baseline profile (version {FORMAT_VERSION})")
        problem = _shape_problem(data)
        if problem:
            raise ProfileError(f"{path} is a damaged ctad baseline profile: {problem}")
        fold_session_keys(data["identities"])
        drop_untooled_actions(data["identities"])
        return cls(data)

    # --------------------------------------------------------------------------- flat rows (lookups)
    def to_rows(self, only: Optional[Iterable[Tuple[str, str, str]]] = None) -> Iterator[Dict[str, Any]]:
        """Flat rows for a CSV lookup or KV store collection: kind, identity, value, count, first, last, extra.

        `only` (the `touched` set of an update): the meta row and just those rows, in sorted order, for an
        incremental write that leaves the collection's other rows alone; a row pruned since is left out."""
        d = self.data
        yield {"kind": "meta", "identity": "", "value": json.dumps({k: d.get(k) for k in ("version", "total", "first_time", "last_time")}),
               "count": d.get("total") or 0, "first": d.get("first_time") or "", "last": d.get("last_time") or "", "extra": ""}  # fmt: skip
        if only is not None:
            for kind, key, value in sorted(only):
                row = self._row(kind, key, value)
                if row is not None:
                    yield row
            return
        for api, (count, ids) in d["apis"].items():
            yield {
                "kind": "gapi",
                "identity": "",
                "value": api,
                "count": count,
                "first": "",
                "last": "",
                "extra": ids,
            }
        for ip, v in d["sources"].items():
            yield {
                "kind": "gsrc",
                "identity": "",
                "value": ip,
                "count": v[0],
                "first": "",
                "last": "",
                "extra": v[1],
            }
        for key, ident in d["identities"].items():
            yield {"kind": "id", "identity": key, "value": ",".join(str(h) for h in ident["hours"]),
                   "count": ident["n"], "first": ident["first"], "last": ident["last"], "extra": ident.get("weekend", 0)}  # fmt: skip
            for kind in KINDS:
                for value, (count, first, last) in (ident["seen"].get(kind) or {}).items():
                    yield {
                        "kind": kind,
                        "identity": key,
                        "value": value,
                        "count": count,
                        "first": first,
                        "last": last,
                        "extra": "",
                    }

    def _row(self, kind: str, key: str, value: str) -> Optional[Dict[str, Any]]:
        """The one row `to_rows` writes for (kind, identity, value), or None when the profile no longer holds it."""
        d = self.data
        if kind in ("gapi", "gsrc"):
            entry = d["apis" if kind == "gapi" else "sources"].get(value)
            if entry is None:
                return None
            return {"kind": kind, "identity": "", "value": value, "count": entry[0], "first": "", "last": "",
                    "extra": entry[1]}  # fmt: skip
        ident = d["identities"].get(key)
        if ident is None:
            return None
        if kind == "id":
            return {"kind": "id", "identity": key, "value": ",".join(str(h) for h in ident["hours"]),
                    "count": ident["n"], "first": ident["first"], "last": ident["last"], "extra": ident.get("weekend", 0)}  # fmt: skip
        entry = (ident["seen"].get(kind) or {}).get(value)
        if entry is None:
            return None
        return {"kind": kind, "identity": key, "value": value, "count": entry[0], "first": entry[1],
                "last": entry[2], "extra": ""}  # fmt: skip

    @classmethod
    def from_rows(cls, rows: Iterable[Dict[str, Any]], problems: Optional[Dict[str, int]] = None) -> Profile:
        """The profile `to_rows` wrote, read back from a lookup or the KV store, which anyone can edit.

        Every row is checked: a count that is not a finite number, or a time that is not one, makes the row
        unusable (it is left out); a negative count becomes 0 and a huge one MAX_COUNT, so the feature code's
        log/exp never see them. What was left out or clamped is counted in `problems` (reason -> rows), for the
        caller to tell the user; a bad row never raises.
        """
        profile = cls()
        found: Dict[str, int] = problems if problems is not None else {}

        def problem(reason: str) -> None:
            found[reason] = found.get(reason, 0) + 1

        def count(v: Any) -> Optional[int]:
            if type(v) is int and 0 <= v <= MAX_COUNT:  # what the KV store gives back for a count
                return v
            n = _finite(v)
            if n is None:
                problem("count is not a finite number")
                return None
            if n < 0 or n > MAX_COUNT:
                problem("count out of range (clamped)")
            return int(min(max(n, 0.0), MAX_COUNT))

        def when(v: Any, optional: bool = False) -> Optional[float]:
            if type(v) is float and -math.inf < v < math.inf:  # the KV store's times (NaN fails this too)
                return v
            if optional and (v is None or v == ""):
                return None
            t = _finite(v)
            if t is None:
                problem("time is not a finite number")
            return t

        with _gc_paused():
            for row in rows:
                profile._from_row(row, count, when, problem)
        return profile

    def _from_row(
        self,
        row: Any,
        count: Callable[[Any], Optional[int]],
        when: Callable[..., Optional[float]],
        problem: Callable[[str], None],
    ) -> None:
        """One row of `from_rows` into this profile, with its checks (see there)."""
        d = self.data
        if not isinstance(row, dict):
            problem("row is not an object")
            return
        kind = row.get("kind")
        key = str(row.get("identity") or "")
        value = row.get("value")
        if kind == "meta":
            try:
                meta = json.loads(value) if isinstance(value, str) else None
            except ValueError:
                meta = None
            if not isinstance(meta, dict):
                problem("meta row value is not a JSON object")
                return
            total = count(meta.get("total") or 0)
            first, last = when(meta.get("first_time"), True), when(meta.get("last_time"), True)
            if (total or 0) < d["total"]:  # a duplicate meta row (see below): the larger total wins
                return
            d["total"] = total or 0
            d["first_time"], d["last_time"] = first, last
        elif kind in ("gapi", "gsrc"):
            if value is None or value == "":
                problem(f"{kind} row without value")
                return
            n, ids = count(row.get("count")), count(row.get("extra") or 0)
            if n is None or ids is None:
                return
            table = d["apis" if kind == "gapi" else "sources"]
            have = table.get(str(value))
            if have is None or n >= have[0]:  # a duplicate (see below): the larger count is the newer
                table[str(value)] = [n, ids]
        elif kind == "id":
            hours = [count(h) for h in str(value or "").split(",")[:24]] if value not in (None, "") else []
            n, weekend = count(row.get("count")), count(row.get("extra") or 0)
            first, last = when(row.get("first")), when(row.get("last"))
            if not key or n is None or weekend is None or first is None or last is None or None in hours:
                if not key:
                    problem("id row without identity")
                return
            hours += [0] * (24 - len(hours))
            ident = d["identities"].setdefault(key, {"seen": {k: {} for k in KINDS}})
            if ident.get("n", 0) <= n:  # a duplicate (see below): the one with more events is the newer
                ident.update(n=n, first=first, last=last, hours=hours, weekend=weekend)
        elif kind in KINDS:
            n, first, last = count(row.get("count")), when(row.get("first")), when(row.get("last"))
            if not key or n is None or first is None or last is None:
                if not key:
                    problem(f"{kind} row without identity")
                return
            ident = d["identities"].setdefault(key, {"n": 0, "first": first, "last": last, "hours": [0] * 24,
                                                     "weekend": 0, "seen": {k: {} for k in KINDS}})  # fmt: skip
            text = str(value if value is not None else "")
            table = ident["seen"].setdefault(kind, {})
            if kind == "key":  # written before history_key: session keys fold into their kind
                _merge_sighting(table, history_key(text), [n, first, last])
                return
            have = table.get(text)
            # A collection written before rows had stable keys and then updated incrementally holds a value
            # twice until its next full rebuild: the newer sighting (later last, then more calls) wins.
            if have is None or (last, n) >= (have[2], have[0]):
                table[text] = [n, first, last]
        else:
            problem("unknown kind")
