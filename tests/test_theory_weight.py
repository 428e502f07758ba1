"""docs/math.md, section 5: the weight function g and gtilde (flatcore.theory.weight): closed form for
the unit ball, empirical, and population under the laws of flatcore.data.

Every test names the formula it checks. Independent routes: Monte Carlo written here with
batch-means standard errors, direct Python loops, scipy.integrate.quad and analytic limits.
"""

from __future__ import annotations

import zlib

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from scipy import integrate, special

import flatcore as fc
import flatcore.theory as th
from conftest import seeds
from flatcore import data
from theory_cases import ISOTROPIC_LAWS, unit


def batch_means_gtilde(X, u, t, n_batches=20):
    """gtilde(u, t) = P^2 E[u.X - t | u.X > t] sqrt(1 + ||E[X | u.X > t]||^2) over X, and a
    batch-means standard error (independent of theory's delta-method one)."""

    def one(Xb):
        S = Xb @ u
        act = S > t
        P = act.mean()
        if P == 0:
            return 0.0
        return P**2 * (S[act] - t).mean() * np.sqrt(1.0 + np.sum(Xb[act].mean(axis=0) ** 2))

    vals = np.array([one(Xb) for Xb in np.array_split(X, n_batches)])
    return one(X), vals.std(ddof=1) / np.sqrt(n_batches)


# =================================================================================================
# Section 5: uniform ball, closed form
# =================================================================================================
@pytest.mark.parametrize("d", [1, 2, 3, 5, 10])
def test_uniform_ball_closed_form_matches_monte_carlo(d):
    """gtilde(t) = (m1 - t P) sqrt(P^2 + m1^2), P = I_{1-t^2}((d+1)/2, 1/2)/2, m1 = c_d (1-t^2)^((d+1)/2)/(d+1)
    agrees with Monte Carlo on 4e5 uniform-ball points (fc.data.uniform_ball) within 5 standard errors,
    for thresholds of both signs, and g(u, t) = min(gtilde(t), gtilde(-t)) with it."""
    X = fc.data.uniform_ball(400_000, d, seed=100 + d)
    u = unit(np.random.default_rng(d).standard_normal(d))
    ts = [-0.6, -0.2, 0.0, 0.15, 0.4] + ([0.7] if d <= 3 else [])
    for t in ts:
        mc, se = batch_means_gtilde(X, u, t)
        exact = th.gtilde_uniform_ball(t, d)
        assert abs(exact - mc) <= 5 * se + 1e-12, (d, t, exact, mc, se)
        mc_minus, se_minus = batch_means_gtilde(X, -u, -t)
        g = th.g_uniform_ball(t, d)
        assert g == pytest.approx(min(exact, th.gtilde_uniform_ball(-t, d)), rel=1e-14)
        assert abs(g - min(mc, mc_minus)) <= 5 * max(se, se_minus) + 1e-12


def test_uniform_ball_d1_formula():
    """d = 1: g(t) = (1 - |t|)^3 / 8 * sqrt(1 + (1 + |t|)^2 / 4) (the univariate weight)."""
    t = np.linspace(-1.5, 1.5, 301)
    a = np.minimum(np.abs(t), 1.0)
    expected = (1 - a) ** 3 / 8 * np.sqrt(1 + (1 + a) ** 2 / 4)
    np.testing.assert_allclose(th.g_uniform_ball(t, 1), expected, rtol=1e-13, atol=1e-17)
    # one-sided: gtilde(t) = (1-t)^3/8 sqrt(1 + (1+t)^2/4) on [-1, 1], and -t below -1
    tt = np.linspace(-1, 1, 201)
    np.testing.assert_allclose(
        th.gtilde_uniform_ball(tt, 1), (1 - tt) ** 3 / 8 * np.sqrt(1 + (1 + tt) ** 2 / 4), rtol=1e-13, atol=1e-17
    )
    assert th.gtilde_uniform_ball(-3.0, 1) == pytest.approx(3.0)


