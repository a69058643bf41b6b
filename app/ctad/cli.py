"""The `ctad` command: one entry point, subcommands live next to the code they drive."""

from __future__ import annotations

import argparse
import importlib
import sys
from typing import List, Optional

from ctad import __version__

# Subcommand modules; each has register(subparsers). Imported lazily so a missing optional dependency of one
# subcommand (xgboost for train, say) never breaks the others.
SUBCOMMAND_MODULES = [
    "ctad.engine.cli",
    "ctad.evaluation.cli",
    "ctad.simulate.cli",
    "ctad.train.cli",
    "ctad.triage.cli",
    "ctad.report.cli",
    "ctad.cti.cli",
    "ctad.elastic.cli",
    "ctad.demo",
]


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="ctad", description=__doc__)
    parser.add_argument("--version", action="version", version=f"ctad {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name in SUBCOMMAND_MODULES:
        try:
            module = importlib.import_module(name)
        except ModuleNotFoundError as exc:
            if exc.name and exc.name.startswith("ctad."):
                continue  # that part is not built yet
            raise
        module.register(sub)
    return parser


def main(argv: Optional[List[str]] = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if not getattr(args, "func", None):
        parser.print_help()
        return 2
    try:
        return int(args.func(args) or 0)
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
