"""flatcore.data targets and data sets (docs/math.md, section 5.7).

Each target is checked against an independent computation of its formula (hand-written loops,
other closed forms, flatcore.Network for RandomReLU), its random parameters against their laws by
Monte Carlo over many seeds (tolerances of 6 standard errors: a false failure has probability
below 1e-8 per check), and as a value (equality, hash, repr, pickling, seeding) with its refusal
of bad input. draw is checked for shapes, the noise law, the independence of its three streams and
its checks. Statistical tests use fixed seeds, so they are deterministic.
"""

from __future__ import annotations

import dataclasses
import pickle

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

import flatcore as fc
from conftest import seeds
from flatcore import data

RANDOM_KINDS = ("linear", "single", "multi", "relu", "hoelder")


def make_target(kind, d, seed=0, **kw):
    """A target of the given kind in dimension d, its random parameters from seed."""
    if kind == "linear":
        return data.Linear(d, seed=seed, **kw)
    if kind == "single":
        return data.SingleIndex(d, seed=seed, **kw)
    if kind == "multi":
        return data.MultiIndex(d, kw.pop("k", min(d, 2)), seed=seed, **kw)
    if kind == "relu":
        return data.RandomReLU(d, seed=seed, **kw)
    if kind == "hoelder":
        return data.Hoelder(d, seed=seed, **kw)
    if kind == "radial":
        return data.SmoothRadial(d, **kw)
    return data.Smooth(d)


@st.composite
def targets(draw):
    """Any target of flatcore.data with d in 1..8 and random parameters."""
    kind = draw(st.sampled_from((*RANDOM_KINDS, "radial", "smooth")), label="kind")
    d = draw(st.integers(1, 8), label="d")
    seed = draw(seeds, label="target seed")
    link = draw(st.sampled_from(data.LINKS), label="link")
    given_direction = draw(st.booleans(), label="given direction")
    direction = draw(st.lists(st.floats(-3, 3), min_size=d, max_size=d), label="direction") if given_direction else None
    if direction is not None and not any(direction):
        direction = None
    if kind == "linear":
        return data.Linear(d, direction=direction, seed=seed)
    if kind == "single":
        return data.SingleIndex(d, link, direction=direction, seed=seed)
    if kind == "multi":
        k = draw(st.integers(1, d), label="k")
        return data.MultiIndex(d, k, link, draw(st.sampled_from(["sum", "product"]), label="combine"), seed=seed)
    if kind == "relu":
        rate = 10.0 ** draw(st.floats(-1, 2), label="log10 rate")
        return data.RandomReLU(d, rate=rate, radius=draw(st.floats(0.1, 3.0), label="radius"), seed=seed)
    if kind == "hoelder":
        return data.Hoelder(d, draw(st.floats(0.05, 1.0), label="exponent"), direction=direction, seed=seed)
    if kind == "radial":
        return data.SmoothRadial(d, 10.0 ** draw(st.floats(-1, 1), label="log10 frequency"))
    return data.Smooth(d)


def ball(n, d, seed=0):
    return data.UniformBall(d).sample(n, seed)


def mean_within(samples, expected, k=6.0):
    """The sample mean is within k standard errors (estimated) of expected."""
    samples = np.asarray(samples, dtype=float)
    se = samples.std(ddof=1) / np.sqrt(len(samples))
    return abs(samples.mean() - expected) <= k * se + 1e-14


# =================================================================================================
# Each target against an independent computation
# =================================================================================================
def test_linear_is_the_normalised_inner_product():
    """Linear(d, direction=a)(X) = sum_j a_j x_j / sqrt(sum_j a_j^2) (a loop); w is a/||a||; with
    a = (1, ..., 1) it is target(X, "linear") up to rounding."""
    d = 5
    a = np.array([3.0, -1.0, 0.5, 0.0, 2.0])
    X = ball(40, d, seed=1)
    norm = sum(float(t) ** 2 for t in a) ** 0.5
    expected = np.array([sum(a[j] * x[j] for j in range(d)) / norm for x in X])
    t = data.Linear(d, direction=a)
    np.testing.assert_allclose(t(X), expected, rtol=1e-13, atol=1e-15)
    np.testing.assert_allclose(t.w, a / norm, rtol=1e-15)
    np.testing.assert_allclose(
        data.Linear(d, direction=np.ones(d))(X), data.target(X, "linear"), rtol=1e-14, atol=1e-15
    )
    np.testing.assert_array_equal(data.Linear(d, direction=2 * a)(X), t(X))
    for scale in (1e-300, 1e300):  # the norm of the given vector would underflow or overflow
        np.testing.assert_allclose(data.Linear(d, direction=scale * a).w, t.w, rtol=1e-15)


