"""Strategies of one architecture train in shared programs (the strategy on the run axis).

- :func:`bench.sweep.pack` against hand-made partitions.
- The plan: ``glorot``, ``forget-bias-one`` and ``orthogonal`` (one architecture) share a chunk;
  ``identity-bias`` (leaky_rectify: another architecture) trains apart; ``--no-share`` gives one
  strategy per chunk.
- Under ``--runs-axis map`` a shared sweep's records equal the separate programs' records bit
  for bit: every number, curve and diagnostic. Under ``vmap`` they agree to float32 rounding
  (the batched program's width changes its rounding; docs/performance.md).
- A strategy that fails to build its parameters inside a shared chunk is blamed alone; its
  chunk partners are trained in the next round.
"""

from __future__ import annotations

from pathlib import Path

import helpers
import numpy as np
import pandas as pd
import pytest

from bench import config
from bench.registry import select
from bench.store import Store
from bench.sweep import StrategyFailed, SweepSpec, blamed, pack, plan, run_sweep

SMALL = {**helpers.TINY, "dropout": 0.0}
SHARED = "glorot,forget-bias-one,orthogonal,identity-bias"
# every record field that is a number, a flag or a list of numbers; not the timings, the
# chunk's size, or the sweep's identity
SKIP = {"key", "sweep_id", "chunk_wall_s", "chunk_runs", "chunk_phase_s", "config"}


def _cfgs(n: int, strategy: str = "glorot") -> list[config.RunConfig]:
    return [config.resolve("quick", strategy=strategy, seed=i) for i in range(n)]


def test_pack_against_hand_made_partitions():
    a, b, c = _cfgs(3, "glorot"), _cfgs(2, "chrono"), _cfgs(4, "orthogonal")
    sizes = lambda chunks: [[x.strategy[0] + str(x.seed) for x in ch] for ch in chunks]  # noqa: E731
    assert sizes(pack([a, b, c], 5)) == [["g0", "g1", "g2", "c0", "c1"],
                                        ["o0", "o1", "o2", "o3"]]
    assert sizes(pack([a, b, c], 4)) == [["g0", "g1", "g2"], ["c0", "c1"],
                                        ["o0", "o1", "o2", "o3"]]
    # a segment longer than max_runs is cut first; its last piece may take company
    assert sizes(pack([c, b], 3)) == [["o0", "o1", "o2"], ["o3", "c0", "c1"]]
    assert sizes(pack([a], 1)) == [["g0"], ["g1"], ["g2"]]
    assert pack([], 4) == []


def _spec(strategies: str = SHARED, **kw) -> SweepSpec:
    return SweepSpec(strategies=strategies, lrs=(1e-3, 1e-2), seeds=2, overrides=SMALL,
                     extend=False, controls=False, **kw)


def test_the_plan_shares_chunks_within_an_architecture_only(tmp_path):
    strategies, failures = select(SHARED)
    assert not failures
    jobs, done = plan(_spec(max_runs=12), strategies, Store(tmp_path))
    assert done == 0
    assert [j.strategies for j in jobs] == [("glorot", "forget-bias-one", "orthogonal"),
                                           ("identity-bias",)]
    assert [len(j.configs) for j in jobs] == [12, 4]
    jobs, _ = plan(_spec(max_runs=8), strategies, Store(tmp_path))
    assert [j.strategies for j in jobs] == [("glorot", "forget-bias-one"), ("orthogonal",),
                                           ("identity-bias",)]
    jobs, _ = plan(_spec(max_runs=12, share=False), strategies, Store(tmp_path))
    assert [j.strategies for j in jobs] == [(s.name,) for s in strategies]


def _same(a: object, b: object) -> bool:
    """Equal bit for bit, down through lists, arrays and dicts (NaN equals NaN)."""
    if isinstance(a, dict) and isinstance(b, dict):
        return a.keys() == b.keys() and all(_same(a[k], b[k]) for k in a)
    if isinstance(a, (list, tuple, np.ndarray)) and isinstance(b, (list, tuple, np.ndarray)):
        return len(a) == len(b) and all(_same(x, y) for x, y in zip(a, b, strict=True))
    if isinstance(a, float) and isinstance(b, float) and np.isnan(a):
        return bool(np.isnan(b))
    return type(a) is type(b) and a == b


def _table(out: Path) -> pd.DataFrame:
    return pd.DataFrame([r.row() for r in Store(out).records()]).set_index("key").sort_index()


@pytest.fixture(scope="module")
def sweeps(tmp_path_factory):
    out = {}
    for axis, share in (("map", True), ("map", False), ("vmap", True)):
        d = tmp_path_factory.mktemp(f"{axis}-{share}")
        spec = _spec("glorot,forget-bias-one,orthogonal", max_runs=12, share=share,
                     runs_axis=axis)
        summary = run_sweep(spec, d, progress=False, log=lambda m: None, workers=1)
        assert summary["ran"] == 12 and not summary["failures"]
        out[axis, share] = _table(d)
    return out


def test_shared_programs_equal_separate_programs_bit_for_bit_under_map(sweeps):
    shared, alone = sweeps["map", True], sweeps["map", False]
    assert list(shared.index) == list(alone.index) and len(shared) == 12
    assert set(shared.loc[shared.strategy == "glorot", "chunk_runs"]) == {12}  # really shared
    assert set(alone["chunk_runs"]) == {4}
    compared = 0
    for col in shared.columns:
        if col in SKIP or col.startswith(("chunk_", "cfg.")):
            continue
        for key in shared.index:
            assert _same(shared.at[key, col], alone.at[key, col]), (col, key)
        compared += 1
    assert compared > 20
    # the numbers are not trivially equal: the strategies differ from one another
    by = shared.groupby("strategy")["test_mse"].first()
    assert by["glorot"] != by["orthogonal"] != by["forget-bias-one"]


def test_shared_programs_under_vmap_agree_to_float32_rounding(sweeps):
    """The shared vmap program against the separate programs (under map, whose numbers do not
    depend on sharing: the test above)."""
    shared, alone = sweeps["vmap", True], sweeps["map", False]
    assert set(shared["chunk_runs"]) == {12}
    for col in ("test_mse", "val_mse", "test_mse_init"):
        np.testing.assert_allclose(shared[col].to_numpy(float), alone[col].to_numpy(float),
                                   rtol=1e-5)


def test_a_failure_is_blamed_on_its_strategy_alone():
    job_cfgs = tuple(_cfgs(2, "glorot") + _cfgs(2, "chrono"))
    from bench.sweep import Job

    job = Job(job_cfgs)
    assert job.strategies == ("glorot", "chrono") and job.label == "default/ar1/glorot+chrono"
    cause = ValueError("bad shapes")
    assert blamed(job, StrategyFailed("chrono", cause)) == (("chrono",), cause)
    other = RuntimeError("XLA")
    assert blamed(job, other) == (("glorot", "chrono"), other)
    import pickle

    again = pickle.loads(pickle.dumps(StrategyFailed("chrono", cause)))  # Ray ships it back
    assert again.strategy == "chrono" and str(again) == "chrono: bad shapes"
