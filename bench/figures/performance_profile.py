"""Dolan–Moré performance profile over (dataset, seed) tasks, one panel per arm."""

from __future__ import annotations

import numpy as np
from matplotlib.figure import Figure

from bench import compare, stats
from bench.figures import FigureSpec, ResultsContext
from bench.figures._draw import new_figure, note

CAPTION = (
    "Performance profile (Dolan & Moré 2002) per arm: for each strategy, the fraction of tasks "
    "(dataset, seed) on which its test ratio at its best LR is within a factor τ of the best "
    "strategy's on that task (log τ axis; higher and further left is better; a strategy with "
    "no best LR on a dataset fails its tasks). The legend lists the area under each curve over "
    f"τ ∈ [1, {compare.TAU_MAX:g}] (1 = best on every task) with its 95 % bootstrap CI over "
    "tasks."
)


def draw(ctx: ResultsContext) -> Figure:
    fig, axes = new_figure(len(ctx.arms), 1, 8.5, 3.6)
    ranking = compare.profile_ranking(ctx.runs, ctx.summary)
    taus = np.geomspace(1.0, compare.TAU_MAX, 200)
    for ax, arm in zip(axes[:, 0], ctx.arms, strict=True):
        tasks = compare.tasks(ctx.runs, ctx.summary, arm)
        tasks = tasks[tasks.notna().any(axis=1)]
        ax.set_title(f"{arm}: performance profile over {len(tasks)} tasks (dataset × seed)"
                     if len(ctx.arms) > 1 else
                     f"performance profile over {len(tasks)} tasks (dataset × seed)")
        if not len(tasks):
            note(ax, "no strategy has a best LR")
            continue
        rho = stats.performance_profile(tasks, taus)
        r = ranking[ranking["arm"] == arm].set_index("strategy")
        for strategy in r.index:
            a = r.loc[strategy]
            ax.step(taus, rho[strategy].to_numpy(), where="post", color=ctx.colors[strategy],
                    lw=1.4, label=f"{strategy}: {a['area']:.2f} "
                                  f"[{a['area_low']:.2f}, {a['area_high']:.2f}]")
        ax.set_xscale("log", base=2)
        ax.set_xlim(1.0, compare.TAU_MAX)
        ax.set_ylim(-0.02, 1.02)
        ax.set_xlabel("τ (test ratio within a factor τ of the task's best)")
        ax.set_ylabel("fraction of tasks")
        ax.legend(fontsize=7, loc="lower right", title="area [95 % CI]", title_fontsize=7)
    return fig


FIGURE = FigureSpec(name="performance_profile", caption=CAPTION, draw=draw,
                    position=12)
