"""The largest learning rate at which, and at every smaller one, every seed is usable."""

from typing import Any

from bench import fmt
from bench.metrics import Cell, Metric
from bench.metrics._select import is_true, max_usable, value


def compute(cell: Cell) -> float:
    return value(max_usable(cell)[0], "lr")


def display(row: Any) -> str | None:
    """``≥ lr`` when the edge was not found (usable at the largest LR run)."""
    if is_true(row.get("max_usable_censored")) and not fmt.is_missing(row.get("max_usable_lr")):
        return f"≥ {fmt.lr(row['max_usable_lr'])}"
    return None


METRIC = Metric(
    name="max_usable_lr", compute=compute, label="largest usable LR", direction="higher",
    format="lr", position=10, display=display,
    description="the largest LR L of the LRs run for the cell such that every seed is `usable` "
                "at L and at every LR between the smallest LR where every seed is usable and L "
                "(no holes; LRs below that block, too small to train within the budget, are "
                "not holes); NaN (\"none\") if no LR is usable. When L is the largest LR run "
                "(`max_usable_censored`), the edge was not found and the report shows \"≥ L\".",
)
