"""Session setup shared by every test module, and fixtures used by several of them.

Plain helpers (random Lasagne-named parameters, the NumPy LSTM reference, the command line's
exit status) live in ``tests/helpers.py``; import them with ``from helpers import ...``.
"""

import os

import pytest

# Two CPU devices even on a one-core machine, so the tests always exercise the split of a
# program's runs across CPU devices (bench.train.over_runs). Must precede the first jax import.
os.environ.setdefault("JAX_NUM_CPU_DEVICES", "2")

# Compile the tests' programs at LLVM optimisation level 0 unless XLA_FLAGS already names a
# level: a cold suite is mostly compiling. Why no test depends on the level, and how to run the
# suite at the default one: docs/reliability.md ("The tests themselves").
if "--xla_backend_optimization_level" not in os.environ.get("XLA_FLAGS", ""):
    os.environ["XLA_FLAGS"] = " ".join(
        filter(None, [os.environ.get("XLA_FLAGS"), "--xla_backend_optimization_level=0"]))


def pytest_report_header() -> str:
    return f"XLA_FLAGS={os.environ.get('XLA_FLAGS', '')} (tests/conftest.py)"


@pytest.fixture
def no_sweep(monkeypatch: pytest.MonkeyPatch) -> None:
    """``bench.sweep.run_sweep`` raises if reached: a command under test must refuse its
    arguments before anything runs."""
    import bench.sweep

    def refuse(*args: object, **kwargs: object) -> None:
        raise AssertionError("run_sweep reached: the arguments were not validated first")

    monkeypatch.setattr(bench.sweep, "run_sweep", refuse)
