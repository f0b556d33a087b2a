"""Max |h| over time in the forward pass at init, first and last layer."""

from __future__ import annotations

import numpy as np
import pandas as pd
import seaborn as sns
from matplotlib.figure import Figure

from bench.figures import FigureSpec, ResultsContext
from bench.figures._draw import cfg, legend_right, log_ticks, new_figure, note

CAPTION = (
    "Max |h| over blocks of time in the forward pass at init, first and last layer (log scale), "
    "median over seeds with the min–max band; non-finite values (inf/NaN) are drawn at the "
    "dotted top line, x = where a seed first went non-finite; one row per arm and dataset."
)


def trace_frame(g: pd.DataFrame, layer: int) -> pd.DataFrame:
    """Long (seed, t, h) rows of ``init_h_trace[layer]`` (one row per seed of ``g``)."""
    rows = []
    for _, r in g.groupby("seed", sort=True).first().reset_index().iterrows():
        trace = r["init_h_trace"]
        if trace is None or len(trace) <= layer:
            continue
        values = np.asarray(trace[layer], dtype=float)
        if values.size == 0:
            continue
        length = r.get("cfg.init_length")
        length = int(length) if length is not None and pd.notna(length) else values.size
        block = max(length // values.size, 1)
        rows.append(pd.DataFrame({"seed": r["seed"], "t": (np.arange(values.size) + 1) * block,
                                  "h": values}))
    if not rows:
        return pd.DataFrame(columns=["seed", "t", "h"])
    return pd.concat(rows, ignore_index=True)


def n_layers(runs: pd.DataFrame) -> int:
    """The most layers of any run's trace at init."""
    n = 0
    for trace in runs.get("init_h_trace", pd.Series(dtype=object)):
        if trace is not None:
            n = max(n, len(trace))
    return n


def draw(ctx: ResultsContext) -> Figure:
    runs = ctx.runs
    layers_n = n_layers(runs)
    layers = sorted({0, max(layers_n - 1, 0)})
    fig, axes = new_figure(len(ctx.panels), len(layers), 12.0, 3.8)
    hidden = cfg(runs, "hidden")
    channels = cfg(runs, "channels")
    sizes = ([int(h) for h in hidden] + [int(channels)]
             if hidden is not None and channels is not None else [])
    colors = ctx.colors
    for row_axes, (arm, ds) in zip(axes, ctx.panels, strict=True):
        t = ctx.strategy_rows(ds, arm)
        d = ctx.panel_runs(ds, arm)
        for ax, layer in zip(row_axes, layers, strict=True):
            frames = []
            for s in t["strategy"]:
                f = trace_frame(d[d["strategy"] == s], layer)
                if not f.empty:
                    frames.append(f.assign(strategy=s))
            units = f", {sizes[layer]} units" if layer < len(sizes) else ""
            name = "last" if layer == layers_n - 1 and layer > 0 else "first"
            ax.set_title(f"{ctx.title(arm, ds)}: {name} layer (layer {layer + 1}{units})")
            ax.set_xlabel("time step at init")
            ax.set_ylabel("max |h| over the block")
            if not frames:
                note(ax, "no trace recorded")
                continue
            long = pd.concat(frames, ignore_index=True)
            h = long["h"].astype(float)
            finite = h[np.isfinite(h)]
            pos = finite[finite > 0]
            top = float(pos.max()) * 10 if len(pos) else 10.0
            bottom = float(pos.min()) / 3 if len(pos) else 1e-3
            long["bad"] = ~np.isfinite(h)
            long["h_plot"] = np.where(long["bad"], top, np.clip(h.fillna(top), bottom, None))
            sns.lineplot(data=long, x="t", y="h_plot", hue="strategy", palette=colors,
                         hue_order=[s for s in t["strategy"] if s in set(long["strategy"])],
                         estimator="median", errorbar=("pi", 100), ax=ax,
                         legend=layer == layers[-1])
            ax.set_yscale("log")
            first_bad = long[long["bad"]].groupby(["strategy", "seed"])["t"].min().reset_index()
            if len(first_bad):
                ax.axhline(top, color="#c0392b", lw=0.8, ls=":")
                ax.text(0.01, 0.99, "top line: non-finite (inf/NaN)", transform=ax.transAxes,
                        va="top", fontsize=7, color="#c0392b")
                for _, fb in first_bad.iterrows():
                    ax.scatter([fb["t"]], [top], marker="x", s=60, lw=2,
                               color=colors[fb["strategy"]], zorder=5, clip_on=False)
            ceiling = top * 3 if len(first_bad) else top / 4
            ax.set_ylim(bottom, ceiling)
            if ceiling / bottom < 1e4:
                log_ticks(ax.yaxis)
            if ax.get_legend() is not None:
                legend_right(ax)
    return fig


FIGURE = FigureSpec(name="h_at_init", caption=CAPTION, draw=draw, position=50)
