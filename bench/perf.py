"""``python -m bench perf``: training throughput of the engine against peer frameworks.

One invocation trains the same stacked model (profile sizes, dropout before every layer,
one-step MSE, Adam with global-norm clipping 1.0) on the same training pool with each
contender, one after the other, each in its own fresh subprocess (so peak RSS is per
contender and no two compete for the cores):

=================  ==========================================================================
engine-sweep       ours: N learning rates in one compiled program (bench.train.over_runs)
engine-single      ours: one run (an R = 1 program)
lasagne            Theano 1.0.5 + Lasagne 0.1, ``bench/peers/lasagne_peer.py`` in .venv-lasagne
torch-custom       PyTorch eager, hand-written Graves peephole cell, Python loop over time
torch-fused        PyTorch ``nn.LSTM`` per layer (no peepholes): the standard-cell ceiling
=================  ==========================================================================

Protocol (every contender): build, compile (timed), one warm-up call of ``steps`` training
steps (excluded), then ``repeats`` timed calls, each ended by a device synchronisation. The
metric is **run-timesteps/s** = runs × batch × window × steps / median seconds of a call; the
ratio of a row is ours (engine-sweep) ÷ that row, so > 1 means the engine is faster.

A peer that is missing or fails is a table row "skipped: reason", never an error. The
Markdown table goes to ``--out`` (written atomically) and is printed last on stdout.
Workers print one JSON line (see :func:`run_worker`); the engine's worker is this module::

    python -m bench.perf _engine-worker --runs 8 --pool POOL.npy ...
"""

from __future__ import annotations

import argparse
import datetime
import difflib
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
from typing import Any

import numpy as np

REPO = Path(__file__).resolve().parent.parent
PEERS = REPO / "bench" / "peers"
LASAGNE_PYTHON = REPO / ".venv-lasagne" / "bin" / "python"
CONTENDERS = ("engine-sweep", "engine-single", "lasagne", "torch-custom", "torch-fused")
OURS = "engine-sweep"
SINGLE_LR = 1e-3  # learning rate of every one-run contender
LR_RANGE = (1e-4, 3e-2)  # the sweep's learning rates: N values, geometric, in this range
# Targets stated in the issue; printed as met / not met, never asserted.
TARGET_VS_FUSED, TARGET_VS_LASAGNE, TARGET_COMPILE_S = 2.0, 20.0, 20.0
COLUMNS = ("contender", "device", "runs", "run-timesteps/s", "ratio vs ours (×)", "compile s",
           "peak RSS MB", "peak device MB", "notes")


@dataclass(frozen=True)
class PerfSpec:
    """What ``perf`` measures."""

    profile: str = "quick"
    n_lrs: int = 8
    steps: int = 20
    repeats: int = 3
    lasagne_steps: int = 3
    batch: int = 16
    window: int = 128
    hidden: tuple[int, ...] | None = None  # None: the profile's
    only: tuple[str, ...] = CONTENDERS
    timeout_s: float = 900.0
    lasagne_python: str = str(LASAGNE_PYTHON)
    python: str = sys.executable
    extra_env: dict[str, str] = field(default_factory=dict)

    def config(self):
        """The run config every contender trains (``ValueError`` on bad values)."""
        from bench.config import resolve

        extra = {} if self.hidden is None else {"hidden": self.hidden}
        return resolve(self.profile, steps=self.steps, batch_size=self.batch,
                       window=self.window, lr=SINGLE_LR, seed=0, **extra)


def sweep_lrs(n: int) -> list[float]:
    """The N learning rates of the vmapped sweep (one run: :data:`SINGLE_LR`)."""
    if n == 1:
        return [SINGLE_LR]
    return [float(v) for v in np.geomspace(*LR_RANGE, n)]


