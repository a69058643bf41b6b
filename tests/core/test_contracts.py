"""The typed contracts between modules: one error base, one owner per vocabulary, named tuples and row types."""

from __future__ import annotations

import gzip
import json
from pathlib import Path

import pytest
from ctad.core.errors import CtadError

# --------------------------------------------------------------------------------------------- one error base


def _error_classes():
    from ctad.core.catalog import CatalogError
    from ctad.core.normalize import NormalizeError
    from ctad.core.profile import ProfileError
    from ctad.cti.feeds import FeedError
    from ctad.cti.indicators import IndicatorError
    from ctad.cti.stix import UnsupportedPattern
    from ctad.elastic.connect import ConnectionSetupError
    from ctad.elastic.reader import ReadError
    from ctad.engine.detect import ModelError
    from ctad.forest.parse import ModelFormatError
    from ctad.knowledge.splunk_rest import SplunkRestError
    from ctad.splunk.lookups import BaselineSourceError
    from ctad.splunk.protocol import CommandError, ProtocolError
    from ctad.triage.agents import AgentError
    from ctad.triage.llm import LLMError, TriageConfigError

    # each class with the built-in base callers already catch it by
    return [
        (CatalogError, ValueError),
        (NormalizeError, ValueError),
        (ProfileError, ValueError),
        (ModelFormatError, ValueError),
        (ModelError, RuntimeError),
        (IndicatorError, ValueError),
        (FeedError, RuntimeError),
        (UnsupportedPattern, Exception),
        (AgentError, ValueError),
        (LLMError, Exception),
        (TriageConfigError, ValueError),
        (ConnectionSetupError, Exception),
        (ReadError, Exception),
        (SplunkRestError, RuntimeError),
        (BaselineSourceError, RuntimeError),
        (ProtocolError, RuntimeError),
        (CommandError, Exception),
    ]


@pytest.mark.parametrize("cls, builtin", _error_classes(), ids=lambda c: getattr(c, "__name__", ""))
def test_every_error_class_derives_from_ctad_error_and_keeps_its_builtin_base(cls, builtin):
    assert issubclass(cls, CtadError), cls
    assert issubclass(cls, builtin), cls


def test_catalog_error_message_is_unchanged(tmp_path: Path):
    from ctad.core.catalog import CatalogError

    err = CatalogError(tmp_path / "x.csv", 3, "bad thing")
    assert str(err) == f"{tmp_path / 'x.csv'}:3: bad thing"
    assert isinstance(err, CtadError)


@pytest.mark.parametrize(
    "content, message",
    [
        (b"not json", "cannot read baseline profile"),
        (json.dumps({"version": -1}).encode(), "is not a ctad baseline profile (version"),
    ],
)
def test_profile_load_raises_profile_error_with_the_same_message(
    tmp_path: Path, content: bytes, message: str
):
    from ctad.core.profile import Profile, ProfileError

    path = tmp_path / "baseline.json.gz"
    path.write_bytes(gzip.compress(content))
    with pytest.raises(ProfileError) as info:
        Profile.load(path)
    assert message in str(info.value) and str(path) in str(info.value)
    assert isinstance(info.value, ValueError) and isinstance(info.value, CtadError)


def test_triage_base_url_refusal_is_a_ctad_error():
    from ctad.triage.llm import check_base_url

    with pytest.raises(CtadError, match="must not carry credentials"):
        check_base_url("https://user:pw@example.com")
    with pytest.raises(ValueError, match="only sent over https"):
        check_base_url("http://example.com")


# ----------------------------------------------------------------------------------- one source per vocabulary
APP = Path(__file__).resolve().parents[2] / "app" / "ctad"


def test_severities_user_agent_kinds_and_categories_have_one_source():
    from ctad.core import catalog, features, schema
    from ctad.report import aggregate
    from ctad.triage import evidence, fields

    assert fields.SEVERITIES is schema.SEVERITIES and evidence.SEVERITIES is schema.SEVERITIES
    assert tuple(reversed(schema.SEVERITIES)) == aggregate.SEVERITIES
    assert features.UA_KINDS is schema.UA_KINDS and features.CATEGORIES is schema.CATEGORIES
    assert frozenset(schema.UA_KINDS) == catalog.UA_KINDS
    assert frozenset(schema.CATEGORIES) - {"", "other"} == catalog.CATEGORIES


@pytest.mark.parametrize("literal", ['"informational", "low"', '"critical", "high", "medium", "low", "informational"', '"attack_tool"',
                                     '"resource_hijacking"'])  # fmt: skip
def test_no_module_but_schema_spells_out_a_shared_vocabulary(literal: str):
    spelled = sorted(
        str(path.relative_to(APP))
        for path in APP.rglob("*.py")
        if path.name != "schema.py" and literal in path.read_text(encoding="utf-8")
    )
    assert spelled == [], f"{literal} is written out again in {spelled}; import it from ctad.core.schema"


