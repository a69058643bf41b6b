"""`ctad cti sync / match / stats` end to end, and the config file formats."""

from __future__ import annotations

import argparse
import json
import sys

import pytest
from ctad.cti import cli
from ctad.cti.config import load_config
from ctad.cti.feeds import FeedError, MispSource, TaxiiSource
from cti_servers import MISP_KEY, TAXII_PASSWORD, TAXII_USER


def run(argv):
    parser = argparse.ArgumentParser(prog="ctad")
    cli.register(parser.add_subparsers(dest="command"))
    args = parser.parse_args(argv)
    return args.func(args)


def test_sync_then_match(tmp_path, taxii_server, misp_server, monkeypatch, capsys):
    cache = tmp_path / "cache.json"
    monkeypatch.setenv("CTAD_TAXII_PASSWORD", TAXII_PASSWORD)
    monkeypatch.setenv("TEST_MISP_KEY", MISP_KEY)
    rc = run(
        [
            "cti",
            "sync",
            "--cache",
            str(cache),
            "--taxii",
            taxii_server.api_root,
            "--collection",
            taxii_server.collection,
            "--taxii-user",
            TAXII_USER,
            "--misp",
            misp_server.url,
            "--misp-key-env",
            "TEST_MISP_KEY",
        ]
    )
    out = capsys.readouterr().out
    assert rc == 0, out
    assert "7 indicators, 4 skipped" in out and "6 indicators, 1 skipped" in out
    entries = json.loads(cache.read_text())["sources"]
    assert len(entries) == 2

    events = tmp_path / "events.jsonl"
    events.write_text(
        "\n".join(
            [
                json.dumps({"eventID": "e1", "sourceIPAddress": "192.0.2.10"}),
                "{broken",
                json.dumps({"eventID": "e2", "sourceIPAddress": "10.0.0.1"}),
                json.dumps({"eventID": "e3", "userAgent": "Mozilla/5.0 (compatible; CloudSnoop/2.1)"}),
                "42",
            ]
        )
        + "\n"
    )
    rc = run(["cti", "match", str(events), "--cache", str(cache), "--no-default"])
    captured = capsys.readouterr()
    lines = [json.loads(x) for x in captured.out.splitlines()]
    assert rc == 0
    assert [(x["source"], x["eventID"]) for x in lines] == [(f"{events}:1", "e1"), (f"{events}:4", "e3")]
    assert lines[0]["matches"][0]["source"].startswith("taxii:")
    assert lines[1]["matches"][0]["source"].startswith("misp:")
    assert (
        "line 2: not valid JSON" in captured.err
        and f"{events}:5: record is not a JSON object" in captured.err
    )
    assert "5 events, 2 with CTI matches, 2 unreadable" in captured.err


def test_sync_with_nothing_to_do(tmp_path, capsys):
    assert run(["cti", "sync", "--cache", str(tmp_path / "c.json")]) == 2
    assert "nothing to sync" in capsys.readouterr().err


def test_sync_unreachable_server_fails_cleanly(tmp_path, capsys):
    rc = run(["cti", "sync", "--cache", str(tmp_path / "c.json"), "--taxii", "http://127.0.0.1:9/api1/"])
    captured = capsys.readouterr()
    assert rc == 1 and "warning: TAXII" in captured.err


def test_bad_config_is_a_message(tmp_path, capsys):
    bad = tmp_path / "cti.ini"
    bad.write_text("[taxii:x]\ncollection = c\n")
    assert run(["cti", "match", str(tmp_path / "none.jsonl"), "--config", str(bad)]) == 2
    assert "ctad cti match: a [taxii] entry needs url" in capsys.readouterr().err


def test_stats_and_extra_indicators(fixture_csv, fixture_bundle, tmp_path, capsys):
    rc = run(
        [
            "cti",
            "stats",
            "--no-default",
            "--cache",
            str(tmp_path / "none.json"),
            "--indicators",
            fixture_csv,
            "--indicators",
            fixture_bundle,
        ]
    )
    report = json.loads(capsys.readouterr().out)
    assert rc == 0 and report["indicators"] == 14 and report["skipped"] == 5
    assert report["by_source"]["fixture"]["cidr"] == 2


@pytest.mark.skipif(sys.version_info < (3, 11), reason="TOML needs tomllib (3.11+) or tomli")
def test_toml_config(tmp_path, monkeypatch, fixture_csv):
    monkeypatch.setenv("MY_MISP_KEY", "k-from-env")
    path = tmp_path / "cti.toml"
    path.write_text(
        f"""
[cache]
path = "{tmp_path / "feeds.json"}"
ttl_hours = 2

[files]
paths = ["{fixture_csv}"]

[[taxii]]
url = "https://taxii.example.org/api1"
collection = "abc"
user = "u"
password = "inline"

[[misp]]
url = "https://misp.example.org"
key_env = "MY_MISP_KEY"
last = "30d"
types = "ip-src, domain"
verify = false
"""
    )
    cfg = load_config(path)
    assert cfg.ttl == 7200 and cfg.cache_path == tmp_path / "feeds.json" and cfg.files == [fixture_csv]
    taxii, misp = cfg.remote
    assert isinstance(taxii, TaxiiSource) and taxii.url.endswith("/api1/") and taxii.password == "inline"
    assert isinstance(misp, MispSource) and misp.key == "k-from-env" and misp.types == ["ip-src", "domain"]
    assert misp.verify is False and misp.last == "30d"


def test_ini_config(tmp_path):
    path = tmp_path / "cti.ini"
    path.write_text(
        "[cache]\nttl_hours = 1\n[files]\npaths = a.csv, b.json\n"
        "[taxii:partner]\nurl = https://t.example/api/\ncollection = c1\n"
        "[misp:isac]\nurl = https://m.example\nkey = inline-key\n"
    )
    cfg = load_config(path)
    assert cfg.ttl == 3600 and cfg.files == ["a.csv", "b.json"]
    assert [s.name for s in cfg.remote] == ["partner", "isac"]
    bad = tmp_path / "bad.ini"
    bad.write_text("[misp:x]\nkey = k\n")
    with pytest.raises(FeedError, match="needs url"):
        load_config(bad)
    with pytest.raises(FeedError, match="not found"):
        load_config(tmp_path / "missing.toml")