@pytest.mark.parametrize("d", [1, 2, 3, 5, 10, 40])
def test_uniform_ball_boundary_decay(d):
    """g(1 - delta) / delta^(d+2) -> C_d = 2^(d + 5/2) c_d^2 / ((d+1)^2 (d+3)) as delta -> 0
    (g ~ (1 - |t|)^(d+2) near the boundary), with relative error O(d delta)."""
    log_cd = special.gammaln(d / 2 + 1) - 0.5 * np.log(np.pi) - special.gammaln((d + 1) / 2)
    C = np.exp((d + 2.5) * np.log(2) + 2 * log_cd) / ((d + 1) ** 2 * (d + 3))
    deltas = np.array([1e-2, 1e-3, 1e-4, 1e-5])
    ratios = th.g_uniform_ball(1 - deltas, d) / deltas ** (d + 2)
    errors = np.abs(ratios / C - 1)
    assert np.all(np.diff(errors) < 0), errors  # converging
    assert errors[-1] < 5 * d * deltas[-1] + 1e-6, errors
    # symmetric in t
    assert th.g_uniform_ball(-(1 - deltas), d) == pytest.approx(ratios * deltas ** (d + 2), rel=1e-14)


@given(st.integers(1, 60), st.lists(st.floats(-2, 2, allow_nan=False), min_size=1, max_size=20))
def test_uniform_ball_symmetric_monotone_and_bounded(d, ts):
    """g(u, t) = g(u, -t) = gtilde(|t|) = min(gtilde(t), gtilde(-t)); gtilde non-increasing; g in [0, g(0)];
    g = 0 for |t| >= 1; gtilde(t) = -t for t <= -1 (every point active: P = 1, E[X] = 0)."""
    t = np.array(ts)
    g = th.g_uniform_ball(t, d)
    assert g.shape == t.shape
    np.testing.assert_array_equal(g, th.g_uniform_ball(-t, d))
    gt, gt_minus = th.gtilde_uniform_ball(t, d), th.gtilde_uniform_ball(-t, d)
    np.testing.assert_allclose(g, np.minimum(gt, gt_minus), rtol=1e-14, atol=0)
    assert np.all(g >= 0) and np.all(g <= th.g_uniform_ball(0.0, d) * (1 + 1e-14))
    assert np.all(g[np.abs(t) >= 1] == 0)
    np.testing.assert_allclose(gt[t <= -1], -t[t <= -1], rtol=1e-14)
    grid = np.sort(t)
    assert np.all(np.diff(th.gtilde_uniform_ball(grid, d)) <= 1e-15)


# =================================================================================================
# Section 5: empirical gtilde and g
# =================================================================================================
def gtilde_loop(X, u, t):
    """gtilde(u, t) = P^2 E[u.x - t | u.x > t] sqrt(1 + ||E[x | u.x > t]||^2), a Python loop over points."""
    n = X.shape[0]
    active = [i for i in range(n) if float(np.dot(u, X[i])) > t]
    if not active:
        return 0.0
    P = len(active) / n
    excess = sum(float(np.dot(u, X[i])) - t for i in active) / len(active)
    mean_x = sum(X[i] for i in active) / len(active)
    return P**2 * excess * np.sqrt(1.0 + float(np.dot(mean_x, mean_x)))


@st.composite
def samples_and_directions(draw):
    d = draw(st.integers(1, 8), label="d")
    n = draw(st.integers(1, 40), label="n")
    m = draw(st.integers(1, 5), label="m")
    rng = np.random.default_rng(draw(seeds, label="seed"))
    scale = 10.0 ** draw(st.floats(-3, 3), label="log10 scale")
    X = scale * rng.standard_normal((n, d))
    if draw(st.booleans(), label="duplicate points"):
        X[rng.integers(0, n, n)] = X[0]
    kind = draw(st.sampled_from(["random", "at a point", "beyond all", "below all"]), label="t kind")
    if kind == "at a point":
        # points exactly on the threshold (strict inequality matters): axis directions +-e_j make
        # u.x = +-x_j exact whatever the summation order, so every route sees the same tie
        U = np.eye(d)[rng.integers(0, d, m)] * rng.choice([-1.0, 1.0], size=(m, 1))
    else:
        U = unit(rng.standard_normal((m, d)))
    S = X @ U.T
    if kind == "random":
        t = scale * rng.standard_normal(m)
    elif kind == "at a point":
        t = S[rng.integers(0, n), np.arange(m)]
    elif kind == "beyond all":
        t = S.max(axis=0) + scale
    else:
        t = S.min(axis=0) - scale
    return X, U, t


