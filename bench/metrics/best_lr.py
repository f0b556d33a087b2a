"""The learning rate chosen on validation data: the best median validation MSE / Bayes MSE."""

from bench.metrics import Cell, Metric
from bench.metrics._select import at_best_lr, value


def compute(cell: Cell) -> float:
    return value(at_best_lr(cell), "lr")


METRIC = Metric(
    name="best_lr", compute=compute, label="best LR (on validation)", direction="none",
    format="lr", missing="none finite", position=40,
    description="among the LRs at which every seed is `finite`, the one with the smallest median "
                "over seeds of `val_ratio` (validation data, never test; the smaller LR on a "
                "tie); NaN if no LR has every seed finite. Every `best_*` metric and the "
                "curve metrics below are read at this LR.",
)
