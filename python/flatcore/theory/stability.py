"""The stability inequality and the stable-minima bound: flatness bounds V_g (docs/math.md, section 7).

For every theta and every data set, with R = max_i ||x_i|| and gtilde over the empirical sample:

    lambda_max(H(theta)) >= 1 + 2 sum_k |v_k| ||w_k|| gtilde(u_k, t_k) - sqrt(1 + R^2) sqrt(2 L(theta))

(:func:`stability_inequality`), hence, since g <= gtilde, every theta with lambda_max <= 2/eta
(a minimum that gradient descent at step eta can settle at) has

    V_g(theta) <= 1/eta - 1/2 + sqrt(1 + R^2) sqrt(2 L(theta)) / 2

(:func:`stability_bound`). Both take the loss convention (``loss="half_mse"``, the default and
the form above, or ``"mse"``, L = 1/n sum r^2, whose Hessian is twice as large): in the "mse"
terms the inequality reads ``lambda_max >= 2 (1 + 2 sum ...) - 2 sqrt(1 + R^2) sqrt(L)`` and the
bound for GD at step eta on that loss is ``1/(2 eta) - 1/2 + sqrt(1 + R^2) sqrt(L) / 2``
(docs/math.md, sections 1.3 and 7.3).

Every number returned is finite: a step size so small that 1/eta overflows float64 is refused
(ValueError), and terms that overflow because the data or the weights are too large raise
FloatingPointError.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from .._equality import same_fields
from .._validation import as_scalar, check_choice, check_data, check_result, row_norms
from ..network import Network, as_network
from ..numerics import LOSSES, loss, loss_scale, neuron_sides
from ..spectrum import sharpness
from ._gtilde import neuron_gtilde

__all__ = ["StabilityInequality", "stability_inequality", "StabilityBound", "stability_bound"]


@dataclass(frozen=True, eq=False)
class StabilityInequality:
    """The deterministic inequality of docs/math.md, section 7, at one (theta, X, y).

        lhs = lambda_max(H(theta)) >= rhs = 1 + 2 * weighted_sum - sqrt(1 + R^2) * sqrt(2 L(theta))

    Attributes
    ----------
    lhs : float
        lambda_max of the Hessian.
    rhs : float
        The right-hand side.
    slack : float
        lhs - rhs, >= 0 for every theta and data set (up to rounding; see ``holds``).
    weighted_sum : float
        ``sum_k |v_k| ||w_k|| gtilde(u_k, t_k)`` with the empirical gtilde
        (:func:`flatcore.theory.gtilde_empirical`); each term is computed as
        ``|v_k| mean_i phi_ik ||mean_i a_ik (x_i, -1)||``, the same number for w_k != 0 and its
        continuous extension (a constant neuron) for w_k = 0.
    residual_term : float
        ``sqrt(1 + R^2) * sqrt(2 L)``.
    R : float
        ``max_i ||x_i||``.
    loss : float
        ``L(theta) = 1/(2n) sum_i r_i^2``.
    terms : ndarray, shape (width,)
        The per-neuron terms of ``weighted_sum``.

    Two are equal (``==``) when every attribute is, ``terms`` entry for entry. Not hashable
    (``terms`` is an array).
    """

    lhs: float
    rhs: float
    slack: float
    weighted_sum: float
    residual_term: float
    R: float
    loss: float
    terms: np.ndarray = field(repr=False)

    def __repr__(self) -> str:
        return (
            f"StabilityInequality(lhs={self.lhs:.6g}, rhs={self.rhs:.6g}, slack={self.slack:.3g}, "
            f"weighted_sum={self.weighted_sum:.6g}, residual_term={self.residual_term:.6g}, R={self.R:.6g}, "
            f"loss={self.loss:.6g}, terms of {self.terms.size} neurons)"
        )

    def __eq__(self, other):
        return same_fields(self, other)

    __hash__ = None  # type: ignore[assignment]  # terms is an array: not hashable

    @property
    def scale(self) -> float:
        """Size of the numbers involved: ``|lhs| + 1 + 2 weighted_sum + residual_term``."""
        return abs(self.lhs) + 1.0 + 2.0 * self.weighted_sum + self.residual_term

    @property
    def holds(self) -> bool:
        """``slack >= -1e-9 * scale``: the inequality up to floating-point rounding."""
        return bool(self.slack >= -1e-9 * self.scale)


def _radius_and_loss(net, X, y, convention: str):
    """R = max_i ||x_i||, L(theta) in the convention, and the "half_mse" L (what the proofs use)."""
    with np.errstate(over="ignore", under="ignore"):
        R = float(np.max(row_norms(np.sqrt(np.einsum("nd,nd->n", X, X)), X)))
    L = float(loss(net, X, y, loss=convention))
    return R, L, L / loss_scale(convention)


def _sqrt_1_plus_square(R: float) -> float:
    """sqrt(1 + R^2) without overflow (it equals R in float64 beyond 1e150)."""
    return float(np.sqrt(1.0 + R * R)) if R < 1e150 else R


def stability_inequality(net: Network, X, y, *, lambda_max=None, loss: str = "half_mse") -> StabilityInequality:
    """Check ``lambda_max(H) >= 1 + 2 sum_k |v_k| ||w_k|| gtilde(u_k, t_k) - sqrt(1+R^2) sqrt(2L)``.

    docs/math.md, section 7: the inequality holds for every theta and every data set, with
    R = max_i ||x_i|| and gtilde over the empirical sample.

    Parameters
    ----------
    net : Network
    X : array, shape (n, d)
    y : array, shape (n,)
    lambda_max : float, optional
        The top eigenvalue of the Hessian of the ``loss`` convention's L if already known.
        Default: ``flatcore.sharpness(net, X, y, loss=loss)`` (to a relative 1e-10).
    loss : {"half_mse", "mse"}
        The loss convention. For "mse" every term of the inequality is twice the "half_mse" one
        (``lhs``, ``rhs``, ``slack`` and ``residual_term`` are in "mse" terms, ``loss`` is the
        "mse" L; ``weighted_sum`` and ``terms`` do not depend on it).

    Returns
    -------
    StabilityInequality

    Notes
    -----
    The weighted sum uses the masks ``w_k . x_i > b_k`` of the compiled core's forward pass, the
    same as the Hessian's, so both sides of the inequality see the same activation pattern, to
    the last bit at a kink.
    """
    net = as_network(net)
    X, y = check_data(net, X, y)
    convention = check_choice(loss, "loss", LOSSES)
    c = loss_scale(convention)
    lam = sharpness(net, X, y, loss=convention) if lambda_max is None else as_scalar(lambda_max, "lambda_max")
    with np.errstate(over="ignore", invalid="ignore"):
        terms = np.abs(net.v) * neuron_gtilde(neuron_sides(net, X).active)
        weighted = float(terms.sum())
        R, L, L_half = _radius_and_loss(net, X, y, convention)
        residual = float(c * _sqrt_1_plus_square(R) * np.sqrt(2.0 * L_half))
        rhs = c * (1.0 + 2.0 * weighted) - residual
        slack = lam - rhs
    check_result(terms, "the weighted sum's terms")
    check_result([weighted, residual, rhs, slack], "a term of the stability inequality")
    return StabilityInequality(
        lhs=lam, rhs=rhs, slack=slack, weighted_sum=weighted, residual_term=residual, R=R, loss=L, terms=terms
    )


@dataclass(frozen=True)
class StabilityBound:
    """The stable-minima bound of docs/math.md, section 7, for step size ``lr`` (eta).

        if lambda_max <= 2/eta:   vg <= weighted_sum <= bound = 1/eta - 1/2 + sqrt(1+R^2) sqrt(2L) / 2

    Attributes
    ----------
    vg : float
        V_g(theta) with the empirical g (:func:`flatcore.theory.vg_norm` over X).
    bound : float
        ``1/eta - 1/2 + sqrt(1 + R^2) sqrt(2 L) / 2``.
    holds : bool
        ``vg <= bound`` (up to a relative 1e-12 for rounding). Guaranteed when lambda_max <= 2/eta;
        a network with larger sharpness may violate it.
    weighted_sum : float
        ``sum_k |v_k| ||w_k|| gtilde(u_k, t_k)`` (>= vg), which the inequality actually bounds.
    lr : float
        The step size eta.
    R : float
        ``max_i ||x_i||``.
    loss : float
        ``L(theta)``.
    """

    vg: float
    bound: float
    holds: bool
    weighted_sum: float
    lr: float
    R: float
    loss: float


def stability_bound(net: Network, X, y, lr, *, loss: str = "half_mse") -> StabilityBound:
    """V_g (empirical g) and its stable-minima bound ``1/eta - 1/2 + sqrt(1 + R^2) sqrt(2 L) / 2``.

    docs/math.md, section 7: from ``lambda_max >= 1 + 2 sum_k |v_k| ||w_k|| gtilde - sqrt(1+R^2) sqrt(2L)``
    and ``g <= gtilde``, every theta with ``lambda_max(H) <= 2/eta`` has V_g below the bound.

    Parameters
    ----------
    net : Network
    X : array, shape (n, d)
    y : array, shape (n,)
    lr : float
        Step size eta > 0, large enough that 1/eta is finite in float64 (about 5.6e-309 or more).
    loss : {"half_mse", "mse"}
        The loss convention that GD at step ``lr`` descends. Stability at step eta on "mse" is
        stability at step 2 eta on "half_mse", so the bound is then
        ``1/(2 eta) - 1/2 + sqrt(1 + R^2) sqrt(2 L_half) / 2`` with ``L_half = L / 2``; ``loss`` in
        the result is the "mse" L.

    Returns
    -------
    StabilityBound
    """
    net = as_network(net)
    X, y = check_data(net, X, y)
    lr = as_scalar(lr, "lr", positive=True)
    convention = check_choice(loss, "loss", LOSSES)
    eta_half = loss_scale(convention) * lr  # the "half_mse" step with the same dynamics
    if not np.isfinite(1.0 / eta_half):
        raise ValueError(
            f"lr = {lr!r} is so small that the bound 1/lr overflows float64; use lr >= 1e-307 "
            "(any smaller step is stable for every network: the bound is then infinite)"
        )
    active, inactive = neuron_sides(net, X)
    with np.errstate(over="ignore", invalid="ignore"):
        plus, minus = neuron_gtilde(active), neuron_gtilde(inactive)
        # V_g as in vg_contributions(net, X), from the same pass over the data
        nz = np.any(net.W != 0, axis=1)
        vg = float(np.sum(np.where(nz, np.abs(net.v) * np.minimum(plus, minus), 0.0)))
        weighted = float(np.sum(np.abs(net.v) * plus))
        R, L, L_half = _radius_and_loss(net, X, y, convention)
        bound = 1.0 / eta_half - 0.5 + 0.5 * _sqrt_1_plus_square(R) * np.sqrt(2.0 * L_half)
    check_result([vg, weighted, bound], "V_g or its stability bound")
    holds = vg <= bound + 1e-12 * max(abs(bound), vg, 1.0)
    return StabilityBound(vg=vg, bound=float(bound), holds=bool(holds), weighted_sum=weighted, lr=lr, R=R, loss=L)
