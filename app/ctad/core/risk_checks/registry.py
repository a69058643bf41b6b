"""The table of request risk checks: (eventSource, eventName) -> the checks that judge that request.

Kept apart from the checks themselves so a check module reads as a list of entries, and so the lookup that runs
on every risky event is one dict read (see `Registry.flags`). Standard library only: this runs at search time.
"""

from __future__ import annotations

import json
from typing import Any, Callable, Dict, List, NamedTuple, Sequence, Tuple

from ctad.core.risk_flags import FLAG_NAMES
from ctad.core.schema import bare_event_name

# Matches any eventSource: for the few API names that mean the same thing in every service that has them
# (PutResourcePolicy, SetQueueAttributes, ...) and for checks that have always been judged by the name alone.
ANY_SOURCE = "*"

# The order flags are written in when one request raises several (`self_grant, public, cross_account` for an
# UpdateAssumeRolePolicy): the rows of `ctad.core.risk_flags`. It is part of the output: `features.action_key` and
# the baseline's action counts join the flags in this order.
FLAG_ORDER: Tuple[str, ...] = FLAG_NAMES
_RANK = {flag: i for i, flag in enumerate(FLAG_ORDER)}

# The account and callers the test events are written for (`Check.record`).
TEST_ACCOUNT = "111122223333"
TEST_CALLERS: Dict[str, Dict[str, Any]] = {
    "user": {"type": "IAMUser", "arn": f"arn:aws:iam::{TEST_ACCOUNT}:user/alice", "accountId": TEST_ACCOUNT,
             "userName": "alice", "principalId": "AIDAEXAMPLE"},
    "role": {"type": "AssumedRole", "arn": f"arn:aws:sts::{TEST_ACCOUNT}:assumed-role/ci/session1",
             "accountId": TEST_ACCOUNT, "principalId": "AROAEXAMPLE:session1",
             "sessionContext": {"sessionIssuer": {"type": "Role", "arn": f"arn:aws:iam::{TEST_ACCOUNT}:role/ci",
                                                  "userName": "ci"}}},
}  # fmt: skip


def json_object(value: Any) -> Any:
    """`value` parsed when it is JSON text of an object or array (Splunk and Elastic hand some parameters over
    as strings), else `value` itself."""
    if isinstance(value, str) and value[:1] in "{[":
        try:
            return json.loads(value)
        except ValueError:
            return value
    return value


class Request(NamedTuple):
    """What a check sees of one request. `params` is a dict (checks registered with `needs_params=False` may
    get None); `caller_user` / `caller_role` are what AWS wrote in userIdentity, never a request parameter."""

    source: str
    name: str
    params: Any
    own_account: str
    caller_user: str
    caller_role: str


class Case(NamedTuple):
    """One CloudTrail test event for a check and the flags it must raise (`()`: a benign event, none).

    The event is written out by `Check.record`: the check's eventSource and first eventName unless `source` /
    `name` say otherwise, `params` as requestParameters, made by `caller` (a key of TEST_CALLERS) in
    TEST_ACCOUNT."""

    title: str
    expect: Tuple[str, ...]
    params: Any = None
    name: str = ""
    source: str = ""
    caller: str = "user"


CheckFn = Callable[[Request], Sequence[str]]


class Check(NamedTuple):
    """One registered check: the requests it judges, the flags it may raise, and its test events."""

    fn: CheckFn
    source: str
    names: Tuple[str, ...]
    flags: Tuple[str, ...]
    cases: Tuple[Case, ...]
    needs_params: bool  # False: raised from the API alone (Elastic drops an empty requestParameters)
    request_decides: bool  # True: the catalogue's risk of these APIs is capped unless a flag is raised

    @property
    def title(self) -> str:
        return self.fn.__name__

    def record(self, case: Case) -> Dict[str, Any]:
        """The full CloudTrail record of a test case, as CloudTrail writes it."""
        source = case.source or self.source
        if source == ANY_SOURCE:
            raise ValueError(f"{self.title}: case {case.title!r} must name its eventSource")
        name = case.name or self.names[0]
        return {"eventVersion": "1.08", "userIdentity": TEST_CALLERS[case.caller],
                "eventTime": "2024-05-01T10:00:00Z", "eventSource": source, "eventName": name,
                "awsRegion": "us-east-1", "sourceIPAddress": "203.0.113.9", "userAgent": "aws-cli/2.15.0",
                "requestParameters": case.params, "eventID": f"e-{name}-{case.title}",
                "recipientAccountId": TEST_ACCOUNT}  # fmt: skip


