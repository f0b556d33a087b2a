"""``python -m bench lasagne-nans``: the original network's NaNs under Lasagne 0.1, run again
and taken apart.

The *original network* is the one a user asked about: a Theano + Lasagne 0.1 stack
7 → 1024 → 128 → 7 (this project's ``large`` profile) whose first layer, built by their
``create_identity_lstm``, gave NaNs before any training. The recipe is theirs: X uniform on
[0, 1) of shape (5, 10000, 7), float32, masks of ones, and the first layer 7 → 1024, built by
this project's port of ``create_identity_lstm`` (the ``identity-bias`` strategy: G = 10,
GlorotNormal(gain 0.01) weights, Normal(0.01) peepholes, leaky_rectify cell and output).

Variants, each with a table per sequence (NaN count of length × H outputs, first non-finite
step, max |h| and |c| before it):

1. the engine with ``peephole_order="lasagne-0.1"`` (what the user ran), and the same with the
   input dropout p = 0.33 left on (the ``determistic`` typo);
2. real Lasagne 0.1 on Theano, float32, same parameters and input (the oracle,
   :mod:`bench.studies.oracle`, in a ``.venv-lasagne`` subprocess; skipped with a note when
   that venv is missing or with ``--no-lasagne``);
3. the engine with the published (Graves) peephole order;
4. ``identity-bias-fixed`` (Graves order).

Then the first output step term by term (dropout on versus off; σ(10) twice, leaky_rectify,
W_in noise, the 0.1 bug's w_co·c² term) and a plain-language summary of the three causes
(:func:`explanation`). The output-gate peephole bug is Lasagne issue #448
(https://github.com/Lasagne/Lasagne/issues/448); the identity idea behind
``create_identity_lstm`` is Le, Jaitly & Hinton (2015), arXiv:1504.00941.

:func:`add_parser` registers ``lasagne-nans`` (``func`` = :func:`cmd`) and its former name
``seed-repro`` (a note on stderr, then the same).
"""

from __future__ import annotations

import argparse
import functools
import json
import math
import os
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from bench.errors import PluginError, UserError

REPO = Path(__file__).resolve().parents[2]
LASAGNE_PYTHON = REPO / ".venv-lasagne" / "bin" / "python"
ORACLE = Path(__file__).resolve().parent / "oracle" / "lasagne_oracle.py"
SETUP = "bash bench/studies/oracle/setup.sh"

PROFILE = "large"  # the original network's sizes: 7 → 1024 → 128 → 7
CHANNELS = 7  # the original network's input width (orig_inp of the first layer)
SECOND_LAYER = 128  # its second layer; drawn so the stack is the large profile's
DROPOUT_P = 0.33  # its DropoutLayer(p=0.33) in front of lstm1
LEAKINESS = 0.01  # Lasagne's leaky_rectify
# What the user's question printed (their own X and weights, so only the order of magnitude
# compares): NaNs per sequence, and h[:, 0, 0] − X[:, 0, 0].
QUESTION_NAN_PER_SEQUENCE = (6379520, 6367232, 6377472, 6376448, 6378496)
QUESTION_FIRST_STEP_MISMATCH = (-0.03898358, -0.10118812, 0.34877831, -0.02509735, 0.36689138)

ENGINE_01 = "engine, lasagne-0.1 order"
ENGINE_01_DROPOUT = "engine, lasagne-0.1 order, input dropout 0.33 on (the typo)"
LASAGNE = "real Lasagne 0.1 (Theano 1.0.5, float32)"
ENGINE_GRAVES = "engine, Graves order"
FIXED = "identity-bias-fixed (Graves order)"


# ------------------------------------------------------------------------------ the recipe


def make_input(seed: int, batch: int, length: int) -> np.ndarray:
    """X ~ U[0, 1) of shape (batch, length, 7), float32, as ``numpy.random.random`` gives."""
    return np.random.RandomState(seed).random_sample((batch, length, CHANNELS)).astype(np.float32)


def dropout_keep(seed: int, shape: tuple[int, ...], p: float = DROPOUT_P) -> np.ndarray:
    """The keep mask of one input-dropout draw (True = kept), independent of X's stream."""
    return np.random.default_rng((seed, 33)).random(shape) >= p


