"""Area under the validation ratio curve per step at the best learning rate, over seeds."""

from bench.metrics import Cell, Metric
from bench.metrics._select import at_best_lr, median_inf, runs_at


def compute(cell: Cell) -> float:
    return median_inf(runs_at(cell, at_best_lr(cell))["val_auc"])


METRIC = Metric(
    name="val_auc_median", compute=compute, label="val/Bayes AUC per step at best LR",
    direction="lower", format="num", position=66,
    description="median over seeds at `best_lr` of `val_auc` (a seed whose `val_auc` is NaN "
                "counts as +inf, so the median is inf when at least half are NaN); NaN if there "
                "is no `best_lr`. A run flat at ratio r has r; lower means the run got close to "
                "the floor sooner.",
)
