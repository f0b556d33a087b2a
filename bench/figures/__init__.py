"""The report's figures: one module per figure in this folder (files starting with ``_`` are
skipped), plus third-party modules under the entry-point group ``lstm_init_bench.figures``.

A figure module defines ``FIGURE = FigureSpec(name, caption, draw, position)``; its name is the
file stem (or the entry point's name) and the PNG's file name. Every ``draw`` takes one
:class:`ResultsContext` and returns a :class:`matplotlib.figure.Figure` (no pyplot state; the
report applies the seaborn style and renders it with Agg). The figure with the smallest
``position`` is the report's main figure. This package defines only the types; it imports no
figure module.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

import pandas as pd
import seaborn as sns
from matplotlib.figure import Figure

from bench.errors import PluginError
from bench.plugins import Kind, declared, discover


def palette(strategies: Iterable[str]) -> tuple[dict[str, Any], dict[str, str]]:
    """Fixed colour and marker per strategy (alphabetical, so they agree across figures)."""
    names = sorted(set(strategies))
    base = sns.color_palette("tab10") + sns.color_palette("Dark2")
    colors = base if len(names) <= len(base) else sns.color_palette("husl", len(names))
    markers = ["o", "s", "^", "D", "v", "P", "X", "<", ">", "p", "h", "*", "d", "8"]
    return ({n: colors[i] for i, n in enumerate(names)},
            {n: markers[i % len(markers)] for i, n in enumerate(names)})


@dataclass(frozen=True)
class ResultsContext:
    """What every figure is drawn from.

    ``runs``: the run table with :func:`bench.summary.run_flags`' columns (``arm`` filled in).
    ``summary``: :func:`bench.summary.summary_table` (``kind`` ``"strategy"`` rows in the sort
    order, then the ``"reference"`` rows, per (arm, dataset)). ``panels``: the sorted (arm,
    dataset) pairs, one row of panels each; ``arms`` and ``datasets``: the sorted names.
    ``colors``, ``markers``: one per strategy (:func:`palette`). The selectors take the dataset
    first and the arm as an optional second argument (None: every arm).
    """

    runs: pd.DataFrame
    summary: pd.DataFrame
    panels: list[tuple[str, str]]
    arms: list[str]
    datasets: list[str]
    colors: dict[str, Any]
    markers: dict[str, str]

    @classmethod
    def build(cls, runs: pd.DataFrame, summary: pd.DataFrame) -> ResultsContext:
        """A context from flagged runs and their summary table."""
        colors, markers = palette(runs["strategy"])
        panels = sorted({(str(a), str(d)) for a, d in zip(runs["arm"], runs["dataset"],
                                                           strict=True)})
        return cls(runs=runs, summary=summary, panels=panels,
                   arms=sorted({a for a, _ in panels}), datasets=sorted({d for _, d in panels}),
                   colors=colors, markers=markers)

    def title(self, arm: str, dataset: str) -> str:
        """A panel's name: the dataset, prefixed by the arm when there are several arms."""
        return dataset if len(self.arms) == 1 else f"{arm} / {dataset}"

    def _select(self, table: pd.DataFrame, dataset: str, arm: str | None) -> pd.Series:
        keep = table["dataset"] == dataset
        return keep if arm is None else keep & (table["arm"] == arm)

    def strategy_rows(self, dataset: str, arm: str | None = None) -> pd.DataFrame:
        """The (arm, dataset)'s strategy rows of the summary, in its order (every arm's, arm by
        arm, when ``arm`` is None)."""
        t = self.summary
        return t[self._select(t, dataset, arm) & (t["kind"] == "strategy")]

    def panel_runs(self, dataset: str, arm: str | None = None) -> pd.DataFrame:
        """The (arm, dataset)'s runs (every arm's when ``arm`` is None)."""
        return self.runs[self._select(self.runs, dataset, arm)]

    def floor_name(self, dataset: str, arm: str | None = None) -> str:
        """What the ratio's denominator is for (arm, dataset): "Bayes floor" for a synthetic
        process, a real series' "AR(p) baseline" (``floor_name`` of its records)."""
        from bench.summary import floors

        f = floors(self.panel_runs(dataset, arm))
        return str(f["floor_name"].iloc[0]) if len(f) else "Bayes floor"

    def denominator(self, dataset: str, arm: str | None = None) -> str:
        """The ratio's denominator in axis labels: "Bayes MSE", or "AR(p) baseline MSE"."""
        name = self.floor_name(dataset, arm)
        return "Bayes MSE" if name == "Bayes floor" else f"{name} MSE"

    def references(self, dataset: str, arm: str | None = None) -> dict[str, float]:
        """The reference predictors of the (arm, dataset) on the ratio scale (MSE / bayes):
        "Bayes floor", "persistence" and "mean predictor" (empty without runs)."""
        from bench.summary import floors

        f = floors(self.panel_runs(dataset, arm))
        if f.empty:
            return {}
        bayes, persistence, variance = (float(f[c].median())
                                        for c in ("bayes", "persistence", "variance"))
        return {"Bayes floor": 1.0, "persistence": persistence / bayes,
                "mean predictor": variance / bayes}


@dataclass(frozen=True)
class FigureSpec:
    """One figure of the report: ``name`` (the PNG's stem), ``caption`` (Markdown, shown under
    it), ``draw(ctx) -> Figure`` and ``position`` (the order; the smallest is the main
    figure)."""

    name: str
    caption: str
    draw: Callable[[ResultsContext], Figure]
    position: float


def _load(name: str, module: Any, origin: str) -> FigureSpec:
    spec = declared(module, origin, "FIGURE", FigureSpec, name)
    if not callable(spec.draw):
        raise PluginError(f"{origin}: FIGURE.draw is not callable")
    if not isinstance(spec.caption, str) or not spec.caption.strip():
        raise PluginError(f"{origin}: FIGURE.caption must be a non-empty string")
    if not isinstance(spec.position, int | float):
        raise PluginError(f"{origin}: FIGURE.position is not a number")
    return spec


KIND: Kind[FigureSpec] = Kind("figures", "bench.figures", _load)


def figure_registry() -> tuple[list[FigureSpec], dict[str, str]]:
    """Every figure, ordered by ``position`` then name, and the one-line errors of the broken
    figure modules (by name)."""
    found, errors = discover(KIND)
    return sorted(found.values(), key=lambda f: (f.position, f.name)), errors


__all__ = ["FigureSpec", "ResultsContext", "KIND", "figure_registry", "palette"]
