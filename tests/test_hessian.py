"""docs/math.md, section 3: the Hessian in closed form,

    H = (1/n) sum_i g_i g_i^T + (1/n) sum_i r_i Hf_i        (Gauss-Newton + residual part),

its matrix-free products H u, and the exact trace

    tr H = 1 + (1/n) sum_ik [phi_ik^2 + v_k^2 a_ik (||x_i||^2 + 1)].

Checked against finite differences of a NumPy gradient (away from kinks: inside one activation
pattern each gradient component is a polynomial of degree <= 2 along any one coordinate, so
central differences are exact up to rounding), against J^T J / n with J built in NumPy from
g_i, and against NumPy versions of the HVP and trace formulas.
"""

from __future__ import annotations

import os
import subprocess
import sys

import numpy as np
import pytest
from hypothesis import assume, given
from hypothesis import strategies as st

import flatcore as fc
import reference as ref
from conftest import problems, seeds, small_problems
from test_gradient import KINK_MARGIN, fd_steps

PARTS = ("full", "gauss_newton", "residual")


def tolerance(p, extra=0):
    W, b, v, beta, X, y = p.arrays
    return ref.gamma(p.n + extra, p.d, p.width) * ref.hessian_scale(W, b, v, beta, X, y)


# -------------------------------------------------------------------------------------------------
# Dense Hessian against finite differences
# -------------------------------------------------------------------------------------------------
@given(problems())
def test_hessian_matches_finite_differences_of_gradient(p):
    """Column j of H = (grad L(theta + h e_j) - grad L(theta - h e_j)) / 2h, NumPy gradient,
    h as large as the nearest kink allows."""
    W, b, _v, _beta, X, y = p.arrays
    assume(ref.relative_kink_margin(W, b, X) > KINK_MARGIN)
    d, K = p.d, p.width
    theta = p.net.params()
    H = fc.hessian(p.net, X, y)
    assert H.shape == (theta.size, theta.size) and H.dtype == np.float64
    gam = ref.gamma(p.n, d, K)
    h = fd_steps(p)
    tol_H = tolerance(p)
    for j in range(theta.size):
        tp, tm = theta.copy(), theta.copy()
        tp[j] += h[j]
        tm[j] -= h[j]
        fd = (ref.gradient_theta(tp, X, y, d, K) - ref.gradient_theta(tm, X, y, d, K)) / (2 * h[j])
        fd_err = (
            gam
            * (ref.gradient_scale(*ref.unpack(tp, d, K), X, y) + ref.gradient_scale(*ref.unpack(tm, d, K), X, y))
            / (2 * h[j])
        )
        tol = tol_H[:, j] + fd_err + 1e-9 * np.abs(fd)
        bad = np.abs(H[:, j] - fd) > tol
        assert not bad.any(), (j, np.flatnonzero(bad), H[bad, j], fd[bad], tol[bad])


# -------------------------------------------------------------------------------------------------
# Structure: symmetry, parts, Gauss-Newton = J^T J / n, residual pattern
# -------------------------------------------------------------------------------------------------
@given(problems(max_n=200))
def test_hessian_symmetric(p):
    """H = H^T (all three parts)."""
    tol = tolerance(p)
    for part in PARTS:
        H = fc.hessian(p.net, p.X, p.y, part=part)
        assert np.all(np.abs(H - H.T) <= tol), part


@given(problems(max_n=200))
def test_full_is_gauss_newton_plus_residual(p):
    """H = (1/n) sum g_i g_i^T + (1/n) sum r_i Hf_i: the full Hessian is the sum of its parts."""
    H = fc.hessian(p.net, p.X, p.y, part="full")
    G = fc.hessian(p.net, p.X, p.y, part="gauss_newton")
    R = fc.hessian(p.net, p.X, p.y, part="residual")
    assert np.all(np.abs(H - (G + R)) <= tolerance(p))


@given(problems(max_n=200))
def test_gauss_newton_equals_jacobian_product(p):
    """Gauss-Newton part = J^T J / n, J built in NumPy from g_i: d/dw_k = v_k a_ik x_i,
    d/db_k = -v_k a_ik, d/dv_k = phi_ik, d/dbeta = 1."""
    W, b, v, beta, X, y = p.arrays
    assume(ref.relative_kink_margin(W, b, X) > KINK_MARGIN)
    J = ref.jacobian(W, b, v, beta, X)
    G = fc.hessian(p.net, X, y, part="gauss_newton")
    expected = J.T @ J / p.n
    bad = np.abs(G - expected) > tolerance(p)
    assert not bad.any(), (np.argwhere(bad)[:5], G[bad][:5], expected[bad][:5])
    # positive semi-definite, as J^T J is (checked where the eigendecomposition is cheap)
    if G.shape[0] <= 200:
        assert np.linalg.eigvalsh(G).min() >= -8 * G.shape[0] * ref.EPS * np.linalg.norm(G)


