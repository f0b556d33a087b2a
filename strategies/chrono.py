"""Chrono initialisation: forget biases spread the memory time scales over [1, T_max].

b_forgetgate ~ log U[1, T_max − 1] per unit, b_ingate = −b_forgetgate, other biases 0, so the
characteristic forgetting times 1/(1 − σ(b_f)) ≈ e^{b_f} cover 1 … T_max. Weights as ``glorot``;
tanh. Tallec & Ollivier (2018), arXiv:1804.11188, set T_max to the longest dependency of the
task; a fixed T_max whatever the data (the old default, 256) nearly closes the input gates
(b_i = −b_f down to −log 255 ≈ −5.5) even on data with a memory of two steps.

The setting ``t_max`` (default ``auto``) is therefore the data's correlation time:

    T_max = clip(max_c min{k ≥ 1 : gamma_k[c] / gamma_0[c] < 1/e}, 2, window)

the largest over channels c of the first lag at which the autocorrelation falls below 1/e (for
AR(1), the first k with phi^k < 1/e, k = ⌊1/(−ln phi)⌋ + 1 ≈ 1/(1 − phi); phi = 0.9 gives 10),
bounded below by 2 and above by ``config.window``, the training window (a dependency longer than
the window cannot be learned; a channel whose autocorrelation stays above 1/e over every lag
available counts as the window). gamma is, in order of preference:

1. the exact autocovariance of the run's dataset, ``bench.data.get(config.dataset)
   .autocovariance(window, channels, data_scale)``, when the dataset module gives one;
2. the biased sample autocovariance of ``data``, the (batch, time, C) batch of training windows
   passed to ``init_params``: gamma_k = Σ_{b,t} x̃_{b,t} x̃_{b,t+k} / (batch · time), x̃ the data
   minus each channel's mean over batch and time, k ≤ min(window, time − 1);
3. neither: T_max = window.

Since b_f ~ log U[1, T_max − 1] needs T_max > 2 for a proper interval (T_max = 2 would set every
b_f to log 1 = 0), the auto value used is max(T_max, 3); a numeric ``t_max`` must be > 2.

Override with a number: ``--set chrono.t_max=64`` (the setting's default is the string
``auto``, so overrides arrive as strings, ``"auto"`` or a number such as ``"64"``).
"""

import math

import jax
import jax.numpy as jnp
import numpy as np

from bench import data as bench_data
from bench import init
from bench.init import Data, Key, Params, RunConfig, Sizes

CITATION = (
    "Tallec & Ollivier (2018), Can recurrent neural networks warp time?, ICLR, "
    "arXiv:1804.11188"
)


SETTINGS = {"t_max": "auto"}  # "auto" (the data's correlation time) or a number > 2
AUTO = "auto"
THRESHOLD = math.exp(-1.0)  # the autocorrelation level that defines the correlation time
MIN_AUTO = 3.0  # the smallest auto T_max: log U[1, T_max − 1] needs T_max > 2


def _parse(value: object) -> float | None:
    """``None`` for ``auto``, else the number (> 2, finite); ``ValueError`` otherwise."""
    if isinstance(value, str) and value.strip().lower() == AUTO:
        return None
    try:
        number = float(value)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        raise ValueError(f"{value!r} is not a valid t_max (expected 'auto' or a number > 2)"
                         ) from None
    if not math.isfinite(number):
        raise ValueError(f"t_max must be a finite number > 2 (or 'auto'), got {value!r}")
    if not number > 2:
        raise ValueError(f"t_max must be > 2 (or 'auto'), got {value!r}")
    return number


def check_settings(settings: dict) -> None:
    _parse(settings["t_max"])


def correlation_time(gamma: np.ndarray, window: int) -> float:
    """max over channels of the first lag k ≥ 1 with gamma_k / gamma_0 < 1/e, clipped to
    [2, window]. ``gamma``: autocovariances gamma_0..gamma_lags, shape (lags + 1, C). A channel
    that stays above 1/e up to ``lags`` counts as ``window``; a channel without a finite,
    positive variance is left out."""
    gamma = np.asarray(gamma, np.float64)
    if gamma.ndim == 1:
        gamma = gamma[:, None]
    tau = 0.0
    for g in gamma.T:
        if not (np.isfinite(g[0]) and g[0] > 0):
            continue
        below = np.flatnonzero(g[1:] / g[0] < THRESHOLD)
        tau = max(tau, float(below[0] + 1) if below.size else float(window))
    return float(max(2.0, min(tau, float(window))))


def sample_autocovariance(x: np.ndarray, lags: int) -> np.ndarray:
    """Biased sample autocovariance of a (batch, time, C) batch, pooled over the batch:
    gamma_k = Σ_{b,t} x̃_{b,t} x̃_{b,t+k} / (batch · time), k = 0..lags, shape (lags + 1, C)."""
    x = np.asarray(x, np.float64)
    x = x - x.mean(axis=(0, 1))
    n = x.shape[0] * x.shape[1]
    return np.stack([np.einsum("btc,btc->c", x[:, : x.shape[1] - k], x[:, k:]) / n
                     for k in range(lags + 1)])


def t_max(config: RunConfig, data: Data) -> float:
    """The run's T_max: the numeric setting, or for ``auto`` max(correlation time, 3) from the
    dataset's exact autocovariance, else from ``data``, else the window (module docstring)."""
    number = _parse(config.setting("t_max"))
    if number is not None:
        return number
    window = int(config.window)
    dataset = bench_data.get(config.dataset)
    if dataset.has_autocovariance:
        gamma = dataset.autocovariance(window, config.channels, config.data_scale)
    elif data is not None and np.ndim(data) == 3 and np.shape(data)[1] >= 2:
        gamma = sample_autocovariance(data, min(window, np.shape(data)[1] - 1))
    else:
        return float(max(window, MIN_AUTO))
    return max(correlation_time(gamma, window), MIN_AUTO)


def init_params(key: Key, sizes: Sizes, config: RunConfig, data: Data) -> Params:
    key, *bias_keys = jax.random.split(key, len(sizes))
    params = init.stack_params(key, sizes, W_in=init.glorot_uniform(),
                               W_hid=init.glorot_uniform())
    top = t_max(config, data)
    for layer, k, n_hid in zip(params, bias_keys, sizes[1:], strict=True):
        b_f = jnp.log(jax.random.uniform(k, (n_hid,), jnp.float32, 1.0, top - 1.0))
        layer["b_forgetgate"] = b_f
        layer["b_ingate"] = -b_f
    return params
