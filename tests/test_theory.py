"""MATH.md sections 5-9: the weight function g, V_g, the stability inequality, the invariant
minimal trace and the boundary-localised packing (flatcore.theory).

Every test names the formula it checks. Independent routes: Monte Carlo written here with
batch-means standard errors, direct Python loops, scipy.integrate.quad, the dense Hessian's
eigvalsh (not flatcore's eigensolver) for lambda_max, and analytic limits.
"""
from __future__ import annotations

import zlib

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy import integrate, special

import flatcore as fc
import flatcore.theory as th
from conftest import seeds


def more_examples(factor):
    """``factor`` times the active hypothesis profile's example count (ci/dev/thorough)."""
    return settings(max_examples=max(10, int(settings.default.max_examples * factor)))


def unit(v):
    v = np.asarray(v, dtype=float)
    return v / np.linalg.norm(v, axis=-1, keepdims=True)


def batch_means_gtilde(X, u, t, n_batches=20):
    """gtilde(u, t) = P^2 E[u.X - t | u.X > t] sqrt(1 + ||E[X | u.X > t]||^2) over X, and a
    batch-means standard error (independent of theory's delta-method one)."""
    def one(Xb):
        S = Xb @ u
        act = S > t
        P = act.mean()
        if P == 0:
            return 0.0
        return P ** 2 * (S[act] - t).mean() * np.sqrt(1.0 + np.sum(Xb[act].mean(axis=0) ** 2))

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
    np.testing.assert_allclose(th.gtilde_uniform_ball(tt, 1), (1 - tt) ** 3 / 8 * np.sqrt(1 + (1 + tt) ** 2 / 4),
                               rtol=1e-13, atol=1e-17)
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
    assert np.all(np.diff(errors) < 0), errors       # converging
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
    return P ** 2 * excess * np.sqrt(1.0 + float(np.dot(mean_x, mean_x)))


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
    tol = 1e-13 * xs * np.sqrt(1 + xs ** 2)  # rounding relative to the size of the terms
    got = th.gtilde_empirical(X, U, t)
    assert got.shape == (m,)
    np.testing.assert_allclose(got, loop_p, rtol=1e-10, atol=tol)
    np.testing.assert_allclose(th.g_empirical(X, U, t), np.minimum(loop_p, loop_m), rtol=1e-10, atol=tol)
    # one direction, thresholds of shape (m,) and (1, m); scalar t gives a float
    np.testing.assert_allclose(th.gtilde_empirical(X, U[0], t.reshape(1, m)),
                               [[gtilde_loop(X, U[0], tj) for tj in t]], rtol=1e-10, atol=tol)
    assert isinstance(th.g_empirical(X, U[0], float(t[0])), float)
    np.testing.assert_allclose(th.gtilde_empirical(X, U, float(t[0])),
                               [gtilde_loop(X, U[j], t[0]) for j in range(m)], rtol=1e-10, atol=tol)


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
ISOTROPIC_CASES = [
    ("uniform_sphere", None, 1), ("uniform_sphere", None, 2), ("uniform_sphere", None, 6),
    ("gaussian", None, 1), ("gaussian", None, 4),
    ("radial", 0.1, 3), ("radial", 0.3, 5), ("radial", 1.5, 2), ("radial", 5.0, 5), ("radial", 1.0, 1),
    ("uniform_ball", None, 4),
]


