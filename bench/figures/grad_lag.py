"""How far back the gradient through time reaches at init: ‖∂s_T/∂s_{T−k}‖ against the lag k."""

from __future__ import annotations

import numpy as np
import pandas as pd
from matplotlib.figure import Figure

from bench.diagnostics import HORIZON_DROP
from bench.figures import FigureSpec, ResultsContext
from bench.figures._draw import legend_right, new_figure, note

CAPTION = (
    "Gradient against lag at init: ‖J_T ⋯ J_{T−k+1}‖₂ (s = (h, c), J the step Jacobian, the "
    "last steps of the 10 000-step pass), first LSTM layer, relative to its value at k = 1, "
    "median over seeds, log–log; the dotted line is the 10⁻³ drop that defines the memory "
    "horizon. A curve that stays flat or rises carries gradients far back (or grows); one that "
    "falls fast forgets within a few steps. Strategies whose pass is non-finite are left out."
)
LAYER = 0


def curves(runs: pd.DataFrame, layer: int = LAYER) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """Per strategy, (lags, median over seeds of G_k / G_1) from ``init_grad_lag[layer]``."""
    out: dict[str, tuple[np.ndarray, np.ndarray]] = {}
    if "init_grad_lag" not in runs:  # records written before the diagnostics
        return out
    for name, g in runs.groupby("strategy", sort=True):
        rows = []
        for lag in g.groupby("seed", sort=True)["init_grad_lag"].first():
            if not isinstance(lag, list | np.ndarray) or len(lag) <= layer:
                continue
            v = np.asarray([np.nan if x is None else x for x in lag[layer]], dtype=float)
            if v.size and np.isfinite(v).all() and v[0] > 0:
                rows.append(v / v[0])
        if rows and len({r.size for r in rows}) == 1:
            stack = np.stack(rows)
            out[str(name)] = (2.0 ** np.arange(stack.shape[1]), np.median(stack, axis=0))
    return out


def draw(ctx: ResultsContext) -> Figure:
    fig, axes = new_figure(len(ctx.panels), 1, 8.5, 3.2)
    for ax, (arm, ds) in zip(axes[:, 0], ctx.panels, strict=True):
        ax.set_title(f"{ctx.title(arm, ds)}: gradient against lag at init (layer {LAYER + 1})")
        lines = curves(ctx.panel_runs(ds, arm))
        if not lines:
            note(ax, "no finite gradient-against-lag record")
            continue
        for name, (k, g) in lines.items():
            ax.plot(k, g, marker=ctx.markers[name], ms=3, lw=1.2, color=ctx.colors[name],
                    label=name)
        ax.axhline(HORIZON_DROP, color="0.4", ls=":", lw=1)
        ax.set_xscale("log", base=2)
        ax.set_yscale("log")
        ax.set_xlabel("lag k (steps)")
        ax.set_ylabel("G_k / G_1")
        legend_right(ax)
    return fig


FIGURE = FigureSpec(name="grad_lag", caption=CAPTION, draw=draw, position=60)
