"""Command line: ``python -m bench {list,forward,run,report,docs,lasagne-nans,perf}``.

Every sub-command rejects unknown or abbreviated options (``allow_abbrev=False``), and every
user error is one line on stderr (``error: ...``) with exit status 2 — no traceback. The library
raises :class:`bench.errors.ConfigError` naming a setting; this module says which flag it came
from. The studies (``perf``, ``lasagne-nans``) register their own sub-commands; the core library
never imports them.
"""

from __future__ import annotations

import argparse
import math
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from bench.config import ARMS, DEFAULT_LRS, PROFILE_ALIASES, SWEEP_DEFAULTS
from bench.errors import (
    ConfigError,
    PluginError,
    UserError,
    did_you_mean,
    one_line,
    printable,
)
from bench.lstm import NONLINEARITIES, PEEPHOLE_ORDERS

if TYPE_CHECKING:
    from bench.sweep import SweepSpec

# The flag each sweep-spec setting comes from, for error messages.
FLAGS = {"seeds": "--seeds", "lrs": "--lrs", "datasets": "--data", "dataset": "--data",
         "arms": "--arms",
         "strategies": "--strategies", "max_runs": "--max-runs", "profile": "--profile",
         "runs_axis": "--runs-axis", "steps": "--steps"}


class _Parser(argparse.ArgumentParser):
    """argparse whose errors are one line (``error: ...``), exit status 2."""

    def error(self, message: str) -> None:  # type: ignore[override]
        print(printable(f"error: {self.prog}: {message}"), file=sys.stderr)
        raise SystemExit(2)

    def parse_args(self, args=None, namespace=None):  # type: ignore[override]
        """As argparse's, but an unrecognized argument is shown quoted (an empty or blank one
        is visible) after the sub-command it was given to."""
        import shlex

        parsed, extra = self.parse_known_args(args, namespace)
        if extra:
            command = getattr(parsed, "command", None)
            prog = f"{self.prog} {command}" if command else self.prog
            print(printable(f"error: {prog}: unrecognized arguments: "
                            + " ".join(shlex.quote(a) for a in extra)), file=sys.stderr)
            raise SystemExit(2)
        return parsed


