"""Request risk checks: the few request details that change an API call's risk, each a registered entry.

A check is keyed by (eventSource, eventName), raises one or more of the flags in `registry.FLAG_ORDER` (made
public, shared out, opened to the world, logging off, credentials for another principal, a policy granted to
oneself, objects set to expire within days, an S3 write with a customer-provided key), and carries its own CloudTrail test events, as Panther keeps each
rule with its test events and pySigma keeps its checks in registries. The flags become the `req_*` features, the
impact of an action, the reasons and the triage evidence.

Adding a check for an existing flag is one place:

1. In the module of its flag (`audit.py` logging_off, `exposure.py` public / cross_account, `identity.py`
   credential_other / self_grant, `network.py` open_ingress, `storage.py` short_expiry, customer_key), write a function
   `fn(req: Request) -> Tuple[str, ...]` that returns the flags the request raises (`()` when none), decorated
   with `@check("svc.amazonaws.com", "EventName", ..., flags=(...), cases=[...])`. `req.params` is a dict
   (parsed when it came as JSON text) and attacker-written: read it with `.get` and `isinstance`, never index.
   For an API whose name alone says it, `always("svc.amazonaws.com", "EventName", flag=..., cases=[...])`.
2. Give it two or three `Case(title, expected_flags, requestParameters, eventName, eventSource, caller)`: at
   least one that raises a flag and at least one benign call that must raise none. They run as CloudTrail records
   through the normaliser in tests/core/test_risk_checks.py; nothing else needs editing.

Options of `check`: `ANY_SOURCE` as the source judges the name in every service (for names that mean the same
everywhere, such as PutResourcePolicy); `needs_params=False` runs the check when requestParameters is absent;
`request_decides=False` keeps the catalogue's full risk for the API (by default the request decides: the
catalogue's risk is capped at 3 unless a flag is raised, see `ctad.core.features.impact`).

A new flag *name* is a model change, not just a check: a row in `ctad.core.risk_flags` (impact, prior, triage
weight), a `req_<flag>` feature (`features.FEATURES`, `DIRECTIONS`) and a reason sentence, then retrain
(docs/howto/add-a-risk-check.md).

Standard library only, Python 3.9: this runs at search time, once per risky event.
"""

from __future__ import annotations

from typing import Callable, Dict, Iterable

# The check modules register themselves on import. The order does not matter: flags are written in FLAG_ORDER.
from ctad.core.risk_checks import audit, exposure, identity, network, storage  # noqa: E402, F401
from ctad.core.risk_checks.registry import (
    ANY_SOURCE,
    FLAG_ORDER,
    REGISTRY,
    Case,
    Check,
    Registry,
    Request,
    json_object,
)
from ctad.core.schema import bare_event_name  # noqa: E402

REGISTRY.freeze()

risk_flags = REGISTRY.flags
# API names some check judges: the normaliser's cheap test before building the (eventSource, eventName) key.
RISK_NAMES = REGISTRY.names
# APIs whose risk the request decides (a snapshot shared or unshared, a policy with or without a foreign principal):
# for these the catalogue's risk is what the call *can* do; `ctad.core.features.impact` caps it unless a flag is set.
JUDGED_BY_PARAMETERS = REGISTRY.judged_by_parameters


def checked(name: str, names: frozenset = RISK_NAMES) -> bool:
    """Whether some check judges calls named `name`, by its bare name when it carries an API version suffix
    (Lambda's AddPermission20150331v2 is the AddPermission the checks know). The digit test first keeps the common
    case (a name ending in a letter) to one set lookup: the normaliser asks this of every event."""
    return name in names or (name[-1:].isdigit() and bare_event_name(name) in names)


def judged_by_parameters(name: str) -> bool:
    """Whether the request, not the API alone, decides the risk of calls named `name` (see `checked`)."""
    return checked(name, JUDGED_BY_PARAMETERS)


class NameMemo:
    """`answer(eventName)` remembered per name, for the hot paths that ask it of every event: `known.get(name)` is
    one dict lookup, and only a name not seen yet pays for the answer (a regex for Lambda's version suffix).
    eventName is attacker-written, so at most `limit` names are kept; past that, answers are computed, not kept."""

    def __init__(self, answer: Callable[[str], bool], limit: int = 4096, known: Iterable[str] = ()) -> None:
        self.answer = answer
        self.limit = limit
        self.known: Dict[str, bool] = {name: True for name in known}

    def __call__(self, name: str) -> bool:
        hit = self.known.get(name)
        if hit is None:
            hit = self.answer(name)
            if len(self.known) < self.limit:
                self.known[name] = hit
        return hit


# The normaliser asks `CHECKED` of every event, the features `JUDGED` of every catalogued one.
CHECKED = NameMemo(checked, known=RISK_NAMES)
JUDGED = NameMemo(judged_by_parameters)


__all__ = ["ANY_SOURCE", "CHECKED", "FLAG_ORDER", "JUDGED", "JUDGED_BY_PARAMETERS", "REGISTRY", "RISK_NAMES", "Case",
           "Check", "NameMemo", "Registry", "Request", "checked", "json_object", "judged_by_parameters",
           "risk_flags"]  # fmt: skip
