"""Baseline rows from where Splunk keeps them: a KV store collection (through splunkd REST) or a CSV lookup file.

`baseline=<name>` names a lookup: a transforms.conf KV store lookup (whose `collection` we read), a CSV lookup
(`filename` in the app's lookups dir) or, failing a transforms entry, a collection or a `.csv` file of that name.
KV store reads are paginated (limit/skip) because splunkd caps one response (max_rows_per_query, 50,000).
"""

from __future__ import annotations

import csv
import json
import os
import urllib.parse
from pathlib import Path
from typing import Any, Dict, List, Optional, Tuple

from ctad.core.errors import CtadError
from ctad.core.resources import find_dir
from ctad.knowledge.splunk_rest import SplunkRest, SplunkRestError

APP = "ctad_cloudtrail"
PAGE = 10_000  # records per KV store request (CTAD_KV_PAGE overrides it; tests lower it to exercise paging)

__all__ = [
    "APP",
    "BaselineSourceError",
    "SplunkRestError",
    "rest_client",
    "read_collection",
    "baseline_rows",
    "stored_anomalies_before",
]


class BaselineSourceError(CtadError, RuntimeError):
    """The named baseline exists but cannot be read (the message is safe to show)."""


def rest_client(info: Dict[str, Any], app: str = APP) -> Optional[SplunkRest]:
    uri, key = info.get("splunkd_uri"), info.get("session_key")
    if not uri or not key:
        return None
    return SplunkRest(str(uri), str(key), app=app, owner="nobody", timeout=30.0)


def _pages(
    rest: SplunkRest, collection: str, params: Dict[str, str], page: Optional[int] = None
) -> Optional[List[Dict[str, Any]]]:
    """The records of a KV store collection a GET with `params` (query, fields, sort) returns, every page of them;
    None if the collection does not exist."""
    page = page or int(os.environ.get("CTAD_KV_PAGE") or PAGE)
    path = f"storage/collections/data/{urllib.parse.quote(collection, safe='')}"
    out: List[Dict[str, Any]] = []
    skip = 0
    while True:
        try:
            batch = rest.request("GET", path, query={**params, "limit": str(page), "skip": str(skip)})
        except ValueError as exc:  # 200 with an HTML page (a proxy, a login form): not the KV store
            raise BaselineSourceError(
                f"KV store collection {collection}: the reply is not JSON ({exc})"
            ) from None
        if batch is None:
            return None if skip == 0 else out
        if not isinstance(batch, list):
            raise BaselineSourceError(f"KV store collection {collection}: unexpected reply")
        out.extend(r for r in batch if isinstance(r, dict))
        if len(batch) < page:
            return out
        skip += len(batch)


def read_collection(
    rest: SplunkRest, collection: str, page: Optional[int] = None
) -> Optional[List[Dict[str, Any]]]:
    """Every record of a KV store collection (None if it does not exist)."""
    return _pages(rest, collection, {}, page)


# The ctad_anomalies fields that continuing incidents reads (the CTAD - Detect saved search must keep writing them)
SEED_FIELDS = ("_time", "ct_identity", "ct_incident", "ct_risk", "eventSource", "eventName")
IDS_PER_QUERY = 100  # incident ids per KV store query: keeps the query string well under URL length limits


def _query_collection(
    rest: SplunkRest, collection: str, query: Dict[str, Any], page: Optional[int] = None
) -> List[Dict[str, Any]]:
    """The records of `collection` matching a KV store `query` (SEED_FIELDS only), paginated like
    `read_collection`; a missing collection gives none."""
    params = {
        "query": json.dumps(query, separators=(",", ":")),
        "fields": ",".join(SEED_FIELDS),
        "sort": "_key",
    }
    try:
        return _pages(rest, collection, params, page) or []
    except SplunkRestError as exc:
        raise BaselineSourceError(f"KV store collection {collection}: {exc}") from None


