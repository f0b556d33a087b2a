"""What identifies data and runs, and what a resume recomputes.

- The data-bundle cache (:func:`bench.sweep.data_bundle`): configs that differ only in fields
  the data do not depend on share one bundle object; a change to a field that
  :meth:`DataBundle.build` reads gives another bundle, equal to a fresh build. Every
  :class:`RunConfig` field is tried.
- An engine-version bump (:data:`bench.config.ENGINE_VERSION`) changes every run key and the
  sweep id, so the next sweep plans and trains every run again, beside the old records.
- A sweep cut off under ``--max-runs 2`` and resumed with ``--max-runs 4`` ends with the table of
  an uninterrupted sweep: same keys, and (``--runs-axis map``, where a run's numbers do not
  depend on the chunk it is trained in, docs/performance.md) the same numbers, bit for bit.

The sweep has tests/test_ray_cli.py's sizes and chunking, so in one pytest process the compiled
programs are shared.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import shutil
from pathlib import Path

import helpers
import numpy as np
import pandas as pd
import pytest

import bench.config
import bench.sweep
from bench.cli import main
from bench.config import FIELDS, RunConfig, resolve
from bench.registry import select
from bench.report import load_results
from bench.store import Store
from bench.sweep import DataBundle, SweepSpec, data_bundle, plan, run_sweep

# ------------------------------------------------------------------ the data-bundle cache key

BASE = resolve("quick", dataset="ar1", channels=2, hidden=(4,), steps=10, train_sequences=4,
               window=8, val_sequences=2, val_length=16, test_sequences=2, test_length=16,
               init_sequences=1, init_length=20)
# a valid value other than BASE's for every RunConfig field
OTHER = {
    "profile": "standard", "strategy": "chrono", "strategy_code": "0123abcd",
    "dataset": "ar2", "lr": 0.5, "seed": 3, "arm": "clean", "channels": 3, "hidden": (5, 3),
    "dropout": 0.1, "peephole_order": "lasagne-0.1", "readout": "linear", "optimizer": "sgd",
    "schedule": "warmup_cosine", "warmup_steps": 2, "steps": 12, "batch_size": 3, "window": 9,
    "clip_norm": 0.5, "grad_clipping": 1.0, "data_scale": 0.5, "train_sequences": 5,
    "val_sequences": 3, "val_length": 17, "val_every": 5, "stop_collapsed": 0.25,
    "test_sequences": 3,
    "test_length": 18, "settings": (("t_max", 5),), "init_length": 21, "init_sequences": 2,
    "curve_points": 4,
}
# the fields DataBundle.build reads (bench/sweep.py): what the data of a run depend on
DATA_FIELDS = {"dataset", "channels", "data_scale", "train_sequences", "window",
               "val_sequences", "val_length", "test_sequences", "test_length",
               "init_sequences", "init_length"}


def _arrays(b: DataBundle) -> dict[str, object]:
    return {"pool": b.pool, "val_x": b.val_x, "test_x": b.test_x, "init_x": b.init_x,
            "test_variance": b.test_variance, "floor_name": b.floor_name,
            **{f"floor.{k}": v for k, v in b.channel_floors.items()}}


def _same(a: DataBundle, b: DataBundle) -> bool:
    x, y = _arrays(a), _arrays(b)
    return all(np.shape(x[k]) == np.shape(y[k]) and np.array_equal(x[k], y[k]) for k in x)


def _changed(base: RunConfig, name: str) -> RunConfig:
    cfg = dataclasses.replace(base, **{name: OTHER[name]})
    bench.config.validate(cfg)  # a real config, not a broken one that happens to differ
    return cfg


def test_every_runconfig_field_has_a_value_to_try():
    assert set(OTHER) == set(FIELDS)
    assert all(getattr(BASE, k) != v for k, v in OTHER.items())


def test_configs_that_differ_outside_the_data_share_one_bundle():
    shared = data_bundle(BASE)
    for name in ("lr", "seed", "strategy", "dropout", "arm", "optimizer", "steps", "hidden",
                 "profile", "settings", "readout"):
        assert data_bundle(_changed(BASE, name)) is shared, name
    assert data_bundle(dataclasses.replace(BASE, lr=0.1, seed=7, strategy="orthogonal",
                                           dropout=0.0)) is shared


@pytest.mark.parametrize("name", ["val_sequences", "dataset", "window", "data_scale"])
def test_a_data_field_gets_its_own_bundle(name):
    base, other = data_bundle(BASE), data_bundle(_changed(BASE, name))
    assert other is not base and not _same(other, base)
    assert _same(other, DataBundle.build(_changed(BASE, name)))


def test_val_sequences_changes_the_validation_set_only():
    b = data_bundle(_changed(BASE, "val_sequences"))
    assert b.val_x.shape == (3, 16, 2) and data_bundle(BASE).val_x.shape == (2, 16, 2)
    np.testing.assert_array_equal(b.test_x, data_bundle(BASE).test_x)


def test_the_cache_key_covers_every_field_the_data_depend_on():
    """Each field changed in turn: where a fresh build differs, the cached bundle must be that
    build (never BASE's data); and the fields that change the data are DATA_FIELDS."""
    base = DataBundle.build(BASE)
    moved = set()
    for name in FIELDS:
        cfg = _changed(BASE, name)
        fresh = DataBundle.build(cfg)
        if not _same(fresh, base):
            moved.add(name)
        assert _same(data_bundle(cfg), fresh), f"{name}: the cached bundle is stale"
    assert moved == DATA_FIELDS


def test_a_real_series_bundle_follows_its_fields_too():
    """A real series (sunspots, one channel, split in time) reads fewer fields; whatever a change
    does to a fresh build, the cached bundle is that build."""
    base = dataclasses.replace(BASE, dataset="sunspots", channels=1)
    for name in ("window", "train_sequences", "data_scale", "val_sequences", "test_length",
                 "lr", "seed"):
        cfg = dataclasses.replace(base, **{name: OTHER[name]})
        assert _same(data_bundle(cfg), DataBundle.build(cfg)), name
    assert data_bundle(dataclasses.replace(base, window=9)).pool.shape == (4, 37, 1)
    assert data_bundle(base).pool.shape == (4, 33, 1)


# ------------------------------------------------------------------ a tiny sweep

SMALL = helpers.TINY
STRATEGIES, LRS, SEEDS = "glorot,forget-bias-one", (1e-3, 1e-2), 2
SPEC = SweepSpec(strategies=STRATEGIES, lrs=LRS, seeds=SEEDS, overrides=SMALL, max_runs=2,
                 extend=False, controls=False)
NUMBERS = ["strategy", "lr", "seed", "test_mse", "test_mse_init", "val_mse", "val_mse_init",
           "diverged", "diverged_step", "persistence_mse"]
CURVES = ["loss_curve", "val_curve"]


def _quiet(msg: str) -> None:
    pass


@pytest.fixture(scope="module")
def swept(tmp_path_factory) -> Path:
    """An uninterrupted sweep (max_runs 2: two chunks per strategy). Tests copy it."""
    out = tmp_path_factory.mktemp("swept")
    summary = run_sweep(SPEC, out, progress=False, log=_quiet)
    assert summary["ran"] == 8 and not summary["failures"]
    return out


def _copy(src: Path, dst: Path) -> Path:
    shutil.copytree(src, dst)
    return dst


def _table(root: Path) -> pd.DataFrame:
    return pd.read_parquet(root / "runs.parquet").set_index("key").sort_index()


def _assert_same_runs(a: pd.DataFrame, b: pd.DataFrame) -> None:
    assert list(a.index) == list(b.index)
    pd.testing.assert_frame_equal(a[NUMBERS], b[NUMBERS])
    for col in CURVES:
        for x, y in zip(a[col], b[col], strict=True):
            np.testing.assert_array_equal(np.asarray(x, float), np.asarray(y, float))


def _hand_key(cfg: RunConfig, engine: int) -> str:
    """RunConfig.key() as documented: the sha256 of the sorted JSON of the config and engine."""
    blob = json.dumps({**cfg.to_dict(), "engine": engine}, sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(blob.encode()).hexdigest()[:16]


# ------------------------------------------------------------------ engine-version bump


def test_an_engine_version_bump_plans_and_trains_every_run_again(swept, tmp_path, monkeypatch):
    out = _copy(swept, tmp_path / "bumped")
    strategies, _ = select(STRATEGIES)
    old_keys = {p.stem for p in (out / "runs").glob("*.json")}
    old_id = SPEC.sweep_id
    assert len(old_keys) == 8
    assert plan(SPEC, strategies, Store(out)) == ([], 8)  # nothing left under this engine
    version = bench.config.ENGINE_VERSION
    configs = [c for s in strategies for c in SPEC.configs(s, "ar1", "default")]
    assert {_hand_key(c, version) for c in configs} == old_keys

    with monkeypatch.context() as m:
        # the key reads bench.config's; the sweep id bench.sweep's (imported) name
        m.setattr(bench.config, "ENGINE_VERSION", version + 1)
        m.setattr(bench.sweep, "ENGINE_VERSION", version + 1)
        new_id = SPEC.sweep_id
        assert new_id != old_id
        configs = [c for s in strategies for c in SPEC.configs(s, "ar1", "default")]
        new_keys = {c.key() for c in configs}
        assert new_keys == {_hand_key(c, version + 1) for c in configs}
        assert not new_keys & old_keys
        jobs, done = plan(SPEC, strategies, Store(out))
        assert done == 0 and len(jobs) == 4  # 2 strategies × 2 chunks of 2
        assert {c.key() for j in jobs for c in j.configs} == new_keys
        assert {j.sweep_id for j in jobs} == {new_id}
        summary = run_sweep(SPEC, out, progress=False, log=_quiet)
        assert summary["ran"] == 8 and summary["skipped"] == 0
        assert {p.stem for p in (out / "runs").glob("*.json")} == old_keys | new_keys
        res = load_results(out)  # the report shows the new engine's records only
        assert set(res.runs["key"]) == new_keys and set(res.runs["sweep_id"]) == {new_id}
        assert any("8 record(s) of other sweeps" in n for n in res.notes)
        assert plan(SPEC, strategies, Store(out)) == ([], 8)

    # back on the old version the old records are still whole and complete
    assert plan(SPEC, strategies, Store(out)) == ([], 8)
    table = _table(out)
    old, new = table.loc[sorted(old_keys)], table.loc[sorted(new_keys)]
    # the engine did not really change here, so the retrained numbers are the old ones
    pd.testing.assert_frame_equal(
        old[NUMBERS].sort_values(["strategy", "lr", "seed"]).reset_index(drop=True),
        new[NUMBERS].sort_values(["strategy", "lr", "seed"]).reset_index(drop=True))


# ------------------------------------------------------------------ resume with other --max-runs


def _cli(out: Path, max_runs: int) -> list[str]:
    return ["run", "--strategies", STRATEGIES, "--lrs", ",".join(map(str, LRS)),
            "--seeds", str(SEEDS), "--max-runs", str(max_runs), "--runs-axis", "map",
            "--data", "ar1", "--arms", "none", "--no-extend", "--no-controls",
            *helpers.set_args(SMALL), "--out", str(out), "--no-progress", "--no-report"]


def test_resume_with_a_larger_max_runs_equals_the_uninterrupted_sweep(swept, tmp_path, capsys):
    out = _copy(swept, tmp_path / "resumed")
    # cut off after forget-bias-one's first chunk: its second chunk (lr 1e-2, seeds 0 and 1)
    # never reached the store
    table = _table(swept)
    lost = table[(table["strategy"] == "forget-bias-one") & (table["lr"] == 1e-2)].index
    assert len(lost) == 2
    for key in lost:
        (out / "runs" / f"{key}.json").unlink()
    (out / "runs.parquet").unlink()

    assert main(_cli(out, max_runs=4)) == 0
    printed = capsys.readouterr().out
    # under max_runs 4 each strategy is one chunk of 4: glorot's is complete and skipped,
    # forget-bias-one's has a missing run and is trained whole (plan's fixed partition)
    assert "4 runs trained, 4 already done, 0 strategies failed" in printed
    resumed = _table(out)
    assert set(resumed["chunk_runs"][resumed["strategy"] == "glorot"]) == {2}
    assert set(resumed["chunk_runs"][resumed["strategy"] == "forget-bias-one"]) == {4}
    assert json.loads((out / "sweep.json").read_text())["spec"]["max_runs"] == 4
    # the same keys (max_runs is no part of a run's identity) and the same numbers
    _assert_same_runs(resumed, table)
    assert main(_cli(out, max_runs=4)) == 0  # and nothing is left to do
    assert "0 runs trained, 8 already done" in capsys.readouterr().out
