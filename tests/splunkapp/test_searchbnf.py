"""searchbnf.conf documents every option of every command: the ones the command code declares (when the
command is in this checkout) and the ones the contract names."""

from __future__ import annotations

import re

import pytest
import splunkapp_helpers as h

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


@pytest.mark.parametrize("cmd", h.APP_COMMANDS)
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
