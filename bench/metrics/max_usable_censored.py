"""Whether the largest usable learning rate is the largest one run (its edge was not found)."""

import numpy as np

from bench.metrics import Cell, Metric
from bench.metrics._select import max_usable


def compute(cell: Cell) -> bool | float:
    row, censored = max_usable(cell)
    return bool(censored) if row is not None else np.nan


METRIC = Metric(
    name="max_usable_censored", compute=compute, label="largest usable LR censored",
    direction="none", format="flag", position=11, in_table=False,
    description="true when `max_usable_lr` is the largest LR run for the cell, so the largest "
                "usable LR is at least that (censored); false when a larger LR was run and "
                "failed; missing when there is no usable LR. Not a column of the report's table: "
                "it is shown as \"≥\" in `max_usable_lr`.",
)
