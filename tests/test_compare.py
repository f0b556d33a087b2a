"""Paired comparisons, ranks and the performance-profile ranking on hand-made run tables whose
answers are known: a strategy 10 % better than glorot on every seed, one with independent
noise, and one that fails on a dataset."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest
from test_summary_report import BAYES, run, table

from bench import compare
from bench import summary as sm


def _runs(ratios: dict[str, list[float]], dataset: str = "ar1", lr: float = 1e-3) -> list[dict]:
    """One LR, one run per seed, test MSE = ratio × floor (and validation the same)."""
    return [run(s, lr, seed, r * BAYES, dataset=dataset)
            for s, rs in ratios.items() for seed, r in enumerate(rs)]


def _flags_table(rows: list[dict]) -> tuple[pd.DataFrame, pd.DataFrame]:
    df = table(rows)
    return sm.run_flags(df), sm.summary_table(df)


G = [1.02, 1.04, 1.03, 1.05, 1.01]  # glorot's ratios over five seeds


def test_a_constant_per_seed_difference_is_resolved_and_noise_is_not() -> None:
    noise = [1.05, 1.01, 1.04, 1.02, 1.03]  # the same values as G, shuffled: mean diff 0
    flags, t = _flags_table(_runs({"glorot": G, "better": [0.9 * g for g in G],
                                   "noisy": noise}))
    c = compare.comparisons(flags, t).set_index(["strategy", "versus"])
    b = c.loc[("better", "glorot")]
    assert b["ratio"] == pytest.approx(0.9, rel=1e-9)  # exp(mean(log 0.9)) exactly
    assert b["ratio_low"] == pytest.approx(0.9, rel=1e-9)  # zero spread: a point interval
    assert b["resolved"] and b["seeds"] == 5
    n = c.loc[("noisy", "glorot")]
    assert n["ratio_low"] < 1 < n["ratio_high"] and not n["resolved"]
    # the best strategy of the table is "better": everything else is compared with it too
    assert set(c.xs("better", level="versus").index) == {"glorot", "noisy"}
    assert ("better", "better") not in c.index


def test_fewer_than_five_seeds_never_resolve() -> None:
    flags, t = _flags_table(_runs({"glorot": G[:3], "better": [0.9 * g for g in G[:3]]}))
    c = compare.comparisons(flags, t).set_index(["strategy", "versus"])
    assert c.loc[("better", "glorot"), "ratio"] == pytest.approx(0.9)
    assert not c.loc[("better", "glorot"), "resolved"]


def test_scores_are_read_at_each_strategys_own_best_lr() -> None:
    """glorot is best at 1e-3 (validation 1.03…), "late" at 1e-2: each is scored there."""
    rows = _runs({"glorot": G}, lr=1e-3) + _runs({"glorot": [2.0] * 5}, lr=1e-2)
    rows += _runs({"late": [3.0] * 5}, lr=1e-3) + _runs({"late": G}, lr=1e-2)
    flags, t = _flags_table(rows)
    s = compare.seed_scores(flags, t)
    assert sorted(s.loc[s["strategy"] == "late", "log_ratio"]) == pytest.approx(
        sorted(np.log(G)))
    c = compare.comparisons(flags, t)
    assert c.loc[c["strategy"] == "late", "ratio"].iloc[0] == pytest.approx(1.0)


def test_ranks_and_profile_ranking() -> None:
    flags, t = _flags_table(_runs({"glorot": G, "better": [0.9 * g for g in G],
                                   "worst": [2 * g for g in G]})
                            + _runs({"glorot": G, "better": [0.9 * g for g in G],
                                     "worst": [2 * g for g in G]}, dataset="ar2"))
    r = compare.ranks(flags, t).set_index(["dataset", "strategy"])
    assert r.loc[("ar1", "better"), ["rank", "rank_low", "rank_high"]].tolist() == [1, 1, 1]
    assert r.loc[("ar2", "worst"), "rank"] == 3
    p = compare.profile_ranking(flags, t).set_index("strategy")
    # 10 tasks; "better" is best on each: area 1; glorot within 1/0.9 of it on each task:
    # area = 1 - log2(1/0.9) / log2(4); "worst" at 2/0.9: 1 - log2(2/0.9) / 2
    assert p.loc["better", "area"] == pytest.approx(1.0)
    assert p.loc["glorot", "area"] == pytest.approx(1 - math.log2(1 / 0.9) / 2)
    assert p.loc["worst", "area"] == pytest.approx(1 - math.log2(2 / 0.9) / 2)
    assert p.loc["better", ["rank", "rank_low", "rank_high"]].tolist() == [1, 1, 1]
    assert (p["tasks"] == 10).all()


def test_a_strategy_without_a_best_lr_fails_its_tasks() -> None:
    rows = _runs({"glorot": G}) + [run("broken", 1e-3, s, math.nan, diverged=True)
                                   for s in range(5)]
    flags, t = _flags_table(rows)
    tasks = compare.tasks(flags, t, "default")
    assert tasks["broken"].isna().all() and len(tasks) == 5
    p = compare.profile_ranking(flags, t).set_index("strategy")
    assert p.loc["broken", "area"] == 0.0 and p.loc["glorot", "area"] == 1.0


def test_per_channel_table_is_the_median_channel_ratio_at_the_best_lr() -> None:
    """Two channels with floors 0.02 and 0.03; three seeds at the best LR with channel MSEs
    (0.022, 0.033), (0.024, 0.036), (0.030, 0.030): ratios (1.1, 1.1), (1.2, 1.2), (1.5, 1.0);
    medians 1.2 and 1.1. A worse LR (1e-2) must not enter."""
    from bench.report import channel_labels, per_channel

    rows = []
    for seed, (m0, m1) in enumerate([(0.022, 0.033), (0.024, 0.036), (0.030, 0.030)]):
        for lr, k in ((1e-3, 1.0), (1e-2, 3.0)):
            r = run("g", lr, seed, (m0 + m1) / 2 * k)
            r.update(test_mse_channels=[m0 * k, m1 * k], bayes_channels=[0.02, 0.03],
                     persistence_channels=[0.03, 0.04])
            rows.append(r)
    flags, t = _flags_table(rows)
    table = per_channel(flags, t, "default", "ar1")
    labels = channel_labels("ar1", 2, 0.25)
    assert labels == ["c0 (phi=0.5)", "c1 (phi=0.99)"]
    assert table.set_index("strategy").loc["g"].tolist() == ["1.2", "1.1"]
