"""Synthetic autocorrelated Gaussian noise with exactly known one-step error floors.

Every dataset has ``C`` independent channels. Each channel is a zero-mean stationary
Gaussian process normalised so that Var(x) = scale**2, and every sequence starts from
the stationary distribution (no burn-in). Per-channel parameters are spread
deterministically over the channels (channel ``c`` of ``C``; ``lin(a, b)`` means
``np.linspace(a, b, C)`` and ``geo(a, b)`` means ``np.geomspace(a, b, C)``). Below,
sigma2 = scale**2 is the stationary variance and gamma_k the lag-k autocovariance.

Three floors are reported per channel (see :class:`Floors`):

* variance     gamma_0 = sigma2 (MSE of always predicting 0, the mean);
* bayes        MSE of E[x_{t+1} | x_t, x_{t-1}, ...], the best possible one-step predictor
               given the infinite past;
* persistence  MSE of predicting x_{t+1} = x_t, i.e. 2 (gamma_0 - gamma_1).

Processes (eps_t, w_t, v_t are i.i.d. zero-mean Gaussians):

``ar1``        x_t = phi x_{t-1} + eps_t,  phi = lin(0.5, 0.99),  Var(eps) = (1 - phi^2) sigma2.
               bayes = (1 - phi^2) sigma2,  persistence = 2 (1 - phi) sigma2.

``ar2``        x_t = phi1 x_{t-1} + phi2 x_{t-2} + eps_t with complex roots of modulus r and
               angle omega: phi1 = 2 r cos(omega), phi2 = -r^2, r = lin(0.9, 0.97),
               period 2 pi / omega = geo(5, 50).
               Var(x) = (1 - phi2) Var(eps) / ((1 + phi2) ((1 - phi2)^2 - phi1^2)), which fixes
               Var(eps) given sigma2.  bayes = Var(eps),  persistence = 2 sigma2 (1 - rho1),
               rho1 = phi1 / (1 - phi2).  (x_0, x_1) is drawn from its stationary 2x2 law.

``ou``         Ornstein-Uhlenbeck dX = -theta X ds + sqrt(2 theta sigma2) dW sampled at
               Delta = 1, theta = geo(0.02, 2.0). Exactly an AR(1) with phi = exp(-theta Delta):
               bayes = sigma2 (1 - exp(-2 theta Delta)),
               persistence = 2 sigma2 (1 - exp(-theta Delta)).

``ar1_noisy``  s_t = phi s_{t-1} + w_t,  y_t = s_t + v_t (y is observed),  phi = lin(0.8, 0.98),
               Var(v) = R = 0.2 sigma2, Var(s) = 0.8 sigma2, Var(w) = Q = (1 - phi^2) Var(s).
               The steady-state Kalman predicted state variance P solves
               P = phi^2 P R / (P + R) + Q, i.e. P = (-a + sqrt(a^2 + 4 Q R)) / 2 with
               a = R (1 - phi^2) - Q, and bayes = P + R (the innovation variance).
               persistence = 2 (1 - phi) Var(s) + 2 R.  See :func:`noisy_ar1_floors`.

``pink``       1/f^alpha noise built as a sum of K = 8 independent stationary AR(1)
               components with poles p_k = exp(-1 / tau_k), tau = geomspace(1, 128, 8), and
               variances w_k proportional to tau_k^(alpha - 1) (summing to sigma2), which
               gives a spectrum ~ f^-alpha between the corner frequencies.
               alpha = lin(0.5, 1.5).  gamma_j = sum_k w_k p_k^j exactly, and
               bayes = lim_L det(Gamma_{L+1}) / det(Gamma_L), evaluated as the order-512
               Levinson-Durbin prediction error (converged to < 1e-8 relative);
               persistence = 2 (gamma_0 - gamma_1).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy.signal import lfilter

DATASETS: tuple[str, ...] = ("ar1", "ar2", "ou", "ar1_noisy", "pink")

PINK_TAUS = np.geomspace(1.0, 128.0, 8)
NOISY_OBS_FRACTION = 0.2
LEVINSON_ORDER = 512


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


def _check_name(name: str) -> None:
    if name not in DATASETS:
        raise ValueError(f"unknown dataset {name!r}; valid names: {', '.join(DATASETS)}")


def _check_min(arg: str, value: float, minimum: float, strict: bool = False) -> None:
    ok = value > minimum if strict else value >= minimum
    if not ok:
        bound = f"> {minimum}" if strict else f">= {minimum}"
        raise ValueError(f"{arg} must be {bound}, got {value!r}")


def params(name: str, channels: int = 7, scale: float = 1.0) -> dict[str, np.ndarray]:
    """Per-channel process parameters (innovation variances already include ``scale**2``).

    Keys: ar1 ``phi, q``; ou ``theta, phi, q``; ar2 ``phi1, phi2, q``; ar1_noisy
    ``phi, q, r``; pink ``alpha`` (C,), ``poles`` and ``weights`` (C, K).
    """
    _check_name(name)
    _check_min("channels", channels, 1)
    _check_min("scale", scale, 0.0, strict=True)
    var = float(scale) ** 2
    if name in ("ar1", "ou"):
        out: dict[str, np.ndarray] = {}
        if name == "ar1":
            phi = np.linspace(0.5, 0.99, channels)
        else:
            out["theta"] = np.geomspace(0.02, 2.0, channels)
            phi = np.exp(-out["theta"])
        return {**out, "phi": phi, "q": (1.0 - phi**2) * var}
    if name == "ar2":
        r = np.linspace(0.9, 0.97, channels)
        omega = 2.0 * np.pi / np.geomspace(5.0, 50.0, channels)
        phi1, phi2 = 2.0 * r * np.cos(omega), -(r**2)
        q = var * (1.0 + phi2) * ((1.0 - phi2) ** 2 - phi1**2) / (1.0 - phi2)
        return {"phi1": phi1, "phi2": phi2, "q": q}
    if name == "ar1_noisy":
        phi = np.linspace(0.8, 0.98, channels)
        state_var = (1.0 - NOISY_OBS_FRACTION) * var
        r = np.full(channels, NOISY_OBS_FRACTION * var)
        return {"phi": phi, "q": (1.0 - phi**2) * state_var, "r": r}
    alpha = np.linspace(0.5, 1.5, channels)
    weights = PINK_TAUS[None, :] ** (alpha[:, None] - 1.0)
    weights *= var / weights.sum(axis=1, keepdims=True)
    poles = np.broadcast_to(np.exp(-1.0 / PINK_TAUS), weights.shape).copy()
    return {"alpha": alpha, "poles": poles, "weights": weights}


def autocovariance(name: str, lags: int, channels: int = 7, scale: float = 1.0) -> np.ndarray:
    """Exact autocovariance gamma_0..gamma_lags of each channel, shape (lags + 1, C)."""
    p = params(name, channels, scale)
    k = np.arange(lags + 1)[:, None]
    if name in ("ar1", "ou"):
        return scale**2 * p["phi"][None, :] ** k
    if name == "ar1_noisy":
        state_var = p["q"] / (1.0 - p["phi"] ** 2)
        return state_var * p["phi"] ** k + np.where(k == 0, p["r"], 0.0)
    if name == "pink":
        return np.einsum("ck,jck->jc", p["weights"], p["poles"][None] ** k[:, :, None])
    gamma = np.empty((lags + 1, channels))
    gamma[0] = scale**2
    if lags >= 1:
        gamma[1] = scale**2 * p["phi1"] / (1.0 - p["phi2"])
    for j in range(2, lags + 1):
        gamma[j] = p["phi1"] * gamma[j - 1] + p["phi2"] * gamma[j - 2]
    return gamma


def levinson_durbin(acov: np.ndarray, order: int) -> tuple[np.ndarray, np.ndarray]:
    """Best linear order-``order`` predictor of a stationary series from its autocovariance.

    Returns ``(a, mse)``: x_hat_t = sum_{k=1}^{order} a[k-1] x_{t-k}, and ``mse[L]`` is the
    prediction error variance of the order-L predictor (``mse[0] = acov[0]``).
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


