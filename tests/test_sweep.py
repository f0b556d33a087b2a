"""Sweep: records, resume, corrupt records, determinism, bad input (small CPU settings)."""

import json
import shutil
import subprocess
import sys
from pathlib import Path

import helpers
import numpy as np
import pandas as pd
import pytest

from bench.cli import main
from bench.sweep import SweepSpec, run_sweep

SMALL = helpers.TINY
SPEC = SweepSpec(strategies="glorot,pytorch-default", lrs=(1e-3, 1e-2), seeds=2, controls=False,
                 extend=False,
                 overrides=SMALL, max_runs=2)
NUMBERS = ["test_mse", "test_mse_init", "val_mse", "diverged_step"]


def _quiet(msg: str) -> None:
    pass


@pytest.fixture(scope="module")
def done(tmp_path_factory):
    """One finished sweep, shared by this module's tests: read it, never write to it (a test
    that reruns or damages it works on :func:`own_copy`)."""
    out = tmp_path_factory.mktemp("sweep")
    summary = run_sweep(SPEC, out, progress=False, log=_quiet)
    return out, summary


def own_copy(done: tuple[Path, dict], tmp_path: Path) -> Path:
    """A private copy of the shared sweep's results directory."""
    out = tmp_path / "sweep"
    shutil.copytree(done[0], out)
    return out


def test_every_run_has_one_record_and_the_table_loads(done):
    out, summary = done
    assert summary["ran"] == 8 and summary["failures"] == {}
    df = pd.read_parquet(out / "runs.parquet")
    assert len(df) == 8 and df["key"].is_unique
    assert sorted(df["strategy"].unique()) == ["glorot", "pytorch-default"]
    assert set(df["lr"]) == {1e-3, 1e-2} and set(df["seed"]) == {0, 1}
    env = json.loads((out / "sweep.json").read_text())["environment"]
    assert env["device"].startswith("cpu") and env["jax"]
    rec = json.loads(next((out / "runs").glob("*.json")).read_text())
    assert rec["config"]["hidden"] == [6, 5] and len(rec["init_nonfinite_frac"]) == 3
    assert rec["sweep_id"] == SPEC.sweep_id
    assert not {"ratio_bayes", "ratio_persistence", "gap_closed"} & set(rec)  # raw values only


def test_rerun_skips_finished_runs(done, tmp_path):
    out = own_copy(done, tmp_path)
    again = run_sweep(SPEC, out, progress=False, log=_quiet)
    assert again["ran"] == 0 and again["skipped"] == 8


def test_corrupt_record_is_reported_and_recomputed_identically(done, tmp_path):
    out = own_copy(done, tmp_path)
    before = pd.read_parquet(out / "runs.parquet").set_index("key")
    victim = sorted((out / "runs").glob("*.json"))[0]
    shared = done[0] / "runs" / victim.name
    victim.write_text(victim.read_text()[:50])  # truncated mid-write by hand
    assert json.loads(shared.read_text())["key"]  # the shared sweep's record is untouched
    summary = run_sweep(SPEC, out, progress=False, log=_quiet)
    assert len(summary["corrupt"]) == 1 and victim.name in summary["corrupt"][0]
    assert summary["ran"] == 2  # the chunk holding it is recomputed whole
    after = pd.read_parquet(out / "runs.parquet").set_index("key")
    pd.testing.assert_frame_equal(before[NUMBERS].sort_index(), after[NUMBERS].sort_index())


def test_same_command_twice_gives_identical_numbers(done, tmp_path):
    out, _ = done
    run_sweep(SPEC, tmp_path / "again", progress=False, log=_quiet)
    a = pd.read_parquet(out / "runs.parquet").set_index("key").sort_index()
    b = pd.read_parquet(tmp_path / "again" / "runs.parquet").set_index("key").sort_index()
    pd.testing.assert_frame_equal(a[NUMBERS], b[NUMBERS])
    assert all(np.array_equal(x, y, equal_nan=True)
               for x, y in zip(a["loss_curve"], b["loss_curve"], strict=True))


@pytest.mark.parametrize("args, needle", [
    (["--lrs", "0"], "learning rate must be finite and > 0"),
    (["--lrs=-1e-3"], "learning rate must be finite and > 0"),
    (["--lrs", "abc"], "--lrs"),
    (["--seeds", "0"], "--seeds: seeds must be >= 1"),
    (["--strategies", "glorrot"], "unknown strategy 'glorrot' (did you mean 'glorot'?)"),
    (["--data", "ar3"], "unknown dataset 'ar3'"),
    (["--profile", "huge"], "unknown profile 'huge'"),
    (["--set", "determistic=1"], "unknown option 'determistic'"),
    (["--set", "steps=many"], "'many' is not a valid steps"),
    (["--stepz", "3"], "unrecognized arguments: --stepz"),
    (["--step", "3"], "unrecognized arguments: --step"),  # no abbreviations
])
def test_bad_values_are_one_line_errors(args, needle, tmp_path, capsys):
    assert main(["run", "--out", str(tmp_path / "r"), *args]) == 2
    err = capsys.readouterr().err.strip()
    assert needle in err and len(err.splitlines()) == 1 and err.startswith("error:")
    assert not (tmp_path / "r").exists()  # validated before anything is written


