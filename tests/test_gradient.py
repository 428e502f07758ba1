"""docs/math.md, section 2: the loss L = 1/(2n) sum_i r_i^2 and its gradient

    dL/dbeta = mean_i r_i,  dL/dv_k = mean_i r_i phi_ik,
    dL/dw_k = mean_i r_i v_k a_ik x_i,  dL/db_k = -mean_i r_i v_k a_ik.

Checked against a NumPy reimplementation of the formulas and against central finite differences
of a NumPy loss. Along one coordinate of theta, inside one activation pattern, L is exactly
quadratic (f is linear in each single parameter where no z_ik changes sign), so central
differences have no truncation error there: the FD step is taken as large as the distance to
the nearest kink allows, and the tolerance is the propagated rounding error only.
"""

from __future__ import annotations

import numpy as np
from hypothesis import assume, given
from hypothesis import strategies as st

import flatcore as fc
import reference as ref
from conftest import make_problem, problems, seeds

# Points closer than this (relative to the size of the terms of z_ik) to a kink are skipped:
# there the two implementations may legitimately disagree on the sign of z_ik.
KINK_MARGIN = 1e-8


def fd_steps(p):
    """Per-coordinate central-difference steps that cross no kink and move no output by more
    than a tenth of the outputs' scale."""
    W, b, v, beta, X, y = p.arrays
    h_kink = ref.kink_free_steps(W, b, X)
    jac_max = ref.jacobian_scale(W, b, v, beta, X).max(axis=0)  # |df_i/dtheta_j| bound
    out_max = ref.output_scale(W, b, v, beta, X, y).max()
    with np.errstate(divide="ignore"):
        h_out = np.where(jac_max > 0, 0.1 * out_max / jac_max, np.inf)
    h = np.minimum(0.5 * h_kink, h_out)
    # f does not depend on theta_j at all (a dead neuron's v_k, say): any step gives FD = 0.
    return np.where(np.isfinite(h), h, 1.0)


# -------------------------------------------------------------------------------------------------
# Loss
# -------------------------------------------------------------------------------------------------
@given(problems())
def test_loss_matches_numpy(p):
    """L = 1/(2n) sum_i (f(x_i) - y_i)^2 against NumPy, to the rounding of the sums."""
    W, b, v, beta, X, y = p.arrays
    expected = ref.loss(W, b, v, beta, X, y)
    tol = ref.gamma(p.n, p.d, p.width) * ref.loss_scale(W, b, v, beta, X, y)
    value = fc.loss(p.net, X, y)
    assert isinstance(value, float)
    assert abs(value - expected) <= tol, (value, expected, tol)


@given(problems())
def test_loss_and_gradient_consistent(p):
    """loss_and_gradient returns (L, grad L): the same as loss() and gradient()."""
    W, b, v, beta, X, y = p.arrays
    value, grad = fc.loss_and_gradient(p.net, X, y)
    tol = ref.gamma(p.n, p.d, p.width) * ref.loss_scale(W, b, v, beta, X, y)
    assert abs(value - fc.loss(p.net, X, y)) <= tol
    np.testing.assert_array_equal(grad, fc.gradient(p.net, X, y))


def test_loss_by_hand():
    """A 2-point, 1-neuron example worked by hand: f = 2 relu(x - 1) + 0.5."""
    net = fc.Network([[1.0]], [1.0], [2.0], 0.5)
    X = np.array([[3.0], [0.0]])
    y = np.array([1.0, -1.0])
    # f = [4.5, 0.5], r = [3.5, 1.5], L = (12.25 + 2.25) / 4
    assert fc.loss(net, X, y) == (3.5**2 + 1.5**2) / 4
    # grad: beta: mean r = 2.5; v: mean r phi = 3.5*2/2 = 3.5; w: mean r v a x = 3.5*2*3/2 = 10.5;
    # b: -mean r v a = -3.5
    np.testing.assert_array_equal(fc.gradient(net, X, y), [10.5, -3.5, 3.5, 2.5])


