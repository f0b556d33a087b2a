"""``python -m bench perf`` (bench.studies.perf): the peers' equations, the metric,
skip-not-fail for peers, and the engine worker with an explicit runs axis."""

from __future__ import annotations

import argparse
import json
import sys

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from bench.lstm import GATES, PEEPHOLE_GATES, lstm_layer
from bench.studies import perf

# ----------------------------------------------------------------- the torch peephole cell


def _lasagne_params(rng: np.random.Generator, n_in: int, n_hid: int) -> dict[str, np.ndarray]:
    p = {}
    for g in GATES:
        p[f"W_in_to_{g}"] = rng.normal(0, 0.6, (n_in, n_hid))
        p[f"W_hid_to_{g}"] = rng.normal(0, 0.6, (n_hid, n_hid))
        p[f"b_{g}"] = rng.normal(0, 0.3, n_hid)
    for g in PEEPHOLE_GATES:
        p[f"W_cell_to_{g}"] = rng.normal(0, 0.8, n_hid)
    return p


def _engine(params: dict[str, np.ndarray], x: np.ndarray, order: str) -> np.ndarray:
    with jax.enable_x64(True):
        h = lstm_layer({k: jnp.asarray(v) for k, v in params.items()}, jnp.asarray(x),
                       peephole_order=order)
        assert h.dtype == jnp.float64
        return np.asarray(h)


@pytest.mark.parametrize("time_steps", [1, 9])
def test_torch_peephole_cell_equals_engine_graves_float64(time_steps):
    torch = pytest.importorskip("torch")
    from bench.studies.peers.torch_peer import PeepholeLSTM

    rng = np.random.default_rng(3)
    params = _lasagne_params(rng, 5, 6)
    x = rng.normal(0, 1, (3, time_steps, 5))
    layer = PeepholeLSTM.from_lasagne(params)
    assert layer.w_hid.dtype == torch.float64
    with torch.no_grad():
        got = layer(torch.from_numpy(x)).numpy()
    want = _engine(params, x, "graves")
    np.testing.assert_allclose(got, want, rtol=1e-12, atol=1e-14)
    # the comparison can fail: Lasagne 0.1's peephole order gives other numbers
    assert np.max(np.abs(got - _engine(params, x, "lasagne-0.1"))) > 1e-3


def test_torch_stack_has_dropout_before_every_layer():
    torch = pytest.importorskip("torch")
    from bench.studies.peers.torch_peer import Stack

    for mode in ("custom", "fused"):
        stack = Stack((7, 5, 4, 7), mode, dropout=0.33)
        assert len(stack.layers) == 3
        x = torch.ones(2, 6, 7)
        stack.eval()
        with torch.no_grad():
            assert torch.equal(stack(x), stack(x))  # deterministic without training
        stack.train()
        with torch.no_grad():
            assert not torch.equal(stack(x), stack(x))  # dropout active when training


# ----------------------------------------------------------------- the metric and the table


def _record(name: str, runs: int, times: list[float], **extra) -> dict:
    return {"status": "ok", "contender": name, "device": "cpu", "runs": runs, "batch": 16,
            "window": 128, "steps": 20, "times_s": times, "compile_s": 5.0, "rss_mb": 300.0,
            "device_mb": None, "notes": "", **extra}


def test_run_timesteps_formula_and_ratio_on_fake_timings():
    assert perf.run_timesteps_per_s(8, 16, 128, 20, 2.0) == 8 * 16 * 128 * 20 / 2.0
    rows = perf.finish_rows([
        _record("engine-sweep", 8, [3.0, 1.0, 2.0]),  # median 2 s
        _record("torch-fused", 1, [0.5, 0.4, 10.0]),  # median 0.5 s
        {"status": "skipped", "contender": "lasagne", "reason": "no venv"},
    ])
    ours, fused, lasagne = rows
    assert ours["median_s"] == 2.0 and fused["median_s"] == 0.5
    assert ours["rts"] == pytest.approx(8 * 16 * 128 * 20 / 2.0)
    assert fused["rts"] == pytest.approx(16 * 128 * 20 / 0.5)
    assert ours["ratio"] == pytest.approx(1.0)
    assert fused["ratio"] == pytest.approx(2.0)  # 8 runs in 2 s vs 1 run in 0.5 s
    assert lasagne["ratio"] is None and "rts" not in lasagne
    assert perf.ratio_vs_ours(None, 5.0) is None

    table = perf.markdown_table(rows)
    lines = table.splitlines()
    assert lines[0].startswith("| contender | device | runs | run-timesteps/s | ratio vs ours")
    assert len(lines) == 2 + 3
    assert "| 2.00 |" in lines[3] and "skipped: no venv" in lines[4]


def test_sweep_lrs():
    assert perf.sweep_lrs(1) == [perf.SINGLE_LR]
    lrs = perf.sweep_lrs(8)
    assert len(lrs) == 8 and lrs[0] == pytest.approx(1e-4) and lrs[-1] == pytest.approx(3e-2)


# ----------------------------------------------------------------- peers are never fatal


