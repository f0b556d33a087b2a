"""Command line: ``python -m bench {list,forward,run,report,seed-repro,perf}``.

Every sub-command rejects unknown or abbreviated options (``allow_abbrev=False``), and every
user error is one line on stderr (``error: ...``) with exit status 2 — no traceback.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from bench.config import DEFAULT_LRS
from bench.lstm import NONLINEARITIES, PEEPHOLE_ORDERS


class UserError(Exception):
    """Bad input; the message is shown as one line."""


class _Parser(argparse.ArgumentParser):
    """argparse whose errors are one line (``error: ...``), exit status 2."""

    def error(self, message: str) -> None:  # type: ignore[override]
        print(f"error: {self.prog}: {message}", file=sys.stderr)
        raise SystemExit(2)


def _parser() -> argparse.ArgumentParser:
    p = _Parser(prog="python -m bench", allow_abbrev=False,
                                description="Benchmark LSTM initialisation strategies.")
    sub = p.add_subparsers(dest="command", required=True, parser_class=_Parser)

    sub.add_parser("list", allow_abbrev=False, help="list every strategy with summary and citation")

    f = sub.add_parser("forward", allow_abbrev=False,
                       help="run one LSTM layer on Lasagne-named parameters from an .npz")
    f.add_argument("--params", required=True, help=".npz with W_in_to_ingate, ... (Lasagne names)")
    f.add_argument("--input", required=True, help=".npy of shape (batch, time, features)")
    f.add_argument("--output", required=True, help=".npy to write the hidden sequence to")
    f.add_argument("--mask", help=".npy of shape (batch, time); 0 = carry the state over")
    f.add_argument("--peephole-order", choices=PEEPHOLE_ORDERS, default="graves")
    f.add_argument("--nonlinearity", choices=sorted(NONLINEARITIES), default="tanh")
    f.add_argument("--cell-nonlinearity", choices=sorted(NONLINEARITIES), default="tanh")
    f.add_argument("--no-peepholes", action="store_true", help="ignore/expect no W_cell_to_*")
    f.add_argument("--grad-clipping", type=float, default=0.0)
    f.add_argument("--float64", action="store_true", help="compute in float64")
    r = sub.add_parser("run", allow_abbrev=False, help="run a sweep and write its report")
    r.add_argument("--profile", default="quick", help="quick (7-64-32-7) or seed (7-1024-128-7)")
    r.add_argument("--strategies", default="all", help="comma-separated names, or all")
    r.add_argument("--data", default="ar1", help="comma-separated datasets (ar1,ar2,ou,...)")
    r.add_argument("--lrs", default=",".join(f"{v:g}" for v in DEFAULT_LRS),
                   help="comma-separated learning rates")
    r.add_argument("--seeds", type=int, default=3, help="seeds per learning rate")
    r.add_argument("--steps", type=int, help="training steps per run")
    r.add_argument("--set", action="append", default=[], metavar="NAME=VALUE",
                   help="override any run option (see bench/config.py), repeatable")
    r.add_argument("--max-runs", type=int, default=64, help="runs per compiled program")
    r.add_argument("--out", default="results/latest", help="results directory")
    r.add_argument("--executor", choices=("local", "ray"), default="local",
                   help="where chunks run: this process, or Ray tasks (extra [ray])")
    r.add_argument("--address", help="Ray cluster address (default: start a local Ray)")
    r.add_argument("--gpus-per-task", type=float, default=0.0,
                   help="GPUs each Ray task requests (num_gpus)")
    r.add_argument("--no-report", action="store_true", help="skip writing the report")
    r.add_argument("--no-progress", action="store_true", help="no tqdm bars")

    rep = sub.add_parser("report", allow_abbrev=False,
                         help="(re)write the report of a results directory")
    rep.add_argument("results", help="results directory, e.g. results/latest")

    from bench import seed_repro

    seed_repro.add_parser(sub)  # "seed-repro": the user's original recipe, explained

    from bench import perf

    perf.add_perf_parser(sub)  # "perf": engine vs Theano+Lasagne vs PyTorch throughput
    return p


def _floats(flag: str, text: str) -> tuple[float, ...]:
    try:
        return tuple(float(v) for v in text.split(",") if v.strip())
    except ValueError:
        raise UserError(f"{flag} {text!r}: not a comma-separated list of numbers") from None


def _override(text: str) -> tuple[str, object]:
    from bench.config import FIELDS, PER_RUN, RunConfig

    name, sep, value = text.partition("=")
    name = name.strip().replace("-", "_")
    if not sep:
        raise UserError(f"--set {text!r}: expected NAME=VALUE")
    if name in PER_RUN:
        raise UserError(f"--set {text!r}: {name} is set per run by the sweep (--profile, "
                        "--strategies, --data, --lrs, --seeds), not by --set")
    if name not in FIELDS:
        import difflib

        close = difflib.get_close_matches(name, FIELDS, n=1)
        hint = f" (did you mean {close[0]!r}?)" if close else ""
        raise UserError(f"--set {text!r}: unknown option {name!r}{hint}")
    default = getattr(RunConfig(), name)
    try:
        if isinstance(default, tuple):
            return name, tuple(int(v) for v in value.split(","))
        return name, type(default)(value)
    except ValueError:
        raise UserError(f"--set {text!r}: {value!r} is not a valid {name}") from None


def cmd_run(args: argparse.Namespace) -> int:
    from bench.sweep import SweepSpec, run_sweep

    overrides = dict(_override(t) for t in args.set)
    if args.steps is not None:
        overrides["steps"] = args.steps
    spec = SweepSpec(
        profile=args.profile,
        strategies=args.strategies,
        datasets=tuple(d.strip() for d in args.data.split(",") if d.strip()),
        lrs=_floats("--lrs", args.lrs),
        seeds=args.seeds,
        overrides=overrides,
        max_runs=args.max_runs,
    )
    try:
        spec.validate()
        from bench.registry import select

        select(spec.strategies)
    except ValueError as e:
        raise UserError(str(e)) from None
    if Path(args.out).exists() and not Path(args.out).is_dir():
        raise UserError(f"--out {args.out}: exists and is not a directory")
    executor = None
    if args.executor == "ray":
        import functools

        from bench.ray_executor import ray_executor

        executor = functools.partial(ray_executor, address=args.address,
                                     gpus_per_task=args.gpus_per_task)
    elif args.address or args.gpus_per_task:
        raise UserError("--address and --gpus-per-task need --executor ray")
    summary = run_sweep(spec, args.out, progress=not args.no_progress, executor=executor)
    if not args.no_report:
        from bench.report import write_report

        paths = write_report(args.out)
        print(f"report: {paths[0]} and {paths[1]}")
    print(f"{summary['ran']} runs trained, {summary['skipped']} already done, "
          f"{len(summary['failures'])} strategies failed, {summary['wall_s']:.0f} s; "
          f"table: {summary['table']}")
    for name, err in summary["failures"].items():
        print(f"failed: {name}: {err}", file=sys.stderr)
    return 1 if summary["failures"] else 0


def cmd_report(args: argparse.Namespace) -> int:
    from bench.report import write_report

    if not Path(args.results, "runs").is_dir():
        raise UserError(f"{args.results}: not a results directory (no runs/ inside)")
    md, html = write_report(args.results)
    print(f"report: {md} and {html}")
    return 0


def _load_array(path: str, flag: str) -> np.ndarray:
    if not Path(path).is_file():
        raise UserError(f"{flag} {path}: no such file")
    try:
        return np.load(path, allow_pickle=False)
    except Exception as e:
        raise UserError(f"{flag} {path}: cannot read as .npy ({e})") from None


def save_npy_atomic(path: str | Path, array: np.ndarray) -> None:
    """Write ``array`` as .npy to ``path`` atomically (never half-written)."""
    import io

    from bench.store import write_atomic

    path = Path(path)
    if path.is_dir():
        raise UserError(f"--output {path}: is a directory")
    buf = io.BytesIO()
    np.save(buf, array)
    write_atomic(path, buf.getvalue())


def cmd_forward(args: argparse.Namespace) -> int:
    import jax

    if args.float64:
        jax.config.update("jax_enable_x64", True)
    import jax.numpy as jnp

    from bench.lstm import check_params, lstm_layer

    if not Path(args.params).is_file():
        raise UserError(f"--params {args.params}: no such file")
    try:
        with np.load(args.params, allow_pickle=False) as z:
            params = {k: z[k] for k in z.files if not k.startswith("__")}
    except Exception as e:
        raise UserError(f"--params {args.params}: not a readable .npz ({e})") from None
    x = _load_array(args.input, "--input")
    if x.ndim != 3:
        raise UserError(f"--input {args.input}: shape {x.shape}, expected (batch, time, features)")
    peepholes = not args.no_peepholes
    if not peepholes:  # --no-peepholes ignores any W_cell_to_* in the file
        params = {k: v for k, v in params.items() if not k.startswith("W_cell_to_")}
    try:
        check_params(params, n_in=x.shape[2], peepholes=peepholes)
    except ValueError as e:
        raise UserError(f"--params {args.params}: {e}") from None
    mask = None
    if args.mask:
        mask = _load_array(args.mask, "--mask")
        if mask.shape != x.shape[:2]:
            raise UserError(f"--mask {args.mask}: shape {mask.shape}, expected {x.shape[:2]}")
    dtype = jnp.float64 if args.float64 else jnp.float32
    params = {k: jnp.asarray(v, dtype) for k, v in params.items()}
    h = lstm_layer(
        params,
        jnp.asarray(x, dtype),
        None if mask is None else jnp.asarray(mask, dtype),
        nonlinearity=args.nonlinearity,
        cell_nonlinearity=args.cell_nonlinearity,
        peepholes=peepholes,
        peephole_order=args.peephole_order,
        grad_clipping=args.grad_clipping,
    )
    save_npy_atomic(args.output, np.asarray(h))
    return 0


def cmd_list(args: argparse.Namespace) -> int:
    from bench.registry import describe

    rows = describe()
    if not rows:
        print("no strategies found (strategies/ is empty and no entry points are installed)")
        return 1
    width = max(len(r["name"]) for r in rows)
    failed = 0
    for r in rows:
        if r["error"]:
            failed += 1
            print(f"{r['name']:<{width}}  BROKEN: {r['error']}")
        else:
            print(f"{r['name']:<{width}}  {r['summary']}\n{'':<{width}}    [{r['citation']}]")
    return 1 if failed else 0


def cmd_seed_repro(args: argparse.Namespace) -> int:
    from bench import seed_repro

    return seed_repro.cmd(args)


def cmd_perf(args: argparse.Namespace) -> int:
    from bench.perf import cmd_perf as run

    return run(args)


COMMANDS = {"list": cmd_list, "forward": cmd_forward, "run": cmd_run, "report": cmd_report,
            "seed-repro": cmd_seed_repro, "perf": cmd_perf}


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point; returns the exit status."""
    try:
        args = _parser().parse_args(argv)
    except SystemExit as e:  # argparse: --help (0) or a one-line usage error (2)
        return int(e.code or 0)
    try:
        return COMMANDS[args.command](args)
    except UserError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
