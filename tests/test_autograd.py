"""docs/math.md, sections 1-3 against PyTorch autograd (float64), when torch is installed.

L(theta) is written in torch as a function of the flat theta = [W row-major | b | v | beta];
torch's relu has derivative 0 at 0, the convention of section 1. Loss, gradient, the full
Hessian (torch.autograd.functional.hessian), its Gauss-Newton part (J^T J / n with J from
torch.autograd.functional.jacobian of f) and Hessian-vector products must agree to 1e-10
relative to the size of each entry's terms.
"""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import assume, given

import flatcore as fc
import reference as ref
from conftest import seeds, small_problems
from test_gradient import KINK_MARGIN

torch = pytest.importorskip("torch")

RTOL = 1e-10


def torch_unpack(th, d, K):
    """theta = [W row-major | b | v | beta] (a torch tensor) -> (W, b, v, beta), views that autograd follows."""
    return th[: K * d].reshape(K, d), th[K * d : K * d + K], th[K * d + K : K * d + 2 * K], th[-1]


def _torch_inputs(p):
    X = torch.as_tensor(p.X, dtype=torch.float64)
    y = torch.as_tensor(p.y, dtype=torch.float64)
    theta = torch.as_tensor(p.net.params(), dtype=torch.float64)
    d, K = p.d, p.width

    def f(th):
        W, b, v, beta = torch_unpack(th, d, K)
        return torch.relu(X @ W.T - b) @ v + beta

    def L(th):
        r = f(th) - y
        return 0.5 * torch.mean(r * r)

    return theta, f, L


def _check(actual, expected, scale, what):
    """|actual - expected| <= RTOL * (|expected| + scale) entrywise, scale = size of the terms."""
    actual, expected = np.asarray(actual), np.asarray(expected)
    bad = np.abs(actual - expected) > RTOL * (np.abs(expected) + scale)
    assert not bad.any(), (what, np.argwhere(bad)[:5].tolist(), actual[bad][:5], expected[bad][:5])


@given(small_problems())
def test_loss_and_gradient_match_autograd(p):
    """L and grad L (section 2) against torch.autograd."""
    W, b, v, beta, X, y = p.arrays
    assume(ref.relative_kink_margin(W, b, X) > KINK_MARGIN)
    theta, _, L = _torch_inputs(p)
    th = theta.clone().requires_grad_(True)
    Lt = L(th)
    (gt,) = torch.autograd.grad(Lt, th)
    value, grad = fc.loss_and_gradient(p.net, X, y)
    _check(value, Lt.item(), ref.loss_scale(W, b, v, beta, X, y), "loss")
    _check(fc.loss(p.net, X, y), Lt.item(), ref.loss_scale(W, b, v, beta, X, y), "loss")
    _check(grad, gt.numpy(), ref.gradient_scale(W, b, v, beta, X, y), "gradient")


@given(small_problems())
def test_hessian_matches_autograd(p):
    """The dense closed-form Hessian (section 3) against torch.autograd.functional.hessian, and
    its Gauss-Newton and residual parts against J^T J / n and H - J^T J / n from torch."""
    W, b, v, beta, X, y = p.arrays
    assume(ref.relative_kink_margin(W, b, X) > KINK_MARGIN)
    theta, f, L = _torch_inputs(p)
    Ht = torch.autograd.functional.hessian(L, theta, vectorize=True).numpy()
    Jt = torch.autograd.functional.jacobian(f, theta, vectorize=True).numpy()
    Gt = Jt.T @ Jt / p.n
    scale = ref.hessian_scale(W, b, v, beta, X, y)
    _check(fc.hessian(p.net, X, y), Ht, scale, "full")
    _check(fc.hessian(p.net, X, y, part="gauss_newton"), Gt, scale, "gauss_newton")
    _check(fc.hessian(p.net, X, y, part="residual"), Ht - Gt, scale, "residual")
    # the trace, exactly as section 3 states it: tr H = (1/n) sum_i ||g_i||^2 = trace of autograd's H
    _check(fc.hessian_trace(p.net, X, y), np.trace(Ht), np.trace(scale), "trace")


