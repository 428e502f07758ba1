"""The certified GD step (docs/math.md, section 2.4): only the (point, neuron) pairs that
can be active are evaluated, with a proof that the others are not.

Checked against the dense kernel at every step of long runs (the same mask and pre-activations
bit for bit; the loss and every gradient entry to 1e-13 relative to the size of the terms summed,
the scale of their rounding), on whole trajectories, on adversarial inputs
(points on a kink, duplicated points, flipping neurons, divergence), across thread counts and
across a run done in pieces.
"""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import flatcore as fc
from flatcore import _core


def shattering(d=10, n=256, width=512, seed=0):
    """The paper's shattering set-up, smaller: y = w*.x + N(0, 1) on the ball, Kaiming weights."""
    ds = fc.data.draw(fc.data.UniformBall(d), fc.data.Linear(d, seed=seed), n=n, noise=1.0, seed=seed)
    return fc.Network.init(d=d, width=width, seed=seed, scheme="kaiming"), ds.X, ds.y


def check(net, X, y, **kwargs):
    c = _core._check_certified_steps(net, X, y, **kwargs)
    assert c["mask_mismatches"] == 0, c
    assert c["value_mismatches"] == 0, c  # the dense kernels' pre-activations, bit for bit
    assert c["max_loss_error"] <= 1e-13, c
    assert c["max_gradient_error"] <= 1e-13, c
    return c


@pytest.mark.parametrize(
    "d, n, width, lr, weight_decay, loss",
    [
        (10, 256, 512, 0.9, 0.0, "mse"),  # shattering at the edge of stability
        (5, 128, 256, 0.2, 0.0, "mse"),  # E3's large step
        (3, 128, 256, 0.01, 0.1, "mse"),  # E3's small step with weight decay (dense-like)
        (2, 64, 128, 0.5, 0.0, "half_mse"),
    ],
)
def test_every_step_matches_the_dense_kernel(d, n, width, lr, weight_decay, loss):
    net, X, y = shattering(d, n, width)
    c = check(net, X, y, lr=lr, steps=1200, loss=loss, weight_decay=weight_decay, clip_grad_norm=50.0)
    assert c["steps"] == 1200 and np.all(np.isfinite(c["losses"]))
    if lr >= 0.5 and d >= 5:  # shattered: far fewer pairs than the dense step's
        assert c["pairs"] < 0.2 * (c["steps"] + 1) * n * width


@settings(deadline=None)
@given(
    d=st.integers(1, 6),
    n=st.integers(1, 60),
    width=st.integers(1, 40),
    lr=st.sampled_from([0.05, 0.5, 2.0]),
    seed=st.integers(0, 2**16),
)
def test_random_problems_match_the_dense_kernel(d, n, width, lr, seed):
    rng = np.random.default_rng(seed)
    X, y = rng.standard_normal((n, d)), rng.standard_normal(n)
    net = fc.Network(rng.standard_normal((width, d)), rng.standard_normal(width), rng.standard_normal(width), 0.3)
    c = _core._check_certified_steps(net, X, y, lr=lr, steps=40, clip_grad_norm=10.0)
    assert c["mask_mismatches"] == 0 and c["value_mismatches"] == 0, c
    if np.isfinite(c["losses"]).all():  # to rounding, relative to the size of the terms summed
        assert c["max_loss_error"] <= 1e-13 and c["max_gradient_error"] <= 1e-13, c


def test_points_exactly_on_a_kink():
    """Integer data and weights with b_k = w_k . x_i exactly: z_ik = 0, inactive (relu'(0) = 0),
    and the steps that follow move them off the kink on either side."""
    rng = np.random.default_rng(1)
    X = rng.integers(-3, 4, size=(40, 3)).astype(float)
    W = rng.integers(-2, 3, size=(24, 3)).astype(float)
    b = np.array([W[k] @ X[k % 40] for k in range(24)])  # every neuron has a point on its kink
    net = fc.Network(W, b, rng.standard_normal(24) * 0.1, 0.0)
    y = rng.standard_normal(40)
    assert np.sum(X @ W.T - b == 0.0) >= 24
    check(net, X, y, lr=0.01, steps=200)


