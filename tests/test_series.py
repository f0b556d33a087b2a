"""Real-series machinery (:mod:`bench.series`) and the statsmodels-shipped datasets, checked
against independent references: statsmodels' own AR order selection and one-step predictions,
a synthetic AR(2) with known innovations, and the raw statsmodels tables."""

from types import ModuleType

import helpers
import numpy as np
import pytest
from scipy.signal import lfilter
from statsmodels.tsa.ar_model import AutoReg, ar_select_order

from bench import series as S
from bench.datasets import co2, elnino, sunspots

REAL = {"co2": (co2, 2283), "elnino": (elnino, 732), "sunspots": (sunspots, 309)}


def ar_path(rng: np.random.Generator, phi: tuple[float, ...], n: int, burn: int = 1000
            ) -> tuple[np.ndarray, np.ndarray]:
    """x_t = sum_k phi_k x_{t-k} + eps_t, eps ~ N(0, 1): (x, eps), both of length n."""
    eps = rng.standard_normal(n + burn)
    x = lfilter([1.0], [1.0, *(-np.asarray(phi))], eps)
    return x[burn:], eps[burn:]


def mixed_series(n: int = 1000) -> np.ndarray:
    """Three channels: AR(2), white noise, AR(1) with a non-zero mean and scale."""
    rng = np.random.default_rng(7)
    return np.stack([
        ar_path(rng, (1.2, -0.5), n)[0],
        rng.standard_normal(n),
        5.0 + 3.0 * ar_path(rng, (0.8,), n)[0],
    ], axis=1)


# --- split ------------------------------------------------------------------------------------


def test_split_is_chronological_disjoint_complete_and_standardised_on_train() -> None:
    t = np.arange(1000, dtype=np.float64)
    x = np.stack([t, -2.0 * t + 7.0, np.sin(t / 5.0) * 3.0 + 1.0], axis=1)
    s = S.split(x, fractions=(0.5, 0.3, 0.2))
    assert [p.shape for p in (s.train, s.val, s.test)] == [(500, 3), (300, 3), (200, 3)]
    # undo the standardisation: the parts, concatenated in order, are the series itself
    back = np.concatenate([s.train, s.val, s.test]) * s.std + s.mean
    np.testing.assert_allclose(back, x, rtol=0, atol=1e-9)
    # the time stamps of channel 0 are strictly increasing across the parts (no overlap, no gap)
    stamps = np.concatenate([s.train, s.val, s.test])[:, 0] * s.std[0] + s.mean[0]
    np.testing.assert_allclose(stamps, t, atol=1e-9)
    # statistics are the TRAINING part's, not the whole series'
    np.testing.assert_allclose(s.mean, x[:500].mean(axis=0))
    np.testing.assert_allclose(s.std, x[:500].std(axis=0))
    np.testing.assert_allclose(s.train.mean(axis=0), 0.0, atol=1e-12)
    np.testing.assert_allclose(s.train.std(axis=0), 1.0, rtol=1e-12)
    assert abs(s.test[:, 0].mean()) > 1.0  # the test part of a trend is not re-centred


def test_split_defaults_and_one_dimensional_input() -> None:
    x = np.random.default_rng(0).standard_normal(309)
    s = S.split(x)
    assert (s.train.shape, s.val.shape, s.test.shape) == ((185, 1), (62, 1), (62, 1))
    assert s.mean.shape == s.std.shape == (1,)
    assert s.train.dtype == np.float64
    assert S.part_lengths(732) == (439, 146, 147)


@pytest.mark.parametrize(("x", "fractions", "match"), [
    (np.r_[np.zeros(50), np.nan, np.ones(149)], (0.6, 0.2, 0.2), r"NaN at 1 time step.*t=50"),
    (np.arange(200.0), (0.6, 0.2, 0.3), r"sum to 1"),
    (np.arange(200.0), (0.6, 0.5, -0.1), r"> 0"),
    (np.arange(200.0), (0.5, 0.5), r"three numbers"),
    (np.arange(100.0), (0.6, 0.2, 0.2), r"val part has 20 steps, fewer than 32"),
    (np.arange(200.0), (0.9, 0.05, 0.05), r"val part has 10 steps, fewer than 32"),
    (np.r_[np.ones(120), np.arange(80.0)], (0.6, 0.2, 0.2), r"constant on the training part"),
    (np.zeros((200, 1, 1)), (0.6, 0.2, 0.2), r"1-D .* or 2-D"),
])
def test_split_rejects_bad_inputs_naming_the_problem(x, fractions, match) -> None:
    with pytest.raises(ValueError, match=match):
        S.split(x, fractions)


