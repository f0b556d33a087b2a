"""The diagnostics against independent computations: the step Jacobian against central finite
differences in float64, the gradient against lag against forward-mode autodiff of the unrolled
k-step map, saturation against a NumPy step loop on hand-set parameters, the spectral radius of
a near-linear LSTM against its first-order expansion, and growth / horizon on hand-made
traces."""

from __future__ import annotations

import contextlib
import math

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from helpers import lasagne_params, run_layer, step
from scipy.special import expit

from bench import diagnostics as D
from bench import lstm, train
from bench.config import resolve


@contextlib.contextmanager
def enable_x64():
    """float64 within the block only (a module-level switch would change the whole session)."""
    was = jax.config.jax_enable_x64
    jax.config.update("jax_enable_x64", True)
    try:
        yield
    finally:
        jax.config.update("jax_enable_x64", was)


KW = {"nonlinearity": "tanh", "cell_nonlinearity": "tanh", "peephole_order": "graves"}


def _layer(n_in: int, n_hid: int, scale: float, seed: int = 0) -> tuple[dict, dict]:
    """Random float64 parameters: Lasagne-named (NumPy, for the reference) and packed (JAX)."""
    named = lasagne_params(np.random.default_rng(seed), n_in, n_hid, scale=scale)
    return named, lstm.pack({k: jnp.asarray(v, jnp.float64) for k, v in named.items()})


@pytest.mark.parametrize("order", ["graves", "lasagne-0.1"])
def test_step_jacobian_matches_central_finite_differences(order):
    with enable_x64():
        n_in, n_hid = 3, 4
        named, layer = _layer(n_in, n_hid, 0.8)
        rng = np.random.default_rng(1)
        x, h, c = (rng.normal(size=n) for n in (n_in, n_hid, n_hid))
        kw = dict(KW, peephole_order=order)
        jac = np.asarray(D.step_jacobian(layer, *map(jnp.asarray, (x, h, c)), **kw))

        def f(s):  # the NumPy reference step, (h, c) -> (h_t, c_t)
            c1, h1, _ = step(named, x, s[n_hid:], s[:n_hid], order=order)
            return np.concatenate([h1, c1])

        s0, eps = np.concatenate([h, c]), 1e-6
        fd = np.stack([(f(s0 + eps * e) - f(s0 - eps * e)) / (2 * eps)
                       for e in np.eye(2 * n_hid)], axis=1)
        assert jac.shape == (2 * n_hid, 2 * n_hid)
        np.testing.assert_allclose(jac, fd, rtol=1e-7, atol=1e-9)


def test_gradient_against_lag_is_the_derivative_of_the_unrolled_map():
    """G_k from the product of step Jacobians equals the spectral norm of jacfwd of the k-step
    map s_{T−k} ↦ s_T with the same inputs, for every k."""
    with enable_x64():
        n_in, n_hid, k_max = 2, 3, 6
        _, layer = _layer(n_in, n_hid, 1.2, seed=3)
        rng = np.random.default_rng(4)
        xs = jnp.asarray(rng.normal(size=(k_max, n_in)), jnp.float64)
        s = jnp.asarray(rng.normal(size=2 * n_hid) * 0.5, jnp.float64)
        states, jacs = [s], []
        for t in range(k_max):
            jacs.append(D.step_jacobian(layer, xs[t], s[:n_hid], s[n_hid:], **KW))
            h1, c1, _ = lstm.step(layer, xs[t], s[:n_hid], s[n_hid:], **KW)
            s = jnp.concatenate([h1, c1])
            states.append(s)
        norms = D.lag_norms(np.stack(jacs))

        for k in range(1, k_max + 1):
            def unrolled(s0, k=k):
                for t in range(k_max - k, k_max):
                    h1, c1, _ = lstm.step(layer, xs[t], s0[:n_hid], s0[n_hid:], **KW)
                    s0 = jnp.concatenate([h1, c1])
                return s0

            direct = np.asarray(jax.jacfwd(unrolled)(states[k_max - k]))
            assert norms[k - 1] == pytest.approx(np.linalg.norm(direct, 2), rel=1e-10)


