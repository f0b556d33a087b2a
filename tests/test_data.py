"""Monte-Carlo checks of the synthetic datasets and their exact one-step error floors."""

from functools import cache

import numpy as np
import pytest
from scipy.signal import lfilter

from bench import data

C = 7
N_SEQ, LENGTH, WARMUP = 400, 640, 100  # 400 * 540 = 216k scored one-step errors per channel
N_ERR = N_SEQ * (LENGTH - WARMUP)
N_SIGMA = 4.0
PINK_ORDER = 64  # Levinson predictor order used on pink data (converged to ~1e-4 relative)


@cache
def sample(name: str) -> np.ndarray:
    return data.generate(name, N_SEQ, LENGTH, C, seed=1234).astype(np.float64)


def kalman_gain(phi: np.ndarray, q: np.ndarray, r: np.ndarray) -> np.ndarray:
    """Steady-state gain from iterating the Riccati recursion (independent of the closed form)."""
    p = q / (1.0 - phi**2)
    for _ in range(5000):
        p = phi**2 * p * r / (p + r) + q
    return p / (p + r)


def levinson_predict(x: np.ndarray, acov: np.ndarray, order: int) -> np.ndarray:
    """pred[:, t, c] = sum_k a_k x[:, t - k, c] with order-``order`` Levinson coefficients."""
    pred = np.empty_like(x)
    for c in range(x.shape[2]):
        a, _ = data.levinson_durbin(acov[:, c], order)
        pred[:, :, c] = lfilter(np.concatenate([[0.0], a]), [1.0], x[:, :, c], axis=1)
    return pred


def optimal_prediction(name: str, x: np.ndarray) -> np.ndarray:
    """pred[:, t] is the optimal forecast of x[:, t] from x[:, :t] (valid for t >= WARMUP)."""
    p = data.params(name, C)
    pred = np.zeros_like(x)
    if name in ("ar1", "ou"):
        pred[:, 1:] = p["phi"] * x[:, :-1]
    elif name == "ar2":
        pred[:, 2:] = p["phi1"] * x[:, 1:-1] + p["phi2"] * x[:, :-2]
    elif name == "ar1_noisy":
        gain = kalman_gain(p["phi"], p["q"], p["r"])
        s_pred = np.zeros(x[:, 0].shape)
        for t in range(x.shape[1]):
            pred[:, t] = s_pred
            s_pred = p["phi"] * (s_pred + gain * (x[:, t] - s_pred))
    else:
        pred = levinson_predict(x, data.autocovariance(name, PINK_ORDER, C), PINK_ORDER)
    return pred


