"""Shared fixtures, hypothesis profiles and strategies.

Profiles (choose with the environment variable HYPOTHESIS_PROFILE):

- ``ci`` (default): few examples per property, keeps the suite to a few minutes on 2 cores;
- ``dev``: more examples, for a change being worked on;
- ``thorough``: hundreds of examples per property, for a local run before a release.
"""

from __future__ import annotations

import os
from dataclasses import dataclass

import numpy as np
import pytest
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st

import flatcore as fc

_common = dict(deadline=None, suppress_health_check=[HealthCheck.too_slow], print_blob=True)
settings.register_profile("ci", max_examples=30, **_common)
settings.register_profile("dev", max_examples=100, **_common)
settings.register_profile("thorough", max_examples=500, **_common)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "ci"))


# -------------------------------------------------------------------------------------------------
# Strategies
# -------------------------------------------------------------------------------------------------
seeds = st.integers(min_value=0, max_value=2**32 - 1)
# Multipliers 10^e for e in [-3, 2]: parameter and data scales over five orders of magnitude.
log_scales = st.floats(min_value=-3.0, max_value=2.0, allow_nan=False, allow_infinity=False)
DATA_KINDS = ("gaussian", "ball", "cube")


@dataclass
class Problem:
    """A network and a data set (X, y), all float64."""

    net: fc.Network
    X: np.ndarray
    y: np.ndarray
    scales: dict

    @property
    def arrays(self):
        """(W, b, v, beta, X, y), the arguments of the reference functions."""
        return self.net.W, self.net.b, self.net.v, float(self.net.beta), self.X, self.y

    @property
    def n(self):
        return self.X.shape[0]

    @property
    def d(self):
        return self.net.d

    @property
    def width(self):
        return self.net.width

    def __repr__(self):  # shown by hypothesis for a falsifying example
        sc = ", ".join(f"{k}=1e{np.log10(v):+.2f}" for k, v in self.scales.items())
        return f"Problem(n={self.n}, d={self.d}, width={self.width}, {sc})"


def make_problem(n, d, width, seed, scales=None, data="gaussian"):
    """A random problem; ``scales`` multiplies X, W, b, v, beta and y (default 1)."""
    s = {"X": 1.0, "W": 1.0, "b": 1.0, "v": 1.0, "beta": 1.0, "y": 1.0}
    s.update(scales or {})
    rng = np.random.default_rng(seed)
    if data == "gaussian":
        X = rng.standard_normal((n, d))
    elif data == "ball":
        X = fc.data.uniform_ball(n, d, seed=rng)
    else:
        X = rng.uniform(-1.0, 1.0, size=(n, d))
    X = s["X"] * X
    # W's rows scaled so that w_k . x is of order s["W"] * s["X"] whatever d is
    W = s["W"] * rng.standard_normal((width, d)) / np.sqrt(d)
    b = s["b"] * s["X"] * rng.standard_normal(width)
    v = s["v"] * rng.standard_normal(width) / np.sqrt(width)
    beta = s["beta"] * rng.standard_normal()
    y = s["y"] * rng.standard_normal(n)
    return Problem(fc.Network(W, b, v, beta), X, y, s)


@st.composite
def problems(draw, max_d=12, max_width=64, max_n=300, min_n=1):
    """Random problems: d in 1..max_d, width in 1..max_width, n in min_n..max_n, each of X, W,
    b, v, beta, y scaled by an independent 10^e with e in [-3, 2]."""
    d = draw(st.integers(1, max_d), label="d")
    width = draw(st.integers(1, max_width), label="width")
    n = draw(st.integers(min_n, max_n), label="n")
    scales = {name: 10.0 ** draw(log_scales, label=f"log10 scale {name}") for name in ("X", "W", "b", "v", "beta", "y")}
    data = draw(st.sampled_from(DATA_KINDS), label="data")
    seed = draw(seeds, label="seed")
    return make_problem(n, d, width, seed, scales, data)


@st.composite
def small_problems(draw):
    """Problems small enough for dense P x P work in NumPy or torch on every example."""
    return draw(problems(max_d=6, max_width=16, max_n=100))


# -------------------------------------------------------------------------------------------------
# Fixtures
# -------------------------------------------------------------------------------------------------
@pytest.fixture
def problem():
    """A fixed, moderate problem (data uniform in the unit ball, PyTorch-style init)."""
    X, y = fc.data.regression(200, 4, seed=1)
    return Problem(fc.Network.init(4, 24, seed=2), X, y, {})


@pytest.fixture(autouse=True)
def _restore_default_threads():
    """Tests that call set_num_threads must not leak it into other tests."""
    yield
    fc.set_num_threads(None)