def noisy_ar1_floors(
    phi: np.ndarray | float, q: np.ndarray | float, r: np.ndarray | float
) -> Floors:
    """Unnormalised floors of y = s + v, s_t = phi s_{t-1} + w_t, Var(w) = q, Var(v) = r."""
    phi, q, r = (np.atleast_1d(np.asarray(v, dtype=np.float64)) for v in (phi, q, r))
    a = r * (1.0 - phi**2) - q
    p_pred = (-a + np.sqrt(a**2 + 4.0 * q * r)) / 2.0
    state_var = q / (1.0 - phi**2)
    return Floors(
        variance=state_var + r,
        bayes=p_pred + r,
        persistence=2.0 * (1.0 - phi) * state_var + 2.0 * r,
    )


def floors(name: str, channels: int = 7, scale: float = 1.0) -> Floors:
    """Exact per-channel variance, Bayes-optimal and persistence one-step MSEs."""
    p = params(name, channels, scale)
    if name == "ar1_noisy":
        return noisy_ar1_floors(p["phi"], p["q"], p["r"])
    gamma = autocovariance(name, LEVINSON_ORDER if name == "pink" else 1, channels, scale)
    if name == "pink":
        bayes = np.array(
            [levinson_durbin(gamma[:, c], LEVINSON_ORDER)[1][-1] for c in range(channels)]
        )
    else:
        bayes = p["q"].copy()
    return Floors(variance=gamma[0].copy(), bayes=bayes, persistence=2.0 * (gamma[0] - gamma[1]))


