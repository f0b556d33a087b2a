"""Ornstein-Uhlenbeck sampled at unit steps: exactly AR(1) with phi = exp(-theta).

dX = -theta X ds + sqrt(2 theta sigma2) dW, sampled at Delta = 1, with theta spread over
geomspace(0.02, 2.0, C) (correlation times from 50 steps down to half a step); sigma2 = scale^2 is
the stationary variance. The samples are exactly an AR(1) with phi = exp(-theta Delta) and
Var(eps) = q = sigma2 (1 - exp(-2 theta Delta)); gamma_k = sigma2 exp(-theta k). Exact floors:

* variance     sigma2;
* bayes        sigma2 (1 - exp(-2 theta Delta));
* persistence  2 sigma2 (1 - exp(-theta Delta)).

x_0 ~ N(0, sigma2), so every sequence is stationary from its first step.
"""

from __future__ import annotations

import numpy as np

from bench.processes import Floors, ar1_autocovariance, ar1_channels, floors_from_autocovariance


def params(channels: int, scale: float) -> dict[str, np.ndarray]:
    """``theta``, the equivalent AR(1) ``phi = exp(-theta)`` and innovation variance ``q``."""
    var = float(scale) ** 2
    theta = np.geomspace(0.02, 2.0, channels)
    phi = np.exp(-theta)
    return {"theta": theta, "phi": phi, "q": (1.0 - phi**2) * var}


def autocovariance(lags: int, channels: int, scale: float) -> np.ndarray:
    """gamma_k = scale^2 exp(-theta k) for k = 0..lags, shape (lags + 1, C)."""
    return ar1_autocovariance(params(channels, scale)["phi"], lags, scale)


def floors(channels: int, scale: float) -> Floors:
    """variance sigma2, bayes sigma2 (1 - exp(-2 theta)), persistence 2 sigma2 (1 - exp(-theta))."""
    return floors_from_autocovariance(
        autocovariance(1, channels, scale), params(channels, scale)["q"]
    )


def sample(
    rng: np.random.Generator, n_seq: int, length: int, channels: int, scale: float
) -> np.ndarray:
    """Stationary paths, channel by channel, shape (n_seq, length, C)."""
    return ar1_channels(rng, params(channels, scale)["phi"], scale**2, n_seq, length)
