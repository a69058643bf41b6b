"""JSON in and out for every door: one `loads` and one `dumps`, alike with and without orjson.

Why one home: the readers, the writers and the simulator must agree byte for byte on what a row's JSON text is
(the parallel pipeline's output is held to the single-process one, training data to serving data), and orjson is an
optional accelerator (Splunk's Python has no compiled extras), so both paths are defined here, side by side, and
made to give the same values: a lone UTF-16 surrogate is U+FFFD on every path. Standard library only.
"""

from __future__ import annotations

import codecs
import json
import re
from typing import Any, Tuple

# Lone UTF-16 surrogates ("al\\ud800ice" in an attacker-written userAgent or bucket name) are valid JSON text but
# not Unicode: orjson refuses the whole document, the stdlib accepts it and the string then cannot be encoded
# (every writer fails). Both paths therefore give the same event with each lone surrogate as U+FFFD.
_SURROGATE = re.compile("[\ud800-\udfff]")
_SURROGATE_HINT = re.compile(r"\\u[dD][89a-fA-F]|[\ud800-\udfff]")


def scrub_surrogates(text: str) -> str:
    """`text` with each lone surrogate replaced by U+FFFD (the text itself when it has none)."""
    return _SURROGATE.sub("\ufffd", text)


def _fffd(exc: UnicodeError) -> Tuple[bytes, int]:
    # bytes, not "\ufffd": the UTF-8 encoder accepts a str replacement only when it is ASCII
    if isinstance(exc, UnicodeEncodeError) and exc.encoding.replace("-", "").lower() == "utf8":
        return "\ufffd".encode() * (exc.end - exc.start), exc.end
    raise exc


# Writers encode with errors=UTF8_ERRORS: a lone surrogate that reached a value some other way (a dict from the
# Elasticsearch client, a caller's str) is written as U+FFFD instead of failing the whole output.
UTF8_ERRORS = "ctad-fffd"
codecs.register_error(UTF8_ERRORS, _fffd)


def utf8(text: str) -> bytes:
    """`text` as UTF-8, a lone surrogate as U+FFFD (costs nothing when there is none)."""
    return text.encode("utf-8", UTF8_ERRORS)


def scrub_doc(doc: Any) -> Any:
    """A parsed JSON document with lone surrogates replaced in every key and string; iterative (any depth)."""
    if isinstance(doc, str):
        return scrub_surrogates(doc)
    stack = [doc]
    while stack:
        node = stack.pop()
        if isinstance(node, dict):
            items = [(scrub_surrogates(k), v) for k, v in node.items()]
            if any(k not in node for k, _ in items):  # a key changed: rebuild, keeping the order
                node.clear()
                node.update(items)
            for k, v in items:
                if isinstance(v, str):
                    node[k] = scrub_surrogates(v)
                elif isinstance(v, (dict, list)):
                    stack.append(v)
        elif isinstance(node, list):
            for i, v in enumerate(node):
                if isinstance(v, str):
                    node[i] = scrub_surrogates(v)
                elif isinstance(v, (dict, list)):
                    stack.append(v)
    return doc


def _loads_stdlib(text: Any) -> Any:
    if isinstance(text, (bytes, bytearray)):
        # Not UTF-8 (a tampered file) raises UnicodeDecodeError, a ValueError, as orjson does: the readers then
        # decode with U+FFFD and know the bytes cannot be copied to the output as they are.
        text = bytes(text).decode("utf-8")
    try:
        doc = json.loads(text)
    except RecursionError:  # nesting deeper than the interpreter's stack: bad input like any other
        raise ValueError("JSON nested too deeply") from None
    if (not text.isascii() or "\\u" in text) and _SURROGATE_HINT.search(text):
        doc = scrub_doc(doc)
    return doc


try:  # orjson parses 3-5x faster; it is optional (Splunk's Python has no compiled extras)
    import orjson as _orjson

    def loads(text: Any) -> Any:
        """JSON text -> value, each lone surrogate as U+FFFD, exactly as without orjson."""
        try:
            return _orjson.loads(text)
        except _orjson.JSONDecodeError:
            # orjson refuses a lone surrogate outright: the stdlib path decides (and raises ValueError for text
            # that is not JSON, or bytes that are not UTF-8, as orjson did).
            return _loads_stdlib(text)

except ImportError:  # pragma: no cover - exercised on Splunk's Python
    _orjson = None

    def loads(text: Any) -> Any:
        """JSON text -> value, each lone surrogate as U+FFFD, exactly as with orjson."""
        return _loads_stdlib(text)


def _dumps_stdlib(obj: Any) -> bytes:
    """Compact JSON; a lone surrogate (never from `loads`, possible from Python callers) becomes U+FFFD."""
    return utf8(json.dumps(obj, separators=(",", ":"), ensure_ascii=False, default=str))


if _orjson is not None:

    def dumps(obj: Any) -> bytes:
        """Compact JSON text as UTF-8 bytes, the same bytes as without orjson for what `loads` gives."""
        try:
            return _orjson.dumps(obj)
        except TypeError:  # keys that are not strings or lone surrogates: never from JSON input
            try:
                return _orjson.dumps(obj, option=_orjson.OPT_NON_STR_KEYS)
            except TypeError:
                return _dumps_stdlib(obj)

else:  # pragma: no cover - exercised on Splunk's Python
    dumps = _dumps_stdlib
