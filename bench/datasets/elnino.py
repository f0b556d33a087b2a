"""Monthly sea-surface temperature anomalies (El Nino region), 1950-2010: a persistent ENSO signal.

Source: ``statsmodels.datasets.elnino`` (shipped with statsmodels, nothing downloaded):
monthly average sea-surface temperature in degrees Celsius, 61 years (1950-2010) x 12 months,
no missing values.

Transformation:

1. the year x month table is flattened, in time order (Jan 1950, Feb 1950, ..., Dec 2010), to
   one monthly series of 732 steps;
2. seasonal anomalies: each calendar month's mean is subtracted, that mean computed on the
   TRAINING part only (the first round(0.6 * 732) = 439 months of the default split of
   :func:`bench.series.split`, i.e. Jan 1950 - Jul 1986), so no statistic of the validation or
   test months leaks into the series. (A split with other fractions still uses these means.)

Length T = 732 steps (months), C = 1 channel, in degrees Celsius before standardisation;
train / val / test = 439 / 146 / 147 months (test roughly Oct 1998 - Dec 2010).

Why it is in the benchmark: with the fixed annual cycle removed, what remains is the El Nino /
La Nina oscillation, a strongly persistent signal (lag-1 autocorrelation about 0.9) with
irregular 2-7 year episodes: persistence is already a good predictor and the margin for a
model is small, the opposite regime from ``co2``. Deseasonalising rather than differencing
keeps that long memory visible instead of turning the series into noise.
"""

from __future__ import annotations

from functools import cache

import numpy as np

from bench.series import describe, part_lengths

KIND = "series"
CHANNELS = 1
LABEL_PARAMS = ("ar_order", "lag1_autocorrelation")  # heads of the per-channel table
AR_MAX_LAG = 24  # lags offered to the AIC of the AR baseline (two years)


@cache
def _series() -> np.ndarray:
    from statsmodels.datasets import elnino

    table = elnino.load_pandas().data.drop(columns="YEAR").to_numpy(dtype=np.float64)
    sst = table.reshape(-1)  # row-major: year by year, January to December
    month = np.arange(sst.size) % 12
    n_train = part_lengths(sst.size)[0]
    means = np.array([sst[:n_train][month[:n_train] == m].mean() for m in range(12)])
    x = (sst - means[month])[:, None]
    x.setflags(write=False)
    return x


def series() -> np.ndarray:
    """Monthly SST anomaly in degrees Celsius, float64 array of shape (732, 1)."""
    return _series().copy()


def params() -> dict[str, np.ndarray]:
    """Training-part ``train_mean``, ``train_std`` (degrees C), ``lag1_autocorrelation`` and
    the AIC ``ar_order`` (up to ``AR_MAX_LAG``), each of shape (1,)."""
    return describe(_series(), max_lag=AR_MAX_LAG)
