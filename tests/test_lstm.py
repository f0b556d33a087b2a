"""bench.lstm against an independent float64 NumPy reference (per-gate matrices, no fusion).

The reference (tests/helpers.py) is written from the equations alone (Lasagne 0.1's LSTMLayer,
as bench/lstm.py's docstring states them), one gate matrix at a time, so a mistake in the fused
JAX step (gate order, split, peephole placement, mask blending) shows up as a mismatch; the
first step is also computed by hand here, which checks the reference itself. The same equations
written in JAX give the plain step loop whose autodiff checks the hand-written backward pass,
and the gradient-clipping reference, which backpropagates one step at a time with ``jax.vjp`` on
the reference's two halves (pre-activations / rest of the step) and clips dL/dz by hand between
them: no ``custom_vjp`` involved.
"""

import functools

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from helpers import (
    GATES,
    cell_update,
    lasagne_params,
    nonlinearity,
    preactivations,
    run_layer,
    step,
)
from scipy.special import expit

from bench import lstm
from bench.lstm import check_params, get_nonlinearity, lstm_layer


@pytest.fixture(scope="module", autouse=True)
def _float64():
    """float64 for this module's tests. A module-level ``jax.config.update`` would switch the
    whole pytest session (every file collected with this one) to x64 at collection time."""
    was = jax.config.jax_enable_x64
    jax.config.update("jax_enable_x64", True)
    yield
    jax.config.update("jax_enable_x64", was)


def make_params(rng: np.random.Generator, n_in: int, n_hid: int, peepholes: bool = True,
                scale: float = 0.5) -> dict[str, np.ndarray]:
    """This module's parameters: N(0, scale²) weights and biases, N(0, (2·scale)²) peepholes."""
    return lasagne_params(rng, n_in, n_hid, peepholes=peepholes, scale=scale,
                          peephole_scale=2 * scale)


def as_jax(P):
    return {k: jnp.asarray(v, jnp.float64) for k, v in P.items()}


STATIC = ("nonlinearity", "cell_nonlinearity", "peepholes", "peephole_order", "grad_clipping",
          "return_cell", "unroll")
jit_layer = jax.jit(lstm_layer, static_argnames=STATIC)


def jax_run(P, x, mask=None, *, act="tanh", cell_act="tanh", peepholes=True, order="graves",
            unroll=1):
    h, c = jit_layer(as_jax(P), jnp.asarray(x, jnp.float64),
                     None if mask is None else jnp.asarray(mask, jnp.float64),
                     nonlinearity=act, cell_nonlinearity=cell_act, peepholes=peepholes,
                     peephole_order=order, return_cell=True, unroll=unroll)
    return np.asarray(h), np.asarray(c)


# ----------------------------------------------------------------------------------------------
# Nonlinearities
# ----------------------------------------------------------------------------------------------


@pytest.mark.parametrize("name", ["tanh", "sigmoid", "leaky_rectify", "rectify", "linear"])
def test_nonlinearities_match_reference(name):
    v = np.linspace(-6.0, 6.0, 241)
    got = np.asarray(get_nonlinearity(name)(jnp.asarray(v)))
    np.testing.assert_allclose(got, nonlinearity(name)(v), rtol=1e-14, atol=1e-15)


def test_leaky_rectify_is_lasagnes_form():
    f = get_nonlinearity("leaky_rectify")
    v = jnp.asarray([-3.0, -1e-3, 0.0, 2.5])
    np.testing.assert_allclose(np.asarray(f(v)), [-0.03, -1e-5, 0.0, 2.5], rtol=1e-14)
    # 0.5(1+a)x + 0.5(1-a)|x| is -inf + inf at x = -inf: NaN, as in Lasagne.
    assert np.isnan(float(f(jnp.asarray(-np.inf))))
    assert float(f(jnp.asarray(np.inf))) == np.inf


# ----------------------------------------------------------------------------------------------
# One step by hand
# ----------------------------------------------------------------------------------------------

ONE_STEP_CASES = [
    (order, peep, act)
    for order in ("graves", "lasagne-0.1")
    for peep in (True, False)
    for act in ("tanh", "leaky_rectify")
] + [("graves", True, "rectify"), ("lasagne-0.1", True, "sigmoid"), ("graves", True, "linear")]


