"""STIX 2.1 indicators -> our indicators, via the `stix2` library's pattern parser.

Only what a CloudTrail record can be compared with is converted, and only when the conversion is exact:
- ``[ipv4-addr:value = '1.2.3.4']``, ``ISSUBSET '10.0.0.0/8'``, ``IN ('a', 'b')``, same for ipv6-addr;
- ``[network-traffic:src_ref.value = ...]`` / ``dst_ref.value`` (addresses or networks);
- ``[domain-name:value = 'evil.example']`` (and ``LIKE '%.evil.example'``), ``[url:value = ...]`` (its host);
- user agents: ``[network-traffic:extensions.'http-request-ext'.request_header.'User-Agent' = | MATCHES | LIKE]``
  and ``[x-aws-user-agent:value ...]``;
- custom AWS objects: ``[x-aws-access-key:value = 'AKIA...']``, ``[x-aws-account:value = '123456789012']``, and
  any ``x-*`` object whose property is access_key_id / account_id / user_agent / source_ip / domain.
Comparisons joined by OR (inside or across observations) become one indicator each. Anything else (AND, NOT,
FOLLOWEDBY, WITHIN/REPEATS qualifiers, other object types, non-STIX pattern languages) is reported as skipped,
because matching only part of such a pattern would raise false alarms.
"""

from __future__ import annotations

import datetime as dt
import json
from typing import Any, Dict, Iterable, List, Optional, Tuple
from urllib.parse import urlsplit

from ctad.core.errors import CtadError
from ctad.cti.indicators import Indicator, IndicatorError, like_to_regex, literal_user_agent, make_indicator

Atom = Tuple[str, str]  # (value, our type)


class UnsupportedPattern(CtadError):
    """The pattern is valid STIX but cannot be matched exactly against CloudTrail; the message says why."""


_PROPERTY_TYPES = {
    "access_key_id": "access_key_id",
    "accesskeyid": "access_key_id",
    "account_id": "account_id",
    "accountid": "account_id",
    "recipient_account_id": "account_id",
    "user_agent": "user_agent",
    "useragent": "user_agent",
    "source_ip": "ip",
    "source_ip_address": "ip",
    "sourceipaddress": "ip",
    "domain": "domain",
}
_X_VALUE_TYPES = {
    "x-aws-access-key": "access_key_id",
    "x-aws-access-key-id": "access_key_id",
    "x-aws-account": "account_id",
    "x-aws-account-id": "account_id",
    "x-aws-user-agent": "user_agent",
}


def _path_parts(lhs: Any) -> Tuple[str, List[str]]:
    names = []
    for comp in lhs.property_path:
        name = getattr(comp, "property_name", "")
        names.append(str(name).strip("'\""))
    return lhs.object_type_name, names


def _constants(rhs: Any) -> List[str]:
    """The string(s) on the right of a comparison (a set for IN)."""
    values = getattr(rhs, "value", None)
    if isinstance(values, (list, tuple)):
        return [str(getattr(v, "value", v)) for v in values]
    return [str(values)]


def _target_type(obj_type: str, path: List[str]) -> Optional[str]:
    """Our indicator type for object type + property path, or None if CloudTrail has nothing to compare."""
    lowered = [p.lower() for p in path]
    if obj_type in ("ipv4-addr", "ipv6-addr") and lowered == ["value"]:
        return "ip"
    if obj_type == "network-traffic" and lowered in (["src_ref", "value"], ["dst_ref", "value"]):
        return "ip"
    if obj_type == "network-traffic" and lowered[-1:] == ["user-agent"] and "request_header" in lowered:
        return "user_agent"
    if obj_type == "domain-name" and lowered == ["value"]:
        return "domain"
    if obj_type == "url" and lowered == ["value"]:
        return "url"
    if obj_type.startswith("x-"):
        if lowered == ["value"] and obj_type in _X_VALUE_TYPES:
            return _X_VALUE_TYPES[obj_type]
        if lowered:
            return _PROPERTY_TYPES.get(lowered[-1].replace("-", "_"))
    return None


def _atoms_from_comparison(comp: Any) -> List[Atom]:
    if getattr(comp, "negated", False):
        raise UnsupportedPattern("negated comparison")
    obj_type, path = _path_parts(comp.lhs)
    kind = _target_type(obj_type, path)
    if kind is None:
        raise UnsupportedPattern(f"{obj_type}:{'.'.join(path)} has no CloudTrail counterpart")
    op = comp.operator
    values = _constants(comp.rhs)
    if op in ("=", "IN"):
        if kind == "user_agent":
            return [(literal_user_agent(v), kind) for v in values]
        if kind == "url":
            return [(_url_host(v), "domain") for v in values]
        return [(v, kind) for v in values]
    if op == "ISSUBSET" and kind == "ip":
        return [(v, "cidr") for v in values]
    if op == "MATCHES" and kind == "user_agent":
        return [(v, kind) for v in values]
    if op == "LIKE" and kind == "user_agent":
        return [(like_to_regex(v) or "", kind) for v in values]
    if op == "LIKE" and kind == "domain":
        out = []
        for v in values:
            bare = v[2:] if v.startswith("%.") else v
            if "%" in bare or "_" in bare:
                raise UnsupportedPattern(f"LIKE {v!r} on domain-name is not a suffix match")
            out.append((bare, "domain"))
        return out
    raise UnsupportedPattern(f"operator {op} on {obj_type}:{'.'.join(path)}")


def _url_host(url: str) -> str:
    host = urlsplit(url if "://" in url else "http://" + url).hostname
    if not host:
        raise UnsupportedPattern(f"url {url!r} has no host")
    return host


