"""The fraction of runs that are usable."""

from bench.metrics import Cell, Metric


def compute(cell: Cell) -> float:
    return float(cell.runs["usable"].mean())


METRIC = Metric(
    name="usable_frac", compute=compute, label="usable", direction="higher", format="pct",
    position=90,
    description="fraction of all runs (every LR and seed) that are `usable`.",
)