def apply_dropout(x: np.ndarray, keep: np.ndarray, p: float = DROPOUT_P) -> np.ndarray:
    """Lasagne's DropoutLayer (rescale=True): zero the dropped, divide the kept by 1 − p."""
    return np.where(keep, x / np.float32(1.0 - p), np.float32(0.0)).astype(x.dtype)


def first_layer(strategy: str, seed: int, hidden: int) -> tuple[dict[str, np.ndarray], str, str]:
    """The strategy's first layer 7 → hidden of the original network's stack:
    (params, cell nonlinearity, hidden nonlinearity).

    Built through the strategy registry, exactly as a sweep builds it (key PRNGKey(seed)).
    """
    import jax

    from bench.config import resolve
    from bench.registry import get_strategy

    chosen = get_strategy(strategy)
    cfg = resolve(PROFILE, strategy=strategy, settings=chosen.settings(), seed=seed,
                  hidden=(hidden, SECOND_LAYER))
    params = chosen.init_params(jax.random.PRNGKey(seed), cfg)[0]
    nls = chosen.nonlinearities()
    return ({k: np.asarray(v, np.float32) for k, v in params.items()},
            nls["cell_nonlinearity"], nls["nonlinearity"])


@functools.cache
def _compiled(nonlinearity: str, cell_nonlinearity: str, peephole_order: str) -> Callable:
    import jax

    from bench.lstm import lstm_layer

    return jax.jit(functools.partial(
        lstm_layer, nonlinearity=nonlinearity, cell_nonlinearity=cell_nonlinearity,
        peepholes=True, peephole_order=peephole_order, return_cell=True))


def engine_forward(
    params: dict[str, np.ndarray], x: np.ndarray, *, nonlinearity: str, cell_nonlinearity: str,
    peephole_order: str,
) -> tuple[np.ndarray, np.ndarray]:
    """(h, c), each (batch, length, H) float32, with a mask of ones as in the question."""
    import jax.numpy as jnp

    fn = _compiled(nonlinearity, cell_nonlinearity, peephole_order)
    mask = jnp.ones(x.shape[:2], jnp.float32)
    h, c = fn({k: jnp.asarray(v) for k, v in params.items()}, jnp.asarray(x), mask)
    return np.asarray(h), np.asarray(c)


# ------------------------------------------------------------------------------ measurements


def _first(index: np.ndarray) -> int | None:
    return int(index[0]) if index.size else None


def sequence_stats(h: np.ndarray, c: np.ndarray | None = None) -> list[dict[str, Any]]:
    """Per sequence: NaN and inf counts, first non-finite step, first step where every unit is
    NaN, max |h| and |c| over the steps before the first non-finite one (all steps if none)."""
    rows = []
    for b in range(h.shape[0]):
        hb = h[b]
        finite_step = np.isfinite(hb).all(axis=1)
        first_bad = _first(np.flatnonzero(~finite_step))
        first_all_nan = _first(np.flatnonzero(np.isnan(hb).all(axis=1)))
        stop = hb.shape[0] if first_bad is None else first_bad
        row = {
            "nan": int(np.isnan(hb).sum()),
            "inf": int(np.isinf(hb).sum()),
            "first_nonfinite_step": first_bad,
            "first_all_nan_step": first_all_nan,
            "max_abs_h_before": float(np.abs(hb[:stop]).max()) if stop else None,
            "max_abs_c_before": None,
        }
        if c is not None and stop:
            cb = c[b][:stop]
            row["max_abs_c_before"] = float(np.abs(cb[np.isfinite(cb)]).max())
        rows.append(row)
    return rows


def nan_relation_holds(rows: list[dict[str, Any]], length: int, hidden: int) -> bool:
    """NaN count = (length − first all-NaN step) × H for every sequence (no NaN: count 0)."""
    for r in rows:
        t = r["first_all_nan_step"]
        if r["nan"] != (0 if t is None else (length - t) * hidden):
            return False
    return True


