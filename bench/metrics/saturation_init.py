"""The most saturated gate in the forward pass at init."""

import numpy as np

from bench.metrics import Cell, Metric


def _max_fraction(layers: object) -> float:
    if not isinstance(layers, list | tuple | np.ndarray) or not len(layers):
        return np.nan
    vals = [v for d in layers if isinstance(d, dict) for v in d.values() if v is not None]
    vals = [v for v in vals if np.isfinite(v)]
    return float(max(vals)) if vals else np.nan


def compute(cell: Cell) -> float:
    if "init_saturation" not in cell.runs or not len(cell.runs):
        return np.nan
    first = cell.runs.groupby("seed", sort=True).first()
    v = first["init_saturation"].map(_max_fraction).dropna()
    return float(np.median(v)) if len(v) else np.nan


METRIC = Metric(
    name="saturation_init", compute=compute, label="most saturated gate at init",
    direction="none", format="pct", position=114,
    description="median over seeds of the largest over layers and gates of `init_saturation`: "
                "the fraction of a sigmoid gate's values above 0.99 or below 0.01 (or of "
                "|cell input| above 0.99) over the finite steps of the pass at init.",
)