@given(problems(max_n=200))
def test_residual_part_matches_formula_and_pattern(p):
    """Residual part: only the (v_k, w_k) and (v_k, b_k) blocks are nonzero, with entries
    (1/n) sum_i r_i a_ik x_i and -(1/n) sum_i r_i a_ik; everything else is exactly 0 (no w-w,
    b-b, v-v or inter-neuron terms, and a zero diagonal)."""
    W, b, v, beta, X, y = p.arrays
    assume(ref.relative_kink_margin(W, b, X) > KINK_MARGIN)
    R = fc.hessian(p.net, X, y, part="residual")
    expected = ref.residual_hessian(W, b, v, beta, X, y)
    allowed = (
        ref.residual_hessian(np.ones_like(W), -np.ones_like(b), np.ones_like(v), 1.0, np.ones((1, p.d)), np.zeros(1))
        != 0
    )  # the sparsity pattern
    assert np.all(R[~allowed] == 0.0)
    assert np.all(np.diag(R) == 0.0)
    assert np.all(np.abs(R - expected) <= tolerance(p))


@given(small_problems())
def test_full_hessian_matches_numpy_closed_form(p):
    """The whole closed form of section 3, built in NumPy, against fc.hessian."""
    W, b, v, beta, X, y = p.arrays
    assume(ref.relative_kink_margin(W, b, X) > KINK_MARGIN)
    for part in PARTS:
        expected = ref.hessian(W, b, v, beta, X, y, part)
        assert np.all(np.abs(fc.hessian(p.net, X, y, part=part) - expected) <= tolerance(p)), part


# -------------------------------------------------------------------------------------------------
# Hessian-vector products
# -------------------------------------------------------------------------------------------------
@pytest.mark.parametrize("part", PARTS)
@given(p=problems(max_n=200), useed=seeds)
def test_hvp_equals_dense_hessian_times_u(part, p, useed):
    """hvp(u) = H u for each part, u random with entries over several scales."""
    u = np.random.default_rng(useed).standard_normal(p.net.n_params) * 10.0 ** np.random.default_rng(useed + 1).uniform(
        -2, 2
    )
    H = fc.hessian(p.net, p.X, p.y, part=part)
    Hu = fc.hvp(p.net, p.X, p.y, u, part=part)
    assert Hu.shape == u.shape and Hu.dtype == np.float64
    tol = tolerance(p, extra=p.net.n_params) @ np.abs(u)
    bad = np.abs(Hu - H @ u) > tol
    assert not bad.any(), (np.flatnonzero(bad), Hu[bad], (H @ u)[bad], tol[bad])


@pytest.mark.parametrize("part", PARTS)
@given(p=problems(), useed=seeds)
def test_hvp_matches_numpy_formula(part, p, useed):
    """The matrix-free formulas of section 3 (s_i = (J u)_i, (1/n) J^T s, residual components)
    in NumPy against fc.hvp."""
    W, b, v, beta, X, y = p.arrays
    assume(ref.relative_kink_margin(W, b, X) > KINK_MARGIN)
    u = np.random.default_rng(useed).standard_normal(p.net.n_params)
    expected = ref.hvp(W, b, v, beta, X, y, u, part)
    tol = tolerance(p, extra=p.net.n_params) @ np.abs(u)
    assert np.all(np.abs(fc.hvp(p.net, X, y, u, part=part) - expected) <= tol)


@given(problems(max_n=200), seeds)
def test_hvp_parts_add_up_and_linear(p, useed):
    """H u = GN u + R u, and u -> H u is linear: H (a u1 + u2) = a H u1 + H u2."""
    rng = np.random.default_rng(useed)
    u1, u2 = rng.standard_normal((2, p.net.n_params))
    a = rng.uniform(-3, 3)
    tol = 4 * tolerance(p, extra=p.net.n_params) @ (np.abs(a * u1) + np.abs(u2))
    full = fc.hvp(p.net, p.X, p.y, u1)
    parts = fc.hvp(p.net, p.X, p.y, u1, part="gauss_newton") + fc.hvp(p.net, p.X, p.y, u1, part="residual")
    assert np.all(np.abs(full - parts) <= tol)
    lin = fc.hvp(p.net, p.X, p.y, a * u1 + u2)
    assert np.all(np.abs(lin - (a * full + fc.hvp(p.net, p.X, p.y, u2))) <= tol)


