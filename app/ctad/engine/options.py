"""The detection options of the three front doors, declared once and rendered for each.

`ctad detect` (argparse), `ctad elastic detect` (argparse) and Splunk's `| cloudtraildetect` (``name=value``
arguments, documented in default/searchbnf.conf) configure the same detector. Each option is declared here once:
its name, kind, range, default and help; the argparse arguments, the Splunk command's option parsers and the
searchbnf syntax and description lines are rendered from it, so a range or a default cannot differ between doors
by accident. Where a door means something else by an option (a baseline is a file for the CLI, a lookup for
Splunk), the difference is declared beside the option (`doors` overrides), not in the door's code.

Options that only describe one door's input or output (``--output``, ``--workers``, Elastic's ``--write``) stay
with that door. tests/splunkapp/test_searchbnf.py holds searchbnf.conf to `searchbnf_syntax` and
`searchbnf_options`; ``python -m ctad.engine.options`` prints them. Standard library only (search-time path).
"""

from __future__ import annotations

import argparse
import dataclasses
import sys
from typing import Any, Callable, Dict, List, Mapping, Optional, Sequence, Tuple

from ctad.engine import argtypes
from ctad.engine.detect import DEFAULT_INCIDENT_GAP_MINUTES, MAX_INCIDENT_GAP_MINUTES

CLI, ELASTIC, SPLUNK = "cli", "elastic", "splunk"
ALL = (CLI, ELASTIC, SPLUNK)


@dataclasses.dataclass(frozen=True)
class Option:
    """One option. `kind`: float, int, bool, choice, string, name (a Splunk lookup name), dir (an existing
    writable directory) or flag (a command-line switch). `default_doc`: how help text states the default (None:
    not stated). `doors`: where the option exists, each with the fields that differ there (may be empty)."""

    name: str
    kind: str
    help: str
    default: Any = None
    default_doc: Optional[str] = None
    low: Optional[float] = None
    high: Optional[float] = None
    choices: Tuple[str, ...] = ()
    metavar: Optional[str] = None
    cli_help: Optional[str] = None  # argparse help of a yes/no option rendered as --no-NAME
    doors: Mapping[str, Mapping[str, Any]] = dataclasses.field(default_factory=dict)

    def at(self, door: str) -> Option:
        """The option as `door` has it (its overrides applied)."""
        return dataclasses.replace(self, **self.doors[door], doors={door: {}})

    @property
    def parse(self) -> Callable[[str], Any]:
        """The validator: raises argparse.ArgumentTypeError with a one-line message."""
        if self.kind == "float":
            return argtypes.float_range(self.low, self.high)  # type: ignore[arg-type]
        if self.kind == "int":
            return argtypes.int_range(int(self.low or 0), None if self.high is None else int(self.high))
        if self.kind == "bool":
            return argtypes.boolean
        if self.kind == "choice":
            return argtypes.choice(*self.choices)
        if self.kind == "name":
            return argtypes.lookup_name
        if self.kind == "dir":
            return argtypes.existing_dir
        if self.kind == "string":
            return str
        raise ValueError(f"option {self.name}: kind {self.kind!r} takes no value")

    @property
    def range_text(self) -> str:
        """The declared range, "0..1" or "1000..10000000" ("" when open at either end)."""
        if self.low is None or self.high is None:
            return ""
        if self.kind == "int":
            return f"{int(self.low)}..{int(self.high)}"
        return f"{self.low:g}..{self.high:g}"

    @property
    def placeholder(self) -> str:
        """The value as searchbnf's description shows it: <float 0..1>, <int 0..10080>, auto|python|numpy."""
        if self.kind == "choice":
            return "|".join(self.choices)
        word = {"float": "float", "int": "int", "bool": "bool"}.get(self.kind, "string")
        return f"<{word} {self.range_text}>" if self.range_text else f"<{word}>"

    @property
    def syntax(self) -> str:
        """The value in searchbnf's syntax line: <num>, <int>, <bool>, <string> or (a|b|c)."""
        if self.kind == "choice":
            return "(" + "|".join(self.choices) + ")"
        return {"float": "<num>", "int": "<int>", "bool": "<bool>"}.get(self.kind, "<string>")


