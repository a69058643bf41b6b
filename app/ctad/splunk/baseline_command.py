"""`| ctadbaseline`: turn the `ctad_baseline_stats` macro's rows into baseline profile rows, on the search head.

    `cloudtrail_events` earliest=-30d@h latest=-2h@h | `ctad_baseline_stats`
    | ctadbaseline [retention_days=30] [merge=<bool>] [changed_only=<bool>] [collection=ctad_baseline]
    | outputlookup key_field=_key ctad_baseline

The heavy part (one pass over 30 days of CloudTrail) is Splunk's distributed `stats` on the indexers; this
command only folds the aggregate rows into a `ctad.core.profile.Profile` with `add_aggregate`, keyed exactly the way
detection keys events (each row becomes an Event through `ctad.core.normalize`, "-" = empty as `fillnull` wrote it).
Aggregation is order-independent, so rows are folded in as chunks arrive; the profile rows (`kind identity value
count first last extra`, `Profile.to_rows`) are written in the reply to the last chunk.

merge=true reads the existing collection first (KV store through splunkd REST with the getinfo session key) and
adds the new aggregates to it; the result is pruned to retention_days. Every row carries a stable `_key` (a hash of
kind, identity and value), so with changed_only=true the hourly update writes only the meta row and the rows its
hour changed (`outputlookup append=true key_field=_key` upserts them) instead of rewriting the whole collection; the
daily full build replaces the collection and so removes what the retention or the per-identity caps dropped. What a stats-built profile lacks compared
with one the engine builds over the same history: the last hour's sliding windows (rates, bursts, new-API count),
which only matter for events within an hour of the baseline's end (docs/splunk-commands.md).
"""

from __future__ import annotations

import csv
import hashlib
import io
import math
from typing import Any, Dict, List, Optional, Set, Tuple

from ctad.core.features import routine_key
from ctad.core.jsonio import utf8
from ctad.core.normalize import NormalizeError, Normalizer
from ctad.core.profile import MIN_TRUSTED_DAYS, Profile
from ctad.splunk import protocol as P
from ctad.splunk.lookups import (
    BaselineSourceError,
    SplunkRestError,
    clean_kv_row,
    read_collection,
    rest_client,
)

BY_FIELDS = (
    "userIdentity.type",
    "userIdentity.arn",
    "userIdentity.principalId",
    "userIdentity.accountId",
    "userIdentity.invokedBy",
    "userIdentity.accessKeyId",
    "userIdentity.userName",
    "userIdentity.sessionContext.sessionIssuer.arn",
    "recipientAccountId",
    "eventSource",
    "eventName",
    "sourceIPAddress",
    "userAgent",
    "awsRegion",
)
PROFILE_COLUMNS = ("kind", "identity", "value", "count", "first", "last", "extra", "_key")


def _first(value: Any) -> Any:
    return value[0] if isinstance(value, list) and value else value


def _num(value: Any, what: str) -> float:
    try:
        out = float(_first(value))
    except (TypeError, ValueError):
        raise NormalizeError(f"{what} is not a number: {str(value)[:40]!r}") from None
    if not math.isfinite(out):  # NaN, inf, 1e400: no count or time is
        raise NormalizeError(f"{what} is not a finite number")
    return out


def aggregate_row(profile: Profile, normalizer: Normalizer, row: Dict[str, Any]) -> None:
    """Fold one `ctad_baseline_stats` row into the profile; NormalizeError says why a row is unusable."""
    count = int(_num(row.get("count"), "count"))
    # An implausible first or last time (1970, 2199) would make the whole baseline look trusted or prune it.
    first = normalizer.check_time(_num(row.get("first"), "first"))
    last = normalizer.check_time(_num(row.get("last"), "last"))
    fields: Dict[str, Any] = {}
    for name in BY_FIELDS:
        value = _first(row.get(name))
        if value is not None and value != "-" and value != "":
            fields[name] = value
    fields["_time"] = last
    event = normalizer.from_flat(fields)
    hour_cell = _first(row.get("ctad_hour"))
    hour = int(_num(hour_cell, "ctad_hour")) if hour_cell not in (None, "", "-") else None
    wk = _first(row.get("weekend_count"))
    weekend = int(_num(wk, "weekend_count")) if wk not in (None, "", "-") else None
    api_risk = normalizer.catalog.api(event.source, event.name)
    action = routine_key(event.api, event.flags, event.ua_family, int(api_risk.risk or 0) if api_risk else 0)
    profile.add_aggregate(event, count, first, last, hour=hour, weekend_count=weekend, action=action)


