#!/usr/bin/env python3
"""Regenerate ``lookups/sensitive_apis.csv`` from the hand-curated table and the public attack corpora.

Why a script: the catalogue is configuration that analysts edit, but its provenance must be reproducible.
The curated table (``curated_apis.csv``, same columns as the output) is authoritative. The public corpora
(TrailDiscover, Stratus Red Team, Sigma; Panther and OTRF only as evidence) say *which* API calls matter;
every pair they name must end up in the catalogue, either through a curated row or, for read-only
Describe/List/Get calls, through the per-service discovery defaults below. A pair that is neither fails the
build with a list of what to curate, so nothing from the corpora is silently dropped.

Usage::

    python lookups/build/build_sensitive_apis.py [--shared DIR] [--check]

``--check`` rebuilds in memory and exits 1 if the committed CSV differs (used by the tests).
Standard library only.
"""

from __future__ import annotations

import argparse
import csv
import io
import json
import re
import sys
from pathlib import Path
from typing import Dict, Iterable, List, Optional, Set, Tuple

HERE = Path(__file__).resolve().parent
LOOKUPS = HERE.parent
REPO = LOOKUPS.parent
CURATED = HERE / "curated_apis.csv"
OUTPUT = LOOKUPS / "sensitive_apis.csv"
PROVENANCE = HERE / "provenance.csv"
COLUMNS = ["event_source", "event_name", "category", "tactic_id", "technique_id", "risk", "description"]

# Read-only calls named by the corpora but not curated get a discovery row with this technique and risk.
# Chosen per service: identity stores -> account/group discovery, security services -> security software
# discovery, logs -> log enumeration, storage -> storage object discovery, the rest -> infrastructure or
# service discovery.
READ_ONLY = re.compile(r"^(Describe|List|Get|Search|Lookup|Head|BatchGet)[A-Z]")
DISCOVERY_DEFAULTS: Dict[str, Tuple[str, int]] = {
    "iam": ("T1087.004", 2),
    "sts": ("T1087.004", 1),
    "organizations": ("T1087.004", 2),
    "sso": ("T1087.004", 1),
    "identitystore": ("T1087.004", 1),
    "s3": ("T1619", 1),
    "glacier": ("T1619", 1),
    "ec2": ("T1580", 1),
    "rds": ("T1580", 1),
    "dynamodb": ("T1580", 1),
    "elasticloadbalancing": ("T1580", 1),
    "lightsail": ("T1580", 1),
    "resource-explorer-2": ("T1580", 1),
    "acm-pca": ("T1580", 1),
    "kms": ("T1580", 1),
    "ssm": ("T1580", 1),
    "eks": ("T1613", 1),
    "ecr": ("T1613", 1),
    "ecs": ("T1613", 1),
    "guardduty": ("T1518.001", 1),
    "securityhub": ("T1518.001", 1),
    "macie2": ("T1518.001", 1),
    "inspector2": ("T1518.001", 1),
    "config": ("T1518.001", 1),
    "cloudtrail": ("T1518.001", 1),
    "monitoring": ("T1518.001", 1),
    "wafv2": ("T1518.001", 1),
    "logs": ("T1654", 1),
}
SERVICE_DISCOVERY = ("T1526", 1)  # Cloud Service Discovery for every other service
# Specific names inside a service that deserve a different technique than the service default.
DISCOVERY_OVERRIDES: Dict[Tuple[str, str], Tuple[str, int]] = {
    ("iam", "ListGroups"): ("T1069.003", 1),
    ("iam", "ListGroupsForUser"): ("T1069.003", 1),
    ("iam", "GetGroup"): ("T1069.003", 1),
    ("iam", "GetGroupPolicy"): ("T1069.003", 1),
    ("iam", "ListAttachedGroupPolicies"): ("T1069.003", 1),
    ("iam", "ListAttachedRolePolicies"): ("T1069.003", 1),
    ("iam", "ListAttachedUserPolicies"): ("T1069.003", 1),
    ("iam", "ListRolePolicies"): ("T1069.003", 1),
    ("iam", "ListUserPolicies"): ("T1069.003", 1),
    ("iam", "ListPolicies"): ("T1069.003", 1),
    ("iam", "GetPolicy"): ("T1069.003", 1),
    ("iam", "GetPolicyVersion"): ("T1069.003", 1),
    ("iam", "GetRolePolicy"): ("T1069.003", 1),
    ("iam", "GetUserPolicy"): ("T1069.003", 1),
    ("iam", "GetAccountAuthorizationDetails"): ("T1087.004", 3),
    ("iam", "GetAccountPasswordPolicy"): ("T1201", 1),
    ("iam", "ListAccountAliases"): ("T1087.004", 1),
    ("iam", "ListOpenIDConnectProviders"): ("T1087.004", 1),
    ("iam", "ListSAMLProviders"): ("T1087.004", 1),
    ("ce", "GetCostAndUsage"): ("T1526", 1),
    ("s3", "GetBucketLogging"): ("T1518.001", 1),
    ("ec2", "DescribeFlowLogs"): ("T1518.001", 1),
    ("ec2", "DescribeRegions"): ("T1614", 1),
    ("ec2", "DescribeAvailabilityZones"): ("T1614", 1),
    ("ec2", "DescribeSecurityGroups"): ("T1046", 1),
}
TACTIC_OF_CATEGORY = {"discovery": "TA0007"}
LAMBDA_SUFFIX = re.compile(r"\d{8}(?:v\d+)?$|\d{4}_\d{2}_\d{2}$")


