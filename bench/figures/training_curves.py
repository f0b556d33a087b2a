"""Training loss against step at each strategy's largest usable learning rate."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd
from matplotlib.figure import Figure

from bench.figures import FigureSpec, ResultsContext
from bench.figures._draw import legend_right, log_ticks, median_curves, new_figure, note

LOSS_CAP = 100.0  # training-curve axes end at LOSS_CAP × variance

CAPTION = (
    "Training loss (one-step MSE on training windows, with dropout when the arm uses it, so not "
    "comparable with the test or validation MSE) against step at each strategy's largest usable "
    "LR (else its best LR, else its smallest LR), median over seeds with the min–max band, one "
    "row per arm and dataset; diverged seeds drop out after their divergence; dashed: the Bayes "
    f"MSE; the axis ends at {LOSS_CAP:g} × the data variance."
)


def curve_choice(row: pd.Series, lrs: Sequence[float]) -> tuple[float, str]:
    """The LR whose training curves are shown: largest usable, else best, else the smallest."""
    if pd.notna(row.get("max_usable_lr")):
        return float(row["max_usable_lr"]), "largest usable"
    if pd.notna(row.get("best_lr")):
        return float(row["best_lr"]), "best, not usable"
    return float(min(lrs)), "smallest, no finite LR"


def curve_frame(g: pd.DataFrame) -> pd.DataFrame:
    """Long (seed, step, loss) rows of the runs ``g``; step = end of each thinned block."""
    rows = []
    for _, r in g.iterrows():
        curve = np.asarray(r["loss_curve"] if r["loss_curve"] is not None else [], dtype=float)
        if curve.size == 0:
            continue
        steps = r.get("cfg.steps")
        steps = int(steps) if steps is not None and pd.notna(steps) else curve.size
        block = max(steps // curve.size, 1)
        curve = np.where(np.isfinite(curve) & (curve > 0), curve, np.nan)
        rows.append(pd.DataFrame({"seed": r["seed"], "step": (np.arange(curve.size) + 1) * block,
                                  "loss": curve}))
    if not rows:
        return pd.DataFrame(columns=["seed", "step", "loss"])
    return pd.concat(rows, ignore_index=True)


def draw(ctx: ResultsContext) -> Figure:
    fig, axes = new_figure(len(ctx.panels), 1, 9.5, 4.2)
    for ax, (arm, ds) in zip(axes[:, 0], ctx.panels, strict=True):
        t = ctx.strategy_rows(ds, arm)
        d = ctx.panel_runs(ds, arm)
        lrs = sorted(d["lr"].unique())

        def pick(row: pd.Series, lrs: list = lrs) -> tuple[float, str]:
            lr, why = curve_choice(row, lrs)
            return lr, f"{row['strategy']} (lr {lr:g}, {why})"

        long = median_curves(ax, ctx, t, d, pick, curve_frame, "loss")
        if long is not None:
            bayes = float(d["bayes_mse"].median())
            if np.isfinite(bayes) and bayes > 0:
                ax.axhline(bayes, color="black", lw=1.0, ls="--", label="Bayes MSE")
            variance = float(d["variance"].median())
            lo = min(float(long["loss"].min()), bayes if bayes > 0 else np.inf) / 1.5
            hi = float(long["loss"].max()) * 1.5
            if np.isfinite(variance) and variance > 0:
                hi = min(hi, LOSS_CAP * variance)
            if np.isfinite(lo) and hi > lo:
                ax.set_ylim(lo, hi)
                if hi / lo < 1e4:
                    log_ticks(ax.yaxis)
            legend_right(ax)
        else:
            note(ax, "no finite training loss")
        ax.set_xlabel("training step")
        ax.set_ylabel("training loss (one-step MSE)")
        ax.set_title(f"{ctx.title(arm, ds)}: training loss, median over seeds (band: min–max)")
    return fig


FIGURE = FigureSpec(name="training_curves", caption=CAPTION, draw=draw, position=40)
