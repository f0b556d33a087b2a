"""Training steps to close 90 % of the persistence-to-Bayes gap on validation, at the best LR."""

from typing import Any

from bench.metrics import Cell, Metric
from bench.metrics._select import at_best_lr, budget_text, censored_median, is_true, runs_at


def compute(cell: Cell) -> float:
    return censored_median(runs_at(cell, at_best_lr(cell))["steps_to_90"])[0]


def display(row: Any) -> str | None:
    """``> budget`` when the median seed did not reach the target within the budget."""
    return f"> {budget_text(row)}" if is_true(row.get("steps_to_90_censored")) else None


METRIC = Metric(
    name="steps_to_90_median", compute=compute, label="steps to 90 % of gap (val)",
    direction="lower", format="num", digits=6, position=64, display=display,
    description="median over seeds at `best_lr` of `steps_to_90`, a seed that never reached "
                "the target counting as +inf. When that median is infinite it is censored: NaN "
                "here, `steps_to_90_censored` true, shown as \"> N\" with N the `steps` of a "
                "run. NaN (not censored) if there is no `best_lr`.",
)
