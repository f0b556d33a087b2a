"""The fraction of non-finite outputs of the last layer in the forward pass at init."""

import numpy as np

from bench.metrics import Cell, Metric


def compute(cell: Cell) -> float:
    if not len(cell.init):
        return np.nan
    return float(cell.init["last_layer_nonfinite"].astype(float).mean())


METRIC = Metric(
    name="nan_rate_init", compute=compute, label="NaN at init (last layer)", direction="lower",
    format="pct", position=100,
    description="mean over seeds of the fraction of non-finite outputs (h) of the stack's last "
                "layer in the forward pass at init. A layer whose `init_first_nonfinite` is -1 "
                "counts as 0.",
)
