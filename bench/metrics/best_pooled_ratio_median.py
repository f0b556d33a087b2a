"""Pooled test MSE / pooled Bayes MSE at the learning rate chosen on validation data."""

from bench.metrics import Cell, Metric
from bench.metrics._select import at_best_lr, value


def compute(cell: Cell) -> float:
    return value(at_best_lr(cell), "pooled_ratio_median")


METRIC = Metric(
    name="best_pooled_ratio_median", compute=compute, label="pooled test/Bayes at best LR",
    direction="lower", format="num", position=51,
    description="median over seeds of `test_ratio_pooled` at `best_lr`: the ratio of the MSE "
                "and the floor pooled over channels, the score of earlier versions. Secondary: "
                "channels with large floors dominate it (NaN if there is no `best_lr`).",
)