def growth(h: np.ndarray, points: int = 6) -> dict[str, Any]:
    """max |h| over the batch and units at evenly spaced steps, and, where the whole run is
    finite and its second half has >= 500 steps, the growth factor per 1000 steps over that
    half (from its two ends)."""
    length = h.shape[1]
    steps = sorted({int(round(v)) for v in np.linspace(0, length - 1, points)})
    peak = np.abs(h).max(axis=(0, 2))  # per step; NaN once any unit is NaN
    out: dict[str, Any] = {"steps": steps, "max_abs_h": [float(peak[s]) for s in steps],
                           "factor_per_1000_steps": None}
    half = length // 2
    if np.isfinite(peak).all() and length - 1 - half >= 500 and peak[half] > 0:
        rate = math.log(peak[-1] / peak[half]) / (length - 1 - half)
        out["factor_per_1000_steps"] = math.exp(1000.0 * rate)
    return out


def _lrelu(v: np.ndarray) -> np.ndarray:
    return 0.5 * (1 + LEAKINESS) * v + 0.5 * (1 - LEAKINESS) * np.abs(v)


def _sigmoid(v: np.ndarray) -> np.ndarray:
    return 1.0 / (1.0 + np.exp(-v))


def first_step_terms(
    params: dict[str, np.ndarray], x_seen: np.ndarray, x_true: np.ndarray, unit: int = 0,
) -> dict[str, np.ndarray]:
    """h_0[unit] − x_true[unit], split into causes (float64, the original network's
    nonlinearities, 0.1 order).

    ``x_seen`` (batch, 7) is what the layer received at step 0 (after dropout, if on);
    ``x_true`` (batch, 7) is X[:, 0]. With c_{-1} = h_{-1} = 0 the step is
    g = lrelu(x·W_c + b_c), c = σ(z_i)·g, h = (σ(z_o) + w_co·c)·lrelu(c). The terms telescope:
    their sum is exactly h − x (up to float rounding of the engine's float32 run).
    """
    p = {k: np.asarray(v, np.float64) for k, v in params.items()}
    xs = np.asarray(x_seen, np.float64)
    x0 = np.asarray(x_true, np.float64)[:, unit]
    xs0 = xs[:, unit]

    def pre(gate: str) -> np.ndarray:
        return xs @ p[f"W_in_to_{gate}"][:, unit] + p[f"b_{gate}"][unit]

    pre_cell = pre("cell")
    i, o = _sigmoid(pre("ingate")), _sigmoid(pre("outgate"))
    g = _lrelu(pre_cell)
    c = i * g
    out = _lrelu(c)
    w_co = p["W_cell_to_outgate"][unit]
    terms = {
        "x": x0,
        "dropout": xs0 - x0,  # 0 when deterministic; −x dropped, +0.49·x kept
        "w_in_noise": pre_cell - xs0,  # x·W_in_to_cell[:, unit] + b_cell − x[unit]
        "cell_lrelu": g - pre_cell,  # 0 unless the cell input is negative
        "ingate": (i - 1.0) * g,  # σ(10 + noise) − 1 ≈ −4.5e-5
        "out_lrelu": out - c,
        "outgate": (o - 1.0) * out,
        "peephole_bug": w_co * c * out,  # the 0.1 order: + w_co·c after the sigmoid
        "sigma_i": i,
        "sigma_o": o,
        "w_co": np.full_like(x0, w_co),
    }
    terms["total"] = sum(terms[k] for k in ("dropout", "w_in_noise", "cell_lrelu", "ingate",
                                            "out_lrelu", "outgate", "peephole_bug"))
    return terms


# ------------------------------------------------------------------------------ real Lasagne


