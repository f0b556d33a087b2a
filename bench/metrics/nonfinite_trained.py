"""Non-finite outputs in the long pass on the trained weights."""

import numpy as np

from bench.metrics import Cell, Metric
from bench.metrics._select import best_lr_layer_max


def compute(cell: Cell) -> float:
    v = best_lr_layer_max(cell, "trained_nonfinite_frac").dropna()
    return float(np.mean(v)) if len(v) else np.nan


METRIC = Metric(
    name="nonfinite_trained", compute=compute, label="non-finite after training (long pass)",
    direction="lower", format="pct", position=117,
    description="mean over the seeds at `best_lr` of the largest over layers of "
                "`trained_nonfinite_frac`: the fraction of non-finite hidden values in the "
                "10 000-step pass on the trained weights (training windows are 32 steps; this "
                "pass shows whether the trained network stays finite far longer).",
)
