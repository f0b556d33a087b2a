"""The report of a results directory: ``report.md`` (figures as ``figures/*.png`` next to it), a
self-contained ``report.html`` (the same Markdown rendered by markdown-it-py inside the jinja2
template ``bench/templates/report.html.j2``, figures embedded as base64 PNG) and
``summary.csv`` (the summary table).

The metrics come from :mod:`bench.summary` (its registry of ``bench/metrics/`` modules), the
figures from the registry of ``bench/figures/`` modules; this module loads, orders and renders.
Tables are written by pandas (``DataFrame.to_markdown``), numbers by :mod:`bench.fmt`.
"""

from __future__ import annotations

import base64
import io
import json
import warnings
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import jinja2
import numpy as np
import pandas as pd
import seaborn as sns
from markdown_it import MarkdownIt
from matplotlib.figure import Figure

from bench import compare, fmt, timing
from bench import summary as sm
from bench.errors import one_line
from bench.figures import FigureSpec, ResultsContext, figure_registry
from bench.metrics import Metric
from bench.store import Store, write_atomic

DPIS = (80, 64, 50)  # the first whose embedded figures fit HTML_BUDGET (figure_pngs)
HTML_BUDGET = 1_400_000  # bytes of base64 figure data in report.html
TEMPLATES = Path(__file__).resolve().parent / "templates"
KEY = ["arm", "dataset", "strategy", "lr", "seed"]
MARKDOWN = MarkdownIt("commonmark", {"html": False}).enable("table")


# ----------------------------------------------------------------------------------- loading


@dataclass
class Results:
    """Everything the report shows, loaded from one results directory."""

    root: Path
    runs: pd.DataFrame
    sweep: dict[str, Any]
    failures: dict[str, str]
    notes: list[str] = field(default_factory=list)
    source: str = "runs/"  # where the records came from: "runs/" or "runs.parquet"

    @property
    def spec(self) -> dict[str, Any]:
        return self.sweep.get("spec") or {}

    @property
    def environment(self) -> dict[str, Any]:
        return self.sweep.get("environment") or {}

    @property
    def last_run(self) -> dict[str, Any]:
        return self.sweep.get("last_run") or {}


def _read_json(path: Path) -> Any:
    try:
        return json.loads(path.read_text())
    except (OSError, ValueError):
        return None


def _this_sweep(runs: pd.DataFrame, sweep_id: Any, notes: list[str]) -> pd.DataFrame:
    """The records whose ``sweep_id`` is ``sweep.json``'s (all of them for records without
    sweep ids), with a note on what was left out."""
    if "sweep_id" not in runs.columns:
        notes.append("The records predate sweep ids (they have no `sweep_id`): all of them are "
                     "shown, whichever sweep wrote them.")
        return runs
    if not sweep_id:
        notes.append("`sweep.json` names no `sweep_id`: all records are shown.")
        return runs
    keep = runs["sweep_id"].map(lambda v: v == sweep_id).astype(bool)
    left = len(runs) - int(keep.sum())
    if left:
        notes.append(f"{left} record(s) of other sweeps (a `sweep_id` other than `sweep.json`'s "
                     f"`{sweep_id}`) are left out of this report.")
    return runs[keep].reset_index(drop=True)


def load_results(results_dir: str | Path) -> Results:
    """Records, ``sweep.json`` and ``failures.json`` of a directory.

    The records are the JSON files of ``runs/`` (:meth:`Store.table`), or ``runs.parquet`` when
    there is no ``runs/`` folder. Records of another sweep than ``sweep.json``'s ``sweep_id``
    are left out and counted in ``notes``; of duplicate (arm, dataset, strategy, lr, seed)
    records the last one by key is kept. Records without an ``arm`` are arm ``default``.
    """
    root = Path(results_dir)
    sweep = _read_json(root / "sweep.json")
    sweep = sweep if isinstance(sweep, dict) else {}
    failures = _read_json(root / "failures.json")
    if not isinstance(failures, dict):
        failures = (sweep.get("last_run") or {}).get("failures") or {}
    notes: list[str] = []
    if not sweep:
        notes.append("`sweep.json` is missing or unreadable: settings are taken from the records.")
    store = Store(root)
    runs = store.table()
    source = "runs/"
    notes += [f"corrupt record moved aside: {c}" for c in store.corrupt]
    if runs.empty and not store.runs.is_dir() and (root / "runs.parquet").is_file():
        runs, source = pd.read_parquet(root / "runs.parquet"), "runs.parquet"
        notes.append("There is no `runs/` folder: the records are read from `runs.parquet`.")
    if not runs.empty:
        runs = _this_sweep(sm.with_arm(runs), sweep.get("sweep_id"), notes)
    if not runs.empty:
        ordered = runs.sort_values([*KEY, "key"] if "key" in runs else KEY, kind="mergesort")
        dup = ordered.duplicated(KEY, keep="last")
        if dup.any():
            notes.append(f"{int(dup.sum())} duplicate (arm, dataset, strategy, lr, seed) "
                         "record(s) left out (the last one by key is kept).")
            runs = ordered[~dup].sort_values(KEY, kind="mergesort").reset_index(drop=True)
    return Results(root=root, runs=runs, sweep=sweep,
                   failures={str(k): str(v) for k, v in failures.items()}, notes=notes,
                   source=source)


# ---------------------------------------------------------------------------------- tables