# -------------------------------------------------------------------------------------------------
# Gradient against the formulas
# -------------------------------------------------------------------------------------------------
@given(problems())
def test_gradient_matches_numpy_formulas(p):
    """The four block formulas of section 2, implemented in NumPy, in the layout of params()."""
    W, b, v, beta, X, y = p.arrays
    assume(ref.relative_kink_margin(W, b, X) > KINK_MARGIN)
    expected = ref.gradient(W, b, v, beta, X, y)
    tol = ref.gamma(p.n, p.d, p.width) * ref.gradient_scale(W, b, v, beta, X, y)
    grad = fc.gradient(p.net, X, y)
    assert grad.shape == (p.net.n_params,) and grad.dtype == np.float64
    bad = np.abs(grad - expected) > tol
    assert not bad.any(), (np.flatnonzero(bad), grad[bad], expected[bad], tol[bad])


@given(problems())
def test_gradient_equals_jacobian_transpose_residual(p):
    """grad L = (1/n) J^T r with J_i = g_i = grad_theta f(x_i) (sections 2 and 3 agree)."""
    W, b, v, beta, X, y = p.arrays
    assume(ref.relative_kink_margin(W, b, X) > KINK_MARGIN)
    J = ref.jacobian(W, b, v, beta, X)
    r = ref.predict(W, b, v, beta, X) - y
    expected = J.T @ r / p.n
    tol = ref.gamma(p.n, p.d, p.width) * ref.gradient_scale(W, b, v, beta, X, y)
    assert np.all(np.abs(fc.gradient(p.net, X, y) - expected) <= tol)


# -------------------------------------------------------------------------------------------------
# Gradient against finite differences
# -------------------------------------------------------------------------------------------------
@given(problems())
def test_gradient_matches_central_differences(p):
    """dL/dtheta_j = (L(theta + h e_j) - L(theta - h e_j)) / 2h for every j, L in NumPy, h as
    large as the nearest kink allows (no truncation error: L is quadratic there)."""
    W, b, v, beta, X, y = p.arrays
    assume(ref.relative_kink_margin(W, b, X) > KINK_MARGIN)
    d, K = p.d, p.width
    theta = p.net.params()
    grad = fc.gradient(p.net, X, y)
    gam = ref.gamma(p.n, d, K)
    h = fd_steps(p)
    fd = np.empty_like(theta)
    fd_err = np.empty_like(theta)
    for j in range(theta.size):
        tp, tm = theta.copy(), theta.copy()
        tp[j] += h[j]
        tm[j] -= h[j]
        fd[j] = (ref.loss_theta(tp, X, y, d, K) - ref.loss_theta(tm, X, y, d, K)) / (2 * h[j])
        scale = ref.loss_scale(*ref.unpack(tp, d, K), X, y) + ref.loss_scale(*ref.unpack(tm, d, K), X, y)
        fd_err[j] = gam * scale / (2 * h[j])
    tol = gam * ref.gradient_scale(W, b, v, beta, X, y) + fd_err + 1e-9 * np.abs(fd)
    bad = np.abs(grad - fd) > tol
    assert not bad.any(), (np.flatnonzero(bad), grad[bad], fd[bad], tol[bad])


def test_gradient_central_differences_of_flatcore_loss():
    """The same check through the package's own loss and from_params: grad L is the derivative
    of fc.loss in the layout of params() (a fixed, well-conditioned problem, FD step 1e-5)."""
    p = make_problem(60, 3, 5, seed=4)
    d, K = p.d, p.width
    theta = p.net.params()
    grad = fc.gradient(p.net, p.X, p.y)
    h = np.minimum(0.5 * ref.kink_free_steps(p.net.W, p.net.b, p.X), 1e-5)
    for j in range(theta.size):
        tp, tm = theta.copy(), theta.copy()
        tp[j] += h[j]
        tm[j] -= h[j]
        fd = (
            fc.loss(fc.Network.from_params(tp, d, K), p.X, p.y) - fc.loss(fc.Network.from_params(tm, d, K), p.X, p.y)
        ) / (2 * h[j])
        assert abs(fd - grad[j]) <= 1e-6 * (abs(grad[j]) + 1e-3 * np.abs(grad).max()), j


