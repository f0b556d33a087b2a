"""Session setup shared by every test module, and fixtures used by several of them.

Plain helpers (random Lasagne-named parameters, the NumPy LSTM reference, the command line's
exit status) live in ``tests/helpers.py``; import them with ``from helpers import ...``.
"""

import os

import pytest

# Two CPU devices even on a one-core machine, so the tests always exercise the split of a
# program's runs across CPU devices (bench.train.over_runs). Must precede the first jax import.
os.environ.setdefault("JAX_NUM_CPU_DEVICES", "2")


@pytest.fixture
def no_sweep(monkeypatch: pytest.MonkeyPatch) -> None:
    """``bench.sweep.run_sweep`` raises if reached: a command under test must refuse its
    arguments before anything runs."""
    import bench.sweep

    def refuse(*args: object, **kwargs: object) -> None:
        raise AssertionError("run_sweep reached: the arguments were not validated first")

    monkeypatch.setattr(bench.sweep, "run_sweep", refuse)
