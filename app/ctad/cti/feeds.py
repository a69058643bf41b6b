"""Where indicators come from: the local CSV, STIX bundle files, TAXII 2.1 collections, MISP, and the feed cache.

Remote feeds (TAXII, MISP) are fetched by `ctad cti sync` into a local JSON cache with a TTL, so triage reads a
file instead of calling a server for every row. `collect()` is the one loop every caller uses: each source yields
(indicators, skipped, warnings); a source that fails yields a warning (and its stale cache, if any) and never
stops the others.
"""

from __future__ import annotations

import json
import logging
import os
import tempfile
import time
from pathlib import Path
from typing import Any, Dict, Iterable, Iterator, List, Optional, Sequence, Tuple
from urllib.parse import urlsplit

from ctad.core.errors import CtadError
from ctad.core.indicators import IndicatorFileError
from ctad.core.indicators import read_csv as read_indicator_csv
from ctad.core.resources import find_dir
from ctad.cti.indicators import Indicator, IndicatorError, literal_user_agent, make_indicator

log = logging.getLogger(__name__)

DEFAULT_TTL = 6 * 3600  # seconds a fetched feed stays fresh
CACHE_MARKER = "ctad-cti-cache"

Result = Tuple[List[Indicator], List[Dict[str, str]], List[str]]


class FeedError(CtadError, RuntimeError):
    """A feed could not be read (network, auth, bad answer); the message is meant for the analyst."""


# --------------------------------------------------------------------------- local files
def load_csv(path: str, source: Optional[str] = None) -> Tuple[List[Indicator], List[Dict[str, str]]]:
    """Indicators from a CSV with columns indicator,type,source,threat,confidence,description.

    Read by `ctad.core.indicators.read_csv`, the same reader and rules the catalogue applies to
    lookups/cti_indicators.csv. Rows starting with '#' are comments. A bad row is skipped with its line number and
    reason.
    """
    label = source or f"csv:{Path(path).name}"
    try:
        found, problems = read_indicator_csv(path, label)
    except IndicatorFileError as exc:
        raise FeedError(f"{path}: {exc}") from None
    skipped = [
        {"source": label, "indicator": p.indicator, "reason": f"line {p.line}: {p.reason}"} for p in problems
    ]
    return found, skipped


class FileSource:
    """A local CSV or STIX bundle (JSON). Read every time: local files are cheap and may be edited."""

    remote = False

    def __init__(self, path: str, name: Optional[str] = None) -> None:
        self.path = str(path)
        self.name = name or ("csv:" if self.path.lower().endswith(".csv") else "stix:") + Path(self.path).name

    def fetch(self) -> Tuple[List[Indicator], List[Dict[str, str]]]:
        if self.path.lower().endswith(".csv"):
            return load_csv(self.path, None)
        from ctad.cti.stix import load_bundle

        return load_bundle(self.path, self.name)


# --------------------------------------------------------------------------- TAXII 2.1
STIX_TYPES_WANTED = "indicator,relationship,malware,threat-actor,intrusion-set,campaign,tool,identity"


class TaxiiSource:
    """Indicators from a TAXII 2.1 API root (all readable collections, or one by id), via taxii2-client."""

    remote = True

    def __init__(
        self,
        url: str,
        collection: Optional[str] = None,
        user: Optional[str] = None,
        password: Optional[str] = None,
        verify: bool = True,
        per_request: int = 500,
        name: Optional[str] = None,
    ) -> None:
        self.url = url if url.endswith("/") else url + "/"
        self.collection = collection
        self.user = user
        self.password = password
        self.verify = verify
        self.per_request = per_request
        host = urlsplit(self.url).netloc
        self.name = name or f"taxii:{host}{urlsplit(self.url).path}{collection or '*'}"

    def fetch(self) -> Tuple[List[Indicator], List[Dict[str, str]]]:
        from taxii2client.v21 import ApiRoot, Collection, as_pages

        from ctad.cti.stix import indicators_from_objects

        auth = {"user": self.user, "password": self.password, "verify": self.verify}
        try:
            if self.collection:
                collections = [Collection(f"{self.url}collections/{self.collection}/", **auth)]
            else:
                collections = [c for c in ApiRoot(self.url, **auth).collections if c.can_read]
            objects: List[Dict[str, Any]] = []
            for coll in collections:
                for envelope in as_pages(
                    coll.get_objects, per_request=self.per_request, type=STIX_TYPES_WANTED
                ):
                    objects.extend(envelope.get("objects", []) or [])
        except Exception as exc:  # requests / taxii2client errors: all mean "feed unavailable"
            raise FeedError(f"TAXII {self.url} collection {self.collection or '*'}: {exc}") from exc
        return indicators_from_objects(objects, self.name)


