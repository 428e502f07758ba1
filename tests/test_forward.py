"""One forward pass (docs/math.md, section 1.4): every computation of the core evaluates the
network through the same kernel, so the activation masks it uses agree everywhere, to the last bit
at a kink. Activation rates and the per-neuron side statistics come from that pass."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given

import flatcore as fc
import reference as ref
from conftest import make_problem, problems


def numpy_sides(net, X):
    """The side statistics the definition gives, in NumPy (for data away from kinks)."""
    Z = X @ net.W.T - net.b[None, :]
    out = []
    for S in (Z, -Z):
        on = (S > 0).astype(float)
        out.append((np.maximum(S, 0).mean(axis=0), on.mean(axis=0), on.T @ X / X.shape[0]))
    return out


@given(problems(max_d=8, max_width=40, max_n=200))
def test_activation_rates_and_sides_match_the_definition(p):
    """Away from kinks the compiled statistics equal NumPy's to rounding."""
    W, b, _, _, X, _ = p.arrays
    margin = ref.relative_kink_margin(W, b, X)
    rates = fc.activation_rates(p.net, X)
    sides = fc.neuron_sides(p.net, X)
    if margin > 1e-10:
        np.testing.assert_array_equal(rates, ((X @ W.T - b) > 0).mean(axis=0))
        for side, (excess, share, moment) in zip(sides, numpy_sides(p.net, X)):
            np.testing.assert_array_equal(side.share, share)
            scale = ref.zabs(W, b, X).mean(axis=0)
            assert np.all(np.abs(side.excess - excess) <= ref.gamma(p.n, p.d, p.width) * scale)
            mscale = np.abs(X).mean(axis=0)[None, :]
            assert np.all(np.abs(side.moment - moment) <= ref.gamma(p.n, p.d, p.width) * mscale)
    # whatever the margin: the active side is exactly the rate, the sides never overlap
    np.testing.assert_array_equal(sides.active.share, rates)
    assert np.all(sides.active.share + sides.inactive.share <= 1.0)
    assert sides.active.moment.shape == (p.width, p.d)


def test_a_point_on_a_kink_is_inactive_everywhere():
    """z = w . x - b = 0 exactly: the point counts on neither side, adds nothing to the gradient's
    W and b blocks nor to the trace, in the rate, the gradient, the Hessian and training alike."""
    W = np.array([[1.0, 0.0], [0.0, 1.0]])
    b = np.array([0.5, -3.0])
    net = fc.Network(W, b, np.array([1.0, 1.0]), 0.0)
    X = np.array([[0.5, 3.0], [2.0, 1.0]])  # row 0 lies on neuron 0's kink
    y = np.array([1.0, -1.0])
    rates = fc.activation_rates(net, X)
    np.testing.assert_array_equal(rates, [0.5, 1.0])
    sides = fc.neuron_sides(net, X)
    np.testing.assert_array_equal(sides.active.share, [0.5, 1.0])
    np.testing.assert_array_equal(sides.inactive.share, [0.0, 0.0])
    np.testing.assert_allclose(fc.gradient(net, X, y), ref.gradient(W, b, net.v, 0.0, X, y), rtol=1e-15)
    H = fc.hessian(net, X, y)
    np.testing.assert_allclose(H, ref.hessian(W, b, net.v, 0.0, X, y), rtol=1e-14, atol=1e-14)
    A, B = fc.trace_terms(net, X)
    np.testing.assert_allclose(A, [(X[1, 0] - 0.5) ** 2 / 2, ((X[:, 1] + 3.0) ** 2).mean()], rtol=1e-15)
    np.testing.assert_allclose(B, [(np.sum(X[1] ** 2) + 1) / 2, (np.sum(X**2, axis=1) + 1).mean()], rtol=1e-15)
    result = fc.train(net, X, y, lr=1e-9, steps=0)
    assert result.history["active_fraction"][0] == rates.mean()


@pytest.mark.parametrize("n, d, width", [(1, 1, 1), (37, 3, 9), (700, 5, 70)])
def test_statistics_do_not_depend_on_the_thread_count(n, d, width):
    p = make_problem(n, d, width, seed=n)
    rates = [fc.activation_rates(p.net, p.X, n_threads=t) for t in (1, 2, 3, 8)]
    sides = [fc.neuron_sides(p.net, p.X, n_threads=t) for t in (1, 2, 3, 8)]
    for r, s in zip(rates[1:], sides[1:]):
        np.testing.assert_array_equal(r, rates[0])
        for a, b in zip(s, sides[0]):
            for u, v in zip(a, b):
                np.testing.assert_array_equal(u, v)


def test_mean_rate_is_the_training_active_fraction():
    """The gradient's fused pass and the statistics pass count the same active pairs."""
    p = make_problem(500, 6, 48, seed=3, data="ball")
    result = fc.train(p.net, p.X, p.y, lr=0.05, steps=3, record_every=1)
    assert result.history["active_fraction"][0] == pytest.approx(fc.activation_rates(p.net, p.X).mean(), rel=1e-15)


def test_statistics_accept_strided_and_integer_data():
    p = make_problem(64, 3, 7, seed=0)
    wide = np.zeros((64, 6))
    wide[:, ::2] = p.X
    np.testing.assert_array_equal(fc.activation_rates(p.net, wide[:, ::2]), fc.activation_rates(p.net, p.X))
    Xi = np.round(p.X * 4).astype(int)
    np.testing.assert_array_equal(fc.activation_rates(p.net, Xi), fc.activation_rates(p.net, Xi.astype(float)))
