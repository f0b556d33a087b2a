"""LR sensitivity: test MSE / Bayes MSE against learning rate, per strategy (the main figure)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import seaborn as sns
from matplotlib.figure import Figure
from matplotlib.lines import Line2D
from matplotlib.transforms import blended_transform_factory

from bench.figures import FigureSpec, ResultsContext
from bench.figures._draw import legend_right, log_ticks, lr_ticks, new_figure, note

RATIO_CAP = 100.0  # test/Bayes above RATIO_CAP × (variance / bayes) is drawn at that cap

CAPTION = (
    "LR sensitivity: test MSE / Bayes MSE against learning rate (log-log), median over seeds "
    "with the min–max band over seeds, one row of panels per arm and dataset; x at the top edge "
    "= a diverged or non-finite run at that LR; ▶ = the largest usable LR is censored (every "
    "seed beat persistence at every LR run, so the edge lies beyond the grid); horizontal lines: "
    "Bayes floor (1.0), persistence (the bar a usable run must beat), mean predictor. Values "
    f"above {RATIO_CAP:g} × the mean predictor are drawn at that cap."
)


def censored_points(rows: pd.DataFrame) -> pd.DataFrame:
    """The summary rows whose largest usable LR is censored: ``strategy``, ``lr`` and ``ratio``
    (the median test ratio there)."""
    if "max_usable_censored" not in rows.columns:
        return pd.DataFrame(columns=["strategy", "lr", "ratio"])
    sel = rows[rows["max_usable_censored"].fillna(False).astype(bool)]
    return pd.DataFrame({"strategy": sel["strategy"], "lr": sel["max_usable_lr"].astype(float),
                         "ratio": sel["usable_ratio_median"].astype(float)
                         if "usable_ratio_median" in sel else np.nan})


def draw(ctx: ResultsContext) -> Figure:
    fig, axes = new_figure(len(ctx.panels), 1, 9.5, 4.2)
    colors, markers = ctx.colors, ctx.markers
    for ax, (arm, ds) in zip(axes[:, 0], ctx.panels, strict=True):
        d = ctx.panel_runs(ds, arm)
        ref = ctx.references(ds, arm)
        rows = ctx.strategy_rows(ds, arm)
        mean_ratio = float(ref.get("mean predictor", np.nan))
        cap = RATIO_CAP * mean_ratio if np.isfinite(mean_ratio) else np.inf
        fin = d[d["finite"]].copy()
        fin["test/Bayes"] = np.minimum(fin["test_ratio"].astype(float), cap)
        order = list(rows["strategy"])
        n_lr = d["lr"].nunique()
        if len(fin):
            present = [s for s in order if s in set(fin["strategy"])]
            sns.lineplot(data=fin, x="lr", y="test/Bayes", hue="strategy", style="strategy",
                         hue_order=present, style_order=present, palette=colors,
                         markers=markers, dashes=False, estimator="median",
                         errorbar=("pi", 100), err_style="band" if n_lr > 1 else "bars",
                         ax=ax, legend=False)
        else:
            note(ax, "no finite run")
        ax.set_xscale("log")
        ax.set_yscale("log")
        vals = [v for v in (*fin["test/Bayes"].tolist(), *ref.values()) if np.isfinite(v)
                and v > 0]
        lo, hi = (min(vals) / 1.3, max(vals) * 2.5) if vals else (0.5, 10.0)
        ax.set_ylim(lo, hi)
        if hi / lo < 1e4:
            log_ticks(ax.yaxis)
        lrs = sorted(d["lr"].unique())
        if lrs:
            ax.set_xlim(lrs[0] / 1.6, lrs[-1] * 1.9)
            lr_ticks(ax, lrs)
        ax.axhline(1.0, color="black", lw=1.2)
        if "persistence" in ref:
            ax.axhline(ref["persistence"], color="0.35", lw=1.1, ls="--")
        if np.isfinite(mean_ratio):
            ax.axhline(mean_ratio, color="0.35", lw=1.1, ls=":")
        for _, c in censored_points(rows).iterrows():
            if np.isfinite(c["ratio"]):
                ax.scatter([c["lr"] * 1.25], [min(c["ratio"], cap)], marker=">", s=70,
                           color=colors[c["strategy"]], edgecolors="black", linewidths=0.8,
                           zorder=6, clip_on=False)
        bad = d[~d["finite"]]
        top = blended_transform_factory(ax.transData, ax.transAxes)
        for k, s in enumerate(order):
            b = bad[bad["strategy"] == s]
            if len(b):
                jitter = 10 ** ((k - (len(order) - 1) / 2) * 0.012)
                ax.scatter(b["lr"].to_numpy(float) * jitter, np.full(len(b), 0.96),
                           marker="x", color=colors[s], s=40, lw=1.6, transform=top,
                           clip_on=False, zorder=5)
        den = ctx.denominator(ds, arm)
        ax.set_title(f"{ctx.title(arm, ds)}: test MSE / {den} against learning rate")
        ax.set_xlabel("learning rate")
        ax.set_ylabel(f"test MSE / {den}")
        handles = [Line2D([], [], color=colors[s], marker=markers[s], label=s) for s in order]
        handles += [Line2D([], [], color="black", lw=1.2,
                           label=f"{ctx.floor_name(ds, arm)} (1.0)"),
                    Line2D([], [], color="0.35", ls="--", label="persistence"),
                    Line2D([], [], color="0.35", ls=":", label="mean predictor"),
                    Line2D([], [], color="0.2", marker="x", ls="none",
                           label="diverged / non-finite run"),
                    Line2D([], [], color="0.6", marker=">", markeredgecolor="black", ls="none",
                           label="largest usable LR censored")]
        legend_right(ax, handles=handles)
    return fig


FIGURE = FigureSpec(name="lr_sensitivity", caption=CAPTION, draw=draw, position=10)
