"""``python -m bench perf`` (bench.studies.perf): the peers' equations, the metric,
skip-not-fail for peers, and the engine worker with an explicit runs axis."""

from __future__ import annotations

import argparse
import importlib.util
import json
import sys

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from helpers import lasagne_params, run_layer

from bench.lstm import lstm_layer
from bench.studies import perf

# ----------------------------------------------------------------- the torch peephole cell


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
    params = lasagne_params(rng, 5, 6, scale=0.6, bias_scale=0.3, peephole_scale=0.8)
    x = rng.normal(0, 1, (3, time_steps, 5))
    layer = PeepholeLSTM.from_lasagne(params)
    assert layer.w_hid.dtype == torch.float64
    with torch.no_grad():
        got = layer(torch.from_numpy(x)).numpy()
    want, _ = run_layer(params, x, order="graves")  # the NumPy float64 reference
    np.testing.assert_allclose(got, want, rtol=1e-12, atol=1e-14)
    np.testing.assert_allclose(got, _engine(params, x, "graves"), rtol=1e-12, atol=1e-14)
    # the comparison can fail: Lasagne 0.1's peephole order gives other numbers
    assert np.max(np.abs(got - run_layer(params, x, order="lasagne-0.1")[0])) > 1e-3


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


@pytest.mark.parametrize("runs,batch,window,steps,seconds,expected", [
    (8, 16, 128, 20, 2.0, 163_840.0),  # 8 runs × 16 × 128 × 20 = 327 680 timesteps in 2 s
    (1, 16, 128, 20, 0.5, 81_920.0),  # 40 960 timesteps in half a second
    (3, 5, 7, 11, 0.25, 4_620.0),  # 1 155 timesteps in a quarter second
])
def test_run_timesteps_per_s_on_hand_computed_cases(runs, batch, window, steps, seconds,
                                                    expected):
    assert perf.run_timesteps_per_s(runs, batch, window, steps, seconds) == pytest.approx(
        expected, rel=1e-12)


def test_rows_and_ratio_on_fake_timings():
    rows = perf.finish_rows([
        _record("engine-sweep", 8, [3.0, 1.0, 2.0]),  # median 2 s
        _record("torch-fused", 1, [0.5, 0.4, 10.0]),  # median 0.5 s
        {"status": "skipped", "contender": "lasagne", "reason": "no venv"},
    ])
    ours, fused, lasagne = rows
    assert ours["median_s"] == 2.0 and fused["median_s"] == 0.5
    assert ours["rts"] == pytest.approx(163_840.0)  # the median time, not the mean (2 s)
    assert fused["rts"] == pytest.approx(81_920.0)
    assert ours["ratio"] == pytest.approx(1.0)
    assert fused["ratio"] == pytest.approx(2.0)  # 8 runs in 2 s vs 1 run in 0.5 s
    assert lasagne["ratio"] is None and "rts" not in lasagne
    assert perf.ratio_vs_ours(None, 5.0) is None

    table = perf.markdown_table(rows)
    lines = table.splitlines()
    assert lines[0].startswith("| contender | device | runs | run-timesteps/s | ratio vs ours")
    assert len(lines) == 2 + 3
    assert lines[2].startswith("| engine-sweep | cpu | 8 | 163,840 | 1.00 |")
    assert lines[3].startswith("| torch-fused | cpu | 1 | 81,920 | 2.00 |")
    assert "skipped: no venv" in lines[4]


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


# ----------------------------------------------------------------- forward-only and chunk rows


def _forward(name: str, times: list[float], batch: int = 4, length: int = 10_000) -> dict:
    return {"status": "ok", "contender": name, "device": "cpu", "batch": batch,
            "length": length, "times_s": times, "compile_s": 1.0, "rss_mb": 200.0,
            "device_mb": None, "notes": ""}


