"""Test MSE / Bayes MSE at the largest usable learning rate, over seeds."""

from bench.metrics import Cell, Metric
from bench.metrics._select import at_max_usable_lr, triple


def compute(cell: Cell) -> tuple[float, float, float]:
    return triple(at_max_usable_lr(cell))


METRIC = Metric(
    name="usable_ratio_median", compute=compute, quartiles=True,
    label="test/Bayes at largest usable LR: median [IQR]", direction="lower", format="num",
    position=20,
    description="median (`usable_ratio_median`) and quartiles (`usable_ratio_q25`, "
                "`usable_ratio_q75`) over seeds of `test_ratio` at `max_usable_lr` (NaN if "
                "none).",
)