@pytest.mark.parametrize("distribution,alpha,d", ISOTROPIC_CASES)
def test_population_isotropic_matches_monte_carlo(distribution, alpha, d):
    """Isotropic laws: gtilde(t) = E[(S-t)_+] sqrt(P(S>t)^2 + m1(t)^2) from the 1-D marginal of S = u.X
    (closed form or quadrature) agrees with Monte Carlo on a sample drawn here, within 5 batch-means
    standard errors, and with g_population(method="monte_carlo") within 5 of its stated errors.
    Thresholds are kept where at least ~1% of the mass is active (MC is meaningless beyond)."""
    rng = np.random.default_rng(zlib.crc32(repr((distribution, alpha, d)).encode()))
    n = 300_000
    G = rng.standard_normal((n, d))
    Usph = G / np.linalg.norm(G, axis=1, keepdims=True)
    if distribution == "gaussian":
        X = G
    elif distribution == "uniform_sphere":
        X = Usph
    elif distribution == "uniform_ball":
        X = Usph * rng.uniform(size=(n, 1)) ** (1 / d)
    else:
        X = Usph * (1 - (1 - rng.uniform(size=(n, 1))) ** (1 / alpha))
    u = unit(rng.standard_normal(d))
    S = X @ u
    ts = np.quantile(S, [0.3, 0.5, 0.7, 0.9, 0.97])
    pop = th.g_population(u, ts, distribution, alpha=alpha)
    assert pop.method == ("quadrature" if distribution == "radial" else "closed form")
    np.testing.assert_array_equal(pop.stderr, 0.0)
    one = th.gtilde_population(u, ts, distribution, alpha=alpha).g
    one_minus = th.gtilde_population(-u, -ts, distribution, alpha=alpha).g
    np.testing.assert_allclose(pop.g, np.minimum(one, one_minus), rtol=1e-14)
    mc_engine = th.gtilde_population(u, ts, distribution, alpha=alpha, method="monte_carlo", n_samples=200_000, seed=3)
    mc_engine_g = th.g_population(u, ts, distribution, alpha=alpha, method="monte_carlo", n_samples=200_000, seed=3)
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
    def density(r):
        return alpha * (1 - r) ** (alpha - 1)

    for t in [-0.8, -0.3, 0.0, 0.2, 0.6, 0.95]:
        def P_int(r):
            return density(r) * th._sphere_P_m1(np.array(t / r), d)[0]

        def m1_int(r):
            return density(r) * r * th._sphere_P_m1(np.array(t / r), d)[1]

        lo = abs(t)
        P_ref = integrate.quad(P_int, lo, 1, limit=500, epsabs=1e-13, epsrel=1e-11)[0]
        m1_ref = integrate.quad(m1_int, lo, 1, limit=500, epsabs=1e-13, epsrel=1e-11)[0]
        if t < 0:
            P_ref += 1 - (1 - lo) ** alpha
        g_ref = max(m1_ref - t * P_ref, 0) * np.hypot(P_ref, m1_ref)
        got = th.gtilde_population(np.eye(d)[0], t, "radial", alpha=alpha).g
        assert got == pytest.approx(g_ref, rel=1e-7, abs=1e-12), (t, got, g_ref)


def test_radial_alpha_one_in_d1_is_the_uniform_interval():
    """d = 1, alpha = 1: rho = R uniform and X = +-rho is uniform on [-1, 1] = the ball of R^1."""
    t = np.linspace(-1.3, 1.3, 53)
    np.testing.assert_allclose(th.g_population(np.array([1.0]), t, "radial", alpha=1.0).g,
                               th.g_uniform_ball(t, 1), rtol=1e-10, atol=1e-16)


def test_sphere_is_ball_two_dimensions_down():
    """Archimedes: u.X for X uniform on S^(d-1) has the marginal of the uniform ball of R^(d-2); the
    Gaussian marginal is N(0, 1): gtilde(0) = phi(0) * sqrt(1/4 + phi(0)^2)."""
    t = np.linspace(-1, 1, 41)
    for d in (3, 4, 7):
        P_s, m1_s = th._sphere_P_m1(t, d)
        P_b, m1_b = th._ball_P_m1(t, d - 2)
        np.testing.assert_allclose(P_s, P_b, rtol=1e-14)
        np.testing.assert_allclose(m1_s, m1_b, rtol=1e-14)
    phi0 = 1 / np.sqrt(2 * np.pi)
    expected = phi0 * np.sqrt(0.25 + phi0 ** 2)
    assert th.gtilde_population(np.eye(3)[1], 0.0, "gaussian").g == pytest.approx(expected, rel=1e-14)


