"""The benchmark's summary: per-run flags, one row of metrics per (dataset, strategy), the sort
rule and the reference rows.

The per-run values (:func:`run_flags`) are defined here, in :data:`RUN_DEFINITIONS`. The
per-(dataset, strategy) metrics are plugins: one module per metric in ``bench/metrics/`` (or
under the entry-point group ``lstm_init_bench.metrics``), each with its definition, label,
direction and format (:class:`bench.metrics.Metric`). The summary's columns
(:func:`summary_columns`, also ``SUMMARY_COLUMNS``), the report's table and definitions and
``docs/metrics.md`` (:func:`write_metrics_doc`) are all generated from that registry.
"""

from __future__ import annotations

import warnings
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from bench.errors import PluginError, one_line
from bench.metrics import Cell, Metric
from bench.plugins import Kind, declared, discover

RUN_COLUMNS = ("dataset", "strategy", "lr", "seed", "diverged", "eval_mse", "eval_mse_init",
               "variance", "bayes_mse", "persistence_mse")
KEY_COLUMNS = ("dataset", "strategy", "kind")
REFERENCES = ("Bayes floor", "persistence", "mean predictor")

INPUT = (
    "Input: the table of runs (`runs.parquet` or `bench.store.Store.table`), one row per "
    "(dataset, strategy, lr, seed). \"Seeds\" are the seeds of one (dataset, strategy, lr) cell; "
    "\"bayes\", \"persistence\" and \"variance\" are the dataset's floors stored with each run "
    "(channel means of the Bayes-optimal one-step MSE, of the MSE of predicting x[t] by x[t-1], "
    "and of the variance, i.e. the MSE of always predicting the mean). Medians and quartiles use "
    "linear interpolation between order statistics (numpy's default)."
)

RUN_DEFINITIONS: tuple[tuple[str, str], ...] = (
    ("finite", "the run did not diverge in training (`diverged` is false) and `eval_mse` is "
               "finite."),
    ("improved", "`eval_mse < eval_mse_init` and `eval_mse < eval_variance`; a non-finite "
                 "`eval_mse_init` counts as +inf, so any finite `eval_mse` improves on a network "
                 "that was non-finite at init (it must still beat the mean predictor). "
                 "`eval_variance` is the evaluation data's own variance (the MSE of the best "
                 "constant predictor *on those data*), so a network that collapsed to a constant "
                 "output cannot count as improved; records without it fall back to the dataset's "
                 "theoretical `variance`."),
    ("usable", "`finite` and `improved`."),
    ("eval_ratio", "`eval_mse / bayes` (1.0 = the Bayes floor)."),
    ("gap_closed", "`(persistence - eval_mse) / (persistence - bayes)`: 0 = as good as "
                   "persistence, 1 = the Bayes floor."),
)

SORT_RULE = (
    "Sort rule, within each dataset: strategies with a usable LR first, then lower "
    "`divergence_rate`, then lower `best_ratio_median` (NaN last), then the name."
)

REFERENCE_ROWS = (
    "Reference rows per dataset, compared on the `eval_ratio` scale: \"Bayes floor\" (1.0), "
    "\"persistence\" (persistence / bayes) and \"mean predictor\" (variance / bayes); their "
    "`best_gap_closed` is 1, 0 and (persistence - variance) / (persistence - bayes). Their other "
    "metrics are blank."
)

DOC_COMMAND = "python -m bench docs"


# ---------------------------------------------------------------------------------- registry


def _load(name: str, module: Any, origin: str) -> Metric:
    metric = declared(module, origin, "METRIC", Metric, name)
    problems = metric.problems()
    if problems:
        raise PluginError(f"{origin}: {'; '.join(problems)}")
    return metric


KIND: Kind[Metric] = Kind("metrics", "bench.metrics", _load)


