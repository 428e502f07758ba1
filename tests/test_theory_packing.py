"""docs/math.md, section 9: the packing of boundary-localised neurons (flatcore.theory.packing)."""

from __future__ import annotations

import numpy as np
import pytest

import flatcore as fc
import flatcore.theory as th
from flatcore import data


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
    P = data.UniformBall(d).marginal_tail(1 - epss).P
    rp = P / epss ** ((d + 1) / 2)
    rg = th.g_uniform_ball(1 - epss, d) / epss ** (d + 2)
    assert rp.max() / rp.min() < 2 and rg.max() / rg.min() < 2
    net = th.boundary_packing(d, 0.1, amplitude=3.0, max_neurons=50, seed=0)
    X = fc.data.uniform_ball(400_000, d, seed=9)
    rates = fc.activation_rates(net, X)
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


def test_packing_bad_input():
    """Clear ValueError naming the argument."""
    with pytest.raises(ValueError, match="eps must be in"):
        th.boundary_packing(3, 1.5)
    with pytest.raises(ValueError, match="eps must be positive"):
        th.boundary_packing(3, 0.0)
    with pytest.raises(ValueError, match="signs must have one entry per neuron"):
        th.boundary_packing(2, 0.3, signs=[1.0])
    with pytest.raises(ValueError, match="signs must be"):
        th.boundary_packing(1, 0.3, signs=[1.0, 0.5])
    with pytest.raises(ValueError, match="d must be at least 1"):
        th.boundary_packing(0, 0.3)
