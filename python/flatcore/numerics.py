"""Loss, gradient, Hessian, Hessian-vector products and the exact trace (MATH.md sections 1-3).

Pure functions of explicit arguments: ``loss(net, X, y)``, ``gradient(net, X, y)``, ...
All results are float64 and do not depend on the number of threads.
"""
from __future__ import annotations

import numpy as np

from . import _core, _threads
from ._validation import (as_float_array, as_scalar, available_memory_bytes, check_data, check_memory,
                          check_result, workspace_bytes)
from .network import Network, as_network

HESSIAN_PARTS = ("full", "gauss_newton", "residual")


def _prepare(net, X, y=None, n_threads=None):
    """Check net and the data (y optional) and that the core's buffers fit in memory; return X, y
    (or X alone when y is None) as float64 contiguous arrays."""
    as_network(net)
    data = check_data(net, X, y)
    n = (data[0] if y is not None else data).shape[0]
    check_memory(workspace_bytes(n, net.d, net.width, _threads.resolve(n_threads)),
                 f"the working buffers for n={n}, d={net.d}, width={net.width}",
                 "use fewer neurons or threads")
    return data


def _part(part: str) -> str:
    if part not in HESSIAN_PARTS:
        raise ValueError(f"part must be one of {HESSIAN_PARTS}; got {part!r}")
    return part


def predict(net: Network, X, *, n_threads=None) -> np.ndarray:
    """f(X), shape (n,). Same as ``net(X)``."""
    return as_network(net).predict(X, n_threads=n_threads)


def loss(net: Network, X, y, *, n_threads=None) -> float:
    """L(theta) = 1/(2n) sum_i (f(x_i) - y_i)^2.

    Parameters
    ----------
    net : Network
    X : array, shape (n, d)
    y : array, shape (n,)
    """
    X, y = _prepare(net, X, y)
    value = float(_core.loss(net.W, net.b, net.v, net.beta, X, y, _threads.resolve(n_threads)))
    return check_result(value, "the loss")


def loss_and_gradient(net: Network, X, y, *, n_threads=None) -> tuple[float, np.ndarray]:
    """(L, grad L) from one fused pass; grad has the flat layout of ``net.params()``."""
    X, y = _prepare(net, X, y)
    value, grad, _ = _core.loss_and_gradient(net.W, net.b, net.v, net.beta, X, y, _threads.resolve(n_threads))
    check_result(value, "the loss")
    check_result(grad, "the gradient")
    return float(value), grad


def gradient(net: Network, X, y, *, n_threads=None) -> np.ndarray:
    """grad L(theta), shape (P,), in the layout [W row-major | b | v | beta] (MATH.md section 2)."""
    return loss_and_gradient(net, X, y, n_threads=n_threads)[1]


def hessian(net: Network, X, y, *, part: str = "full", max_bytes=None, n_threads=None) -> np.ndarray:
    """The dense Hessian of L, shape (P, P), in closed form (MATH.md section 3).

    Parameters
    ----------
    part : {"full", "gauss_newton", "residual"}
        The whole Hessian, its Gauss-Newton part (1/n) sum_i g_i g_i^T, or its residual part
        (1/n) sum_i r_i Hf_i.
    max_bytes : int, optional
        Refuse (MemoryError) when the P x P matrix would need more than this. The default is
        half of the memory available now. For large P use :func:`hvp` instead.

    At a ReLU kink (w_k . x_i = b_k exactly) the convention relu'(0) = 0 is used.
    """
    X, y = _prepare(net, X, y)
    _part(part)
    P = net.n_params
    need = 8 * P * P + 8 * 128 * P
    if max_bytes is None:
        avail = available_memory_bytes()
        limit = avail // 2 if avail is not None else 8 * 2**30
    else:
        limit = as_scalar(max_bytes, "max_bytes", positive=True)
    if need > limit:
        raise MemoryError(
            f"the dense Hessian has P x P = {P} x {P} entries and would need {need / 2**30:.2f} GiB, "
            f"more than the {limit / 2**30:.2f} GiB allowed (max_bytes); use flatcore.hvp(net, X, y, u) "
            "for matrix-free Hessian-vector products instead"
        )
    H = _core.dense_hessian(net.W, net.b, net.v, net.beta, X, y, part, _threads.resolve(n_threads))
    return check_result(H, "the Hessian")


def hvp(net: Network, X, y, u, *, part: str = "full", n_threads=None) -> np.ndarray:
    """Hessian-vector product H u without forming H (MATH.md section 3), shape (P,).

    ``u`` has the layout of ``net.params()``. The cost is about that of one gradient.
    """
    X, y = _prepare(net, X, y)
    _part(part)
    u = as_float_array(u, "u", 1)
    if u.shape[0] != net.n_params:
        raise ValueError(f"u has {u.shape[0]} entries; the network has P = {net.n_params} parameters")
    out = _core.hvp(net.W, net.b, net.v, net.beta, X, y, u, part, _threads.resolve(n_threads))
    return check_result(out, "the Hessian-vector product")


def hessian_trace(net: Network, X, y, *, part: str = "full", n_threads=None) -> float:
    """tr H, exact and in closed form (MATH.md section 3):

        tr H = 1 + (1/n) sum_ik [ phi_ik^2 + v_k^2 a_ik (||x_i||^2 + 1) ].

    The residual part has a zero diagonal, so ``part="gauss_newton"`` gives the same value and
    ``part="residual"`` gives 0.
    """
    X, y = _prepare(net, X, y)
    _part(part)
    value = float(_core.hessian_trace(net.W, net.b, net.v, net.beta, X, y, part, _threads.resolve(n_threads)))
    return check_result(value, "the Hessian trace")


def trace_terms(net: Network, X, *, n_threads=None) -> tuple[np.ndarray, np.ndarray]:
    """Per-neuron (A, B) with ``tr H = 1 + sum_k (A_k + B_k)`` (MATH.md sections 3 and 8).

    ``A_k = mean_i phi_ik^2``, ``B_k = v_k^2 mean_i a_ik (||x_i||^2 + 1)``; under rescaling by
    alpha_k they become ``alpha_k^2 A_k`` and ``B_k / alpha_k^2``. Both shape (width,).
    """
    X = _prepare(net, X, n_threads=n_threads)
    A, M = _core.trace_terms(net.W, net.b, net.v, net.beta, X, _threads.resolve(n_threads))
    return A, net.v ** 2 * M


def trace_per_neuron(net: Network, X, *, n_threads=None) -> np.ndarray:
    """Each neuron's share of tr H, shape (width,): mean_i phi_ik^2 + v_k^2 mean_i a_ik (||x_i||^2 + 1).

    ``hessian_trace = 1 + trace_per_neuron.sum()`` (the 1 is the output bias beta).
    """
    A, B = trace_terms(net, X, n_threads=n_threads)
    return check_result(A + B, "the per-neuron trace")
