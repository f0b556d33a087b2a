"""The typed run record: strict JSON, schema checks, and the table row it becomes."""

import json
import math

import pytest

from bench.record import COLUMNS, RunRecord, dumps
from bench.store import Store


def record(**kw):
    base = dict(key="k1", sweep_id="s1", arm="clean", strategy="chrono", dataset="ar1",
                profile="quick", lr=1e-3, seed=0, config={"hidden": [8], "steps": 4, "lr": 1e-3,
                                         "settings": {"t_max": 64.0}},
                diverged=True, diverged_step=3, test_mse_init=0.5, test_mse=math.nan,
                val_mse_init=0.5, val_mse=math.nan, val_curve=[0.4, math.nan],
                val_steps=[25, 50],
                test_variance=0.06, variance=0.0625, bayes_mse=0.02, persistence_mse=0.03,
                loss_curve=[0.1, math.inf, math.nan], init_first_nonfinite=[-1, 12])
    return RunRecord(**{**base, **kw})


def test_non_finite_numbers_are_stored_as_null_and_read_back_as_nan(tmp_path):
    store = Store(tmp_path)
    store.write(record())
    text = (tmp_path / "runs" / "k1.json").read_text()
    assert "NaN" not in text and "Infinity" not in text
    raw = json.loads(text)
    assert raw["test_mse"] is None and raw["loss_curve"] == [0.1, None, None]
    back = Store(tmp_path).load("k1")  # a fresh store parses the file
    assert math.isnan(back.test_mse) and back.loss_curve[0] == 0.1
    assert all(math.isnan(v) for v in back.loss_curve[1:])
    assert back.init_first_nonfinite == [-1, 12] and back.diverged is True
    assert raw["val_curve"] == [0.4, None] and back.val_steps == [25, 50]


def test_dumps_refuses_nothing_a_run_can_produce():
    assert json.loads(dumps({"a": [math.nan, (1, -math.inf)], "b": float("1e308")})) == {
        "a": [None, [1, None]], "b": 1e308}


@pytest.mark.parametrize("field,value,needle", [
    ("test_mse", "0.1x", "test_mse"), ("seed", 1.5, "seed"), ("diverged", "no", "diverged"),
    ("loss_curve", "0.1", "loss_curve"), ("config", [], "config"),
])
def test_from_json_names_the_first_bad_field(field, value, needle):
    data = record().to_json()
    data[field] = value
    with pytest.raises(ValueError, match=needle):
        RunRecord.from_json(data)


def test_from_json_names_a_missing_field_and_tolerates_missing_optional_ones():
    data = record().to_json()
    del data["sweep_id"]
    with pytest.raises(ValueError, match="missing field 'sweep_id'"):
        RunRecord.from_json(data)
    data = record().to_json()
    del data["init_h_trace"], data["chunk_wall_s"]
    r = RunRecord.from_json(data)
    assert r.init_h_trace == [] and math.isnan(r.chunk_wall_s)


def test_a_record_that_does_not_fit_the_schema_is_quarantined(tmp_path):
    store = Store(tmp_path)
    store.write(record())
    path = tmp_path / "runs" / "k1.json"
    bad = json.loads(path.read_text())
    bad["seed"] = "zero"
    path.write_text(json.dumps(bad))
    fresh = Store(tmp_path)
    assert fresh.load("k1") is None and "seed" in fresh.corrupt[0]
    assert (tmp_path / "runs" / "k1.corrupt").exists()


def test_row_flattens_the_config_and_the_strategy_settings():
    row = record().row()
    assert row["cfg.hidden"] == [8] and row["cfg.steps"] == 4
    assert row["cfg.settings.t_max"] == 64.0
    assert "cfg.lr" not in row and "config" not in row  # lr is a column of its own
    assert set(COLUMNS) - {"config", "chunk_phase_s"} <= set(row)
    assert "chunk_phase_s" not in row  # flattened: chunk_phase_s.<phase> columns
    phased = record(chunk_phase_s={"train": 2.5, "compile": 1.0}).row()
    assert phased["chunk_phase_s.train"] == 2.5 and phased["chunk_phase_s.compile"] == 1.0
