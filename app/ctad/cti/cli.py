"""`ctad cti sync` (fetch TAXII/MISP feeds into the local cache) and `ctad cti match` (check events against CTI)."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any, List, Optional

from ctad.cti.config import CTIConfig, load_config, misp_from, taxii_from
from ctad.cti.feeds import FeedError, collect, default_lookup_csv
from ctad.cti.index import CTIIndex
from ctad.engine.readers import iter_rows


def register(subparsers: Any) -> None:
    parser = subparsers.add_parser("cti", help="threat intelligence: sync feeds, match events")
    sub = parser.add_subparsers(dest="cti_command", metavar="ACTION")

    sync = sub.add_parser("sync", help="fetch TAXII 2.1 / MISP feeds into the local cache")
    _common(sync)
    sync.add_argument("--taxii", action="append", default=[], metavar="URL", help="TAXII 2.1 API root URL")
    sync.add_argument(
        "--collection",
        action="append",
        default=[],
        metavar="ID",
        help="collection id (one per --taxii, in order)",
    )
    sync.add_argument("--taxii-user", help="TAXII basic-auth user")
    sync.add_argument(
        "--taxii-password-env",
        default="CTAD_TAXII_PASSWORD",
        metavar="VAR",
        help="env var holding the password",
    )
    sync.add_argument("--misp", action="append", default=[], metavar="URL", help="MISP base URL")
    sync.add_argument(
        "--misp-key-env", default="CTAD_MISP_KEY", metavar="VAR", help="env var holding the API key"
    )
    sync.add_argument(
        "--misp-last", metavar="AGE", help="only attributes from events published within AGE (30d)"
    )
    sync.add_argument(
        "--insecure", action="store_true", help="do not verify TLS certificates (lab servers only)"
    )
    sync.add_argument("--force", action="store_true", help="fetch even when the cached copy is still fresh")
    sync.set_defaults(func=cmd_sync)

    match = sub.add_parser("match", help="print CTI matches for events in a JSON-lines file")
    _common(match)
    match.add_argument(
        "input", help="CloudTrail files/dirs, JSON lines (.gz ok; '-' for stdin) or Splunk rows"
    )
    match.add_argument(
        "--indicators",
        action="append",
        default=[],
        metavar="FILE",
        help="extra CSV or STIX bundle (repeatable)",
    )
    match.add_argument("--no-default", action="store_true", help="do not load lookups/cti_indicators.csv")
    match.set_defaults(func=cmd_match)

    stats = sub.add_parser(
        "stats", help="what the index holds: indicators per source and type, skipped entries"
    )
    _common(stats)
    stats.add_argument("--indicators", action="append", default=[], metavar="FILE")
    stats.add_argument("--no-default", action="store_true")
    stats.set_defaults(func=cmd_stats)
    parser.set_defaults(func=lambda args: (parser.print_help(), 2)[1])


def _common(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--config", metavar="FILE", help="feed config (TOML or INI); see docs/cti.md")
    parser.add_argument(
        "--cache", metavar="PATH", help="feed cache file (default: $CTAD_CTI_CACHE or ~/.cache)"
    )
    parser.add_argument("--ttl-hours", type=float, help="how long a fetched feed stays fresh (default 6)")


def _config(args: argparse.Namespace) -> CTIConfig:
    cfg = load_config(args.config) if args.config else CTIConfig()
    if args.cache:
        cfg.cache_path = Path(args.cache)
    if args.ttl_hours is not None:
        cfg.ttl = args.ttl_hours * 3600
    return cfg


def cmd_sync(args: argparse.Namespace) -> int:
    try:
        cfg = _config(args)
        if len(args.collection) > len(args.taxii):
            raise FeedError("more --collection than --taxii flags")
        for i, url in enumerate(args.taxii):
            section = {
                "url": url,
                "collection": args.collection[i] if i < len(args.collection) else None,
                "user": args.taxii_user,
                "password_env": args.taxii_password_env,
                "verify": not args.insecure,
            }
            cfg.remote.append(taxii_from(section))
        for url in args.misp:
            section = {
                "url": url,
                "key_env": args.misp_key_env,
                "last": args.misp_last,
                "verify": not args.insecure,
            }
            cfg.remote.append(misp_from(section))
    except FeedError as exc:
        print(f"ctad cti sync: {exc}", file=sys.stderr)
        return 2
    if not cfg.remote:
        print(
            "ctad cti sync: nothing to sync (give --taxii / --misp or a --config with feeds)", file=sys.stderr
        )
        return 2
    failures = 0
    for source, (indicators, skipped, warnings) in zip(
        cfg.remote, collect(cfg.remote, cache_path=cfg.cache_path, ttl=cfg.ttl, refresh=args.force)
    ):
        for warning in warnings:
            print(f"warning: {warning}", file=sys.stderr)
        failures += bool(warnings) and not indicators
        print(f"{source.name}: {len(indicators)} indicators, {len(skipped)} skipped")
    print(f"cache: {cfg.cache_path}")
    return 1 if failures == len(cfg.remote) else 0


def _index(args: argparse.Namespace) -> Optional[CTIIndex]:
    """The index for match/stats, or None after printing why the config could not be used."""
    try:
        cfg = _config(args)
    except FeedError as exc:
        print(f"ctad cti {args.cti_command}: {exc}", file=sys.stderr)
        return None
    sources: List[Any] = []
    default_csv = default_lookup_csv()
    if not args.no_default and default_csv:
        sources.append(str(default_csv))
    sources.extend(cfg.files)
    sources.extend(args.indicators)
    if cfg.cache_path.is_file():
        sources.append(str(cfg.cache_path))
    index = CTIIndex.load(sources)
    for warning in index.warnings:
        print(f"warning: {warning}", file=sys.stderr)
    return index


def cmd_match(args: argparse.Namespace) -> int:
    index = _index(args)
    if index is None:
        return 2
    if not len(index):
        print("ctad cti match: no indicators loaded (see `ctad cti stats`)", file=sys.stderr)
    rows = hits = bad = 0
    for row in iter_rows([args.input]):
        rows += 1
        if row.error or not isinstance(row.obj, dict):
            bad += 1
            print(f"{row.source}: {row.error or 'not a JSON object'}", file=sys.stderr)
            continue
        matches = index.match(row.obj)
        if matches:
            hits += 1
            out = {"source": row.source, "eventID": row.obj.get("eventID", ""), "matches": matches}
            sys.stdout.write(json.dumps(out, ensure_ascii=False) + "\n")
    print(
        f"{rows} events, {hits} with CTI matches, {bad} unreadable; {len(index)} indicators", file=sys.stderr
    )
    return 0


def cmd_stats(args: argparse.Namespace) -> int:
    index = _index(args)
    if index is None:
        return 2
    report = index.stats()
    report["skipped_examples"] = index.skipped[:20]
    print(json.dumps(report, indent=2))
    return 0
