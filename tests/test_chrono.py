"""chrono: T_max = the data's correlation time (``auto``) or a number, and the forget biases
log U[1, T_max − 1] it sets. Known answers are computed by hand in the comments."""

import math
import types

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from bench import data as bench_data
from bench.config import resolve
from bench.errors import ConfigError
from bench.processes import ar1_channels
from bench.registry import discover
from strategies.chrono import check_settings, correlation_time, sample_autocovariance, t_max

BIG = (256, 128)
Z = 5.0  # standard errors allowed in moment checks
E_INV = math.exp(-1.0)  # 0.36788


def chrono():
    return discover()[0]["chrono"]


def config(overrides=None, **kw):
    """A quick config with a 64-step window (the hand-computed answers below assume it), with
    chrono's settings merged as the registry merges them (strings)."""
    kw.setdefault("window", 64)
    return resolve("quick", settings=chrono().settings(overrides), **kw)


def ar1_gamma(phis, lags, var=1.0):
    """gamma_k = var · phi^k, shape (lags + 1, C)."""
    return var * np.asarray(phis, np.float64)[None, :] ** np.arange(lags + 1)[:, None]


# ----------------------------------------------------------------------------------------------
# correlation_time
# ----------------------------------------------------------------------------------------------


def test_correlation_time_ar1_phi_0_9():
    # 0.9^9 = 0.3874 > 1/e = 0.3679 > 0.9^10 = 0.3487: the first lag below 1/e is k = 10
    assert 0.9**9 > E_INV > 0.9**10
    assert correlation_time(ar1_gamma([0.9], 64), 64) == 10.0
    assert correlation_time(ar1_gamma([0.9], 64, var=0.0625), 64) == 10.0  # scale-free
    assert correlation_time(ar1_gamma([0.9], 12), 64) == 10.0  # only the lags up to k are read


def test_correlation_time_is_the_max_over_channels():
    # phi 0.5: 0.5 > 1/e > 0.25 -> k = 2; phi 0.7: 0.49 > 1/e > 0.343 -> k = 3;
    # phi 0.8: 0.8^4 = 0.4096 > 1/e > 0.8^5 = 0.3277 -> k = 5; phi 0.9 -> k = 10
    phis = [0.5, 0.9, 0.7, 0.8]
    each = [correlation_time(ar1_gamma([p], 64), 64) for p in phis]
    assert each == [2.0, 10.0, 3.0, 5.0]
    assert correlation_time(ar1_gamma(phis, 64), 64) == 10.0
    assert correlation_time(ar1_gamma([0.5, 0.7, 0.8], 64), 64) == 5.0


def test_correlation_time_bounds():
    # phi 0.999: 0.999^64 = 0.938 > 1/e, never below over the 64 lags -> the window, 64;
    # with 2000 lags the first k is 1000 (1/(-ln 0.999) = 999.5), still bounded by 64
    assert 0.999**64 > E_INV
    assert correlation_time(ar1_gamma([0.999], 64), 64) == 64.0
    assert correlation_time(ar1_gamma([0.999], 2000), 64) == 64.0
    assert correlation_time(ar1_gamma([0.999], 2000), 5000) == 1000.0
    assert correlation_time(ar1_gamma([0.9], 64), 8) == 8.0  # k = 10 > window 8
    # white noise: gamma_k = 0 for k >= 1 -> k = 1, raised to the lower bound 2
    white = np.zeros((65, 3))
    white[0] = 0.0625
    assert correlation_time(white, 64) == 2.0
    # a negative autocorrelation is below 1/e too: phi = -0.9 -> k = 1 -> 2
    assert correlation_time(ar1_gamma([-0.9], 64), 64) == 2.0
    # a channel without variance tells nothing and is left out
    assert correlation_time(np.column_stack([np.zeros(65), ar1_gamma([0.8], 64)[:, 0]]),
                            64) == 5.0


