"""Every computation at magnitudes 1e100, 1e200, 1e300 and 1e-300: right, or FloatingPointError.

Two exact symmetries of the network carry a problem to extreme magnitudes with a known answer:

- data scaling by s: X -> s X, y -> s y, b -> s b, beta -> s beta. Every pre-activation and output
  is multiplied by s, and with theta_s = T theta, T = diag(1 on W, s on b, 1 on v, s on beta):
  L_s(theta_s) = s^2 L(theta), so grad_s = s^2 T^-1 grad, H_s = s^2 T^-1 H T^-1;
- neuron rescaling by alpha (docs/math.md, section 8): (W, b, v) -> (alpha W, alpha b, v / alpha),
  f unchanged, T = diag(alpha, alpha, 1/alpha, 1): grad_s = T^-1 grad, H_s = T^-1 H T^-1.

The expected values are computed from the unscaled problem in extended precision (x87 long double,
exponent range 1e+-4932), so that they do not overflow on the way. Where every expected number
fits in float64 the computation must return it (to 1e-9 of its block's scale); where one does not,
it must raise FloatingPointError saying what overflowed; never inf or NaN. Computations without an
exact scaling law (training, the empirical weight under data scaling, ...) must return finite
numbers or raise FloatingPointError. The spectral solvers at extreme but finite Hessians are also
checked in tests/test_nonfinite.py, against LAPACK on the Hessian scaled by a power of two, the
reference used here too (in long double first, since H_s may lie beyond float64's range).
"""

from __future__ import annotations

import numpy as np
import pytest

import flatcore as fc
from flatcore import theory

SCALES = [1e100, 1e200, 1e300, 1e-300]
LD = np.longdouble


class Problem:
    """The unscaled problem and its dense quantities (float64, and long double where scaled)."""

    def __init__(self):
        rng = np.random.default_rng(11)
        self.d, self.width, self.n = 3, 6, 20
        self.X = rng.uniform(-1.0, 1.0, size=(self.n, self.d))
        self.y = rng.standard_normal(self.n)
        self.net = fc.Network(
            rng.standard_normal((self.width, self.d)),
            rng.uniform(-0.5, 0.5, self.width),
            rng.standard_normal(self.width) / np.sqrt(self.width),
            0.3,
        )
        self.P = self.net.n_params
        self.u = rng.standard_normal(self.P)
        net, X, y = self.net, self.X, self.y
        self.f = fc.predict(net, X)
        self.L = fc.loss(net, X, y)
        self.g = fc.gradient(net, X, y)
        self.H = {part: fc.hessian(net, X, y, part=part) for part in fc.HESSIAN_PARTS}
        self.sides = fc.neuron_sides(net, X)
        self.rates = fc.activation_rates(net, X)


class Scaled:
    """The problem carried to scale ``s`` by a symmetry ("data" or "rescale")."""

    def __init__(self, base: Problem, family: str, s: float):
        self.base, self.family, self.s = base, family, s
        K, d = base.width, base.d
        net = base.net
        ones = np.ones
        if family == "data":
            self.net = fc.Network(net.W, net.b * s, net.v, net.beta * s)
            self.X, self.y = base.X * s, base.y * s
            T = np.concatenate([ones(K * d), np.full(K, s), ones(K), [s]])
            self.c, self.f_factor, self.z_factor, self.x_factor = LD(s) ** 2, LD(s), LD(s), LD(s)
        else:
            self.net = fc.Network(net.W * s, net.b * s, net.v / s, net.beta)
            self.X, self.y = base.X, base.y
            T = np.concatenate([np.full(K * d, s), np.full(K, s), np.full(K, 1.0 / s), [1.0]])
            self.c, self.f_factor, self.z_factor, self.x_factor = LD(1), LD(1), LD(s), LD(1)
        self.T = T.astype(LD)

    # expected values, in long double
    def grad(self):
        return self.c * self.base.g.astype(LD) / self.T

    def hessian(self, part="full"):
        return self.c * self.base.H[part].astype(LD) / np.outer(self.T, self.T)

    def diag(self):
        return np.diagonal(self.hessian()).copy()

    def trace_terms(self):
        K, d = self.base.width, self.base.d
        dg = self.diag()
        W = dg[: K * d].reshape(K, d).sum(axis=1)
        b, v = dg[K * d : K * d + K], dg[K * d + K : K * d + 2 * K]
        return v, W + b  # A_k (the v_k diagonal), B_k (the w_k and b_k diagonals)

    def eigenvalues(self):
        """All eigenvalues of H_s: LAPACK on H_s / 2^k (exact scaling), in long double."""
        Hs = self.hessian()
        top = np.max(np.abs(Hs))
        e = int(np.floor(np.log2(top))) if top > 0 else 0
        M = (Hs / LD(2.0) ** e).astype(np.float64)
        return np.linalg.eigvalsh(M).astype(LD) * LD(2.0) ** e