def test_catalog_refuses_a_category_the_model_has_no_code_for(tmp_path: Path):
    import shutil

    from ctad.core.catalog import Catalog, CatalogError
    from ctad.core.resources import find_dir

    for f in find_dir("lookups").glob("*.csv"):
        shutil.copy(f, tmp_path / f.name)
    apis = tmp_path / "sensitive_apis.csv"
    lines = apis.read_text(encoding="utf-8").splitlines()
    head, first = lines[0], lines[1].split(",")
    first[2] = "other"
    apis.write_text("\n".join([head, ",".join(first)]) + "\n", encoding="utf-8")
    with pytest.raises(CatalogError, match="category 'other' not in"):
        Catalog.load(tmp_path)


# ---------------------------------------------------------------------------------------- api_info by name


def test_api_info_is_a_named_tuple_read_by_name():
    from ctad.core.catalog import Catalog
    from ctad.core.features import CATEGORIES, SERVICES, ApiFacts, FeatureState

    state = FeatureState(Catalog.load())
    info = state.api_info("iam.amazonaws.com", "CreateAccessKey")
    assert isinstance(info, ApiFacts)
    entry = Catalog.load().api("iam.amazonaws.com", "CreateAccessKey")
    assert entry is not None
    assert info.risk == entry.risk and CATEGORIES[info.category] == entry.category
    assert info.tactic_id == entry.tactic_id and info.tactic_number == int(entry.tactic_id[2:])
    assert info.technique_id == entry.technique_id and SERVICES[info.service] == "iam"
    unknown = state.api_info("example.amazonaws.com", "Nothing")
    assert unknown == ApiFacts(0, 0, 0, "", "", len(SERVICES) - 1)


def test_no_module_reads_api_info_by_position():
    import re

    by_position = re.compile(r"\b(?:info|api_info)\[\d\]")
    readers = ("core/features.py", "core/reasons.py", "engine/detect.py", "engine/pipeline.py")
    found = [f"{r}: {m.group(0)}" for r in readers for m in by_position.finditer((APP / r).read_text())]
    assert found == []


# ------------------------------------------------------------- lookups/cti_indicators.csv: one owner, two doors
GOOD_ROWS = [
    "198.51.100.99,ipv4,s,t,50,d",
    "198.51.100.17/24,cidr,s,t,50,d",  # host bits: normalised to the network
    "203.0.113.77/32,ip-src,s,t,high,d",  # a feed's spelling, a word for confidence
    "2001:DB8::7,IPv6,s,t,0.9,d",
    "*.Evil.Example.,domain,s,t,,d",  # empty confidence: the default
    "akiaexampleattacker1,access_key_id,s,t,50,d",
    "1111-2222-3333,account_id,s,t,101,d",  # confidence over 100 is capped
    "^badtool/,user_agent,s,t,50,d",
    "# a comment row",
]
BAD_ROWS = [
    ("203.0.113.300,ipv4,s,t,50,d", "'203.0.113.300' is not an IP address or network (ipv4)"),
    ("1.2.3.4,hash,s,t,50,d", "unsupported indicator type 'hash'"),
    ("12345,account_id,s,t,50,d", "'12345' is not a 12-digit AWS account id"),
    ("AKIA123,access_key_id,s,t,50,d", "'AKIA123' does not look like an AWS access key id"),
    ("bad domain!,domain,s,t,50,d", "'bad domain!' is not a valid domain name"),
    ("(a+)+,user_agent,s,t,50,d", "nested quantifier"),
    ("1.2.3.4,ipv4,s,t,very,d", "confidence 'very' is not a number"),
    (",ipv4,s,t,50,d", "empty indicator value"),
    ("198.51.100.23,ipv4,s,t,50,d", "duplicate ipv4 indicator '198.51.100.23' (first on line 3)"),
]


def _lookups_with(tmp_path: Path, row: str) -> tuple[Path, int]:
    import shutil

    from ctad.core.resources import find_dir

    folder = tmp_path / "lookups"
    shutil.copytree(find_dir("lookups"), folder)
    path = folder / "cti_indicators.csv"
    text = path.read_text(encoding="utf-8")
    text += ("" if text.endswith("\n") else "\n") + row + "\n"
    path.write_text(text, encoding="utf-8")
    return path, text.count("\n")


def _doors(tmp_path: Path, row: str, monkeypatch) -> tuple[Path, int, object, object]:
    """(csv path, row line, what Detector() did, what the CTI loader did) with the row appended to a lookups copy
    that both find by themselves ($CTAD_LOOKUPS)."""
    from ctad.core.catalog import CatalogError
    from ctad.cti.index import CTIIndex
    from ctad.engine.detect import Detector

    path, line = _lookups_with(tmp_path, row)
    monkeypatch.setenv("CTAD_LOOKUPS", str(path.parent))
    monkeypatch.setenv("CTAD_CTI_CACHE", str(tmp_path / "no-cache.json"))
    try:
        detector: object = Detector()
    except CatalogError as exc:
        detector = exc
    index = CTIIndex.load()
    assert index.warnings == []
    return path, line, detector, index