# --------------------------------------------------------------------------- MISP
MISP_TYPES = [
    "ip-src",
    "ip-dst",
    "ip-src|port",
    "ip-dst|port",
    "domain",
    "hostname",
    "domain|ip",
    "url",
    "user-agent",
]
_MISP_CONFIDENCE_TAG = "estimative-language:confidence-in-analytic-judgment="


def misp_attribute_indicators(attr: Dict[str, Any], source: str, default_confidence: int) -> List[Indicator]:
    """One MISP attribute -> indicators (a 'domain|ip' attribute gives two). Raises IndicatorError."""
    kind = str(attr.get("type", ""))
    value = str(attr.get("value", ""))
    event = attr.get("Event") or {}
    threat = str(event.get("info", "") if isinstance(event, dict) else "")
    confidence: Any = default_confidence
    for tag in attr.get("Tag", []) or []:
        name = str(tag.get("name", "")) if isinstance(tag, dict) else ""
        if name.startswith(_MISP_CONFIDENCE_TAG):
            confidence = name[len(_MISP_CONFIDENCE_TAG) :].strip('"')
    description = str(attr.get("comment") or "") or f"MISP {kind} attribute {attr.get('uuid', '')}".strip()
    pairs: List[Tuple[str, str]]
    if kind in ("ip-src", "ip-dst"):
        pairs = [(value, "ip")]
    elif kind in ("ip-src|port", "ip-dst|port"):
        pairs = [(value.split("|", 1)[0], "ip")]
    elif kind in ("domain", "hostname"):
        pairs = [(value, "domain")]
    elif kind == "domain|ip":
        dom, _, ip = value.partition("|")
        pairs = [(dom, "domain"), (ip, "ip")]
    elif kind == "url":
        from ctad.cti.stix import UnsupportedPattern, _url_host

        try:
            pairs = [(_url_host(value), "domain")]
        except UnsupportedPattern as exc:
            raise IndicatorError(str(exc)) from exc
    elif kind == "user-agent":
        pairs = [(literal_user_agent(value), "user_agent")]
    else:
        raise IndicatorError(f"MISP attribute type {kind!r} is not matched against CloudTrail")
    return [make_indicator(v, t, source, threat, confidence, description) for v, t in pairs]


