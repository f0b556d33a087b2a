"""Helpers shared by the metric modules: the LR a group of metrics is read at."""

from __future__ import annotations

import numpy as np
import pandas as pd

from bench.metrics import Cell


def at_max_usable_lr(cell: Cell) -> pd.Series | None:
    """The cell's :func:`bench.summary.lr_table` row at the largest LR where every seed is
    usable; None if there is none."""
    usable = cell.lrs[cell.lrs["all_usable"].astype(bool)]
    return usable.loc[usable["lr"].idxmax()] if len(usable) else None


def at_best_lr(cell: Cell) -> pd.Series | None:
    """The row with the smallest median ``eval_ratio`` among the LRs where every seed is finite
    (the smaller LR on a tie); None if no LR has every seed finite."""
    finite = cell.lrs[cell.lrs["all_finite"].astype(bool)].sort_values("lr")
    finite = finite[np.isfinite(finite["ratio_median"].to_numpy(dtype=float))]
    return finite.loc[finite["ratio_median"].idxmin()] if len(finite) else None


def value(row: pd.Series | None, column: str) -> float:
    """``float(row[column])``, or NaN when ``row`` is None."""
    return np.nan if row is None else float(row[column])


def triple(row: pd.Series | None, prefix: str = "ratio") -> tuple[float, float, float]:
    """``(median, q25, q75)`` of ``<prefix>_median/_q25/_q75`` in ``row`` (NaN when None)."""
    return (value(row, f"{prefix}_median"), value(row, f"{prefix}_q25"),
            value(row, f"{prefix}_q75"))
