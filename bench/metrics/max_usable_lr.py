"""The largest learning rate at which every seed is usable."""

from bench.metrics import Cell, Metric
from bench.metrics._select import at_max_usable_lr, value


def compute(cell: Cell) -> float:
    return value(at_max_usable_lr(cell), "lr")


METRIC = Metric(
    name="max_usable_lr", compute=compute, label="largest usable LR", direction="higher",
    format="lr", position=10,
    description="the largest LR of the grid at which every seed is `usable`; NaN if there is "
                "none.",
)