def _ar_paths(coefs: np.ndarray, init: np.ndarray, innov: np.ndarray) -> np.ndarray:
    """Continue AR(p) paths from ``init`` (n, p; oldest first) with ``innov`` (n, T - p)."""
    a = np.concatenate([[1.0], -np.asarray(coefs)])
    p = len(coefs)
    # Direct-form-II-transposed state so the filter remembers x_{p-1}, ..., x_0.
    zi = np.stack(
        [sum(coefs[j] * init[:, p - 1 - (j - m)] for j in range(m, p)) for m in range(p)], axis=1
    )
    tail = lfilter([1.0], a, innov, axis=1, zi=zi)[0]
    return np.concatenate([init, tail], axis=1)


def generate(
    name: str, n_seq: int, length: int, channels: int = 7, seed: int = 0, scale: float = 1.0
) -> np.ndarray:
    """Draw ``n_seq`` stationary sequences, float32 array of shape (n_seq, length, channels)."""
    _check_name(name)
    _check_min("channels", channels, 1)
    _check_min("n_seq", n_seq, 1)
    _check_min("length", length, 2)
    _check_min("scale", scale, 0.0, strict=True)
    p = params(name, channels, scale)
    rng = np.random.default_rng(seed)
    out = np.empty((n_seq, length, channels), dtype=np.float32)

    def ar1(phi: float, var: float) -> np.ndarray:
        x0 = rng.normal(0.0, np.sqrt(var), (n_seq, 1))
        eps = rng.normal(0.0, np.sqrt(var * (1.0 - phi**2)), (n_seq, length - 1))
        return _ar_paths(np.array([phi]), x0, eps)

    for c in range(channels):
        if name in ("ar1", "ou"):
            x = ar1(p["phi"][c], scale**2)
        elif name == "ar2":
            g0, g1 = autocovariance("ar2", 1, channels, scale)[:, c]
            x01 = rng.multivariate_normal([0.0, 0.0], [[g0, g1], [g1, g0]], n_seq)
            eps = rng.normal(0.0, np.sqrt(p["q"][c]), (n_seq, length - 2))
            x = _ar_paths(np.array([p["phi1"][c], p["phi2"][c]]), x01, eps)
        elif name == "ar1_noisy":
            state_var = p["q"][c] / (1.0 - p["phi"][c] ** 2)
            x = ar1(p["phi"][c], state_var) + rng.normal(0.0, np.sqrt(p["r"][c]), (n_seq, length))
        else:
            x = sum(ar1(pole, w) for pole, w in zip(p["poles"][c], p["weights"][c], strict=True))
        out[:, :, c] = x
    return out
