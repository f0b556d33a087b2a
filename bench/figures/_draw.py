"""Drawing helpers shared by the figure modules."""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd
import seaborn as sns
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


def median_curves(ax: Any, ctx: ResultsContext, rows: pd.DataFrame, runs: pd.DataFrame,
                  pick: Any, frame: Any, y: str) -> pd.DataFrame | None:
    """Draw, for every strategy row of ``rows``, its ``runs`` at the LR ``pick(row)`` gives
    (``(lr, label)``, or None to skip the row) as long ``(seed, step, y)`` rows made by
    ``frame(runs at that LR)``: median over seeds with the min–max band, the strategy's colour.
    Returns the rows drawn (None when there is nothing to draw)."""
    frames, colors = [], {}
    for _, row in rows.iterrows():
        chosen = pick(row)
        if chosen is None:
            continue
        lr, label = chosen
        g = runs[(runs["strategy"] == row["strategy"]) & np.isclose(runs["lr"], lr)]
        f = frame(g).dropna(subset=[y])
        if f.empty:
            continue
        frames.append(f.assign(label=label))
        colors[label] = ctx.colors[row["strategy"]]
    if not frames:
        return None
    long = pd.concat(frames, ignore_index=True)
    sns.lineplot(data=long, x="step", y=y, hue="label", palette=colors, hue_order=list(colors),
                 estimator="median", errorbar=("pi", 100), ax=ax)
    ax.set_yscale("log")
    return long
