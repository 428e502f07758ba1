"""The data-dependent weight function g and its one-sided part gtilde (docs/math.md, section 5).

For a unit direction ``u`` in R^d and a threshold ``t`` (a neuron k has ``u_k = w_k / ||w_k||`` and
``t_k = b_k / ||w_k||`` and is active where ``u_k . x > t_k``):

    gtilde(u, t) = P(u.X > t)^2 * E[u.X - t | u.X > t] * sqrt(1 + ||E[X | u.X > t]||^2)
                 = E[(u.X - t)_+] * sqrt(P(u.X > t)^2 + ||E[X 1(u.X > t)]||^2)
    g(u, t)      = min(gtilde(u, t), gtilde(-u, -t))

(gtilde = 0 where ``P(u.X > t) = 0``). Three versions, by what X follows:

- empirical (:func:`gtilde_empirical`, :func:`g_empirical`): the sample X itself, each row weight 1/n;
- the uniform unit ball in closed form (:func:`gtilde_uniform_ball`, :func:`g_uniform_ball`);
- population (:func:`gtilde_population`, :func:`g_population`) for a law object of
  :mod:`flatcore.data`. A law that knows the tail of its one-dimensional marginal (an
  :class:`flatcore.data.IsotropicLaw`: the uniform ball, the sphere, the Gaussian, the radial
  family) gives g without sampling, since then ``E[X 1(u.X > t)] = u m1(t)`` and, with
  ``P(t) = P(u.X > t)`` and ``m1(t) = E[u.X 1(u.X > t)]``,
  ``gtilde(t) = (m1(t) - t P(t)) * sqrt(P(t)^2 + m1(t)^2)``; any other law (a
  :class:`flatcore.data.BallMixture`, or a user's object with ``d`` and ``sample(n, seed)``) goes
  through Monte Carlo on a seeded sample from its own sampler, with a delta-method standard error.

Directions ``u`` must be unit vectors (to a relative 1e-8; they are then renormalised exactly): a
non-unit u is refused rather than silently normalised, because the matching threshold would have
to be rescaled too (pass ``w / ||w||`` and ``b / ||w||``).

Every function returns finite values or raises FloatingPointError: g grows like the square of the
data's scale, so data of magnitude beyond about 1e154 can make it overflow float64 (rescale X).
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np

from .._equality import not_equal, same_fields
from .._validation import check_result
from ..data import UniformBall
from ._checks import as_dim, as_directions, as_samples, as_thresholds, broadcast_ut
from ._gtilde import isotropic_gtilde, population_gtilde, sample_gtilde

__all__ = [
    "PopulationG",
    "gtilde_uniform_ball",
    "g_uniform_ball",
    "gtilde_empirical",
    "g_empirical",
    "gtilde_population",
    "g_population",
]


_RESCALE_X = "the sample X is too large in magnitude: rescale it (g scales like its square)"
_RESCALE_T = "the thresholds t are too large in magnitude for the law"
_RESCALE_LAW = "the thresholds t or the law's scale are too large in magnitude: rescale them"


def _as_output(out: np.ndarray):
    return float(out) if out.ndim == 0 else out


def _empirical(X, u, t, both_sides: bool) -> np.ndarray | float:
    """gtilde(u, t) over the sample X, or with ``both_sides`` g = min(gtilde(u, t), gtilde(-u, -t))."""
    X = as_samples(X)
    u = as_directions(u, X.shape[1])
    U, tt, shape = broadcast_ut(u, as_thresholds(t))
    with np.errstate(over="ignore", invalid="ignore"):
        gp, gm, _, _ = sample_gtilde(X, U, tt, both_sides=both_sides, want_se=False)
    out = (np.minimum(gp, gm) if both_sides else gp).reshape(shape)
    return _as_output(check_result(out, "the empirical weight " + ("g" if both_sides else "gtilde"), _RESCALE_X))


# =================================================================================================
# The uniform ball in closed form
# =================================================================================================
def gtilde_uniform_ball(t, d) -> np.ndarray | float:
    """One-sided weight gtilde(t) for X uniform in the unit ball of R^d (docs/math.md, section 5).

    ``gtilde(t) = (m1(t) - t P(t)) * sqrt(P(t)^2 + m1(t)^2)`` with ``S = u.X`` (any unit u),
    ``P(t) = P(S > t) = (1/2) I_{1-t^2}((d+1)/2, 1/2)`` for t >= 0 and ``1 - P(-t)`` for t < 0
    (``I`` the regularised incomplete beta, :func:`scipy.special.betainc`), and
    ``m1(t) = E[S 1(S > t)] = c_d (1 - t^2)^((d+1)/2) / (d + 1)``,
    ``c_d = Gamma(d/2 + 1) / (sqrt(pi) Gamma((d+1)/2))`` (through ``gammaln``). The same as
    ``gtilde_population(u, t, UniformBall(d)).g`` for any unit u.

    Parameters
    ----------
    t : float or array of any shape
        Thresholds; any real value (gtilde = 0 for t >= 1 and gtilde = -t for t <= -1).
    d : int
        Dimension, >= 1.

    Returns
    -------
    float or ndarray, shape of ``t``
        Non-increasing in t. Relative accuracy about ``1e-16 / (1 - t)`` for t near 1 (the
        difference m1 - t P cancels there).
    """
    t = as_thresholds(t)
    return _as_output(check_result(isotropic_gtilde(UniformBall(as_dim(d)), t), "gtilde", _RESCALE_T))


def g_uniform_ball(t, d) -> np.ndarray | float:
    """Weight ``g(u, t) = gtilde(|t|)`` for X uniform in the unit ball of R^d (docs/math.md, section 5).

    ``g(u, t) = min(gtilde(u, t), gtilde(-u, -t))``; by symmetry of the ball this is
    ``min(gtilde(t), gtilde(-t)) = gtilde(|t|)`` (gtilde is non-increasing), see
    :func:`gtilde_uniform_ball`. Near the boundary ``g ~ (1 - |t|)^(d+2)``; g = 0 for ``|t| >= 1``;
    d = 1 gives ``(1 - |t|)^3 / 8 * sqrt(1 + (1 + |t|)^2 / 4)``.

    Parameters
    ----------
    t : float or array of any shape
        Thresholds.
    d : int
        Dimension, >= 1.

    Returns
    -------
    float or ndarray, shape of ``t``
    """
    t = as_thresholds(t)
    return _as_output(check_result(isotropic_gtilde(UniformBall(as_dim(d)), np.abs(t)), "g", _RESCALE_T))


# =================================================================================================
# Empirical gtilde and g
# =================================================================================================
def gtilde_empirical(X, u, t) -> np.ndarray | float:
    """Empirical one-sided weight gtilde(u, t) over the sample X (docs/math.md, section 5).

    With each point weighted 1/n, ``P = mean_i 1[u.x_i > t]``:

        gtilde(u, t) = P^2 * E[u.x - t | u.x > t] * sqrt(1 + ||E[x | u.x > t]||^2)
                     = mean_i (u.x_i - t)_+ * sqrt(P^2 + ||mean_i x_i 1[u.x_i > t]||^2),

    which is 0 where no point has u.x_i > t (strict inequality, as the ReLU mask of the Hessian).

    Parameters
    ----------
    X : array, shape (n, d)
        The sample, n >= 1 (a 1-D X is read as n points in R^1).
    u : array, shape (d,) or (m, d)
        Unit direction(s); a non-unit u is refused (see the module docstring).
    t : float or array
        Threshold(s). With u of shape (d,), any shape; with u of shape (m, d), a scalar or (m,).

    Returns
    -------
    float or ndarray
        Shape of ``t`` for one direction, (m,) for m directions.
    """
    return _empirical(X, u, t, both_sides=False)


def g_empirical(X, u, t) -> np.ndarray | float:
    """Empirical weight g(u, t) = min(gtilde(u, t), gtilde(-u, -t)) over the sample X (docs/math.md, section 5).

    Parameters
    ----------
    X, u, t
        The sample, unit direction(s) and threshold(s), as in :func:`gtilde_empirical`.

    Returns
    -------
    float or ndarray
        Shape of ``t`` for one direction, (m,) for m directions.
    """
    return _empirical(X, u, t, both_sides=True)


# =================================================================================================
# Population versions
# =================================================================================================
class PopulationG(NamedTuple):
    """A population weight and how it was computed: ``g, stderr, method = g_population(...)``.

    Attributes
    ----------
    g : float or ndarray
        The value(s) of g (or gtilde).
    stderr : float or ndarray
        Monte Carlo standard error (delta method), same shape as ``g``; 0 when the law's marginal
        was used (the closed forms are exact to rounding; the radial family's quadrature has a
        relative error about 1e-12 typically and below 1e-8 even for sharply peaked laws, e.g.
        alpha = 20 in d = 30; all routes lose about ``log10(1/(1-|t|))`` digits near the top of the
        support, where m1 - t P cancels). The delta-method error is unreliable when only a
        handful of sample points are active (it is 0 when none is).
    method : str
        ``"monte carlo"``, or the law's ``marginal_method`` when its marginal was used
        (``"closed form"`` for the ball, sphere and Gaussian, ``"quadrature"`` for the radial
        family, ``"marginal"`` for a law that does not name its method).
    """

    g: np.ndarray | float
    stderr: np.ndarray | float
    method: str

    # Arrays entry for entry: tuple's own == and != would ask an array for its truth value.
    def __eq__(self, other):
        return same_fields(self, other)

    def __ne__(self, other):
        return not_equal(self, other)


PopulationG.__hash__ = None  # type: ignore[assignment]  # holds arrays: not hashable


def gtilde_population(u, t, law=None, *, method="auto", n_samples=200_000, seed=0) -> PopulationG:
    """Population one-sided weight gtilde(u, t) under an input law (docs/math.md, section 5).

        gtilde(u, t) = P(u.X > t)^2 E[u.X - t | u.X > t] sqrt(1 + ||E[X | u.X > t]||^2)

    Parameters
    ----------
    u : array, shape (d,) or (m, d)
        Unit direction(s); d is read from u and must equal ``law.d``. Non-unit u is refused
        (module docstring).
    t : float or array
        Threshold(s): any shape with one direction, a scalar or (m,) with m directions.
    law : law object, optional
        The law of X (default: ``flatcore.data.UniformBall(d)``, the unit ball). A law with a
        ``marginal_tail`` method (:class:`flatcore.data.IsotropicLaw`: ``UniformBall``,
        ``UniformSphere``, ``Gaussian``, ``Radial``) is used through its one-dimensional marginal;
        any other object with ``d`` and ``sample(n, seed)`` (``BallMixture``, a user's law) by
        Monte Carlo on its own sample.
    method : {"auto", "monte_carlo"}
        ``"monte_carlo"`` forces Monte Carlo also for a law with a marginal (a cross-check).
    n_samples : int
        Monte Carlo sample size, >= 2 (default 200000); the standard error scales as
        1/sqrt(n_samples).
    seed : optional
        Seed of the Monte Carlo sample, passed to ``law.sample`` (anything
        :func:`numpy.random.default_rng` accepts for the laws of :mod:`flatcore.data`).

    Returns
    -------
    PopulationG
        ``(g, stderr, method)``; ``g`` and ``stderr`` are floats for one (u, t), else arrays of
        the broadcast shape. Through the marginal,
        ``gtilde(t) = (m1(t) - t P(t)) sqrt(P(t)^2 + m1(t)^2)`` (P(t) = P(u.X > t),
        m1(t) = E[u.X 1(u.X > t)]), the same for every u. Monte Carlo uses the sample version of
        ``E[(u.X - t)_+] sqrt(P^2 + ||E[X 1(u.X > t)]||^2)`` and a delta-method standard error.
    """
    with np.errstate(over="ignore", invalid="ignore"):
        g, se, how = population_gtilde(u, t, law, method, n_samples, seed, both_sides=False)
    check_result(g, "the population gtilde", _RESCALE_LAW)
    check_result(se, "the standard error of the population gtilde", _RESCALE_LAW)
    return PopulationG(_as_output(g), _as_output(se), how)


def g_population(u, t, law=None, *, method="auto", n_samples=200_000, seed=0) -> PopulationG:
    """Population weight g(u, t) = min(gtilde(u, t), gtilde(-u, -t)) under an input law (docs/math.md, section 5).

    Parameters
    ----------
    u, t, law, method, n_samples, seed
        Unit direction(s), threshold(s), the law of X (default: ``flatcore.data.UniformBall(d)``),
        ``"auto"`` or ``"monte_carlo"``, and the Monte Carlo sample size and seed, as in
        :func:`gtilde_population`.

    Returns
    -------
    PopulationG
        ``(g, stderr, method)``, floats for one (u, t), else arrays of the broadcast shape. By
        Monte Carlo both sides come from the same sample and ``stderr`` is that of the smaller one.
    """
    with np.errstate(over="ignore", invalid="ignore"):
        g, se, how = population_gtilde(u, t, law, method, n_samples, seed, both_sides=True)
    check_result(g, "the population g", _RESCALE_LAW)
    check_result(se, "the standard error of the population g", _RESCALE_LAW)
    return PopulationG(_as_output(g), _as_output(se), how)
