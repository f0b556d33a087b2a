"""The largest learning rate at which every seed is usable, per strategy."""

from __future__ import annotations

import pandas as pd
from matplotlib.figure import Figure

from bench import fmt
from bench.figures import FigureSpec, ResultsContext
from bench.figures._draw import lr_ticks, max_strategies, new_figure, note

CAPTION = (
    "Largest learning rate of the grid at which every seed is usable (finite, better than at "
    "init and better than the mean predictor); log scale, grid LRs as grey lines; 'none usable' "
    "= no such LR."
)


def draw(ctx: ResultsContext) -> Figure:
    n = max_strategies(ctx)
    fig, axes = new_figure(len(ctx.datasets), 1, 8.5, 0.9 + 0.3 * max(n, 2))
    for ax, ds in zip(axes[:, 0], ctx.datasets, strict=True):
        t = ctx.strategy_rows(ds).reset_index()
        lrs = sorted(ctx.dataset_runs(ds)["lr"].unique())
        if not lrs:
            note(ax, "no runs")
            continue
        left = lrs[0] / 3
        ax.set_xscale("log")
        ax.set_xlim(left, lrs[-1] * 2)
        for lr in lrs:
            ax.axvline(lr, color="0.85", lw=0.8, zorder=0)
        for i, r in t.iterrows():
            v = r["max_usable_lr"]
            if pd.notna(v):
                ax.barh(i, float(v) - left, left=left, color=ctx.colors[r["strategy"]],
                        height=0.7)
                ax.text(float(v) * 1.08, i, fmt.lr(v), va="center", fontsize=8)
            else:
                ax.text(left * 1.1, i, "none usable", va="center", fontsize=8, color="#c0392b")
        ax.set_yticks(range(len(t)), list(t["strategy"]))
        ax.set_ylim(len(t) - 0.5, -0.5)
        lr_ticks(ax, lrs)
        ax.grid(False, axis="y")
        ax.set_xlabel("learning rate (grid)")
        ax.set_title(f"{ds}: largest learning rate at which every seed is usable")
    return fig


FIGURE = FigureSpec(name="usable_lr", caption=CAPTION, draw=draw, position=30)
