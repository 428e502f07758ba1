"""Shared helpers, strategies and cases of the theory tests (test_theory_*.py) and the law tests."""

from __future__ import annotations

import numpy as np
from hypothesis import settings
from hypothesis import strategies as st

import flatcore as fc
from conftest import seeds

# Isotropic laws of flatcore.data: each family in d = 1 and higher, alpha from mass near the sphere
# to mass near the centre, balls of radius below and above 1.
ISOTROPIC_LAWS = [
    fc.data.UniformSphere(1),
    fc.data.UniformSphere(2),
    fc.data.UniformSphere(6),
    fc.data.Gaussian(1),
    fc.data.Gaussian(4),
    fc.data.Radial(3, 0.1),
    fc.data.Radial(5, 0.3),
    fc.data.Radial(2, 1.5),
    fc.data.Radial(5, 5.0),
    fc.data.Radial(1, 1.0),
    fc.data.UniformBall(1),
    fc.data.UniformBall(4),
    fc.data.UniformBall(3, radius=0.5),
    fc.data.UniformBall(3, radius=2.0),
]


def more_examples(factor):
    """``factor`` times the active hypothesis profile's example count (ci/dev/thorough)."""
    return settings(max_examples=max(10, int(settings.default.max_examples * factor)))


def unit(v):
    v = np.asarray(v, dtype=float)
    return v / np.linalg.norm(v, axis=-1, keepdims=True)


@st.composite
def networks_and_data(draw, max_d=6, max_width=10, max_n=40):
    d = draw(st.integers(1, max_d), label="d")
    K = draw(st.integers(1, max_width), label="width")
    n = draw(st.integers(1, max_n), label="n")
    rng = np.random.default_rng(draw(seeds, label="seed"))
    sc = {k: 10.0 ** draw(st.floats(-3, 3), label=f"log10 scale {k}") for k in ("X", "W", "b", "v", "y")}
    X = sc["X"] * rng.standard_normal((n, d))
    W = sc["W"] * rng.standard_normal((K, d))
    b = sc["b"] * rng.standard_normal(K)
    v = sc["v"] * rng.standard_normal(K)
    if draw(st.booleans(), label="a zero neuron"):
        W[0] = 0.0
    net = fc.Network(W, b, v, rng.standard_normal())
    return net, X, sc["y"] * rng.standard_normal(n)