def stored_anomalies_before(
    info: Dict[str, Any], before: float, gap: float, collection: str = "ctad_anomalies"
) -> List[Dict[str, Any]]:
    """The stored anomalies that continuing incidents needs, as rows for `open_incidents_from_anomalies`: those
    in the `gap` seconds before `before`, then every earlier one of the incidents they belong to (an incident's
    score is over all its APIs, however long it has run). Two small queries, not the whole collection.

    BaselineSourceError when the KV store cannot be read (the caller warns and runs without seeds)."""
    rest = rest_client(info)
    if rest is None:
        raise BaselineSourceError("no splunkd_uri/session_key in getinfo: cannot read the KV store")
    recent = _query_collection(rest, collection, {"_time": {"$gte": before - gap, "$lt": before}})
    ids = sorted(
        {
            r.get("ct_incident")
            for r in recent
            if isinstance(r.get("ct_incident"), str) and r.get("ct_incident")
        }
    )
    rows = list(recent)
    for start in range(0, len(ids), IDS_PER_QUERY):
        group = [{"ct_incident": iid} for iid in ids[start : start + IDS_PER_QUERY]]
        rows += _query_collection(rest, collection, {"$and": [{"_time": {"$lt": before}}, {"$or": group}]})
    return [{"time": r.get("_time"), **{k: r.get(k) for k in SEED_FIELDS if k != "_time"}} for r in rows]


def _read_csv(path: Path) -> List[Dict[str, Any]]:
    """A CSV lookup's rows; BaselineSourceError when it cannot be read (NUL on Python < 3.11, I/O errors)."""
    try:
        with open(path, newline="", encoding="utf-8", errors="replace") as fh:
            return list(csv.DictReader(fh))
    except (OSError, csv.Error) as exc:
        raise BaselineSourceError(f"lookup file {path.name}: {exc}") from None


def lookups_dir() -> Path:
    return find_dir("lookups")


def _transform(rest: Optional[SplunkRest], name: str) -> Dict[str, Any]:
    if rest is None:
        return {}
    try:
        out = rest.request("GET", f"configs/conf-transforms/{urllib.parse.quote(name, safe='')}")
    except SplunkRestError:
        return {}
    except ValueError:  # 200 with something that is not JSON (a login or proxy page)
        return {}
    entries = out.get("entry") if isinstance(out, dict) else None
    for entry in entries if isinstance(entries, list) else ():
        content = entry.get("content") if isinstance(entry, dict) else None
        if isinstance(content, dict):
            return content
    return {}


def baseline_rows(
    info: Dict[str, Any], name: str, lookup_dir: Optional[Path] = None
) -> Tuple[Optional[List[Dict[str, Any]]], str]:
    """(rows or None when the baseline does not exist, where they came from)."""
    directory = lookup_dir or lookups_dir()
    rest = rest_client(info)
    if name.endswith(".csv"):
        path = Path(name) if os.path.isabs(name) else directory / name
        if not path.is_file():
            return None, f"lookup file {path.name}"
        return _read_csv(path), f"lookup file {path.name}"
    conf = _transform(rest, name)
    if conf.get("filename"):
        path = directory / os.path.basename(str(conf["filename"]))
        if not path.is_file():
            return None, f"lookup file {path.name}"
        return _read_csv(path), f"lookup file {path.name}"
    collection = str(conf.get("collection") or name)
    if rest is None:
        path = directory / (name + ".csv")
        if path.is_file():
            return _read_csv(path), f"lookup file {path.name}"
        raise BaselineSourceError("no splunkd_uri/session_key in getinfo: cannot read the KV store")
    try:
        rows = read_collection(rest, collection)
    except SplunkRestError as exc:
        raise BaselineSourceError(f"KV store collection {collection}: {exc}") from None
    return rows, f"KV store collection {collection}"


def clean_kv_row(row: Dict[str, Any]) -> Dict[str, Any]:
    """KV store records carry `_key`/`_user`; numbers may come back as numbers or strings."""
    return {
        k: (json.dumps(v) if isinstance(v, (dict, list)) else v)
        for k, v in row.items()
        if not k.startswith("_")
    }
