"""flatcore.data laws: UniformBall, UniformSphere, Gaussian, Radial, BallMixture (docs/math.md, section 5).

Sampling is checked for reproducibility, support and moments against closed forms; the marginal
tails P(t) = P(u.X > t), m1(t) = E[u.X 1(u.X > t)], E[(u.X - t)_+] against Monte Carlo on the
law's own sample and against their defining properties; and the laws as values (equality, repr,
pickling) and their refusal of bad input.
"""

from __future__ import annotations

import dataclasses
import pickle

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from scipy import stats

from conftest import seeds
from flatcore import data
from theory_cases import ISOTROPIC_LAWS

ISOTROPIC = (data.UniformBall, data.UniformSphere, data.Gaussian, data.Radial)


@st.composite
def laws(draw, isotropic_only=False):
    """Any law of flatcore.data with d in 1..8 (mixtures: up to 4 balls of dimension <= d)."""
    kinds = ["ball", "sphere", "gaussian", "radial"] + ([] if isotropic_only else ["mixture"])
    kind = draw(st.sampled_from(kinds), label="kind")
    d = draw(st.integers(1, 8), label="d")
    if kind == "ball":
        return data.UniformBall(d, radius=10.0 ** draw(st.floats(-2, 2), label="log10 radius"))
    if kind == "sphere":
        return data.UniformSphere(d)
    if kind == "gaussian":
        return data.Gaussian(d)
    if kind == "radial":
        return data.Radial(d, alpha=10.0 ** draw(st.floats(-1.5, 1.5), label="log10 alpha"))
    return data.BallMixture.random(
        d,
        draw(st.integers(1, 4), label="k"),
        draw(st.integers(1, d), label="dim"),
        radius=draw(st.floats(0.1, 3.0), label="radius"),
        center_scale=draw(st.sampled_from([0.0, 0.5, 2.0]), label="center scale"),
        seed=draw(seeds, label="mixture seed"),
    )


def second_moment(law):
    """E||X||^2 in closed form."""
    if isinstance(law, data.UniformBall):
        return law.radius**2 * law.d / (law.d + 2)
    if isinstance(law, data.UniformSphere):
        return 1.0
    if isinstance(law, data.Gaussian):
        return float(law.d)
    if isinstance(law, data.Radial):
        a = law.alpha  # rho = 1 - V^(1/a), V uniform: E rho^2 = 1 - 2 a/(a+1) + a/(a+2)
        return 1.0 - 2.0 * a / (a + 1.0) + a / (a + 2.0)
    # mixture: E||c + r B^T z||^2 = ||c||^2 + r^2 dim/(dim+2) (E z = 0, B orthonormal rows)
    dim = law.dim
    return float(np.sum(law.weights * (np.sum(law.centers**2, axis=1) + law.radii**2 * dim / (dim + 2))))


# =================================================================================================
# Sampling
# =================================================================================================
@given(laws(), seeds, st.integers(1, 50))
def test_sampling_is_reproducible_and_in_the_support(law, seed, n):
    """sample(n, seed): shape (n, d), float64, finite; the same seed gives the same bits, also through a
    SeedSequence or a fresh Generator; a Generator passed as seed is advanced; ||x|| <= radius
    (||x|| = 1 on the sphere), radius None only for the Gaussian."""
    X = law.sample(n, seed)
    assert X.shape == (n, law.d) and X.dtype == np.float64 and np.all(np.isfinite(X))
    np.testing.assert_array_equal(X, law.sample(n, seed=seed))
    np.testing.assert_array_equal(X, law.sample(n, np.random.SeedSequence(seed)))
    rng = np.random.default_rng(seed)
    np.testing.assert_array_equal(X, law.sample(n, rng))
    second = law.sample(20, rng)
    assert not np.array_equal(second, law.sample(20, seed))
    norms = np.linalg.norm(X, axis=1)
    if isinstance(law, data.Gaussian):
        assert law.radius is None
    else:
        assert np.all(norms <= law.radius * (1 + 1e-14))
    if isinstance(law, data.UniformSphere):
        np.testing.assert_allclose(norms, 1.0, rtol=1e-15)


@given(laws())
def test_different_seeds_give_different_points(law):
    """Two seeds, two samples (20 points: a coincidence has probability below 2^-19)."""
    assert not np.array_equal(law.sample(20, seed=1), law.sample(20, seed=2))


