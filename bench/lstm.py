r"""The LSTM layer: Lasagne's ``LSTMLayer`` semantics in JAX, equations included.

One step, gates stacked in Lasagne's order ``[ingate, forgetgate, cell, outgate]``::

    z_t = [x_t, h_{t-1}] · [W_in; W_hid] + b          # (4H,), one matmul per step
    (grad_clipping = c > 0: the backward pass clips dL/dz_t to [-c, c], Theano's grad_clip)
    i_t = σ(z_i + W_cell_to_ingate     ⊙ c_{t-1})
    f_t = σ(z_f + W_cell_to_forgetgate ⊙ c_{t-1})
    g_t = cell_nonlinearity(z_c)
    c_t = f_t ⊙ c_{t-1} + i_t ⊙ g_t
    o_t = σ(z_o + W_cell_to_outgate ⊙ c_t)            # peephole_order="graves" (correct)
    o_t = σ(z_o) + W_cell_to_outgate ⊙ c_t            # peephole_order="lasagne-0.1" (the bug)
    h_t = o_t ⊙ nonlinearity(c_t)
    masked step (m_t = 0): c_t = m_t c_t + (1-m_t) c_{t-1};  h_t likewise

``c_0 = h_0 = 0``. Without peepholes the ``W_cell_*`` terms are absent.

Why two peephole orders: Lasagne 0.1 (the latest release on PyPI) applies the output gate's
sigmoid *before* adding the peephole term, so ``o_t`` leaves (0, 1) and ``h_t ∝ w_co c_t²`` can
blow up in finite time (Lasagne issue #448, fixed by PR #449 after 0.1). ``"graves"`` is the
published peephole LSTM (Graves 2013, arXiv:1308.0850, eq. 7-11) and is the default;
``"lasagne-0.1"`` reproduces the released behaviour a Lasagne user actually ran.

Parameter names are Lasagne's: ``W_in_to_<gate>`` (n_in, H), ``W_hid_to_<gate>`` (H, H),
``b_<gate>`` (H,), and ``W_cell_to_<gate>`` (H,) for the three sigmoid gates. The step does one
fused (n_in + H, 4H) matmul on the packed layout of :func:`pack` (training keeps parameters
packed; :func:`lstm_layer` packs Lasagne-named ones once per call, outside the scan).

References: Hochreiter & Schmidhuber (1997); Gers, Schraudolph & Schmidhuber (2002) for
peepholes; Lasagne 0.1 ``lasagne/layers/recurrent.py``.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

import jax
import jax.numpy as jnp

Array = jax.Array

GATES = ("ingate", "forgetgate", "cell", "outgate")
PEEPHOLE_GATES = ("ingate", "forgetgate", "outgate")
PEEPHOLE_ORDERS = ("graves", "lasagne-0.1")


def leaky_rectify(x: Array, leakiness: float = 0.01) -> Array:
    """Lasagne's ``LeakyRectify(0.01)``, in its own form ``½(1+a)x + ½(1-a)|x|``.

    The form matters: at ``x = -inf`` it gives ``-inf + inf = NaN``, as Lasagne does.
    """
    return 0.5 * (1 + leakiness) * x + 0.5 * (1 - leakiness) * jnp.abs(x)


def rectify(x: Array) -> Array:
    """Lasagne's ``rectify``: ``½(x + |x|)``."""
    return 0.5 * (x + jnp.abs(x))


def linear(x: Array) -> Array:
    """Identity."""
    return x


NONLINEARITIES: dict[str, Callable[[Array], Array]] = {
    "tanh": jnp.tanh,
    "sigmoid": jax.nn.sigmoid,
    "leaky_rectify": leaky_rectify,
    "rectify": rectify,
    "linear": linear,
}


def get_nonlinearity(name: str) -> Callable[[Array], Array]:
    """Look a nonlinearity up by name; unknown names raise ``ValueError``."""
    try:
        return NONLINEARITIES[name]
    except KeyError:
        raise ValueError(
            f"unknown nonlinearity {name!r}; choose from {', '.join(NONLINEARITIES)}"
        ) from None


