"""Registry, CLI and config robustness, and the stacked model (bench.model).

Broken strategy modules are placed in a temporary directory that stands in for strategies/: the
``strategies`` package's ``__path__`` is redirected there, so discovery (which lists the
package's folder and imports ``strategies.<stem>``) loads the temporary files. Everything is
restored afterwards.
"""

import importlib
import math
import os
import shutil
import subprocess
import sys
import textwrap
from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import bench.registry as registry
import bench.sweep
import strategies
from bench.cli import _override, main
from bench.config import FIELDS, PER_RUN, RunConfig, resolve
from bench.errors import ConfigError
from bench.lstm import lstm_layer
from bench.model import dropout, stack_forward

REPO = Path(__file__).resolve().parent.parent
PYTHON = sys.executable
GATES = ("ingate", "forgetgate", "cell", "outgate")
PEEP = ("ingate", "forgetgate", "outgate")

BROKEN = {
    "broken_syntax": '"""Has a syntax error."""\n\ndef init_params(key, sizes, config, data:\n',
    "raises_at_import": '"""Raises at import."""\n\nraise RuntimeError("boom at import time")\n',
    "no_init": '"""Has no init_params."""\n\nCITATION = "none"\n',
}
WRONG_SHAPES = '''\
"""Returns a misshapen recurrent matrix in layer 2."""

from bench import init

CITATION = "test"


def init_params(key, sizes, config, data):
    params = init.stack_params(key, sizes, W_in=init.glorot_uniform(),
                               W_hid=init.glorot_uniform())
    params[1]["W_hid_to_cell"] = params[1]["W_hid_to_cell"][:, :-1]
    return params
'''
RAISES_IN_INIT = '''\
"""Raises inside init_params."""

CITATION = "test"


def init_params(key, sizes, config, data):
    return {}["no such key"]
'''
TOO_FEW_LAYERS = '''\
"""Returns one layer too few."""

from bench import init

CITATION = "test"


def init_params(key, sizes, config, data):
    return init.stack_params(key, sizes[:-1], W_in=init.glorot_uniform(),
                             W_hid=init.glorot_uniform())
'''


def exit_status(argv):
    """main()'s status, whether argparse's SystemExit escapes it or is turned into a return."""
    try:
        return main(argv)
    except SystemExit as e:
        return e.code


def _one_line(text):
    lines = [ln for ln in text.splitlines() if ln.strip()]
    assert len(lines) == 1, f"expected one line, got {lines!r}"
    assert "Traceback" not in text
    return lines[0]


@pytest.fixture
def strategy_dir(tmp_path, monkeypatch):
    """A stand-in strategies/ with two real strategies copied in; returns a writer."""
    d = tmp_path / "strategies"
    d.mkdir()
    for stem in ("glorot", "forget_bias_one"):
        shutil.copy(REPO / "strategies" / f"{stem}.py", d / f"{stem}.py")
    saved_modules = {k: v for k, v in sys.modules.items() if k.startswith("strategies.")}
    saved_attrs = dict(vars(strategies))
    for k in saved_modules:
        del sys.modules[k]  # so the copies are really imported from d
    monkeypatch.setattr(strategies, "__path__", [str(d)])

    def write(stem, text):
        (d / f"{stem}.py").write_text(text)
        importlib.invalidate_caches()

    importlib.invalidate_caches()
    yield d, write
    for k in [k for k in sys.modules if k.startswith("strategies.")]:
        del sys.modules[k]
    sys.modules.update(saved_modules)
    for k in [k for k in vars(strategies) if k not in saved_attrs]:
        delattr(strategies, k)
    for k, v in saved_attrs.items():
        if k != "__path__":
            setattr(strategies, k, v)


@pytest.fixture
def broken_dir(strategy_dir):
    d, write = strategy_dir
    for stem, text in BROKEN.items():
        write(stem, text)
    write("wrong_shapes", WRONG_SHAPES)
    write("raises_in_init", RAISES_IN_INIT)
    write("too_few_layers", TOO_FEW_LAYERS)
    write("_helper", "raise RuntimeError('private modules are skipped')\n")
    return d


# ----------------------------------------------------------------------------------------------
# registry
# ----------------------------------------------------------------------------------------------