def _parser() -> argparse.ArgumentParser:
    p = _Parser(prog="python -m bench", allow_abbrev=False,
                                description="Benchmark LSTM initialisation strategies.")
    sub = p.add_subparsers(dest="command", required=True, parser_class=_Parser)

    ls = sub.add_parser("list", allow_abbrev=False,
                        help="list every strategy (summary, citation, settings) and dataset")
    ls.set_defaults(func=cmd_list)

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
    f.set_defaults(func=cmd_forward)
    r = sub.add_parser("run", allow_abbrev=False, help="run a sweep and write its report")
    r.set_defaults(func=cmd_run)
    r.add_argument("--profile", default="quick",
                   help="quick (7-64-32-7, the CPU default), standard (the complete protocol, "
                        "for a GPU or Ray) or large (7-1024-128-7, the original network's sizes)")
    r.add_argument("--strategies", default="all", help="comma-separated names, or all")
    r.add_argument("--data", help="comma-separated datasets (default: the profile's)")
    r.add_argument("--lrs", help="comma-separated learning rates (default: the profile's, "
                                 f"{','.join(f'{v:g}' for v in DEFAULT_LRS)})")
    r.add_argument("--seeds", type=int, help="seeds per learning rate (default: the profile's)")
    r.add_argument("--arms", help="comma-separated named arms (" + ", ".join(
        f"{k}: {' '.join(f'{n}={v}' for n, v in o.items())}" for k, o in ARMS.items())
        + "; default: the profile's), or none for one arm of the profile's options")
    r.add_argument("--axis", action="append", default=[], metavar="NAME=V1,V2",
                   help="an axis of run options: the arms are every combination of the axes "
                        "given (replaces --arms); repeatable")
    r.add_argument("--no-extend", action="store_true",
                   help="do not extend the LR grid upward for strategies usable at its top")
    r.add_argument("--no-controls", action="store_true",
                   help="do not add glorot on the other architectures strategies use")
    r.add_argument("--steps", type=int, help="training steps per run")
    r.add_argument("--set", action="append", default=[], metavar="NAME=VALUE",
                   help="override a run option (see bench/config.py) or a strategy's own "
                        "setting (STRATEGY.NAME=VALUE, e.g. chrono.t_max=64); repeatable")
    r.add_argument("--max-runs", type=int, default=64, help="runs per compiled program")
    r.add_argument("--no-share", action="store_true",
                   help="one strategy per chunk (default: strategies of one architecture share "
                        "chunks; the same numbers under --runs-axis map)")
    r.add_argument("--runs-axis", choices=("auto", "map", "vmap"),
                   help="how a program's runs are mapped (default: the profile's, else auto: "
                        "map on a CPU, vmap on a GPU)")
    r.add_argument("--out", default="results/latest", help="results directory")
    r.add_argument("--executor", choices=("local", "ray"), default="local",
                   help="where chunks run: this process, or Ray tasks (extra [ray])")
    r.add_argument("--workers", type=int, default=0,
                   help="local executor: chunks trained side by side, one JAX device each "
                        "(default 0: one per CPU device when runs are vmapped, else 1)")
    r.add_argument("--address", help="Ray cluster address (default: start a local Ray)")
    r.add_argument("--gpus-per-task", type=float, default=0.0,
                   help="GPUs each Ray task requests (num_gpus)")
    r.add_argument("--no-report", action="store_true", help="skip writing the report")
    r.add_argument("--plan", action="store_true",
                   help="print the runs, chunks and training run-timesteps still to do in "
                        "--out, and run nothing")
    r.add_argument("--no-progress", action="store_true", help="no tqdm bars")

    rep = sub.add_parser("report", allow_abbrev=False,
                         help="(re)write the report of a results directory")
    rep.add_argument("results", help="results directory, e.g. results/latest")
    rep.set_defaults(func=cmd_report)

    d = sub.add_parser("docs", allow_abbrev=False,
                       help="regenerate the generated docs (docs/metrics.md) from the registries")
    d.add_argument("--out", default="docs", help="docs folder")
    d.set_defaults(func=cmd_docs)

    from bench.studies import lasagne_nans, perf

    lasagne_nans.add_parser(sub)  # "lasagne-nans": the original network's NaNs, taken apart
    perf.add_parser(sub)  # "perf": engine vs Theano+Lasagne vs PyTorch throughput
    return p


def _floats(flag: str, text: str) -> tuple[float, ...]:
    try:
        return tuple(float(v) for v in text.split(",") if v.strip())
    except ValueError:
        raise UserError(f"{flag} {text!r}: not a comma-separated list of numbers") from None


def _value(text: str, name: str, default: object, raw: str) -> object:
    """``raw`` as the type of ``default`` (:func:`bench.config.parse_value`)."""
    from bench.config import parse_value

    try:
        return parse_value(default, raw)
    except ValueError:
        raise UserError(f"--set {text!r}: {raw!r} is not a valid {name}") from None


def _override(text: str) -> tuple[str, str, object]:
    """``--set`` text → (strategy or "", option, value). A run option is checked against
    :class:`bench.config.RunConfig`; a strategy setting (``STRATEGY.NAME``) later against the
    strategy's ``SETTINGS``."""
    from bench.config import FIELDS, PER_RUN, RunConfig

    name, sep, value = text.partition("=")
    name = name.strip()
    if not sep:
        raise UserError(f"--set {text!r}: expected NAME=VALUE")
    if "." in name:
        strategy, _, setting = name.partition(".")
        if not strategy or not setting:
            raise UserError(f"--set {text!r}: expected STRATEGY.NAME=VALUE")
        return strategy, setting, value
    name = name.replace("-", "_")
    if name in PER_RUN:
        raise UserError(f"--set {text!r}: {name} is set per run by the sweep (--profile, "
                        "--strategies, --data, --lrs, --seeds), not by --set")
    if name not in FIELDS:
        raise UserError(f"--set {text!r}: unknown option {name!r}{did_you_mean(name, FIELDS)}"
                        " (a strategy's own setting is STRATEGY.NAME=VALUE)")
    return "", name, _value(text, name, getattr(RunConfig(), name), value)


