"""bench.stats: paired bootstrap intervals, rank intervals and performance profiles, each checked
against values worked out by hand in the test."""

import math

import numpy as np
import pandas as pd
import pytest

from bench.stats import (
    PairedCI,
    paired_difference_ci,
    performance_profile,
    profile_area,
    profile_area_ci,
    rank_intervals,
)

# --- paired_difference_ci ---------------------------------------------------------------------


def test_constant_difference_is_zero_spread_and_excludes_zero():
    a = np.random.default_rng(1).normal(size=5)
    b = a + 0.05  # d = a - b = -0.05 on every seed, up to rounding
    ci = paired_difference_ci(a, b)
    assert ci.n == 5
    assert ci.low == ci.high == ci.mean
    assert ci.mean == pytest.approx(-0.05, abs=1e-15)
    assert ci.excludes_zero


def test_exactly_constant_difference():
    ci = paired_difference_ci([3.0, 4.0, 5.0], [2.5, 3.5, 4.5])
    assert (ci.mean, ci.low, ci.high, ci.n) == (0.5, 0.5, 0.5, 3)
    assert ci.excludes_zero
    zero = paired_difference_ci([1.0, 2.0], [1.0, 2.0])
    assert (zero.mean, zero.low, zero.high) == (0.0, 0.0, 0.0)
    assert not zero.excludes_zero


def test_nearly_constant_difference_excludes_zero():
    rng = np.random.default_rng(2)
    a = rng.normal(size=5)
    b = a + 0.05 + 1e-3 * rng.normal(size=5)
    ci = paired_difference_ci(a, b)
    assert ci.low < ci.mean < ci.high < 0
    assert ci.low > -0.06
    assert ci.excludes_zero


def test_independent_noise_same_mean_includes_zero():
    rng = np.random.default_rng(3)
    a, b = rng.normal(size=10), rng.normal(size=10)
    ci = paired_difference_ci(a, b)
    assert ci.n == 10
    assert ci.mean == pytest.approx(np.mean(a) - np.mean(b))
    assert ci.low < 0 < ci.high
    assert not ci.excludes_zero


def test_hand_derived_percentile_interval():
    # d = [1, 1, 1, 1, -10]. A resample holding k copies of -10 has mean (5 - k - 10 k) / 5
    # = 1 - 11 k / 5, with k ~ Binomial(5, 1/5):
    #   P(k = 0) = 0.8^5 = 0.328                                -> mean  1.0
    #   P(k >= 3) = 10 * .2^3 * .8^2 + 5 * .2^4 * .8 + .2^5 = 0.0579
    #   P(k >= 4) = 5 * .2^4 * .8 + .2^5 = 0.0067
    # The 2.5 % quantile of the means therefore falls inside the k = 3 block (0.0067 < 0.025 <
    # 0.0579) -> low = 1 - 33/5 = -5.6, and the 97.5 % quantile inside the k = 0 block (mass
    # 0.328 > 0.025) -> high = 1.0. With 9999 resamples the empirical block masses are within a
    # few tenths of a percent of these, far from the block edges.
    d = np.array([1.0, 1.0, 1.0, 1.0, -10.0])
    ci = paired_difference_ci(d, np.zeros(5))
    assert ci.mean == pytest.approx(-1.2)
    assert ci.low == pytest.approx(-5.6)
    assert ci.high == pytest.approx(1.0)
    assert d.min() <= ci.low < ci.mean < ci.high <= d.max()
    assert not ci.excludes_zero


def test_deterministic_for_a_seed():
    rng = np.random.default_rng(4)
    a, b = rng.normal(size=8), rng.normal(size=8)
    assert paired_difference_ci(a, b, seed=7) == paired_difference_ci(a, b, seed=7)
    assert paired_difference_ci(a, b, seed=7) != paired_difference_ci(a, b, seed=8)


def test_one_pair_and_no_pairs():
    one = paired_difference_ci([2.0], [0.5])
    assert one.n == 1 and one.mean == 1.5
    assert math.isnan(one.low) and math.isnan(one.high)
    assert not one.excludes_zero
    none = paired_difference_ci([], [])
    assert none.n == 0
    assert all(math.isnan(v) for v in (none.mean, none.low, none.high))
    assert not none.excludes_zero


