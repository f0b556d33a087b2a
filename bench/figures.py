"""The report's figures, drawn with seaborn on :class:`matplotlib.figure.Figure` objects.

(a) LR sensitivity, (b) NaN rate at init, (c) largest usable LR, (d) training curves at each
strategy's largest usable LR, (e) |h| over time at init. Each function takes the run table with
:func:`bench.summary.run_flags` columns and the summary table, and returns a Figure; pyplot's
global state is left alone (the Agg renderer draws them in :mod:`bench.report`).
"""

from __future__ import annotations

import io
import math
from collections.abc import Iterable, Sequence
from typing import Any

import numpy as np
import pandas as pd
import seaborn as sns
from matplotlib.figure import Figure
from matplotlib.lines import Line2D
from matplotlib.ticker import FuncFormatter, LogLocator, NullLocator
from matplotlib.transforms import blended_transform_factory

RATIO_CAP = 100.0  # eval/Bayes above RATIO_CAP × (variance / bayes) is drawn at that cap
LOSS_CAP = 100.0  # training-curve axes end at LOSS_CAP × variance


def fmt_pct(v: Any) -> str:
    """A fraction as a percentage with 3 significant digits; blank for missing values."""
    if v is None or v is pd.NA or (isinstance(v, float) and math.isnan(v)):
        return ""
    return f"{100 * float(v):.3g}%"


def palette(strategies: Iterable[str]) -> tuple[dict[str, Any], dict[str, str]]:
    """Fixed colour and marker per strategy (alphabetical, so they agree across figures)."""
    names = sorted(set(strategies))
    base = sns.color_palette("tab10") + sns.color_palette("Dark2")
    colors = base if len(names) <= len(base) else sns.color_palette("husl", len(names))
    markers = ["o", "s", "^", "D", "v", "P", "X", "<", ">", "p", "h", "*", "d", "8"]
    return ({n: colors[i] for i, n in enumerate(names)},
            {n: markers[i % len(markers)] for i, n in enumerate(names)})


def _new_figure(rows: int, cols: int, width: float, row_height: float) -> tuple[Figure, np.ndarray]:
    fig = Figure(figsize=(width, max(2.0, row_height) * rows), layout="constrained")
    axes = np.asarray(fig.subplots(rows, cols, squeeze=False))
    return fig, axes


def _note(ax: Any, text: str) -> None:
    ax.text(0.5, 0.5, text, transform=ax.transAxes, ha="center", va="center", color="0.4")


def _log_ticks(axis: Any) -> None:
    """Major ticks at 1, 2, 5 × 10^k labelled plainly (a log axis spanning < 1 decade would
    otherwise show a single label)."""
    axis.set_major_locator(LogLocator(base=10, subs=(1.0, 2.0, 5.0)))
    axis.set_major_formatter(FuncFormatter(lambda v, _: f"{v:g}"))
    axis.set_minor_locator(NullLocator())


def _cfg(runs: pd.DataFrame, name: str) -> Any:
    col = f"cfg.{name}"
    if col in runs.columns and len(runs):
        return runs[col].iloc[0]
    return None


