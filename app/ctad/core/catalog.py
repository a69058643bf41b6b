"""The analyst-editable knowledge in ``lookups/*.csv``, loaded and validated once.

Why CSV: analysts read and edit these tables, and the Splunk app ships the same files as lookups, so the
engine, the triage validator and the searches all agree on one source of truth. Because humans edit them,
every file is validated on load and a mistake is reported as ``file:line: what is wrong`` instead of a
mis-scored event later.

Why hand-written regex handling instead of a library: this module runs at search time inside Splunk
(Python 3.9/3.13, standard library only). ``userAgent`` is attacker-controlled and unbounded, so it is
truncated before matching, every pattern is checked for nested unbounded quantifiers (the cause of
catastrophic backtracking) when the file is loaded, and results are memoised in a bounded LRU cache.

Contract (docs/DESIGN.md, "Lookups"): ``Catalog.load(lookups_dir=None)``, ``api()``, ``technique()``,
``tactic()``, ``is_valid_technique()``, ``ua_family()``, ``allowlist_matches()``, ``indicators()``.
Validate a lookups directory from the shell with ``python -m ctad.core.catalog [DIR]``.
"""

from __future__ import annotations

import csv
import os
import re
import sys
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any, Callable, Dict, Iterator, List, Optional, Pattern, Sequence, Tuple, Union

from ctad.core import resources, schema
from ctad.core.errors import CtadError
from ctad.core.indicators import TYPES as _INDICATOR_TYPES
from ctad.core.indicators import Indicator, IndicatorFileError
from ctad.core.indicators import read_csv as read_indicator_csv

__all__ = [
    "ALLOWLIST_FIELDS",
    "CATEGORIES",
    "INDICATOR_TYPES",
    "UA_KINDS",
    "ApiInfo",
    "Catalog",
    "CatalogError",
    "Indicator",
    "Tactic",
    "Technique",
    "find_lookups_dir",
]

# What a lookup row may name: the shared vocabularies (ctad.core.schema) without the feature encoding's empty
# and catch-all entries, so a category or kind the model has no code for is refused when the file is loaded.
CATEGORIES = frozenset(c for c in schema.CATEGORIES if c not in ("", "other"))
UA_KINDS = frozenset(schema.UA_KINDS)
# Fields the triage validator may ask about; names follow the canonical event (ctad.core.schema.Event).
ALLOWLIST_FIELDS = frozenset(
    {"identity", "invoked_by", "user_agent", "source_ip", "role_name", "event_source", "account_id"}
)
INDICATOR_TYPES = frozenset(_INDICATOR_TYPES)

UNKNOWN_UA: Tuple[str, str] = ("unknown", "unknown")
#: userAgent characters looked at. CloudTrail's own userAgent is far shorter than this in practice; an
#: attacker-supplied megabyte string costs the same as a normal one.
UA_MAX_LEN = 1024
#: Allowlist values looked at (ARNs are at most 2048 characters).
VALUE_MAX_LEN = 2048
UA_CACHE_SIZE = 16384

SENSITIVE_APIS = "sensitive_apis.csv"
FILES: Dict[str, Tuple[str, ...]] = {
    "attack_tactics.csv": ("tactic_id", "shortname", "name"),
    "attack_techniques.csv": ("technique_id", "name", "tactic_ids", "url"),
    SENSITIVE_APIS: (
        "event_source",
        "event_name",
        "category",
        "tactic_id",
        "technique_id",
        "risk",
        "description",
    ),
    "user_agent_families.csv": ("pattern", "family", "kind"),
    "allowlist.csv": ("field", "pattern", "reason"),
    "cti_indicators.csv": ("indicator", "type", "source", "threat", "confidence", "description"),
}

