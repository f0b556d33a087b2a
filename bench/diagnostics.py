"""Why a strategy trains or fails: the dynamics of the stack over one long forward pass.

:func:`dynamics` runs the stack over the init sequences (``init_length`` steps, no dropout) at
given parameters (at init, and again after training) and measures, per LSTM layer of hidden
size H, on device; :func:`summarize` turns that into the numbers a run record keeps:

* **Growth.** The trace m_b = max over units and sequences of |h| in block b of the pass
  (``blocks`` equal blocks). Over the second half of the finite part of the trace (the blocks
  before the first non-finite one), the least-squares slope s of log m_b against the step gives
  ``growth_h = exp(1000 s)``: the factor by which max |h| grows per 1 000 steps (≈ 1: bounded;
  ``growth_c`` likewise for max |c|).
* **Recurrent Jacobian.** J_t = ∂(h_t, c_t)/∂(h_{t−1}, c_{t−1}) (2H × 2H), by ``jax.jacfwd``
  of one step (:func:`bench.lstm.step`) at each of the last ``lags`` steps of the pass, first
  sequence. ``jac_radius`` is the mean over those steps of its spectral radius ρ(J_t),
  ``jac_sigma`` the mean of its largest singular value. Skipped (NaN) when 2H > ``MAX_JAC``.
* **Gradient against lag.** G_k = ‖J_T J_{T−1} ⋯ J_{T−k+1}‖₂ for k = 1 … ``lags`` (T = the
  last step): how strongly the last state depends on the state k steps back, i.e. the norm of
  the gradient that backpropagation through time carries k steps. ``grad_lag`` keeps G_k at
  k = 1, 2, 4, …; ``memory_horizon`` is the smallest k with G_k < 10⁻³ G_1 (NaN when it is not
  reached within ``lags``: censored, "> lags").
* **Gate saturation.** Over every step, sequence and unit whose previous state is finite: the
  fraction of ``ingate``,
  ``forgetgate`` and ``outgate`` values above 0.99 or below 0.01, and of |cell input| above
  0.99 (``cell``; a tanh cell input); ``forget_mean`` f̄ and its time scale 1/(1 − f̄).
* **Culprit units.** The ``CULPRITS`` units whose own max |h| grows fastest (the slope above,
  per unit), with their biases ``b_<gate>[u]`` and recurrent self-weights
  ``W_hid_to_<gate>[u, u]``: what a person reads to see why a run blows up.

References: Pascanu, Mikolov & Bengio (2013), "On the difficulty of training recurrent neural
networks", arXiv:1211.5063 (products of step Jacobians, their spectral radius); Hochreiter
(1991) and Bengio, Simard & Frasconi (1994) on vanishing gradients.
"""

from __future__ import annotations

import functools
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

from bench import lstm, model

Array = jax.Array

LAGS = 64  # steps of the Jacobian product (and of the radius average)
MAX_JAC = 512  # largest 2H whose Jacobians are formed (memory: lags × (2H)² floats per layer)
HORIZON_DROP = 1e-3  # memory horizon: G_k below this fraction of G_1
CULPRITS = 3
SIGMOID_GATES = ("ingate", "forgetgate", "outgate")
GATES = (*SIGMOID_GATES, "cell")


def step_jacobian(layer: Any, x_t: Array, h_prev: Array, c_prev: Array, **kw: Any) -> Array:
    """J = ∂(h_t, c_t)/∂(h_{t−1}, c_{t−1}) of one step of one layer (packed parameters;
    ``kw``: the nonlinearities and peephole order of :func:`bench.lstm.step`), shape (2H, 2H),
    rows and columns ordered (h, c), by forward-mode autodiff (``jax.jacfwd``)."""
    n_hid = h_prev.shape[-1]

    def one(s: Array) -> Array:
        h1, c1, _ = lstm.step(layer, x_t, s[:n_hid], s[n_hid:], **kw)
        return jnp.concatenate([h1, c1])

    return jax.jacfwd(one)(jnp.concatenate([h_prev, c_prev]))


def _shift(seq: Array) -> Array:
    """``seq[:, t-1]`` for every t (zeros at t = 0), batch-major."""
    return jnp.concatenate([jnp.zeros_like(seq[:, :1]), seq[:, :-1]], axis=1)