def fig_lr_sensitivity(runs: pd.DataFrame, table: pd.DataFrame, datasets: list[str],
                       colors: dict, markers: dict) -> Figure:
    """(a) eval_mse / bayes against LR, median over seeds with the min–max band."""
    fig, axes = _new_figure(len(datasets), 1, 9.5, 4.2)
    for ax, ds in zip(axes[:, 0], datasets, strict=True):
        d = runs[runs["dataset"] == ds]
        refs = table[(table["dataset"] == ds) & (table["kind"] == "reference")]
        ref = dict(zip(refs["strategy"], refs["eval_ratio_median"], strict=True))
        mean_ratio = float(ref.get("mean predictor", np.nan))
        cap = RATIO_CAP * mean_ratio if np.isfinite(mean_ratio) else np.inf
        fin = d[d["finite"]].copy()
        fin["eval/Bayes"] = np.minimum(fin["eval_ratio"].astype(float), cap)
        order = [s for s in table.loc[(table["dataset"] == ds) & (table["kind"] == "strategy"),
                                      "strategy"]]
        n_lr = d["lr"].nunique()
        if len(fin):
            present = [s for s in order if s in set(fin["strategy"])]
            sns.lineplot(data=fin, x="lr", y="eval/Bayes", hue="strategy", style="strategy",
                         hue_order=present, style_order=present, palette=colors,
                         markers=markers, dashes=False, estimator="median",
                         errorbar=("pi", 100), err_style="band" if n_lr > 1 else "bars",
                         ax=ax, legend=False)
        else:
            _note(ax, "no finite run")
        ax.set_xscale("log")
        ax.set_yscale("log")
        vals = [v for v in (*fin["eval/Bayes"].tolist(), *ref.values()) if np.isfinite(v)
                and v > 0]
        lo, hi = (min(vals) / 1.3, max(vals) * 2.5) if vals else (0.5, 10.0)
        ax.set_ylim(lo, hi)
        if hi / lo < 1e4:
            _log_ticks(ax.yaxis)
        lrs = sorted(d["lr"].unique())
        if lrs:
            ax.set_xlim(lrs[0] / 1.6, lrs[-1] * 1.6)
            ax.set_xticks(lrs, [f"{v:g}" for v in lrs])
            ax.minorticks_off()
        ax.axhline(1.0, color="black", lw=1.2)
        if "persistence" in ref:
            ax.axhline(ref["persistence"], color="0.35", lw=1.1, ls="--")
        if np.isfinite(mean_ratio):
            ax.axhline(mean_ratio, color="0.35", lw=1.1, ls=":")
        bad = d[~d["finite"]]
        top = blended_transform_factory(ax.transData, ax.transAxes)
        for k, s in enumerate(order):
            b = bad[bad["strategy"] == s]
            if len(b):
                jitter = 10 ** ((k - (len(order) - 1) / 2) * 0.012)
                ax.scatter(b["lr"].to_numpy(float) * jitter, np.full(len(b), 0.96),
                           marker="x", color=colors[s], s=40, lw=1.6, transform=top,
                           clip_on=False, zorder=5)
        ax.set_title(f"{ds}: eval MSE / Bayes MSE against learning rate")
        ax.set_xlabel("learning rate")
        ax.set_ylabel("eval MSE / Bayes MSE")
        handles = [Line2D([], [], color=colors[s], marker=markers[s], label=s) for s in order]
        handles += [Line2D([], [], color="black", lw=1.2, label="Bayes floor (1.0)"),
                    Line2D([], [], color="0.35", ls="--", label="persistence"),
                    Line2D([], [], color="0.35", ls=":", label="mean predictor"),
                    Line2D([], [], color="0.2", marker="x", ls="none",
                           label="diverged / non-finite run")]
        ax.legend(handles=handles, loc="upper left", bbox_to_anchor=(1.01, 1.0), fontsize=8,
                  frameon=False)
    return fig


def _max_strategies(table: pd.DataFrame) -> int:
    """Most strategies of any one dataset (for figure heights)."""
    t = table[table["kind"] == "strategy"]
    return int(t.groupby("dataset").size().max()) if len(t) else 1


