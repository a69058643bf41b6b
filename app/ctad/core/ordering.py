"""The one order the engine walks events in, and what counts as one event.

Features are causal, so every result depends on the order events are folded into the feature state. That order
must be a function of the events alone, never of how they arrived (Splunk sends newest first in chunks of any
size, S3 keys sort by account and region, a parallel run reads files in any order). The rule, written once here
and used by the single-process run, the parallel pipeline, `ctad baseline build` and training:

1. events are sorted by (eventTime, eventID, content), where content is the canonical text of the normalised
   event (`content_key`): a total order on what the engine reads, so no tie is ever broken by input position;
2. a true re-delivery (CloudTrail delivers some events twice) has the same time, eventID *and* content: it is
   folded into the state once and every copy gets the first copy's answer;
3. anything else is another event, even with the same eventID: an attacker (or a buggy exporter) reusing the
   eventID of a benign call must not inherit, or hand out, its result.

Callers sort by (eventTime, eventID, their own unique position) with `ctad.engine.spill.EventSorter` (or, in the
parallel pipeline, sorted runs merged); only events that tie on (eventTime, eventID), which are rare, are
re-ordered here by content, so the common case costs no more than it did. The walk starts from `start_state` (the
baseline's state, or an empty one) and `EventWalk.profile()` is what the walk leaves behind: the single-process
run, the parallel pipeline, `ctad baseline build` and training (`ctad.train.dataset.featurize`) all go through
these, so they cannot drift apart. Standard library only (search-time path).
"""

from __future__ import annotations

import itertools
import json
import operator
from typing import Any, Callable, Iterable, Iterator, List, Optional, Sequence, Tuple

from ctad.core.features import FeatureState
from ctad.core.profile import Profile
from ctad.core.schema import Event

# ensure_ascii: the text is the same on every Python version and with or without orjson (lone surrogates and
# characters new to a Unicode version are escaped, not printed); floats are spelled by repr on every version.
_ENCODE = json.JSONEncoder(ensure_ascii=True, check_circular=False, separators=(",", ":")).encode

Step = Tuple[Any, Optional[Event], Optional[List[float]], Any]


def content_key(values: Sequence[Any]) -> str:
    """The canonical text of an event's content (`Event.to_tuple()`): equal exactly when the events are equal,
    and ordered the same way on every Python version, process and door (CLI, Splunk, Elastic)."""
    return _ENCODE(values)


# The Event of an item of the usual shape, (eventTime, eventID, position, Event, ...extra); an itemgetter, as it
# runs once per event.
item_event: Callable[[Any], Event] = operator.itemgetter(3)


def item_values(item: Sequence[Any]) -> Tuple[Any, ...]:
    """The content tuple of an item of the usual shape (see `item_event`)."""
    return item[3].to_tuple()


def start_state(catalog: Any, profile: Optional[Profile] = None) -> FeatureState:
    """The feature state a walk folds into: the baseline's history when there is one, else none (hunting)."""
    return profile.to_state(catalog) if profile is not None else FeatureState(catalog)


_END = object()  # marks the end of the items: the last group is flushed like every other


class EventWalk:
    """Folds items, given sorted by (eventTime, eventID, unique position), into `state` in the engine's order.

    Each item is a tuple whose first two members are the event's time and eventID; `event(item)` gives its Event
    and `values(item)` its content tuple (by default the item is (eventTime, eventID, position, Event, ...)).
    Iterating yields `(item, event, feature_row, None)` for an event seen for the first time and
    `(item, None, None, first_item)` for a true re-delivery of `first_item`, which was yielded before it. `done` is
    the last item, in the input's own order, through which every item has been yielded (the parallel pipeline knows
    from it which rows are final). `profile()` is the baseline the walk leaves behind.
    """

    def __init__(
        self,
        items: Iterable[Any],
        state: Any,
        event: Callable[[Any], Event] = item_event,
        values: Callable[[Any], Sequence[Any]] = item_values,
    ) -> None:
        self.items = items
        self.state = state
        self.event = event
        self.values = values
        self.done: Any = None
        self.duplicates = 0

    def profile(self) -> Profile:
        """The baseline profile the walk's state holds now (after the last event: the run's new baseline)."""
        return Profile.from_state(self.state)

    def __iter__(self) -> Iterator[Step]:
        process = self.state.process
        event = self.event
        group: List[Any] = []
        key: Any = None
        for item in itertools.chain(self.items, (_END,)):  # _END flushes the last group through the same code
            if item is not _END:
                t, event_id = item[0], item[1]
                if key is not None and t == key[0] and event_id == key[1]:
                    group.append(item)
                    continue
                if key is not None and (t, event_id) < key:
                    raise ValueError(f"events out of order: {t!r} {event_id!r} after {key[0]!r} {key[1]!r}")
            if len(group) == 1:  # the common case, inline: one event per (time, eventID)
                first = group[0]
                ev = event(first)
                self.done = first
                yield first, ev, process(ev), None
            elif group:
                yield from self._tie(group)
            if item is _END:
                return
            group = [item]
            key = (t, event_id)

    def _tie(self, group: List[Any]) -> Iterator[Step]:
        """Events sharing (eventTime, eventID): by content (stable, so equal content keeps input order), then
        each run of equal content is one event and its re-deliveries."""
        last_in_input_order = group[-1]
        keyed = sorted(((content_key(self.values(item)), item) for item in group), key=lambda pair: pair[0])
        process = self.state.process
        first_key: Optional[str] = None
        first: Any = None
        for n, (text, item) in enumerate(keyed):
            if n == len(keyed) - 1:
                self.done = last_in_input_order
            if text == first_key:
                self.duplicates += 1
                yield item, None, None, first
                continue
            first_key, first = text, item
            ev = self.event(item)
            yield item, ev, process(ev), None
