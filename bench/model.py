"""The stacked network: input → dropout → LSTM → dropout → LSTM → … → LSTM(C), as in Lasagne.

The last layer's hidden state at time t is the prediction of x(t+1); with ``readout=True`` the
parameters end with a dense head ``{"W_readout": (C, C), "b_readout": (C,)}`` and the
prediction is h_t · W_readout + b_readout (the head is not an LSTM layer: no dropout before it,
no state). Dropout (Lasagne's
``DropoutLayer``: keep with probability 1-p, rescale by 1/(1-p)) precedes every LSTM layer and
is active only with ``train=True``; there is no implicit "deterministic" keyword to misspell.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import jax
import jax.numpy as jnp

from bench.lstm import is_packed, lstm_layer, pack, unpack

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
    readout: bool = False,
) -> Array | list[tuple[Array, Array]]:
    """Prediction (batch, time, C) of the stack; with ``return_states`` every LSTM layer's
    (h, c). With ``readout`` the last entry of ``params`` is the dense head."""
    if train and dropout_p > 0 and key is None:
        raise ValueError("train=True with dropout needs a PRNG key")
    layers, head = (params[:-1], params[-1]) if readout else (params, None)
    n = len(layers)
    keys = jax.random.split(key, n) if (train and dropout_p > 0) else [None] * n
    states = []
    h = x
    for layer, k in zip(layers, keys, strict=True):
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
    if return_states:
        return states
    return h if head is None else h @ head["W_readout"] + head["b_readout"]


@jax.jit
def pack_stack(params: Sequence[Mapping[str, Array]]) -> Params:
    """Every LSTM layer of ``params`` in the engine's packed layout (:func:`bench.lstm.pack`),
    the readout head (if any) unchanged: the layout training keeps its parameters in.

    Jitted, so a stack is packed by one program instead of one small program per
    concatenation (copies only: the numbers are the same either way)."""
    return [dict(p) if "W_readout" in p else pack(p) for p in params]


@jax.jit
def unpack_stack(params: Sequence[Mapping[str, Array]]) -> Params:
    """Lasagne's names again (:func:`bench.lstm.unpack`) for every packed layer of ``params``
    (jitted, as :func:`pack_stack`)."""
    return [unpack(p) if is_packed(p) else dict(p) for p in params]


def readout_head(key: Array, channels: int) -> dict[str, Array]:
    """The dense head of ``readout="linear"``: W_readout Glorot-uniform (C × C), b_readout 0.
    The sweep draws it from a key of the run seed alone, so every strategy gets the same head."""
    limit = (6.0 / (2 * channels)) ** 0.5
    return {"W_readout": jax.random.uniform(key, (channels, channels), jnp.float32, -limit, limit),
            "b_readout": jnp.zeros((channels,), jnp.float32)}
