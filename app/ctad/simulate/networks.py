"""Source networks for simulated callers: where benign people, machines and attackers come from.

Prefixes are real allocations of the named kind of network (cloud providers, residential ISPs, mobile carriers,
commercial VPN and Tor exit ranges) so that IP-enrichment a user adds later sees plausible owners. Benign actors
also use hosting and VPN ranges (corporate VPN egress, a developer's cloud box, hotel Wi-Fi) and attackers also
use residential proxies, so that "hosting provider" alone never means "attack".
"""

from __future__ import annotations

import ipaddress
import random
from typing import Dict, List, Tuple

# kind -> list of CIDR prefixes
POOLS: Dict[str, List[str]] = {
    # AWS EC2 public ranges per region (NAT gateways, instances, Lambda egress)
    "aws:us-east-1": ["3.80.0.0/12", "54.144.0.0/12", "44.192.0.0/11", "52.70.0.0/15"],
    "aws:us-east-2": ["3.128.0.0/12", "18.216.0.0/14", "52.14.0.0/16"],
    "aws:us-west-2": ["34.208.0.0/12", "52.24.0.0/14", "54.184.0.0/13", "44.224.0.0/11"],
    "aws:eu-west-1": ["34.240.0.0/13", "52.16.0.0/15", "54.72.0.0/15", "18.200.0.0/13"],
    "aws:eu-central-1": ["3.120.0.0/14", "18.184.0.0/15", "52.57.0.0/16", "3.64.0.0/12"],
    "aws:ap-southeast-1": ["13.228.0.0/15", "54.169.0.0/16", "18.136.0.0/14"],
    "aws:ap-northeast-1": ["13.112.0.0/14", "54.64.0.0/14", "35.72.0.0/13"],
    # GitHub-hosted runners live in Azure
    "ci:github": ["4.148.0.0/16", "20.57.0.0/16", "172.176.0.0/15", "52.225.0.0/16", "13.105.0.0/16"],
    # corporate offices (business ISP allocations) and VPN egress (Zscaler / GlobalProtect clouds)
    "office": ["81.2.64.0/18", "62.254.0.0/16", "208.87.232.0/21", "64.124.0.0/15"],
    "corp-vpn": ["165.225.0.0/17", "147.161.128.0/17", "136.226.0.0/16"],
    # residential broadband by country
    "res:us": ["73.0.0.0/8", "24.0.0.0/12", "98.192.0.0/10", "71.192.0.0/11", "108.0.0.0/12"],
    "res:gb": ["86.128.0.0/10", "81.96.0.0/12", "92.0.0.0/11"],
    "res:de": ["79.192.0.0/10", "91.0.0.0/11", "87.128.0.0/10"],
    "res:fr": ["90.0.0.0/9", "86.192.0.0/11"],
    "res:in": ["117.192.0.0/10", "59.88.0.0/13", "106.192.0.0/11"],
    "res:sg": ["116.14.0.0/15", "119.74.0.0/15"],
    "res:br": ["177.0.0.0/10", "189.0.0.0/11", "200.148.0.0/14"],
    "res:vn": ["113.160.0.0/11", "14.160.0.0/11"],
    "res:id": ["36.64.0.0/11", "110.136.0.0/13"],
    "res:ru": ["95.24.0.0/13", "176.96.0.0/11"],
    "res:cn": ["112.0.0.0/10", "183.0.0.0/10"],
    # mobile carriers (travel, tethering)
    "mobile": ["172.56.0.0/14", "174.192.0.0/10", "80.187.0.0/16", "176.250.0.0/15"],
    # hotels / conference Wi-Fi providers
    "hotel": ["66.187.0.0/16", "199.168.0.0/16", "185.21.208.0/22"],
    # hosting providers (DigitalOcean, OVH, Hetzner, Vultr, Linode, Contabo)
    "hosting": [
        "159.65.0.0/16",
        "167.99.0.0/16",
        "64.225.0.0/16",
        "51.75.0.0/16",
        "141.94.0.0/16",
        "95.216.0.0/15",
        "116.203.0.0/16",
        "49.12.0.0/16",
        "45.32.0.0/16",
        "149.28.0.0/16",
        "172.104.0.0/15",
        "173.249.0.0/18",
    ],
    # commercial VPN exits (M247, Datacamp, Leaseweb)
    "vpn": ["89.187.160.0/19", "37.120.128.0/17", "185.156.172.0/22", "212.102.32.0/19", "146.70.0.0/16"],
    # Tor exit relays
    "tor": ["185.220.100.0/22", "199.249.230.0/24", "204.85.191.0/24", "109.70.100.0/24", "192.42.116.0/24"],
}

_PARSED: Dict[str, List[Tuple[int, int]]] = {}


def _ranges(kind: str) -> List[Tuple[int, int]]:
    got = _PARSED.get(kind)
    if got is None:
        got = []
        for cidr in POOLS[kind]:
            net = ipaddress.ip_network(cidr)
            got.append((int(net.network_address) + 1, net.num_addresses - 2))
        _PARSED[kind] = got
    return got


def ip_from(rng: random.Random, kind: str) -> str:
    """One address from a pool kind (e.g. 'res:us', 'hosting', 'aws:eu-west-1')."""
    base, size = rng.choice(_ranges(kind))
    return str(ipaddress.IPv4Address(base + rng.randrange(size)))


def aws_pool(region: str) -> str:
    kind = "aws:" + region
    return kind if kind in POOLS else "aws:us-east-1"


COUNTRIES = ["us", "gb", "de", "fr", "in", "sg"]
# "aws": an attacker's own EC2 instance (GuardDuty's InstanceCredentialExfiltration.InsideAWS case)
ATTACKER_KINDS = [("hosting", 0.32), ("vpn", 0.23), ("tor", 0.1), ("res", 0.25), ("aws", 0.1)]
ATTACKER_RES = ["res:br", "res:vn", "res:id", "res:ru", "res:cn", "res:us", "res:de"]


def attacker_network(rng: random.Random) -> Tuple[str, List[str]]:
    """An attacker's infrastructure: (kind, a few addresses they rotate through)."""
    r, acc = rng.random(), 0.0
    kind = "hosting"
    for k, w in ATTACKER_KINDS:
        acc += w
        if r < acc:
            kind = k
            break
    if kind == "res":
        pool = rng.choice(ATTACKER_RES)
    elif kind == "aws":
        pool = rng.choice([k for k in POOLS if k.startswith("aws:")])
    else:
        pool = kind
    n = 1 if kind in ("hosting", "aws") else rng.randint(1, 4)
    return kind, [ip_from(rng, pool) for _ in range(n)]
