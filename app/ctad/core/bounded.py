"""Numbers taken from events, bounded before they reach `exp`, `log`, `round`, `int` or a serialiser.

Every count, time and size in a CloudTrail row is written by someone we do not trust (request parameters, a
forged file, a poisoned baseline) or grows with the data (a busy identity makes thousands of calls in minutes).
`math.expm1(710)` raises `OverflowError`, `math.log1p(-1)` a domain error, `int(float("nan"))` a `ValueError`,
`float(10**400)` an `OverflowError`, and any one of them used to end a whole run. The helpers here never raise
and never return a non-finite number where the caller cannot handle one, so the engine is safe by construction:
each value is bounded once, where it enters (normaliser, profile, reasons), and the hot paths behind those
entry points (`FeatureState.process`) can rely on finite, non-negative counts and plausible times.

Standard library only: this module is on the search-time path (Splunk's Python 3.9 and 3.13).
"""

from __future__ import annotations

import math
import re
from typing import Any, Iterator, Match, Optional, Union

# exp(x) overflows a double just above x = 709.78; keeping a margin makes expm1/exp of any bounded value finite.
EXP_MAX = 700.0
# Counts larger than this are not real CloudTrail volumes (2**53: the largest integer a double holds exactly);
# clamping there keeps every count exact as a float and finite as an int.
MAX_COUNT = 2**53
# The times the engine accepts are CloudTrail's (`implausible_time` below); this is only the outer guard for a
# conversion: a few thousand years either side of the epoch, where datetime and float arithmetic stay exact.
MAX_ABS_SECONDS = 1e11


def to_float(value: Any) -> Optional[float]:
    """A finite float from a number or numeric string, or None: never raises (huge ints, 'nan', 'inf', objects)."""
    if isinstance(value, bool):
        return None
    number: Union[int, float, str, bytes]
    if isinstance(value, (int, float)):
        number = value
    elif isinstance(value, (str, bytes)):
        if len(value) > 64:  # no finite double needs more; also keeps int() digit limits out of reach
            return None
        number = value
    else:
        return None
    try:
        out = float(number)
    except (ValueError, OverflowError, TypeError):
        return None
    return out if math.isfinite(out) else None


def count(value: Any, default: int = 0) -> int:
    """A non-negative int count from anything: NaN, garbage and negatives give `default` (or 0), huge is clamped."""
    number = to_float(value)
    if number is None:
        if isinstance(value, (int, float)) and not isinstance(value, bool) and value > 0:
            return MAX_COUNT  # +inf or an int too big for a float: as large as a count can be
        return max(0, default)
    if number <= 0:
        return 0
    return MAX_COUNT if number >= MAX_COUNT else int(number)


def seconds(value: Any, default: Optional[float] = None) -> Optional[float]:
    """Seconds since the epoch as a finite float within `MAX_ABS_SECONDS`, or `default`."""
    number = to_float(value)
    if number is None or not -MAX_ABS_SECONDS <= number <= MAX_ABS_SECONDS:
        return default
    return number


def clamp(value: float, low: float, high: float) -> float:
    """`value` within [low, high]; NaN gives `low` (a bound is always a number)."""
    if not value >= low:  # also NaN
        return low
    return high if value > high else value


def expm1(x: float) -> float:
    """`math.expm1` that cannot overflow: the exponent is clamped to EXP_MAX; NaN stays NaN."""
    if x != x:
        return x
    return math.expm1(x if x < EXP_MAX else EXP_MAX)


def log1p(x: float) -> float:
    """`math.log1p` of a count or duration: negatives (bad data) count as 0, +inf as MAX_COUNT; NaN stays NaN."""
    if x != x:
        return x
    if x <= 0.0:
        return 0.0
    return math.log1p(x if x < MAX_COUNT else MAX_COUNT)


def whole(value: float, default: int = 0) -> int:
    """`int(value)` that never raises: NaN gives `default`, infinities and huge values are clamped to MAX_COUNT."""
    if value != value:
        return default
    if value >= MAX_COUNT:
        return MAX_COUNT
    if value <= -MAX_COUNT:
        return -MAX_COUNT
    return int(value)


# ---------------------------------------------------------------------------------------------- event times
DAY = 86400.0
# CloudTrail was announced on 2013-11-13; nothing it wrote can be older than the start of that month.
CLOUDTRAIL_START = 1383264000.0  # 2013-11-01T00:00:00Z
# Clocks drift and deliveries are late, but an event cannot come from more than a day after the run's own clock.
FUTURE_SLACK = DAY


def latest_plausible(now: Optional[float] = None) -> float:
    """The newest eventTime a run started at `now` (default: the wall clock) accepts."""
    import time

    return (time.time() if now is None else float(now)) + FUTURE_SLACK


