"""Turn a score's top contributing features into sentences an analyst understands.

Templates live in `lookups/reason_templates.csv` (feature, condition, sentence) so a SOC can reword them. A
sentence is used when its feature pushed the score up and its condition holds for the event, so a reason is
always a fact about the event ("first time arn:...:role/ci calls ec2:GetPasswordData"), never a model artefact.
Event values are attacker-written: they are only substituted into text, never interpreted.
"""

from __future__ import annotations

import csv
import string
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Dict, List, Optional, Sequence, Tuple

from ctad.core import bounded
from ctad.core.features import CATEGORIES, FEATURE_INDEX, ApiFacts
from ctad.core.resources import find_dir
from ctad.core.risk_flags import FLAG_NAMES, feature_name
from ctad.core.schema import Event

MAX_REASONS = 5
_OPS = ("<=", ">=", "==", "!=", "<", ">")


@dataclass(frozen=True)
class Template:
    feature: str
    op: str
    value: float
    text: str

    def holds(self, x: float) -> bool:
        if x != x:  # NaN: unknown, never a reason
            return False
        v = self.value
        return {
            "<=": x <= v,
            ">=": x >= v,
            "==": x == v,
            "!=": x != v,
            "<": x < v,
            ">": x > v,
        }[self.op]


class _SafeFormatter(string.Formatter):
    """str.format limited to plain names: a template cannot reach attributes or items of the values."""

    def get_field(self, field_name: str, args: Any, kwargs: Any) -> Any:
        if not field_name.isidentifier():
            raise ValueError(f"template field {field_name!r} is not a plain name")
        return kwargs.get(field_name, ""), field_name


_FORMAT = _SafeFormatter()


def load_templates(path: Optional[Path] = None) -> List[Template]:
    path = path or find_dir("lookups") / "reason_templates.csv"
    out: List[Template] = []
    with open(path, newline="", encoding="utf-8") as fh:
        for lineno, row in enumerate(csv.DictReader(fh), 2):
            feature, when, text = (
                row.get("feature", ""),
                (row.get("when") or "").strip(),
                row.get("template", ""),
            )
            if feature not in FEATURE_INDEX:
                raise ValueError(f"{path}:{lineno}: unknown feature {feature!r}")
            op = next((o for o in _OPS if when.startswith(o)), None)
            if op is None:
                raise ValueError(f"{path}:{lineno}: condition {when!r} must start with one of {_OPS}")
            try:
                value = float(when[len(op) :])
            except ValueError:
                raise ValueError(f"{path}:{lineno}: condition {when!r} needs a number") from None
            out.append(Template(feature, op, value, text))
    return out


_IMPACT = FEATURE_INDEX["impact"]
_MFA = FEATURE_INDEX["mfa"]
_UAF_SHARE = FEATURE_INDEX["id_uaf_share"]
_UAF_FIRST = FEATURE_INDEX["id_uaf_first"]
_FLAG_FEATURES = tuple(feature_name(flag) for flag in FLAG_NAMES)


def _expm1(x: float) -> float:
    return bounded.expm1(x) if x == x else 0.0


def client_words(ua_family: str) -> str:
    """A user-agent family as a sentence says it. "unknown" is the classifier's label for a user agent it does not
    recognise (or one emptied, such as "[]"), not a tool's name: "through unknown" read as a tool called unknown."""
    return ua_family if ua_family and ua_family != "unknown" else "an unrecognised user agent"