# --- AR baseline ------------------------------------------------------------------------------


def check_against_statsmodels(s: S.Split, max_lag: int) -> S.ARBaseline:
    """The baseline's order, fit and one-step predictions equal statsmodels' own."""
    b = S.ar_baseline(s, max_lag=max_lag)
    history = np.concatenate([s.val, s.test])
    v, n_test = len(s.val), len(s.test)
    assert b.predictions.shape == (n_test - 1, s.train.shape[1])
    for c, p in enumerate(b.lags):
        sel = ar_select_order(s.train[:, c], maxlag=max_lag, ic="aic", trend="c", glob=False)
        assert p == len(sel.ar_lags or [])
        assert list(sel.ar_lags or []) == list(range(1, p + 1))
        res = AutoReg(s.train[:, c], lags=p, trend="c").fit()
        np.testing.assert_allclose(b.params[c], res.params, rtol=1e-12, atol=1e-14)
        # statsmodels' one-step predictions with the same fixed params, targets test[1:]
        ref = AutoReg(history[:, c], lags=p, trend="c").predict(
            params=res.params, start=v + 1, end=v + n_test - 1)
        np.testing.assert_allclose(b.predictions[:, c], ref, rtol=1e-9, atol=1e-12)
        # and the same via the fitted results applied to the new history
        ref2 = res.apply(history[:, c]).predict(start=v + 1, end=v + n_test - 1)
        np.testing.assert_allclose(b.predictions[:, c], ref2, rtol=1e-9, atol=1e-12)
        mse = np.mean((s.test[1:, c] - ref) ** 2)
        np.testing.assert_allclose(b.test_mse[c], mse, rtol=1e-9)
    return b


def test_ar_baseline_matches_statsmodels_one_step_predictions() -> None:
    b = check_against_statsmodels(S.split(mixed_series()), max_lag=24)
    assert b.lags[0] >= 2 and b.lags[2] >= 1


@pytest.mark.parametrize("name", sorted(REAL))
def test_ar_baseline_matches_statsmodels_on_real_series(name: str) -> None:
    module = REAL[name][0]
    check_against_statsmodels(S.split(module.series()), max_lag=module.AR_MAX_LAG)


def test_ar_baseline_of_order_zero_predicts_the_constant() -> None:
    s = S.split(mixed_series())
    b = S.ar_baseline(s, max_lag=0)
    assert b.lags == [0, 0, 0]
    for c in range(3):
        assert b.params[c].shape == (1,)
        np.testing.assert_allclose(b.params[c][0], s.train[:, c].mean(), atol=1e-12)
        np.testing.assert_array_equal(b.predictions[:, c], b.params[c][0])
    const = np.array([p[0] for p in b.params])
    np.testing.assert_allclose(b.test_mse, np.mean((s.test[1:] - const) ** 2, axis=0))


def test_ar_baseline_recovers_a_known_ar2() -> None:
    phi = (0.75, -0.5)
    x, eps = ar_path(np.random.default_rng(2024), phi, 6000)
    s = S.split(x)
    b = S.ar_baseline(s)
    assert b.lags[0] >= 2
    np.testing.assert_allclose(b.params[0][1:3], phi, atol=0.05)
    n0 = len(s.train) + len(s.val)
    # innovation variance in standardised units: the theoretical one (q = 1) ...
    q_std = 1.0 / s.std[0] ** 2
    # ... and the realised one on the same 1199 test targets (what the true predictor scores)
    q_realised = np.mean(eps[n0 + 1:] ** 2) / s.std[0] ** 2
    assert abs(b.test_mse[0] / q_realised - 1.0) < 0.05
    # against the theoretical q, the MSE of 1199 targets has a ~sqrt(2/1199) = 4 % sampling error
    assert abs(b.test_mse[0] / q_std - 1.0) < 4 * np.sqrt(2 / (len(s.test) - 1))
    # the true predictor, written out, also scores the realised innovation variance
    xt = x[n0:]
    oracle = phi[0] * x[n0:-1] + phi[1] * x[n0 - 1:-2]
    np.testing.assert_allclose(np.mean((xt[1:] - oracle) ** 2) / s.std[0] ** 2, q_realised)