_TACTIC_ID = re.compile(r"TA\d{4}\Z")
_TECHNIQUE_ID = re.compile(r"T\d{4}(?:\.\d{3})?\Z")
_EVENT_SOURCE = re.compile(r"[a-z0-9][a-z0-9.-]{0,127}\Z")
_EVENT_NAME = re.compile(r"[A-Za-z][A-Za-z0-9_]{0,127}\Z")
# A group that contains an unbounded quantifier and is itself repeated without bound: (a+)+, (a|b*)*,
# (x{2,})+ ... the classic exponential-backtracking shapes. Bounded repeats ({0,3}) are allowed.
_UNBOUNDED = r"(?:[+*]|\{\d*,\})"
_ESCAPE = re.compile(r"\\.")
_UPPER_LITERAL = re.compile(r"[A-Z]")
_NESTED_QUANTIFIER = re.compile(r"\((?:[^()\\]|\\.)*" + _UNBOUNDED + r"(?:[^()\\]|\\.)*\)" + _UNBOUNDED)


class CatalogError(CtadError, ValueError):
    """A lookup file is missing or malformed; the message names the file, the line and the problem."""

    def __init__(self, path: Path, line: Optional[int], problem: str) -> None:
        self.path = Path(path)
        self.line = line
        self.problem = problem
        where = f"{self.path}:{line}" if line else str(self.path)
        super().__init__(f"{where}: {problem}")


@dataclass(frozen=True)
class ApiInfo:
    """What the catalogue knows about one eventSource+eventName."""

    event_source: str
    event_name: str
    category: str
    tactic_id: str
    technique_id: str
    risk: int
    description: str


@dataclass(frozen=True)
class Technique:
    technique_id: str
    name: str
    tactic_ids: Tuple[str, ...]
    url: str

    @property
    def parent_id(self) -> str:
        """``T1098`` for ``T1098.001``; the id itself for a top-level technique."""
        return self.technique_id.split(".", 1)[0]


@dataclass(frozen=True)
class Tactic:
    tactic_id: str
    shortname: str
    name: str


# How one alternative of a user-agent rule is tested; plain substrings avoid the regex engine entirely.
_CONTAINS, _PREFIX, _SUFFIX, _EQUALS, _MATCH, _SEARCH = range(6)
_REGEX_META = frozenset("\\.^$*+?{}[]|()")


@dataclass(frozen=True)
class _UaRule:
    regex: Pattern[str]
    family: str
    kind: str
    line: int
    # The pattern's top-level alternatives, each as (test, operand): a rule matches if any does. Equivalent
    # to regex.search(ua) but several times faster on the uncached path, which an attacker can force. The
    # operand is a str for the substring tests and a compiled regex for _MATCH/_SEARCH.
    tests: Tuple[Tuple[int, Any], ...]


@dataclass(frozen=True)
class _AllowRule:
    regex: Pattern[str]
    reason: str


def find_lookups_dir(start: Optional[Path] = None) -> Path:
    """Where ``lookups/`` is, as ``ctad.core.resources.find_dir`` resolves it ($CTAD_LOOKUPS, $CTAD_HOME, the repo
    or app root); raises :class:`CatalogError` when that folder has no ``sensitive_apis.csv``.

    ``start`` is the ``ctad`` package folder of another layout (``<app>/bin/ctad`` in a Splunk app): its root is
    two levels up.
    """
    root = Path(start).parent.parent if start else None
    directory = resources.find_dir("lookups", root)
    if (directory / SENSITIVE_APIS).is_file():
        return directory
    tried = ", ".join(str(c) for c in resources.candidates("lookups", root))
    raise CatalogError(directory, None, f"no lookups directory with {SENSITIVE_APIS} (tried {tried})")


