"""`ctad eval` end to end: a handcrafted file with known answers, simulator output, the shared real account."""

from __future__ import annotations

import calendar
import gzip
import json
import random
import time
from pathlib import Path

import pytest
from cloudtrail_event import CloudTrailEvent, iam_user
from ctad.cli import main
from ctad.evaluation.scorecard import roc_auc

T0 = 1_714_557_600  # 2024-05-01T10:00:00Z


def _event(minute: float, user: str, n: int, **labels):
    return CloudTrailEvent(time=T0 + int(minute * 60), event_id=f"e-{n}", ua="aws-cli/2.15.0 Python/3.11.6 Linux/6.1",
                           identity=iam_user(user, key=f"AKIA{user.upper():0>16}"), extra=labels).as_record()  # fmt: skip


MISSED = "[red]T-two[/red]"  # label text is shown as written, never as rich markup


def _handcrafted_lines():
    rows = [
        _event(0, "alice", 1, _label=0, _technique=""),
        _event(10, "alice", 2, _label=0, _technique=""),
        _event(50, "alice", 3, _label=0, _technique=""),  # 40 minutes after the last: a new incident
        _event(80, "alice", 4, _label=0, _technique=""),  # exactly 30 minutes: the same one
        _event(5, "mallory", 5, _label=1, _technique="T-one"),
        _event(20, "mallory", 6, _label="0", _technique=""),
        _event(30, "carol", 7),  # no label: scored, left out of the figures
        _event(31, "carol", 8, _label=2),  # no usable label either
    ]
    broken = _event(6, "mallory", 9, _label=1, _technique=MISSED)
    del broken["eventName"]  # cannot be scored: ct_error, counted as not flagged
    lines = [json.dumps(r) for r in rows] + [json.dumps(broken), "{not json"]
    return lines


def _write(path: Path, lines):
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def _eval(tmp_path: Path, *argv: str, name: str = "out.json"):
    out = tmp_path / name
    code = main(["eval", "-q", *argv, "--json", str(out)])
    return code, (json.loads(out.read_text()) if out.exists() else None)


def test_handcrafted_file_everything_flagged(tmp_path, capsys):
    path = _write(tmp_path / "hand.jsonl", _handcrafted_lines())
    code, report = _eval(tmp_path, str(path), "--threshold", "0")
    assert code == 0
    fig = report["files"][0]
    assert report["mode"] == "hunting" and report["threshold"] == 0
    assert (fig["rows"], fig["unreadable_rows"], fig["unlabelled_rows"]) == (10, 1, 2)
    assert (fig["events"], fig["attack_events"], fig["benign_events"]) == (7, 2, 5)
    assert (fig["error_rows"], fig["error_attack_rows"]) == (1, 1)
    assert fig["unreadable_messages"] == [["not valid JSON", 1]]
    assert (fig["flagged"], fig["true_alerts"], fig["false_alerts"]) == (6, 1, 5)
    assert fig["precision"] == pytest.approx(1 / 6) and fig["recall"] == pytest.approx(0.5)
    assert fig["false_alert_rate"] == pytest.approx(1.0)
    assert (fig["techniques_hit"], fig["techniques_total"], fig["missed_techniques"]) == (1, 2, [MISSED])
    # alice: [0, 10] and [50, 80]: two false incidents; mallory [5, 20] holds the attack.
    assert fig["incident_grouping"] == "ct_incident"  # the engine writes incidents; same 30-minute rule
    assert (fig["incidents"], fig["false_incidents"]) == (3, 2)
    # the engine writes ct_incident_score, so the incidents that would page the SOC are counted
    assert fig["alerted_incidents"] is not None and fig["false_alerted_incidents"] <= fig["false_incidents"]
    assert fig["alerted_incidents"] == fig["false_alerted_incidents"] + fig["attack_incidents_alerted"]
    assert fig["recall_at_fpr"] is not None and 0 <= fig["roc_auc"] <= 1

    table = capsys.readouterr().out
    assert "ROC-AUC" in table and "false incidents" in table and "1 of 2" in table and "alerted" in table
    assert MISSED in table  # printed literally, not swallowed as markup


