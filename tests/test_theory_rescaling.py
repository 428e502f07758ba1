"""docs/math.md, section 8: the rescaling symmetry and the invariant minimal trace
(flatcore.theory.rescaling)."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

import flatcore as fc
import flatcore.theory as th
from theory_cases import networks_and_data


@st.composite
def rescaling_cases(draw):
    net, X, y = draw(networks_and_data(max_d=5, max_width=8, max_n=60))
    K = net.width
    alpha = 10.0 ** np.array(draw(st.lists(st.floats(-2, 2), min_size=K, max_size=K), label="log10 alpha"))
    return net, X, y, alpha


@given(rescaling_cases())
def test_rescaling_invariances_and_trace(case):
    """(w, b, v) -> (alpha w, alpha b, v/alpha): f, L and min_trace = 1 + sum_k 2 sqrt(A_k B_k) unchanged;
    per neuron tr H contributes alpha^2 A_k + B_k / alpha^2 (A_k = mean phi^2, B_k = v^2 mean a (|x|^2+1));
    min_trace <= tr H for every rescaling."""
    net, X, y, alpha = case
    new = th.rescale(net, alpha)
    assert isinstance(new, fc.Network) and new is not net
    f0, f1 = net.predict(X), new.predict(X)
    fscale = np.abs(np.maximum(X @ net.W.T - net.b, 0)) @ np.abs(net.v) + abs(net.beta)
    assert np.all(np.abs(f0 - f1) <= 1e-12 * fscale + 1e-300)
    assert fc.loss(new, X, y) == pytest.approx(fc.loss(net, X, y), rel=1e-9, abs=1e-12 * np.mean(fscale**2 + y**2))
    A, B = fc.trace_terms(net, X)
    Z = X @ net.W.T - net.b
    a = Z > 0
    np.testing.assert_allclose(A, np.mean(np.maximum(Z, 0) ** 2, axis=0), rtol=1e-10)
    np.testing.assert_allclose(B, net.v**2 * np.mean(a * (np.sum(X**2, axis=1) + 1)[:, None], axis=0), rtol=1e-10)
    per = fc.trace_per_neuron(new, X)
    np.testing.assert_allclose(per, alpha**2 * A + B / alpha**2, rtol=1e-9, atol=1e-300)
    mt = th.min_trace(net, X, y)
    assert mt == pytest.approx(1 + 2 * np.sum(np.sqrt(A * B)), rel=1e-12)
    assert th.min_trace(new, X) == pytest.approx(mt, rel=1e-9)
    for candidate in (net, new):
        assert mt <= fc.hessian_trace(candidate, X, y) * (1 + 1e-12)


@given(rescaling_cases())
def test_balance_attains_min_trace(case):
    """alpha_k^2 = sqrt(B_k / A_k) makes tr H = min_trace = 1 + sum 2 sqrt(A_k B_k); neurons with A_k = 0 or
    B_k = 0 are left alone, so with v_k = 0 on an active neuron the balanced trace is min_trace + A_k."""
    net, X, y, _ = case
    bal = th.balance_for_min_trace(net, X)
    A, B = fc.trace_terms(net, X)
    untouched = (A == 0) | (B == 0)
    np.testing.assert_array_equal(bal.W[untouched], net.W[untouched])
    tr = fc.hessian_trace(bal, X, y)
    mt = th.min_trace(net, X)
    assert tr == pytest.approx(mt + np.sum(A[untouched]), rel=1e-9)
    Ab, Bb = fc.trace_terms(bal, X)
    ok = ~untouched
    np.testing.assert_allclose(Ab[ok], Bb[ok], rtol=1e-9)
    fscale = np.abs(np.maximum(X @ net.W.T - net.b, 0)) @ np.abs(net.v)
    assert np.all(np.abs(bal.predict(X) - net.predict(X)) <= 1e-12 * fscale + 1e-300)
    # with every active neuron carrying output weight, the minimum is attained exactly
    net2 = fc.Network(net.W, net.b, np.where(net.v == 0, 1.0, net.v), net.beta)
    assert fc.hessian_trace(th.balance_for_min_trace(net2, X), X, y) == pytest.approx(th.min_trace(net2, X), rel=1e-9)


def test_rescaling_changes_sharpness_but_not_min_trace(problem):
    """Dinh et al.: lambda_max and tr H change under rescaling; min_trace does not."""
    net, X, y = problem.net, problem.X, problem.y
    new = th.rescale(net, 10.0)
    lam0 = np.linalg.eigvalsh(fc.hessian(net, X, y))[-1]
    lam1 = np.linalg.eigvalsh(fc.hessian(new, X, y))[-1]
    assert lam1 > 2 * lam0
    assert fc.hessian_trace(new, X, y) > 2 * fc.hessian_trace(net, X, y)
    assert th.min_trace(new, X, y) == pytest.approx(th.min_trace(net, X, y), rel=1e-12)


def test_rescaling_bad_input():
    """Clear ValueError naming the argument."""
    net = fc.Network.init(2, 3)
    with pytest.raises(ValueError, match="alpha must be positive"):
        th.rescale(net, np.array([1.0, 0.0, 2.0]))
    with pytest.raises(ValueError, match="alpha must be a scalar or have shape"):
        th.rescale(net, np.ones(2))
    with pytest.raises(ValueError, match="alpha contains NaN"):
        th.rescale(net, np.inf)
