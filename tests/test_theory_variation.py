"""docs/math.md, section 6: the weighted variation V_g, its per-neuron terms, the path norm and the
per-neuron side statistics behind the empirical V_g (flatcore.theory.variation, flatcore.neuron_sides).

Independent routes: the public g_empirical and g_population per neuron, and NumPy masks.
"""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given

import flatcore as fc
import flatcore.theory as th
from flatcore import data
from flatcore.theory._gtilde import neuron_gtilde
from theory_cases import networks_and_data


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
    assert th.vg_norm(net, law=data.UniformBall(net.d)) == th.vg_norm(net)


@given(networks_and_data(max_n=200))
def test_activation_rates_match_numpy(case):
    """activation rate_k = mean_i 1[w_k . x_i > b_k]."""
    net, X, _ = case
    expected = (X @ net.W.T - net.b > 0).mean(axis=0)
    np.testing.assert_array_equal(fc.activation_rates(net, X), expected)


@given(networks_and_data(max_n=80))
def test_side_statistics_match_numpy(case):
    """Per neuron and side s = +1 (z > 0) / -1 (z < 0), z_ik = w_k.x_i - b_k: mean_i (s z_ik)_+,
    mean_i 1[s z_ik > 0], mean_i 1[s z_ik > 0] x_i; and neuron_gtilde = excess * ||(moment, -share)||,
    which for w_k != 0 is ||w_k|| gtilde_emp(+-u_k, +-t_k)."""
    net, X, _ = case
    active, inactive = fc.neuron_sides(net, X)
    Z = X @ net.W.T - net.b  # (n, K)
    scale = np.abs(X @ net.W.T).max() + np.abs(net.b).max()  # rounding of z
    for side, s in ((active, 1.0), (inactive, -1.0)):
        mask = (s * Z > 0).astype(float)
        np.testing.assert_allclose(side.excess, np.maximum(s * Z, 0).mean(axis=0), rtol=1e-12, atol=1e-13 * scale)
        np.testing.assert_array_equal(side.share, mask.mean(axis=0))
        np.testing.assert_allclose(side.moment, mask.T @ X / X.shape[0], rtol=1e-12, atol=1e-13 * np.abs(X).max())
    wn = np.linalg.norm(net.W, axis=1)
    nz = wn > 0
    if nz.any():
        U, t = net.W[nz] / wn[nz, None], net.b[nz] / wn[nz]
        xs = np.max(np.linalg.norm(X, axis=1)) + np.abs(t)
        atol = 1e-12 * wn[nz] * xs * (1 + xs)
        for side, sign in ((active, 1.0), (inactive, -1.0)):
            ref = wn[nz] * th.gtilde_empirical(X, sign * U, sign * t)
            assert np.all(np.abs(neuron_gtilde(side)[nz] - ref) <= 1e-9 * ref + atol)


def test_vg_population_of_a_single_neuron():
    """One neuron: V_g = |v| ||w|| g(w/||w||, b/||w||), for the ball (closed form), the Gaussian, a radial
    law (quadrature) and a ball mixture (Monte Carlo: the same seed gives the same estimate)."""
    net = fc.Network([[3.0, 4.0]], [2.5], [-2.0], 0.7)
    assert th.vg_norm(net) == pytest.approx(2 * 5 * th.g_uniform_ball(0.5, 2), rel=1e-14)
    u = np.array([0.6, 0.8])
    for law in (data.Gaussian(2), data.Radial(2, alpha=0.5)):
        assert th.vg_norm(net, law=law) == pytest.approx(10 * th.g_population(u, 0.5, law).g, rel=1e-14)
    mix = data.BallMixture.random(2, 3, seed=1)
    assert th.vg_norm(net, law=mix, n_samples=10_000, seed=4) == pytest.approx(
        10 * th.g_population(u, 0.5, mix, n_samples=10_000, seed=4).g, rel=1e-14
    )


def test_zero_network_and_single_point():
    """All-zero network: V_g = path norm = 0, the inequality still holds (lambda_max = 1 + ...);
    one data point works everywhere."""
    net = fc.Network(np.zeros((3, 2)), np.zeros(3), np.zeros(3), 0.0)
    X, y = np.array([[0.3, -0.2]]), np.array([1.5])
    assert th.vg_norm(net, X) == 0 and th.vg_norm(net) == 0 and th.path_norm(net) == 0
    np.testing.assert_array_equal(fc.activation_rates(net, X), 0.0)
    rec = th.stability_inequality(net, X, y)
    assert rec.holds and rec.weighted_sum == 0
    assert th.min_trace(net, X, y) == 1.0
    assert th.balance_for_min_trace(net, X) == net
    # one point: gtilde(e1, 0) = P^2 (x.e1) sqrt(1 + ||x||^2) with P = 1; the other side has no point
    assert th.gtilde_empirical(X, np.array([1.0, 0.0]), 0.0) == pytest.approx(0.3 * np.sqrt(1 + 0.09 + 0.04))
    assert th.g_empirical(X, np.array([1.0, 0.0]), 0.0) == 0.0
    assert th.stability_bound(net, X, y, 0.1).holds


def test_variation_bad_input():
    """Clear ValueError/TypeError naming the argument."""
    net = fc.Network.init(2, 3)
    X = np.ones((4, 2))
    with pytest.raises(ValueError, match="not both"):
        th.vg_norm(net, X, law=data.Gaussian(2))
    with pytest.raises(ValueError, match="has d = 3 but the network's inputs have d = 2"):
        th.vg_contributions(net, law=data.UniformBall(3))
    with pytest.raises(ValueError, match="has d = 3 but the network's inputs have d = 2"):
        th.vg_norm(fc.Network(np.zeros((3, 2)), np.zeros(3), np.ones(3), 0.0), law=data.Gaussian(3))
    with pytest.raises(TypeError, match="not a name"):
        th.vg_norm(net, law="gaussian")
    with pytest.raises(TypeError, match=r"net must be a flatcore\.Network"):
        th.path_norm("net")
    with pytest.raises(ValueError, match="X has no rows"):
        fc.activation_rates(net, np.zeros((0, 2)))
    with pytest.raises(ValueError, match="X has 3 columns"):
        th.vg_norm(net, np.ones((2, 3)))