def wrong_prediction(name: str, x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """A plausible but suboptimal forecast (perturbed phi, or the order-1 linear predictor)
    and its exact MSE per channel."""
    if name in ("ar1", "ou"):
        delta = 0.05  # error = eps + delta * x_{t-1}, so MSE = bayes + delta^2 Var(x)
        pred = np.zeros_like(x)
        pred[:, 1:] = (data.params(name, C)["phi"] - delta) * x[:, :-1]
        return pred, data.floors(name, C).bayes + delta**2
    gamma = data.autocovariance(name, 1, C)
    return levinson_predict(x, gamma, 1), gamma[0] - gamma[1] ** 2 / gamma[0]


def per_seq_mean(values: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Mean over sequences and time per channel, with an SE from independent sequences."""
    m = values.reshape(values.shape[0], -1, values.shape[-1]).mean(axis=1)
    return m.mean(axis=0), m.std(axis=0, ddof=1) / np.sqrt(m.shape[0])


@pytest.mark.parametrize("name", data.DATASETS)
def test_optimal_predictor_reaches_bayes_floor(name: str) -> None:
    x = sample(name)
    err2 = (x - optimal_prediction(name, x))[:, WARMUP:] ** 2
    assert err2[..., 0].size >= 2e5
    bayes = data.floors(name, C).bayes
    mse = err2.mean(axis=(0, 1))
    se = bayes * np.sqrt(2.0 / N_ERR)  # innovations are white Gaussian
    np.testing.assert_array_less(np.abs(mse - bayes), N_SIGMA * se)


@pytest.mark.parametrize("name", data.DATASETS)
def test_persistence_and_variance_by_monte_carlo(name: str) -> None:
    x = sample(name)
    f = data.floors(name, C)
    mse, se = per_seq_mean((x[:, WARMUP:] - x[:, WARMUP - 1 : -1]) ** 2)
    np.testing.assert_array_less(np.abs(mse - f.persistence), N_SIGMA * se)
    var, se = per_seq_mean(x[:, WARMUP:] ** 2)
    np.testing.assert_array_less(np.abs(var - f.variance), N_SIGMA * se)


@pytest.mark.parametrize("name", data.DATASETS)
def test_wrong_predictor_is_measurably_worse(name: str) -> None:
    x = sample(name)
    opt2 = (x - optimal_prediction(name, x))[:, WARMUP:] ** 2
    bad_pred, bad_mse = wrong_prediction(name, x)
    bad2 = (x - bad_pred)[:, WARMUP:] ** 2
    excess, se = per_seq_mean(bad2 - opt2)  # paired: same data, so the SE is small
    np.testing.assert_array_less(N_SIGMA * se, excess)
    bayes = data.floors(name, C).bayes
    np.testing.assert_array_less(np.abs(excess - (bad_mse - bayes)), N_SIGMA * se)


@pytest.mark.parametrize("name", data.DATASETS)
@pytest.mark.parametrize("scale", [1.0, 0.3])
def test_floor_ordering_and_scaling(name: str, scale: float) -> None:
    f = data.floors(name, C, scale)
    f1 = data.floors(name, C)
    for arr in (f.variance, f.bayes, f.persistence):
        assert arr.shape == (C,)
    np.testing.assert_allclose(f.variance, scale**2)
    np.testing.assert_allclose(f.bayes, scale**2 * f1.bayes, rtol=1e-9)
    np.testing.assert_allclose(f.persistence, scale**2 * f1.persistence, rtol=1e-9)
    assert np.all(0 < f.bayes) and np.all(f.bayes < f.persistence)
    assert np.all(f.persistence < 2 * f.variance)
    d = f.as_dict()
    assert set(d) == {"variance", "bayes", "persistence"}
    assert d["bayes"] == pytest.approx(f.bayes.mean()) and isinstance(d["bayes"], float)


@pytest.mark.parametrize("name", data.DATASETS)
def test_bayes_floor_is_limit_of_levinson_durbin(name: str) -> None:
    """Closed-form floors agree with the infinite-order linear predictor of the autocovariance."""
    gamma = data.autocovariance(name, 1024, C)
    bayes = data.floors(name, C).bayes
    for c in range(C):
        _, mse = data.levinson_durbin(gamma[:, c], 1024)
        assert mse[-1] == pytest.approx(bayes[c], rel=1e-7)
        assert np.all(np.diff(mse) <= 1e-15)


def test_pink_floor_matches_kolmogorov_szego() -> None:
    """Innovation variance = exp(mean log spectral density), from the components directly."""
    p = data.params("pink", C)
    omega = 2 * np.pi * np.arange(2**16) / 2**16
    z = np.exp(-1j * omega)[:, None, None]
    spec = (p["weights"] * (1 - p["poles"] ** 2) / np.abs(1 - p["poles"] * z) ** 2).sum(-1)
    np.testing.assert_allclose(
        data.floors("pink", C).bayes, np.exp(np.log(spec).mean(0)), rtol=1e-7
    )


def test_kalman_textbook_numbers() -> None:
    f = data.noisy_ar1_floors(0.9, 1.0, 0.5)
    assert f.bayes[0] == pytest.approx(1.792, abs=5e-4)
    assert f.persistence[0] == pytest.approx(2.053, abs=5e-4)
    assert f.variance[0] == pytest.approx(1.0 / 0.19 + 0.5)
    gain = kalman_gain(np.array(0.9), np.array(1.0), np.array(0.5))
    assert f.bayes[0] == pytest.approx(0.5 / (1.0 - gain))  # P + R with K = P / (P + R)
    p = data.params("ar1_noisy", C, scale=2.0)
    np.testing.assert_allclose(
        data.floors("ar1_noisy", C, 2.0).bayes,
        data.noisy_ar1_floors(p["phi"], p["q"], p["r"]).bayes,
    )


@pytest.mark.parametrize("name", data.DATASETS)
def test_stationary_from_first_step(name: str) -> None:
    n, length, scale = 20000, 40, 2.5
    x = data.generate(name, n, length, C, seed=7, scale=scale).astype(np.float64)
    gamma = data.autocovariance(name, 1, C, scale)
    for t in (0, 1, length - 1):
        sq = x[:, t] ** 2
        se = sq.std(axis=0, ddof=1) / np.sqrt(n)
        np.testing.assert_array_less(np.abs(sq.mean(axis=0) - gamma[0]), N_SIGMA * se)
    for t in (0, length - 2):
        prod = x[:, t] * x[:, t + 1]
        se = prod.std(axis=0, ddof=1) / np.sqrt(n)
        np.testing.assert_array_less(np.abs(prod.mean(axis=0) - gamma[1]), N_SIGMA * se)


@pytest.mark.parametrize("name", data.DATASETS)
def test_dtype_shape_and_determinism(name: str) -> None:
    a = data.generate(name, 3, 50, channels=4, seed=5)
    assert a.dtype == np.float32 and a.shape == (3, 50, 4)
    np.testing.assert_array_equal(a, data.generate(name, 3, 50, channels=4, seed=5))
    b = data.generate(name, 3, 50, channels=4, seed=6)
    assert np.all(np.any(a != b, axis=(0, 1)))
    assert data.generate(name, 1, 2, channels=1).shape == (1, 2, 1)


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"name": "brown"}, "ar1, ar2, ou, ar1_noisy, pink"),
        ({"channels": 0}, "channels.*0"),
        ({"n_seq": 0}, "n_seq.*0"),
        ({"length": 1}, "length.*1"),
        ({"scale": 0.0}, "scale.*0.0"),
        ({"scale": -1.0}, "scale.*-1.0"),
    ],
)
def test_bad_arguments_raise(kwargs: dict, match: str) -> None:
    args = {"name": "ar1", "n_seq": 2, "length": 10, **kwargs}
    with pytest.raises(ValueError, match=match):
        data.generate(**args)
    if set(kwargs) <= {"name", "channels", "scale"}:
        with pytest.raises(ValueError, match=match):
            data.floors(**{k: v for k, v in args.items() if k in ("name", "channels", "scale")})