def test_out_that_is_a_file_is_refused_and_kept(tmp_path, capsys):
    f = tmp_path / "results.txt"
    f.write_text("keep me")
    assert main(["run", "--out", str(f)]) == 2
    assert "is not a directory" in capsys.readouterr().err
    assert f.read_text() == "keep me"


def test_cli_run_end_to_end_writes_report(tmp_path):
    sets = helpers.set_args({k: v for k, v in SMALL.items() if k != "steps"})
    cmd = [sys.executable, "-m", "bench", "run", "--strategies", "glorot", "--lrs", "1e-3",
           "--seeds", "1", "--steps", "2", "--data", "ar1", "--arms", "none", "--no-extend",
           "--no-controls",  # one architecture, one program (controls: tests/test_protocol.py)
           *sets, "--out", str(tmp_path / "r"), "--no-progress"]
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stderr
    assert "JAX device: cpu" in proc.stdout
    runs = pd.read_parquet(tmp_path / "r" / "runs.parquet")
    assert runs[["strategy", "lr", "seed"]].values.tolist() == [["glorot", 1e-3, 0]]
    assert runs["cfg.steps"].tolist() == [2]  # --steps and --set reached the run
    report = (tmp_path / "r" / "report.md").read_text()
    # the records carry the sweep's id, and the report shows them as that sweep's
    sweep_id = json.loads((tmp_path / "r" / "sweep.json").read_text())["sweep_id"]
    assert runs["sweep_id"].tolist() == [sweep_id]
    assert "of other sweeps" not in report and "predate sweep ids" not in report
    assert "glorot" in report and "data:image/png;base64" in (
        tmp_path / "r" / "report.html").read_text()



def test_several_datasets_each_get_their_own_data_and_floors(tmp_path):
    spec = SweepSpec(strategies="glorot", datasets=("ar1", "pink", "ar1_noisy"), lrs=(1e-2,),
                     extend=False, controls=False, seeds=1, overrides=SMALL)
    run_sweep(spec, tmp_path / "multi", progress=False, log=_quiet)
    df = pd.read_parquet(tmp_path / "multi" / "runs.parquet").set_index("dataset")
    from bench.data import floors

    for name in spec.datasets:
        expected = floors(name, 7, 0.25).as_dict()
        assert df.loc[name, "bayes_mse"] == pytest.approx(expected["bayes"])
        assert df.loc[name, "persistence_mse"] == pytest.approx(expected["persistence"])
    assert df["test_mse_init"].nunique() == 3  # different test data per dataset


def test_editing_a_strategy_file_invalidates_its_records(done, tmp_path):
    """Run keys include the strategy module's source hash: an edited file is rerun."""
    import importlib.util

    from bench.registry import Strategy, get_strategy
    from bench.store import Store
    from bench.sweep import plan

    out = own_copy(done, tmp_path)  # planning may write (claims, locks): not to the shared one
    glorot = get_strategy("glorot")
    assert plan(SPEC, [glorot], Store(out)) == ([], 4)  # all 4 glorot runs already stored
    edited = tmp_path / "glorot.py"
    edited.write_text(open(glorot.module.__file__).read() + "\n# tuned\n")
    spec = importlib.util.spec_from_file_location("edited_glorot", edited)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    changed = Strategy("glorot", module)
    assert changed.code_hash != glorot.code_hash
    jobs, done_runs = plan(SPEC, [changed], Store(out))
    assert done_runs == 0 and sum(len(j.configs) for j in jobs) == 4


def test_store_table_does_not_reread_records_it_wrote_or_read(done, tmp_path, monkeypatch):
    """A sweep rewrites runs.parquet after every chunk; the store parses each record file once
    per process, so the table of records it already holds reads no record file again."""
    from bench.store import Store

    src = Store(done[0])
    records = src.records()
    store = Store(tmp_path / "copy")
    for r in records:
        store.write(r)
    expected = Store(tmp_path / "copy").table()  # a fresh store reads the files

    def no_reads(self, *a, **k):
        raise AssertionError(f"record file read again: {self}")

    monkeypatch.setattr(Path, "read_text", no_reads)
    pd.testing.assert_frame_equal(store.table(), expected)
    assert len(store.table()) == 8