def display_table(table: pd.DataFrame, metrics: list[Metric] | None = None) -> pd.DataFrame:
    """Summary rows as text: ``strategy``, then one column per metric shown in the table
    (``in_table``) headed by its label. An ``optional`` metric missing for every strategy row
    (``collapsed_rate`` when no run had the rule on) is left out: a blank column says nothing."""
    if metrics is None:
        metrics = sm.metric_registry()[0]
    strategies = table[table["kind"] != "reference"] if "kind" in table.columns else table
    metrics = [m for m in metrics if m.name in table.columns and m.in_table
               and not (m.optional and strategies[m.name].isna().all())]
    rows = []
    for _, r in table.iterrows():
        reference = r["kind"] == "reference"
        row = {"strategy": f"{r['strategy']} (reference)" if reference else str(r["strategy"])}
        for m in metrics:
            row[m.label] = m.show(r, missing="" if reference else None)
        rows.append(row)
    return pd.DataFrame(rows, columns=["strategy", *(m.label for m in metrics)])


def table_markdown(df: pd.DataFrame) -> str:
    """A GitHub Markdown table (pandas/tabulate) of text cells, pipes escaped; the first column
    left-aligned, the others right-aligned."""
    cells = df.astype(str).apply(lambda col: col.str.replace("|", "\\|", regex=False))
    cells.columns = [str(c).replace("|", "\\|") for c in df.columns]
    align = ["left"] + ["right"] * (len(df.columns) - 1)
    return cells.to_markdown(index=False, disable_numparse=True, colalign=align)


def _bullets(items: list[str]) -> str:
    return "\n".join(f"- {' '.join(str(i).split())}" for i in items)


# -------------------------------------------------------------------------------- sections


def _names(rows: pd.DataFrame, extra: Any = None) -> str:
    """```a`, `b``` (with ``extra(row)`` in parentheses after each name when given)."""
    return ", ".join(f"`{r['strategy']}`" + (f" ({extra(r)})" if extra else "")
                     for _, r in rows.iterrows())


def _flagged(t: pd.DataFrame, column: str) -> pd.DataFrame:
    """The rows of ``t`` whose flag ``column`` is true (none without the column)."""
    if column not in t.columns:
        return t.iloc[:0]
    return t[t[column].astype("boolean").fillna(False).astype(bool)]


def _seed_counts(runs: pd.DataFrame) -> str:
    """``3`` or ``2 to 3``: the seeds per (strategy, learning rate) cell of ``runs``."""
    per_cell = runs.groupby(["strategy", "lr"])["seed"].nunique()
    lo, hi = (int(per_cell.min()), int(per_cell.max())) if len(per_cell) else (0, 0)
    return str(lo) if lo == hi else f"{lo} to {hi}"


def still_improving_sentence(t: pd.DataFrame, runs: pd.DataFrame) -> str:
    """The strategies of one (arm, dataset) whose best-LR runs are still improving at the end of
    training (``k of n seeds``), or a sentence saying there are none. ``t``: its strategy rows
    of the summary; ``runs``: its runs with :func:`bench.summary.run_flags`' columns."""
    steps = t["steps"].dropna() if "steps" in t else pd.Series(dtype=float)
    budget = f"the {fmt.count(steps.max())}-step budget" if len(steps) else "the budget"
    rule = (f"mean validation MSE over the last {100 * sm.TAIL:g} % of {budget} more than "
            f"{100 * sm.MIN_GAIN:g} % below its mean over the {100 * sm.TAIL:g} % before")
    named = []
    for _, r in t.iterrows():
        lr = r.get("best_lr")
        if lr is None or fmt.is_missing(lr):
            continue
        g = runs[(runs["strategy"] == r["strategy"]) & (runs["lr"].astype(float) == float(lr))]
        k = int(g["still_improving"].astype(bool).sum())
        if k:
            named.append(f"`{r['strategy']}` ({k} of {len(g)} seed{'s' if len(g) != 1 else ''})")
    if not named:
        return f"No best-LR run was still improving at the end of training ({rule})."
    return (f"Still improving at the end of training at the best LR ({rule}): "
            f"{', '.join(named)}; {budget} is too short for these.")


def _ratio_ci(r: Any) -> str:
    return (f"×{fmt.num(r['ratio'], 4)} [{fmt.num(r['ratio_low'], 4)}, "
            f"{fmt.num(r['ratio_high'], 4)}]")


def comparison_sentences(comp: pd.DataFrame, seeds: str) -> list[str]:
    """The findings on differences between strategies of one (arm, dataset), from
    :func:`bench.compare.comparisons`: the resolved ones (CI excludes 1) against each reference,
    then the strategies whose difference is not resolved, named plainly as such."""
    if not len(comp):
        return ["No paired comparison: fewer than two strategies have a best LR."]
    items = [f"Differences are paired over {seeds} seeds: the ratio of test ratios at each "
             "strategy's best LR, ×r [95 % bootstrap CI]; r < 1 = closer to the floor than "
             f"the reference. Only differences whose CI excludes 1 (with at least "
             f"{compare.MIN_SEEDS} seeds) are stated as differences"
             + (" (with this few seeds the intervals are wide)." if seeds.isdigit()
                and int(seeds) < 10 else ".")]
    for ref in dict.fromkeys(comp["versus"]):
        c = comp[comp["versus"] == ref]
        better = c[c["resolved"] & (c["ratio"] < 1)].sort_values("ratio")
        worse = c[c["resolved"] & (c["ratio"] > 1)].sort_values("ratio")
        open_ = c[~c["resolved"]]
        if len(better):
            items.append(f"Closer to the floor than `{ref}`: "
                         + "; ".join(f"`{r['strategy']}` {_ratio_ci(r)}"
                                     for _, r in better.iterrows()) + ".")
        if len(worse):
            items.append(f"Further from the floor than `{ref}`: "
                         + "; ".join(f"`{r['strategy']}` {_ratio_ci(r)}"
                                     for _, r in worse.iterrows()) + ".")
        if len(open_):
            items.append(f"Not resolved against `{ref}` (the CI includes 1): "
                         + ", ".join(f"`{n}`" for n in open_["strategy"]) + ".")
    return items