def test_hvp_basis_vectors_give_hessian_columns(problem):
    """hvp(e_j) is column j of H, for every j."""
    p = problem
    H = fc.hessian(p.net, p.X, p.y)
    P = p.net.n_params
    cols = np.column_stack([fc.hvp(p.net, p.X, p.y, np.eye(P)[j]) for j in range(P)])
    assert np.all(np.abs(cols - H) <= tolerance(p, extra=P))


# -------------------------------------------------------------------------------------------------
# Trace
# -------------------------------------------------------------------------------------------------
@given(problems(max_n=200))
def test_trace_equals_diagonal_sum(p):
    """hessian_trace = sum of the diagonal of the dense H (full and Gauss-Newton); the residual
    part has a zero diagonal, so its trace is exactly 0."""
    tol = ref.gamma(p.n + p.net.n_params, p.d, p.width) * np.trace(tolerance(p)) / ref.gamma(p.n, p.d, p.width)
    for part in ("full", "gauss_newton"):
        t = fc.hessian_trace(p.net, p.X, p.y, part=part)
        assert isinstance(t, float)
        assert abs(t - np.trace(fc.hessian(p.net, p.X, p.y, part=part))) <= tol, part
    assert fc.hessian_trace(p.net, p.X, p.y, part="residual") == 0.0
    assert fc.hessian_trace(p.net, p.X, p.y, part="full") == fc.hessian_trace(p.net, p.X, p.y, part="gauss_newton")


@given(problems())
def test_trace_matches_closed_form(p):
    """tr H = 1 + (1/n) sum_ik [phi_ik^2 + v_k^2 a_ik (||x_i||^2 + 1)] (NumPy) = (1/n) sum ||g_i||^2."""
    W, b, v, beta, X, y = p.arrays
    assume(ref.relative_kink_margin(W, b, X) > KINK_MARGIN)
    Ja = ref.jacobian_scale(W, b, v, beta, X)
    tol = ref.gamma(p.n + p.net.n_params, p.d, p.width) * float((Ja**2).sum()) / p.n
    t = fc.hessian_trace(p.net, X, y)
    assert abs(t - ref.hessian_trace(W, b, v, beta, X)) <= tol
    J = ref.jacobian(W, b, v, beta, X)
    assert abs(t - float((J**2).sum()) / p.n) <= tol
    assert t >= 1.0  # the beta entry alone contributes 1


@given(problems())
def test_trace_per_neuron(p):
    """trace_per_neuron_k = mean_i phi_ik^2 + v_k^2 mean_i a_ik (||x_i||^2 + 1), the diagonal of
    H summed over neuron k's parameters (w_k, b_k, v_k); 1 + their sum = tr H."""
    W, b, v, beta, X, y = p.arrays
    assume(ref.relative_kink_margin(W, b, X) > KINK_MARGIN)
    K, d = p.width, p.d
    tpn = fc.trace_per_neuron(p.net, X)
    assert tpn.shape == (K,) and np.all(tpn >= 0)
    Ja = ref.jacobian_scale(W, b, v, beta, X)
    diag_scale = (Ja**2).mean(axis=0)
    per_neuron_scale = (
        diag_scale[: K * d].reshape(K, d).sum(axis=1)
        + diag_scale[K * d : K * d + K]
        + diag_scale[K * d + K : K * d + 2 * K]
    )
    gam = ref.gamma(p.n, d, K)
    assert np.all(np.abs(tpn - ref.trace_per_neuron(W, b, v, beta, X)) <= gam * per_neuron_scale)
    # against the diagonal of H (through the Jacobian: diag H = mean_i g_i^2)
    diagH = (ref.jacobian(W, b, v, beta, X) ** 2).mean(axis=0)
    by_neuron = diagH[: K * d].reshape(K, d).sum(axis=1) + diagH[K * d : K * d + K] + diagH[K * d + K : K * d + 2 * K]
    assert np.all(np.abs(tpn - by_neuron) <= gam * per_neuron_scale)
    assert abs(1.0 + tpn.sum() - fc.hessian_trace(p.net, X, y)) <= gam * (1.0 + per_neuron_scale.sum())


def test_trace_per_neuron_against_dense_hessian(problem):
    """Neuron k's share equals the sum of the dense Hessian's diagonal over (w_k, b_k, v_k)."""
    p = problem
    K, d = p.width, p.d
    diagH = np.diag(fc.hessian(p.net, p.X, p.y))
    by_neuron = diagH[: K * d].reshape(K, d).sum(axis=1) + diagH[K * d : K * d + K] + diagH[K * d + K : K * d + 2 * K]
    np.testing.assert_allclose(fc.trace_per_neuron(p.net, p.X), by_neuron, rtol=1e-12, atol=1e-14)
    assert diagH[-1] == 1.0


