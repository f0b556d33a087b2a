"""Metric definitions of the benchmark: one place, used by the report and quoted by the README.

Input: the table of runs (``runs.parquet`` or :meth:`bench.store.Store.table`), one row per
(dataset, strategy, lr, seed). "Seeds" below are the seeds of one (dataset, strategy, lr) cell;
"bayes", "persistence" and "variance" are the dataset's floors stored with each run (channel
means of the Bayes-optimal one-step MSE, of the MSE of predicting x[t] by x[t-1], and of the
variance, i.e. the MSE of always predicting the mean). Medians and quartiles use linear
interpolation between order statistics (numpy's default).

Per run:

- ``finite``: the run did not diverge in training (``diverged`` is false) and ``eval_mse`` is
  finite.
- ``improved``: ``eval_mse < eval_mse_init`` and ``eval_mse < eval_variance``; a non-finite
  ``eval_mse_init`` counts as +inf, so any finite ``eval_mse`` improves on a network that was
  non-finite at init (it must still beat the mean predictor). ``eval_variance`` is the
  evaluation data's own variance (the MSE of the best constant predictor *on those data*), so a
  network that collapsed to a constant output cannot count as improved; records without it fall
  back to the dataset's theoretical ``variance``.
- ``usable``: ``finite`` and ``improved``.
- ``eval_ratio``: ``eval_mse / bayes`` (1.0 = the Bayes floor).
- ``gap_closed``: ``(persistence - eval_mse) / (persistence - bayes)``: 0 = as good as
  persistence, 1 = the Bayes floor.

Per (dataset, strategy), by :func:`summarize`:

- ``nan_rate_init``: mean over seeds of the fraction of non-finite outputs (h) of the stack's
  last layer in the forward pass at init. A layer whose ``init_first_nonfinite`` is -1 counts as
  0.
- ``init_nonfinite_any``: fraction of seeds with a non-finite h in any layer at init
  (``init_first_nonfinite >= 0`` in some layer).
- ``divergence_rate``: fraction of all runs (every LR and seed) that diverged in training.
- ``stable_frac``: fraction of all runs (every LR and seed) that are ``finite``.
- ``usable_frac``: fraction of all runs (every LR and seed) that are ``usable``.
- ``max_usable_lr``: the largest LR of the grid at which every seed is ``usable``; NaN if there
  is none.
- ``eval_ratio_median``, ``eval_ratio_q25``, ``eval_ratio_q75``: median and quartiles over seeds
  of ``eval_ratio`` at ``max_usable_lr`` (NaN if none).
- ``eval_spread``: ``(max - min) / median`` over seeds of ``eval_mse`` at ``max_usable_lr``
  (0 with one seed; NaN if no usable LR).
- ``best_ratio_median``: the smallest, over the LRs at which every seed is ``finite``, of the
  median over seeds of ``eval_ratio``; NaN if no LR has every seed finite. ``best_lr`` is that
  LR (the smaller LR on a tie); ``best_ratio_q25`` and ``best_ratio_q75`` are the quartiles over
  seeds there, and ``best_gap_closed`` the median over seeds of ``gap_closed`` there.
- ``runs``, ``seeds``, ``lrs``: number of runs, distinct seeds and distinct LRs.

Sort rule (:func:`summarize`), within each dataset: strategies with a usable LR first, then
lower ``divergence_rate``, then lower ``best_ratio_median`` (NaN last), then the name.

Reference rows per dataset (:func:`reference_rows`), compared on the ``eval_ratio`` scale: "Bayes
floor" (1.0), "persistence" (persistence / bayes) and "mean predictor" (variance / bayes).
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import numpy as np
import pandas as pd

RUN_COLUMNS = ("dataset", "strategy", "lr", "seed", "diverged", "eval_mse", "eval_mse_init",
               "variance", "bayes_mse", "persistence_mse")

SUMMARY_COLUMNS = (
    "dataset", "strategy", "kind",
    "max_usable_lr", "eval_ratio_median", "eval_ratio_q25", "eval_ratio_q75", "eval_spread",
    "best_lr", "best_ratio_median", "best_ratio_q25", "best_ratio_q75", "best_gap_closed",
    "divergence_rate", "stable_frac", "usable_frac", "nan_rate_init", "init_nonfinite_any",
    "runs", "seeds", "lrs",
)

REFERENCES = ("Bayes floor", "persistence", "mean predictor")


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
    ``eval_ratio`` and ``gap_closed`` (see the module docstring)."""
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