@pytest.mark.parametrize("batch,length,seconds,expected", [
    (4, 10_000, 0.5, 80_000.0),  # 40 000 timesteps in half a second
    (2, 10_000, 0.04, 500_000.0),  # 20 000 timesteps in 40 ms
    (3, 7, 0.25, 84.0),  # 21 timesteps in a quarter second
])
def test_timesteps_per_s_on_hand_computed_cases(batch, length, seconds, expected):
    assert perf.timesteps_per_s(batch, length, seconds) == pytest.approx(expected, rel=1e-12)


def test_forward_and_chunk_rows_have_their_own_ratios():
    rows = perf.finish_rows([
        _record("engine-sweep", 8, [3.0, 1.0, 2.0]),  # 163 840 run-timesteps/s
        _record("engine-chunk", 8, [4.0]),  # the same work in 4 s: 81 920
        _forward("engine-forward", [0.3, 0.1, 0.2]),  # 40 000 timesteps in 0.2 s: 200 000
        _forward("torch-forward", [1.0, 0.8, 2.0]),  # in 1 s: 40 000
        {"status": "skipped", "contender": "lasagne-forward", "reason": "no venv"},
    ])
    sweep, chunk, ours, torch_fw, lasagne_fw = rows
    assert chunk["rts"] == pytest.approx(81_920.0) and chunk["ratio"] == pytest.approx(2.0)
    assert ours["tps"] == pytest.approx(200_000.0) and "rts" not in ours
    assert ours["ratio"] == pytest.approx(1.0)  # forward rows: ours = engine-forward
    assert torch_fw["tps"] == pytest.approx(40_000.0) and torch_fw["ratio"] == pytest.approx(5.0)
    assert lasagne_fw["ratio"] is None and "tps" not in lasagne_fw
    assert sweep["ratio"] == pytest.approx(1.0)

    training = perf.markdown_table(rows).splitlines()
    assert len(training) == 2 + 2  # the forward rows are not in the training table
    assert training[3].startswith("| engine-chunk | cpu | 8 | 81,920 | 2.00 |")
    forward = perf.forward_table(rows).splitlines()
    assert forward[0].startswith("| contender | device | batch × length | timesteps/s | ratio")
    assert len(forward) == 2 + 3
    assert forward[2].startswith("| engine-forward | cpu | 4 × 10000 | 200,000 | 1.00 |")
    assert forward[3].startswith("| torch-forward | cpu | 4 × 10000 | 40,000 | 5.00 |")
    assert forward[4].startswith("| lasagne-forward | – |") and "skipped: no venv" in forward[4]


def test_forward_ratio_without_the_engine_row_is_missing():
    (row,) = perf.finish_rows([_forward("torch-forward", [2.0], batch=2, length=500)])
    assert row["tps"] == pytest.approx(500.0) and row["ratio"] is None


def test_run_worker_checks_the_forward_fields():
    py = sys.executable
    good = ("import json; print(json.dumps({'times_s': [0.5], 'batch': 2, 'length': 9}))")
    rec = perf.run_worker([py, "-c", good], timeout_s=30, fields=perf.FORWARD_FIELDS)
    assert rec["status"] == "ok" and rec["length"] == 9
    no_length = "import json; print(json.dumps({'times_s': [0.5], 'batch': 2}))"
    rec = perf.run_worker([py, "-c", no_length], timeout_s=30, fields=perf.FORWARD_FIELDS)
    assert rec["status"] == "skipped" and "malformed record" in rec["reason"]
    # a forward record is not a training record: it has no runs, window or steps
    rec = perf.run_worker([py, "-c", good], timeout_s=30)
    assert rec["status"] == "skipped" and "malformed record" in rec["reason"]


def test_forward_peers_missing_are_skip_rows(tmp_path, monkeypatch):
    spec = perf.PerfSpec(lasagne_python=str(tmp_path / "nope"))
    assert "not found (make reference)" in perf.worker_command(
        "lasagne-forward", spec, tmp_path / "pool.npy", tmp_path / "inputs.npy")
    monkeypatch.setattr(perf.importlib.util, "find_spec", lambda name: None)
    reason = perf.worker_command("torch-forward", spec, tmp_path / "pool.npy",
                                 tmp_path / "inputs.npy")
    assert reason == "torch not installed (pip install -e '.[peers]')"


