"""The best median eval MSE / Bayes MSE over the learning rates where every seed is finite."""

from bench.metrics import Cell, Metric
from bench.metrics._select import at_best_lr, triple


def compute(cell: Cell) -> tuple[float, float, float]:
    return triple(at_best_lr(cell))


METRIC = Metric(
    name="best_ratio_median", compute=compute, quartiles=True,
    label="best eval/Bayes: median [IQR]", direction="lower", format="num", position=50,
    description="the smallest, over the LRs at which every seed is `finite`, of the median over "
                "seeds of `eval_ratio`; NaN if no LR has every seed finite. `best_ratio_q25` and "
                "`best_ratio_q75` are the quartiles over seeds of `eval_ratio` at `best_lr`.",
)
