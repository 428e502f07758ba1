"""The loss convention (docs/math.md, sections 1.3, 2.2 and 7.3).

"mse" (L = 1/n sum r^2, PyTorch's MSELoss) is exactly twice "half_mse" (L = 1/(2n) sum r^2): so
are its gradient, Hessian, Hessian-vector products, trace and eigenvalues, to the last bit where
the core only scales (a factor 2 is exact in floating point). GD at step eta on "mse" with weight
decay lambda and clipping norm c is GD at step 2 eta on "half_mse" with lambda/2 and c/2, also to
the last bit. The theory's bounds, stated for the loss GD descends, agree between the two.
"""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given

import flatcore as fc
from conftest import problems, small_problems


def test_the_conventions_and_their_factor():
    assert fc.LOSSES == ("half_mse", "mse")
    assert fc.loss_scale("half_mse") == 1.0 and fc.loss_scale("mse") == 2.0
    with pytest.raises(ValueError, match="loss must be one of"):
        fc.loss_scale("l2")


@given(problems(max_n=120))
def test_loss_gradient_hvp_and_trace_double_exactly(p):
    X, y, net = p.X, p.y, p.net
    assert fc.loss(net, X, y, loss="mse") == 2 * fc.loss(net, X, y)
    L_half, g_half = fc.loss_and_gradient(net, X, y)
    L_mse, g_mse = fc.loss_and_gradient(net, X, y, loss="mse")
    assert L_mse == 2 * L_half
    np.testing.assert_array_equal(g_mse, 2 * g_half)
    np.testing.assert_array_equal(fc.gradient(net, X, y, loss="mse"), 2 * g_half)
    # The mse loss from its definition, independently of the core's factor.
    r = net(X) - y
    np.testing.assert_allclose(L_mse, np.mean(r * r), rtol=1e-12, atol=1e-300)

    u = np.random.default_rng(0).standard_normal(net.n_params)
    for part in fc.HESSIAN_PARTS:
        np.testing.assert_array_equal(fc.hvp(net, X, y, u, part=part, loss="mse"), 2 * fc.hvp(net, X, y, u, part=part))
        assert fc.hessian_trace(net, X, y, part=part, loss="mse") == 2 * fc.hessian_trace(net, X, y, part=part)
    A, B = fc.trace_terms(net, X)
    A2, B2 = fc.trace_terms(net, X, loss="mse")
    np.testing.assert_array_equal(A2, 2 * A)
    np.testing.assert_array_equal(B2, 2 * B)
    assert fc.hessian_trace(net, X, y, loss="mse") == pytest.approx(2 + np.sum(A2 + B2), rel=1e-13)


@given(small_problems())
def test_dense_hessian_and_spectrum_double(p):
    X, y, net = p.X, p.y, p.net
    for part in fc.HESSIAN_PARTS:
        H = fc.hessian(net, X, y, part=part)
        np.testing.assert_array_equal(fc.hessian(net, X, y, part=part, loss="mse"), 2 * H)
    half, mse = fc.exact_spectrum(net, X, y), fc.exact_spectrum(net, X, y, loss="mse")
    scale = np.abs(half).max(initial=1e-300)
    np.testing.assert_allclose(mse, 2 * half, rtol=1e-12, atol=1e-12 * scale)


def test_sharpness_and_operators_double(problem):
    X, y, net = problem.X, problem.y, problem.net
    for method in ("dense", "lanczos"):
        half = fc.sharpness(net, X, y, method=method)
        assert fc.sharpness(net, X, y, method=method, loss="mse") == pytest.approx(2 * half, rel=1e-9)
    both = fc.top_eigs(net, X, y, 2, "both", method="lanczos", loss="mse")
    ref = fc.top_eigs(net, X, y, 2, "both", method="lanczos")
    np.testing.assert_allclose(both.values, 2 * ref.values, rtol=1e-8, atol=1e-8 * abs(ref.values).max())
    op = fc.hessian_operator(net, X, y, loss="mse")
    u = np.random.default_rng(1).standard_normal(net.n_params)
    np.testing.assert_array_equal(op.matvec(u), 2 * fc.hvp(net, X, y, u))
    assert op.loss == "mse" and "loss='mse'" in repr(op)
    density = fc.spectral_density(net, X, y, n_probes=2, lanczos_steps=10, loss="mse")
    np.testing.assert_allclose(
        density.nodes, 2 * fc.spectral_density(net, X, y, n_probes=2, lanczos_steps=10).nodes, rtol=1e-9, atol=1e-12
    )


