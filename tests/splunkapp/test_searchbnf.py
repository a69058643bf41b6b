"""searchbnf.conf documents every option of every command: cloudtraildetect's exactly as the option table renders
them (ctad.engine.options), the other commands' as their code declares them, and the ones the contract names."""

from __future__ import annotations

import re

import pytest
import splunkapp_helpers as h
from ctad.engine import options as table

# The contract's option lists (docs/splunk-app.md, "Commands").
CONTRACT = {
    "cloudtraildetect": {
        "threshold",
        "baseline",
        "explain",
        "model",
        "engine",
        "retention_days",
        "incident_gap",
    },
    "ctadbaseline": {"retention_days", "merge", "collection"},
    "agenttriage": {"backend", "max_rows"},
}


def test_every_command_has_a_stanza():
    bnf = h.conf("searchbnf")
    for cmd in h.APP_COMMANDS:
        kv = bnf[f"{cmd}-command"]
        assert kv["syntax"].startswith(cmd)
        for key in ("shortdesc", "description", "usage", "example1", "comment1"):
            assert kv.get(key), (cmd, key)
        assert kv["usage"] == "public"
        assert kv["example1"].count(cmd) >= 1


@pytest.mark.parametrize("cmd", h.APP_COMMANDS)
def test_contract_options_documented(cmd):
    bnf = h.conf("searchbnf")[f"{cmd}-command"]
    documented = h.searchbnf_options()[cmd]
    assert CONTRACT[cmd] <= documented, CONTRACT[cmd] - documented
    for opt in documented:
        assert re.search(rf"\b{opt}=", bnf["description"]), f"{cmd}: {opt} not described"


def _words(text: str) -> str:
    return " ".join(text.split())


def test_cloudtraildetect_documents_exactly_the_option_table():
    """The syntax line and the description's option sentences are what `python -m ctad.engine.options` prints:
    an option, range or default changed in the table and not here (or the reverse) fails."""
    bnf = h.conf("searchbnf")["cloudtraildetect-command"]
    assert bnf["syntax"] == table.searchbnf_syntax()
    documented = bnf["description"].split("Options:", 1)[1]
    assert _words(documented) == _words(" ".join(table.searchbnf_options()))


def test_cloudtraildetect_parses_what_the_table_declares():
    """The command's option parsers are the table's: same names, defaults and ranges."""
    from ctad.splunk.detect_command import DetectCommand

    names = [opt.name for opt in table.options_for(table.SPLUNK)]
    assert list(DetectCommand.options) == names
    for opt in table.options_for(table.SPLUNK):
        assert DetectCommand.options[opt.name].default == opt.default
    assert DetectCommand.options["max_memory_rows"].parse("1000") == 1000
    for name, bad in (
        ("max_memory_rows", "999"),
        ("threshold", "1.5"),
        ("incident_gap", "10081"),
        ("explain", "x"),
    ):
        with pytest.raises(ValueError):
            DetectCommand.options[name].parse(bad)


@pytest.mark.parametrize("cmd", [c for c in h.APP_COMMANDS if c != "cloudtraildetect"])
def test_code_options_documented(cmd):
    sources = h.command_sources(cmd)
    if not sources:
        pytest.skip(f"bin/{cmd}.py is not in this checkout yet (branch splunkcmd not merged)")
    declared = set()
    for path in sources:
        declared |= h.options_in_source(path.read_text(encoding="utf-8"))
    assert declared, f"could not read any option declaration from {[str(p) for p in sources]}"
    documented = h.searchbnf_options()[cmd]
    assert declared == documented, {
        "undocumented": declared - documented,
        "not in code": documented - declared,
    }


def test_option_reader_reads_both_styles():
    splunklib_style = (
        "class C(StreamingCommand):\n    a = Option(require=False)\n    b = Option()\n    c = 1\n"
    )
    protocol_style = (
        "class D(Command):\n    options = {'x': Option(float, 0.5), 'y': proto.Option(str, '')}\n"
    )
    assert h.options_in_source(splunklib_style) == {"a", "b"}
    assert h.options_in_source(protocol_style) == {"x", "y"}
