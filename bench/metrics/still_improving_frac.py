"""The fraction of seeds at the best learning rate still improving at the end of training."""

import numpy as np

from bench.metrics import Cell, Metric
from bench.metrics._select import at_best_lr, runs_at


def compute(cell: Cell) -> float:
    runs = runs_at(cell, at_best_lr(cell))
    return float(runs["still_improving"].astype(bool).mean()) if len(runs) else np.nan


METRIC = Metric(
    name="still_improving_frac", compute=compute, label="still improving at best LR",
    direction="none", format="pct", position=68,
    description="fraction of the seeds at `best_lr` that are `still_improving` (NaN if there is "
                "no `best_lr`). Above 0: the budget was too short for these runs.",
)
