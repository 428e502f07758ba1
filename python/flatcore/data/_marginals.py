"""One-dimensional marginals of the isotropic laws (private to :mod:`flatcore.data`).

For an isotropic X and any unit u, S = u.X has a law that does not depend on u. These functions
return, for thresholds t (a float64 array of any shape), the tail quantities

    P(t) = P(S > t),    m1(t) = E[S 1(S > t)],    excess(t) = E[(S - t)_+] = m1(t) - t P(t),

for the unit ball and sphere (closed form, docs/math.md, section 5), the standard Gaussian
(closed form) and the radial family (tanh-sinh quadrature over the radius).
"""

from __future__ import annotations

import numpy as np
from scipy import special


def ball_tail(t: np.ndarray, dd: float):
    """P(S > t) and m1(t) = E[S 1(S > t)] for S = u.X, X uniform in the unit ball of R^dd.

    ``P(t) = (1/2) I_{1-t^2}((dd+1)/2, 1/2)`` for t >= 0 and ``1 - P(-t)`` for t < 0,
    ``m1(t) = c (1 - t^2)^((dd+1)/2) / (dd + 1)`` with ``c = Gamma(dd/2 + 1) / (sqrt(pi) Gamma((dd+1)/2))``.
    dd may be any real >= 0 (dd = d - 2 gives the uniform sphere in R^d, d >= 2).
    """
    t = np.asarray(t, dtype=np.float64)
    a = np.abs(t)
    inside = a < 1.0
    ai = np.where(inside, a, 0.0)  # (1 - a)(1 + a) would overflow for |t| beyond 1e154
    x = np.where(inside, (1.0 - ai) * (1.0 + ai), 0.0)  # 1 - t^2 without cancellation
    half_upper = 0.5 * special.betainc((dd + 1.0) / 2.0, 0.5, x)  # P(S > |t|)
    P = np.where(t >= 0, half_upper, 1.0 - half_upper)
    P = np.where(inside, P, np.where(t >= 1.0, 0.0, 1.0))
    log_c = special.gammaln(dd / 2.0 + 1.0) - 0.5 * np.log(np.pi) - special.gammaln((dd + 1.0) / 2.0)
    with np.errstate(divide="ignore"):
        m1 = np.where(inside, np.exp(log_c + 0.5 * (dd + 1.0) * np.log(np.where(inside, x, 1.0))) / (dd + 1.0), 0.0)
    return P, m1


def sphere_tail(s: np.ndarray, d: int):
    """P(V > s) and E[V 1(V > s)] for V = u.U, U uniform on the unit sphere of R^d.

    Archimedes: for d >= 2 V has the marginal of the uniform ball of R^(d-2); for d = 1,
    V = +-1 with probability 1/2 each.
    """
    s = np.asarray(s, dtype=np.float64)
    if d >= 2:
        return ball_tail(s, float(d - 2))
    P = np.where(s < -1.0, 1.0, np.where(s < 1.0, 0.5, 0.0))
    m1 = np.where((s >= -1.0) & (s < 1.0), 0.5, 0.0)
    return P, m1


def gaussian_tail(t: np.ndarray):
    """P, m1 and E[(S - t)_+] for S ~ N(0, 1), the latter through erfcx to limit cancellation."""
    t = np.asarray(t, dtype=np.float64)
    P = special.ndtr(-t)
    # beyond |t| ~ 40 the densities underflow to 0, as they should; t^2 may overflow on the way
    tc = np.clip(t, -1e10, 1e10)
    m1 = np.exp(-0.5 * tc * tc) / np.sqrt(2.0 * np.pi)
    # E[(S-t)_+] = phi(t) - t Phi(-t) = exp(-t^2/2) [1/sqrt(2 pi) - (t/2) erfcx(t/sqrt 2)] for t > 0
    pos = np.maximum(tc, 0.0)
    excess_pos = np.exp(-0.5 * pos * pos) * (1.0 / np.sqrt(2.0 * np.pi) - 0.5 * pos * special.erfcx(pos / np.sqrt(2.0)))
    excess = np.where(t > 0, excess_pos, m1 - t * P)
    return P, m1, excess


