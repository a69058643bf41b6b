"""Command options: ``name=value`` arguments from getinfo's ``searchinfo.args``, each parsed by a small validator.

The validators (`boolean`, `number`, `choice`, `name`) play the part of splunklib's `validators` module: each
raises ValueError with a message meant for the user, and `parse_options` gathers every problem into one
`CommandError` instead of stopping at the first.
"""

from __future__ import annotations

import re
from typing import Any, Callable, Dict, Iterable, List, Optional

from ctad.core.errors import CtadError
from ctad.engine.argtypes import truth


class CommandError(CtadError):
    """A problem meant for the user (bad option value, unusable baseline...): shown as a search error."""


class Option:
    """One ``name=value`` argument: a parser that raises ValueError with a user-facing message."""

    def __init__(self, parse: Callable[[str], Any], default: Any, help: str = "") -> None:
        self.parse = parse
        self.default = default
        self.help = help


def boolean(text: str) -> bool:
    value = truth(text)
    if value is None:
        raise ValueError("expected true or false")
    return value


def number(
    lo: Optional[float] = None, hi: Optional[float] = None, integer: bool = False
) -> Callable[[str], Any]:
    def parse(text: str) -> Any:
        try:
            value: Any = int(text) if integer else float(text)
        except ValueError:
            raise ValueError("expected " + ("an integer" if integer else "a number")) from None
        if value != value or (lo is not None and value < lo) or (hi is not None and value > hi):
            raise ValueError(
                f"expected a value in [{lo if lo is not None else '-inf'}, {hi if hi is not None else 'inf'}]"
            )
        return value

    return parse


def choice(*values: str) -> Callable[[str], str]:
    def parse(text: str) -> str:
        if text not in values:
            raise ValueError("expected one of " + ", ".join(values))
        return text

    return parse


def name(text: str) -> str:
    if not text or not re.fullmatch(r"[A-Za-z0-9_.\-]+", text):
        raise ValueError("expected a name made of letters, digits, '_', '-', '.'")
    return text


def parse_options(args: Iterable[str], spec: Dict[str, Option], command: str) -> Dict[str, Any]:
    """``searchinfo.args`` -> {option: value}; CommandError listing every bad or unknown argument."""
    values = {k: o.default for k, o in spec.items()}
    problems: List[str] = []
    for arg in args:
        if not isinstance(arg, str):
            continue
        if "=" not in arg:
            problems.append(f"unexpected argument {arg!r} (use name=value)")
            continue
        key, value = arg.split("=", 1)
        key = key.strip()
        value = value.strip()
        if len(value) >= 2 and value[0] == value[-1] == '"':
            value = value[1:-1]
        opt = spec.get(key)
        if opt is None:
            problems.append(f"unknown option {key!r} (valid: {', '.join(sorted(spec))})")
            continue
        try:
            values[key] = opt.parse(value)
        except ValueError as exc:
            problems.append(f"{key}={value!r}: {exc}")
    if problems:
        raise CommandError(f"{command}: " + "; ".join(problems))
    return values
