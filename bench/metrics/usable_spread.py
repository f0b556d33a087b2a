"""Relative spread over seeds of the test MSE at the largest usable learning rate."""

from bench.metrics import Cell, Metric
from bench.metrics._select import at_max_usable_lr, value


def compute(cell: Cell) -> float:
    return value(at_max_usable_lr(cell), "spread")


METRIC = Metric(
    name="usable_spread", compute=compute, label="spread at largest usable LR",
    direction="lower", format="num", digits=2, position=30,
    description="`(max - min) / median` over seeds of `test_mse` at `max_usable_lr` (0 with one "
                "seed; NaN if no usable LR).",
)
