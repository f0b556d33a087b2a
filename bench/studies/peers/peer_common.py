"""What every throughput contender shares: its command-line options, the warm-up-then-repeats
timing, and the JSON record it prints. Plain Python only: peers run in their own environments
(e.g. ``.venv-lasagne``) and import nothing else from ``bench``.

Two tasks: ``--task train`` (the default) times training steps on windows of ``--pool`` and
prints :func:`timing_record`; ``--task forward`` times the deterministic forward pass (no
dropout, no gradients) plus the per-channel one-step MSE over the sequences of ``--inputs``
(batch, length, C) and prints :func:`forward_record`."""

from __future__ import annotations

import argparse
import resource
import time
from collections.abc import Callable
from typing import Any

TASKS = ("train", "forward")


def peer_parser(description: str, steps: int, clip_help: str) -> argparse.ArgumentParser:
    """A parser with the model, data and timing options of a peer; add peer-specific ones."""
    p = argparse.ArgumentParser(description=description, allow_abbrev=False)
    p.add_argument("--task", choices=TASKS, default="train",
                   help="train: training steps on --pool; forward: inference over --inputs")
    p.add_argument("--pool", help=".npy training pool (sequences, length, C); --task train")
    p.add_argument("--inputs", help=".npy sequences (batch, length, C); --task forward")
    p.add_argument("--hidden", default="64,32", help="hidden sizes, comma-separated")
    p.add_argument("--batch", type=int, default=16)
    p.add_argument("--window", type=int, default=128)
    p.add_argument("--steps", type=int, default=steps, help="training steps per timed call")
    p.add_argument("--repeats", type=int, default=3)
    p.add_argument("--lr", type=float, default=1e-3)
    p.add_argument("--dropout", type=float, default=0.33)
    p.add_argument("--clip", type=float, default=1.0, help=clip_help)
    p.add_argument("--seed", type=int, default=0)
    return p


def parse_peer_args(p: argparse.ArgumentParser, argv: list[str] | None) -> argparse.Namespace:
    """Parse ``argv``; exit with a usage error when the task's data file is not given."""
    args = p.parse_args(argv)
    need = "--pool" if args.task == "train" else "--inputs"
    if getattr(args, need[2:]) is None:
        p.error(f"--task {args.task} needs {need}")
    return args


def timed_calls(call: Callable[[], Any], repeats: int) -> tuple[float, list[float], Any]:
    """One warm-up ``call()`` (timed apart), then ``repeats`` timed calls.

    ``call`` must finish its device work before returning (synchronise). Returns
    ``(warmup_s, times_s, last_result)``."""
    t0 = time.perf_counter()
    last = call()
    warmup = time.perf_counter() - t0
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        last = call()
        times.append(time.perf_counter() - t0)
    return warmup, times, last


def timing_record(args: argparse.Namespace, *, contender: str, device: str, runs: int,
                  warmup: float, times: list[float], compile_s: float, compile_how: str,
                  device_mb: float | None, **extra: Any) -> dict[str, Any]:
    """The JSON record every contender prints (``bench.studies.perf`` reads it); ``extra`` adds
    contender-specific fields (versions, notes, final loss, ...)."""
    return {
        "contender": contender, "device": device, "runs": runs,
        "batch": args.batch, "window": args.window, "steps": args.steps,
        "times_s": times, "warmup_s": warmup,
        "compile_s": compile_s, "compile_how": compile_how,
        "rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
        "device_mb": device_mb,
        **extra,
    }


def forward_record(*, contender: str, device: str, batch: int, length: int, warmup: float,
                   times: list[float], compile_s: float, compile_how: str,
                   device_mb: float | None, **extra: Any) -> dict[str, Any]:
    """The JSON record of a forward-only contender: ``batch`` sequences of ``length`` steps per
    timed call (``bench.studies.perf`` reads it); ``extra`` as in :func:`timing_record`."""
    return {
        "contender": contender, "device": device, "batch": batch, "length": length,
        "times_s": times, "warmup_s": warmup,
        "compile_s": compile_s, "compile_how": compile_how,
        "rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
        "device_mb": device_mb,
        **extra,
    }