def test_broken_modules_are_reported_with_their_file_and_others_load(broken_dir):
    found, errors = registry.discover()
    assert set(found) == {"glorot", "forget-bias-one", "wrong-shapes", "raises-in-init",
                          "too-few-layers"}
    assert set(errors) == {"broken-syntax", "raises-at-import", "no-init"}
    assert "broken_syntax.py" in errors["broken-syntax"]
    assert "SyntaxError" in errors["broken-syntax"]
    assert "raises_at_import.py" in errors["raises-at-import"]
    assert "boom at import time" in errors["raises-at-import"]
    assert "no_init.py" in errors["no-init"] and "init_params" in errors["no-init"]
    for msg in errors.values():
        assert "\n" not in msg
    # the loaded copies come from the stand-in directory, and work
    assert Path(found["glorot"].module.__file__).parent == broken_dir
    cfg = resolve("quick", channels=3, hidden=(5, 4))
    params = found["glorot"].init_params(jax.random.PRNGKey(0), cfg)
    assert [p["W_hid_to_cell"].shape for p in params] == [(5, 5), (4, 4), (3, 3)]


def test_a_repaired_module_loads_on_the_next_discovery(strategy_dir):
    d, write = strategy_dir
    write("flaky", '"""Broken for now."""\n\nraise ImportError("not yet")\n')
    found, errors = registry.discover()
    assert "flaky" not in found and "not yet" in errors["flaky"]
    write("flaky", (d / "glorot.py").read_text().replace("Glorot/Xavier", "Repaired Glorot"))
    found, errors = registry.discover()
    assert "flaky" in found and "flaky" not in errors
    assert found["flaky"].summary.startswith("Repaired Glorot")


@pytest.mark.parametrize("name,needles", [
    ("wrong-shapes", ["wrong_shapes.py", "layer 2", "W_hid_to_cell"]),
    ("raises-in-init", ["raises_in_init.py", "KeyError"]),
    ("too-few-layers", ["too_few_layers.py", "3 layer"]),
])
def test_bad_init_params_raise_strategy_error_naming_the_file(broken_dir, name, needles):
    found, _ = registry.discover()
    cfg = resolve("quick", channels=3, hidden=(5, 4))
    with pytest.raises(registry.StrategyError) as info:
        found[name].init_params(jax.random.PRNGKey(0), cfg)
    msg = str(info.value)
    assert "\n" not in msg
    for needle in needles:
        assert needle in msg


def test_bench_list_exits_nonzero_and_prints_broken_lines(broken_dir, capsys):
    assert main(["list"]) == 1
    out = capsys.readouterr().out
    broken = [ln for ln in out.splitlines() if "BROKEN" in ln]
    assert len(broken) == 3
    for stem in BROKEN:
        assert sum(stem + ".py" in ln for ln in broken) == 1
    assert any(ln.strip().startswith("glorot ") for ln in out.splitlines())


def test_python_m_bench_list_subprocess_with_broken_module(broken_dir):
    boot = textwrap.dedent(f"""
        import runpy, sys
        from pathlib import Path
        import strategies
        strategies.__path__[:] = [{str(broken_dir)!r}]
        sys.argv = ["bench", "list"]
        runpy.run_module("bench", run_name="__main__", alter_sys=True)
    """)
    r = subprocess.run([PYTHON, "-c", boot], cwd=REPO, capture_output=True, text=True,
                       timeout=120)
    assert r.returncode == 1, r.stderr
    assert sum("BROKEN" in ln for ln in r.stdout.splitlines()) == 3
    assert "Traceback" not in r.stderr


def test_python_m_bench_list_on_the_real_tree():
    r = subprocess.run([PYTHON, "-m", "bench", "list"], cwd=REPO, capture_output=True,
                       text=True, timeout=120)
    assert r.returncode == 0, r.stdout + r.stderr
    assert "BROKEN" not in r.stdout
    for name in ("glorot", "chrono", "lsuv", "identity-bias-fixed", "pytorch-default"):
        assert any(ln.strip().startswith(name + " ") for ln in r.stdout.splitlines())
    assert "settings: t_max=auto" in r.stdout  # chrono's own setting, from its module
    for name in ("ar1", "ar2", "pink"):  # the datasets are listed too
        assert any(ln.strip().startswith(name + " ") for ln in r.stdout.splitlines())