def _arms(args: argparse.Namespace, defaults: dict) -> dict[str, dict[str, object]]:
    """The sweep's arms: the product of ``--axis`` options, else the named ``--arms`` (or the
    profile's); ``--arms none``: one arm, ``default``, of the profile's own options."""
    import itertools

    if args.axis:
        if args.arms is not None:
            raise UserError("--axis and --arms: give one of them")
        axes = []
        for text in args.axis:
            name, sep, values = text.partition("=")
            if not sep or not values.strip():
                raise UserError(f"--axis {text!r}: expected NAME=V1,V2")
            parsed = [_override(f"{name}={v.strip()}") for v in values.split(",") if v.strip()]
            if not parsed:  # "NAME=,": no value, so no arm at all
                raise UserError(f"--axis {text!r}: no value given (expected NAME=V1,V2)")
            if any(strategy for strategy, _, _ in parsed):
                raise UserError(f"--axis {text!r}: an axis is a run option, not a strategy's")
            axes.append([(opt, value) for _, opt, value in parsed])
        return {",".join(f"{k}={v}" for k, v in combo): dict(combo)
                for combo in itertools.product(*axes)}
    names = (args.arms.split(",") if args.arms is not None
             else list(defaults.get("arms", ("default",))))
    names = [n.strip() for n in names if n.strip()]
    if names in (["none"], ["default"]):
        return {"default": {}}
    for n in names:
        if n not in ARMS:
            raise UserError(f"--arms: unknown arm {n!r}{did_you_mean(n, ARMS)} (named arms: "
                            f"{', '.join(ARMS)})")
    if not names:
        raise UserError("--arms: no arm given")
    return {n: dict(ARMS[n]) for n in names}


def _profile(name: str) -> str:
    """The profile's name; an old alias prints a one-line deprecation notice."""
    if name in PROFILE_ALIASES:
        print(f"note: profile {name!r} is deprecated; use {PROFILE_ALIASES[name]!r}",
              file=sys.stderr)
        return PROFILE_ALIASES[name]
    return name


def config_error(e: ConfigError, setting_flags: dict[str, str] | None = None) -> UserError:
    """A library :class:`ConfigError` as a one-line :class:`UserError` naming the flag."""
    flags = {**FLAGS, **(setting_flags or {})}
    flag = flags.get(e.setting, "--set" if e.setting else "")
    return UserError(f"{flag}: {e}" if flag else str(e))


