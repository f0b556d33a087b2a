"""``python -m bench perf``: throughput of the engine against peer frameworks.

One invocation trains the same stacked model (profile sizes, dropout before every layer,
one-step MSE, Adam with global-norm clipping 1.0) on the same training pool with each
contender, one after the other, each in its own fresh subprocess (so peak RSS is per
contender and no two compete for the cores):

=================  ==========================================================================
engine-sweep       ours: N learning rates in one compiled program (bench.train.over_runs)
engine-single      ours: one run (an R = 1 program)
lasagne            Theano 1.0.5 + Lasagne 0.1, ``peers/lasagne_peer.py`` in .venv-lasagne
torch-custom       PyTorch eager, hand-written Graves peephole cell, Python loop over time
torch-fused        PyTorch ``nn.LSTM`` per layer (no peepholes): the standard-cell ceiling
engine-chunk       ours, end to end: one sweep chunk of the N runs through
                   ``bench.sweep.execute`` (init diagnostics, training with its validation
                   curve, test evaluation, trained diagnostics)
=================  ==========================================================================

and runs the forward pass alone (inference: no dropout, no gradients, then the per-channel
one-step MSE) over ``--forward-batch`` sequences of ``--forward-length`` steps (default: the
profile's ``init_length``, the length of the pass at init):

=================  ==========================================================================
engine-forward     ours: ``bench.train.eval_mse`` on one run, the pass evaluation and the
                   diagnostics at init run
lasagne-forward    Theano 1.0.5 + Lasagne 0.1: a compiled ``theano.function`` of
                   ``get_output(deterministic=True)``, in .venv-lasagne
torch-forward      PyTorch ``nn.LSTM`` per layer under ``torch.no_grad`` (no peepholes)
=================  ==========================================================================

Protocol (every contender): build, compile (timed), one warm-up call (excluded), then
``repeats`` timed calls, each ended by a device synchronisation. Training rows: a call is
``steps`` training steps and the metric is **run-timesteps/s** = runs × batch × window × steps
/ median seconds of a call; the ratio of a row is ours (engine-sweep) ÷ that row, so > 1 means
the engine is faster. ``engine-chunk``: a call is one whole chunk of ``--chunk-steps`` steps
(the first chunk, which compiles, is the warm-up; ``--chunk-repeats`` chunks are timed) and the
seconds are the chunk's own wall time (``chunk_wall_s``), so its ratio against engine-sweep is
what the protocol's fixed costs add per training timestep; its notes say where the chunk's time
went (``chunk_phase_s``). Forward rows: a call is one pass over the batch and the metric is
**timesteps/s** = batch × length / median seconds; the ratio is engine-forward ÷ that row.
``--runs-axis`` picks how the engine maps its runs (``auto``: ``bench.train.default_runs_axis``,
``lax.map`` on a CPU and ``vmap`` elsewhere).

A peer that is missing or fails is a table row "skipped: reason", never an error. The
Markdown tables (training, then forward-only) go to ``--out`` (written atomically) and are
printed last on stdout. Workers print one JSON line (see :func:`run_worker`); the engine's
workers are this module::

    python -m bench.studies.perf _engine-worker --runs 8 --runs-axis auto --pool POOL.npy ...
    python -m bench.studies.perf _chunk-worker --runs 8 --steps 1000 ...
    python -m bench.studies.perf _forward-worker --inputs X.npy ...

:func:`add_parser` registers the ``perf`` sub-command (``func`` = :func:`cmd_perf`);
``python -m bench.studies.perf`` takes the same options.
"""

from __future__ import annotations

import argparse
import datetime
import importlib.util
import json
import math
import os
import platform
import statistics
import subprocess
import sys
import tempfile
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from bench.errors import UserError, did_you_mean

if TYPE_CHECKING:
    from bench.config import RunConfig

REPO = Path(__file__).resolve().parents[2]
PEERS = Path(__file__).resolve().parent / "peers"
LASAGNE_PYTHON = REPO / ".venv-lasagne" / "bin" / "python"
TRAINING = ("engine-sweep", "engine-single", "lasagne", "torch-custom", "torch-fused",
            "engine-chunk")
FORWARD = ("engine-forward", "lasagne-forward", "torch-forward")
CONTENDERS = TRAINING + FORWARD
OURS = "engine-sweep"
OURS_FORWARD = "engine-forward"
ENGINE_ROWS = ("engine-sweep", "engine-single", "engine-chunk", "engine-forward")
TRAIN_FIELDS = ("runs", "batch", "window", "steps")  # sizes a training record carries
FORWARD_FIELDS = ("batch", "length")  # sizes a forward-only record carries
SINGLE_LR = 1e-3  # learning rate of every one-run contender
LR_RANGE = (1e-4, 3e-2)  # the sweep's learning rates: N values, geometric, in this range
RUNS_AXES = ("auto", "map", "vmap")  # --runs-axis; auto: bench.train.default_runs_axis()
COLUMNS = ("contender", "device", "runs", "run-timesteps/s", "ratio vs ours (×)", "compile s",
           "peak RSS MB", "peak device MB", "notes")
FORWARD_COLUMNS = ("contender", "device", "batch × length", "timesteps/s", "ratio vs ours (×)",
                   "compile s", "peak RSS MB", "peak device MB", "notes")