def findings(table: pd.DataFrame, runs: pd.DataFrame,
             comp: pd.DataFrame | None = None) -> list[tuple[str, str, list[str]]]:
    """Per (arm, dataset), statements from the summary: the seeds per cell, the differences
    between strategies that the paired comparisons ``comp`` (:func:`bench.compare.
    comparisons`) resolve and those they do not, non-finite outputs at init, no or a censored
    largest usable LR, no LR with every seed finite, targets not reached within the budget, and
    the strategies still improving at their best LR. Without ``comp`` no statement compares
    strategies."""
    out = []
    strategies = table[table["kind"] == "strategy"]
    for arm, ds in sorted(set(zip(strategies["arm"], strategies["dataset"], strict=True))):
        t = strategies[(strategies["arm"] == arm) & (strategies["dataset"] == ds)]
        d = runs[(runs["arm"] == arm) & (runs["dataset"] == ds)]
        seeds = _seed_counts(d)
        if comp is None:
            items = [f"Each (strategy, learning rate) cell has {seeds} seed"
                     f"{'' if seeds == '1' else 's'}; without paired comparisons this report "
                     "states no differences between strategies."]
        else:
            items = comparison_sentences(
                comp[(comp["arm"] == arm) & (comp["dataset"] == ds)], seeds)
        if "init_nonfinite_any" in t:
            bad = t[t["init_nonfinite_any"].astype(float) > 0]
            items.append(
                "Non-finite hidden state in the forward pass at init: "
                + _names(bad, lambda r: f"{fmt.pct(r['init_nonfinite_any'])} of seeds") + "."
                if len(bad) else
                "No strategy had a non-finite hidden state in the forward pass at init.")
        if "max_usable_lr" in t:
            none = t[t["max_usable_lr"].isna()]
            items.append(
                "No usable learning rate (at no LR of the grid is every seed finite and below "
                "persistence on test): " + _names(none) + "."
                if len(none) else
                "Every strategy had a usable learning rate (one at which every seed is finite "
                "and below persistence on test).")
            cens = _flagged(t, "max_usable_censored")
            if len(cens):
                items.append("Usable at every LR run, so the largest usable LR is censored "
                             "(shown as ≥; the edge lies beyond the grid): "
                             + _names(cens, lambda r: f"≥ {fmt.lr(r['max_usable_lr'])}") + ".")
        if "best_lr" in t:
            none = t[t["best_lr"].isna()]
            if len(none):
                items.append("No learning rate at which every seed is finite (so no best LR): "
                             + _names(none) + ".")
        for f in sm.GAP_TARGETS:
            pct = round(100 * f)
            miss = _flagged(t, f"steps_to_{pct}_censored")
            if len(miss):
                items.append(f"The median seed at the best LR did not close {pct} % of the "
                             "persistence-to-Bayes gap on validation within the budget: "
                             + _names(miss) + ".")
        if "still_improving" in d:
            items.append(still_improving_sentence(t, d))
        out.append((str(arm), str(ds), items))
    return out


def _show(v: Any) -> str:
    """One config value as text (numbers by :mod:`bench.fmt`)."""
    if isinstance(v, dict):
        return ", ".join(f"{k}={_show(x)}" for k, x in sorted(v.items()))
    if isinstance(v, list | tuple | np.ndarray):
        return "[" + ", ".join(_show(x) for x in v) + "]"
    if fmt.is_missing(v):
        return ""
    if isinstance(v, bool | np.bool_):
        return str(bool(v))
    if isinstance(v, int | np.integer):
        return str(int(v))
    if isinstance(v, float | np.floating):
        return fmt.num(v, 6)
    return str(v)


def _config_columns(runs: pd.DataFrame) -> pd.DataFrame:
    """The ``cfg.*`` columns as text, without the prefix; a column of mappings (a strategy's
    settings) becomes one column per key (``settings.<key>``)."""
    out: dict[str, pd.Series] = {}
    for col in runs.columns:
        if not col.startswith("cfg."):
            continue
        name, values = col[4:], runs[col]
        if values.map(lambda v: isinstance(v, dict)).any():
            keys = sorted({k for v in values if isinstance(v, dict) for k in v})
            for k in keys:
                out[f"{name}.{k}"] = values.map(
                    lambda v, k=k: _show(v.get(k)) if isinstance(v, dict) else "")
        else:
            out[name] = values.map(_show)
    return pd.DataFrame(out, index=runs.index)


def arm_options(runs: pd.DataFrame) -> dict[str, str]:
    """Per arm, its run options that differ between arms: ``name=value`` of the ``cfg.*``
    fields that have one value within each arm (so not a strategy's own settings) and not the
    same one in every arm; empty text for an arm when there is one arm or no such field."""
    runs = sm.with_arm(runs)
    arms = sorted(runs["arm"].unique())
    cfg = _config_columns(runs)
    out: dict[str, list[str]] = {a: [] for a in arms}
    for name in cfg.columns:
        if name == "arm":
            continue
        per = {a: set(cfg.loc[runs["arm"] == a, name]) for a in arms}
        if any(len(v) > 1 for v in per.values()) or len({frozenset(v) for v in per.values()}) < 2:
            continue
        for a in arms:
            out[a].append(f"{name}={next(iter(per[a])) or '(unset)'}")
    return {a: ", ".join(v) for a, v in out.items()}