def metric_registry(entry_points: bool = True) -> tuple[list[Metric], dict[str, str]]:
    """Every metric, ordered by ``position`` then name, and the one-line errors of the broken
    metric modules (by name). ``entry_points=False``: the built-in ones only."""
    found, errors = discover(KIND)
    if not entry_points:
        builtin = {p.stem for p in KIND.folder.glob("*.py") if not p.stem.startswith("_")}
        found = {k: v for k, v in found.items() if k in builtin}
        errors = {k: v for k, v in errors.items() if k in builtin}
    clash: dict[str, str] = {}
    metrics: list[Metric] = []
    for m in sorted(found.values(), key=lambda m: (m.position, m.name)):
        taken = [c for c in m.columns if c in clash or c in KEY_COLUMNS]
        if taken:
            errors[m.name] = (f"metric {m.name!r}: column {taken[0]!r} is already "
                              f"{'a key column' if taken[0] in KEY_COLUMNS else 'taken'}")
            continue
        clash.update(dict.fromkeys(m.columns, m.name))
        metrics.append(m)
    return metrics, errors


def summary_columns(metrics: list[Metric] | None = None) -> tuple[str, ...]:
    """The summary table's columns: the key columns, then every metric's columns in order."""
    if metrics is None:
        metrics = metric_registry()[0]
    return (*KEY_COLUMNS, *(c for m in metrics for c in m.columns))


def __getattr__(name: str) -> Any:
    if name == "SUMMARY_COLUMNS":  # generated from the registry on each access
        return summary_columns()
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


# ----------------------------------------------------------------------------------- per run


def _as_float_array(value: Any) -> np.ndarray:
    """A per-layer cell (list, numpy array, scalar or missing) as a 1-d float array."""
    if value is None:
        return np.array([], dtype=float)
    arr = np.asarray(value, dtype=float)
    return arr.reshape(-1)


def layer_nonfinite(frac: Any, first: Any = None) -> tuple[np.ndarray, np.ndarray]:
    """Per layer: (fraction of non-finite h clipped to [0, 1], any non-finite h) at init.

    ``first`` (``init_first_nonfinite``, -1 = none) decides "any" exactly and zeroes the
    float32 round-off of layers without a non-finite value; without it "any" is ``frac > 0``.
    """
    f = np.clip(np.nan_to_num(_as_float_array(frac), nan=1.0), 0.0, 1.0)
    first_arr = _as_float_array(first)
    if first_arr.size == f.size and f.size:
        bad = first_arr >= 0
        f = np.where(bad, f, 0.0)
    else:
        bad = f > 0
    return f, bad


def ratios(mse: Any, bayes: Any, persistence: Any) -> tuple[Any, Any]:
    """``(eval_ratio, gap_closed)`` = ``(mse / bayes, (persistence - mse) / (persistence - bayes))``
    for scalars or arrays; the one definition used by the records and the summary."""
    return mse / bayes, (persistence - mse) / (persistence - bayes)


def run_flags(df: pd.DataFrame) -> pd.DataFrame:
    """A copy of ``df`` with the per-run columns ``finite``, ``improved``, ``usable``,
    ``eval_ratio`` and ``gap_closed`` (defined in :data:`RUN_DEFINITIONS`)."""
    missing = [c for c in RUN_COLUMNS if c not in df.columns]
    if missing:
        raise ValueError(f"run table lacks column(s) {', '.join(missing)}")
    out = df.copy()
    mse = pd.to_numeric(out["eval_mse"], errors="coerce").astype(float)
    init = pd.to_numeric(out["eval_mse_init"], errors="coerce").astype(float)
    init = init.where(np.isfinite(init), np.inf)
    variance = out["variance"].astype(float)
    if "eval_variance" in out.columns:
        variance = pd.to_numeric(out["eval_variance"], errors="coerce").fillna(variance)
    bayes = out["bayes_mse"].astype(float)
    persistence = out["persistence_mse"].astype(float)
    diverged = out["diverged"].astype(bool)
    out["finite"] = ~diverged & np.isfinite(mse)
    out["improved"] = (mse < init) & (mse < variance)
    out["usable"] = out["finite"] & out["improved"]
    with np.errstate(divide="ignore", invalid="ignore"):
        out["eval_ratio"], out["gap_closed"] = ratios(mse, bayes, persistence)
    return out