def test_bench_list_with_no_strategies_does_not_crash(strategy_dir, capsys):
    d, _ = strategy_dir
    for f in d.glob("*.py"):
        f.unlink()
    status = main(["list"])
    assert status == 1
    assert "no strategies found" in capsys.readouterr().out


def test_select():
    chosen, failed = registry.select("glorot, chrono")
    assert [s.name for s in chosen] == ["glorot", "chrono"] and failed == {}
    everything, _ = registry.select("all")
    assert [s.name for s in everything] == sorted(s.name for s in everything)
    with pytest.raises(ValueError, match="glorrot.*did you mean 'glorot'"):
        registry.select("glorrot")


# ----------------------------------------------------------------------------------------------
# config
# ----------------------------------------------------------------------------------------------


def test_resolve_rejects_misspelled_option_by_name():
    with pytest.raises(ValueError, match="determistic"):
        resolve("quick", determistic=True)
    with pytest.raises(ValueError, match="hiden.*did you mean 'hidden'"):
        resolve("quick", hiden=(3,))


def test_resolve_rejects_unknown_profile():
    with pytest.raises(ValueError, match="quik.*did you mean 'quick'"):
        resolve("quik")


@pytest.mark.parametrize("override,needle", [
    ({"lr": 0.0}, "learning rate"), ({"dropout": 1.0}, "dropout"), ({"hidden": (4, 0)}, "hidden"),
    ({"optimizer": "adamw"}, "adamw"),
    ({"peephole_order": "lasagne"}, "lasagne"), ({"steps": 0}, "steps"),
])
def test_resolve_rejects_invalid_values(override, needle):
    with pytest.raises(ValueError, match=needle):
        resolve("quick", **override)


def test_resolve_profiles_and_key():
    assert resolve("quick").sizes == (7, 32, 16, 7)
    assert resolve("standard").sizes == (7, 64, 32, 7)
    assert resolve("large").sizes == (7, 1024, 128, 7)
    assert resolve("seed") == resolve("large")  # the old name of the profile is an alias
    assert resolve("quick", hidden=[8]).sizes == (7, 8, 7)
    assert resolve("quick").key() == resolve("quick").key()
    assert resolve("quick").key() != resolve("quick", lr=2e-3).key()


# ----------------------------------------------------------------------------------------------
# CLI: forward
# ----------------------------------------------------------------------------------------------


def rand_params(rng, n_in, n_hid, peepholes=True):
    P = {}
    for g in GATES:
        P[f"W_in_to_{g}"] = rng.normal(0, 0.5, (n_in, n_hid)).astype(np.float32)
        P[f"W_hid_to_{g}"] = rng.normal(0, 0.5, (n_hid, n_hid)).astype(np.float32)
        P[f"b_{g}"] = rng.normal(0, 0.5, n_hid).astype(np.float32)
    if peepholes:
        for g in PEEP:
            P[f"W_cell_to_{g}"] = rng.normal(0, 1.0, n_hid).astype(np.float32)
    return P


@pytest.fixture
def files(tmp_path):
    rng = np.random.default_rng(7)
    P = rand_params(rng, 3, 4)
    x = rng.normal(size=(2, 9, 3)).astype(np.float32)
    mask = np.ones((2, 9), np.float32)
    mask[1, 6:] = 0.0
    np.savez(tmp_path / "p.npz", **P)
    np.savez(tmp_path / "nopeep.npz", **rand_params(rng, 3, 4, peepholes=False))
    np.save(tmp_path / "x.npy", x)
    np.save(tmp_path / "m.npy", mask)
    return tmp_path, P, x, mask


def forward_args(d, *extra, params="p.npz"):
    return ["forward", "--params", str(d / params), "--input", str(d / "x.npy"),
            "--output", str(d / "h.npy"), *extra]


@pytest.mark.parametrize("extra,kw", [
    ((), {}),
    (("--peephole-order", "lasagne-0.1", "--nonlinearity", "leaky_rectify"),
     {"peephole_order": "lasagne-0.1", "nonlinearity": "leaky_rectify"}),
    (("--cell-nonlinearity", "linear", "--grad-clipping", "1.0"),
     {"cell_nonlinearity": "linear", "grad_clipping": 1.0}),
])
def test_forward_matches_lstm_layer(files, extra, kw):
    d, P, x, _ = files
    assert main(forward_args(d, *extra)) == 0
    got = np.load(d / "h.npy")
    want = lstm_layer({k: jnp.asarray(v) for k, v in P.items()}, jnp.asarray(x), **kw)
    assert got.shape == (2, 9, 4) and got.dtype == np.float32
    np.testing.assert_allclose(got, np.asarray(want), rtol=1e-6, atol=1e-7)


