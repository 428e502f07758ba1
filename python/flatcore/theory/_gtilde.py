"""How gtilde is computed: from a sample or from a law's marginal (private).

Shared by :mod:`flatcore.theory.weight` (the public g and gtilde) and
:mod:`flatcore.theory.variation` (the population V_g). Notation of docs/math.md, section 5.
"""

from __future__ import annotations

import numpy as np

from .._validation import as_int, check_memory, row_norms
from ..data import IsotropicLaw
from ._checks import CHUNK_ELEMENTS, as_directions, as_law, as_samples, as_thresholds, broadcast_ut

POPULATION_METHODS = ("auto", "monte_carlo")


def neuron_gtilde(side) -> np.ndarray:
    """``||w_k|| gtilde`` of each neuron on one side of its hyperplane, shape (width,).

    From the core's statistics (:func:`flatcore.neuron_sides`): ``excess * ||(moment, -share)||``.

    On the active side this is ``mean_i phi_ik ||mean_i a_ik (x_i, -1)|| = ||w_k|| gtilde(u_k, t_k)``
    (docs/math.md, section 7), on the other side ``||w_k|| gtilde(-u_k, -t_k)``; for w_k = 0 it is
    the continuous extension (a constant neuron). The root is overflow-safe (the product may still
    overflow where the true value exceeds float64's range: the public functions check).
    """
    root = np.sqrt(side.share * side.share + np.einsum("kd,kd->k", side.moment, side.moment))
    return side.excess * row_norms(root, side.moment, side.share)


def isotropic_gtilde(law, t: np.ndarray) -> np.ndarray:
    """gtilde(t) = E[(S - t)_+] sqrt(P(t)^2 + m1(t)^2) from ``law.marginal_tail(t)``, shape of t."""
    P, m1, excess = (np.asarray(a, dtype=np.float64) for a in law.marginal_tail(t))
    for name, value in (("P", P), ("m1", m1), ("excess", excess)):
        if value.shape != t.shape:
            raise ValueError(
                f"{law!r}.marginal_tail returned {name} of shape {value.shape} for thresholds "
                f"of shape {t.shape}; expected the same shape"
            )
        if not np.all(np.isfinite(value)):
            raise ValueError(f"{law!r}.marginal_tail returned non-finite {name}")
    excess = np.maximum(excess, 0.0)  # rounding in m1 - t P for t near the top of the support
    return excess * np.hypot(P, m1)


def sample_gtilde(X, U, t, *, both_sides: bool, want_se: bool):
    """gtilde over the sample X (each row weight 1/n) for M pairs (U_j, t_j).

    U is (d,) (one direction for all thresholds) or (M, d). Returns (gp, gm, se_p, se_m) where gm
    is gtilde(-u, -t) (None unless both_sides) and se_* are delta-method standard errors of the
    sample means (None unless want_se). Work arrays are (chunk, n), rows contiguous.
    """
    n, _d = X.shape
    M = t.shape[0]
    XT = np.ascontiguousarray(X.T)
    gp = np.empty(M)
    gm = np.empty(M) if both_sides else None
    sp = np.empty(M) if want_se else None
    sm = np.empty(M) if (want_se and both_sides) else None
    s_single = U @ XT if U.ndim == 1 else None
    chunk = max(1, CHUNK_ELEMENTS // n)
    for lo in range(0, M, chunk):
        hi = min(M, lo + chunk)
        Z = (s_single[None, :] if s_single is not None else U[lo:hi] @ XT) - t[lo:hi, None]  # (m, n)
        for side, (g_out, se_out) in enumerate(((gp, sp), (gm, sm))[: 2 if both_sides else 1]):
            assert g_out is not None  # gm exists whenever the second side is computed
            if side == 1:
                np.negative(Z, out=Z)  # -u.x - (-t)
            excess = np.maximum(Z, 0.0)
            maskf = np.greater(Z, 0.0).astype(np.float64)
            A = excess.sum(axis=1) / n  # E[(u.X - t)_+]
            P = maskf.sum(axis=1) / n  # P(u.X > t)
            B = (maskf @ X) / n  # E[X 1(u.X > t)]
            root = row_norms(np.sqrt(P * P + np.einsum("md,md->m", B, B)), B, P)
            g_out[lo:hi] = A * root
            if se_out is not None:
                # delta method: gtilde = A * root(P, B); linearise in the per-sample terms
                if n < 2:
                    se_out[lo:hi] = np.inf
                    continue
                safe = np.where(root > 0, root, 1.0)
                cP = np.where(root > 0, A * P / safe, 0.0)
                cB = np.where(root > 0, A / safe, 0.0)[:, None] * B  # (m, d)
                lin = root[:, None] * excess + maskf * (cP[:, None] + cB @ XT)
                se_out[lo:hi] = lin.std(axis=1, ddof=1) / np.sqrt(n)
    return gp, gm, sp, sm


def population_gtilde(
    u, t, law, method, n_samples, seed, *, both_sides: bool, want_se: bool = True, where: str = "the directions u"
):
    """gtilde (both_sides False) or g (True) of ``law`` at the pairs (u, t).

    A law with ``marginal_tail`` (an :class:`flatcore.data.IsotropicLaw`) is used through its
    marginal unless ``method="monte_carlo"``; any other law through ``law.sample(n_samples, seed)``.
    ``want_se=False`` skips the Monte Carlo standard errors (NaN then). Returns (g, stderr, method)
    with g and stderr arrays of the broadcast shape of (u, t).
    """
    if method not in POPULATION_METHODS:
        raise ValueError(f"method must be one of {POPULATION_METHODS}; got {method!r}")
    n_samples = as_int(n_samples, "n_samples", minimum=2)  # checked even where the marginal is used
    u = as_directions(u)
    d = u.shape[-1]
    law = as_law(law, d, where)
    t = as_thresholds(t)
    U, tt, shape = broadcast_ut(u, t)
    if method == "auto" and isinstance(law, IsotropicLaw):
        gp = isotropic_gtilde(law, tt)
        if both_sides:
            gp = np.minimum(gp, isotropic_gtilde(law, -tt))
        se = np.zeros_like(gp)
        how = str(getattr(law, "marginal_method", "marginal"))
    else:
        check_memory(8 * 3 * n_samples * (d + 1), f"a Monte Carlo sample of n_samples={n_samples} points in d={d}")
        Xs = as_samples(law.sample(n_samples, seed), "the law's sample")
        if Xs.shape != (n_samples, d):
            raise ValueError(f"{law!r}.sample returned shape {Xs.shape}; expected (n_samples, d) = ({n_samples}, {d})")
        g1, g2, s1, s2 = sample_gtilde(Xs, U, tt, both_sides=both_sides, want_se=want_se)
        if not want_se:
            s1 = s2 = np.full_like(g1, np.nan)
        if both_sides:
            take_minus = g2 < g1
            gp, se = np.where(take_minus, g2, g1), np.where(take_minus, s2, s1)
        else:
            gp, se = g1, s1
        how = "monte carlo"
    return gp.reshape(shape), se.reshape(shape), how
