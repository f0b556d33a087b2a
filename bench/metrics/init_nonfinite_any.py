"""The fraction of seeds with a non-finite hidden state in any layer at init."""

import numpy as np

from bench.metrics import Cell, Metric


def compute(cell: Cell) -> float:
    if not len(cell.init):
        return np.nan
    return float(cell.init["any_nonfinite"].astype(float).mean())


METRIC = Metric(
    name="init_nonfinite_any", compute=compute, label="seeds NaN at init (any layer)",
    direction="lower", format="pct", position=110,
    description="fraction of seeds with a non-finite h in any layer at init "
                "(`init_first_nonfinite >= 0` in some layer).",
)
