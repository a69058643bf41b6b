"""Threat-intelligence indicators: the one set of rules for what an indicator is, for every door that reads one.

The local ``lookups/cti_indicators.csv`` is read by the catalogue (``Detector()``, ``python -m ctad.core.catalog``)
and by the CTI loader (``ctad cti``, triage); feeds (STIX, TAXII, MISP) go through the same ``make_indicator``.
One owner means a row one door accepts the other accepts too, and a bad row gets the same message from both
(the catalogue stops with it as ``file:line: problem``, the CTI loader skips the row with ``line N: problem``).

Feeds disagree on spelling ("ip-src", "ipv4-addr", "IPv4"), on confidence scales (0..100, 0..1, "high") and on
whether a network is written "1.2.3.4/32" or "1.2.3.4". Normalising once at load time keeps the matcher simple and
fast, and lets a bad feed row be reported as skipped instead of crashing triage. Standard library only: the
catalogue loads this at search time.
"""

from __future__ import annotations

import csv
import ipaddress
import re
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, Dict, List, NamedTuple, Optional, Tuple, Union

from ctad.core.errors import CtadError

TYPES = ("ipv4", "ipv6", "cidr", "user_agent", "access_key_id", "account_id", "domain")

# Spellings seen in feeds -> our type. "ip" is resolved to ipv4/ipv6/cidr from the value.
TYPE_ALIASES = {
    "ip": "ip",
    "ipv4": "ipv4",
    "ipv4-addr": "ipv4",
    "ip-src": "ip",
    "ip-dst": "ip",
    "ipv6": "ipv6",
    "ipv6-addr": "ipv6",
    "cidr": "cidr",
    "network": "cidr",
    "subnet": "cidr",
    "user_agent": "user_agent",
    "user-agent": "user_agent",
    "useragent": "user_agent",
    "ua": "user_agent",
    "access_key_id": "access_key_id",
    "access-key-id": "access_key_id",
    "accesskeyid": "access_key_id",
    "aws_access_key_id": "access_key_id",
    "account_id": "account_id",
    "account-id": "account_id",
    "accountid": "account_id",
    "aws_account_id": "account_id",
    "domain": "domain",
    "domain-name": "domain",
    "hostname": "domain",
    "fqdn": "domain",
}

CONFIDENCE_WORDS = {"high": 85, "medium": 50, "moderate": 50, "low": 15, "none": 0, "unknown": 50}
DEFAULT_CONFIDENCE = 50

# AWS key ids: 4-letter prefix (AKIA long-term, ASIA temporary, ...) + upper-case base32-ish body.
ACCESS_KEY_RE = re.compile(r"^A[A-Z0-9]{3}[A-Z0-9]{12,124}$")
ACCOUNT_RE = re.compile(r"^\d{12}$")
DOMAIN_RE = re.compile(r"^(?=.{1,253}$)(?:[a-z0-9_](?:[a-z0-9_-]{0,61}[a-z0-9])?\.)+[a-z0-9-]{2,63}$")

# A user-agent indicator is a regex run against attacker-controlled text. Python's `re` has no timeout, so refuse
# patterns with the classic catastrophic-backtracking shape (a quantified group that contains a quantifier,
# e.g. "(a+)+", "(.*a)*") and overly long ones; the input side is truncated in the index.
MAX_UA_PATTERN = 512
_NESTED_QUANTIFIER = re.compile(r"\((?:[^()\\]|\\.)*[+*}](?:[^()\\]|\\.)*\)\s*[+*{]")


class IndicatorError(CtadError, ValueError):
    """A feed row that cannot become an indicator (the message says why; the loader records it as skipped)."""


class IndicatorFileError(CtadError, ValueError):
    """An indicator CSV that cannot be read at all (missing columns, not UTF-8, broken quoting); `line` is where,
    when known. Each door wraps it in its own error class with the file's path."""

    def __init__(self, line: Optional[int], problem: str) -> None:
        self.line = line
        self.problem = problem
        super().__init__(problem)


@dataclass(frozen=True)
class Indicator:
    """A normalised indicator. `indicator` is the canonical value (lower-case domain, compressed IP, ...)."""

    indicator: str
    type: str
    source: str = ""
    threat: str = ""
    confidence: int = DEFAULT_CONFIDENCE
    description: str = ""

    def to_dict(self) -> Dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, row: Dict[str, Any]) -> Indicator:
        return make_indicator(
            row.get("indicator", ""),
            row.get("type", ""),
            source=row.get("source", ""),
            threat=row.get("threat", ""),
            confidence=row.get("confidence"),
            description=row.get("description", ""),
        )


def parse_confidence(value: Any) -> int:
    """0..100 from an int, a 0..1 float, a numeric string or a word (high/medium/low); default when empty."""
    if value is None or value == "":
        return DEFAULT_CONFIDENCE
    if isinstance(value, bool):
        return 100 if value else 0
    text = str(value).strip().lower()
    if text in CONFIDENCE_WORDS:
        return CONFIDENCE_WORDS[text]
    try:
        number = float(text)
    except ValueError as exc:
        raise IndicatorError(f"confidence {value!r} is not a number or high/medium/low") from exc
    if number != number:  # NaN
        return DEFAULT_CONFIDENCE
    if 0 < number <= 1 and "." in text:
        number *= 100
    return int(max(0, min(100, round(number))))


def check_user_agent_pattern(pattern: str) -> re.Pattern:
    """Compile a user-agent regex, refusing shapes that could backtrack catastrophically on hostile input."""
    if not pattern:
        raise IndicatorError("empty user-agent pattern")
    if len(pattern) > MAX_UA_PATTERN:
        raise IndicatorError(f"user-agent pattern longer than {MAX_UA_PATTERN} characters")
    if _NESTED_QUANTIFIER.search(pattern):
        raise IndicatorError("user-agent pattern has a nested quantifier (catastrophic backtracking risk)")
    try:
        return re.compile(pattern, re.IGNORECASE)
    except re.error as exc:
        raise IndicatorError(f"user-agent pattern is not a valid regex: {exc}") from exc


