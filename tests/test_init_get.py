"""``bench.init.get``: each known name gives the initializer its formula says (checked against
closed forms computed here by hand, on fixed PRNG keys), and an unknown or misspelled name is a
``ValueError`` that names the value and the known names."""

from __future__ import annotations

import math

import jax
import numpy as np
import pytest

from bench import init

KEY = jax.random.PRNGKey(7)
SHAPE = (200, 300)  # fan_in 200, fan_out 300: 60 000 draws, so sample moments are tight


def draw(name: str, shape: tuple[int, ...] = SHAPE, **kwargs: float) -> np.ndarray:
    w = init.get(name, **kwargs)(KEY, shape)
    assert w.shape == shape and w.dtype == np.float32
    return np.asarray(w, np.float64)


def test_the_registry_names_exactly_the_documented_initializers():
    assert set(init.INITIALIZERS) == {"constant", "normal", "uniform", "glorot_normal",
                                      "glorot_uniform", "orthogonal"}


@pytest.mark.parametrize("gain", [1.0, 2.5])
def test_glorot_uniform_fills_the_glorot_bound(gain):
    bound = gain * math.sqrt(6.0 / (200 + 300))  # = sqrt(3)·gain·sqrt(2 / (fan_in + fan_out))
    w = draw("glorot_uniform", gain=gain)
    assert np.abs(w).max() <= bound * (1 + 1e-6)
    assert np.abs(w).max() > 0.999 * bound  # 60 000 uniform draws reach the edge
    # U(-a, a): mean 0, variance a² / 3 (standard error of the variance ≈ 0.4 %)
    assert abs(w.mean()) < 0.01 * bound
    assert w.var() == pytest.approx(bound**2 / 3, rel=0.02)


@pytest.mark.parametrize("gain", [1.0, 0.01])
def test_glorot_normal_has_the_glorot_std(gain):
    std = gain * math.sqrt(2.0 / (200 + 300))
    w = draw("glorot_normal", gain=gain)
    assert w.std() == pytest.approx(std, rel=0.01)
    assert abs(w.mean()) < 0.01 * std
    assert np.abs(w).max() > 3 * std  # Gaussian tails, not a bounded uniform


@pytest.mark.parametrize("shape", [(6, 6), (40, 12), (12, 40)])
@pytest.mark.parametrize("gain", [1.0, 1.7])
def test_orthogonal_has_orthonormal_columns_or_rows(shape, gain):
    q = draw("orthogonal", shape, gain=gain)
    rows, cols = shape
    gram = q.T @ q if rows >= cols else q @ q.T  # tall: QᵀQ = g²I; wide: QQᵀ = g²I
    np.testing.assert_allclose(gram, gain**2 * np.eye(min(shape)), atol=2e-5 * gain**2)
    # and it is not a permutation or the identity: every entry is spread out
    assert (np.abs(q) < gain).all() and np.count_nonzero(np.abs(q) > 1e-3) > q.size // 2


def test_orthogonal_is_not_what_glorot_gives():
    """The lookup tells the factories apart: a Glorot matrix is not orthogonal."""
    w = draw("glorot_uniform", (40, 12))
    assert np.abs(w.T @ w - np.eye(12)).max() > 0.1


def test_uniform_normal_and_constant():
    u = draw("uniform", limit=0.3)
    assert np.abs(u).max() <= 0.3 * (1 + 1e-6) and np.abs(u).max() > 0.299
    assert u.var() == pytest.approx(0.3**2 / 3, rel=0.02)
    n = draw("normal", std=0.1, mean=2.0)
    assert n.mean() == pytest.approx(2.0, abs=1e-3) and n.std() == pytest.approx(0.1, rel=0.01)
    d = draw("normal")  # documented default: N(0, 0.01²)
    assert d.std() == pytest.approx(0.01, rel=0.01) and abs(d.mean()) < 1e-4
    c = draw("constant", (3, 4), value=-1.25)
    assert (c == -1.25).all()
    assert (draw("constant", (5,)) == 0.0).all()


def test_glorot_needs_a_matrix():
    with pytest.raises(ValueError, match=r"2-D shape, got \(5,\)"):
        init.get("glorot_uniform")(KEY, (5,))


@pytest.mark.parametrize("name", ["glorot-uniform", "Orthogonal", "ortho", "he_normal", ""])
def test_unknown_name_is_a_value_error_naming_it_and_the_choices(name):
    with pytest.raises(ValueError) as e:
        init.get(name)
    text = str(e.value)
    assert text.startswith(f"unknown initializer {name!r}")
    for known in init.INITIALIZERS:  # the message lists what would have worked
        assert known in text
    assert "\n" not in text


def test_a_misspelled_keyword_is_not_swallowed():
    with pytest.raises(TypeError, match="gian"):
        init.get("orthogonal", gian=2.0)