@dataclass(frozen=True)
class PerfSpec:
    """What ``perf`` measures."""

    profile: str = "standard"  # 7 → 64 → 32 → 7, the sizes results/perf.md has compared
    n_lrs: int = 8
    steps: int = 20
    repeats: int = 3
    lasagne_steps: int = 3
    batch: int = 16
    window: int = 128
    hidden: tuple[int, ...] | None = None  # None: the profile's
    only: tuple[str, ...] = CONTENDERS
    runs_axis: str = "auto"  # how the engine maps its runs: auto, map or vmap
    forward_batch: int = 4  # sequences per forward-only call
    forward_length: int | None = None  # steps per sequence; None: the profile's init_length
    chunk_steps: int | None = None  # training steps of engine-chunk; None: the profile's
    chunk_repeats: int = 1  # timed chunks after the first (compiling) one
    timeout_s: float = 900.0
    lasagne_python: str = str(LASAGNE_PYTHON)
    python: str = sys.executable
    extra_env: dict[str, str] = field(default_factory=dict)

    def config(self) -> RunConfig:
        """The run config every contender trains (``ValueError`` on bad values)."""
        from bench.config import resolve

        extra = {} if self.hidden is None else {"hidden": self.hidden}
        return resolve(self.profile, steps=self.steps, batch_size=self.batch,
                       window=self.window, lr=SINGLE_LR, seed=0, **extra)

    def length(self) -> int:
        """Steps per sequence of the forward-only rows (default: the pass at init's)."""
        return self.forward_length or self.config().init_length

    def chunk_steps_or_profile(self) -> int:
        """Training steps of the engine-chunk row (default: the profile's)."""
        from bench.config import resolve

        return self.chunk_steps or resolve(self.profile).steps


def sweep_lrs(n: int) -> list[float]:
    """The N learning rates of the vmapped sweep (one run: :data:`SINGLE_LR`)."""
    if n == 1:
        return [SINGLE_LR]
    return [float(v) for v in np.geomspace(*LR_RANGE, n)]


def run_timesteps_per_s(runs: int, batch: int, window: int, steps: int, seconds: float) -> float:
    """runs × batch × window × steps / seconds: training timesteps processed per second."""
    return runs * batch * window * steps / seconds


def timesteps_per_s(batch: int, length: int, seconds: float) -> float:
    """batch × length / seconds: forward-only timesteps processed per second."""
    return batch * length / seconds


def is_forward(contender: str) -> bool:
    """True for a forward-only (inference) row, measured in timesteps/s."""
    return contender in FORWARD


def ratio_vs_ours(ours: float | None, theirs: float | None) -> float | None:
    """ours ÷ theirs (run-timesteps/s); ``None`` when either is missing."""
    if not ours or not theirs:
        return None
    return ours / theirs


# --------------------------------------------------------------------------- workers


def _reason(text: str, limit: int = 160) -> str:
    lines = [ln.strip() for ln in text.strip().splitlines() if ln.strip()]
    line = lines[-1] if lines else ""
    return line if len(line) <= limit else line[: limit - 1] + "…"


def run_worker(cmd: Sequence[str], timeout_s: float, env: dict[str, str] | None = None,
               cwd: str | Path = REPO, fields: Sequence[str] = TRAIN_FIELDS) -> dict[str, Any]:
    """Run one contender; return its JSON record plus ``status`` "ok", or "skipped" + reason.

    The record is the last stdout line that parses as a JSON object and carries ``times_s``
    (seconds of each timed call) and the positive integer sizes ``fields``: ``runs``,
    ``batch``, ``window`` and ``steps`` for training (:data:`TRAIN_FIELDS`), ``batch`` and
    ``length`` for a forward-only pass (:data:`FORWARD_FIELDS`).
    """
    try:
        proc = subprocess.run(list(cmd), capture_output=True, text=True, timeout=timeout_s,
                              env=env, cwd=cwd)
    except FileNotFoundError as e:
        return {"status": "skipped", "reason": f"{e.filename or cmd[0]}: not found"}
    except subprocess.TimeoutExpired:
        return {"status": "skipped", "reason": f"timed out after {timeout_s:g} s"}
    except OSError as e:
        return {"status": "skipped", "reason": f"cannot start: {e}"}
    if proc.returncode != 0:
        why = _reason(proc.stderr) or _reason(proc.stdout) or "no output"
        return {"status": "skipped", "reason": f"exit {proc.returncode}: {why}"}
    for line in reversed(proc.stdout.strip().splitlines()):
        try:
            record = json.loads(line)
        except ValueError:
            continue
        if isinstance(record, dict):
            break
    else:
        return {"status": "skipped", "reason": "no JSON record on stdout"}
    try:
        times = [float(t) for t in record["times_s"]]
        for name in fields:
            if int(record[name]) < 1:
                raise ValueError(name)
        if not times or min(times) <= 0:
            raise ValueError("times_s")
    except (KeyError, TypeError, ValueError) as e:
        return {"status": "skipped", "reason": f"malformed record ({e})"}
    return {**record, "status": "ok"}


