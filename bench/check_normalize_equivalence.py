"""Check that the working-tree normaliser gives exactly the events (or errors) of the one at a git ref.

    .venv/bin/python bench/check_normalize_equivalence.py [--data DIR] [--shared DIR] [--ref main]

Not a test (it reads data outside the repository and takes a minute). Inputs:

* every record of the S3 files under `--data` (simulated CloudTrail, `{"Records": [...]}` gzip),
* every record of the *.json / *.jsonl files under `--shared` (attack datasets: Records files, lists or lines),
* the bad rows of tests/engine/test_normalize.py and the shapes of tests/engine/helpers.py,
* mutations of a sample of those records: each field the normaliser reads replaced by odd values (wrong
  types, lists, empty, over-long, near-miss timestamps) or removed.

Each input goes through `Normalizer.normalize` and, for objects, `from_raw`; the outcome compared is
`Event.to_tuple()`, or the exception's type and message. Inputs are run twice per normaliser so that
memoised paths (identity, timestamps, user agents) are compared as well as first sightings.
"""

from __future__ import annotations

import argparse
import copy
import json
import random
import sys
from pathlib import Path
from typing import Any, Dict, Iterator, List

from bench_normalize import DEFAULT_DATA, ROOT, load_records, load_ref_module

DEFAULT_SHARED = Path("/work/shared/data")

ODD_VALUES: List[Any] = [
    None, "", " ", 0, 1, -1, 1.5, True, False, [], ["x"], [None], [1, 2], {}, {"a": 1}, "x" * 5000,
    "ConsoleLogin", ["ConsoleLogin"], "true", "False", "yes", "0", "AWS Internal", "10.0.0.1", "2001:db8::1",
    "ec2.amazonaws.com", "999.1.1.1", "signin.amazonaws.com", "console.aws.amazon.com",
    "arn:aws:sts::111122223333:assumed-role/AWSReservedSSO_Admin_abc/ana",
    "arn:aws:sts::111122223333:assumed-role/r", "arn:aws:iam::111122223333:user/x",
    "AROAEXAMPLE:session-1", ":", "AssumedRole", "AWSService", "Root", "IAMUser", "FederatedUser",
    "AWSAccount", "SAMLUser", "WebIdentityUser", "IdentityCenterUser", "Other",
]  # fmt: skip

TIMES: List[Any] = [
    "2024-03-04T00:00:18Z", " 2024-03-04T00:00:18Z", "2024-03-04T00:00:18Z ", "2024-03-04T00:00:18.5Z",
    "2024-03-04T00:00:18.123456Z", "2024-03-04T00:00:18+02:00", "2024-03-04T00:00:18-05:30",
    "2024-03-04T00:00:18+00:00", "2024-03-04 00:00:18Z", "2024-03-04T00:00:18", "2024-13-04T00:00:18Z",
    "2024-03-04T00:00:1xZ", "2024-03-04T00:00:99Z", "2024-03-04T25:61:18Z", "2024-03x04T00:00:18Z",
    "2024-03-04T00:00: 8Z", "2024-03-04T00:00:+8Z", "2024-03-04T00:00:1_Z", "2024-03-04T00:0_:18Z",
    "\u0662\u0660\u0662\u0664-03-04T00:00:18Z", "2024-03-04T00:00:\u0661\u0662Z", "2024-03-04T00:00:\u00b2\u00b2Z",
    "2024-03-04T00:00:18ZZ", "2024-03-04T00:00:18z", "0001-01-01T00:00:00Z", "0000-01-01T00:00:00Z",
    "2300-01-01T00:00:00Z", "1970-01-01T00:00:00Z", "1970-01-01T00:00:01Z", "1714557600.000", "1714557600",
    "nan", "inf", "-1", "yesterday", "", [], ["2024-03-04T00:00:18Z"], [1714557600], 1714557600,
    1714557600.5, True, 0, -5, float("inf"), {"a": 1}, None,
]  # fmt: skip

