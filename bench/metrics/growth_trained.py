"""How fast max |h| grows per 1 000 steps in the same pass on the trained weights."""

import numpy as np

from bench.metrics import Cell, Metric
from bench.metrics._select import best_lr_layer_max


def compute(cell: Cell) -> float:
    v = best_lr_layer_max(cell, "trained_growth_h").dropna()
    return float(np.median(v)) if len(v) else np.nan


METRIC = Metric(
    name="growth_trained", compute=compute, label="growth of max |h| after training",
    direction="none", format="num", position=115,
    description="median over the seeds at `best_lr` of the largest over layers of "
                "`trained_growth_h`: `growth_init` measured by the same 10 000-step pass on the "
                "trained weights. ≈ 1 at init and > 1 here: stable at init, unstable after "
                "training.",
)
