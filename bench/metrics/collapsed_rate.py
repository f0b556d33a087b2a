"""The fraction of runs stopped early because they stayed at the mean predictor."""

import numpy as np
import pandas as pd

from bench.metrics import Cell, Metric


def compute(cell: Cell) -> float:
    runs = cell.runs
    if "stopped_reason" not in runs.columns:  # a table from before runs could stop
        return np.nan
    rule = pd.to_numeric(runs.get("cfg.stop_collapsed", pd.Series(np.nan, runs.index)))
    if not (rule > 0).any():  # the rule was off for every run: nothing to count
        return np.nan
    return float((runs["stopped_reason"] == "collapsed").mean())


METRIC = Metric(
    name="collapsed_rate", compute=compute, label="stopped as collapsed", direction="lower",
    format="pct", position=71, optional=True,
    description="fraction of all runs (every LR and seed) that training stopped as collapsed "
                "(`stopped_reason`): the validation MSE stayed within 1 % of the "
                "variance-to-floor gap of the mean predictor for `stop_collapsed` of the "
                "validation points in a row, so the run stopped costing compute there. NaN, and "
                "no column in the report, when the rule was off for every run "
                "(`stop_collapsed` = 0, the default) or the table has no `stopped_reason`. "
                "See docs/protocol.md.",
)