def param_shapes(n_in: int, n_hid: int, peepholes: bool = True) -> dict[str, tuple[int, ...]]:
    """Lasagne names and shapes of one layer's parameters."""
    shapes: dict[str, tuple[int, ...]] = {}
    for g in GATES:
        shapes[f"W_in_to_{g}"] = (n_in, n_hid)
        shapes[f"W_hid_to_{g}"] = (n_hid, n_hid)
        shapes[f"b_{g}"] = (n_hid,)
    if peepholes:
        for g in PEEPHOLE_GATES:
            shapes[f"W_cell_to_{g}"] = (n_hid,)
    return shapes


def has_peepholes(params: Mapping[str, Array]) -> bool:
    """True when the parameters carry peephole vectors ``W_cell_to_*``."""
    return any(f"W_cell_to_{g}" in params for g in PEEPHOLE_GATES)


def check_params(
    params: Mapping[str, Array], n_in: int | None = None, peepholes: bool | None = None
) -> tuple[int, int, bool]:
    """Validate names and shapes; return ``(n_in, n_hid, peepholes)``.

    Raises ``ValueError`` naming the first missing, unexpected or misshapen parameter.
    """
    if "W_hid_to_ingate" not in params:
        raise ValueError("missing parameter 'W_hid_to_ingate'")
    n_hid = int(jnp.shape(params["W_hid_to_ingate"])[0])
    if n_in is None:
        if "W_in_to_ingate" not in params:
            raise ValueError("missing parameter 'W_in_to_ingate'")
        n_in = int(jnp.shape(params["W_in_to_ingate"])[0])
    if peepholes is None:
        peepholes = has_peepholes(params)
    expected = param_shapes(n_in, n_hid, peepholes)
    for name, shape in expected.items():
        if name not in params:
            raise ValueError(f"missing parameter {name!r} (expected shape {shape})")
        got = tuple(jnp.shape(params[name]))
        if got != shape:
            raise ValueError(f"parameter {name!r} has shape {got}, expected {shape}")
    extra = sorted(set(params) - set(expected))
    if extra:
        raise ValueError(f"unexpected parameter {extra[0]!r} (peepholes={peepholes})")
    return n_in, n_hid, peepholes


def pack(params: Mapping[str, Array], peepholes: bool | None = None) -> dict[str, Array]:
    """One layer's parameters in the engine's layout: ``W = [W_in; W_hid]`` (n_in + H, 4H) and
    ``b`` (4H,) with the gates concatenated in ``GATES`` order, so one matmul
    ``[x_t, h_{t-1}] · W`` forms every gate's input, plus the peephole vectors
    ``W_cell_to_<gate>`` under their own names (absent without peepholes). Training keeps this
    layout, so the optimizer updates 2 + 3 arrays per layer instead of 15; Adam is elementwise,
    so the updates are the same numbers."""
    if is_packed(params):
        return dict(params)
    if peepholes is None:
        peepholes = has_peepholes(params)
    w_in = jnp.concatenate([params[f"W_in_to_{g}"] for g in GATES], axis=-1)
    w_hid = jnp.concatenate([params[f"W_hid_to_{g}"] for g in GATES], axis=-1)
    packed = {"W": jnp.concatenate([w_in, w_hid], axis=-2),
              "b": jnp.concatenate([params[f"b_{g}"] for g in GATES], axis=-1)}
    if peepholes:
        packed.update({f"W_cell_to_{g}": params[f"W_cell_to_{g}"] for g in PEEPHOLE_GATES})
    return packed


def is_packed(params: Mapping[str, Any]) -> bool:
    """True for a layer in :func:`pack`'s layout."""
    return "W" in params and "b" in params


