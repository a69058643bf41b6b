"""The request risk flags, one row each: what raising it does to an action's impact, to the knowledge prior and to
offline triage.

Why one table: a flag's name used to be written into seven tables in six modules (the schema, the check registry,
features, scoring, reasons, triage), and a new flag meant finding every one; now each reads this table. A flag is
found by the checks in `ctad.core.risk_checks` and becomes the feature `req_<name>`, whose column in the feature row
is fixed by `features.FEATURES` (appended when new: the model reads columns by place).

The row order is part of the output: a request that raises several flags lists them in this order, and
`features.action_key` and the baseline's action counts join them in it. Standard library only: search time.
"""

from __future__ import annotations

from typing import Dict, NamedTuple, Tuple


class RiskFlag(NamedTuple):
    name: str
    # The action's place on the 0..5 impact scale when the request raises it, whatever the catalogue says of the
    # API (`features.impact`).
    impact: int
    # Prior probability that a first-time action raising it is malicious (`scoring.prior`): 0.9 for what SIEM
    # content alerts on by itself with no benign reading, 0.6 where benign uses exist.
    prior: float
    # How much it counts as harm in the offline triage expert's evidence (`triage.offline`); 1.0 is the default.
    triage_weight: float


FLAGS: Tuple[RiskFlag, ...] = (
    RiskFlag("logging_off", impact=5, prior=0.9, triage_weight=3.0),
    RiskFlag("credential_other", impact=4, prior=0.6, triage_weight=1.0),
    RiskFlag("self_grant", impact=4, prior=0.6, triage_weight=1.0),
    RiskFlag("short_expiry", impact=5, prior=0.9, triage_weight=1.0),
    RiskFlag("open_ingress", impact=4, prior=0.6, triage_weight=2.0),
    RiskFlag("public", impact=5, prior=0.9, triage_weight=3.0),
    RiskFlag("cross_account", impact=5, prior=0.9, triage_weight=2.0),
    # SSE-C writes: ransomware's tool (Codefinger), but some workloads encrypt with their own keys by design
    RiskFlag("customer_key", impact=5, prior=0.6, triage_weight=2.0),
)
FLAG_NAMES: Tuple[str, ...] = tuple(flag.name for flag in FLAGS)
BY_NAME: Dict[str, RiskFlag] = {flag.name: flag for flag in FLAGS}


def feature_name(flag: str) -> str:
    """The feature column that says the request raised `flag`."""
    return "req_" + flag
