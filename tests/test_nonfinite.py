"""No silent non-finite results (QUALITY.md, reliability): every public function returns finite
numbers or raises an exception that says what overflowed and what to do; a ``converged`` flag is
never true next to a non-finite value.

Two kinds of input: data or weights so large that the quantity itself exceeds float64 (X * 1e200:
the Hessian's entries are about 1e400), which must raise FloatingPointError; and quantities that
are in range although a naive computation overflows (a Hessian with entries near 1e200, whose
norms' squares overflow), which must come out finite and right: checked against an independent
route (LAPACK's scaled eigendecomposition, a closed form, a power-of-two rescaling).
"""

from __future__ import annotations

import pickle

import numpy as np
import pytest

import flatcore as fc
from flatcore import _core, _validation, theory
from flatcore.data import UniformBall

OVERFLOW = "overflow"


@pytest.fixture(scope="module")
def data():
    return fc.data.regression(30, 3, seed=0)


@pytest.fixture(scope="module")
def net():
    return fc.Network.init(3, 10, seed=0)  # P = 51


def scaled_net(net, W=1.0, b=1.0, v=1.0):
    return fc.Network(net.W * W, net.b * b, net.v * v, net.beta)


def eigvalsh_scaled(H, which=-1):
    """Eigenvalues of H through LAPACK on H / 2^k (exact), multiplied back: an independent route."""
    k = int(np.frexp(np.abs(H).max())[1])
    return np.linalg.eigvalsh(np.ldexp(H, -k)) * 2.0**k


# -------------------------------------------------------------------------------------------------
# The Hessian overflows (data x 1e200): a clear FloatingPointError, at once
# -------------------------------------------------------------------------------------------------
SPECTRAL = {
    "sharpness": lambda net, X, y: fc.sharpness(net, X, y),
    "sharpness lanczos": lambda net, X, y: fc.sharpness(net, X, y, method="lanczos"),
    "sharpness eigenvalue stop": lambda net, X, y: fc.sharpness(net, X, y, method="lanczos", stop="eigenvalue"),
    "top_eigs k=2 lanczos": lambda net, X, y: fc.top_eigs(net, X, y, k=2, method="lanczos"),
    "top_eigs both dense": lambda net, X, y: fc.top_eigs(net, X, y, k=2, which="both", method="dense"),
    "top_eigs both lanczos": lambda net, X, y: fc.top_eigs(net, X, y, k=2, which="both", method="lanczos"),
    "exact_spectrum": lambda net, X, y: fc.exact_spectrum(net, X, y),
    "spectral_density": lambda net, X, y: fc.spectral_density(net, X, y, n_probes=2, lanczos_steps=10),
    "operator matvec": lambda net, X, y: fc.hessian_operator(net, X, y).matvec(np.ones(net.n_params)),
    "operator matmat": lambda net, X, y: fc.hessian_operator(net, X, y).matmat(np.ones((net.n_params, 2))),
    "operator @": lambda net, X, y: fc.hessian_operator(net, X, y) @ np.ones(net.n_params),
    "stability_inequality": lambda net, X, y: theory.stability_inequality(net, X, y),
}


@pytest.mark.parametrize("width", [5, 10, 30])  # P = 26, 51 (dense by default), 151
@pytest.mark.parametrize("fn", list(SPECTRAL))
def test_spectral_functions_raise_when_the_hessian_overflows(fn, width, data):
    """X * 1e200 makes the Hessian's entries about 1e400: FloatingPointError naming the overflow
    and what to do (once NaN with converged=True, or 1,000 restarts and advice to raise them)."""
    X, y = data
    net = fc.Network.init(3, width, seed=0)
    with pytest.raises(FloatingPointError, match=r"overflow.*rescale"):
        SPECTRAL[fn](net, X * 1e200, y)


