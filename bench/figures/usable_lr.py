"""The largest learning rate at which, and at every smaller one, every seed is usable."""

from __future__ import annotations

import pandas as pd
from matplotlib.figure import Figure

from bench import fmt
from bench.figures import FigureSpec, ResultsContext
from bench.figures._draw import lr_ticks, max_strategies, new_figure, note

CAPTION = (
    "Largest learning rate L such that every seed is usable (finite and below the persistence "
    "MSE on test) at L and at every LR run between the smallest such LR and L (no holes), per "
    "arm and dataset; log scale, the LRs run as grey lines; '≥' and an open end = usable at "
    "the largest LR run (censored: the edge was not found); 'none usable' = no LR at which "
    "every seed is usable."
)


def draw(ctx: ResultsContext) -> Figure:
    n = max_strategies(ctx)
    fig, axes = new_figure(len(ctx.panels), 1, 8.5, 0.9 + 0.3 * max(n, 2))
    for ax, (arm, ds) in zip(axes[:, 0], ctx.panels, strict=True):
        t = ctx.strategy_rows(ds, arm).reset_index()
        lrs = sorted(ctx.panel_runs(ds, arm)["lr"].unique())
        ax.set_title(f"{ctx.title(arm, ds)}: largest usable learning rate (no holes below it)")
        if not lrs:
            note(ax, "no runs")
            continue
        left = lrs[0] / 3
        ax.set_xscale("log")
        ax.set_xlim(left, lrs[-1] * 8)
        for lr in lrs:
            ax.axvline(lr, color="0.85", lw=0.8, zorder=0)
        for i, r in t.iterrows():
            v = r["max_usable_lr"]
            censored = bool(r.get("max_usable_censored")) if pd.notna(
                r.get("max_usable_censored")) else False
            if pd.notna(v):
                color = ctx.colors[r["strategy"]]
                ax.barh(i, float(v) - left, left=left, color=color, height=0.7)
                if censored:
                    ax.annotate("", xy=(float(v) * 2.2, i), xytext=(float(v), i),
                                arrowprops={"arrowstyle": "->", "color": color, "lw": 1.5})
                text = f"≥ {fmt.lr(v)}" if censored else fmt.lr(v)
                ax.text(float(v) * (2.4 if censored else 1.08), i, text, va="center",
                        fontsize=8)
            else:
                ax.text(left * 1.1, i, "none usable", va="center", fontsize=8, color="#c0392b")
        ax.set_yticks(range(len(t)), list(t["strategy"]))
        ax.set_ylim(len(t) - 0.5, -0.5)
        lr_ticks(ax, lrs)
        ax.grid(False, axis="y")
        ax.set_xlabel("learning rate (as run)")
    return fig


FIGURE = FigureSpec(name="usable_lr", caption=CAPTION, draw=draw, position=30)
