"""The Theano + Lasagne throughput peer (bench/studies/peers/lasagne_peer.py) as ``make perf``
runs it: :func:`bench.studies.perf.run_perf` builds its command, runs it in ``.venv-lasagne``
and turns its JSON record into the table's row. Tiny sizes (7 → 4 → 7, batch 2, window 8).

The training pool is all zeros here, which makes the peer's loss exact: with zero input, zero
biases (Lasagne's Gate default) and zero initial state, every gate's cell input is tanh(0) = 0,
so c = 0 and h = o·tanh(0) = 0 at every step of every layer, with or without dropout (zeros stay
zeros). Prediction 0 against target 0 is a loss of exactly 0; the gradients are exactly 0, so
the clipped Adam steps change nothing and the loss after training is still exactly 0.

The peer exposes timings and its last loss, not its hidden sequence; the Lasagne layer's
outputs are compared with the engine's in tests/reference/test_lasagne_oracle.py.
"""

from __future__ import annotations

import statistics

import numpy as np
import pytest

from bench.studies import perf

pytestmark = pytest.mark.skipif(
    not perf.LASAGNE_PYTHON.is_file(),
    reason=f"{perf.LASAGNE_PYTHON.relative_to(perf.REPO)} not found "
           "(`make reference` builds the Theano 1.0.5 + Lasagne 0.1 venv)")


def test_lasagne_peer_through_run_perf(tmp_path, monkeypatch):
    import bench.data

    drawn = []

    def zeros(name, n_seq, length, channels=7, seed=0, scale=1.0):
        drawn.append((name, n_seq, length, channels))
        return np.zeros((n_seq, length, channels), np.float32)

    monkeypatch.setattr(bench.data, "generate", zeros)
    spec = perf.PerfSpec(profile="standard", hidden=(4,), batch=2, window=8, lasagne_steps=2,
                         repeats=2, only=("lasagne",), timeout_s=300.0)
    out = tmp_path / "perf.md"
    rows = perf.run_perf(spec, out, log=lambda m: None)
    cfg = spec.config()
    assert drawn == [(cfg.dataset, cfg.train_sequences, 4 * 8 + 1, 7)]

    (row,) = rows
    assert row["status"] == "ok", row.get("reason")
    assert row["contender"] == "lasagne" and row["device"] == "cpu" and row["runs"] == 1
    # the sizes make perf asked for came back in the record
    assert (row["batch"], row["window"], row["steps"]) == (2, 8, 2)
    assert len(row["times_s"]) == 2 and min(row["times_s"]) > 0
    assert row["versions"]["theano"] == "1.0.5" and row["versions"]["lasagne"] == "0.1"
    assert row["final_loss"] == 0.0  # exact, see the module docstring
    assert row["compile_s"] > 0 and row["rss_mb"] > 0
    # throughput: runs × batch × window × steps / median call seconds
    median = statistics.median(row["times_s"])
    assert row["median_s"] == median
    assert row["rts"] == pytest.approx(1 * 2 * 8 * 2 / median, rel=1e-12)
    assert row["rts"] > 0
    assert row["ratio"] is None  # no engine-sweep row to compare with

    text = out.read_text()
    line = next(ln for ln in text.splitlines() if ln.startswith("| lasagne |"))
    cells = [c.strip() for c in line.strip("|").split("|")]
    assert cells[:5] == ["lasagne", "cpu", "1", f"{row['rts']:,.0f}", "–"]
    assert "floatX=float32" in cells[-1] and "2 steps per call" in cells[-1]
    assert "sizes 7→4→7, batch 2, window 8" in text
