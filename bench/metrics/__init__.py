"""Summary metrics: one module per metric in this folder (files starting with ``_`` are skipped),
plus third-party modules under the entry-point group ``lstm_init_bench.metrics``.

A metric module defines ``METRIC = Metric(...)``; its name is the file stem (or the entry
point's name) and is the summary table's column. :mod:`bench.summary` discovers the modules
(:func:`bench.summary.metric_registry`), calls each ``compute`` once per (arm, dataset, strategy)
:class:`Cell` and orders the columns by ``position``. This package defines only the types; it
imports no metric module.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import pandas as pd

from bench import fmt

DIRECTIONS = ("lower", "higher", "none")


def flag(v: Any, missing: str = "") -> str:
    """A yes/no value (``"yes"``, ``"no"``; ``missing`` for a missing one)."""
    return missing if fmt.is_missing(v) else ("yes" if bool(v) else "no")


# format name -> the function that shows a value (``count``: an exact integer; ``flag``: a bool)
FORMATS: dict[str, Callable[..., str]] = {"num": fmt.num, "lr": fmt.lr, "pct": fmt.pct,
                                          "count": fmt.count, "flag": flag}


@dataclass(frozen=True)
class Cell:
    """What a metric sees: one (arm, dataset, strategy) of the run table.

    ``runs``: its runs (every LR and seed) with the per-run columns of
    :func:`bench.summary.run_flags` (``finite``, ``usable``, ``test_ratio``, ``val_ratio``,
    ``gap_closed``, ``steps_to_50``, ``steps_to_90``, ``val_auc``, ``still_improving``).
    ``lrs``: its rows of :func:`bench.summary.lr_table` (one per LR, sorted by LR: ``seeds``,
    ``all_usable``, ``all_finite``, ``ratio_median``, ``ratio_q25``, ``ratio_q75`` (of
    ``test_ratio``), ``spread``, ``gap_closed_median``, ``val_ratio_median``). ``init``: its
    rows of :func:`bench.summary.seed_init_table` (one per seed: ``last_layer_nonfinite``,
    ``any_nonfinite``).
    """

    arm: str
    dataset: str
    strategy: str
    runs: pd.DataFrame
    lrs: pd.DataFrame
    init: pd.DataFrame


@dataclass(frozen=True)
class Metric:
    """One summary metric.

    ``compute(cell)`` returns a number, or with ``quartiles`` a ``(median, q25, q75)`` triple,
    stored as the columns ``name``, ``<stem>_q25`` and ``<stem>_q75`` where ``<stem>`` is
    ``name`` without a trailing ``_median``. ``description``: the definition in Markdown.
    ``label``: the report's column header. ``direction``: which way is better (``"lower"``,
    ``"higher"`` or ``"none"``). ``format``: a key of :data:`FORMATS` (``"count"`` columns are
    integers, ``"flag"`` columns booleans). ``position``: the column order (ties by name).
    ``digits``: significant digits of ``"num"``; ``missing``: the text shown for a missing value
    (default: the format's own). ``display(row)``: optional text for a summary row that
    overrides the format (return None to use the format), e.g. ``"≥ 0.03"`` for a censored
    value. ``in_table``: False for a column kept in ``summary.csv`` but not shown as a column of
    the report's table (a flag another column's ``display`` reads). ``optional``: the column is
    left out of a report table in which it is missing for every strategy (a rule that was off).
    """

    name: str
    compute: Callable[[Cell], Any]
    description: str
    label: str
    direction: str
    format: str
    position: float
    quartiles: bool = False
    digits: int = 3
    missing: str | None = None
    display: Callable[[Any], str | None] | None = None
    in_table: bool = True
    optional: bool = False

    @property
    def columns(self) -> tuple[str, ...]:
        """The summary columns this metric fills."""
        if not self.quartiles:
            return (self.name,)
        stem = self.name.removesuffix("_median")
        return (self.name, f"{stem}_q25", f"{stem}_q75")

    def problems(self) -> list[str]:
        """What is wrong with the declaration (empty when it is valid)."""
        out = []
        if not self.name.isidentifier():
            out.append(f"name {self.name!r} is not an identifier")
        if not callable(self.compute):
            out.append("compute is not callable")
        if self.direction not in DIRECTIONS:
            out.append(f"direction {self.direction!r} is not one of {', '.join(DIRECTIONS)}")
        if self.format not in FORMATS:
            out.append(f"format {self.format!r} is not one of {', '.join(FORMATS)}")
        if self.quartiles and self.format != "num":
            out.append("quartiles need format 'num'")
        if not isinstance(self.position, int | float):
            out.append("position is not a number")
        if not self.description.strip() or not self.label.strip():
            out.append("description and label must not be empty")
        if self.display is not None and not callable(self.display):
            out.append("display is not callable")
        return out

    def show(self, row: Any, missing: str | None = None) -> str:
        """This metric's value(s) in ``row`` (a summary row) as text for the report."""
        if self.display is not None:
            text = self.display(row)
            if text is not None:
                return text
        if self.quartiles:
            return fmt.with_iqr(*(row.get(c) for c in self.columns), digits=self.digits)
        gap = missing if missing is not None else self.missing
        value = row.get(self.name)
        show = FORMATS[self.format]
        if self.format == "num":
            return show(value, self.digits) if gap is None else show(value, self.digits, gap)
        return show(value) if gap is None else show(value, missing=gap)


__all__ = ["Cell", "Metric", "FORMATS", "DIRECTIONS", "flag"]
