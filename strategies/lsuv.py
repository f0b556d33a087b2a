"""LSUV: orthonormal start, then rescale each layer until its pre-activations have unit variance.

Layer-sequential unit-variance (Mishkin & Matas 2015). Start: every ``W_in_to_<gate>`` and
``W_hid_to_<gate>`` orthogonal (orthonormal columns/rows), biases 0, peepholes N(0, 0.1²). Then,
layer by layer from the input, on a batch of training windows: run the stack up to this layer,
compute each gate's pre-activation z = x·W_in + h_{t−1}·W_hid (the layer's linear "output", as
LSUV normalises a layer's output before its nonlinearity; an LSTM's h is bounded by 1 so its own
variance cannot be 1), and scale that gate's W_in and W_hid by Var(z)^(−1/4) until
|Var z − 1| < 0.1 for all four gates (at most 10 iterations; a warning if not reached). tanh.

The paper's step is Var^(−1/2), exact for a feed-forward layer, where Var z grows as the square
of the weight scale. In a recurrent layer h_{t−1} grows with the weights too, so Var z grows
faster than that and the full step overshoots and oscillates around unit variance. The half step
in log space, Var^(−1/4), damps that oscillation (tests/test_strategies.py checks that it
converges within the iteration limit).
"""

import functools
import warnings

import jax
import jax.numpy as jnp

from bench import init
from bench.init import Data, Key, Params, RunConfig, Sizes
from bench.lstm import GATES, lstm_layer

CITATION = "Mishkin & Matas (2015), All you need is a good init, ICLR 2016, arXiv:1511.06422"

TOL = 0.1
MAX_ITER = 10


def gate_preactivation_variance(layer: dict, x: jax.Array, config: RunConfig) -> dict[str, float]:
    """Var over (batch, time, units) of each gate's z = x·W_in + h_{t−1}·W_hid."""
    var = _gate_variances(layer, x, peephole_order=config.peephole_order)
    return {g: float(v) for g, v in zip(GATES, var, strict=True)}


@functools.partial(jax.jit, static_argnames=("peephole_order",))
def _gate_variances(layer: dict, x: jax.Array, peephole_order: str) -> jax.Array:
    """The four variances of :func:`gate_preactivation_variance`, in ``GATES`` order: one
    compiled program per shape, reused by every rescaling step, seed and chunk."""
    h = lstm_layer(layer, x, peephole_order=peephole_order)
    h_prev = jnp.concatenate([jnp.zeros_like(h[:, :1]), h[:, :-1]], axis=1)
    return jnp.stack([jnp.var(x @ layer[f"W_in_to_{g}"] + h_prev @ layer[f"W_hid_to_{g}"])
                      for g in GATES])


_layer_output = jax.jit(lstm_layer, static_argnames=("peephole_order",))


def init_params(key: Key, sizes: Sizes, config: RunConfig, data: Data) -> Params:
    if data is None:
        raise ValueError("lsuv is data-dependent and needs a batch of training windows")
    params = init.stack_params(key, sizes, W_in=init.orthogonal(), W_hid=init.orthogonal())
    x = jnp.asarray(data, jnp.float32)
    for i, layer in enumerate(params):
        for _ in range(MAX_ITER):
            var = gate_preactivation_variance(layer, x, config)
            if all(abs(v - 1.0) < TOL for v in var.values()):
                break
            for g, v in var.items():
                scale = jnp.maximum(v, 1e-12) ** -0.25  # half step in log space (docstring)
                layer[f"W_in_to_{g}"] = layer[f"W_in_to_{g}"] * scale
                layer[f"W_hid_to_{g}"] = layer[f"W_hid_to_{g}"] * scale
        else:  # as in the paper, stop after MAX_ITER rescalings, but say so
            var = gate_preactivation_variance(layer, x, config)
            if not all(abs(v - 1.0) < TOL for v in var.values()):
                warnings.warn(f"lsuv: layer {i + 1} gate variances {var} not within 1 ± {TOL} "
                              f"after {MAX_ITER} rescalings", stacklevel=2)
        x = _layer_output(layer, x, peephole_order=config.peephole_order)
    return params
