"""Spectral radius of the recurrent step Jacobian on the trained weights."""

import numpy as np

from bench.metrics import Cell, Metric
from bench.metrics._select import best_lr_layer_max


def compute(cell: Cell) -> float:
    v = best_lr_layer_max(cell, "trained_jac_radius").dropna()
    return float(np.median(v)) if len(v) else np.nan


METRIC = Metric(
    name="jac_radius_trained", compute=compute, label="Jacobian spectral radius after training",
    direction="none", format="num", position=116,
    description="median over the seeds at `best_lr` of the largest over layers of "
                "`trained_jac_radius` (`jac_radius_init` on the trained weights).",
)