def test_naive_rare_pair_reference_by_hand(tmp_path, capsys):
    """Every row here calls the same API, so the reference ranks by the identity's event count in the file,
    unlabelled rows included: alice 4 (1/4 each), mallory 2 scored (1/2 each; the row without eventName has no
    score and ranks last), carol's rows unlabelled. Attack {1/2, none} against benign {1/4 x4, 1/2}: 1/2 beats
    four and ties one (4.5 of 10 pairs)."""
    path = _write(tmp_path / "hand.jsonl", _handcrafted_lines())
    code, report = _eval(tmp_path, str(path))
    fig = report["files"][0]
    assert code == 0
    assert fig["rare_pair_roc_auc"] == pytest.approx(0.45)
    # from the top: 1/2 (one attack, one benign) gives recall 1/2 at precision 1/2; the unscored attack comes
    # last, below every benign row: the other 1/2 of recall at precision 2/7
    assert fig["rare_pair_pr_auc"] == pytest.approx(0.25 + 0.5 * 2 / 7)
    assert "naive rare-pair ROC / PR" in capsys.readouterr().out


def test_handcrafted_file_nothing_flagged(tmp_path):
    path = _write(tmp_path / "hand.jsonl", _handcrafted_lines())
    code, report = _eval(tmp_path, str(path), "--threshold", "1.5")
    fig = report["files"][0]
    assert code == 0
    assert (fig["flagged"], fig["recall"], fig["precision"], fig["incidents"]) == (0, 0.0, None, 0)
    assert fig["techniques_hit"] == 0


@pytest.mark.parametrize("window", [[], ["--window", "30"]])
def test_figures_do_not_depend_on_row_order(tmp_path, window):
    lines = _handcrafted_lines()
    _write(tmp_path / "a.jsonl", lines)
    random.Random(4).shuffle(lines)
    _write(tmp_path / "b.jsonl", lines)
    _, first = _eval(tmp_path, str(tmp_path / "a.jsonl"), *window, name="a.json")
    _, second = _eval(tmp_path, str(tmp_path / "b.jsonl"), *window, name="b.json")
    a, b = first["files"][0], second["files"][0]
    a.pop("file"), b.pop("file")
    assert a == b


def test_scores_line_up_with_labels_as_ctad_detect_writes_them(tmp_path):
    """Simulator output (an S3 tree, one FILE): the scorecard's ROC-AUC is the one computed independently from
    `ctad detect` output, so labels and scores are paired row for row."""
    sim = tmp_path / "sim"
    assert main(["simulate", "--quiet", "--events", "1500", "--days", "2", "--seed", "5", "--format", "s3",
                 "--out", str(sim)]) == 0  # fmt: skip
    code, report = _eval(tmp_path, str(sim))
    assert code == 0
    fig = report["files"][0]

    detected = tmp_path / "detected.jsonl"
    assert main(["detect", "-q", "--workers", "1", str(sim), "-o", str(detected)]) == 0
    rows = [json.loads(line) for line in detected.read_text().splitlines()]
    labels = [int(r["_label"]) for r in rows]
    techniques = {r["_technique"] for r in rows if int(r["_label"]) == 1 and r["_technique"]}
    assert fig["rows"] == fig["events"] == len(rows)
    assert fig["attack_events"] == sum(labels) > 0
    assert fig["techniques_total"] == len(techniques)
    assert fig["flagged"] == sum(r["ct_anomaly"] for r in rows)
    assert fig["true_alerts"] == sum(r["ct_anomaly"] for r in rows if int(r["_label"]) == 1)
    assert fig["roc_auc"] == pytest.approx(roc_auc(labels, [r["ct_score"] for r in rows]))
    sklearn = pytest.importorskip("sklearn.metrics")
    scores = [r["ct_score"] for r in rows]
    assert fig["roc_auc"] == pytest.approx(sklearn.roc_auc_score(labels, scores))
    assert fig["pr_auc"] == pytest.approx(sklearn.average_precision_score(labels, scores))


def test_files_without_labels_are_a_clear_error(tmp_path, capsys):
    plain = _write(tmp_path / "plain.jsonl", [json.dumps(_event(i, "alice", i)) for i in range(3)])
    labelled = _write(tmp_path / "hand.jsonl", _handcrafted_lines())
    code, report = _eval(tmp_path, str(plain), str(labelled))
    assert code == 2
    assert "no labelled rows" in capsys.readouterr().err
    assert [Path(f["file"]).name for f in report["files"]] == ["hand.jsonl"]  # the other file still scored

    assert main(["eval", str(tmp_path / "absent.jsonl")]) == 2
    assert "no such file" in capsys.readouterr().err