# -------------------------------------------------------------------------------------------------
# Exact kinks: relu'(0) = 0 everywhere
# -------------------------------------------------------------------------------------------------
@given(seed=seeds, n=st.integers(1, 60), d=st.integers(1, 4), width=st.integers(1, 8))
def test_hessian_hvp_trace_at_exact_kinks(seed, n, d, width):
    """With integer X, W, b many z_ik are exactly 0; every Hessian route uses a_ik = 0 there."""
    rng = np.random.default_rng(seed)
    X = rng.integers(-2, 3, size=(n, d)).astype(float)
    W = rng.integers(-2, 3, size=(width, d)).astype(float)
    b = rng.integers(-2, 3, size=width).astype(float)
    v, beta, y = rng.standard_normal(width), rng.standard_normal(), rng.standard_normal(n)
    net = fc.Network(W, b, v, beta)
    P = net.n_params
    tol = ref.gamma(n + P, d, width) * ref.hessian_scale(W, b, v, beta, X, y)
    u = rng.standard_normal(P)
    for part in PARTS:
        expected = ref.hessian(W, b, v, beta, X, y, part)
        assert np.all(np.abs(fc.hessian(net, X, y, part=part) - expected) <= tol), part
        assert np.all(np.abs(fc.hvp(net, X, y, u, part=part) - expected @ u) <= tol @ np.abs(u)), part
    assert abs(fc.hessian_trace(net, X, y) - ref.hessian_trace(W, b, v, beta, X)) <= np.trace(tol)


# -------------------------------------------------------------------------------------------------
# Memory guard
# -------------------------------------------------------------------------------------------------
@pytest.mark.parametrize("part", PARTS)
def test_hessian_refuses_when_max_bytes_too_small(part, problem):
    """max_bytes below the 8 P^2 bytes of the matrix gives MemoryError pointing to hvp; a limit
    with room to spare works."""
    p = problem
    P = p.net.n_params
    with pytest.raises(MemoryError, match="hvp"):
        fc.hessian(p.net, p.X, p.y, part=part, max_bytes=100)
    with pytest.raises(MemoryError, match="max_bytes"):
        fc.hessian(p.net, p.X, p.y, part=part, max_bytes=8 * P * P - 1)
    H = fc.hessian(p.net, p.X, p.y, part=part, max_bytes=2 * 8 * P * P + 2**20)
    assert H.shape == (P, P)


@pytest.mark.skipif(
    bool(os.environ.get("FLATCORE_UNDER_SANITIZER")),
    reason="caps the address space, which AddressSanitizer cannot run under",
)
def test_hessian_refuses_huge_P_before_allocating():
    """P ~ 1.5e6 (a 16 TiB matrix) with the default max_bytes: MemoryError from the size check
    (its message points to hvp), not a failed allocation or an out-of-memory kill. Run in a
    child whose address space is capped at 4 GiB, so that an attempt to allocate cannot succeed
    or take the machine down."""
    code = r"""
import resource, numpy as np, flatcore as fc
K = 500_000
net = fc.Network(np.ones((K, 1)), np.zeros(K), np.ones(K), 0.0)
resource.setrlimit(resource.RLIMIT_AS, (4 * 2**30, 4 * 2**30))
try:
    fc.hessian(net, np.ones((3, 1)), np.ones(3))
except MemoryError as exc:
    print("MemoryError:", exc)
"""
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr
    assert "MemoryError:" in out.stdout
    assert "hvp" in out.stdout and "1500001" in out.stdout


def test_hvp_works_where_dense_hessian_is_refused():
    """The same large network: hvp works (it never forms P x P) and matches the formula."""
    K = 200_000
    rng = np.random.default_rng(0)
    net = fc.Network(rng.standard_normal((K, 1)), rng.standard_normal(K), rng.standard_normal(K), 0.1)
    X, y = rng.standard_normal((5, 1)), rng.standard_normal(5)
    with pytest.raises(MemoryError, match="hvp"):
        fc.hessian(net, X, y, max_bytes=2**30)
    u = rng.standard_normal(net.n_params)
    Hu = fc.hvp(net, X, y, u)
    expected = ref.hvp(net.W, net.b, net.v, net.beta, X, y, u)
    np.testing.assert_allclose(Hu, expected, rtol=1e-9, atol=1e-9 * np.abs(expected).max())