def run_lasagne(
    params: dict[str, np.ndarray], x: np.ndarray, timeout: float = 900.0,
) -> tuple[np.ndarray | None, str]:
    """Run the oracle's ``--original-network`` (float32) on these params and input.

    Returns (hid or None, a one-line note). Never raises for a missing venv or a failed run.
    """
    if not LASAGNE_PYTHON.exists():
        shown = os.path.relpath(LASAGNE_PYTHON, REPO)
        return None, f"skipped: {shown} not found ({SETUP} builds it)"
    with tempfile.TemporaryDirectory(prefix="lasagne-nans-") as tmp:
        p_path, x_path, o_path = (os.path.join(tmp, n) for n in ("P.npz", "X.npy", "H.npz"))
        np.savez(p_path, **params)
        np.save(x_path, x)
        cmd = [str(LASAGNE_PYTHON), str(ORACLE), "--original-network", "--floatX", "float32",
               "--params", p_path, "--input", x_path, "--output", o_path]
        t0 = time.perf_counter()
        try:
            proc = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout,
                                  cwd=REPO)
        except subprocess.TimeoutExpired:
            return None, f"failed: the Lasagne oracle ran past {timeout:.0f} s"
        wall = time.perf_counter() - t0
        if proc.returncode != 0 or not os.path.exists(o_path):
            tail = (proc.stderr or proc.stdout).strip().splitlines()
            return None, (f"failed (exit {proc.returncode}): "
                          f"{tail[-1] if tail else 'no output'}")
        with np.load(o_path) as z:
            hid = np.asarray(z["hid"])
        try:
            seconds = json.loads(proc.stdout[proc.stdout.index("{"):])["seconds"]
            note = f"ran in {wall:.0f} s ({seconds:.0f} s in the scan)"
        except (ValueError, KeyError):
            note = f"ran in {wall:.0f} s"
        return hid, note


# ------------------------------------------------------------------------------ the report


def run_recipe(
    seed: int = 0, hidden: int = 1024, length: int = 10_000, batch: int = 5, *,
    lasagne: bool = True, show: Callable[[str], None] | None = None,
) -> dict[str, Any]:
    """Run every variant; return a JSON-able report. ``show`` gets each section as it is done."""
    show = show or (lambda text: None)
    t_start = time.perf_counter()
    x = make_input(seed, batch, length)
    keep = dropout_keep(seed, x.shape)
    x_drop = apply_dropout(x, keep)
    report: dict[str, Any] = {
        "seed": seed, "hidden": hidden, "length": length, "batch": batch,
        "outputs_per_sequence": length * hidden, "dropout_p": DROPOUT_P,
        "question_nan_per_sequence": list(QUESTION_NAN_PER_SEQUENCE),
        "variants": {}, "notes": {},
    }
    show(f"lasagne-nans: X ~ U[0,1) of shape ({batch}, {length}, {CHANNELS}) float32 "
         f"(RandomState({seed})), masks of ones, first layer {CHANNELS} → {hidden}; "
         f"NaN counts are of {length} × {hidden} = {length * hidden:,} outputs per sequence")

    def record(name: str, h: np.ndarray, c: np.ndarray | None, seconds: float,
               display: bool = True) -> None:
        rows = sequence_stats(h, c)
        report["variants"][name] = {
            "sequences": rows, "growth": growth(h), "seconds": round(seconds, 2),
            "nan_equals_steps_after_first_all_nan_times_h": nan_relation_holds(rows, length,
                                                                               hidden),
        }
        if display:
            show(format_variant(name, report))

    orig_params, cell_nl, nl = first_layer("identity-bias", seed, hidden)
    # 1 and its dropout twin share the weights: one batch of 2·B sequences, one pass.
    t0 = time.perf_counter()
    h, c = engine_forward(orig_params, np.concatenate([x, x_drop]), nonlinearity=nl,
                          cell_nonlinearity=cell_nl, peephole_order="lasagne-0.1")
    seconds = time.perf_counter() - t0
    report["notes"]["engine_batching"] = (f"{ENGINE_01!r} and {ENGINE_01_DROPOUT!r} ran as one "
                                          f"batch of {2 * batch} sequences")
    record(ENGINE_01, h[:batch], c[:batch], seconds)
    record(ENGINE_01_DROPOUT, h[batch:], c[batch:], float("nan"))
    h_engine_01 = h[:batch]
    first_det, first_drop = h[:batch, 0, 0].astype(np.float64), h[batch:, 0, 0].astype(np.float64)
    del h, c

    # 2: real Lasagne on the very same parameters and input.
    if lasagne:
        hid, note = run_lasagne(orig_params, x)
    else:
        hid, note = None, "skipped (--no-lasagne)"
    report["notes"][LASAGNE] = note
    if hid is None:
        show(f"\n== {LASAGNE}: {note}")
    else:
        record(LASAGNE, hid, None, float("nan"), display=False)
        report["variants"][LASAGNE]["agreement"] = compare(h_engine_01, hid)
        show(format_agreement(report))
        show(f"   ({note})")
    del hid, h_engine_01

    # 3: the same weights with the published peephole order.
    t0 = time.perf_counter()
    h, c = engine_forward(orig_params, x, nonlinearity=nl, cell_nonlinearity=cell_nl,
                          peephole_order="graves")
    record(ENGINE_GRAVES, h, c, time.perf_counter() - t0)
    del h, c

    # 4: the stable variant.
    fixed_params, f_cell_nl, f_nl = first_layer("identity-bias-fixed", seed, hidden)
    t0 = time.perf_counter()
    h, c = engine_forward(fixed_params, x, nonlinearity=f_nl, cell_nonlinearity=f_cell_nl,
                          peephole_order="graves")
    record(FIXED, h, c, time.perf_counter() - t0)
    report["notes"]["fixed_first_step_mismatch"] = (h[:, 0, 0] - x[:, 0, 0]).tolist()
    del h, c

    # 5: the first step, term by term.
    det = first_step_terms(orig_params, x[:, 0], x[:, 0])
    drop = first_step_terms(orig_params, x_drop[:, 0], x[:, 0])
    report["first_step"] = {
        "x": det["x"].tolist(),
        "kept": keep[:, 0, 0].tolist(),
        "mismatch_dropout_on": (first_drop - det["x"]).tolist(),
        "mismatch_deterministic": (first_det - det["x"]).tolist(),
        "terms_deterministic": {k: v.tolist() for k, v in det.items()},
        "terms_dropout_on": {k: v.tolist() for k, v in drop.items()},
        "max_abs_term_vs_engine": float(max(np.abs(det["total"] - (first_det - det["x"])).max(),
                                            np.abs(drop["total"] - (first_drop - det["x"])).max())),
        "question_reported": list(QUESTION_FIRST_STEP_MISMATCH),
    }
    show(format_first_step(report))
    report["wall_s"] = round(time.perf_counter() - t_start, 1)
    report["explanation"] = explanation(report)
    show("\n" + report["explanation"])
    return report


