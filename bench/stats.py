"""Paired bootstrap intervals and performance profiles for comparing initialization strategies.

Pure NumPy/SciPy/pandas; nothing here imports JAX.

**Paired difference of means** (:func:`paired_difference_ci`). Given one value per seed for two
strategies, ``a_i`` and ``b_i`` (i = 1..n, paired by seed), the statistic is the mean of the
paired differences, ``mean(d)`` with ``d_i = a_i - b_i``. Its interval is the percentile
bootstrap interval (Efron & Tibshirani 1993, *An Introduction to the Bootstrap*, ch. 13):
resample the n pairs with replacement B times, compute ``mean(d*)`` for each resample, and take
the ``(1 - c)/2`` and ``(1 + c)/2`` quantiles of those B means (c = confidence level). The
percentile method is used on purpose: BCa needs a jackknife acceleration estimate that is
unstable with the handful of seeds a benchmark has (and undefined when the differences are
constant).

**Rank intervals** (:func:`rank_intervals`). Strategies are ranked by their mean over seeds
(rank 1 = best, ties share the average rank). The seeds are resampled with replacement, the same
seeds for every strategy (paired), the ranks recomputed, and each strategy's rank interval is the
percentile interval of its bootstrap ranks.

**Performance profiles** (:func:`performance_profile`; Dolan & Moré 2002, "Benchmarking
optimization software with performance profiles", *Math. Programming* 91:201-213). For task t
and strategy s with score ``x_ts`` (lower is better), the performance ratio is
``r_ts = x_ts / min_s' x_ts'`` (``max_s' x_ts' / x_ts`` when higher is better); a failed run
(non-finite or non-positive score) has ``r_ts = inf``. The profile of s is the fraction of tasks
it solves within a factor tau of the best, ``rho_s(tau) = |{t : r_ts <= tau}| / T``.

**Profile area** (:func:`profile_area`). With ``u = log2 tau`` and ``L = log2(tau_max)``, the
normalised area under the profile is ``A_s = (1/L) * integral_0^L rho_s(2^u) du``. Since
``rho_s`` is a mean of step functions ``1[log2 r_ts <= u]`` and ``r_ts >= 1``, each task adds
``integral_0^L 1[log2 r_ts <= u] du = max(0, L - log2 r_ts) = L - log2(min(r_ts, tau_max))``,
so, exactly,

    A_s = (1/T) * sum_t (1 - log2(min(r_ts, tau_max)) / L),

which is in [0, 1]: 1 when s is best on every task, 0 when it is never within tau_max of the
best (a failure, r = inf, adds 0). :func:`profile_area_ci` bootstraps it over tasks.
"""

from __future__ import annotations

import inspect
import warnings
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
from numpy.typing import ArrayLike
from scipy import stats

__all__ = ["PairedCI", "paired_difference_ci", "performance_profile", "profile_area",
           "profile_area_ci", "rank_intervals"]

# scipy >= 1.15 takes the generator as ``rng=``; older versions only as ``random_state=``.
_RNG_KEYWORD = "rng" if "rng" in inspect.signature(stats.bootstrap).parameters else "random_state"


@dataclass(frozen=True)
class PairedCI:
    """Mean of the paired differences ``d = a - b`` and the bootstrap interval of that mean.

    ``low``/``high`` are NaN when there is no interval (fewer than two pairs); ``mean`` is NaN
    when there are no pairs. ``n`` is the number of pairs used (after dropping non-finite ones).
    """

    mean: float
    low: float
    high: float
    n: int

    @property
    def excludes_zero(self) -> bool:
        """Whether the interval lies entirely on one side of zero (False when it is NaN)."""
        return bool(self.low > 0 or self.high < 0)


def _check_confidence(confidence: float, n_resamples: int) -> None:
    if not 0 < confidence < 1:
        raise ValueError(f"confidence must be in (0, 1), got {confidence!r}")
    if n_resamples < 1:
        raise ValueError(f"n_resamples must be at least 1, got {n_resamples!r}")


def _percentiles(samples: np.ndarray, confidence: float) -> tuple[np.ndarray, np.ndarray]:
    """Percentile interval along axis 0, ignoring NaN (all-NaN columns give NaN)."""
    alpha = (1 - confidence) / 2
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # all-NaN column -> NaN, no warning
        low, high = np.nanpercentile(samples, [100 * alpha, 100 * (1 - alpha)], axis=0)
    return low, high


def _rank(keys: np.ndarray) -> np.ndarray:
    """Average ranks (1 = smallest key) along the last axis; NaN keys get NaN and no rank."""
    keys = np.asarray(keys, dtype=float)
    missing = np.isnan(keys)
    ranks = stats.rankdata(np.where(missing, np.inf, keys), axis=-1).astype(float)
    ranks[missing] = np.nan  # +inf sorts last, so the others' ranks are unaffected
    return ranks