@pytest.mark.parametrize("kind", ["linear", "single", "hoelder"])
@pytest.mark.parametrize("d", [1, 3])
def test_seeded_directions_are_uniform_on_the_sphere(kind, d):
    """A seeded w is a unit vector, with E w = 0 and E w w^T = I/d over 3000 seeds (6 standard
    errors); in d = 1, w = +-1 with probability 1/2 each."""
    W = np.array([make_target(kind, d, seed=s).w for s in range(3000)])
    np.testing.assert_allclose(np.linalg.norm(W, axis=1), 1.0, rtol=1e-15)
    for j in range(d):
        assert mean_within(W[:, j], 0.0)
        for l in range(j, d):
            assert mean_within(W[:, j] * W[:, l], (j == l) / d)


LINK_FORMULAS = {  # the links of LINKS by other routes
    "relu": lambda z: np.where(z > 0, z, 0.0),
    "abs": lambda z: np.sqrt(z * z),
    "tanh": lambda z: np.expm1(2 * z) / (np.exp(2 * z) + 1),
    "sin": lambda z: np.imag(np.exp(1j * z)),
    "square": lambda z: z * z,
}


def test_every_link_has_an_independent_formula():
    assert set(data.LINKS) == set(LINK_FORMULAS)


@pytest.mark.parametrize("link", sorted(LINK_FORMULAS))
def test_single_index_is_the_link_of_the_projection(link):
    """SingleIndex(d, link)(X) = g(w.x), g written another way, w from the target (a unit vector)
    and from a given direction; also on Gaussian data (projections beyond [-1, 1])."""
    for t in (data.SingleIndex(4, link, seed=3), data.SingleIndex(4, link, direction=[0.0, 2.0, 0.0, -2.0])):
        for X in (ball(100, 4, seed=2), data.Gaussian(4).sample(100, seed=2)):
            z = np.array([sum(t.w[j] * x[j] for j in range(4)) for x in X])
            np.testing.assert_allclose(t(X), LINK_FORMULAS[link](z), rtol=1e-12, atol=1e-14)
    np.testing.assert_allclose(
        data.SingleIndex(4, link, direction=[0.0, 2.0, 0.0, -2.0]).w, [0, 0.5**0.5, 0, -(0.5**0.5)]
    )


def test_single_index_relu_by_hand():
    """relu(w.x) with w = (3, 4)/5 at points chosen by hand."""
    t = data.SingleIndex(2, "relu", direction=(3.0, 4.0))
    X = np.array([[1.0, 0.0], [0.0, -1.0], [-4.0, 2.0], [0.5, 0.5]])
    np.testing.assert_allclose(t(X), [0.6, 0.0, 0.0, 0.7], rtol=1e-15)


@pytest.mark.parametrize("combine", ["sum", "product"])
@pytest.mark.parametrize("link", ["relu", "sin", "square"])
def test_multi_index(link, combine):
    """U has k orthonormal rows; f*(x) = sum_j g(u_j.x) or prod_j g(u_j.x) (a loop); f* does not move
    along directions orthogonal to the rows of U; a given basis is used as given."""
    d, k = 6, 3
    t = data.MultiIndex(d, k, link, combine, seed=4)
    assert t.U.shape == (k, d)
    np.testing.assert_allclose(t.U @ t.U.T, np.eye(k), atol=1e-14)
    X = ball(60, d, seed=5)
    g = LINK_FORMULAS[link]
    expected = []
    for x in X:
        values = [g(np.dot(u, x)) for u in t.U]
        expected.append(sum(values) if combine == "sum" else np.prod(values))
    np.testing.assert_allclose(t(X), expected, rtol=1e-12, atol=1e-14)
    # moving x orthogonally to the rows of U changes nothing
    V = np.random.default_rng(6).standard_normal((60, d))
    V -= (V @ t.U.T) @ t.U
    np.testing.assert_allclose(t(X + V), t(X), rtol=1e-10, atol=1e-12)
    same = data.MultiIndex(d, k, link, combine, basis=t.U)
    np.testing.assert_array_equal(same.U, t.U)
    np.testing.assert_array_equal(same(X), t(X))


