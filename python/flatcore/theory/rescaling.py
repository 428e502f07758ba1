"""The rescaling symmetry and the rescaling-invariant minimal trace (docs/math.md, section 8).

``(w_k, b_k, v_k) -> (alpha_k w_k, alpha_k b_k, v_k / alpha_k)``, alpha_k > 0, leaves f unchanged
but changes the Hessian, lambda_max and tr H (flatness is not invariant). Per neuron tr H
contributes ``alpha^2 A_k + B_k / alpha^2`` (:func:`flatcore.numerics.trace_terms`), so the
smallest trace over all rescalings is ``1 + sum_k 2 sqrt(A_k B_k)``, a closed-form, invariant
flatness measure.
"""

from __future__ import annotations

import numpy as np

from .._validation import as_float_array, check_data, check_result, row_norms
from ..network import Network, as_network
from ..numerics import loss_scale, trace_terms

__all__ = ["rescale", "min_trace", "balance_for_min_trace"]


def rescale(net: Network, alpha) -> Network:
    """The network with ``(w_k, b_k, v_k) -> (alpha_k w_k, alpha_k b_k, v_k / alpha_k)`` (docs/math.md, section 8).

    f is unchanged; the Hessian, lambda_max and tr H are not.

    Parameters
    ----------
    net : Network
    alpha : float or array, shape (width,)
        Positive factors: one for all neurons, or one per neuron.

    Returns
    -------
    Network
        A new network.
    """
    net = as_network(net)
    checked = as_float_array(alpha, "alpha", (0, 1))  # first: it names alpha if alpha is no array
    scalar = np.ndim(alpha) == 0
    alpha = checked
    if not scalar and alpha.shape != (net.width,):
        raise ValueError(f"alpha must be a scalar or have shape (width,) = ({net.width},); got {alpha.shape}")
    if np.any(alpha <= 0):
        raise ValueError("alpha must be positive (a negative alpha would flip the ReLU, zero is not invertible)")
    alpha = np.broadcast_to(alpha.reshape(-1), (net.width,))
    advice = "alpha is too large or too small for these weights"
    with np.errstate(over="ignore"):
        W, b, v = alpha[:, None] * net.W, alpha * net.b, net.v / alpha
    return Network(
        check_result(W, "alpha * W", advice),
        check_result(b, "alpha * b", advice),
        check_result(v, "v / alpha", advice),
        net.beta,
    )


def min_trace(net: Network, X, y=None, *, loss: str = "half_mse", n_threads=None) -> float:
    """Rescaling-invariant flatness ``min_alpha tr H = 1 + sum_k 2 sqrt(A_k B_k)`` (docs/math.md, section 8).

    For ``loss="mse"`` (whose Hessian is twice the "half_mse" one) the value is doubled.

    ``A_k = mean_i phi_ik^2``, ``B_k = v_k^2 mean_i a_ik (||x_i||^2 + 1)``. It is an infimum over
    per-neuron rescalings alpha_k > 0, attained at ``alpha_k^2 = sqrt(B_k / A_k)`` when every neuron
    with A_k > 0 has B_k > 0 (see :func:`balance_for_min_trace`).

    Parameters
    ----------
    net : Network
    X : array, shape (n, d)
    y : array, shape (n,), optional
        tr H does not depend on the labels: accepted, checked, unused.
    loss : {"half_mse", "mse"}
        The loss convention.
    n_threads : int, optional
        Threads of the compiled core (default: flatcore's thread setting).

    Returns
    -------
    float
        Finite; FloatingPointError where the value exceeds float64's range (data or weights too
        large in magnitude: rescale them).
    """
    net = as_network(net)
    if y is not None:
        check_data(net, X, y)
    A, B, _ = _normalized_terms(net, X, n_threads)
    with np.errstate(over="ignore"):
        value = loss_scale(loss) * (1.0 + 2.0 * np.sum(_sqrt_product(A, B)))
    return float(check_result(value, "the minimal trace"))