def test_shared_real_account(shared_data, tmp_path, capsys):
    real = shared_data / "real" / "invictus_dev.jsonl.gz"
    if not real.exists():
        pytest.skip(f"{real} is absent")
    with gzip.open(real, "rt", encoding="utf-8") as fh:
        labels = [json.loads(line)["_label"] for line in fh if line.strip()]
    code, report = _eval(tmp_path, str(real))
    assert code == 0
    fig = report["files"][0]
    assert (fig["rows"], fig["events"], fig["attack_events"]) == (len(labels), len(labels), sum(labels))
    assert fig["techniques_total"] == 13
    assert fig["techniques_hit"] + len(fig["missed_techniques"]) == 13
    out = capsys.readouterr().out
    assert "invictus_dev.jsonl.gz" in out and "PR-AUC" in out and "of 13" in out


def test_baseline_mode(tmp_path, capsys):
    path = _write(tmp_path / "hand.jsonl", _handcrafted_lines())
    profile = tmp_path / "profile.json.gz"
    assert main(["baseline", "build", str(path), "--out", str(profile)]) == 0
    code, report = _eval(tmp_path, str(path), "--baseline", str(profile))
    assert code == 0
    assert report["mode"] == "baseline" and report["baseline"]["identities"] >= 2
    assert "baseline mode" in capsys.readouterr().out

    code, _ = _eval(tmp_path, str(path), "--baseline", str(tmp_path / "absent.json"), name="x.json")
    assert code == 2
    assert "cannot read baseline" in capsys.readouterr().err


def test_window_scores_each_window_as_its_own_run_by_hand(tmp_path, capsys):
    """--window 30 from the earliest event (minute 0): [0, 30) holds alice 0, 10 and mallory 5, 20; [30, 60) carol
    30, 31 and alice 50; [60, 90) alice 80. The naive reference counts pairs per window, as `stats count` over the
    same search would: alice 1/2, 1/2, 1, 1; mallory 1/2 (attack) and 1/2. The attack's 1/2 ties three benign rows
    and beats none, the unscored attack ranks last: 1.5 of 10 pairs."""
    path = _write(tmp_path / "hand.jsonl", _handcrafted_lines())
    code, report = _eval(tmp_path, str(path), "--window", "30")
    assert code == 0 and report["window_minutes"] == 30
    fig = report["files"][0]
    assert fig["rare_pair_roc_auc"] == pytest.approx(0.15)
    assert (fig["rows"], fig["events"], fig["attack_events"], fig["error_rows"]) == (10, 7, 2, 1)
    assert "each 30-minute window its own run" in capsys.readouterr().out

    for bad in ("4", "x", "-30"):
        with pytest.raises(SystemExit) as exc:
            main(["eval", "-q", "--window", bad, str(path)])
        assert exc.value.code == 2
    assert "--window" in capsys.readouterr().err


def test_window_figures_are_those_of_ctad_detect_run_on_each_window(tmp_path):
    """Simulator output cut by hand into 6-hour files, each run through `ctad detect` on its own: pooled, they give
    the figures of `ctad eval --window 360` on the whole file (so each window really starts from nothing)."""
    sim = tmp_path / "sim.jsonl"
    assert (
        main(["simulate", "--quiet", "--events", "1500", "--days", "2", "--seed", "5", "--out", str(sim)])
        == 0
    )
    records = [json.loads(line) for line in sim.read_text().splitlines()]
    times = [_epoch(r["eventTime"]) for r in records]
    parts = {}
    for rec, t in zip(records, times):
        parts.setdefault(int((t - min(times)) // (6 * 3600)), []).append(rec)
    assert len(parts) >= 6
    labels, scores, flagged = [], [], 0
    for key, recs in parts.items():
        src, out = tmp_path / f"w{key}.jsonl", tmp_path / f"d{key}.jsonl"
        _write(src, [json.dumps(r) for r in recs])
        assert main(["detect", "-q", "--workers", "1", str(src), "-o", str(out)]) == 0
        rows = [json.loads(line) for line in out.read_text().splitlines()]
        labels += [int(r["_label"]) for r in rows]
        scores += [r["ct_score"] for r in rows]
        flagged += sum(r["ct_anomaly"] for r in rows)
    code, report = _eval(tmp_path, str(sim), "--window", "360")
    fig = report["files"][0]
    assert code == 0 and fig["events"] == len(labels) == len(records)
    assert fig["flagged"] == flagged
    assert fig["roc_auc"] == pytest.approx(roc_auc(labels, scores))
    _, whole = _eval(tmp_path, str(sim), name="whole.json")
    assert whole["files"][0]["roc_auc"] != pytest.approx(fig["roc_auc"])  # windows do change the answer


def _epoch(text: str) -> float:
    return calendar.timegm(time.strptime(text, "%Y-%m-%dT%H:%M:%SZ"))
