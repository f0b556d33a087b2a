"""Real Lasagne 0.1 (Theano 1.0.5, CPU) versus our JAX engine, number for number.

Needs the reference venv (``bash bench/studies/oracle/setup.sh``, i.e. ``make reference``); the
whole module is skipped without it. All oracle cases run in ONE subprocess (Theano compiles
once per layer configuration; the compiled C code is cached under ``.cache/theano``).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pytest
from helpers import lasagne_params

ROOT = Path(__file__).resolve().parents[2]
ORACLE_PY = ROOT / ".venv-lasagne" / "bin" / "python"
ORACLE = ROOT / "bench" / "studies" / "oracle" / "lasagne_oracle.py"

pytestmark = pytest.mark.skipif(
    not ORACLE_PY.exists(),
    reason=f"reference venv {ORACLE_PY.relative_to(ROOT)} missing: run "
    "`bash bench/studies/oracle/setup.sh` (make reference) to build Theano 1.0.5 + Lasagne 0.1",
)

jax = pytest.importorskip("jax")
jnp = pytest.importorskip("jax.numpy")

RTOL = 1e-5  # relative agreement required at every finite step
GRAD_RTOL = 1e-5  # relative to the largest entry of each gradient


@dataclass
class Case:
    name: str
    batch: int
    time: int
    n_in: int
    n_hid: int
    nonlinearity: str = "tanh"
    cell_nonlinearity: str = "tanh"
    peepholes: bool = True
    mask: bool = True
    grad: bool = True
    grad_clipping: float = 0.0
    seed: int = 0
    blowup: bool = False  # parameters chosen so the 0.1 output-gate bug overflows
    arrays: dict = field(default_factory=dict)


def _make_arrays(c: Case) -> dict:
    rng = np.random.default_rng(c.seed)
    p = lasagne_params(rng, c.n_in, c.n_hid, peepholes=c.peepholes, scale=0.3)
    if c.blowup:
        # Integrating units (forget bias +4) with a positive cell drive and positive outgate
        # peepholes: with o = σ(z_o) + w_co·c_t the output is ∝ c², which feeds back through
        # W_hid and overflows within ~10 steps; the Graves order stays finite.
        p["b_forgetgate"] += 4.0
        p["b_ingate"] += 2.0
        p["b_cell"] += 1.0
        p["W_cell_to_outgate"] = np.abs(p["W_cell_to_outgate"]) + 0.5
        p["W_cell_to_ingate"][:] = 0.0
        p["W_cell_to_forgetgate"][:] = 0.0
        x = rng.random((c.batch, c.time, c.n_in))
    else:
        x = rng.normal(0.0, 1.0, (c.batch, c.time, c.n_in))
    out = {"params": p, "x": x, "mask": None, "G": None}
    if c.mask:
        m = np.ones((c.batch, c.time))
        m[0, c.time // 3 : c.time // 3 + 4] = 0.0  # a gap in the middle
        m[-1, (3 * c.time) // 4 :] = 0.0  # a shorter sequence (padding at the end)
        out["mask"] = m
    if c.grad:
        out["G"] = rng.normal(0.0, 1.0, (c.batch, c.time, c.n_hid))
    return out


CASES = [
    Case("tanh_peep_mask", 3, 40, 5, 6, seed=1),
    Case("tanh_peep_mask_clip", 3, 40, 5, 6, seed=1, grad_clipping=0.05),
    Case("leaky_peep_mask", 2, 25, 7, 11, "leaky_rectify", "leaky_rectify", seed=2),
    Case(
        "leaky_peep_mask_clip",
        2,
        25,
        7,
        11,
        "leaky_rectify",
        "leaky_rectify",
        seed=2,
        grad_clipping=0.05,
    ),
    Case("tanh_nopeep_nomask", 3, 40, 5, 6, peepholes=False, mask=False, seed=3),
    Case(
        "leaky_nopeep_mask", 2, 25, 7, 11, "leaky_rectify", "leaky_rectify", peepholes=False, seed=4
    ),
    Case("leaky_out_tanh_cell_fwd", 2, 25, 7, 11, "leaky_rectify", "tanh", grad=False, seed=5),
    Case("tanh_peep_nomask_fwd", 3, 40, 5, 6, mask=False, grad=False, seed=6),
    Case(
        "leaky_blowup_fwd",
        2,
        60,
        7,
        11,
        "leaky_rectify",
        "leaky_rectify",
        mask=False,
        grad=False,
        seed=3,
        blowup=True,
    ),
]
CASE_BY_NAME = {c.name: c for c in CASES}
GRAD_CASES = [c.name for c in CASES if c.grad]
CLIP_PAIRS = [(c.name, c.name.removesuffix("_clip")) for c in CASES if c.grad_clipping]


@pytest.fixture(scope="module", autouse=True)
def _x64():
    """float64 in JAX for this module only (restored afterwards)."""
    prev = jax.config.jax_enable_x64
    jax.config.update("jax_enable_x64", True)
    yield
    jax.config.update("jax_enable_x64", prev)


@pytest.fixture(scope="module")
def workdir(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("lasagne_oracle")


@pytest.fixture(scope="module")
def oracle(workdir) -> dict[str, dict]:
    """Write every case, run the real-Lasagne oracle once, return {case: {key: array}}."""
    manifest = []
    for c in CASES:
        c.arrays = _make_arrays(c)
        d = workdir / c.name
        d.mkdir()
        npz = dict(c.arrays["params"])
        if c.arrays["G"] is not None:
            npz["__loss_weights__"] = c.arrays["G"]
        np.savez(d / "params.npz", **npz)
        np.save(d / "x.npy", c.arrays["x"])
        entry = {
            "params": f"{c.name}/params.npz",
            "input": f"{c.name}/x.npy",
            "output": f"{c.name}/oracle.npz",
            "nonlinearity": c.nonlinearity,
            "cell_nonlinearity": c.cell_nonlinearity,
            "peepholes": c.peepholes,
            "grad_clipping": c.grad_clipping,
            "grad": c.grad,
        }
        if c.arrays["mask"] is not None:
            np.save(d / "mask.npy", c.arrays["mask"])
            entry["mask"] = f"{c.name}/mask.npy"
        manifest.append(entry)
    (workdir / "manifest.json").write_text(json.dumps(manifest, indent=1))
    proc = subprocess.run(
        [str(ORACLE_PY), str(ORACLE), "--cases", str(workdir / "manifest.json")],
        capture_output=True,
        text=True,
        timeout=900,
        cwd=ROOT,
    )
    assert proc.returncode == 0, f"oracle failed:\n{proc.stderr[-4000:]}"
    out = {}
    for c in CASES:
        with np.load(workdir / c.name / "oracle.npz") as z:
            out[c.name] = {k: z[k] for k in z.files}
    return out


def _engine(c: Case, params=None, order="lasagne-0.1", grad_clipping=None):
    from bench.lstm import lstm_layer

    a = c.arrays
    p = {k: jnp.asarray(v) for k, v in (params or a["params"]).items()}
    return lstm_layer(
        p,
        jnp.asarray(a["x"]),
        None if a["mask"] is None else jnp.asarray(a["mask"]),
        nonlinearity=c.nonlinearity,
        cell_nonlinearity=c.cell_nonlinearity,
        peepholes=c.peepholes,
        peephole_order=order,
        grad_clipping=c.grad_clipping if grad_clipping is None else grad_clipping,
    )


def _engine_grads(c: Case, grad_clipping=None) -> dict[str, np.ndarray]:
    G = jnp.asarray(c.arrays["G"])

    def loss(p):
        return jnp.sum(_engine(c, p, grad_clipping=grad_clipping) * G)

    params = {k: jnp.asarray(v) for k, v in c.arrays["params"].items()}
    return {k: np.asarray(v) for k, v in jax.grad(loss)(params).items()}


def _first_nonfinite(h: np.ndarray) -> list[int | None]:
    bad = ~np.isfinite(h).all(axis=2)
    return [int(np.argmax(b)) if b.any() else None for b in bad]


def _assert_close_while_finite(ours: np.ndarray, ref: np.ndarray, what: str) -> None:
    assert ours.shape == ref.shape, f"{what}: shape {ours.shape} vs oracle {ref.shape}"
    for b in range(ref.shape[0]):
        finite_steps = np.isfinite(ref[b]).all(axis=1)
        stop = int(np.argmin(finite_steps)) if not finite_steps.all() else ref.shape[1]
        r, o = ref[b, :stop], ours[b, :stop]
        err = np.abs(o - r)
        tol = RTOL * np.abs(r) + 1e-12
        bad = np.argwhere(~(err <= tol))
        if bad.size:
            t, j = bad[0]
            pytest.fail(
                f"{what}: sequence {b} first differs at step {t} unit {j}: "
                f"engine {o[t, j]!r} vs Lasagne {r[t, j]!r} (rel {err[t, j] / abs(r[t, j]):.2e})"
            )


@pytest.mark.parametrize("name", [c.name for c in CASES])
def test_hidden_sequence_matches_lasagne(oracle, name):
    c = CASE_BY_NAME[name]
    ours = np.asarray(_engine(c))
    ref = oracle[name]["hid"]
    _assert_close_while_finite(ours, ref, name)
    assert _first_nonfinite(ours) == _first_nonfinite(ref), name


@pytest.mark.parametrize("name", GRAD_CASES)
def test_gradients_match_lasagne(oracle, name):
    c = CASE_BY_NAME[name]
    ours = _engine_grads(c)
    ref = {k.removeprefix("grad/"): v for k, v in oracle[name].items() if k.startswith("grad/")}
    assert sorted(ours) == sorted(ref), "engine and Lasagne differentiate different parameters"
    for k, r in ref.items():
        err = np.abs(ours[k] - r).max()
        scale = np.abs(r).max()
        assert err <= GRAD_RTOL * scale, f"{name}: d L/d {k} off by {err:.3e} (scale {scale:.3e})"


@pytest.mark.parametrize("clipped,unclipped", CLIP_PAIRS)
def test_grad_clipping_actually_clips(oracle, clipped, unclipped):
    """Same inputs with and without clipping: Lasagne's gradients differ, and so do ours."""
    a, b = oracle[clipped], oracle[unclipped]
    np.testing.assert_array_equal(a["hid"], b["hid"])  # forward is the identity
    rel = max(np.abs(a[k] - b[k]).max() / np.abs(b[k]).max() for k in a if k.startswith("grad/"))
    assert rel > 1e-2, f"grad_clipping={CASE_BY_NAME[clipped].grad_clipping} never bites"
    c = CASE_BY_NAME[clipped]
    ours_clip, ours_free = _engine_grads(c), _engine_grads(c, grad_clipping=0.0)
    assert max(np.abs(ours_clip[k] - ours_free[k]).max() for k in ours_clip) > 1e-3