def short_service(event_source: str) -> str:
    return event_source.split(".amazonaws.com")[0]


def strip_version(event_name: str) -> str:
    """Lambda/CloudFront event names carry an API version suffix (CreateFunction20150331): compare without it."""
    return LAMBDA_SUFFIX.sub("", event_name)


def read_curated(path: Path) -> Dict[Tuple[str, str], List[str]]:
    rows: Dict[Tuple[str, str], List[str]] = {}
    with path.open(newline="", encoding="utf-8") as f:
        reader = csv.reader(f)
        header = next(reader)
        if header != COLUMNS:
            raise SystemExit(f"{path}: header {header} != {COLUMNS}")
        for lineno, row in enumerate(reader, start=2):
            if not row or row[0].startswith("#"):
                continue
            if len(row) != len(COLUMNS):
                raise SystemExit(f"{path}:{lineno}: expected {len(COLUMNS)} columns, got {len(row)}")
            key = (row[0], row[1])
            if key in rows:
                raise SystemExit(f"{path}:{lineno}: duplicate {key}")
            rows[key] = row
    return rows


def _split_pairs(text: str, default_source: str = "") -> Iterable[Tuple[str, str]]:
    for item in text.split(","):
        item = item.strip()
        if not item:
            continue
        if ":" in item:
            service, name = item.split(":", 1)
            name = name.split()[0]  # "PutObject (data events)"
            yield f"{service}.amazonaws.com", name
        else:
            yield default_source, item


def corpus_pairs(shared: Path) -> Tuple[Dict[Tuple[str, str], Set[str]], Set[Tuple[str, str]]]:
    """(eventSource, eventName) -> corpus names calling the pair attack-relevant; and the weak pairs.

    A Sigma rule listing several sources and several names is a cross product in which only some pairs
    exist (iam:UpdateSAMLProvider, sts:AssumeRoleWithSAML): those pairs are weak and only count when the
    curated table already has them.
    """
    ct = shared / "cloudtrail"
    found: Dict[Tuple[str, str], Set[str]] = {}
    weak: Set[Tuple[str, str]] = set()

    def add(pair: Tuple[str, str], source: str) -> None:
        found.setdefault(pair, set()).add(source)

    with (ct / "traildiscover.jsonl").open(encoding="utf-8") as f:
        for line in f:
            rec = json.loads(line)
            if rec.get("eventSource") and rec.get("eventName"):
                add((rec["eventSource"], rec["eventName"]), "traildiscover")
    with (ct / "stratus_techniques.tsv").open(encoding="utf-8") as f:
        for row in csv.DictReader(f, delimiter="\t"):
            for pair in _split_pairs(row["main_eventSources:eventNames"]):
                add(pair, "stratus")
    with (ct / "sigma_cloudtrail_rules.tsv").open(encoding="utf-8") as f:
        for row in csv.DictReader(f, delimiter="\t"):
            sources = [s for s in row["eventSource"].split(",") if s] or [""]
            names = [n for n in row["eventName"].split(",") if n]
            for src in sources:
                for name in names:
                    add((src, name), "sigma")
                    if len(sources) > 1:
                        weak.add((src, name))
    return found, weak