def worker_command(name: str, spec: PerfSpec, pool: Path,
                   inputs: Path | None = None) -> list[str] | str:
    """The command line of one contender, or why it cannot run (a skip reason). ``pool``: the
    training pool (.npy); ``inputs``: the forward-only rows' sequences (.npy)."""
    cfg = spec.config()
    if is_forward(name):
        return _forward_command(name, spec, inputs if inputs is not None else pool)
    sizes = ["--hidden", ",".join(str(h) for h in cfg.hidden), "--batch", str(cfg.batch_size),
             "--window", str(cfg.window), "--repeats", str(spec.repeats), "--pool", str(pool)]
    train = ["--lr", f"{SINGLE_LR:g}", "--dropout", f"{cfg.dropout:g}",
             "--clip", f"{cfg.clip_norm:g}", "--seed", "0"]
    if name in ("engine-sweep", "engine-single"):
        runs = spec.n_lrs if name == "engine-sweep" else 1
        return [spec.python, "-m", "bench.studies.perf", "_engine-worker", "--runs", str(runs),
                "--runs-axis", spec.runs_axis, "--profile", spec.profile,
                "--steps", str(spec.steps), *sizes]
    if name == "engine-chunk":
        return [spec.python, "-m", "bench.studies.perf", "_chunk-worker",
                "--runs", str(spec.n_lrs), "--runs-axis", spec.runs_axis,
                "--profile", spec.profile, "--steps", str(spec.chunk_steps_or_profile()),
                "--hidden", ",".join(str(h) for h in cfg.hidden),
                "--batch", str(cfg.batch_size), "--window", str(cfg.window),
                "--repeats", str(spec.chunk_repeats)]
    if name.startswith("torch-"):
        if spec.python == sys.executable and importlib.util.find_spec("torch") is None:
            return "torch not installed (pip install -e '.[peers]')"
        return [spec.python, str(PEERS / "torch_peer.py"), "--mode", name.split("-", 1)[1],
                "--steps", str(spec.steps), *sizes, *train]
    if name == "lasagne":
        missing = _lasagne_missing(spec)
        if missing:
            return missing
        return [spec.lasagne_python, str(PEERS / "lasagne_peer.py"),
                "--steps", str(spec.lasagne_steps), *sizes, *train]
    raise ValueError(f"unknown contender {name!r}")


def _lasagne_missing(spec: PerfSpec) -> str | None:
    if Path(spec.lasagne_python).is_file():
        return None
    shown = Path(spec.lasagne_python)
    if shown.is_absolute() and shown.is_relative_to(REPO):
        shown = shown.relative_to(REPO)
    return f"{shown}: not found (make reference)"


def _forward_command(name: str, spec: PerfSpec, inputs: Path) -> list[str] | str:
    """The command line of a forward-only contender over the sequences in ``inputs``."""
    cfg = spec.config()
    sizes = ["--hidden", ",".join(str(h) for h in cfg.hidden), "--repeats", str(spec.repeats),
             "--inputs", str(inputs)]
    if name == "engine-forward":
        return [spec.python, "-m", "bench.studies.perf", "_forward-worker",
                "--runs-axis", spec.runs_axis, "--profile", spec.profile, *sizes]
    peer = ["--task", "forward", "--dropout", f"{cfg.dropout:g}", "--seed", "0", *sizes]
    if name == "torch-forward":
        if spec.python == sys.executable and importlib.util.find_spec("torch") is None:
            return "torch not installed (pip install -e '.[peers]')"
        return [spec.python, str(PEERS / "torch_peer.py"), "--mode", "fused", *peer]
    if name == "lasagne-forward":
        missing = _lasagne_missing(spec)
        if missing:
            return missing
        return [spec.lasagne_python, str(PEERS / "lasagne_peer.py"), *peer]
    raise ValueError(f"unknown contender {name!r}")


# --------------------------------------------------------------------------- the engine


def _training_worker_parser(name: str) -> argparse.ArgumentParser:
    """The options shared by the engine's training workers (``_engine-worker``,
    ``_chunk-worker``)."""
    p = argparse.ArgumentParser(prog=f"python -m bench.studies.perf {name}", allow_abbrev=False)
    p.add_argument("--runs", type=int, required=True)
    p.add_argument("--runs-axis", choices=RUNS_AXES, default="auto")
    p.add_argument("--profile", default="standard")
    p.add_argument("--hidden", required=True)
    p.add_argument("--batch", type=int, required=True)
    p.add_argument("--window", type=int, required=True)
    p.add_argument("--steps", type=int, required=True)
    p.add_argument("--repeats", type=int, required=True)
    return p