def test_multi_index_with_one_direction_is_single_index():
    w = np.array([0.6, 0.0, -0.8])
    X = data.Gaussian(3).sample(50, seed=7)
    for link in data.LINKS:
        np.testing.assert_allclose(
            data.MultiIndex(3, 1, link, basis=[w])(X), data.SingleIndex(3, link, direction=w)(X), rtol=1e-14, atol=1e-15
        )


def test_seeded_basis_is_haar():
    """E[U^T U] = (k/d) I for U uniform on the k-frames (the projection onto a uniform k-plane), over
    2000 seeds, each entry within 6 standard errors."""
    d, k = 4, 2
    P = np.array([data.MultiIndex(d, k, seed=s).U for s in range(2000)])
    P = np.einsum("skd,ske->sde", P, P)
    for j in range(d):
        for l in range(d):
            assert mean_within(P[:, j, l], (j == l) * k / d), (j, l)


def test_random_relu_is_the_network_of_its_parameters():
    """RandomReLU equals flatcore.Network(W, b, v, 0) (the compiled forward pass); unit rows, |b| <=
    radius, shapes (N, d), (N,), (N,)."""
    t = data.RandomReLU(7, rate=30.0, radius=1.5, seed=8)
    N = t.width
    assert N > 0 and t.W.shape == (N, 7) and t.b.shape == (N,) and t.v.shape == (N,)
    np.testing.assert_allclose(np.linalg.norm(t.W, axis=1), 1.0, rtol=1e-15)
    assert np.all(np.abs(t.b) <= 1.5)
    X = ball(300, 7, seed=9)
    np.testing.assert_allclose(t(X), fc.Network(t.W, t.b, t.v, 0.0)(X), rtol=1e-12, atol=1e-14)


@pytest.mark.parametrize("rate", [0.7, 5.0, 40.0])
def test_random_relu_neuron_count_is_poisson(rate):
    """Over 2000 seeds the number of neurons has mean and variance rate (Poisson), within 6 standard
    errors (the sample variance's: sqrt((rate + 2 rate^2) / m)); P(N = 0) = exp(-rate)."""
    m = 2000
    N = np.array([data.RandomReLU(2, rate=rate, seed=s).width for s in range(m)])
    assert abs(N.mean() - rate) <= 6 * np.sqrt(rate / m)
    assert abs(N.var(ddof=1) - rate) <= 6 * np.sqrt((rate + 2 * rate**2) / m)
    p0 = np.exp(-rate)
    assert abs(np.mean(N == 0) - p0) <= 6 * np.sqrt(p0 * (1 - p0) / m) + 1e-12


def test_random_relu_scale():
    """At fixed points x in the ball of radius R, over 4000 networks: E f*(x) = 0 and
    E f*(x)^2 = (R^2 + 3 ||x||^2 / d) / 6 (docs/math.md, section 5.7), each within 6 standard errors."""
    d, R = 3, 1.5
    X = np.array([[0.0, 0.0, 0.0], [1.5, 0.0, 0.0], [0.3, -0.4, 0.5]])
    F = np.array([data.RandomReLU(d, rate=4.0, radius=R, seed=s)(X) for s in range(4000)])
    for i, x in enumerate(X):
        assert mean_within(F[:, i], 0.0)
        assert mean_within(F[:, i] ** 2, (R**2 + 3 * x @ x / d) / 6)


def test_random_relu_without_neurons_is_zero():
    """N = 0 happens (rate 0.01) and gives the zero function."""
    t = next(t for s in range(100) if (t := data.RandomReLU(3, rate=0.01, seed=s)).width == 0)
    assert t.W.shape == (0, 3)
    np.testing.assert_array_equal(t(ball(10, 3)), np.zeros(10))