def seed_init_table(df: pd.DataFrame) -> pd.DataFrame:
    """One row per (dataset, strategy, seed): ``last_layer_nonfinite`` (fraction) and
    ``any_nonfinite`` (bool) of the forward pass at init (the same for every LR of a seed)."""
    cols = ["dataset", "strategy", "seed", "last_layer_nonfinite", "any_nonfinite"]
    if df.empty:
        return pd.DataFrame(columns=cols)
    first = df.groupby(["dataset", "strategy", "seed"], sort=True).first().reset_index()
    rows = []
    for _, r in first.iterrows():
        frac = r.get("init_nonfinite_frac")
        f, bad = layer_nonfinite(frac, r.get("init_first_nonfinite"))
        rows.append({"dataset": r["dataset"], "strategy": r["strategy"], "seed": r["seed"],
                     "last_layer_nonfinite": float(f[-1]) if f.size else np.nan,
                     "any_nonfinite": bool(bad.any()) if f.size else np.nan})
    return pd.DataFrame(rows, columns=cols)


def quantiles(values: pd.Series) -> tuple[float, float, float]:
    """``(median, q25, q75)`` of ``values`` (NaN for none)."""
    v = values.to_numpy(dtype=float)
    if v.size == 0:
        return np.nan, np.nan, np.nan
    q25, q50, q75 = np.quantile(v, [0.25, 0.5, 0.75])
    return float(q50), float(q25), float(q75)


LR_COLUMNS = ["dataset", "strategy", "lr", "all_usable", "all_finite", "ratio_median",
              "ratio_q25", "ratio_q75", "spread", "gap_closed_median"]


def lr_table(runs: pd.DataFrame) -> pd.DataFrame:
    """Per (dataset, strategy, lr) over seeds: ``all_usable``, ``all_finite``, the median and
    quartiles of ``eval_ratio``, ``spread`` (``(max - min) / median`` of ``eval_mse``) and the
    median ``gap_closed``.

    ``runs`` must carry :func:`run_flags`' columns.
    """
    rows = []
    for (ds, st, lr), g in runs.groupby(["dataset", "strategy", "lr"], sort=True):
        med, q25, q75 = quantiles(g["eval_ratio"])
        mse = g["eval_mse"].to_numpy(dtype=float)
        with np.errstate(divide="ignore", invalid="ignore"):
            spread = float((mse.max() - mse.min()) / np.median(mse))
        rows.append({
            "dataset": ds, "strategy": st, "lr": float(lr),
            "all_usable": bool(g["usable"].all()), "all_finite": bool(g["finite"].all()),
            "ratio_median": med, "ratio_q25": q25, "ratio_q75": q75, "spread": spread,
            "gap_closed_median": float(np.median(g["gap_closed"].to_numpy(dtype=float))),
        })
    return pd.DataFrame(rows, columns=LR_COLUMNS)


def cells(df: pd.DataFrame) -> list[Cell]:
    """One :class:`bench.metrics.Cell` per (dataset, strategy) of the run table ``df``."""
    runs = run_flags(df)
    per_lr = lr_table(runs)
    init = seed_init_table(runs)
    out = []
    for (ds, st), g in runs.groupby(["dataset", "strategy"], sort=True):
        sel_lr = per_lr[(per_lr["dataset"] == ds) & (per_lr["strategy"] == st)]
        sel_init = init[(init["dataset"] == ds) & (init["strategy"] == st)]
        out.append(Cell(dataset=str(ds), strategy=str(st), runs=g,
                        lrs=sel_lr.sort_values("lr", kind="mergesort"), init=sel_init))
    return out


# ------------------------------------------------------------------------------ per strategy


def _values(metric: Metric, cell: Cell) -> dict[str, Any]:
    """The metric's columns for one cell (raises on a malformed result)."""
    value = metric.compute(cell)
    if metric.quartiles:
        if not isinstance(value, tuple | list) or len(value) != 3:
            raise TypeError(f"returned {type(value).__name__}, expected (median, q25, q75)")
        return {c: float(v) for c, v in zip(metric.columns, value, strict=True)}
    return {metric.name: value if metric.format == "count" else float(value)}


def sort_summary(summary: pd.DataFrame) -> pd.DataFrame:
    """Order rows by :data:`SORT_RULE` (datasets alphabetically)."""
    if summary.empty:
        return summary.reset_index(drop=True)
    keyed = summary.assign(_no_usable=summary["max_usable_lr"].isna()
                           if "max_usable_lr" in summary else False)
    keys = [k for k in ("dataset", "_no_usable", "divergence_rate", "best_ratio_median",
                        "strategy") if k in keyed.columns]
    keyed = keyed.sort_values(keys, na_position="last", kind="mergesort")
    return keyed.drop(columns="_no_usable").reset_index(drop=True)


