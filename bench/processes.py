"""Shared maths of the synthetic datasets: floors, linear prediction, AR path sampling.

Every dataset module (``bench/datasets/*.py``, or a third-party one) may import from here.
Notation: ``gamma_k`` is the lag-k autocovariance of one channel, sigma2 = gamma_0 its variance.

The three one-step error floors of a zero-mean stationary Gaussian channel (see :class:`Floors`):

* variance     gamma_0 (MSE of always predicting the mean 0);
* bayes        MSE of E[x_{t+1} | x_t, x_{t-1}, ...], the best possible one-step predictor given
               the infinite past; for a Gaussian process this is the innovation variance
               lim_L det(Gamma_{L+1}) / det(Gamma_L) (Gamma_L the L x L Toeplitz autocovariance
               matrix), which is the limit of the Levinson-Durbin prediction error;
* persistence  MSE of predicting x_{t+1} = x_t, i.e. 2 (gamma_0 - gamma_1).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class Floors:
    """Per-channel one-step error floors, each of shape (C,)."""

    variance: np.ndarray
    bayes: np.ndarray
    persistence: np.ndarray

    def as_dict(self) -> dict[str, float]:
        """Channel means of the three floors."""
        return {
            "variance": float(np.mean(self.variance)),
            "bayes": float(np.mean(self.bayes)),
            "persistence": float(np.mean(self.persistence)),
        }


def levinson_durbin(acov: np.ndarray, order: int) -> tuple[np.ndarray, np.ndarray]:
    """Best linear order-``order`` predictor of a stationary series from its autocovariance.

    Returns ``(a, mse)``: x_hat_t = sum_{k=1}^{order} a[k-1] x_{t-k}, and ``mse[L]`` is the
    prediction error variance of the order-L predictor (``mse[0] = acov[0]``), i.e.
    det(Gamma_{L+1}) / det(Gamma_L).
    """
    acov = np.asarray(acov, dtype=np.float64)
    a = np.zeros(0)
    mse = np.empty(order + 1)
    mse[0] = acov[0]
    for m in range(1, order + 1):
        kappa = (acov[m] - a @ acov[m - 1 : 0 : -1]) / mse[m - 1]
        a = np.concatenate([a - kappa * a[::-1], [kappa]])
        mse[m] = mse[m - 1] * (1.0 - kappa**2)
    return a, mse


def floors_from_autocovariance(gamma: np.ndarray, bayes: np.ndarray | None = None) -> Floors:
    """Floors of each channel from its autocovariance ``gamma`` (L + 1, C), L >= 1.

    variance = gamma_0, persistence = 2 (gamma_0 - gamma_1). ``bayes``: the closed form when
    known; if ``None``, the order-L Levinson-Durbin prediction error of each channel (exact in
    the limit L -> infinity; choose L so that it has converged).
    """
    gamma = np.asarray(gamma, dtype=np.float64)
    if bayes is None:
        order = gamma.shape[0] - 1
        bayes = np.array(
            [levinson_durbin(gamma[:, c], order)[1][-1] for c in range(gamma.shape[1])]
        )
    else:
        bayes = np.asarray(bayes, dtype=np.float64).copy()
    return Floors(variance=gamma[0].copy(), bayes=bayes, persistence=2.0 * (gamma[0] - gamma[1]))


def noisy_ar1_floors(
    phi: np.ndarray | float, q: np.ndarray | float, r: np.ndarray | float
) -> Floors:
    """Unnormalised floors of y = s + v, s_t = phi s_{t-1} + w_t, Var(w) = q, Var(v) = r.

    The steady-state Kalman predicted state variance P solves P = phi^2 P r / (P + r) + q, i.e.
    P = (-a + sqrt(a^2 + 4 q r)) / 2 with a = r (1 - phi^2) - q; bayes = P + r (the innovation
    variance), variance = Var(s) + r with Var(s) = q / (1 - phi^2), and
    persistence = 2 (1 - phi) Var(s) + 2 r.
    """
    phi, q, r = (np.atleast_1d(np.asarray(v, dtype=np.float64)) for v in (phi, q, r))
    a = r * (1.0 - phi**2) - q
    p_pred = (-a + np.sqrt(a**2 + 4.0 * q * r)) / 2.0
    state_var = q / (1.0 - phi**2)
    return Floors(
        variance=state_var + r,
        bayes=p_pred + r,
        persistence=2.0 * (1.0 - phi) * state_var + 2.0 * r,
    )


def ar_paths(coefs: np.ndarray, init: np.ndarray, innov: np.ndarray) -> np.ndarray:
    """Continue AR(p) paths x_t = sum_{k=1}^p coefs[k-1] x_{t-k} + innov_t from ``init``
    (n, p; oldest first) with innovations ``innov`` (n, T - p); returns (n, T)."""
    from scipy.signal import lfilter  # here: a slow import that only this function needs

    a = np.concatenate([[1.0], -np.asarray(coefs)])
    p = len(coefs)
    # Direct-form-II-transposed state so the filter remembers x_{p-1}, ..., x_0.
    zi = np.stack(
        [sum(coefs[j] * init[:, p - 1 - (j - m)] for j in range(m, p)) for m in range(p)], axis=1
    )
    tail = lfilter([1.0], a, innov, axis=1, zi=zi)[0]
    return np.concatenate([init, tail], axis=1)


def stationary_ar1(
    rng: np.random.Generator, phi: float, var: float, n_seq: int, length: int
) -> np.ndarray:
    """``n_seq`` stationary AR(1) paths x_t = phi x_{t-1} + eps_t with Var(x) = ``var``, shape
    (n_seq, length): x_0 ~ N(0, var), Var(eps) = (1 - phi^2) var.

    Draw order (part of every dataset's reproducibility): x_0 for all paths, then the
    innovations, row by row.
    """
    x0 = rng.normal(0.0, np.sqrt(var), (n_seq, 1))
    eps = rng.normal(0.0, np.sqrt(var * (1.0 - phi**2)), (n_seq, length - 1))
    return ar_paths(np.array([phi]), x0, eps)


def ar1_autocovariance(phi: np.ndarray, lags: int, scale: float) -> np.ndarray:
    """gamma_k = scale^2 phi^k for k = 0..lags of stationary AR(1) channels, shape (lags + 1, C)."""
    k = np.arange(lags + 1)[:, None]
    return scale**2 * np.asarray(phi)[None, :] ** k


def ar1_channels(
    rng: np.random.Generator, phi: np.ndarray, var: float, n_seq: int, length: int
) -> np.ndarray:
    """Stationary AR(1) paths of stationary variance ``var``, one channel per ``phi`` (drawn in
    channel order from ``rng``), shape (n_seq, length, C)."""
    out = np.empty((n_seq, length, len(phi)))
    for c, p in enumerate(phi):
        out[:, :, c] = stationary_ar1(rng, p, var, n_seq, length)
    return out
