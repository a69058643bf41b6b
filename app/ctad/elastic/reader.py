"""Read CloudTrail documents out of Elasticsearch with a point in time and ``search_after``.

Why PIT + search_after rather than scroll or from/size: from/size stops at 10,000 hits, scroll is discouraged for
deep pagination, and a PIT gives one consistent view of the indices for the whole read (new documents arriving
during a long read do not shift pages). Sort ``@timestamp`` then ``_shard_doc`` is the tiebreaker Elastic
recommends with PIT: unique per document, cheap, and it keeps pages stable.

The PIT is always closed (``finally``), including when the consumer stops early or a search fails, so a failed
job does not pin segments on the cluster until ``keep_alive`` expires.
"""

from __future__ import annotations

import json
import queue
import threading
from dataclasses import dataclass, field
from typing import Any, Dict, Iterator, List, Optional, Union

from ctad.core.errors import CtadError

SORT = [{"@timestamp": "asc"}, {"_shard_doc": "asc"}]
DEFAULT_PAGE_SIZE = 1000
MAX_PAGE_SIZE = 10000  # Elasticsearch's index.max_result_window default
DEFAULT_KEEP_ALIVE = "5m"


class ReadError(CtadError):
    """A search failed in a way the reader cannot paper over (the message says what and where)."""


@dataclass
class ReadStats:
    """What the read saw; partial results are reported, never hidden."""

    documents: int = 0
    pages: int = 0
    shard_failures: int = 0
    timed_out_pages: int = 0
    pit_closed: bool = False
    warnings: List[str] = field(default_factory=list)

    def as_dict(self) -> Dict[str, Any]:
        return {
            "documents": self.documents,
            "pages": self.pages,
            "shard_failures": self.shard_failures,
            "timed_out_pages": self.timed_out_pages,
            "pit_closed": self.pit_closed,
            "warnings": list(self.warnings),
        }


def parse_query(text: Optional[str]) -> Optional[Dict[str, Any]]:
    """A user query: JSON query DSL (``{"term": ...}``) or a Lucene query string (``user.name:alice``)."""
    if text is None or not text.strip():
        return None
    stripped = text.strip()
    if stripped.startswith("{"):
        try:
            value = json.loads(stripped)
        except ValueError as exc:
            raise ValueError(f"--query looks like JSON but does not parse: {exc}") from exc
        if not isinstance(value, dict) or len(value) != 1:
            raise ValueError('--query JSON must be one query clause, e.g. {"term": {"user.name": "x"}}')
        return value
    return {"query_string": {"query": stripped}}


def build_query(
    time_from: Optional[str] = None,
    time_to: Optional[str] = None,
    query: Optional[Dict[str, Any]] = None,
    time_field: str = "@timestamp",
) -> Dict[str, Any]:
    """A bool/filter query: time range (``gte`` from, ``lt`` to; Elasticsearch date math is fine) + user query.

    Filter context, not query context: no scoring is needed and filters are cacheable.
    """
    filters: List[Dict[str, Any]] = []
    if time_from or time_to:
        rng: Dict[str, Any] = {}
        if time_from:
            rng["gte"] = time_from
        if time_to:
            rng["lt"] = time_to
        filters.append({"range": {time_field: rng}})
    if query:
        filters.append(query)
    if not filters:
        return {"match_all": {}}
    return {"bool": {"filter": filters}}


def _hit_to_doc(hit: Any, stats: ReadStats, where: str) -> Dict[str, Any]:
    """The document of one hit. A hit or ``_source`` that is not an object still becomes a row (the detector
    gives it ``ct_error``), with a warning: every document read comes out."""
    if not isinstance(hit, dict):
        stats.warnings.append(
            f"{where}: a hit is not an object ({type(hit).__name__}); kept as an unreadable row"
        )
        return {"_id": None, "_index": None, "ctad_bad_hit": str(hit)[:200]}
    source = hit.get("_source")
    if source is None:
        source = {}
    if isinstance(source, dict):
        doc = dict(source)
    else:
        stats.warnings.append(f"{where}: hit {str(hit.get('_id'))[:100]} has a _source that is not an object")
        doc = {"ctad_bad_source": str(source)[:200]}
    doc["_id"] = hit.get("_id")
    doc["_index"] = hit.get("_index")
    return doc


