"""The stacked network: input → dropout → LSTM → dropout → LSTM → … → LSTM(C), as in Lasagne.

The last layer's hidden state at time t is the prediction of x(t+1). Dropout (Lasagne's
``DropoutLayer``: keep with probability 1-p, rescale by 1/(1-p)) precedes every LSTM layer and
is active only with ``train=True``; there is no implicit "deterministic" keyword to misspell.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import jax
import jax.numpy as jnp

from bench.lstm import lstm_layer

Array = jax.Array
Params = list[dict[str, Array]]


def dropout(key: Array, x: Array, p: float) -> Array:
    """Inverted dropout: zero with probability p, scale the rest by 1/(1-p).

    The mask comes from JAX's Threefry with ``threefry_partitionable(False)``, fixed here rather
    than left to the global setting so a key always gives the same mask; that layout also hashes
    two mask entries per Threefry evaluation instead of one, which is cheaper on the CPU.
    """
    with jax.threefry_partitionable(False):
        keep = jax.random.bernoulli(key, 1.0 - p, x.shape)
    return jnp.where(keep, x / (1.0 - p), jnp.zeros_like(x))


def stack_forward(
    params: Sequence[Mapping[str, Array]],
    x: Array,
    mask: Array | None = None,
    *,
    nonlinearity: str = "tanh",
    cell_nonlinearity: str = "tanh",
    peephole_order: str = "graves",
    grad_clipping: float = 0.0,
    dropout_p: float = 0.0,
    train: bool = False,
    key: Array | None = None,
    return_states: bool = False,
    unroll: int = 1,
) -> Array | list[tuple[Array, Array]]:
    """Prediction (batch, time, C) of the stack; with ``return_states`` every layer's (h, c)."""
    if train and dropout_p > 0 and key is None:
        raise ValueError("train=True with dropout needs a PRNG key")
    keys = jax.random.split(key, len(params)) if (train and dropout_p > 0) else [None] * len(params)
    states = []
    h = x
    for layer, k in zip(params, keys, strict=True):
        if k is not None:
            h = dropout(k, h, dropout_p)
        h, c = lstm_layer(
            layer,
            h,
            mask,
            nonlinearity=nonlinearity,
            cell_nonlinearity=cell_nonlinearity,
            peephole_order=peephole_order,
            grad_clipping=grad_clipping,
            return_cell=True,
            unroll=unroll,
        )
        states.append((h, c))
    return states if return_states else h
