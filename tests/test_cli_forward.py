"""``python -m bench forward``: one LSTM layer on Lasagne-named parameters from files, checked
against the NumPy float64 reference of tests/helpers.py, and its one-line errors."""

import subprocess
import sys
from pathlib import Path

import jax
import numpy as np
import pytest
from helpers import exit_status, lasagne_params, one_line, run_layer

from bench.cli import main

REPO = Path(__file__).resolve().parent.parent
PYTHON = sys.executable


@pytest.fixture
def files(tmp_path):
    """p.npz (peepholes), nopeep.npz (none), x.npy (2, 9, 3), m.npy (row 1 padded after t=5)."""
    rng = np.random.default_rng(7)
    P = lasagne_params(rng, 3, 4, scale=0.5, peephole_scale=1.0, dtype=np.float32)
    x = rng.normal(size=(2, 9, 3)).astype(np.float32)
    mask = np.ones((2, 9), np.float32)
    mask[1, 6:] = 0.0
    np.savez(tmp_path / "p.npz", **P)
    np.savez(tmp_path / "nopeep.npz", **lasagne_params(rng, 3, 4, peepholes=False,
                                                       dtype=np.float32))
    np.save(tmp_path / "x.npy", x)
    np.save(tmp_path / "m.npy", mask)
    return tmp_path, P, x, mask


def forward_args(d: Path, *extra: str, params: str = "p.npz") -> list[str]:
    return ["forward", "--params", str(d / params), "--input", str(d / "x.npy"),
            "--output", str(d / "h.npy"), *extra]


@pytest.mark.parametrize("extra,kw", [
    ((), {}),
    (("--peephole-order", "lasagne-0.1", "--nonlinearity", "leaky_rectify"),
     {"order": "lasagne-0.1", "act": "leaky_rectify"}),
    # gradient clipping acts on the backward pass only: the forward numbers are unclipped ones
    (("--cell-nonlinearity", "linear", "--grad-clipping", "1.0"), {"cell_act": "linear"}),
])
def test_forward_matches_the_numpy_reference(files, extra, kw):
    d, P, x, _ = files
    assert main(forward_args(d, *extra)) == 0
    got = np.load(d / "h.npy")
    want, _ = run_layer(P, x, **kw)
    assert got.shape == (2, 9, 4) and got.dtype == np.float32
    np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-6)


def test_forward_options_change_the_numbers(files):
    """The comparison above can fail: each option gives other numbers than the default."""
    d, P, x, _ = files
    default, _ = run_layer(P, x)
    for extra in (("--peephole-order", "lasagne-0.1"), ("--nonlinearity", "leaky_rectify"),
                  ("--cell-nonlinearity", "linear")):
        assert main(forward_args(d, *extra)) == 0
        assert np.max(np.abs(np.load(d / "h.npy") - default)) > 1e-3, extra


def test_forward_with_mask_and_float64(files):
    d, P, x, mask = files
    was = jax.config.jax_enable_x64
    try:
        assert main(forward_args(d, "--mask", str(d / "m.npy"), "--float64")) == 0
    finally:
        jax.config.update("jax_enable_x64", was)
    got = np.load(d / "h.npy")
    assert got.dtype == np.float64
    want, _ = run_layer(P, x, mask)
    np.testing.assert_allclose(got, want, rtol=1e-12, atol=1e-14)
    np.testing.assert_array_equal(got[1, 6:], np.broadcast_to(got[1, 5], (3, 4)))


def test_forward_no_peepholes_flag_on_a_file_without_them(files):
    d, _, x, _ = files
    assert main(forward_args(d, "--no-peepholes", params="nopeep.npz")) == 0
    with np.load(d / "nopeep.npz") as z:
        P = {k: z[k] for k in z.files}
    want, _ = run_layer(P, x, peepholes=False)
    np.testing.assert_allclose(np.load(d / "h.npy"), want, rtol=1e-5, atol=1e-6)


def test_forward_no_peepholes_flag_ignores_the_files_peepholes(files):
    d, P, x, _ = files
    assert main(forward_args(d, "--no-peepholes")) == 0
    want, _ = run_layer(P, x, peepholes=False)
    np.testing.assert_allclose(np.load(d / "h.npy"), want, rtol=1e-5, atol=1e-6)
    assert np.max(np.abs(want - run_layer(P, x)[0])) > 1e-3  # the peepholes do matter here


def test_forward_file_without_peepholes_and_no_flag_exits_2_naming_the_first_peephole(files,
                                                                                      capsys):
    """Peepholes are expected unless --no-peepholes is given (they are not inferred from the
    file): a file without them is a one-line error naming W_cell_to_ingate, and no output."""
    d, _, _, _ = files
    assert main(forward_args(d, params="nopeep.npz")) == 2
    err = one_line(capsys.readouterr().err)
    assert err == (f"error: --params {d / 'nopeep.npz'}: missing parameter 'W_cell_to_ingate' "
                   "(expected shape (4,))")
    assert not (d / "h.npy").exists()


def test_forward_missing_parameter_exits_2_naming_it(files, capsys):
    d, P, _, _ = files
    del P["W_hid_to_outgate"]
    np.savez(d / "p.npz", **P)
    assert main(forward_args(d)) == 2
    err = one_line(capsys.readouterr().err)
    assert "W_hid_to_outgate" in err and "--params" in err
    assert not (d / "h.npy").exists()


@pytest.mark.parametrize("bad", [["--peephole-ordr", "graves"], ["--peephole", "graves"],
                                 ["--peephole-order", "lasagne"], ["--nonlin", "tanh"]])
def test_forward_misspelled_or_abbreviated_option_exits_2(files, capsys, bad):
    d, _, _, _ = files
    assert exit_status(main, forward_args(d, *bad)) == 2
    err = one_line(capsys.readouterr().err)
    assert bad[0] in err or bad[1] in err
    assert not (d / "h.npy").exists()


@pytest.mark.parametrize("flag", ["--params", "--input", "--mask"])
def test_forward_nonexistent_file_exits_2_naming_the_flag(files, capsys, flag):
    d, _, _, _ = files
    args = forward_args(d, "--mask", str(d / "m.npy"))
    args[args.index(flag) + 1] = str(d / "does-not-exist.npy")
    assert main(args) == 2
    err = one_line(capsys.readouterr().err)
    assert flag in err and "does-not-exist" in err


def test_forward_bad_shapes_exit_2(files, capsys):
    d, _, x, _ = files
    np.save(d / "m.npy", np.ones((2, 5), np.float32))
    assert main(forward_args(d, "--mask", str(d / "m.npy"))) == 2
    assert "--mask" in one_line(capsys.readouterr().err)
    np.save(d / "x.npy", x[0])
    assert main(forward_args(d)) == 2
    assert "--input" in one_line(capsys.readouterr().err)


def test_python_m_bench_forward_abbreviation_subprocess(files):
    d, _, _, _ = files
    r = subprocess.run([PYTHON, "-m", "bench", *forward_args(d, "--peephole", "graves")],
                       cwd=REPO, capture_output=True, text=True, timeout=120)
    assert r.returncode == 2
    assert "--peephole" in one_line(r.stderr)
    assert r.stdout == ""