def run_timesteps_per_s(runs: int, batch: int, window: int, steps: int, seconds: float) -> float:
    """runs × batch × window × steps / seconds: training timesteps processed per second."""
    return runs * batch * window * steps / seconds


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
               cwd: str | Path = REPO) -> dict[str, Any]:
    """Run one contender; return its JSON record plus ``status`` "ok", or "skipped" + reason.

    The record is the last stdout line that parses as a JSON object and carries ``times_s``
    (seconds of each timed call), ``runs``, ``batch``, ``window`` and ``steps``.
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
        for name in ("runs", "batch", "window", "steps"):
            if int(record[name]) < 1:
                raise ValueError(name)
        if not times or min(times) <= 0:
            raise ValueError("times_s")
    except (KeyError, TypeError, ValueError) as e:
        return {"status": "skipped", "reason": f"malformed record ({e})"}
    return {**record, "status": "ok"}


def worker_command(name: str, spec: PerfSpec, pool: Path) -> list[str] | str:
    """The command line of one contender, or why it cannot run (a skip reason)."""
    cfg = spec.config()
    sizes = ["--hidden", ",".join(str(h) for h in cfg.hidden), "--batch", str(cfg.batch_size),
             "--window", str(cfg.window), "--repeats", str(spec.repeats), "--pool", str(pool)]
    train = ["--lr", f"{SINGLE_LR:g}", "--dropout", f"{cfg.dropout:g}",
             "--clip", f"{cfg.clip_norm:g}", "--seed", "0"]
    if name in ("engine-sweep", "engine-single"):
        runs = spec.n_lrs if name == "engine-sweep" else 1
        return [spec.python, "-m", "bench.perf", "_engine-worker", "--runs", str(runs),
                "--profile", spec.profile, "--steps", str(spec.steps), *sizes]
    if name.startswith("torch-"):
        if spec.python == sys.executable and importlib.util.find_spec("torch") is None:
            return "torch not installed (pip install -e '.[peers]')"
        return [spec.python, str(PEERS / "torch_peer.py"), "--mode", name.split("-", 1)[1],
                "--steps", str(spec.steps), *sizes, *train]
    if name == "lasagne":
        if not Path(spec.lasagne_python).is_file():
            shown = Path(spec.lasagne_python)
            if shown.is_absolute() and shown.is_relative_to(REPO):
                shown = shown.relative_to(REPO)
            return f"{shown}: not found (make reference)"
        return [spec.lasagne_python, str(PEERS / "lasagne_peer.py"),
                "--steps", str(spec.lasagne_steps), *sizes, *train]
    raise ValueError(f"unknown contender {name!r}")


# --------------------------------------------------------------------------- the engine


def engine_worker(argv: Sequence[str]) -> int:
    """Time the engine (``train_steps``) on ``--runs`` learning rates; print one JSON line."""
    p = argparse.ArgumentParser(prog="python -m bench.perf _engine-worker", allow_abbrev=False)
    p.add_argument("--runs", type=int, required=True)
    p.add_argument("--pool", required=True)
    p.add_argument("--profile", default="quick")
    p.add_argument("--hidden", required=True)
    p.add_argument("--batch", type=int, required=True)
    p.add_argument("--window", type=int, required=True)
    p.add_argument("--steps", type=int, required=True)
    p.add_argument("--repeats", type=int, required=True)
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
    from bench.peers.peer_common import timed_calls, timing_record
    from bench.registry import discover

    strategy = discover()[0]["glorot"]
    hidden = tuple(int(h) for h in args.hidden.split(","))
    configs = [resolve(args.profile, lr=lr, seed=0, steps=args.steps, batch_size=args.batch,
                       window=args.window, hidden=hidden) for lr in sweep_lrs(args.runs)]
    cfg = configs[0]
    pool = jnp.asarray(np.load(args.pool))
    arch, recipe = train.arch_for(strategy, cfg), train.Recipe.of(cfg)
    state, _ = train.initial_state(strategy, configs, np.asarray(pool[: cfg.batch_size,
                                                                      : cfg.window]))
    jax.block_until_ready(state)
    t0 = time.perf_counter()
    compiled = train.train_steps.lower(state, pool, jnp.int32(0), arch=arch, recipe=recipe,
                                       n_steps=args.steps).compile()
    compile_s = time.perf_counter() - t0
    calls = 0

    def call() -> None:
        nonlocal state, calls
        state, loss = compiled(state, pool, jnp.int32(calls * args.steps))
        jax.block_until_ready((state, loss))
        calls += 1

    warmup, times, _ = timed_calls(call, args.repeats)
    dev = jax.devices()[0]
    stats = dev.memory_stats() if dev.platform != "cpu" else None
    device_mb = stats.get("peak_bytes_in_use", 0) / 2**20 if stats else None
    what = (f"{args.runs} LRs in one program ({train.runs_mapping(args.runs)})" if args.runs > 1
            else "one run (R = 1 program)")
    record = timing_record(
        args, contender="engine-sweep" if args.runs > 1 else "engine-single",
        device=f"{dev.platform}: {dev.device_kind}" if dev.platform != "cpu" else "cpu",
        runs=args.runs, warmup=warmup, times=times, compile_s=compile_s,
        compile_how="jax AOT lower + compile, persistent cache off", device_mb=device_mb,
        diverged=int(np.sum(np.asarray(state["diverged"]))),
        versions={"jax": jax.__version__, "jaxlib": jaxlib.__version__,
                  "optax": optax.__version__, "python": platform.python_version()},
        notes=f"{what}; lax.scan over time; AOT compile",
    )
    print(json.dumps(record), flush=True)
    return 0


# --------------------------------------------------------------------------- the table


def finish_rows(records: Sequence[dict[str, Any]]) -> list[dict[str, Any]]:
    """Add ``median_s``, ``rts`` (run-timesteps/s) and ``ratio`` (ours ÷ row) to each record."""
    rows = [dict(r) for r in records]
    for r in rows:
        if r.get("status") == "ok":
            r["median_s"] = statistics.median(r["times_s"])
            r["rts"] = run_timesteps_per_s(r["runs"], r["batch"], r["window"], r["steps"],
                                           r["median_s"])
    ours = next((r.get("rts") for r in rows if r.get("contender") == OURS), None)
    for r in rows:
        r["ratio"] = ratio_vs_ours(ours, r.get("rts"))
    return rows


def _num(v: float | None, digits: int = 1) -> str:
    if v is None or (isinstance(v, float) and not math.isfinite(v)):
        return "–"
    return f"{v:,.{digits}f}"


def markdown_table(rows: Sequence[dict[str, Any]]) -> str:
    """The result table (one line per contender; skipped ones say why)."""
    lines = ["| " + " | ".join(COLUMNS) + " |",
             "|" + "|".join(["---"] * 2 + ["---:"] * 6 + ["---"]) + "|"]
    for r in rows:
        if r.get("status") != "ok":
            cells = [r["contender"], "–", "–", "–", "–", "–", "–", "–",
                     f"skipped: {r.get('reason', '?')}"]
        else:
            ratio = "–" if r["ratio"] is None else f"{r['ratio']:.2f}"
            cells = [r["contender"], r["device"], str(r["runs"]), _num(r["rts"], 0), ratio,
                     _num(r.get("compile_s")), _num(r.get("rss_mb"), 0),
                     _num(r.get("device_mb"), 0), r.get("notes", "")]
        lines.append("| " + " | ".join(str(c).replace("|", "/") for c in cells) + " |")
    return "\n".join(lines)


def targets(rows: Sequence[dict[str, Any]]) -> list[str]:
    """The issue's targets, each "met", "not met" or "not measured" (never asserted)."""
    by = {r["contender"]: r for r in rows}

    def vs(name: str, goal: float, label: str) -> str:
        r = by.get(name)
        if r is None or r.get("ratio") is None:
            return f"engine sweep ≥ {goal:g}× {label}: not measured"
        verdict = "met" if r["ratio"] >= goal else "NOT met"
        return f"engine sweep ≥ {goal:g}× {label}: {verdict} ({r['ratio']:.2f}×)"

    out = [vs("torch-fused", TARGET_VS_FUSED, "PyTorch fused nn.LSTM"),
           vs("lasagne", TARGET_VS_LASAGNE, "Theano+Lasagne")]
    ours = by.get(OURS)
    if ours is None or ours.get("status") != "ok":
        out.append(f"engine compile ≤ {TARGET_COMPILE_S:g} s: not measured")
    else:
        verdict = "met" if ours["compile_s"] <= TARGET_COMPILE_S else "NOT met"
        out.append(f"engine compile ≤ {TARGET_COMPILE_S:g} s: {verdict} "
                   f"({ours['compile_s']:.1f} s)")
    return out


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
    return [
        f"- profile: {spec.profile}, sizes {'→'.join(str(s) for s in cfg.sizes)}, "
        f"batch {cfg.batch_size}, window {cfg.window}, dropout {cfg.dropout:g} before every "
        f"layer, one-step MSE, Adam + global-norm clip {cfg.clip_norm:g}, float32",
        f"- steps per timed call: {spec.steps} (lasagne: {spec.lasagne_steps}); repeats: "
        f"{spec.repeats} (median); one warm-up call excluded; each call synchronised",
        f"- N LRs (engine-sweep): {spec.n_lrs} ({', '.join(f'{v:.3g}' for v in lrs)}); "
        f"one-run contenders: lr {SINGLE_LR:g}",
        "- run-timesteps/s = runs × batch × window × steps / median call seconds; "
        "ratio vs ours = engine-sweep's run-timesteps/s ÷ the row's (> 1: ours is faster)",
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
    from bench.sweep import TRAIN_DATA_SEED

    cfg = spec.config()
    load = [_load()]
    env = {**os.environ, **spec.extra_env}
    env["PYTHONPATH"] = os.pathsep.join(p for p in (str(REPO), env.get("PYTHONPATH")) if p)
    records = []
    with tempfile.TemporaryDirectory(prefix="bench-perf-") as tmp:
        pool = Path(tmp) / "pool.npy"
        np.save(pool, datasets.generate(cfg.dataset, cfg.train_sequences, 4 * cfg.window + 1,
                                        cfg.channels, TRAIN_DATA_SEED, cfg.data_scale))
        for name in spec.only:
            cmd = worker_command(name, spec, pool)
            if isinstance(cmd, str):
                record = {"status": "skipped", "reason": cmd}
            else:
                log(f"perf: {name} ...")
                before = _load()
                record = run_worker(cmd, spec.timeout_s, env)
                if record["status"] == "ok":
                    # how noisy the row is: the spread of its timed calls, the host's load
                    lo, hi = min(record["times_s"]), max(record["times_s"])
                    record["notes"] = (f"{record.get('notes', '')}; calls {lo:.3g}–{hi:.3g} s"
                                       f", load {before:.1f}").lstrip("; ")
            record["contender"] = name
            if record["status"] == "ok":
                med = statistics.median(record["times_s"])
                log(f"perf: {name}: {med:.3f} s per call of {record['steps']} steps, "
                    f"compile {record.get('compile_s', float('nan')):.1f} s")
            else:
                log(f"perf: {name}: skipped: {record['reason']}")
            records.append(record)
    load.append(_load())
    rows = finish_rows(records)
    table = markdown_table(rows)
    goals = targets(rows)
    text = "\n".join([
        "# Training throughput: engine vs peers", "",
        f"`python -m bench perf` ({len(rows)} contenders, one process each).", "",
        table, "",
        "## Targets (stated in the issue; informative, not asserted)", "",
        *[f"- {g}" for g in goals], "",
        "## Settings", "",
        *settings(spec, rows, load), "",
    ])
    from bench.store import write_atomic

    out = Path(out)
    write_atomic(out, text.encode("utf-8"))
    for g in goals:
        log(f"target: {g}")
    log(f"written: {out}")
    log("")
    log(table)
    return rows


# --------------------------------------------------------------------------- command line


def add_perf_arguments(p: argparse.ArgumentParser) -> None:
    """The ``perf`` options (shared by ``python -m bench perf`` and ``python -m bench.perf``)."""
    d = PerfSpec()
    p.add_argument("--profile", default=d.profile, help="quick (7-64-32-7) or seed (7-1024-128-7)")
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
    p.add_argument("--timeout", type=float, default=d.timeout_s,
                   help=f"seconds per contender before it is skipped (default {d.timeout_s:g})")
    p.add_argument("--lasagne-python", default=d.lasagne_python,
                   help="python of the Theano/Lasagne venv (default .venv-lasagne/bin/python)")
    p.add_argument("--out", default="results/perf.md", help="Markdown file to write")


def add_perf_parser(sub: Any) -> argparse.ArgumentParser:
    """Register ``perf`` on the CLI's sub-parsers; the caller maps "perf" to :func:`cmd_perf`."""
    p = sub.add_parser("perf", allow_abbrev=False,
                       help="training throughput: engine vs Theano+Lasagne and PyTorch")
    add_perf_arguments(p)
    return p


def spec_from_args(args: argparse.Namespace) -> PerfSpec:
    """Validate the options; user errors raise ``bench.cli.UserError`` (one line)."""
    from bench.cli import UserError

    only = tuple(n.strip() for n in args.only.split(",") if n.strip())
    if not only:
        raise UserError("--only: no contender given")
    for n in only:
        if n not in CONTENDERS:
            close = difflib.get_close_matches(n, CONTENDERS, n=1)
            hint = f" (did you mean {close[0]!r}?)" if close else ""
            raise UserError(f"--only: unknown contender {n!r}{hint}; "
                            f"choose from {', '.join(CONTENDERS)}")
    for flag, v in (("--lrs", args.lrs), ("--steps", args.steps), ("--repeats", args.repeats),
                    ("--lasagne-steps", args.lasagne_steps), ("--batch", args.batch),
                    ("--window", args.window)):
        if v < 1:
            raise UserError(f"{flag} must be >= 1, got {v}")
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
                    timeout_s=args.timeout,
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
    ours = [r for r in rows if r["contender"] in ("engine-sweep", "engine-single")]
    return 1 if any(r["status"] != "ok" for r in ours) else 0


def main(argv: Sequence[str] | None = None) -> int:
    """``python -m bench.perf`` (same options as ``python -m bench perf``)."""
    argv = list(sys.argv[1:] if argv is None else argv)
    if argv[:1] == ["_engine-worker"]:
        return engine_worker(argv[1:])
    from bench.cli import UserError

    p = argparse.ArgumentParser(prog="python -m bench.perf", allow_abbrev=False,
                                description=__doc__.splitlines()[0])
    add_perf_arguments(p)
    try:
        return cmd_perf(p.parse_args(argv))
    except UserError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    raise SystemExit(main())
