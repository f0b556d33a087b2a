"""Test MSE / Bayes MSE at the learning rate chosen on validation data, over seeds."""

from bench.metrics import Cell, Metric
from bench.metrics._select import at_best_lr, triple


def compute(cell: Cell) -> tuple[float, float, float]:
    return triple(at_best_lr(cell))


METRIC = Metric(
    name="best_ratio_median", compute=compute, quartiles=True,
    label="test/Bayes at best LR (geo. mean over channels): median [IQR]",
    direction="lower", format="num", position=50,
    description="median (`best_ratio_median`) and quartiles (`best_ratio_q25`, "
                "`best_ratio_q75`) over seeds of `test_ratio` at `best_lr` (NaN if no LR has "
                "every seed finite). The LR is chosen on validation data, so this is not the "
                "smallest test ratio over the LRs.",
)