def _page_hits(resp: Any, where: str) -> List[Any]:
    """``hits.hits`` of a search reply, or a ReadError saying the reply has none (a proxy's page, an error
    body answered with 200): without it the read cannot know what it missed."""
    hits = resp.get("hits") if isinstance(resp, dict) else None
    hits = hits.get("hits") if isinstance(hits, dict) else None
    if not isinstance(hits, list):
        raise ReadError(
            f"{where}: the search reply has no hits.hits list; cannot tell which documents were read"
        )
    return hits


def _check_page(resp: Dict[str, Any], stats: ReadStats, where: str) -> None:
    shards = resp.get("_shards")
    shards = shards if isinstance(shards, dict) else {}
    failed = shards.get("failed") or 0
    failed = failed if isinstance(failed, int) and failed > 0 else 0
    if failed:
        stats.shard_failures += failed
        failures = shards.get("failures")
        reasons = sorted(
            {
                str(
                    (f.get("reason") or {}).get("type")
                    if isinstance(f.get("reason"), dict)
                    else f.get("reason")
                )
                for f in (failures if isinstance(failures, list) else [])
                if isinstance(f, dict)
            }
            - {"None", ""}
        )
        stats.warnings.append(f"{where}: {failed} shard(s) failed ({', '.join(reasons) or 'no reason'})")
    if resp.get("timed_out"):
        stats.timed_out_pages += 1
        stats.warnings.append(f"{where}: search timed out; the page may be partial")


def _page_slice(
    client: Any,
    pit_id: str,
    query: Dict[str, Any],
    page_size: int,
    keep_alive: str,
    stats: ReadStats,
    slice_spec: Optional[Dict[str, int]],
    lock: Optional[threading.Lock] = None,
) -> Iterator[Dict[str, Any]]:
    """Page one slice (or the whole PIT) to the end, yielding documents."""
    search_after: Optional[List[Any]] = None
    current_pit = pit_id
    where = f"slice {slice_spec['id']}/{slice_spec['max']}" if slice_spec else "search"
    while True:
        kwargs: Dict[str, Any] = {
            "size": page_size,
            "query": query,
            "sort": SORT,
            "pit": {"id": current_pit, "keep_alive": keep_alive},
            "track_total_hits": False,
        }
        if search_after is not None:
            kwargs["search_after"] = search_after
        if slice_spec is not None:
            kwargs["slice"] = dict(slice_spec)
        resp = client.search(**kwargs)
        resp = getattr(resp, "body", resp)  # elasticsearch-py's ObjectApiResponse wraps the reply's dict
        hits = _page_hits(resp, where)
        # Always continue with the most recent PIT id: Elasticsearch may hand back a new one per response.
        current_pit = resp.get("pit_id") or current_pit
        if lock is None:
            _check_page(resp, stats, where)
            stats.pages += 1
        else:
            with lock:
                _check_page(resp, stats, where)
                stats.pages += 1
        for hit in hits:
            if lock is None:
                doc = _hit_to_doc(hit, stats, where)
            else:
                with lock:
                    doc = _hit_to_doc(hit, stats, where)
            yield doc
        if len(hits) < page_size:
            return
        last = hits[-1]
        search_after = last.get("sort") if isinstance(last, dict) else None
        if not isinstance(search_after, list) or not search_after:
            raise ReadError(f"{where}: hit without sort values; cannot continue search_after paging")