@given(small_problems(), seeds)
def test_hvp_matches_autograd(p, useed):
    """H u (full, and the parts via J^T (J u) / n) against torch.autograd.functional.hvp / jvp."""
    W, b, v, beta, X, y = p.arrays
    assume(ref.relative_kink_margin(W, b, X) > KINK_MARGIN)
    theta, f, L = _torch_inputs(p)
    u = np.random.default_rng(useed).standard_normal(p.net.n_params)
    ut = torch.as_tensor(u)
    _, Hu_t = torch.autograd.functional.hvp(L, theta, ut)
    _, Ju = torch.autograd.functional.jvp(f, theta, ut)
    _, GNu_t = torch.autograd.functional.vjp(f, theta, Ju / p.n)
    scale = ref.hessian_scale(W, b, v, beta, X, y) @ np.abs(u)
    _check(fc.hvp(p.net, X, y, u), Hu_t.numpy(), scale, "full")
    _check(fc.hvp(p.net, X, y, u, part="gauss_newton"), GNu_t.numpy(), scale, "gauss_newton")
    _check(fc.hvp(p.net, X, y, u, part="residual"), (Hu_t - GNu_t).numpy(), scale, "residual")


@pytest.mark.parametrize("clip", [None, 0.3])
def test_training_matches_torch_sgd(clip):
    """train with weight decay (and clipping) = torch.optim.SGD(weight_decay on W, v) after
    clip_grad_norm_ (what the train docstring promises), 50 full-batch steps. Without clipping
    to 1e-10; with clipping to 1e-5 only, because torch's clip_grad_norm_ scales by
    max_norm / (norm + 1e-6) where flatcore (and the NumPy tests) use max_norm / norm."""
    X, y = fc.data.regression(128, 4, seed=3)
    net = fc.Network.init(4, 20, seed=4)
    lr, wd, steps = 0.05, 1e-2, 50
    res = fc.train(net, X, y, lr=lr, steps=steps, weight_decay=wd, clip_grad_norm=clip)

    Xt, yt = torch.as_tensor(X), torch.as_tensor(y)
    W = torch.tensor(net.W, dtype=torch.float64, requires_grad=True)
    b = torch.tensor(net.b, dtype=torch.float64, requires_grad=True)
    v = torch.tensor(net.v, dtype=torch.float64, requires_grad=True)
    beta = torch.tensor(net.beta, dtype=torch.float64, requires_grad=True)
    opt = torch.optim.SGD([{"params": [W, v], "weight_decay": wd}, {"params": [b, beta], "weight_decay": 0.0}], lr=lr)
    clipped = 0
    for _ in range(steps):
        opt.zero_grad()
        r = torch.relu(Xt @ W.T - b) @ v + beta - yt
        (0.5 * torch.mean(r * r)).backward()
        if clip is not None:
            clipped += float(torch.nn.utils.clip_grad_norm_([W, b, v, beta], clip)) > clip
        opt.step()
    expected = np.concatenate([W.detach().numpy().ravel(), b.detach().numpy(), v.detach().numpy(), [beta.item()]])
    rtol = 1e-10 if clip is None else 1e-5
    if clip is not None:
        assert clipped >= 10  # clipping was active
    np.testing.assert_allclose(res.net.params(), expected, rtol=rtol, atol=rtol * np.abs(expected).max())


def test_mse_training_matches_torch_mseloss_and_sgd():
    """train(loss="mse", decay_biases=True) = torch.nn.MSELoss with torch.optim.SGD(weight_decay)
    on every parameter, PyTorch's defaults, step for step (the train docstring's promise)."""
    X, y = fc.data.regression(100, 3, seed=8)
    net = fc.Network.init(3, 16, seed=9)
    lr, wd, steps = 0.05, 1e-2, 40
    res = fc.train(net, X, y, lr=lr, steps=steps, loss="mse", weight_decay=wd, decay_biases=True, record_every=1)

    Xt, yt = torch.as_tensor(X), torch.as_tensor(y)
    params = [torch.tensor(a, dtype=torch.float64, requires_grad=True) for a in (net.W, net.b, net.v, net.beta)]
    W, b, v, beta = params
    opt = torch.optim.SGD(params, lr=lr, weight_decay=wd)
    mse = torch.nn.MSELoss()
    losses = []
    for _ in range(steps):
        opt.zero_grad()
        loss = mse(torch.relu(Xt @ W.T - b) @ v + beta, yt)
        losses.append(loss.item())
        loss.backward()
        opt.step()
    expected = np.concatenate([W.detach().numpy().ravel(), b.detach().numpy(), v.detach().numpy(), [beta.item()]])
    np.testing.assert_allclose(res.net.params(), expected, rtol=1e-10, atol=1e-10 * np.abs(expected).max())
    np.testing.assert_allclose(res.history["loss"][:steps], losses, rtol=1e-10)
