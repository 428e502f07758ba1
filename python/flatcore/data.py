"""Input distributions and targets for experiments (seeded, float64)."""
from __future__ import annotations

import numpy as np

from ._validation import as_float_array, as_int, as_scalar

TARGETS = ("smooth", "linear")


def uniform_ball(n: int, d: int, *, seed=0, radius: float = 1.0) -> np.ndarray:
    """n points uniform in the d-dimensional ball of the given radius, shape (n, d).

    A Gaussian direction times radius * U^(1/d), U uniform on [0, 1].
    """
    n = as_int(n, "n", minimum=1)
    d = as_int(d, "d", minimum=1)
    radius = as_scalar(radius, "radius", positive=True)
    rng = np.random.default_rng(seed)
    g = rng.standard_normal((n, d))
    norms = np.linalg.norm(g, axis=1, keepdims=True)
    norms[norms == 0] = 1.0
    r = rng.uniform(size=(n, 1)) ** (1.0 / d)
    return radius * r * g / norms


def target(X, kind: str = "smooth") -> np.ndarray:
    """Noiseless target values f*(x), shape (n,).

    - ``"smooth"``: f*(x) = sin(2 x_1) + 0.5 ||x||^2 (x_1 the first coordinate): smooth, not
      linear, not radial.
    - ``"linear"``: f*(x) = sum_j x_j / sqrt(d), the ridge target of arXiv:2506.20779's
      curse-of-dimensionality experiment.
    """
    X = as_float_array(X, "X", 2)
    if kind == "smooth":
        return np.sin(2.0 * X[:, 0]) + 0.5 * np.sum(X * X, axis=1)
    if kind == "linear":
        return X.sum(axis=1) / np.sqrt(X.shape[1])
    raise ValueError(f"kind must be one of {TARGETS}; got {kind!r}")


def regression(n: int, d: int, *, target_kind: str = "smooth", noise: float = 0.1,
               seed=0) -> tuple[np.ndarray, np.ndarray]:
    """(X, y): X uniform in the unit ball, y = f*(X) + N(0, noise^2) label noise."""
    noise = as_scalar(noise, "noise", nonnegative=True)
    rng = np.random.default_rng(seed)
    X = uniform_ball(n, d, seed=rng)
    y = target(X, target_kind) + noise * rng.standard_normal(X.shape[0])
    return X, y
