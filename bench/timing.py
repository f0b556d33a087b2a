"""Phase timings: where a chunk's wall time goes, with JAX's compile time split out.

A chunk (:func:`bench.sweep.run_chunk`) runs its phases one after the other; each phase is timed
with :meth:`Phases.phase`. JAX compiles a program the first time it is called with new static
arguments or shapes, inside whichever phase calls it, so the time JAX reports for tracing,
lowering and compiling (its ``jax.monitoring`` duration events) is moved from that phase to the
``compile`` phase. Every phase's time is then its own work, and the phases sum to the chunk's
wall time (up to the Python between phases).
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager

import jax
import numpy as np
import pandas as pd

# JAX's duration events for turning a call into an executable: tracing to a jaxpr, lowering to
# MLIR, and the backend compile (a persistent-cache hit reports none of the last).
COMPILE_EVENTS = (
    "/jax/core/compile/jaxpr_trace_duration",
    "/jax/core/compile/jaxpr_to_mlir_module_duration",
    "/jax/core/compile/backend_compile_duration",
)
# The phases of a chunk, in order (the report and `make bench` print them in this order).
PHASES = ("init_params", "compile", "init_diagnostics", "train", "validation", "test",
          "trained_diagnostics")

_lock = threading.Lock()
_local = threading.local()  # JAX reports a compile in the thread that compiles
_registered = False


def _listen(event: str, duration: float, **_: object) -> None:
    if event in COMPILE_EVENTS:
        _local.seconds = getattr(_local, "seconds", 0.0) + duration


def compile_seconds() -> float:
    """Seconds JAX has spent tracing, lowering and compiling in this thread so far (local
    workers are threads, :func:`bench.sweep.local_executor`)."""
    global _registered
    with _lock:
        if not _registered:
            jax.monitoring.register_event_duration_secs_listener(_listen)
            _registered = True
    return getattr(_local, "seconds", 0.0)


class Phases:
    """Seconds per phase of one chunk (``compile`` gathers the compile time of every phase)."""

    def __init__(self) -> None:
        compile_seconds()  # start listening before the first phase
        self.seconds: dict[str, float] = dict.fromkeys(PHASES, 0.0)

    @contextmanager
    def phase(self, name: str) -> Iterator[None]:
        """Time the block as ``name``, less the compile time inside it."""
        if name not in self.seconds or name == "compile":
            raise ValueError(f"unknown phase {name!r}; expected one of {PHASES[:1] + PHASES[2:]}")
        c0, t0 = compile_seconds(), time.perf_counter()
        try:
            yield
        finally:
            compiled = compile_seconds() - c0
            self.seconds[name] += time.perf_counter() - t0 - compiled
            self.seconds["compile"] += compiled


def sweep_phases(runs: pd.DataFrame) -> dict[str, float]:
    """Seconds per phase summed over the chunks of the run table ``runs``: every record holds
    its chunk's ``chunk_phase_s.<phase>``, so each run contributes that over ``chunk_runs``.
    Phases no record has are left out."""
    out = {}
    for name in PHASES:
        col = f"chunk_phase_s.{name}"
        if col in runs.columns and "chunk_runs" in runs.columns:
            share = runs[col].astype(float) / runs["chunk_runs"].astype(float)
            if share.notna().any():
                out[name] = float(share.sum())
    return out


def sweep_wall(runs: pd.DataFrame) -> tuple[float, int]:
    """Wall seconds summed over the chunks of the run table ``runs``, and how many chunks that
    is. A chunk's runs each hold its ``chunk_wall_s`` and size ``chunk_runs`` (a chunk can hold
    several strategies), so each run contributes its share, 1/``chunk_runs`` of a chunk."""
    if not {"chunk_wall_s", "chunk_runs"} <= set(runs.columns):
        return 0.0, 0
    size = pd.to_numeric(runs["chunk_runs"], errors="coerce").astype(float)
    wall = pd.to_numeric(runs["chunk_wall_s"], errors="coerce").astype(float)
    ok = np.isfinite(size) & (size >= 1) & np.isfinite(wall)  # a damaged record: left out
    return float((wall[ok] / size[ok]).sum()), round(float((1 / size[ok]).sum()))


def breakdown(phases: dict[str, float]) -> str:
    """``compile 120 s (20 %), train 400 s (67 %), …`` in phase order."""
    total = sum(phases.values())
    if not total:
        return "no phase timings recorded"
    return ", ".join(f"{k} {v:.0f} s ({100 * v / total:.0f} %)" for k, v in phases.items())