def cmd_run(args: argparse.Namespace) -> int:
    from bench.registry import select
    from bench.sweep import SweepSpec, run_sweep

    overrides: dict[str, object] = {}
    settings: dict[str, dict[str, object]] = {}
    for text in args.set:
        strategy, name, value = _override(text)
        if strategy:
            settings.setdefault(strategy, {})[name] = value
        else:
            overrides[name] = value
    if args.steps is not None:
        overrides["steps"] = args.steps
    profile = _profile(args.profile)
    defaults = SWEEP_DEFAULTS.get(profile, {})
    spec = SweepSpec(
        profile=profile,
        strategies=args.strategies,
        datasets=(tuple(d.strip() for d in args.data.split(",") if d.strip())
                  if args.data is not None else tuple(defaults.get("datasets", ("ar1",)))),
        lrs=(_floats("--lrs", args.lrs) if args.lrs is not None
             else tuple(defaults.get("lrs", DEFAULT_LRS))),
        seeds=args.seeds if args.seeds is not None else int(defaults.get("seeds", 3)),
        overrides=overrides,
        arms=_arms(args, defaults),
        settings=settings,
        extend=not args.no_extend,
        controls=not args.no_controls,
        max_runs=args.max_runs,
        runs_axis=args.runs_axis or str(defaults.get("runs_axis", "auto")),
        share=not args.no_share,
    )
    try:
        spec.validate()
        select(spec.strategies)
    except ConfigError as e:
        raise config_error(e) from None
    except PluginError as e:
        raise UserError(str(e)) from None
    if Path(args.out).exists() and not Path(args.out).is_dir():
        raise UserError(f"--out {args.out}: exists and is not a directory")
    if not (math.isfinite(args.gpus_per_task) and args.gpus_per_task >= 0):
        raise UserError(f"--gpus-per-task: must be a finite number >= 0, got "
                        f"{args.gpus_per_task}")
    executor = None
    if args.executor == "ray":
        import functools

        from bench.ray_executor import ray_executor

        executor = functools.partial(ray_executor, address=args.address,
                                     gpus_per_task=args.gpus_per_task)
    elif args.address or args.gpus_per_task:
        raise UserError("--address and --gpus-per-task need --executor ray")
    if args.workers < 0:
        raise UserError(f"--workers: must be >= 0, got {args.workers}")
    if args.workers and args.executor == "ray":
        raise UserError("--workers is for the local executor; Ray runs one task per chunk")
    if args.plan:
        print(plan_line(spec, args.out))
        return 0
    import time

    t0 = time.perf_counter()
    try:
        summary = run_sweep(spec, args.out, progress=not args.no_progress, executor=executor,
                            workers=args.workers)
    except OSError as e:  # a full disk, a lost mount: the records written so far stay
        raise UserError(f"--out {args.out}: cannot write {e.filename or 'a results file'}: "
                        f"{e.strerror or e} (the runs stored so far are kept; rerun to resume)"
                        ) from None
    phases = dict(summary["phase_s"])
    if not args.no_report:
        from bench.report import write_report

        t_report = time.perf_counter()
        paths = write_report(args.out)
        phases["report"] = time.perf_counter() - t_report
        print(f"report: {paths[0]} and {paths[1]}")
    print(f"{summary['ran']} runs trained, {summary['skipped']} already done, "
          f"{len(summary['failures'])} strategies failed, {summary['wall_s']:.0f} s; "
          f"table: {summary['table']}")
    for name, err in summary["failures"].items():
        print(f"failed: {name}: {err}", file=sys.stderr)
    from bench.timing import breakdown

    print(f"time by phase: {breakdown(phases)}")
    print(f"wall time: {time.perf_counter() - t0:.0f} s (sweep and report)")
    return 1 if summary["failures"] else 0


def plan_line(spec: SweepSpec, out: str) -> str:
    """What ``run --plan`` prints: the runs still to train in ``out`` (nothing is written), in
    how many chunks, and their training run-timesteps (runs × steps × batch × window). Grid
    extensions are planned only once the runs below them exist, so they are not counted."""
    from bench.store import Store
    from bench.sweep import plan, selected_strategies

    strategies, _ = selected_strategies(spec)
    jobs, done = plan(spec, strategies, Store(out))  # reads only; creates nothing
    runs = sum(len(j.configs) for j in jobs)
    timesteps = sum(c.steps * c.batch_size * c.window for j in jobs for c in j.configs)
    def n(count: int, noun: str) -> str:
        return f"{count:,} {noun}" + ("" if count == 1 else "s")

    return (f"plan: {n(runs, 'run')} to train ({done:,} already done) in {n(len(jobs), 'chunk')} "
            f"of at most {n(spec.max_runs, 'run')}; {timesteps:.3g} training run-timesteps "
            f"(steps × batch × window); grid extensions above the top LR are not counted")


def _shown(path: str) -> str:
    """A path as an error line shows it: quoted when it is empty or blank at either end."""
    return repr(path) if path != path.strip() or not path else path