def summarize(df: pd.DataFrame, metrics: list[Metric] | None = None,
              errors: dict[str, str] | None = None) -> pd.DataFrame:
    """One row per (dataset, strategy) with every metric (``kind`` ``"strategy"``), sorted by
    :data:`SORT_RULE`.

    ``metrics``: default the registry (its broken modules are added to ``errors``). A metric whose
    ``compute`` raises is left out of the table and reported in ``errors`` (by name) if given,
    else as a warning; the others are kept.
    """
    if metrics is None:
        metrics, found_errors = metric_registry()
        if errors is not None:
            errors.update(found_errors)
    problems: dict[str, str] = {}
    rows = []
    for cell in cells(df):
        row: dict[str, Any] = {"dataset": cell.dataset, "strategy": cell.strategy,
                               "kind": "strategy"}
        for m in metrics:
            if m.name in problems:
                continue
            try:
                row.update(_values(m, cell))
            except Exception as e:  # a broken plugin must not take the summary down
                problems[m.name] = (f"metric {m.name!r} failed on ({cell.dataset}, "
                                    f"{cell.strategy}): {type(e).__name__}: {one_line(e)}")
        rows.append(row)
    good = [m for m in metrics if m.name not in problems]
    out = pd.DataFrame(rows, columns=list(summary_columns(good)))
    for m in good:
        if m.format == "count":
            out[m.name] = out[m.name].astype(int)
    if problems:
        if errors is not None:
            errors.update(problems)
        else:
            for text in problems.values():
                warnings.warn(text, RuntimeWarning, stacklevel=2)
    return sort_summary(out)


def floors(df: pd.DataFrame) -> pd.DataFrame:
    """Per dataset: ``bayes``, ``persistence`` and ``variance`` (median over its runs: they are
    the same for every run of a dataset)."""
    cols = {"bayes_mse": "bayes", "persistence_mse": "persistence", "variance": "variance"}
    if df.empty:
        return pd.DataFrame(columns=["dataset", *cols.values()])
    out = df.groupby("dataset", sort=True)[list(cols)].median().rename(columns=cols)
    return out.reset_index()


def reference_rows(df: pd.DataFrame, columns: tuple[str, ...] | None = None) -> pd.DataFrame:
    """Per dataset the rows of :data:`REFERENCE_ROWS` (``kind`` ``"reference"``), with the
    summary's ``columns`` (default :func:`summary_columns`)."""
    columns = columns or summary_columns()
    rows = []
    for _, f in floors(df).iterrows():
        b, p, v = float(f["bayes"]), float(f["persistence"]), float(f["variance"])
        with np.errstate(divide="ignore", invalid="ignore"):
            values = {"Bayes floor": (1.0, 1.0),
                      "persistence": (p / b, 0.0),
                      "mean predictor": (v / b, float(np.divide(p - v, p - b)))}
        for name in REFERENCES:
            ratio, gap = values[name]
            row = {"dataset": f["dataset"], "strategy": name, "kind": "reference",
                   "eval_ratio_median": ratio, "best_ratio_median": ratio,
                   "best_gap_closed": gap}
            rows.append({k: v for k, v in row.items() if k in columns})
    return pd.DataFrame(rows, columns=list(columns))


def summary_table(df: pd.DataFrame, metrics: list[Metric] | None = None,
                  errors: dict[str, str] | None = None) -> pd.DataFrame:
    """:func:`summarize` followed, within each dataset, by its :func:`reference_rows`."""
    if metrics is None:
        metrics, found_errors = metric_registry()
        if errors is not None:
            errors.update(found_errors)
    summary = summarize(df, metrics, errors)
    columns = tuple(summary.columns)
    refs = reference_rows(df, columns)
    parts = []
    for ds in sorted(set(summary["dataset"]) | set(refs["dataset"])):
        parts += [summary[summary["dataset"] == ds], refs[refs["dataset"] == ds]]
    parts = [p for p in parts if not p.empty]
    if not parts:
        return pd.DataFrame(columns=list(columns))
    with warnings.catch_warnings():  # all-NaN columns of the reference rows
        warnings.simplefilter("ignore", FutureWarning)
        out = pd.concat(parts, ignore_index=True)
    for m in metrics:
        if m.format == "count" and m.name in out.columns:
            out[m.name] = out[m.name].astype("Int64")  # missing on reference rows
    return out


