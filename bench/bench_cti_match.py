"""Benchmark (not a test): CTI index load and per-event match throughput.

    .venv/bin/python bench/bench_cti_match.py [--events 50000] [--cidrs 100000]

Builds a synthetic feed (CIDRs of every prefix length, single IPs, domains, key ids, accounts, user-agent
regexes), then matches synthetic CloudTrail records (nested, with request parameters) and flattened Splunk rows.
The machine is shared with other work: figures are noisy, run it twice.
"""

from __future__ import annotations

import argparse
import random
import resource
import time

from ctad.cti import CTIIndex, make_indicator


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--events", type=int, default=50_000)
    ap.add_argument("--cidrs", type=int, default=100_000)
    args = ap.parse_args()
    rng = random.Random(1)

    t0 = time.perf_counter()
    index = CTIIndex()
    for i in range(args.cidrs):
        plen = rng.choice((16, 20, 22, 24, 24, 24, 28, 32, 32, 32))
        addr = rng.getrandbits(32)
        net = f"{addr >> 24}.{addr >> 16 & 255}.{addr >> 8 & 255}.{addr & 255}/{plen}"
        index.add(make_indicator(net, "cidr", "bench", f"t{i % 50}", 60))
    for i in range(2000):
        index.add(make_indicator(f"bad{i}.example", "domain", "bench", "c2", 70))
        index.add(make_indicator(f"{100000000000 + i}", "account_id", "bench", "acct", 80))
        index.add(make_indicator(f"AKIABENCH{i:011d}", "access_key_id", "bench", "key", 90))
    for i in range(200):
        index.add(make_indicator(rf"(?:^|\W)tool{i}/\d", "user_agent", "bench", "tool", 85))
    load = time.perf_counter() - t0

    uas = [f"aws-cli/2.{i}.0 Python/3.11 Linux/6.1 exe/x86_64" for i in range(300)] + ["tool7/1.0 botocore"]
    events = []
    for i in range(args.events):
        ip = f"{rng.randint(1, 223)}.{rng.randint(0, 255)}.{rng.randint(0, 255)}.{rng.randint(1, 254)}"
        nested = {
            "eventSource": "ec2.amazonaws.com",
            "eventName": "DescribeInstances",
            "sourceIPAddress": ip,
            "userAgent": rng.choice(uas),
            "recipientAccountId": "123456789012",
            "userIdentity": {
                "type": "IAMUser",
                "accountId": "123456789012",
                "accessKeyId": f"AKIAX{i:015d}",
                "arn": "arn:aws:iam::123456789012:user/u",
            },
            "requestParameters": {"instancesSet": {"items": [{"instanceId": f"i-{i:08x}"}]}, "filterSet": {}},
        }
        events.append(
            nested
            if i % 2
            else {f"userIdentity.{k}": v for k, v in nested["userIdentity"].items()}
            | {"sourceIPAddress": ip, "userAgent": nested["userAgent"]}
        )
    t1 = time.perf_counter()
    hits = sum(1 for e in events if index.match(e))
    elapsed = time.perf_counter() - t1
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f"indicators: {len(index):,} (load {load:.2f} s, {len(index) / load:,.0f}/s)")
    print(
        f"events: {len(events):,} matched in {elapsed:.2f} s = {len(events) / elapsed:,.0f} events/s; "
        f"{hits:,} with a match; peak RSS {rss:.0f} MB"
    )


if __name__ == "__main__":
    main()
