"""The one detection driver (ctad.engine.driver), the one option table (ctad.engine.options) and the one event
order (ctad.core.ordering + ctad.engine.spill.EventSorter) that the front doors, baseline build and training share."""

from __future__ import annotations

import argparse
import json
import random

import pytest
from cloudtrail_event import timeline
from ctad.core.catalog import Catalog
from ctad.core.normalize import Normalizer
from ctad.core.ordering import EventWalk, start_state
from ctad.core.profile import Profile
from ctad.engine import options as table
from ctad.engine.cli import build_profile
from ctad.engine.detect import Detector
from ctad.engine.driver import (
    LineSpool,
    Unreadable,
    build_detector,
    load_baseline,
    paired,
    run_detection,
    run_summary,
    save_baseline,
)
from ctad.engine.spill import EventSorter


def test_paired_refuses_to_drop_rows():
    assert list(paired([1, 2], ["a", "b"])) == [(1, "a"), (2, "b")]
    with pytest.raises(RuntimeError, match="rows would be lost"):
        list(paired([1, 2, 3], ["a", "b"]))
    with pytest.raises(RuntimeError, match="more results"):
        list(paired([1], ["a", "b"]))


def _options(**values):
    parser = argparse.ArgumentParser()
    table.add_arguments(parser, table.CLI)
    return vars(parser.parse_args([f"--{k.replace('_', '-')}={v}" for k, v in values.items()]))


def test_run_detection_gives_every_row_a_result_in_add_order(tiny_model_dir, tmp_path):
    events = timeline(120)
    det = build_detector(_options(model=tiny_model_dir, incident_gap=5), None)
    assert det.incident_gap == 300.0 and det.explain is True and det.engine == "auto"
    items = [(ev, json.dumps({"n": i}).encode()) for i, ev in enumerate(events)]
    items.insert(7, (Unreadable("malformed CSV record: 3 cells for 4 columns"), b'{"n":"bad"}'))
    items.insert(30, (det.normalizer.normalize(events[3]), b'{"n":"event"}'))
    spool = LineSpool(str(tmp_path))
    run, written = run_detection(det, items, list, spool)
    spool.close()
    assert [body for body, _ in written] == [body for _, body in items]
    assert written[7][1]["ct_error"] == "malformed CSV record: 3 cells for 4 columns"
    assert all(ct["ct_error"] == "" for i, (_, ct) in enumerate(written) if i != 7)
    summary = run_summary(run)
    assert summary["rows"] == len(items) and summary["errors"] == 1
    assert summary["events"] + summary["duplicates"] == len(items) - 1
    assert summary["incidents"] == run.incidents.count


def test_the_cli_and_elastic_doors_parse_the_same_detection_options():
    parsers = {}
    for door in (table.CLI, table.ELASTIC):
        parsers[door] = argparse.ArgumentParser()
        table.add_arguments(parsers[door], door)
    argv = ["--threshold", "0.7", "--no-explain", "--engine", "python", "--incident-gap", "10"]
    cli, elastic = (vars(parsers[d].parse_args(argv)) for d in (table.CLI, table.ELASTIC))
    assert cli == elastic
    assert cli["explain"] is False and cli["threshold"] == 0.7 and cli["incident_gap"] == 10
    for bad in (["--threshold", "nan"], ["--incident-gap", "10081"], ["--max-memory-rows", "0"]):
        with pytest.raises(SystemExit):
            parsers[table.CLI].parse_args(bad)


def test_splunk_differences_are_declared_in_the_table():
    splunk = {opt.name: opt for opt in table.options_for(table.SPLUNK)}
    cli = {opt.name: opt for opt in table.options_for(table.CLI)}
    assert splunk["baseline"].default == "ctad_baseline" and cli["baseline"].default is None
    assert splunk["max_memory_rows"].low == 1000 and cli["max_memory_rows"].low == 1
    assert {"retention_days", "worker"} <= set(splunk) and not {"retention_days", "worker"} & set(cli)
    parse = table.splunk_options()["threshold"][0]
    with pytest.raises(ValueError, match="from 0 to 1"):
        parse("2")


def test_save_baseline_only_when_asked_or_new(tiny_model_dir, tmp_path):
    det = Detector(model_dir=tiny_model_dir)
    run = det.start()
    for ev in timeline(30):
        run.add(ev)
    list(run.results())
    path = tmp_path / "b.json"
    assert load_baseline(path) is None
    assert save_baseline(run, path, None, update=False)  # no baseline yet: hunting writes one
    loaded = load_baseline(path)
    assert isinstance(loaded, Profile)
    assert not save_baseline(run, path, loaded, update=False)
    assert save_baseline(run, path, loaded, update=True)
    assert not save_baseline(run, None, None, update=True)


def test_run_baseline_build_and_the_walk_leave_the_same_profile(tiny_model_dir, tmp_path):
    """The order rule is written once: a scored run, `ctad baseline build` and a bare walk over the same events
    (shuffled, with re-deliveries) fold them alike, also when the sorter spills."""
    events = timeline(300)
    events += [dict(events[i]) for i in range(0, 300, 17)]  # true re-deliveries
    random.Random(5).shuffle(events)
    path = tmp_path / "events.jsonl"
    path.write_text("".join(json.dumps(ev) + "\n" for ev in events))

    run = Detector(model_dir=tiny_model_dir, max_memory_rows=50, spill_dir=str(tmp_path)).start()
    for ev in events:
        run.add(ev)
    list(run.results())
    built, bad = build_profile([str(path)], max_memory_rows=50)
    assert bad == 0

    catalog = Catalog.load()
    normalizer = Normalizer(catalog)
    sorter = EventSorter(max_items=10**6)
    for seq, ev in enumerate(events):
        e = normalizer.normalize(ev)
        sorter.add((e.time, e.event_id, seq, e))
    walk = EventWalk(sorter.sorted(), start_state(catalog))
    steps = list(walk)
    assert (
        walk.duplicates == sum(1 for _, _, _, first in steps if first is not None) == run.summary.duplicates
    )
    assert run.summary.duplicates > 0
    scored = dict(run.profile.data)
    assert "incidents" in scored  # only a scored run knows incidents (they continue in the next run)
    del scored["incidents"]
    assert scored == built.data == walk.profile().data
