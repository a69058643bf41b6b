"""Benchmark the Splunk baseline at estate scale: 10,000 identities, 30 days of history.

The scheduled searches rebuild or update the `ctad_baseline` KV collection (`| ctad_baseline_stats | ctadbaseline
| outputlookup`) and `cloudtraildetect` reads the whole collection every 15 minutes. This script synthesises what
`ctad_baseline_stats` returns for an estate (realistic per-identity counts of APIs, source addresses, networks, user
agents, regions and session keys; see `ESTATE`), then measures with the commands' own code:

- build: `aggregate_row` over the 30-day stats rows, `prune`, `profile_csv` (what ctadbaseline replies), the rows
  and bytes of the baseline it writes;
- update: the hourly `merge=true` run (read the collection, fold one hour's stats rows, prune, write);
- read: what cloudtraildetect does with the KV store's JSON pages (json decode, `clean_kv_row`, `Profile.from_rows`,
  `to_state`), its time and its peak memory (tracemalloc, in a separate pass since tracing slows the code).

    .venv/bin/python bench/bench_baseline.py [--identities 10000] [--days 30] [--seed 7] [--json out.json]

Timings are CPU seconds, the best of --repeat runs (the host is shared); memory is the traced peak of the read path.
"""

from __future__ import annotations

import argparse
import gc
import json
import random
import sys
import time
import tracemalloc
from pathlib import Path
from typing import Any, Callable, Dict, Iterator, List, Tuple

from ctad.core.catalog import Catalog
from ctad.core.normalize import Normalizer
from ctad.core.profile import Profile
from ctad.splunk.baseline_command import BY_FIELDS, aggregate_row, profile_csv
from ctad.splunk.lookups import PAGE, clean_kv_row

# what `ctad_baseline_stats` returns with its session fold: the model the baseline tests check against the macro
sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests" / "splunk"))
from baseline_macro import folded_stats  # noqa: E402

DAY = 86400.0
END = 1764460800.0  # 2025-11-30 00:00 UTC: the stats window ends here
SERVICES = ("ec2", "s3", "iam", "sts", "lambda", "dynamodb", "sqs", "sns", "kms", "logs", "cloudwatch", "ssm",
            "rds", "ecr", "ecs", "secretsmanager", "cloudformation", "elasticloadbalancing", "route53", "glue")  # fmt: skip
VERBS = ("Describe", "List", "Get", "Put", "Create", "Update", "Delete", "Tag", "Start", "Stop")
NOUNS = ("Instances", "Buckets", "Roles", "Policies", "Functions", "Tables", "Queues", "Topics", "Keys",
         "LogGroups", "Alarms", "Parameters", "Clusters", "Images", "Stacks", "Secrets", "Volumes", "Snapshots")  # fmt: skip
UAS = (
    "aws-cli/2.15.0 Python/3.11.6 Linux/6.1 exe/x86_64.ubuntu.22",
    "Boto3/1.34.10 md/Botocore#1.34.10 ua/2.0 os/linux#6.1 lang/python#3.12.1",
    "aws-sdk-go-v2/1.24.0 os/linux lang/go#1.21.5",
    "aws-sdk-java/2.21.0 Linux/6.1 OpenJDK_64-Bit_Server_VM/17.0.9",
    "aws-sdk-js/3.478.0 os/linux lang/js md/nodejs#20.10.0",
    "Terraform/1.6.6 (+https://www.terraform.io) terraform-provider-aws/5.31.0",
    "console.amazonaws.com",
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 Chrome/120.0 Safari/537.36",
    "AWS Internal",
)
REGIONS = ("us-east-1", "us-east-2", "us-west-1", "us-west-2", "eu-west-1", "eu-west-2", "eu-central-1",
           "eu-north-1", "ap-south-1", "ap-northeast-1", "ap-northeast-2", "ap-southeast-1", "ap-southeast-2",
           "ca-central-1", "sa-east-1", "me-south-1", "af-south-1")  # fmt: skip
# identity kind: (share of the estate, APIs, source addresses, user agents, regions, sessions per day (0 = an IAM
# user on its long-term key), stats rows per day): ranges drawn uniformly per identity.
Range = Tuple[int, int]
ESTATE: Dict[str, Tuple[float, Range, Range, Range, Range, Range, Range]] = {
    "workload": (0.55, (4, 25), (1, 8), (1, 2), (1, 2), (12, 24), (2, 8)),
    "human": (0.20, (15, 120), (3, 30), (2, 5), (1, 4), (1, 3), (3, 15)),
    "iam_user": (0.15, (3, 20), (1, 4), (1, 2), (1, 2), (0, 0), (1, 6)),
    "ci": (0.07, (30, 150), (30, 400), (1, 2), (1, 3), (10, 50), (10, 40)),
    "scanner": (0.03, (200, 700), (2, 6), (1, 1), (17, 17), (24, 24), (30, 80)),
}