def _arm_heading(arm: str, options: dict[str, str], level: str) -> str:
    text = options.get(arm, "")
    if len(options) == 1:
        return f"{level} Arm `{arm}` (the only arm)"
    return f"{level} Arm `{arm}`" + (f": {text}" if text else "")


def _settings_items(res: Results, runs: pd.DataFrame) -> list[str]:
    """The run settings: what the sweep covered, then every config field of the records."""
    spec = res.spec
    items = []
    profile = sorted({str(p) for p in runs["profile"]}) if "profile" in runs else []
    items.append(f"profile: `{', '.join(profile) or spec.get('profile', '?')}`")
    if {"cfg.hidden", "cfg.channels"} <= set(runs.columns):
        nets = {(int(c), tuple(int(h) for h in hid))
                for c, hid in zip(runs["cfg.channels"], runs["cfg.hidden"], strict=True)}
        for c, hid in sorted(nets):
            items.append("network (stacked peephole LSTM, layer sizes): "
                         + " → ".join(str(v) for v in (c, *hid, c)))
    items.append(f"datasets: {', '.join(f'`{d}`' for d in sorted(runs['dataset'].unique()))}")
    items.append("learning-rate grid: "
                 + ", ".join(fmt.lr(v) for v in sorted(runs["lr"].unique())))
    arms = sorted(runs["arm"].unique())
    items.append(f"arms ({len(arms)}): {', '.join(f'`{a}`' for a in arms)}")
    items.append(f"seeds per (arm, strategy, dataset, LR): {runs['seed'].nunique()} "
                 f"(seeds {', '.join(str(int(s)) for s in sorted(runs['seed'].unique()))})")
    strategies = sorted(runs["strategy"].unique())
    items.append(f"strategies ({len(strategies)}): {', '.join(strategies)}")
    cfg = _config_columns(runs)
    for name in cfg.columns:
        values = cfg[name]
        present = values[values != ""]
        distinct = list(dict.fromkeys(present))
        if not distinct:
            continue
        if len(distinct) == 1 and len(present) == len(values):
            items.append(f"`{name}`: {distinct[0]}")
            continue
        for by in ("arm", "strategy"):
            if by == "arm" and (len(arms) == 1 or len(present) < len(values)):
                continue  # per arm: a value in every run, and more than one arm
            per = present.groupby(runs.loc[present.index, by]).unique()
            if all(len(v) == 1 for v in per):
                items.append(f"`{name}` (per {by}): "
                             + ", ".join(f"{s}: {v[0]}" for s, v in per.items()))
                break
        else:
            items.append(f"`{name}`: {', '.join(distinct)} (differs between runs)")
    if spec.get("overrides"):
        items.append("overrides of the profile: "
                     + ", ".join(f"`{k}={v}`" for k, v in sorted(spec["overrides"].items())))
    return items


def _env_items(res: Results, runs: pd.DataFrame) -> list[str]:
    env = res.environment
    items = []
    for key, label in (("device", "device"), ("device_count", "devices"),
                       ("cpu_count", "CPU cores"), ("platform", "platform"),
                       ("python", "Python"), ("jax", "JAX"), ("optax", "optax"),
                       ("numpy", "NumPy"), ("git_commit", "git commit")):
        if key in env:
            items.append(f"{label}: `{env[key] or 'unknown'}`")
    if not env:
        items.append("environment: not recorded (`sweep.json` missing)")
    phases = timing.sweep_phases(runs)
    if phases:
        items.append("where the training time went (summed over the chunks of this report): "
                     + timing.breakdown(phases))
    total, n_chunks = timing.sweep_wall(runs)
    if n_chunks:
        items.append(f"training wall time: {fmt.seconds(total)} summed over the {n_chunks} "
                     "chunks of the runs in this report")
    last = res.last_run
    if last:
        items.append(f"last `python -m bench run`: {fmt.seconds(last.get('wall_s'))} wall, "
                     f"{last.get('ran', '?')} runs trained, {last.get('skipped', '?')} already "
                     "done")
    return items


def _failure_items(res: Results, runs: pd.DataFrame, plugin_errors: dict[str, str]) -> list[str]:
    items = []
    have = set(runs["strategy"]) if len(runs) else set()
    for name, err in sorted(res.failures.items()):
        extra = "" if name in have else " (no runs recorded)"
        items.append(f"**{name}**{extra}: `{' '.join(str(err).split())}`")
    for name, err in plugin_errors.items():
        items.append(f"**{name}**: `{' '.join(str(err).split())}`")
    for c in res.last_run.get("corrupt") or []:
        items.append(f"corrupt record recomputed: `{c}`")
    return items


# -------------------------------------------------------------------------------- document


@dataclass(frozen=True)
class FigureBlock:
    """A drawn figure of the document: shown as ``figures/<name>.png`` with its caption."""

    name: str
    caption: str
    figure: Figure


Part = str | FigureBlock  # Markdown text, or a figure


