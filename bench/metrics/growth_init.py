"""How fast max |h| grows per 1 000 steps in the forward pass at init."""

import numpy as np

from bench.metrics import Cell, Metric
from bench.metrics._select import per_seed_layer_max


def compute(cell: Cell) -> float:
    v = per_seed_layer_max(cell, "init_growth_h").dropna()
    return float(np.median(v)) if len(v) else np.nan


METRIC = Metric(
    name="growth_init", compute=compute, label="growth of max |h| per 1000 steps at init",
    direction="none", format="num", position=111,
    description="median over seeds of the largest over layers of `init_growth_h`: the factor "
                "by which max |h| grows per 1 000 steps over the second half of the finite "
                "part of the 10 000-step pass at init (≈ 1: bounded; > 1: growing). See "
                "`bench/diagnostics.py`.",
)