def _rows(directory: Path, name: str) -> Iterator[Tuple[int, Dict[str, str]]]:
    """Yield (line number, row) for a lookup CSV, checking the header and the number of fields."""
    path = directory / name
    columns = FILES[name]
    try:
        handle = path.open(newline="", encoding="utf-8-sig")
    except OSError as exc:
        raise CatalogError(path, None, f"cannot open: {exc.strerror or exc}") from None
    with handle:
        reader = csv.reader(handle, strict=True)
        try:
            header = next(reader, None)
            if header is None:
                raise CatalogError(path, 1, f"empty file; expected header {','.join(columns)}")
            header = [h.strip() for h in header]
            missing = [c for c in columns if c not in header]
            if missing:
                raise CatalogError(
                    path, 1, f"header lacks column(s) {','.join(missing)}; expected {','.join(columns)}"
                )
            index = [header.index(c) for c in columns]
            for record in reader:
                line = reader.line_num
                if not record or all(not f.strip() for f in record):
                    continue
                if len(record) != len(header):
                    raise CatalogError(
                        path,
                        line,
                        f"{len(record)} fields, header has {len(header)} "
                        "(a value containing a comma must be double-quoted)",
                    )
                yield line, {c: record[i].strip() for c, i in zip(columns, index)}
        except csv.Error as exc:
            raise CatalogError(path, reader.line_num, f"CSV syntax error: {exc}") from None
        except UnicodeDecodeError as exc:
            raise CatalogError(path, None, f"not UTF-8: {exc}") from None


def _compile(path: Path, line: int, pattern: str, what: str, flags: int = re.IGNORECASE) -> Pattern[str]:
    if not pattern:
        raise CatalogError(path, line, f"empty {what}")
    if _NESTED_QUANTIFIER.search(pattern):
        raise CatalogError(
            path,
            line,
            f"{what} {pattern!r} repeats a group that itself has an unbounded quantifier "
            "(catastrophic backtracking on attacker-controlled input); use a bounded repeat like {0,3}",
        )
    try:
        return re.compile(pattern, flags)
    except re.error as exc:
        raise CatalogError(path, line, f"invalid {what} {pattern!r}: {exc}") from None


def _split_alternatives(pattern: str) -> List[str]:
    """Split a regex on its top-level ``|`` (outside groups and character classes)."""
    parts: List[str] = []
    depth, start, i, n = 0, 0, 0, len(pattern)
    while i < n:
        ch = pattern[i]
        if ch == "\\":
            i += 2
            continue
        if ch == "[":
            i += 1
            if i < n and pattern[i] == "^":
                i += 1
            if i < n and pattern[i] == "]":
                i += 1
            while i < n and pattern[i] != "]":
                i += 2 if pattern[i] == "\\" else 1
        elif ch == "(":
            depth += 1
        elif ch == ")":
            depth -= 1
        elif ch == "|" and depth == 0:
            parts.append(pattern[start:i])
            start = i + 1
        i += 1
    parts.append(pattern[start:])
    return parts


def _ua_tests(pattern: str) -> Tuple[Tuple[int, Any], ...]:
    """Compile each top-level alternative to the cheapest equivalent test (see ``_UaRule.tests``)."""
    tests: List[Tuple[int, Any]] = []
    for alt in _split_alternatives(pattern):
        head, tail = alt.startswith("^"), alt.endswith("$") and not alt.endswith("\\$")
        core = alt[1 if head else 0 : len(alt) - 1 if tail else len(alt)]
        if core and not _REGEX_META.intersection(core):
            test = _EQUALS if head and tail else _PREFIX if head else _SUFFIX if tail else _CONTAINS
            tests.append((test, core))
        else:
            try:
                regex = re.compile(alt)
            except re.error:  # e.g. a backreference to a group in another alternative: keep it whole
                return ((_SEARCH, re.compile(pattern)),)
            tests.append((_MATCH if head else _SEARCH, regex))
    return tuple(tests)


_bare = schema.bare_event_name


def _norm_source(event_source: str) -> str:
    src = event_source.strip().lower()
    if src and "." not in src:
        src += ".amazonaws.com"
    return src


