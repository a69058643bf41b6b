"""`ctad_baseline_stats` (default/macros.conf) as Python, for the baseline tests and bench/bench_baseline.py.

The macro folds session parts (a temporary key by its kind, an assumed-role session name by "-") before its
`stats`. Its aggregates (count, min first, max last, sum weekend_count) combine across groups, so folding the
unfolded stats rows and grouping them again gives what the macro returns. The fold uses the macro's own regular
expressions, read from macros.conf, so the tests and the bench follow the macro when it changes.
"""

from __future__ import annotations

import re
import sys
from pathlib import Path
from typing import Callable, Dict, Iterable, List, Tuple

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "splunkapp"))  # the app's .conf reader
from ctad.splunk.baseline_command import BY_FIELDS  # noqa: E402
from splunkapp_helpers import conf  # noqa: E402

Row = Dict[str, str]


def session_fold() -> Callable[[Row], Row]:
    """The macro's fold of one stats row's session parts, with its regular expressions from macros.conf."""
    definition = conf("macros")["ctad_baseline_stats"]["definition"]
    key_prefix = re.search(r"match\('userIdentity.accessKeyId', \"(.+?)\"\)", definition).group(1)
    arn_re, arn_to = re.search(r"replace\('userIdentity.arn', \"(.+?)\", \"(.+?)\"\)", definition).groups()
    pid_re, pid_to = re.search(
        r"replace\('userIdentity.principalId', \"(.+?)\", \"(.+?)\"\)", definition
    ).groups()
    assert "stats count" in definition and "ctad_key" in definition.split("| stats")[1]

    def fold(row: Row) -> Row:
        row = dict(row)
        key = row["userIdentity.accessKeyId"]
        if re.match(key_prefix, key):
            row["userIdentity.accessKeyId"] = key[:4] + "*"
        if row["userIdentity.type"] == "AssumedRole":
            row["userIdentity.arn"] = re.sub(arn_re, arn_to, row["userIdentity.arn"])
            row["userIdentity.principalId"] = re.sub(pid_re, pid_to, row["userIdentity.principalId"])
        return row

    return fold


def folded_stats(rows: Iterable[Row]) -> List[Row]:
    """What the macro returns, from the stats rows it returned before it folded: each folded, then grouped again."""
    fold = session_fold()
    groups: Dict[Tuple[str, ...], Row] = {}
    for row in rows:
        row = fold(row)
        key = tuple(row[f] for f in BY_FIELDS) + (row["ctad_hour"],)
        have = groups.get(key)
        if have is None:
            groups[key] = row
            continue
        have["count"] = str(int(have["count"]) + int(row["count"]))
        have["first"] = min(have["first"], row["first"], key=float)
        have["last"] = max(have["last"], row["last"], key=float)
        have["weekend_count"] = str(int(have["weekend_count"]) + int(row["weekend_count"]))
    return list(groups.values())
