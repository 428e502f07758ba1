"""docs/math.md, section 1: the model f(x) = sum_k v_k relu(w_k . x - b_k) + beta, its parameter layout
theta = [W row-major | b | v | beta], construction, initialisation and evaluation."""

from __future__ import annotations

import copy
import pickle

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from scipy import stats

import flatcore as fc
import reference as ref
from conftest import make_problem, problems, seeds


# -------------------------------------------------------------------------------------------------
# Construction and attributes
# -------------------------------------------------------------------------------------------------
def test_construction_attributes():
    """Network(W, b, v, beta) stores float64 copies; d, width and P = K (d + 2) + 1 follow W."""
    rng = np.random.default_rng(0)
    W, b, v = rng.standard_normal((5, 3)), rng.standard_normal(5), rng.standard_normal(5)
    net = fc.Network(W, b, v, 0.25)
    assert (net.d, net.width, net.n_params) == (3, 5, 5 * (3 + 2) + 1)
    assert net.W.dtype == net.b.dtype == net.v.dtype == np.float64
    np.testing.assert_array_equal(net.W, W)
    np.testing.assert_array_equal(net.b, b)
    np.testing.assert_array_equal(net.v, v)
    assert net.beta == 0.25 and isinstance(net.beta, float)


def test_construction_copies_the_callers_arrays():
    """Later in-place changes to the arrays passed in do not change the network."""
    W, b, v = np.ones((2, 2)), np.zeros(2), np.ones(2)
    net = fc.Network(W, b, v, 0.0)
    W[0, 0] = 7.0
    b[0] = 7.0
    v[0] = 7.0
    assert net.W[0, 0] == 1.0 and net.b[0] == 0.0 and net.v[0] == 1.0


def test_beta_defaults_to_zero_and_lists_accepted():
    """beta defaults to 0; nested lists and integer entries are converted to float64."""
    net = fc.Network([[1, 2]], [0], [3])
    assert net.beta == 0.0
    assert net.W.dtype == np.float64
    np.testing.assert_array_equal(net.W, [[1.0, 2.0]])


def test_copy_and_equality():
    """copy() gives an equal, independent network; == compares all parameters."""
    net = fc.Network.init(3, 4, seed=0)
    other = net.copy()
    assert other == net and other is not net
    other.v[0] += 1.0
    assert other != net
    assert fc.Network.init(3, 4, seed=0) == net
    assert fc.Network.init(3, 5, seed=0) != net


# -------------------------------------------------------------------------------------------------
# Initialisation schemes
# -------------------------------------------------------------------------------------------------
def _all_params(d, width, scheme, seeds_):
    nets = [fc.Network.init(d, width, seed=s, scheme=scheme) for s in seeds_]
    W = np.concatenate([n.W.ravel() for n in nets])
    b = np.concatenate([n.b for n in nets])
    v = np.concatenate([n.v for n in nets])
    beta = np.array([n.beta for n in nets])
    return W, b, v, beta


def _assert_uniform(sample, bound):
    """All in [-bound, bound], reaching close to both ends, and a KS test against U(-bound, bound)."""
    assert np.all(np.abs(sample) <= bound)
    assert sample.max() > 0.95 * bound and sample.min() < -0.95 * bound
    np.testing.assert_allclose(sample.var(), bound**2 / 3, rtol=0.05)
    assert stats.kstest(sample, stats.uniform(loc=-bound, scale=2 * bound).cdf).pvalue > 1e-6


def _assert_normal(sample, std):
    np.testing.assert_allclose(sample.std(), std, rtol=0.05)
    assert abs(sample.mean()) < 5 * std / np.sqrt(sample.size)
    assert stats.kstest(sample, stats.norm(scale=std).cdf).pvalue > 1e-6


@pytest.mark.parametrize("d,width", [(1, 800), (7, 600), (30, 300)])
def test_init_pytorch_distribution(d, width):
    """pytorch scheme: every weight and bias ~ U[-1/sqrt(fan_in), 1/sqrt(fan_in)], fan_in = d for
    W, b and width for v, beta."""
    W, b, v, beta = _all_params(d, width, "pytorch", range(40))
    _assert_uniform(W, 1 / np.sqrt(d))
    _assert_uniform(b, 1 / np.sqrt(d))
    _assert_uniform(v, 1 / np.sqrt(width))
    assert np.all(np.abs(beta) <= 1 / np.sqrt(width))


@pytest.mark.parametrize("d,width", [(1, 800), (7, 600), (30, 300)])
def test_init_kaiming_distribution(d, width):
    """kaiming scheme: W ~ N(0, 2/d), v ~ N(0, 2/width); biases as in pytorch."""
    W, b, v, beta = _all_params(d, width, "kaiming", range(40))
    _assert_normal(W, np.sqrt(2 / d))
    _assert_normal(v, np.sqrt(2 / width))
    _assert_uniform(b, 1 / np.sqrt(d))
    assert np.all(np.abs(beta) <= 1 / np.sqrt(width))