@pytest.mark.parametrize("frequency", [0.5, 1.0, 3.0])
def test_smooth_radial(frequency):
    """cos(pi nu ||x||) with ||x|| by a loop; invariant under a random rotation; near 0 it is
    1 - (pi nu)^2 ||x||^2 / 2 up to O(||x||^4) (smooth at the origin, even in ||x||)."""
    d = 4
    t = data.SmoothRadial(d, frequency)
    X = ball(50, d, seed=10)
    r = np.array([sum(c * c for c in x) ** 0.5 for x in X])
    np.testing.assert_allclose(t(X), np.cos(np.pi * frequency * r), rtol=1e-13, atol=1e-14)
    Q, _ = np.linalg.qr(np.random.default_rng(11).standard_normal((d, d)))
    np.testing.assert_allclose(t(X @ Q.T), t(X), rtol=1e-12, atol=1e-13)
    for eps in (1e-2, 1e-3):
        x = eps * X[:5] / np.linalg.norm(X[:5], axis=1, keepdims=True)
        a = (np.pi * frequency) ** 2
        assert np.all(np.abs(t(x) - (1 - a * eps**2 / 2)) <= a**2 * eps**4 / 24 * 1.01)


@given(st.floats(0.05, 1.0), st.integers(1, 6), seeds)
def test_hoelder_bound(exponent, d, seed):
    """|f*(x) - f*(y)| <= ||x - y||^exponent on random pairs (Gaussian, and close pairs straddling the
    hyperplane w.x = 0 where the bound is tightest); f* = |w.x|^exponent by another route."""
    t = data.Hoelder(d, exponent, seed=seed)
    rng = np.random.default_rng(seed)
    X = rng.standard_normal((200, d))
    Y = np.concatenate([rng.standard_normal((100, d)), X[100:] + 1e-6 * rng.standard_normal((100, d))])
    X[150:] -= np.outer(X[150:] @ t.w, t.w)  # on the hyperplane
    fx, fy = t(X), t(Y)
    rounding = 1e-15 * np.maximum(np.abs(fx), np.abs(fy))  # of the values whose difference is taken
    assert np.all(np.abs(fx - fy) <= np.linalg.norm(X - Y, axis=1) ** exponent * (1 + 1e-12) + rounding)
    z = np.abs(X @ t.w)
    with np.errstate(divide="ignore"):
        np.testing.assert_allclose(t(X), np.where(z > 0, np.exp(exponent * np.log(z)), 0.0), rtol=1e-12, atol=0)


def test_hoelder_is_not_lipschitz():
    """The difference quotient between x0 on the kink and x0 + eps w is eps^(exponent - 1): unbounded
    as eps -> 0 for exponent < 1 (the default 1/2 gives 1e4 at eps = 1e-8), 1 for exponent 1."""
    for t, x0 in (
        (data.Hoelder(3, seed=12), np.zeros(3)),
        (data.Hoelder(3, direction=[0, 0, 2]), np.array([1.0, 2, 0])),
    ):
        assert t.exponent == 0.5
        ratios = []
        for eps in (1e-2, 1e-4, 1e-6, 1e-8):
            f = t(np.array([x0, x0 + eps * t.w]))
            ratios.append(abs(f[1] - f[0]) / np.linalg.norm(eps * t.w))
        np.testing.assert_allclose(ratios, [1e1, 1e2, 1e3, 1e4], rtol=1e-6)
    lip = data.Hoelder(3, exponent=1.0, seed=12)
    X = data.Gaussian(3).sample(100, seed=13)
    np.testing.assert_allclose(lip(X), np.abs(X @ lip.w), rtol=1e-15)


def test_smooth_is_the_named_smooth_target():
    """Smooth(d) gives target(X, "smooth") bit for bit, and sin(2 x_1) + ||x||^2 / 2 by a loop."""
    X = data.Gaussian(3).sample(40, seed=14)
    np.testing.assert_array_equal(data.Smooth(3)(X), data.target(X, "smooth"))
    expected = [np.sin(2 * x[0]) + 0.5 * sum(c * c for c in x) for x in X]
    np.testing.assert_allclose(data.Smooth(3)(X), expected, rtol=1e-13, atol=1e-15)


# =================================================================================================
# Targets as values
# =================================================================================================
@given(targets(), st.integers(0, 30), seeds)
def test_targets_evaluate_pickle_compare_and_hash(t, n, seed):
    """Any target: float64 values of shape (n,), finite on Gaussian points; a Target; pickles to an
    equal target with the same hash and the same values; repr is the constructor call; frozen; the
    parameter arrays are read-only."""
    X = data.Gaussian(t.d).sample(max(n, 1), seed)[:n]
    f = t(X)
    assert f.shape == (n,) and f.dtype == np.float64 and np.all(np.isfinite(f))
    assert isinstance(t, data.Target)
    back = pickle.loads(pickle.dumps(t))
    assert back == t and hash(back) == hash(t) and back is not t
    np.testing.assert_array_equal(back(X), f)
    assert eval(repr(t), vars(data)) == t
    with pytest.raises(dataclasses.FrozenInstanceError):
        t.d = 3
    for name in ("w", "U", "W", "b", "v"):
        if hasattr(t, name):
            with pytest.raises(ValueError, match="read-only"):
                getattr(t, name)[...] = 0.0
    if n > 0:
        np.testing.assert_array_equal(t(X.tolist()), f)  # lists work too


