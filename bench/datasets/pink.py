"""Pink (1/f^alpha) noise as a sum of 8 AR(1) components, alpha from 0.5 to 1.5.

x_t = sum_k z_{k,t}, K = 8 independent stationary AR(1) components z_k with poles
p_k = exp(-1 / tau_k), tau = geomspace(1, 128, 8), and variances w_k proportional to
tau_k^(alpha - 1), normalised so that sum_k w_k = sigma2 = scale^2. This gives a spectrum
~ f^-alpha between the corner frequencies; alpha = linspace(0.5, 1.5, C).
Autocovariance gamma_j = sum_k w_k p_k^j exactly. Exact floors:

* variance     sigma2;
* bayes        lim_L det(Gamma_{L+1}) / det(Gamma_L), evaluated as the order-512 Levinson-Durbin
               prediction error (converged to < 1e-8 relative);
* persistence  2 (gamma_0 - gamma_1).

Every component starts from its stationary law, so every sequence is stationary from its first
step.
"""

from __future__ import annotations

import numpy as np

from bench.processes import Floors, floors_from_autocovariance, stationary_ar1

TAUS = np.geomspace(1.0, 128.0, 8)  # component time constants (steps)
LEVINSON_ORDER = 512


def params(channels: int, scale: float) -> dict[str, np.ndarray]:
    """``alpha`` (C,), component ``poles`` and ``weights`` (variances) of shape (C, K)."""
    var = float(scale) ** 2
    alpha = np.linspace(0.5, 1.5, channels)
    weights = TAUS[None, :] ** (alpha[:, None] - 1.0)
    weights *= var / weights.sum(axis=1, keepdims=True)
    poles = np.broadcast_to(np.exp(-1.0 / TAUS), weights.shape).copy()
    return {"alpha": alpha, "poles": poles, "weights": weights}


def autocovariance(lags: int, channels: int, scale: float) -> np.ndarray:
    """gamma_j = sum_k w_k p_k^j for j = 0..lags, shape (lags + 1, C)."""
    p = params(channels, scale)
    k = np.arange(lags + 1)[:, None]
    return np.einsum("ck,jck->jc", p["weights"], p["poles"][None] ** k[:, :, None])


def floors(channels: int, scale: float) -> Floors:
    """variance sigma2, bayes by order-512 Levinson-Durbin, persistence 2 (gamma_0 - gamma_1)."""
    return floors_from_autocovariance(autocovariance(LEVINSON_ORDER, channels, scale))


def sample(
    rng: np.random.Generator, n_seq: int, length: int, channels: int, scale: float
) -> np.ndarray:
    """Stationary paths, channel by channel and component by component, shape (n_seq, length, C)."""
    p = params(channels, scale)
    out = np.empty((n_seq, length, channels))
    for c in range(channels):
        out[:, :, c] = sum(
            stationary_ar1(rng, pole, w, n_seq, length)
            for pole, w in zip(p["poles"][c], p["weights"][c], strict=True)
        )
    return out