def _tanh_sinh(h: float = 1.0 / 16.0):
    """Tanh-sinh nodes on (-1, 1) as (1 + x, 1 - x, weights), both distances without cancellation."""
    k = np.arange(-int(3.2 / h), int(3.2 / h) + 1)
    s = k * h
    y = 0.5 * np.pi * np.sinh(s)
    one_minus = 2.0 / (1.0 + np.exp(2.0 * y))  # 1 - tanh(y)
    one_plus = 2.0 / (1.0 + np.exp(-2.0 * y))  # 1 + tanh(y)
    w = h * 0.5 * np.pi * np.cosh(s) / np.cosh(y) ** 2
    keep = (one_minus > 0) & (one_plus > 0) & (w > 0)
    return one_plus[keep], one_minus[keep], w[keep]


_TANH_SINH = _tanh_sinh()


def isotropic_quadrature(t: np.ndarray, d: int, radius_of_q, survival):
    """P, m1, E[(S-t)_+] for an isotropic X = rho U in the unit ball of R^d, by tanh-sinh quadrature.

    The radius is parametrised by its survival level q = P(rho' > rho), uniform on (0, 1):
    ``rho = radius_of_q(q)``, and ``survival(r) = P(rho > r)`` is its inverse. S = rho V with
    V = u.U the sphere marginal. Points with rho <= |t| lie entirely on one side of the threshold
    (V in [-1, 1]): they contribute nothing for t > 0; for t < 0 they are all active with
    E[S 1] = 0 by symmetry and E[(S - t)_+] = |t|. The rest, q in (0, survival(|t|)), is
    integrated numerically (both ends may carry algebraic singularities, which tanh-sinh absorbs).
    Returns arrays of the shape of t.
    """
    t = np.asarray(t, dtype=np.float64)
    shape = t.shape
    t = t.reshape(-1)
    a = np.minimum(np.abs(t), 1.0)
    q_hi = survival(a)  # (M,)
    _one_plus, one_minus, w = _TANH_SINH
    # q = q_hi (1 - x) / 2: small q (rho near 1) and q near q_hi (rho near |t|) both accurate
    q = q_hi[:, None] * (0.5 * one_minus[None, :])
    rho = np.maximum(radius_of_q(q), a[:, None])  # rounding at the lower end
    ratio = np.where(rho > 0, t[:, None] / np.where(rho > 0, rho, 1.0), 0.0)
    Ps, m1s = sphere_tail(ratio, d)
    excess_s = np.maximum(m1s - ratio * Ps, 0.0)
    ww = (0.5 * q_hi)[:, None] * w[None, :]
    P = (ww * Ps).sum(axis=1)
    m1 = (ww * rho * m1s).sum(axis=1)
    excess = (ww * rho * excess_s).sum(axis=1)
    inner = 1.0 - q_hi  # P(rho <= |t|)
    neg = t < 0
    P = np.where(neg, P + inner, P)
    excess = np.where(neg, excess + np.abs(t) * inner, excess)
    # |t| >= 1: exact values
    P = np.where(t >= 1, 0.0, np.where(t <= -1, 1.0, P))
    m1 = np.where(np.abs(t) >= 1, 0.0, m1)
    excess = np.where(t >= 1, 0.0, np.where(t <= -1, -t, excess))
    return P.reshape(shape), m1.reshape(shape), excess.reshape(shape)


def radial_radius(q, alpha: float):
    """rho = 1 - q^(1/alpha): the radial family's radius at survival level q (uniform on (0, 1))."""
    with np.errstate(divide="ignore"):
        return -np.expm1(np.log(q) / alpha)


def radial_tail(t: np.ndarray, d: int, alpha: float):
    """P, m1, E[(S-t)_+] of the radial family: P(rho > r) = (1 - r)^alpha, rho(q) = 1 - q^(1/alpha)."""

    def survival(r):
        with np.errstate(divide="ignore"):
            return np.exp(alpha * np.log1p(-r))

    return isotropic_quadrature(t, d, lambda q: radial_radius(q, alpha), survival)