def test_new_contenders_commands(tmp_path):
    spec = perf.PerfSpec(n_lrs=3, forward_batch=5)
    assert spec.length() == spec.config().init_length == 10_000  # the pass at init's length
    assert spec.chunk_steps_or_profile() == 1000  # the standard profile's steps
    chunk = perf.worker_command("engine-chunk", spec, tmp_path / "pool.npy")
    assert chunk[1:4] == ["-m", "bench.studies.perf", "_chunk-worker"]
    assert chunk[chunk.index("--runs") + 1] == "3" and chunk[chunk.index("--steps") + 1] == "1000"
    inputs = tmp_path / "inputs.npy"
    fw = perf.worker_command("engine-forward", spec, tmp_path / "pool.npy", inputs)
    assert fw[1:4] == ["-m", "bench.studies.perf", "_forward-worker"]
    assert fw[fw.index("--inputs") + 1] == str(inputs)
    torch_fw = perf.worker_command("torch-forward", perf.PerfSpec(python="/x/python"),
                                   tmp_path / "pool.npy", inputs)
    assert torch_fw[torch_fw.index("--task") + 1] == "forward"
    assert torch_fw[torch_fw.index("--mode") + 1] == "fused"
    small = perf.PerfSpec(forward_length=50, chunk_steps=7)
    assert small.length() == 50 and small.chunk_steps_or_profile() == 7


@pytest.mark.parametrize("flags", [["--forward-length", "1"], ["--forward-batch", "0"],
                                   ["--chunk-steps", "0"], ["--chunk-repeats", "0"]])
