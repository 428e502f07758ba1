"""Loss, gradient, Hessian, Hessian-vector products, exact trace, activation statistics.

The formulas are those of docs/math.md, sections 1-3.

Every function that depends on the loss takes its convention, ``loss="half_mse"`` (the default,
L = 1/(2n) sum_i r_i^2, the paper's) or ``loss="mse"`` (L = 1/n sum_i r_i^2, PyTorch's
``MSELoss``): the "mse" loss, gradient, Hessian, Hessian-vector product and trace are exactly
twice the "half_mse" ones (docs/math.md, section 1.3).

Pure functions of explicit arguments: ``loss(net, X, y)``, ``gradient(net, X, y)``, ...
All results are float64, finite (a FloatingPointError where a value overflows float64) and do not
depend on the number of threads.
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np

from . import _core
from ._equality import not_equal, same_fields
from ._inputs import prepare, prepare_inputs
from ._validation import as_float_array, as_scalar, available_memory_bytes, check_choice, check_result
from .network import Network, as_network

#: The parts of the Hessian every Hessian function can compute (docs/math.md, section 3.1).
HESSIAN_PARTS: tuple[str, ...] = tuple(_core.HESSIAN_PARTS)
#: The loss conventions (docs/math.md, section 1.3): "half_mse" 1/(2n) sum r^2, "mse" 1/n sum r^2.
LOSSES: tuple[str, ...] = tuple(_core.LOSSES)


def predict(net: Network, X, *, n_threads=None) -> np.ndarray:
    """f(X), shape (n,). Same as ``net(X)``."""
    return as_network(net).predict(X, n_threads=n_threads)


def loss(net: Network, X, y, *, loss: str = "half_mse", n_threads=None) -> float:
    """L(theta) = 1/(2n) sum_i (f(x_i) - y_i)^2, or 1/n sum_i (f(x_i) - y_i)^2 with ``loss="mse"``.

    Parameters
    ----------
    net : Network
    X : array, shape (n, d)
    y : array, shape (n,)
    loss : {"half_mse", "mse"}
        The loss convention (docs/math.md, section 1.3).
    n_threads : int, optional
        Threads for the core (default :func:`flatcore.get_num_threads`).

    Returns
    -------
    float
    """
    a = prepare(net, X, y, n_threads=n_threads)
    value = float(_core.loss(a.net, a.X, a.y, loss=check_choice(loss, "loss", LOSSES), n_threads=a.n_threads))
    return check_result(value, "the loss")


def loss_and_gradient(net: Network, X, y, *, loss: str = "half_mse", n_threads=None) -> tuple[float, np.ndarray]:
    """(L, grad L) from one fused pass; grad has the flat layout of ``net.params()``.

    ``loss`` is the convention, "half_mse" or "mse" (see :func:`loss`).
    """
    a = prepare(net, X, y, n_threads=n_threads)
    convention = check_choice(loss, "loss", LOSSES)
    out = _core.loss_and_gradient(a.net, a.X, a.y, loss=convention, n_threads=a.n_threads)
    check_result(out.loss, "the loss")
    return float(out.loss), check_result(out.grad, "the gradient")


def gradient(net: Network, X, y, *, loss: str = "half_mse", n_threads=None) -> np.ndarray:
    """grad L(theta), shape (P,), in the layout [W row-major | b | v | beta] (docs/math.md, section 2).

    ``loss`` is the convention, "half_mse" or "mse" (see :func:`loss`).
    """
    return loss_and_gradient(net, X, y, loss=loss, n_threads=n_threads)[1]


def hessian(
    net: Network, X, y, *, part: str = "full", loss: str = "half_mse", max_bytes=None, n_threads=None
) -> np.ndarray:
    """The dense Hessian of L, shape (P, P), in closed form (docs/math.md, section 3).

    Parameters
    ----------
    part : {"full", "gauss_newton", "residual"}
        The whole Hessian, its Gauss-Newton part (1/n) sum_i g_i g_i^T, or its residual part
        (1/n) sum_i r_i Hf_i.
    loss : {"half_mse", "mse"}
        The loss convention; the "mse" Hessian is twice the "half_mse" one.
    max_bytes : int, optional
        Refuse (MemoryError) when the matrix and its working buffers would need more than this.
        The default is half of the memory available now. For large P use :func:`hvp` instead.
    n_threads : int, optional

    Returns
    -------
    ndarray, shape (P, P)

    At a ReLU kink (w_k . x_i = b_k exactly) the convention relu'(0) = 0 is used.
    """
    a = prepare(net, X, y, n_threads=n_threads)
    check_choice(part, "part", HESSIAN_PARTS)
    P = a.net.n_params
    need = _core.dense_hessian_bytes(P, a.net.width)
    if max_bytes is None:
        avail = available_memory_bytes()
        limit = avail / 2 if avail is not None else 8 * 2**30
    else:
        limit = as_scalar(max_bytes, "max_bytes", positive=True)
    if need > limit:
        raise MemoryError(
            f"the dense Hessian has P x P = {P} x {P} entries and would need {need / 2**30:.2f} GiB, "
            f"more than the {limit / 2**30:.2f} GiB allowed (max_bytes); use flatcore.hvp(net, X, y, u) "
            "for matrix-free Hessian-vector products instead"
        )
    convention = check_choice(loss, "loss", LOSSES)
    H = _core.dense_hessian(a.net, a.X, a.y, part=part, loss=convention, n_threads=a.n_threads)
    return check_result(H, "the Hessian")


def hvp(net: Network, X, y, u, *, part: str = "full", loss: str = "half_mse", n_threads=None) -> np.ndarray:
    """Hessian-vector product H u without forming H (docs/math.md, section 3.3), shape (P,).

    ``u`` has the layout of ``net.params()``. The cost is about that of one gradient. ``part`` and
    ``loss`` as in :func:`hessian`.
    """
    a = prepare(net, X, y, n_threads=n_threads)
    check_choice(part, "part", HESSIAN_PARTS)
    convention = check_choice(loss, "loss", LOSSES)
    u = as_float_array(u, "u", 1)
    if u.shape[0] != a.net.n_params:
        raise ValueError(f"u has {u.shape[0]} entries; the network has P = {a.net.n_params} parameters")
    out = _core.hvp(a.net, a.X, a.y, u, part=part, loss=convention, n_threads=a.n_threads)
    return check_result(out, "the Hessian-vector product")


def hessian_trace(net: Network, X, y, *, part: str = "full", loss: str = "half_mse", n_threads=None) -> float:
    """tr H, exact and in closed form (docs/math.md, section 3.4).

    ::

        tr H = 1 + (1/n) sum_ik [ phi_ik^2 + v_k^2 a_ik (||x_i||^2 + 1) ]     ("half_mse"),

    twice that for ``loss="mse"``. The residual part has a zero diagonal, so
    ``part="gauss_newton"`` gives the same value and ``part="residual"`` gives 0.
    """
    a = prepare(net, X, y, n_threads=n_threads)
    check_choice(part, "part", HESSIAN_PARTS)
    convention = check_choice(loss, "loss", LOSSES)
    value = float(_core.hessian_trace(a.net, a.X, a.y, part=part, loss=convention, n_threads=a.n_threads))
    return check_result(value, "the Hessian trace")


def trace_terms(net: Network, X, *, loss: str = "half_mse", n_threads=None) -> tuple[np.ndarray, np.ndarray]:
    """Per-neuron (A, B) with ``tr H = c + sum_k (A_k + B_k)`` (docs/math.md, sections 3.4 and 8).

    For "half_mse", ``A_k = mean_i phi_ik^2``, ``B_k = v_k^2 mean_i a_ik (||x_i||^2 + 1)`` and
    c = 1 (the output bias's); for ``loss="mse"`` all three are doubled (c is
    ``flatcore.loss_scale(loss)``). Under rescaling by alpha_k they become ``alpha_k^2 A_k`` and
    ``B_k / alpha_k^2``. Both shape (width,).
    """
    a = prepare_inputs(net, X, n_threads=n_threads)
    terms = _core.trace_terms(a.net, a.X, loss=check_choice(loss, "loss", LOSSES), n_threads=a.n_threads)
    return check_result(terms.A, "the trace terms"), check_result(terms.B, "the trace terms")


def trace_per_neuron(net: Network, X, *, loss: str = "half_mse", n_threads=None) -> np.ndarray:
    """Each neuron's share of tr H, shape (width,): mean_i phi_ik^2 + v_k^2 mean_i a_ik (||x_i||^2 + 1).

    ``hessian_trace = 1 + trace_per_neuron.sum()`` (the 1 is the output bias beta); for
    ``loss="mse"`` every term, and the 1, is doubled.
    """
    A, B = trace_terms(net, X, loss=loss, n_threads=n_threads)
    return check_result(A + B, "the per-neuron trace")


def loss_scale(loss: str) -> float:
    """How many times the "half_mse" quantities a convention's L, gradient and Hessian are: 1 or 2."""
    return float(_core.loss_scale(check_choice(loss, "loss", LOSSES)))


