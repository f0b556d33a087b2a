"""AR(1): x_t = phi x_{t-1} + eps_t with phi spread over lin(0.5, 0.99).

Channel c of C has phi = linspace(0.5, 0.99, C)[c]; sigma2 = scale^2 is the stationary variance
and Var(eps) = q = (1 - phi^2) sigma2. Autocovariance gamma_k = sigma2 phi^k. Exact floors:

* variance     sigma2;
* bayes        q = (1 - phi^2) sigma2 (the best predictor is phi x_t);
* persistence  2 (gamma_0 - gamma_1) = 2 (1 - phi) sigma2.

x_0 ~ N(0, sigma2), so every sequence is stationary from its first step.
"""

from __future__ import annotations

import numpy as np

from bench.processes import Floors, ar1_autocovariance, ar1_channels, floors_from_autocovariance


def params(channels: int, scale: float) -> dict[str, np.ndarray]:
    """``phi`` and the innovation variance ``q`` per channel."""
    var = float(scale) ** 2
    phi = np.linspace(0.5, 0.99, channels)
    return {"phi": phi, "q": (1.0 - phi**2) * var}


def autocovariance(lags: int, channels: int, scale: float) -> np.ndarray:
    """gamma_k = scale^2 phi^k for k = 0..lags, shape (lags + 1, C)."""
    return ar1_autocovariance(params(channels, scale)["phi"], lags, scale)


def floors(channels: int, scale: float) -> Floors:
    """variance sigma2, bayes (1 - phi^2) sigma2, persistence 2 (1 - phi) sigma2."""
    return floors_from_autocovariance(
        autocovariance(1, channels, scale), params(channels, scale)["q"]
    )


def sample(
    rng: np.random.Generator, n_seq: int, length: int, channels: int, scale: float
) -> np.ndarray:
    """Stationary paths, channel by channel, shape (n_seq, length, C)."""
    return ar1_channels(rng, params(channels, scale)["phi"], scale**2, n_seq, length)
