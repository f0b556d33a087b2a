"""lstm-init-bench: which initialisation of a stacked LSTM trains stably, and how well.

Start at :mod:`bench.lstm` (the equations), :mod:`bench.registry` (strategy modules) and
:mod:`bench.cli` (``python -m bench``).
"""

import os

# Several processes may share one GPU: allocate on demand instead of JAX's default of
# preallocating 75 % of the card per process. Must be set before JAX starts a GPU backend.
os.environ.setdefault("XLA_PYTHON_CLIENT_PREALLOCATE", "false")