def _fit(expected) -> np.ndarray | None:
    """``expected`` in float64, or None where a value lies beyond float64's range."""
    arr = np.asarray(expected, dtype=LD)
    if np.any(np.abs(arr) > LD(np.finfo(np.float64).max)):
        return None
    return arr.astype(np.float64)


def _close(got, expected, scale, what):
    """|got - expected| <= 1e-9 * scale (entrywise), scale the size of each entry's block."""
    got = np.asarray(got, dtype=np.float64)
    assert np.isfinite(got).all(), f"{what}: non-finite values returned"
    tol = np.maximum(1e-9 * np.asarray(scale, dtype=LD), LD(1e-305))
    err = np.abs(got.astype(LD) - np.asarray(expected, dtype=LD))
    bad = err > tol
    assert not bad.any(), f"{what}: {int(bad.sum())} entries off, worst {float(np.max(err / tol)):.3g} x the tolerance"


# -------------------------------------------------------------------------------------------------
# The computations: how to call each on the scaled problem and what it must give
# -------------------------------------------------------------------------------------------------
def _vector_scale(S: Scaled, base_vector):
    """Each entry's block scale for a vector that transforms like the gradient."""
    return S.c * LD(np.max(np.abs(base_vector))) / S.T


def _matrix_scale(S: Scaled, base_matrix):
    return S.c * LD(np.max(np.abs(base_matrix))) / np.outer(S.T, S.T)


def law_predict(S):
    return S.f_factor * S.base.f.astype(LD), S.f_factor * LD(np.max(np.abs(S.base.f)))


def law_loss(convention):
    def law(S):
        value = S.c * LD(S.base.L) * LD(fc.loss_scale(convention))
        return value, abs(value)

    return law


def law_gradient(S):
    return S.grad(), _vector_scale(S, S.base.g)


def law_loss_and_gradient(S):
    L = S.c * LD(S.base.L)
    return np.concatenate([[L], S.grad()]), np.concatenate([[abs(L)], _vector_scale(S, S.base.g)])


def law_hessian(part):
    def law(S):
        return S.hessian(part).ravel(), _matrix_scale(S, S.base.H[part]).ravel()

    return law


def law_hvp(S):
    Hs = S.hessian()
    value = Hs @ S.base.u.astype(LD)
    scale = np.abs(Hs) @ np.abs(S.base.u.astype(LD))
    return value, scale


def law_trace(S):
    value = np.sum(S.diag())
    return value, np.sum(np.abs(S.diag()))


def law_trace_terms(S):
    A, B = S.trace_terms()
    return np.concatenate([A, B]), np.concatenate([np.full_like(A, np.max(A)), np.full_like(B, np.max(B))])


def law_trace_per_neuron(S):
    A, B = S.trace_terms()
    return A + B, np.full_like(A, np.max(A + B))


def law_rates(S):
    return S.base.rates.astype(LD), np.ones(S.base.width, dtype=LD)


