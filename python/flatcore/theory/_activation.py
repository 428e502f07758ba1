"""What each neuron's ReLU mask sees on the data, in NumPy (private).

Two functions, each one pass over the pre-activations ``z_ik = w_k . x_i - b_k``:

- :func:`activation_rates`: the share of points on which each neuron is active;
- :func:`side_statistics`: per neuron and per side of its hyperplane, the mean ReLU, the share of
  points and the mean of x restricted to that side, from which the empirical gtilde of the neurons
  follows (docs/math.md, sections 5 and 7).

Both are candidates for the compiled core (one forward pass shared with the loss and the Hessian);
they are kept apart so that they can be replaced without touching the theory around them.
"""
from __future__ import annotations

from typing import NamedTuple

import numpy as np

from .._validation import check_data
from ..network import Network, as_network
from ._checks import CHUNK_ELEMENTS


def activation_rates(net: Network, X) -> np.ndarray:
    """Per-neuron share of points with ``w_k . x_i > b_k`` (the Hessian's mask a_ik).

    Parameters
    ----------
    net : Network
    X : array, shape (n, d)

    Returns
    -------
    ndarray, shape (width,)
        ``mean_i a_ik`` (a point exactly on the kink is inactive, as relu'(0) = 0).
    """
    net = as_network(net)
    X = check_data(net, X)
    n = X.shape[0]
    XT = np.ascontiguousarray(X.T)
    counts = np.zeros(net.width)
    chunk = max(1, CHUNK_ELEMENTS // n)
    for lo in range(0, net.width, chunk):
        Z = net.W[lo:lo + chunk] @ XT - net.b[lo:lo + chunk, None]
        counts[lo:lo + chunk] = np.count_nonzero(Z > 0, axis=1)
    return counts / n


class NeuronSide(NamedTuple):
    """Statistics of the points on one side of each neuron's hyperplane (all means over n points).

    Attributes
    ----------
    mean_relu : ndarray, shape (width,)
        ``mean_i (s z_ik)_+`` with s = +1 (active side) or -1 (inactive side).
    share : ndarray, shape (width,)
        ``mean_i 1[s z_ik > 0]``.
    mean_x : ndarray, shape (width, d)
        ``mean_i 1[s z_ik > 0] x_i`` (the share times the conditional mean of x).
    """

    mean_relu: np.ndarray
    share: np.ndarray
    mean_x: np.ndarray

    @property
    def scaled_gtilde(self) -> np.ndarray:
        """``mean_relu * ||(mean_x, -share)||``, shape (width,).

        On the active side this is ``mean_i phi_ik ||mean_i a_ik (x_i, -1)|| = ||w_k|| gtilde(u_k, t_k)``
        (docs/math.md, section 7), on the other side ``||w_k|| gtilde(-u_k, -t_k)``; for w_k = 0 it is
        the continuous extension (a constant neuron).
        """
        return self.mean_relu * np.sqrt(self.share * self.share + np.einsum("kd,kd->k", self.mean_x, self.mean_x))


def side_statistics(net: Network, X: np.ndarray) -> tuple[NeuronSide, NeuronSide]:
    """Per-neuron statistics of both sides of the hyperplanes ``w_k . x = b_k``.

    Computed in the neuron's own coordinates ``z_ik = w_k . x_i - b_k`` (no division by ||w_k||).

    Parameters
    ----------
    net : Network
    X : ndarray, shape (n, d)
        Already checked against ``net`` (float64, C-contiguous).

    Returns
    -------
    active : NeuronSide
        The side ``z_ik > 0``.
    inactive : NeuronSide
        The side ``z_ik < 0`` (points on the hyperplane belong to neither).
    """
    n, d = X.shape
    K = net.width
    XT = np.ascontiguousarray(X.T)
    sides = [NeuronSide(np.empty(K), np.empty(K), np.empty((K, d))) for _ in range(2)]
    chunk = max(1, CHUNK_ELEMENTS // n)
    for lo in range(0, K, chunk):
        hi = min(K, lo + chunk)
        Z = net.W[lo:hi] @ XT - net.b[lo:hi, None]            # (k, n)
        for index, side in enumerate(sides):
            if index == 1:
                np.negative(Z, out=Z)
            maskf = np.greater(Z, 0.0).astype(np.float64)
            side.mean_relu[lo:hi] = np.maximum(Z, 0.0).sum(axis=1) / n
            side.share[lo:hi] = maskf.sum(axis=1) / n
            side.mean_x[lo:hi] = (maskf @ X) / n
    return sides[0], sides[1]