def fig_nan_at_init(table: pd.DataFrame, datasets: list[str]) -> Figure:
    """(b) non-finite h at init: last-layer fraction and seeds with any non-finite layer."""
    n = _max_strategies(table)
    fig, axes = _new_figure(len(datasets), 1, 8.5, 0.9 + 0.34 * max(n, 2))
    labels = {"nan_rate_init": "last layer: non-finite fraction (mean over seeds)",
              "init_nonfinite_any": "seeds with any non-finite layer"}
    for ax, ds in zip(axes[:, 0], datasets, strict=True):
        t = table[(table["dataset"] == ds) & (table["kind"] == "strategy")]
        long = t.melt(id_vars="strategy", value_vars=list(labels), var_name="measure")
        long["measure"] = long["measure"].map(labels)
        long["value"] = long["value"].astype(float).fillna(0.0)
        if len(long):
            sns.barplot(data=long, y="strategy", x="value", hue="measure", order=list(
                t["strategy"]), hue_order=list(labels.values()), palette=["#c0392b", "#e69f00"],
                orient="h", ax=ax, errorbar=None)
            for container in ax.containers:
                ax.bar_label(container, labels=[fmt_pct(v.get_width()) for v in container],
                             fontsize=7, padding=2)
            ax.legend(loc="upper left", bbox_to_anchor=(1.01, 1.0), fontsize=8, frameon=False)
            if not long["value"].any():
                ax.text(0.5, 0.5, "no non-finite value at init", transform=ax.transAxes,
                        ha="center", va="center", color="0.4")
        else:
            _note(ax, "no runs")
        ax.set_xlim(0, 1.15)
        ax.set_xlabel("fraction")
        ax.set_ylabel("")
        ax.set_title(f"{ds}: non-finite hidden state in the forward pass at init")
    return fig


def fig_usable_lr(table: pd.DataFrame, runs: pd.DataFrame, datasets: list[str],
                  colors: dict) -> Figure:
    """(c) largest LR at which every seed is usable, log scale; 'none usable' where none."""
    n = _max_strategies(table)
    fig, axes = _new_figure(len(datasets), 1, 8.5, 0.9 + 0.3 * max(n, 2))
    for ax, ds in zip(axes[:, 0], datasets, strict=True):
        t = table[(table["dataset"] == ds) & (table["kind"] == "strategy")].reset_index()
        lrs = sorted(runs.loc[runs["dataset"] == ds, "lr"].unique())
        if not lrs:
            _note(ax, "no runs")
            continue
        left = lrs[0] / 3
        ax.set_xscale("log")
        ax.set_xlim(left, lrs[-1] * 2)
        for lr in lrs:
            ax.axvline(lr, color="0.85", lw=0.8, zorder=0)
        for i, r in t.iterrows():
            v = r["max_usable_lr"]
            if pd.notna(v):
                ax.barh(i, float(v) - left, left=left, color=colors[r["strategy"]], height=0.7)
                ax.text(float(v) * 1.08, i, f"{float(v):g}", va="center", fontsize=8)
            else:
                ax.text(left * 1.1, i, "none usable", va="center", fontsize=8, color="#c0392b")
        ax.set_yticks(range(len(t)), list(t["strategy"]))
        ax.set_ylim(len(t) - 0.5, -0.5)
        ax.set_xticks(lrs, [f"{v:g}" for v in lrs])
        ax.minorticks_off()
        ax.grid(False, axis="y")
        ax.set_xlabel("learning rate (grid)")
        ax.set_title(f"{ds}: largest learning rate at which every seed is usable")
    return fig


def curve_choice(row: pd.Series, lrs: Sequence[float]) -> tuple[float, str]:
    """The LR whose training curves are shown: largest usable, else best, else the smallest."""
    if pd.notna(row.get("max_usable_lr")):
        return float(row["max_usable_lr"]), "largest usable"
    if pd.notna(row.get("best_lr")):
        return float(row["best_lr"]), "best, not usable"
    return float(min(lrs)), "smallest, no finite LR"


def _curve_frame(g: pd.DataFrame) -> pd.DataFrame:
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


