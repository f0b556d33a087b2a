"""Drawing helpers shared by the figure modules."""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd
from matplotlib.figure import Figure
from matplotlib.ticker import FuncFormatter, LogLocator, NullLocator

from bench.figures import ResultsContext


def new_figure(rows: int, cols: int, width: float, row_height: float) -> tuple[Figure, np.ndarray]:
    """A constrained-layout figure with a ``rows`` × ``cols`` array of axes."""
    fig = Figure(figsize=(width, max(2.0, row_height) * rows), layout="constrained")
    axes = np.asarray(fig.subplots(rows, cols, squeeze=False))
    return fig, axes


def note(ax: Any, text: str) -> None:
    """Grey text in the middle of an empty panel."""
    ax.text(0.5, 0.5, text, transform=ax.transAxes, ha="center", va="center", color="0.4")


def log_ticks(axis: Any) -> None:
    """Major ticks at 1, 2, 5 × 10^k labelled plainly (a log axis spanning < 1 decade would
    otherwise show a single label)."""
    axis.set_major_locator(LogLocator(base=10, subs=(1.0, 2.0, 5.0)))
    axis.set_major_formatter(FuncFormatter(lambda v, _: f"{v:g}"))
    axis.set_minor_locator(NullLocator())


def lr_ticks(ax: Any, lrs: list[float]) -> None:
    """The grid's learning rates as the x ticks, labelled as written."""
    ax.set_xticks(lrs, [f"{v:g}" for v in lrs])
    ax.minorticks_off()


def cfg(runs: pd.DataFrame, name: str) -> Any:
    """The first run's value of config field ``name`` (None when absent)."""
    col = f"cfg.{name}"
    if col in runs.columns and len(runs):
        return runs[col].iloc[0]
    return None


def max_strategies(ctx: ResultsContext) -> int:
    """Most strategies of any one (arm, dataset) panel (for figure heights)."""
    t = ctx.summary[ctx.summary["kind"] == "strategy"]
    return int(t.groupby(["arm", "dataset"]).size().max()) if len(t) else 1


def legend_right(ax: Any, **kwargs: Any) -> None:
    """The legend outside the axes, to the right."""
    ax.legend(loc="upper left", bbox_to_anchor=(1.01, 1.0), fontsize=8, frameon=False, **kwargs)
