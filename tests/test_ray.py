"""The Ray executor gives the same records as the local one (local Ray, 2 CPUs)."""

import pandas as pd
import pytest

from bench.sweep import SweepSpec, run_sweep

ray = pytest.importorskip("ray", reason="the [ray] extra is not installed")

SMALL = dict(hidden=(8, 6), window=16, batch_size=4, steps=3, train_sequences=16,
             val_sequences=2, val_length=32, test_sequences=4,
             test_length=64, init_length=200, init_sequences=1,
             curve_points=3)
SPEC = SweepSpec(strategies="glorot,forget-bias-one", lrs=(1e-3, 1e-2), seeds=2,
                 overrides=SMALL, max_runs=2, extend=False, controls=False)
NUMBERS = ["strategy", "lr", "seed", "test_mse", "test_mse_init", "val_mse", "diverged",
           "diverged_step", "persistence_mse"]


def test_ray_executor_matches_local(tmp_path):
    from bench.ray_executor import ray_executor

    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False)
    try:
        remote = run_sweep(SPEC, tmp_path / "ray", progress=False, log=lambda m: None,
                           executor=ray_executor)
    finally:
        ray.shutdown()
    local = run_sweep(SPEC, tmp_path / "local", progress=False, log=lambda m: None)
    assert remote["ran"] == local["ran"] == 8 and not remote["failures"]
    a = pd.read_parquet(tmp_path / "ray" / "runs.parquet").set_index("key").sort_index()
    b = pd.read_parquet(tmp_path / "local" / "runs.parquet").set_index("key").sort_index()
    pd.testing.assert_frame_equal(a[NUMBERS], b[NUMBERS])
    for x, y in zip(a["loss_curve"], b["loss_curve"], strict=True):
        assert list(x) == list(y)
