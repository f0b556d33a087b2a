"""The stacked network (bench.model.stack_forward) against the NumPy float64 reference of
tests/helpers.py, and its dropout (Lasagne's DropoutLayer: keep with probability 1 − p, rescale
by 1 / (1 − p), before every LSTM layer, in training only)."""

import math

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from helpers import lasagne_stack, run_stack

from bench.model import dropout, stack_forward

# jitted only to compile each configuration once (eager scans recompile on every call)
jit_stack = jax.jit(stack_forward, static_argnames=(
    "nonlinearity", "cell_nonlinearity", "peephole_order", "grad_clipping", "dropout_p", "train",
    "return_states", "unroll"))


def stack_params(seed: int = 0, sizes: tuple[int, ...] = (3, 5, 4, 3)
                 ) -> tuple[list[dict[str, np.ndarray]], list[dict[str, jax.Array]]]:
    """float32 parameters of a stack, as NumPy arrays (the reference's input) and as JAX's."""
    layers = lasagne_stack(np.random.default_rng(seed), sizes, scale=0.5, peephole_scale=1.0,
                           dtype=np.float32)
    return layers, [{k: jnp.asarray(v) for k, v in layer.items()} for layer in layers]


def test_stack_forward_eval_matches_the_reference_and_ignores_the_key():
    np_params, params = stack_params()
    rng = np.random.default_rng(1)
    x = rng.normal(size=(2, 8, 3)).astype(np.float32)
    mask = (rng.random((2, 8)) > 0.2).astype(np.float32)
    kw = {"nonlinearity": "leaky_rectify", "peephole_order": "lasagne-0.1"}
    out = stack_forward(params, jnp.asarray(x), jnp.asarray(mask), dropout_p=0.5,
                        key=jax.random.PRNGKey(3), **kw)
    again = stack_forward(params, jnp.asarray(x), jnp.asarray(mask), dropout_p=0.5,
                          key=jax.random.PRNGKey(4), **kw)
    np.testing.assert_array_equal(np.asarray(out), np.asarray(again))  # no dropout in eval
    states = stack_forward(params, jnp.asarray(x), jnp.asarray(mask), return_states=True, **kw)
    ref = run_stack(np_params, x, mask, act="leaky_rectify", order="lasagne-0.1")
    assert len(states) == len(ref) == 3
    for (h_s, c_s), (h_r, c_r) in zip(states, ref, strict=True):
        np.testing.assert_allclose(np.asarray(h_s), h_r, rtol=1e-5, atol=1e-6)
        np.testing.assert_allclose(np.asarray(c_s), c_r, rtol=1e-5, atol=1e-6)
    assert out.shape == (2, 8, 3)
    np.testing.assert_allclose(np.asarray(out), ref[-1][0], rtol=1e-5, atol=1e-6)


def test_train_mode_drops_the_input_of_every_layer():
    """Training output = the reference stack with each layer's input multiplied by its own mask
    (the mask of ``dropout(key_i, ·)`` with ``key_i`` the i-th of ``split(key, layers)``)."""
    np_params, params = stack_params()
    x = np.random.default_rng(2).normal(size=(2, 8, 3)).astype(np.float32)
    key, p = jax.random.PRNGKey(0), 0.33
    got = np.asarray(jit_stack(params, jnp.asarray(x), train=True, dropout_p=p, key=key))
    keys = jax.random.split(key, len(params))
    h = x.astype(np.float64)
    for layer, k in zip(np_params, keys, strict=True):
        scale = np.asarray(dropout(k, jnp.ones(h.shape, jnp.float32), p), np.float64)
        assert set(np.unique(scale)) == {0.0, np.float32(1 / (1 - p))}
        h, _ = run_stack([layer], h * scale)[0]
    np.testing.assert_allclose(got, h, rtol=1e-5, atol=1e-6)


def test_stack_forward_train_dropout_depends_on_key():
    _, params = stack_params()
    x = jnp.asarray(np.random.default_rng(2).normal(size=(2, 8, 3)).astype(np.float32))
    ev = np.asarray(jit_stack(params, x))
    a = np.asarray(jit_stack(params, x, train=True, dropout_p=0.33, key=jax.random.PRNGKey(0)))
    a2 = np.asarray(jit_stack(params, x, train=True, dropout_p=0.33, key=jax.random.PRNGKey(0)))
    b = np.asarray(jit_stack(params, x, train=True, dropout_p=0.33, key=jax.random.PRNGKey(1)))
    np.testing.assert_array_equal(a, a2)
    assert not np.allclose(a, b)
    assert not np.allclose(a, ev)
    # p = 0: training mode is the identity on the dropout path
    z = np.asarray(jit_stack(params, x, train=True, dropout_p=0.0, key=jax.random.PRNGKey(0)))
    np.testing.assert_allclose(z, ev, rtol=1e-6, atol=1e-7)
    with pytest.raises(ValueError, match="key"):
        stack_forward(params, x, train=True, dropout_p=0.3)


def test_input_dropout_precedes_the_first_layer():
    """A one-layer stack still changes with the key: the input itself is dropped."""
    _, params = stack_params(sizes=(3, 3))
    x = jnp.asarray(np.random.default_rng(3).normal(size=(2, 8, 3)).astype(np.float32))
    a = jit_stack(params, x, train=True, dropout_p=0.5, key=jax.random.PRNGKey(0))
    b = jit_stack(params, x, train=True, dropout_p=0.5, key=jax.random.PRNGKey(1))
    assert not np.allclose(np.asarray(a), np.asarray(b))


@pytest.mark.parametrize("p", [0.33, 0.5])
def test_dropout_matches_lasagne_keep_rate_and_rescale(p):
    n = 200_000
    y = np.asarray(dropout(jax.random.PRNGKey(0), jnp.ones(n, jnp.float32), p))
    zero = y == 0.0
    se = math.sqrt(p * (1 - p) / n)
    assert abs(zero.mean() - p) < 5 * se
    np.testing.assert_allclose(y[~zero], 1.0 / (1.0 - p), rtol=1e-6)


def test_dropout_preserves_the_mean():
    p, n_keys = 0.33, 4000
    x = jnp.asarray(np.random.default_rng(4).normal(size=16).astype(np.float32))
    keys = jax.random.split(jax.random.PRNGKey(5), n_keys)
    ys = np.asarray(jax.vmap(lambda k: dropout(k, x, p))(keys), np.float64)
    se = np.abs(np.asarray(x)) * math.sqrt(p / (1 - p) / n_keys)
    assert np.all(np.abs(ys.mean(0) - np.asarray(x)) < 5 * se + 1e-7)


def test_dropout_mask_ignores_the_global_threefry_setting_and_keeps_one_minus_p():
    """The mask is a function of the key alone (bench.model.dropout fixes the Threefry layout),
    and keeps a fraction 1 - p of the entries, each scaled by 1 / (1 - p)."""
    x = jnp.ones((64, 128, 8))
    key = jax.random.PRNGKey(5)
    was = jax.config.jax_threefry_partitionable
    try:
        masks = []
        for setting in (True, False):
            jax.config.update("jax_threefry_partitionable", setting)
            masks.append(np.asarray(jax.jit(lambda k: dropout(k, x, 0.33))(key)))
    finally:
        jax.config.update("jax_threefry_partitionable", was)
    np.testing.assert_array_equal(masks[0], masks[1])
    kept = masks[0] != 0
    assert abs(kept.mean() - 0.67) < 0.01  # 65 536 draws: 5 σ ≈ 0.009
    np.testing.assert_allclose(masks[0][kept], 1 / 0.67, rtol=1e-6)