def describe_time(t: float) -> str:
    """ISO-8601 text of a time for a message, whatever the number (years beyond 9999 cannot be formatted)."""
    import datetime as dt

    try:
        return dt.datetime.fromtimestamp(t, tz=dt.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")
    except (OverflowError, ValueError, OSError):
        return f"{t!r:.30} seconds since 1970"


def implausible_time(t: float, latest: float) -> Optional[str]:
    """Why an eventTime cannot be a real CloudTrail time for a run whose clock allows up to `latest`, or None.

    An event dated 2199 used to become the profile's "newest" event, so retention pruned everything before it
    and the baseline looked trusted; one dated 1970 made an hour of history look like decades. Such events are
    answered with a `ct_error` and never enter the feature state or a profile."""
    if t != t:
        return "implausible eventTime: not a number"
    if t < CLOUDTRAIL_START:
        return (
            f"implausible eventTime: {describe_time(t)} is before CloudTrail existed (2013-11-01); not scored"
        )
    if t > latest:
        # the clock itself stays out of the message: reruns of the same input must write the same bytes
        return (
            f"implausible eventTime: {describe_time(t)} is more than a day after this run's clock; not scored"
        )
    return None


# ------------------------------------------------------------------------------------------------- nesting
# CloudTrail's own events nest fewer than 20 levels. Parsers and serialisers stop far lower than memory does
# (orjson writes at most 254 levels and reads 1024; the standard library's json recurses until ~1000), so one
# forged event used to end a whole run. Deeper than this, an event is answered with a ct_error at every door
# (CLI, Splunk, Elastic) alike, whichever JSON library is installed, and its text is kept as far as possible.
MAX_NESTING = 200
NESTING_TRUNCATED = "[nested too deeply: cut by ctad]"


def nesting_error(depth_limit: int = MAX_NESTING) -> str:
    return f"event nested more than {depth_limit} levels deep; not scored (CloudTrail events nest < 20)"


def _could_nest(text: Any, limit: int) -> bool:
    """False when `text` has too few brackets to nest `limit` levels: two C-level counts, no parse."""
    if isinstance(text, (bytes, bytearray)):
        return text.count(b"{") + text.count(b"[") > limit
    if isinstance(text, str):
        return text.count("{") + text.count("[") > limit
    return True


def too_deep(obj: Any, text: Any = None, limit: int = MAX_NESTING) -> bool:
    """True when `obj` (parsed from `text`, when known) nests containers more than `limit` levels.

    Iterative, so it cannot itself hit a recursion limit, and it stops as soon as it knows; with `text` it costs
    two byte counts for every ordinary event."""
    if text is not None and not _could_nest(text, limit):
        return False
    stack = [(obj, 1)]
    while stack:
        node, depth = stack.pop()
        if isinstance(node, dict):
            children: Any = node.values()
        elif isinstance(node, list):
            children = node
        else:
            continue
        if depth > limit:
            return True
        stack.extend((child, depth + 1) for child in children if isinstance(child, (dict, list)))
    return False


_TEXT_TOKENS = re.compile(r'"(?:[^"\\]|\\.)*"|[\[\]{}]')
_BYTES_TOKENS = re.compile(_TEXT_TOKENS.pattern.encode())


def text_too_deep(text: Any, limit: int = MAX_NESTING) -> bool:
    """True when JSON `text` opens containers more than `limit` levels deep, whether or not it parses.

    For text a parser refused: orjson stops at 1,024 levels and the standard library wherever the interpreter's
    stack ends (which depends on the caller's own depth and recursion limit), so "did it parse" cannot decide
    whether an event is too deep without the answer changing from one process to another. A bracket scan that
    skips strings whole (one regular expression, no recursion) decides it from the text alone."""
    if not isinstance(text, (str, bytes, bytearray)) or not _could_nest(text, limit):
        return False
    matches: Iterator[Match[Any]]
    opening: Any
    if isinstance(text, str):
        matches, opening = _TEXT_TOKENS.finditer(text), "{["
    else:
        matches, opening = _BYTES_TOKENS.finditer(text), (b"{", b"[")
    depth = 0
    for match in matches:
        token = match.group()
        if token in opening:
            depth += 1
            if depth > limit:
                return True
        elif len(token) == 1:  # a closing bracket (a string token is at least two quotes long)
            depth -= 1
    return False


def cut_nesting(obj: Any, limit: int = MAX_NESTING) -> Any:
    """A copy of `obj` with containers deeper than `limit` replaced by NESTING_TRUNCATED (iterative)."""

    def shallow(node: Any) -> Any:
        return dict(node) if isinstance(node, dict) else list(node) if isinstance(node, list) else node

    root = shallow(obj)
    stack = [(root, 1)]
    while stack:
        node, depth = stack.pop()
        items = node.items() if isinstance(node, dict) else enumerate(node)
        for key, child in list(items):
            if isinstance(child, (dict, list)):
                if depth >= limit:
                    node[key] = NESTING_TRUNCATED
                else:
                    node[key] = copy = shallow(child)
                    stack.append((copy, depth + 1))
    return root