def _history(event: Event, row: Sequence[float]) -> str:
    """What the identity's history says of this very call, in words (causal: only what came before)."""
    events = _expm1(row[FEATURE_INDEX["id_log_events"]])
    calls = _expm1(row[FEATURE_INDEX["id_action_log_count"]])  # this very request: API, risk flags, tool
    if events < 0.5:
        return f"no earlier activity of {event.identity} in this data"
    what = f"such a {event.name} request ({', '.join(event.flags)})" if event.flags else event.name
    tool = f" through {client_words(event.ua_family)}"
    if calls < 0.5:
        made = "made" if event.flags else "called"
        text = (
            f"{event.identity} never {made} {what}{tool} in its {_span(row)} of history ({events:.0f} events)"
        )
        api_calls = _expm1(row[FEATURE_INDEX["id_api_log_count"]])
        if api_calls >= 0.5:  # it knows the API, but not this request from this tool: say so, it is the point
            text += f"; it called {event.name} {_times(api_calls)} before in other ways"
        return text
    return f"{event.identity} {'made' if event.flags else 'called'} {what}{tool} {_times(calls)} before{_last(row)}"


def _span(row: Sequence[float]) -> str:
    """How long the identity has been seen, in words."""
    age = row[FEATURE_INDEX["id_age_days"]]
    return _seconds_text(age * 86400.0) if age == age and age > 0 else "a short time"


def _times(calls: float) -> str:
    return "once" if calls < 1.5 else f"{calls:.0f} times"


def _last(row: Sequence[float]) -> str:
    """ ", last 3 seconds ago" when the identity called this API before, else ""."""
    gap = row[FEATURE_INDEX["log_gap_id_api"]]
    return f", last {_duration(gap)} ago" if gap == gap else ""


def _duration(log_seconds: float) -> str:
    """A `log1p(seconds)` feature as text. The feature is bounded, but templates may name {gap} for any feature
    (a count of 1,000 calls is exp(1000) seconds), so the exponent is bounded too, and so is the text."""
    if log_seconds != log_seconds:
        return "a long time"
    return _seconds_text(bounded.expm1(log_seconds))


def _seconds_text(seconds: float) -> str:
    if seconds != seconds:
        return "a long time"
    days = seconds / 86400.0
    if days >= 36500:
        return "over 100 years"
    if days >= 2:
        return f"{days:.0f} days"
    if seconds >= 5400:
        return f"{seconds / 3600.0:.0f} hours"
    if seconds < 90:
        whole = round(max(seconds, 0.0))
        return "less than a second" if whole < 1 else "1 second" if whole == 1 else f"{whole} seconds"
    return f"{seconds / 60.0:.0f} minutes"


def _number(x: float) -> str:
    """A feature value as a whole number for a sentence; bounded so a forged value cannot fill the reason."""
    if x != x:
        return "?"
    return f"{bounded.clamp(x, -bounded.MAX_COUNT, bounded.MAX_COUNT):.0f}"


