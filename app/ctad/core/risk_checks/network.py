"""open_ingress: a security group opened to the whole internet."""

from __future__ import annotations

from typing import Any, Iterator, Tuple

from ctad.core.risk_checks.registry import ANY_SOURCE, REGISTRY, Case, Request

check = REGISTRY.check
OPEN = ("open_ingress",)
_WORLD = ("0.0.0.0/0", "::/0")


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
])  # fmt: skip
def open_to_the_world(req: Request) -> Tuple[str, ...]:
    for text in walk_strings(req.params):
        if text in _WORLD:
            return OPEN
    return ()