@pytest.mark.parametrize("row", GOOD_ROWS)
def test_a_row_the_cti_loader_accepts_the_detector_accepts(tmp_path: Path, row: str, monkeypatch):
    _, _, detector, index = _doors(tmp_path, row, monkeypatch)
    assert not isinstance(detector, Exception), detector
    assert index.skipped == []  # type: ignore[attr-defined]
    assert len(detector.catalog.indicators()) == index.stats()["indicators"]  # type: ignore[attr-defined]


@pytest.mark.parametrize("row, reason", BAD_ROWS)
def test_a_bad_row_gives_the_same_message_from_both_doors(tmp_path: Path, row: str, reason: str, monkeypatch):
    from ctad.core.catalog import CatalogError

    path, line, detector, index = _doors(tmp_path, row, monkeypatch)
    assert isinstance(detector, CatalogError), "Detector() accepted a row the CTI loader skips"
    assert (detector.path, detector.line) == (path, line) and reason in detector.problem
    skipped = index.skipped  # type: ignore[attr-defined]
    assert [s["reason"] for s in skipped] == [f"line {line}: {detector.problem}"]
    assert str(detector) == f"{path}:{line}: {detector.problem}"


# ------------------------------------------------------------------------------------------- row TypedDicts
_PLAIN = {"str": str, "int": int, "List[str]": list, "Optional[float]": (float, type(None))}


def _check_row(row: dict, typed) -> None:
    """`row` has exactly the TypedDict's keys, in its order, each value of the declared type."""
    assert list(row) == list(typed.__annotations__)
    for name, declared in typed.__annotations__.items():
        kinds = _PLAIN[getattr(declared, "__forward_arg__", declared)]  # a ForwardRef: the module has PEP 563
        assert isinstance(row[name], kinds) and not isinstance(row[name], bool), (name, row[name])


def test_ct_fields_are_the_output_contract_and_the_detector_writes_them(tmp_path: Path):
    from ctad.core.schema import OUTPUT_FIELDS, CtFields, empty_output
    from ctad.engine.detect import score_rows

    assert tuple(CtFields.__annotations__) == OUTPUT_FIELDS
    assert CtFields.__required_keys__ == frozenset(OUTPUT_FIELDS)
    _check_row(dict(empty_output("why")), CtFields)
    record = {
        "eventVersion": "1.08",
        "eventID": "11111111-2222-3333-4444-555555555555",
        "eventTime": "2024-03-04T10:00:00Z",
        "eventSource": "iam.amazonaws.com",
        "eventName": "CreateAccessKey",
        "awsRegion": "us-east-1",
        "sourceIPAddress": "198.51.100.7",
        "userAgent": "aws-cli/2.15.0",
        "userIdentity": {
            "type": "IAMUser",
            "arn": "arn:aws:iam::111122223333:user/a",
            "accountId": "111122223333",
        },
    }
    scored, unscored = score_rows([record, {"not": "cloudtrail"}])
    _check_row(dict(scored), CtFields)
    _check_row(dict(unscored), CtFields)
    assert unscored["ct_error"] and unscored["ct_score"] is None
    assert scored["ct_error"] == "" and isinstance(scored["ct_score"], float)


def test_triage_fields_are_the_triage_contract():
    from ctad.triage.fields import TRIAGE_FIELDS, TriageFields, empty_triage

    assert tuple(TriageFields.__annotations__) == TRIAGE_FIELDS
    _check_row(dict(empty_triage("why")), TriageFields)


def test_the_writers_signatures_name_the_row_types():
    import typing

    from ctad.core.schema import CtFields, empty_output
    from ctad.elastic.writer import clean_ct
    from ctad.engine.cli import OutputWriter
    from ctad.engine.detect import Run
    from ctad.triage.engine import Triage
    from ctad.triage.fields import TriageFields, empty_triage

    def hints(fn):
        return typing.get_type_hints(fn, vars(__import__(fn.__module__, fromlist=["_"])))

    assert hints(empty_output)["return"] is CtFields and hints(clean_ct)["return"] is CtFields
    assert hints(OutputWriter.write)["ct"] is CtFields
    assert hints(Run.results)["return"] == typing.Iterator[CtFields]
    assert hints(empty_triage)["return"] is TriageFields and hints(Triage.finalize)["return"] is TriageFields


# ------------------------------------------------------------------------------------------------------ mypy


def test_core_and_forest_type_check():
    """mypy (non-strict, pyproject.toml [tool.mypy]) over the layers that run inside Splunk, in the one test
    command: a type error there fails the suite like any other test."""
    import subprocess
    import sys

    repo = Path(__file__).resolve().parents[2]
    out = subprocess.run([sys.executable, "-m", "mypy"], cwd=str(repo), capture_output=True, text=True,
                         timeout=300)  # fmt: skip
    assert out.returncode == 0, out.stdout + out.stderr
    assert "Success: no issues found" in out.stdout, out.stdout
