"""Real one-step prediction benchmarks: chronological splits, an AR baseline and simple floors.

A real-series dataset (``KIND = "series"`` in its module, e.g. ``bench/datasets/co2.py``) is
one fixed, finite array ``x`` of shape (T, C) (time, channels), shipped with statsmodels, so
nothing is downloaded at run time. Unlike the synthetic processes (:mod:`bench.processes`),
its Bayes floor is unknown; the reference numbers are an AR baseline and two trivial floors.

Protocol
--------
1. **Split** (:func:`split`): ``x`` is cut in time order, without shuffling, into
   train = x[0 : n_tr], val = x[n_tr : n_tr + n_va], test = x[n_tr + n_va : T] with
   n_tr = round(f_tr T), n_va = round(f_va T), n_te = T - n_tr - n_va (default fractions
   0.6 / 0.2 / 0.2, every part >= :data:`MIN_PART` steps). Every part is standardised with the
   TRAINING part's per-channel statistics, z = (x - mu_tr) / sd_tr (``np.std``, ddof = 0), so
   the training part has mean 0 and standard deviation 1 per channel and the validation and
   test parts carry no information from themselves into the scaling. All MSEs below are in
   these standardised units (multiply by sd_tr**2 for the dataset's own units).
2. **Task**: predict z_test[t + 1] from z_test[<= t] (and, for models that use it, the earlier
   history), for t = 0 .. n_te - 2. The scored targets are therefore z_test[1:], n_te - 1 of
   them; every number reported here is a mean over exactly those targets.
3. **LSTM training pool** (:func:`windows`): random contiguous windows of one part (train for
   fitting, val for model selection).

Reference predictors on the test targets, per channel c
-------------------------------------------------------
* AR baseline (:func:`ar_baseline`): the order p is chosen by AIC on the training part
  (``ar_select_order(..., ic="aic", trend="c", glob=False)``: orders 0..max_lag compared on
  the same sample), then AutoReg(p) with a constant is fitted by OLS on the whole training
  part, giving c and phi_1..phi_p. With h = [z_val, z_test] (so the lags of the first test
  targets come from the end of the validation part) and v = n_va,

      z_hat_test[t + 1] = c + sum_{k=1}^{p} phi_k h[v + t + 1 - k],   t = 0 .. n_te - 2,

  always with the actual (not predicted) past values: a one-step, parameters-frozen forecast.
  With p = 0 the prediction is the constant c (the training mean, 0 in these units).
* persistence (:func:`persistence_mse`): z_hat[t + 1] = z[t], MSE = mean_t (z[t+1] - z[t])^2.
* variance (:func:`variance`): ``np.var(z_test[1:])``, the MSE of predicting the test targets'
  own mean (an optimistic "predict the mean" floor, since that mean is not known in advance).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

__all__ = [
    "MIN_PART",
    "ARBaseline",
    "Split",
    "ar_baseline",
    "describe",
    "part_lengths",
    "persistence_mse",
    "split",
    "variance",
    "windows",
]

MIN_PART = 32  # shortest allowed train / val / test part, in time steps
FRACTIONS = (0.6, 0.2, 0.2)
PART_NAMES = ("train", "val", "test")


@dataclass(frozen=True)
class Split:
    """Chronological train / val / test parts, each (T_part, C) float64, standardised with the
    training part's per-channel ``mean`` and ``std`` (both (C,), in the series' own units)."""

    train: np.ndarray
    val: np.ndarray
    test: np.ndarray
    mean: np.ndarray
    std: np.ndarray


@dataclass(frozen=True)
class ARBaseline:
    """Per-channel AR baseline: chosen order ``lags[c]`` = p, fitted ``params[c]`` = [c, phi_1..
    phi_p] (length p + 1), one-step ``test_mse`` (C,) on the test targets test[1:], and the
    ``predictions`` (T_test - 1, C) of those targets."""

    lags: list[int]
    params: list[np.ndarray]
    test_mse: np.ndarray
    predictions: np.ndarray


def _as_2d(series: np.ndarray, what: str = "series") -> np.ndarray:
    x = np.asarray(series, dtype=np.float64)
    if x.ndim == 1:
        x = x[:, None]
    if x.ndim != 2:
        raise ValueError(f"{what} must be 1-D (T,) or 2-D (T, C), got shape {x.shape}")
    return x


def part_lengths(n_steps: int, fractions: Sequence[float] = FRACTIONS) -> tuple[int, int, int]:
    """Lengths (n_train, n_val, n_test) of the parts of a series of ``n_steps`` steps:
    round(f_train T), round(f_val T) and the rest. Raises ``ValueError`` for fractions that are
    not three positive numbers summing to 1, or for a part shorter than :data:`MIN_PART`."""
    f = np.asarray(fractions, dtype=np.float64)
    if f.shape != (3,):
        raise ValueError(f"fractions must be three numbers (train, val, test), got {fractions!r}")
    if not np.all(np.isfinite(f)) or np.any(f <= 0):
        raise ValueError(f"fractions must all be > 0, got {fractions!r}")
    if abs(f.sum() - 1.0) > 1e-9:
        raise ValueError(f"fractions must sum to 1, got {fractions!r} (sum {f.sum():.6g})")
    n_train = int(round(f[0] * n_steps))
    n_val = int(round(f[1] * n_steps))
    lengths = (n_train, n_val, n_steps - n_train - n_val)
    for name, n in zip(PART_NAMES, lengths, strict=True):
        if n < MIN_PART:
            raise ValueError(
                f"{name} part has {n} steps, fewer than {MIN_PART} (series of {n_steps} steps, "
                f"fractions {tuple(float(v) for v in f)})")
    return lengths


def split(series: np.ndarray, fractions: Sequence[float] = FRACTIONS) -> Split:
    """Chronological train / val / test split of ``series`` (T, C) (a 1-D series becomes
    (T, 1)), standardised with the training part's per-channel mean and std.

    Raises ``ValueError`` for NaN or infinite values, fractions that do not sum to 1, a part
    shorter than :data:`MIN_PART` steps, or a channel that is constant on the training part.
    """
    x = _as_2d(series)
    if np.isnan(x).any():
        bad = np.flatnonzero(np.isnan(x).any(axis=1))
        raise ValueError(f"series contains NaN at {bad.size} time step(s) (first at t={bad[0]})"
                         "; fill or drop them first")
    if not np.isfinite(x).all():
        raise ValueError("series contains infinite values")
    n_train, n_val, _ = part_lengths(x.shape[0], fractions)
    train = x[:n_train]
    mean = train.mean(axis=0)
    std = train.std(axis=0)
    if np.any(std == 0):
        raise ValueError(f"channel(s) {np.flatnonzero(std == 0).tolist()} are constant on the "
                         "training part (std 0), cannot standardise")
    z = (x - mean) / std
    return Split(train=z[:n_train], val=z[n_train : n_train + n_val],
                 test=z[n_train + n_val :], mean=mean, std=std)


def ar_baseline(split: Split, max_lag: int = 24) -> ARBaseline:
    """AR(p) one-step baseline per channel, p chosen by AIC (0..``max_lag``) and fitted on the
    training part, scored on the test targets ``split.test[1:]`` (see the module docstring)."""
    if max_lag < 0:
        raise ValueError(f"max_lag must be >= 0, got {max_lag!r}")
    if max_lag > split.val.shape[0]:
        raise ValueError(f"max_lag ({max_lag}) exceeds the validation part ({split.val.shape[0]}"
                         " steps), which supplies the lags of the first test targets")
    # imported here, not with the module: every process that lists the datasets imports this
    # module, and statsmodels' time-series models are slow to import
    from statsmodels.tsa.ar_model import AutoReg, ar_select_order

    history = np.concatenate([split.val, split.test])
    v, n_test = split.val.shape[0], split.test.shape[0]
    targets = split.test[1:]
    lags: list[int] = []
    params: list[np.ndarray] = []
    predictions = np.empty_like(targets)
    for c in range(split.train.shape[1]):
        train_c = split.train[:, c]
        chosen = ar_select_order(train_c, maxlag=max_lag, ic="aic", trend="c", glob=False)
        p = len(chosen.ar_lags or [])
        coef = np.asarray(AutoReg(train_c, lags=p, trend="c").fit().params, dtype=np.float64)
        h = history[:, c]
        pred = np.full(n_test - 1, coef[0])
        t1 = v + 1 + np.arange(n_test - 1)  # index in h of each target test[t + 1]
        for k in range(1, p + 1):
            pred += coef[k] * h[t1 - k]
        lags.append(p)
        params.append(coef)
        predictions[:, c] = pred
    test_mse = np.mean((targets - predictions) ** 2, axis=0)
    return ARBaseline(lags=lags, params=params, test_mse=test_mse, predictions=predictions)


def persistence_mse(part: np.ndarray) -> np.ndarray:
    """Per-channel MSE (C,) of predicting x[t + 1] = x[t]: mean_t (x[t+1] - x[t])^2."""
    x = _as_2d(part, "part")
    return np.mean(np.diff(x, axis=0) ** 2, axis=0)


def variance(part: np.ndarray) -> np.ndarray:
    """Per-channel ``np.var(part[1:])`` (C,): the MSE of predicting the targets' own mean."""
    return np.var(_as_2d(part, "part")[1:], axis=0)