def unpack(packed: Mapping[str, Array]) -> dict[str, Array]:
    """Lasagne's names from :func:`pack`'s layout (any leading axes are kept; n_in is the
    number of rows of ``W`` less H = its columns / 4)."""
    n_in = packed["W"].shape[-2] - packed["W"].shape[-1] // 4
    w_in, w_hid = packed["W"][..., :n_in, :], packed["W"][..., n_in:, :]
    out: dict[str, Array] = {}
    for name, full in (("W_in_to", w_in), ("W_hid_to", w_hid), ("b", packed["b"])):
        for g, part in zip(GATES, jnp.split(full, 4, axis=-1), strict=True):
            out[f"{name}_{g}"] = part
    out.update({k: v for k, v in packed.items() if k.startswith("W_cell_to_")})
    return out


@dataclass(frozen=True)
class _Cell:
    """The elementwise part of one step: everything after ``z_t`` is formed (static settings)."""

    act: Callable[[Array], Array]
    cell_act: Callable[[Array], Array]
    peephole_order: str
    grad_clipping: float

    def __call__(self, peep: Mapping[str, Array], z: Array, c_prev: Array, h_prev: Array,
                 m: Array | None) -> tuple[Array, Array, tuple]:
        """``(c_t, h_t, saved)`` from ``z_t = [x_t, h_{t-1}]·[W_in; W_hid] + b`` and the previous
        state; ``saved`` is what :meth:`backward` needs: the sigmoid gates ``i, f``, the output
        gate's ``σ(·)``, the cell pre-activation ``z_c`` and (masked only) the unmasked ``c_t``.
        A forward-only scan drops ``saved`` and XLA never computes it."""
        z_i, z_f, z_c, z_o = jnp.split(z, 4, axis=-1)
        if peep:
            z_i = z_i + c_prev * peep["ingate"]
            z_f = z_f + c_prev * peep["forgetgate"]
        i = jax.nn.sigmoid(z_i)
        f = jax.nn.sigmoid(z_f)
        c = f * c_prev + i * self.cell_act(z_c)
        if peep and self.peephole_order == "graves":
            s_o = o = jax.nn.sigmoid(z_o + c * peep["outgate"])
        else:
            s_o = o = jax.nn.sigmoid(z_o)
            if peep:  # "lasagne-0.1": peephole added after the sigmoid (Lasagne issue #448)
                o = s_o + c * peep["outgate"]
        h = o * self.act(c)
        saved = (i, f, s_o, z_c, c if m is not None else None)
        if m is not None:  # masked step: carry the state over
            c = c * m + c_prev * (1 - m)
            h = h * m + h_prev * (1 - m)
        return c, h, saved

    def backward(self, peep: Mapping[str, Array], saved: tuple, c: Array, c_prev: Array,
                 dc: Array, dh: Array, m: Array | None) -> tuple[Array, Array, Array, dict]:
        """``(δz_t, δc_{t-1}, δh_{t-1}', δpeep_t)`` from ``δc = ∂L/∂c_t``, ``δh = ∂L/∂h_t``
        (``δh_{t-1}'``: the mask's direct path only, 0 without a mask; the ``W_hid`` path is
        added by the caller).

        With ``u' = u(1-u)`` for a sigmoid output u, ``a = act(c_t)``::

            δo = δh·a,  δc_t += act'(c_t)·δh·o
            graves:       δz_o = δo·o',   δc_t += δz_o·w_co,  δw_co = Σ_b δz_o·c_t
            lasagne-0.1:  δz_o = δo·σ(z_o)',  δc_t += δo·w_co,  δw_co = Σ_b δo·c_t
            δz_i = δc_t·g·i',  δz_f = δc_t·c_{t-1}·f',  δz_c = cell_act'(z_c)·δc_t·i
            δc_{t-1} = δc_t·f + δz_i·w_ci + δz_f·w_cf,  δw_ci = Σ_b δz_i·c_{t-1}  (w_cf alike)

        Peephole and state gradients use the unclipped δz; only the δz handed to the matmuls
        is clipped (Lasagne clips ``gates`` before the peephole terms are added).
        """
        i, f, s_o, z_c, c_new = saved
        if m is None:
            c_new, dh_direct, dc_direct = c, 0.0, 0.0
        else:
            dh, dh_direct = dh * m, dh * (1 - m)
            dc, dc_direct = dc * m, dc * (1 - m)
        a, act_vjp = jax.vjp(self.act, c_new)
        g, cell_act_vjp = jax.vjp(self.cell_act, z_c)
        lasagne_o = bool(peep) and self.peephole_order != "graves"
        o = s_o + c_new * peep["outgate"] if lasagne_o else s_o
        d_o = dh * a
        dc = dc + act_vjp(dh * o)[0]
        dz_o = d_o * s_o * (1 - s_o)
        d_peep: dict[str, Array] = {}
        if peep:
            d_out = d_o if lasagne_o else dz_o  # gradient of the peephole term w_co ⊙ c_t
            dc = dc + d_out * peep["outgate"]
            d_peep["outgate"] = _batch_sum(d_out * c_new)
        dz_i = dc * g * i * (1 - i)
        dz_f = dc * c_prev * f * (1 - f)
        dz_c = cell_act_vjp(dc * i)[0]
        dc_prev = dc * f + dc_direct
        if peep:
            dc_prev = dc_prev + dz_i * peep["ingate"] + dz_f * peep["forgetgate"]
            d_peep["ingate"] = _batch_sum(dz_i * c_prev)
            d_peep["forgetgate"] = _batch_sum(dz_f * c_prev)
        dz = jnp.concatenate([dz_i, dz_f, dz_c, dz_o], axis=-1)
        if self.grad_clipping:
            dz = jnp.clip(dz, -self.grad_clipping, self.grad_clipping)
        return dz, dc_prev, dh_direct, d_peep


