"""The one base class of every error ctad raises on purpose.

Why: a front door (the CLI, the Splunk commands, the Elastic adapter) wants to tell "ctad refused this input or
setting, and the message says why" from "a bug". Each module keeps its own error class, with its own message and,
where callers already rely on it, its old built-in base (``ValueError``, ``RuntimeError``), so ``except
ValueError`` keeps working; they all also derive from :class:`CtadError`, so ``except CtadError`` catches any
of them and nothing else.
"""

from __future__ import annotations

__all__ = ["CtadError"]


class CtadError(Exception):
    """An error with a message meant for the user: bad input, a bad data file, a bad setting."""