def test_population_ball_mixture_monte_carlo():
    """Mixture of low-dimensional balls: Monte Carlo with a stated standard error. One segment
    [-1, 1] e in R^d: S = c Z, Z uniform on [-1, 1], c = u.e, ||E[X 1(S>t)]|| = |m1_Z(t/|c|)|, so
    gtilde(u, t) = |c| gtilde_ball1(t / |c|) exactly; the estimate is within 5 stated errors."""
    d = 6
    mix = th.BallMixture.random(d, 1, 1, seed=4)
    e = mix.bases[0, 0]
    rng = np.random.default_rng(5)
    U = unit(rng.standard_normal((5, d)) + 2 * e)
    c = np.abs(U @ e)
    t = np.array([-0.3, 0.0, 0.1, 0.2, -0.1])
    res = th.gtilde_population(U, t, mix, n_samples=200_000, seed=1)
    assert res.method == "monte carlo" and np.all(res.stderr > 0)
    exact = c * th.gtilde_uniform_ball(t / c, 1)
    assert np.all(np.abs(res.g - exact) <= 5 * res.stderr), (res, exact)
    # 20 lines through the origin: sample shape, and a sampler callable gives the same numbers
    lines = th.BallMixture.random(d, 20, 1, seed=0)
    Xl = lines.sample(1000, seed=0)
    assert Xl.shape == (1000, d) and np.all(np.linalg.norm(Xl, axis=1) <= 1 + 1e-12)
    a = th.g_population(U, t, lines, n_samples=50_000, seed=2)
    b = th.g_population(U, t, lambda n, r: lines.sample(n, seed=r), n_samples=50_000, seed=2)
    np.testing.assert_array_equal(a.g, b.g)


# =================================================================================================
# Section 6: V_g, path norm, activation rates
# =================================================================================================
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


@given(networks_and_data())
def test_vg_is_sum_of_contributions_and_below_path_norm(case):
    """V_g = sum_k |v_k| ||w_k|| g(u_k, t_k) (0 for w_k = 0): vg_norm = sum of vg_contributions; each
    term equals |v_k| ||w_k|| g_emp(w_k/||w_k||, b_k/||w_k||) through the public g_empirical;
    V_g <= path_norm * max_k g_k; population (uniform ball) V_g <= path_norm * g_ball(0)."""
    net, X, _ = case
    terms = th.vg_contributions(net, X)
    assert terms.shape == (net.width,) and np.all(terms >= 0)
    assert th.vg_norm(net, X) == pytest.approx(terms.sum(), rel=1e-12, abs=0)
    wn = np.linalg.norm(net.W, axis=1)
    nz = wn > 0
    assert np.all(terms[~nz] == 0)
    pn = th.path_norm(net)
    assert pn == pytest.approx(np.sum(np.abs(net.v) * wn), rel=1e-14)
    if nz.any():
        g = th.g_empirical(X, net.W[nz] / wn[nz, None], net.b[nz] / wn[nz])
        ref = np.abs(net.v[nz]) * wn[nz] * g
        xs = np.max(np.linalg.norm(X, axis=1)) + np.abs(net.b[nz]) / wn[nz]
        atol = 1e-12 * np.abs(net.v[nz]) * wn[nz] * xs * (1 + xs)
        assert np.all(np.abs(terms[nz] - ref) <= 1e-9 * ref + atol), (terms[nz], ref)
        assert th.vg_norm(net, X) <= pn * g.max() * (1 + 1e-12) + atol.sum()
    pop = th.vg_contributions(net)
    assert np.all(pop[~nz] == 0)
    assert th.vg_norm(net) <= pn * th.g_uniform_ball(0.0, net.d) * (1 + 1e-12)
    assert th.vg_norm(net, distribution="uniform_ball") == th.vg_norm(net)