def test_forward_with_mask_and_float64(files):
    d, P, x, mask = files
    was = jax.config.jax_enable_x64
    try:
        assert main(forward_args(d, "--mask", str(d / "m.npy"), "--float64")) == 0
        got = np.load(d / "h.npy")
        assert got.dtype == np.float64
        want = lstm_layer({k: jnp.asarray(v, jnp.float64) for k, v in P.items()},
                          jnp.asarray(x, jnp.float64), jnp.asarray(mask, jnp.float64))
        np.testing.assert_allclose(got, np.asarray(want), rtol=1e-12, atol=1e-14)
    finally:
        jax.config.update("jax_enable_x64", was)
    np.testing.assert_array_equal(got[1, 6:], np.broadcast_to(got[1, 5], (3, 4)))


def test_forward_without_peepholes(files):
    d, _, x, _ = files
    assert main(forward_args(d, "--no-peepholes", params="nopeep.npz")) == 0
    with np.load(d / "nopeep.npz") as z:
        P = {k: jnp.asarray(z[k]) for k in z.files}
    np.testing.assert_allclose(np.load(d / "h.npy"), np.asarray(lstm_layer(P, jnp.asarray(x))),
                               rtol=1e-6, atol=1e-7)


def test_forward_missing_parameter_exits_2_naming_it(files, capsys):
    d, P, _, _ = files
    del P["W_hid_to_outgate"]
    np.savez(d / "p.npz", **P)
    assert main(forward_args(d)) == 2
    err = _one_line(capsys.readouterr().err)
    assert "W_hid_to_outgate" in err and "--params" in err
    assert not (d / "h.npy").exists()


def test_forward_file_without_peepholes_and_no_flag(files, capsys):
    """Either a clear one-line error naming the missing peephole, or peepholes inferred from the
    file; never a traceback or a silently different computation."""
    d, _, x, _ = files
    status = main(forward_args(d, params="nopeep.npz"))
    if status == 2:
        assert "W_cell_to_ingate" in _one_line(capsys.readouterr().err)
    else:
        assert status == 0
        with np.load(d / "nopeep.npz") as z:
            P = {k: jnp.asarray(z[k]) for k in z.files}
        np.testing.assert_allclose(np.load(d / "h.npy"),
                                   np.asarray(lstm_layer(P, jnp.asarray(x))), rtol=1e-6)


@pytest.mark.parametrize("bad", [["--peephole-ordr", "graves"], ["--peephole", "graves"],
                                 ["--peephole-order", "lasagne"], ["--nonlin", "tanh"]])
def test_forward_misspelled_or_abbreviated_option_exits_2(files, capsys, bad):
    d, _, _, _ = files
    assert exit_status(forward_args(d, *bad)) == 2
    err = _one_line(capsys.readouterr().err)
    assert bad[0] in err or bad[1] in err
    assert not (d / "h.npy").exists()


@pytest.mark.parametrize("flag", ["--params", "--input", "--mask"])
def test_forward_nonexistent_file_exits_2_naming_the_flag(files, capsys, flag):
    d, _, _, _ = files
    args = forward_args(d, "--mask", str(d / "m.npy"))
    args[args.index(flag) + 1] = str(d / "does-not-exist.npy")
    assert main(args) == 2
    err = _one_line(capsys.readouterr().err)
    assert flag in err and "does-not-exist" in err


def test_forward_bad_shapes_exit_2(files, capsys):
    d, _, x, _ = files
    np.save(d / "m.npy", np.ones((2, 5), np.float32))
    assert main(forward_args(d, "--mask", str(d / "m.npy"))) == 2
    assert "--mask" in _one_line(capsys.readouterr().err)
    np.save(d / "x.npy", x[0])
    assert main(forward_args(d)) == 2
    assert "--input" in _one_line(capsys.readouterr().err)


def test_python_m_bench_forward_abbreviation_subprocess(files):
    d, _, _, _ = files
    r = subprocess.run([PYTHON, "-m", "bench", *forward_args(d, "--peephole", "graves")],
                       cwd=REPO, capture_output=True, text=True, timeout=120)
    assert r.returncode == 2
    assert "--peephole" in _one_line(r.stderr)
    assert r.stdout == ""