@pytest.mark.parametrize("kind", RANDOM_KINDS)
def test_seeding(kind):
    """Same seed, same target (equal, same values); another seed, another target; a given direction
    or basis makes the seed irrelevant (None), so equal directions give equal targets."""
    X = ball(20, 4, seed=15)
    a, b, c = make_target(kind, 4, seed=1), make_target(kind, 4, seed=1), make_target(kind, 4, seed=2)
    assert a == b and hash(a) == hash(b)
    np.testing.assert_array_equal(a(X), b(X))
    assert a != c and not np.array_equal(a(X), c(X))
    if kind in ("linear", "single", "hoelder"):
        u, v = make_target(kind, 4, seed=1, direction=a.w), make_target(kind, 4, seed=2, direction=a.w)
        assert u == v and u.seed is None
        np.testing.assert_allclose(u(X), a(X), rtol=1e-14, atol=1e-15)
    if kind == "multi":
        u = data.MultiIndex(4, 2, basis=a.U, seed=5)
        assert u == data.MultiIndex(4, 2, basis=a.U) and u.seed is None


def test_equality_and_repr():
    """Different parameters or classes, different targets; repr is the constructor call."""
    assert data.Smooth(3) == data.Smooth(3.0) != data.Smooth(4)
    assert data.Linear(3) != data.SingleIndex(3) and data.SmoothRadial(2) != data.SmoothRadial(2, 2.0)
    assert data.SingleIndex(3, "relu") != data.SingleIndex(3, "tanh")
    assert data.MultiIndex(3, 2) != data.MultiIndex(3, 2, combine="product")
    assert data.RandomReLU(3) != data.RandomReLU(3, radius=2.0)
    assert repr(data.SmoothRadial(5, 0.5)) == "SmoothRadial(d=5, frequency=0.5)"
    assert repr(data.Linear(2, direction=[1, 1])) == "Linear(d=2, direction=(1.0, 1.0), seed=None)"
    assert len({data.Smooth(3), data.Smooth(3), data.Linear(3)}) == 2


class Constant:
    d = 2

    def __call__(self, X):
        return np.ones(len(X))


def test_protocol():
    """Targets, a Network and a user's object with d and __call__ are Targets; a law is not."""
    assert isinstance(fc.Network.init(3, 4), data.Target)
    assert isinstance(Constant(), data.Target)
    assert not isinstance(data.UniformBall(3), data.Target) and not isinstance("linear", data.Target)