def law_sides(S):
    out, scale = [], []
    for side in S.base.sides:
        excess = side.excess.astype(LD) * S.z_factor
        moment = side.moment.astype(LD).ravel() * S.x_factor
        out += [excess, side.share.astype(LD), moment]
        scale += [
            np.full_like(excess, np.max(excess)),
            np.ones_like(excess),
            np.full_like(moment, np.max(np.abs(moment))),
        ]
    return np.concatenate(out), np.concatenate(scale)


def law_sharpness(S):
    ev = S.eigenvalues()
    return ev[-1], np.max(np.abs(ev))


def law_top_eigs_both(S):
    ev = S.eigenvalues()
    value = np.concatenate([ev[::-1][:2], ev[:2]])
    return value, np.full(4, np.max(np.abs(ev)))


def law_spectrum(S):
    ev = S.eigenvalues()
    return ev, np.full_like(ev, np.max(np.abs(ev)))


def law_min_trace(S):
    A, B = S.trace_terms()
    value = LD(1) + 2 * np.sum(np.sqrt(A * B))
    return value, value


def law_path_norm(S):
    net = S.net
    value = np.sum(np.abs(net.v.astype(LD)) * np.sqrt(np.sum(net.W.astype(LD) ** 2, axis=1)))
    return value, value


def law_invariant(fn):
    """A quantity that the neuron rescaling leaves unchanged (computed on the unscaled problem)."""

    def law(S):
        value = np.asarray(flat(fn(S.base.net, S.base.X, S.base.y)), dtype=LD)
        return value, np.full_like(value, np.max(np.abs(value)))

    return law


def flat(result) -> np.ndarray:
    """Every number in a result, as one float64 vector."""
    if isinstance(result, fc.TrainResult):
        h = result.history
        cols = [np.asarray(h[c], dtype=float) for c in h.columns if c != "sharpness"]
        return np.concatenate([result.net.params(), [result.final_loss, result.final_grad_norm], *cols])
    if isinstance(result, fc.Network):
        return result.params()
    if isinstance(result, fc.EigenResult):
        return np.concatenate([result.values, result.vectors.ravel(), result.residual_norms, result.error_bounds])
    if isinstance(result, fc.SpectralDensity):
        return np.concatenate([result.nodes, result.weights])
    if isinstance(result, theory.StabilityInequality):
        return np.array([result.lhs, result.rhs, result.slack, result.weighted_sum, result.residual_term, result.R])
    if isinstance(result, theory.StabilityBound):
        return np.array([result.vg, result.bound, result.weighted_sum, result.R, result.loss])
    if isinstance(result, tuple):
        return np.concatenate([flat(r) for r in result])
    return np.atleast_1d(np.asarray(result, dtype=np.float64)).ravel()


U0 = np.array([1.0, 0.0, 0.0])