# ----------------------------------------------------------------------------------------------
# CLI: run (validated before anything runs)
# ----------------------------------------------------------------------------------------------


@pytest.fixture
def no_sweep(monkeypatch):
    def refuse(*args, **kwargs):
        raise AssertionError("run_sweep reached: the arguments were not validated first")

    monkeypatch.setattr(bench.sweep, "run_sweep", refuse)


@pytest.mark.parametrize("args,needle", [
    (["--lrs", "0"], "--lrs"), (["--lrs", "1e-3,-1"], "--lrs"), (["--lrs", "abc"], "--lrs"),
    (["--lrs", "nan"], "--lrs"),
    (["--seeds", "0"], "--seeds"), (["--strategies", "nope"], "nope"),
    (["--data", "nope"], "nope"), (["--steps", "0"], "steps"), (["--set", "dropuot=0.1"],
                                                                "dropuot"),
    (["--set", "dropout=1.5"], "dropout"), (["--set", "hidden=a,b"], "hidden"),
    (["--max-runs", "0"], "--max-runs"), (["--profile", "huge"], "huge"),
    (["--lr", "1e-3"], "--lr"), (["--seed", "1"], "--seed"),  # abbreviations of --lrs, --seeds
])
def test_run_rejects_bad_arguments_with_one_line(no_sweep, tmp_path, capsys, args, needle):
    out = tmp_path / "out"
    assert exit_status(["run", "--out", str(out), "--no-progress", *args]) == 2
    assert needle in _one_line(capsys.readouterr().err)
    assert not out.exists()


def test_python_m_bench_run_validation_subprocess(tmp_path):
    """One real process (the other bad arguments are covered in-process above)."""
    r = subprocess.run([PYTHON, "-m", "bench", "run", "--out", str(tmp_path / "o"), "--lrs", "0"],
                       cwd=REPO, capture_output=True, text=True, timeout=120,
                       env={**os.environ, "JAX_PLATFORMS": "cpu"})
    assert r.returncode == 2
    _one_line(r.stderr)
    assert not (tmp_path / "o").exists()


@pytest.mark.parametrize("name", ["seed", "lr", "strategy", "dataset"])
def test_run_set_of_per_run_field_is_a_user_error(no_sweep, tmp_path, capsys, name):
    value = {"seed": "1", "lr": "0.1", "strategy": "glorot", "dataset": "ar1"}[name]
    status = main(["run", "--out", str(tmp_path / "o"), "--strategies", "glorot", "--lrs", "1e-3",
                   "--seeds", "1", "--set", f"{name}={value}"])
    assert status == 2
    _one_line(capsys.readouterr().err)


@pytest.mark.parametrize("name", ["seed", "lr", "strategy", "dataset", "settings"])
def test_sweep_spec_rejects_a_per_run_field_as_override(name):
    value = {"seed": 1, "lr": 0.1, "strategy": "glorot", "dataset": "ar1", "settings": {}}[name]
    spec = bench.sweep.SweepSpec(strategies="glorot", lrs=(1e-3,), seeds=1,
                                 overrides={name: value})
    with pytest.raises(ConfigError, match=f"{name} is set per run") as info:
        spec.validate()
    assert info.value.setting == name


def test_run_set_profile_is_a_user_error(no_sweep, tmp_path, capsys):
    assert main(["run", "--out", str(tmp_path / "o"), "--set", "profile=seed"]) == 2
    _one_line(capsys.readouterr().err)


@pytest.mark.parametrize("args", [["--strategies", ","], ["--strategies", ""],
                                  ["--data", ","]])
def test_run_rejects_empty_selection(no_sweep, tmp_path, capsys, args):
    assert main(["run", "--out", str(tmp_path / "o"), *args]) == 2
    _one_line(capsys.readouterr().err)


def test_run_rejects_infinite_learning_rate(no_sweep, tmp_path, capsys):
    assert main(["run", "--out", str(tmp_path / "o"), "--lrs", "inf"]) == 2


@pytest.mark.parametrize("name", [f for f in FIELDS if f not in PER_RUN])
def test_every_run_option_round_trips_through_set(name):
    """``--set NAME=VALUE`` parses every option of RunConfig back to its type and value."""
    default = getattr(RunConfig(), name)
    text = ",".join(map(str, default)) if isinstance(default, tuple) else str(default)
    assert _override(f"{name}={text}") == ("", name, default)


