"""argparse ``type=`` validators shared by the ``ctad`` subcommands.

Why here: each option is checked once, where argparse reads it, so every command that takes ``--threshold`` or
``--spill-dir`` refuses the same bad values with the same one-line message and exit code 2, before any input is
read. A check inside the command would come after a long read, or be forgotten by the next command.
"""

from __future__ import annotations

import argparse
import math
import os
import re
from typing import Callable, Optional


def float_range(low: float, high: float) -> Callable[[str], float]:
    """A finite number in [low, high] (a threshold is float_range(0, 1): nan or inf would flag every row or none)."""

    def parse(text: str) -> float:
        try:
            value = float(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"{text!r} is not a number") from None
        if not math.isfinite(value) or not low <= value <= high:
            raise argparse.ArgumentTypeError(f"{text!r} must be a number from {low:g} to {high:g}")
        return value

    return parse


def int_range(low: int, high: Optional[int] = None) -> Callable[[str], int]:
    """An integer option in [low, high] (no upper bound when high is None)."""

    def parse(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"{text!r} is not a whole number") from None
        if value < low or (high is not None and value > high):
            span = f"from {low} to {high}" if high is not None else f"at least {low}"
            raise argparse.ArgumentTypeError(f"{text!r} must be {span}")
        return value

    return parse


def existing_dir(text: str) -> str:
    """A directory for temporary files: it must exist and be writable now, not fail after the whole read."""
    if not os.path.isdir(text):
        raise argparse.ArgumentTypeError(f"{text!r} is not an existing directory")
    if not os.access(text, os.W_OK | os.X_OK):
        raise argparse.ArgumentTypeError(f"{text!r} is not writable")
    return text


def seconds(allow_zero: bool = True, most: float = 86400.0) -> Callable[[str], float]:
    """A duration option: finite, not negative (nor zero unless allowed), at most a day; ``time.sleep(nan)``
    and a timeout of inf fail late or never."""

    def parse(text: str) -> float:
        try:
            value = float(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"{text!r} is not a number of seconds") from None
        low_ok = value >= 0.0 if allow_zero else value > 0.0
        if not math.isfinite(value) or not low_ok or value > most:
            floor = "0" if allow_zero else "more than 0"
            raise argparse.ArgumentTypeError(f"{text!r} must be {floor} and at most {most:g} seconds")
        return value

    return parse


def truth(text: str) -> Optional[bool]:
    """A yes/no word as Splunk spells it (true/false, t/f, yes/no, 1/0, on/off); None for anything else."""
    low = text.strip().lower()
    if low in ("1", "t", "true", "y", "yes", "on"):
        return True
    if low in ("0", "f", "false", "n", "no", "off"):
        return False
    return None


def boolean(text: str) -> bool:
    """A yes/no option (see `truth`)."""
    value = truth(text)
    if value is None:
        raise argparse.ArgumentTypeError(f"{text!r} is not true or false")
    return value


def choice(*values: str) -> Callable[[str], str]:
    """One of a fixed set of words."""

    def parse(text: str) -> str:
        if text not in values:
            raise argparse.ArgumentTypeError(f"{text!r} is not one of {', '.join(values)}")
        return text

    return parse


def lookup_name(text: str) -> str:
    """A Splunk lookup or KV store collection name: letters, digits, '_', '-', '.' (no path, no quoting)."""
    if not text or not re.fullmatch(r"[A-Za-z0-9_.\-]+", text):
        raise argparse.ArgumentTypeError(f"{text!r} is not a name made of letters, digits, '_', '-', '.'")
    return text