def _quantiles(values: pd.Series) -> tuple[float, float, float]:
    v = values.to_numpy(dtype=float)
    if v.size == 0:
        return np.nan, np.nan, np.nan
    q25, q50, q75 = np.quantile(v, [0.25, 0.5, 0.75])
    return float(q50), float(q25), float(q75)


def lr_table(runs: pd.DataFrame) -> pd.DataFrame:
    """Per (dataset, strategy, lr) over seeds: ``all_usable``, ``all_finite``, the median and
    quartiles of ``eval_ratio``, ``eval_spread`` and the median ``gap_closed``.

    ``runs`` must carry :func:`run_flags`' columns.
    """
    rows = []
    for (ds, st, lr), g in runs.groupby(["dataset", "strategy", "lr"], sort=True):
        med, q25, q75 = _quantiles(g["eval_ratio"])
        mse = g["eval_mse"].to_numpy(dtype=float)
        with np.errstate(divide="ignore", invalid="ignore"):
            spread = float((mse.max() - mse.min()) / np.median(mse))
        rows.append({
            "dataset": ds, "strategy": st, "lr": float(lr),
            "all_usable": bool(g["usable"].all()), "all_finite": bool(g["finite"].all()),
            "ratio_median": med, "ratio_q25": q25, "ratio_q75": q75, "spread": spread,
            "gap_closed_median": float(np.median(g["gap_closed"].to_numpy(dtype=float))),
        })
    return pd.DataFrame(rows, columns=["dataset", "strategy", "lr", "all_usable", "all_finite",
                                       "ratio_median", "ratio_q25", "ratio_q75", "spread",
                                       "gap_closed_median"])


def _strategy_row(g: pd.DataFrame, per_lr: pd.DataFrame, init: pd.DataFrame) -> dict[str, Any]:
    row: dict[str, Any] = {
        "divergence_rate": float(g["diverged"].astype(bool).mean()),
        "stable_frac": float(g["finite"].mean()),
        "usable_frac": float(g["usable"].mean()),
        "nan_rate_init": float(init["last_layer_nonfinite"].astype(float).mean())
        if len(init) else np.nan,
        "init_nonfinite_any": float(init["any_nonfinite"].astype(float).mean())
        if len(init) else np.nan,
        "runs": int(len(g)), "seeds": int(g["seed"].nunique()), "lrs": int(g["lr"].nunique()),
    }
    usable = per_lr[per_lr["all_usable"]]
    at = usable.loc[usable["lr"].idxmax()] if len(usable) else None
    row.update(_pick(at, max_usable_lr="lr", eval_ratio_median="ratio_median",
                     eval_ratio_q25="ratio_q25", eval_ratio_q75="ratio_q75",
                     eval_spread="spread"))
    finite = per_lr[per_lr["all_finite"]].sort_values("lr")
    finite = finite[np.isfinite(finite["ratio_median"].to_numpy(dtype=float))]
    best = finite.loc[finite["ratio_median"].idxmin()] if len(finite) else None  # smaller LR
    row.update(_pick(best, best_lr="lr", best_ratio_median="ratio_median",
                     best_ratio_q25="ratio_q25", best_ratio_q75="ratio_q75",
                     best_gap_closed="gap_closed_median"))
    return row


def _pick(source: pd.Series | None, **columns: str) -> dict[str, Any]:
    """``{name: float(source[column])}``, or NaN for every name when ``source`` is None."""
    return {name: np.nan if source is None else float(source[col])
            for name, col in columns.items()}


def sort_summary(summary: pd.DataFrame) -> pd.DataFrame:
    """Order rows by the sort rule of the module docstring (datasets alphabetically)."""
    if summary.empty:
        return summary.reset_index(drop=True)
    keyed = summary.assign(_no_usable=summary["max_usable_lr"].isna())
    keyed = keyed.sort_values(
        ["dataset", "_no_usable", "divergence_rate", "best_ratio_median", "strategy"],
        na_position="last", kind="mergesort")
    return keyed.drop(columns="_no_usable").reset_index(drop=True)


def summarize(df: pd.DataFrame) -> pd.DataFrame:
    """One row per (dataset, strategy) with the metrics of the module docstring, sorted by its
    sort rule; ``kind`` is ``"strategy"``."""
    runs = run_flags(df)
    per_lr = lr_table(runs)
    init = seed_init_table(runs)
    rows = []
    for (ds, st), g in runs.groupby(["dataset", "strategy"], sort=True):
        sel_lr = per_lr[(per_lr["dataset"] == ds) & (per_lr["strategy"] == st)]
        sel_init = init[(init["dataset"] == ds) & (init["strategy"] == st)]
        rows.append({"dataset": ds, "strategy": st, "kind": "strategy",
                     **_strategy_row(g, sel_lr, sel_init)})
    out = pd.DataFrame(rows, columns=list(SUMMARY_COLUMNS))
    for c in ("runs", "seeds", "lrs"):
        out[c] = out[c].astype(int)
    return sort_summary(out)


