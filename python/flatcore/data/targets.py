"""Regression targets and noisy regression data sets (seeded, float64)."""

from __future__ import annotations

import numpy as np

from .._validation import as_float_array, as_scalar
from ._random import generator
from .laws import UniformBall

__all__ = ["TARGETS", "target", "regression"]

TARGETS = ("smooth", "linear")


def target(X, target_kind: str = "smooth") -> np.ndarray:
    """Noiseless target values f*(x).

    Parameters
    ----------
    X : array, shape (n, d)
        Points.
    target_kind : {"smooth", "linear"}
        ``"smooth"``: f*(x) = sin(2 x_1) + 0.5 ||x||^2 (x_1 the first coordinate): smooth, not
        linear, not radial. ``"linear"``: f*(x) = sum_j x_j / sqrt(d), the ridge target of
        arXiv:2506.20779's curse-of-dimensionality experiment.

    Returns
    -------
    ndarray, shape (n,)
    """
    X = as_float_array(X, "X", 2)
    if target_kind == "smooth":
        return np.sin(2.0 * X[:, 0]) + 0.5 * np.sum(X * X, axis=1)
    if target_kind == "linear":
        return X.sum(axis=1) / np.sqrt(X.shape[1])
    raise ValueError(f"target_kind must be one of {TARGETS}; got {target_kind!r}")


def regression(
    n: int, d: int, *, target_kind: str = "smooth", noise: float = 0.1, seed=0
) -> tuple[np.ndarray, np.ndarray]:
    """A regression data set: X uniform in the unit ball, ``y = f*(X) + N(0, noise^2)``.

    X is ``UniformBall(d).sample(n, rng)`` and the label noise is drawn after it from the same
    generator ``rng = numpy.random.default_rng(seed)``.

    Parameters
    ----------
    n : int
        Number of points, >= 1.
    d : int
        Dimension, >= 1.
    target_kind : {"smooth", "linear"}
        The target f*, see :func:`target`.
    noise : float
        Standard deviation of the Gaussian label noise, >= 0.
    seed : optional
        Anything :func:`numpy.random.default_rng` accepts (default 0).

    Returns
    -------
    X : ndarray, shape (n, d)
    y : ndarray, shape (n,)
    """
    noise = as_scalar(noise, "noise", nonnegative=True)
    rng = generator(seed)
    X = UniformBall(d).sample(n, seed=rng)
    y = target(X, target_kind) + noise * rng.standard_normal(X.shape[0])
    return X, y
