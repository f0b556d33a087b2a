"""The number of distinct seeds of a (dataset, strategy)."""

from bench.metrics import Cell, Metric


def compute(cell: Cell) -> int:
    return int(cell.runs["seed"].nunique())


METRIC = Metric(
    name="seeds", compute=compute, label="seeds", direction="none", format="count", position=130,
    description="number of distinct seeds.",
)