def test_duplicated_points_and_zero_neurons():
    net, X, y = shattering(4, 64, 96)
    X = np.vstack([X, X[:20], X[:5]])  # duplicated rows
    y = np.concatenate([y, y[:20], -y[:5]])  # the same point with different labels too
    W = net.W.copy()
    W[:10] = 0.0  # neurons with zero weights: z = -b everywhere
    net = fc.Network(W, net.b, net.v, net.beta)
    check(net, X, y, lr=0.3, steps=500, weight_decay=0.01)


def test_flipping_neurons():
    """A step size far past 2/sharpness: neurons cross their kinks back and forth every step."""
    net, X, y = shattering(3, 80, 64)
    c = check(net, X, y, lr=3.0, steps=300, clip_grad_norm=1.0)
    assert c["refreshes"] > 64  # the references had to be taken again and again


def test_divergence_is_the_same_as_dense():
    net, X, y = shattering(5, 64, 64)
    dense = fc.train(net, X, y, lr=40.0, steps=200, kernel="dense")
    certified = fc.train(net, X, y, lr=40.0, steps=200, kernel="certified")
    assert dense.diverged and certified.diverged
    assert certified.diverged_step == dense.diverged_step
    np.testing.assert_allclose(certified.history["loss"], dense.history["loss"], rtol=1e-10)


def test_trajectories_agree_to_rounding():
    net, X, y = shattering(10, 256, 512)
    kwargs = dict(lr=0.9, steps=100, loss="mse", clip_grad_norm=50.0, record_every=1)
    dense = fc.train(net, X, y, kernel="dense", **kwargs)
    certified = fc.train(net, X, y, kernel="certified", **kwargs)
    np.testing.assert_allclose(certified.history["loss"], dense.history["loss"], rtol=1e-11)
    np.testing.assert_array_equal(certified.history["active_fraction"], dense.history["active_fraction"])
    np.testing.assert_allclose(certified.net.params(), dense.net.params(), rtol=1e-9, atol=1e-12)
    assert certified.kernel_stats["certified_steps"] == 101 and dense.kernel_stats["certified_steps"] == 0
    assert certified.kernel_stats["pairs_share"] < 0.5
    assert dense.kernel_stats["pairs_share"] == 1.0


def test_auto_switches_to_certified_once_shattered():
    net, X, y = shattering(10, 256, 512)
    kwargs = dict(lr=0.9, steps=1000, loss="mse", clip_grad_norm=50.0)
    auto = fc.train(net, X, y, **kwargs)
    dense = fc.train(net, X, y, kernel="dense", **kwargs)
    stats = auto.kernel_stats
    assert stats["certified_steps"] > 500 and stats["dense_steps"] >= 65  # dense until the first check
    assert stats["pairs_share"] < 0.3
    np.testing.assert_allclose(auto.history["loss"][:3], dense.history["loss"][:3], rtol=1e-12)
    assert auto.config["kernel"] == "auto"


def test_independent_of_the_thread_count():
    net, X, y = shattering(6, 200, 300)
    kwargs = dict(lr=0.5, steps=300, clip_grad_norm=50.0, record_every=1)
    runs = [fc.train(net, X, y, kernel="certified", n_threads=t, **kwargs) for t in (1, 2, 3)]
    for r in runs[1:]:
        np.testing.assert_array_equal(r.history["loss"], runs[0].history["loss"])
        np.testing.assert_array_equal(r.net.params(), runs[0].net.params())


@pytest.mark.parametrize("kernel", ["auto", "certified"])
def test_a_run_in_pieces_equals_the_run_at_once(kernel):
    """The certified results do not depend on the references (which a new piece takes afresh),
    and auto's choice travels in the result, so the pieces take the same steps bit for bit."""
    net, X, y = shattering(10, 256, 512)
    kwargs = dict(lr=0.9, loss="mse", clip_grad_norm=50.0, record_every=50, kernel=kernel)
    whole = fc.train(net, X, y, steps=600, **kwargs)
    first = fc.train(net, X, y, steps=250, **kwargs)
    rest = fc.train(first, X, y, steps=350, **kwargs)
    assert rest == whole
    np.testing.assert_array_equal(rest.net.params(), whole.net.params())
    if kernel == "certified":  # the step where the pieces meet is computed by both
        assert rest.kernel_stats["certified_steps"] == whole.kernel_stats["certified_steps"] + 1