def compare(h_engine: np.ndarray, h_lasagne: np.ndarray, steps: int = 1000) -> dict[str, Any]:
    """Engine versus Lasagne: first non-finite steps and max relative |Δh| over early steps."""
    e, la = sequence_stats(h_engine), sequence_stats(h_lasagne)
    n = min(steps, h_engine.shape[1])
    a, b = h_engine[:, :n].astype(np.float64), h_lasagne[:, :n].astype(np.float64)
    ok = np.isfinite(a).all() and np.isfinite(b).all()
    return {
        "first_nonfinite_engine": [r["first_nonfinite_step"] for r in e],
        "first_nonfinite_lasagne": [r["first_nonfinite_step"] for r in la],
        "early_steps": n,
        "max_rel_diff_early": float(np.abs(a - b).max() / np.abs(b).max()) if ok else None,
    }


def _num(v: float | None, fmt: str = ".3g") -> str:
    if v is None or (isinstance(v, float) and math.isnan(v)):
        return "–"
    return format(v, fmt)


def _step(v: int | None) -> str:
    return "none" if v is None else str(v)


def format_variant(name: str, report: dict[str, Any]) -> str:
    """One variant's per-sequence table and a line on growth / the NaN-count relation."""
    import pandas as pd

    v = report["variants"][name]
    total = report["outputs_per_sequence"]
    table = pd.DataFrame([{
        "seq": b,
        "NaN": f"{r['nan']:,}",
        "NaN share": f"{r['nan'] / total:.1%}",
        "inf": r["inf"],
        "first non-finite step": _step(r["first_nonfinite_step"]),
        "first all-NaN step": _step(r["first_all_nan_step"]),
        "max|h| before": _num(r["max_abs_h_before"]),
        "max|c| before": _num(r["max_abs_c_before"]),
    } for b, r in enumerate(v["sequences"])])
    lines = [f"\n== {name}", table.to_string(index=False)]
    if any(r["nan"] for r in v["sequences"]):
        holds = "holds" if v["nan_equals_steps_after_first_all_nan_times_h"] else "does NOT hold"
        lines.append(f"   NaN count = (length − first all-NaN step) × H {holds} for every "
                     "sequence: once a unit overflows, NaN reaches every unit through W_hid at "
                     "the next step and stays.")
    g = v["growth"]
    peaks = ", ".join(f"{s}: {_num(m)}" for s, m in zip(g["steps"], g["max_abs_h"], strict=True))
    line = f"   max|h| over the batch at step {peaks}"
    if g["factor_per_1000_steps"] is not None:
        line += f"; ×{g['factor_per_1000_steps']:.3g} per 1000 steps over the second half"
    lines.append(line)
    if name == ENGINE_01:
        lines.append(f"   engine time {v['seconds']:.1f} s (with the dropout twin below: one "
                     f"batch of {2 * len(v['sequences'])} sequences)")
    elif not math.isnan(v["seconds"]):
        lines.append(f"   engine time {v['seconds']:.1f} s")
    return "\n".join(lines)


