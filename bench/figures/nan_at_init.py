"""Non-finite hidden state in the forward pass at init, per strategy."""

from __future__ import annotations

import seaborn as sns
from matplotlib.figure import Figure

from bench import fmt
from bench.figures import FigureSpec, ResultsContext
from bench.figures._draw import legend_right, max_strategies, new_figure, note

CAPTION = (
    "Non-finite hidden state in the forward pass at init (before any training): fraction of the "
    "last layer's outputs (mean over seeds) and fraction of seeds with a non-finite value in any "
    "layer; one panel per arm and dataset."
)
MEASURES = {"nan_rate_init": "last layer: non-finite fraction (mean over seeds)",
            "init_nonfinite_any": "seeds with any non-finite layer"}


def draw(ctx: ResultsContext) -> Figure:
    n = max_strategies(ctx)
    fig, axes = new_figure(len(ctx.panels), 1, 8.5, 0.9 + 0.34 * max(n, 2))
    for ax, (arm, ds) in zip(axes[:, 0], ctx.panels, strict=True):
        t = ctx.strategy_rows(ds, arm)
        long = t.melt(id_vars="strategy", value_vars=list(MEASURES), var_name="measure")
        long["measure"] = long["measure"].map(MEASURES)
        long["value"] = long["value"].astype(float).fillna(0.0)
        if len(long):
            sns.barplot(data=long, y="strategy", x="value", hue="measure",
                        order=list(t["strategy"]), hue_order=list(MEASURES.values()),
                        palette=["#c0392b", "#e69f00"], orient="h", ax=ax, errorbar=None)
            for container in ax.containers:
                ax.bar_label(container, labels=[fmt.pct(v.get_width()) for v in container],
                             fontsize=7, padding=2)
            legend_right(ax)
            if not long["value"].any():
                note(ax, "no non-finite value at init")
        else:
            note(ax, "no runs")
        ax.set_xlim(0, 1.15)
        ax.set_xlabel("fraction")
        ax.set_ylabel("")
        ax.set_title(f"{ctx.title(arm, ds)}: non-finite hidden state in the forward pass at init")
    return fig


FIGURE = FigureSpec(name="nan_at_init", caption=CAPTION, draw=draw, position=20)
