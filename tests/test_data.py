"""Monte-Carlo checks of the synthetic datasets and their exact one-step error floors, and of
the dataset registry (one module per dataset, built-in folder or entry point)."""

import json
import os
import re
import shutil
import subprocess
import sys
import types
from functools import cache
from pathlib import Path

import numpy as np
import pytest
from plugin_site import install
from scipy.signal import lfilter

from bench import data
from bench.errors import ConfigError, PluginError

C = 7
N_SEQ, LENGTH, WARMUP = 400, 640, 100  # 400 * 540 = 216k scored one-step errors per channel
N_ERR = N_SEQ * (LENGTH - WARMUP)
N_SIGMA = 4.0
PINK_ORDER = 64  # linear predictor order used on pink data (converged to ~1e-4 relative)

# the synthetic processes (real series, KIND = "series", are tested in test_series.py)
PROCESSES = tuple(n for n in data.names() if data.get(n).kind == "process")



@cache
def sample(name: str) -> np.ndarray:
    return data.generate(name, N_SEQ, LENGTH, C, seed=1234).astype(np.float64)


def kalman_gain(phi: np.ndarray, q: np.ndarray, r: np.ndarray) -> np.ndarray:
    """Steady-state gain from iterating the Riccati recursion (independent of the closed form)."""
    p = q / (1.0 - phi**2)
    for _ in range(5000):
        p = phi**2 * p * r / (p + r) + q
    return p / (p + r)


def normal_equations(gamma: np.ndarray, order: int) -> tuple[np.ndarray, float]:
    """The best linear order-``order`` predictor of a stationary series with autocovariance
    ``gamma`` (gamma[j] = Cov(x_t, x_{t-j})), from the Toeplitz normal equations
    Gamma_L a = (gamma_1 .. gamma_L) solved densely (no Levinson-Durbin recursion), and its
    one-step MSE gamma_0 - a . (gamma_1 .. gamma_L)."""
    gamma = np.asarray(gamma, np.float64)
    lags = np.arange(order)
    big_gamma = gamma[np.abs(lags[:, None] - lags[None, :])]
    a = np.linalg.solve(big_gamma, gamma[1 : order + 1])
    return a, float(gamma[0] - a @ gamma[1 : order + 1])


def linear_predict(x: np.ndarray, acov: np.ndarray, order: int) -> np.ndarray:
    """pred[:, t, c] = sum_k a_k x[:, t - k, c], the order-``order`` linear predictor (from the
    normal equations)."""
    pred = np.empty_like(x)
    for c in range(x.shape[2]):
        a, _ = normal_equations(acov[:, c], order)
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
        pred = linear_predict(x, data.autocovariance(name, PINK_ORDER, C), PINK_ORDER)
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
    return linear_predict(x, gamma, 1), gamma[0] - gamma[1] ** 2 / gamma[0]