def _draw(spec: FigureSpec, ctx: ResultsContext, errors: dict[str, str]) -> FigureBlock | None:
    try:
        with sns.axes_style("whitegrid"), sns.plotting_context("notebook", font_scale=0.8), \
                warnings.catch_warnings():
            warnings.simplefilter("ignore", UserWarning)
            warnings.simplefilter("ignore", RuntimeWarning)
            fig = spec.draw(ctx)
        if not isinstance(fig, Figure):
            raise TypeError(f"draw returned {type(fig).__name__}, not a matplotlib Figure")
    except Exception as e:  # a broken figure must not take the report down
        errors[f"figure {spec.name}"] = f"draw failed: {type(e).__name__}: {one_line(e)}"
        return None
    return FigureBlock(spec.name, spec.caption, fig)


def build_document(res: Results) -> tuple[str, list[Part], pd.DataFrame,
                                           dict[str, pd.DataFrame]]:
    """Title, parts (Markdown text and figures), summary table of the report, and the extra
    tables it writes as CSV (paired comparisons, ranks, profile ranking) by file name."""
    title = f"LSTM initialisation benchmark: {res.root.name or res.root}"
    runs = res.runs
    stamp = datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC")
    origin = ("one JSON record per run in `runs/`" if res.source == "runs/" else
              "the per-run JSON records are not in this directory")
    parts: list[Part] = [f"Written {stamp} from `{res.root}`. Every run is one row of "
                         f"[runs.parquet](runs.parquet) (`pandas.read_parquet`; {origin}); the "
                         "summary table is [summary.csv](summary.csv)."]
    metrics, errors = sm.metric_registry()
    errors = {f"metric {k}": v for k, v in errors.items()}
    figures, fig_errors = figure_registry()
    errors.update({f"figure {k}": v for k, v in fig_errors.items()})

    if runs.empty:
        parts += ["## What was run", "No run records found."]
        if res.notes:
            parts.append(_bullets(res.notes))
        items = _failure_items(res, runs, errors)
        if items:
            parts += ["## Failures", _bullets(items)]
        parts += ["## Environment and wall time", _bullets(_env_items(res, runs))]
        return title, parts, pd.DataFrame(columns=list(sm.summary_columns(metrics))), {}

    metric_errors: dict[str, str] = {}
    table = sm.summary_table(runs, metrics, metric_errors)
    errors.update({f"metric {k}": v for k, v in metric_errors.items()})
    metrics = [m for m in metrics if m.name in table.columns]
    flags = sm.run_flags(runs)
    comp = compare.comparisons(flags, table)
    rank = compare.ranks(flags, table)
    profile = compare.profile_ranking(flags, table)
    ctx = ResultsContext.build(flags, table)
    blocks = [b for b in (_draw(f, ctx, errors) for f in figures) if b is not None]

    options = arm_options(flags)
    parts += ["## Findings",
              "Per arm (a named group of run options; its heading lists the options that "
              "differ between arms) and dataset. Every error is measured on held-out *test* "
              "data; the best LR is chosen on separate *validation* data."]
    arm_now = None
    for arm, ds, items in findings(table, flags, comp):
        if arm != arm_now:
            parts.append(_arm_heading(arm, options, "###"))
            arm_now = arm
        parts += [f"#### Dataset `{ds}`", _bullets(items)]
    if blocks:
        parts.append(blocks[0])

    parts += ["## Summary",
              "Ratios are MSE / Bayes MSE on test (the AUC: on validation); IQR = [25 %, 75 %] "
              "over seeds; \"≥ L\" = usable at every LR run up to L (the largest usable LR is "
              "censored); \"> N\" = the median seed did not reach the target within the N-step "
              "budget; blank = not defined; rows in the sort order (see the definitions)."]
    fl = sm.floors(flags).set_index(["arm", "dataset"])
    arm_now = None
    for arm, ds in ctx.panels:
        if arm != arm_now:
            parts.append(_arm_heading(arm, options, "###"))
            arm_now = arm
        f = fl.loc[(arm, ds)]
        rows = table[(table["arm"] == arm) & (table["dataset"] == ds)]
        steps = (rows.loc[rows["kind"] == "strategy", "steps"].dropna()
                 if "steps" in rows else pd.Series(dtype=float))
        budget = f" Budget: {fmt.count(steps.max())} training steps per run." if len(steps) else ""
        parts += [f"#### Dataset `{ds}`",
                  f"Floors (channel means): {f['floor_name']} MSE {fmt.num(f['bayes'], 4)}, "
                  f"persistence MSE "
                  f"{fmt.num(f['persistence'], 4)}, variance {fmt.num(f['variance'], 4)}."
                  + budget,
                  table_markdown(display_table(rows, metrics))]
    parts += comparison_parts(comp, rank, profile, ctx, options)
    parts += channel_parts(flags, table, ctx, options)
    parts += why_parts(flags, table, ctx, options)
    if len(blocks) > 1:
        parts += ["## More figures", *blocks[1:]]

    parts.append("## Failures")
    items = _failure_items(res, runs, errors)
    parts.append(_bullets(items) if items else "None: every strategy ran.")
    parts += ["## What was run", _bullets(_settings_items(res, runs))]
    if res.notes:
        parts.append("Notes on the records:\n\n" + _bullets(res.notes))
    parts += ["## Metric definitions",
              "Generated from the metric registry (`bench/metrics/`, one module per metric); "
              "the per-run values are computed in `bench/summary.py`.",
              sm.definitions_markdown(metrics, level=3).strip()]
    parts += ["## Environment and wall time", _bullets(_env_items(res, runs))]
    extra = {"comparisons.csv": comp, "ranks.csv": rank, "profile_ranking.csv": profile}
    return title, parts, table, extra


