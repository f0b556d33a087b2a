"""Paired comparisons between strategies over seeds, and their performance profile over tasks.

Runs with the same seed share their data order and dropout masks across strategies
(:mod:`bench.train`), so two strategies are compared *paired by seed*. For each (arm, dataset),
every strategy is scored at its own best learning rate (``best_lr``, chosen on validation data;
:mod:`bench.metrics.best_lr`), one score per seed: ``log test_ratio`` (the geometric mean over
channels of test MSE / floor, :func:`bench.summary.run_flags`). For a strategy A against a
reference B::

    d_s = log test_ratio(A, seed s) − log test_ratio(B, seed s)
    ratio = exp(mean_s d_s)        (< 1: A is closer to the floor than B)

with a paired percentile-bootstrap 95 % CI of ``mean_s d_s`` (:func:`bench.stats.
paired_difference_ci`), shown on the ratio scale. A difference is *resolved* when its CI
excludes 0 (the ratio's CI excludes 1) and at least ``MIN_SEEDS`` seeds are paired. With few
seeds the percentile bootstrap is narrower than it should be (its resampled means never leave
[min d, max d]), so a resolved difference whose CI barely excludes 1 deserves more seeds.
References: ``glorot`` (the default) and the best
strategy of the table (the lowest ``best_ratio_median``). Ranks come with bootstrap intervals
over seeds (:func:`bench.stats.rank_intervals`).

Across datasets, a Dolan–Moré performance profile (:func:`bench.stats.performance_profile`)
counts, per strategy, the fraction of *tasks* (dataset, seed) on which its test ratio is within
a factor τ of the best strategy's on that task; its area (:func:`bench.stats.profile_area_ci`)
ranks strategies across tasks, with a bootstrap CI over tasks.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from bench import stats

BASELINE = "glorot"
CONFIDENCE = 0.95
MIN_SEEDS = 5  # fewer pairs never resolve a difference: 3 seeds give 10 distinct resamples
TAU_MAX = 4.0  # the performance profile's range: within a factor 1 … 4 of the best
COMPARISON_COLUMNS = ["arm", "dataset", "strategy", "versus", "ratio", "ratio_low",
                      "ratio_high", "seeds", "resolved"]


def seed_scores(flags: pd.DataFrame, table: pd.DataFrame) -> pd.DataFrame:
    """Per (arm, dataset, strategy, seed): ``log_ratio``, the log ``test_ratio`` at the
    strategy's ``best_lr`` in ``table`` (strategies without a best LR are left out).
    ``flags``: runs with :func:`bench.summary.run_flags`' columns."""
    best = table[(table["kind"] == "strategy") & table["best_lr"].notna()]
    keys = best[["arm", "dataset", "strategy", "best_lr"]]
    runs = flags.merge(keys, on=["arm", "dataset", "strategy"])
    runs = runs[np.isclose(runs["lr"].astype(float), runs["best_lr"].astype(float))]
    with np.errstate(divide="ignore", invalid="ignore"):
        log_ratio = np.log(runs["test_ratio"].astype(float))
    out = runs[["arm", "dataset", "strategy", "seed"]].copy()
    out["log_ratio"] = log_ratio.to_numpy()
    return out.reset_index(drop=True)


def _matrix(scores: pd.DataFrame) -> pd.DataFrame:
    """strategy × seed table of ``log_ratio`` (one arm and dataset)."""
    return scores.pivot_table(index="strategy", columns="seed", values="log_ratio",
                              aggfunc="first", dropna=False)


def best_strategy(table: pd.DataFrame, arm: str, dataset: str) -> str | None:
    """The strategy with the lowest ``best_ratio_median`` in (arm, dataset); None if none."""
    t = table[(table["arm"] == arm) & (table["dataset"] == dataset)
              & (table["kind"] == "strategy")]
    t = t[t["best_ratio_median"].notna()]
    if not len(t):
        return None
    return str(t.loc[t["best_ratio_median"].astype(float).idxmin(), "strategy"])