def test_saturation_and_forget_gate_match_a_numpy_step_loop():
    """One layer (C → C, H = C = 4) with hand-set biases: ingate +8 on unit 0 (σ > 0.99),
    forgetgate −8 on unit 1 (σ < 0.01), cell ±3 pre-activation bias on unit 2 (|tanh| ≈ 0.995):
    fractions and the mean forget gate equal the NumPy loop's."""
    n = 4
    rng = np.random.default_rng(0)
    named = lasagne_params(rng, n, n, scale=0.1, bias_scale=0.0, dtype=np.float32)
    named["b_ingate"][0], named["b_forgetgate"][1], named["b_cell"][2] = 8.0, -8.0, 3.0
    layer = lstm.pack({k: jnp.asarray(v) for k, v in named.items()})
    x = rng.normal(0, 0.25, (1, 200, n)).astype(np.float32)
    arch = train.Arch.of(resolve("quick", dropout=0.0, peephole_order="graves"))
    raw = jax.device_get(D.dynamics(jax.tree.map(lambda a: a[None], [layer]), jnp.asarray(x),
                                    arch=arch, axis="vmap", blocks=10))
    _, _, gates = run_layer(named, x, return_gates=True)  # the NumPy reference, every step
    gates = {g: v[0] for g, v in gates.items()}
    sat = np.asarray(raw["saturation"][0][0])
    for j, g in enumerate(D.SIGMOID_GATES):
        ref = np.mean((gates[g] > 0.99) | (gates[g] < 0.01))
        assert sat[j] == pytest.approx(ref, abs=1e-6), g
    assert sat[3] == pytest.approx(np.mean(np.abs(gates["cell"]) > 0.99), abs=1e-6)
    assert sat[0] >= 0.25 and sat[1] >= 0.25  # units 0 and 1 saturate at every step
    assert float(raw["forget_mean"][0][0]) == pytest.approx(gates["forgetgate"].mean(), rel=1e-5)


def test_near_linear_lstm_radius_is_the_forget_gate():
    """Weights ~1e-4, peepholes 0, b_forgetgate = 1: to first order J = [[0, o·f], [0, f]]
    (blocks over h and c), so ρ(J) = f = σ(1) and σ_max = f·√(1 + o²) with o = σ(0) = 1/2."""
    n_in, n = 3, 5
    named = lasagne_params(np.random.default_rng(1), n_in, n, scale=1e-4, dtype=np.float32)
    for g in D.SIGMOID_GATES:
        named[f"W_cell_to_{g}"] = np.zeros(n, np.float32)
    for g in lstm.GATES:
        named[f"b_{g}"] = np.zeros(n, np.float32)
    named["b_forgetgate"] = np.ones(n, np.float32)
    layer = lstm.pack({k: jnp.asarray(v) for k, v in named.items()})
    x = jnp.asarray(np.random.default_rng(2).normal(0, 0.25, (1, 128, n_in)), jnp.float32)
    jacs = jax.vmap(lambda x_t: D.step_jacobian(layer, x_t, jnp.zeros(n), jnp.zeros(n), **KW))(
        x[0, :8])
    radius, sigma = D._spectra(np.asarray(jax.device_get(jacs)))
    f = expit(1.0)
    assert radius == pytest.approx(f, rel=1e-3)
    assert sigma == pytest.approx(f * math.sqrt(1 + 0.25), rel=1e-3)


def test_growth_and_memory_horizon_on_hand_made_traces():
    t = (np.arange(100) + 0.5) * 100  # 100 blocks of 100 steps
    assert D.growth(np.exp(0.002 * t), 100) == pytest.approx(math.exp(2.0), rel=1e-9)
    assert D.growth(np.full(100, 0.7), 100) == pytest.approx(1.0)
    blown = np.exp(0.001 * t)
    blown[40:] = np.inf  # finite prefix of 40 blocks: the fit uses blocks 20 … 39
    assert D.growth(blown, 100) == pytest.approx(math.e, rel=1e-9)
    assert math.isnan(D.growth([np.inf] * 5, 100))
    assert D.memory_horizon([2.0, 1.0, 0.01, 0.0019, 1e-5]) == 4.0  # 0.0019 < 0.002
    assert math.isnan(D.memory_horizon([1.0, 0.5, 0.1]))  # not reached: censored