def activation_rates(net: Network, X, *, n_threads=None) -> np.ndarray:
    """Per neuron, the share of the points of X on which it is active (``w_k . x_i > b_k``), shape (width,).

    Computed by the same forward pass as every other quantity, so it agrees with the masks of
    the gradient and the Hessian to the last bit (a point exactly on a kink is inactive).
    """
    a = prepare_inputs(net, X, n_threads=n_threads)
    return _core.activation_rates(a.net, a.X, n_threads=a.n_threads)


class NeuronSide(NamedTuple):
    """Statistics of the points on one side of each neuron's hyperplane (docs/math.md, section 6).

    With ``s_ik = z_ik`` on the active side and ``-z_ik`` on the inactive one
    (``z_ik = w_k . x_i - b_k``): ``excess = mean_i (s_ik)_+`` (width,), ``share = mean_i
    1[s_ik > 0]`` (width,), ``moment = mean_i 1[s_ik > 0] x_i`` (width, d). Equal (``==``)
    when the three arrays are, entry for entry.
    """

    excess: np.ndarray
    share: np.ndarray
    moment: np.ndarray

    def __repr__(self) -> str:
        return f"NeuronSide(width={self.excess.size}, d={self.moment.shape[-1]}; excess, share, moment)"

    # Arrays entry for entry: tuple's own == and != would ask an array for its truth value.
    def __eq__(self, other):
        return same_fields(self, other)

    def __ne__(self, other):
        return not_equal(self, other)