@pytest.mark.parametrize("name", ["tanh_peep_mask", "leaky_peep_mask", "leaky_blowup_fwd"])
def test_peephole_orders_differ(oracle, name):
    """The 0.1 order and the Graves order are distinguishable, and Lasagne 0.1 is the former."""
    c = CASE_BY_NAME[name]
    ref = oracle[name]["hid"]
    graves = np.asarray(_engine(c, order="graves"))
    finite = np.isfinite(ref).all(axis=2) & np.isfinite(graves).all(axis=2)
    diff = np.abs(graves - ref)[finite].max() / np.abs(ref[finite]).max()
    assert diff > 1e-3 or _first_nonfinite(graves) != _first_nonfinite(ref), (
        f"{name}: Graves order indistinguishable from Lasagne 0.1 (rel {diff:.1e})"
    )


def test_blowup_case_overflows_only_with_the_0_1_order(oracle):
    c = CASE_BY_NAME["leaky_blowup_fwd"]
    ref = oracle[c.name]["hid"]
    assert all(s is not None for s in _first_nonfinite(ref)), "case was meant to blow up"
    assert all(s is None for s in _first_nonfinite(np.asarray(_engine(c, order="graves"))))


@pytest.mark.parametrize(
    "name",
    ["leaky_out_tanh_cell_fwd", "tanh_peep_nomask_fwd", "tanh_nopeep_nomask", "leaky_nopeep_mask"],
)
def test_cli_forward_matches_lasagne(oracle, workdir, name):
    """``python -m bench forward`` on the very .npz the oracle read gives the same numbers."""
    c = CASE_BY_NAME[name]
    d = workdir / name
    cmd = [
        sys.executable,
        "-m",
        "bench",
        "forward",
        "--params",
        str(d / "params.npz"),
        "--input",
        str(d / "x.npy"),
        "--output",
        str(d / "cli.npy"),
        "--peephole-order",
        "lasagne-0.1",
        "--nonlinearity",
        c.nonlinearity,
        "--cell-nonlinearity",
        c.cell_nonlinearity,
        "--float64",
    ]
    if c.arrays["mask"] is not None:
        cmd += ["--mask", str(d / "mask.npy")]
    if not c.peepholes:
        cmd += ["--no-peepholes"]
    env = dict(os.environ, JAX_PLATFORMS="cpu")
    proc = subprocess.run(cmd, capture_output=True, text=True, cwd=ROOT, env=env, timeout=300)
    assert proc.returncode == 0, proc.stderr[-2000:]
    _assert_close_while_finite(np.load(d / "cli.npy"), oracle[name]["hid"], f"CLI {name}")


