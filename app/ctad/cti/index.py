"""`CTIIndex`: answer "does this event match known threat intelligence?" fast enough to ask it for every row.

Exact values (account ids, key ids, domains and their parents) are dict look-ups. Networks are bucketed by prefix
length: an address is checked with one shift and one dict probe per distinct prefix length present (at most 33 for
IPv4, 129 for IPv6), so a feed of a million CIDRs costs the same per address as a feed of ten. User-agent
indicators are regexes run on a truncated copy of the (attacker-written) user agent, with results memoised because
a trail has few distinct user agents.
"""

from __future__ import annotations

import ipaddress
import logging
from collections import Counter
from typing import Any, Dict, Iterable, List, Optional, Tuple, Union

from ctad.cti.indicators import Indicator, IndicatorError, check_user_agent_pattern, normalise_domain
from ctad.cti.observables import (
    ACCESS_KEY_IN_TEXT_RE,
    ARN_ACCOUNT_RE,
    EMAIL_DOMAIN_RE,
    HOSTNAME_RE,
    IPV4_IN_TEXT_RE,
    TWELVE_DIGITS_RE,
    URL_HOST_RE,
    observables,
)

log = logging.getLogger(__name__)

MAX_UA = 1024  # characters of a user agent given to indicator regexes
MEMO_LIMIT = 50_000  # distinct IPs / user agents remembered before the memo is cleared

IPAddress = Union[ipaddress.IPv4Address, ipaddress.IPv6Address]