@given(samples_and_directions())
def test_empirical_gtilde_matches_loop(case):
    """gtilde_emp(u, t) = P^2 E[u.x - t | u.x > t] sqrt(1 + ||E[x | u.x > t]||^2) (0 if no u.x_i > t)
    and g_emp(u, t) = min(gtilde_emp(u, t), gtilde_emp(-u, -t)), against a loop over points;
    shapes: (m, d) directions with (m,) or scalar t, one (d,) direction with any shape of t."""
    X, U, t = case
    m = U.shape[0]
    loop_p = np.array([gtilde_loop(X, U[j], t[j]) for j in range(m)])
    loop_m = np.array([gtilde_loop(X, -U[j], -t[j]) for j in range(m)])
    xs = np.max(np.linalg.norm(X, axis=1)) + np.max(np.abs(t))
    tol = 1e-13 * xs * np.sqrt(1 + xs**2)  # rounding relative to the size of the terms
    got = th.gtilde_empirical(X, U, t)
    assert got.shape == (m,)
    np.testing.assert_allclose(got, loop_p, rtol=1e-10, atol=tol)
    np.testing.assert_allclose(th.g_empirical(X, U, t), np.minimum(loop_p, loop_m), rtol=1e-10, atol=tol)
    # one direction, thresholds of shape (m,) and (1, m); scalar t gives a float
    np.testing.assert_allclose(
        th.gtilde_empirical(X, U[0], t.reshape(1, m)), [[gtilde_loop(X, U[0], tj) for tj in t]], rtol=1e-10, atol=tol
    )
    assert isinstance(th.g_empirical(X, U[0], float(t[0])), float)
    np.testing.assert_allclose(
        th.gtilde_empirical(X, U, float(t[0])), [gtilde_loop(X, U[j], t[0]) for j in range(m)], rtol=1e-10, atol=tol
    )


def test_empirical_converges_to_uniform_ball():
    """gtilde_emp over n uniform-ball points -> the closed form (law of large numbers)."""
    d = 3
    X = fc.data.uniform_ball(300_000, d, seed=7)
    U = unit(np.random.default_rng(0).standard_normal((4, d)))
    t = np.array([-0.5, 0.0, 0.3, 0.6])
    np.testing.assert_allclose(th.g_empirical(X, U, t), th.g_uniform_ball(t, d), rtol=0.03)


# =================================================================================================
# Section 5: population versions
# =================================================================================================
def independent_sample(law, n, rng):
    """n points of an isotropic law drawn here, not by law.sample."""
    G = rng.standard_normal((n, law.d))
    Usph = G / np.linalg.norm(G, axis=1, keepdims=True)
    if isinstance(law, data.Gaussian):
        return G
    if isinstance(law, data.UniformSphere):
        return Usph
    if isinstance(law, data.UniformBall):
        return law.radius * Usph * rng.uniform(size=(n, 1)) ** (1 / law.d)
    return Usph * (1 - (1 - rng.uniform(size=(n, 1))) ** (1 / law.alpha))


