"""Yearly sunspot numbers 1700-2008, square-root transformed: a short, quasi-periodic 11-year cycle.

Source: ``statsmodels.datasets.sunspots`` (shipped with statsmodels, nothing downloaded):
yearly mean sunspot number (SUNACTIVITY, a count index, dimensionless), 309 years, no missing
values (a few years are exactly 0).

Transformation: x = sqrt(SUNACTIVITY), the standard variance-stabilising transform for these
counts (the raw cycle peaks are much more variable than its troughs).

Length T = 309 steps (years), C = 1 channel; the default split (:func:`bench.series.split`)
gives 185 / 62 / 62 years for train / val / test (test = 1947-2008).

SHORT: the test part has 62 points, i.e. 61 scored one-step targets spanning under six solar
cycles, so every test MSE on this dataset is noisy (relative standard error of the order of
20 %) and small differences between models mean nothing. The training part (185 points) is
also small for an LSTM. The 20th-century cycles are stronger than the 18th-19th century ones
the scaling is computed on, so the standardised test variance is above 1.

Why it is in the benchmark: a classic nonlinear, quasi-periodic series (period ~ 11 years,
asymmetric rise and fall) where AR models of order ~ 9 are the well-known baseline, and a
check of how the initializations behave when data are scarce.
"""

from __future__ import annotations

from functools import cache

import numpy as np

from bench.series import describe

KIND = "series"
CHANNELS = 1
LABEL_PARAMS = ("ar_order", "lag1_autocorrelation")  # heads of the per-channel table
AR_MAX_LAG = 24  # lags offered to the AIC of the AR baseline (two solar cycles)


@cache
def _series() -> np.ndarray:
    from statsmodels.datasets import sunspots

    counts = sunspots.load_pandas().data["SUNACTIVITY"].to_numpy(dtype=np.float64)
    x = np.sqrt(counts)[:, None]
    x.setflags(write=False)
    return x


def series() -> np.ndarray:
    """Square root of the yearly sunspot number, float64 array of shape (309, 1)."""
    return _series().copy()


def params() -> dict[str, np.ndarray]:
    """Training-part ``train_mean``, ``train_std``, ``lag1_autocorrelation`` and the AIC
    ``ar_order`` (up to ``AR_MAX_LAG``), each of shape (1,)."""
    return describe(_series(), max_lag=AR_MAX_LAG)