def evidence_pairs(shared: Path) -> Dict[Tuple[str, str], Set[str]]:
    """Pairs from labelled-attack events of Panther tests and OTRF: provenance only, never new rows."""
    ct = shared / "cloudtrail"
    found: Dict[Tuple[str, str], Set[str]] = {}
    for fname, label in (("panther_rule_tests.jsonl", "panther"), ("otrf_scenarios.jsonl", "otrf")):
        path = ct / fname
        if not path.exists():
            continue
        with path.open(encoding="utf-8") as f:
            for line in f:
                rec = json.loads(line)
                if rec.get("label") == 1 and rec.get("eventSource") and rec.get("eventName"):
                    found.setdefault((rec["eventSource"], rec["eventName"]), set()).add(label)
    return found


def resolve(pair: Tuple[str, str], curated: Dict[Tuple[str, str], List[str]]) -> Optional[Tuple[str, str]]:
    """Find the curated key for a corpus pair: exact, version-suffix-insensitive, or by name if no source."""
    if pair in curated:
        return pair
    src, name = pair
    bare = strip_version(name)
    candidates = [k for k in curated if (not src or k[0] == src) and strip_version(k[1]) == bare]
    if len(candidates) == 1:
        return candidates[0]
    return None


def discovery_row(pair: Tuple[str, str]) -> Optional[List[str]]:
    src, name = pair
    if not src or not READ_ONLY.match(name):
        return None
    svc = short_service(src)
    tid, risk = DISCOVERY_OVERRIDES.get((svc, name)) or DISCOVERY_DEFAULTS.get(svc) or SERVICE_DISCOVERY
    words = re.sub(r"(?<=[a-z0-9])(?=[A-Z])", " ", name).lower()
    return [src, name, "discovery", "TA0007", tid, str(risk), f"Read-only {svc} call: {words}"]


def build(shared: Path) -> Tuple[List[List[str]], List[List[str]], List[str]]:
    curated = read_curated(CURATED)
    corpus, weak = corpus_pairs(shared)
    evidence = evidence_pairs(shared)
    rows: Dict[Tuple[str, str], List[str]] = {k: list(v) for k, v in curated.items()}
    sources: Dict[Tuple[str, str], Set[str]] = {k: {"curated"} for k in curated}
    missing: List[str] = []
    for pair, names in sorted(corpus.items()):
        key = resolve(pair, curated)
        if key is None and pair in weak:
            continue
        if key is None:
            row = discovery_row(pair)
            if row is None:
                if pair[0]:
                    missing.append(f"{pair[0]} {pair[1]} ({','.join(sorted(names))})")
                continue
            key = pair
            rows[key] = row
            sources[key] = {"discovery-default"}
        sources[key] |= names
    for pair, names in evidence.items():
        key = resolve(pair, rows)
        if key is not None:
            sources[key] |= names
    ordered = sorted(rows.values(), key=lambda r: (r[0], r[1]))
    prov = [[r[0], r[1], ";".join(sorted(sources[(r[0], r[1])]))] for r in ordered]
    return ordered, prov, missing


def render(header: List[str], rows: List[List[str]]) -> str:
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    w.writerow(header)
    w.writerows(rows)
    return buf.getvalue()


def main(argv: Optional[List[str]] = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--shared", type=Path, default=REPO.parent / "shared" / "data")
    ap.add_argument("--check", action="store_true", help="exit 1 if the committed files are stale")
    args = ap.parse_args(argv)
    if not (args.shared / "cloudtrail").is_dir():
        print(f"shared data not found under {args.shared}", file=sys.stderr)
        return 2
    rows, prov, missing = build(args.shared)
    if missing:
        print("corpus pairs without a curated row (add them to curated_apis.csv):", file=sys.stderr)
        for m in missing:
            print("  " + m, file=sys.stderr)
        return 1
    out = render(COLUMNS, rows)
    prov_text = render(["event_source", "event_name", "sources"], prov)
    if args.check:
        stale = [p for p, text in ((OUTPUT, out), (PROVENANCE, prov_text)) if p.read_text("utf-8") != text]
        for p in stale:
            print(f"{p} is stale: rerun {Path(__file__).name}", file=sys.stderr)
        return 1 if stale else 0
    OUTPUT.write_text(out, encoding="utf-8")
    PROVENANCE.write_text(prov_text, encoding="utf-8")
    print(f"wrote {len(rows)} rows to {OUTPUT}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
