"""docs/math.md, section 7: the stability inequality and the stable-minima bound
(flatcore.theory.stability), for every theta and data set.

lambda_max comes from the dense Hessian's numpy.linalg.eigvalsh (not flatcore's eigensolver).
"""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

import flatcore as fc
import flatcore.theory as th
from conftest import seeds
from theory_cases import more_examples


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
    modes = draw(
        st.lists(st.sampled_from(["random", "one point", "none", "all", "kink", "zero w"]), min_size=K, max_size=K),
        label="neuron modes",
    )
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
    return np.sum(np.abs(net.v) * phi.mean(axis=0) * np.sqrt(np.sum(mean_ax**2, axis=1) + A.mean(axis=0) ** 2))


@more_examples(4)
@given(adversarial_problems())
def test_stability_inequality_holds_for_every_theta(case):
    """docs/math.md, section 7: the stability inequality holds at any theta.

    lambda_max(H) >= 1 + 2 sum_k |v_k| ||w_k|| gtilde_emp(u_k, t_k) - sqrt(1 + R^2) sqrt(2L), with
    lambda_max from numpy.linalg.eigvalsh of the dense Hessian; tolerance 1e-9 relative to the size of
    the terms (rounding only). The record's pieces are checked against NumPy."""
    net, X, y = case
    lam = float(np.linalg.eigvalsh(fc.hessian(net, X, y))[-1])
    rec = th.stability_inequality(net, X, y, lambda_max=lam)
    R = np.max(np.linalg.norm(X, axis=1))
    r = net.predict(X) - y
    L = 0.5 * np.mean(r**2)
    assert rec.R == pytest.approx(R, rel=1e-14)
    assert rec.loss == pytest.approx(L, rel=1e-9, abs=1e-300)
    ws = weighted_sum_reference(net, X)
    # A point within rounding of a kink may fall on the other side in NumPy's masks than in the
    # core's forward pass (which the Hessian shares, so the inequality holds for the core's): the
    # NumPy reference applies only where the two agree.
    if np.array_equal(((X @ net.W.T - net.b) > 0).mean(axis=0), fc.activation_rates(net, X)):
        assert rec.weighted_sum == pytest.approx(ws, rel=1e-9, abs=1e-300)
    assert rec.residual_term == pytest.approx(np.sqrt(1 + R**2) * np.sqrt(2 * L), rel=1e-9, abs=1e-300)
    assert rec.rhs == 1 + 2 * rec.weighted_sum - rec.residual_term and rec.slack == rec.lhs - rec.rhs
    scale = abs(lam) + 1 + 2 * rec.weighted_sum + rec.residual_term
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
    """Equality in docs/math.md, section 7: n = 1 (Jensen is an equality), L = 0 (no residual part), x = 0 and
    phi = |v| (AM-GM is an equality): lambda_max = ||g_1||^2 = 1 + phi^2 + v^2 = 1 + 2 |v| phi."""
    net = fc.Network([[0.0]], [-2.0], [2.0], 0.0)
    X, y = np.zeros((1, 1)), np.array([4.0])  # f = 2 * 2 = 4 = y: L = 0
    rec = th.stability_inequality(net, X, y, lambda_max=np.linalg.eigvalsh(fc.hessian(net, X, y))[-1])
    # g_1 = (d/dw = v a x = 0, d/db = -v = -2, d/dv = phi = 2, d/dbeta = 1): ||g||^2 = 9 = lambda_max
    assert rec.loss == 0 and rec.lhs == pytest.approx(9.0, rel=1e-14)
    assert rec.weighted_sum == pytest.approx(4.0) and rec.rhs == pytest.approx(9.0)
    assert abs(rec.slack) < 1e-12


def test_gd_converged_stable_minima_obey_the_bound():
    """The consequence in docs/math.md, section 7: after GD at step eta converges (flatcore.train, tol 1e-5)
    to theta with lambda_max <= 2/eta (dense eigvalsh),
    V_g(theta) <= weighted sum <= 1/eta - 1/2 + sqrt(1+R^2) sqrt(2L)/2."""
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


def test_stability_bad_input():
    """Clear ValueError naming the argument."""
    net = fc.Network.init(2, 3)
    X = np.ones((4, 2))
    with pytest.raises(ValueError, match="y has 2 entries"):
        th.stability_inequality(net, X, np.ones(2))
    with pytest.raises(ValueError, match="lr must be positive"):
        th.stability_bound(net, X, np.ones(4), 0.0)
    with pytest.raises(ValueError, match="lambda_max must be finite"):
        th.stability_inequality(net, X, np.ones(4), lambda_max=np.nan)