# name: (call(net, X, y, S), law for the data scaling or None, law for the rescaling or None)
COMPUTATIONS = {
    "predict": (lambda net, X, y, S: fc.predict(net, X), law_predict, law_predict),
    "loss": (lambda net, X, y, S: fc.loss(net, X, y), law_loss("half_mse"), law_loss("half_mse")),
    "loss mse": (lambda net, X, y, S: fc.loss(net, X, y, loss="mse"), law_loss("mse"), law_loss("mse")),
    "gradient": (lambda net, X, y, S: fc.gradient(net, X, y), law_gradient, law_gradient),
    "loss_and_gradient": (
        lambda net, X, y, S: fc.loss_and_gradient(net, X, y),
        law_loss_and_gradient,
        law_loss_and_gradient,
    ),
    "hessian": (lambda net, X, y, S: fc.hessian(net, X, y), law_hessian("full"), law_hessian("full")),
    "hessian gauss_newton": (
        lambda net, X, y, S: fc.hessian(net, X, y, part="gauss_newton"),
        law_hessian("gauss_newton"),
        law_hessian("gauss_newton"),
    ),
    "hessian residual": (
        lambda net, X, y, S: fc.hessian(net, X, y, part="residual"),
        law_hessian("residual"),
        law_hessian("residual"),
    ),
    "hvp": (lambda net, X, y, S: fc.hvp(net, X, y, S.base.u), law_hvp, law_hvp),
    "operator matvec": (lambda net, X, y, S: fc.hessian_operator(net, X, y).matvec(S.base.u), law_hvp, law_hvp),
    "hessian_trace": (lambda net, X, y, S: fc.hessian_trace(net, X, y), law_trace, law_trace),
    "trace_terms": (lambda net, X, y, S: fc.trace_terms(net, X), law_trace_terms, law_trace_terms),
    "trace_per_neuron": (lambda net, X, y, S: fc.trace_per_neuron(net, X), law_trace_per_neuron, law_trace_per_neuron),
    "activation_rates": (lambda net, X, y, S: fc.activation_rates(net, X), law_rates, law_rates),
    "neuron_sides": (lambda net, X, y, S: fc.neuron_sides(net, X), law_sides, law_sides),
    "sharpness dense": (lambda net, X, y, S: fc.sharpness(net, X, y, method="dense"), law_sharpness, law_sharpness),
    "sharpness lanczos": (lambda net, X, y, S: fc.sharpness(net, X, y, method="lanczos"), law_sharpness, law_sharpness),
    "top_eigs both lanczos": (
        lambda net, X, y, S: fc.top_eigs(net, X, y, k=2, which="both", method="lanczos").values,
        law_top_eigs_both,
        law_top_eigs_both,
    ),
    "exact_spectrum": (lambda net, X, y, S: fc.exact_spectrum(net, X, y), law_spectrum, law_spectrum),
    "spectral_density": (lambda net, X, y, S: fc.spectral_density(net, X, y, n_probes=2, lanczos_steps=8), None, None),
    "train": (lambda net, X, y, S: fc.train(net, X, y, lr=0.1, steps=5, sharpness_every=2), None, None),
    "min_trace": (lambda net, X, y, S: theory.min_trace(net, X), law_min_trace, law_min_trace),
    "balance_for_min_trace": (lambda net, X, y, S: theory.balance_for_min_trace(net, X), None, None),
    "path_norm": (lambda net, X, y, S: theory.path_norm(net), law_path_norm, law_path_norm),
    "vg_norm": (lambda net, X, y, S: theory.vg_norm(net, X), None, law_invariant(lambda n, X, y: theory.vg_norm(n, X))),
    "vg_norm population": (
        lambda net, X, y, S: theory.vg_norm(net),
        None,
        law_invariant(lambda n, X, y: theory.vg_norm(n)),
    ),
    "vg_contributions": (
        lambda net, X, y, S: theory.vg_contributions(net, X),
        None,
        law_invariant(lambda n, X, y: theory.vg_contributions(n, X)),
    ),
    "stability_bound": (
        lambda net, X, y, S: theory.stability_bound(net, X, y, lr=0.1),
        None,
        law_invariant(lambda n, X, y: theory.stability_bound(n, X, y, lr=0.1)),
    ),
    "stability_inequality": (lambda net, X, y, S: theory.stability_inequality(net, X, y), None, None),
    "g_empirical": (lambda net, X, y, S: theory.g_empirical(X, U0, 0.1 * float(S.x_factor)), None, None),
    "target linear": (
        lambda net, X, y, S: fc.data.target(X, "linear"),
        lambda S: (S.x_factor * fc.data.target(S.base.X, "linear").astype(LD), np.full(S.base.n, S.x_factor)),
        None,
    ),
    "Linear": (
        lambda net, X, y, S: fc.data.Linear(3, seed=1)(X),
        lambda S: (S.x_factor * fc.data.Linear(3, seed=1)(S.base.X).astype(LD), np.full(S.base.n, S.x_factor)),
        None,
    ),
    "Smooth": (lambda net, X, y, S: fc.data.Smooth(3)(X), None, None),
    "SmoothRadial": (lambda net, X, y, S: fc.data.SmoothRadial(3)(X), None, None),
    "Hoelder": (lambda net, X, y, S: fc.data.Hoelder(3, seed=1)(X), None, None),
    "RandomReLU": (lambda net, X, y, S: fc.data.RandomReLU(3, seed=1)(X), None, None),
}