def _ci_cell(r: Any) -> str:
    """``×r [lo, hi]`` with `` *`` when the CI excludes 1."""
    return _ratio_ci(r) + (" *" if r["resolved"] else "")


def comparison_parts(comp: pd.DataFrame, rank: pd.DataFrame, profile: pd.DataFrame,
                     ctx: ResultsContext, options: dict[str, str]) -> list[Part]:
    """The "Paired comparisons" section: per (arm, dataset) a table of every strategy against
    `glorot` and against the best strategy, with rank intervals; then the ranking by
    performance-profile area across datasets."""
    parts: list[Part] = [
        "## Paired comparisons",
        "Per strategy at its own best LR (chosen on validation), paired by seed: ×r = "
        "exp(mean over seeds of the difference of log test ratios) against the reference, with "
        "its 95 % percentile-bootstrap CI over seeds; `*` = the CI excludes 1 (a resolved "
        "difference). Rank: by mean log test ratio (1 = best), with its 95 % bootstrap interval "
        "over seeds. See `bench/compare.py`; the numbers are in comparisons.csv and ranks.csv."]
    arm_now = None
    for arm, ds in ctx.panels:
        c = comp[(comp["arm"] == arm) & (comp["dataset"] == ds)]
        r = rank[(rank["arm"] == arm) & (rank["dataset"] == ds)].set_index("strategy")
        if not len(r):
            continue
        if arm != arm_now:
            parts.append(_arm_heading(arm, options, "###"))
            arm_now = arm
        rows = []
        refs = list(dict.fromkeys(c["versus"]))
        order = ctx.strategy_rows(ds, arm)["strategy"]
        for strategy in [s for s in order if s in r.index]:
            row = {"strategy": strategy}
            for ref in refs:
                hit = c[(c["strategy"] == strategy) & (c["versus"] == ref)]
                row[f"vs {ref}"] = _ci_cell(hit.iloc[0]) if len(hit) else "(reference)"
            k = r.loc[strategy]
            row["rank [95 % interval]"] = (
                f"{fmt.num(k['rank'], 3)} [{fmt.num(k['rank_low'], 3)}, "
                f"{fmt.num(k['rank_high'], 3)}]" if pd.notna(k["rank"]) else "")
            rows.append(row)
        parts += [f"#### Dataset `{ds}`", table_markdown(pd.DataFrame(rows))]
    if len(profile):
        parts += ["### Across datasets: performance-profile area",
                  "Area under the performance profile over τ ∈ [1, "
                  f"{compare.TAU_MAX:g}] (1 = best on every (dataset, seed) task), with its "
                  "95 % bootstrap CI over tasks, and the rank by area with its interval; "
                  "see the performance-profile figure."]
        shown = profile.assign(
            area=[f"{fmt.num(a, 3)} [{fmt.num(lo, 3)}, {fmt.num(hi, 3)}]" for a, lo, hi
                  in zip(profile["area"], profile["area_low"], profile["area_high"],
                         strict=True)],
            rank=[f"{fmt.num(a, 3)} [{fmt.num(lo, 3)}, {fmt.num(hi, 3)}]" for a, lo, hi
                  in zip(profile["rank"], profile["rank_low"], profile["rank_high"],
                         strict=True)])
        parts.append(table_markdown(shown[["arm", "strategy", "area", "rank", "tasks"]]))
    return parts


def channel_parts(flags: pd.DataFrame, table: pd.DataFrame, ctx: ResultsContext,
                  options: dict[str, str]) -> list[Part]:
    """The "Per channel" section: per (arm, dataset), the median over seeds at each strategy's
    best LR of every channel's test MSE / floor, with the channel's process parameters."""
    parts: list[Part] = [
        "## Per channel",
        "Median over seeds, at each strategy's best LR, of each channel's test MSE / its own "
        "floor. The headline score (`test_ratio`) is the geometric mean of these over channels; "
        "columns are headed by the channel's process parameters."]
    arm_now = None
    for arm, ds in ctx.panels:
        t = per_channel(flags, table, arm, ds)
        if t is None:
            continue
        if arm != arm_now:
            parts.append(_arm_heading(arm, options, "###"))
            arm_now = arm
        parts += [f"#### Dataset `{ds}`", table_markdown(t)]
    return parts if len(parts) > 2 else []


WHY_COLUMNS = ("growth_init", "jac_radius_init", "memory_horizon_init", "saturation_init",
               "nan_rate_init", "growth_trained", "jac_radius_trained", "nonfinite_trained")
GROWTH_ALARM = 2.0  # growth per 1 000 steps above which a strategy is named as growing


def _culprit_text(runs: pd.DataFrame, prefix: str = "init") -> str:
    """The fastest-growing units of the first seed's fastest-growing layer, with biases."""
    col, growth = f"{prefix}_culprits", f"{prefix}_growth_h"
    if col not in runs or not len(runs):
        return ""
    r = runs.sort_values("seed").iloc[0]
    layers, g = r[col], np.asarray([np.nan if v is None else v for v in r[growth]], float)
    if not isinstance(layers, list | np.ndarray) or not len(layers) or np.isnan(g).all():
        return ""
    li = int(np.nanargmax(g))
    units = []
    for u in list(layers[li])[:2]:
        biases = ", ".join(f"{k} {fmt.num(u[k], 3)}" for k in
                           ("b_ingate", "b_forgetgate", "b_cell", "b_outgate")
                           if u.get(k) not in (None, 0.0))
        units.append(f"unit {int(u['unit'])} (×{fmt.num(u['growth_h'], 3)}"
                     + (f"; {biases}" if biases else "") + ")")
    return f"; fastest-growing units (seed {r['seed']}, layer {li + 1}): " + ", ".join(units)