def test_run_worker_failures_are_skips(tmp_path):
    py = sys.executable
    ok = perf.run_worker([py, "-c", "import json; print('noise'); print(json.dumps("
                          "{'times_s': [0.1], 'runs': 1, 'batch': 2, 'window': 3, 'steps': 4}))"],
                         timeout_s=30)
    assert ok["status"] == "ok" and ok["times_s"] == [0.1]
    cases = {
        "not found": [str(tmp_path / "no-such-python"), "x.py"],
        "exit 3: RuntimeError: boom": [py, "-c", "import sys; print('RuntimeError: boom', "
                                       "file=sys.stderr); sys.exit(3)"],
        "no JSON record": [py, "-c", "print('hello')"],
        "malformed record": [py, "-c", "print('{\"times_s\": []}')"],
        "timed out": [py, "-c", "import time; time.sleep(30)"],
    }
    for expect, cmd in cases.items():
        rec = perf.run_worker(cmd, timeout_s=2)
        assert rec["status"] == "skipped", (expect, rec)
        assert expect in rec["reason"], (expect, rec)


def test_missing_lasagne_is_reported_skipped_not_fatal(tmp_path, capsys):
    out = tmp_path / "sub" / "perf.md"
    status = perf.main(["--only", "lasagne", "--lasagne-python", str(tmp_path / "nope"),
                        "--out", str(out)])
    assert status == 0
    text = out.read_text()
    assert "| lasagne | – |" in text and "skipped:" in text and "not found" in text
    assert "## Settings" in text and "7→64→32→7" in text
    assert "--runs-axis auto" in text
    # the product reports measurements against peers, nothing about development goals
    assert "target" not in text.lower() and "issue" not in text.lower()
    printed = capsys.readouterr().out.rstrip().splitlines()
    assert printed[-1].startswith("| lasagne |")  # the table is printed last
    assert not list(out.parent.glob(".*.tmp"))  # atomic write left no temp file


def test_unknown_contender_is_a_one_line_user_error(tmp_path, capsys):
    status = perf.main(["--only", "torch-fuse", "--out", str(tmp_path / "p.md")])
    assert status == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("error: --only: unknown contender 'torch-fuse'")
    assert "did you mean 'torch-fused'" in err and "\n" not in err
    assert perf.main(["--steps", "0", "--out", str(tmp_path / "p.md")]) == 2


def test_add_parser_registers_perf_with_its_func(tmp_path):
    p = argparse.ArgumentParser(allow_abbrev=False)
    perf.add_parser(p.add_subparsers(dest="command", required=True))
    args = p.parse_args(["perf", "--runs-axis", "vmap", "--out", str(tmp_path / "p.md")])
    assert args.func is perf.cmd_perf and args.runs_axis == "vmap"
    assert p.parse_args(["perf"]).runs_axis == "auto"
    with pytest.raises(SystemExit):
        p.parse_args(["perf", "--runs-axis", "pmap"])
    spec = perf.spec_from_args(args)
    assert spec.runs_axis == "vmap"
    cmd = perf.worker_command("engine-sweep", spec, tmp_path / "pool.npy")
    assert cmd[1:4] == ["-m", "bench.studies.perf", "_engine-worker"]
    assert cmd[cmd.index("--runs-axis") + 1] == "vmap"


def test_engine_worker_takes_the_runs_axis_from_its_flag(tmp_path, monkeypatch, capsys):
    """A tiny engine-sweep with --runs-axis vmap (not the CPU default); BENCH_RUNS_AXIS, the
    old environment switch, is ignored."""
    monkeypatch.setenv("BENCH_RUNS_AXIS", "map")
    out = tmp_path / "perf.md"
    status = perf.main(["--only", "engine-sweep", "--lrs", "2", "--runs-axis", "vmap",
                        "--hidden", "4", "--batch", "2", "--window", "8", "--steps", "2",
                        "--repeats", "1", "--timeout", "300", "--out", str(out)])
    text = out.read_text()
    assert status == 0, text
    row = next(line for line in text.splitlines() if line.startswith("| engine-sweep |"))
    assert "2 LRs in one program (vmap over runs)" in row
    assert "--runs-axis vmap (vmap)" in text


@pytest.mark.parametrize("mode", ["custom", "fused"])
def test_torch_peer_prints_one_json_record(tmp_path, mode):
    pytest.importorskip("torch")
    pool = tmp_path / "pool.npy"
    np.save(pool, np.random.default_rng(0).normal(0, 0.25, (4, 13, 3)).astype(np.float32))
    cmd = [sys.executable, str(perf.PEERS / "torch_peer.py"), "--mode", mode, "--pool", str(pool),
           "--hidden", "4", "--batch", "2", "--window", "8", "--steps", "2", "--repeats", "2",
           "--device", "cpu"]
    rec = perf.run_worker(cmd, timeout_s=60)
    assert rec["status"] == "ok", rec
    assert rec["contender"] == f"torch-{mode}" and rec["runs"] == 1 and len(rec["times_s"]) == 2
    assert np.isfinite(rec["final_loss"]) and rec["rss_mb"] > 0
    json.dumps(rec)
