"""PyTorch interop: a flatcore :class:`~flatcore.Network` from a PyTorch module, and back.

PyTorch is optional (``pip install "flatcore[torch]"``) and imported only when one of these
functions is called, so ``import flatcore`` never needs it.

The one difference of convention is the sign of the hidden bias: flatcore's neuron k is
``relu(w_k . x - b_k)``, ``nn.Linear`` computes ``W x + bias``, so ``b = -bias``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import numpy as np

from .network import Network, as_network

if TYPE_CHECKING:  # torch is optional; mypy sees it as Any (pyproject.toml)
    import torch

__all__ = ["from_torch", "to_torch"]

INSTALL_HINT = 'PyTorch interop needs PyTorch: pip install "flatcore[torch]" (or pip install torch)'

SUPPORTED = (
    "flatcore.from_torch accepts a two-layer ReLU network with one output: "
    "torch.nn.Sequential(nn.Linear(d, K), nn.ReLU(), nn.Linear(K, 1)), or an nn.Module whose only "
    "submodules are those two nn.Linear layers (hidden layer registered first) and optionally one "
    "nn.ReLU, and whose forward computes second(relu(first(x)))"
)

# Points at which from_torch checks that the module computes the converted network.
_N_PROBES = 8


def _import_torch():
    """The torch module, or an ImportError saying how to install it."""
    try:
        import torch
    except ImportError as exc:
        raise ImportError(f"{INSTALL_HINT} ({exc})") from None
    return torch


def _refuse(what: str) -> TypeError:
    return TypeError(f"cannot convert {what}. {SUPPORTED}")


def _two_linear_layers(torch, module) -> tuple[Any, Any]:
    """The hidden and the output ``nn.Linear`` of ``module``, or a TypeError saying what is supported."""
    nn = torch.nn
    if not isinstance(module, nn.Module):
        raise _refuse(f"{type(module).__name__}, which is not a torch.nn.Module")
    children = list(module.children())
    kinds = ", ".join(type(c).__name__ for c in children) or "no submodules"
    if isinstance(module, nn.Sequential):
        pattern = (nn.Linear, nn.ReLU, nn.Linear)
        if len(children) != 3 or not all(isinstance(c, kind) for c, kind in zip(children, pattern)):
            raise _refuse(f"nn.Sequential({kinds})")
        first, second = children[0], children[2]
    else:
        linears = [c for c in children if isinstance(c, nn.Linear)]
        others = [c for c in children if not isinstance(c, (nn.Linear, nn.ReLU))]
        relus = [c for c in children if isinstance(c, nn.ReLU)]
        if isinstance(module, nn.Linear) or len(linears) != 2 or others or len(relus) > 1:
            raise _refuse(f"{type(module).__name__} with submodules ({kinds})")
        first, second = linears
    own = {id(p) for p in module.parameters()}
    layers = {id(p) for layer in (first, second) for p in layer.parameters()}
    if own != layers:
        raise _refuse(f"{type(module).__name__} with parameters of its own besides the two nn.Linear layers")
    if second.out_features != 1:
        raise ValueError(
            f"the output layer must be nn.Linear(K, 1) (flatcore's networks have one output); "
            f"got nn.Linear({second.in_features}, {second.out_features})"
        )
    if second.in_features != first.out_features:
        raise ValueError(
            f"the output layer's in_features ({second.in_features}) must equal the hidden layer's "
            f"out_features ({first.out_features}); the hidden layer must be registered first"
        )
    return first, second


def _as_numpy(torch, tensor, name: str) -> np.ndarray:
    """A float64 NumPy copy of a parameter, from any device and real dtype."""
    if isinstance(tensor, torch.nn.parameter.UninitializedParameter):
        raise ValueError(f"{name} is not initialised yet (a lazy module): run a forward pass first")
    if tensor.is_complex():
        raise TypeError(f"{name} must hold real numbers; got dtype {tensor.dtype}")
    return tensor.detach().to(device="cpu", dtype=torch.float64).numpy().copy()


def from_torch(module) -> Network:
    """The flatcore :class:`~flatcore.Network` (float64) computing the same function as ``module``.

    Accepted, and nothing else:

    - ``torch.nn.Sequential(nn.Linear(d, K), nn.ReLU(), nn.Linear(K, 1))``;
    - an ``nn.Module`` whose only submodules are two ``nn.Linear`` layers, the hidden one
      (d -> K) registered before the output one (K -> 1), and optionally one ``nn.ReLU``, with
      no parameters of its own, whose ``forward`` computes ``second(relu(first(x)))``.

    Either layer may be without bias (``bias=False``): the thresholds b, or the output bias beta,
    are then 0. The parameters may live on any device and in any real dtype; they are copied to
    the CPU in float64 (detached: the network shares no memory with the module). Since flatcore's
    neurons are ``relu(w_k . x - b_k)``, ``b`` is minus the hidden layer's bias.

    Parameters
    ----------
    module : torch.nn.Module

    Returns
    -------
    Network

    Raises
    ------
    ImportError
        PyTorch is not installed (``pip install "flatcore[torch]"``).
    TypeError
        ``module`` is not one of the accepted forms (another activation, more layers, a
        convolution, a lone ``nn.Linear``, something that is not a module), its parameters are
        not real numbers, or its ``forward`` does not compute ``second(relu(first(x)))``: the
        converted network is checked against the module at a few random points.
    ValueError
        The output layer has more than one output, the layers' sizes do not chain, a layer is
        not initialised yet, or a parameter is NaN or infinite.
    """
    torch = _import_torch()
    first, second = _two_linear_layers(torch, module)
    W = _as_numpy(torch, first.weight, "the hidden layer's weight")
    b = -_as_numpy(torch, first.bias, "the hidden layer's bias") if first.bias is not None else np.zeros(W.shape[0])
    v = _as_numpy(torch, second.weight, "the output layer's weight").reshape(-1)
    beta = float(_as_numpy(torch, second.bias, "the output layer's bias")[0]) if second.bias is not None else 0.0
    try:
        net = Network(W, b, v, beta)
    except ValueError as exc:
        raise ValueError(f"the module's parameters cannot form a network: {exc}") from None
    _check_same_function(torch, module, first.weight, net)
    return net


def _check_same_function(torch, module, weight, net: Network) -> None:
    """Refuse a module whose forward is not the network's function (a custom forward, say tanh).

    The module is evaluated at a few seeded standard normal points in its own dtype and on its own
    device; the tolerance is the rounding of that dtype on the size of the terms of f(x).
    """
    X = np.random.default_rng(0).standard_normal((_N_PROBES, net.d))
    with torch.no_grad():
        try:
            out = module(torch.as_tensor(X, dtype=weight.dtype, device=weight.device))
            got = out.detach().to(device="cpu", dtype=torch.float64).numpy().reshape(-1)
        except Exception as exc:
            raise _refuse(f"a module that fails on a batch of shape ({_N_PROBES}, {net.d}) ({exc})") from None
    if got.shape != (_N_PROBES,):
        raise _refuse(f"a module that maps a batch of {_N_PROBES} points to shape {tuple(out.shape)}")
    X = torch.as_tensor(X, dtype=weight.dtype).to(torch.float64).numpy()  # the points the module saw
    terms = np.abs(X) @ np.abs(net.W).T + np.abs(net.b)
    scale = np.maximum(terms, 0.0) @ np.abs(net.v) + abs(net.beta)
    eps = float(torch.finfo(weight.dtype).eps)
    tol = (np.sqrt(eps) + 4 * (net.d + net.width) * eps) * scale
    if not np.all(np.abs(got - net.predict(X)) <= tol):
        raise _refuse(
            f"{type(module).__name__}: its forward computes another function than second(relu(first(x))) "
            "(a different activation, a skip connection, ...)"
        )


def to_torch(net: Network, dtype=None, device=None) -> torch.nn.Sequential:
    """``torch.nn.Sequential(nn.Linear(d, K), nn.ReLU(), nn.Linear(K, 1))`` computing ``net``.

    The hidden layer's bias is ``-net.b`` (PyTorch adds its bias, flatcore subtracts b). The
    parameters are new tensors that require gradients, in ``dtype`` (a floating-point
    ``torch.dtype``; default ``torch.float64``, in which ``from_torch(to_torch(net)) == net``
    exactly; ``torch.float32`` rounds each parameter to nearest) on ``device`` (default the
    CPU). PyTorch's random number generator is not used: building the layers draws no
    initialisation.

    Raises ImportError when PyTorch is not installed, TypeError for a ``dtype`` that is not a
    floating-point ``torch.dtype``.
    """
    torch = _import_torch()
    net = as_network(net)
    dtype = torch.float64 if dtype is None else dtype
    if not isinstance(dtype, torch.dtype) or not dtype.is_floating_point:
        raise TypeError(f"dtype must be a floating-point torch.dtype such as torch.float32; got {dtype!r}")
    nn = torch.nn
    # skip_init builds the layers without drawing PyTorch's random initialisation (which would
    # advance the caller's torch random state), then the parameters are filled in.
    # (skip_init takes device=None for "meta": leave it out for the default, the CPU.)
    where = {"dtype": dtype} if device is None else {"dtype": dtype, "device": device}
    first = torch.nn.utils.skip_init(nn.Linear, net.d, net.width, **where)
    second = torch.nn.utils.skip_init(nn.Linear, net.width, 1, **where)
    with torch.no_grad():
        first.weight.copy_(torch.as_tensor(net.W))
        first.bias.copy_(torch.as_tensor(-net.b))
        second.weight.copy_(torch.as_tensor(net.v).reshape(1, -1))
        second.bias.fill_(net.beta)
    return nn.Sequential(first, nn.ReLU(), second)