@pytest.mark.parametrize("law", ISOTROPIC_LAWS, ids=repr)
def test_population_isotropic_matches_monte_carlo(law):
    """Isotropic laws: gtilde(t) = E[(S-t)_+] sqrt(P(S>t)^2 + m1(t)^2) from the 1-D marginal of S = u.X
    (closed form or quadrature) agrees with Monte Carlo on a sample drawn here, within 5 batch-means
    standard errors, and with g_population(method="monte_carlo") (the law's own sampler) within 5 of
    its stated errors. Thresholds are kept where at least ~1% of the mass is active."""
    d = law.d
    rng = np.random.default_rng(zlib.crc32(repr(law).encode()))
    n = 300_000
    X = independent_sample(law, n, rng)
    u = unit(rng.standard_normal(d))
    S = X @ u
    ts = np.quantile(S, [0.3, 0.5, 0.7, 0.9, 0.97])
    pop = th.g_population(u, ts, law)
    assert pop.method == ("quadrature" if isinstance(law, data.Radial) else "closed form")
    np.testing.assert_array_equal(pop.stderr, 0.0)
    one = th.gtilde_population(u, ts, law).g
    one_minus = th.gtilde_population(-u, -ts, law).g
    np.testing.assert_allclose(pop.g, np.minimum(one, one_minus), rtol=1e-14)
    mc_engine = th.gtilde_population(u, ts, law, method="monte_carlo", n_samples=200_000, seed=3)
    mc_engine_g = th.g_population(u, ts, law, method="monte_carlo", n_samples=200_000, seed=3)
    assert mc_engine.method == "monte carlo"
    for j, t in enumerate(ts):
        mc, se = batch_means_gtilde(X, u, t)
        assert abs(one[j] - mc) <= 5 * se + 1e-12, (t, one[j], mc, se)
        assert abs(one[j] - mc_engine.g[j]) <= 5 * mc_engine.stderr[j] + 1e-12, (t, one[j], mc_engine)
        assert abs(pop.g[j] - mc_engine_g.g[j]) <= 5 * mc_engine_g.stderr[j] + 1e-12, (t, pop.g[j], mc_engine_g)
        if se > 0 and one[j] > 0:  # delta-method and batch-means standard errors agree in size
            assert 0.3 < mc_engine.stderr[j] / se * np.sqrt(200_000 / n) < 3.0


@pytest.mark.parametrize("alpha,d", [(0.1, 2), (0.3, 5), (1.5, 3), (5.0, 1), (5.0, 8)])
def test_radial_quadrature_matches_scipy_quad(alpha, d):
    """Radial law rho = 1 - (1 - R)^(1/alpha), density alpha (1 - r)^(alpha - 1): P(t) = E[P_sph(t/rho)],
    m1(t) = E[rho m1_sph(t/rho)]; tanh-sinh quadrature vs scipy.integrate.quad to 1e-8."""
    sphere = data.UniformSphere(d)

    def density(r):
        return alpha * (1 - r) ** (alpha - 1)

    for t in [-0.8, -0.3, 0.0, 0.2, 0.6, 0.95]:

        def P_int(r, t=t):
            return density(r) * sphere.marginal_tail(t / r).P

        def m1_int(r, t=t):
            return density(r) * r * sphere.marginal_tail(t / r).m1

        lo = abs(t)
        P_ref = integrate.quad(P_int, lo, 1, limit=500, epsabs=1e-13, epsrel=1e-11)[0]
        m1_ref = integrate.quad(m1_int, lo, 1, limit=500, epsabs=1e-13, epsrel=1e-11)[0]
        if t < 0:
            P_ref += 1 - (1 - lo) ** alpha
        g_ref = max(m1_ref - t * P_ref, 0) * np.hypot(P_ref, m1_ref)
        got = th.gtilde_population(np.eye(d)[0], t, data.Radial(d, alpha)).g
        assert got == pytest.approx(g_ref, rel=1e-7, abs=1e-12), (t, got, g_ref)


def test_radial_alpha_one_in_d1_is_the_uniform_interval():
    """d = 1, alpha = 1: rho = R uniform and X = +-rho is uniform on [-1, 1] = the ball of R^1."""
    t = np.linspace(-1.3, 1.3, 53)
    np.testing.assert_allclose(
        th.g_population(np.array([1.0]), t, data.Radial(1, alpha=1.0)).g,
        th.g_uniform_ball(t, 1),
        rtol=1e-10,
        atol=1e-16,
    )


def test_sphere_is_ball_two_dimensions_down():
    """Archimedes: u.X for X uniform on S^(d-1) has the marginal of the uniform ball of R^(d-2); the
    Gaussian marginal is N(0, 1): gtilde(0) = phi(0) * sqrt(1/4 + phi(0)^2)."""
    t = np.linspace(-1, 1, 41)
    for d in (3, 4, 7):
        sphere, ball = data.UniformSphere(d).marginal_tail(t), data.UniformBall(d - 2).marginal_tail(t)
        for got, expected in zip(sphere, ball):
            np.testing.assert_allclose(got, expected, rtol=1e-14)
    phi0 = 1 / np.sqrt(2 * np.pi)
    expected = phi0 * np.sqrt(0.25 + phi0**2)
    assert th.gtilde_population(np.eye(3)[1], 0.0, data.Gaussian(3)).g == pytest.approx(expected, rel=1e-14)