def test_bad_forward_and_chunk_options_are_user_errors(tmp_path, capsys, flags):
    assert perf.main([*flags, "--out", str(tmp_path / "p.md")]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith(f"error: {flags[0]} must be") and "\n" not in err


def test_phase_shares_by_hand():
    # 10 s of chunk: train 6 s, validation 2 s, test 1 s, 1 s outside the phases
    shares = perf.phase_shares({"compile": 0.0, "train": 6.0, "validation": 2.0, "test": 1.0},
                               10.0)
    assert shares == "train 60 %, validation 20 %, test 10 %, other 10 %"
    assert perf.phase_shares({}, 0.0) == "no phase timings"


def test_chunk_worker_record_from_fake_chunks(monkeypatch, capsys):
    """The chunk worker's plumbing on fake chunks: the first one compiles (the warm-up), the
    timed ones give times_s (their chunk_wall_s) and the notes' phase shares."""
    import types

    import bench.sweep

    walls = iter([(30.0, {"compile": 25.0, "train": 4.0, "test": 1.0}),
                  (8.0, {"compile": 0.0, "train": 6.0, "validation": 1.0, "test": 1.0}),
                  (4.0, {"compile": 0.0, "train": 3.0, "validation": 0.5, "test": 0.5}),
                  (5.0, {"compile": 0.0, "train": 4.0, "validation": 0.5, "test": 0.5})])
    jobs = []

    def fake_execute(job):
        jobs.append(job)
        wall, phases = next(walls)
        return [types.SimpleNamespace(chunk_wall_s=wall, chunk_phase_s=phases)]

    monkeypatch.setattr(bench.sweep, "execute", fake_execute)
    monkeypatch.setattr(bench.sweep, "data_bundle", lambda cfg: None)
    monkeypatch.setattr(perf, "_cold_jax", lambda: None)
    assert perf.main(["_chunk-worker", "--runs", "2", "--runs-axis", "map", "--hidden", "4",
                      "--batch", "2", "--window", "8", "--steps", "5", "--repeats", "3"]) == 0
    rec = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert len(jobs) == 4 and len(jobs[0].configs) == 2 and jobs[0].runs_axis == "map"
    assert [c.lr for c in jobs[0].configs] == perf.sweep_lrs(2)
    assert {c.steps for c in jobs[0].configs} == {5}
    assert rec["times_s"] == [8.0, 4.0, 5.0] and rec["warmup_s"] == 30.0
    assert rec["compile_s"] == 25.0
    assert (rec["runs"], rec["batch"], rec["window"], rec["steps"]) == (2, 2, 8, 5)
    # the median chunk (5 s) is the one whose phases the notes give
    assert "train 80 %, validation 10 %, test 10 %" in rec["notes"]
    (row,) = perf.finish_rows([{**rec, "status": "ok"}])
    assert row["rts"] == pytest.approx(2 * 2 * 8 * 5 / 5.0)  # 160 run-timesteps in 5 s


def test_forward_rows_end_to_end_with_a_missing_lasagne(tmp_path, capsys):
    """engine-forward (and torch-forward where torch is installed) on tiny sizes, in their
    own processes, and a missing Lasagne venv as a skip row of the forward table."""
    out = tmp_path / "perf.md"
    status = perf.main(["--only", "engine-forward,torch-forward,lasagne-forward",
                        "--hidden", "4", "--forward-batch", "2", "--forward-length", "20",
                        "--repeats", "1", "--timeout", "300",
                        "--lasagne-python", str(tmp_path / "nope"), "--out", str(out)])
    text = out.read_text()
    assert status == 0, text
    assert "## Forward only (inference)" in text and "2 sequences × 20 steps" in text
    assert "| contender | device | runs |" not in text  # no training row, no training table
    ours = next(ln for ln in text.splitlines() if ln.startswith("| engine-forward |"))
    assert "| 2 × 20 |" in ours and "| 1.00 |" in ours and "bench.train.eval_mse" in ours
    torch_row = next(ln for ln in text.splitlines() if ln.startswith("| torch-forward |"))
    if importlib.util.find_spec("torch") is None:  # this environment has one behaviour
        assert "torch not installed" in torch_row
    else:
        assert "skipped" not in torch_row and "| 2 × 20 |" in torch_row
    assert "| lasagne-forward | – |" in text and "not found (make reference)" in text
    assert "- forward-only rows: 2 sequences × 20 steps" in text
    printed = capsys.readouterr().out.rstrip().splitlines()
    assert printed[-1].startswith("| lasagne-forward |")  # the forward table is printed last


@pytest.mark.parametrize("peer", ["torch", "lasagne"])
def test_forward_peers_print_one_json_record(tmp_path, peer):
    """``--task forward`` of each peer on zero inputs: zero biases and a zero state give h = 0
    at every step (tanh(0) = 0), so the per-channel one-step MSE is exactly 0 for Lasagne (its
    Gate biases are 0); PyTorch's init draws biases, so its MSE is only finite."""
    if peer == "torch":
        pytest.importorskip("torch")
        cmd = [sys.executable, str(perf.PEERS / "torch_peer.py"), "--mode", "fused",
               "--device", "cpu"]
    else:
        if not perf.LASAGNE_PYTHON.is_file():
            pytest.skip("no .venv-lasagne (make reference)")
        cmd = [str(perf.LASAGNE_PYTHON), str(perf.PEERS / "lasagne_peer.py")]
    inputs = tmp_path / "inputs.npy"
    np.save(inputs, np.zeros((2, 6, 3), np.float32))
    cmd += ["--task", "forward", "--inputs", str(inputs), "--hidden", "4", "--repeats", "2"]
    rec = perf.run_worker(cmd, timeout_s=300, fields=perf.FORWARD_FIELDS)
    assert rec["status"] == "ok", rec
    assert rec["contender"] == f"{peer}-forward" and (rec["batch"], rec["length"]) == (2, 6)
    assert len(rec["times_s"]) == 2 and np.isfinite(rec["mse"])
    if peer == "lasagne":
        assert rec["mse"] == 0.0 and rec["versions"]["lasagne"] == "0.1"
    # a forward peer without its inputs is a usage error, not a record
    no_inputs = [c for c in cmd if c not in ("--inputs", str(inputs))]
    assert perf.run_worker(no_inputs, timeout_s=300)["status"] == "skipped"