def _normalise_ip(value: str, declared: str) -> tuple:
    """(canonical value, type) for an address or network; a host-sized network becomes an address."""
    try:
        if "/" in value:
            net = ipaddress.ip_network(value, strict=False)
            if net.prefixlen == net.max_prefixlen:
                return str(net.network_address), f"ipv{net.version}"
            return str(net), "cidr"
        addr = ipaddress.ip_address(value)
    except ValueError as exc:
        raise IndicatorError(f"{value!r} is not an IP address or network ({declared})") from exc
    if addr.version == 6 and addr.ipv4_mapped is not None:
        addr = addr.ipv4_mapped
    return str(addr), f"ipv{addr.version}"


def normalise_domain(value: str) -> str:
    """Lower-case, no trailing dot, no leading wildcard, IDNA-encoded; raises IndicatorError when not a name."""
    text = value.strip().lower().rstrip(".")
    if text.startswith("*."):
        text = text[2:]
    try:
        text = text.encode("idna").decode("ascii")
    except UnicodeError as exc:
        raise IndicatorError(f"{value!r} is not a valid domain name") from exc
    if not DOMAIN_RE.match(text):
        raise IndicatorError(f"{value!r} is not a valid domain name")
    return text


def make_indicator(
    value: Any,
    type_: Any,
    source: Any = "",
    threat: Any = "",
    confidence: Any = None,
    description: Any = "",
) -> Indicator:
    """Build a normalised Indicator or raise IndicatorError saying what is wrong with the row."""
    text = str(value or "").strip()
    if not text:
        raise IndicatorError("empty indicator value")
    declared = str(type_ or "").strip().lower()
    kind = TYPE_ALIASES.get(declared)
    if kind is None:
        raise IndicatorError(f"unsupported indicator type {type_!r} (supported: {', '.join(TYPES)})")
    if kind in ("ip", "ipv4", "ipv6", "cidr"):
        text, kind = _normalise_ip(text, declared)
    elif kind == "domain":
        text = normalise_domain(text)
    elif kind == "access_key_id":
        text = text.upper()
        if not ACCESS_KEY_RE.match(text):
            raise IndicatorError(f"{value!r} does not look like an AWS access key id")
    elif kind == "account_id":
        text = text.replace("-", "").replace(" ", "")
        if not ACCOUNT_RE.match(text):
            raise IndicatorError(f"{value!r} is not a 12-digit AWS account id")
    elif kind == "user_agent":
        check_user_agent_pattern(text)
    return Indicator(
        indicator=text,
        type=kind,
        source=str(source or "").strip(),
        threat=str(threat or "").strip(),
        confidence=parse_confidence(confidence),
        description=str(description or "").strip(),
    )


# ------------------------------------------------------------------------------------------------ the CSV
CSV_COLUMNS = ("indicator", "type", "source", "threat", "confidence", "description")
REQUIRED_COLUMNS = ("indicator", "type")


class RowProblem(NamedTuple):
    """A row of an indicator CSV that is not an indicator: its line, its (truncated) value and why."""

    line: int
    indicator: str
    reason: str


def read_csv(path: Union[str, Path], source: str = "") -> Tuple[List[Indicator], List[RowProblem]]:
    """The indicators of a CSV with columns indicator,type[,source,threat,confidence,description], and the rows
    that are not, in file order. Rows whose first field starts with '#' are comments; `source` fills an empty
    source column. Raises IndicatorFileError when the file as a whole cannot be read, OSError when it cannot be
    opened.

    A second row with the same (type, normalised value) is a problem, not an indicator: in a hand-edited file it
    is a copy-paste slip, and two rows disagreeing on threat or confidence would make the match depend on order.
    """
    found: List[Indicator] = []
    problems: List[RowProblem] = []
    first_line: Dict[Tuple[str, str], int] = {}
    with open(path, newline="", encoding="utf-8-sig") as handle:
        reader = csv.reader(handle, strict=True)
        try:
            header = [h.strip() for h in next(reader, None) or []]
            missing = [c for c in REQUIRED_COLUMNS if c not in header]
            if missing:
                raise IndicatorFileError(
                    1, f"missing column(s) {', '.join(missing)} (expected {','.join(CSV_COLUMNS)})"
                )
            index = {c: header.index(c) for c in CSV_COLUMNS if c in header}
            for record in reader:
                line = reader.line_num
                if not record or all(not f.strip() for f in record) or record[0].lstrip().startswith("#"):
                    continue
                row = {c: record[i] if i < len(record) else "" for c, i in index.items()}
                try:
                    ind = make_indicator(
                        row.get("indicator"),
                        row.get("type"),
                        row.get("source") or source,
                        row.get("threat"),
                        row.get("confidence"),
                        row.get("description"),
                    )
                except IndicatorError as exc:
                    problems.append(RowProblem(line, str(row.get("indicator", ""))[:200], str(exc)))
                    continue
                key = (ind.type, ind.indicator)
                if key in first_line:
                    reason = (
                        f"duplicate {ind.type} indicator {ind.indicator!r} (first on line {first_line[key]})"
                    )
                    problems.append(RowProblem(line, ind.indicator[:200], reason))
                    continue
                first_line[key] = line
                found.append(ind)
        except csv.Error as exc:
            raise IndicatorFileError(reader.line_num, f"CSV syntax error: {exc}") from None
        except UnicodeDecodeError as exc:
            raise IndicatorFileError(None, f"not UTF-8: {exc}") from None
    return found, problems