def test_population_default_law_is_the_unit_ball():
    """Without a law, g_population is the unit ball's: g(u, t) = g_ball(|t|) for every unit u."""
    u = unit(np.random.default_rng(1).standard_normal((4, 3)))
    t = np.array([-0.7, -0.1, 0.2, 0.9])
    res = th.g_population(u, t)
    np.testing.assert_array_equal(res.g, th.g_population(u, t, data.UniformBall(3)).g)
    np.testing.assert_array_equal(res.g, th.g_uniform_ball(t, 3))
    np.testing.assert_array_equal(th.gtilde_population(u, t).g, th.gtilde_uniform_ball(t, 3))
    assert res.method == "closed form"


def test_population_ball_mixture_monte_carlo():
    """Mixture of low-dimensional balls: Monte Carlo with a stated standard error. One segment
    [-1, 1] e in R^d: S = c Z, Z uniform on [-1, 1], c = u.e, ||E[X 1(S>t)]|| = |m1_Z(t/|c|)|, so
    gtilde(u, t) = |c| gtilde_ball1(t / |c|) exactly; the estimate is within 5 stated errors."""
    d = 6
    mix = data.BallMixture.random(d, 1, 1, seed=4)
    e = mix.bases[0, 0]
    rng = np.random.default_rng(5)
    U = unit(rng.standard_normal((5, d)) + 2 * e)
    c = np.abs(U @ e)
    t = np.array([-0.3, 0.0, 0.1, 0.2, -0.1])
    res = th.gtilde_population(U, t, mix, n_samples=200_000, seed=1)
    assert res.method == "monte carlo" and np.all(res.stderr > 0)
    exact = c * th.gtilde_uniform_ball(t / c, 1)
    assert np.all(np.abs(res.g - exact) <= 5 * res.stderr), (res, exact)


class SampleOnly:
    """A user's law: only d and sample(n, seed), here 20 lines through the origin in R^6."""

    def __init__(self, inner):
        self.inner = inner
        self.d = inner.d

    def sample(self, n, seed):
        return self.inner.sample(n, seed=seed)


def test_user_law_with_only_sample_goes_monte_carlo():
    """A law object with only d and sample(n, seed) is estimated by Monte Carlo on its sample: the same
    numbers as the wrapped law through the same route, and as the isotropic law forced to Monte Carlo."""
    d = 6
    lines = data.BallMixture.random(d, 20, 1, seed=0)
    U = unit(np.random.default_rng(5).standard_normal((5, d)))
    t = np.array([-0.3, 0.0, 0.1, 0.2, -0.1])
    a = th.g_population(U, t, lines, n_samples=50_000, seed=2)
    b = th.g_population(U, t, SampleOnly(lines), n_samples=50_000, seed=2)
    assert b.method == "monte carlo"
    np.testing.assert_array_equal(a.g, b.g)
    np.testing.assert_array_equal(a.stderr, b.stderr)
    ball = data.UniformBall(d)
    forced = th.gtilde_population(U, t, ball, method="monte_carlo", n_samples=50_000, seed=[1, 2])
    mine = th.gtilde_population(U, t, SampleOnly(ball), n_samples=50_000, seed=[1, 2])
    np.testing.assert_array_equal(forced.g, mine.g)
    assert np.all(np.abs(mine.g - th.gtilde_uniform_ball(t, d)) <= 5 * mine.stderr + 1e-12)
    net = fc.Network.init(d, 5, seed=1)
    np.testing.assert_array_equal(
        th.vg_contributions(net, law=SampleOnly(lines), n_samples=20_000, seed=3),
        th.vg_contributions(net, law=lines, n_samples=20_000, seed=3),
    )


