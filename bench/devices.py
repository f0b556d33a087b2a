"""How JAX sees the machine, set by the command-line entry points before JAX starts.

:func:`configure` is called by ``python -m bench`` and ``lstm-init-bench`` (:mod:`bench.__main__`)
only; importing :mod:`bench` or any of its modules changes nothing. It sets, unless already set:

- ``JAX_NUM_CPU_DEVICES`` = the number of usable cores, so a sweep's runs can be split across
  cores (:func:`bench.train.over_runs`): one XLA CPU program does not keep several cores busy on
  this model's small per-step operations. Set ``JAX_NUM_CPU_DEVICES=1`` for a single device.
- ``XLA_PYTHON_CLIENT_PREALLOCATE=false``: several processes may share one GPU, so memory is
  allocated on demand instead of JAX's default of preallocating most of the card per process.
"""

from __future__ import annotations

import os
import sys
from collections.abc import MutableMapping


def usable_cores() -> int:
    """Cores this process may run on."""
    if hasattr(os, "sched_getaffinity"):
        return len(os.sched_getaffinity(0))
    return os.cpu_count() or 1


def configure(environ: MutableMapping[str, str] | None = None) -> bool:
    """Set the defaults above in ``environ`` (``os.environ``); return False (and change
    nothing) when JAX has already been imported, since it reads them only once at start."""
    env = os.environ if environ is None else environ
    if environ is None and "jax" in sys.modules:
        return False
    env.setdefault("XLA_PYTHON_CLIENT_PREALLOCATE", "false")
    env.setdefault("JAX_NUM_CPU_DEVICES", str(usable_cores()))
    return True