@pytest.mark.parametrize("d,width", [(1, 800), (7, 600), (30, 300)])
def test_init_kaiming_uniform_distribution(d, width):
    """kaiming_uniform scheme: W ~ U[-sqrt(6/d), sqrt(6/d)], v ~ U[-sqrt(6/width), ...] (variance
    2/fan_in); biases as in pytorch."""
    W, b, v, beta = _all_params(d, width, "kaiming_uniform", range(40))
    _assert_uniform(W, np.sqrt(6 / d))
    _assert_uniform(v, np.sqrt(6 / width))
    _assert_uniform(b, 1 / np.sqrt(d))
    assert np.all(np.abs(beta) <= 1 / np.sqrt(width))


def test_init_neurons_are_independent():
    """Rows of W are not copies of each other and W is uncorrelated with b (pytorch scheme)."""
    net = fc.Network.init(4, 5000, seed=3)
    corr = np.corrcoef(net.W[:, 0], net.b)[0, 1]
    assert abs(corr) < 5 / np.sqrt(5000)
    assert len(np.unique(net.W[:, 0])) == 5000


@pytest.mark.parametrize("scheme", fc.INIT_SCHEMES)
@given(seed=seeds, d=st.integers(1, 12), width=st.integers(1, 64))
def test_init_seed_reproducible(scheme, seed, d, width):
    """The same seed gives bit-identical networks; a different seed a different one."""
    a = fc.Network.init(d, width, seed=seed, scheme=scheme)
    b = fc.Network.init(d, width, seed=seed, scheme=scheme)
    c = fc.Network.init(d, width, seed=seed + 1, scheme=scheme)
    assert a == b
    np.testing.assert_array_equal(a.params(), b.params())
    assert not np.array_equal(a.params(), c.params())
    assert (a.d, a.width) == (d, width)


def test_init_default_seed_and_generator_seed():
    """seed defaults to 0; a numpy Generator or SeedSequence is accepted as seed."""
    assert fc.Network.init(3, 4) == fc.Network.init(3, 4, seed=0)
    g1 = fc.Network.init(3, 4, seed=np.random.default_rng(11))
    g2 = fc.Network.init(3, 4, seed=np.random.default_rng(11))
    assert g1 == g2
    s1 = fc.Network.init(3, 4, seed=np.random.SeedSequence(5))
    assert s1 == fc.Network.init(3, 4, seed=np.random.SeedSequence(5))


def test_init_schemes_differ():
    """The three schemes give different parameters for the same seed."""
    nets = [fc.Network.init(5, 10, seed=0, scheme=s) for s in fc.INIT_SCHEMES]
    for i in range(len(nets)):
        for j in range(i + 1, len(nets)):
            assert not np.array_equal(nets[i].W, nets[j].W)


# -------------------------------------------------------------------------------------------------
# params / from_params (the flat layout)
# -------------------------------------------------------------------------------------------------
@given(problems())
def test_params_layout(p):
    """theta = [W row-major (K*d) | b (K) | v (K) | beta], length P = K (d + 2) + 1."""
    net = p.net
    theta = net.params()
    K, d = net.width, net.d
    assert theta.shape == (net.n_params,) == (K * (d + 2) + 1,)
    np.testing.assert_array_equal(theta, ref.pack(net.W, net.b, net.v, net.beta))
    np.testing.assert_array_equal(theta[: K * d].reshape(K, d), net.W)
    np.testing.assert_array_equal(theta[K * d : K * d + K], net.b)
    np.testing.assert_array_equal(theta[K * d + K : K * d + 2 * K], net.v)
    assert theta[-1] == net.beta


@given(problems())
def test_params_from_params_round_trip(p):
    """from_params(params()) == net, and params(from_params(theta)) == theta, bit for bit."""
    net = p.net
    theta = net.params()
    back = fc.Network.from_params(theta, net.d, net.width)
    assert back == net
    rng = np.random.default_rng(0)
    theta2 = rng.standard_normal(net.n_params)
    np.testing.assert_array_equal(fc.Network.from_params(theta2, net.d, net.width).params(), theta2)


def test_params_is_a_copy():
    """Editing the returned theta does not change the network; nor does editing theta after
    from_params."""
    net = fc.Network.init(2, 3, seed=0)
    theta = net.params()
    theta[:] = 0.0
    assert np.any(net.params() != 0)
    t2 = np.arange(13, dtype=float)
    net2 = fc.Network.from_params(t2, 2, 3)
    t2[:] = -1
    np.testing.assert_array_equal(net2.params(), np.arange(13, dtype=float))