class ScaledBall:
    """A user's isotropic law: the ball of radius 2 through its own marginal (no marginal_method)."""

    d = 3

    def sample(self, n, seed=0):
        return 2.0 * data.UniformBall(3).sample(n, seed)

    def marginal_tail(self, t):
        P, m1, excess = data.UniformBall(3).marginal_tail(np.asarray(t) / 2.0)
        return P, 2.0 * np.asarray(m1), 2.0 * np.asarray(excess)


def test_user_isotropic_law_uses_its_marginal():
    """A law object with marginal_tail is used through it (method "marginal" when it does not name one):
    the radius-2 ball written by hand equals UniformBall(3, radius=2)."""
    u = unit(np.random.default_rng(2).standard_normal((3, 3)))
    t = np.array([-1.5, 0.3, 1.2])
    mine = th.g_population(u, t, ScaledBall())
    assert mine.method == "marginal"
    np.testing.assert_allclose(mine.g, th.g_population(u, t, data.UniformBall(3, radius=2.0)).g, rtol=1e-14)


# =================================================================================================
# Bad input
# =================================================================================================
class BadShape:
    d = 2

    def sample(self, n, seed=0):
        return np.zeros((n, 3))

    def marginal_tail(self, t):
        return np.zeros(3), np.zeros(3), np.zeros(3)


def test_weight_bad_input():
    """Clear ValueError/TypeError naming the argument."""
    u = np.array([1.0, 0.0])
    X = np.ones((4, 2))
    with pytest.raises(ValueError, match="X has no rows"):
        th.gtilde_empirical(np.zeros((0, 2)), u, 0.0)
    with pytest.raises(ValueError, match="u contains NaN"):
        th.g_empirical(X, np.array([np.nan, 1.0]), 0.0)
    with pytest.raises(ValueError, match="t contains NaN or Inf"):
        th.g_empirical(X, u, np.inf)
    with pytest.raises(ValueError, match="t contains NaN"):
        th.g_uniform_ball(np.array([0.1, np.nan]), 3)
    with pytest.raises(TypeError, match="t must be a real number"):
        th.g_uniform_ball(True, 3)
    with pytest.raises(ValueError, match="unit vectors"):
        th.g_empirical(X, np.array([2.0, 0.0]), 0.0)
    with pytest.raises(ValueError, match="unit vectors"):
        th.g_population(np.zeros(3), 0.0)
    with pytest.raises(ValueError, match="data have d = 2"):
        th.g_empirical(X, np.array([1.0, 0.0, 0.0]), 0.0)
    with pytest.raises(ValueError, match="broadcast"):
        th.g_empirical(X, np.eye(2), np.zeros(3))
    with pytest.raises(TypeError, match="u must hold real numbers"):
        th.g_empirical(X, np.array(["a", "b"]), 0.0)
    with pytest.raises(TypeError, match="d must be an integer"):
        th.g_uniform_ball(0.0, 2.5)
    with pytest.raises(ValueError, match="d must be at least 1"):
        th.gtilde_uniform_ball(0.0, 0)
    with pytest.raises(TypeError, match="not a name"):
        th.g_population(u, 0.0, "gaussian")
    with pytest.raises(TypeError, match="law must be a law object"):
        th.g_population(u, 0.0, lambda n, rng: np.zeros((n, 2)))
    with pytest.raises(TypeError, match="law must be a law object"):
        th.g_population(u, 0.0, 3)
    with pytest.raises(ValueError, match=r"Gaussian\(d=3\) has d = 3 but the directions u have d = 2"):
        th.g_population(u, 0.0, data.Gaussian(3))
    with pytest.raises(ValueError, match="method must be one of"):
        th.g_population(u, 0.0, method="simpson")
    with pytest.raises(ValueError, match="n_samples must be at least 2"):
        th.g_population(u, 0.0, method="monte_carlo", n_samples=1)
    with pytest.raises(ValueError, match="sample returned shape"):
        th.g_population(u, 0.0, BadShape(), method="monte_carlo")
    with pytest.raises(ValueError, match="marginal_tail returned P of shape"):
        th.g_population(u, 0.0, BadShape())
    with pytest.raises(TypeError, match="seed must be"):
        th.g_population(u, 0.0, data.BallMixture.random(2, 2), seed="abc")