class CTIIndex:
    """Indicators from any number of sources, indexed for per-event matching. Build with `CTIIndex.load`."""

    def __init__(self) -> None:
        # version -> prefix length -> (network int >> host bits) -> indicators
        self._nets: Dict[int, Dict[int, Dict[int, List[Indicator]]]] = {4: {}, 6: {}}
        self._plens: Dict[int, List[int]] = {4: [], 6: []}
        self._exact: Dict[str, Dict[str, List[Indicator]]] = {
            "access_key_id": {},
            "account_id": {},
            "domain": {},
        }
        self._ua: List[Tuple[Any, Indicator]] = []
        self._ip_memo: Dict[str, Tuple[Indicator, ...]] = {}
        self._ua_memo: Dict[str, Tuple[Indicator, ...]] = {}
        self._seen: set = set()
        self.counts: Counter = Counter()  # (source, type) -> indicators loaded
        self.skipped: List[Dict[str, str]] = []  # {"source", "indicator", "reason"}
        self.warnings: List[str] = []

    # ----------------------------------------------------------------- building
    @classmethod
    def load(cls, sources: Optional[Iterable[Any]] = None, **options: Any) -> CTIIndex:
        """Index every source: CSV / STIX bundle / cache file paths, or Source objects (TAXII, MISP...).

        `None` means the default local CSV (lookups/cti_indicators.csv) plus the feed cache when it exists.
        Options (`cache_path`, `ttl`, `offline`) are passed to `ctad.cti.feeds.collect`; a source that fails
        is recorded in `index.warnings` and the others still load.
        """
        from ctad.cti.feeds import collect, default_sources

        index = cls()
        for indicators, skipped, warnings in collect(
            default_sources() if sources is None else sources, **options
        ):
            index.add_all(indicators)
            index.skipped.extend(skipped)
            index.warnings.extend(warnings)
        return index

    def add_all(self, indicators: Iterable[Indicator]) -> int:
        added = 0
        for ind in indicators:
            added += self.add(ind)
        return added

    def add(self, ind: Indicator) -> bool:
        """Index one normalised indicator; False when it is a duplicate (same value, type and source)."""
        key = (ind.indicator, ind.type, ind.source, ind.threat)
        if key in self._seen:
            return False
        self._seen.add(key)
        if ind.type in ("ipv4", "ipv6", "cidr"):
            net = ipaddress.ip_network(ind.indicator, strict=False)
            buckets = self._nets[net.version]
            if net.prefixlen not in buckets:
                buckets[net.prefixlen] = {}
                self._plens[net.version] = sorted(buckets, reverse=True)
            shift = net.max_prefixlen - net.prefixlen
            buckets[net.prefixlen].setdefault(int(net.network_address) >> shift, []).append(ind)
            self._ip_memo.clear()
        elif ind.type == "user_agent":
            self._ua.append((check_user_agent_pattern(ind.indicator), ind))
            self._ua_memo.clear()
        else:
            self._exact[ind.type].setdefault(ind.indicator, []).append(ind)
        self.counts[(ind.source, ind.type)] += 1
        return True

    def __len__(self) -> int:
        return sum(self.counts.values())

    def stats(self) -> Dict[str, Any]:
        """Indicator counts by source and type, and how many feed entries were skipped (for `ctad cti` output)."""
        by_source: Dict[str, Dict[str, int]] = {}
        for (source, kind), n in sorted(self.counts.items()):
            by_source.setdefault(source, {})[kind] = n
        return {"indicators": len(self), "by_source": by_source, "skipped": len(self.skipped)}

    # ----------------------------------------------------------------- value look-ups
    def match_ip(self, value: str) -> Tuple[Indicator, ...]:
        """Indicators whose address or network contains `value` (an address, or a network inside a feed CIDR)."""
        memo = self._ip_memo.get(value)
        if memo is not None:
            return memo
        found: Tuple[Indicator, ...] = ()
        try:
            if "/" in value:
                net = ipaddress.ip_network(value, strict=False)
                found = self._lookup_addr(net.network_address, max_plen=net.prefixlen)
            else:
                found = self._lookup_addr(ipaddress.ip_address(value))
        except ValueError:
            found = ()
        if len(self._ip_memo) >= MEMO_LIMIT:
            self._ip_memo.clear()
        self._ip_memo[value] = found
        return found

    def _lookup_addr(self, addr: IPAddress, max_plen: int = 256) -> Tuple[Indicator, ...]:
        if addr.version == 6 and addr.ipv4_mapped is not None:
            addr = addr.ipv4_mapped
        buckets = self._nets[addr.version]
        if not buckets:
            return ()
        as_int = int(addr)
        width = addr.max_prefixlen
        out: List[Indicator] = []
        for plen in self._plens[addr.version]:
            if plen > max_plen:
                continue
            hit = buckets[plen].get(as_int >> (width - plen))
            if hit:
                out.extend(hit)
        return tuple(out)

    def match_domain(self, value: str) -> Tuple[Indicator, ...]:
        """Indicators for the name or any parent (a feed's evil.example matches api.evil.example)."""
        table = self._exact["domain"]
        if not table:
            return ()
        try:
            name = normalise_domain(value)
        except IndicatorError:
            return ()
        labels = name.split(".")
        out: List[Indicator] = []
        for i in range(len(labels) - 1):
            hit = table.get(".".join(labels[i:]))
            if hit:
                out.extend(hit)
        return tuple(out)

    def match_user_agent(self, value: str) -> Tuple[Indicator, ...]:
        if not self._ua:
            return ()
        text = value[:MAX_UA]
        memo = self._ua_memo.get(text)
        if memo is not None:
            return memo
        found = tuple(ind for regex, ind in self._ua if regex.search(text))
        if len(self._ua_memo) >= MEMO_LIMIT:
            self._ua_memo.clear()
        self._ua_memo[text] = found
        return found

    def match_exact(self, kind: str, value: str) -> Tuple[Indicator, ...]:
        return tuple(self._exact[kind].get(value, ()))

    # ----------------------------------------------------------------- events
    def _scan_text(self, text: str) -> Iterable[Tuple[Indicator, str]]:
        """Indicators found inside free text (request parameters, ARNs, JSON policy documents)."""
        stripped = text.strip()
        has_ips = bool(self._nets[4] or self._nets[6])
        if has_ips and len(stripped) <= 64 and (":" in stripped or stripped[:1].isdigit()):
            for ind in self.match_ip(stripped):
                yield ind, stripped
        if has_ips and "." in text:
            for ip in IPV4_IN_TEXT_RE.findall(text):
                if ip != stripped:
                    for ind in self.match_ip(ip):
                        yield ind, ip
        if self._exact["account_id"]:
            accounts = set(ARN_ACCOUNT_RE.findall(text))
            if TWELVE_DIGITS_RE.match(stripped):
                accounts.add(stripped)
            for acct in accounts:
                for ind in self.match_exact("account_id", acct):
                    yield ind, acct
        if self._exact["access_key_id"]:
            for key in set(ACCESS_KEY_IN_TEXT_RE.findall(text)):
                for ind in self.match_exact("access_key_id", key):
                    yield ind, key
        if self._exact["domain"]:
            hosts = set(URL_HOST_RE.findall(text)) | set(EMAIL_DOMAIN_RE.findall(text))
            if HOSTNAME_RE.match(stripped):
                hosts.add(stripped)
            for host in hosts:
                host = host.strip("[]")
                if has_ips and (":" in host or host[:1].isdigit()):
                    for ind in self.match_ip(host):
                        yield ind, host
                for ind in self.match_domain(host):
                    yield ind, host

    def _match_observable(self, kind: str, value: str) -> Iterable[Tuple[Indicator, str]]:
        if kind == "ip":
            hits = self.match_ip(value)
            if not hits and "." in value and not value[:1].isdigit():
                hits = self.match_domain(value)  # CloudTrail writes a service host name here sometimes
            return ((ind, value) for ind in hits)
        if kind == "ua":
            return ((ind, value[:MAX_UA]) for ind in self.match_user_agent(value))
        if kind == "key":
            return ((ind, value) for ind in self.match_exact("access_key_id", value.strip().upper()))
        if kind == "account":
            return ((ind, value) for ind in self.match_exact("account_id", value.strip()))
        return self._scan_text(value)

    def match(self, event: Any) -> List[Dict[str, Any]]:
        """Every indicator the event matches, strongest first; [] for anything that is not a dict. Never raises.

        Each match: indicator, type, source, threat, confidence, matched_field, description, matched_value.
        """
        if not self or not isinstance(event, dict):
            return []
        out: List[Dict[str, Any]] = []
        seen = set()
        try:
            for field, kind, value in observables(event):
                for ind, matched in self._match_observable(kind, value):
                    key = (ind.indicator, ind.type, ind.source, ind.threat, field)
                    if key in seen:
                        continue
                    seen.add(key)
                    out.append(
                        {
                            "indicator": ind.indicator,
                            "type": ind.type,
                            "source": ind.source,
                            "threat": ind.threat,
                            "confidence": ind.confidence,
                            "matched_field": field,
                            "description": ind.description,
                            "matched_value": matched,
                        }
                    )
        except Exception as exc:  # a bug here must not stop triage of the row: say so and keep what we have
            log.warning("CTI match failed on one event: %s", exc)
        out.sort(key=lambda m: (-m["confidence"], m["matched_field"], m["indicator"]))
        return out