def test_targets_bad_input():
    """Clear ValueError/TypeError naming the argument."""
    with pytest.raises(ValueError, match="d must be at least 1"):
        data.Linear(0)
    with pytest.raises(TypeError, match="d must be an integer"):
        data.Smooth(2.5)
    with pytest.raises(ValueError, match="link must be one of"):
        data.SingleIndex(3, "cube")
    with pytest.raises(ValueError, match="direction must not be the zero vector"):
        data.Linear(3, direction=[0, 0, 0])
    with pytest.raises(ValueError, match="direction must have d = 3 entries"):
        data.Hoelder(3, direction=[1, 0])
    with pytest.raises(ValueError, match="direction contains NaN"):
        data.SingleIndex(2, direction=[np.nan, 1.0])
    with pytest.raises(ValueError, match="k must be at most d = 2"):
        data.MultiIndex(2, 3)
    with pytest.raises(ValueError, match="combine must be one of"):
        data.MultiIndex(3, 2, combine="max")
    with pytest.raises(ValueError, match="orthonormal rows"):
        data.MultiIndex(2, 2, basis=[[1.0, 0.0], [1.0, 1.0]])
    with pytest.raises(ValueError, match="basis must have shape"):
        data.MultiIndex(3, 2, basis=[[1.0, 0.0, 0.0]])
    with pytest.raises(ValueError, match="rate must be positive"):
        data.RandomReLU(3, rate=0.0)
    with pytest.raises(ValueError, match="radius must be finite"):
        data.RandomReLU(3, radius=np.inf)
    with pytest.raises(MemoryError, match="RandomReLU"):
        data.RandomReLU(10, rate=1e15)
    with pytest.raises(ValueError, match="frequency must be positive"):
        data.SmoothRadial(3, -1.0)
    with pytest.raises(ValueError, match="exponent must be at most 1"):
        data.Hoelder(3, exponent=1.5)
    with pytest.raises(ValueError, match="exponent must be positive"):
        data.Hoelder(3, exponent=0.0)
    with pytest.raises(TypeError, match="seed must be a non-negative integer"):
        data.Linear(3, seed=None)
    with pytest.raises(ValueError, match="seed must be at least 0"):
        data.RandomReLU(3, seed=-1)
    with pytest.raises(TypeError, match="seed must be an integer"):
        data.MultiIndex(3, 2, seed=1.5)
    t = data.Linear(3)
    with pytest.raises(ValueError, match="X must be 2-dimensional"):
        t(np.zeros(3))
    with pytest.raises(ValueError, match="X has 2 columns but the target Linear"):
        t(np.zeros((4, 2)))
    with pytest.raises(ValueError, match="X contains NaN or Inf"):
        t(np.array([[0.0, np.inf, 0.0]]))
    with pytest.raises(TypeError, match="X must hold real numbers"):
        t(np.zeros((2, 3), dtype=complex))
    with pytest.raises(FloatingPointError, match="overflowed float64"):
        data.SingleIndex(3, "square", direction=[1, 0, 0])(np.array([[1e200, 0.0, 0.0]]))


# =================================================================================================
# Data sets
# =================================================================================================
@given(targets(), st.integers(1, 50), st.integers(1, 50), st.floats(0.0, 10.0), seeds)
def test_draw_shapes_and_streams(t, n, n_test, noise, seed):
    """Shapes and dtypes; y_clean = target(X) and y_test = target(X_test) exactly; the training points
    do not depend on n_test, noise or the target, the noise z = (y - y_clean)/noise not on the law
    or the noise level, the test points not on n, noise or the target; the same seed gives the same
    bits (also as a SeedSequence)."""
    law = data.UniformBall(t.d)
    ds = data.draw(law, t, n, n_test=n_test, noise=noise, seed=seed)
    assert isinstance(ds, data.Dataset)
    assert ds.X.shape == (n, t.d) and ds.X_test.shape == (n_test, t.d)
    assert ds.y.shape == ds.y_clean.shape == (n,) and ds.y_test.shape == (n_test,)
    assert all(a.dtype == np.float64 for a in ds)
    np.testing.assert_array_equal(ds.y_clean, t(ds.X))
    np.testing.assert_array_equal(ds.y_test, t(ds.X_test))
    other = data.draw(law, data.Smooth(t.d), n, n_test=n_test + 7, noise=1.0, seed=seed)
    np.testing.assert_array_equal(other.X, ds.X)
    z = other.y - other.y_clean
    np.testing.assert_allclose(ds.y - ds.y_clean, noise * z, rtol=1e-12, atol=1e-12 * (1 + np.abs(ds.y_clean).max()))
    gauss = data.draw(data.Gaussian(t.d), t, n, n_test=n_test, noise=1.0, seed=seed)
    np.testing.assert_allclose(gauss.y - gauss.y_clean, z, rtol=0, atol=1e-15 * (1 + np.abs(gauss.y).max()))
    np.testing.assert_array_equal(
        data.draw(law, data.Smooth(t.d), n + 3, n_test=n_test, noise=2.0, seed=seed).X_test, ds.X_test
    )
    again = data.draw(law, t, n, n_test=n_test, noise=noise, seed=np.random.SeedSequence(seed))
    for a, b in zip(ds, again):
        np.testing.assert_array_equal(a, b)


@pytest.mark.parametrize("sigma", [0.1, 1.0, 3.0])
def test_draw_noise_is_gaussian_with_sigma(sigma):
    """y - y_clean over 20000 points: mean 0 within 6 standard errors, standard deviation sigma within
    6 standard errors of the sample standard deviation (sigma / sqrt(2n)); noise 0 gives y = y_clean."""
    n = 20_000
    ds = data.draw(data.Radial(3, 0.5), data.RandomReLU(3, seed=1), n, noise=sigma, seed=16)
    r = ds.y - ds.y_clean
    assert abs(r.mean()) <= 6 * sigma / np.sqrt(n)
    assert abs(r.std() - sigma) <= 6 * sigma / np.sqrt(2 * n)
    clean = data.draw(data.Radial(3, 0.5), data.RandomReLU(3, seed=1), 100, seed=16)
    np.testing.assert_array_equal(clean.y, clean.y_clean)


