"""open_ingress: a security group opened to the whole internet."""

from __future__ import annotations

import ipaddress
from typing import Any, Iterator, Tuple

from ctad.core.risk_checks.registry import ANY_SOURCE, REGISTRY, Case, Request

check = REGISTRY.check
OPEN = ("open_ingress",)
_WORLD = ("0.0.0.0/0", "::/0")
# A range this wide is the internet, whatever its address bits say: "203.0.113.7/0" is 0.0.0.0/0 (EC2 takes it,
# Stratus Red Team's open-port-22 detonation sends it), and two /1 rules cover the world between them.
_WIDEST_PREFIX = 4
_MAX_CIDR_CHARS = 64  # attacker-written: only short strings are parsed


def world_range(text: str) -> bool:
    """Whether `text` is a CIDR range covering at least 1/16 of its address family (never a private range)."""
    if text in _WORLD:
        return True
    if "/" not in text or len(text) > _MAX_CIDR_CHARS:
        return False
    try:
        network = ipaddress.ip_network(text.strip(), strict=False)
    except ValueError:
        return False
    return network.prefixlen <= _WIDEST_PREFIX and not network.is_private


def walk_strings(value: Any, depth: int = 0) -> Iterator[str]:
    """Every string in a parsed document, to 12 levels (request parameters are attacker-written)."""
    if depth > 12:
        return
    if isinstance(value, str):
        yield value
    elif isinstance(value, dict):
        for v in value.values():
            yield from walk_strings(v, depth + 1)
    elif isinstance(value, list):
        for v in value:
            yield from walk_strings(v, depth + 1)


def _rule(cidr: str) -> dict:
    return {
        "groupId": "sg-1",
        "ipPermissions": {
            "items": [
                {"ipProtocol": "tcp", "fromPort": 22, "toPort": 22, "ipRanges": {"items": [{"cidrIp": cidr}]}}
            ]
        },
    }


@check(ANY_SOURCE, "AuthorizeSecurityGroupIngress", "ModifySecurityGroupRules", flags=OPEN, cases=[
    Case("SSH open to the world", OPEN, _rule("0.0.0.0/0"), source="ec2.amazonaws.com"),
    Case("rule rewritten to IPv6 world", OPEN, {"ModifySecurityGroupRulesRequest": {"GroupId": "sg-1",
         "SecurityGroupRule": {"SecurityGroupRule": {"CidrIpv6": "::/0", "IpProtocol": "-1"}}}},
         "ModifySecurityGroupRules", "ec2.amazonaws.com"),
    Case("SSH from the office range", (), _rule("10.0.0.0/8"), source="ec2.amazonaws.com"),
    Case("SSH open through a /0 with host bits (Stratus Red Team)", OPEN, {"cidrIp": "203.0.113.7/0",
         "fromPort": 22, "toPort": 22, "groupId": "sg-1", "ipProtocol": "tcp"}, source="ec2.amazonaws.com"),
    Case("half the internet in one rule", OPEN, _rule("128.0.0.0/1"), source="ec2.amazonaws.com"),
    Case("a partner's /24", (), _rule("198.51.100.0/24"), source="ec2.amazonaws.com"),
])  # fmt: skip
def open_to_the_world(req: Request) -> Tuple[str, ...]:
    for text in walk_strings(req.params):
        if world_range(text):
            return OPEN
    return ()