@given(networks_and_data(max_n=200))
def test_activation_rates_match_numpy(case):
    """activation rate_k = mean_i 1[w_k . x_i > b_k]."""
    net, X, _ = case
    expected = (X @ net.W.T - net.b > 0).mean(axis=0)
    np.testing.assert_array_equal(th.activation_rates(net, X), expected)


def test_vg_population_of_a_single_neuron():
    """One neuron: V_g = |v| ||w|| g(w/||w||, b/||w||), for the ball (closed form) and a named law."""
    net = fc.Network([[3.0, 4.0]], [2.5], [-2.0], 0.7)
    assert th.vg_norm(net) == pytest.approx(2 * 5 * th.g_uniform_ball(0.5, 2), rel=1e-14)
    assert th.vg_norm(net, distribution="gaussian") == pytest.approx(
        10 * th.g_population(np.array([0.6, 0.8]), 0.5, "gaussian").g, rel=1e-14)
    assert th.vg_norm(net, distribution="radial", alpha=0.5) == pytest.approx(
        10 * th.g_population(np.array([0.6, 0.8]), 0.5, "radial", alpha=0.5).g, rel=1e-14)


# =================================================================================================
# Section 7: THE stability inequality, for every theta and data set
# =================================================================================================
def _neuron_mode_b(mode, z, scale, rng):
    """A threshold b for pre-activations z = w.x_i (n,) making the neuron active on one point, none,
    all, or with a point exactly on the kink."""
    zs = np.sort(z)[::-1]
    if mode == "one point":
        if len(zs) > 1 and zs[0] > zs[1]:
            return 0.5 * (zs[0] + zs[1])
        return zs[0] - 1e-3 * (abs(zs[0]) + scale)
    if mode == "none":
        return zs[0] + scale
    if mode == "all":
        return zs[-1] - scale
    raise AssertionError(mode)


@st.composite
def adversarial_problems(draw):
    """(net, X, y): d in {1, 2, 3, 7, 20}, n in 1..30 (n = 1 often), width 1..6; X, W, b, v, beta, y
    scaled by independent 10^e, e in [-3, 3]; neurons random, active on exactly one point, on none,
    on all, with a point on the kink, or with w_k = 0; optionally duplicated points."""
    d = draw(st.sampled_from([1, 2, 3, 7, 20]), label="d")
    n = draw(st.one_of(st.just(1), st.integers(1, 30)), label="n")
    K = draw(st.integers(1, 6), label="width")
    rng = np.random.default_rng(draw(seeds, label="seed"))
    sc = {k: 10.0 ** draw(st.floats(-3, 3), label=f"log10 scale {k}") for k in ("X", "W", "b", "v", "beta", "y")}
    X = sc["X"] * rng.standard_normal((n, d))
    if n > 1 and draw(st.booleans(), label="duplicated points"):
        X[rng.integers(0, n, n)] = X[rng.integers(0, n)]
    W = sc["W"] * rng.standard_normal((K, d))
    b = sc["b"] * sc["X"] * rng.standard_normal(K)
    modes = draw(st.lists(st.sampled_from(["random", "one point", "none", "all", "kink", "zero w"]),
                          min_size=K, max_size=K), label="neuron modes")
    for k, mode in enumerate(modes):
        if mode == "zero w":
            W[k] = 0.0
        elif mode == "kink":
            # a point exactly on the kink (z = 0, a = 0): w_k = c e_j makes w_k.x_i = c x_ij exact in
            # every summation order, so NumPy and the compiled core agree that it is inactive
            j = rng.integers(d)
            W[k] = 0.0
            W[k, j] = sc["W"] * rng.standard_normal()
            b[k] = W[k, j] * X[rng.integers(n), j]
        elif mode != "random":
            b[k] = _neuron_mode_b(mode, X @ W[k], sc["W"] * sc["X"], rng)
    v = sc["v"] * rng.standard_normal(K)
    y = sc["y"] * rng.standard_normal(n)
    if draw(st.booleans(), label="interpolating labels"):  # L = 0: the residual term vanishes
        y = fc.Network(W, b, v, 0.0).predict(X)
    net = fc.Network(W, b, v, sc["beta"] * rng.standard_normal())
    return net, X, y


