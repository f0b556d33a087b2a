"""What three report figures plot, read back from the matplotlib artists, against a hand-made run
table whose medians, best learning rates and profile ratios are worked out in the comments.

One arm (clean), one dataset (ar1), two strategies × two LRs × three seeds. Floors: Bayes 0.02,
persistence 0.03, variance 0.05, so a test or validation ratio is MSE / 0.02, persistence is
1.5 on that scale and the mean predictor 2.5. Validation is measured at steps 10 and 20
(``val_mse_init`` is step 0).
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest
from matplotlib.colors import to_rgb

from bench import summary as sm
from bench.config import resolve
from bench.figures import ResultsContext, lr_sensitivity, performance_profile, validation_curves

BAYES, PERS, VAR = 0.02, 0.03, 0.05
NAN = math.nan


def _run(strategy: str, lr: float, seed: int, test: float, curve: list[float],
         init: float = 0.05, diverged: bool = False) -> dict:
    cfg = resolve("quick", strategy=strategy, lr=lr, seed=seed, dataset="ar1", arm="clean",
                  steps=20, val_every=10)
    layers = len(cfg.sizes) - 1
    row = dict(key=f"{strategy}-{lr:g}-{seed}", sweep_id="figures", arm="clean",
               strategy=strategy, dataset="ar1", profile="quick", lr=lr, seed=seed,
               diverged=diverged, diverged_step=10 if diverged else -1,
               val_mse_init=init, val_mse=curve[-1], val_curve=list(curve), val_steps=[10, 20],
               test_mse_init=0.05, test_mse=test, test_variance=VAR, variance=VAR,
               bayes_mse=BAYES, persistence_mse=PERS,
               init_nonfinite_frac=[0.0] * layers, init_first_nonfinite=[-1] * layers,
               init_max_h=[0.3] * layers, init_max_c=[0.5] * layers,
               init_h_trace=[[0.3] * 4] * layers, loss_curve=[0.05, 0.03],
               chunk_wall_s=1.0, chunk_runs=6)
    row.update({f"cfg.{k}": v for k, v in cfg.to_dict().items()
                if k not in row and k != "settings"})
    return row


# (test_mse, validation curve at steps 10 and 20, val_mse_init) per seed 0, 1, 2
GLOROT = {
    1e-3: [(0.025, [0.030, 0.026], 0.05), (0.026, [0.030, 0.027], 0.06),
           (0.027, [0.030, 0.028], 0.04)],  # final val median 0.027
    1e-2: [(0.023, [0.030, 0.024], 0.05), (0.022, [0.028, 0.022], 0.06),
           (0.029, [0.035, 0.030], 0.04)],  # final val median 0.024: glorot's best LR
}
ORTHOGONAL = {
    1e-3: [(0.024, [0.027, 0.025], 0.05), (0.030, [0.031, 0.025], 0.06),
           (0.022, [0.029, 0.026], 0.04)],  # final val median 0.025: best (1e-2 has a NaN)
}


@pytest.fixture(scope="module")
def ctx() -> ResultsContext:
    rows = [_run(name, lr, s, t, c, i) for name, grid in (("glorot", GLOROT),
                                                          ("orthogonal", ORTHOGONAL))
            for lr, seeds in grid.items() for s, (t, c, i) in enumerate(seeds)]
    rows += [_run("orthogonal", 1e-2, 0, 0.021, [0.025, 0.021]),
             _run("orthogonal", 1e-2, 1, NAN, [0.040, NAN], diverged=True),
             _run("orthogonal", 1e-2, 2, 0.023, [0.026, 0.023])]
    runs = pd.DataFrame(rows)
    errors: dict[str, str] = {}
    table = sm.summary_table(runs, errors=errors)
    assert not errors, errors
    return ResultsContext.build(sm.run_flags(runs), table)


def _data_lines(ax, color) -> list:
    """The lines of one strategy's colour that carry data (seaborn's legend proxies are empty)."""
    return [ln for ln in ax.lines
            if len(ln.get_xdata()) and to_rgb(ln.get_color()) == to_rgb(color)]


def _hlines(ax) -> list[float]:
    """The y of every axhline (x data [0, 1] in axes coordinates)."""
    return sorted(float(ln.get_ydata()[0]) for ln in ax.lines
                  if list(ln.get_xdata()) == [0, 1] and ln.get_ydata()[0] == ln.get_ydata()[1])


def _band(ax, color) -> np.ndarray:
    """The vertices of the min–max band drawn in ``color``."""
    bands = [c for c in ax.collections if type(c).__name__.endswith("PolyCollection")
             and to_rgb(c.get_facecolor()[0][:3]) == to_rgb(color)]
    assert len(bands) == 1
    return np.concatenate([p.vertices for p in bands[0].get_paths()])


def test_the_table_picks_the_best_lrs_worked_out_above(ctx):
    rows = ctx.strategy_rows("ar1", "clean").set_index("strategy")
    assert rows.loc["glorot", "best_lr"] == 1e-2 and rows.loc["orthogonal", "best_lr"] == 1e-3


def test_validation_curves_plot_the_median_over_seeds_at_the_best_lr(ctx):
    ax = validation_curves.FIGURE.draw(ctx).axes[0]
    want = {  # median over seeds of (val_mse_init, curve) / Bayes, at the best LR
        "glorot": [0.05 / BAYES, 0.030 / BAYES, 0.024 / BAYES],  # 2.5, 1.5, 1.2 (lr 1e-2)
        "orthogonal": [0.05 / BAYES, 0.029 / BAYES, 0.025 / BAYES],  # 2.5, 1.45, 1.25 (1e-3)
    }
    bands = {  # min and max over seeds per step
        "glorot": [(2.0, 3.0), (1.4, 1.75), (1.1, 1.5)],
        "orthogonal": [(2.0, 3.0), (1.35, 1.55), (1.25, 1.3)],
    }
    for strategy, ys in want.items():
        (line,) = _data_lines(ax, ctx.colors[strategy])
        np.testing.assert_allclose(line.get_xdata(), [0, 10, 20])
        np.testing.assert_allclose(line.get_ydata(), ys, rtol=1e-12)
        v = _band(ax, ctx.colors[strategy])
        for step, (lo, hi) in zip((0, 10, 20), bands[strategy], strict=True):
            at = v[np.isclose(v[:, 0], step), 1]
            assert at.min() == pytest.approx(lo) and at.max() == pytest.approx(hi)
    labels = [t.get_text() for t in ax.get_legend().get_texts()]
    assert labels[:2] == ["glorot (lr 0.01)", "orthogonal (lr 0.001)"]
    # Bayes floor 1.0, persistence 0.03 / 0.02 = 1.5, and the 50 % / 90 % gap targets
    # 1.5 − 0.5·0.5 = 1.25 and 1.5 − 0.9·0.5 = 1.05
    np.testing.assert_allclose(_hlines(ax), [1.0, 1.05, 1.25, 1.5])
    # y range: the smallest value drawn (the floor, 1.0) / 1.15 to the largest (0.06 / 0.02 =
    # 3.0, seed 1 at init) × 1.3
    np.testing.assert_allclose(ax.get_ylim(), (1.0 / 1.15, 3.0 * 1.3))


def test_lr_sensitivity_plots_the_median_test_ratio_per_lr(ctx):
    ax = lr_sensitivity.FIGURE.draw(ctx).axes[0]
    want = {  # median over the finite seeds of test_mse / Bayes
        "glorot": [0.026 / BAYES, 0.023 / BAYES],  # 1.3, 1.15
        "orthogonal": [0.024 / BAYES, 0.022 / BAYES],  # 1.2, and 1.1 of the two finite seeds
    }
    for strategy, ys in want.items():
        (line,) = _data_lines(ax, ctx.colors[strategy])
        np.testing.assert_allclose(line.get_xdata(), [1e-3, 1e-2])
        np.testing.assert_allclose(line.get_ydata(), ys, rtol=1e-12)
    # orthogonal's band at 1e-2 spans its two finite seeds only: 0.021 and 0.023 → 1.05, 1.15
    v = _band(ax, ctx.colors["orthogonal"])
    at = v[np.isclose(v[:, 0], 1e-2), 1]
    assert at.min() == pytest.approx(1.05) and at.max() == pytest.approx(1.15)
    # Bayes floor, persistence 1.5, mean predictor 0.05 / 0.02 = 2.5
    np.testing.assert_allclose(_hlines(ax), [1.0, 1.5, 2.5])
    points = [c.get_offsets() for c in ax.collections if type(c).__name__ == "PathCollection"]
    points = np.concatenate(points)
    # the diverged run (orthogonal, 1e-2, seed 1): an x at the top (0.96 of the axes), at its LR
    # moved by the jitter of the second of two strategies, 10 ** (0.5 · 0.012)
    diverged = points[np.isclose(points[:, 1], 0.96)]
    np.testing.assert_allclose(diverged, [[1e-2 * 10 ** 0.006, 0.96]])
    # glorot is usable (test < persistence 0.03) at both LRs: its largest usable LR is the top
    # one, censored; ▶ at 1.25 × 1e-2 and the median test ratio there, 1.15
    censored = points[~np.isclose(points[:, 1], 0.96)]
    np.testing.assert_allclose(censored, [[1.25e-2, 0.023 / BAYES]])
    rows = ctx.strategy_rows("ar1", "clean").set_index("strategy")
    assert rows.loc["glorot", "usable_ratio_median"] == pytest.approx(censored[0, 1])


def test_performance_profile_steps_and_areas(ctx):
    ax = performance_profile.FIGURE.draw(ctx).axes[0]
    assert ax.get_title() == "performance profile over 3 tasks (dataset × seed)"
    # test ratios at the best LR per task (seed): glorot (1e-2) 1.15, 1.1, 1.45; orthogonal
    # (1e-3) 1.2, 1.5, 1.1. Best per task: 1.15, 1.1, 1.1, so the ratios to the best are
    # glorot 1, 1, 1.45/1.1 and orthogonal 1.2/1.15, 1.5/1.1, 1
    r = {"glorot": [1.0, 1.0, 1.45 / 1.1], "orthogonal": [1.2 / 1.15, 1.5 / 1.1, 1.0]}
    taus = np.geomspace(1.0, 4.0, 200)
    for strategy, ratios in r.items():
        (line,) = _data_lines(ax, ctx.colors[strategy])
        assert line.get_drawstyle() == "steps-post"
        np.testing.assert_allclose(line.get_xdata(), taus)
        rho = [sum(x <= tau for x in ratios) / 3 for tau in taus]
        np.testing.assert_allclose(line.get_ydata(), rho, atol=1e-12)
        # area over log2 τ ∈ [0, 2]: mean over tasks of 1 − log2(r) / 2
        area = 1 - sum(math.log2(x) for x in ratios) / 6
        label = line.get_label()
        assert label.startswith(f"{strategy}: {area:.2f} [")
        low, high = (float(v) for v in label.split("[")[1].rstrip("]").split(", "))
        assert low <= round(area, 2) <= high
    assert [t.get_text().split(":")[0] for t in ax.get_legend().get_texts()] == ["glorot",
                                                                                "orthogonal"]
