"""``python -m bench run``: every argument is validated before anything runs (``run_sweep`` is
replaced by one that fails the test if reached), and a bad one is a one-line error."""

import os
import subprocess
import sys
from pathlib import Path

import pytest
from helpers import exit_status, one_line

from bench.cli import main

REPO = Path(__file__).resolve().parent.parent
PYTHON = sys.executable


@pytest.mark.parametrize("args,needle", [
    (["--lrs", "0"], "--lrs"), (["--lrs", "1e-3,-1"], "--lrs"), (["--lrs", "abc"], "--lrs"),
    (["--lrs", "nan"], "--lrs"), (["--lrs", "inf"], "--lrs"),
    (["--seeds", "0"], "--seeds"), (["--strategies", "nope"], "nope"),
    (["--data", "nope"], "nope"), (["--steps", "0"], "steps"),
    (["--set", "dropuot=0.1"], "dropuot"),
    (["--set", "dropout=1.5"], "dropout"), (["--set", "hidden=a,b"], "hidden"),
    (["--max-runs", "0"], "--max-runs"), (["--profile", "huge"], "huge"),
    (["--lr", "1e-3"], "--lr"), (["--seed", "1"], "--seed"),  # abbreviations of --lrs, --seeds
])
def test_run_rejects_bad_arguments_with_one_line(no_sweep, tmp_path, capsys, args, needle):
    out = tmp_path / "out"
    assert exit_status(main, ["run", "--out", str(out), "--no-progress", *args]) == 2
    assert needle in one_line(capsys.readouterr().err)
    assert not out.exists()


@pytest.mark.parametrize("args", [["--strategies", ","], ["--strategies", ""],
                                  ["--data", ","]])
def test_run_rejects_empty_selection(no_sweep, tmp_path, capsys, args):
    assert main(["run", "--out", str(tmp_path / "o"), *args]) == 2
    assert args[0] in one_line(capsys.readouterr().err)


def test_python_m_bench_run_validation_subprocess(tmp_path):
    """One real process (the other bad arguments are covered in-process above)."""
    r = subprocess.run([PYTHON, "-m", "bench", "run", "--out", str(tmp_path / "o"), "--lrs", "0"],
                       cwd=REPO, capture_output=True, text=True, timeout=120,
                       env={**os.environ, "JAX_PLATFORMS": "cpu"})
    assert r.returncode == 2
    assert one_line(r.stderr).startswith("error: --lrs")
    assert not (tmp_path / "o").exists()


def test_plan_counts_runs_chunks_and_run_timesteps_and_writes_nothing(tmp_path, capsys):
    """2 strategies × 2 LRs × 2 seeds = 8 runs; glorot and chrono share an architecture, so with
    --max-runs 4 each grid fills one chunk (and 8 would hold both); 8 runs × 10 steps × batch 2
    × window 8 = 1 280 run-timesteps."""
    out = tmp_path / "never"
    common = ["run", "--strategies", "glorot,chrono", "--lrs", "0.01,0.1", "--seeds", "2",
              "--data", "ar1", "--arms", "none", "--no-controls", "--no-extend",
              "--set", "steps=10", "--set", "batch_size=2", "--set", "window=8",
              "--out", str(out), "--plan"]
    assert main([*common, "--max-runs", "4"]) == 0
    line = capsys.readouterr().out.strip()
    assert line.startswith("plan: 8 runs to train (0 already done) in 2 chunks of at most 4 runs;")
    assert "1.28e+03 training run-timesteps" in line
    assert main([*common, "--max-runs", "8"]) == 0
    assert "in 1 chunk of at most 8 runs" in capsys.readouterr().out
    assert main([*common, "--max-runs", "8", "--no-share"]) == 0
    assert "in 2 chunks of at most 8 runs" in capsys.readouterr().out
    assert not out.exists()