@pytest.mark.parametrize("order,peepholes,act", ONE_STEP_CASES)
def test_one_step_matches_hand_computation(order, peepholes, act):
    rng = np.random.default_rng(11)
    P = make_params(rng, 3, 4, peepholes=peepholes)
    x = rng.normal(size=(2, 1, 3))
    cell_act = "leaky_rectify" if act == "leaky_rectify" else "tanh"
    # By hand, c_0 = h_0 = 0: the hidden-to-hidden terms and the i/f peepholes vanish.
    x0 = x[:, 0]
    z = {g: x0 @ P[f"W_in_to_{g}"] + P[f"b_{g}"] for g in GATES}
    c1 = expit(z["ingate"]) * nonlinearity(cell_act)(z["cell"])
    if not peepholes:
        o = expit(z["outgate"])
    elif order == "graves":
        o = expit(z["outgate"] + P["W_cell_to_outgate"] * c1)
    else:
        o = expit(z["outgate"]) + P["W_cell_to_outgate"] * c1
    h1 = o * nonlinearity(act)(c1)
    kw = {"act": act, "cell_act": cell_act, "peepholes": peepholes, "order": order}
    c_ref, h_ref, _ = step(P, x0, np.zeros((2, 4)), np.zeros((2, 4)), **kw)  # the reference...
    np.testing.assert_allclose(c_ref, c1, rtol=1e-14, atol=1e-15)
    np.testing.assert_allclose(h_ref, h1, rtol=1e-14, atol=1e-15)
    h, c = jax_run(P, x, **kw)  # ... and the engine
    assert h.dtype == np.float64 and c.dtype == np.float64
    np.testing.assert_allclose(c[:, 0], c1, rtol=1e-12, atol=1e-13)
    np.testing.assert_allclose(h[:, 0], h1, rtol=1e-12, atol=1e-13)


def test_one_step_with_initial_state_terms_matches_reference():
    """Second step exercises W_hid and the i/f peepholes on c_{t-1}; reference step by step."""
    rng = np.random.default_rng(12)
    P = make_params(rng, 3, 4)
    x = rng.normal(size=(2, 2, 3))
    for order in ("graves", "lasagne-0.1"):
        h, c = jax_run(P, x, order=order)
        c_ref, h_ref, _ = step(P, x[:, 0], np.zeros((2, 4)), np.zeros((2, 4)), order=order)
        c_ref, h_ref, _ = step(P, x[:, 1], c_ref, h_ref, order=order)
        np.testing.assert_allclose(h[:, 1], h_ref, rtol=1e-12, atol=1e-13)
        np.testing.assert_allclose(c[:, 1], c_ref, rtol=1e-12, atol=1e-13)


def test_peepholes_false_ignores_peephole_parameters():
    rng = np.random.default_rng(13)
    P = make_params(rng, 3, 4, peepholes=True)
    x = rng.normal(size=(2, 5, 3))
    h, _ = jax_run(P, x, peepholes=False)
    h_ref, _ = run_layer(P, x, peepholes=False)
    np.testing.assert_allclose(h, h_ref, rtol=1e-12, atol=1e-13)


def test_peepholes_inferred_from_parameter_names():
    rng = np.random.default_rng(14)
    x = jnp.asarray(rng.normal(size=(2, 4, 3)))
    for peep in (True, False):
        P = make_params(rng, 3, 4, peepholes=peep)
        h = np.asarray(lstm_layer(as_jax(P), x))  # peepholes=None: inferred
        h_ref, _ = run_layer(P, np.asarray(x), peepholes=peep)
        np.testing.assert_allclose(h, h_ref, rtol=1e-12, atol=1e-13)


# ----------------------------------------------------------------------------------------------
# Long sequences
# ----------------------------------------------------------------------------------------------

N_IN, N_HID, BATCH, STEPS = 5, 4, 3, 60


@functools.cache
def long_case():
    rng = np.random.default_rng(21)
    P = make_params(rng, N_IN, N_HID, scale=0.6)
    x = rng.normal(size=(BATCH, STEPS, N_IN))
    return P, x