def format_agreement(report: dict[str, Any]) -> str:
    a = report["variants"][LASAGNE]["agreement"]
    diffs = [None if e is None or la is None else e - la for e, la in
             zip(a["first_nonfinite_engine"], a["first_nonfinite_lasagne"], strict=True)]
    return (format_variant(LASAGNE, report)
            + "\n   engine − Lasagne first non-finite step per sequence: "
            + ", ".join("–" if d is None else f"{d:+d}" for d in diffs)
            + f"; max |Δh| / max|h| over the first {a['early_steps']} steps: "
            + _num(a["max_rel_diff_early"], ".2g")
            + "\n   (near the blow-up the float32 summation order moves the overflow by a few "
              "steps; the equations agree, bench/studies/oracle/NOTES.md)")


def format_first_step(report: dict[str, Any]) -> str:
    """The first-step mismatch, dropout on versus off, and the deterministic one's causes."""
    import pandas as pd

    fs = report["first_step"]
    t = fs["terms_deterministic"]
    rows = []
    for b, x0 in enumerate(fs["x"]):
        rows.append({
            "seq": b,
            "x[0]": f"{x0:.4f}",
            "dropout": "kept ×1/0.67" if fs["kept"][b] else "dropped",
            "h−x dropout on": f"{fs['mismatch_dropout_on'][b]:+.4f}",
            "h−x deterministic": f"{fs['mismatch_deterministic'][b]:+.2e}",
            "W_in noise": f"{t['w_in_noise'][b]:+.1e}",
            "σ(z_i)−1": f"{t['ingate'][b]:+.1e}",
            "σ(z_o)−1": f"{t['outgate'][b]:+.1e}",
            "lrelu (cell+out)": f"{t['cell_lrelu'][b] + t['out_lrelu'][b]:+.1e}",
            "w_co·c² (0.1 bug)": f"{t['peephole_bug'][b]:+.1e}",
        })
    s_i, s_o, w_co = t["sigma_i"][0], t["sigma_o"][0], t["w_co"][0]
    question_vals = ", ".join(f"{v:+.3f}" for v in fs["question_reported"])
    return "\n".join([
        "\n== first step, unit 0: h[:,0,0] − X[:,0,0] (engine, lasagne-0.1 order)",
        pd.DataFrame(rows).to_string(index=False),
        f"   σ(z_i) = {s_i:.7f}, σ(z_o) = {s_o:.7f} (σ(10) = {1 / (1 + math.exp(-10)):.7f}, "
        f"shifted by the W_in noise); w_co = W_cell_to_outgate[0] = {w_co:+.2e}",
        "   the deterministic columns sum to 'h−x deterministic' (largest gap to the engine's "
        f"float32 output, dropout on or off: {fs['max_abs_term_vs_engine']:.1e})",
        "   dropout on: a kept input is scaled by 1/0.67 ≈ 1.49 (h−x ≈ +0.49·x), a dropped one "
        "is 0 (h−x ≈ −x)",
        f"   the question printed {question_vals}. Without dropout |h − x| ≤ |w_co| + ~1e-3 "
        "(w_co ~ N(0, 0.01²)), far below 0.35; with it, +0.49·x (kept) or −x (dropped) fits",
    ])