def test_bad_kernel_names_are_refused():
    net, X, y = shattering(2, 16, 8)
    with pytest.raises(ValueError, match="kernel"):
        fc.train(net, X, y, lr=0.1, steps=2, kernel="sparse")


# -------------------------------------------------------------------------------------------------
# The Hessian operator: at a fixed point the mask is known, so products can run over the listed
# active pairs only.
# -------------------------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def shattered():
    net, X, y = shattering(10, 256, 512)
    result = fc.train(net, X, y, lr=0.9, steps=1500, loss="mse", clip_grad_norm=50.0)
    assert result.history["active_fraction"][-1] < 0.05
    return result.net, X, y


@pytest.mark.parametrize("part", fc.HESSIAN_PARTS)
def test_listed_products_equal_dense_ones_to_rounding(shattered, part):
    net, X, y = shattered
    dense = fc.hessian_operator(net, X, y, part=part, loss="mse", kernel="dense")
    listed = fc.hessian_operator(net, X, y, part=part, loss="mse", kernel="certified")
    auto = fc.hessian_operator(net, X, y, part=part, loss="mse")
    assert not dense.lists_active_pairs and listed.lists_active_pairs and auto.lists_active_pairs
    U = np.random.default_rng(0).standard_normal((net.n_params, 3))
    want, got = dense.matmat(U), listed.matmat(U)
    assert np.max(np.abs(got - want)) <= 1e-13 * np.max(np.abs(want))
    np.testing.assert_array_equal(auto.matmat(U), got)


def test_listed_products_do_not_depend_on_the_thread_count(shattered):
    net, X, y = shattered
    u = np.random.default_rng(1).standard_normal(net.n_params)
    products = [fc.hessian_operator(net, X, y, kernel="certified", n_threads=t).matvec(u) for t in (1, 2, 3)]
    for p in products[1:]:
        np.testing.assert_array_equal(p, products[0])


def test_auto_keeps_dense_products_where_many_pairs_are_active():
    net, X, y = shattering(3, 128, 64)  # at initialisation about half the pairs are active
    assert not fc.hessian_operator(net, X, y).lists_active_pairs
    assert fc.hessian_operator(net, X, y, kernel="certified").lists_active_pairs
    assert not fc.hessian_operator(net, X, y, kernel="certified", cache=False).lists_active_pairs  # needs them


def test_sharpness_from_listed_products(shattered):
    import scipy.sparse.linalg as sla

    net, X, y = shattered
    values = {
        k: sla.eigsh(fc.hessian_operator(net, X, y, loss="mse", kernel=k), k=1, which="LA", tol=1e-12)[0][0]
        for k in ("dense", "certified")
    }
    assert values["certified"] == pytest.approx(values["dense"], rel=1e-10)
    kwargs = dict(lr=0.9, steps=200, loss="mse", clip_grad_norm=50.0, sharpness_every=50)
    start = fc.train(*shattering(10, 256, 512), lr=0.9, steps=1500, loss="mse", clip_grad_norm=50.0)
    with_listed = fc.train(start, X, y, kernel="certified", **kwargs)
    with_dense = fc.train(start, X, y, kernel="dense", **kwargs)
    np.testing.assert_allclose(with_listed.history["sharpness"], with_dense.history["sharpness"], rtol=1e-8)


def test_the_operator_pickles_with_its_kernel(shattered):
    import pickle

    net, X, y = shattered
    op = fc.hessian_operator(net, X, y, kernel="dense")
    back = pickle.loads(pickle.dumps(op))
    assert back.kernel == "dense" and not back.lists_active_pairs
    with pytest.raises(ValueError, match="kernel"):
        fc.hessian_operator(net, X, y, kernel="sparse")
