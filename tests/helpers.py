"""Helpers shared by the test modules (``from helpers import ...``; pytest puts this folder on
``sys.path`` because it holds ``conftest.py``).

* :func:`lasagne_params` / :func:`lasagne_stack`: random parameters under Lasagne's names.
* The LSTM reference: :func:`preactivations`, :func:`cell_update`, :func:`step`,
  :func:`run_layer` and :func:`run_stack`, written from the equations of ``bench/lstm.py``'s
  docstring, one matrix per gate, and independent of ``bench`` (nothing here imports it). With
  the default ``xp=numpy`` it computes in float64; with ``xp=jax.numpy`` the same equations can
  be differentiated by plain autodiff (tests of the hand-written backward pass).
* :data:`TINY` and :func:`set_args`: the one small run configuration of every test that trains,
  as run options and as the command line's ``--set`` arguments.
* :func:`exit_status` and :func:`one_line`: the command line's exit status and its one-line
  errors.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any

import numpy as np
from scipy.special import expit

GATES = ("ingate", "forgetgate", "cell", "outgate")  # Lasagne's order
PEEPHOLE_GATES = ("ingate", "forgetgate", "outgate")
PEEPHOLE_ORDERS = ("graves", "lasagne-0.1")
LEAKINESS = 0.01  # Lasagne's LeakyRectify default


# ----------------------------------------------------------------------------------------------
# parameters
# ----------------------------------------------------------------------------------------------


def lasagne_params(rng: np.random.Generator, n_in: int, n_hid: int, *, peepholes: bool = True,
                   scale: float = 0.5, bias_scale: float | None = None,
                   peephole_scale: float | None = None,
                   dtype: Any = np.float64) -> dict[str, np.ndarray]:
    """One layer of normal random parameters under Lasagne's names, drawn gate by gate
    (``W_in_to_<g>`` (n_in, H), ``W_hid_to_<g>`` (H, H), ``b_<g>`` (H,)), then the peepholes
    ``W_cell_to_<g>`` (H,) of the three sigmoid gates. Standard deviations: ``scale`` for the
    matrices, ``bias_scale`` (default ``scale``) for the biases, ``peephole_scale`` (default
    ``scale``) for the peepholes."""
    bias_scale = scale if bias_scale is None else bias_scale
    peephole_scale = scale if peephole_scale is None else peephole_scale
    p: dict[str, np.ndarray] = {}
    for g in GATES:
        p[f"W_in_to_{g}"] = rng.normal(0.0, scale, (n_in, n_hid)).astype(dtype)
        p[f"W_hid_to_{g}"] = rng.normal(0.0, scale, (n_hid, n_hid)).astype(dtype)
        p[f"b_{g}"] = rng.normal(0.0, bias_scale, n_hid).astype(dtype)
    if peepholes:
        for g in PEEPHOLE_GATES:
            p[f"W_cell_to_{g}"] = rng.normal(0.0, peephole_scale, n_hid).astype(dtype)
    return p


def lasagne_stack(rng: np.random.Generator, sizes: Sequence[int],
                  **kw: Any) -> list[dict[str, np.ndarray]]:
    """:func:`lasagne_params` for every layer of a stack ``sizes = (n_in, H_1, ..., H_L)``."""
    return [lasagne_params(rng, a, b, **kw) for a, b in zip(sizes[:-1], sizes[1:], strict=True)]


# ----------------------------------------------------------------------------------------------
# the LSTM reference
# ----------------------------------------------------------------------------------------------


def sigmoid(xp: Any = np) -> Callable[[Any], Any]:
    """The logistic function for the array module ``xp`` (NumPy: ``scipy.special.expit``)."""
    if xp is np:
        return expit
    import jax

    return jax.nn.sigmoid


def nonlinearity(name: str, xp: Any = np) -> Callable[[Any], Any]:
    """Lasagne's nonlinearity ``name`` for the array module ``xp``.

    ``leaky_rectify`` is Lasagne's own form ``½(1+a)v + ½(1−a)|v|`` (NaN at −inf, as Lasagne);
    ``rectify`` is ``max(v, 0)`` written as a ``where`` (NaN at −inf too: ``0·(−inf)``)."""
    if name == "tanh":
        return xp.tanh
    if name == "sigmoid":
        return sigmoid(xp)
    if name == "leaky_rectify":
        return lambda v: 0.5 * (1 + LEAKINESS) * v + 0.5 * (1 - LEAKINESS) * xp.abs(v)
    if name == "rectify":
        return lambda v: xp.where(v > 0, v, 0.0 * v)
    if name == "linear":
        return lambda v: v
    raise KeyError(name)


def preactivations(P: Mapping[str, Any], x_t: Any, h_prev: Any) -> dict[str, Any]:
    """``z_g = x_t · W_in_to_g + h_{t−1} · W_hid_to_g + b_g`` for each gate g."""
    return {g: x_t @ P[f"W_in_to_{g}"] + h_prev @ P[f"W_hid_to_{g}"] + P[f"b_{g}"]
            for g in GATES}


def cell_update(P: Mapping[str, Any], z: Mapping[str, Any], c_prev: Any, h_prev: Any,
                m: Any = None, *, act: str = "tanh", cell_act: str = "tanh",
                peepholes: bool = True, order: str = "graves",
                xp: Any = np) -> tuple[Any, Any, dict[str, Any]]:
    """The rest of one step from the gates' pre-activations ``z``: ``(c_t, h_t, gates)``.

    ``gates``: ``ingate`` i_t, ``forgetgate`` f_t, ``outgate`` σ(·) of the output gate (before
    Lasagne 0.1's peephole term is added) and ``cell`` g_t. ``m`` (batch,): the mask column; where
    0 the state is carried over (``c_t = m c_t + (1−m) c_{t−1}``, h likewise)."""
    if order not in PEEPHOLE_ORDERS:
        raise ValueError(order)
    sig = sigmoid(xp)
    if peepholes:
        i = sig(z["ingate"] + P["W_cell_to_ingate"] * c_prev)
        f = sig(z["forgetgate"] + P["W_cell_to_forgetgate"] * c_prev)
    else:
        i = sig(z["ingate"])
        f = sig(z["forgetgate"])
    g = nonlinearity(cell_act, xp)(z["cell"])
    c = f * c_prev + i * g
    if not peepholes:
        s_o = o = sig(z["outgate"])
    elif order == "graves":
        s_o = o = sig(z["outgate"] + P["W_cell_to_outgate"] * c)
    else:  # lasagne-0.1: the peephole is added after the sigmoid
        s_o = sig(z["outgate"])
        o = s_o + P["W_cell_to_outgate"] * c
    h = o * nonlinearity(act, xp)(c)
    if m is not None:
        mm = m[:, None]
        c = mm * c + (1 - mm) * c_prev
        h = mm * h + (1 - mm) * h_prev
    return c, h, {"ingate": i, "forgetgate": f, "outgate": s_o, "cell": g}


def step(P: Mapping[str, Any], x_t: Any, c_prev: Any, h_prev: Any, m: Any = None,
         **kw: Any) -> tuple[Any, Any, dict[str, Any]]:
    """One LSTM step: :func:`cell_update` of :func:`preactivations`; ``(c_t, h_t, gates)``."""
    return cell_update(P, preactivations(P, x_t, h_prev), c_prev, h_prev, m, **kw)


def run_layer(P: Mapping[str, Any], x: Any, mask: Any = None, *, return_gates: bool = False,
              xp: Any = np, **kw: Any) -> tuple:
    """The step loop over ``x`` (batch, time, n_in) from ``c_0 = h_0 = 0``: ``(h, c)``, each
    (batch, time, H), and with ``return_gates`` a third item, each gate (batch, time, H).

    With ``xp=numpy`` everything (parameters, input, mask) is converted to float64 first and
    overflow is allowed to give inf/NaN silently; with another ``xp`` the arrays are used as
    given (for autodiff)."""
    if xp is np:
        P = {k: np.asarray(v, np.float64) for k, v in P.items()}
        x = np.asarray(x, np.float64)
        mask = None if mask is None else np.asarray(mask, np.float64)
    batch, steps, _ = x.shape
    n_hid = P["W_hid_to_ingate"].shape[0]
    c = h = xp.zeros((batch, n_hid), dtype=x.dtype)
    hs, cs, gates = [], [], []
    with np.errstate(invalid="ignore", over="ignore"):
        for t in range(steps):
            m = None if mask is None else mask[:, t]
            c, h, g = step(P, x[:, t], c, h, m, xp=xp, **kw)
            hs.append(h)
            cs.append(c)
            gates.append(g)
    h_seq, c_seq = xp.stack(hs, axis=1), xp.stack(cs, axis=1)
    if return_gates:
        return h_seq, c_seq, {k: xp.stack([g[k] for g in gates], axis=1) for k in GATES}
    return h_seq, c_seq


def run_stack(layers: Sequence[Mapping[str, Any]], x: Any, mask: Any = None,
              **kw: Any) -> list[tuple[Any, Any]]:
    """:func:`run_layer` layer after layer (each layer's h is the next one's input, the same
    mask throughout): every layer's ``(h, c)``."""
    states = []
    for P in layers:
        h, c = run_layer(P, x, mask, **kw)
        states.append((h, c))
        x = h
    return states


# ----------------------------------------------------------------------------------------------
# the tiny run configuration
# ----------------------------------------------------------------------------------------------

# Every test that trains (a sweep, a chunk, the command line, a subprocess) uses these shapes and
# step counts, changing only what it tests. Compiling is most of a tiny sweep's time; with one
# configuration a program compiled by one test (in this worker, or in the persistent compilation
# cache that the Makefile sets for every worker and subprocess) serves each later test that
# trains the same architecture on the same number of runs. A budget of 4 steps validated every
# 2 gives one training program per chunk width, and a curve of two points.
TINY: dict[str, Any] = dict(
    hidden=(6, 5), window=8, batch_size=2, steps=4, val_every=2, train_sequences=4,
    val_sequences=2, val_length=16, test_sequences=2, test_length=32, init_length=40,
    init_sequences=1, curve_points=2)


def set_args(options: Mapping[str, Any]) -> list[str]:
    """``options`` as the command line's ``--set NAME=VALUE`` arguments (a tuple is written
    comma-separated, as ``hidden=6,5``)."""
    out: list[str] = []
    for name, value in options.items():
        text = ",".join(map(str, value)) if isinstance(value, tuple) else str(value)
        out += ["--set", f"{name}={text}"]
    return out


# ----------------------------------------------------------------------------------------------
# the command line
# ----------------------------------------------------------------------------------------------


def exit_status(main: Callable[[Sequence[str]], int], argv: Sequence[str]) -> int:
    """``main(argv)``'s status, whether argparse's SystemExit escapes it or is turned into a
    return value."""
    try:
        return main(argv)
    except SystemExit as e:
        return int(e.code or 0)


def one_line(text: str) -> str:
    """The single non-blank line of ``text`` (asserts there is exactly one and no traceback)."""
    lines = [ln for ln in text.splitlines() if ln.strip()]
    assert len(lines) == 1, f"expected one line, got {lines!r}"
    assert "Traceback" not in text
    return lines[0]