@functools.partial(jax.jit, static_argnames=("arch", "axis", "lags", "blocks"))
def dynamics(params: Any, x: Array, *, arch: Any, axis: str, lags: int = LAGS,
             blocks: int = 100) -> dict[str, list]:
    """Device part of the diagnostics of every run (leading axis of ``params``, mapped along
    ``axis`` as :func:`bench.train.over_runs`) over ``x`` (B, T, C): per layer ``unit_trace``
    (blocks, H): max over sequences of |h_u| per block; ``c_trace`` (blocks,); ``saturation``
    (4,) in :data:`GATES` order; ``forget_mean``; ``jacobians`` (lags, 2H, 2H) or None; and
    ``stats``, the numbers of :func:`bench.train.init_diagnostics` from the same pass.
    ``arch``: a :class:`bench.train.Arch`."""
    from bench.train import over_runs

    return over_runs(functools.partial(_dynamics, x=x, arch=arch, lags=lags, blocks=blocks),
                     params, axis)


def _dynamics(params: Any, *, x: Array, arch: Any, lags: int, blocks: int) -> dict[str, list]:
    packed = model.pack_stack(params)
    layers = packed[:-1] if arch.readout else packed
    states = model.stack_forward(packed, x, nonlinearity=arch.nonlinearity,
                                 cell_nonlinearity=arch.cell_nonlinearity,
                                 peephole_order=arch.peephole_order, return_states=True,
                                 readout=arch.readout)
    kw = {"nonlinearity": arch.nonlinearity, "cell_nonlinearity": arch.cell_nonlinearity,
          "peephole_order": arch.peephole_order}
    from bench.train import state_stats

    out: dict[str, Any] = {k: [] for k in ("unit_trace", "c_trace", "saturation",
                                           "forget_mean", "jacobians")}
    out["stats"] = state_stats(states, blocks)  # what bench.train.init_diagnostics gives
    inp = x
    t_len = x.shape[1]
    n_blocks = min(blocks, t_len)
    used = t_len // n_blocks * n_blocks
    for layer, (h, c) in zip(layers, states, strict=True):
        n_hid = h.shape[-1]
        h_prev, c_prev = _shift(h), _shift(c)
        _, _, gates = lstm.step(layer, inp, h_prev, c_prev, **kw)
        ok = jnp.isfinite(h_prev) & jnp.isfinite(c_prev)  # steps before a blow-up only
        n_ok = jnp.maximum(jnp.sum(ok), 1)
        sat = [jnp.sum(((gates[g] > 0.99) | (gates[g] < 0.01)) & ok) / n_ok
               for g in SIGMOID_GATES]
        sat.append(jnp.sum((jnp.abs(gates["cell"]) > 0.99) & ok) / n_ok)
        out["saturation"].append(jnp.stack(sat))
        out["forget_mean"].append(jnp.sum(jnp.where(ok, gates["forgetgate"], 0.0)) / n_ok)
        mag = jnp.where(jnp.isfinite(h), jnp.abs(h), jnp.inf)[:, :used]
        out["unit_trace"].append(jnp.max(mag.reshape(h.shape[0], n_blocks, -1, n_hid),
                                         axis=(0, 2)))
        cmag = jnp.where(jnp.isfinite(c), jnp.abs(c), jnp.inf)[:, :used]
        out["c_trace"].append(jnp.max(cmag.reshape(h.shape[0], n_blocks, -1), axis=(0, 2)))
        if 2 * n_hid <= MAX_JAC:
            k = min(lags, t_len)
            jac = functools.partial(step_jacobian, layer, **kw)
            out["jacobians"].append(jax.vmap(jac)(inp[0, -k:], h_prev[0, -k:],
                                                  c_prev[0, -k:]))
        else:
            out["jacobians"].append(None)
        inp = h
    return out


def growth(trace: Any, block_steps: float) -> float:
    """``exp(1000 · s)``, s the least-squares slope of log ``trace`` against the step over the
    second half of its finite prefix (the blocks before the first non-finite or zero value);
    NaN with fewer than 2 blocks there. ``block_steps``: steps per block."""
    m = np.asarray(trace, dtype=np.float64)
    bad = ~np.isfinite(m) | (m <= 0)
    end = int(np.argmax(bad)) if bad.any() else m.size
    start = end // 2
    if end - start < 2:
        return np.nan
    t = (np.arange(start, end) + 0.5) * block_steps
    slope = np.polyfit(t, np.log(m[start:end]), 1)[0]
    return float(np.exp(1000.0 * slope))