def test_non_finite_pairs_are_dropped():
    a = [1.0, np.nan, 3.0, 4.0, np.inf, 6.0]
    b = [0.0, 1.0, np.nan, 2.0, 1.0, 3.0]
    ci = paired_difference_ci(a, b)  # kept pairs: (1, 0), (4, 2), (6, 3) -> d = 1, 2, 3
    assert ci.n == 3
    assert ci.mean == pytest.approx(2.0)
    assert 1.0 <= ci.low < 2.0 < ci.high <= 3.0
    assert ci == paired_difference_ci([1.0, 4.0, 6.0], [0.0, 2.0, 3.0])
    only_one = paired_difference_ci([1.0, np.nan], [np.nan, 2.0])
    assert only_one.n == 0 and math.isnan(only_one.mean)


def test_paired_ci_is_frozen_and_length_mismatch_raises():
    ci = PairedCI(mean=1.0, low=0.5, high=1.5, n=3)
    with pytest.raises(AttributeError):
        ci.mean = 2.0
    with pytest.raises(ValueError):
        paired_difference_ci([1.0, 2.0], [1.0])


# --- rank_intervals ----------------------------------------------------------------------------


def _rank_table() -> pd.DataFrame:
    b = np.arange(10, 20, dtype=float)
    noise = np.array([1.0, -1.0] * 5)  # sums to exactly 0: C ties B on the full data
    return pd.DataFrame([b - 100, b, b + noise], index=["A", "B", "C"],
                        columns=[f"seed{j}" for j in range(10)])


def test_rank_intervals_clear_winner_and_tie():
    # A is 100 lower than B on every seed, so A has rank 1 in every resample. B and C have the
    # same mean on the full data (14.5): average rank (2 + 3) / 2 = 2.5 each. In a resample C is
    # below B when more -1 than +1 seeds are drawn (about 38 % of resamples), above in about
    # 38 %, tied (2.5 each) otherwise, so both rank intervals run from 2 to 3.
    out = rank_intervals(_rank_table())
    assert list(out.columns) == ["rank", "rank_low", "rank_high", "mean"]
    assert list(out.index) == ["A", "B", "C"]
    assert out["mean"].tolist() == [-85.5, 14.5, 14.5]
    assert out["rank"].tolist() == [1.0, 2.5, 2.5]
    assert (out.loc["A", "rank_low"], out.loc["A", "rank_high"]) == (1.0, 1.0)
    for s in ("B", "C"):
        assert (out.loc[s, "rank_low"], out.loc[s, "rank_high"]) == (2.0, 3.0)


def test_rank_intervals_higher_is_better_and_nan_rows():
    table = _rank_table()
    table.loc["D"] = np.nan
    table.loc["A", "seed0"] = np.nan  # ignored in A's mean
    out = rank_intervals(table, lower_is_better=False)
    assert list(out.index) == ["A", "B", "C", "D"]
    assert out.loc["A", "mean"] == pytest.approx(np.mean(np.arange(11, 20)) - 100)
    assert out.loc["A", "rank"] == 3.0
    assert (out.loc["A", "rank_low"], out.loc["A", "rank_high"]) == (3.0, 3.0)
    assert out.loc[["B", "C"], "rank"].tolist() == [1.5, 1.5]
    assert out.loc["D"].isna().all()


# --- performance profiles ----------------------------------------------------------------------


def _profile_table() -> pd.DataFrame:
    # scores (lower is better)      ratios r = score / row minimum
    #        X    Y    Z                  X    Y    Z
    #   t1   1    2    4             t1   1    2    4
    #   t2   3    3    NaN           t2   1    1    inf   (tie X/Y, Z failed)
    #   t3   6    2    3             t3   3    1    1.5
    return pd.DataFrame({"X": [1.0, 3.0, 6.0], "Y": [2.0, 3.0, 2.0], "Z": [4.0, np.nan, 3.0]},
                        index=["t1", "t2", "t3"])


def test_performance_profile_by_hand():
    # rho_s(tau) = fraction of the 3 tasks with r <= tau, from the ratios table above.
    expected = pd.DataFrame(
        {"X": [2 / 3, 2 / 3, 2 / 3, 1.0],
         "Y": [2 / 3, 2 / 3, 1.0, 1.0],
         "Z": [0.0, 1 / 3, 1 / 3, 1 / 3]},
        index=pd.Index([1.0, 1.5, 2.0, 3.0], name="tau"))
    out = performance_profile(_profile_table(), [3, 1, 2, 1.5])  # taus come back sorted
    pd.testing.assert_frame_equal(out, expected)