def why_sentences(t: pd.DataFrame, runs: pd.DataFrame) -> list[str]:
    """Per strategy of one (arm, dataset) whose diagnostics are out of the ordinary, a sentence
    linking them to its outcome; then the strategies that are bounded at init."""
    items, calm = [], []
    for _, row in t.iterrows():
        name = row["strategy"]
        d = runs[runs["strategy"] == name]
        parts = []
        g = row.get("growth_init")
        if not fmt.is_missing(g) and g > GROWTH_ALARM:
            text = f"max |h| grows ×{fmt.num(g, 3)} per 1 000 steps at init"
            if not fmt.is_missing(row.get("nan_rate_init")) and row["nan_rate_init"] > 0:
                first = [f[-1] for f in d.groupby("seed")["init_first_nonfinite"].first()
                         if isinstance(f, list | np.ndarray) and len(f) and f[-1] >= 0]
                if first:
                    text += (f" → non-finite from step ≈ {fmt.count(np.median(first))} "
                             f"({len(first)} of {d['seed'].nunique()} seeds)")
            parts.append(text + _culprit_text(d))
        r = row.get("jac_radius_init")
        if not fmt.is_missing(r) and r > 1:
            parts.append(f"step-Jacobian spectral radius {fmt.num(r, 3)} > 1 at init")
        sat = row.get("saturation_init")
        if not fmt.is_missing(sat) and sat > 0.5:
            parts.append(f"{fmt.pct(sat)} of one gate's values saturated at init")
        gt, nt = row.get("growth_trained"), row.get("nonfinite_trained")
        if (not fmt.is_missing(gt) and gt > GROWTH_ALARM) or (
                not fmt.is_missing(nt) and nt > 0):
            parts.append("unstable on the trained weights (best LR): growth "
                         f"×{fmt.num(gt, 3)}, non-finite {fmt.pct(nt)} of the long pass")
        if parts:
            items.append(f"`{name}`: " + "; ".join(parts) + ".")
        elif not fmt.is_missing(g):
            calm.append(f"`{name}`")
    if calm:
        items.append("Bounded at init (growth ≤ ×2 per 1 000 steps, Jacobian radius ≤ 1, no "
                     "gate over half saturated), and after training at the best LR: "
                     + ", ".join(calm) + ".")
    return items


def why_parts(flags: pd.DataFrame, table: pd.DataFrame, ctx: ResultsContext,
              options: dict[str, str]) -> list[Part]:
    """The "Why" section: per (arm, dataset), the diagnostics of the long pass at init and on
    the trained weights (:mod:`bench.diagnostics`), a table and one sentence per strategy."""
    cols = [c for c in WHY_COLUMNS if c in table.columns]
    measured = [c for c in cols if c != "nan_rate_init"]  # records without dynamics: no section
    if not measured or table[measured].isna().all().all():
        return []
    metrics = {m.name: m for m in sm.metric_registry()[0]}
    parts: list[Part] = [
        "## Why: dynamics at init and after training",
        "The 10 000-step forward pass at init, and the same pass on the trained weights at the "
        "best LR: growth of max |h| per 1 000 steps, spectral radius of the step Jacobian "
        "∂(h_t, c_t)/∂(h_{t−1}, c_{t−1}), the lag at which the gradient through time has "
        "fallen by 10³, and gate saturation (`bench/diagnostics.py`; definitions below)."]
    arm_now = None
    for arm, ds in ctx.panels:
        t = ctx.strategy_rows(ds, arm)
        if not len(t):
            continue
        if arm != arm_now:
            parts.append(_arm_heading(arm, options, "###"))
            arm_now = arm
        shown = pd.DataFrame({"strategy": t["strategy"].to_numpy()})
        for c in cols:
            shown[metrics[c].label if c in metrics else c] = [
                metrics[c].show(r) if c in metrics else _show(r[c]) for _, r in t.iterrows()]
        runs = flags[(flags["arm"] == arm) & (flags["dataset"] == ds)]
        parts += [f"#### Dataset `{ds}`", _bullets(why_sentences(t, runs)),
                  table_markdown(shown)]
    return parts


def channel_labels(dataset: str, channels: int, scale: float) -> list[str]:
    """``c0 (phi=0.5)``-style headers from the dataset's per-channel ``params``: its
    ``LABEL_PARAMS`` if it names them, else every 1-d parameter that varies across channels
    except the innovation variance ``q``; ``c<k>`` if there are none."""
    from bench import data

    try:
        ds = data.get(dataset)
        p = ds.params(channels, scale)
    except Exception:  # a dataset without per-channel parameters
        return [f"c{k}" for k in range(channels)]
    cols = {k: np.asarray(v, dtype=float) for k, v in p.items()
            if np.ndim(v) == 1 and len(v) == channels}
    names = getattr(ds.module, "LABEL_PARAMS", None) or [
        k for k, v in cols.items() if k != "q" and np.ptp(v) > 0]
    names = [n for n in names if n in cols]
    return [f"c{k} (" + ", ".join(f"{n}={fmt.num(cols[n][k], 3)}" for n in names) + ")"
            if names else f"c{k}" for k in range(channels)]