@pytest.mark.parametrize(
    "law",
    [
        *ISOTROPIC_LAWS,
        data.BallMixture.random(10, 20, 1, seed=0),
        data.BallMixture.random(5, 3, 2, center_scale=1.0, seed=1),
    ],
    ids=repr,
)
def test_moments_match_closed_forms(law):
    """E||X||^2 against its closed form (unit ball d/(d+2), sphere 1, Gaussian d, radial
    1 - 2a/(a+1) + a/(a+2), mixture ||c||^2 + r^2 dim/(dim+2)) within 5 standard errors; isotropic
    laws have mean 0 and covariance E||X||^2 / d * I (Gaussian: I)."""
    n = 100_000
    X = law.sample(n, seed=11)
    sq = np.sum(X**2, axis=1)
    se = sq.std() / np.sqrt(n)
    assert abs(sq.mean() - second_moment(law)) <= 5 * se + 1e-15, (sq.mean(), second_moment(law), se)
    if isinstance(law, ISOTROPIC):
        scale = np.sqrt(second_moment(law) / law.d)
        np.testing.assert_allclose(X.mean(axis=0), 0.0, atol=5 * scale / np.sqrt(n))
        cov = np.cov(X.T).reshape(law.d, law.d)
        np.testing.assert_allclose(cov, np.eye(law.d) * second_moment(law) / law.d, atol=0.03 * scale**2 + 0.02)


def test_gaussian_covariance_is_identity():
    """N(0, I_d): the sample covariance is I to within 2% on 200000 points, the coordinates normal."""
    X = data.Gaussian(4).sample(200_000, seed=3)
    np.testing.assert_allclose(np.cov(X.T), np.eye(4), atol=0.02)
    assert stats.kstest(X[:, 2], "norm").pvalue > 1e-6


@pytest.mark.parametrize("alpha", [0.3, 1.0, 5.0])
def test_radial_radius_law(alpha):
    """Radial: P(||X|| > r) = (1 - r)^alpha (Kolmogorov-Smirnov on (1 - ||X||)^alpha, uniform)."""
    X = data.Radial(3, alpha).sample(20_000, seed=4)
    rho = np.linalg.norm(X, axis=1)
    assert stats.kstest(np.clip(1 - rho, 0, 1) ** alpha, "uniform").pvalue > 1e-6


def test_mixture_points_lie_on_their_balls():
    """Every point of a BallMixture is c_j + r_j B_j^T z with ||z|| <= 1 for some component j."""
    mix = data.BallMixture.random(6, 3, 2, radius=0.5, center_scale=1.0, seed=2)
    X = mix.sample(2000, seed=0)
    best = np.full(len(X), np.inf)
    for c, B, r in zip(mix.centers, mix.bases, mix.radii):
        Y = X - c
        off = np.linalg.norm(Y - (Y @ B.T) @ B, axis=1)  # distance to the subspace
        inside = np.linalg.norm(Y @ B.T, axis=1) <= r * (1 + 1e-12)
        best = np.minimum(best, np.where(inside, off, np.inf))
    assert np.all(best <= 1e-12)


@pytest.mark.parametrize("law", [data.UniformSphere(3), data.Gaussian(3), data.Radial(3, 0.7)], ids=repr)
def test_samplers_are_the_published_ones(law):
    """Bits of earlier versions: sphere = normalised normals, Gaussian = standard normals, radial =
    sphere times -expm1(log1p(-U) / alpha), in that order from one generator."""
    rng = np.random.default_rng(5)
    G = rng.standard_normal((400, 3))
    S = G / np.linalg.norm(G, axis=1, keepdims=True)
    if isinstance(law, data.Gaussian):
        expected = G
    elif isinstance(law, data.UniformSphere):
        expected = S
    else:
        expected = S * -np.expm1(np.log1p(-rng.uniform(size=(400, 1))) / law.alpha)
    np.testing.assert_array_equal(law.sample(400, seed=5), expected)