def comparisons(flags: pd.DataFrame, table: pd.DataFrame, *, baseline: str = BASELINE,
                confidence: float = CONFIDENCE, seed: int = 0) -> pd.DataFrame:
    """Every strategy against ``baseline`` and against the best strategy, per (arm, dataset):
    one row per (strategy, versus) with ``ratio`` = exp(mean paired log difference), its CI
    ``ratio_low``/``ratio_high``, ``seeds`` (pairs with both scores finite) and ``resolved``
    (the CI excludes a ratio of 1, with at least ``MIN_SEEDS`` pairs). A strategy is not
    compared with itself."""
    scores = seed_scores(flags, table)
    rows = []
    for (arm, ds), group in scores.groupby(["arm", "dataset"], sort=True):
        m = _matrix(group)
        refs = [r for r in dict.fromkeys([baseline, best_strategy(table, arm, ds)])
                if r is not None and r in m.index]
        for strategy in m.index:
            for ref in refs:
                if ref == strategy:
                    continue
                ci = stats.paired_difference_ci(m.loc[strategy].to_numpy(dtype=float),
                                                m.loc[ref].to_numpy(dtype=float),
                                                confidence=confidence, seed=seed)
                rows.append({"arm": arm, "dataset": ds, "strategy": strategy, "versus": ref,
                             "ratio": float(np.exp(ci.mean)), "ratio_low": float(np.exp(ci.low)),
                             "ratio_high": float(np.exp(ci.high)), "seeds": ci.n,
                             "resolved": bool(ci.excludes_zero) and ci.n >= MIN_SEEDS})
    return pd.DataFrame(rows, columns=COMPARISON_COLUMNS)


def ranks(flags: pd.DataFrame, table: pd.DataFrame, *, confidence: float = CONFIDENCE,
          seed: int = 0) -> pd.DataFrame:
    """Per (arm, dataset): every strategy's rank by mean log test ratio at its best LR (1 =
    best) with a paired bootstrap interval over seeds; columns arm, dataset, strategy, rank,
    rank_low, rank_high."""
    scores = seed_scores(flags, table)
    out = []
    for (arm, ds), group in scores.groupby(["arm", "dataset"], sort=True):
        r = stats.rank_intervals(_matrix(group), confidence=confidence, seed=seed)
        r = r.reset_index().rename(columns={"index": "strategy"})
        r.insert(0, "dataset", ds)
        r.insert(0, "arm", arm)
        out.append(r[["arm", "dataset", "strategy", "rank", "rank_low", "rank_high"]])
    cols = ["arm", "dataset", "strategy", "rank", "rank_low", "rank_high"]
    return pd.concat(out, ignore_index=True) if out else pd.DataFrame(columns=cols)


def tasks(flags: pd.DataFrame, table: pd.DataFrame, arm: str,
          scores: pd.DataFrame | None = None) -> pd.DataFrame:
    """The tasks of one arm: (dataset, seed) × strategy table of ``test_ratio`` at each
    strategy's best LR (a strategy without a best LR on a dataset fails its tasks: NaN).
    ``scores``: :func:`seed_scores` of ``flags`` and ``table`` if already computed."""
    scores = seed_scores(flags, table) if scores is None else scores
    scores = scores[scores["arm"] == arm]
    strategies = sorted(table.loc[(table["arm"] == arm) & (table["kind"] == "strategy"),
                                  "strategy"].unique())
    t = scores.pivot_table(index=["dataset", "seed"], columns="strategy", values="log_ratio",
                           aggfunc="first", dropna=False)
    return np.exp(t.reindex(columns=strategies))


def profile_ranking(flags: pd.DataFrame, table: pd.DataFrame, *, tau_max: float = TAU_MAX,
                    confidence: float = CONFIDENCE, seed: int = 0) -> pd.DataFrame:
    """Per arm, every strategy's performance-profile area over τ ∈ [1, ``tau_max``] (1 = the
    best on every task) with a bootstrap CI over tasks, and its rank by area with an interval;
    columns arm, strategy, area, area_low, area_high, rank, rank_low, rank_high, tasks."""
    out = []
    scores = seed_scores(flags, table)
    for arm in sorted(table.loc[table["kind"] == "strategy", "arm"].unique()):
        t = tasks(flags, table, arm, scores)
        t = t[t.notna().any(axis=1)]
        if not len(t):
            continue
        r = stats.profile_area_ci(t, tau_max=tau_max, confidence=confidence, seed=seed)
        r = r.reset_index().rename(columns={"index": "strategy"})
        r.insert(0, "arm", arm)
        r["tasks"] = len(t)
        out.append(r)
    cols = ["arm", "strategy", "area", "area_low", "area_high", "rank", "rank_low",
            "rank_high", "tasks"]
    if not out:
        return pd.DataFrame(columns=cols)
    return pd.concat(out, ignore_index=True)[cols].sort_values(["arm", "rank"],
                                                                kind="mergesort")
