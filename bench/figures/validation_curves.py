"""Validation MSE / Bayes MSE against training step at each strategy's best learning rate."""

from __future__ import annotations

import numpy as np
import pandas as pd
from matplotlib.figure import Figure

from bench.figures import FigureSpec, ResultsContext
from bench.figures._draw import legend_right, log_ticks, median_curves, new_figure, note

RATIO_CAP = 100.0  # the axis ends at RATIO_CAP × the mean predictor's ratio

CAPTION = (
    "Validation MSE / Bayes MSE (log scale) against training step at each strategy's best LR "
    "(the LR chosen on validation), median over seeds with the min–max band, one row per arm "
    "and dataset. Validation data, measured without dropout, disjoint from the training and "
    "test data; step 0 = at init. Solid line: Bayes floor (1.0); dashed: persistence; dotted: "
    "50 % and 90 % of the persistence-to-Bayes gap closed (the targets of `steps_to_50` and "
    "`steps_to_90`). Non-finite points are left out; the axis ends at "
    f"{RATIO_CAP:g} × the mean predictor."
)


def val_frame(g: pd.DataFrame) -> pd.DataFrame:
    """Long (seed, step, ratio) rows of the runs ``g``: ``val_mse_init`` at step 0, then
    ``val_curve`` at ``val_steps``, divided by ``bayes_mse``; non-finite values as NaN."""
    rows = []
    for _, r in g.iterrows():
        curve = np.asarray(r["val_curve"] if r["val_curve"] is not None else [], dtype=float)
        steps = np.asarray(r["val_steps"] if r["val_steps"] is not None else [], dtype=float)
        y = np.concatenate([[float(r["val_mse_init"])], curve]) / float(r["bayes_mse"])
        x = np.concatenate([[0.0], steps])
        y = np.where(np.isfinite(y) & (y > 0), y, np.nan)
        rows.append(pd.DataFrame({"seed": r["seed"], "step": x, "ratio": y}))
    if not rows:
        return pd.DataFrame(columns=["seed", "step", "ratio"])
    return pd.concat(rows, ignore_index=True)


def best_lr(row: pd.Series) -> tuple[float, str] | None:
    """The strategy row's best LR and its curve label; None without one."""
    lr = row.get("best_lr")
    if lr is None or pd.isna(lr):
        return None
    return float(lr), f"{row['strategy']} (lr {float(lr):g})"


def draw(ctx: ResultsContext) -> Figure:
    fig, axes = new_figure(len(ctx.panels), 1, 9.5, 4.2)
    for ax, (arm, ds) in zip(axes[:, 0], ctx.panels, strict=True):
        t = ctx.strategy_rows(ds, arm)
        d = ctx.panel_runs(ds, arm)
        ref = ctx.references(ds, arm)
        den = ctx.denominator(ds, arm)
        ax.set_title(f"{ctx.title(arm, ds)}: validation MSE / {den} at the best LR")
        ax.set_xlabel("training step")
        ax.set_ylabel(f"validation MSE / {den}")
        long = median_curves(ax, ctx, t, d, best_lr, val_frame, "ratio")
        if long is None:
            note(ax, "no strategy has a best LR (none with every seed finite)")
            continue
        pers = ref.get("persistence", np.nan)
        ax.axhline(1.0, color="black", lw=1.2, label=f"{ctx.floor_name(ds, arm)} (1.0)")
        if np.isfinite(pers):
            ax.axhline(pers, color="0.35", lw=1.1, ls="--", label="persistence")
            for f in (0.5, 0.9):
                ax.axhline(pers - f * (pers - 1.0), color="0.6", lw=0.8, ls=":")
        vals = [v for v in (*long["ratio"].tolist(), 1.0, pers) if np.isfinite(v) and v > 0]
        lo, hi = min(vals) / 1.15, max(vals) * 1.3
        mean = ref.get("mean predictor", np.nan)
        if np.isfinite(mean) and mean > 0:
            hi = min(hi, RATIO_CAP * mean)
        ax.set_ylim(lo, hi)
        if hi / lo < 1e4:
            log_ticks(ax.yaxis)
        legend_right(ax)
    return fig


FIGURE = FigureSpec(name="validation_curves", caption=CAPTION, draw=draw, position=15)
