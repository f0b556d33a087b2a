"""lstm-init-bench: which initialisation of a stacked LSTM trains stably, and how well.

Start at :mod:`bench.lstm` (the equations), :mod:`bench.registry` (strategy modules) and
:mod:`bench.cli` (``python -m bench``).
"""

import os

# Several processes may share one GPU: allocate on demand instead of JAX's default of
# preallocating 75 % of the card per process. Must be set before JAX starts a GPU backend.
os.environ.setdefault("XLA_PYTHON_CLIENT_PREALLOCATE", "false")

# On a CPU, give JAX one device per usable core, so a sweep's runs can be split across cores
# (bench.train.over_runs): one XLA CPU program keeps a 2-core machine only ~65 % busy on this
# model's small per-step ops. Takes effect only if JAX is not imported yet; set
# JAX_NUM_CPU_DEVICES=1 to keep a single CPU device.
os.environ.setdefault("JAX_NUM_CPU_DEVICES", str(len(os.sched_getaffinity(0))
                                                if hasattr(os, "sched_getaffinity")
                                                else os.cpu_count() or 1))