# -------------------------------------------------------------------------------------------------
# The convention relu'(0) = 0 at exact kinks
# -------------------------------------------------------------------------------------------------
@given(seed=seeds, n=st.integers(1, 80), d=st.integers(1, 5), width=st.integers(1, 12))
def test_gradient_at_exact_kinks_uses_zero_derivative(seed, n, d, width):
    """Small-integer X, W, b make many z_ik exactly 0; there a_ik = 1[z_ik > 0] = 0 (section 1:
    relu'(0) := 0). Integer arithmetic is exact, so the comparison is tight."""
    rng = np.random.default_rng(seed)
    X = rng.integers(-2, 3, size=(n, d)).astype(float)
    W = rng.integers(-2, 3, size=(width, d)).astype(float)
    b = rng.integers(-2, 3, size=width).astype(float)
    v = rng.standard_normal(width)
    beta = rng.standard_normal()
    y = rng.standard_normal(n)
    net = fc.Network(W, b, v, beta)
    expected = ref.gradient(W, b, v, beta, X, y)
    tol = ref.gamma(n, d, width) * ref.gradient_scale(W, b, v, beta, X, y)
    assert np.all(np.abs(fc.gradient(net, X, y) - expected) <= tol)
    assert abs(fc.loss(net, X, y) - ref.loss(W, b, v, beta, X, y)) <= ref.gamma(n, d, width) * ref.loss_scale(
        W, b, v, beta, X, y
    )


def test_gradient_at_kink_one_neuron_by_hand():
    """z = 0 exactly on the only point: the neuron counts as inactive, so dL/dw = dL/db = 0
    and dL/dv = mean r phi = 0; only dL/dbeta = mean r survives."""
    net = fc.Network([[1.0]], [2.0], [3.0], 0.5)
    X = np.array([[2.0]])
    y = np.array([0.0])
    np.testing.assert_array_equal(fc.gradient(net, X, y), [0.0, 0.0, 0.0, 0.5])


def test_dead_neuron_has_zero_gradient():
    """A neuron inactive on every point contributes nothing: its w, b, v derivatives are 0."""
    p = make_problem(50, 3, 4, seed=0)
    W, b = p.net.W.copy(), p.net.b.copy()
    b[2] = 1e3  # w_2 . x - b_2 < 0 everywhere
    net = fc.Network(W, b, p.net.v, p.net.beta)
    g = fc.gradient(net, p.X, p.y)
    gW, gb, gv, _ = ref.unpack(g, 3, 4)
    assert np.all(gW[2] == 0) and gb[2] == 0 and gv[2] == 0
    assert np.any(gW[[0, 1, 3]] != 0)


@given(seeds, st.sampled_from([0.003, 0.02, 0.1]))
def test_sparse_activations_fast_path(seed, rate):
    """The shattering regime: each neuron active on only a small fraction of the points, so the
    kernels skip most register tiles in the backward passes. Gradient and HVP still equal the
    dense NumPy formulas (section 2 and 3), and training equals the NumPy update."""
    rng = np.random.default_rng(seed)
    n, d, width = 700, 6, 90
    X = fc.data.uniform_ball(n, d, seed=rng)
    y = rng.standard_normal(n)
    W = rng.standard_normal((width, d))
    b = np.quantile(X @ W.T, 1.0 - rate, axis=0)  # neuron k active on about rate * n points
    net = fc.Network(W, b, rng.standard_normal(width), 0.1)
    assert ((X @ W.T - b) > 0).mean() <= 2 * rate + 1.0 / n
    args = (net.W, net.b, net.v, net.beta, X, y)
    assume(ref.relative_kink_margin(net.W, net.b, X) > KINK_MARGIN)
    tol = ref.gamma(n, d, width) * ref.gradient_scale(*args)
    assert np.all(np.abs(fc.gradient(net, X, y) - ref.gradient(*args)) <= tol)
    u = rng.standard_normal(net.n_params)
    H = ref.hessian(*args)
    np.testing.assert_allclose(
        fc.hvp(net, X, y, u), H @ u, rtol=0, atol=1e-12 * np.abs(H).sum(axis=1).max() * np.abs(u).max()
    )
    theta = ref.gradient_descent(net.params(), X, y, d, width, 0.05, 20)[0][-1]
    res = fc.train(net, X, y, 0.05, 20)
    np.testing.assert_allclose(res.net.params(), theta, rtol=0, atol=1e-10 * max(1.0, np.abs(theta).max()))