def _normalized_terms(net: Network, X, n_threads):
    """``trace_terms`` of the network rescaled neuron by neuron by 2^e_k, and the exponents e_k.

    A power-of-two rescaling (w_k, b_k, v_k) -> (2^e w_k, 2^e b_k, 2^-e v_k) is exact and leaves
    A_k B_k unchanged (so min_trace and the balancing are the same to the last bit), while it moves
    A_k by 4^e and B_k by 4^-e. e_k is chosen, from the magnitudes alone (in log2, so that nothing
    overflows), to make the two about equal: then both are about sqrt(A_k B_k), in range whenever
    the answer is, where the raw A_k may overflow (after ``rescale(net, 1e200)``, say).
    """
    net = as_network(net)
    X = check_data(net, X)
    with np.errstate(divide="ignore", over="ignore", under="ignore"):
        lw = np.log2(row_norms(np.linalg.norm(net.W, axis=1), net.W))
        lb, lv = np.log2(np.abs(net.b)), np.log2(np.abs(net.v))
        lx = np.log2(np.max(row_norms(np.sqrt(np.einsum("nd,nd->n", X, X)), X)))
        # A_k ~ (||w|| R + |b|)^2 and B_k ~ v^2 (R^2 + 1): e = log2(B / A) / 4
        e = (2.0 * lv + np.logaddexp2(2.0 * lx, 0.0) - 2.0 * np.logaddexp2(lw + lx, lb)) / 4.0
    e = np.where(np.isfinite(e), np.clip(np.round(e), -1100, 1100), 0).astype(int)
    with np.errstate(over="ignore", under="ignore"):
        W, b, v = np.ldexp(net.W, e[:, None]), np.ldexp(net.b, e), np.ldexp(net.v, -e)
    keep = ~(np.isfinite(W).all(axis=1) & np.isfinite(b) & np.isfinite(v))  # out of range: left alone
    e[keep] = 0
    W[keep], b[keep], v[keep] = net.W[keep], net.b[keep], net.v[keep]
    A, B = trace_terms(Network(W, b, v, net.beta), X, n_threads=n_threads)
    return A, B, e


def _sqrt_product(A: np.ndarray, B: np.ndarray) -> np.ndarray:
    """sqrt(A_k B_k), finite whenever it is in range (A B itself may overflow or underflow)."""
    with np.errstate(over="ignore", under="ignore"):
        prod = A * B
    root = np.sqrt(prod)
    redo = ~np.isfinite(prod) | ((prod < 1e-280) & (A > 0) & (B > 0))
    root[redo] = np.sqrt(A[redo]) * np.sqrt(B[redo])
    return root


def balance_for_min_trace(net: Network, X, *, n_threads=None) -> Network:
    """The rescaled network whose raw tr H is :func:`min_trace` (docs/math.md, section 8).

    Neuron k is rescaled by ``alpha_k = (B_k / A_k)^(1/4)``, which makes
    ``alpha^2 A_k = B_k / alpha^2 = sqrt(A_k B_k)``. Neurons with ``A_k = 0`` (inactive on every
    point, so B_k = 0 too) or ``B_k = 0`` (v_k = 0) are left alone: for the latter the infimum
    ``0`` is only approached as alpha_k -> 0, so the balanced trace then exceeds min_trace by
    those neurons' A_k. f is unchanged.

    Parameters
    ----------
    net : Network
    X : array, shape (n, d)
    n_threads : int, optional
        Threads of the compiled core (default: flatcore's thread setting).

    Returns
    -------
    Network
        A new network.
    """
    net = as_network(net)
    A, B, e = _normalized_terms(net, X, n_threads)  # of the network rescaled by 2^e_k
    alpha = np.ones(net.width)
    ok = (A > 0) & (B > 0)
    with np.errstate(over="ignore", under="ignore"):
        alpha[ok] = (B[ok] / A[ok]) ** 0.25
    # where B / A leaves float64's range, the fourth roots separately
    redo = ok & (~np.isfinite(alpha) | (alpha == 0))
    alpha[redo] = np.sqrt(np.sqrt(B[redo])) / np.sqrt(np.sqrt(A[redo]))
    with np.errstate(over="ignore", under="ignore"):  # back to the raw network: exact, or out of range
        alpha[ok] = np.ldexp(alpha[ok], e[ok])
    return rescale(net, alpha)