NeuronSide.__hash__ = None  # type: ignore[assignment]  # holds arrays: not hashable


class NeuronSides(NamedTuple):
    """:class:`NeuronSide` statistics of the active (``z > 0``) and inactive (``z < 0``) sides."""

    active: NeuronSide
    inactive: NeuronSide

    # Arrays entry for entry: tuple's own == and != would ask an array for its truth value.
    def __eq__(self, other):
        return same_fields(self, other)

    def __ne__(self, other):
        return not_equal(self, other)


NeuronSides.__hash__ = None  # type: ignore[assignment]  # holds arrays: not hashable


def neuron_sides(net: Network, X, *, n_threads=None) -> NeuronSides:
    """Per-neuron statistics of the points on each side of its hyperplane ``w_k . x = b_k``.

    What the empirical weight function needs (docs/math.md, sections 5-6): for each side the
    mean excess, the share of points and their mean (see :class:`NeuronSide`). Points exactly on
    the hyperplane count on neither side. Same forward pass as every other computation.
    """
    a = prepare_inputs(net, X, n_threads=n_threads)
    sides = _core.neuron_sides(a.net, a.X, n_threads=a.n_threads)
    for s in (sides.active, sides.inactive):
        check_result(s.excess, "the neurons' mean excess")
        check_result(s.moment, "the neurons' side moments")
    return NeuronSides(*(NeuronSide(s.excess, s.share, s.moment) for s in (sides.active, sides.inactive)))
