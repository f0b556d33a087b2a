"""The learning rate of the best median eval MSE / Bayes MSE."""

from bench.metrics import Cell, Metric
from bench.metrics._select import at_best_lr, value


def compute(cell: Cell) -> float:
    return value(at_best_lr(cell), "lr")


METRIC = Metric(
    name="best_lr", compute=compute, label="best LR", direction="none", format="lr",
    missing="none finite", position=40,
    description="the LR at which `best_ratio_median` is reached (the smaller LR on a tie); NaN "
                "if no LR has every seed finite.",
)
