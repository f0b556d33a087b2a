"""Weight initializers, looked up by name, with Lasagne's conventions.

Each factory returns ``init(key, shape) -> Array`` (float32). For a 2-D ``(n_in, n_out)`` matrix
``fan_in = n_in`` and ``fan_out = n_out``, as in Lasagne.

- ``normal(std, mean)``: N(mean, std²)  (Lasagne ``Normal``; its LSTM default is std 0.1)
- ``uniform(limit)``: U(-limit, limit)
- ``glorot_normal(gain)``: N(0, σ²), σ = gain·sqrt(2 / (fan_in + fan_out))  (Glorot & Bengio 2010)
- ``glorot_uniform(gain)``: U(±sqrt(3)·σ) with the same σ
- ``orthogonal(gain)``: gain·Q, Q from the QR factorisation of a Gaussian matrix with the sign
  fix Q·sign(diag R), so Q is Haar-distributed (Saxe, McClelland & Ganguli 2013, arXiv:1312.6120)
- ``constant(value)``
"""

from __future__ import annotations

import math
from collections.abc import Callable

import jax
import jax.numpy as jnp
import numpy as np

from bench.config import RunConfig as RunConfig  # re-exported for strategy modules
from bench.lstm import GATES, PEEPHOLE_GATES

Array = jax.Array
# Type aliases for strategy modules: init_params(key: Key, sizes: Sizes, config: RunConfig,
# data: Data) -> Params.
Key = jax.Array
Sizes = tuple[int, ...]
Data = np.ndarray | None
Params = list[dict[str, jax.Array]]
Initializer = Callable[[Array, tuple[int, ...]], Array]


def constant(value: float = 0.0) -> Initializer:
    """All entries equal to ``value``."""
    return lambda key, shape: jnp.full(shape, value, jnp.float32)


def normal(std: float = 0.01, mean: float = 0.0) -> Initializer:
    """N(mean, std²)."""
    return lambda key, shape: mean + std * jax.random.normal(key, shape, jnp.float32)


def uniform(limit: float) -> Initializer:
    """U(-limit, limit)."""
    return lambda key, shape: jax.random.uniform(key, shape, jnp.float32, -limit, limit)


def glorot_std(shape: tuple[int, ...], gain: float = 1.0) -> float:
    """σ = gain·sqrt(2 / (fan_in + fan_out)) for a 2-D (fan_in, fan_out) matrix."""
    if len(shape) != 2:
        raise ValueError(f"Glorot initialisation needs a 2-D shape, got {shape}")
    return gain * math.sqrt(2.0 / (shape[0] + shape[1]))


def glorot_normal(gain: float = 1.0) -> Initializer:
    """N(0, σ²) with Glorot's σ (Lasagne ``GlorotNormal(gain)``)."""
    return lambda key, shape: glorot_std(shape, gain) * jax.random.normal(key, shape, jnp.float32)


def glorot_uniform(gain: float = 1.0) -> Initializer:
    """U(±sqrt(3)·σ) with Glorot's σ (Lasagne ``GlorotUniform(gain)``)."""
    return lambda key, shape: uniform(math.sqrt(3.0) * glorot_std(shape, gain))(key, shape)


def orthogonal(gain: float = 1.0) -> Initializer:
    """gain·Q with orthonormal columns (or rows, for a wide matrix)."""

    def init(key: Array, shape: tuple[int, ...]) -> Array:
        rows, cols = shape
        a = jax.random.normal(key, (max(rows, cols), min(rows, cols)), jnp.float32)
        q, r = jnp.linalg.qr(a)
        q = q * jnp.sign(jnp.diag(r))
        return gain * (q if rows >= cols else q.T)

    return init


LASAGNE_W_CELL = normal(0.1)  # Lasagne Gate's default peephole initializer
ZERO = constant(0.0)

INITIALIZERS: dict[str, Callable[..., Initializer]] = {
    "constant": constant,
    "normal": normal,
    "uniform": uniform,
    "glorot_normal": glorot_normal,
    "glorot_uniform": glorot_uniform,
    "orthogonal": orthogonal,
}


def get(name: str, **kwargs: float) -> Initializer:
    """Look an initializer factory up by name and call it with ``kwargs``."""
    if name not in INITIALIZERS:
        raise ValueError(f"unknown initializer {name!r}; choose from {', '.join(INITIALIZERS)}")
    return INITIALIZERS[name](**kwargs)


def lstm_params(
    key: Array,
    n_in: int,
    n_hid: int,
    *,
    W_in: Initializer,
    W_hid: Initializer,
    W_cell: Initializer | None = LASAGNE_W_CELL,
    b: Initializer = ZERO,
) -> dict[str, Array]:
    """One layer's Lasagne-named parameters, each gate drawn independently (as Lasagne's ``Gate``).

    ``W_cell=None`` builds a layer without peepholes. Defaults are Lasagne's Gate defaults for
    the peepholes (Normal(0.1)) and bias (0).
    """
    keys = iter(jax.random.split(key, 3 * len(GATES) + len(PEEPHOLE_GATES)))
    params: dict[str, Array] = {}
    for g in GATES:
        params[f"W_in_to_{g}"] = W_in(next(keys), (n_in, n_hid))
        params[f"W_hid_to_{g}"] = W_hid(next(keys), (n_hid, n_hid))
        params[f"b_{g}"] = b(next(keys), (n_hid,))
    if W_cell is not None:
        for g in PEEPHOLE_GATES:
            params[f"W_cell_to_{g}"] = W_cell(next(keys), (n_hid,))
    return params


def stack_params(
    key: Array, sizes: tuple[int, ...], **gate_inits: Initializer | None
) -> list[dict[str, Array]]:
    """:func:`lstm_params` for every layer of a stack with the same initializers."""
    keys = jax.random.split(key, len(sizes) - 1)
    return [
        lstm_params(k, n_in, n_hid, **gate_inits)
        for k, n_in, n_hid in zip(keys, sizes[:-1], sizes[1:], strict=True)
    ]
