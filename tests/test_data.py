"""flatcore.data: the input distribution of MATH.md section 5 (uniform on the unit ball) and the
regression targets, checked statistically (fixed seeds, so deterministic)."""
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
    np.testing.assert_allclose(np.cov(X.T).reshape(d, d), np.eye(d) * R ** 2 / (d + 2), atol=0.05 * R ** 2)


def test_uniform_ball_seeded():
    a = fc.data.uniform_ball(100, 3, seed=7)
    np.testing.assert_array_equal(a, fc.data.uniform_ball(100, 3, seed=7))
    assert not np.array_equal(a, fc.data.uniform_ball(100, 3, seed=8))


def test_targets_formulas():
    """smooth: sin(2 x_1) + ||x||^2 / 2; linear: sum_j x_j / sqrt(d)."""
    X = fc.data.uniform_ball(50, 4, seed=0)
    np.testing.assert_allclose(fc.data.target(X, "smooth"), np.sin(2 * X[:, 0]) + 0.5 * (X ** 2).sum(axis=1),
                               rtol=1e-15, atol=1e-15)
    np.testing.assert_allclose(fc.data.target(X, "linear"), X.sum(axis=1) / 2.0, rtol=1e-15, atol=1e-15)
    with pytest.raises(ValueError, match="kind must be one of"):
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
