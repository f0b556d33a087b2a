"""Whether the median seed at the best LR never closed 90 % of the gap within the budget."""

import numpy as np

from bench.metrics import Cell, Metric
from bench.metrics._select import at_best_lr, censored_median, runs_at


def compute(cell: Cell) -> bool | float:
    row = at_best_lr(cell)
    return censored_median(runs_at(cell, row)["steps_to_90"])[1] if row is not None else np.nan


METRIC = Metric(
    name="steps_to_90_censored", compute=compute, label="steps to 90 % censored",
    direction="none", format="flag", position=65, in_table=False,
    description="true when `steps_to_90_median` is censored (at least half the seeds at "
                "`best_lr` never reached the target within the budget); missing if there is no "
                "`best_lr`. Not a column of the report's table: shown as \"> N\" in "
                "`steps_to_90_median`.",
)