def floors(df: pd.DataFrame) -> pd.DataFrame:
    """Per dataset: ``bayes``, ``persistence`` and ``variance`` (median over its runs: they are
    the same for every run of a dataset)."""
    cols = {"bayes_mse": "bayes", "persistence_mse": "persistence", "variance": "variance"}
    if df.empty:
        return pd.DataFrame(columns=["dataset", *cols.values()])
    out = df.groupby("dataset", sort=True)[list(cols)].median().rename(columns=cols)
    return out.reset_index()


def reference_rows(df: pd.DataFrame) -> pd.DataFrame:
    """Per dataset the rows "Bayes floor", "persistence" and "mean predictor" (``kind``
    ``"reference"``): their ``eval_ratio_median`` and ``best_ratio_median`` are 1.0,
    persistence / bayes and variance / bayes; ``best_gap_closed`` is 1, 0 and
    (persistence - variance) / (persistence - bayes)."""
    rows = []
    for _, f in floors(df).iterrows():
        b, p, v = float(f["bayes"]), float(f["persistence"]), float(f["variance"])
        with np.errstate(divide="ignore", invalid="ignore"):
            values = {"Bayes floor": (1.0, 1.0),
                      "persistence": (p / b, 0.0),
                      "mean predictor": (v / b, float(np.divide(p - v, p - b)))}
        for name in REFERENCES:
            ratio, gap = values[name]
            rows.append({"dataset": f["dataset"], "strategy": name, "kind": "reference",
                         "eval_ratio_median": ratio, "best_ratio_median": ratio,
                         "best_gap_closed": gap})
    return pd.DataFrame(rows, columns=list(SUMMARY_COLUMNS))


def summary_table(df: pd.DataFrame) -> pd.DataFrame:
    """:func:`summarize` followed, within each dataset, by its :func:`reference_rows`."""
    summary, refs = summarize(df), reference_rows(df)
    parts = []
    for ds in sorted(set(summary["dataset"]) | set(refs["dataset"])):
        parts += [summary[summary["dataset"] == ds], refs[refs["dataset"] == ds]]
    parts = [p for p in parts if not p.empty]
    if not parts:
        return pd.DataFrame(columns=list(SUMMARY_COLUMNS))
    out = pd.concat(parts, ignore_index=True)
    for c in ("runs", "seeds", "lrs"):
        out[c] = out[c].astype("Int64")  # missing on reference rows
    return out


def definitions(doc: str | None = None) -> list[tuple[str, str]]:
    """The ``- ``name``: text`` bullets of the module docstring, as (names, text) pairs."""
    items: list[tuple[str, str]] = []
    in_bullet = False
    for line in (doc if doc is not None else __doc__ or "").splitlines():
        stripped = line.strip()
        if line.startswith("- ``") and "``:" in line:
            head, text = stripped[2:].split(":", 1)
            items.append((head.strip(), text.strip()))
            in_bullet = True
        elif in_bullet and line.startswith("  ") and stripped:
            name, text = items[-1]
            items[-1] = (name, f"{text} {stripped}")
        else:
            in_bullet = False
    return items


def doc_paragraph(start: str, doc: str | None = None) -> str:
    """The docstring paragraph that begins with ``start``, joined into one line."""
    text = doc if doc is not None else __doc__ or ""
    for para in text.split("\n\n"):
        if para.strip().startswith(start):
            return " ".join(line.strip() for line in para.strip().splitlines())
    return ""


def metric_names(items: Iterable[tuple[str, str]] | None = None) -> list[str]:
    """Every metric name defined in the docstring's bullets."""
    names = []
    for head, _ in items if items is not None else definitions():
        names += [part.strip().strip("`") for part in head.split(",")]
    return names


__all__ = ["RUN_COLUMNS", "SUMMARY_COLUMNS", "REFERENCES", "run_flags", "layer_nonfinite",
           "seed_init_table", "lr_table", "summarize", "sort_summary", "floors",
           "reference_rows", "summary_table", "definitions", "doc_paragraph", "metric_names"]