def weighted_sum_reference(net, X):
    """sum_k |v_k| (mean_i phi_ik) ||mean_i a_ik (x_i, -1)|| = sum_k |v_k| ||w_k|| gtilde(u_k, t_k)."""
    Z = X @ net.W.T - net.b
    A = (Z > 0).astype(float)
    phi = np.maximum(Z, 0)
    mean_ax = A.T @ X / X.shape[0]
    return np.sum(np.abs(net.v) * phi.mean(axis=0) * np.sqrt(np.sum(mean_ax ** 2, axis=1) + A.mean(axis=0) ** 2))


@more_examples(4)
@given(adversarial_problems())
def test_stability_inequality_holds_for_every_theta(case):
    """MATH.md 7: lambda_max(H) >= 1 + 2 sum_k |v_k| ||w_k|| gtilde_emp(u_k, t_k) - sqrt(1 + R^2) sqrt(2L),
    lambda_max from numpy.linalg.eigvalsh of the dense Hessian; tolerance 1e-9 relative to the size of
    the terms (rounding only). The record's pieces are checked against NumPy."""
    net, X, y = case
    lam = float(np.linalg.eigvalsh(fc.hessian(net, X, y))[-1])
    rec = th.stability_inequality(net, X, y, lambda_max=lam)
    R = np.max(np.linalg.norm(X, axis=1))
    r = net.predict(X) - y
    L = 0.5 * np.mean(r ** 2)
    assert rec.R == pytest.approx(R, rel=1e-14)
    assert rec.loss == pytest.approx(L, rel=1e-9, abs=1e-300)
    ws = weighted_sum_reference(net, X)
    assert rec.weighted_sum == pytest.approx(ws, rel=1e-9, abs=1e-300)
    assert rec.residual_term == pytest.approx(np.sqrt(1 + R ** 2) * np.sqrt(2 * L), rel=1e-9, abs=1e-300)
    assert rec.rhs == 1 + 2 * rec.weighted_sum - rec.residual_term and rec.slack == rec.lhs - rec.rhs
    scale = abs(lam) + 1 + 2 * ws + rec.residual_term
    assert rec.slack >= -1e-9 * scale, rec
    assert rec.holds
    # the same with the sharper route of the proof: ||m||^2 - residual bound <= lambda_max
    # and its consequence: V_g <= lambda_max / 2 - 1/2 + sqrt(1 + R^2) sqrt(2L) / 2, i.e.
    # stability_bound at eta = 2 / lambda_max holds (lambda_max >= 1 > 0 always: e_beta has H = 1 + ...)
    sb = th.stability_bound(net, X, y, 2.0 / lam)
    assert sb.vg <= sb.weighted_sum * (1 + 1e-12) + 1e-300
    assert sb.weighted_sum <= sb.bound + 1e-9 * scale
    assert sb.holds or sb.vg <= sb.bound + 1e-9 * scale


def test_stability_inequality_default_lambda_max(problem):
    """Without lambda_max, the left side is flatcore.sharpness: equal to the dense eigvalsh's."""
    rec = th.stability_inequality(problem.net, problem.X, problem.y)
    lam = np.linalg.eigvalsh(fc.hessian(problem.net, problem.X, problem.y))[-1]
    assert rec.lhs == pytest.approx(lam, rel=1e-8)
    assert rec.holds and rec.slack >= 0