def per_seq_mean(values: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Mean over sequences and time per channel, with an SE from independent sequences."""
    m = values.reshape(values.shape[0], -1, values.shape[-1]).mean(axis=1)
    return m.mean(axis=0), m.std(axis=0, ddof=1) / np.sqrt(m.shape[0])


@pytest.mark.parametrize("name", PROCESSES)
def test_optimal_predictor_reaches_bayes_floor(name: str) -> None:
    x = sample(name)
    err2 = (x - optimal_prediction(name, x))[:, WARMUP:] ** 2
    assert err2[..., 0].size >= 2e5
    bayes = data.floors(name, C).bayes
    mse = err2.mean(axis=(0, 1))
    se = bayes * np.sqrt(2.0 / N_ERR)  # innovations are white Gaussian
    np.testing.assert_array_less(np.abs(mse - bayes), N_SIGMA * se)


@pytest.mark.parametrize("name", PROCESSES)
def test_persistence_and_variance_by_monte_carlo(name: str) -> None:
    x = sample(name)
    f = data.floors(name, C)
    mse, se = per_seq_mean((x[:, WARMUP:] - x[:, WARMUP - 1 : -1]) ** 2)
    np.testing.assert_array_less(np.abs(mse - f.persistence), N_SIGMA * se)
    var, se = per_seq_mean(x[:, WARMUP:] ** 2)
    np.testing.assert_array_less(np.abs(var - f.variance), N_SIGMA * se)


@pytest.mark.parametrize("name", PROCESSES)
def test_wrong_predictor_is_measurably_worse(name: str) -> None:
    x = sample(name)
    opt2 = (x - optimal_prediction(name, x))[:, WARMUP:] ** 2
    bad_pred, bad_mse = wrong_prediction(name, x)
    bad2 = (x - bad_pred)[:, WARMUP:] ** 2
    excess, se = per_seq_mean(bad2 - opt2)  # paired: same data, so the SE is small
    np.testing.assert_array_less(N_SIGMA * se, excess)
    bayes = data.floors(name, C).bayes
    np.testing.assert_array_less(np.abs(excess - (bad_mse - bayes)), N_SIGMA * se)


@pytest.mark.parametrize("name", PROCESSES)
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


@pytest.mark.parametrize("name", PROCESSES)
def test_bayes_floor_is_the_limit_of_the_normal_equations(name: str) -> None:
    """Every floor (closed form, or pink's order-512 Levinson-Durbin) agrees with the one-step
    MSE of the order-1024 linear predictor solved from the Toeplitz normal equations of the exact
    autocovariance (pink's docstring: converged to < 1e-8 relative by order 512)."""
    gamma = data.autocovariance(name, 1024, C)
    bayes = data.floors(name, C).bayes
    for c in range(C):
        _, mse = normal_equations(gamma[:, c], 1024)
        assert mse == pytest.approx(bayes[c], rel=1e-8), c


@pytest.mark.parametrize("name", ["ar2", "pink"])
def test_levinson_durbin_matches_the_normal_equations(name: str) -> None:
    """The recursion's coefficients and error at each order equal a dense solve of the normal
    equations at that order; the error never grows with the order."""
    gamma = data.autocovariance(name, 64, C)
    for c in (0, C - 1):
        a_64, mse = data.levinson_durbin(gamma[:, c], 64)
        assert np.all(np.diff(mse) <= 1e-15)
        assert mse[0] == gamma[0, c]
        for order in (1, 2, 5, 64):
            a, want = normal_equations(gamma[:, c], order)
            assert mse[order] == pytest.approx(want, rel=1e-10), (c, order)
            if order == 64:
                np.testing.assert_allclose(a_64, a, rtol=1e-8, atol=1e-12)


def test_pink_order_one_floor_by_hand() -> None:
    """Order 1: x_hat_t = rho x_{t-1} with rho = gamma_1 / gamma_0, MSE gamma_0 (1 - rho^2);
    gamma_j = sum_k w_k p_k^j from the components directly."""
    p = data.params("pink", C)
    g0, g1 = p["weights"].sum(-1), (p["weights"] * p["poles"]).sum(-1)
    for c in range(C):
        _, mse = data.levinson_durbin(data.autocovariance("pink", 1, C)[:, c], 1)
        assert mse[1] == pytest.approx(g0[c] * (1 - (g1[c] / g0[c]) ** 2), rel=1e-12)


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


@pytest.mark.parametrize("name", PROCESSES)
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


@pytest.mark.parametrize("name", PROCESSES)
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
        ({"name": "brown"}, "unknown dataset 'brown'"),
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


# --- the registry -------------------------------------------------------------------------------

ROOT = Path(__file__).resolve().parent.parent
BUILT_INS = {"ar1", "ar2", "ou", "ar1_noisy", "pink", "co2", "elnino", "sunspots"}


def test_built_ins_are_discovered_and_datasets_constant_still_works() -> None:
    found, errors = data.discover()
    assert BUILT_INS <= set(found) and not errors
    assert data.names() == tuple(sorted(found)) and data.DATASETS == data.names()
    for name in BUILT_INS:
        d = data.get(name)
        assert d.origin == f"bench/datasets/{name}.py"
        assert d.has_autocovariance == (d.kind == "process")  # real series have no exact one
        assert d.kind == ("series" if name in ("co2", "elnino", "sunspots") else "process")
        assert d.summary and "\n" not in d.summary


def test_unknown_dataset_suggests_the_closest_name() -> None:
    match = "unknown dataset 'ar1_nosy' .did you mean 'ar1_noisy'"
    with pytest.raises(ConfigError, match=match) as e:
        data.get("ar1_nosy")
    assert e.value.setting == "dataset" and "--" not in str(e.value)
    with pytest.raises(ValueError, match="did you mean 'pink'"):
        data.generate("pnik", 2, 10)


def test_channel_table_lists_one_dimensional_params_and_floors() -> None:
    t = data.get("ar1_noisy").channel_table(4, scale=2.0)
    assert list(t.columns) == ["channel", "phi", "q", "r", "variance", "bayes", "persistence"]
    np.testing.assert_array_equal(t["channel"], np.arange(4))
    np.testing.assert_array_equal(t["phi"], np.linspace(0.8, 0.98, 4))
    np.testing.assert_allclose(t["variance"], 4.0)
    np.testing.assert_array_equal(t["bayes"], data.floors("ar1_noisy", 4, 2.0).bayes)
    pink = data.get("pink").channel_table(3)
    assert list(pink.columns) == ["channel", "alpha", "variance", "bayes", "persistence"]


def test_module_without_autocovariance_or_with_wrong_shapes_gives_clear_errors() -> None:
    mod = types.ModuleType("fake_dataset", "Fake: wrong shapes.")
    mod.params = lambda channels, scale: {"q": np.ones(channels)}
    mod.floors = lambda channels, scale: data.Floors(np.ones(channels), np.ones(3), np.ones(1))
    mod.sample = lambda rng, n_seq, length, channels, scale: np.zeros((n_seq, length))
    d = data.Dataset("fake", mod, "fake_dataset.py")
    assert d.summary == "Fake: wrong shapes." and not d.has_autocovariance
    with pytest.raises(NotImplementedError, match="'fake' .fake_dataset.py. does not give"):
        d.autocovariance(3)
    with pytest.raises(PluginError, match=r"fake_dataset.py: floors\(\).bayes has shape \(3,\)"):
        d.floors(2)
    with pytest.raises(PluginError, match=r"fake_dataset.py: sample\(\) has shape \(2, 5\)"):
        d.sample(2, 5, 4)


def _doc_example() -> tuple[str, str]:
    """(stem, code) of the example dataset module in docs/datasets.md."""
    text = (ROOT / "docs" / "datasets.md").read_text()
    m = re.search(r"Save this as\s+`bench/datasets/(\w+)\.py`:\s*```python\n(.*?)```", text, re.S)
    assert m, "docs/datasets.md lost its example dataset"
    return m.group(1), m.group(2)


def _run_with_plugins(
    tmp_path: Path, modules: dict[str, str], entry_points: dict[str, str], script: str,
    root: Path = ROOT,
) -> dict:
    """Run ``script`` in a fresh interpreter that sees ``modules`` (stem -> source) and a fake
    installed distribution registering ``entry_points`` (name -> module) under
    ``lstm_init_bench.datasets``; the script prints one JSON object, which is returned."""
    lines = "".join(f"{name} = {module}\n" for name, module in entry_points.items())
    site = install(tmp_path, modules, f"[lstm_init_bench.datasets]\n{lines}")
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(site), str(root)])}
    res = subprocess.run([sys.executable, "-c", script], env=env, cwd=tmp_path,
                         capture_output=True, text=True, timeout=120)
    assert res.returncode == 0, res.stderr
    return json.loads(res.stdout.strip().splitlines()[-1])


