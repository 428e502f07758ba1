"""flatcore.data: the uniform ball of docs/math.md, section 5, through the shortcut uniform_ball, and the
regression targets and data sets, checked statistically (fixed seeds, so deterministic). The law
objects are tested in test_data_laws.py."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import stats

import flatcore as fc


@pytest.mark.parametrize("d", [1, 2, 5, 16])
def test_uniform_ball_radial_law(d):
    """Uniform on the ball of radius R: P(||X|| <= s) = (s/R)^d, and the direction is uniform
    (mean 0, covariance R^2/(d+2) I)."""
    R = 2.5
    X = fc.data.uniform_ball(20_000, d, seed=1, radius=R)
    assert X.shape == (20_000, d) and X.dtype == np.float64
    r = np.linalg.norm(X, axis=1)
    assert np.all(r <= R)
    assert stats.kstest((r / R) ** d, "uniform").pvalue > 1e-6
    np.testing.assert_allclose(X.mean(axis=0), 0.0, atol=6 * R / np.sqrt(20_000))
    np.testing.assert_allclose(np.cov(X.T).reshape(d, d), np.eye(d) * R**2 / (d + 2), atol=0.05 * R**2)


def test_uniform_ball_seeded():
    """Same seed, same points; uniform_ball is UniformBall(d, radius).sample(n, seed)."""
    a = fc.data.uniform_ball(100, 3, seed=7)
    np.testing.assert_array_equal(a, fc.data.uniform_ball(100, 3, seed=7))
    assert not np.array_equal(a, fc.data.uniform_ball(100, 3, seed=8))
    np.testing.assert_array_equal(a, fc.data.UniformBall(3).sample(100, seed=7))
    np.testing.assert_array_equal(
        fc.data.uniform_ball(10, 2, seed=[1, 2], radius=3.0), fc.data.UniformBall(2, radius=3.0).sample(10, [1, 2])
    )


def legacy_uniform_ball(n, d, rng, radius=1.0):
    """The uniform-ball sampler as first published: a Gaussian direction times radius * U^(1/d)."""
    g = rng.standard_normal((n, d))
    norms = np.linalg.norm(g, axis=1, keepdims=True)
    norms[norms == 0] = 1.0
    r = rng.uniform(size=(n, 1)) ** (1.0 / d)
    return radius * r * g / norms


@pytest.mark.parametrize("d", [1, 3, 16])
def test_uniform_ball_and_regression_bits_are_stable(d):
    """Data sets of earlier versions come back bit for bit: uniform_ball and regression (X first, then
    the label noise from the same generator) against the original formulas, and pinned values."""
    np.testing.assert_array_equal(
        fc.data.uniform_ball(500, d, seed=d, radius=2.5), legacy_uniform_ball(500, d, np.random.default_rng(d), 2.5)
    )
    X, y = fc.data.regression(300, d, target_kind="linear", noise=0.3, seed=d)
    rng = np.random.default_rng(d)
    X_ref = legacy_uniform_ball(300, d, rng)
    y_ref = X_ref.sum(axis=1) / np.sqrt(d) + 0.3 * rng.standard_normal(300)
    np.testing.assert_array_equal(X, X_ref)
    np.testing.assert_array_equal(y, y_ref)


def test_pinned_values():
    """The first points of seed 0 (the same on every machine, up to the last bits of libm)."""
    np.testing.assert_allclose(
        fc.data.uniform_ball(2, 3, seed=0),
        [
            [0.1598394734843799, -0.16794348733008976, 0.8141624055388241],
            [0.144225478385597, -0.7364831774969605, 0.4971512062289003],
        ],
        rtol=1e-13,
    )
    X, y = fc.data.regression(2, 2, seed=0)
    np.testing.assert_allclose(
        X, [[0.6217236828720676, -0.6532456669249826], [0.9428182938758742, 0.1544319980143602]], rtol=1e-13
    )
    np.testing.assert_allclose(y, [1.483933192930405, 1.5019317415217661], rtol=1e-13)


def test_targets_formulas():
    """smooth: sin(2 x_1) + ||x||^2 / 2; linear: sum_j x_j / sqrt(d)."""
    X = fc.data.uniform_ball(50, 4, seed=0)
    np.testing.assert_allclose(
        fc.data.target(X, "smooth"), np.sin(2 * X[:, 0]) + 0.5 * (X**2).sum(axis=1), rtol=1e-15, atol=1e-15
    )
    np.testing.assert_allclose(fc.data.target(X, "linear"), X.sum(axis=1) / 2.0, rtol=1e-15, atol=1e-15)
    np.testing.assert_array_equal(fc.data.target(X, target_kind="linear"), fc.data.target(X, "linear"))
    np.testing.assert_array_equal(fc.data.target(X), fc.data.target(X, "smooth"))
    with pytest.raises(ValueError, match="target_kind must be one of"):
        fc.data.target(X, "cubic")


def test_regression_noise_level():
    """y - f*(X) is N(0, noise^2): sample std within 5% of noise, and noise=0 gives f*(X)."""
    X, y = fc.data.regression(20_000, 3, noise=0.3, seed=2)
    resid = y - fc.data.target(X, "smooth")
    np.testing.assert_allclose(resid.std(), 0.3, rtol=0.05)
    assert stats.kstest(resid / 0.3, "norm").pvalue > 1e-6
    X0, y0 = fc.data.regression(100, 3, noise=0.0, seed=2)
    np.testing.assert_array_equal(y0, fc.data.target(X0, "smooth"))
    with pytest.raises(ValueError, match="noise must be non-negative"):
        fc.data.regression(10, 3, noise=-1.0)
    with pytest.raises(TypeError, match="seed must be"):
        fc.data.regression(10, 3, seed=1.5)