def paired_difference_ci(a: ArrayLike, b: ArrayLike, *, confidence: float = 0.95,
                         n_resamples: int = 9999, seed: int = 0) -> PairedCI:
    """Percentile-bootstrap interval for the mean of the paired differences ``a - b``.

    ``a`` and ``b`` hold one value per seed (e.g. log test ratios of two strategies, each at its
    own learning rate), paired by position. Pairs where either side is NaN or infinite are
    dropped first. The interval comes from :func:`scipy.stats.bootstrap` with ``paired=True``
    and ``method="percentile"`` (BCa is unstable with few seeds). Deterministic for a given
    ``seed``.

    Degenerate cases, handled without calling scipy:

    * no pairs: everything NaN, ``excludes_zero`` False;
    * one pair: ``mean = d``, ``low = high = NaN`` (one seed gives no interval);
    * zero spread (all ``d`` equal, up to rounding: ``ptp(d) <= 16 eps max(|a|, |b|)``): every
      resample has the same mean, so ``low = high = mean`` and ``excludes_zero`` is
      ``mean != 0``.
    """
    _check_confidence(confidence, n_resamples)
    a = np.asarray(a, dtype=float).ravel()
    b = np.asarray(b, dtype=float).ravel()
    if a.shape != b.shape:
        raise ValueError(f"a and b must have the same length, got {a.size} and {b.size}")
    keep = np.isfinite(a) & np.isfinite(b)
    a, b = a[keep], b[keep]
    d = a - b
    n = int(d.size)
    if n == 0:
        return PairedCI(mean=np.nan, low=np.nan, high=np.nan, n=0)
    mean = float(np.mean(d))
    if n == 1:
        return PairedCI(mean=mean, low=np.nan, high=np.nan, n=1)
    scale = max(np.max(np.abs(a)), np.max(np.abs(b)))
    if np.ptp(d) <= 16 * np.finfo(float).eps * scale:  # equal up to rounding of a - b
        return PairedCI(mean=mean, low=mean, high=mean, n=n)
    result = stats.bootstrap(
        (a, b), statistic=lambda x, y, axis: np.mean(x - y, axis=axis), paired=True,
        vectorized=True, confidence_level=confidence, n_resamples=n_resamples,
        method="percentile", **{_RNG_KEYWORD: np.random.default_rng(seed)})
    ci = result.confidence_interval
    return PairedCI(mean=mean, low=float(ci.low), high=float(ci.high), n=n)


def rank_intervals(scores: pd.DataFrame, *, lower_is_better: bool = True,
                   confidence: float = 0.95, n_resamples: int = 2000,
                   seed: int = 0) -> pd.DataFrame:
    """Rank of each strategy by its mean over seeds, with a paired-bootstrap rank interval.

    ``scores`` is indexed by strategy with one column per seed (column j of every row is the
    same seed). ``mean`` is the NaN-ignoring mean over seeds and ``rank`` its average rank on the
    full data (1 = best). Each bootstrap resample draws the seed columns with replacement, the
    same draw for every strategy, and recomputes means and ranks; ``rank_low``/``rank_high`` are
    the percentile interval of a strategy's ranks. A strategy with no finite value among the
    drawn seeds is left out of that resample's ranking; all-NaN rows get NaN throughout. Rows
    keep their order.
    """
    _check_confidence(confidence, n_resamples)
    values = scores.to_numpy(dtype=float)
    n_strategies, n_seeds = values.shape
    finite = np.isfinite(values)
    filled = np.where(finite, values, 0.0)
    sign = 1.0 if lower_is_better else -1.0
    with np.errstate(invalid="ignore", divide="ignore"):
        mean = filled.sum(axis=1) / finite.sum(axis=1)
    rank = _rank(sign * mean)
    if n_seeds == 0 or n_strategies == 0:
        low = high = np.full(n_strategies, np.nan)
    else:
        rng = np.random.default_rng(seed)
        # counts[k, j]: how often seed j is drawn in resample k (resampling with replacement).
        counts = rng.multinomial(n_seeds, np.full(n_seeds, 1 / n_seeds), size=n_resamples)
        with np.errstate(invalid="ignore", divide="ignore"):
            boot_means = (counts @ filled.T) / (counts @ finite.T.astype(float))
        low, high = _percentiles(_rank(sign * boot_means), confidence)
    return pd.DataFrame({"rank": rank, "rank_low": low, "rank_high": high, "mean": mean},
                        index=scores.index)


