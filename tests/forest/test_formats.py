"""Model files: base_score spellings, clear errors for garbled / unsupported models, format detection."""

from __future__ import annotations

import json
import math
import re

import pytest
from ctad.forest import runtime as mr
from ctad.forest.parse import f32_less_as_le64, to_f32


def _xgb_doc(models):
    return json.loads(models[0]["xgb_base"].path.read_text())


def _write(tmp_path, name, text):
    path = tmp_path / name
    if isinstance(text, bytes):
        path.write_bytes(text)
    else:
        path.write_text(text)
    return path


@pytest.mark.parametrize("spelling", ["[3E-1]", "3E-1", "0.3", "[0.30000001]"])
def test_xgboost_base_score_spellings(models, tmp_path, spelling):
    """XGBoost >= 2.1 writes "[3E-1]"; older versions "3E-1"; all mean probability 0.3 -> logit margin."""
    trained = models[0]["xgb_base"]
    doc = _xgb_doc(models)
    doc["learner"]["learner_model_param"]["base_score"] = spelling
    model = mr.load_model(_write(tmp_path, "m.json", json.dumps(doc)))
    rows = models[1][:2000]
    got = model.predict(rows, engine="numpy")
    assert max(abs(a - b) for a, b in zip(got, trained.prob[:2000])) <= 1e-6
    assert model._forest.base == pytest.approx(math.log(0.3 / 0.7), abs=1e-6)