def test_oracle_names_a_missing_parameter(workdir):
    d = workdir / "broken"
    d.mkdir()
    p = _make_arrays(Case("broken", 1, 3, 2, 3, grad=False))["params"]
    del p["W_cell_to_outgate"]
    np.savez(d / "params.npz", **p)
    np.save(d / "x.npy", np.zeros((1, 3, 2)))
    proc = subprocess.run(
        [
            str(ORACLE_PY),
            str(ORACLE),
            "--params",
            str(d / "params.npz"),
            "--input",
            str(d / "x.npy"),
            "--output",
            str(d / "out.npz"),
        ],
        capture_output=True,
        text=True,
        timeout=300,
        cwd=ROOT,
    )
    assert proc.returncode == 2
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and "W_cell_to_outgate" in lines[0], proc.stderr


def test_lasagne_nans_hands_the_engines_layer_to_the_oracle():
    """``lasagne-nans`` runs the oracle's ``--original-network`` (float32) on the engine's own
    first layer and input; on a small layer real Lasagne 0.1 gives the engine's numbers."""
    from bench.studies import lasagne_nans as ln

    params, cell_nl, nl = ln.first_layer("identity-bias", 0, 16)
    x = ln.make_input(0, 2, 40)
    hid, note = ln.run_lasagne(params, x, timeout=600)
    assert hid is not None, note
    h, _ = ln.engine_forward(params, x, nonlinearity=nl, cell_nonlinearity=cell_nl,
                             peephole_order="lasagne-0.1")
    assert hid.dtype == np.float32 and hid.shape == h.shape == (2, 40, 16)
    np.testing.assert_allclose(hid, h, rtol=1e-4, atol=1e-6)
