"""The number of distinct learning rates of a (dataset, strategy)."""

from bench.metrics import Cell, Metric


def compute(cell: Cell) -> int:
    return int(cell.runs["lr"].nunique())


METRIC = Metric(
    name="lrs", compute=compute, label="LRs", direction="none", format="count", position=140,
    description="number of distinct learning rates.",
)
