"""Untrusted CloudTrail text: find prompt-injection attempts and wrap the text so a model reads it as data.

Attackers write userAgent, requestParameters (resource names, tags, policy documents), errorMessage and failed
console user names. Two defences live here:

* `find_injection` looks for instruction-like text aimed at an LLM (override phrases, role markers, verdict words,
  fake delimiters, invisible Unicode). A hit is evidence of hostile intent: it raises severity and forbids a
  false_positive verdict; it never lowers anything.
* `spotlight` JSON-encodes untrusted values (so quotes, newlines and control or tag characters are escaped and
  visible) and wraps them in a block whose tag carries a per-request random nonce, which text inside cannot close.
  The system prompt tells the model that nothing inside such a block is an instruction.
"""

from __future__ import annotations

import json
import re
import secrets
import unicodedata
from typing import Any, Dict, Iterator, List, Tuple

# Instruction-like phrases aimed at a model reading the log. Kept specific: CloudTrail text is full of words
# like "ignore" or "system" in benign contexts (resource names, error messages), so each pattern needs an
# imperative shape or a reference to the model / its instructions / its verdict.
_PATTERNS: Tuple[Tuple[str, str], ...] = (
    (
        "override",
        r"\b(ignore|disregard|forget|override|bypass)\b.{0,40}\b(previous|prior|above|earlier|all|any|system|your)\b.{0,30}\b(instructions?|prompts?|rules?|guidelines?|context|directives?)",
    ),
    ("new_instructions", r"\b(new|updated|real|actual)\s+(instructions?|system\s+prompt|directives?)\b"),
    ("role_marker", r"(^|\n|\\n|###)\s*(system|assistant|human|developer)\s*:\s*\S"),
    (
        "chat_markup",
        r"(<\|?(im_start|im_end|system|endoftext)\|?>|\[/?INST\]|<</?SYS>>|</?(system|instructions?|untrusted[\w-]*)>)",
    ),
    (
        "addressing_model",
        r"\b(you are (now )?(an?|the)\b|as an ai\b|dear (ai|assistant|model|llm|analyst bot)|(hey|attention)\s+(ai|assistant|claude|gpt|llm)\b|\b(claude|chatgpt|gpt-?4|llm|language model)\b.{0,40}\b(must|should|will|please)\b)",
    ),
    (
        "verdict_steering",
        r"\b(mark|classify|label|flag|report|treat|consider|set)\b.{0,40}\b(as\s+)?(benign|false[\s_-]?positive|safe|harmless|authori[sz]ed|legitimate|not\s+malicious|expected)\b",
    ),
    ("verdict_token", r"\b(false_positive|true_positive|needs_review|triage_verdict|verdict\s*[:=])"),
    ("suppress", r"\b(do not|don't|never)\s+(alert|report|flag|escalate|mention|notify|tell)\b"),
    ("tool_abuse", r"\b(call|invoke|use)\s+(the|your)\s+(\w+\s+)?(tool|function)\b"),
    (
        "exfil_prompt",
        r"\b(reveal|print|repeat|output|show)\b.{0,30}\b(system prompt|your instructions|hidden prompt|api key)\b",
    ),
)
_COMPILED = tuple((name, re.compile(rx, re.IGNORECASE | re.DOTALL)) for name, rx in _PATTERNS)

# Invisible or direction-changing characters used to hide instructions from a human reading the event.
_INVISIBLE = re.compile("[\u200b-\u200f\u202a-\u202e\u2060-\u2064\u2066-\u2069\ufeff\U000e0000-\U000e007f]")

MAX_SCAN = 20_000  # characters scanned per value: enough for any real CloudTrail field, bounded for safety
MAX_VALUES = 50_000  # values (strings, keys, containers) visited per scan, whatever their nesting
MAX_TOTAL = 1_000_000  # characters scanned per call: the regexes are linear, this caps the time per event
MAX_PATH = 200  # characters of a field path kept in a finding (a deep path is long; the tail says enough)


def _strings(value: Any, path: str = "") -> Iterator[Tuple[str, str]]:
    """(path, text) for every string (keys included: attackers also write map keys such as tag names).

    Walked with an explicit stack, so nesting depth costs nothing (a 1,000-level document is scanned like a flat
    one); the walk is bounded by the number of values visited instead.
    """
    stack: List[Tuple[str, Any]] = [(path, value)]
    visited = 0
    while stack and visited < MAX_VALUES:
        where, node = stack.pop()
        visited += 1
        if isinstance(node, str):
            yield where, node
        elif isinstance(node, dict):
            children: List[Tuple[str, Any]] = []
            for k, v in node.items():
                sub = f"{where}.{k}" if where else str(k)
                if isinstance(k, str):
                    children.append((sub + "{key}", k))
                children.append((sub, v))
            stack.extend(reversed(children))  # reversed: document order when popped
        elif isinstance(node, (list, tuple)):
            stack.extend(reversed([(f"{where}[{i}]", v) for i, v in enumerate(node)]))


def find_injection(fields: Dict[str, Any]) -> List[Dict[str, str]]:
    """Injection findings in untrusted fields: [{field, kind, excerpt}], empty when none.

    Text is NFKC-normalised first so full-width or compatibility look-alikes ("ｉｇｎｏｒｅ") match too.
    """
    findings: List[Dict[str, str]] = []
    seen = set()
    budget = MAX_TOTAL
    for path, text in _strings(fields):
        if not text:
            continue
        if budget <= 0:
            break
        text = text[: min(MAX_SCAN, budget)]
        budget -= len(text)
        if len(path) > MAX_PATH:
            path = "..." + path[-(MAX_PATH - 3) :]
        if _INVISIBLE.search(text):
            key = (path, "invisible_unicode")
            if key not in seen:
                seen.add(key)
                findings.append({"field": path, "kind": "invisible_unicode", "excerpt": _excerpt(text, 0)})
        norm = unicodedata.normalize("NFKC", _INVISIBLE.sub("", text))
        for name, rx in _COMPILED:
            m = rx.search(norm)
            if m and (path, name) not in seen:
                seen.add((path, name))
                findings.append({"field": path, "kind": name, "excerpt": _excerpt(norm, m.start())})
    return findings


def _excerpt(text: str, start: int, width: int = 80) -> str:
    """A short, escaped excerpt: safe to show an analyst and to put back into a prompt as data."""
    lo = max(0, start - 10)
    return json.dumps(text[lo : lo + width], ensure_ascii=True)[1:-1]


def encode_untrusted(value: Any, limit: int = 4000) -> str:
    """JSON text of an attacker-written value with every non-ASCII char escaped, capped at `limit` chars."""
    text = json.dumps(value, ensure_ascii=True, sort_keys=True, default=str)
    if len(text) > limit:
        text = text[:limit] + f"...<truncated {len(text) - limit} chars>"
    return text


def new_nonce() -> str:
    """A per-request random tag suffix: text inside the block cannot guess it to close the block early."""
    return secrets.token_hex(6)


def spotlight(value: Any, nonce: str, limit: int = 12000) -> str:
    """The untrusted block as it goes into a prompt: encoded data between nonce-tagged delimiters."""
    body = encode_untrusted(value, limit)
    # Delimiter look-alikes inside the data are defused even though the nonce already makes them harmless.
    body = body.replace("<untrusted", "<\\u0075ntrusted").replace("</untrusted", "<\\/\\u0075ntrusted")
    return f"<untrusted_data_{nonce}>\n{body}\n</untrusted_data_{nonce}>"