class MispSource:
    """IDS-flagged attributes from a MISP instance via PyMISP's attribute restSearch, page by page."""

    remote = True

    def __init__(
        self,
        url: str,
        key: str,
        verify: bool = True,
        types: Optional[Sequence[str]] = None,
        last: Optional[str] = None,
        page_size: int = 5000,
        max_pages: int = 200,
        default_confidence: int = 75,
        timeout: float = 60.0,
        name: Optional[str] = None,
    ) -> None:
        self.url = url
        self.key = key
        self.verify = verify
        self.types = list(types or MISP_TYPES)
        self.last = last
        self.page_size = page_size
        self.max_pages = max_pages
        self.default_confidence = default_confidence
        self.timeout = timeout
        self.name = name or f"misp:{urlsplit(url).netloc}"

    def fetch(self) -> Tuple[List[Indicator], List[Dict[str, str]]]:
        if not self.key:
            raise FeedError(f"MISP {self.url}: no API key (set it in the config file or the environment)")
        try:
            from pymisp import PyMISP

            misp = PyMISP(self.url, self.key, ssl=self.verify, timeout=self.timeout)
        except Exception as exc:
            raise FeedError(f"MISP {self.url}: cannot connect: {exc}") from exc
        found: List[Indicator] = []
        skipped: List[Dict[str, str]] = []
        for page in range(1, self.max_pages + 1):
            query: Dict[str, Any] = {
                "controller": "attributes",
                "type_attribute": self.types,
                "to_ids": True,
                "include_context": True,
                "limit": self.page_size,
                "page": page,
                "pythonify": False,
            }
            if self.last:
                query["last"] = self.last
            try:
                answer = misp.search(**query)
            except Exception as exc:
                raise FeedError(f"MISP {self.url}: search failed: {exc}") from exc
            if isinstance(answer, dict) and answer.get("errors"):
                raise FeedError(f"MISP {self.url}: {answer['errors']}")
            attrs = answer.get("Attribute", []) if isinstance(answer, dict) else []
            for attr in attrs:
                if not isinstance(attr, dict) or attr.get("deleted"):
                    continue
                try:
                    found.extend(misp_attribute_indicators(attr, self.name, self.default_confidence))
                except IndicatorError as exc:
                    skipped.append(
                        {
                            "source": self.name,
                            "indicator": str(attr.get("value", ""))[:200],
                            "reason": str(exc),
                        }
                    )
            if len(attrs) < self.page_size:
                break
        return found, skipped


# --------------------------------------------------------------------------- cache
def default_cache_path() -> Path:
    """$CTAD_CTI_CACHE, else $XDG_CACHE_HOME/ctad/cti-feeds.json (~/.cache when unset)."""
    env = os.environ.get("CTAD_CTI_CACHE")
    if env:
        return Path(env)
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return Path(base) / "ctad" / "cti-feeds.json"


class FeedCache:
    """A JSON file of fetched feeds: {source name: fetched_at, ttl, indicators, skipped}. Written atomically."""

    def __init__(self, path: Any, ttl: float = DEFAULT_TTL) -> None:
        self.path = Path(path)
        self.ttl = float(ttl)
        self.entries: Dict[str, Dict[str, Any]] = {}
        self.dirty = False
        if self.path.exists():
            self.entries = self._read(self.path)

    @staticmethod
    def _read(path: Path) -> Dict[str, Dict[str, Any]]:
        try:
            with open(path, encoding="utf-8") as fh:
                data = json.load(fh)
        except (OSError, ValueError) as exc:
            raise FeedError(
                f"{path}: unreadable CTI cache ({exc}); delete it or run `ctad cti sync`"
            ) from exc
        if not isinstance(data, dict) or data.get("format") != CACHE_MARKER:
            raise FeedError(f"{path}: not a ctad CTI cache file")
        sources = data.get("sources", {})
        return sources if isinstance(sources, dict) else {}

    @staticmethod
    def is_cache_file(path: str) -> bool:
        try:
            with open(path, encoding="utf-8") as fh:
                head = fh.read(200)
        except OSError:
            return False
        return CACHE_MARKER in head

    def fresh(self, name: str, now: Optional[float] = None) -> bool:
        entry = self.entries.get(name)
        if not entry:
            return False
        age = (now or time.time()) - float(entry.get("fetched_at", 0))
        return 0 <= age < float(entry.get("ttl", self.ttl))

    def get(self, name: str) -> Tuple[List[Indicator], List[Dict[str, str]]]:
        entry = self.entries.get(name) or {}
        indicators = []
        for row in entry.get("indicators", []):
            try:
                indicators.append(Indicator.from_dict(row))
            except (IndicatorError, AttributeError):
                continue
        return indicators, list(entry.get("skipped", []))

    def put(
        self, name: str, indicators: List[Indicator], skipped: List[Dict[str, str]], url: str = ""
    ) -> None:
        self.entries[name] = {
            "fetched_at": time.time(),
            "ttl": self.ttl,
            "url": url,
            "indicators": [i.to_dict() for i in indicators],
            "skipped": skipped[:1000],
        }
        self.dirty = True

    def save(self) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        payload = {"format": CACHE_MARKER, "version": 1, "saved_at": time.time(), "sources": self.entries}
        fd, tmp = tempfile.mkstemp(dir=str(self.path.parent), prefix=".cti-cache-", suffix=".json")
        try:
            with os.fdopen(fd, "w", encoding="utf-8") as fh:
                json.dump(payload, fh, separators=(",", ":"))
            os.replace(tmp, self.path)
        except BaseException:
            if os.path.exists(tmp):
                os.unlink(tmp)
            raise
        self.dirty = False


