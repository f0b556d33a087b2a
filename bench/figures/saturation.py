"""Which gates are saturated at init: a heat map of strategy × (layer, gate)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import seaborn as sns
from matplotlib.figure import Figure

from bench.diagnostics import GATES
from bench.figures import FigureSpec, ResultsContext
from bench.figures._draw import new_figure, note

CAPTION = (
    "Gate saturation at init, per arm: the fraction of a sigmoid gate's values above 0.99 or "
    "below 0.01 (`cell`: of |cell input| above 0.99) over the finite steps of the 10 000-step "
    "pass, median over seeds and datasets, for every layer (L1 = first) and gate. A saturated "
    "gate passes almost no gradient."
)


def matrix(runs: pd.DataFrame) -> pd.DataFrame:
    """strategy × "L<l> <gate>" table of median saturated fractions (``init_saturation``)."""
    rows: dict[str, dict[str, list[float]]] = {}
    if "init_saturation" not in runs:  # records written before the diagnostics
        return pd.DataFrame()
    first = runs.groupby(["strategy", "dataset", "seed"], sort=True)["init_saturation"].first()
    for (strategy, _, _), layers in first.items():
        if not isinstance(layers, list | np.ndarray):
            continue
        cells = rows.setdefault(str(strategy), {})
        for li, d in enumerate(layers):
            if not isinstance(d, dict):
                continue
            for g in GATES:
                v = d.get(g)
                if v is not None and np.isfinite(v):
                    cells.setdefault(f"L{li + 1} {g}", []).append(float(v))
    table = pd.DataFrame({s: {k: float(np.median(v)) for k, v in c.items()}
                          for s, c in rows.items()}).T
    return table.reindex(sorted(table.columns, key=lambda c: (c.split()[0],
                                                               GATES.index(c.split()[1]))),
                         axis=1) if len(table) else table


def draw(ctx: ResultsContext) -> Figure:
    n = max(len(set(ctx.runs["strategy"])), 2)
    fig, axes = new_figure(len(ctx.arms), 1, 10.0, 0.9 + 0.32 * n)
    for ax, arm in zip(axes[:, 0], ctx.arms, strict=True):
        m = matrix(ctx.runs[ctx.runs["arm"] == arm])
        ax.set_title(f"{arm}: saturated fraction at init" if len(ctx.arms) > 1
                     else "saturated fraction at init")
        if m.empty:
            note(ax, "no saturation record")
            continue
        sns.heatmap(m, ax=ax, vmin=0.0, vmax=1.0, cmap="rocket_r", annot=True, fmt=".0%",
                    annot_kws={"fontsize": 6}, cbar=False, linewidths=0.3)
        ax.set_xlabel("layer and gate")
        ax.set_ylabel("")
    return fig


FIGURE = FigureSpec(name="saturation", caption=CAPTION, draw=draw, position=70)