def _batch_sum(x: Array) -> Array:
    return jnp.sum(x, axis=tuple(range(x.ndim - 1)))


def _shift(seq: Array) -> Array:
    """``seq[t-1]`` for every t (zeros at t = 0): the previous states of a time-major sequence."""
    return jnp.concatenate([jnp.zeros_like(seq[:1]), seq[:-1]])


def _scan_forward(cell: _Cell, unroll: int, w: Array, b: Array, peep: dict, xs: Array,
                  mask: Array | None, keep_saved: bool = False) -> tuple[Array, Array, Any]:
    """Time-major ``(h, c)`` sequences from ``c_0 = h_0 = 0``, and with ``keep_saved`` every
    step's ``saved`` arrays (stacked over time) for the backward pass, else None."""
    zeros = jnp.zeros(xs.shape[1:-1] + (w.shape[1] // 4,), xs.dtype)

    def body(carry: tuple[Array, Array], inputs: tuple) -> tuple:
        c_prev, h_prev = carry
        x, m = inputs
        z = jnp.concatenate([x, h_prev], axis=-1) @ w + b
        c, h, saved = cell(peep, z, c_prev, h_prev, m)
        return (c, h), (h, c, saved if keep_saved else None)

    _, (hs, cs, saved) = jax.lax.scan(body, (zeros, zeros), (xs, mask), unroll=unroll)
    return hs, cs, saved


@functools.partial(jax.custom_vjp, nondiff_argnums=(0, 1))
def _recurrence(cell: _Cell, unroll: int, w: Array, b: Array, peep: dict, xs: Array,
                mask: Array | None) -> tuple[Array, Array]:
    """One layer over a time-major input ``xs`` (T, B, n_in): ``(h, c)`` time-major, with a
    hand-written backward pass.

    Each step forms ``z_t = [x_t, h_{t-1}] · W + b`` with one matmul (``W = [W_in; W_hid]``);
    the forward scan also keeps, per step, the gates ``i, f, σ(·)_o`` and ``z_c``
    (:meth:`_Cell.__call__`). Backward (backpropagation through time), for t = T-1 … 0, with
    δh, δc flowing back from t+1::

        (δz_t, δc_{t-1}, δh_{t-1}', δpeep_t) = _Cell.backward(∂L/∂c_t + δc, ∂L/∂h_t + δh)
        δh_{t-1} = δh_{t-1}' + δz_t · W_hidᵀ

    and after the loop, as single large products over all T·B rows::

        ∂L/∂W = Σ_t [x_t, h_{t-1}]ᵀ δz_t,  ∂L/∂b = Σ_t δz_t,  ∂L/∂x_t = δz_t · W_inᵀ,
        ∂L/∂peep = Σ_t δpeep_t

    Autodiff of the scan would accumulate ``∂L/∂W`` inside the loop (one more small matmul per
    step) and keep 15 per-step arrays instead of 4. On the CPU the step's cost is mostly a fixed
    price per XLA operation, so the layout is chosen for few operations per step: the input
    enters the step's one matmul instead of a projection hoisted out of the loop (that
    projection's large array and its transposes cost more than the wider matmul).
    Tests compare it with autodiff of a plain step loop (every nonlinearity, both peephole
    orders, masks), a step-wise clipped reference, NumPy and Lasagne.
    """
    hs, cs, _ = _scan_forward(cell, unroll, w, b, peep, xs, mask)
    return hs, cs


def _recurrence_fwd(cell: _Cell, unroll: int, w: Array, b: Array, peep: dict, xs: Array,
                    mask: Array | None) -> tuple:
    hs, cs, saved = _scan_forward(cell, unroll, w, b, peep, xs, mask, True)
    return (hs, cs), (w, peep, xs, mask, hs, cs, saved)


def _recurrence_bwd(cell: _Cell, unroll: int, res: tuple, cotangents: tuple) -> tuple:
    w, peep, xs, mask, hs, cs, saved = res
    d_hs, d_cs = cotangents
    n_in = xs.shape[-1]
    w_hid_t = w[n_in:].T  # transposed once, outside the loop

    def body(carry: tuple, inputs: tuple) -> tuple:
        dh, dc, dpeep = carry
        saved_t, c, c_prev, m, dh_out, dc_out = inputs
        dz, dc_prev, dh_prev, dpp = cell.backward(peep, saved_t, c, c_prev, dc_out + dc,
                                                  dh_out + dh, m)
        dpeep = jax.tree.map(jnp.add, dpeep, dpp)
        return (dh_prev + dz @ w_hid_t, dc_prev, dpeep), dz

    zeros = jnp.zeros_like(hs[0])
    init = (zeros, zeros, jax.tree.map(jnp.zeros_like, peep))
    (_, _, d_peep), d_zs = jax.lax.scan(body, init, (saved, cs, _shift(cs), mask, d_hs, d_cs),
                                        reverse=True, unroll=unroll)
    rows = lambda a: a.reshape(-1, a.shape[-1])  # noqa: E731  (T, B, k) -> (T·B, k)
    xh = jnp.concatenate([xs, _shift(hs)], axis=-1)
    d_w = rows(xh).T @ rows(d_zs)
    d_b = jnp.sum(rows(d_zs), axis=0)
    d_xs = d_zs @ w[:n_in].T
    d_mask = None if mask is None else jnp.zeros_like(mask)
    return d_w, d_b, d_peep, d_xs, d_mask


_recurrence.defvjp(_recurrence_fwd, _recurrence_bwd)


def lstm_layer(
    params: Mapping[str, Array],
    x: Array,
    mask: Array | None = None,
    *,
    nonlinearity: str = "tanh",
    cell_nonlinearity: str = "tanh",
    peepholes: bool | None = None,
    peephole_order: str = "graves",
    grad_clipping: float = 0.0,
    return_cell: bool = False,
    unroll: int = 1,
) -> Array | tuple[Array, Array]:
    """Run one LSTM layer over ``x`` of shape (batch, time, n_in); return h (batch, time, H).

    ``mask`` (batch, time): where 0 the state is carried over unchanged. ``peepholes=None``
    infers them from the presence of ``W_cell_to_*`` in ``params``; ``False`` ignores them.
    Missing, misshapen or unexpected parameters raise ``ValueError`` naming them. With
    ``return_cell`` the cell sequence is returned too, as ``(h, c)``.
    """
    if peephole_order not in PEEPHOLE_ORDERS:
        raise ValueError(
            f"unknown peephole_order {peephole_order!r}; choose from {', '.join(PEEPHOLE_ORDERS)}"
        )
    if grad_clipping < 0:
        raise ValueError(f"grad_clipping must be >= 0, got {grad_clipping}")
    if x.ndim != 3:
        raise ValueError(f"input must be (batch, time, features), got shape {tuple(x.shape)}")
    if peepholes is False:  # an explicit "no peepholes" ignores any W_cell_to_* given
        params = {k: v for k, v in params.items() if not k.startswith("W_cell_to_")}
    if not is_packed(params):
        _, _, peepholes = check_params(params, n_in=x.shape[2], peepholes=peepholes)
    return packed_layer(pack(params, peepholes), x, mask, nonlinearity=nonlinearity,
                        cell_nonlinearity=cell_nonlinearity, peephole_order=peephole_order,
                        grad_clipping=grad_clipping, return_cell=return_cell, unroll=unroll)


def _cell_and_peepholes(packed: Mapping[str, Array], nonlinearity: str, cell_nonlinearity: str,
                        peephole_order: str, grad_clipping: float = 0.0) -> tuple[_Cell, dict]:
    """The step's elementwise part and the packed layer's peephole vectors (none without)."""
    cell = _Cell(get_nonlinearity(nonlinearity), get_nonlinearity(cell_nonlinearity),
                 peephole_order, float(grad_clipping))
    return cell, {g: packed[f"W_cell_to_{g}"] for g in PEEPHOLE_GATES
                  if f"W_cell_to_{g}" in packed}


def packed_layer(
    packed: Mapping[str, Array],
    x: Array,
    mask: Array | None = None,
    *,
    nonlinearity: str = "tanh",
    cell_nonlinearity: str = "tanh",
    peephole_order: str = "graves",
    grad_clipping: float = 0.0,
    return_cell: bool = False,
    unroll: int = 1,
) -> Array | tuple[Array, Array]:
    """:func:`lstm_layer` on parameters in :func:`pack`'s layout (shapes are not checked)."""
    cell, peep = _cell_and_peepholes(packed, nonlinearity, cell_nonlinearity, peephole_order,
                                     grad_clipping)
    m_seq = None
    if mask is not None:
        m_seq = jnp.swapaxes(mask, 0, 1)[..., None].astype(x.dtype)
    hs, cs = _recurrence(cell, unroll, packed["W"], packed["b"], peep, jnp.swapaxes(x, 0, 1),
                         m_seq)
    hs = jnp.swapaxes(hs, 0, 1)
    if return_cell:
        return hs, jnp.swapaxes(cs, 0, 1)
    return hs


def step(
    packed: Mapping[str, Array],
    x_t: Array,
    h_prev: Array,
    c_prev: Array,
    *,
    nonlinearity: str = "tanh",
    cell_nonlinearity: str = "tanh",
    peephole_order: str = "graves",
) -> tuple[Array, Array, dict[str, Array]]:
    """One step of one layer (the equations of this module's docstring) on parameters in
    :func:`pack`'s layout: ``(h_t, c_t, gates)`` with ``gates`` the sigmoid outputs
    ``ingate``, ``forgetgate``, ``outgate`` (σ(·) before Lasagne 0.1's peephole is added) and
    ``cell``, the cell input ``cell_nonlinearity(z_c)``. For diagnostics: differentiable in
    ``h_prev`` and ``c_prev`` (``jax.jacfwd``), any leading batch axes."""
    cell, peep = _cell_and_peepholes(packed, nonlinearity, cell_nonlinearity, peephole_order)
    z = jnp.concatenate([x_t, h_prev], axis=-1) @ packed["W"] + packed["b"]
    c, h, (i, f, s_o, z_c, _) = cell(peep, z, c_prev, h_prev, None)
    return h, c, {"ingate": i, "forgetgate": f, "outgate": s_o, "cell": cell.cell_act(z_c)}
