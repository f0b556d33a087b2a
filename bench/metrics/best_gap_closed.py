"""The fraction of the persistence-to-Bayes gap closed on test at the best learning rate."""

from bench.metrics import Cell, Metric
from bench.metrics._select import at_best_lr, value


def compute(cell: Cell) -> float:
    return value(at_best_lr(cell), "gap_closed_median")


METRIC = Metric(
    name="best_gap_closed", compute=compute, label="gap closed at best LR", direction="higher",
    format="num", position=60,
    description="the median over seeds of `gap_closed` (test) at `best_lr` (NaN if no LR has "
                "every seed finite).",
)
