"""Helpers shared by the metric modules: the LR a group of metrics is read at, and medians of
censored values."""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from bench import fmt
from bench.metrics import Cell, Metric


def max_usable(cell: Cell) -> tuple[pd.Series | None, bool]:
    """``(row, censored)``: the cell's :func:`bench.summary.lr_table` row at its largest usable
    LR (:func:`bench.summary.usable_edge`; None if no LR is usable), and whether that is the
    largest LR run (the edge was not found)."""
    from bench.summary import usable_edge

    lrs = cell.lrs.sort_values("lr", kind="mergesort")
    index, censored = usable_edge(lrs["all_usable"].astype(bool).to_numpy())
    return (None, False) if index is None else (lrs.iloc[index], censored)


def at_max_usable_lr(cell: Cell) -> pd.Series | None:
    """The :func:`max_usable` row; None if there is none."""
    return max_usable(cell)[0]


def at_best_lr(cell: Cell) -> pd.Series | None:
    """The row with the smallest median ``val_ratio`` (validation data) among the LRs where
    every seed is finite (the smaller LR on a tie); None if there is none."""
    finite = cell.lrs[cell.lrs["all_finite"].astype(bool)].sort_values("lr", kind="mergesort")
    finite = finite[np.isfinite(finite["val_ratio_median"].to_numpy(dtype=float))]
    if not len(finite):
        return None
    return finite.iloc[int(np.argmin(finite["val_ratio_median"].to_numpy(dtype=float)))]


def runs_at(cell: Cell, row: pd.Series | None) -> pd.DataFrame:
    """The cell's runs at ``row``'s LR (none when ``row`` is None)."""
    if row is None:
        return cell.runs.iloc[:0]
    return cell.runs[cell.runs["lr"].astype(float) == float(row["lr"])]


def value(row: pd.Series | None, column: str) -> float:
    """``float(row[column])``, or NaN when ``row`` is None."""
    return np.nan if row is None else float(row[column])


def triple(row: pd.Series | None, prefix: str = "ratio") -> tuple[float, float, float]:
    """``(median, q25, q75)`` of ``<prefix>_median/_q25/_q75`` in ``row`` (NaN when None)."""
    return (value(row, f"{prefix}_median"), value(row, f"{prefix}_q25"),
            value(row, f"{prefix}_q75"))


def median_inf(values: pd.Series) -> float:
    """The median with NaN counted as +inf (inf when at least half are missing; NaN for no
    values)."""
    v = values.to_numpy(dtype=float)
    if v.size == 0:
        return np.nan
    return float(np.median(np.where(np.isnan(v), np.inf, v)))


def censored_median(values: pd.Series) -> tuple[float, bool]:
    """``(median, censored)`` of per-seed values where NaN means "not reached within the budget":
    NaN counts as +inf; an infinite median is returned as ``(NaN, True)``."""
    m = median_inf(values)
    return (np.nan, True) if np.isinf(m) else (m, False)


def budget_text(row: Any) -> str:
    """The run budget of a summary row (its ``steps``) as text."""
    steps = row.get("steps")
    return fmt.count(steps) if not fmt.is_missing(steps) else "the budget"


def is_true(v: Any) -> bool:
    """A flag cell that is present and true."""
    return not fmt.is_missing(v) and bool(v)


def steps_to_target(percent: int, position: float) -> tuple[Metric, Metric]:
    """The pair of metrics of one time-to-target column: ``steps_to_<p>_median`` (median over
    seeds at ``best_lr`` of ``steps_to_<p>``, censored seeds counting as +inf) and
    ``steps_to_<p>_censored`` (that median is infinite), at ``position`` and ``position + 1``."""
    col, median, flag = f"steps_to_{percent}", f"steps_to_{percent}_median", \
        f"steps_to_{percent}_censored"

    def compute_median(cell: Cell) -> float:
        return censored_median(runs_at(cell, at_best_lr(cell))[col])[0]

    def compute_flag(cell: Cell) -> bool | float:
        row = at_best_lr(cell)
        return censored_median(runs_at(cell, row)[col])[1] if row is not None else np.nan

    def display(row: Any) -> str | None:
        """``> budget`` when the median seed did not reach the target within the budget."""
        return f"> {budget_text(row)}" if is_true(row.get(flag)) else None

    return (
        Metric(name=median, compute=compute_median, label=f"steps to {percent} % of gap (val)",
               direction="lower", format="num", digits=6, position=position, display=display,
               description=f"median over seeds at `best_lr` of `{col}`, a seed that never "
                           "reached the target counting as +inf. When that median is infinite "
                           f"it is censored: NaN here, `{flag}` true, shown as \"> N\" with N "
                           "the `steps` of a run. NaN (not censored) if there is no `best_lr`."),
        Metric(name=flag, compute=compute_flag, label=f"steps to {percent} % censored",
               direction="none", format="flag", position=position + 1, in_table=False,
               description=f"true when `{median}` is censored (at least half the seeds at "
                           "`best_lr` never reached the target within the budget); missing if "
                           "there is no `best_lr`. Not a column of the report's table: shown as "
                           f"\"> N\" in `{median}`."),
    )


def per_seed_layer_max(cell: Cell, column: str) -> pd.Series:
    """Per seed (one row each: the init pass is the same for every LR of a seed), the largest
    finite value over layers of the per-layer list ``column``; NaN where a seed has none."""
    if column not in cell.runs or not len(cell.runs):
        return pd.Series(dtype=float)
    first = cell.runs.groupby("seed", sort=True).first()
    return first[column].map(_layer_max)


def best_lr_layer_max(cell: Cell, column: str) -> pd.Series:
    """Per run at ``best_lr``, the largest finite value over layers of ``column`` (NaN for a
    run without the list, e.g. one not at its chunk's best LR)."""
    runs = runs_at(cell, at_best_lr(cell))
    if column not in runs or not len(runs):
        return pd.Series(dtype=float)
    return runs[column].map(_layer_max)


def _layer_max(values: Any) -> float:
    if values is None or (not isinstance(values, list | tuple | np.ndarray)) or len(values) == 0:
        return np.nan
    v = np.asarray([np.nan if x is None else x for x in values], dtype=float)
    v = v[~np.isnan(v)]
    return float(v.max()) if v.size else np.nan
