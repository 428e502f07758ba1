"""PyTorch interop: flatcore.from_torch and Network.to_torch (flatcore[torch]).

A network survives the trip through PyTorch unchanged, every accepted module form converts to
the function PyTorch computes, everything else is refused with a message saying what is
supported, and a model trained in PyTorch gets from flatcore the gradient, sharpness and Hessian
trace that autograd gives. Without PyTorch, flatcore imports and says how to install it.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

import flatcore as fc
import reference as ref
from test_autograd import torch_unpack
from test_gradient import KINK_MARGIN

torch = pytest.importorskip("torch")
nn = torch.nn

PYTHON_DIR = str(Path(fc.__file__).resolve().parents[1])


def _sequential(d, K, *, bias1=True, bias2=True, dtype=torch.float64, seed=0):
    torch.manual_seed(seed)
    return nn.Sequential(nn.Linear(d, K, bias=bias1), nn.ReLU(), nn.Linear(K, 1, bias=bias2)).to(dtype)


class TwoLayer(nn.Module):
    """The custom form: two Linear layers and a ReLU module as attributes."""

    def __init__(self, d, K):
        super().__init__()
        self.hidden = nn.Linear(d, K)
        self.act = nn.ReLU()
        self.out = nn.Linear(K, 1)

    def forward(self, x):
        return self.out(self.act(self.hidden(x))).squeeze(-1)


class TwoLayerFunctionalRelu(nn.Module):
    """The custom form without a ReLU module (torch.relu in forward)."""

    def __init__(self, d, K):
        super().__init__()
        self.hidden = nn.Linear(d, K)
        self.out = nn.Linear(K, 1)

    def forward(self, x):
        return self.out(torch.relu(self.hidden(x)))


class TwoLayerTanh(TwoLayerFunctionalRelu):
    """The right submodules, but another function."""

    def forward(self, x):
        return self.out(torch.tanh(self.hidden(x)))


class TwoLayerWithScale(TwoLayerFunctionalRelu):
    """The right submodules and a parameter of its own."""

    def __init__(self, d, K):
        super().__init__(d, K)
        self.scale = nn.Parameter(torch.ones(()))

    def forward(self, x):
        return self.scale * super().forward(x)


class OutputFirst(nn.Module):
    """The two layers registered in the wrong order."""

    def __init__(self, d, K):
        super().__init__()
        self.out = nn.Linear(K, 1)
        self.hidden = nn.Linear(d, K)

    def forward(self, x):
        return self.out(torch.relu(self.hidden(x)))


def _forward(module, X) -> np.ndarray:
    w = next(module.parameters())
    with torch.no_grad():
        return module(torch.as_tensor(X, dtype=w.dtype)).to(torch.float64).numpy().reshape(-1)


# -------------------------------------------------------------------------------------------------
# Round trips and forward values
# -------------------------------------------------------------------------------------------------
@pytest.mark.parametrize(("d", "K"), [(1, 1), (3, 16), (7, 40)])
def test_round_trip_through_torch_is_exact(d, K):
    net = fc.Network.init(d, K, seed=d + K)
    module = net.to_torch(torch.float64)
    assert isinstance(module, nn.Sequential)
    assert [type(m) for m in module] == [nn.Linear, nn.ReLU, nn.Linear]
    assert (module[0].in_features, module[0].out_features, module[2].out_features) == (d, K, 1)
    assert all(p.dtype == torch.float64 and p.requires_grad for p in module.parameters())
    # the sign convention: torch's bias is -b
    np.testing.assert_array_equal(module[0].bias.detach().numpy(), -net.b)
    back = fc.from_torch(module)
    assert back == net
    assert back.W.dtype == np.float64 and back.W.flags.c_contiguous
    assert fc.from_torch(net.to_torch()) == net  # float64 is the default


def test_round_trip_from_torch_side_is_exact():
    module = _sequential(4, 9)
    again = fc.from_torch(module).to_torch(torch.float64)
    for p, q in zip(module.parameters(), again.parameters()):
        assert torch.equal(p, q)


def test_forward_equals_torch_in_float64():
    module = _sequential(5, 30, seed=3)
    X = np.random.default_rng(1).standard_normal((200, 5))
    net = fc.from_torch(module)
    expected = _forward(module, X)
    scale = np.maximum(np.abs(X) @ np.abs(net.W).T + np.abs(net.b), 0) @ np.abs(net.v) + abs(net.beta)
    assert np.all(np.abs(net.predict(X) - expected) <= 64 * ref.EPS * scale)
    np.testing.assert_allclose(_forward(net.to_torch(), X), net.predict(X), rtol=0, atol=1e-14 * scale.max())


def test_to_torch_float32_rounds_each_parameter():
    net = fc.Network.init(3, 8, seed=5)
    module = net.to_torch(dtype=torch.float32, device="cpu")
    assert all(p.dtype == torch.float32 for p in module.parameters())
    back = fc.from_torch(module)
    np.testing.assert_array_equal(back.W, net.W.astype(np.float32))
    np.testing.assert_array_equal(back.b, net.b.astype(np.float32))
    np.testing.assert_array_equal(back.v, net.v.astype(np.float32))
    assert back.beta == float(np.float32(net.beta))


def test_to_torch_leaves_torch_random_state_alone():
    state = torch.random.get_rng_state()
    fc.Network.init(3, 50, seed=0).to_torch()
    assert torch.equal(torch.random.get_rng_state(), state)


@pytest.mark.parametrize("bad", [None.__class__, "float32", np.float64, torch.int64, torch.complex128])
def test_to_torch_refuses_a_dtype_that_is_not_a_torch_float(bad):
    with pytest.raises(TypeError, match=r"floating-point torch\.dtype"):
        fc.Network.init(2, 3).to_torch(dtype=bad)


# -------------------------------------------------------------------------------------------------
# The accepted forms
# -------------------------------------------------------------------------------------------------
@pytest.mark.parametrize("cls", [TwoLayer, TwoLayerFunctionalRelu])
def test_custom_module_form(cls):
    torch.manual_seed(1)
    module = cls(4, 12).double()
    net = fc.from_torch(module)
    assert net.W.shape == (12, 4)
    np.testing.assert_array_equal(net.W, module.hidden.weight.detach().numpy())
    np.testing.assert_array_equal(net.b, -module.hidden.bias.detach().numpy())
    np.testing.assert_array_equal(net.v, module.out.weight.detach().numpy()[0])
    assert net.beta == module.out.bias.item()
    X = np.random.default_rng(2).standard_normal((50, 4))
    np.testing.assert_allclose(net.predict(X), _forward(module, X), rtol=1e-13, atol=1e-14)


@pytest.mark.parametrize(("bias1", "bias2"), [(False, True), (True, False), (False, False)])
def test_layers_without_bias(bias1, bias2):
    module = _sequential(3, 7, bias1=bias1, bias2=bias2, seed=4)
    net = fc.from_torch(module)
    if not bias1:
        np.testing.assert_array_equal(net.b, np.zeros(7))
    if not bias2:
        assert net.beta == 0.0
    X = np.random.default_rng(3).standard_normal((40, 3))
    np.testing.assert_allclose(net.predict(X), _forward(module, X), rtol=1e-13, atol=1e-14)


def test_parameters_are_copied_detached_from_any_dtype():
    module = _sequential(3, 5, dtype=torch.float32, seed=6)
    net = fc.from_torch(module)
    np.testing.assert_array_equal(net.W, module[0].weight.detach().double().numpy())
    with torch.no_grad():
        module[0].weight.add_(1.0)  # the network shares no memory with the module
    assert not np.array_equal(net.W, module[0].weight.detach().double().numpy())
    half = fc.from_torch(_sequential(3, 5, dtype=torch.bfloat16, seed=6))
    assert half.W.dtype == np.float64


# -------------------------------------------------------------------------------------------------
# Refusals
# -------------------------------------------------------------------------------------------------
SUPPORTED = r"accepts a two-layer ReLU network with one output: torch\.nn\.Sequential\(nn\.Linear\(d, K\), nn\.ReLU"


@pytest.mark.parametrize(
    ("make", "got"),
    [
        (lambda: nn.Linear(3, 1), "Linear with submodules"),
        (lambda: nn.Sequential(nn.Linear(3, 4), nn.Tanh(), nn.Linear(4, 1)), r"nn\.Sequential\(Linear, Tanh, Linear\)"),
        (lambda: nn.Sequential(nn.Linear(3, 4), nn.ReLU()), r"nn\.Sequential\(Linear, ReLU\)"),
        (
            lambda: nn.Sequential(nn.Linear(3, 4), nn.ReLU(), nn.Linear(4, 4), nn.ReLU(), nn.Linear(4, 1)),
            r"nn\.Sequential\(Linear, ReLU, Linear, ReLU, Linear\)",
        ),
        (lambda: nn.Sequential(nn.Conv1d(1, 4, 3), nn.ReLU(), nn.Linear(4, 1)), r"Conv1d, ReLU, Linear"),
        (lambda: nn.Conv2d(1, 1, 3), "Conv2d with submodules"),
        (lambda: nn.Sequential(nn.Sequential(nn.Linear(3, 4), nn.ReLU(), nn.Linear(4, 1))), r"Sequential\)"),
        (lambda: np.ones((4, 3)), "ndarray, which is not a torch.nn.Module"),
        (lambda: {"weight": torch.ones(4, 3)}, "dict, which is not a torch.nn.Module"),
        (lambda: TwoLayerTanh(3, 4), "its forward computes another function"),
        (lambda: TwoLayerWithScale(3, 4), "parameters of its own"),
    ],
)
def test_unsupported_modules_are_refused_saying_what_is_supported(make, got):
    with pytest.raises(TypeError, match=SUPPORTED) as info:
        fc.from_torch(make())
    assert info.match(got)


@pytest.mark.parametrize(
    ("make", "message"),
    [
        (lambda: nn.Sequential(nn.Linear(3, 4), nn.ReLU(), nn.Linear(4, 2)), r"must be nn\.Linear\(K, 1\).*\(4, 2\)"),
        (lambda: nn.Sequential(nn.Linear(3, 4), nn.ReLU(), nn.Linear(5, 1)), "in_features \\(5\\) must equal"),
        (lambda: OutputFirst(3, 4), r"must be nn\.Linear\(K, 1\)"),
        (lambda: nn.Sequential(nn.LazyLinear(4), nn.ReLU(), nn.Linear(4, 1)), "not initialised yet"),
    ],
)
def test_wrong_sizes_are_refused(make, message):
    with pytest.raises(ValueError, match=message):
        fc.from_torch(make())


def test_non_finite_parameters_are_refused():
    module = _sequential(3, 4)
    with torch.no_grad():
        module[2].weight[0, 1] = float("nan")
    with pytest.raises(ValueError, match="module's parameters cannot form a network: v contains NaN"):
        fc.from_torch(module)


# -------------------------------------------------------------------------------------------------
# A model trained in PyTorch: flatcore's numbers are autograd's
# -------------------------------------------------------------------------------------------------
def test_model_trained_in_torch_gets_autograds_gradient_sharpness_and_trace():
    d, K, n = 3, 16, 64
    X, y = fc.data.regression(n, d, seed=11)
    Xt, yt = torch.as_tensor(X), torch.as_tensor(y)
    model = _sequential(d, K, seed=12)
    mse = nn.MSELoss()  # flatcore's loss="mse"
    opt = torch.optim.SGD(model.parameters(), lr=0.05)
    for _ in range(300):
        opt.zero_grad()
        mse(model(Xt).squeeze(-1), yt).backward()
        opt.step()

    net = fc.from_torch(model)
    assert ref.relative_kink_margin(net.W, net.b, X) > KINK_MARGIN  # no point within rounding of a kink

    # The gradient by backward, mapped to flatcore's order: d/db = -d/d(bias).
    opt.zero_grad()
    loss = mse(model(Xt).squeeze(-1), yt)
    loss.backward()
    first, second = model[0], model[2]
    grad_torch = np.concatenate(
        [
            first.weight.grad.numpy().ravel(),
            -first.bias.grad.numpy(),
            second.weight.grad.numpy().ravel(),
            second.bias.grad.numpy(),
        ]
    )
    value, grad = fc.loss_and_gradient(net, X, y, loss="mse")
    np.testing.assert_allclose(value, loss.item(), rtol=1e-12)
    np.testing.assert_allclose(grad, grad_torch, rtol=1e-10, atol=1e-12 * np.abs(grad_torch).max())

    # The Hessian of the model itself (torch.func.functional_call), as a function of flatcore's
    # flat theta = [W | b | v | beta].
    def L(theta):
        W, b, v, beta = torch_unpack(theta, d, K)
        params = {"0.weight": W, "0.bias": -b, "2.weight": v.reshape(1, K), "2.bias": beta.reshape(1)}
        return mse(torch.func.functional_call(model, params, (Xt,)).squeeze(-1), yt)

    theta = torch.as_tensor(net.params())
    H_torch = torch.autograd.functional.hessian(L, theta, vectorize=True).numpy()
    H = fc.hessian(net, X, y, loss="mse")
    np.testing.assert_allclose(H, H_torch, rtol=1e-10, atol=1e-12 * np.abs(H_torch).max())

    top_torch = float(np.linalg.eigvalsh(H_torch)[-1])
    np.testing.assert_allclose(fc.sharpness(net, X, y, loss="mse"), top_torch, rtol=1e-9)
    np.testing.assert_allclose(fc.sharpness(net, X, y, loss="mse", method="lanczos"), top_torch, rtol=1e-9)
    np.testing.assert_allclose(fc.hessian_trace(net, X, y, loss="mse"), np.trace(H_torch), rtol=1e-12)


# -------------------------------------------------------------------------------------------------
# Without PyTorch
# -------------------------------------------------------------------------------------------------
def _python(code: str) -> subprocess.CompletedProcess:
    env = dict(os.environ)
    env["PYTHONPATH"] = PYTHON_DIR + os.pathsep + env.get("PYTHONPATH", "")
    return subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=120)


def test_flatcore_does_not_import_torch():
    out = _python("import sys, flatcore; print('torch' in sys.modules)")
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "False"


def test_without_torch_flatcore_works_and_says_how_to_install_it():
    code = """
import sys
sys.modules["torch"] = None  # import torch now raises ImportError, as when it is not installed
import flatcore as fc
X, y = fc.data.regression(20, 2, seed=0)
net = fc.Network.init(2, 5)
print(fc.train(net, X, y, lr=0.1, steps=5).steps_run)
for call in (lambda: fc.from_torch(object()), lambda: net.to_torch()):
    try:
        call()
    except ImportError as exc:
        print(exc)
"""
    out = _python(code)
    assert out.returncode == 0, out.stderr
    lines = out.stdout.splitlines()
    assert lines[0] == "5"
    assert len(lines) == 3
    for line in lines[1:]:
        assert 'pip install "flatcore[torch]"' in line
