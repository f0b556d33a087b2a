"""Run a sweep's jobs as Ray tasks (``python -m bench run --executor ray [--address ADDR]``).

Each job — one fixed chunk of one strategy × dataset grid, trained as one compiled program — is
one Ray task running :func:`bench.sweep.execute`. Records come back to the driver, which writes
them to the same atomic, resumable store as the local executor, so the report cannot tell which
executor ran. With ``--address`` the tasks go to an existing cluster; the ``bench`` and
``strategies`` packages travel with them (``runtime_env.py_modules``). ``--gpus-per-task``
requests GPUs for each task (``num_gpus``), so a GPU cluster runs one chunk per card.
"""

from __future__ import annotations

import os
from collections.abc import Iterator, Sequence
from pathlib import Path

from bench.sweep import Claim, ClaimedElsewhere, Job, Outcome, execute


def ray_executor(jobs: Sequence[Job], *, address: str | None = None, num_cpus: int | None = None,
                 gpus_per_task: float = 0.0, cpus_per_task: float = 1.0,
                 claim: Claim | None = None) -> Iterator[Outcome]:
    """Submit every job as a Ray task; yield (job, records or exception) as they finish. The
    driver takes each job's ``claim`` before submitting it (a job another sweep holds yields
    :class:`bench.sweep.ClaimedElsewhere` and is not submitted)."""
    try:
        import ray
    except ImportError:
        raise RuntimeError("the ray executor needs the [ray] extra: pip install -e '.[ray]'"
                           ) from None
    if not jobs:
        return
    if not ray.is_initialized():
        root = Path(__file__).resolve().parent.parent
        # one JAX CPU device per CPU a task holds (bench.devices would give it every core)
        env = {"env_vars": {"XLA_PYTHON_CLIENT_PREALLOCATE": "false",
                            "JAX_NUM_CPU_DEVICES": str(max(1, int(cpus_per_task))),
                            **{k: os.environ[k] for k in (
                                "JAX_COMPILATION_CACHE_DIR",
                                "JAX_PERSISTENT_CACHE_MIN_COMPILE_TIME_SECS") if k in os.environ}}}
        if address:  # a remote cluster: ship our packages with the tasks
            env["py_modules"] = [str(root / "bench"), str(root / "strategies")]
        local = {} if address else {"_node_ip_address": "127.0.0.1"}  # loopback only
        ray.init(address=address, num_cpus=None if address else num_cpus, runtime_env=env,
                 include_dashboard=False, log_to_driver=False, ignore_reinit_error=True,
                 **local)
    task = ray.remote(num_cpus=cpus_per_task, num_gpus=gpus_per_task)(execute)
    pending = {}
    for job in jobs:
        if claim is not None and not claim(job):
            yield job, ClaimedElsewhere(job.label)
        else:
            pending[task.remote(job)] = job
    while pending:
        done, _ = ray.wait(list(pending), num_returns=1)
        job = pending.pop(done[0])
        try:
            yield job, ray.get(done[0])
        except Exception as e:  # RayTaskError wraps the task's exception
            yield job, getattr(e, "cause", None) or e