@pytest.fixture(scope="module")
def base():
    return Problem()


@pytest.mark.parametrize("s", SCALES, ids=lambda s: f"{s:g}")
@pytest.mark.parametrize("family", ["data", "rescale"])
@pytest.mark.parametrize("name", list(COMPUTATIONS))
def test_scaled(name, family, s, base):
    call, data_law, rescale_law = COMPUTATIONS[name]
    law = data_law if family == "data" else rescale_law
    S = Scaled(base, family, s)
    if law is None:  # finite numbers, or a FloatingPointError saying what overflowed
        try:
            result = call(S.net, S.X, S.y, S)
        except FloatingPointError as exc:
            assert "overflow" in str(exc), exc
            return
        values = flat(result)
        assert np.isfinite(values).all(), f"{name}: non-finite values at {family} x {s:g}"
        return
    expected, scale = law(S)
    fits = _fit(expected)
    if fits is None:
        with pytest.raises(FloatingPointError, match="overflow"):
            call(S.net, S.X, S.y, S)
        return
    _close(flat(call(S.net, S.X, S.y, S)), expected, scale, f"{name} at {family} x {s:g}")


@pytest.mark.parametrize("s", SCALES, ids=lambda s: f"{s:g}")
def test_rescale_is_the_symmetry(s, base):
    """theory.rescale(net, alpha) gives the rescaled network of the fixture, or refuses to overflow."""
    S = Scaled(base, "rescale", s)
    try:
        net = theory.rescale(base.net, s)
    except FloatingPointError as exc:
        assert "overflow" in str(exc)
        return
    np.testing.assert_array_equal(net.W, S.net.W)
    np.testing.assert_array_equal(net.b, S.net.b)
    np.testing.assert_allclose(net.v, S.net.v, rtol=1e-15, atol=0)


@pytest.mark.parametrize("s", SCALES, ids=lambda s: f"{s:g}")
def test_laws_at_extreme_radii(s):
    """A ball of radius s is the unit ball scaled by s: the same draws times s, and the marginal's
    P(t s) = P(t), m1 and the excess times s."""
    unit, big = fc.data.UniformBall(3), fc.data.UniformBall(3, radius=s)
    np.testing.assert_allclose(big.sample(50, seed=0), s * unit.sample(50, seed=0), rtol=1e-13, atol=0)
    t = np.linspace(-1.2, 1.2, 13)
    a, b = unit.marginal_tail(t), big.marginal_tail(t * s)
    np.testing.assert_allclose(b.P, a.P, rtol=1e-12, atol=1e-15)
    np.testing.assert_allclose(b.m1, s * a.m1, rtol=1e-12, atol=1e-15 * s)
    np.testing.assert_allclose(b.excess, s * a.excess, rtol=1e-9, atol=1e-12 * s)


@pytest.mark.parametrize("s", SCALES, ids=lambda s: f"{s:g}")
def test_population_weight_at_extreme_thresholds(s):
    """g at thresholds far outside every law's support: 0 (or the exact tail), never NaN."""
    for law in (fc.data.UniformBall(3), fc.data.UniformSphere(3), fc.data.Gaussian(3), fc.data.Radial(3, 0.5)):
        for t in (s, -s):
            res = theory.g_population(U0, t, law)
            assert np.isfinite(res.g) and res.g >= 0, (law, t, res)
            tail = law.marginal_tail(t)
            assert all(np.isfinite(v) for v in tail), (law, t, tail)
    assert theory.g_uniform_ball(s, 3) == 0.0 or s < 1