def test_adding_a_dataset_is_one_file_the_doc_example(tmp_path: Path) -> None:
    """The example module of docs/datasets.md, registered through an entry point, is found and
    gives white noise's closed-form floors and samples of the right shape and variance."""
    stem, code = _doc_example()
    assert stem == "white" and len(code.strip().splitlines()) < 50
    script = """if True:
        import json
        import numpy as np
        from bench import data
        found, errors = data.discover()
        f = data.floors("white", 3, 1.5)
        x = data.generate("white", 400, 50, 3, seed=1, scale=1.5)
        print(json.dumps({
            "names": data.names(), "errors": errors, "summary": found["white"].summary,
            "origin": found["white"].origin,
            "floors": {k: getattr(f, k).tolist() for k in ("variance", "bayes", "persistence")},
            "gamma": data.autocovariance("white", 2, 3, 1.5).tolist(),
            "shape": x.shape, "dtype": str(x.dtype),
            "var": x.astype(float).var(axis=(0, 1)).tolist(),
            "same": bool(np.array_equal(x, data.generate("white", 400, 50, 3, 1, 1.5))),
            "table": list(data.get("white").channel_table(3, 1.5).columns),
        }))
    """
    out = _run_with_plugins(tmp_path, {"white_noise_mod": code}, {"white": "white_noise_mod"},
                            script)
    assert "white" in out["names"] and BUILT_INS <= set(out["names"]) and not out["errors"]
    assert out["origin"] == "entry point white_noise_mod"
    assert out["summary"].startswith("White noise")
    np.testing.assert_allclose(out["floors"]["variance"], [2.25] * 3)
    np.testing.assert_allclose(out["floors"]["bayes"], [2.25] * 3)
    np.testing.assert_allclose(out["floors"]["persistence"], [4.5] * 3)
    np.testing.assert_allclose(out["gamma"], [[2.25] * 3, [0.0] * 3, [0.0] * 3])
    assert out["shape"] == [400, 50, 3] and out["dtype"] == "float32" and out["same"]
    # 20 000 draws per channel: the sample variance has relative SE sqrt(2 / 20 000) = 1 %
    np.testing.assert_allclose(out["var"], 2.25, rtol=0.05)
    assert out["table"] == ["channel", "q", "variance", "bayes", "persistence"]