@pytest.mark.parametrize("k", [1, 3])
def test_lanczos_stops_at_the_first_non_finite_product(k, data):
    """The core's solver checks every product: the first one already overflows, so one product is
    spent, not 64,064."""
    X, y = data
    net = fc.Network.init(3, 30, seed=0)
    op = _core.HessianOperator(net, X * 1e200, y)
    with pytest.raises(FloatingPointError, match=r"Hessian-vector product overflowed float64.*rescale"):
        _core.lanczos_eigenpairs(op, _core.EigOptions(k=k))
    assert op.n_hvp == 1


def test_dense_eigenpairs_refuse_a_non_finite_matrix():
    H = np.eye(3)
    H[0, 1] = H[1, 0] = np.inf
    with pytest.raises(FloatingPointError, match="Hessian contains inf or NaN"):
        _core.dense_eigenpairs(H, k=1, which="largest")


# -------------------------------------------------------------------------------------------------
# A finite Hessian with extreme entries (weights x 1e100, entries ~1e200): finite, right answers
# -------------------------------------------------------------------------------------------------
@pytest.mark.parametrize("scales", [(1e100, 1e100, 1.0), (1e100, 1e100, 1e100), (1e-100, 1e-100, 1.0)])
@pytest.mark.parametrize("method", ["lanczos", "dense"])
def test_sharpness_of_an_extreme_but_finite_hessian(scales, method, net, data):
    """Lanczos once overflowed its own norms here (NaN, converged=True) and the dense route
    reported an infinite residual. Now both agree with LAPACK on the scaled Hessian."""
    X, y = data
    big = scaled_net(net, *scales)
    H = fc.hessian(big, X, y)
    assert np.isfinite(H).all()
    expected = eigvalsh_scaled(H)[-1]
    res = fc.sharpness(big, X, y, method=method, return_result=True)
    assert res.converged
    assert np.isfinite(res.values).all() and np.isfinite(res.residual_norms).all()
    assert np.isfinite(res.error_bounds).all()
    assert res.values[0] == pytest.approx(expected, rel=1e-9)
    assert res.residual_norms[0] <= 1e-8 * abs(expected)


@pytest.mark.parametrize("which", ["largest", "smallest", "both"])
def test_top_eigs_of_an_extreme_but_finite_hessian(which, net, data):
    """k > 1 (Spectra, the deflation checks, the true residuals): the same values as LAPACK."""
    X, y = data
    big = scaled_net(net, 1e100, 1e100, 1e100)
    ev = eigvalsh_scaled(fc.hessian(big, X, y))
    want = {"largest": ev[::-1][:3], "smallest": ev[:3], "both": np.concatenate([ev[::-1][:3], ev[:3]])}[which]
    res = fc.top_eigs(big, X, y, k=3, which=which, method="lanczos")
    assert res.converged and np.isfinite(res.residual_norms).all()
    np.testing.assert_allclose(res.values, want, rtol=1e-8)


def test_lanczos_on_a_scaled_problem_is_the_scaled_lanczos(net, data):
    """The scaling argument: with loss="mse" every eigenvalue is exactly twice the "half_mse"
    one, and the solvers scale the products by a power of two, which is exact. So at 1e100 the
    mse sharpness is twice the half_mse one to the last bits, as it is at scale 1."""
    X, y = data
    big = scaled_net(net, 1e100, 1e100, 1.0)
    half = fc.sharpness(big, X, y, method="lanczos")
    mse = fc.sharpness(big, X, y, method="lanczos", loss="mse")
    assert mse == 2.0 * half


def test_spectral_density_of_an_extreme_but_finite_hessian(net, data):
    X, y = data
    big = scaled_net(net, 1e100, 1e100, 1e100)
    sd = fc.spectral_density(big, X, y, n_probes=2, lanczos_steps=big.n_params)
    ev = eigvalsh_scaled(fc.hessian(big, X, y))
    assert np.isfinite(sd.nodes).all() and np.isfinite(sd.weights).all()
    assert sd.nodes.max() == pytest.approx(ev[-1], rel=1e-8)
    assert sd.nodes.min() == pytest.approx(ev[0], rel=1e-6)
    assert sd.weights.sum() == pytest.approx(1.0)