def engine_worker(argv: Sequence[str]) -> int:
    """Time the engine (``train_steps``) on ``--runs`` learning rates; print one JSON line."""
    p = _training_worker_parser("_engine-worker")
    p.add_argument("--pool", required=True)
    args = p.parse_args(argv)

    import time

    import jax

    # a cold compile is what a fresh sweep pays; the persistent cache would hide it
    jax.config.update("jax_enable_compilation_cache", False)
    import jax.numpy as jnp
    import jaxlib
    import optax

    from bench import train
    from bench.config import resolve
    from bench.registry import get_strategy
    from bench.studies.peers.peer_common import timed_calls, timing_record

    strategy = get_strategy("glorot")
    hidden = tuple(int(h) for h in args.hidden.split(","))
    configs = [resolve(args.profile, strategy=strategy.name, settings=strategy.settings(),
                       lr=lr, seed=0, steps=args.steps, batch_size=args.batch,
                       window=args.window, hidden=hidden) for lr in sweep_lrs(args.runs)]
    cfg = configs[0]
    pool = jnp.asarray(np.load(args.pool))
    axis = train.check_runs_axis(args.runs_axis)  # auto: train.default_runs_axis()
    arch = train.Arch.of(cfg, **strategy.nonlinearities())
    recipe = train.Recipe.of(cfg)
    params = strategy.init_params(jax.random.PRNGKey(cfg.seed), cfg,
                                  np.asarray(pool[: cfg.batch_size, : cfg.window]))
    state = train.place_runs(train.initial_state({cfg.seed: params}, configs), axis)
    active = jnp.ones(len(configs), bool)  # every run trains, in the program a sweep runs
    jax.block_until_ready(state)
    t0 = time.perf_counter()
    compiled = train.train_steps.lower(state, pool, jnp.int32(0), active, arch=arch,
                                       recipe=recipe, n_steps=args.steps, axis=axis).compile()
    compile_s = time.perf_counter() - t0
    calls = 0

    def call() -> None:
        nonlocal state, calls
        state, loss = compiled(state, pool, jnp.int32(calls * args.steps), active)
        jax.block_until_ready((state, loss))
        calls += 1

    warmup, times, _ = timed_calls(call, args.repeats)
    dev = jax.devices()[0]
    stats = dev.memory_stats() if dev.platform != "cpu" else None
    device_mb = stats.get("peak_bytes_in_use", 0) / 2**20 if stats else None
    what = (f"{args.runs} LRs in one program ({train.runs_mapping(args.runs, axis)})"
            if args.runs > 1 else "one run (R = 1 program)")
    record = timing_record(
        args, contender="engine-sweep" if args.runs > 1 else "engine-single",
        device=f"{dev.platform}: {dev.device_kind}" if dev.platform != "cpu" else "cpu",
        runs=args.runs, warmup=warmup, times=times, compile_s=compile_s,
        compile_how="jax AOT lower + compile, persistent cache off", device_mb=device_mb,
        diverged=int(np.sum(np.asarray(state["diverged"]))), runs_axis=axis,
        versions={"jax": jax.__version__, "jaxlib": jaxlib.__version__,
                  "optax": optax.__version__, "python": platform.python_version()},
        notes=f"{what}; lax.scan over time; AOT compile",
    )
    print(json.dumps(record), flush=True)
    return 0


def _cold_jax() -> None:
    """A cold compile is what a fresh sweep pays; the persistent cache would hide it."""
    import jax

    jax.config.update("jax_enable_compilation_cache", False)


def _versions() -> dict[str, str]:
    import jax
    import jaxlib
    import optax

    return {"jax": jax.__version__, "jaxlib": jaxlib.__version__, "optax": optax.__version__,
            "python": platform.python_version()}


def _device_name() -> tuple[str, float | None]:
    """The device in words and its peak memory in MB (None on a CPU)."""
    import jax

    dev = jax.devices()[0]
    stats = dev.memory_stats() if dev.platform != "cpu" else None
    device_mb = stats.get("peak_bytes_in_use", 0) / 2**20 if stats else None
    return (f"{dev.platform}: {dev.device_kind}" if dev.platform != "cpu" else "cpu"), device_mb


def forward_worker(argv: Sequence[str]) -> int:
    """Time the engine's forward-only pass (``bench.train.eval_mse``, one run, every sequence
    of ``--inputs`` in one group); print one JSON line."""
    p = argparse.ArgumentParser(prog="python -m bench.studies.perf _forward-worker",
                                allow_abbrev=False)
    p.add_argument("--inputs", required=True)
    p.add_argument("--runs-axis", choices=RUNS_AXES, default="auto")
    p.add_argument("--profile", default="standard")
    p.add_argument("--hidden", required=True)
    p.add_argument("--repeats", type=int, required=True)
    args = p.parse_args(argv)

    import time

    _cold_jax()
    import jax
    import jax.numpy as jnp

    from bench import model, train
    from bench.config import resolve
    from bench.registry import get_strategy
    from bench.studies.peers.peer_common import forward_record, timed_calls

    strategy = get_strategy("glorot")
    x = np.load(args.inputs).astype(np.float32)
    batch, length = int(x.shape[0]), int(x.shape[1])
    cfg = resolve(args.profile, strategy=strategy.name, settings=strategy.settings(),
                  seed=0, channels=int(x.shape[2]),
                  hidden=tuple(int(h) for h in args.hidden.split(",")))
    axis = train.check_runs_axis(args.runs_axis)
    arch = train.Arch.of(cfg, **strategy.nonlinearities())
    params = strategy.init_params(jax.random.PRNGKey(cfg.seed), cfg, x[:, : cfg.window])
    one_run = jax.tree.map(lambda a: a[None], model.pack_stack(params))  # a run axis of 1
    xs = jnp.asarray(x)
    jax.block_until_ready((one_run, xs))
    t0 = time.perf_counter()
    compiled = train.eval_mse.lower(one_run, xs, arch=arch, axis=axis, group=batch).compile()
    compile_s = time.perf_counter() - t0

    def call() -> np.ndarray:
        return np.asarray(jax.block_until_ready(compiled(one_run, xs)))

    warmup, times, mse = timed_calls(call, args.repeats)
    device, device_mb = _device_name()
    record = forward_record(
        contender="engine-forward", device=device, batch=batch, length=length, warmup=warmup,
        times=times, compile_s=compile_s,
        compile_how="jax AOT lower + compile, persistent cache off", device_mb=device_mb,
        mse=float(np.mean(mse)), runs_axis=axis, versions=_versions(),
        notes=f"bench.train.eval_mse, one run ({train.runs_mapping(1, axis)}), "
              f"{batch} sequences in one group; lax.scan over time; AOT compile",
    )
    print(json.dumps(record), flush=True)
    return 0


