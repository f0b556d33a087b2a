"""The fraction of runs that diverged in training."""

from bench.metrics import Cell, Metric


def compute(cell: Cell) -> float:
    return float(cell.runs["diverged"].astype(bool).mean())


METRIC = Metric(
    name="divergence_rate", compute=compute, label="diverged", direction="lower", format="pct",
    position=70,
    description="fraction of all runs (every LR and seed) that diverged in training.",
)