# The columns that say which run a row is: every row needs a value in each.
TABLE_KEY = ("dataset", "strategy", "lr", "seed")
# Optional record fields the report reads together (bench.report.per_channel divides the
# first by the second): a table written by the store has both or neither.
TABLE_PAIRS = {"test_mse_channels": "bayes_channels"}


def check_run_table(path: Path) -> None:
    """A ``runs.parquet`` the report is to read (a results directory without ``runs/``):
    readable, with every column the report needs (:data:`bench.summary.RUN_COLUMNS`), and
    every column named after a record field of that field's type
    (:class:`bench.record.RunRecord`; a table may lack the optional fields), and a value in
    every row of the columns that say which run a row is (:data:`TABLE_KEY`; a finite ``lr``).
    Else a :class:`UserError` naming the file and the column. Only the schema and those
    columns are read."""
    import typing

    import pyarrow as pa
    import pyarrow.parquet as pq

    from bench.record import HINTS
    from bench.summary import RUN_COLUMNS

    try:
        schema = pq.read_schema(path)
    except (OSError, ValueError, pa.ArrowException) as e:
        raise UserError(f"{path}: not a readable Parquet table ({one_line(e)})") from None
    missing = [c for c in RUN_COLUMNS if c not in schema.names]
    if missing:
        older = " (an older protocol's table: regenerate it)" if "eval_mse" in schema.names else ""
        raise UserError(f"{path}: not a run table of this version: no column(s) "
                        f"{', '.join(missing)}{older}")
    t = pa.types
    number = (t.is_integer, t.is_floating, t.is_null)
    accepts = {float: number, int: number, bool: (t.is_boolean, t.is_null),
               str: (t.is_string, t.is_large_string, t.is_null),
               list: (t.is_list, t.is_large_list, t.is_null),
               dict: (t.is_struct, t.is_map, t.is_null)}
    for name, needs in TABLE_PAIRS.items():
        if name in schema.names and needs not in schema.names:
            raise UserError(f"{path}: column {name!r} without {needs!r}")
    for name in schema.names:
        hint = HINTS.get(name)
        if hint is None or name == "config":
            continue
        kind = typing.get_origin(hint) or hint
        if not any(ok(schema.field(name).type) for ok in accepts[kind]):
            raise UserError(f"{path}: column {name!r} holds {schema.field(name).type}, "
                            f"expected {kind.__name__}")
    try:
        key = pq.read_table(path, columns=list(TABLE_KEY))
    except (OSError, ValueError, pa.ArrowException) as e:
        raise UserError(f"{path}: not a readable Parquet table ({one_line(e)})") from None
    for name in TABLE_KEY:
        values = key.column(name)
        bad = values.null_count
        if name == "lr" and not t.is_null(values.type):
            bad += sum(not math.isfinite(v) for v in values.to_pylist() if v is not None)
        if bad:
            raise UserError(f"{path}: column {name!r} has no {'finite ' * (name == 'lr')}"
                            f"value in {bad} row(s)")


def cmd_report(args: argparse.Namespace) -> int:
    from bench.report import write_report

    root = Path(args.results)
    shown = _shown(args.results)
    if not ((root / "runs").is_dir() or (root / "runs.parquet").is_file()):
        raise UserError(f"{shown}: not a results directory (no runs/ or runs.parquet inside)")
    if not (root / "runs").is_dir():
        check_run_table(root / "runs.parquet")
    try:
        md, html = write_report(args.results)
    except ValueError as e:  # a run that contradicts itself (bench.summary.run_flags)
        raise UserError(f"{shown}: {one_line(e)}") from None
    print(f"report: {md} and {html}")
    return 0


def _real(array: np.ndarray, what: str) -> np.ndarray:
    """``array``, if its numbers are real (bool, integer or floating point)."""
    if array.dtype.kind not in "biuf":
        raise UserError(f"{what}: dtype {array.dtype}, expected real numbers (float, int or "
                        "bool)")
    return array