def test_set_strategy_setting_is_checked_against_the_strategy(no_sweep, tmp_path, capsys):
    out = str(tmp_path / "o")
    for setting, needle in (("chrono.tmax=64", "did you mean 't_max'"),
                            ("chrono.t_max=2", "t_max must be > 2"),
                            ("chrono.t_max=abc", "not a valid t_max"),
                            ("glorot.t_max=64", "has no setting 't_max'"),
                            ("chrnoo.t_max=64", "did you mean 'chrono'")):
        assert main(["run", "--out", out, "--set", setting]) == 2
        err = _one_line(capsys.readouterr().err)
        assert needle in err and err.startswith("error: --set")
    assert not (tmp_path / "o").exists()


def test_strategy_settings_enter_the_key_of_that_strategy_only():
    chrono, glorot = registry.get_strategy("chrono"), registry.get_strategy("glorot")
    short = bench.sweep.SweepSpec(lrs=(1e-3,), seeds=1, settings={"chrono": {"t_max": "64"}})
    default = bench.sweep.SweepSpec(lrs=(1e-3,), seeds=1)
    (c_short,) = short.configs(chrono, "ar1", "default")
    (c_default,) = default.configs(chrono, "ar1", "default")
    assert c_short.setting("t_max") == "64" and c_default.setting("t_max") == "auto"
    assert c_short.key() != c_default.key()
    assert (short.configs(glorot, "ar1", "default")[0].key()
            == default.configs(glorot, "ar1", "default")[0].key())
    assert short.sweep_id != default.sweep_id


def test_deprecated_profile_alias_prints_one_notice(no_sweep, tmp_path, capsys):
    """``--profile seed`` still works, as ``large``, with a one-line notice (the run itself is
    refused here by a bad --lrs, after the profile was read)."""
    assert main(["run", "--out", str(tmp_path / "o"), "--profile", "seed", "--lrs", "0"]) == 2
    err = capsys.readouterr().err.splitlines()
    assert err[0] == "note: profile 'seed' is deprecated; use 'large'"
    assert err[1].startswith("error: --lrs")


# ----------------------------------------------------------------------------------------------
# model
# ----------------------------------------------------------------------------------------------


# jitted only to compile each configuration once (eager scans recompile on every call)
jit_stack = jax.jit(stack_forward, static_argnames=(
    "nonlinearity", "cell_nonlinearity", "peephole_order", "grad_clipping", "dropout_p", "train",
    "return_states", "unroll"))


def stack_params(seed=0, sizes=(3, 5, 4, 3)):
    rng = np.random.default_rng(seed)
    return [{k: jnp.asarray(v) for k, v in rand_params(rng, a, b).items()}
            for a, b in zip(sizes[:-1], sizes[1:], strict=True)]


def test_stack_forward_eval_is_deterministic_and_composes_layers():
    params = stack_params()
    rng = np.random.default_rng(1)
    x = jnp.asarray(rng.normal(size=(2, 8, 3)).astype(np.float32))
    mask = jnp.asarray((rng.random((2, 8)) > 0.2).astype(np.float32))
    kw = {"nonlinearity": "leaky_rectify", "peephole_order": "lasagne-0.1"}
    out = stack_forward(params, x, mask, dropout_p=0.5, key=jax.random.PRNGKey(3), **kw)
    again = stack_forward(params, x, mask, dropout_p=0.5, key=jax.random.PRNGKey(4), **kw)
    np.testing.assert_array_equal(np.asarray(out), np.asarray(again))
    h = x
    states = stack_forward(params, x, mask, return_states=True, **kw)
    for layer, (h_s, c_s) in zip(params, states, strict=True):
        h, c = lstm_layer(layer, h, mask, return_cell=True, **kw)
        np.testing.assert_allclose(np.asarray(h_s), np.asarray(h), rtol=1e-6, atol=1e-7)
        np.testing.assert_allclose(np.asarray(c_s), np.asarray(c), rtol=1e-6, atol=1e-7)
    np.testing.assert_allclose(np.asarray(out), np.asarray(h), rtol=1e-6, atol=1e-7)
    assert out.shape == (2, 8, 3)