class Explainer:
    """Builds ct_reasons for one scored event from its feature row and per-feature contributions."""

    def __init__(self, templates: Optional[List[Template]] = None) -> None:
        self.templates = templates if templates is not None else load_templates()
        self.by_feature: Dict[str, List[Template]] = {}
        for t in self.templates:
            self.by_feature.setdefault(t.feature, []).append(t)

    def reasons(self, *args: Any, **kwargs: Any) -> List[str]:
        return [sentence for sentence, _ in self.explain(*args, **kwargs)]

    def explain(
        self,
        event: Event,
        row: Sequence[float],
        contributions: Optional[Sequence[float]],
        api_info: ApiFacts,
        limit: int = MAX_REASONS,
    ) -> List[Tuple[str, str]]:
        """(sentence, template) pairs, strongest first; the template groups reasons across events."""
        risk, cat, technique = api_info.risk, api_info.category, api_info.technique_id
        hour = bounded.whole(event.time // 3600) % 24
        values: Dict[str, Any] = {
            "identity": event.identity,
            "api": event.api,
            "name": event.name,
            "ip": event.ip or "an unknown address",
            "net": event.net or "unknown",
            "region": event.region or "unknown",
            "ua_family": client_words(event.ua_family),
            "access_key": event.access_key,
            "resource_or_target": event.resource or "a resource",
            "on_resource": f" on {event.resource}" if event.resource else "",  # LeaveOrganization names none
            "hour": f"{hour:02d}",
            "daykind": "weekend day" if ((bounded.whole(event.time // 86400) + 3) % 7) >= 5 else "weekday",
            "category": (CATEGORIES[cat] if 0 <= cat < len(CATEGORIES) else "") or "sensitive",
            "technique_part": f", ATT&CK {technique}" if technique else "",
        }
        if contributions is None:
            order = list(range(len(row)))
            weights = [1.0] * len(row)
        else:
            weights = list(contributions[: len(row)])
            order = sorted(range(len(row)), key=lambda i: -weights[i])
        out: List[Tuple[str, str]] = []
        said = set()
        names = list(FEATURE_INDEX)
        # A high-impact action leads with what it did and what this identity's history says of it: the analyst's
        # first question ("has role/ci ever stopped logging?") answered in the sentence.
        level = row[_IMPACT]
        if level == level and level >= 4:
            values["history"] = _history(event, row)
            for template in self.by_feature.get("impact", ()):
                if template.holds(level):
                    sentence = _FORMAT.format(template.text, **values)
                    said.add(sentence)
                    out.append((sentence, template.text))
                    break
        for i in order:
            if weights[i] <= 0 or len(out) >= limit:
                break
            if i == _MFA and not mfa_expected(event):
                continue
            if i == _UAF_SHARE and row[_UAF_FIRST] == 1.0:  # "first time ... uses" says it already
                continue
            x = row[i]
            for template in self.by_feature.get(names[i], ()):
                if template.holds(x):
                    values["count"] = _number(x)
                    values["value"] = x
                    values["pct"] = f"{100.0 * bounded.clamp(x, 0.0, 1.0):.1f}" if x == x else "?"
                    values["gap"] = _duration(x)
                    values["value_bits"] = _number(x)
                    sentence = _FORMAT.format(template.text, **values)
                    if sentence not in said:
                        said.add(sentence)
                        out.append((sentence, template.text))
                    break
        # Request details that change risk are always worth saying, whatever their share of the score.
        for feature in _FLAG_FEATURES:
            if len(out) >= limit:
                break
            if row[FEATURE_INDEX[feature]] == 1.0:
                for template in self.by_feature.get(feature, ()):
                    sentence = _FORMAT.format(template.text, **values)
                    if sentence not in said:
                        said.add(sentence)
                        out.append((sentence, template.text))
        if not out and risk >= 3:
            text = "{api} is a sensitive API ({category}{technique_part})"
            out.append((_FORMAT.format(text, **values), text))
        if not out:
            # The model weighed features no sentence names (a short history of this call, its tool, the identity's
            # type): an anomaly with no reason is no use to an analyst, so say what the history holds, as a fact.
            out.append((_short_history(event, row), _SHORT_HISTORY))
        return out


def mfa_expected(event: Event) -> bool:
    """Whether "not authenticated with MFA" is news: in a console sign-in or session, or for the root user.

    Calls signed with access keys and role sessions (CI jobs, Lambda and instance roles) never carry MFA, so on
    them the sentence states the normal case; it led 66 of the sample's 368 anomalies, all role sessions, and
    appeared on 47 of the real account's 64. The model may still weigh the flag; only the sentence is held back.
    """
    return event.console or event.name == "ConsoleLogin" or event.identity_type == "Root"


_SHORT_HISTORY = "{identity}: its history and that of {name} (no single unusual fact stands out)"


def _short_history(event: Event, row: Sequence[float]) -> str:
    """The fallback reason: how much history the identity has, and of this call, in words."""
    events = _expm1(row[FEATURE_INDEX["id_log_events"]])
    if events < 0.5:
        return f"no earlier activity of {event.identity} in this data"
    calls = _expm1(row[FEATURE_INDEX["id_api_log_count"]])
    if calls < 0.5:
        this = f"never called {event.name} before"
    else:
        this = f"called {event.name} {_times(calls)} before{_last(row)}"
    tool = f" (this call through {client_words(event.ua_family)})"
    return f"{event.identity}: {events:.0f} earlier events in {_span(row)} of history; it {this}{tool}"
