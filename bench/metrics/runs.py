"""The number of runs of a (dataset, strategy)."""

from bench.metrics import Cell, Metric


def compute(cell: Cell) -> int:
    return int(len(cell.runs))


METRIC = Metric(
    name="runs", compute=compute, label="runs", direction="none", format="count", position=120,
    description="number of runs (every LR and seed).",
)