class Catalog:
    """Validated, indexed contents of one lookups directory. Build with :meth:`load`."""

    def __init__(
        self,
        directory: Path,
        tactics: Dict[str, Tactic],
        techniques: Dict[str, Technique],
        apis: Dict[Tuple[str, str], ApiInfo],
        ua_rules: Sequence[_UaRule],
        allow_rules: Dict[str, List[_AllowRule]],
        indicators: Sequence[Indicator],
    ) -> None:
        self.directory = directory
        self._tactics = tactics
        self._techniques = techniques
        self._apis = apis
        self._apis_bare: Dict[Tuple[str, str], ApiInfo] = {}
        for (src, name), info in apis.items():
            self._apis_bare.setdefault((src, _bare(name)), info)
        self._ua_rules = tuple(ua_rules)
        self._allow = allow_rules
        self._indicators = tuple(indicators)
        # Per instance so two catalogs never share answers; bounded so hostile cardinality cannot grow it.
        self._ua_cached: Callable[[str], Tuple[str, str]] = lru_cache(maxsize=UA_CACHE_SIZE)(self._classify)

    # ------------------------------------------------------------------ loading
    @classmethod
    def load(cls, lookups_dir: Optional[Union[str, os.PathLike]] = None) -> Catalog:
        """Read and validate every lookup file; raise :class:`CatalogError` on the first problem."""
        directory = Path(lookups_dir) if lookups_dir is not None else find_lookups_dir()
        tactics = cls._load_tactics(directory)
        techniques = cls._load_techniques(directory, tactics)
        apis = cls._load_apis(directory, tactics, techniques)
        return cls(
            directory,
            tactics,
            techniques,
            apis,
            cls._load_ua(directory),
            cls._load_allowlist(directory),
            cls._load_indicators(directory),
        )

    @staticmethod
    def _load_tactics(directory: Path) -> Dict[str, Tactic]:
        name = "attack_tactics.csv"
        out: Dict[str, Tactic] = {}
        for line, row in _rows(directory, name):
            tid = row["tactic_id"]
            if not _TACTIC_ID.match(tid):
                raise CatalogError(directory / name, line, f"tactic_id {tid!r} is not like TA0001")
            if tid in out:
                raise CatalogError(directory / name, line, f"duplicate tactic_id {tid}")
            if not row["shortname"] or not row["name"]:
                raise CatalogError(directory / name, line, "shortname and name must not be empty")
            out[tid] = Tactic(tid, row["shortname"], row["name"])
        return out

    @staticmethod
    def _load_techniques(directory: Path, tactics: Dict[str, Tactic]) -> Dict[str, Technique]:
        name = "attack_techniques.csv"
        path = directory / name
        out: Dict[str, Technique] = {}
        lines: Dict[str, int] = {}
        for line, row in _rows(directory, name):
            tid = row["technique_id"]
            if not _TECHNIQUE_ID.match(tid):
                raise CatalogError(path, line, f"technique_id {tid!r} is not like T1098 or T1098.001")
            if tid in out:
                raise CatalogError(path, line, f"duplicate technique_id {tid}")
            if not row["name"]:
                raise CatalogError(path, line, f"{tid} has no name")
            tac = tuple(t.strip() for t in row["tactic_ids"].split(";") if t.strip())
            if not tac:
                raise CatalogError(path, line, f"{tid} has no tactic_ids")
            unknown = [t for t in tac if t not in tactics]
            if unknown:
                raise CatalogError(path, line, f"{tid} names unknown tactic(s) {','.join(unknown)}")
            out[tid] = Technique(tid, row["name"], tac, row["url"])
            lines[tid] = line
        for tid, tech in out.items():
            if tech.parent_id != tid and tech.parent_id not in out:
                raise CatalogError(
                    path, lines[tid], f"sub-technique {tid} without its parent {tech.parent_id}"
                )
        return out

    @staticmethod
    def _load_apis(
        directory: Path, tactics: Dict[str, Tactic], techniques: Dict[str, Technique]
    ) -> Dict[Tuple[str, str], ApiInfo]:
        path = directory / SENSITIVE_APIS
        out: Dict[Tuple[str, str], ApiInfo] = {}
        for line, row in _rows(directory, SENSITIVE_APIS):
            src, ev = row["event_source"], row["event_name"]
            if not _EVENT_SOURCE.match(src) or not src.endswith(".amazonaws.com"):
                raise CatalogError(path, line, f"event_source {src!r} is not a lower-case *.amazonaws.com")
            if not _EVENT_NAME.match(ev):
                raise CatalogError(path, line, f"event_name {ev!r} is not an API name")
            if (src, ev) in out:
                raise CatalogError(path, line, f"duplicate key {src} {ev}")
            if row["category"] not in CATEGORIES:
                raise CatalogError(
                    path, line, f"category {row['category']!r} not in {', '.join(sorted(CATEGORIES))}"
                )
            tac, tech = row["tactic_id"], row["technique_id"]
            if tac not in tactics:
                raise CatalogError(path, line, f"unknown tactic_id {tac!r} (see attack_tactics.csv)")
            if tech:
                if tech not in techniques:
                    raise CatalogError(
                        path, line, f"unknown technique_id {tech!r} (see attack_techniques.csv)"
                    )
                if tac not in techniques[tech].tactic_ids:
                    raise CatalogError(
                        path,
                        line,
                        f"{tech} belongs to {';'.join(techniques[tech].tactic_ids)}, not to tactic {tac}",
                    )
            try:
                risk = int(row["risk"])
            except ValueError:
                risk = 0
            if not 1 <= risk <= 5:
                raise CatalogError(path, line, f"risk {row['risk']!r} is not an integer 1..5")
            out[(src, ev)] = ApiInfo(src, ev, row["category"], tac, tech, risk, row["description"])
        return out

    @staticmethod
    def _load_ua(directory: Path) -> List[_UaRule]:
        name = "user_agent_families.csv"
        path = directory / name
        rules: List[_UaRule] = []
        for line, row in _rows(directory, name):
            # Matched case-sensitively against the lower-cased userAgent: IGNORECASE disables the regex
            # engine's literal-prefix search and made uncached classification several times slower.
            if _UPPER_LITERAL.search(_ESCAPE.sub("", row["pattern"])):
                raise CatalogError(
                    path,
                    line,
                    f"pattern {row['pattern']!r} has upper-case letters; userAgents are lower-cased "
                    "before matching, so write patterns in lower case",
                )
            regex = _compile(path, line, row["pattern"], "pattern", flags=0)
            if row["kind"] not in UA_KINDS:
                raise CatalogError(path, line, f"kind {row['kind']!r} not in {', '.join(sorted(UA_KINDS))}")
            if not row["family"]:
                raise CatalogError(path, line, "empty family")
            if "$1" in row["family"] and regex.groups < 1:
                raise CatalogError(path, line, "family uses $1 but the pattern has no capturing group")
            rules.append(_UaRule(regex, row["family"], row["kind"], line, _ua_tests(row["pattern"])))
        return rules

    @staticmethod
    def _load_allowlist(directory: Path) -> Dict[str, List[_AllowRule]]:
        name = "allowlist.csv"
        path = directory / name
        out: Dict[str, List[_AllowRule]] = {}
        for line, row in _rows(directory, name):
            if row["field"] not in ALLOWLIST_FIELDS:
                raise CatalogError(
                    path, line, f"field {row['field']!r} not in {', '.join(sorted(ALLOWLIST_FIELDS))}"
                )
            if not row["reason"]:
                raise CatalogError(path, line, "every allowlist entry needs a reason")
            regex = _compile(path, line, row["pattern"], "pattern")
            out.setdefault(row["field"], []).append(_AllowRule(regex, row["reason"]))
        return out

    @staticmethod
    def _load_indicators(directory: Path) -> List[Indicator]:
        # One reader and one set of rules with the CTI loader (ctad.core.indicators): the first bad row stops the
        # load here with the message the CTI loader gives when it skips that row.
        path = directory / "cti_indicators.csv"
        try:
            found, problems = read_indicator_csv(path)
        except OSError as exc:
            raise CatalogError(path, None, f"cannot open: {exc.strerror or exc}") from None
        except IndicatorFileError as exc:
            raise CatalogError(path, exc.line, exc.problem) from None
        if problems:
            raise CatalogError(path, problems[0].line, problems[0].reason)
        return found

    # ------------------------------------------------------------------ queries
    def api(self, event_source: str, event_name: str) -> Optional[ApiInfo]:
        """Catalogue entry for eventSource+eventName (never eventName alone), or None.

        Tolerates a short source (``"iam"``), case in the source, and a missing or different API version
        suffix on the name (``UpdateFunctionConfiguration`` finds ``UpdateFunctionConfiguration20150331v2``).
        """
        if not event_source or not event_name:
            return None
        src = _norm_source(str(event_source))
        name = str(event_name).strip()
        info = self._apis.get((src, name))
        if info is None:
            info = self._apis_bare.get((src, _bare(name)))
        return info

    def apis(self) -> List[ApiInfo]:
        return list(self._apis.values())

    def technique(self, tid: str) -> Optional[Technique]:
        return self._techniques.get((tid or "").strip().upper())

    def techniques(self) -> List[Technique]:
        return list(self._techniques.values())

    def tactic(self, tid: str) -> Optional[Tactic]:
        return self._tactics.get((tid or "").strip().upper())

    def tactics(self) -> List[Tactic]:
        return list(self._tactics.values())

    def is_valid_technique(self, tid: str) -> bool:
        """True when ``tid`` is an ATT&CK id this product accepts (used to reject invented LLM ids)."""
        return isinstance(tid, str) and tid.strip().upper() in self._techniques

    def ua_family(self, user_agent: Optional[str]) -> Tuple[str, str]:
        """(family, kind) of a userAgent: first matching rule wins; ("unknown", "unknown") otherwise."""
        if user_agent is None:
            return UNKNOWN_UA
        if not isinstance(user_agent, str):
            user_agent = str(user_agent)
        return self._ua_cached(user_agent[:UA_MAX_LEN].strip())

    def _classify(self, ua: str) -> Tuple[str, str]:
        if not ua:
            return UNKNOWN_UA
        ua = ua.lower()
        for rule in self._ua_rules:
            for test, operand in rule.tests:
                if test == _CONTAINS:
                    hit = operand in ua
                elif test == _PREFIX:
                    hit = ua.startswith(operand)
                elif test == _SUFFIX:
                    hit = ua.endswith(operand)
                elif test == _EQUALS:
                    hit = ua == operand
                elif test == _MATCH:
                    hit = operand.match(ua) is not None
                else:
                    hit = operand.search(ua) is not None
                if hit:
                    family = rule.family
                    if "$1" in family:
                        m = rule.regex.search(ua)
                        family = family.replace("$1", (m.group(1) if m and m.group(1) else "").lower())
                    return family, rule.kind
        return UNKNOWN_UA

    def allowlist_matches(self, field: str, value: Optional[str]) -> List[str]:
        """Reasons of every allowlist entry whose pattern matches the whole value of ``field``."""
        if value is None:
            return []
        rules = self._allow.get(field)
        if not rules:
            return []
        text = str(value)[:VALUE_MAX_LEN].strip()
        return [r.reason for r in rules if r.regex.fullmatch(text)]

    def indicators(self, type: Optional[str] = None) -> List[Indicator]:
        """Local CTI entries, optionally only one ``type``."""
        if type is None:
            return list(self._indicators)
        return [i for i in self._indicators if i.type == type]

    def __repr__(self) -> str:
        return (
            f"Catalog({str(self.directory)!r}: {len(self._apis)} apis, {len(self._techniques)} techniques, "
            f"{len(self._ua_rules)} ua rules, {sum(len(v) for v in self._allow.values())} allowlist, "
            f"{len(self._indicators)} indicators)"
        )


def main(argv: Optional[List[str]] = None) -> int:
    """``python -m ctad.core.catalog [DIR]``: validate a lookups directory (what an analyst runs after an edit)."""
    args = sys.argv[1:] if argv is None else argv
    try:
        cat = Catalog.load(args[0] if args else None)
    except CatalogError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    print(repr(cat))
    return 0


if __name__ == "__main__":
    sys.exit(main())
