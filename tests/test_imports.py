"""The package's shape, checked from its source: no import-time side effects, the core never
imports a study, and no import cycle (every import statement counts, also those inside
functions)."""

import ast
import os
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
BENCH = REPO / "bench"
ENTRY_POINTS = {"bench.cli", "bench.__main__"}  # may wire the studies in


def module_name(path: Path) -> str:
    parts = list(path.relative_to(REPO).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts = parts[:-1]
    return ".".join(parts)


def modules() -> dict[str, Path]:
    return {module_name(p): p for p in sorted(BENCH.rglob("*.py"))}


def imports_of(name: str, path: Path, known: set[str]) -> set[str]:
    """The bench modules ``name`` imports (``from bench import x`` counts as ``bench.x`` when
    that is a module)."""
    out: set[str] = set()
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            targets = [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.split(".")[: len(package.split(".")) - node.level + 1]
                base = ".".join([*anchor, *([base] if base else [])])
            targets = [f"{base}.{a.name}" if f"{base}.{a.name}" in known else base
                       for a in node.names]
        else:
            continue
        for t in targets:
            while t and t not in known:  # bench.sweep.SweepSpec -> bench.sweep
                t = t.rpartition(".")[0]
            if t and t != name:
                out.add(t)
    return out


def graph() -> dict[str, set[str]]:
    mods = modules()
    return {n: imports_of(n, p, set(mods)) for n, p in mods.items()}


def is_study(name: str) -> bool:
    return name == "bench.studies" or name.startswith("bench.studies.")


def test_the_graph_sees_the_imports_it_should():
    """The walker itself: known edges are found (so the checks below can fail)."""
    g = graph()
    assert "bench.train" in g["bench.sweep"] and "bench.store" in g["bench.sweep"]
    assert "bench.studies.perf" in g["bench.cli"]  # a lazy import inside a function
    assert "bench.train" in g["bench.studies.perf"]


def test_the_core_never_imports_a_study():
    offenders = {n: sorted(filter(is_study, deps)) for n, deps in graph().items()
                 if not is_study(n) and n not in ENTRY_POINTS and any(map(is_study, deps))}
    assert offenders == {}


def test_no_import_cycle():
    g = graph()
    state: dict[str, int] = {}
    cycles: list[list[str]] = []

    def visit(n: str, path: list[str]) -> None:
        state[n] = 1
        for m in sorted(g.get(n, ())):
            if state.get(m) == 1:
                cycles.append(path[path.index(m):] + [m] if m in path else [n, m])
            elif m not in state:
                visit(m, [*path, m])
        state[n] = 2

    for n in sorted(g):
        if n not in state:
            visit(n, [n])
    # a package's __init__ importing its own submodule is not a cycle of the import system
    # only if the submodule does not import the package back; report every cycle as is
    assert cycles == []


# slow to import, and needed by few functions: a process that lists the datasets or trains on a
# synthetic one (every command-line run, test worker and Ray worker) must not pay for them
LAZY = ("statsmodels", "scipy.signal")


def import_time_imports(tree: ast.AST) -> list[str]:
    """The modules imported when a module's body runs: every import statement outside a
    function (a class body or an ``if`` at the top level runs at import too)."""
    found: list[str] = []
    for node in ast.iter_child_nodes(tree):
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.Lambda)):
            continue
        if isinstance(node, ast.Import):
            found += [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom) and not node.level:
            found += [f"{node.module}.{a.name}" for a in node.names]
        found += import_time_imports(node)
    return found


def test_import_time_imports_of_hand_written_sources():
    """The walker: top-level, class-level and ``if`` imports count; a function's do not."""
    src = ("import numpy as np\nfrom scipy import signal\nclass A:\n    import json\n"
           "if True:\n    from statsmodels.tsa import ar_model\n"
           "def f():\n    import scipy.stats\n")
    assert import_time_imports(ast.parse(src)) == ["numpy", "scipy.signal", "json",
                                                   "statsmodels.tsa.ar_model"]


def test_slow_packages_are_imported_inside_the_functions_that_use_them():
    offenders = {name: hits for name, path in modules().items()
                 if (hits := [m for m in import_time_imports(ast.parse(path.read_text()))
                              if m.startswith(LAZY)])}
    assert offenders == {}


@pytest.mark.parametrize("module", ["bench", "bench.summary", "bench.report", "bench.sweep",
                                    "bench.cli"])
def test_importing_changes_no_environment_variable(module):
    env = {k: v for k, v in os.environ.items()
           if k not in ("JAX_NUM_CPU_DEVICES", "XLA_PYTHON_CLIENT_PREALLOCATE")}
    code = (f"import os, {module}; "
            "print(os.environ.get('JAX_NUM_CPU_DEVICES'), "
            "os.environ.get('XLA_PYTHON_CLIENT_PREALLOCATE'))")
    r = subprocess.run([sys.executable, "-c", code], cwd=REPO, env=env, capture_output=True,
                       text=True, timeout=120)
    assert r.returncode == 0, r.stderr
    assert r.stdout.split() == ["None", "None"]


def test_the_command_line_splits_the_cpu_into_devices():
    """``python -m bench`` (and the lstm-init-bench script, the same main) sets the split
    before JAX starts; an explicit value wins."""
    env = {k: v for k, v in os.environ.items() if k != "JAX_NUM_CPU_DEVICES"}
    code = ("import sys, types; fake = types.ModuleType('bench.cli'); "  # a CLI that reports
            "fake.main = lambda argv=None: print(__import__('jax').device_count()) or 0; "
            "sys.modules['bench.cli'] = fake; "
            "import bench.__main__ as m; sys.exit(m.main([]))")
    from bench.devices import usable_cores

    r = subprocess.run([sys.executable, "-c", code], cwd=REPO, env=env, capture_output=True,
                       text=True, timeout=120)
    assert r.returncode == 0, r.stderr
    assert r.stdout.split() == [str(usable_cores())]
    r = subprocess.run([sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True,
                       env={**env, "JAX_NUM_CPU_DEVICES": "3"}, timeout=120)
    assert r.stdout.split() == ["3"]


def test_configure_does_nothing_once_jax_is_imported(monkeypatch):
    from bench import devices

    env: dict[str, str] = {}
    assert devices.configure(env) is True
    assert env["JAX_NUM_CPU_DEVICES"] == str(devices.usable_cores())
    assert env["XLA_PYTHON_CLIENT_PREALLOCATE"] == "false"
    assert devices.configure({"JAX_NUM_CPU_DEVICES": "1"}) is True
    import jax  # noqa: F401  (already imported by the test session)

    before = dict(os.environ)
    assert devices.configure() is False
    assert dict(os.environ) == before