def test_stability_inequality_tight_example():
    """Equality in MATH.md 7: n = 1 (Jensen is an equality), L = 0 (no residual part), x = 0 and
    phi = |v| (AM-GM is an equality): lambda_max = ||g_1||^2 = 1 + phi^2 + v^2 = 1 + 2 |v| phi."""
    net = fc.Network([[0.0]], [-2.0], [2.0], 0.0)
    X, y = np.zeros((1, 1)), np.array([4.0])  # f = 2 * 2 = 4 = y: L = 0
    rec = th.stability_inequality(net, X, y, lambda_max=np.linalg.eigvalsh(fc.hessian(net, X, y))[-1])
    # g_1 = (d/dw = v a x = 0, d/db = -v = -2, d/dv = phi = 2, d/dbeta = 1): ||g||^2 = 9 = lambda_max
    assert rec.loss == 0 and rec.lhs == pytest.approx(9.0, rel=1e-14)
    assert rec.weighted_sum == pytest.approx(4.0) and rec.rhs == pytest.approx(9.0)
    assert abs(rec.slack) < 1e-12


def test_gd_converged_stable_minima_obey_the_bound():
    """MATH.md 7 consequence: after GD at step eta converges (flatcore.train, tol 1e-5) to theta with
    lambda_max <= 2/eta (dense eigvalsh), V_g(theta) <= weighted sum <= 1/eta - 1/2 + sqrt(1+R^2) sqrt(2L)/2."""
    checked = 0
    for seed in range(4):
        X, y = fc.data.regression(8, 2, seed=seed, noise=0.3)
        for lr in (0.1, 0.5, 1.0):
            # one thread: a tiny problem, and OpenMP spinning on a busy CI machine costs seconds
            res = fc.train(fc.Network.init(2, 6, seed=seed), X, y, lr=lr, steps=20_000, tol=1e-5, n_threads=1)
            lam = np.linalg.eigvalsh(fc.hessian(res.net, X, y))[-1]
            sb = th.stability_bound(res.net, X, y, lr)
            assert sb.vg == pytest.approx(th.vg_norm(res.net, X), rel=1e-12)
            if res.converged and lam <= 2 / lr:
                checked += 1
                assert sb.holds and sb.vg <= sb.weighted_sum <= sb.bound, (seed, lr, lam, sb)
    assert checked >= 4


# =================================================================================================
# Section 8: rescaling and the invariant minimal trace
# =================================================================================================
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
    assert fc.loss(new, X, y) == pytest.approx(fc.loss(net, X, y), rel=1e-9, abs=1e-12 * np.mean(fscale ** 2 + y ** 2))
    A, B = th.trace_terms(net, X)
    Z = X @ net.W.T - net.b
    a = Z > 0
    np.testing.assert_allclose(A, np.mean(np.maximum(Z, 0) ** 2, axis=0), rtol=1e-10)
    np.testing.assert_allclose(B, net.v ** 2 * np.mean(a * (np.sum(X ** 2, axis=1) + 1)[:, None], axis=0), rtol=1e-10)
    per = fc.trace_per_neuron(new, X)
    np.testing.assert_allclose(per, alpha ** 2 * A + B / alpha ** 2, rtol=1e-9, atol=1e-300)
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
    A, B = th.trace_terms(net, X)
    untouched = (A == 0) | (B == 0)
    np.testing.assert_array_equal(bal.W[untouched], net.W[untouched])
    tr = fc.hessian_trace(bal, X, y)
    mt = th.min_trace(net, X)
    assert tr == pytest.approx(mt + np.sum(A[untouched]), rel=1e-9)
    Ab, Bb = th.trace_terms(bal, X)
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