def test_performance_profile_failures_and_higher_is_better():
    table = _profile_table()
    table.loc["t4"] = [np.nan, 0.0, -1.0]  # every strategy failed: dropped
    table.loc["t5", :] = [2.0, np.inf, 0.0]  # only X succeeded: r = 1, inf, inf
    out = performance_profile(table, [1.0, 100.0])
    assert out.loc[1.0].tolist() == pytest.approx([3 / 4, 2 / 4, 0.0])
    assert out.loc[100.0].tolist() == pytest.approx([1.0, 3 / 4, 2 / 4])
    # Higher is better: r = row max / score. t1: 4, 2, 1; t2: 1, 1, inf; t3: 1, 3, 2.
    up = performance_profile(_profile_table(), [1.0, 2.0], lower_is_better=False)
    assert up.loc[1.0].tolist() == pytest.approx([2 / 3, 1 / 3, 1 / 3])
    assert up.loc[2.0].tolist() == pytest.approx([2 / 3, 2 / 3, 2 / 3])


def test_profile_area_by_hand():
    # tau_max = 4, so log2 tau runs over [0, 2]. From the ratios table the profiles are steps:
    #   X: 2/3 on [1, 3), 1 on [3, 4]  -> area = (2/3 log2 3 + (2 - log2 3)) / 2 = 1 - log2(3)/6
    #   Y: 2/3 on [1, 2), 1 on [2, 4]  -> area = (2/3 * 1 + 1 * 1) / 2 = 5/6
    #   Z: 0 on [1, 1.5), 1/3 after    -> area = (1/3) (2 - log2 1.5) / 2 = (1 - log2(1.5)/2) / 3
    expected = {"X": 1 - math.log2(3) / 6, "Y": 5 / 6, "Z": (1 - math.log2(1.5) / 2) / 3}
    area = profile_area(_profile_table())
    assert list(area.index) == ["X", "Y", "Z"]
    for s, value in expected.items():
        assert area[s] == pytest.approx(value, rel=1e-12)
    # Independent check: a fine left Riemann sum of the profile over log2 tau.
    u = np.linspace(0, 2, 200_001)
    rho = performance_profile(_profile_table(), 2.0 ** u[:-1])
    riemann = rho.sum(axis=0) * (u[1] - u[0]) / 2
    assert riemann.to_numpy() == pytest.approx(area.to_numpy(), abs=1e-4)


def test_profile_area_tau_max_caps_the_ratio():
    # With tau_max = 2 X's ratio 3 and Z's ratio 4 count as 0: X = (1 + 1 + 0) / 3.
    area = profile_area(_profile_table(), tau_max=2.0)
    assert area["X"] == pytest.approx(2 / 3)
    assert area["Y"] == pytest.approx((0 + 1 + 1) / 3)
    assert area["Z"] == pytest.approx((1 - math.log2(1.5)) / 3)
    with pytest.raises(ValueError):
        profile_area(_profile_table(), tau_max=1.0)


def test_profile_area_ci_best_everywhere():
    rng = np.random.default_rng(5)
    best = rng.uniform(1.0, 2.0, size=12)
    table = pd.DataFrame({"best": best, "p": best * rng.uniform(1.1, 3.0, size=12),
                          "q": best * rng.uniform(1.1, 3.0, size=12)})
    out = profile_area_ci(table)
    assert list(out.columns) == ["area", "area_low", "area_high", "rank", "rank_low",
                                 "rank_high"]
    row = out.loc["best"]
    assert (row["area"], row["area_low"], row["area_high"]) == (1.0, 1.0, 1.0)
    assert (row["rank"], row["rank_low"], row["rank_high"]) == (1.0, 1.0, 1.0)
    for s in ("p", "q"):
        assert out.loc[s, "area"] < 1.0
        assert out.loc[s, "area_low"] <= out.loc[s, "area"] <= out.loc[s, "area_high"] < 1.0
        assert 2.0 <= out.loc[s, "rank_low"] <= out.loc[s, "rank_high"] <= 3.0
    pd.testing.assert_series_equal(out["area"], profile_area(table), check_names=False)