def phase_shares(phases: dict[str, float], wall: float) -> str:
    """``train 61 %, validation 12 %, …``: each phase's share of the chunk's ``wall`` seconds
    (phases in :data:`bench.timing.PHASES` order, then any others; 0 % ones left out; the
    remainder of the wall time, if any, as ``other``)."""
    from bench.timing import PHASES

    names = [n for n in PHASES if n in phases] + sorted(set(phases) - set(PHASES))
    parts = [(n, phases[n]) for n in names]
    rest = wall - sum(v for _, v in parts)
    parts.append(("other", rest))
    shown = [f"{n} {100 * v / wall:.0f} %" for n, v in parts if wall > 0 and 100 * v / wall >= 0.5]
    return ", ".join(shown) or "no phase timings"


def chunk_worker(argv: Sequence[str]) -> int:
    """Run one real sweep chunk (``bench.sweep.execute``: init diagnostics, training with its
    validation curve, test evaluation, trained diagnostics) of ``--runs`` learning rates, once
    to compile and ``--repeats`` times timed; print one JSON line. A call's seconds are the
    chunk's own wall time (``chunk_wall_s`` of its records)."""
    args = _training_worker_parser("_chunk-worker").parse_args(argv)

    _cold_jax()
    from bench import sweep, train
    from bench.config import resolve
    from bench.registry import get_strategy

    strategy = get_strategy("glorot")
    hidden = tuple(int(h) for h in args.hidden.split(","))
    configs = tuple(resolve(args.profile, strategy=strategy.name,
                            strategy_code=strategy.code_hash, settings=strategy.settings(),
                            lr=lr, seed=0, steps=args.steps, batch_size=args.batch,
                            window=args.window, hidden=hidden) for lr in sweep_lrs(args.runs))
    job = sweep.Job(configs, sweep_id="perf", runs_axis=args.runs_axis)
    sweep.data_bundle(configs[0])  # the data are drawn once per dataset in a sweep too
    chunks = []
    for _ in range(1 + args.repeats):  # the first chunk compiles: the warm-up
        first = sweep.execute(job)[0]
        chunks.append((first.chunk_wall_s, dict(first.chunk_phase_s)))
    (cold_wall, cold), timed = chunks[0], chunks[1:]
    wall, phases = sorted(timed, key=lambda c: c[0])[len(timed) // 2]  # the median chunk's
    cfg = configs[0]
    axis = train.check_runs_axis(args.runs_axis)
    device, device_mb = _device_name()
    record = {
        "contender": "engine-chunk", "device": device, "runs": args.runs,
        "batch": args.batch, "window": args.window, "steps": args.steps,
        "times_s": [w for w, _ in timed], "warmup_s": cold_wall,
        "compile_s": cold.get("compile", 0.0),
        "compile_how": "the first chunk's compile phase (chunk_phase_s), persistent cache off",
        "rss_mb": _rss_mb(), "device_mb": device_mb, "runs_axis": axis,
        "phase_s": phases, "first_chunk_phase_s": cold, "versions": _versions(),
        "notes": (f"one sweep chunk (bench.sweep.execute; {train.runs_mapping(args.runs, axis)})"
                  f": {args.runs} runs × {args.steps} steps, init diagnostics "
                  f"({cfg.init_sequences} × {cfg.init_length} steps), validation every "
                  f"{cfg.val_every} steps ({cfg.val_sequences} × {cfg.val_length}), test "
                  f"({cfg.test_sequences} × {cfg.test_length}), trained diagnostics; "
                  f"time of a timed chunk: {phase_shares(phases, wall)}; the first chunk: "
                  f"{cold_wall:.1f} s, {cold.get('compile', 0.0):.1f} s of it compiling"),
    }
    print(json.dumps(record), flush=True)
    return 0


def _rss_mb() -> float:
    import resource

    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


# --------------------------------------------------------------------------- the table


def finish_rows(records: Sequence[dict[str, Any]]) -> list[dict[str, Any]]:
    """Add ``median_s`` and ``ratio`` (ours ÷ row) to each record, and ``rts``
    (run-timesteps/s; ours = engine-sweep) to a training row or ``tps`` (timesteps/s; ours =
    engine-forward) to a forward-only one (:func:`is_forward`)."""
    rows = [dict(r) for r in records]
    for r in rows:
        if r.get("status") == "ok":
            r["median_s"] = statistics.median(r["times_s"])
            if is_forward(r.get("contender", "")):
                r["tps"] = timesteps_per_s(r["batch"], r["length"], r["median_s"])
            else:
                r["rts"] = run_timesteps_per_s(r["runs"], r["batch"], r["window"], r["steps"],
                                               r["median_s"])
    ours = next((r.get("rts") for r in rows if r.get("contender") == OURS), None)
    ours_fw = next((r.get("tps") for r in rows if r.get("contender") == OURS_FORWARD), None)
    for r in rows:
        if is_forward(r.get("contender", "")):
            r["ratio"] = ratio_vs_ours(ours_fw, r.get("tps"))
        else:
            r["ratio"] = ratio_vs_ours(ours, r.get("rts"))
    return rows


def _num(v: float | None, digits: int = 1) -> str:
    if v is None or (isinstance(v, float) and not math.isfinite(v)):
        return "–"
    return f"{v:,.{digits}f}"


def _table(rows: Sequence[dict[str, Any]], columns: Sequence[str], left: int,
           cells: Callable[[dict[str, Any], str], list[str]]) -> str:
    """A Markdown table of ``rows``: the first ``left`` and the last column left-aligned, the
    rest right-aligned; a skipped row says why, a measured one is ``cells(row, ratio)``."""
    lines = ["| " + " | ".join(columns) + " |",
             "|" + "|".join(["---"] * left + ["---:"] * (len(columns) - left - 1) + ["---"])
             + "|"]
    for r in rows:
        if r.get("status") != "ok":
            out = [r["contender"], *["–"] * (len(columns) - 2),
                   f"skipped: {r.get('reason', '?')}"]
        else:
            out = cells(r, "–" if r["ratio"] is None else f"{r['ratio']:.2f}")
        lines.append("| " + " | ".join(str(c).replace("|", "/") for c in out) + " |")
    return "\n".join(lines)


def markdown_table(rows: Sequence[dict[str, Any]]) -> str:
    """The training table (one line per training contender of ``rows``; skipped ones say
    why); forward-only rows are :func:`forward_table`'s."""
    return _table([r for r in rows if not is_forward(r.get("contender", ""))], COLUMNS, 2,
                  lambda r, ratio: [r["contender"], r["device"], str(r["runs"]),
                                    _num(r["rts"], 0), ratio, _num(r.get("compile_s")),
                                    _num(r.get("rss_mb"), 0), _num(r.get("device_mb"), 0),
                                    r.get("notes", "")])


def forward_table(rows: Sequence[dict[str, Any]]) -> str:
    """The forward-only table (one line per forward contender of ``rows``; skipped ones say
    why): timesteps/s and the ratio engine-forward ÷ row."""
    return _table([r for r in rows if is_forward(r.get("contender", ""))], FORWARD_COLUMNS, 3,
                  lambda r, ratio: [r["contender"], r["device"], f"{r['batch']} × {r['length']}",
                                    _num(r["tps"], 0), ratio, _num(r.get("compile_s")),
                                    _num(r.get("rss_mb"), 0), _num(r.get("device_mb"), 0),
                                    r.get("notes", "")])


def _cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def settings(spec: PerfSpec, rows: Sequence[dict[str, Any]], load: Sequence[float]) -> list[str]:
    """The settings block: sizes, protocol, host and versions."""
    cfg = spec.config()
    lrs = sweep_lrs(spec.n_lrs)
    versions: dict[str, str] = {}
    for r in rows:
        versions.update(r.get("versions", {}))
    devices = sorted({r["device"] for r in rows if r.get("status") == "ok"})
    axes = sorted({r["runs_axis"] for r in rows if r.get("status") == "ok" and "runs_axis" in r})
    names = {r.get("contender") for r in rows}
    extra = []
    if "engine-chunk" in names:
        extra.append(
            f"- engine-chunk: the N LRs as one sweep chunk of {spec.chunk_steps_or_profile()} "
            f"steps, the rest of the protocol the profile's (bench.sweep.execute); one chunk to "
            f"compile, then {spec.chunk_repeats} timed (median); seconds = the chunk's own "
            "wall time (chunk_wall_s), so its ratio vs ours is engine-sweep's training-only "
            "run-timesteps/s ÷ the whole chunk's")
    if names & set(FORWARD):
        extra.append(
            f"- forward-only rows: {spec.forward_batch} sequences × {spec.length()} steps of "
            f"{cfg.dataset} per call, the deterministic forward pass (no dropout, no "
            "gradients) and the per-channel one-step MSE, float32; repeats: "
            f"{spec.repeats} (median); one warm-up call excluded; timesteps/s = batch × "
            "length / median call seconds; ratio vs ours = engine-forward's timesteps/s ÷ "
            "the row's")
    return [
        f"- profile: {spec.profile}, sizes {'→'.join(str(s) for s in cfg.sizes)}, "
        f"batch {cfg.batch_size}, window {cfg.window}, dropout {cfg.dropout:g} before every "
        f"layer, one-step MSE, Adam + global-norm clip {cfg.clip_norm:g}, float32",
        f"- steps per timed call: {spec.steps} (lasagne: {spec.lasagne_steps}); repeats: "
        f"{spec.repeats} (median); one warm-up call excluded; each call synchronised",
        f"- N LRs (engine-sweep): {spec.n_lrs} ({', '.join(f'{v:.3g}' for v in lrs)}); "
        f"one-run contenders: lr {SINGLE_LR:g}",
        f"- engine runs axis: --runs-axis {spec.runs_axis}"
        + (f" ({', '.join(axes)})" if axes else ""),
        "- run-timesteps/s = runs × batch × window × steps / median call seconds; "
        "ratio vs ours = engine-sweep's run-timesteps/s ÷ the row's (> 1: ours is faster)",
        *extra,
        "- compile s: engine = jax AOT lower+compile (persistent cache off); lasagne = "
        "theano.function build; torch = first call − median call",
        "- peak RSS: ru_maxrss of the contender's own process (each in a fresh subprocess, "
        "run one after the other); peak device MB only on a GPU",
        f"- device(s): {', '.join(devices) or '–'}; host: {_cpu_model()}, "
        f"{os.cpu_count()} logical CPUs, 1-min load average {load[0]:.2f} at start, "
        f"{load[-1]:.2f} at the end (a row's notes: its timed calls' range and the load "
        "when it started)",
        f"- versions: {', '.join(f'{k} {v}' for k, v in sorted(versions.items())) or '–'}",
        f"- date: {datetime.datetime.now().astimezone().isoformat(timespec='seconds')}",
    ]


def _load() -> float:
    """The host's 1-minute load average (NaN where unknown)."""
    try:
        return os.getloadavg()[0]
    except (AttributeError, OSError):
        return float("nan")


def run_perf(spec: PerfSpec, out: str | Path,
             log: Callable[[str], None] = print) -> list[dict[str, Any]]:
    """Measure every selected contender, write ``out``, print the table last; return rows."""
    from bench import data as datasets
    from bench.sweep import INIT_DATA_SEED, TRAIN_DATA_SEED

    cfg = spec.config()
    load = [_load()]
    env = {**os.environ, **spec.extra_env}
    env["PYTHONPATH"] = os.pathsep.join(p for p in (str(REPO), env.get("PYTHONPATH")) if p)
    records = []
    with tempfile.TemporaryDirectory(prefix="bench-perf-") as tmp:
        pool = Path(tmp) / "pool.npy"
        inputs = Path(tmp) / "inputs.npy"
        if any(not is_forward(n) for n in spec.only):
            np.save(pool, datasets.generate(cfg.dataset, cfg.train_sequences,
                                            4 * cfg.window + 1, cfg.channels, TRAIN_DATA_SEED,
                                            cfg.data_scale))
        if any(is_forward(n) for n in spec.only):  # sequences like the pass at init's
            np.save(inputs, datasets.generate(cfg.dataset, spec.forward_batch, spec.length(),
                                              cfg.channels, INIT_DATA_SEED, cfg.data_scale))
        for name in spec.only:
            cmd = worker_command(name, spec, pool, inputs)
            if isinstance(cmd, str):
                record = {"status": "skipped", "reason": cmd}
            else:
                log(f"perf: {name} ...")
                before = _load()
                record = run_worker(cmd, spec.timeout_s, env,
                                    fields=FORWARD_FIELDS if is_forward(name) else TRAIN_FIELDS)
                if record["status"] == "ok":
                    # how noisy the row is: the spread of its timed calls, the host's load
                    lo, hi = min(record["times_s"]), max(record["times_s"])
                    record["notes"] = (f"{record.get('notes', '')}; calls {lo:.3g}–{hi:.3g} s"
                                       f", load {before:.1f}").lstrip("; ")
            record["contender"] = name
            if record["status"] == "ok":
                med = statistics.median(record["times_s"])
                what = (f"{record['batch']} × {record['length']} steps" if is_forward(name)
                        else f"{record['steps']} steps")
                log(f"perf: {name}: {med:.3f} s per call of {what}, "
                    f"compile {record.get('compile_s', float('nan')):.1f} s")
            else:
                log(f"perf: {name}: skipped: {record['reason']}")
            records.append(record)
    load.append(_load())
    rows = finish_rows(records)
    training = [r for r in rows if not is_forward(r["contender"])]
    forward = [r for r in rows if is_forward(r["contender"])]
    train_md = markdown_table(training) if training else ""
    forward_md = forward_table(forward) if forward else ""
    tables = [t for t in (train_md, forward_md) if t]
    sections = [train_md, ""] if training else []
    if forward:
        at_init = " (the length of the pass at init)" if spec.length() == cfg.init_length else ""
        sections += ["## Forward only (inference)", "",
                     f"{spec.forward_batch} sequences × {spec.length()} steps per call{at_init}"
                     "; timesteps/s = batch × length / median call seconds; ratio vs ours = "
                     "engine-forward's timesteps/s ÷ the row's.", "",
                     forward_md, ""]
    text = "\n".join([
        "# Throughput: engine vs peers", "",
        f"`python -m bench perf` ({len(rows)} contenders, one process each).", "",
        *sections,
        "## Settings", "",
        *settings(spec, rows, load), "",
    ])
    from bench.store import write_atomic

    out = Path(out)
    write_atomic(out, text.encode("utf-8"))
    log(f"written: {out}")
    for table in tables:
        log("")
        log(table)
    return rows


# --------------------------------------------------------------------------- command line


def add_perf_arguments(p: argparse.ArgumentParser) -> None:
    """The ``perf`` options (``python -m bench perf`` and ``python -m bench.studies.perf``)."""
    d = PerfSpec()
    p.add_argument("--profile", default=d.profile,
                   help="quick (7-64-32-7) or large (7-1024-128-7, the original network)")
    p.add_argument("--lrs", type=int, default=d.n_lrs, metavar="N",
                   help=f"learning rates vmapped by engine-sweep (default {d.n_lrs})")
    p.add_argument("--steps", type=int, default=d.steps,
                   help=f"training steps per timed call (default {d.steps})")
    p.add_argument("--repeats", type=int, default=d.repeats,
                   help=f"timed calls; the median counts (default {d.repeats})")
    p.add_argument("--lasagne-steps", type=int, default=d.lasagne_steps,
                   help=f"steps per timed call for Theano+Lasagne (default {d.lasagne_steps})")
    p.add_argument("--batch", type=int, default=d.batch, help=f"default {d.batch}")
    p.add_argument("--window", type=int, default=d.window, help=f"default {d.window}")
    p.add_argument("--hidden", help="hidden sizes, e.g. 64,32 (default: the profile's)")
    p.add_argument("--only", default=",".join(CONTENDERS),
                   help=f"comma-separated contenders (default all: {','.join(CONTENDERS)})")
    p.add_argument("--runs-axis", choices=RUNS_AXES, default=d.runs_axis,
                   help="how the engine maps its runs: map (lax.map, split over CPU devices), "
                        "vmap, or auto (map on a CPU, vmap elsewhere; the default)")
    p.add_argument("--forward-batch", type=int, default=d.forward_batch, metavar="B",
                   help=f"sequences per forward-only call (default {d.forward_batch})")
    p.add_argument("--forward-length", type=int, metavar="T",
                   help="steps per forward-only sequence (default: the profile's init_length, "
                        "the length of the pass at init)")
    p.add_argument("--chunk-steps", type=int, metavar="S",
                   help="training steps of the engine-chunk row (default: the profile's)")
    p.add_argument("--chunk-repeats", type=int, default=d.chunk_repeats, metavar="N",
                   help="timed chunks after the first, compiling one "
                        f"(default {d.chunk_repeats})")
    p.add_argument("--timeout", type=float, default=d.timeout_s,
                   help=f"seconds per contender before it is skipped (default {d.timeout_s:g})")
    p.add_argument("--lasagne-python", default=d.lasagne_python,
                   help="python of the Theano/Lasagne venv (default .venv-lasagne/bin/python)")
    p.add_argument("--out", default="results/perf.md", help="Markdown file to write")


def add_parser(subparsers: argparse._SubParsersAction) -> None:
    """Register the ``perf`` sub-command; its ``func`` default is :func:`cmd_perf`."""
    p = subparsers.add_parser("perf", allow_abbrev=False,
                              help="throughput: engine vs Theano+Lasagne and PyTorch",
                              description="Training and forward-only throughput of the engine "
                                          "against Theano+Lasagne and PyTorch "
                                          "(results/perf.md).")
    add_perf_arguments(p)
    p.set_defaults(func=cmd_perf)


def spec_from_args(args: argparse.Namespace) -> PerfSpec:
    """Validate the options; bad values raise :class:`bench.errors.UserError` (one line)."""
    only = tuple(n.strip() for n in args.only.split(",") if n.strip())
    if not only:
        raise UserError("--only: no contender given")
    for n in only:
        if n not in CONTENDERS:
            raise UserError(f"--only: unknown contender {n!r}{did_you_mean(n, CONTENDERS)}; "
                            f"choose from {', '.join(CONTENDERS)}")
    for flag, v in (("--lrs", args.lrs), ("--steps", args.steps), ("--repeats", args.repeats),
                    ("--lasagne-steps", args.lasagne_steps), ("--batch", args.batch),
                    ("--window", args.window), ("--forward-batch", args.forward_batch),
                    ("--chunk-steps", args.chunk_steps),
                    ("--chunk-repeats", args.chunk_repeats)):
        if v is not None and v < 1:
            raise UserError(f"{flag} must be >= 1, got {v}")
    if args.forward_length is not None and args.forward_length < 2:
        raise UserError(f"--forward-length must be >= 2 (a one-step MSE), "
                        f"got {args.forward_length}")
    if not args.timeout > 0:
        raise UserError(f"--timeout must be > 0, got {args.timeout}")
    hidden = None
    if args.hidden:
        try:
            hidden = tuple(int(h) for h in args.hidden.split(",") if h.strip())
        except ValueError:
            raise UserError(f"--hidden {args.hidden!r}: not comma-separated integers") from None
    if Path(args.out).is_dir():
        raise UserError(f"--out {args.out}: is a directory")
    spec = PerfSpec(profile=args.profile, n_lrs=args.lrs, steps=args.steps,
                    repeats=args.repeats, lasagne_steps=args.lasagne_steps, batch=args.batch,
                    window=args.window, hidden=hidden, only=tuple(dict.fromkeys(only)),
                    runs_axis=args.runs_axis, timeout_s=args.timeout,
                    forward_batch=args.forward_batch, forward_length=args.forward_length,
                    chunk_steps=args.chunk_steps, chunk_repeats=args.chunk_repeats,
                    # the workers run in the repository root; keep the venv's link unresolved
                    lasagne_python=str(Path(args.lasagne_python).absolute()))
    try:
        spec.config()
    except ValueError as e:
        raise UserError(str(e)) from None
    return spec


def cmd_perf(args: argparse.Namespace) -> int:
    """``python -m bench perf``: 0 when the engine was measured (peers may be skipped), else 1."""
    spec = spec_from_args(args)
    rows = run_perf(spec, args.out)
    ours = [r for r in rows if r["contender"] in ENGINE_ROWS]
    return 1 if any(r["status"] != "ok" for r in ours) else 0


def main(argv: Sequence[str] | None = None) -> int:
    """``python -m bench.studies.perf`` (same options as ``python -m bench perf``)."""
    argv = list(sys.argv[1:] if argv is None else argv)
    workers = {"_engine-worker": engine_worker, "_chunk-worker": chunk_worker,
               "_forward-worker": forward_worker}
    if argv[:1] and argv[0] in workers:
        return workers[argv[0]](argv[1:])
    p = argparse.ArgumentParser(prog="python -m bench.studies.perf", allow_abbrev=False,
                                description=__doc__.splitlines()[0])
    add_perf_arguments(p)
    try:
        return cmd_perf(p.parse_args(argv))
    except UserError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    from bench import devices

    devices.configure()  # a command-line entry point, like python -m bench: split the CPU
    raise SystemExit(main())