# =================================================================================================
# Section 9: boundary-localised packing
# =================================================================================================
@pytest.mark.parametrize("d,eps", [(1, 0.3), (2, 0.05), (2, 0.3), (3, 0.1), (5, 0.2), (8, 0.1)])
def test_packing_caps_disjoint(d, eps):
    """Neurons relu(u_j.x - (1 - eps)): pairwise u_i.u_j <= cos(2 arccos(1 - eps)) (disjoint caps), and no
    point of a dense sample of the ball (uniform + points drawn inside every cap) activates two neurons."""
    net = th.boundary_packing(d, eps, max_neurons=300, seed=1)
    K = net.width
    assert K >= (2 if d <= 2 else d + 1)  # random greedy packing: not maximal, but not poor either
    np.testing.assert_allclose(np.linalg.norm(net.W, axis=1), 1.0, rtol=1e-14)
    np.testing.assert_allclose(net.b, 1 - eps)
    assert np.all(np.abs(net.v) == 1.0) and net.beta == 0.0
    G = net.W @ net.W.T
    cos2 = np.cos(2 * np.arccos(1 - eps))
    assert np.all(G[~np.eye(K, dtype=bool)] <= cos2 + 1e-12)
    rng = np.random.default_rng(0)
    X = fc.data.uniform_ball(100_000, d, seed=2)
    # points in and around each cap: directions near u_j (angle ~ theta0), radius in (1 - eps, 1]
    theta0 = np.arccos(1 - eps)
    dirs = net.W[:, None, :] + theta0 / np.sqrt(d) * rng.standard_normal((K, 50, d))
    dirs = dirs / np.linalg.norm(dirs, axis=2, keepdims=True)
    pts = (dirs * rng.uniform(1 - eps, 1, size=(K, 50, 1))).reshape(-1, d)
    Xall = np.vstack([X, pts])
    counts = (Xall @ net.W.T > net.b).sum(axis=1)
    assert counts.max() <= 1
    assert np.all((pts @ net.W.T > net.b).any(axis=0))  # every cap was actually probed
    if d == 2:
        assert K == int(np.floor(np.pi / np.arccos(1 - eps)))


@pytest.mark.parametrize("d", [2, 3, 5])
def test_packing_activation_and_weight_orders(d):
    """Per neuron: P(u.X > 1 - eps) ~ eps^((d+1)/2) (Monte Carlo agrees with the closed form, and the ratio
    to eps^((d+1)/2) stays within constant bounds over two decades of eps); g(u, 1 - eps) ~ eps^(d+2);
    population V_g of the packing = amplitude * K * g_ball(1 - eps)."""
    epss = np.array([0.1, 0.03, 0.01, 0.003, 0.001])
    P = th._ball_P_m1(1 - epss, d)[0]
    rp = P / epss ** ((d + 1) / 2)
    rg = th.g_uniform_ball(1 - epss, d) / epss ** (d + 2)
    assert rp.max() / rp.min() < 2 and rg.max() / rg.min() < 2
    net = th.boundary_packing(d, 0.1, amplitude=3.0, max_neurons=50, seed=0)
    X = fc.data.uniform_ball(400_000, d, seed=9)
    rates = th.activation_rates(net, X)
    se = np.sqrt(P[0] * (1 - P[0]) / X.shape[0])
    assert np.all(np.abs(rates - P[0]) <= 5 * se)
    assert th.vg_norm(net) == pytest.approx(3.0 * net.width * th.g_uniform_ball(0.9, d), rel=1e-12)
    assert th.path_norm(net) == pytest.approx(3.0 * net.width)


def test_packing_signs_and_seed():
    """Given signs are used as v_j = amplitude * s_j; the same seed gives the same packing."""
    a = th.boundary_packing(3, 0.2, seed=5, max_neurons=40)
    b = th.boundary_packing(3, 0.2, seed=5, max_neurons=40)
    assert a == b
    s = np.ones(a.width)
    c = th.boundary_packing(3, 0.2, seed=5, max_neurons=40, signs=s, amplitude=0.5)
    np.testing.assert_array_equal(c.v, 0.5)
    np.testing.assert_array_equal(c.W, a.W)


