"""AR(2) with complex roots: damped oscillations with periods from 5 to 50 steps.

x_t = phi1 x_{t-1} + phi2 x_{t-2} + eps_t with characteristic roots r exp(+-i omega):
phi1 = 2 r cos(omega), phi2 = -r^2, r = linspace(0.9, 0.97, C), period 2 pi / omega =
geomspace(5, 50, C). sigma2 = scale^2 is the stationary variance,
Var(x) = (1 - phi2) Var(eps) / ((1 + phi2) ((1 - phi2)^2 - phi1^2)), which fixes
q = Var(eps) given sigma2. Autocovariance: gamma_0 = sigma2, gamma_1 = rho1 sigma2 with
rho1 = phi1 / (1 - phi2), gamma_k = phi1 gamma_{k-1} + phi2 gamma_{k-2} (Yule-Walker). Exact floors:

* variance     sigma2;
* bayes        q (the best predictor is phi1 x_t + phi2 x_{t-1});
* persistence  2 sigma2 (1 - rho1).

(x_0, x_1) is drawn from its stationary 2 x 2 Gaussian law, so every sequence is stationary from
its first step.
"""

from __future__ import annotations

import numpy as np

from bench.processes import Floors, ar_paths, floors_from_autocovariance

# the parameters that name a channel in the report's per-channel table
LABEL_PARAMS = ("period", "r")


def params(channels: int, scale: float) -> dict[str, np.ndarray]:
    """``phi1``, ``phi2``, the innovation variance ``q``, and the roots' modulus ``r`` and
    oscillation ``period`` 2π/ω per channel."""
    var = float(scale) ** 2
    r = np.linspace(0.9, 0.97, channels)
    omega = 2.0 * np.pi / np.geomspace(5.0, 50.0, channels)
    phi1, phi2 = 2.0 * r * np.cos(omega), -(r**2)
    q = var * (1.0 + phi2) * ((1.0 - phi2) ** 2 - phi1**2) / (1.0 - phi2)
    return {"phi1": phi1, "phi2": phi2, "q": q, "r": r, "period": 2.0 * np.pi / omega}


def autocovariance(lags: int, channels: int, scale: float) -> np.ndarray:
    """gamma_0..gamma_lags by the Yule-Walker recursion, shape (lags + 1, C)."""
    p = params(channels, scale)
    gamma = np.empty((lags + 1, channels))
    gamma[0] = scale**2
    if lags >= 1:
        gamma[1] = scale**2 * p["phi1"] / (1.0 - p["phi2"])
    for j in range(2, lags + 1):
        gamma[j] = p["phi1"] * gamma[j - 1] + p["phi2"] * gamma[j - 2]
    return gamma


def floors(channels: int, scale: float) -> Floors:
    """variance sigma2, bayes q, persistence 2 sigma2 (1 - rho1)."""
    return floors_from_autocovariance(
        autocovariance(1, channels, scale), params(channels, scale)["q"]
    )


def sample(
    rng: np.random.Generator, n_seq: int, length: int, channels: int, scale: float
) -> np.ndarray:
    """Stationary paths, channel by channel, shape (n_seq, length, C): (x_0, x_1) from the
    stationary law, then the innovations."""
    p = params(channels, scale)
    gamma = autocovariance(1, channels, scale)
    out = np.empty((n_seq, length, channels))
    for c in range(channels):
        g0, g1 = gamma[:, c]
        x01 = rng.multivariate_normal([0.0, 0.0], [[g0, g1], [g1, g0]], n_seq)
        eps = rng.normal(0.0, np.sqrt(p["q"][c]), (n_seq, length - 2))
        out[:, :, c] = ar_paths(np.array([p["phi1"][c], p["phi2"][c]]), x01, eps)
    return out