def test_ar_baseline_rejects_bad_max_lag() -> None:
    s = S.split(np.random.default_rng(0).standard_normal(200))  # val part: 40 steps
    with pytest.raises(ValueError, match=r"max_lag \(41\) exceeds the validation part"):
        S.ar_baseline(s, max_lag=41)
    with pytest.raises(ValueError, match=r"max_lag must be >= 0"):
        S.ar_baseline(s, max_lag=-1)


# --- floors and windows -----------------------------------------------------------------------


def test_persistence_and_variance() -> None:
    part = np.array([[0.0, 1.0], [1.0, 1.0], [3.0, 4.0], [2.0, 4.0]])
    np.testing.assert_allclose(S.persistence_mse(part), [(1 + 4 + 1) / 3, (0 + 9 + 0) / 3])
    np.testing.assert_allclose(S.variance(part), [np.var([1.0, 3, 2]), np.var([1.0, 4, 4])])
    assert S.persistence_mse(np.arange(5.0)).shape == (1,)


def test_windows_are_contiguous_slices_of_the_part() -> None:
    part = np.stack([np.arange(100.0), -np.arange(100.0)], axis=1)
    w = S.windows(part, 50, 16, np.random.default_rng(3))
    assert w.shape == (50, 16, 2)
    starts = w[:, 0, 0].astype(int)
    assert starts.min() >= 0 and starts.max() <= 100 - 16 and len(set(starts)) > 10
    for i, s0 in enumerate(starts):
        np.testing.assert_array_equal(w[i], part[s0 : s0 + 16])
    again = S.windows(part, 50, 16, np.random.default_rng(3))
    np.testing.assert_array_equal(w, again)
    full = S.windows(part, 3, 100, np.random.default_rng(0))
    np.testing.assert_array_equal(full, np.broadcast_to(part, (3, 100, 2)))


def test_windows_reject_bad_inputs() -> None:
    part = np.zeros((20, 1))
    rng = np.random.default_rng(0)
    with pytest.raises(ValueError, match=r"part has 20 steps, shorter than the window length 21"):
        S.windows(part, 4, 21, rng)
    with pytest.raises(ValueError, match=r"n must be >= 1"):
        S.windows(part, 0, 5, rng)
    with pytest.raises(ValueError, match=r"length must be >= 2"):
        S.windows(part, 4, 1, rng)


# --- real datasets ----------------------------------------------------------------------------


@pytest.mark.parametrize("name", sorted(REAL))
def test_real_dataset_shape_determinism_and_params(name: str) -> None:
    module, length = REAL[name]
    assert isinstance(module, ModuleType) and module.KIND == "series"
    summary = (module.__doc__ or "").strip().splitlines()[0]
    assert summary and len(summary) <= 100
    x = module.series()
    assert x.shape == (length, module.CHANNELS) and x.dtype == np.float64
    assert np.isfinite(x).all()
    x[:] = 0.0  # a caller's copy: mutating it must not change the next call
    y, z = module.series(), module.series()
    np.testing.assert_array_equal(y, z)
    assert np.abs(y).sum() > 0
    p = module.params()
    assert {"lag1_autocorrelation", "ar_order"} <= set(p)
    for value in p.values():
        assert np.shape(value) == (module.CHANNELS,)
    assert np.all(np.abs(p["lag1_autocorrelation"]) < 1)


@pytest.mark.parametrize("name", sorted(REAL))
def test_real_dataset_ar_baseline_beats_persistence(name: str) -> None:
    module = REAL[name][0]
    s = S.split(module.series())
    b = S.ar_baseline(s, max_lag=module.AR_MAX_LAG)
    assert np.all(b.test_mse < S.persistence_mse(s.test))
    assert np.all(b.test_mse < S.variance(s.test))