def _api(rng: random.Random) -> Tuple[str, str]:
    return rng.choice(SERVICES) + ".amazonaws.com", rng.choice(VERBS) + rng.choice(NOUNS)


def _ip(rng: random.Random) -> str:
    return f"{rng.choice((3, 18, 34, 52, 54, 198, 203))}.{rng.randrange(256)}.{rng.randrange(256)}.{rng.randrange(1, 255)}"


def _key(rng: random.Random, prefix: str) -> str:
    return prefix + "".join(rng.choice("ABCDEFGHIJKLMNOPQRSTUVWXYZ234567") for _ in range(16))


class Identity:
    """One principal of the synthetic estate and the values it uses."""

    def __init__(self, i: int, kind: str, rng: random.Random) -> None:
        _, apis, ips, uas, regions, self.sessions, self.rows_per_day = ESTATE[kind]
        self.kind = kind
        account = str(100000000000 + i % 400)  # 400 accounts
        self.apis = [_api(rng) for _ in range(rng.randint(*apis))]
        self.ips = [_ip(rng) for _ in range(rng.randint(*ips))]
        self.uas = rng.sample(UAS, rng.randint(*uas))
        self.regions = rng.sample(REGIONS, rng.randint(*regions))
        # habits: the calls it repeats day after day (API, address, agent, region, UTC hour), so a 30-day stats
        # has the same row on many days, one per session while the macro did not fold sessions
        hours = rng.sample(range(24), rng.randint(6, 24))
        size = max(len(self.apis), len(self.ips), 2 * self.rows_per_day[1])
        self.habits = [(self.apis[i % len(self.apis)], self.ips[i % len(self.ips)], rng.choice(self.uas),
                        rng.choice(self.regions), rng.choice(hours)) for i in range(size)]  # fmt: skip
        self.account = account
        if kind == "iam_user":
            self.fields = {"userIdentity.type": "IAMUser", "userIdentity.arn": f"arn:aws:iam::{account}:user/svc-{i}",
                           "userIdentity.principalId": f"AIDA{i:016d}", "userIdentity.userName": f"svc-{i}"}  # fmt: skip
            self.keys = [_key(rng, "AKIA") for _ in range(rng.randint(1, 2))]
        else:
            self.role = f"arn:aws:iam::{account}:role/{kind}-{i}"
            self.fields = {
                "userIdentity.type": "AssumedRole",
                "userIdentity.sessionContext.sessionIssuer.arn": self.role,
            }
            self.keys = []
        self.fields["userIdentity.accountId"] = self.fields["recipientAccountId"] = account

    def stats_rows(self, rng: random.Random, start: float, end: float) -> Iterator[Dict[str, str]]:
        """What `ctad_baseline_stats` returns for this identity between start and end (one row per by-tuple)."""
        day = start
        while day < end:
            span = min(DAY, end - day)
            rows = max(1, round(rng.randint(*self.rows_per_day) * span / DAY))
            sessions = max(1, round(rng.randint(*self.sessions) * span / DAY)) if self.sessions[1] else 0
            names = [f"s-{int(day)}-{s}" for s in range(sessions)]
            keys = [_key(rng, "ASIA") for _ in range(sessions)]
            for _ in range(rows):
                (source, name), ip, ua, region, hour = rng.choice(self.habits)
                t = day + (hour * 3600.0 + rng.random() * 3600.0 if span >= DAY else rng.random() * span)
                row = dict(self.fields)
                if sessions:
                    s = rng.randrange(sessions)
                    role_name = self.role.rsplit("/", 1)[1]
                    row["userIdentity.arn"] = (
                        f"arn:aws:sts::{self.account}:assumed-role/{role_name}/{names[s]}"
                    )
                    row["userIdentity.principalId"] = f"AROA{self.account}:{names[s]}"
                    row["userIdentity.accessKeyId"] = keys[s]
                else:
                    row["userIdentity.accessKeyId"] = rng.choice(self.keys)
                count = rng.randint(1, 40)
                first = t - rng.random() * 600
                row.update({"eventSource": source, "eventName": name, "sourceIPAddress": ip,
                            "userAgent": ua, "awsRegion": region,
                            "ctad_hour": str(int(t // 3600) % 24), "count": str(count), "first": "%.3f" % first,
                            "last": "%.3f" % t, "weekend_count": "0"})  # fmt: skip
                yield {
                    f: row.get(f, "-")
                    for f in (*BY_FIELDS, "ctad_hour", "count", "first", "last", "weekend_count")
                }
            day += DAY


def estate(n: int, seed: int) -> List[Identity]:
    rng = random.Random(seed)
    kinds = list(ESTATE)
    weights = [ESTATE[k][0] for k in kinds]
    return [Identity(i, rng.choices(kinds, weights)[0], rng) for i in range(n)]


def stats(ids: List[Identity], seed: int, start: float, end: float) -> List[Dict[str, str]]:
    rng = random.Random(seed)
    return [row for ident in ids for row in ident.stats_rows(rng, start, end)]


def best(fn: Callable[[], Any], repeat: int) -> Tuple[float, Any]:
    """CPU seconds of the fastest of `repeat` runs (CPU, not wall: the host's two cores are shared) and its result."""
    times, out = [], None
    for _ in range(repeat):
        out = None
        gc.collect()
        t0 = time.process_time()
        out = fn()
        times.append(time.process_time() - t0)
    return min(times), out


def build(normalizer: Normalizer, rows: List[Dict[str, str]], base: Profile = None, retention: int = 30,
          changed_only: bool = False):  # fmt: skip
    """ctadbaseline's logic: fold the stats rows, prune to the retention, render the reply's CSV body."""
    profile = base if base is not None else Profile()
    for row in rows:
        aggregate_row(profile, normalizer, row)
    profile.prune(retention)
    return profile, profile_csv(profile, profile.touched) if changed_only else profile_csv(profile)


def kv_pages(profile: Profile) -> List[bytes]:
    """The collection as splunkd's REST API returns it: JSON pages of PAGE records with _key and _user."""
    records = [dict(r, _key=f"{i:024x}", _user="nobody") for i, r in enumerate(profile.to_rows())]
    return [json.dumps(records[i : i + PAGE]).encode() for i in range(0, len(records), PAGE)]


def read(pages: List[bytes], catalog: Catalog) -> Any:
    """cloudtraildetect's read path: decode the pages, clean the records, rows -> Profile -> engine state."""
    rows = [r for page in pages for r in json.loads(page)]
    profile = Profile.from_rows(clean_kv_row(r) for r in rows)
    return profile.to_state(catalog)


def main(argv: List[str] = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--identities", type=int, default=10_000)
    ap.add_argument("--days", type=int, default=30)
    ap.add_argument("--seed", type=int, default=7)
    ap.add_argument("--repeat", type=int, default=1)
    ap.add_argument("--json", help="also write the figures here")
    ap.add_argument("--plain-stats", action="store_true",
                    help="stats rows per session, as the macro returned before it folded session parts")  # fmt: skip
    args = ap.parse_args(argv)

    catalog = Catalog.load()
    normalizer = Normalizer(catalog)
    ids = estate(args.identities, args.seed)
    t0 = time.perf_counter()
    history = stats(ids, args.seed, END - args.days * DAY, END - 3600)
    hour = stats(ids, args.seed + 1, END - 3600, END)
    print(f"synthesised {len(history):,} stats rows ({args.days} days) + {len(hour):,} for the last hour "
          f"for {len(ids):,} identities in {time.perf_counter() - t0:.1f}s", file=sys.stderr)  # fmt: skip
    out: Dict[str, Any] = {"identities": len(ids), "days": args.days}
    if not args.plain_stats:
        out.update(stats_rows_per_session=len(history), stats_rows_hour_per_session=len(hour))
        history, hour = folded_stats(history), folded_stats(hour)
    out.update(stats_rows=len(history), stats_rows_hour=len(hour))

    secs, (profile, body) = best(lambda: build(normalizer, history), args.repeat)
    rows = sum(1 for _ in profile.to_rows())
    kinds: Dict[str, int] = {}
    for r in profile.to_rows():
        kinds[r["kind"]] = kinds.get(r["kind"], 0) + 1
    pages = kv_pages(profile)
    out.update(build_s=round(secs, 2), baseline_rows=rows, baseline_csv_bytes=len(body),
               baseline_kv_json_bytes=sum(len(p) for p in pages), rows_by_kind=kinds,
               max_rows_per_identity=max(sum(len(t) for t in i["seen"].values()) + 1
                                         for i in profile.data["identities"].values()))  # fmt: skip

    incremental = hasattr(Profile(), "touched")  # changed_only=true: the update writes only what it changed

    def update():
        """CTAD - Update baseline: read the collection, fold the hour in, render what outputlookup writes."""
        base = Profile.from_rows(clean_kv_row(r) for page in pages for r in json.loads(page))
        if incremental:
            base.touched = set()
        return build(normalizer, hour, base, changed_only=incremental)

    secs, (_, written) = best(update, args.repeat)
    out.update(update_s=round(secs, 2), update_rows_written=written.count(b"\r\n") - 1,
               update_csv_bytes=len(written))  # fmt: skip

    secs, _ = best(lambda: read(pages, catalog), args.repeat)
    out["read_s"] = round(secs, 2)
    gc.collect()
    tracemalloc.start()
    state = read(pages, catalog)
    _, peak = tracemalloc.get_traced_memory()
    current = tracemalloc.get_traced_memory()[0]
    tracemalloc.stop()
    del state
    out.update(read_peak_mb=round(peak / 2**20, 1), state_mb=round(current / 2**20, 1))

    for k, v in out.items():
        print(f"{k:24} {v:,}" if isinstance(v, int) else f"{k:24} {v}")
    if args.json:
        with open(args.json, "w") as fh:
            json.dump(out, fh, indent=1)
    return 0


if __name__ == "__main__":
    sys.exit(main())