def read_documents(
    client: Any,
    index: Union[str, List[str]],
    *,
    time_from: Optional[str] = None,
    time_to: Optional[str] = None,
    query: Optional[Dict[str, Any]] = None,
    page_size: int = DEFAULT_PAGE_SIZE,
    keep_alive: str = DEFAULT_KEEP_ALIVE,
    slice_id: Optional[int] = None,
    slice_max: Optional[int] = None,
    slices: int = 1,
    stats: Optional[ReadStats] = None,
    time_field: str = "@timestamp",
) -> Iterator[Dict[str, Any]]:
    """Every matching document as ``_source`` plus ``_id``/``_index``, as an iterator.

    ``slice_id``/``slice_max`` read one slice (for readers in separate processes); ``slices > 1`` reads all
    slices of one PIT concurrently in threads (order across slices is then not deterministic; the detector's
    results depend only on the set of events, so that is fine for detection). ``stats`` is filled in as the
    read goes, including shard failures that would otherwise make a read silently partial.

    Not a generator itself: bad arguments raise ValueError here, at the call, not at the first ``next()``
    where a caller handling read errors would not expect them.
    """
    if not 1 <= page_size <= MAX_PAGE_SIZE:
        raise ValueError(f"page size must be between 1 and {MAX_PAGE_SIZE}")
    if (slice_id is None) != (slice_max is None):
        raise ValueError("slice_id and slice_max go together")
    if slice_max is not None and not (slice_max >= 2 and 0 <= slice_id < slice_max):  # type: ignore[operator]
        raise ValueError("need slice_max >= 2 and 0 <= slice_id < slice_max")
    if slices < 1:
        raise ValueError("slices must be >= 1")
    if slices > 1 and slice_max is not None:
        raise ValueError("use either one explicit slice or slices > 1, not both")
    stats = stats if stats is not None else ReadStats()
    q = build_query(time_from, time_to, query, time_field)
    return _read(client, index, q, page_size, keep_alive, slice_id, slice_max, slices, stats)


def _read(
    client: Any,
    index: Union[str, List[str]],
    q: Dict[str, Any],
    page_size: int,
    keep_alive: str,
    slice_id: Optional[int],
    slice_max: Optional[int],
    slices: int,
    stats: ReadStats,
) -> Iterator[Dict[str, Any]]:
    pit = client.open_point_in_time(index=index, keep_alive=keep_alive)
    pit_id = pit["id"]
    try:
        if slices > 1:
            yield from _read_parallel(client, pit_id, q, page_size, keep_alive, stats, slices)
        else:
            spec = {"id": slice_id, "max": slice_max} if slice_max is not None else None
            for doc in _page_slice(client, pit_id, q, page_size, keep_alive, stats, spec):
                stats.documents += 1
                yield doc
    finally:
        try:
            client.close_point_in_time(id=pit_id)
            stats.pit_closed = True
        except Exception as exc:  # never mask the original error with a close failure
            stats.warnings.append(f"could not close point in time (it expires after {keep_alive}): {exc}")


_DONE = object()


def _read_parallel(
    client: Any,
    pit_id: str,
    query: Dict[str, Any],
    page_size: int,
    keep_alive: str,
    stats: ReadStats,
    slices: int,
) -> Iterator[Dict[str, Any]]:
    """Read ``slices`` slices of one PIT in threads into a bounded queue (memory stays ~ slices x page)."""
    out: queue.Queue[Any] = queue.Queue(maxsize=max(2 * page_size, 1000))
    stop = threading.Event()
    lock = threading.Lock()
    errors: List[BaseException] = []

    def put(item: Any) -> bool:
        while not stop.is_set():
            try:
                out.put(item, timeout=0.1)
                return True
            except queue.Full:
                continue
        return False

    def worker(n: int) -> None:
        try:
            spec = {"id": n, "max": slices}
            for doc in _page_slice(client, pit_id, query, page_size, keep_alive, stats, spec, lock):
                if not put(doc):
                    return
        except BaseException as exc:  # handed to the consumer thread
            with lock:
                errors.append(exc)
            stop.set()
        finally:
            if not stop.is_set():
                put(_DONE)

    threads = [
        threading.Thread(target=worker, args=(n,), name=f"ctad-es-slice-{n}", daemon=True)
        for n in range(slices)
    ]
    for t in threads:
        t.start()
    finished = 0
    try:
        while finished < slices:
            if errors:
                break
            try:
                item = out.get(timeout=0.1)
            except queue.Empty:
                if not any(t.is_alive() for t in threads) and out.empty():
                    break
                continue
            if item is _DONE:
                finished += 1
                continue
            stats.documents += 1
            yield item
    finally:
        stop.set()
        for t in threads:
            t.join(timeout=30)
    if errors:
        raise errors[0]