def _garble(models):
    """(file name, content, expected message fragment) for broken or unsupported models."""
    xgb_text = models[0]["xgb"].path.read_text()
    lgb_text = models[0]["lgb"].path.read_text()
    cases = [
        ("empty.json", "", "unrecognised model format"),
        ("binary.bin", bytes(range(256)) * 4, "not a text model"),
        ("truncated.json", xgb_text[: len(xgb_text) // 2], "does not parse"),
        ("other.json", json.dumps({"hello": "world"}), "no 'learner'"),
        ("truncated.txt", lgb_text[: len(lgb_text) // 2], "truncated"),
        ("csv.txt", "a,b,c\n1,2,3\n", "unrecognised model format"),
    ]
    d = json.loads(xgb_text)
    d["learner"]["objective"]["name"] = "multi:softprob"
    cases.append(("multi.json", json.dumps(d), "objective 'multi:softprob' is not supported"))
    d = json.loads(xgb_text)
    d["learner"]["gradient_booster"]["model"]["trees"][3]["left_children"][0] = 0
    cases.append(("cycle.json", json.dumps(d), "XGBoost tree 3: node 0 is out of range or reached twice"))
    d = json.loads(xgb_text)
    d["learner"]["gradient_booster"]["model"]["trees"][0]["split_indices"][0] = 999
    cases.append(("feat.json", json.dumps(d), "splits on feature 999, model has 32"))
    d = json.loads(xgb_text)
    d["learner"]["gradient_booster"]["model"]["trees"][1]["split_conditions"][2] = "abc"
    cases.append(("num.json", json.dumps(d), "'abc' is not a number"))
    d = json.loads(xgb_text)
    del d["learner"]["gradient_booster"]["model"]["trees"][2]["default_left"]
    cases.append(("missing.json", json.dumps(d), "'default_left' missing"))
    d = json.loads(xgb_text)
    d["learner"]["gradient_booster"]["model"]["trees"][0]["split_type"][0] = 1
    cases.append(("cat.json", json.dumps(d), "categorical splits in XGBoost models are not supported"))
    d = json.loads(xgb_text)
    d["learner"]["gradient_booster"]["name"] = "gblinear"
    cases.append(("linear.json", json.dumps(d), "booster 'gblinear' is not supported"))
    d = json.loads(xgb_text)
    d["learner"]["learner_model_param"]["base_score"] = "[1.5E0]"
    cases.append(("base.json", json.dumps(d), "not a probability"))
    cases.append(("lgb_multi.txt", lgb_text.replace("num_class=1", "num_class=3", 1), "multi-class"))
    cases.append(
        ("lgb_obj.txt", lgb_text.replace("objective=binary", "objective=regression", 1), "objective")
    )
    lines = lgb_text.splitlines()
    i = next(k for k, line in enumerate(lines) if line.startswith("left_child="))
    lines[i] = "left_child=" + " ".join(["99"] * len(lines[i].split()))
    cases.append(("lgb_child.txt", "\n".join(lines), "LightGBM tree 0: node 99 is out of range"))
    lines = lgb_text.splitlines()
    i = next(k for k, line in enumerate(lines) if line.startswith("threshold="))
    lines[i] = lines[i].rsplit(" ", 1)[0]
    cases.append(("lgb_short.txt", "\n".join(lines), "'threshold' has"))
    cases.append(("lgb_linear.txt", lgb_text.replace("is_linear=0", "is_linear=1", 1), "linear trees"))
    cases.append(
        (
            "lgb_dt.txt",
            re.sub(r"decision_type=\d+", "decision_type=14", lgb_text, count=1),
            "unknown decision_type 14",
        )
    )
    return cases


def test_garbled_files_give_clear_errors(models, tmp_path):
    for name, content, fragment in _garble(models):
        path = _write(tmp_path, name, content)
        with pytest.raises(mr.ModelFormatError) as info:
            mr.load_model(path)
        message = str(info.value)
        assert fragment in message, f"{name}: {message}"
        assert message.startswith(str(path)), f"{name}: message does not name the file: {message}"


def test_ubjson_and_missing_file(models, tmp_path):
    booster = models[0]["xgb_dart"].booster
    ubj = tmp_path / "model.ubj"
    booster.save_model(str(ubj))
    with pytest.raises(mr.ModelFormatError, match="re-save"):
        mr.load_model(ubj)
    with pytest.raises(OSError):
        mr.load_model(tmp_path / "nope.json")


def test_format_detected_by_content_not_name(models, tmp_path):
    text = models[0]["lgb"].path.read_text()
    model = mr.load_model(_write(tmp_path, "model.json", text))
    assert model.format == "lightgbm"
    assert mr.load_model_text(text).predict([[0.0] * 32]) == model.predict([[0.0] * 32])


def test_float32_boundary_is_exact():
    """float32(x) < t  <=>  x <= f32_less_as_le64(t), checked around many thresholds and their ties."""
    np = pytest.importorskip("numpy")
    rng = np.random.default_rng(7)
    ts = list(rng.normal(size=300) * 10.0 ** rng.integers(-30, 30, 300)) + [0.0, -0.0, 1e-45, -1e-45, 3.4e38]
    for t in ts:
        t32 = to_f32(float(t))
        thr = f32_less_as_le64(t32)
        probes = [thr, math.nextafter(thr, math.inf), math.nextafter(thr, -math.inf), t32]
        probes += list(np.nextafter(np.float32(t32), np.float32([-np.inf, np.inf])).astype(float))
        for x in probes:
            assert (np.float32(x) < np.float32(t32)) == (x <= thr), (t32, x)


def test_model_cache(models, tmp_path, monkeypatch):
    """A later process reuses the parsed model and compiled code; corrupt entries are ignored and replaced."""
    path = models[0]["lgb_cat"].path
    rows = models[1][:300].tolist()
    cache = tmp_path / "cache"
    fresh = mr.load_model(path).predict(rows, engine="python")
    first = mr.load_model(path, cache_dir=str(cache))
    assert first.predict(rows, engine="python") == fresh
    (entry,) = cache.iterdir()

    def no_parsing(*args, **kwargs):
        raise AssertionError("parsed although cached")

    with monkeypatch.context() as patch:
        patch.setattr(mr, "parse_model_text", no_parsing)
        hit = mr.load_model(path, cache_dir=str(cache))
        assert hit.predict(rows, engine="python") == fresh
        assert hit.predict(rows, engine="numpy") == fresh
        assert hit.contributions(rows[7]) == first.contributions(rows[7])
        assert hit.feature_names == first.feature_names and hit.n_trees == first.n_trees
    entry.write_bytes(b"\x00garbage")
    assert mr.load_model(path, cache_dir=str(cache)).predict(rows, engine="python") == fresh
    assert entry.stat().st_size > 1000  # rewritten
    other = models[0]["lgb"].path
    got = mr.load_model(other, cache_dir=str(cache)).predict(rows, engine="python")
    assert got == mr.load_model(other).predict(rows, engine="python")
    assert len(list(cache.iterdir())) == 2