# =================================================================================================
# Bad input and degenerate cases
# =================================================================================================
def test_zero_network_and_single_point():
    """All-zero network: V_g = path norm = 0, the inequality still holds (lambda_max = 1 + ...);
    one data point works everywhere."""
    net = fc.Network(np.zeros((3, 2)), np.zeros(3), np.zeros(3), 0.0)
    X, y = np.array([[0.3, -0.2]]), np.array([1.5])
    assert th.vg_norm(net, X) == 0 and th.vg_norm(net) == 0 and th.path_norm(net) == 0
    np.testing.assert_array_equal(th.activation_rates(net, X), 0.0)
    rec = th.stability_inequality(net, X, y)
    assert rec.holds and rec.weighted_sum == 0
    assert th.min_trace(net, X, y) == 1.0
    assert th.balance_for_min_trace(net, X) == net
    # one point: gtilde(e1, 0) = P^2 (x.e1) sqrt(1 + ||x||^2) with P = 1; the other side has no point
    assert th.gtilde_empirical(X, np.array([1.0, 0.0]), 0.0) == pytest.approx(0.3 * np.sqrt(1 + 0.09 + 0.04))
    assert th.g_empirical(X, np.array([1.0, 0.0]), 0.0) == 0.0
    assert th.stability_bound(net, X, y, 0.1).holds


def test_bad_input_errors():
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
    with pytest.raises(ValueError, match="distribution must be one of"):
        th.g_population(u, 0.0, "cauchy")
    with pytest.raises(TypeError, match="distribution must be"):
        th.g_population(u, 0.0, 3)
    with pytest.raises(ValueError, match="needs alpha"):
        th.g_population(u, 0.0, "radial")
    with pytest.raises(ValueError, match="alpha must be positive"):
        th.g_population(u, 0.0, "radial", alpha=-1)
    with pytest.raises(ValueError, match="alpha is only used"):
        th.g_population(u, 0.0, "gaussian", alpha=2.0)
    with pytest.raises(ValueError, match="method must be one of"):
        th.g_population(u, 0.0, method="simpson")
    with pytest.raises(ValueError, match="n_samples must be at least 2"):
        th.g_population(u, 0.0, method="monte_carlo", n_samples=1)
    with pytest.raises(ValueError, match="sampler returned shape"):
        th.g_population(u, 0.0, lambda n, rng: np.zeros((n, 3)))
    net = fc.Network.init(2, 3)
    with pytest.raises(ValueError, match="not both"):
        th.vg_norm(net, X, distribution="gaussian")
    with pytest.raises(TypeError, match="net must be a flatcore.Network"):
        th.path_norm("net")
    with pytest.raises(ValueError, match="X has no rows"):
        th.activation_rates(net, np.zeros((0, 2)))
    with pytest.raises(ValueError, match="X has 3 columns"):
        th.vg_norm(net, np.ones((2, 3)))
    with pytest.raises(ValueError, match="y has 2 entries"):
        th.stability_inequality(net, X, np.ones(2))
    with pytest.raises(ValueError, match="lr must be positive"):
        th.stability_bound(net, X, np.ones(4), 0.0)
    with pytest.raises(ValueError, match="lambda_max must be finite"):
        th.stability_inequality(net, X, np.ones(4), lambda_max=np.nan)
    with pytest.raises(ValueError, match="alpha must be positive"):
        th.rescale(net, np.array([1.0, 0.0, 2.0]))
    with pytest.raises(ValueError, match="alpha must be a scalar or have shape"):
        th.rescale(net, np.ones(2))
    with pytest.raises(ValueError, match="alpha contains NaN"):
        th.rescale(net, np.inf)
    with pytest.raises(ValueError, match="eps must be in"):
        th.boundary_packing(3, 1.5)
    with pytest.raises(ValueError, match="eps must be positive"):
        th.boundary_packing(3, 0.0)
    with pytest.raises(ValueError, match="signs must have one entry per neuron"):
        th.boundary_packing(2, 0.3, signs=[1.0])
    with pytest.raises(ValueError, match="signs must be"):
        th.boundary_packing(1, 0.3, signs=[1.0, 0.5])
    with pytest.raises(ValueError, match="dim must be at most"):
        th.BallMixture.random(2, 3, dim=3)
