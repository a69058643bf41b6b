# ruff: noqa: UP031  (printf-style kept for fixed-width ids and hot paths)
"""Deterministic identifiers and timestamps for simulated CloudTrail.

Every random choice comes from a `random.Random` seeded from the run seed and a stable name, never from
`hash()` (salted per process) or `uuid4()` (OS entropy): the same seed must give byte-identical output.
"""

from __future__ import annotations

import hashlib
import random
import time
from typing import Dict

_B32 = "ABCDEFGHIJKLMNOPQRSTUVWXYZ234567"
_ALNUM = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789"


def derive_rng(seed: int, *names: object) -> random.Random:
    """A child RNG that depends only on the seed and the names (stable across processes and Python versions)."""
    h = hashlib.blake2b(repr((seed,) + names).encode(), digest_size=8).digest()
    return random.Random(int.from_bytes(h, "big"))


_UUID_CLEAR = ~((0xF << 76) | (0x3 << 62))
_UUID_SET = (0x4 << 76) | (0x2 << 62)


def uuid4(rng: random.Random) -> str:
    """A version-4 UUID drawn from `rng` (CloudTrail eventID / requestID); bit-twiddled for speed."""
    h = "%032x" % ((rng.getrandbits(128) & _UUID_CLEAR) | _UUID_SET)
    return h[:8] + "-" + h[8:12] + "-" + h[12:16] + "-" + h[16:20] + "-" + h[20:]


def s3_request_id(rng: random.Random) -> str:
    """S3 request ids are 16 upper-case hex characters, not UUIDs."""
    return f"{rng.getrandbits(64):016X}"


def account_id(rng: random.Random) -> str:
    return str(rng.randrange(100000000000, 999999999999))


def key_id(rng: random.Random, prefix: str) -> str:
    """IAM-style ids: AKIA (long-term key), ASIA (session key), AIDA (user), AROA (role), ANPA (policy)."""
    return prefix + "".join(rng.choice(_B32[:26] + "234567") for _ in range(16))


def principal_id(rng: random.Random, prefix: str) -> str:
    return prefix + "".join(rng.choice(_B32) for _ in range(17))


def hexid(rng: random.Random, n: int) -> str:
    return "%0*x" % (n, rng.getrandbits(4 * n))


def instance_id(rng: random.Random) -> str:
    return "i-" + hexid(rng, 17)


def alnum(rng: random.Random, n: int) -> str:
    return "".join(rng.choice(_ALNUM) for _ in range(n))


class TimeFormatter:
    """Fast epoch-seconds -> 'YYYY-MM-DDTHH:MM:SSZ' (strftime per event costs more than the rest of a record)."""

    __slots__ = ("_days",)

    def __init__(self) -> None:
        self._days: Dict[int, str] = {}

    def __call__(self, ts: float) -> str:
        s = int(ts)
        day, rem = divmod(s, 86400)
        prefix = self._days.get(day)
        if prefix is None:
            prefix = time.strftime("%Y-%m-%dT", time.gmtime(day * 86400))
            if len(self._days) > 4096:
                self._days.clear()
            self._days[day] = prefix
        h, rem = divmod(rem, 3600)
        m, sec = divmod(rem, 60)
        return "%s%02d:%02d:%02dZ" % (prefix, h, m, sec)


iso = TimeFormatter()