def _age_text(entry: Dict[str, Any]) -> str:
    hours = (time.time() - float(entry.get("fetched_at", 0))) / 3600
    return f"{hours:.1f} h old"


def _from_cache_file(path: str) -> Iterator[Result]:
    cache = FeedCache(path)
    for name, entry in sorted(cache.entries.items()):
        indicators, skipped = cache.get(name)
        warnings = (
            []
            if cache.fresh(name)
            else [f"{name}: cached feed is stale ({_age_text(entry)}); run `ctad cti sync`"]
        )
        yield indicators, skipped, warnings


# --------------------------------------------------------------------------- collect
def default_lookup_csv() -> Optional[Path]:
    """lookups/cti_indicators.csv in the lookups folder the catalogue reads (`ctad.core.resources.find_dir`)."""
    candidate = find_dir("lookups") / "cti_indicators.csv"
    return candidate if candidate.is_file() else None


def default_sources() -> List[Any]:
    """The local CSV and the default feed cache, when they exist."""
    out: List[Any] = []
    csv_path = default_lookup_csv()
    if csv_path:
        out.append(str(csv_path))
    cache = default_cache_path()
    if cache.is_file():
        out.append(str(cache))
    return out


def as_source(spec: Any) -> Any:
    """A path string -> FileSource (or the cache reader); Source objects pass through."""
    if isinstance(spec, (str, Path)):
        return str(spec)
    if hasattr(spec, "fetch") and hasattr(spec, "name"):
        return spec
    raise TypeError(f"not a CTI source: {spec!r}")


def collect(
    sources: Iterable[Any],
    cache_path: Any = None,
    ttl: float = DEFAULT_TTL,
    offline: bool = False,
    refresh: bool = False,
) -> Iterator[Result]:
    """Yield (indicators, skipped, warnings) per source, using and updating the feed cache for remote sources.

    offline: never contact a server (stale cache is used, with a warning). refresh: ignore the TTL.
    """
    cache = FeedCache(cache_path, ttl) if cache_path is not None else None
    try:
        for spec in sources:
            source = as_source(spec)
            if isinstance(source, str):
                yield from _collect_file(source)
                continue
            yield _collect_remote(source, cache, offline, refresh)
    finally:
        if cache is not None and cache.dirty:
            cache.save()


def _collect_file(path: str) -> Iterator[Result]:
    if not os.path.exists(path):
        yield [], [], [f"{path}: no such file"]
        return
    try:
        if path.lower().endswith(".json") and FeedCache.is_cache_file(path):
            yield from _from_cache_file(path)
            return
        indicators, skipped = FileSource(path).fetch()
    except (FeedError, OSError, ValueError) as exc:
        yield [], [], [f"{path}: {exc}"]
        return
    yield indicators, skipped, []


def _collect_remote(source: Any, cache: Optional[FeedCache], offline: bool, refresh: bool) -> Result:
    name = source.name
    if cache is not None and name in cache.entries and (offline or (not refresh and cache.fresh(name))):
        indicators, skipped = cache.get(name)
        warn = (
            []
            if cache.fresh(name)
            else [f"{name}: offline, using stale cache ({_age_text(cache.entries[name])})"]
        )
        return indicators, skipped, warn
    if offline:
        return [], [], [f"{name}: offline and not in the cache; run `ctad cti sync`"]
    try:
        indicators, skipped = source.fetch()
    except FeedError as exc:
        if cache is not None and name in cache.entries:
            old, old_skipped = cache.get(name)
            return old, old_skipped, [f"{exc}; using cached copy ({_age_text(cache.entries[name])})"]
        return [], [], [str(exc)]
    if cache is not None:
        cache.put(name, indicators, skipped, getattr(source, "url", ""))
    return indicators, skipped, []