def test_sample_autocovariance_by_hand():
    # x = 1, -1, 1, -1 (mean 0, n = 4): gamma_0 = 4/4, gamma_1 = -3/4, gamma_2 = 2/4,
    # gamma_3 = -1/4 (biased: always divided by n, not by n - k)
    x = np.array([1.0, -1.0, 1.0, -1.0])[None, :, None]
    np.testing.assert_allclose(sample_autocovariance(x, 3)[:, 0], [1.0, -0.75, 0.5, -0.25])
    # the mean over batch and time is removed; sequences are pooled: x = (3, 1) and (1, 3),
    # mean 2, x̃ = (1, -1), (-1, 1): gamma_0 = 4/4, gamma_1 = (-1 - 1)/4
    x = np.array([[3.0, 1.0], [1.0, 3.0]])[:, :, None]
    np.testing.assert_allclose(sample_autocovariance(x, 1)[:, 0], [1.0, -0.5])


# ----------------------------------------------------------------------------------------------
# t_max: a number, or auto from the dataset / the data / the window
# ----------------------------------------------------------------------------------------------


def test_default_is_auto_and_overrides_arrive_as_strings():
    assert chrono().defaults == {"t_max": "auto"}
    assert chrono().settings({"t_max": 64}) == {"t_max": "64"}
    assert t_max(config({"t_max": 64}), None) == 64.0
    assert t_max(config({"t_max": "64"}), None) == 64.0
    assert t_max(config({"t_max": "2.5"}), None) == 2.5
    assert t_max(config({"t_max": "256"}), None) == 256.0


def test_auto_on_ar1_is_bounded_by_the_window():
    # ar1's last channel has phi = 0.99: 0.99^99 = 0.3697 > 1/e > 0.99^100 = 0.3660 -> k = 100,
    # longer than the window 64 -> 64
    assert 0.99**99 > E_INV > 0.99**100
    cfg = config()
    assert cfg.dataset == "ar1" and cfg.window == 64 and cfg.setting("t_max") == "auto"
    assert t_max(cfg, None) == 64.0
    assert t_max(config(window=128), None) == 100.0  # a window long enough to hold it
    assert t_max(config(window=16), None) == 16.0


def test_auto_on_ar2():
    # ar2's longest-memory channel: r = 0.97, period 50 (omega = 2 pi / 50). Its autocorrelation
    # in closed form (Box & Jenkins): rho_k = r^k sin(k omega + psi) / sin psi with
    # tan psi = (1 + r^2) / (1 - r^2) tan omega, psi = 1.33427: rho_10 = 0.3969 > 1/e,
    # rho_11 = 0.3034 < 1/e -> k = 11 (the other channels fall below 1/e sooner)
    r, omega = 0.97, 2 * math.pi / 50
    psi = math.atan((1 + r**2) / (1 - r**2) * math.tan(omega))

    def rho(k):
        return r**k * math.sin(k * omega + psi) / math.sin(psi)

    assert rho(10) > E_INV > rho(11)
    assert abs(rho(10) - 0.3969) < 1e-4 and abs(rho(11) - 0.3034) < 1e-4
    cfg = config(dataset="ar2")
    assert t_max(cfg, None) == 11.0
    assert t_max(cfg, None) < t_max(config(), None)  # ar2 forgets sooner than ar1


def fake_module(phis):
    """An AR(1) dataset module without ``autocovariance``."""
    module = types.ModuleType("fake_ar1")
    module.params = lambda channels, scale: {"phi": np.asarray(phis)}
    module.sample = lambda rng, n_seq, length, channels, scale: ar1_channels(
        rng, np.asarray(phis), scale**2, n_seq, length)
    return module


@pytest.fixture
def fake_dataset(monkeypatch):
    """``bench.data.get("fake")``: AR(1) channels with phi 0.5, 0.7, 0.9 (exact correlation time
    10, from 0.9) and no ``autocovariance``."""
    phis = (0.5, 0.7, 0.9)
    fake = bench_data.Dataset(name="fake", module=fake_module(phis), origin="test")
    real_get = bench_data.get
    monkeypatch.setattr(bench_data, "get", lambda name: fake if name == "fake" else real_get(name))
    return fake