BROKEN = {
    "bad_syntax_mod": '"""Broken: a syntax error."""\ndef params(channels, scale:\n',
    "no_floors_mod": (
        '"""Broken: no floors."""\n'
        "import numpy as np\n"
        "def params(channels, scale):\n    return {}\n"
        "def sample(rng, n_seq, length, channels, scale):\n"
        "    return np.zeros((n_seq, length, channels))\n"
    ),
}
CHECK_BROKEN = """if True:
    import json
    from bench import data
    from bench.errors import PluginError
    found, errors = data.discover()
    try:
        data.floors("no_floors")
        raised = ""
    except PluginError as e:
        raised = str(e)
    print(json.dumps({"found": sorted(found), "names": data.names(), "errors": errors,
                      "raised": raised, "ar1": data.generate("ar1", 2, 5, 3).shape}))
"""


def test_broken_entry_point_modules_are_reported_and_the_others_load(tmp_path: Path) -> None:
    stem, code = _doc_example()
    eps = {"bad_syntax": "bad_syntax_mod", "no_floors": "no_floors_mod",
           "white": "white_noise_mod", "ar1": "white_noise_mod"}
    out = _run_with_plugins(tmp_path, {**BROKEN, "white_noise_mod": code}, eps, CHECK_BROKEN)
    assert set(out["found"]) == BUILT_INS | {"white"} and out["names"] == sorted(out["found"])
    errors = out["errors"]
    assert set(errors) == {"bad_syntax", "no_floors", "ar1 [entry point]"}
    assert errors["bad_syntax"].startswith("entry point bad_syntax_mod: failed to import: Syntax")
    assert errors["no_floors"] == "entry point no_floors_mod: defines no floors"
    assert "clashes with a built-in dataset" in errors["ar1 [entry point]"]
    assert out["raised"] == errors["no_floors"]
    assert out["ar1"] == [2, 5, 3]
    assert all("\n" not in e and "--" not in e for e in errors.values())


def test_broken_built_in_modules_are_reported_with_their_file(tmp_path: Path) -> None:
    """The same through the built-in folder: a copy of the registry's modules with two broken
    files and a skipped ``_private.py`` added to ``bench/datasets/``."""
    root = tmp_path / "repo"
    (root / "bench").mkdir(parents=True)
    (root / "bench" / "__init__.py").write_text('"""A copy of the registry modules."""\n')
    for f in ("data.py", "plugins.py", "errors.py", "processes.py"):
        shutil.copy(ROOT / "bench" / f, root / "bench" / f)
    shutil.copytree(ROOT / "bench" / "datasets", root / "bench" / "datasets",
                    ignore=shutil.ignore_patterns("__pycache__"))
    folder = root / "bench" / "datasets"
    (folder / "bad_syntax.py").write_text(BROKEN["bad_syntax_mod"])
    (folder / "no_floors.py").write_text(BROKEN["no_floors_mod"])
    (folder / "_private.py").write_text("raise RuntimeError('never imported')\n")
    check_copy = f"import bench\nassert bench.__file__.startswith({str(root)!r})\n"
    out = _run_with_plugins(tmp_path, {}, {}, check_copy + CHECK_BROKEN, root=root)
    assert set(out["found"]) == BUILT_INS
    assert set(out["errors"]) == {"bad_syntax", "no_floors"}
    assert out["errors"]["bad_syntax"].startswith(
        "bench/datasets/bad_syntax.py: failed to import: SyntaxError")
    assert out["errors"]["no_floors"] == "bench/datasets/no_floors.py: defines no floors"
    assert out["raised"] == out["errors"]["no_floors"] and out["ar1"] == [2, 5, 3]
