"""Strategy discovery (bench.registry): broken modules, ``bench list``, selection, entry points,
strategy settings, and a sweep that meets broken strategies.

Broken strategy modules are placed in a temporary directory that stands in for strategies/: the
``strategies`` package's ``__path__`` is redirected there, so discovery (which lists the
package's folder and imports ``strategies.<stem>``) loads the temporary files. Everything is
restored afterwards.
"""

import importlib
import importlib.metadata
import json
import os
import shutil
import subprocess
import sys
import textwrap
import types
from pathlib import Path

import helpers
import jax
import pytest

import bench.registry as registry
import strategies
from bench.cli import main
from bench.config import resolve
from bench.errors import ConfigError

REPO = Path(__file__).resolve().parent.parent
PYTHON = sys.executable

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
# discovery
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


def test_select():
    chosen, failed = registry.select("glorot, chrono")
    assert [s.name for s in chosen] == ["glorot", "chrono"] and failed == {}
    everything, _ = registry.select("all")
    assert [s.name for s in everything] == sorted(s.name for s in everything)
    with pytest.raises(ValueError, match="glorrot.*did you mean 'glorot'"):
        registry.select("glorrot")


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


def test_entry_points_are_scanned_again_only_after_an_install(monkeypatch, tmp_path):
    """bench.plugins.entry_points reads the installed distributions once, not once per lookup
    (a sweep looks a dataset up per run), and reads them again when a distribution appears in
    a folder of ``sys.path``."""
    from plugin_site import install

    from bench import data, plugins

    scans = []
    real = importlib.metadata.entry_points
    group, other = registry.KIND.group, data.KIND.group
    # what this environment registers already (nothing, unless a plugin package is installed)
    before = {g: tuple(real(group=g)) for g in (group, other)}

    def counted(**kw):
        scans.append(kw.get("group"))
        return real(**kw)

    monkeypatch.setattr(importlib.metadata, "entry_points", counted)
    site = tmp_path / "site"
    site.mkdir()
    os.utime(site, ns=(10**9, 10**9))  # an old folder: the install below changes its time
    monkeypatch.syspath_prepend(str(site))
    for _ in range(3):
        assert plugins.entry_points(group) == before[group]
    assert scans == [group]
    assert plugins.entry_points(other) == before[other]  # each group has its own
    assert scans == [group, other]
    install(tmp_path, {}, f"[{group}]\nmine = thirdparty_inits.mine\n")
    # the new folder is first on sys.path, so its distribution is read first
    assert [ep.name for ep in plugins.entry_points(group)] == [
        "mine", *(ep.name for ep in before[group])]
    assert plugins.entry_points(group)[0].value == "thirdparty_inits.mine"
    assert scans == [group, other, group]


def test_strategy_settings_parse_like_run_options():
    """Strategy settings and ``--set`` run options go through one parser: "false" is False for
    a bool setting (``bool("false")`` would be True), numbers take their default's type."""
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


# ----------------------------------------------------------------------------------------------
# bench list
# ----------------------------------------------------------------------------------------------


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


# ----------------------------------------------------------------------------------------------
# a sweep with broken strategies
# ----------------------------------------------------------------------------------------------


def test_sweep_with_broken_strategies_runs_the_others_and_reports_them(broken_dir, tmp_path,
                                                                      capsys):
    small = [*helpers.set_args({k: v for k, v in helpers.TINY.items() if k != "steps"}),
             "--no-controls"]
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
