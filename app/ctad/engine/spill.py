"""External sorting: hold at most N items in memory, spill sorted runs to disk, merge them back.

The detector must see events in time order and give results back in input order without holding a million rows
in RAM (Splunk's search head and a laptop replaying months of S3 logs both have finite memory). pickle is used for
runs because the items are our own tuples, written and read back by this process only.
"""

from __future__ import annotations

import bisect
import contextlib
import heapq
import operator
import os
import pickle
import shutil
import tempfile
from typing import Any, Callable, Iterator, List, Optional

from ctad.core.schema import Event

BLOCK = 4096  # items per pickled block
_ITEM_KEY = operator.itemgetter(0, 1, 2)  # (eventTime, eventID, position)


class ExternalSorter:
    """Collect items, then iterate them sorted by `key`; spills to `directory` beyond `max_items`."""

    def __init__(
        self,
        key: Callable[[Any], Any],
        max_items: int = 200_000,
        directory: Optional[str] = None,
        encode: Optional[Callable[[Any], Any]] = None,
        decode: Optional[Callable[[Any], Any]] = None,
    ) -> None:
        """`encode`/`decode`: applied only to items that go to disk (plain tuples pickle far faster than objects)."""
        self.key = key
        self.encode = encode
        self.decode = decode
        self.max_items = max(1, int(max_items))
        self._parent = directory
        self._dir: Optional[str] = None
        self._buffer: List[Any] = []
        self._runs: List[str] = []
        self.count = 0

    @property
    def spilled(self) -> bool:
        return bool(self._runs)

    def add(self, item: Any) -> None:
        self._buffer.append(item)
        self.count += 1
        if len(self._buffer) >= self.max_items:
            self._spill()

    def _spill(self) -> None:
        if self._dir is None:
            self._dir = tempfile.mkdtemp(prefix="ctad-spill-", dir=self._parent)
        self._buffer.sort(key=self.key)
        path = os.path.join(self._dir, f"run{len(self._runs):05d}.pkl")
        write_blocks(path, self._buffer, self.encode)
        self._runs.append(path)
        self._buffer = []

    def _read_run(self, path: str) -> Iterator[Any]:
        return read_blocks(path, self.decode)

    def sorted(self) -> Iterator[Any]:
        """Every item, sorted; the sorter is spent afterwards and its files are removed."""
        try:
            self._buffer.sort(key=self.key)
            if not self._runs:
                yield from self._buffer
                return
            streams = [self._read_run(p) for p in self._runs] + [iter(self._buffer)]
            yield from heapq.merge(*streams, key=self.key)
        finally:
            self.close()

    def close(self) -> None:
        self._buffer = []
        if self._dir is not None:
            shutil.rmtree(self._dir, ignore_errors=True)
            self._dir = None
        self._runs = []


def _encode_event_item(item: Any) -> Any:
    return (item[0], item[1], item[2], item[3].to_tuple(), *item[4:])


def _decode_event_item(item: Any) -> Any:
    return (item[0], item[1], item[2], Event.from_tuple(item[3]), *item[4:])


class EventSorter(ExternalSorter):
    """Items (eventTime, eventID, position, Event, ...extra) in the engine's order (`ctad.core.ordering`): sorted
    by (eventTime, eventID, position), spilled with the Event as a plain tuple. The one sorter of the single-process
    run, `ctad baseline build` and training, so all three hand `EventWalk` the same order."""

    def __init__(self, max_items: int = 200_000, directory: Optional[str] = None) -> None:
        super().__init__(
            key=_ITEM_KEY, max_items=max_items, directory=directory, encode=_encode_event_item,
            decode=_decode_event_item,
        )  # fmt: skip


def write_blocks(
    path: str, items: List[Any], encode: Optional[Callable[[Any], Any]] = None, block_size: int = BLOCK
) -> None:
    """Write items as a run of pickled blocks (see `read_blocks`)."""
    with open(path, "wb") as fh:
        # Pickle in blocks: one dump per item is slow, one dump of everything needs it all in memory twice.
        # Each block is a self-contained pickle (its own memo), so a reader never sees stale memo entries.
        for i in range(0, len(items), block_size):
            block = items[i : i + block_size]
            if encode is not None:
                block = [encode(item) for item in block]
            pickle.dump(block, fh, protocol=pickle.HIGHEST_PROTOCOL)


def iter_blocks(path: str, remove: bool = False) -> Iterator[List[Any]]:
    """The blocks `write_blocks` wrote, as lists; `remove` deletes the file when read."""
    try:
        with open(path, "rb") as fh:
            while True:
                try:
                    yield pickle.load(fh)
                except EOFError:
                    return
    finally:
        if remove:
            with contextlib.suppress(OSError):
                os.remove(path)


def merge_runs(runs: List[Iterator[List[Any]]]) -> Iterator[List[Any]]:
    """Merge sorted runs given as iterators of sorted blocks; yields sorted blocks, in order.

    Why not heapq.merge: it costs a Python-level step per item. Here each round takes, from every run's current
    block, the items up to the smallest last item among those blocks (nothing still unread can be smaller),
    and sorts them in one C-level call. Items must be totally ordered by their own comparison (e.g. tuples
    with a unique prefix), so equal keys never reach a payload that cannot compare.
    """
    heads: List[List[Any]] = []  # [block, position, run]
    for run in runs:
        block = _next_block(run)
        if block is not None:
            heads.append([block, 0, run])
    while heads:
        bound = min(h[0][-1] for h in heads)
        out: List[Any] = []
        for h in heads:
            block, pos = h[0], h[1]
            cut = bisect.bisect_right(block, bound, pos)
            if cut > pos:
                out += block[pos:cut]
                h[1] = cut
        if len(out) > 1:
            out.sort()
        yield out
        for h in heads:
            if h[1] >= len(h[0]):
                h[0], h[1] = _next_block(h[2]), 0
        heads = [h for h in heads if h[0] is not None]


def _next_block(run: Iterator[List[Any]]) -> Optional[List[Any]]:
    """The run's next non-empty block, or None when it is spent."""
    for block in run:
        if block:
            return block
    return None


def read_blocks(path: str, decode: Optional[Callable[[Any], Any]] = None) -> Iterator[Any]:
    """The items `write_blocks` wrote, one block in memory at a time."""
    for block in iter_blocks(path):
        if decode is not None:
            yield from map(decode, block)
        else:
            yield from block
