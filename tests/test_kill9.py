"""kill -9 in the middle of a sweep, then the same command again: nothing lost, nothing doubled,
and the final table equals an uninterrupted run's."""

import os
import random
import signal
import subprocess
import sys
import time

import pandas as pd

from bench.sweep import SweepSpec, run_sweep

SMALL = dict(hidden=(8, 6), window=16, batch_size=4, steps=800, train_sequences=16,
             val_sequences=2, val_length=32, test_sequences=4,
             test_length=64, init_length=200, init_sequences=1,
             curve_points=3)
STRATEGIES, LRS, SEEDS, MAX_RUNS = "glorot,chrono", (1e-3, 1e-2), 2, 2
NUMBERS = ["strategy", "lr", "seed", "test_mse", "test_mse_init", "val_mse", "diverged",
           "diverged_step", "persistence_mse"]


def _command(out):
    sets = []
    for k, v in SMALL.items():
        sets += ["--set", f"{k}={','.join(map(str, v)) if isinstance(v, tuple) else v}"]
    return [sys.executable, "-m", "bench", "run", "--strategies", STRATEGIES,
            "--lrs", ",".join(map(str, LRS)), "--seeds", str(SEEDS), "--max-runs", str(MAX_RUNS),
            "--data", "ar1", "--arms", "none", "--no-extend", "--no-controls",
            *sets, "--out", str(out), "--no-progress", "--no-report"]


def test_kill9_then_rerun_equals_uninterrupted(tmp_path):
    out = tmp_path / "killed"
    proc = subprocess.Popen(_command(out), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                            start_new_session=True)
    deadline = time.time() + 300
    while time.time() < deadline and not list((out / "runs").glob("*.json")):
        time.sleep(0.05)
    time.sleep(random.uniform(0.0, 0.5))  # somewhere in the middle of the sweep (chunks ≈ 1 s)
    os.killpg(proc.pid, signal.SIGKILL)
    proc.wait()
    n_before = len(list((out / "runs").glob("*.json")))
    assert 0 < n_before < 8, "the kill should land mid-sweep"
    for f in (out / "runs").glob("*.json"):  # every visible record is whole
        pd.read_json(f, typ="series")
    rerun = subprocess.run(_command(out), capture_output=True, text=True, timeout=600)
    assert rerun.returncode == 0, rerun.stderr
    assert not list((out / "runs").glob(".*.tmp")), "temporary files left behind"
    killed = pd.read_parquet(out / "runs.parquet")
    assert len(killed) == 8 and killed["key"].is_unique
    spec = SweepSpec(strategies=STRATEGIES, lrs=LRS, seeds=SEEDS, overrides=SMALL,
                     max_runs=MAX_RUNS, extend=False, controls=False)
    run_sweep(spec, tmp_path / "clean", progress=False, log=lambda m: None)
    clean = pd.read_parquet(tmp_path / "clean" / "runs.parquet")
    pd.testing.assert_frame_equal(killed.set_index("key").sort_index()[NUMBERS],
                                  clean.set_index("key").sort_index()[NUMBERS])
