"""The weighted variation V_g of a network and its unweighted sibling, the path norm (docs/math.md, section 6).

    V_g(theta) = sum_k |v_k| ||w_k|| g(w_k / ||w_k||, b_k / ||w_k||)      (0 for w_k = 0)
    path norm  = sum_k |v_k| ||w_k||

V_g(theta) is the representation cost whose infimum over the representations of f_theta is the
function-space seminorm |f_theta|_{V_g}, so it bounds that seminorm from above. The path norm is
what weight decay controls at a balanced solution; unlike V_g it gets no discount for neurons
whose kink sits near the edge of the data.

Both are finite or raise FloatingPointError: they overflow float64 only where the true value
exceeds its range (weights or data too large in magnitude: rescale them).
"""

from __future__ import annotations

import numpy as np

from .._validation import as_int, check_data, check_result, row_norms
from ..network import Network, as_network
from ..numerics import neuron_sides
from ._checks import as_law
from ._gtilde import neuron_gtilde, population_gtilde

__all__ = ["path_norm", "vg_contributions", "vg_norm"]


def path_norm(net: Network) -> float:
    """Path norm ``sum_k |v_k| ||w_k||`` (docs/math.md, section 6), the unweighted sibling of V_g.

    Parameters
    ----------
    net : Network

    Returns
    -------
    float
    """
    net = as_network(net)
    with np.errstate(over="ignore"):
        value = np.sum(np.abs(net.v) * _weight_norms(net.W))
    return float(check_result(value, "the path norm"))


def _weight_norms(W: np.ndarray) -> np.ndarray:
    """||w_k|| for each row of W, finite whenever the true norm is."""
    with np.errstate(over="ignore", under="ignore"):
        return row_norms(np.linalg.norm(W, axis=1), W)


def vg_contributions(net: Network, X=None, *, law=None, n_samples=200_000, seed=0) -> np.ndarray:
    """Per-neuron terms of V_g: ``|v_k| ||w_k|| g(w_k/||w_k||, b_k/||w_k||)`` (docs/math.md, section 6).

    ``g`` is empirical over X when X is given (:func:`flatcore.theory.g_empirical`, computed in the
    neuron's coordinates z = w.x - b, which avoids dividing by ||w_k||), else the population g of
    ``law`` (see :func:`flatcore.theory.g_population`): through the law's marginal when it has one,
    else estimated from one seeded sample of the law, at a cost of about
    n_samples * width * d operations (:func:`flatcore.theory.g_population` gives their standard
    errors).

    Parameters
    ----------
    net : Network
    X : array, shape (n, d), optional
        The sample for the empirical g. Give X or ``law``, not both.
    law : law object, optional
        The law of the inputs, of dimension ``net.d`` (default, without X:
        ``flatcore.data.UniformBall(net.d)``, the unit ball).
    n_samples : int
        Monte Carlo sample size for a law without a marginal (default 200000).
    seed : optional
        Seed of that sample, passed to ``law.sample``.

    Returns
    -------
    ndarray, shape (width,)
        Non-negative; 0 for neurons with w_k = 0.
    """
    net = as_network(net)
    n_samples = as_int(n_samples, "n_samples", minimum=2)  # checked even where no sample is drawn
    if X is not None and law is not None:
        raise ValueError("give either X (empirical g) or law (population g), not both")
    wnorm = _weight_norms(net.W)
    nz = wnorm > 0
    out = np.zeros(net.width)
    if X is not None:
        X = check_data(net, X)
        active, inactive = neuron_sides(net, X)
        with np.errstate(over="ignore", invalid="ignore"):
            plus, minus = neuron_gtilde(active), neuron_gtilde(inactive)
            out[nz] = np.abs(net.v[nz]) * np.minimum(plus[nz], minus[nz])
        return check_result(out, "the terms of V_g")
    law = as_law(law, net.d, "the network's inputs")
    if np.any(nz):
        with np.errstate(over="ignore"):  # |t| beyond float64 is a neuron active everywhere or nowhere
            t = np.clip(net.b[nz] / wnorm[nz], -np.finfo(np.float64).max, np.finfo(np.float64).max)
        g, _, _ = population_gtilde(
            net.W[nz] / wnorm[nz, None],
            t,
            law,
            "auto",
            n_samples,
            seed,
            both_sides=True,
            want_se=False,
            where="the network's inputs",
        )
        with np.errstate(over="ignore", invalid="ignore"):
            out[nz] = np.abs(net.v[nz]) * wnorm[nz] * g
    return check_result(out, "the terms of V_g")


def vg_norm(net: Network, X=None, *, law=None, n_samples=200_000, seed=0) -> float:
    """Weighted variation ``V_g(theta) = sum_k |v_k| ||w_k|| g(w_k/||w_k||, b_k/||w_k||)`` (docs/math.md, section 6).

    Neurons with w_k = 0 contribute 0. g is empirical over X if given, else the population g of
    ``law`` (default the unit ball). The terms are :func:`vg_contributions`. V_g(theta) is an
    upper bound of the function-space seminorm ``|f_theta|_{V_g}``.

    Parameters
    ----------
    net : Network
    X, law, n_samples, seed
        The sample for the empirical g, or the law of the inputs (default, without X: the unit
        ball) with the Monte Carlo sample size and seed, as in :func:`vg_contributions`.

    Returns
    -------
    float
    """
    with np.errstate(over="ignore"):
        value = np.sum(vg_contributions(net, X, law=law, n_samples=n_samples, seed=seed))
    return float(check_result(value, "V_g"))
