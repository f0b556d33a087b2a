"""The fraction of runs that are finite."""

from bench.metrics import Cell, Metric


def compute(cell: Cell) -> float:
    return float(cell.runs["finite"].mean())


METRIC = Metric(
    name="stable_frac", compute=compute, label="finite", direction="higher", format="pct",
    position=80,
    description="fraction of all runs (every LR and seed) that are `finite`.",
)
