"""Session setup shared by every test module."""

import os

# Two CPU devices even on a one-core machine, so the tests always exercise the split of a
# program's runs across CPU devices (bench.train.over_runs). Must precede the first jax import.
os.environ.setdefault("JAX_NUM_CPU_DEVICES", "2")