def per_channel(flags: pd.DataFrame, table: pd.DataFrame, arm: str,
                dataset: str) -> pd.DataFrame | None:
    """Strategy × channel table of median per-channel test ratios at each best LR (None when
    the runs carry no per-channel values)."""
    if "test_mse_channels" not in flags:
        return None
    best = table[(table["arm"] == arm) & (table["dataset"] == dataset)
                 & (table["kind"] == "strategy") & table["best_lr"].notna()]
    rows = []
    labels: list[str] = []
    for _, b in best.iterrows():
        g = flags[(flags["arm"] == arm) & (flags["dataset"] == dataset)
                  & (flags["strategy"] == b["strategy"])
                  & np.isclose(flags["lr"].astype(float), float(b["best_lr"]))]
        per = [np.asarray(m, float) / np.asarray(f, float) for m, f
               in zip(g["test_mse_channels"], g["bayes_channels"], strict=True)
               if m is not None and f is not None and len(m) and len(m) == len(f)]
        if not per:
            continue
        med = np.median(np.stack(per), axis=0)
        if not labels:
            cfg = g.iloc[0]
            labels = channel_labels(dataset, len(med), float(cfg.get("cfg.data_scale", 1.0)))
        rows.append({"strategy": b["strategy"],
                     **{lab: fmt.num(v, 3) for lab, v in zip(labels, med, strict=True)}})
    return pd.DataFrame(rows) if rows else None


# ------------------------------------------------------------------------------- rendering


def render_markdown(title: str, parts: list[Part]) -> str:
    """The Markdown report; figures as ``figures/<name>.png``."""
    out = [f"# {title}"]
    for p in parts:
        if isinstance(p, FigureBlock):
            out.append(f"![{p.name}](figures/{p.name}.png)\n\n*{p.caption}*")
        else:
            out.append(p)
    return "\n\n".join(out) + "\n"


def render_html(title: str, parts: list[Part], pngs: dict[str, bytes]) -> str:
    """The self-contained HTML report: each Markdown part rendered by markdown-it-py, figures
    embedded, inside ``templates/report.html.j2``."""
    env = jinja2.Environment(loader=jinja2.FileSystemLoader(TEMPLATES), autoescape=True,
                             keep_trailing_newline=True)
    sections: list[dict[str, Any]] = []
    for p in parts:
        if isinstance(p, FigureBlock):
            if p.name in pngs:
                sections.append({"figure": True, "name": p.name,
                                 "data": base64.b64encode(pngs[p.name]).decode("ascii"),
                                 "caption_html": MARKDOWN.renderInline(p.caption)})
        else:
            sections.append({"figure": False, "html": MARKDOWN.render(p)})
    return env.get_template("report.html.j2").render(title=title, sections=sections)


def png_bytes(fig: Figure, dpi: int) -> bytes:
    """The figure as PNG at ``dpi`` (Agg)."""
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=dpi)
    return buf.getvalue()


def figure_pngs(figures: dict[str, Figure], dpis: Sequence[int] = DPIS,
                budget: float = HTML_BUDGET,
                render: Callable[[Figure, int], bytes] = png_bytes) -> tuple[int, dict[str, bytes]]:
    """The figures as PNG at the first of ``dpis`` whose base64 (4/3 of the bytes) fits
    ``budget``, or at the last one; returns that DPI and the PNGs.

    A PNG's size grows at most as the pixel count, (dpi)²: flat areas and anti-aliased lines
    grow slower. So once the figures take S bytes at a DPI d₀, a DPI d with S (d/d₀)² over the
    budget cannot fit and is not rendered; every DPI that might fit is."""
    def fits(n_bytes: int, limit: float) -> bool:  # base64 takes 4/3 of the bytes
        return 4 * n_bytes <= 3 * limit

    rendered: tuple[int, int] | None = None  # (dpi, PNG bytes) of the last rendering
    for dpi in dpis[:-1]:
        # S (d/d₀)² over the budget, compared without rounding: cannot fit, not drawn
        if rendered is not None and not fits(rendered[1] * dpi**2, budget * rendered[0]**2):
            continue
        pngs = {name: render(fig, dpi) for name, fig in figures.items()}
        n = sum(len(p) for p in pngs.values())
        if fits(n, budget):
            return dpi, pngs
        rendered = (dpi, n)
    return dpis[-1], {name: render(fig, dpis[-1]) for name, fig in figures.items()}


def write_report(results_dir: str | Path) -> tuple[Path, Path]:
    """Write ``report.md`` (with ``figures/*.png``), ``report.html`` and ``summary.csv`` into
    ``results_dir``; return the report's paths. Every file is written atomically."""
    res = load_results(results_dir)
    title, parts, table, extra = build_document(res)
    _, pngs = figure_pngs({p.name: p.figure for p in parts if isinstance(p, FigureBlock)})
    root = res.root
    for name, data in pngs.items():
        write_atomic(root / "figures" / f"{name}.png", data)
    md_path, html_path = root / "report.md", root / "report.html"
    write_atomic(root / "summary.csv", table.to_csv(index=False).encode("utf-8"))
    for name, frame in extra.items():
        write_atomic(root / name, frame.to_csv(index=False).encode("utf-8"))
    write_atomic(md_path, render_markdown(title, parts).encode("utf-8"))
    write_atomic(html_path, render_html(title, parts, pngs).encode("utf-8"))
    return md_path, html_path


__all__ = ["write_report", "load_results", "build_document", "display_table", "table_markdown",
           "findings", "comparison_sentences", "still_improving_sentence", "why_sentences",
           "arm_options", "render_markdown", "render_html", "png_bytes", "figure_pngs", "Results",
           "FigureBlock"]