def test_draw_independence():
    """The streams look independent: train and test points, and the data of two seeds, are
    uncorrelated coordinate by coordinate (|r| <= 6/sqrt(n)); the test points follow the law
    (E||X||^2 = d/(d+2) for the unit ball, 6 standard errors)."""
    n, d = 5000, 3
    a = data.draw(data.UniformBall(d), data.Linear(d), n, n_test=n, noise=1.0, seed=17)
    b = data.draw(data.UniformBall(d), data.Linear(d), n, n_test=n, noise=1.0, seed=18)
    pairs = [(a.X[:, j], a.X_test[:, j]) for j in range(d)] + [(a.X[:, j], b.X[:, j]) for j in range(d)]
    pairs += [(a.y - a.y_clean, b.y - b.y_clean), (a.y - a.y_clean, a.X[:, 0])]
    for u, v in pairs:
        assert abs(np.corrcoef(u, v)[0, 1]) <= 6 / np.sqrt(n)
    assert mean_within(np.sum(a.X_test**2, axis=1), d / (d + 2))


def test_draw_seeds():
    """A Generator (or a BitGenerator) as seed is drawn from and advanced; the default n_test is 1000;
    two seeds, two data sets."""
    law, t = data.UniformBall(2), data.Smooth(2)
    rng = np.random.default_rng(3)
    first = data.draw(law, t, 10, seed=rng)
    second = data.draw(law, t, 10, seed=rng)
    assert not np.array_equal(first.X, second.X)
    np.testing.assert_array_equal(first.X, data.draw(law, t, 10, seed=np.random.default_rng(3)).X)
    assert first.X_test.shape == (1000, 2)
    assert not np.array_equal(data.draw(law, t, 10, seed=1).X, data.draw(law, t, 10, seed=2).X)
    bits = np.random.PCG64(4)
    assert not np.array_equal(data.draw(law, t, 10, seed=bits).X, data.draw(law, t, 10, seed=bits).X)


class TwoColumns:
    """A user's law: d and sample(n, seed) only."""

    d = 2

    def sample(self, n, seed=0):
        return np.random.default_rng(seed).uniform(-1, 1, size=(n, 2))


class WrongShape(TwoColumns):
    def sample(self, n, seed=0):
        return np.zeros((n, 3))


def test_draw_with_user_objects():
    """A user's law and target, and a Network as the target (a teacher)."""
    net = fc.Network.init(2, 5, seed=0)
    ds = data.draw(TwoColumns(), net, 30, n_test=20, seed=1)
    np.testing.assert_array_equal(ds.y, net(ds.X))
    ds = data.draw(TwoColumns(), Constant(), 30, n_test=20, noise=0.5, seed=1)
    np.testing.assert_array_equal(ds.y_test, np.ones(20))


def test_draw_bad_input():
    law, t = data.UniformBall(3), data.Linear(3)
    with pytest.raises(ValueError, match=r"law and target dimensions differ: law.d = 3, target.d = 2"):
        data.draw(law, data.Smooth(2), 10)
    with pytest.raises(ValueError, match="n must be at least 1"):
        data.draw(law, t, 0)
    with pytest.raises(ValueError, match="n_test must be at least 1"):
        data.draw(law, t, 10, n_test=0)
    with pytest.raises(ValueError, match="noise must be non-negative"):
        data.draw(law, t, 10, noise=-0.1)
    with pytest.raises(ValueError, match="noise must be finite"):
        data.draw(law, t, 10, noise=np.nan)
    with pytest.raises(TypeError, match="seed must be"):
        data.draw(law, t, 10, seed=1.5)
    with pytest.raises(TypeError, match="law must have a dimension d and sample"):
        data.draw("uniform_ball", t, 10)
    with pytest.raises(TypeError, match="target must have a dimension d and __call__"):
        data.draw(law, "linear", 10)
    with pytest.raises(ValueError, match=r"law.sample\(n, seed\) must have shape \(10, 2\)"):
        data.draw(WrongShape(), Constant(), 10)