def pattern_atoms(pattern: str) -> List[Atom]:
    """(value, type) pairs an OR-only STIX pattern is made of; raises UnsupportedPattern or ValueError."""
    from stix2 import patterns as P
    from stix2.pattern_visitor import create_pattern_object

    try:
        tree = create_pattern_object(pattern, version="2.1")
    except Exception as exc:  # stix2 raises several parser errors; all mean the same to us
        raise ValueError(f"invalid STIX pattern: {exc}") from exc

    def walk(node: Any) -> List[Atom]:
        if isinstance(node, P.QualifiedObservationExpression):
            raise UnsupportedPattern("qualified observation (WITHIN/REPEATS/START-STOP)")
        if isinstance(node, P.ObservationExpression):
            return walk(node.operand)
        if isinstance(node, (P.OrObservationExpression, P.OrBooleanExpression)):
            return [atom for operand in node.operands for atom in walk(operand)]
        if isinstance(node, P.ParentheticalExpression):
            return walk(node.expression)
        if isinstance(node, (P.AndObservationExpression, P.AndBooleanExpression)):
            raise UnsupportedPattern("AND needs every condition to hold; partial matching would mislead")
        if isinstance(node, P.FollowedByObservationExpression):
            raise UnsupportedPattern("FOLLOWEDBY sequences are not matched per event")
        if isinstance(node, P._ComparisonExpression):
            return _atoms_from_comparison(node)
        raise UnsupportedPattern(f"unsupported pattern element {type(node).__name__}")

    return walk(tree)


def _now() -> dt.datetime:
    return dt.datetime.now(dt.timezone.utc)


def _as_dt(value: Any) -> Optional[dt.datetime]:
    if value is None:
        return None
    if isinstance(value, dt.datetime):
        return value if value.tzinfo else value.replace(tzinfo=dt.timezone.utc)
    try:
        parsed = dt.datetime.fromisoformat(str(value).replace("Z", "+00:00"))
    except ValueError:
        return None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=dt.timezone.utc)


def _threat_names(objects: List[Dict[str, Any]]) -> Dict[str, str]:
    """indicator id -> names of the malware / threat actors / campaigns it `indicates` (for the `threat` field)."""
    names = {
        o["id"]: o.get("name", "")
        for o in objects
        if o.get("type") in ("malware", "threat-actor", "intrusion-set", "campaign", "tool", "attack-pattern")
    }
    out: Dict[str, List[str]] = {}
    for o in objects:
        if o.get("type") == "relationship" and o.get("relationship_type") in ("indicates", "related-to"):
            target = names.get(o.get("target_ref", ""))
            if target:
                out.setdefault(o.get("source_ref", ""), []).append(target)
    return {k: ", ".join(sorted(set(v))) for k, v in out.items()}


def indicators_from_objects(
    objects: Iterable[Dict[str, Any]], source: str, now: Optional[dt.datetime] = None
) -> Tuple[List[Indicator], List[Dict[str, str]]]:
    """Convert STIX objects (dicts, as in a bundle or a TAXII envelope) to indicators + skipped entries.

    Revoked indicators and those past `valid_until` are skipped. Each object is checked with `stix2.parse`
    (custom objects allowed) so malformed feed content is reported rather than half-used.
    """
    import stix2

    objects = [o for o in objects if isinstance(o, dict)]
    threats = _threat_names(objects)
    identities = {o["id"]: o.get("name", "") for o in objects if o.get("type") == "identity" and "id" in o}
    now = now or _now()
    found: List[Indicator] = []
    skipped: List[Dict[str, str]] = []
    for obj in objects:
        if obj.get("type") != "indicator":
            continue
        ident = str(obj.get("id", ""))
        pattern = str(obj.get("pattern", ""))

        def skip(reason: str, ident: str = ident, pattern: str = pattern) -> None:
            skipped.append({"source": source, "indicator": ident, "pattern": pattern[:500], "reason": reason})

        try:
            stix2.parse(obj, allow_custom=True, version="2.1")
        except Exception as exc:
            skip(f"invalid STIX indicator: {str(exc)[:200]}")
            continue
        if obj.get("revoked"):
            skip("revoked")
            continue
        valid_until = _as_dt(obj.get("valid_until"))
        if valid_until is not None and valid_until < now:
            skip("expired (valid_until in the past)")
            continue
        if obj.get("pattern_type", "stix") != "stix":
            skip(f"pattern_type {obj.get('pattern_type')!r} is not STIX")
            continue
        try:
            atoms = pattern_atoms(pattern)
        except (UnsupportedPattern, ValueError) as exc:
            skip(str(exc))
            continue
        threat = threats.get(ident) or ", ".join(obj.get("indicator_types", []) or [])
        origin = identities.get(obj.get("created_by_ref", ""), "")
        label = f"{source} ({origin})" if origin else source
        description = obj.get("description") or obj.get("name") or ""
        for value, kind in atoms:
            try:
                found.append(make_indicator(value, kind, label, threat, obj.get("confidence"), description))
            except IndicatorError as exc:
                skip(str(exc))
    return found, skipped


def load_bundle(path: str, source: Optional[str] = None) -> Tuple[List[Indicator], List[Dict[str, str]]]:
    """Indicators from a STIX 2.1 bundle file (or a bare list of objects)."""
    with open(path, encoding="utf-8") as fh:
        data = json.load(fh)
    objects = data.get("objects", []) if isinstance(data, dict) else data
    if not isinstance(objects, list):
        raise ValueError(f"{path}: not a STIX bundle (no 'objects' list)")
    return indicators_from_objects(objects, source or f"stix:{_basename(path)}")


def _basename(path: str) -> str:
    return path.replace("\\", "/").rsplit("/", 1)[-1]