PARAMS: List[Any] = [
    None, "", "not an object", '{"bucketName": "b"}', '["x"]', "{broken", [], [{"bucketName": "b"}], {},
    {"bucketName": ""}, {"bucketName": 5}, {"bucketName": ["b"]}, {"bucketName": "b" * 300},
    {"roleArn": "r", "bucketName": "b"}, {"bucketName": "b", "roleArn": "r"}, {"name": "", "keyId": "k"},
    {"keyId": "k", "name": "n", "instanceId": None}, {"other": 1, "roleArn": "arn"},
    {"detectorId": "d", "dBSnapshotIdentifier": "s", "trailName": "t"}, {"a": 1, "b": 2, "c": 3},
]  # fmt: skip

TOP_FIELDS = ("eventID", "eventTime", "eventSource", "eventName", "awsRegion", "sourceIPAddress", "userAgent",
              "errorCode", "readOnly", "recipientAccountId", "sessionCredentialFromConsole",
              "additionalEventData", "requestParameters", "requestID", "userIdentity")  # fmt: skip
UID_FIELDS = ("type", "arn", "accountId", "accessKeyId", "invokedBy", "principalId", "userName",
              "sessionContext")  # fmt: skip


def _records_of(value: Any) -> Iterator[Any]:
    if isinstance(value, dict) and isinstance(value.get("Records"), list):
        yield from value["Records"]
    elif isinstance(value, list):
        for item in value:
            yield from _records_of(item)
    else:
        yield value


def shared_records(shared: Path) -> List[Any]:
    out: List[Any] = []
    for path in sorted(shared.rglob("*.json")) + sorted(shared.rglob("*.jsonl")):
        text = path.read_text(encoding="utf-8", errors="replace")
        try:
            out.extend(_records_of(json.loads(text)))
            continue
        except ValueError:
            pass
        for line in text.splitlines():
            if line.strip():
                try:
                    out.extend(_records_of(json.loads(line)))
                except ValueError:
                    out.append(line)  # not JSON: normalize() must say so, identically
    return out


def test_corpus() -> List[Any]:
    """The bad rows of tests/engine/test_normalize.py and every shape helpers.py builds."""
    sys.path.insert(0, str(ROOT / "tests" / "engine"))
    import helpers
    import test_normalize

    rows: List[Any] = [row for row, _ in test_normalize.test_bad_rows_say_why.pytestmark[0].args[1]]
    for issuer in (None, "arn:aws:iam::111122223333:role/ci-deployer"):
        for itype, arn in (("IAMUser", "arn:aws:iam::111122223333:user/alice"),
                           ("AssumedRole", "arn:aws:sts::111122223333:assumed-role/ci-deployer/build-42"),
                           ("AWSService", ""), ("Root", ""), ("SAMLUser", "")):  # fmt: skip
            src = helpers.raw_event(arn=arn, itype=itype, issuer=issuer, error="AccessDenied",
                                    params={"bucketName": "b1", "bucketPolicy": {"Statement": [
                                        {"Effect": "Allow", "Principal": "*"}]}}, name="PutBucketPolicy")  # fmt: skip
            rows += [src, helpers.eventbridge(src), helpers.splunk_row(src), helpers.ecs_doc(src),
                     helpers.splunk_row(src, with_raw=False), helpers.ecs_doc(src, with_original=True),
                     json.dumps(src)]  # fmt: skip
    rows += helpers.timeline(50)
    return rows


def _set_path(record: Dict[str, Any], path: tuple, value: Any, delete: bool = False) -> Any:
    rec = copy.deepcopy(record)
    node = rec
    for part in path[:-1]:
        nxt = node.get(part) if isinstance(node, dict) else None
        if not isinstance(nxt, dict):
            nxt = {}
            node[part] = nxt
        node = nxt
    if delete:
        node.pop(path[-1], None)
    else:
        node[path[-1]] = copy.deepcopy(value)
    return rec