def row_key(row: Dict[str, Any]) -> str:
    """A stable KV store `_key` for a profile row (`outputlookup key_field=_key`): the same (kind, identity, value)
    always lands on the same record, so an update can upsert the rows it changed instead of rewriting them all.
    Hashed because identities and values are long and attacker-written; the meta row is "meta"."""
    if row["kind"] == "meta":
        return "meta"
    text = "\x1f".join((str(row["kind"]), str(row["identity"]), str(row["value"])))
    return hashlib.blake2b(text.encode("utf-8", "surrogatepass"), digest_size=16).hexdigest()


def profile_csv(profile: Profile, only: Optional[Set[Tuple[str, str, str]]] = None) -> bytes:
    """The reply body: profile rows with their `_key`; with `only`, just the meta row and those rows."""
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\r\n")
    w.writerow(PROFILE_COLUMNS)
    columns = PROFILE_COLUMNS[:-1]
    for r in profile.to_rows(only):
        w.writerow(["" if r.get(c) is None else r.get(c) for c in columns] + [row_key(r)])
    return utf8(buf.getvalue())


class BaselineCommand(P.Command):
    name = "ctadbaseline"
    type = "stateful"
    options = {
        "retention_days": P.Option(P.number(1, 3650, integer=True), 30, "forget sightings older than this"),
        "merge": P.Option(P.boolean, False, "add to the existing collection instead of replacing it"),
        "collection": P.Option(P.name, "ctad_baseline", "KV store collection read when merge=true"),
        "changed_only": P.Option(
            P.boolean,
            False,
            "with merge=true, write only the rows this run changed (outputlookup append=true)",
        ),
    }

    def configure(self) -> None:
        from ctad.core.catalog import Catalog

        self.normalizer = Normalizer(Catalog.load())
        self.profile = Profile()
        self.rows = 0
        self.bad = 0
        self.bad_reasons: Dict[str, int] = {}
        if self.opts["merge"]:
            self.profile = self._existing()
            if self.opts["changed_only"]:
                self.profile.touched = set()
        elif self.opts["changed_only"]:
            raise P.CommandError(f"{self.name}: changed_only=true needs merge=true")

    def _existing(self) -> Profile:
        name = self.opts["collection"]
        rest = rest_client(self.info)
        if rest is None:
            raise P.CommandError(f"{self.name}: merge=true needs splunkd_uri and a session key in getinfo")
        try:
            rows: Optional[List[Dict[str, Any]]] = read_collection(rest, name)
        except (SplunkRestError, BaselineSourceError) as exc:
            raise P.CommandError(f"{self.name}: cannot read KV store collection {name}: {exc}") from None
        if not rows:
            self.messages.info(f"{self.name}: collection {name} is empty or missing: starting a new baseline")
            return Profile()
        return Profile.from_rows(clean_kv_row(r) for r in rows)

    def execute(self, body: bytes, finished: bool) -> Any:
        if body:
            header, reader = P.parse_csv(body)
            to_row = P.RowReader(header)
            width = len(header)
            for cells in reader:
                self.rows += 1
                if len(cells) != width:
                    self._bad(f"malformed CSV record ({len(cells)} cells for {width} columns)")
                    continue
                row = to_row(cells)
                try:
                    aggregate_row(self.profile, self.normalizer, row)
                except NormalizeError as exc:
                    self._bad(str(exc))
                except Exception as exc:  # an unforeseen row shape must not lose the baseline
                    self._bad(f"{type(exc).__name__}: {str(exc)[:120]}")
        if not finished:
            return b""
        return self._finish()

    def _bad(self, reason: str) -> None:
        self.bad += 1
        key = reason.split(":")[0][:80]
        self.bad_reasons[key] = self.bad_reasons.get(key, 0) + 1

    def _finish(self) -> bytes:
        removed = self.profile.prune(self.opts["retention_days"])
        if self.bad:
            top = "; ".join(
                f"{k} ({v})" for k, v in sorted(self.bad_reasons.items(), key=lambda x: -x[1])[:3]
            )
            self.messages.warn(f"{self.name}: {self.bad} of {self.rows} rows skipped: {top}")
        d = self.profile.describe()
        self.messages.info(
            f"{self.name}: {d['events']} events, {d['identities']} identities over {d['span_days']} days"
            f" ({removed} stale entries pruned)"
        )
        if d["events"] and not d["trusted"]:
            self.messages.warn(
                f"baseline has {d['span_days']:.1f} days of history (<{MIN_TRUSTED_DAYS}): novelty features are weak"
            )
        if self.rows == 0 and not self.opts["merge"]:
            self.messages.warn(
                f"{self.name}: no input rows: the baseline is empty (check the time range/macros)"
            )
        # changed_only: the rows this hour touched (upserted by _key); what the prune removed stays in the
        # collection until the next full build replaces it, and readers prune to their retention anyway
        return profile_csv(self.profile, self.profile.touched)


def main() -> None:
    P.dispatch(BaselineCommand())