@pytest.mark.parametrize("order", ["graves", "lasagne-0.1"])
@pytest.mark.parametrize("act,cell_act", [("tanh", "tanh"), ("leaky_rectify", "tanh"),
                                          ("tanh", "linear")])
def test_scan_matches_numpy_loop(order, act, cell_act):
    P, x = long_case()
    h, c = jax_run(P, x, act=act, cell_act=cell_act, order=order)
    h_ref, c_ref = run_layer(P, x, act=act, cell_act=cell_act, order=order)
    assert np.all(np.isfinite(h_ref))
    np.testing.assert_allclose(h, h_ref, rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(c, c_ref, rtol=1e-10, atol=1e-12)


def test_unroll_does_not_change_result():
    P, x = long_case()
    h1, _ = jax_run(P, x)
    h4, _ = jax_run(P, x, unroll=4)
    np.testing.assert_allclose(h4, h1, rtol=1e-12, atol=1e-14)


def test_peephole_orders_differ_measurably():
    P, x = long_case()
    h_g, _ = jax_run(P, x, order="graves")
    h_l, _ = jax_run(P, x, order="lasagne-0.1")
    assert np.max(np.abs(h_g - h_l)) > 1e-2
    # and the reference agrees on which is which (not merely "different")
    h_l_ref, _ = run_layer(P, x, order="lasagne-0.1")
    assert np.max(np.abs(h_g - h_l_ref)) > 1e-2
    # lasagne-0.1 output gate is not confined to (0, 1): |h| can exceed |tanh(c)|
    _, c_l = jax_run(P, x, order="lasagne-0.1")
    assert np.any(np.abs(h_l) > np.abs(np.tanh(c_l)) + 1e-9)
    _, c_g = jax_run(P, x, order="graves")
    assert np.all(np.abs(h_g) < np.abs(np.tanh(c_g)) + 1e-15)


# ----------------------------------------------------------------------------------------------
# Mask
# ----------------------------------------------------------------------------------------------


def test_mask_matches_reference_including_fractional_values():
    P, x = long_case()
    rng = np.random.default_rng(31)
    mask = (rng.random((BATCH, STEPS)) > 0.3).astype(float)
    mask[1, 10] = 0.5  # the blend is multiplicative, so fractional masks are defined too
    h, c = jax_run(P, x, mask)
    h_ref, c_ref = run_layer(P, x, mask)
    np.testing.assert_allclose(h, h_ref, rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(c, c_ref, rtol=1e-10, atol=1e-12)


def test_mask_zero_carries_state_exactly():
    P, x = long_case()
    mask = np.ones((BATCH, STEPS))
    mask[0, 5:9] = 0.0
    mask[2, 0:3] = 0.0
    h, c = jax_run(P, x, mask)
    for t in range(5, 9):
        np.testing.assert_array_equal(h[0, t], h[0, 4])
        np.testing.assert_array_equal(c[0, t], c[0, 4])
    # masked from the start: the zero initial state is carried over
    np.testing.assert_array_equal(h[2, :3], 0.0)
    np.testing.assert_array_equal(c[2, :3], 0.0)
    # unmasked rows are unaffected by other rows' masks (a different program: rounding only)
    h_free, _ = jax_run(P, x)
    np.testing.assert_allclose(h[1], h_free[1], rtol=1e-13, atol=1e-15)
    # after the gap the state evolves again
    assert not np.array_equal(h[0, 9], h[0, 8])


def test_mask_zeros_at_end_equal_truncated_sequence():
    P, x = long_case()
    lengths = [STEPS, 37, 12]
    mask = np.zeros((BATCH, STEPS))
    for b, n in enumerate(lengths):
        mask[b, :n] = 1.0
    h, c = jax_run(P, x, mask)
    for b, n in enumerate(lengths):
        h_t, c_t = jax_run(P, x[b:b + 1, :n])
        np.testing.assert_allclose(h[b, -1], h_t[0, -1], rtol=1e-13, atol=1e-15)
        np.testing.assert_allclose(c[b, -1], c_t[0, -1], rtol=1e-13, atol=1e-15)


def test_nan_under_a_zero_mask_follows_the_multiplicative_form():
    """0·NaN = NaN: a NaN input at a masked step still poisons the state (as in Lasagne)."""
    P, x = long_case()
    x = x.copy()
    x[0, 7, 2] = np.nan
    mask = np.ones((BATCH, STEPS))
    mask[0, 7] = 0.0
    h, c = jax_run(P, x, mask)
    h_ref, c_ref = run_layer(P, x, mask)
    np.testing.assert_array_equal(np.isnan(h), np.isnan(h_ref))
    np.testing.assert_array_equal(np.isnan(c), np.isnan(c_ref))
    assert np.all(np.isnan(h[0, 7:]))  # reference says so too (checked just above)
    assert np.all(np.isfinite(h[0, :7])) and np.all(np.isfinite(h[1:]))
    np.testing.assert_allclose(h, h_ref, rtol=1e-10, atol=1e-12, equal_nan=True)


# ----------------------------------------------------------------------------------------------
# grad_clipping
# ----------------------------------------------------------------------------------------------


def ref_pre(P: dict, x_t: jax.Array, h_prev: jax.Array) -> dict[str, jax.Array]:
    return preactivations(P, x_t, h_prev)


def ref_post(P: dict, z: dict, c_prev: jax.Array, order: str) -> tuple[jax.Array, jax.Array]:
    """(c_t, h_t) from the pre-activations: the reference's cell update, in JAX (for vjp)."""
    c, h, _ = cell_update(P, z, c_prev, None, order=order, xp=jnp)
    return c, h


def ref_clipped_grads(P, x, R, bound, order):
    """Gradients of sum(h·R) w.r.t. (params, x), clipping dL/dz_t elementwise at every step.

    Returns (grad_params, grad_x, n_clipped, n_total, max_abs_dz).
    """
    batch, steps, _ = x.shape
    n_hid = P["W_hid_to_ingate"].shape[0]
    c = h = jnp.zeros((batch, n_hid))
    states = []
    for t in range(steps):
        states.append((c, h))
        c, h = ref_post(P, ref_pre(P, x[:, t], h), c, order)
    g_params = jax.tree.map(jnp.zeros_like, P)
    g_x = [None] * steps
    g_c = g_h = jnp.zeros((batch, n_hid))
    n_clipped = n_total = 0
    max_dz = 0.0
    for t in reversed(range(steps)):
        c_prev, h_prev = states[t]
        z, pre_vjp = jax.vjp(lambda P_, x_, h_: ref_pre(P_, x_, h_), P, x[:, t], h_prev)
        _, post_vjp = jax.vjp(lambda P_, z_, c_: ref_post(P_, z_, c_, order), P, z, c_prev)
        gP_post, g_z, g_c_prev = post_vjp((g_c, g_h + R[:, t]))
        for v in g_z.values():
            n_clipped += int(jnp.sum(jnp.abs(v) > bound))
            n_total += v.size
            max_dz = max(max_dz, float(jnp.max(jnp.abs(v))))
        g_z = {k: jnp.clip(v, -bound, bound) for k, v in g_z.items()}
        gP_pre, g_x[t], g_h_prev = pre_vjp(g_z)
        g_params = jax.tree.map(lambda a, b, d: a + b + d, g_params, gP_pre, gP_post)
        g_c, g_h = g_c_prev, g_h_prev
    return g_params, jnp.stack(g_x, axis=1), n_clipped, n_total, max_dz


@functools.partial(jax.jit, static_argnames=("bound", "order"))
def layer_grads(P, x, R, bound, order):
    def loss(P_, x_):
        return jnp.sum(lstm_layer(P_, x_, grad_clipping=bound, peephole_order=order) * R)

    return jax.grad(loss, argnums=(0, 1))(P, x)


def grad_case(steps, seed=41):
    rng = np.random.default_rng(seed)
    P = as_jax(make_params(rng, 3, 4, scale=0.8))
    x = jnp.asarray(rng.normal(size=(2, steps, 3)))
    R = jnp.asarray(rng.normal(size=(2, steps, 4)))
    return P, x, R


def assert_tree_close(a, b, rtol, atol):
    assert set(a) == set(b)
    for k in a:
        np.testing.assert_allclose(np.asarray(a[k]), np.asarray(b[k]), rtol=rtol, atol=atol,
                                   err_msg=k)


@pytest.mark.parametrize("order", ["graves", "lasagne-0.1"])
def test_reference_backward_without_clipping_equals_jax_grad(order):
    """Validates the step-wise reference itself: with no clipping it must equal autodiff."""
    P, x, R = grad_case(3)
    g_ref, gx_ref, n_clipped, _, _ = ref_clipped_grads(P, x, R, np.inf, order)
    assert n_clipped == 0
    g, gx = layer_grads(P, x, R, 0.0, order)
    assert_tree_close(g, g_ref, 1e-11, 1e-13)
    np.testing.assert_allclose(gx, gx_ref, rtol=1e-11, atol=1e-13)


def test_large_bound_gives_unclipped_gradient():
    P, x, R = grad_case(3)
    _, _, _, _, max_dz = ref_clipped_grads(P, x, R, np.inf, "graves")
    bound = 2.0 * max_dz + 1.0
    g_clip, gx_clip = layer_grads(P, x, R, bound, "graves")
    g, gx = layer_grads(P, x, R, 0.0, "graves")
    for k in g:
        np.testing.assert_allclose(np.asarray(g_clip[k]), np.asarray(g[k]), rtol=1e-15,
                                   atol=0, err_msg=k)
    np.testing.assert_allclose(gx_clip, gx, rtol=1e-15, atol=0)


@pytest.mark.parametrize("steps", [1, 3])
@pytest.mark.parametrize("order", ["graves", "lasagne-0.1"])
def test_small_bound_matches_stepwise_clipped_backprop(steps, order):
    P, x, R = grad_case(steps)
    bound = 0.05
    g_ref, gx_ref, n_clipped, n_total, _ = ref_clipped_grads(P, x, R, bound, order)
    assert 0 < n_clipped < n_total  # the bound is active, but not everywhere
    g, gx = layer_grads(P, x, R, bound, order)
    assert_tree_close(g, g_ref, 1e-11, 1e-13)
    np.testing.assert_allclose(gx, gx_ref, rtol=1e-11, atol=1e-13)
    g_free, _ = layer_grads(P, x, R, 0.0, order)
    assert max(float(jnp.max(jnp.abs(g[k] - g_free[k]))) for k in g) > 1e-3


def test_t1_bias_gradient_is_batch_sum_of_clipped_per_example_dz():
    """For T=1, dL/db_gate of one example is dL/dz of that example, from the unclipped model."""
    P, x, R = grad_case(1, seed=43)
    bound = 0.05
    per_example = [layer_grads(P, x[i:i + 1], R[i:i + 1], 0.0, "graves")[0]
                   for i in range(x.shape[0])]
    g_clip, _ = layer_grads(P, x, R, bound, "graves")
    g_free, _ = layer_grads(P, x, R, 0.0, "graves")
    any_clipped = False
    for gate in GATES:
        dz = np.stack([np.asarray(pe[f"b_{gate}"]) for pe in per_example])  # (batch, H)
        any_clipped |= bool(np.any(np.abs(dz) > bound))
        np.testing.assert_allclose(g_clip[f"b_{gate}"], np.clip(dz, -bound, bound).sum(0),
                                   rtol=1e-12, atol=1e-14)
        np.testing.assert_allclose(g_free[f"b_{gate}"], dz.sum(0), rtol=1e-12, atol=1e-14)
        # W_in_to_gate: x_0^T · clip(dz)
        np.testing.assert_allclose(g_clip[f"W_in_to_{gate}"],
                                   np.asarray(x[:, 0]).T @ np.clip(dz, -bound, bound),
                                   rtol=1e-12, atol=1e-14)
    assert any_clipped
    assert not np.allclose(g_clip["b_cell"], g_free["b_cell"]) or not np.allclose(
        g_clip["b_outgate"], g_free["b_outgate"])


def test_negative_grad_clipping_raises():
    P, x, _ = grad_case(1)
    with pytest.raises(ValueError, match="grad_clipping"):
        lstm_layer(P, x, grad_clipping=-1.0)


# ----------------------------------------------------------------------------------------------
# check_params and argument validation
# ----------------------------------------------------------------------------------------------


def good_params(peepholes=True):
    return make_params(np.random.default_rng(51), 3, 4, peepholes=peepholes)


def test_check_params_accepts_good_parameters():
    assert check_params(good_params()) == (3, 4, True)
    assert check_params(good_params(False)) == (3, 4, False)
    assert check_params(good_params(), n_in=3, peepholes=True) == (3, 4, True)


@pytest.mark.parametrize("name", ["W_in_to_forgetgate", "W_hid_to_outgate", "b_cell",
                                  "W_cell_to_outgate", "W_hid_to_ingate", "W_in_to_ingate"])
def test_check_params_missing_parameter_is_named(name):
    P = good_params()
    del P[name]
    with pytest.raises(ValueError, match=name):
        check_params(P, peepholes=True)


def test_check_params_partial_peepholes_name_the_missing_one():
    P = good_params(False)
    P["W_cell_to_ingate"] = np.zeros(4)
    with pytest.raises(ValueError, match="W_cell_to_forgetgate"):
        check_params(P)


@pytest.mark.parametrize("name,shape", [("W_in_to_cell", (4, 4)), ("W_hid_to_forgetgate", (4, 3)),
                                        ("b_outgate", (4, 1)), ("W_cell_to_ingate", (3,))])
def test_check_params_misshapen_parameter_is_named(name, shape):
    P = good_params()
    P[name] = np.zeros(shape)
    with pytest.raises(ValueError, match=name):
        check_params(P, n_in=3)


def test_check_params_wrong_input_width_is_reported():
    with pytest.raises(ValueError, match="W_in_to_ingate"):
        check_params(good_params(), n_in=5)


@pytest.mark.parametrize("extra", ["W_cell_to_cell", "W_in_to_gate", "bias"])
def test_check_params_unexpected_parameter_is_named(extra):
    P = good_params()
    P[extra] = np.zeros(4)
    with pytest.raises(ValueError, match=extra):
        check_params(P)


def test_check_params_peepholes_given_but_not_expected():
    with pytest.raises(ValueError, match="W_cell_to_"):
        check_params(good_params(True), peepholes=False)


def test_unknown_nonlinearity_and_peephole_order_raise():
    P = as_jax(good_params())
    x = jnp.zeros((1, 2, 3))
    with pytest.raises(ValueError, match="relu"):
        lstm_layer(P, x, nonlinearity="relu")
    with pytest.raises(ValueError, match="softplus"):
        lstm_layer(P, x, cell_nonlinearity="softplus")
    with pytest.raises(ValueError, match="lasagne-0.2"):
        lstm_layer(P, x, peephole_order="lasagne-0.2")
    with pytest.raises(ValueError, match="relu"):
        get_nonlinearity("relu")


def test_input_must_be_three_dimensional():
    with pytest.raises(ValueError, match="batch, time, features"):
        lstm_layer(as_jax(good_params()), jnp.zeros((2, 3)))


def test_lstm_layer_names_a_missing_or_misshapen_parameter():
    from bench.lstm import param_shapes

    params = {k: jnp.zeros(s, jnp.float32) for k, s in param_shapes(3, 4).items()}
    x = jnp.zeros((2, 5, 3), jnp.float32)
    bad = dict(params)
    del bad["b_outgate"]
    with pytest.raises(ValueError, match="missing parameter 'b_outgate'"):
        lstm_layer(bad, x)
    bad = dict(params, W_in_to_cell=jnp.zeros((4, 4)))
    with pytest.raises(ValueError, match=r"'W_in_to_cell' has shape \(4, 4\), expected \(3, 4\)"):
        lstm_layer(bad, x)
    # an explicit peepholes=False ignores W_cell_to_* instead of calling them unexpected
    assert lstm_layer(params, x, peepholes=False).shape == (2, 5, 4)


# ----------------------------------------------------------------------------------------------
# The hand-written backward pass (bench.lstm._recurrence) against autodiff of a plain step loop
# ----------------------------------------------------------------------------------------------

def loop_lstm(P: dict, x: jax.Array, mask: jax.Array | None, *, act: str, cell_act: str,
              peepholes: bool, order: str) -> tuple[jax.Array, jax.Array]:
    """(h, c) of the reference step loop written in JAX: plain autodiff differentiates it."""
    return run_layer(P, x, mask, act=act, cell_act=cell_act, peepholes=peepholes, order=order,
                     xp=jnp)


@pytest.mark.parametrize("act,cell_act,peepholes,order,masked", [
    ("tanh", "tanh", True, "graves", False),
    ("tanh", "tanh", True, "lasagne-0.1", True),
    ("leaky_rectify", "leaky_rectify", True, "lasagne-0.1", False),
    ("rectify", "linear", True, "graves", True),
    ("sigmoid", "tanh", False, "graves", True),
])
def test_backward_matches_autodiff_of_a_step_loop(act, cell_act, peepholes, order, masked):
    """Gradients w.r.t. every parameter and the input, through both h and c (return_cell)."""
    rng = np.random.default_rng(7)
    P = as_jax(make_params(rng, 3, 5, peepholes=peepholes, scale=0.6))
    x = jnp.asarray(rng.normal(size=(2, 6, 3)))
    mask = jnp.asarray((rng.random((2, 6)) > 0.3).astype(float)) if masked else None
    Rh, Rc = jnp.asarray(rng.normal(size=(2, 6, 5))), jnp.asarray(rng.normal(size=(2, 6, 5)))

    def ours(P_, x_):
        h, c = lstm_layer(P_, x_, mask, nonlinearity=act, cell_nonlinearity=cell_act,
                          peephole_order=order, return_cell=True)
        return jnp.sum(h * Rh) + jnp.sum(c * Rc)

    def ref(P_, x_):
        h, c = loop_lstm(P_, x_, mask, act=act, cell_act=cell_act, peepholes=peepholes,
                         order=order)
        return jnp.sum(h * Rh) + jnp.sum(c * Rc)

    g, gx = jax.jit(jax.grad(ours, argnums=(0, 1)))(P, x)
    g_ref, gx_ref = jax.grad(ref, argnums=(0, 1))(P, x)
    assert_tree_close(g, g_ref, 1e-11, 1e-13)
    np.testing.assert_allclose(gx, gx_ref, rtol=1e-11, atol=1e-13)
    assert max(float(jnp.max(jnp.abs(v))) for v in g.values()) > 1e-3  # not trivially zero


@pytest.mark.parametrize("peepholes", [True, False])
def test_pack_places_each_gate_where_the_step_reads_it(peepholes):
    """The packed W is [W_in; W_hid] with gate columns in Lasagne's order (i, f, c, o): checked
    block by block against the named arrays, and unpack gives every named array back exactly."""
    n_in, h = 3, 4
    rng = np.random.default_rng(0)
    params = {k: jnp.asarray(v) for k, v in lasagne_params(rng, n_in, h, peepholes=peepholes,
                                                           scale=1.0, dtype=np.float32).items()}
    packed = lstm.pack(params)
    assert packed["W"].shape == (n_in + h, 4 * h) and packed["b"].shape == (4 * h,)
    for j, g in enumerate(GATES):
        cols = slice(j * h, (j + 1) * h)
        np.testing.assert_array_equal(packed["W"][:n_in, cols], params[f"W_in_to_{g}"])
        np.testing.assert_array_equal(packed["W"][n_in:, cols], params[f"W_hid_to_{g}"])
        np.testing.assert_array_equal(packed["b"][cols], params[f"b_{g}"])
    back = lstm.unpack(packed)
    assert sorted(back) == sorted(params)
    for k, v in params.items():
        np.testing.assert_array_equal(back[k], v)
    x = jnp.asarray(rng.normal(size=(2, 5, n_in)), jnp.float32)
    np.testing.assert_array_equal(lstm.lstm_layer(packed, x), lstm.lstm_layer(params, x))
    want, _ = run_layer(params, x, peepholes=peepholes)  # and both are the reference's numbers
    np.testing.assert_allclose(np.asarray(lstm.lstm_layer(packed, x), np.float64), want,
                               rtol=1e-5, atol=1e-6)