def test_smoothed_density_refuses_a_sigma_that_overflows(net, data):
    X, y = data
    sd = fc.spectral_density(net, X, y, n_probes=1, lanczos_steps=5)
    with pytest.raises(FloatingPointError, match="sigma = 1e-320 is too small"):
        sd.smoothed(sd.nodes[:1], 1e-320)
    far = sd.smoothed([1e300], 1.0)  # far from every node: 0, without warnings turning into NaN
    assert far.tolist() == [0.0]


def test_exact_spectrum_of_an_extreme_but_finite_hessian(net, data):
    X, y = data
    big = scaled_net(net, 1e100, 1e100, 1.0)
    ev = fc.exact_spectrum(big, X, y)
    np.testing.assert_allclose(ev, eigvalsh_scaled(fc.hessian(big, X, y)), rtol=1e-10, atol=1e-12 * abs(ev).max())


# -------------------------------------------------------------------------------------------------
# train: a finite gradient has a finite norm
# -------------------------------------------------------------------------------------------------
def test_train_gradient_norm_does_not_overflow(net, data):
    """W x 1e100: the gradient is finite (entries ~1e198) but the sum of its squares overflows;
    train once reported divergence at step 0. Now the norm is right and the run goes on."""
    X, y = data
    big = scaled_net(net, 1e100, 1e100, 1.0)
    g = fc.gradient(big, X, y)
    k = int(np.frexp(np.abs(g).max())[1])
    want = np.linalg.norm(np.ldexp(g, -k)) * 2.0**k
    with np.errstate(over="ignore"):
        assert not np.isfinite(np.linalg.norm(g))  # the naive norm does overflow
    res = fc.train(big, X, y, lr=1e-300, steps=2, sharpness_every=1)
    assert not res.diverged and res.steps_run == 2
    h = res.history
    assert h["grad_norm"][0] == pytest.approx(want, rel=1e-12)
    assert res.final_grad_norm == pytest.approx(want, rel=1e-6)
    for col in ("grad_norm", "W_norm", "b_norm", "v_norm", "sharpness"):
        assert np.isfinite(h[col]).all(), col
    assert h["sharpness"][0] == pytest.approx(fc.sharpness(big, X, y), rel=1e-8)


def test_train_with_clipping_of_an_overflowing_gradient_norm(net, data):
    """Clipping divides by the gradient norm: an overflowing norm made the step 0. W x 1e100:
    the gradient is almost all in v (entries ~1e198 there, ~1e99 elsewhere), so the clipped
    step moves v by lr * clip_grad_norm."""
    X, y = data
    big = scaled_net(net, 1e100, 1e100, 1.0)
    res = fc.train(big, X, y, lr=1.0, steps=1, clip_grad_norm=1e-3)
    assert not res.diverged and res.steps_run == 1
    assert np.linalg.norm(res.net.v - big.v) == pytest.approx(1e-3, rel=1e-9)


def test_train_refuses_a_starting_point_that_overflows(net, data):
    """y * 1e300: the loss at theta_0 overflows, as fc.loss says; train once returned 'diverged at
    step 0' with final_loss=inf. A loss above max_loss at step 0 is still a divergence."""
    X, y = data
    with pytest.raises(FloatingPointError, match=r"the loss overflowed float64.*rescale"):
        fc.loss(net, X, y * 1e300)
    with pytest.raises(FloatingPointError, match=r"starting network overflowed float64.*rescale"):
        fc.train(net, X, y * 1e300, lr=0.1, steps=3)
    res = fc.train(net, X, y, lr=0.1, steps=3, max_loss=1e-30)
    assert res.diverged and res.diverged_step == 0 and np.isfinite(res.final_loss)


def test_train_sharpness_overflow_is_named(net, data):
    """A finite loss whose Hessian overflows (W x 1e200, v x 1e-200): the sharpness cannot be
    measured; train says so, with the step, instead of recording NaN as a value."""
    X, y = data
    odd = scaled_net(net, 1e200, 1e200, 1e-200)
    assert np.isfinite(fc.loss(odd, X, y))
    with pytest.raises(FloatingPointError, match=r"sharpness at step 0.*overflow.*rescale"):
        fc.train(odd, X, y, lr=1e-300, steps=2, sharpness_every=1)