def test_co2_is_the_interpolated_weekly_difference() -> None:
    from statsmodels.datasets import co2 as raw

    ppm = raw.load_pandas().data["co2"].to_numpy()
    x = co2.series()[:, 0]
    # differences telescope back to the observed levels wherever a week is observed
    level = ppm[0] + np.r_[0.0, np.cumsum(x)]
    seen = ~np.isnan(ppm)
    np.testing.assert_allclose(level[seen], ppm[seen], atol=1e-9)
    # inside a gap the level is the straight line between the observed ends
    gap = np.flatnonzero(~seen)[0]
    lo, hi = gap - 1, gap + np.argmax(seen[gap:])
    line = np.interp(np.arange(lo, hi + 1), [lo, hi], [ppm[lo], ppm[hi]])
    np.testing.assert_allclose(level[lo : hi + 1], line, atol=1e-9)


def test_elnino_is_monthly_anomaly_from_training_months() -> None:
    from statsmodels.datasets import elnino as raw

    table = raw.load_pandas().data.drop(columns="YEAR").to_numpy()  # (61 years, 12 months)
    x = elnino.series()[:, 0].reshape(61, 12)
    # the same calendar month is shifted by one constant: x[year, m] - table[year, m]
    shift = x - table
    np.testing.assert_allclose(shift, np.broadcast_to(shift[0], shift.shape), atol=1e-12)
    # and that constant is minus the mean of that month over the first 439 months only
    months = np.arange(439) % 12
    train = table.reshape(-1)[:439]
    expected = -np.array([train[months == m].mean() for m in range(12)])
    np.testing.assert_allclose(shift[0], expected, atol=1e-12)


def test_sunspots_is_sqrt_of_the_counts() -> None:
    from statsmodels.datasets import sunspots as raw

    counts = raw.load_pandas().data["SUNACTIVITY"].to_numpy()
    np.testing.assert_allclose(sunspots.series()[:, 0] ** 2, counts, rtol=1e-12, atol=1e-12)


def test_a_real_series_runs_in_a_sweep_and_its_floor_is_the_ar_baseline(tmp_path):
    """sunspots through the sweep: one channel (the network follows the dataset), the record's
    floor is the AR(p) baseline's test MSE on the same split (times data_scale²), persistence
    and variance are the test part's, and the run beats persistence or at least trains."""
    from bench import sweep

    spec = sweep.SweepSpec(profile="quick", strategies="glorot", datasets=("sunspots",),
                           lrs=(1e-2,), seeds=1, overrides={k: helpers.TINY[k] for k in (
                               "hidden", "window", "batch_size", "steps", "val_every",
                               "curve_points")},
                           controls=False, extend=False, runs_axis="vmap")
    out = sweep.run_sweep(spec, tmp_path, progress=False, log=lambda _: None, workers=1)
    assert out["ran"] == 1 and not out["failures"]
    r = sweep.Store(tmp_path).records()[0]
    assert r.config["channels"] == 1 and len(r.test_mse_channels) == 1
    sp = S.split(sunspots.series())
    base = S.ar_baseline(sp, max_lag=sunspots.AR_MAX_LAG)
    k = r.config["data_scale"] ** 2
    np.testing.assert_allclose(r.bayes_mse, base.test_mse[0] * k, rtol=1e-12)
    np.testing.assert_allclose(r.persistence_mse, S.persistence_mse(sp.test)[0] * k, rtol=1e-12)
    assert r.floor_name == f"AR({base.lags[0]}) baseline"
    assert np.isfinite(r.test_mse)


def test_figures_name_the_ar_baseline_for_a_real_series():
    """On a real series the ratio's denominator is the AR baseline, and the figures say so."""
    import pandas as pd

    from bench import summary as sm
    from bench.figures import ResultsContext

    runs = pd.DataFrame([{"arm": "clean", "dataset": "sunspots", "strategy": "glorot",
                          "bayes_mse": 0.01, "persistence_mse": 0.03, "variance": 0.09,
                          "floor_name": "AR(9) baseline"},
                         {"arm": "clean", "dataset": "ar1", "strategy": "glorot",
                          "bayes_mse": 0.02, "persistence_mse": 0.03, "variance": 0.06}])
    assert sm.floors(runs).set_index("dataset")["floor_name"].to_dict() == {
        "sunspots": "AR(9) baseline", "ar1": "Bayes floor"}
    ctx = ResultsContext.build(runs, pd.DataFrame(columns=["arm", "dataset", "kind"]))
    assert ctx.denominator("sunspots", "clean") == "AR(9) baseline MSE"
    assert ctx.denominator("ar1", "clean") == "Bayes MSE"