def _ratios(scores: pd.DataFrame, lower_is_better: bool) -> np.ndarray:
    """Performance ratios ``r_ts`` (inf = failure), tasks where every strategy failed dropped."""
    values = scores.to_numpy(dtype=float)
    ok = np.isfinite(values) & (values > 0)
    values, ok = values[ok.any(axis=1)], ok[ok.any(axis=1)]
    with np.errstate(invalid="ignore", divide="ignore"):
        if lower_is_better:
            best = np.where(ok, values, np.inf).min(axis=1, keepdims=True)
            ratios = values / best
        else:
            best = np.where(ok, values, -np.inf).max(axis=1, keepdims=True)
            ratios = best / values
    return np.where(ok, ratios, np.inf)


def performance_profile(scores: pd.DataFrame, taus: ArrayLike, *,
                        lower_is_better: bool = True) -> pd.DataFrame:
    """Dolan-Moré performance profile ``rho_s(tau)``, the fraction of tasks within tau of the best.

    ``scores`` is indexed by task (e.g. (dataset, seed)) with one column per strategy. The ratio
    is ``r_ts = x_ts / min_s x_ts`` (``max_s x_ts / x_ts`` when higher is better); a NaN,
    infinite or non-positive score is a failure (``r = inf``). Tasks where every strategy failed
    are dropped (with none left, every value is NaN). Returns one row per tau (sorted), one
    column per strategy.
    """
    taus = np.sort(np.asarray(taus, dtype=float).ravel())
    ratios = _ratios(scores, lower_is_better)
    if ratios.shape[0] == 0:
        profile = np.full((taus.size, scores.shape[1]), np.nan)
    else:
        profile = (ratios[None, :, :] <= taus[:, None, None]).mean(axis=1)
    return pd.DataFrame(profile, index=pd.Index(taus, name="tau"), columns=scores.columns)


def _area_terms(scores: pd.DataFrame, tau_max: float, lower_is_better: bool) -> np.ndarray:
    """Per-task contribution ``1 - log2(min(r_ts, tau_max)) / log2(tau_max)`` to the area."""
    if not tau_max > 1:
        raise ValueError(f"tau_max must be greater than 1, got {tau_max!r}")
    ratios = _ratios(scores, lower_is_better)
    return 1.0 - np.log2(np.minimum(ratios, tau_max)) / np.log2(tau_max)


def profile_area(scores: pd.DataFrame, *, tau_max: float = 4.0,
                 lower_is_better: bool = True) -> pd.Series:
    """Normalised area under each strategy's performance profile over log2 tau in [0, log2 tau_max].

    Exact (the profile is a step function), not sampled on a grid:
    ``area_s = (1/T) * sum_t (1 - log2(min(r_ts, tau_max)) / log2(tau_max))``, in [0, 1]; 1 means
    best on every task, and a failure (``r = inf``) or a ratio of at least ``tau_max`` adds 0.
    See the module docstring for the derivation. NaN when no task is left.
    """
    terms = _area_terms(scores, tau_max, lower_is_better)
    area = terms.mean(axis=0) if terms.shape[0] else np.full(scores.shape[1], np.nan)
    return pd.Series(area, index=scores.columns, name="area")


def profile_area_ci(scores: pd.DataFrame, *, tau_max: float = 4.0, lower_is_better: bool = True,
                    confidence: float = 0.95, n_resamples: int = 2000,
                    seed: int = 0) -> pd.DataFrame:
    """:func:`profile_area` with bootstrap intervals over tasks, and the rank by area.

    Tasks (rows of ``scores``) are resampled with replacement; the ratios are per task, so each
    resample's area is the mean of the drawn tasks' terms. ``area_low``/``area_high`` are the
    percentile interval of the areas; ``rank`` is the average rank by area on the full data
    (1 = largest area) and ``rank_low``/``rank_high`` the percentile interval of the ranks over
    the same resamples. One row per strategy.
    """
    _check_confidence(confidence, n_resamples)
    terms = _area_terms(scores, tau_max, lower_is_better)
    n_tasks, n_strategies = terms.shape
    columns: dict[str, Any]
    if n_tasks == 0:
        nan = np.full(n_strategies, np.nan)
        columns = dict.fromkeys(("area", "area_low", "area_high", "rank", "rank_low",
                                 "rank_high"), nan)
    else:
        area = terms.mean(axis=0)
        rng = np.random.default_rng(seed)
        counts = rng.multinomial(n_tasks, np.full(n_tasks, 1 / n_tasks), size=n_resamples)
        boot_area = counts @ terms / n_tasks
        area_low, area_high = _percentiles(boot_area, confidence)
        rank_low, rank_high = _percentiles(_rank(-boot_area), confidence)
        columns = {"area": area, "area_low": area_low, "area_high": area_high,
                   "rank": _rank(-area), "rank_low": rank_low, "rank_high": rank_high}
    return pd.DataFrame(columns, index=scores.columns)