# -------------------------------------------------------------------------------------------------
# The theory
# -------------------------------------------------------------------------------------------------
def test_min_trace_finite_when_the_product_of_its_terms_overflows(net, data):
    """All weights x 1e100: A_k and B_k are about 1e200, so A_k B_k overflows but sqrt(A_k B_k)
    does not. min_trace equals the trace of the balanced network (an independent route)."""
    X, y = data
    big = scaled_net(net, 1e100, 1e100, 1e100)
    value = theory.min_trace(big, X)
    balanced = theory.balance_for_min_trace(big, X)
    assert np.isfinite(value)
    assert value == pytest.approx(fc.hessian_trace(balanced, X, y), rel=1e-12)
    # and f is unchanged by the balancing
    np.testing.assert_allclose(balanced(X), big(X), rtol=1e-12, atol=0)


THEORY_ON_HUGE_DATA = {
    "min_trace": lambda net, X, y: theory.min_trace(net, X),
    "balance_for_min_trace": lambda net, X, y: theory.balance_for_min_trace(net, X),
    "vg_norm": lambda net, X, y: theory.vg_norm(net, X),
    "vg_contributions": lambda net, X, y: theory.vg_contributions(net, X),
    "g_empirical": lambda net, X, y: theory.g_empirical(X, [1.0, 0.0, 0.0], 0.0),
    "gtilde_empirical": lambda net, X, y: theory.gtilde_empirical(X, [1.0, 0.0, 0.0], 0.0),
    "stability_bound": lambda net, X, y: theory.stability_bound(net, X, y, lr=0.1),
    "stability_inequality": lambda net, X, y: theory.stability_inequality(net, X, y, lambda_max=1.0),
    "trace_terms": lambda net, X, y: fc.trace_terms(net, X),
    "target smooth": lambda net, X, y: fc.data.target(X),
    "Smooth": lambda net, X, y: fc.data.Smooth(3)(X),
}


@pytest.mark.parametrize("fn", list(THEORY_ON_HUGE_DATA))
def test_theory_on_data_x1e200_raises(fn, net, data):
    """Quantities that grow like the square of the data's scale exceed float64 at X * 1e200:
    FloatingPointError saying so (they once returned inf)."""
    X, y = data
    with pytest.raises(FloatingPointError, match=r"overflowed float64.*rescale"):
        THEORY_ON_HUGE_DATA[fn](net, X * 1e200, y)


def test_g_empirical_finite_when_its_norm_squares_overflow():
    """Two points (1e160, +-1), u = e_2, t = 0: mean excess 1/2, share 1/2, moment (5e159, 1/2),
    so gtilde = (1/2) * ||(1/2, 5e159, 1/2)|| = 2.5e159, although ||moment||^2 overflows."""
    X = np.array([[1e160, 1.0], [1e160, -1.0]])
    want = 0.5 * np.hypot(np.hypot(0.5, 5e159), 0.5)
    assert theory.gtilde_empirical(X, [0.0, 1.0], 0.0) == pytest.approx(want, rel=1e-14)
    assert theory.g_empirical(X, [0.0, 1.0], 0.0) == pytest.approx(want, rel=1e-14)
    net = fc.Network([[0.0, 1.0]], [0.0], [1.0])
    assert theory.vg_norm(net, X) == pytest.approx(want, rel=1e-14)
    ineq = theory.stability_inequality(net, X, np.zeros(2), lambda_max=1.0)
    assert ineq.weighted_sum == pytest.approx(want, rel=1e-14)
    assert ineq.R == pytest.approx(np.hypot(1e160, 1.0), rel=1e-15)