def test_auto_estimates_from_the_data_without_an_autocovariance(fake_dataset):
    assert not fake_dataset.has_autocovariance
    cfg = config(dataset="fake", channels=3)
    exact = correlation_time(ar1_gamma([0.5, 0.7, 0.9], 64), 64)
    assert exact == 10.0
    # many long windows: the biased estimate is within one lag of the exact answer
    big = fake_dataset.sample(256, 256, 3, seed=1, scale=0.25)
    assert abs(t_max(cfg, big) - exact) <= 1.0
    # a sweep's batch (batch_size × window = 16 × 64): noisier and biased low (the 1/n taper)
    batch = fake_dataset.sample(cfg.batch_size, cfg.window, 3, seed=0, scale=0.25)
    assert abs(t_max(cfg, batch) - exact) <= 3.0
    # white noise in the data -> the lower bound (3, so that log U[1, T_max - 1] is proper)
    white = np.random.default_rng(0).normal(0.0, 0.25, (16, 64, 3))
    assert t_max(cfg, white) == 3.0
    # neither an autocovariance nor data: the window
    assert t_max(cfg, None) == 64.0


def test_auto_is_at_least_three():
    # correlation time 2 would make log U[1, T_max - 1] = log U[1, 1] a point mass at 0
    assert t_max(config(window=2), None) == 3.0


# ----------------------------------------------------------------------------------------------
# check_settings
# ----------------------------------------------------------------------------------------------


@pytest.mark.parametrize("value", ["auto", "AUTO", "64", "2.5", 64, 2.01])
def test_check_settings_accepts(value):
    check_settings({"t_max": value})


@pytest.mark.parametrize("value,needle", [("abc", "'abc' is not a valid t_max"),
                                          ("2", "t_max must be > 2"),
                                          ("1.5", "t_max must be > 2"),
                                          ("-64", "t_max must be > 2"),
                                          ("nan", "t_max must be a finite number"),
                                          ("inf", "t_max must be a finite number"),
                                          ("", "is not a valid t_max")])
def test_check_settings_errors(value, needle):
    with pytest.raises(ValueError, match=needle) as e:
        check_settings({"t_max": value})
    assert "\n" not in str(e.value)
    with pytest.raises(ConfigError, match=needle):  # as the command line reports it
        chrono().settings({"t_max": value})


# ----------------------------------------------------------------------------------------------
# the forget biases (moved from test_strategies.py)
# ----------------------------------------------------------------------------------------------


@pytest.mark.parametrize("setting,expected", [("256", 256.0), ("16", 16.0), ("auto", 11.0)])
def test_chrono_forget_biases(setting, expected):
    cfg = config({"t_max": setting}, hidden=BIG, dataset="ar2")
    top = t_max(cfg, None)
    assert top == expected
    for layer in chrono().init_params(jax.random.PRNGKey(0), cfg, None):
        b_f = np.asarray(layer["b_forgetgate"], np.float64)
        np.testing.assert_array_equal(np.asarray(layer["b_ingate"]),
                                      -np.asarray(layer["b_forgetgate"]))
        np.testing.assert_array_equal(layer["b_cell"], 0.0)
        np.testing.assert_array_equal(layer["b_outgate"], 0.0)
        # b_f in [0, log(T_max - 1)]
        assert np.all(b_f >= -1e-6) and np.all(b_f <= math.log(top - 1.0) + 1e-5)
        tau = np.exp(b_f)
        n = tau.size
        if n >= 100:  # spread over the whole range, uniformly in exp(b_f)
            width = top - 2.0
            assert tau.min() < 1.0 + 0.05 * width
            assert tau.max() > top - 1.0 - 0.05 * width
            se = width / math.sqrt(12 * n)
            assert abs(tau.mean() - top / 2) < Z * se


def test_chrono_depends_on_t_max():
    key = jax.random.PRNGKey(0)
    short = chrono().init_params(key, config({"t_max": 16}), None)
    long = chrono().init_params(key, config({"t_max": "256"}), None)
    default = chrono().init_params(key, config(), None)  # auto on ar1, quick: 64
    window = chrono().init_params(key, config({"t_max": "64"}), None)
    assert float(jnp.max(short[0]["b_forgetgate"])) <= math.log(15.0) + 1e-5
    assert float(jnp.max(long[0]["b_forgetgate"])) > math.log(15.0)
    assert float(jnp.max(default[0]["b_forgetgate"])) <= math.log(63.0) + 1e-5
    np.testing.assert_array_equal(default[0]["b_forgetgate"], window[0]["b_forgetgate"])
    ar2 = chrono().init_params(key, config(dataset="ar2"), None)  # auto: 11
    assert float(jnp.max(ar2[0]["b_forgetgate"])) <= math.log(10.0) + 1e-5