def fig_training_curves(runs: pd.DataFrame, table: pd.DataFrame, datasets: list[str],
                        colors: dict) -> Figure:
    """(d) training loss against step at each strategy's chosen LR, median over seeds."""
    fig, axes = _new_figure(len(datasets), 1, 9.5, 4.2)
    for ax, ds in zip(axes[:, 0], datasets, strict=True):
        t = table[(table["dataset"] == ds) & (table["kind"] == "strategy")]
        d = runs[runs["dataset"] == ds]
        lrs = sorted(d["lr"].unique())
        frames, palette = [], {}
        for _, row in t.iterrows():
            lr, why = curve_choice(row, lrs)
            g = d[(d["strategy"] == row["strategy"]) & np.isclose(d["lr"], lr)]
            f = _curve_frame(g).dropna(subset=["loss"])
            if f.empty:
                continue
            label = f"{row['strategy']} (lr {lr:g}, {why})"
            frames.append(f.assign(label=label))
            palette[label] = colors[row["strategy"]]
        if frames:
            long = pd.concat(frames, ignore_index=True)
            sns.lineplot(data=long, x="step", y="loss", hue="label", palette=palette,
                         hue_order=list(palette), estimator="median", errorbar=("pi", 100),
                         ax=ax)
            ax.set_yscale("log")
            bayes = float(d["bayes_mse"].median())
            if np.isfinite(bayes) and bayes > 0:
                ax.axhline(bayes, color="black", lw=1.0, ls="--", label="Bayes MSE (eval floor)")
            variance = float(d["variance"].median())
            lo = min(float(long["loss"].min()), bayes if bayes > 0 else np.inf) / 1.5
            hi = float(long["loss"].max()) * 1.5
            if np.isfinite(variance) and variance > 0:
                hi = min(hi, LOSS_CAP * variance)
            if np.isfinite(lo) and hi > lo:
                ax.set_ylim(lo, hi)
                if hi / lo < 1e4:
                    _log_ticks(ax.yaxis)
            ax.legend(loc="upper left", bbox_to_anchor=(1.01, 1.0), fontsize=8, frameon=False)
        else:
            _note(ax, "no finite training loss")
        ax.set_xlabel("training step")
        ax.set_ylabel("training loss (one-step MSE)")
        ax.set_title(f"{ds}: training loss, median over seeds (band: min–max)")
    return fig


def _trace_frame(g: pd.DataFrame, layer: int) -> pd.DataFrame:
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


def _n_layers(runs: pd.DataFrame) -> int:
    n = 0
    for trace in runs.get("init_h_trace", pd.Series(dtype=object)):
        if trace is not None:
            n = max(n, len(trace))
    return n


def fig_h_trace(runs: pd.DataFrame, table: pd.DataFrame, datasets: list[str],
                colors: dict) -> Figure:
    """(e) max |h| over blocks of time in the forward pass at init, first and last layer."""
    n_layers = _n_layers(runs)
    layers = sorted({0, max(n_layers - 1, 0)})
    fig, axes = _new_figure(len(datasets), len(layers), 12.0, 3.8)
    hidden = _cfg(runs, "hidden")
    channels = _cfg(runs, "channels")
    sizes = ([int(h) for h in hidden] + [int(channels)]
             if hidden is not None and channels is not None else [])
    for row_axes, ds in zip(axes, datasets, strict=True):
        t = table[(table["dataset"] == ds) & (table["kind"] == "strategy")]
        d = runs[runs["dataset"] == ds]
        for ax, layer in zip(row_axes, layers, strict=True):
            frames = []
            for s in t["strategy"]:
                f = _trace_frame(d[d["strategy"] == s], layer)
                if not f.empty:
                    frames.append(f.assign(strategy=s))
            units = f", {sizes[layer]} units" if layer < len(sizes) else ""
            name = "last" if layer == n_layers - 1 and layer > 0 else "first"
            ax.set_title(f"{ds}: {name} layer (layer {layer + 1}{units})")
            ax.set_xlabel("time step at init")
            ax.set_ylabel("max |h| over the block")
            if not frames:
                _note(ax, "no trace recorded")
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
                _log_ticks(ax.yaxis)
            if ax.get_legend() is not None:
                ax.legend(loc="upper left", bbox_to_anchor=(1.01, 1.0), fontsize=8,
                          frameon=False)
    return fig


def png_bytes(fig: Figure, dpi: int) -> bytes:
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=dpi)
    return buf.getvalue()