def test_stability_bound_with_a_radius_whose_square_overflows():
    """R = ||(1e160, 1)||: sqrt(1 + R^2) is R in float64, no overflow."""
    X = np.array([[1e160, 1.0], [1e160, -1.0]])
    net = fc.Network([[0.0, 1.0]], [0.0], [1.0])
    y = np.array([1.0, 0.0])  # f = (1, 0): L = 0
    y2 = np.array([0.0, 0.0])  # L = 1/4
    sb = theory.stability_bound(net, X, y, lr=0.5)
    assert sb.bound == pytest.approx(1.5, rel=1e-15)
    sb2 = theory.stability_bound(net, X, y2, lr=0.5)
    assert sb2.bound == pytest.approx(1.5 + 0.5 * 1e160 * np.sqrt(0.5), rel=1e-12)


def test_stability_bound_refuses_a_step_whose_inverse_overflows(net, data):
    X, y = data
    with pytest.raises(ValueError, match=r"lr = 1e-320 .*1/lr overflows"):
        theory.stability_bound(net, X, y, lr=1e-320)
    assert np.isfinite(theory.stability_bound(net, X, y, lr=1e-300).bound)


def test_path_norm():
    """A row norm whose squares overflow, with a finite product: finite; a product beyond
    float64: FloatingPointError."""
    net = fc.Network([[3e160, 4e160]], [0.0], [1e-160])
    assert theory.path_norm(net) == pytest.approx(5.0, rel=1e-15)
    assert theory.vg_contributions(net, law=UniformBall(2)).shape == (1,)
    huge = fc.Network([[1e200, 0.0]], [0.0], [1e200])
    with pytest.raises(FloatingPointError, match="path norm overflowed"):
        theory.path_norm(huge)


def test_population_vg_of_tiny_and_huge_weights():
    """||w|| = 5e-200 (squares underflow) and b / ||w|| beyond float64: the neuron is inactive on
    the unit ball, so its V_g term is 0, not a ValueError about t."""
    net = fc.Network([[3e-200, 4e-200], [0.6, 0.8]], [1e200, 0.0], [1.0, 1.0])
    terms = theory.vg_contributions(net)
    assert terms[0] == 0.0
    assert terms[1] == pytest.approx(theory.g_uniform_ball(0.0, 2), rel=1e-12)


def test_rescale_refuses_an_alpha_that_overflows(net):
    with pytest.raises(FloatingPointError, match="alpha is too large or too small"):
        theory.rescale(scaled_net(net, 1e10, 1.0, 1.0), 1e300)
    assert np.isfinite(theory.rescale(net, 1e300).params()).all()


def test_boundary_packing_eps_below_resolution():
    """eps = 1e-17: 1 - eps == 1 in float64, so the caps are empty (it raised OverflowError)."""
    for d in (1, 2, 3):
        with pytest.raises(ValueError, match=r"eps = 1e-17 is below float64's resolution"):
            theory.boundary_packing(d, 1e-17)
    net = theory.boundary_packing(2, 2e-16, max_neurons=50)
    assert net.width == 50 and np.all(net.b < 1.0)


def test_data_target():
    X = fc.data.uniform_ball(5, 3, seed=0)
    with pytest.raises(FloatingPointError, match=r"target 'smooth' at X overflowed float64.*rescale"):
        fc.data.target(X * 1e200)
    np.testing.assert_array_equal(fc.data.target(X * 1e200, "linear"), (X * 1e200).sum(axis=1) / np.sqrt(3))
    for kind in ("smooth", "linear"):
        with pytest.raises(ValueError, match="X has no columns"):
            fc.data.target(np.zeros((3, 0)), kind)
    with pytest.raises(ValueError, match="target_kind must be one of"):
        fc.data.target(X, "cubic")


# -------------------------------------------------------------------------------------------------
# Seeds, the operator's copies and directions, sizes
# -------------------------------------------------------------------------------------------------
@pytest.mark.parametrize("seed", [2**64, -1, 10**30])
@pytest.mark.parametrize("fn", ["top_eigs", "sharpness"])
def test_seed_out_of_range(fn, seed, data):
    X, y = data
    net = fc.Network.init(3, 100, seed=0)  # P = 501: the seeded Lanczos route
    f = getattr(fc, fn)
    with pytest.raises(ValueError, match=r"seed must be in \[0, 2\*\*64\)"):
        f(net, X, y, seed=seed)