_CAUSES = """\
Why the original network's first LSTM layer gives NaNs, and a garbage first step, before any
training

1. The unused units are integrators that feed themselves. Every unit after the first 7 has
   forget bias +10: f = σ(10) ≈ 0.99995, a memory of ≈ 22 000 steps, longer than the sequence,
   and input and output gates near 0.5. Such a cell adds up whatever reaches it, and what
   reaches it includes its own past through h·W_hid, where h = o·leaky_rectify(c) has no upper
   bound (leaky_rectify passes positive values unchanged). With f ≈ 1 the loop
   c → h → W_hid → c has a gain of 1 plus a small recurrent term per step, so any positive
   feedback, however small (GlorotNormal(0.01) weights), compounds: |h| grows exponentially,
   several-fold per 1000 steps. A textbook (Graves) LSTM does this too; it only overflows later.
2. Lasagne 0.1 adds the output-gate peephole after the sigmoid (o = σ(z_o) + w_co·c instead of
   σ(z_o + w_co·c); Lasagne issue #448, https://github.com/Lasagne/Lasagne/issues/448, fixed
   after 0.1). o then grows with c, and h = o·c gains a w_co·c² term. Something that grows
   like its own square reaches infinity in finite time: float32 overflows to ±inf at one
   step, at the next inf − inf in h·W_hid makes every unit NaN, and NaN stays NaN. So a
   sequence whose first all-NaN step is t has (10 000 − t)·1024 NaNs. The question's five
   counts (6.37–6.38 M) are exact multiples of 1024: t = 3770–3782.
3. get_output(lstm1, determistic=True) misspells "deterministic". Lasagne 0.1 passes unknown
   keywords on without a word, so the DropoutLayer(p=0.33) in front of lstm1 stayed on: each
   input value was zeroed or multiplied by 1/0.67 ≈ 1.49. That, not the weights, is why even
   h[:,0,0] − X[:,0,0] was off by −x or +0.49·x. With dropout really off, the first step
   misses x only by small, expected amounts: σ(10) = 0.9999546 in both the input and output
   gate (≈ −9e-5·x), the W_in noise (GlorotNormal's 0.01 is a gain: std ≈ 3e-4),
   leaky_rectify on negative values, and with the 0.1 bug an extra w_co·c² ≈ w_co·x²
   (w_co ~ N(0, 0.01²)).

The stable version is the identity-bias-fixed strategy: forget bias 0 on the unused units,
tanh output, linear cell gate. In this project a misspelled option is an error."""


def explanation(report: dict[str, Any] | None = None) -> str:
    """The three causes in plain language; with a report, followed by what this run measured."""
    if not report:
        return _CAUSES
    lines = [_CAUSES, "", "Measured in this run:"]
    v = report["variants"]
    total = report["outputs_per_sequence"]
    q_lo, q_hi = min(QUESTION_NAN_PER_SEQUENCE) / 1e6, max(QUESTION_NAN_PER_SEQUENCE) / 1e6
    lines.append(f"- the question (its own draw, dropout on): {q_lo:.2f}–{q_hi:.2f} M NaNs "
                 "of 10.24 M per sequence")
    for name in (ENGINE_01, LASAGNE, ENGINE_01_DROPOUT):
        if name in v:
            rows = v[name]["sequences"]
            nans = [r["nan"] for r in rows]
            firsts = [r["first_nonfinite_step"] for r in rows if r["first_nonfinite_step"]
                      is not None]
            where = (f"first non-finite step {min(firsts)}–{max(firsts)}" if firsts
                     else "no non-finite value")
            lines.append(f"- {name}: {min(nans) / 1e6:.2f}–{max(nans) / 1e6:.2f} M NaNs of "
                         f"{total / 1e6:.2f} M per sequence, {where}")
    if ENGINE_GRAVES in v:
        rows = v[ENGINE_GRAVES]["sequences"]
        g = v[ENGINE_GRAVES]["growth"]
        if any(r["first_nonfinite_step"] is not None for r in rows):
            firsts = [r["first_nonfinite_step"] for r in rows]
            lines.append(f"- {ENGINE_GRAVES}: non-finite too, first at steps {firsts}")
        else:
            factor = g["factor_per_1000_steps"]
            grow = f", growing ×{factor:.3g} per 1000 steps" if factor else ""
            lines.append(f"- {ENGINE_GRAVES}: finite over {report['length']} steps, but max|h| "
                         f"reaches {max(r['max_abs_h_before'] for r in rows):.3g}{grow}")
    if FIXED in v:
        rows = v[FIXED]["sequences"]
        lines.append(f"- {FIXED}: no NaN, max|h| {max(r['max_abs_h_before'] for r in rows):.3g}, "
                     f"max|c| {max(r['max_abs_c_before'] for r in rows):.3g}")
    fs = report.get("first_step")
    if fs:
        on = max(abs(v) for v in fs["mismatch_dropout_on"])
        off = max(abs(v) for v in fs["mismatch_deterministic"])
        lines.append(f"- first step: |h − x| up to {on:.3g} with dropout on, "
                     f"{off:.2g} deterministic")
    return "\n".join(lines)