def test_stack_forward_train_dropout_depends_on_key():
    params = stack_params()
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
    params = stack_params(sizes=(3, 3))
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


# ----------------------------------------------------------------------------------------------
# a sweep with broken strategies
# ----------------------------------------------------------------------------------------------


def test_sweep_with_broken_strategies_runs_the_others_and_reports_them(broken_dir, tmp_path,
                                                                      capsys):
    import json

    small = ["--set", "hidden=6,5", "--set", "window=8", "--set", "batch_size=2",
             "--set", "train_sequences=4", "--set", "test_sequences=2", "--set", "test_length=32",
             "--set", "val_sequences=2", "--set", "val_length=16", "--no-controls",
             "--set", "init_length=40", "--set", "init_sequences=1", "--set", "curve_points=2"]
    out = tmp_path / "r"
    status = main(["run", "--strategies", "glorot,broken-syntax,wrong-shapes,raises-in-init",
                   "--lrs", "1e-3", "--seeds", "1", "--steps", "2", "--data", "ar1", "--arms",
                   "none", "--no-extend", *small, "--out", str(out),
                   "--no-progress"])
    err = capsys.readouterr().err
    assert status == 1
    failures = json.loads((out / "failures.json").read_text())
    assert set(failures) == {"broken-syntax", "wrong-shapes", "raises-in-init"}
    assert "broken_syntax.py" in failures["broken-syntax"]
    assert "wrong_shapes.py" in failures["wrong-shapes"]
    assert "raises_in_init.py" in failures["raises-in-init"]
    for line in failures.values():
        assert "\n" not in line
        assert line in err
    records = list((out / "runs").glob("*.json"))
    assert len(records) == 1 and json.loads(records[0].read_text())["strategy"] == "glorot"
    report = (out / "report.md").read_text()
    assert all(name in report for name in failures)


def test_third_party_strategy_via_entry_point(monkeypatch, tmp_path):
    """A package registering a module under ``lstm_init_bench.strategies`` is discovered; a
    clash with a built-in name or a failing import is reported, not fatal."""
    pkg = tmp_path / "thirdparty_inits"
    pkg.mkdir()
    (pkg / "__init__.py").write_text("")
    (pkg / "mine.py").write_text(
        '"""Third-party: all-zero biases, Glorot weights."""\n'
        "from bench import init\n"
        "CITATION = 'A third-party package (2026)'\n"
        "def init_params(key, sizes, config, data):\n"
        "    return init.stack_params(key, sizes, W_in=init.glorot_uniform(),\n"
        "                             W_hid=init.glorot_uniform())\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    group = registry.KIND.group
    eps = [importlib.metadata.EntryPoint("mine", "thirdparty_inits.mine", group),
           importlib.metadata.EntryPoint("glorot", "thirdparty_inits.mine", group),
           importlib.metadata.EntryPoint("ghost", "thirdparty_inits.nope", group)]
    real = importlib.metadata.entry_points

    def fake(**kw):
        return eps if kw.get("group") == group else real(**kw)

    monkeypatch.setattr(importlib.metadata, "entry_points", fake)
    found, errors = registry.discover()
    assert found["mine"].summary == "Third-party: all-zero biases, Glorot weights."
    params = found["mine"].init_params(jax.random.PRNGKey(0), resolve("quick"), None)
    assert len(params) == 3
    assert found["glorot"].module.__name__ == "strategies.glorot"  # built-in wins
    assert "glorot" not in errors and "clashes" in errors["glorot [entry point]"]
    assert "ghost" in errors and "failed to import" in errors["ghost"]


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


def test_strategy_settings_parse_like_run_options():
    """Strategy settings and ``--set`` run options go through one parser: "false" is False for
    a bool setting (``bool("false")`` would be True), numbers take their default's type."""
    import types

    module = types.ModuleType("with_settings")
    module.SETTINGS = {"flag": True, "n": 3, "scale": 1.0}
    module.init_params = lambda key, sizes, config, data: []
    s = registry.Strategy("with-settings", module)
    assert s.settings({"flag": "false", "n": "5", "scale": "2"}) == {"flag": False, "n": 5,
                                                                     "scale": 2.0}
    assert s.settings({"flag": "1"})["flag"] is True
    for bad in ({"flag": "maybe"}, {"n": "5.5"}):
        with pytest.raises(ConfigError, match="is not a valid"):
            s.settings(bad)