def windows(part: np.ndarray, n: int, length: int, rng: np.random.Generator) -> np.ndarray:
    """``n`` random contiguous windows of ``length`` steps from one part, (n, length, C); the
    start of each is uniform over 0 .. T_part - length and drawn from ``rng``."""
    x = _as_2d(part, "part")
    if n < 1:
        raise ValueError(f"n must be >= 1, got {n!r}")
    if length < 2:
        raise ValueError(f"length must be >= 2, got {length!r}")
    if x.shape[0] < length:
        raise ValueError(f"part has {x.shape[0]} steps, shorter than the window length {length}")
    starts = rng.integers(0, x.shape[0] - length + 1, size=n)
    return x[starts[:, None] + np.arange(length)]


def describe(series: np.ndarray, max_lag: int = 24) -> dict[str, np.ndarray]:
    """Cheap per-channel descriptive parameters on the training part of the default split:
    ``train_mean`` and ``train_std`` (series units), ``lag1_autocorrelation`` (standardised
    training part, sum z[t] z[t+1] / sum z[t]^2) and ``ar_order`` (AIC order, as
    :func:`ar_baseline`)."""
    from statsmodels.tsa.ar_model import ar_select_order  # as in ar_baseline

    s = split(series)
    z = s.train
    rho1 = np.sum(z[1:] * z[:-1], axis=0) / np.sum(z * z, axis=0)
    order = np.array([
        len(ar_select_order(z[:, c], maxlag=max_lag, ic="aic", trend="c", glob=False).ar_lags
            or [])
        for c in range(z.shape[1])
    ])
    return {"train_mean": s.mean, "train_std": s.std, "lag1_autocorrelation": rho1,
            "ar_order": order}
