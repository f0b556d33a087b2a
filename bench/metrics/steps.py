"""The training budget: steps per run."""

import numpy as np

from bench.metrics import Cell, Metric


def compute(cell: Cell) -> float:
    runs = cell.runs
    if "cfg.steps" in runs.columns and runs["cfg.steps"].notna().any():
        return float(runs["cfg.steps"].astype(float).max())
    last = [float(s[-1]) for s in runs["val_steps"] if s is not None and len(s)]
    return max(last) if last else np.nan


METRIC = Metric(
    name="steps", compute=compute, label="steps per run", direction="none", format="num",
    digits=6, position=150, in_table=False,
    description="the training budget: the largest `cfg.steps` of the cell's runs (else the "
                "largest last `val_steps`). Not a column of the report's table: it is the N of "
                "\"> N\" and is stated above each table.",
)