def mutations(seeds: List[Dict[str, Any]], rng: random.Random) -> Iterator[Any]:
    paths = [(f,) for f in TOP_FIELDS] + [("userIdentity", f) for f in UID_FIELDS] + [
        ("userIdentity", "sessionContext", "sessionIssuer"), ("userIdentity", "sessionContext", "attributes"),
        ("userIdentity", "sessionContext", "sessionIssuer", "arn"),
        ("userIdentity", "sessionContext", "attributes", "mfaAuthenticated"), ("additionalEventData", "MFAUsed"),
    ]  # fmt: skip
    for seed in seeds:
        for path in paths:
            yield _set_path(seed, path, None, delete=True)
            for value in rng.sample(ODD_VALUES, 12):
                yield _set_path(seed, path, value)
        for value in TIMES:
            yield _set_path(seed, ("eventTime",), value)
        for value in PARAMS:
            yield _set_path(seed, ("requestParameters",), value)
        # identity combinations, so that memoised identities are checked against every field they depend on
        for itype in ("AssumedRole", "AWSService", "Root", "IAMUser", "SAMLUser", "Other", ""):
            rec = _set_path(seed, ("userIdentity", "type"), itype)
            yield rec
            for path in paths[15:]:
                yield _set_path(rec, path, rng.choice(ODD_VALUES))


def outcome(fn: Any, row: Any) -> Any:
    try:
        return ("ok", fn(row).to_tuple())
    except Exception as exc:  # every failure must match too, not only NormalizeError
        return ("error", type(exc).__name__, str(exc))


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--data", type=Path, default=DEFAULT_DATA)
    ap.add_argument("--shared", type=Path, default=DEFAULT_SHARED)
    ap.add_argument("--files", type=int, default=0, help="S3 files to read (0: all)")
    ap.add_argument("--ref", default="main")
    ap.add_argument("--seeds", type=int, default=150, help="records to mutate")
    args = ap.parse_args()

    from ctad.core import normalize as new
    from ctad.core.catalog import Catalog

    old = load_ref_module(args.ref)
    catalog = Catalog.load()
    a, b = old.Normalizer(catalog), new.Normalizer(catalog)
    rng = random.Random(7)

    bulk = load_records(args.data, args.files) if args.data.exists() else []
    shared = shared_records(args.shared) if args.shared.exists() else []
    corpus = test_corpus()
    objects = [r for r in bulk + shared + corpus if isinstance(r, dict)]
    seeds = (
        rng.sample(objects, min(args.seeds, len(objects))) + [r for r in corpus if isinstance(r, dict)][:20]
    )
    groups = {"s3 records": bulk, "shared datasets": shared, "test corpus": corpus,
              "mutations": list(mutations(seeds, rng))}  # fmt: skip

    failures = 0
    for label, rows in groups.items():
        checked = errors = 0
        before = failures
        for _ in range(2):  # the second pass runs on warm caches
            for row in rows:
                pairs = [(a.normalize, b.normalize)]
                if isinstance(row, dict):
                    pairs.append((a.from_raw, b.from_raw))
                for fa, fb in pairs:
                    want, got = outcome(fa, row), outcome(fb, row)
                    checked += 1
                    errors += want[0] == "error"
                    if want != got:
                        failures += 1
                        if failures <= 10:
                            print(f"MISMATCH ({label}) {str(row)[:300]}\n  {args.ref}: {want}\n  new : {got}")
        verdict = "ok" if failures == before else f"{failures - before} MISMATCHES"
        print(
            f"{label:<16} {len(rows):>7} inputs {checked:>8} comparisons ({errors} errors) {verdict}",
            flush=True,
        )
    times = TIMES + [r.get("eventTime") for r in objects[:: max(1, len(objects) // 2000)]]
    for _ in range(2):
        for value in times:
            want, got = (
                outcome(lambda v: _Boxed(old.parse_time(v)), value),
                outcome(lambda v: _Boxed(new.parse_time(v)), value),
            )
            if want != got:
                failures += 1
                print(f"MISMATCH parse_time({value!r}): {want} != {got}")
    print(f"parse_time       {len(times):>7} values ok" if not failures else f"{failures} MISMATCHES")
    return 1 if failures else 0


class _Boxed:
    def __init__(self, value: Any) -> None:
        self.value = value

    def to_tuple(self) -> Any:
        return (type(self.value).__name__, repr(self.value))


if __name__ == "__main__":
    sys.exit(main())