OPTIONS: Tuple[Option, ...] = (
    Option(
        "threshold", "float", "anomaly threshold on ct_score", low=0.0, high=1.0,
        default_doc="the model's own threshold from model/feature_spec.json",
        doors={CLI: {}, ELASTIC: {}, SPLUNK: {}},
    ),
    Option(
        "baseline", "string", "baseline profile to start from (JSON, .gz ok); created if missing",
        doors={
            CLI: {},
            ELASTIC: {},
            SPLUNK: {
                "kind": "name",
                "default": "ctad_baseline",
                "default_doc": "ctad_baseline",
                "help": "KV store collection lookup (transforms.conf name) or CSV lookup file holding the baseline "
                "profile; a missing or empty baseline gives hunting mode with an info message, and a baseline "
                "shorter than 7 days gives a warning that novelty features are weak",
            },
        },
    ),
    Option(
        "update_baseline", "flag", "write the profile after this run back to --baseline",
        doors={CLI: {}, ELASTIC: {}},
    ),
    Option(
        "explain", "bool", "fill ct_reasons with the top contributions", default=True, default_doc="true",
        cli_help="skip reasons (faster)", doors={CLI: {}, ELASTIC: {}, SPLUNK: {}},
    ),
    Option(
        "model", "string", "model directory", default_doc="the bundled model/",
        doors={
            CLI: {},
            ELASTIC: {},
            SPLUNK: {
                "default": "",
                "default_doc": "the app's model/",
                "help": "model directory name under the app's model/ folder or an absolute path",
            },
        },
    ),
    Option(
        "engine", "choice", "tree evaluator; auto uses numpy when it is importable (on Splunk: when the Python for "
        "Scientific Computing add-on provides it), else pure Python", default="auto", default_doc="auto",
        choices=("auto", "python", "numpy"), doors={CLI: {}, ELASTIC: {}, SPLUNK: {}},
    ),
    Option(
        "retention_days", "int", "forget baseline entries older than this many days", low=1, high=3650,
        default_doc="keep all", doors={SPLUNK: {}},
    ),
    Option(
        "incident_gap", "int", "minutes between two anomalies of one identity that still belong to one incident",
        default=DEFAULT_INCIDENT_GAP_MINUTES, default_doc=str(DEFAULT_INCIDENT_GAP_MINUTES), low=0,
        high=MAX_INCIDENT_GAP_MINUTES, metavar="MINUTES", doors={CLI: {}, ELASTIC: {}, SPLUNK: {}},
    ),
    Option(
        "continue_incidents", "bool", "continue the open incidents of earlier searches: each identity's latest "
        "incident whose last anomaly, stored in the ctad_anomalies KV store by the CTAD - Detect saved search, is at "
        "most incident_gap minutes before this search's earliest event keeps its id and score; if the KV store "
        "cannot be read the search warns and starts every incident afresh", default=True, default_doc="true",
        doors={SPLUNK: {}},
    ),
    Option(
        "max_memory_rows", "int", "events held in memory before the run spills sorted runs to disk",
        default=100_000, default_doc="100000", low=1,
        doors={
            CLI: {},
            ELASTIC: {},
            SPLUNK: {
                "low": 1000,
                "high": 10_000_000,
                "help": "events held in memory before the run spills sorted runs to the dispatch directory",
            },
        },
    ),
    Option(
        "worker", "bool", "format output rows in a forked helper process on a second core while the main process "
        "scores", default=True, default_doc="true; false keeps everything in one process, slower",
        doors={SPLUNK: {}},
    ),
    Option(
        "spill_dir", "dir", "directory for temporary spill files", default_doc="system temp",
        doors={CLI: {}, ELASTIC: {}},
    ),
)  # fmt: skip


def options_for(door: str) -> List[Option]:
    """The options `door` takes, as it has them, in declaration order."""
    return [opt.at(door) for opt in OPTIONS if door in opt.doors]


def _with_default(text: str, opt: Option) -> str:
    return f"{text} (default: {opt.default_doc})" if opt.default_doc else text


# -------------------------------------------------------------------------------------------- argparse
def add_arguments(parser: Any, door: str) -> None:
    """Add `door`'s options to an argparse parser (or argument group): --name-with-dashes, dest name."""
    for opt in options_for(door):
        flag = "--" + opt.name.replace("_", "-")
        if opt.kind == "flag":
            parser.add_argument(flag, dest=opt.name, action="store_true", help=opt.help)
        elif opt.kind == "bool" and opt.default is True:
            parser.add_argument(
                "--no-" + opt.name.replace("_", "-"),
                dest=opt.name,
                action="store_false",
                help=opt.cli_help or f"do not {opt.help}",
            )
        elif opt.kind == "choice":
            parser.add_argument(
                flag,
                dest=opt.name,
                choices=opt.choices,
                default=opt.default,
                help=_with_default(opt.help, opt),
            )
        else:
            span = f", {opt.range_text.replace('..', ' to ')}" if opt.range_text else ""
            parser.add_argument(
                flag,
                dest=opt.name,
                type=opt.parse,
                default=opt.default,
                metavar=opt.metavar,
                help=_with_default(opt.help + span, opt),
            )


# ---------------------------------------------------------------------------------------------- Splunk
def _value_error(parse: Callable[[str], Any]) -> Callable[[str], Any]:
    """The Splunk protocol's option parsers raise ValueError (argparse's validators raise ArgumentTypeError)."""

    def check(text: str) -> Any:
        try:
            return parse(text)
        except argparse.ArgumentTypeError as exc:
            raise ValueError(str(exc)) from None

    return check


def splunk_options() -> Dict[str, Tuple[Callable[[str], Any], Any, str]]:
    """{name: (parser raising ValueError, default, help)} of `| cloudtraildetect`."""
    return {opt.name: (_value_error(opt.parse), opt.default, opt.help) for opt in options_for(SPLUNK)}


def searchbnf_syntax(command: str = "cloudtraildetect") -> str:
    """The `syntax =` value of the command's searchbnf.conf stanza."""
    return " ".join([command] + [f"({opt.name}={opt.syntax})?" for opt in options_for(SPLUNK)])


def searchbnf_options() -> List[str]:
    """The option sentences of the stanza's description, one per option: `name=<type> help (default x).`"""
    return [
        _with_default(f"{opt.name}={opt.placeholder} {opt.help}", opt) + "." for opt in options_for(SPLUNK)
    ]


def main(argv: Optional[Sequence[str]] = None) -> int:
    """Print the searchbnf.conf lines the table renders (to paste into default/searchbnf.conf)."""
    del argv
    print(f"syntax = {searchbnf_syntax()}")
    print("    Options: \\")
    for line in searchbnf_options():
        print(f"    {line} \\")
    return 0


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