@pytest.mark.parametrize("bad", ["MSE", "l2", None, 2])
def test_an_unknown_convention_is_refused_everywhere(problem, bad):
    X, y, net = problem.X, problem.y, problem.net
    calls = [
        lambda: fc.loss(net, X, y, loss=bad),
        lambda: fc.gradient(net, X, y, loss=bad),
        lambda: fc.hessian(net, X, y, loss=bad),
        lambda: fc.hvp(net, X, y, np.zeros(net.n_params), loss=bad),
        lambda: fc.hessian_trace(net, X, y, loss=bad),
        lambda: fc.trace_terms(net, X, loss=bad),
        lambda: fc.sharpness(net, X, y, loss=bad),
        lambda: fc.hessian_operator(net, X, y, loss=bad),
        lambda: fc.train(net, X, y, 0.1, 1, loss=bad),
        lambda: fc.theory.stability_bound(net, X, y, 0.1, loss=bad),
        lambda: fc.theory.stability_inequality(net, X, y, loss=bad),
        lambda: fc.theory.min_trace(net, X, loss=bad),
    ]
    for call in calls:
        with pytest.raises(ValueError, match="loss must be one of"):
            call()


# -------------------------------------------------------------------------------------------------
# Gradient descent: "mse" at (eta, lambda, c) is "half_mse" at (2 eta, lambda / 2, c / 2)
# -------------------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    "config",
    [
        dict(),
        dict(weight_decay=0.05),
        dict(weight_decay=0.05, decay_biases=True),
        dict(clip_grad_norm=0.2),
        dict(weight_decay=0.02, decay_biases=True, clip_grad_norm=0.2),
    ],
    ids=str,
)
def test_mse_descent_is_half_mse_descent_at_twice_the_step(config):
    X, y = fc.data.regression(150, 3, noise=0.3, seed=5)
    net = fc.Network.init(3, 30, seed=6)
    lr, steps = 0.05, 60
    mse = fc.train(net, X, y, lr, steps, loss="mse", sharpness_every=20, **config)
    half_config = dict(config)
    if "weight_decay" in config:
        half_config["weight_decay"] = config["weight_decay"] / 2
    if "clip_grad_norm" in config:
        half_config["clip_grad_norm"] = config["clip_grad_norm"] / 2
    half = fc.train(net, X, y, 2 * lr, steps, sharpness_every=20, **half_config)
    np.testing.assert_array_equal(mse.net.params(), half.net.params())
    np.testing.assert_array_equal(mse.history["loss"], 2 * half.history["loss"])
    np.testing.assert_array_equal(mse.history["grad_norm"], 2 * half.history["grad_norm"])
    np.testing.assert_allclose(mse.history["sharpness"], 2 * half.history["sharpness"], rtol=1e-8)
    assert mse.config["loss"] == "mse" and half.config["loss"] == "half_mse"
    if "clip_grad_norm" in config:  # the clipping was active, so the matching was tested
        assert half.history["grad_norm"][0] > half_config["clip_grad_norm"]


# -------------------------------------------------------------------------------------------------
# The theory, in the terms of the loss that GD descends
# -------------------------------------------------------------------------------------------------
def test_stability_inequality_and_bound_in_either_convention(problem):
    X, y, net = problem.X, problem.y, problem.net
    half = fc.theory.stability_inequality(net, X, y)
    mse = fc.theory.stability_inequality(net, X, y, loss="mse")
    assert mse.lhs == pytest.approx(2 * half.lhs, rel=1e-9)
    assert mse.rhs == pytest.approx(2 * half.rhs, rel=1e-12, abs=1e-12)
    assert mse.loss == pytest.approx(2 * half.loss, rel=1e-14)
    assert mse.weighted_sum == half.weighted_sum and mse.holds and half.holds

    # Stable at eta on "mse" is stable at 2 eta on "half_mse": the same bound on V_g.
    lr = 0.3
    b_mse = fc.theory.stability_bound(net, X, y, lr, loss="mse")
    b_half = fc.theory.stability_bound(net, X, y, 2 * lr)
    assert b_mse.bound == pytest.approx(b_half.bound, rel=1e-14)
    assert b_mse.vg == b_half.vg and b_mse.loss == pytest.approx(2 * b_half.loss, rel=1e-14)
    assert fc.theory.min_trace(net, X, loss="mse") == pytest.approx(2 * fc.theory.min_trace(net, X), rel=1e-14)


def test_the_mse_bound_holds_where_mse_descent_is_stable():
    """A network trained by GD on "mse" at step eta, once its sharpness (of the mse Hessian) is
    below 2/eta, has V_g below the "mse" bound for eta."""
    X, y = fc.data.regression(80, 2, noise=0.2, seed=1)
    net = fc.Network.init(2, 20, seed=2)
    lr = 0.2
    res = fc.train(net, X, y, lr, 3000, loss="mse")
    lam = fc.sharpness(res.net, X, y, loss="mse")
    assert lam <= 2 / lr, "the run did not reach a stable region; the test needs a longer run"
    bound = fc.theory.stability_bound(res.net, X, y, lr, loss="mse")
    assert bound.holds and bound.weighted_sum <= bound.bound