def _load_array(path: str, flag: str) -> np.ndarray:
    if not Path(path).is_file():
        raise UserError(f"{flag} {path}: no such file")
    try:
        array = np.load(path, allow_pickle=False)
    except Exception as e:
        raise UserError(f"{flag} {path}: cannot read as .npy ({one_line(e)})") from None
    if not isinstance(array, np.ndarray):  # an .npz archive: np.load gives its NpzFile
        array.close()
        raise UserError(f"{flag} {path}: an .npz archive, expected one .npy array")
    return _real(array, f"{flag} {path}")


def save_npy_atomic(path: str | Path, array: np.ndarray) -> None:
    """Write ``array`` as .npy to ``path`` atomically (never half-written)."""
    import io

    from bench.store import write_atomic

    path = Path(path)
    if path.is_dir():
        raise UserError(f"--output {path}: is a directory")
    if path.exists() and not path.is_file():  # the rename would replace a device, or a FIFO
        raise UserError(f"--output {path}: not a regular file")
    buf = io.BytesIO()
    np.save(buf, array)
    try:
        write_atomic(path, buf.getvalue())
    except OSError as e:  # a parent that is a file, a read-only or full disk, no permission
        raise UserError(f"--output {path}: cannot write ({e.strerror or one_line(e)})") from None


def cmd_forward(args: argparse.Namespace) -> int:
    import jax

    if not (math.isfinite(args.grad_clipping) and args.grad_clipping >= 0):
        raise UserError(f"--grad-clipping: must be a finite number >= 0 (0 = off), got "
                        f"{args.grad_clipping}")
    if args.float64:
        jax.config.update("jax_enable_x64", True)
    import jax.numpy as jnp

    from bench.lstm import check_params, lstm_layer

    if not Path(args.params).is_file():
        raise UserError(f"--params {args.params}: no such file")
    try:
        z = np.load(args.params, allow_pickle=False)
    except Exception as e:
        raise UserError(f"--params {args.params}: not a readable .npz ({one_line(e)})") from None
    if isinstance(z, np.ndarray):
        raise UserError(f"--params {args.params}: one .npy array, expected an .npz of named "
                        "parameters (W_in_to_ingate, ...)")
    try:
        with z:
            params = {k: z[k] for k in z.files if not k.startswith("__")}
    except Exception as e:
        raise UserError(f"--params {args.params}: not a readable .npz ({one_line(e)})") from None
    for name, array in params.items():
        _real(array, f"--params {args.params}: {name!r}")
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
    from bench import data
    from bench.registry import describe

    rows = describe()
    if not rows:
        print("no strategies found (strategies/ is empty and no entry points are installed)")
        return 1
    width = max(len(r["name"]) for r in rows)
    failed = 0
    print("strategies:")
    for r in rows:
        if r["error"]:
            failed += 1
            print(f"  {r['name']:<{width}}  BROKEN: {r['error']}")
            continue
        print(f"  {r['name']:<{width}}  {r['summary']}\n  {'':<{width}}    [{r['citation']}]")
        if r["settings"]:
            shown = ", ".join(f"{k}={v}" for k, v in r["settings"].items())
            print(f"  {'':<{width}}    settings: {shown}")
    found, errors = data.discover()
    print("datasets:")
    for name in sorted(found):
        print(f"  {name:<{width}}  {found[name].summary}")
    for name, err in sorted(errors.items()):
        failed += 1
        print(f"  {name:<{width}}  BROKEN: {err}")
    return 1 if failed else 0


def cmd_docs(args: argparse.Namespace) -> int:
    from bench.summary import write_metrics_doc

    path = Path(args.out) / "metrics.md"
    write_metrics_doc(path)
    print(f"wrote {path}")
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point; returns the exit status."""
    try:
        args = _parser().parse_args(argv)
    except SystemExit as e:  # argparse: --help (0) or a one-line usage error (2)
        return int(e.code or 0)
    try:
        return args.func(args)
    except UserError as e:
        print(printable(f"error: {e}"), file=sys.stderr)
        return 2
    except ConfigError as e:
        print(printable(f"error: {config_error(e)}"), file=sys.stderr)
        return 2
