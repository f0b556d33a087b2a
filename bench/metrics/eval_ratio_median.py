"""eval MSE / Bayes MSE at the largest usable learning rate, over seeds."""

from bench.metrics import Cell, Metric
from bench.metrics._select import at_max_usable_lr, triple


def compute(cell: Cell) -> tuple[float, float, float]:
    return triple(at_max_usable_lr(cell))


METRIC = Metric(
    name="eval_ratio_median", compute=compute, quartiles=True,
    label="eval/Bayes at usable LR: median [IQR]", direction="lower", format="num", position=20,
    description="median (`eval_ratio_median`) and quartiles (`eval_ratio_q25`, "
                "`eval_ratio_q75`) over seeds of `eval_ratio` at `max_usable_lr` (NaN if none).",
)