# =================================================================================================
# Marginal tails
# =================================================================================================
@pytest.mark.parametrize("law", ISOTROPIC_LAWS, ids=repr)
def test_marginal_tail_matches_monte_carlo(law):
    """P(t), m1(t) and E[(S - t)_+] of S = u.X against the law's own sample, within 5 standard errors
    of the sample means, for a random unit u and thresholds across the support."""
    n = 200_000
    X = law.sample(n, seed=21)
    u = np.random.default_rng(law.d).standard_normal(law.d)
    u /= np.linalg.norm(u)
    S = X @ u
    ts = np.quantile(S, [0.05, 0.3, 0.5, 0.8, 0.95])
    tail = law.marginal_tail(ts)
    for j, t in enumerate(ts):
        for name, terms in (("P", S > t), ("m1", S * (S > t)), ("excess", np.maximum(S - t, 0))):
            est, se = terms.mean(), terms.std() / np.sqrt(n)
            assert abs(getattr(tail, name)[j] - est) <= 5 * se + 1e-12, (name, t, getattr(tail, name)[j], est, se)


@given(laws(isotropic_only=True), st.lists(st.floats(-4, 4), min_size=1, max_size=30))
def test_marginal_tail_properties(law, ts):
    """P non-increasing in [0, 1]; m1 >= 0 (E S = 0); excess = m1 - t P, non-negative, non-increasing,
    and = -t below the support (every point active, E S = 0); shapes follow t, a scalar gives floats."""
    t = np.sort(np.array(ts))
    P, m1, excess = law.marginal_tail(t)
    assert P.shape == m1.shape == excess.shape == t.shape
    assert np.all((P >= 0) & (P <= 1)) and np.all(np.diff(P) <= 1e-15)
    assert np.all(m1 >= 0)
    size = 1.0 if law.radius is None else law.radius
    assert np.all(np.abs(excess - (m1 - t * P)) <= 1e-7 * np.abs(excess) + 1e-12 * (size + np.abs(t)))
    assert np.all(excess >= -1e-15 * (size + np.abs(t)))
    assert np.all(np.diff(excess) <= 1e-12 * size)
    if law.radius is not None:
        below = t <= -law.radius
        np.testing.assert_allclose(excess[below], -t[below], rtol=1e-12)
        assert np.all(P[t >= law.radius] == 0)
    one = law.marginal_tail(float(t[0]))
    assert all(isinstance(v, float) for v in one)
    assert one.P == P[0]


def test_marginal_tail_closed_forms():
    """Unit ball in d = 1: uniform on [-1, 1]: P = (1 - t)/2, m1 = (1 - t^2)/4; Gaussian at 0: P = 1/2,
    m1 = phi(0); sphere d = 1: atoms at +-1; radius r scales S by r."""
    t = np.linspace(-1, 1, 21)
    tail = data.UniformBall(1).marginal_tail(t)
    np.testing.assert_allclose(tail.P, (1 - t) / 2, rtol=1e-14, atol=1e-16)
    np.testing.assert_allclose(tail.m1, (1 - t**2) / 4, rtol=1e-14, atol=1e-16)
    g = data.Gaussian(3).marginal_tail(0.0)
    assert g.P == 0.5 and g.m1 == pytest.approx(1 / np.sqrt(2 * np.pi), rel=1e-15)
    s = data.UniformSphere(1).marginal_tail(np.array([-1.5, -1.0, 0.0, 0.99, 1.0]))
    np.testing.assert_array_equal(s.P, [1.0, 0.5, 0.5, 0.5, 0.0])
    np.testing.assert_array_equal(s.m1, [0.0, 0.5, 0.5, 0.5, 0.0])
    big, unit = data.UniformBall(4, radius=3.0).marginal_tail(1.2), data.UniformBall(4).marginal_tail(0.4)
    assert big.P == pytest.approx(unit.P, rel=1e-15)
    assert big.m1 == pytest.approx(3 * unit.m1, rel=1e-15)
    assert big.excess == pytest.approx(3 * unit.excess, rel=1e-15)


# =================================================================================================
# Laws as values
# =================================================================================================
@given(laws())
def test_laws_pickle_compare_and_hash(law):
    """A law pickles to an equal law with the same hash and the same samples; it is frozen."""
    back = pickle.loads(pickle.dumps(law))
    assert back == law and hash(back) == hash(law) and back is not law
    np.testing.assert_array_equal(back.sample(5, seed=1), law.sample(5, seed=1))
    with pytest.raises(dataclasses.FrozenInstanceError):
        law.d = 3
    if isinstance(law, data.BallMixture):
        with pytest.raises(ValueError, match="read-only"):
            back.centers[0, 0] = 1.0