def lag_norms(jacobians: Any) -> np.ndarray:
    """G_k = ‖J_T ⋯ J_{T−k+1}‖₂ for k = 1 … K, from the step Jacobians in time order
    (``jacobians[-1]`` = J_T), in float64."""
    js = np.asarray(jacobians, dtype=np.float64)
    prod = np.eye(js.shape[-1])
    out = []
    for j in js[::-1]:
        prod = prod @ j
        out.append(np.linalg.norm(prod, 2) if np.isfinite(prod).all() else np.nan)
    return np.asarray(out)


def memory_horizon(norms: Any, drop: float = HORIZON_DROP) -> float:
    """The smallest lag k (1-based) with ``norms[k-1] < drop · norms[0]``; NaN if none."""
    g = np.asarray(norms, dtype=np.float64)
    if g.size == 0 or not np.isfinite(g[0]) or g[0] <= 0:
        return np.nan
    hit = np.flatnonzero(g < drop * g[0])
    return float(hit[0] + 1) if hit.size else np.nan


def _spectra(jacobians: Any) -> tuple[float, float]:
    js = np.asarray(jacobians, dtype=np.float64)
    if not np.isfinite(js).all():
        return np.nan, np.nan
    radius = np.mean([np.max(np.abs(np.linalg.eigvals(j))) for j in js])
    sigma = np.mean([np.linalg.norm(j, 2) for j in js])
    return float(radius), float(sigma)


def culprits(unit_trace: Any, block_steps: float, layer: dict[str, Any],
             n: int = CULPRITS) -> list[dict[str, Any]]:
    """The ``n`` units with the largest :func:`growth` of their own max |h|, with their biases
    and recurrent self-weights (``layer`` under Lasagne's names)."""
    tr = np.asarray(unit_trace, dtype=np.float64)
    g = np.array([growth(tr[:, u], block_steps) for u in range(tr.shape[1])])
    order = np.argsort(np.where(np.isfinite(g), -g, np.inf), kind="stable")[:n]
    rows = []
    for u in order:
        row: dict[str, Any] = {"unit": int(u), "growth_h": float(g[u])}
        for gate in lstm.GATES:
            row[f"b_{gate}"] = float(np.asarray(layer[f"b_{gate}"])[u])
            row[f"W_hid_to_{gate}[u,u]"] = float(np.asarray(layer[f"W_hid_to_{gate}"])[u, u])
        rows.append(row)
    return rows


def summarize(raw: dict[str, list], params: Any, init_length: int,
              run: int = 0) -> dict[str, list]:
    """Per layer, the numbers a record keeps (see the module docstring) for run ``run`` of a
    :func:`dynamics` output ``raw`` (host arrays) and of its parameters ``params``."""
    raw = jax.tree.map(lambda a: a[run], {k: v for k, v in raw.items() if k != "stats"})
    named = [jax.tree.map(lambda a: np.asarray(a)[run], layer)
             for layer in model.unpack_stack(params)]
    out: dict[str, list] = {k: [] for k in (
        "growth_h", "growth_c", "jac_radius", "jac_sigma", "memory_horizon", "grad_lag",
        "saturation", "forget_timescale", "culprits")}
    for i, trace in enumerate(raw["unit_trace"]):
        trace = np.asarray(trace, dtype=np.float64)
        block = init_length / trace.shape[0]
        out["growth_h"].append(growth(trace.max(axis=1), block))
        out["growth_c"].append(growth(raw["c_trace"][i], block))
        jac = raw["jacobians"][i]
        if jac is None:
            radius = sigma = horizon = np.nan
            lagged: list[float] = []
        else:
            radius, sigma = _spectra(jac)
            norms = lag_norms(jac)
            horizon = memory_horizon(norms)
            lagged = [float(norms[k - 1]) for k in 2 ** np.arange(int(np.log2(len(norms))) + 1)]
        out["jac_radius"].append(radius)
        out["jac_sigma"].append(sigma)
        out["memory_horizon"].append(horizon)
        out["grad_lag"].append(lagged)
        sat = np.asarray(raw["saturation"][i], dtype=np.float64)
        out["saturation"].append({g: float(v) for g, v in zip(GATES, sat, strict=True)})
        f = float(raw["forget_mean"][i])
        out["forget_timescale"].append(1.0 / (1.0 - f) if f < 1 else np.inf)  # float32 mean
        out["culprits"].append(culprits(trace, block, named[i]))
    return out
