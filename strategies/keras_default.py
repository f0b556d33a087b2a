"""Keras ``LSTM`` defaults: fused Glorot kernel, orthogonal recurrent kernel, forget bias 1.

Keras stores one (n_in, 4H) input kernel and one (H, 4H) recurrent kernel, gates in the order
i, f, c, o (the same as Lasagne's). ``glorot_uniform`` on the fused kernel uses
limit = sqrt(6 / (n_in + 4H)); ``orthogonal`` on the (H, 4H) recurrent kernel gives orthonormal
rows, so each H×H gate block has singular values ≤ 1 (spectral radius ≈ 0.5). Bias zeros with
``unit_forget_bias=True`` (b_f = 1). No peepholes; tanh.
"""

import jax
import jax.numpy as jnp

from bench import init
from bench.init import Data, Key, Params, RunConfig, Sizes
from bench.lstm import GATES

CITATION = (
    "Keras keras.layers.LSTM defaults (kernel_initializer='glorot_uniform', "
    "recurrent_initializer='orthogonal', unit_forget_bias=True)"
)


def init_params(key: Key, sizes: Sizes, config: RunConfig, data: Data) -> Params:
    params = []
    for k, n_in, n_hid in zip(jax.random.split(key, len(sizes) - 1), sizes[:-1], sizes[1:],
                              strict=True):
        k_in, k_hid = jax.random.split(k)
        kernel = jnp.split(init.glorot_uniform()(k_in, (n_in, 4 * n_hid)), 4, axis=1)
        recurrent = jnp.split(init.orthogonal()(k_hid, (n_hid, 4 * n_hid)), 4, axis=1)
        layer = {}
        for g, w_in, w_hid in zip(GATES, kernel, recurrent, strict=True):
            layer[f"W_in_to_{g}"] = w_in
            layer[f"W_hid_to_{g}"] = w_hid
            layer[f"b_{g}"] = jnp.full((n_hid,), 1.0 if g == "forgetgate" else 0.0)
        params.append(layer)
    return params