# ------------------------------------------------------------------------------ definitions


def _direction(metric: Metric) -> str:
    return {"lower": "lower is better", "higher": "higher is better"}.get(metric.direction,
                                                                          "no direction")


def definitions_markdown(metrics: list[Metric] | None = None, level: int = 2) -> str:
    """The definitions as Markdown: input, per-run values, metrics, sort rule, reference rows.
    ``level``: the heading level of its sections."""
    if metrics is None:
        metrics = metric_registry()[0]
    h = "#" * level
    per_run = "\n".join(f"- `{name}`: {text}" for name, text in RUN_DEFINITIONS)
    per_cell = "\n".join(
        f"- `{m.name}`"
        + (f" (with `{'`, `'.join(m.columns[1:])}`)" if m.quartiles else "")
        + f", column \"{m.label}\" ({_direction(m)}): {m.description}"
        for m in metrics)
    return (f"{INPUT}\n\n{h} Per run\n\nComputed in one place, `bench.summary.run_flags`:\n\n"
            f"{per_run}\n\n{h} Per (dataset, strategy)\n\nOne module per metric in "
            f"`bench/metrics/` (or an entry point), in column order:\n\n{per_cell}\n\n"
            f"{h} Sort rule and reference rows\n\n{SORT_RULE}\n\n{REFERENCE_ROWS}\n")


HOW_TO_ADD = """\
## Adding a metric

Add one file, `bench/metrics/<name>.py`, where `<name>` is the summary column:

```python
from bench.metrics import Cell, Metric


def compute(cell: Cell) -> float:
    return float(cell.runs["eval_mse"].max())


METRIC = Metric(name="<name>", compute=compute, label="largest eval MSE", direction="lower",
                format="num", position=150, description="the largest `eval_mse` of the cell.")
```

`cell.runs` holds the (dataset, strategy)'s runs with the per-run columns below, `cell.lrs` its
per-LR table and `cell.init` its per-seed table at init (see `bench.metrics.Cell`). Return a
`(median, q25, q75)` triple and set `quartiles=True` for a metric with an IQR. Nothing else needs
editing: the summary table, the report and this page pick the metric up; regenerate this page
with `{command}`. A metric whose module fails to import, or whose `compute` raises, is listed
under "Failures" in the report and left out; the other metrics are unaffected.

Another installed package adds a metric through the entry-point group `lstm_init_bench.metrics`
(the entry point's name is the column), in its `pyproject.toml`:

```toml
[project.entry-points."lstm_init_bench.metrics"]
my_metric = "my_package.my_metric"
```

Figures work the same way: one module in `bench/figures/` defining
`FIGURE = FigureSpec(name, caption, draw, position)` with `draw(ctx: ResultsContext) -> Figure`,
or an entry point in the group `lstm_init_bench.figures`.
"""


def metrics_markdown() -> str:
    """The content of ``docs/metrics.md`` (built-in metrics only, so it does not depend on what
    else is installed)."""
    metrics = metric_registry(entry_points=False)[0]
    return (f"<!-- Generated by `{DOC_COMMAND}` (bench.summary.write_metrics_doc) from "
            "bench/metrics/; do not edit by hand. -->\n\n# Metrics\n\n"
            + HOW_TO_ADD.replace("{command}", DOC_COMMAND) + "\n## Definitions\n\n"
            + definitions_markdown(metrics, level=3))


def write_metrics_doc(path: str | Path) -> Path:
    """Write :func:`metrics_markdown` to ``path`` atomically; return the path."""
    from bench.store import write_atomic

    path = Path(path)
    write_atomic(path, metrics_markdown().encode("utf-8"))
    return path


__all__ = ["RUN_COLUMNS", "KEY_COLUMNS", "REFERENCES", "RUN_DEFINITIONS", "SORT_RULE",
           "REFERENCE_ROWS", "INPUT", "KIND", "Cell", "Metric", "metric_registry",
           "summary_columns", "run_flags", "layer_nonfinite", "ratios", "seed_init_table",
           "quantiles", "lr_table", "cells", "summarize", "sort_summary", "floors",
           "reference_rows", "summary_table", "definitions_markdown", "metrics_markdown",
           "write_metrics_doc"]