def test_largest_seed(data):
    X, y = data
    net = fc.Network.init(3, 100, seed=0)
    res = fc.top_eigs(net, X, y, seed=2**64 - 1, method="lanczos")
    assert res.converged and res.seed == 2**64 - 1


def test_operator_keeps_its_own_copies(net, data):
    """The operator and its pickle use the arrays as they were at construction."""
    X, y = data[0].copy(), data[1].copy()
    op = fc.hessian_operator(net, X, y)
    u = np.random.default_rng(0).standard_normal(net.n_params)
    before = op.matvec(u)
    X *= 2.0
    y += 1.0
    np.testing.assert_array_equal(op.matvec(u), before)
    np.testing.assert_array_equal(pickle.loads(pickle.dumps(op)).matvec(u), before)
    with pytest.raises(ValueError, match="read-only"):
        op.X[0, 0] = 1.0


def test_operator_refuses_complex_directions(net, data):
    """fc.hvp refuses a complex u; the operator once dropped the imaginary part silently."""
    X, y = data
    op = fc.hessian_operator(net, X, y)
    u = np.ones(net.n_params) + 1j
    with pytest.raises(TypeError, match=r"must hold real numbers.*complex128.*real part"):
        fc.hvp(net, X, y, u)
    with pytest.raises(TypeError, match=r"must hold real numbers.*complex128.*real part"):
        op.matvec(u)
    with pytest.raises(TypeError, match=r"must hold real numbers.*complex128"):
        op.matmat(np.stack([u, u], axis=1))
    with pytest.raises(ValueError, match="contains NaN or Inf"):
        op.matvec(np.full(net.n_params, np.nan))


@pytest.fixture
def little_memory(monkeypatch):
    """The machine seen as having 1 GiB available."""
    monkeypatch.setattr(_validation, "available_memory_bytes", lambda: float(2**30))


def test_network_init_refuses_a_size_before_allocating(little_memory):
    """width = 10**8 needs about 4.5 GiB: refused by the size check (it once allocated 7.45 GiB
    for width = 10**9 before failing)."""
    with pytest.raises(MemoryError, match=r"network with d=1 and width=100000000.*GiB.*fewer neurons"):
        fc.Network.init(1, 10**8)


def test_law_sample_refuses_a_size_before_allocating(little_memory):
    with pytest.raises(MemoryError, match=r"sample of n=100000000 points in d=3.*fewer points"):
        UniformBall(3).sample(10**8)
    with pytest.raises(MemoryError, match="sample of n="):
        fc.data.regression(10**8, 3)


def test_noise_that_overflows_the_labels():
    with pytest.raises(FloatingPointError, match=r"noisy labels y overflowed float64.*noise is too large"):
        fc.data.regression(10, 3, noise=1e308)
    with pytest.raises(FloatingPointError, match=r"noisy labels y overflowed float64.*noise is too large"):
        fc.data.draw(UniformBall(3), fc.data.Smooth(3), 10, noise=1e308)


def test_sample_of_a_ball_near_float64s_limit():
    """radius 1e308: radius * r * g overflowed before the division by ||g||; the points are in
    the ball, so finite, and the same draw as the unit ball's, scaled."""
    big = UniformBall(3, radius=1e308).sample(50, seed=0)
    assert np.isfinite(big).all()
    assert np.all(np.linalg.norm(big / 1e308, axis=1) <= 1.0 + 1e-15)
    np.testing.assert_allclose(big / 1e308, UniformBall(3).sample(50, seed=0), rtol=1e-14)


def test_lanczos_counts_beyond_int64(data):
    """max_restarts and ncv beyond the core's 64-bit integers: a ValueError naming them."""
    X, y = data
    net = fc.Network.init(3, 100, seed=0)
    with pytest.raises(ValueError, match="max_restarts must be at most"):
        fc.top_eigs(net, X, y, max_restarts=2**70)
    with pytest.raises(ValueError, match="ncv must be at most"):
        fc.top_eigs(net, X, y, k=2, ncv=2**70)
