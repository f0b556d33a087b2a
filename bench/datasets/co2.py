"""Mauna Loa weekly CO2, 1958-2001, as weekly changes (ppm/week): a noisy 52-step yearly cycle.

Source: ``statsmodels.datasets.co2`` (shipped with statsmodels, nothing downloaded): weekly
(Saturday) mean atmospheric CO2 concentration at Mauna Loa, Hawaii, in ppm (ppmv), from
1958-03-29 to 2001-12-29, 2284 weeks on a regular weekly grid, 59 of them missing.

Transformation (fixed, no parameters fitted on the data):

1. the missing weeks are filled by linear interpolation between their neighbours (the first
   and last weeks are observed, so nothing is extrapolated);
2. first differences, x[t] = co2[t + 1] - co2[t], the weekly change in ppm. This removes the
   slowly accelerating trend (+0.024 ppm/week on average); what remains is stationary around a
   yearly cycle (uptake in the northern summer, release in winter) plus week-to-week measurement
   noise, which dominates the variance.

Length T = 2283 steps, C = 1 channel; the default split (:func:`bench.series.split`) gives
1370 / 457 / 456 weeks for train / val / test (test roughly 1993-2001).

Why it is in the benchmark: the predictable part is a periodic signal with a 52-step period
buried in noise, so a predictor has to carry information a year back; a memory task with long
lags on a real, low signal-to-noise series. An AR baseline limited to 24 lags cannot see the
previous year, hence ``AR_MAX_LAG = 60`` here (the AIC picks order 58).
"""

from __future__ import annotations

from functools import cache

import numpy as np

from bench.series import describe

KIND = "series"
CHANNELS = 1
LABEL_PARAMS = ("ar_order", "lag1_autocorrelation")  # heads of the per-channel table
AR_MAX_LAG = 60  # lags offered to the AIC of the AR baseline: more than one year (52 weeks)


@cache
def _series() -> np.ndarray:
    from statsmodels.datasets import co2

    ppm = co2.load_pandas().data["co2"].astype(np.float64)
    filled = ppm.interpolate(method="linear").to_numpy()  # the index is a regular weekly grid
    if np.isnan(filled).any():
        raise ValueError("co2: missing values left after interpolation")
    x = np.diff(filled)[:, None]
    x.setflags(write=False)
    return x


def series() -> np.ndarray:
    """Weekly CO2 change in ppm, float64 array of shape (2283, 1)."""
    return _series().copy()


def params() -> dict[str, np.ndarray]:
    """Training-part ``train_mean``, ``train_std`` (ppm/week), ``lag1_autocorrelation`` and
    the AIC ``ar_order`` (up to ``AR_MAX_LAG``), each of shape (1,)."""
    return describe(_series(), max_lag=AR_MAX_LAG)
