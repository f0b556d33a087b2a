"""The benchmark's summary: per-run flags, one row of metrics per (arm, dataset, strategy), the
sort rule and the reference rows.

The per-run values (:func:`run_flags`) are defined here, in :data:`RUN_DEFINITIONS`. The
per-(arm, dataset, strategy) metrics are plugins: one module per metric in ``bench/metrics/``
(or under the entry-point group ``lstm_init_bench.metrics``), each with its definition, label,
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

RUN_COLUMNS = ("dataset", "strategy", "lr", "seed", "diverged", "test_mse", "test_mse_init",
               "val_mse", "val_mse_init", "val_curve", "val_steps", "variance", "bayes_mse",
               "persistence_mse")
FLAG_COLUMNS = ("finite", "usable", "test_ratio", "test_ratio_pooled", "val_ratio",
                "gap_closed", "steps_to_50", "steps_to_90", "val_auc", "still_improving")
GROUP = ["arm", "dataset", "strategy"]
KEY_COLUMNS = ("arm", "dataset", "strategy", "kind")
REFERENCES = ("Bayes floor", "persistence", "mean predictor")
DEFAULT_ARM = "default"
GAP_TARGETS = (0.5, 0.9)  # steps_to_50, steps_to_90: fractions of the persistence-to-Bayes gap
TAIL = 0.2  # still_improving looks at the last TAIL of the steps ...
MIN_GAIN = 0.01  # ... and asks for a relative fall of more than MIN_GAIN over it

INPUT = (
    "Input: the table of runs (`runs.parquet` or `bench.store.Store.table`), one row per "
    "(arm, dataset, strategy, lr, seed); an `arm` is a named group of run options (a table "
    f"without an `arm` column is one arm, `{DEFAULT_ARM}`). Every metric is computed per (arm, "
    "dataset, strategy); \"seeds\" are the seeds of one (arm, dataset, strategy, lr) cell. Each "
    "run is measured on two sets of sequences disjoint from its training data and from each "
    "other: *validation* (`val_*`; the learning rate is chosen and the learning curve measured "
    "there, without dropout) and *test* (`test_*`; every reported error). \"bayes\", "
    "\"persistence\" and \"variance\" are the dataset's exact floors stored with each run "
    "(channel means of the Bayes-optimal one-step MSE, of the MSE of predicting x[t] by x[t-1], "
    "and of the variance, i.e. the MSE of always predicting the mean). Medians and quartiles use "
    "linear interpolation between order statistics (numpy's default)."
)

RUN_DEFINITIONS: tuple[tuple[str, str], ...] = (
    ("finite", "the run did not diverge in training (`diverged` is false) and `test_mse` is "
               "finite."),
    ("usable", "`finite` and `test_mse < persistence`: the trained network beats predicting "
               "x[t] by x[t-1] on test. One bar for every strategy, whatever its error at init."),
    ("test_ratio", "the geometric mean over channels of `test_mse_channels[c] / "
                   "bayes_channels[c]` (1.0 = the Bayes floor on every channel): every channel "
                   "counts the same, whatever the size of its floor. A record without "
                   "per-channel values falls back to `test_ratio_pooled`."),
    ("test_ratio_pooled", "`test_mse / bayes`: MSE and floor pooled over channels (the "
                          "channels with the largest floors dominate it)."),
    ("val_ratio", "`val_mse / bayes`, on validation data."),
    ("gap_closed", "`(persistence - test_mse) / (persistence - bayes)`, on test: 0 = as good as "
                   "persistence, 1 = the Bayes floor."),
    ("steps_to_50", "the first `val_steps[i]` with `val_curve[i] <= persistence - 0.5 * "
                    "(persistence - bayes)` (half the persistence-to-Bayes gap closed on "
                    "validation); 0 if `val_mse_init` already meets it; NaN (censored: shown "
                    "as \"> N\" for a budget of N steps) if it is never reached."),
    ("steps_to_90", "the same with `0.9 * (persistence - bayes)`."),
    ("val_auc", "the area under the validation ratio curve per step: the trapezoid rule over "
                "the points `(0, val_mse_init / bayes)` and `(val_steps[i], val_curve[i] / "
                "bayes)`, divided by the run's total steps (the last `val_steps`), so a run "
                "flat at ratio r has `val_auc` r; NaN if any point is non-finite."),
    ("still_improving", "`finite`, and the mean of `val_curve` over its points after 80 % of "
                        "the total steps S is below `(1 - 0.01)` times its mean over the points "
                        "in (60 % S, 80 % S]: the validation MSE fell by more than 1 % over the "
                        "last 20 % of the budget, measured on window means so that one noisy "
                        "point does not decide it. False when a window is empty or holds a "
                        "non-finite point."),
)

SORT_RULE = (
    "Sort rule, within each (arm, dataset): strategies with a usable LR first, then lower "
    "`best_ratio_median` (NaN last), then the name. Arms and datasets in alphabetical order."
)

REFERENCE_ROWS = (
    "Reference rows per (arm, dataset), on the ratio scale (MSE / bayes): \"Bayes floor\" (1.0), "
    "\"persistence\" (persistence / bayes) and \"mean predictor\" (variance / bayes), in "
    "`usable_ratio_median`, `best_ratio_median` and `val_auc_median` (a predictor at a constant "
    "ratio r has AUC r); their `best_gap_closed` is 1, 0 and (persistence - variance) / "
    "(persistence - bayes). Their other metrics are blank."
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
    """A list cell (list, numpy array, scalar or missing) as a 1-d float array."""
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
    """``(ratio, gap_closed)`` = ``(mse / bayes, (persistence - mse) / (persistence - bayes))``
    for scalars or arrays; the one definition used by the records and the summary."""
    return mse / bayes, (persistence - mse) / (persistence - bayes)


def gap_target(fraction: float, bayes: float, persistence: float) -> float:
    """The MSE that closes ``fraction`` of the persistence-to-Bayes gap."""
    return persistence - fraction * (persistence - bayes)


def steps_to(curve: Any, steps: Any, init: float, target: float) -> float:
    """The first of ``steps`` whose ``curve`` value is ``<= target``; 0 if ``init`` already is;
    NaN if never (censored)."""
    if init <= target:
        return 0.0
    c, s = _as_float_array(curve), _as_float_array(steps)
    hit = np.flatnonzero(c <= target)
    return float(s[hit[0]]) if hit.size else np.nan


def curve_auc(curve: Any, steps: Any, init: float, bayes: float) -> float:
    """Area under ``(0, init / bayes), (steps[i], curve[i] / bayes)`` (trapezoid rule) divided
    by the last step; NaN if a point is non-finite or there is no step."""
    x = np.concatenate([[0.0], _as_float_array(steps)])
    y = np.concatenate([[init], _as_float_array(curve)]) / bayes
    if x.size < 2 or not (np.isfinite(x).all() and np.isfinite(y).all()) or x[-1] <= 0:
        return np.nan
    return float(np.sum((y[1:] + y[:-1]) / 2 * np.diff(x)) / x[-1])


def still_improving(curve: Any, steps: Any) -> bool:
    """The mean of ``curve`` over its last ``TAIL`` of the steps (points with step >
    (1 − TAIL)·S, S the last step) is below ``(1 - MIN_GAIN)`` × its mean over the ``TAIL``
    before (points with (1 − 2·TAIL)·S < step ≤ (1 − TAIL)·S). Means over windows, not two
    single points, so evaluation noise on one point does not decide it. False when a window is
    empty or a point in it is non-finite."""
    c, s = _as_float_array(curve), _as_float_array(steps)
    if c.size == 0 or not np.isfinite(s[-1]):
        return False
    last = c[s > (1 - TAIL) * s[-1]]
    before = c[(s > (1 - 2 * TAIL) * s[-1]) & (s <= (1 - TAIL) * s[-1])]
    if not (last.size and before.size and np.isfinite(last).all()
            and np.isfinite(before).all()):
        return False
    return bool(np.mean(last) < (1 - MIN_GAIN) * np.mean(before))


def with_arm(df: pd.DataFrame) -> pd.DataFrame:
    """A copy of ``df`` whose ``arm`` column is a string everywhere (:data:`DEFAULT_ARM` where
    the column or a value is missing)."""
    out = df.copy()
    arm = out["arm"] if "arm" in out.columns else pd.Series(DEFAULT_ARM, index=out.index)
    out["arm"] = [DEFAULT_ARM if a is None or a != a or a == "" else str(a) for a in arm]
    return out


def channel_score(r: Any, pooled: float) -> float:
    """The geometric mean over channels of ``test_mse_channels / bayes_channels`` of one run
    row ``r``; ``pooled`` when the row has no per-channel values; NaN if a channel's ratio is
    non-finite or not positive."""
    mse = _as_float_array(r.get("test_mse_channels", []))
    floor = _as_float_array(r.get("bayes_channels", []))
    if mse.size == 0 or mse.size != floor.size:
        return float(pooled)
    with np.errstate(divide="ignore", invalid="ignore"):
        ratio = mse / floor
    if not (np.isfinite(ratio).all() and (ratio > 0).all()):
        return np.nan
    return float(np.exp(np.mean(np.log(ratio))))


def _where(r: Any) -> str:
    return (f"run ({r['arm']}, {r['dataset']}, {r['strategy']}, lr {r['lr']:g}, "
            f"seed {r['seed']})")


def run_flags(df: pd.DataFrame) -> pd.DataFrame:
    """A copy of ``df`` with ``arm`` filled in (:func:`with_arm`) and the per-run columns of
    :data:`FLAG_COLUMNS` (defined in :data:`RUN_DEFINITIONS`).

    A table without one of :data:`RUN_COLUMNS` (an older protocol's ``eval_*`` table) raises a
    one-line ``ValueError`` naming the missing columns.
    """
    missing = [c for c in RUN_COLUMNS if c not in df.columns]
    if missing:
        older = " (an older protocol's table: regenerate it)" if "eval_mse" in df.columns else ""
        raise ValueError(f"run table lacks column(s) {', '.join(missing)}{older}")
    out = with_arm(df)
    mse = pd.to_numeric(out["test_mse"], errors="coerce").astype(float)
    val = pd.to_numeric(out["val_mse"], errors="coerce").astype(float)
    bayes = out["bayes_mse"].astype(float)
    persistence = out["persistence_mse"].astype(float)
    diverged = out["diverged"].astype(bool)
    out["finite"] = ~diverged & np.isfinite(mse)
    out["usable"] = out["finite"] & (mse < persistence)
    with np.errstate(divide="ignore", invalid="ignore"):
        out["test_ratio_pooled"], out["gap_closed"] = ratios(mse, bayes, persistence)
        out["test_ratio"] = [channel_score(r, pooled) for (_, r), pooled
                             in zip(out.iterrows(), out["test_ratio_pooled"], strict=True)]
        out["val_ratio"] = val / bayes
    val_init = pd.to_numeric(out["val_mse_init"], errors="coerce").astype(float)
    per_run: dict[str, list[Any]] = {"steps_to_50": [], "steps_to_90": [], "val_auc": [],
                                     "still_improving": []}
    for i, (_, r) in enumerate(out.iterrows()):
        curve, steps = _as_float_array(r["val_curve"]), _as_float_array(r["val_steps"])
        if curve.size != steps.size:
            raise ValueError(f"{_where(r)}: val_curve has {curve.size} points, val_steps "
                             f"{steps.size}")
        b, p, init = float(bayes.iloc[i]), float(persistence.iloc[i]), float(val_init.iloc[i])
        for f in GAP_TARGETS:
            per_run[f"steps_to_{round(100 * f)}"].append(
                steps_to(curve, steps, init, gap_target(f, b, p)))
        with np.errstate(divide="ignore", invalid="ignore"):
            per_run["val_auc"].append(curve_auc(curve, steps, init, b))
        per_run["still_improving"].append(bool(out["finite"].iloc[i])
                                          and still_improving(curve, steps))
    for name, values in per_run.items():
        out[name] = pd.Series(values, index=out.index,
                              dtype=bool if name == "still_improving" else float)
    return out


def seed_init_table(df: pd.DataFrame) -> pd.DataFrame:
    """One row per (arm, dataset, strategy, seed): ``last_layer_nonfinite`` (fraction) and
    ``any_nonfinite`` (bool) of the forward pass at init (the same for every LR of a seed)."""
    cols = [*GROUP, "seed", "last_layer_nonfinite", "any_nonfinite"]
    if df.empty:
        return pd.DataFrame(columns=cols)
    df = with_arm(df)
    first = df.groupby([*GROUP, "seed"], sort=True).first().reset_index()
    rows = []
    for _, r in first.iterrows():
        f, bad = layer_nonfinite(r.get("init_nonfinite_frac"), r.get("init_first_nonfinite"))
        rows.append({**{k: r[k] for k in (*GROUP, "seed")},
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


LR_COLUMNS = [*GROUP, "lr", "seeds", "all_usable", "all_finite", "ratio_median", "ratio_q25",
              "ratio_q75", "spread", "gap_closed_median", "val_ratio_median",
              "pooled_ratio_median"]


def usable_edge(all_usable: Any) -> tuple[int | None, bool]:
    """The largest usable LR of a cell from its per-LR flags ``all_usable`` (every seed usable),
    ordered by increasing LR: ``(index, censored)``.

    The usable LRs must form one block without holes: starting at the smallest LR where every
    seed is usable, walk upward while every seed stays usable; the last LR of that walk is the
    largest usable LR. LRs below the block (too small to train within the budget) are not
    holes. ``index`` is None when no LR is usable; ``censored`` is True when the walk reaches the
    largest LR run (the edge was not found).
    """
    ok = np.asarray(all_usable, dtype=bool)
    if not ok.any():
        return None, False
    start = int(np.argmax(ok))
    rest = ok[start:]
    n = len(rest) if rest.all() else int(np.argmin(rest))
    return start + n - 1, start + n == len(ok)


def lr_table(runs: pd.DataFrame) -> pd.DataFrame:
    """Per (arm, dataset, strategy, lr) over seeds: ``seeds``, ``all_usable``, ``all_finite``,
    the median and quartiles of ``test_ratio`` (``ratio_*``), ``spread`` (``(max - min) /
    median`` of ``test_mse``), the median ``gap_closed``, the median ``val_ratio`` and the
    median ``test_ratio_pooled``.

    ``runs`` must carry :func:`run_flags`' columns.
    """
    rows = []
    for (arm, ds, st, lr), g in runs.groupby([*GROUP, "lr"], sort=True):
        med, q25, q75 = quantiles(g["test_ratio"])
        mse = g["test_mse"].to_numpy(dtype=float)
        with np.errstate(divide="ignore", invalid="ignore"):
            spread = float((mse.max() - mse.min()) / np.median(mse))
        rows.append({
            "arm": arm, "dataset": ds, "strategy": st, "lr": float(lr),
            "seeds": int(g["seed"].nunique()),
            "all_usable": bool(g["usable"].all()), "all_finite": bool(g["finite"].all()),
            "ratio_median": med, "ratio_q25": q25, "ratio_q75": q75, "spread": spread,
            "gap_closed_median": float(np.median(g["gap_closed"].to_numpy(dtype=float))),
            "pooled_ratio_median": float(np.median(g["test_ratio_pooled"].to_numpy(dtype=float))),
            "val_ratio_median": float(np.median(g["val_ratio"].to_numpy(dtype=float))),
        })
    return pd.DataFrame(rows, columns=LR_COLUMNS)


def cells(df: pd.DataFrame) -> list[Cell]:
    """One :class:`bench.metrics.Cell` per (arm, dataset, strategy) of the run table ``df``."""
    runs = run_flags(df)
    per_lr = lr_table(runs)
    init = seed_init_table(runs)
    lr_groups = dict(list(per_lr.groupby(GROUP, sort=True)))
    init_groups = dict(list(init.groupby(GROUP, sort=True)))
    out = []
    for key, g in runs.groupby(GROUP, sort=True):
        arm, ds, st = key
        out.append(Cell(arm=str(arm), dataset=str(ds), strategy=str(st), runs=g,
                        lrs=lr_groups[key].sort_values("lr", kind="mergesort"),
                        init=init_groups.get(key, init.iloc[:0])))
    return out


# ------------------------------------------------------------------------------ per strategy


def _values(metric: Metric, cell: Cell) -> dict[str, Any]:
    """The metric's columns for one cell (raises on a malformed result)."""
    value = metric.compute(cell)
    if metric.quartiles:
        if not isinstance(value, tuple | list) or len(value) != 3:
            raise TypeError(f"returned {type(value).__name__}, expected (median, q25, q75)")
        return {c: float(v) for c, v in zip(metric.columns, value, strict=True)}
    if metric.format == "flag":
        return {metric.name: np.nan if value is None or value != value else bool(value)}
    return {metric.name: value if metric.format == "count" else float(value)}


def _typed(out: pd.DataFrame, metrics: list[Metric], missing: bool) -> pd.DataFrame:
    """Count columns as integers and flag columns as booleans (nullable with ``missing``)."""
    for m in metrics:
        if m.name not in out.columns:
            continue
        if m.format == "count":
            out[m.name] = out[m.name].astype("Int64" if missing else int)
        elif m.format == "flag":
            out[m.name] = out[m.name].astype("boolean")
    return out


def sort_summary(summary: pd.DataFrame) -> pd.DataFrame:
    """Order rows by :data:`SORT_RULE`."""
    if summary.empty:
        return summary.reset_index(drop=True)
    keyed = summary.assign(_no_usable=summary["max_usable_lr"].isna()
                           if "max_usable_lr" in summary else False)
    keys = [k for k in ("arm", "dataset", "_no_usable", "best_ratio_median", "strategy")
            if k in keyed.columns]
    keyed = keyed.sort_values(keys, na_position="last", kind="mergesort")
    return keyed.drop(columns="_no_usable").reset_index(drop=True)


def summarize(df: pd.DataFrame, metrics: list[Metric] | None = None,
              errors: dict[str, str] | None = None) -> pd.DataFrame:
    """One row per (arm, dataset, strategy) with every metric (``kind`` ``"strategy"``), sorted
    by :data:`SORT_RULE`.

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
        row: dict[str, Any] = {"arm": cell.arm, "dataset": cell.dataset,
                               "strategy": cell.strategy, "kind": "strategy"}
        for m in metrics:
            if m.name in problems:
                continue
            try:
                row.update(_values(m, cell))
            except Exception as e:  # a broken plugin must not take the summary down
                problems[m.name] = (f"metric {m.name!r} failed on ({cell.arm}, {cell.dataset}, "
                                    f"{cell.strategy}): {type(e).__name__}: {one_line(e)}")
        rows.append(row)
    good = [m for m in metrics if m.name not in problems]
    out = _typed(pd.DataFrame(rows, columns=list(summary_columns(good))), good, missing=False)
    if problems:
        if errors is not None:
            errors.update(problems)
        else:
            for text in problems.values():
                warnings.warn(text, RuntimeWarning, stacklevel=2)
    return sort_summary(out)


def floors(df: pd.DataFrame) -> pd.DataFrame:
    """Per (arm, dataset): ``bayes``, ``persistence`` and ``variance`` (median over its runs:
    they are the same for every run of a dataset), and ``floor_name`` (what ``bayes`` is: the
    "Bayes floor", or a real series' "AR(p) baseline")."""
    cols = {"bayes_mse": "bayes", "persistence_mse": "persistence", "variance": "variance"}
    if df.empty:
        return pd.DataFrame(columns=["arm", "dataset", *cols.values(), "floor_name"])
    df = with_arm(df)
    out = df.groupby(["arm", "dataset"], sort=True)[list(cols)].median()
    out = out.rename(columns=cols).reset_index()
    names = (df.groupby(["arm", "dataset"], sort=True)["floor_name"].first()
             if "floor_name" in df else None)
    out["floor_name"] = (["Bayes floor"] * len(out) if names is None else
                         [_floor_name(names.get((a, d)))
                          for a, d in zip(out["arm"], out["dataset"], strict=True)])
    return out


def _floor_name(name: Any) -> str:
    """A record's ``floor_name``; "Bayes floor" where it is missing (older records)."""
    return name if isinstance(name, str) and name else "Bayes floor"


def reference_rows(df: pd.DataFrame, columns: tuple[str, ...] | None = None) -> pd.DataFrame:
    """Per (arm, dataset) the rows of :data:`REFERENCE_ROWS` (``kind`` ``"reference"``), with
    the summary's ``columns`` (default :func:`summary_columns`)."""
    columns = columns or summary_columns()
    rows = []
    for _, f in floors(df).iterrows():
        # NumPy scalars: a zero floor gives inf or NaN under errstate, not ZeroDivisionError
        b, p, v = (np.float64(f[k]) for k in ("bayes", "persistence", "variance"))
        with np.errstate(divide="ignore", invalid="ignore"):
            values = {"Bayes floor": (1.0, 1.0),
                      "persistence": (p / b, 0.0),
                      "mean predictor": (v / b, float(np.divide(p - v, p - b)))}
        for name in REFERENCES:
            ratio, gap = values[name]
            label = f["floor_name"] if name == "Bayes floor" else name
            row = {"arm": f["arm"], "dataset": f["dataset"], "strategy": label,
                   "kind": "reference", "usable_ratio_median": ratio, "best_ratio_median": ratio,
                   "val_auc_median": ratio, "best_gap_closed": gap}
            rows.append({k: v for k, v in row.items() if k in columns})
    return pd.DataFrame(rows, columns=list(columns))


def summary_table(df: pd.DataFrame, metrics: list[Metric] | None = None,
                  errors: dict[str, str] | None = None) -> pd.DataFrame:
    """:func:`summarize` followed, within each (arm, dataset), by its :func:`reference_rows`."""
    if metrics is None:
        metrics, found_errors = metric_registry()
        if errors is not None:
            errors.update(found_errors)
    summary = summarize(df, metrics, errors)
    columns = tuple(summary.columns)
    refs = reference_rows(df, columns)
    parts = []
    keys = sorted(set(zip(summary["arm"], summary["dataset"], strict=True))
                  | set(zip(refs["arm"], refs["dataset"], strict=True)))
    for arm, ds in keys:
        parts += [summary[(summary["arm"] == arm) & (summary["dataset"] == ds)],
                  refs[(refs["arm"] == arm) & (refs["dataset"] == ds)]]
    parts = [p for p in parts if not p.empty]
    if not parts:
        return pd.DataFrame(columns=list(columns))
    with warnings.catch_warnings():  # all-NaN columns of the reference rows
        warnings.simplefilter("ignore", FutureWarning)
        out = pd.concat(parts, ignore_index=True)
    return _typed(out, metrics, missing=True)


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
        + (f", column \"{m.label}\"" if m.in_table else ", in `summary.csv` only")
        + f" ({_direction(m)}): {m.description}"
        for m in metrics)
    return (f"{INPUT}\n\n{h} Per run\n\nComputed in one place, `bench.summary.run_flags`:\n\n"
            f"{per_run}\n\n{h} Per (arm, dataset, strategy)\n\nOne module per metric in "
            f"`bench/metrics/` (or an entry point), in column order:\n\n{per_cell}\n\n"
            f"{h} Sort rule and reference rows\n\n{SORT_RULE}\n\n{REFERENCE_ROWS}\n")


HOW_TO_ADD = """\
## Adding a metric

Add one file, `bench/metrics/<name>.py`, where `<name>` is the summary column:

```python
from bench.metrics import Cell, Metric


def compute(cell: Cell) -> float:
    return float(cell.runs["test_mse"].max())


METRIC = Metric(name="<name>", compute=compute, label="largest test MSE", direction="lower",
                format="num", position=200, description="the largest `test_mse` of the cell.")
```

`cell.runs` holds the (arm, dataset, strategy)'s runs with the per-run columns below, `cell.lrs` its
per-LR table and `cell.init` its per-seed table at init (see `bench.metrics.Cell`). Return a
`(median, q25, q75)` triple and set `quartiles=True` for a metric with an IQR; `display` shows a
value differently (a censored one, say) and `in_table=False` keeps a column out of the report's
table (see `bench.metrics.Metric`). Nothing else needs
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


__all__ = ["RUN_COLUMNS", "FLAG_COLUMNS", "KEY_COLUMNS", "DEFAULT_ARM", "GAP_TARGETS",
           "REFERENCES", "RUN_DEFINITIONS", "SORT_RULE", "REFERENCE_ROWS", "INPUT", "KIND",
           "Cell", "Metric", "metric_registry", "summary_columns", "run_flags", "with_arm",
           "layer_nonfinite", "ratios", "gap_target", "steps_to", "curve_auc", "still_improving",
           "seed_init_table", "quantiles", "lr_table", "cells", "summarize", "sort_summary",
           "floors", "reference_rows", "summary_table", "definitions_markdown",
           "metrics_markdown", "write_metrics_doc"]
