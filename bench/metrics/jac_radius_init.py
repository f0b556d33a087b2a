"""Spectral radius of the recurrent step Jacobian in the forward pass at init."""

import numpy as np

from bench.metrics import Cell, Metric
from bench.metrics._select import per_seed_layer_max


def compute(cell: Cell) -> float:
    v = per_seed_layer_max(cell, "init_jac_radius").dropna()
    return float(np.median(v)) if len(v) else np.nan


METRIC = Metric(
    name="jac_radius_init", compute=compute, label="Jacobian spectral radius at init",
    direction="none", format="num", position=112,
    description="median over seeds of the largest over layers of `init_jac_radius`: the mean "
                "over the last 64 steps of the pass at init of the spectral radius of "
                "∂(h_t, c_t)/∂(h_{t−1}, c_{t−1}) (> 1: perturbations grow along some direction; "
                "NaN when the pass is non-finite there).",
)