# -------------------------------------------------------------------------------------------------
# Evaluation
# -------------------------------------------------------------------------------------------------
@given(problems())
def test_predict_matches_numpy(p):
    """f(x_i) = sum_k v_k relu(w_k . x_i - b_k) + beta, against a NumPy reference, to rounding."""
    W, b, v, beta, X, y = p.arrays
    expected = ref.predict(W, b, v, beta, X)
    scale = ref.output_scale(W, b, v, beta, X, np.zeros_like(y))
    tol = ref.gamma(p.n, p.d, p.width) * scale
    out = p.net.predict(X)
    assert out.shape == (p.n,) and out.dtype == np.float64
    assert np.all(np.abs(out - expected) <= tol)
    np.testing.assert_array_equal(p.net(X), out)
    np.testing.assert_array_equal(fc.predict(p.net, X), out)


def test_predict_bias_sign_and_relu_at_zero():
    """Neuron k is active where w_k . x > b_k (bias subtracted), and relu(0) = 0, exactly."""
    net = fc.Network([[1.0], [-2.0]], [0.5, 1.0], [3.0, 5.0], 0.25)
    X = np.array([[0.0], [0.5], [1.0], [-0.5], [-1.0]])
    # by hand: 3 relu(x - 0.5) + 5 relu(-2x - 1) + 0.25
    expected = 3 * np.maximum(X[:, 0] - 0.5, 0) + 5 * np.maximum(-2 * X[:, 0] - 1, 0) + 0.25
    np.testing.assert_array_equal(net(X), expected)
    np.testing.assert_array_equal(net(X), [0.25, 0.25, 1.75, 0.25, 5.25])


@given(n=st.integers(1, 50), seed=seeds)
def test_predict_accepts_1d_X_when_d_is_1(n, seed):
    """With d = 1 a 1-D X of length n means n points; every function accepts it."""
    p = make_problem(n, 1, 7, seed)
    x1 = p.X[:, 0].copy()
    np.testing.assert_array_equal(p.net(x1), p.net(p.X))
    assert fc.loss(p.net, x1, p.y) == fc.loss(p.net, p.X, p.y)
    np.testing.assert_array_equal(fc.gradient(p.net, x1, p.y), fc.gradient(p.net, p.X, p.y))
    np.testing.assert_array_equal(fc.hessian(p.net, x1, p.y), fc.hessian(p.net, p.X, p.y))
    assert fc.hessian_trace(p.net, x1, p.y) == fc.hessian_trace(p.net, p.X, p.y)
    np.testing.assert_array_equal(fc.trace_per_neuron(p.net, x1), fc.trace_per_neuron(p.net, p.X))
    a = fc.train(p.net, x1, p.y, lr=0.01, steps=3)
    b = fc.train(p.net, p.X, p.y, lr=0.01, steps=3)
    assert a.net == b.net


def test_y_as_column_accepted(problem):
    """y of shape (n, 1) is the same as y of shape (n,)."""
    p = problem
    assert fc.loss(p.net, p.X, p.y[:, None]) == fc.loss(p.net, p.X, p.y)
    np.testing.assert_array_equal(fc.gradient(p.net, p.X, p.y[:, None]), fc.gradient(p.net, p.X, p.y))


def test_predict_is_rowwise(problem):
    """f of a subset of rows equals the same rows of f(X) (no coupling between points)."""
    p = problem
    full = p.net(p.X)
    idx = np.array([5, 0, 17, 199])
    np.testing.assert_allclose(p.net(p.X[idx]), full[idx], rtol=1e-13, atol=1e-13)


# -------------------------------------------------------------------------------------------------
# Pickling
# -------------------------------------------------------------------------------------------------
@pytest.mark.parametrize("protocol", range(2, pickle.HIGHEST_PROTOCOL + 1))
def test_network_pickle_round_trip(protocol, problem):
    """A pickled and unpickled network is equal, bit for bit, and predicts the same."""
    net = problem.net
    back = pickle.loads(pickle.dumps(net, protocol=protocol))
    assert back == net and back is not net
    assert back.W.dtype == np.float64 and back.W.flags.c_contiguous
    np.testing.assert_array_equal(back.params(), net.params())
    np.testing.assert_array_equal(back(problem.X), net(problem.X))
    assert fc.loss(back, problem.X, problem.y) == fc.loss(net, problem.X, problem.y)


def test_network_deepcopy(problem):
    """copy.deepcopy gives an equal, independent network."""
    net = problem.net
    back = copy.deepcopy(net)
    assert back == net
    back.W[0, 0] += 1.0
    assert back != net


def test_repr():
    """repr names the shape."""
    r = repr(fc.Network.init(3, 4))
    assert "d=3" in r and "width=4" in r and "n_params=21" in r
