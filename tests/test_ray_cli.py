"""``python -m bench run --executor ray`` end to end: the command line starts its own local Ray
(loopback only, no ``--address``), sends the chunks to it as tasks, and writes the same table as
the local executor for the same command.

``--runs-axis map``: a run's numbers do not depend on how many JAX CPU devices its chunk is
split over (a Ray task has one, this process two; docs/performance.md), so the two tables must
be equal bit for bit. One chunk of four runs: one Ray task (each task's worker process starts
JAX and compiles cold, which is most of this test's time).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import helpers
import numpy as np
import pandas as pd
import pytest

from bench.cli import main

pytest.importorskip("ray", reason="ray is not installed (the [ray] extra: pip install -e '.[ray]')")

REPO = Path(__file__).resolve().parent.parent
SMALL = helpers.TINY
NUMBERS = ["strategy", "lr", "seed", "test_mse", "test_mse_init", "val_mse", "val_mse_init",
           "diverged", "diverged_step", "persistence_mse", "bayes_mse", "chunk_runs"]
CURVES = ["loss_curve", "val_curve", "init_max_h"]


def _args(out: Path, executor: str) -> list[str]:
    return ["run", "--strategies", "glorot", "--lrs", "0.01,0.1", "--seeds", "2",
            "--max-runs", "4",
            "--runs-axis", "map", "--data", "ar1",
            "--arms", "none", "--no-extend", "--no-controls",
            *helpers.set_args(SMALL), "--out", str(out), "--no-progress", "--no-report",
            "--executor", executor]


def test_cli_ray_executor_writes_the_local_executors_table(tmp_path, capsys):
    # no RAY_ADDRESS or other RAY_* from the caller's shell: the CLI must start its own local
    # Ray, never join a cluster
    env = {k: v for k, v in os.environ.items() if not k.startswith("RAY_")}
    env.pop("JAX_NUM_CPU_DEVICES", None)  # as a user's shell: the CLI sets its own
    ray_out = tmp_path / "ray"
    proc = subprocess.run([sys.executable, "-m", "bench", *_args(ray_out, "ray")], cwd=REPO,
                          env=env, capture_output=True, text=True, timeout=540)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert "4 runs trained, 0 already done, 0 strategies failed" in proc.stdout, proc.stdout
    assert "local workers" not in proc.stdout + proc.stderr  # the local executor did not run

    local_out = tmp_path / "local"
    assert main(_args(local_out, "local")) == 0
    assert "4 runs trained, 0 already done" in capsys.readouterr().out

    a = pd.read_parquet(ray_out / "runs.parquet").set_index("key").sort_index()
    b = pd.read_parquet(local_out / "runs.parquet").set_index("key").sort_index()
    assert len(a) == 4 and list(a.index) == list(b.index)
    pd.testing.assert_frame_equal(a[NUMBERS], b[NUMBERS])
    for col in CURVES:
        for x, y in zip(a[col], b[col], strict=True):
            np.testing.assert_array_equal(np.asarray(x, float), np.asarray(y, float))
    # the same sweep: same id, so one report could read both directories' records
    ids = [json.loads((d / "sweep.json").read_text())["sweep_id"] for d in (ray_out, local_out)]
    assert ids[0] == ids[1] and set(a["sweep_id"]) == {ids[0]}
    assert json.loads((ray_out / "failures.json").read_text()) == {}
