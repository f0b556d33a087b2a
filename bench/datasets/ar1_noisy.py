"""AR(1) seen through white noise (20 % of the variance): the Bayes predictor is a Kalman filter.

s_t = phi s_{t-1} + w_t, y_t = s_t + v_t (only y is observed), phi = linspace(0.8, 0.98, C).
With sigma2 = scale^2: Var(v) = r = 0.2 sigma2, Var(s) = 0.8 sigma2,
Var(w) = q = (1 - phi^2) Var(s), so Var(y) = sigma2.
Autocovariance gamma_k = Var(s) phi^k + r [k = 0]. Exact floors:

* variance     Var(s) + r = sigma2;
* bayes        P + r, the steady-state innovation variance of the Kalman filter, where the
               predicted state variance P solves P = phi^2 P r / (P + r) + q, i.e.
               P = (-a + sqrt(a^2 + 4 q r)) / 2 with a = r (1 - phi^2) - q
               (see :func:`bench.processes.noisy_ar1_floors`);
* persistence  2 (1 - phi) Var(s) + 2 r.

s_0 ~ N(0, Var(s)), so every sequence is stationary from its first step.
"""

from __future__ import annotations

import numpy as np

from bench.processes import Floors, noisy_ar1_floors, stationary_ar1

OBS_FRACTION = 0.2  # share of the variance that is observation noise


def params(channels: int, scale: float) -> dict[str, np.ndarray]:
    """``phi``, state innovation variance ``q`` and observation noise variance ``r``."""
    var = float(scale) ** 2
    phi = np.linspace(0.8, 0.98, channels)
    state_var = (1.0 - OBS_FRACTION) * var
    r = np.full(channels, OBS_FRACTION * var)
    return {"phi": phi, "q": (1.0 - phi**2) * state_var, "r": r}


def autocovariance(lags: int, channels: int, scale: float) -> np.ndarray:
    """gamma_k = Var(s) phi^k + r [k = 0] for k = 0..lags, shape (lags + 1, C)."""
    p = params(channels, scale)
    k = np.arange(lags + 1)[:, None]
    state_var = p["q"] / (1.0 - p["phi"] ** 2)
    return state_var * p["phi"] ** k + np.where(k == 0, p["r"], 0.0)


def floors(channels: int, scale: float) -> Floors:
    """Kalman steady state: bayes P + r; variance sigma2; persistence 2 (1 - phi) Var(s) + 2 r."""
    p = params(channels, scale)
    return noisy_ar1_floors(p["phi"], p["q"], p["r"])


def sample(
    rng: np.random.Generator, n_seq: int, length: int, channels: int, scale: float
) -> np.ndarray:
    """Stationary paths, channel by channel (state path, then its observation noise), shape
    (n_seq, length, C)."""
    p = params(channels, scale)
    out = np.empty((n_seq, length, channels))
    for c in range(channels):
        state_var = p["q"][c] / (1.0 - p["phi"][c] ** 2)
        s = stationary_ar1(rng, p["phi"][c], state_var, n_seq, length)
        out[:, :, c] = s + rng.normal(0.0, np.sqrt(p["r"][c]), (n_seq, length))
    return out