# ------------------------------------------------------------------------------ command line


def _count(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not an integer") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be >= 1, got {value}")
    return value


def _seed(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not an integer") from None
    if not 0 <= value < 2**31:
        raise argparse.ArgumentTypeError(f"must be in [0, 2**31), got {value}")
    return value


def _add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--seed", type=_seed, default=0,
                   help="random seed: weights PRNGKey and input RandomState")
    p.add_argument("--hidden", type=_count, default=1024, help="units of the first layer")
    p.add_argument("--length", type=_count, default=10_000, help="steps per sequence")
    p.add_argument("--batch", type=_count, default=5, help="sequences")
    p.add_argument("--no-lasagne", action="store_true",
                   help="skip the real Lasagne 0.1 run (needs .venv-lasagne; the slowest part)")
    p.add_argument("--json", metavar="OUT.json", help="also write the full report as JSON")


COMMAND = "lasagne-nans"
OLD_COMMAND = "seed-repro"  # the command's former name, still accepted with a note
DESCRIPTION = ("Run the original network's first layer (identity-bias, 7 -> 1024, "
               "leaky_rectify) on X ~ U[0,1) of shape (5, 10000, 7) in several variants "
               "and explain its NaNs under Lasagne 0.1.")


def add_parser(subparsers: argparse._SubParsersAction) -> None:
    """Register ``lasagne-nans`` (``func`` = :func:`cmd`) and its deprecated alias
    ``seed-repro`` (``func`` = :func:`cmd_deprecated_alias`)."""
    p = subparsers.add_parser(
        COMMAND, allow_abbrev=False, description=DESCRIPTION,
        help="reproduce the original network's NaNs (engine, real Lasagne 0.1, Graves, fixed) "
             "and explain them")
    _add_arguments(p)
    p.set_defaults(func=cmd)
    old = subparsers.add_parser(OLD_COMMAND, allow_abbrev=False, description=DESCRIPTION,
                                help=f"deprecated name of {COMMAND}")
    _add_arguments(old)
    old.set_defaults(func=cmd_deprecated_alias)


def write_json(path: str | Path, report: dict[str, Any]) -> None:
    """Write the report atomically as strict JSON (non-finite floats become null)."""
    from bench.store import write_json as write_strict_json

    write_strict_json(Path(path), report)


def cmd(args: argparse.Namespace) -> int:
    """``python -m bench lasagne-nans``; returns the exit status (bad input:
    :class:`bench.errors.UserError`)."""
    if args.json:
        out = Path(args.json)
        if out.is_dir():
            raise UserError(f"--json {args.json}: is a directory")
        if not out.parent.is_dir():
            raise UserError(f"--json {args.json}: folder {out.parent} does not exist")
    try:
        report = run_recipe(args.seed, args.hidden, args.length, args.batch,
                            lasagne=not args.no_lasagne, show=lambda s: print(s, flush=True))
    except (ValueError, PluginError) as e:  # e.g. a broken strategy module, named by file
        raise UserError(str(e)) from None
    if args.json:
        write_json(args.json, report)
        print(f"\nreport: {args.json}")
    print(f"({report['wall_s']:.0f} s in all)", file=sys.stderr)
    return 0


def cmd_deprecated_alias(args: argparse.Namespace) -> int:
    """``python -m bench seed-repro``: one line on stderr, then :func:`cmd`."""
    print(f"note: {OLD_COMMAND!r} is deprecated; use {COMMAND!r}", file=sys.stderr, flush=True)
    return cmd(args)
