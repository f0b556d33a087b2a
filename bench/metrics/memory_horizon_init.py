"""Lag at which the gradient through time has fallen by 10³, in the pass at init."""

import numpy as np

from bench.metrics import Cell, Metric
from bench.metrics._select import per_seed_layer_max


def compute(cell: Cell) -> float:
    v = per_seed_layer_max(cell, "init_memory_horizon")
    if not len(v):
        return np.nan
    return float(np.median(v.fillna(np.inf).to_numpy()))


METRIC = Metric(
    name="memory_horizon_init", compute=compute, label="gradient memory horizon at init (steps)",
    direction="none", format="num", position=113,
    description="median over seeds of the largest over layers of `init_memory_horizon`: the "
                "smallest lag k at which ‖∂s_T/∂s_{T−k}‖ (s = (h, c), the product of step "
                "Jacobians) is below 10⁻³ of its k = 1 value. A seed where it is not reached "
                "within 64 steps counts as +inf (shown as inf: longer than 64 steps).",
)