class Registry:
    """Checks keyed by (eventSource, eventName), with a name-only table for ANY_SOURCE checks.

    Filled when the check modules are imported, then frozen: the normaliser copies `names` once, so a check
    registered later would silently not run; `check` refuses it instead."""

    def __init__(self) -> None:
        self.checks: List[Check] = []
        self._keyed: Dict[Tuple[str, str], Tuple[Check, ...]] = {}
        self._any: Dict[str, Tuple[Check, ...]] = {}
        self.names: frozenset = frozenset()
        self.judged_by_parameters: frozenset = frozenset()
        self.frozen = False

    def check(
        self,
        source: str,
        *names: str,
        flags: Sequence[str],
        cases: Sequence[Case],
        needs_params: bool = True,
        request_decides: bool = True,
    ) -> Callable[[CheckFn], CheckFn]:
        """Register the decorated function as the check of `names` in `source` (ANY_SOURCE: in any)."""

        def register(fn: CheckFn) -> CheckFn:
            self.add(
                Check(fn, source, tuple(names), tuple(flags), tuple(cases), needs_params, request_decides)
            )
            return fn

        return register

    def always(self, source: str, *names: str, flag: str, cases: Sequence[Case]) -> None:
        """Register a check that raises `flag` for every call of `names`: the API alone says it."""
        raised = (flag,)

        def fn(req: Request) -> Tuple[str, ...]:
            return raised

        fn.__name__ = fn.__qualname__ = f"{flag}_{names[0] if names else source}"
        self.add(Check(fn, source, tuple(names), raised, tuple(cases), False, False))

    def add(self, entry: Check) -> None:
        if self.frozen:
            raise RuntimeError(f"risk check {entry.title} registered after the table was frozen")
        if any(c.title == entry.title for c in self.checks):
            raise ValueError(f"risk check {entry.title} is registered twice")
        unknown = set(entry.flags) - set(FLAG_ORDER)
        if unknown or not entry.names or not entry.flags:
            raise ValueError(
                f"risk check {entry.title}: names {entry.names}, unknown flags {sorted(unknown)}"
            )
        self.checks.append(entry)
        for name in entry.names:
            if entry.source == ANY_SOURCE:
                self._any[name] = self._any.get(name, ()) + (entry,)
            else:
                key = (entry.source, name)
                self._keyed[key] = self._keyed.get(key, ()) + (entry,)
        # a keyed request is judged by its own checks and by the name-only checks of its name
        for (source, name), entries in list(self._keyed.items()):
            own = tuple(c for c in entries if c.source != ANY_SOURCE)
            self._keyed[(source, name)] = own + self._any.get(name, ())
        self.names = frozenset(n for c in self.checks for n in c.names)
        self.judged_by_parameters = frozenset(n for c in self.checks if c.request_decides for n in c.names)

    def freeze(self) -> None:
        self.frozen = True

    def lookup(self, source: str, name: str) -> Tuple[Check, ...]:
        """The checks that judge a call of `name` in `source` (empty: none), by its bare name if need be."""
        found = self._keyed.get((source, name)) or self._any.get(name, ())
        if not found and name[-1:].isdigit():
            bare = bare_event_name(name)
            found = self._keyed.get((source, bare)) or self._any.get(bare, ())
        return found

    def flags(
        self,
        source: str,
        name: str,
        params: Any,
        own_account: str,
        caller_user: str = "",
        caller_role: str = "",
    ) -> Tuple[str, ...]:
        """The flags the registered checks raise for one request, in FLAG_ORDER. A name with an API version
        suffix (Lambda's AddPermission20150331v2) is judged by the checks of its bare name, and they see that name."""
        checks = self.lookup(source, name)
        if not checks:
            return ()
        if name[-1:].isdigit():
            name = bare_event_name(name)  # registered names are bare: a suffix was what let the checks match
        params = json_object(params)
        has_params = isinstance(params, dict)
        req = Request(source, name, params if has_params else None, own_account, caller_user, caller_role)
        found: List[str] = []
        for entry in checks:
            if has_params or not entry.needs_params:
                found.extend(entry.fn(req))
        if len(found) > 1:
            found = sorted(set(found), key=_RANK.__getitem__)
        return tuple(found)


# The one table the check modules register into (ctad.core.risk_checks freezes it once they are imported).
REGISTRY = Registry()
