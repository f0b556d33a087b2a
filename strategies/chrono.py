"""Chrono initialisation: forget biases spread the memory time scales over [1, T_max].

b_forgetgate ~ log U[1, T_max − 1] per unit, b_ingate = −b_forgetgate, other biases 0, so the
characteristic forgetting times 1/(1 − σ(b_f)) ≈ e^{b_f} cover 1 … T_max (the setting ``t_max``,
≈ the longest dependency; for AR(1), a few × 1/(1 − φ); override it with ``--set chrono.t_max=64``).
Weights as ``glorot``; tanh.
"""

import jax
import jax.numpy as jnp

from bench import init
from bench.init import Data, Key, Params, RunConfig, Sizes

CITATION = (
    "Tallec & Ollivier (2018), Can recurrent neural networks warp time?, ICLR, "
    "arXiv:1804.11188"
)


SETTINGS = {"t_max": 256.0}  # the longest dependency the forget biases are spread up to


def check_settings(settings: dict) -> None:
    if not settings["t_max"] > 2:
        raise ValueError(f"t_max must be > 2, got {settings['t_max']}")


def init_params(key: Key, sizes: Sizes, config: RunConfig, data: Data) -> Params:
    key, *bias_keys = jax.random.split(key, len(sizes))
    params = init.stack_params(key, sizes, W_in=init.glorot_uniform(),
                               W_hid=init.glorot_uniform())
    for layer, k, n_hid in zip(params, bias_keys, sizes[1:], strict=True):
        t_max = config.setting("t_max")
        b_f = jnp.log(jax.random.uniform(k, (n_hid,), jnp.float32, 1.0, t_max - 1.0))
        layer["b_forgetgate"] = b_f
        layer["b_ingate"] = -b_f
    return params