def test_equality_and_repr():
    """Equal parameters, equal laws (d as an integer-valued float too); repr is the constructor call
    (mixtures: a summary)."""
    assert data.UniformBall(3) == data.UniformBall(3.0, radius=1) != data.UniformBall(4)
    assert data.UniformBall(3) != data.UniformSphere(3) and data.Gaussian(2) != data.Radial(2, 1.0)
    assert data.Radial(2, 0.5) != data.Radial(2, 0.25)
    for law in (data.UniformBall(3, radius=2.5), data.UniformSphere(2), data.Gaussian(7), data.Radial(5, alpha=0.3)):
        assert eval(repr(law), vars(data)) == law
    assert repr(data.Radial(5, 0.3)) == "Radial(d=5, alpha=0.3)"
    mix = data.BallMixture.random(10, 20, seed=0)
    assert repr(mix) == "BallMixture(d=10, dim=1, n_components=20, radius=1)"
    assert mix == data.BallMixture.random(10, 20, seed=0) != data.BallMixture.random(10, 20, seed=1)
    assert mix != data.UniformBall(10)
    assert len({data.Gaussian(3), data.Gaussian(3), data.UniformBall(3)}) == 2


class SampleOnly:
    d = 2

    def sample(self, n, seed=0):
        return np.zeros((n, 2))


def test_protocols():
    """Every law is a data.Law; the four isotropic ones are data.IsotropicLaw, a mixture is not; a user's
    object with d and sample is a Law."""
    for law in (data.UniformBall(2), data.UniformSphere(2), data.Gaussian(2), data.Radial(2, 1.0)):
        assert isinstance(law, data.Law) and isinstance(law, data.IsotropicLaw)
    mix = data.BallMixture.random(2, 2)
    assert isinstance(mix, data.Law) and not isinstance(mix, data.IsotropicLaw)
    assert isinstance(SampleOnly(), data.Law) and not isinstance(SampleOnly(), data.IsotropicLaw)
    assert not isinstance("uniform_ball", data.Law)


def test_laws_bad_input():
    """Clear ValueError/TypeError naming the argument."""
    with pytest.raises(ValueError, match="d must be at least 1"):
        data.UniformBall(0)
    with pytest.raises(TypeError, match="d must be an integer"):
        data.UniformSphere(2.5)
    with pytest.raises(TypeError, match="d must be an integer"):
        data.Gaussian("3")
    with pytest.raises(ValueError, match="radius must be positive"):
        data.UniformBall(3, radius=-1.0)
    with pytest.raises(ValueError, match="alpha must be positive"):
        data.Radial(3, alpha=0.0)
    with pytest.raises(ValueError, match="alpha must be finite"):
        data.Radial(3, alpha=np.inf)
    with pytest.raises(TypeError, match="alpha"):
        data.Radial(3)
    with pytest.raises(ValueError, match="n must be at least 1"):
        data.Gaussian(3).sample(0)
    with pytest.raises(TypeError, match="n must be an integer"):
        data.UniformBall(3).sample(2.5)
    with pytest.raises(ValueError, match="seed must be"):
        data.UniformBall(3).sample(5, seed=-1)
    with pytest.raises(TypeError, match="seed must be"):
        data.Radial(3, 1.0).sample(5, seed=1.5)
    with pytest.raises(ValueError, match="t contains NaN"):
        data.UniformBall(3).marginal_tail(np.array([0.0, np.nan]))
    with pytest.raises(TypeError, match="t must hold real numbers"):
        data.Gaussian(3).marginal_tail("0.5")
    with pytest.raises(ValueError, match="orthonormal rows"):
        data.BallMixture(np.zeros((1, 2)), np.array([[[1.0, 1.0]]]), 1.0, 1.0)
    with pytest.raises(ValueError, match="bases must have shape"):
        data.BallMixture(np.zeros((2, 2)), np.array([[[1.0, 0.0]]]), 1.0, 1.0)
    with pytest.raises(ValueError, match="at least one component"):
        data.BallMixture(np.zeros((0, 2)), np.zeros((0, 1, 2)), 1.0, 1.0)
    with pytest.raises(ValueError, match="radii must be positive"):
        data.BallMixture(np.zeros((1, 2)), np.array([[[1.0, 0.0]]]), 0.0, 1.0)
    with pytest.raises(ValueError, match="weights must be non-negative"):
        data.BallMixture(np.zeros((2, 2)), np.array([[[1.0, 0.0]], [[0.0, 1.0]]]), 1.0, [1.0, -1.0])
    with pytest.raises(ValueError, match="dim must be at most"):
        data.BallMixture.random(2, 3, dim=3)
