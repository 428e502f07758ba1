"""Theory: the weight function g, the weighted variation V_g, the stability inequality, the
rescaling-invariant minimal trace and the boundary-localised packing (MATH.md sections 5-9).

Everything is vectorised NumPy/SciPy in float64. The notation is MATH.md's:

- ``u`` a unit direction in R^d, ``t`` a threshold; neuron k has ``u_k = w_k / ||w_k||`` and
  ``t_k = b_k / ||w_k||``, so it is active where ``u_k . x > t_k``.
- ``gtilde(u, t) = P(u.X > t)^2 * E[u.X - t | u.X > t] * sqrt(1 + ||E[X | u.X > t]||^2)``
  (0 where ``P(u.X > t) = 0``); written with expectations only,
  ``gtilde = E[(u.X - t)_+] * sqrt(P(u.X > t)^2 + ||E[X 1(u.X > t)]||^2)``.
- ``g(u, t) = min(gtilde(u, t), gtilde(-u, -t))``.

Which law X follows:

============================  ================================================================
``gtilde_empirical`` etc.     the sample X itself (each row weight 1/n)
``"uniform_ball"``            uniform in the unit ball of R^d: closed form (MATH.md section 5)
``"uniform_sphere"``          uniform on the unit sphere S^(d-1): closed form (the marginal of
                              u.X is the uniform ball's in R^(d-2), Archimedes; two atoms +-1
                              for d = 1)
``"gaussian"``                N(0, I_d): closed form (u.X ~ N(0, 1))
``"radial"``                  x = (1 - (1 - R)^(1/alpha)) U, U uniform on the sphere, R uniform
                              on [0, 1]: quadrature (tanh-sinh) over the radius of the 1-D
                              marginal of u.X
:class:`BallMixture`, or any  Monte Carlo on a seeded sample, with a delta-method standard error
sampler callable
============================  ================================================================

For the isotropic laws (the first four) ``E[X | u.X > t] = u * E[S 1(S > t)] / P(S > t)`` with
``S = u.X``, so gtilde depends on t alone; with ``P(t) = P(S > t)`` and ``m1(t) = E[S 1(S > t)]``:
``gtilde(t) = (m1(t) - t P(t)) * sqrt(P(t)^2 + m1(t)^2)``.

Directions ``u`` must be unit vectors (to a relative 1e-8; they are then renormalised exactly):
a non-unit u is refused rather than silently normalised, because the matching threshold would
have to be rescaled too (pass ``w / ||w||`` and ``b / ||w||``).
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import NamedTuple

import numpy as np
from scipy import special

from ._validation import as_float_array, as_int, as_scalar, check_data
from .network import Network, as_network
from .numerics import trace_terms
from .spectrum import sharpness

__all__ = [
    "ISOTROPIC_DISTRIBUTIONS", "PopulationG", "BallMixture",
    "gtilde_uniform_ball", "g_uniform_ball", "gtilde_empirical", "g_empirical",
    "gtilde_population", "g_population",
    "path_norm", "vg_contributions", "vg_norm", "activation_rates",
    "StabilityInequality", "stability_inequality", "StabilityBound", "stability_bound",
    "rescale", "trace_terms", "min_trace", "balance_for_min_trace", "boundary_packing",
]

ISOTROPIC_DISTRIBUTIONS = ("uniform_ball", "uniform_sphere", "gaussian", "radial")
_METHODS = ("auto", "monte_carlo")
_UNIT_RTOL = 1e-8
# Work arrays of the empirical and Monte Carlo routes are kept to about this many float64s.
_CHUNK_ELEMENTS = 1 << 22


# =================================================================================================
# Argument checks
# =================================================================================================
def _as_samples(X, name: str = "X") -> np.ndarray:
    """X as an (n, d) float64 array with n >= 1 (a 1-D X is one column: n points in R^1)."""
    X = as_float_array(X, name, (1, 2))
    if X.ndim == 1:
        X = X.reshape(-1, 1)
    if X.shape[0] == 0:
        raise ValueError(f"{name} has no rows: need at least one data point")
    if X.shape[1] == 0:
        raise ValueError(f"{name} has no columns: need d >= 1")
    return X


def _as_directions(u, d: int | None = None) -> np.ndarray:
    """u as float64 of shape (d,) or (m, d) with unit rows (checked, then renormalised)."""
    u = as_float_array(u, "u", (1, 2))
    if u.shape[-1] == 0:
        raise ValueError(f"u must have d >= 1 entries per direction; got shape {u.shape}")
    if d is not None and u.shape[-1] != d:
        raise ValueError(f"u has {u.shape[-1]} entries per direction but the data have d = {d}")
    norms = np.linalg.norm(u, axis=-1)
    bad = np.abs(norms - 1.0) > _UNIT_RTOL
    if np.any(bad):
        where = int(np.argmax(bad)) if u.ndim == 2 else None
        value = norms[where] if u.ndim == 2 else float(norms)
        at = f" (row {where})" if where is not None else ""
        raise ValueError(
            f"u must hold unit vectors; got norm {value!r}{at}. For a neuron (w, b) pass "
            "u = w / ||w|| and t = b / ||w|| (a zero w has no direction)")
    return u / norms[..., None]


def _as_thresholds(t, name: str = "t") -> np.ndarray:
    if isinstance(t, (bool, np.bool_)):
        raise TypeError(f"{name} must be a real number or an array of real numbers; got bool")
    shape = np.shape(t)
    # as_float_array goes through np.ascontiguousarray, which makes a 0-d array 1-d: restore the shape
    return as_float_array(t, name, tuple(range(0, 33))).reshape(shape)


def _broadcast_ut(u: np.ndarray, t: np.ndarray):
    """Flatten (u, t) to M pairs. Returns (U (M, d) or (d,), t (M,), out_shape)."""
    if u.ndim == 1:
        return u, t.reshape(-1), t.shape
    m = u.shape[0]
    try:
        out_shape = np.broadcast_shapes((m,), t.shape)
    except ValueError:
        raise ValueError(f"t of shape {t.shape} does not broadcast against the {m} directions in u "
                         f"(shape {u.shape}); give one threshold or one per direction") from None
    if len(out_shape) != 1:
        raise ValueError(f"with u of shape {u.shape}, t must be a scalar or have shape ({m},); got {t.shape}")
    return u, np.broadcast_to(t, (m,)).astype(np.float64), out_shape


def _as_dim(d) -> int:
    return as_int(d, "d", minimum=1)


# =================================================================================================
# Section 5: the uniform ball in closed form
# =================================================================================================
def _ball_P_m1(t: np.ndarray, dd: float):
    """P(S > t) and m1(t) = E[S 1(S > t)] for S = u.X, X uniform in the unit ball of R^(dd).

    dd may be any real >= 0 (dd = d - 2 gives the uniform sphere in R^d, d >= 2).
    """
    t = np.asarray(t, dtype=np.float64)
    a = np.abs(t)
    inside = a < 1.0
    x = np.where(inside, (1.0 - a) * (1.0 + a), 0.0)  # 1 - t^2 without cancellation
    half_upper = 0.5 * special.betainc((dd + 1.0) / 2.0, 0.5, x)  # P(S > |t|)
    P = np.where(t >= 0, half_upper, 1.0 - half_upper)
    P = np.where(inside, P, np.where(t >= 1.0, 0.0, 1.0))
    log_cd = special.gammaln(dd / 2.0 + 1.0) - 0.5 * np.log(np.pi) - special.gammaln((dd + 1.0) / 2.0)
    with np.errstate(divide="ignore"):
        m1 = np.where(inside, np.exp(log_cd + 0.5 * (dd + 1.0) * np.log(np.where(inside, x, 1.0))) / (dd + 1.0), 0.0)
    return P, m1


def _gtilde_from_marginal(t, P, m1, excess=None):
    """gtilde(t) = E[(S - t)_+] * sqrt(P^2 + m1^2) for isotropic laws (m1 - t P if excess is None)."""
    if excess is None:
        excess = m1 - t * P
    excess = np.maximum(excess, 0.0)  # rounding in m1 - t P for t near the top of the support
    return excess * np.hypot(P, m1)


def gtilde_uniform_ball(t, d) -> np.ndarray | float:
    """One-sided weight gtilde(t) for X uniform in the unit ball of R^d (MATH.md section 5).

    ``gtilde(t) = (m1(t) - t P(t)) * sqrt(P(t)^2 + m1(t)^2)`` with ``S = u.X`` (any unit u),
    ``P(t) = P(S > t) = (1/2) I_{1-t^2}((d+1)/2, 1/2)`` for t >= 0 and ``1 - P(-t)`` for t < 0
    (``I`` the regularised incomplete beta, :func:`scipy.special.betainc`), and
    ``m1(t) = E[S 1(S > t)] = c_d (1 - t^2)^((d+1)/2) / (d + 1)``,
    ``c_d = Gamma(d/2 + 1) / (sqrt(pi) Gamma((d+1)/2))`` (through ``gammaln``).

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
    t = _as_thresholds(t)
    d = _as_dim(d)
    P, m1 = _ball_P_m1(t, float(d))
    out = _gtilde_from_marginal(t, P, m1)
    return float(out) if out.ndim == 0 else out


def g_uniform_ball(t, d) -> np.ndarray | float:
    """Weight g(u, t) = gtilde(|t|) for X uniform in the unit ball of R^d (MATH.md section 5).

    ``g(u, t) = min(gtilde(u, t), gtilde(-u, -t))``; by symmetry of the ball this is
    ``min(gtilde(t), gtilde(-t)) = gtilde(|t|)`` (gtilde is non-increasing), see
    :func:`gtilde_uniform_ball`. Near the boundary ``g ~ (1 - |t|)^(d+2)``; g = 0 for |t| >= 1;
    d = 1 gives ``(1 - |t|)^3 / 8 * sqrt(1 + (1 + |t|)^2 / 4)``.

    Parameters
    ----------
    t : float or array of any shape
    d : int, >= 1

    Returns
    -------
    float or ndarray, shape of ``t``
    """
    t = _as_thresholds(t)
    d = _as_dim(d)
    a = np.abs(t)
    P, m1 = _ball_P_m1(a, float(d))
    out = _gtilde_from_marginal(a, P, m1)
    return float(out) if out.ndim == 0 else out


# =================================================================================================
# Section 5: empirical gtilde and g (also the Monte Carlo engine)
# =================================================================================================
def _side_stats(Zs, X, n):
    """For pre-activations Zs (m, n) (row j: u_j.x_i - t_j): E[(Zs)_+], P(Zs > 0), E[X 1(Zs > 0)]."""
    excess = np.maximum(Zs, 0.0)
    maskf = np.greater(Zs, 0.0).astype(np.float64)
    return excess, maskf, excess.sum(axis=1) / n, maskf.sum(axis=1) / n, (maskf @ X) / n


def _sample_stats(X, U, t, *, both_sides: bool, want_se: bool):
    """gtilde over the sample X (each row weight 1/n) for M pairs (U_j, t_j).

    U is (d,) (one direction for all thresholds) or (M, d). Returns (gp, gm, se_p, se_m) where gm
    is gtilde(-u, -t) (None unless both_sides) and se_* are delta-method standard errors of the
    sample means (None unless want_se). Work arrays are (chunk, n), rows contiguous.
    """
    n, d = X.shape
    M = t.shape[0]
    XT = np.ascontiguousarray(X.T)
    gp = np.empty(M)
    gm = np.empty(M) if both_sides else None
    sp = np.empty(M) if want_se else None
    sm = np.empty(M) if (want_se and both_sides) else None
    s_single = U @ XT if U.ndim == 1 else None
    chunk = max(1, _CHUNK_ELEMENTS // n)
    for lo in range(0, M, chunk):
        hi = min(M, lo + chunk)
        Z = (s_single[None, :] if s_single is not None else U[lo:hi] @ XT) - t[lo:hi, None]  # (m, n)
        for side, (g_out, se_out) in enumerate(((gp, sp), (gm, sm))[: 2 if both_sides else 1]):
            if side == 1:
                np.negative(Z, out=Z)  # -u.x - (-t)
            excess, maskf, A, P, B = _side_stats(Z, X, n)
            root = np.sqrt(P * P + np.einsum("md,md->m", B, B))
            g_out[lo:hi] = A * root
            if se_out is not None:
                # delta method: gtilde = A * root(P, B); linearise in the per-sample terms
                if n < 2:
                    se_out[lo:hi] = np.inf
                    continue
                safe = np.where(root > 0, root, 1.0)
                cP = np.where(root > 0, A * P / safe, 0.0)
                cB = np.where(root > 0, A / safe, 0.0)[:, None] * B      # (m, d)
                lin = root[:, None] * excess + maskf * (cP[:, None] + cB @ XT)
                se_out[lo:hi] = lin.std(axis=1, ddof=1) / np.sqrt(n)
    return gp, gm, sp, sm


def gtilde_empirical(X, u, t) -> np.ndarray | float:
    """Empirical one-sided weight gtilde(u, t) over the sample X (MATH.md section 5).

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
    X = _as_samples(X)
    u = _as_directions(u, X.shape[1])
    t = _as_thresholds(t)
    U, tt, shape = _broadcast_ut(u, t)
    gp, _, _, _ = _sample_stats(X, U, tt, both_sides=False, want_se=False)
    out = gp.reshape(shape)
    return float(out) if out.ndim == 0 else out


def g_empirical(X, u, t) -> np.ndarray | float:
    """Empirical weight g(u, t) = min(gtilde(u, t), gtilde(-u, -t)) over the sample X (MATH.md 5).

    See :func:`gtilde_empirical` for the arguments, shapes and the definition of gtilde.
    """
    X = _as_samples(X)
    u = _as_directions(u, X.shape[1])
    t = _as_thresholds(t)
    U, tt, shape = _broadcast_ut(u, t)
    gp, gm, _, _ = _sample_stats(X, U, tt, both_sides=True, want_se=False)
    out = np.minimum(gp, gm).reshape(shape)
    return float(out) if out.ndim == 0 else out


# =================================================================================================
# Section 5: population versions
# =================================================================================================
class PopulationG(NamedTuple):
    """A population weight and how it was computed: ``g, stderr, method = g_population(...)``.

    Attributes
    ----------
    g : float or ndarray
        The value(s) of g (or gtilde).
    stderr : float or ndarray
        Monte Carlo standard error (delta method), same shape as ``g``; 0 for the closed forms
        and the quadrature (relative error about 1e-12 typically and below 1e-8 even for sharply
        peaked radial laws, e.g. alpha = 20 in d = 30; all routes lose about log10(1/(1-|t|))
        digits near the top of the support, where m1 - t P cancels). The delta-method error is
        unreliable when only a handful of sample points are active (it is 0 when none is).
    method : str
        ``"closed form"``, ``"quadrature"`` or ``"monte carlo"``.
    """

    g: np.ndarray | float
    stderr: np.ndarray | float
    method: str


@dataclass(frozen=True, eq=False)
class BallMixture:
    """A mixture of low-dimensional balls embedded in R^d (MATH.md section 5, PRODUCT.md E6).

    Component j is ``c_j + r_j * B_j^T z`` with z uniform in the unit ball of R^dim, ``B_j``
    (dim x d) with orthonormal rows, chosen with probability ``weights[j]``. With dim = 1 and zero
    centres this is "data on lines through the origin".

    Attributes
    ----------
    centers : ndarray, shape (k, d)
    bases : ndarray, shape (k, dim, d)
    radii : ndarray, shape (k,)
    weights : ndarray, shape (k,), summing to 1
    """

    centers: np.ndarray
    bases: np.ndarray
    radii: np.ndarray
    weights: np.ndarray

    def __post_init__(self):
        centers = as_float_array(self.centers, "centers", 2)
        bases = as_float_array(self.bases, "bases", 3)
        k, d = centers.shape
        if k == 0:
            raise ValueError("a BallMixture needs at least one component")
        if bases.shape[0] != k or bases.shape[2] != d or bases.shape[1] < 1:
            raise ValueError(f"bases must have shape (k, dim, d) = ({k}, dim, {d}); got {bases.shape}")
        gram = np.einsum("kad,kbd->kab", bases, bases)
        if not np.allclose(gram, np.eye(bases.shape[1])[None], atol=1e-8):
            raise ValueError("each bases[j] must have orthonormal rows")
        radii = np.broadcast_to(as_float_array(self.radii, "radii", (0, 1)), (k,)).copy()
        if np.any(radii <= 0):
            raise ValueError("radii must be positive")
        weights = np.broadcast_to(as_float_array(self.weights, "weights", (0, 1)), (k,)).copy()
        if np.any(weights < 0) or weights.sum() <= 0:
            raise ValueError("weights must be non-negative with a positive sum")
        object.__setattr__(self, "centers", centers)
        object.__setattr__(self, "bases", bases)
        object.__setattr__(self, "radii", radii)
        object.__setattr__(self, "weights", weights / weights.sum())

    @property
    def d(self) -> int:
        return self.centers.shape[1]

    @property
    def dim(self) -> int:
        return self.bases.shape[1]

    @classmethod
    def random(cls, d, n_components, dim=1, *, radius=1.0, center_scale=0.0, seed=0) -> "BallMixture":
        """k = n_components balls of dimension ``dim`` in R^d, random orientations (Haar), equal
        weights, common ``radius``, centres ``center_scale`` times a uniform point of the unit
        ball (0: all through the origin). Seeded."""
        d = _as_dim(d)
        k = as_int(n_components, "n_components", minimum=1)
        dim = as_int(dim, "dim", minimum=1)
        if dim > d:
            raise ValueError(f"dim must be at most d = {d}; got {dim}")
        radius = as_scalar(radius, "radius", positive=True)
        center_scale = as_scalar(center_scale, "center_scale", nonnegative=True)
        rng = np.random.default_rng(seed)
        bases = np.empty((k, dim, d))
        for j in range(k):
            q, r = np.linalg.qr(rng.standard_normal((d, dim)))
            bases[j] = (q * np.sign(np.diag(r))[None, :]).T
        centers = center_scale * _sample_ball(k, d, rng)
        return cls(centers, bases, np.full(k, radius), np.full(k, 1.0 / k))

    def sample(self, n, seed=0) -> np.ndarray:
        """n points of the mixture, shape (n, d). Seeded."""
        n = as_int(n, "n", minimum=1)
        rng = np.random.default_rng(seed)
        comp = rng.choice(len(self.weights), size=n, p=self.weights)
        z = _sample_ball(n, self.dim, rng)
        return self.centers[comp] + self.radii[comp, None] * np.einsum("na,nad->nd", z, self.bases[comp])


def _sample_sphere(n, d, rng):
    g = rng.standard_normal((n, d))
    norms = np.linalg.norm(g, axis=1, keepdims=True)
    while np.any(norms == 0):  # probability zero; keeps the sampler total
        bad = norms[:, 0] == 0
        g[bad] = rng.standard_normal((int(bad.sum()), d))
        norms = np.linalg.norm(g, axis=1, keepdims=True)
    return g / norms


def _sample_ball(n, d, rng):
    return _sample_sphere(n, d, rng) * rng.uniform(size=(n, 1)) ** (1.0 / d)


def _radial_radius(R, alpha):
    """rho = 1 - (1 - R)^(1/alpha)."""
    return -np.expm1(np.log1p(-R) / alpha)


def _sample_radial(n, d, alpha, rng):
    return _sample_sphere(n, d, rng) * _radial_radius(rng.uniform(size=(n, 1)), alpha)


def _sampler_for(distribution, d, alpha):
    """A function (n, rng) -> (n, d) array for the named law, or the user's sampler."""
    if isinstance(distribution, str):
        if distribution == "uniform_ball":
            return lambda n, rng: _sample_ball(n, d, rng)
        if distribution == "uniform_sphere":
            return lambda n, rng: _sample_sphere(n, d, rng)
        if distribution == "gaussian":
            return lambda n, rng: rng.standard_normal((n, d))
        if distribution == "radial":
            return lambda n, rng: _sample_radial(n, d, alpha, rng)
        raise AssertionError(distribution)
    if isinstance(distribution, BallMixture):
        if distribution.d != d:
            raise ValueError(f"the BallMixture lives in R^{distribution.d} but the directions have d = {d}")
        return lambda n, rng: distribution.sample(n, seed=rng)
    return distribution


def _check_distribution(distribution, alpha):
    """Validate (distribution, alpha); return alpha as float or None."""
    if isinstance(distribution, str):
        if distribution not in ISOTROPIC_DISTRIBUTIONS:
            raise ValueError(f"distribution must be one of {ISOTROPIC_DISTRIBUTIONS}, a BallMixture or a "
                             f"sampler callable (n, rng) -> (n, d) array; got {distribution!r}")
        if distribution == "radial":
            if alpha is None:
                raise ValueError("distribution='radial' needs alpha > 0 (x = (1 - (1 - R)^(1/alpha)) U)")
            return as_scalar(alpha, "alpha", positive=True)
        if alpha is not None:
            raise ValueError(f"alpha is only used with distribution='radial'; got alpha={alpha!r} "
                             f"for {distribution!r}")
        return None
    if isinstance(distribution, BallMixture) or callable(distribution):
        if alpha is not None:
            raise ValueError("alpha is only used with distribution='radial'")
        return None
    raise TypeError(f"distribution must be a name in {ISOTROPIC_DISTRIBUTIONS}, a BallMixture or a "
                    f"callable (n, rng) -> (n, d) array; got {type(distribution).__name__}")


# -- isotropic marginals ---------------------------------------------------------------------------
def _sphere_P_m1(s, d: int):
    """P(V > s), E[V 1(V > s)] for V = u.U, U uniform on the unit sphere of R^d."""
    s = np.asarray(s, dtype=np.float64)
    if d >= 2:
        return _ball_P_m1(s, float(d - 2))
    # d = 1: V = +-1 with probability 1/2 each
    P = np.where(s < -1.0, 1.0, np.where(s < 1.0, 0.5, 0.0))
    m1 = np.where((s >= -1.0) & (s < 1.0), 0.5, 0.0)
    return P, m1


def _gaussian_marginal(t):
    """P, m1 and E[(S - t)_+] for S ~ N(0, 1), the latter via erfcx to limit cancellation."""
    t = np.asarray(t, dtype=np.float64)
    P = special.ndtr(-t)
    m1 = np.exp(-0.5 * t * t) / np.sqrt(2.0 * np.pi)
    # E[(S-t)_+] = phi(t) - t Phi(-t) = exp(-t^2/2) [1/sqrt(2 pi) - (t/2) erfcx(t/sqrt 2)] for t > 0
    pos = np.maximum(t, 0.0)
    excess_pos = np.exp(-0.5 * pos * pos) * (1.0 / np.sqrt(2.0 * np.pi) - 0.5 * pos * special.erfcx(pos / np.sqrt(2.0)))
    excess = np.where(t > 0, excess_pos, m1 - t * P)
    return P, m1, excess


def _tanh_sinh(h: float = 1.0 / 16.0):
    """Tanh-sinh nodes on (-1, 1) as (1 + x, 1 - x, weights), both distances without cancellation."""
    k = np.arange(-int(3.2 / h), int(3.2 / h) + 1)
    s = k * h
    y = 0.5 * np.pi * np.sinh(s)
    one_minus = 2.0 / (1.0 + np.exp(2.0 * y))   # 1 - tanh(y)
    one_plus = 2.0 / (1.0 + np.exp(-2.0 * y))   # 1 + tanh(y)
    w = h * 0.5 * np.pi * np.cosh(s) / np.cosh(y) ** 2
    keep = (one_minus > 0) & (one_plus > 0) & (w > 0)
    return one_plus[keep], one_minus[keep], w[keep]


_TS = _tanh_sinh()


def _isotropic_quadrature(t, d: int, radius_of_q, survival, *, h: float | None = None):
    """P, m1, E[(S-t)_+] for an isotropic X = rho U in the unit ball, by tanh-sinh quadrature.

    The radius is parametrised by its survival level q = P(rho' > rho), uniform on (0, 1):
    ``rho = radius_of_q(q)``, and ``survival(r) = P(rho > r)`` is its inverse. S = rho V with
    V = u.U the sphere marginal. Points with rho <= |t| lie entirely on one side of the threshold
    (V in [-1, 1]): they contribute nothing for t > 0; for t < 0 they are all active with
    E[S 1] = 0 by symmetry and E[(S - t)_+] = |t|. The rest, q in (0, survival(|t|)), is
    integrated numerically (both ends may carry algebraic singularities, which tanh-sinh absorbs).
    """
    t = np.asarray(t, dtype=np.float64).reshape(-1)
    a = np.minimum(np.abs(t), 1.0)
    q_hi = survival(a)                                       # (M,)
    one_plus, one_minus, w = _TS if h is None else _tanh_sinh(h)
    # q = q_hi (1 - x) / 2: small q (rho near 1) and q near q_hi (rho near |t|) both accurate
    q = q_hi[:, None] * (0.5 * one_minus[None, :])
    rho = np.maximum(radius_of_q(q), a[:, None])             # rounding at the lower end
    ratio = np.where(rho > 0, t[:, None] / np.where(rho > 0, rho, 1.0), 0.0)
    Ps, m1s = _sphere_P_m1(ratio, d)
    excess_s = np.maximum(m1s - ratio * Ps, 0.0)
    ww = (0.5 * q_hi)[:, None] * w[None, :]
    P = (ww * Ps).sum(axis=1)
    m1 = (ww * rho * m1s).sum(axis=1)
    excess = (ww * rho * excess_s).sum(axis=1)
    inner = 1.0 - q_hi                                       # P(rho <= |t|)
    neg = t < 0
    P = np.where(neg, P + inner, P)
    excess = np.where(neg, excess + np.abs(t) * inner, excess)
    # |t| >= 1: exact values
    P = np.where(t >= 1, 0.0, np.where(t <= -1, 1.0, P))
    m1 = np.where(np.abs(t) >= 1, 0.0, m1)
    excess = np.where(t >= 1, 0.0, np.where(t <= -1, -t, excess))
    return P, m1, excess


def _radial_quadrature(t, d, alpha, *, h=None):
    """The radial family rho = 1 - (1 - R)^(1/alpha): survival (1 - r)^alpha, rho(q) = 1 - q^(1/alpha)."""
    def radius_of_q(q):
        with np.errstate(divide="ignore"):
            return -np.expm1(np.log(q) / alpha)

    def survival(r):
        with np.errstate(divide="ignore"):
            return np.exp(alpha * np.log1p(-r))

    return _isotropic_quadrature(t, d, radius_of_q, survival, h=h)


def _isotropic_gtilde(t, d, distribution, alpha):
    """gtilde(t) (one-sided) for an isotropic law; t flat array."""
    if distribution == "uniform_ball":
        P, m1 = _ball_P_m1(t, float(d))
        return _gtilde_from_marginal(t, P, m1), "closed form"
    if distribution == "uniform_sphere":
        P, m1 = _sphere_P_m1(t, d)
        return _gtilde_from_marginal(t, P, m1), "closed form"
    if distribution == "gaussian":
        P, m1, excess = _gaussian_marginal(t)
        return _gtilde_from_marginal(t, P, m1, excess), "closed form"
    P, m1, excess = _radial_quadrature(t, d, alpha)
    return _gtilde_from_marginal(t, P, m1, excess), "quadrature"


def _population(u, t, distribution, alpha, method, n_samples, seed, both_sides, want_se=True):
    alpha = _check_distribution(distribution, alpha)
    if method not in _METHODS:
        raise ValueError(f"method must be one of {_METHODS}; got {method!r}")
    u = _as_directions(u)
    t = _as_thresholds(t)
    d = u.shape[-1]
    U, tt, shape = _broadcast_ut(u, t)
    if isinstance(distribution, str) and method == "auto":
        gp, how = _isotropic_gtilde(tt, d, distribution, alpha)
        if both_sides:
            gm, _ = _isotropic_gtilde(-tt, d, distribution, alpha)
            gp = np.minimum(gp, gm)
        se = np.zeros_like(gp)
    else:
        n_samples = as_int(n_samples, "n_samples", minimum=2)
        sampler = _sampler_for(distribution, d, alpha)
        Xs = np.asarray(sampler(n_samples, np.random.default_rng(seed)), dtype=np.float64)
        if Xs.shape != (n_samples, d):
            raise ValueError(f"the sampler returned shape {Xs.shape}; expected (n_samples, d) = ({n_samples}, {d})")
        Xs = _as_samples(Xs, "sample")
        g1, g2, s1, s2 = _sample_stats(Xs, U, tt, both_sides=both_sides, want_se=want_se)
        if not want_se:
            s1 = s2 = np.full_like(g1, np.nan)
        if both_sides:
            take_minus = g2 < g1
            gp, se = np.where(take_minus, g2, g1), np.where(take_minus, s2, s1)
        else:
            gp, se = g1, s1
        how = "monte carlo"
    gp, se = gp.reshape(shape), se.reshape(shape)
    if gp.ndim == 0:
        return PopulationG(float(gp), float(se), how)
    return PopulationG(gp, se, how)


_POP_DOC = """
    Parameters
    ----------
    u : array, shape (d,) or (m, d)
        Unit direction(s); d is read from u. Non-unit u is refused (module docstring).
    t : float or array
        Threshold(s): any shape with one direction, a scalar or (m,) with m directions.
    distribution : str, BallMixture or callable
        ``"uniform_ball"`` (closed form, MATH.md section 5), ``"uniform_sphere"`` (closed form:
        u.X has the uniform-ball marginal of R^(d-2); atoms at +-1 for d = 1), ``"gaussian"``
        (closed form, u.X ~ N(0, 1)), ``"radial"`` (needs ``alpha``; x = (1 - (1 - R)^(1/alpha)) U:
        tanh-sinh quadrature over the radius rho of the sphere marginal at t / rho), a :class:`BallMixture`,
        or a callable ``sampler(n, rng) -> (n, d) array`` (Monte Carlo).
    alpha : float, optional
        The radial family's exponent (> 0); only with ``"radial"``.
    method : {"auto", "monte_carlo"}
        ``"monte_carlo"`` forces Monte Carlo also for the isotropic laws (a cross-check).
    n_samples : int
        Monte Carlo sample size (default 200000); the standard error scales as 1/sqrt(n_samples).
    seed
        Seed of the Monte Carlo sample (:func:`numpy.random.default_rng`).

    Returns
    -------
    PopulationG
        ``(g, stderr, method)``; ``g`` and ``stderr`` are floats for one (u, t), else arrays of
        the broadcast shape. For the isotropic laws
        ``gtilde(t) = (m1(t) - t P(t)) sqrt(P(t)^2 + m1(t)^2)`` (P(t) = P(u.X > t),
        m1(t) = E[u.X 1(u.X > t)]), the same for every u. Monte Carlo uses the sample version of
        ``E[(u.X - t)_+] sqrt(P^2 + ||E[X 1(u.X > t)]||^2)`` and a delta-method standard error
        (for g, that of the smaller side).
"""


def gtilde_population(u, t, distribution="uniform_ball", *, alpha=None, method="auto",
                      n_samples=200_000, seed=0) -> PopulationG:
    return _population(u, t, distribution, alpha, method, n_samples, seed, both_sides=False)


def g_population(u, t, distribution="uniform_ball", *, alpha=None, method="auto",
                 n_samples=200_000, seed=0) -> PopulationG:
    return _population(u, t, distribution, alpha, method, n_samples, seed, both_sides=True)


gtilde_population.__doc__ = ("Population one-sided weight gtilde(u, t) (MATH.md section 5)\n\n"
                             "    gtilde(u, t) = P(u.X > t)^2 E[u.X - t | u.X > t] sqrt(1 + ||E[X | u.X > t]||^2)\n"
                             + _POP_DOC)
g_population.__doc__ = ("Population weight g(u, t) = min(gtilde(u, t), gtilde(-u, -t)) (MATH.md section 5)\n"
                        + _POP_DOC)


# =================================================================================================
# Section 6: weighted variation and path norm
# =================================================================================================
def path_norm(net: Network) -> float:
    """Path norm ``sum_k |v_k| ||w_k||`` (MATH.md section 6), the unweighted sibling of V_g."""
    net = as_network(net)
    return float(np.sum(np.abs(net.v) * np.linalg.norm(net.W, axis=1)))


def _neuron_sides(net: Network, X: np.ndarray):
    """Per neuron, in the neuron's own coordinates z_ik = w_k.x_i - b_k (no division by ||w_k||):

    ``plus_k  = mean_i phi_ik * ||mean_i a_ik (x_i, -1)||``  ( = ||w_k|| gtilde(u_k, t_k) ),
    ``minus_k = mean_i (-z_ik)_+ * ||mean_i 1[z_ik < 0] (x_i, -1)||`` ( = ||w_k|| gtilde(-u_k, -t_k) ).

    For w_k = 0 these are the continuous extensions (a constant neuron).
    """
    n = X.shape[0]
    K = net.width
    XT = np.ascontiguousarray(X.T)
    plus = np.empty(K)
    minus = np.empty(K)
    chunk = max(1, _CHUNK_ELEMENTS // n)
    for lo in range(0, K, chunk):
        hi = min(K, lo + chunk)
        Z = net.W[lo:hi] @ XT - net.b[lo:hi, None]            # (k, n)
        for side, out in enumerate((plus, minus)):
            if side == 1:
                np.negative(Z, out=Z)
            _, _, A, P, B = _side_stats(Z, X, n)
            out[lo:hi] = A * np.sqrt(P * P + np.einsum("kd,kd->k", B, B))
    return plus, minus


def vg_contributions(net: Network, X=None, *, distribution=None, alpha=None, n_samples=200_000,
                     seed=0) -> np.ndarray:
    """Per-neuron terms of V_g: ``|v_k| ||w_k|| g(w_k/||w_k||, b_k/||w_k||)`` (0 for w_k = 0), shape (width,).

    MATH.md section 6. ``g`` is empirical over X when X is given (:func:`g_empirical`, computed in
    the neuron's coordinates z = w.x - b, which avoids dividing by ||w_k||), else the population
    g of ``distribution`` (default ``"uniform_ball"``; see :func:`g_population` for the laws and
    methods; for Monte Carlo laws the terms are estimates from one seeded sample, at a cost of
    about n_samples * width * d operations; use :func:`g_population` for their standard errors).

    Parameters
    ----------
    net : Network
    X : array, shape (n, d), optional
        The sample for the empirical g. Give X or ``distribution``, not both.
    distribution, alpha, n_samples, seed
        As in :func:`g_population`.

    Returns
    -------
    ndarray, shape (width,)
    """
    net = as_network(net)
    if X is not None and distribution is not None:
        raise ValueError("give either X (empirical g) or distribution (population g), not both")
    wnorm = np.linalg.norm(net.W, axis=1)
    nz = wnorm > 0
    out = np.zeros(net.width)
    if X is not None:
        X = check_data(net, X)
        plus, minus = _neuron_sides(net, X)
        out[nz] = np.abs(net.v[nz]) * np.minimum(plus[nz], minus[nz])
        return out
    if distribution is None:
        distribution = "uniform_ball"
    if np.any(nz):
        g = _population(net.W[nz] / wnorm[nz, None], net.b[nz] / wnorm[nz], distribution, alpha, "auto",
                        n_samples, seed, both_sides=True, want_se=False).g
        out[nz] = np.abs(net.v[nz]) * wnorm[nz] * np.asarray(g)
    else:
        _check_distribution(distribution, alpha)
    return out


def vg_norm(net: Network, X=None, *, distribution=None, alpha=None, n_samples=200_000, seed=0) -> float:
    """Weighted variation ``V_g(theta) = sum_k |v_k| ||w_k|| g(w_k/||w_k||, b_k/||w_k||)`` (MATH.md 6).

    Neurons with w_k = 0 contribute 0. g is empirical over X if given, else the population g of
    ``distribution`` (default the uniform ball). The terms are :func:`vg_contributions`.
    V_g(theta) is an upper bound of the function-space seminorm |f_theta|_{V_g}.
    """
    return float(np.sum(vg_contributions(net, X, distribution=distribution, alpha=alpha,
                                         n_samples=n_samples, seed=seed)))


def activation_rates(net: Network, X) -> np.ndarray:
    """Per-neuron fraction of points with ``w_k . x_i > b_k`` (the Hessian's mask a_ik), shape (width,)."""
    net = as_network(net)
    X = check_data(net, X)
    n = X.shape[0]
    XT = np.ascontiguousarray(X.T)
    counts = np.zeros(net.width)
    chunk = max(1, _CHUNK_ELEMENTS // n)
    for lo in range(0, net.width, chunk):
        Z = net.W[lo:lo + chunk] @ XT - net.b[lo:lo + chunk, None]
        counts[lo:lo + chunk] = np.count_nonzero(Z > 0, axis=1)
    return counts / n


# =================================================================================================
# Section 7: the stability inequality and bound
# =================================================================================================
@dataclass(frozen=True)
class StabilityInequality:
    """The deterministic inequality of MATH.md section 7 at one (theta, X, y):

        lhs = lambda_max(H(theta)) >= rhs = 1 + 2 * weighted_sum - sqrt(1 + R^2) * sqrt(2 L(theta))

    Attributes
    ----------
    lhs : float
        lambda_max of the Hessian.
    rhs : float
    slack : float
        lhs - rhs, >= 0 for every theta and data set (up to rounding; see ``holds``).
    weighted_sum : float
        ``sum_k |v_k| ||w_k|| gtilde(u_k, t_k)`` with the empirical gtilde (:func:`gtilde_empirical`);
        each term is computed as ``|v_k| mean_i phi_ik ||mean_i a_ik (x_i, -1)||``, the same number
        for w_k != 0 and its continuous extension (a constant neuron) for w_k = 0.
    residual_term : float
        ``sqrt(1 + R^2) * sqrt(2 L)``.
    R : float
        ``max_i ||x_i||``.
    loss : float
        ``L(theta) = 1/(2n) sum_i r_i^2``.
    terms : ndarray, shape (width,)
        The per-neuron terms of ``weighted_sum``.
    """

    lhs: float
    rhs: float
    slack: float
    weighted_sum: float
    residual_term: float
    R: float
    loss: float
    terms: np.ndarray = field(repr=False)

    @property
    def scale(self) -> float:
        """Size of the numbers involved: ``|lhs| + 1 + 2 weighted_sum + residual_term``."""
        return abs(self.lhs) + 1.0 + 2.0 * self.weighted_sum + self.residual_term

    @property
    def holds(self) -> bool:
        """``slack >= -1e-9 * scale``: the inequality up to floating-point rounding."""
        return bool(self.slack >= -1e-9 * self.scale)


def _R_and_loss(net, X, y):
    from .numerics import loss

    R = float(np.sqrt(np.max(np.einsum("nd,nd->n", X, X))))
    return R, float(loss(net, X, y))


def stability_inequality(net: Network, X, y, *, lambda_max=None) -> StabilityInequality:
    """Check ``lambda_max(H) >= 1 + 2 sum_k |v_k| ||w_k|| gtilde(u_k, t_k) - sqrt(1+R^2) sqrt(2L)``.

    MATH.md section 7: holds for every theta and every data set, with R = max_i ||x_i|| and
    gtilde over the empirical sample.

    Parameters
    ----------
    net : Network
    X : array, shape (n, d); y : array, shape (n,)
    lambda_max : float, optional
        The top Hessian eigenvalue if already known. Default: ``flatcore.sharpness(net, X, y)``
        (to a relative 1e-10) when the package has it, else the dense Hessian's largest
        eigenvalue (which refuses with MemoryError when P x P does not fit).

    Notes
    -----
    The weighted sum uses the mask ``w_k . x_i > b_k`` evaluated in NumPy; a point within rounding
    of a kink may be classified differently by the compiled Hessian, in which case the two sides
    use different (equally valid) masks. The inequality is exact for one consistent mask.

    Returns
    -------
    StabilityInequality
    """
    net = as_network(net)
    X, y = check_data(net, X, y)
    lam = sharpness(net, X, y) if lambda_max is None else as_scalar(lambda_max, "lambda_max")
    plus, _ = _neuron_sides(net, X)
    terms = np.abs(net.v) * plus
    weighted = float(terms.sum())
    R, L = _R_and_loss(net, X, y)
    residual = float(np.sqrt(1.0 + R * R) * np.sqrt(2.0 * L))
    rhs = 1.0 + 2.0 * weighted - residual
    return StabilityInequality(lhs=lam, rhs=rhs, slack=lam - rhs, weighted_sum=weighted,
                               residual_term=residual, R=R, loss=L, terms=terms)


@dataclass(frozen=True)
class StabilityBound:
    """The stable-minima bound of MATH.md section 7 for step size ``lr`` (eta):

        if lambda_max <= 2/eta:   vg <= weighted_sum <= bound = 1/eta - 1/2 + sqrt(1+R^2) sqrt(2L) / 2

    Attributes
    ----------
    vg : float
        V_g(theta) with the empirical g (:func:`vg_norm` over X).
    bound : float
    holds : bool
        ``vg <= bound`` (up to a relative 1e-12 for rounding). Guaranteed when lambda_max <= 2/eta;
        a network with larger sharpness may violate it.
    weighted_sum : float
        ``sum_k |v_k| ||w_k|| gtilde(u_k, t_k)`` (>= vg), which the inequality actually bounds.
    lr, R, loss : float
    """

    vg: float
    bound: float
    holds: bool
    weighted_sum: float
    lr: float
    R: float
    loss: float


def stability_bound(net: Network, X, y, lr) -> StabilityBound:
    """V_g (empirical g) and its stable-minima bound ``1/eta - 1/2 + sqrt(1 + R^2) sqrt(2 L) / 2``.

    MATH.md section 7: from ``lambda_max >= 1 + 2 sum_k |v_k| ||w_k|| gtilde - sqrt(1+R^2) sqrt(2L)``
    and ``g <= gtilde``, every theta with ``lambda_max(H) <= 2/eta`` has V_g below the bound.

    Parameters
    ----------
    net : Network
    X : array, shape (n, d); y : array, shape (n,)
    lr : float
        Step size eta > 0.

    Returns
    -------
    StabilityBound
    """
    net = as_network(net)
    X, y = check_data(net, X, y)
    lr = as_scalar(lr, "lr", positive=True)
    plus, minus = _neuron_sides(net, X)
    nz = np.linalg.norm(net.W, axis=1) > 0
    vg = float(np.sum(np.where(nz, np.abs(net.v) * np.minimum(plus, minus), 0.0)))
    weighted = float(np.sum(np.abs(net.v) * plus))
    R, L = _R_and_loss(net, X, y)
    bound = 1.0 / lr - 0.5 + 0.5 * np.sqrt(1.0 + R * R) * np.sqrt(2.0 * L)
    holds = vg <= bound + 1e-12 * max(abs(bound), vg, 1.0)
    return StabilityBound(vg=vg, bound=float(bound), holds=bool(holds), weighted_sum=weighted,
                          lr=lr, R=R, loss=L)


# =================================================================================================
# Section 8: rescaling symmetry and the invariant minimal trace
# =================================================================================================
def rescale(net: Network, alpha) -> Network:
    """The network with ``(w_k, b_k, v_k) -> (alpha_k w_k, alpha_k b_k, v_k / alpha_k)`` (MATH.md 8).

    f is unchanged; the Hessian, lambda_max and tr H are not. ``alpha`` is a positive scalar (all
    neurons) or an array of shape (width,). Returns a new Network.
    """
    net = as_network(net)
    scalar = np.ndim(alpha) == 0
    alpha = as_float_array(alpha, "alpha", (0, 1))
    if not scalar and alpha.shape != (net.width,):
        raise ValueError(f"alpha must be a scalar or have shape (width,) = ({net.width},); got {alpha.shape}")
    if np.any(alpha <= 0):
        raise ValueError("alpha must be positive (a negative alpha would flip the ReLU, zero is not invertible)")
    alpha = np.broadcast_to(alpha.reshape(-1), (net.width,))
    return Network(alpha[:, None] * net.W, alpha * net.b, net.v / alpha, net.beta)


def min_trace(net: Network, X, y=None, *, n_threads=None) -> float:
    """Rescaling-invariant flatness ``min_alpha tr H = 1 + sum_k 2 sqrt(A_k B_k)`` (MATH.md section 8).

    ``A_k = mean_i phi_ik^2``, ``B_k = v_k^2 mean_i a_ik (||x_i||^2 + 1)``. It is an infimum over
    per-neuron rescalings alpha_k > 0, attained at ``alpha_k^2 = sqrt(B_k / A_k)`` when every neuron
    with A_k > 0 has B_k > 0 (see :func:`balance_for_min_trace`). tr H does not depend on the
    labels, so ``y`` is optional (accepted, checked, unused).

    Parameters
    ----------
    net : Network
    X : array, shape (n, d)
    y : array, shape (n,), optional

    Returns
    -------
    float
    """
    net = as_network(net)
    if y is not None:
        check_data(net, X, y)
    A, B = trace_terms(net, X, n_threads=n_threads)
    return float(1.0 + 2.0 * np.sum(np.sqrt(A * B)))


def balance_for_min_trace(net: Network, X, *, n_threads=None) -> Network:
    """The rescaled network whose raw tr H is :func:`min_trace` (MATH.md section 8).

    Neuron k is rescaled by ``alpha_k = (B_k / A_k)^(1/4)``, which makes ``alpha^2 A_k = B_k / alpha^2
    = sqrt(A_k B_k)``. Neurons with ``A_k = 0`` (inactive on every point, so B_k = 0 too) or
    ``B_k = 0`` (v_k = 0) are left alone: for the latter the infimum ``0`` is only approached as
    alpha_k -> 0, so the balanced trace then exceeds min_trace by those neurons' A_k.
    f is unchanged.
    """
    A, B = trace_terms(net, X, n_threads=n_threads)
    alpha = np.ones(net.width)
    ok = (A > 0) & (B > 0)
    alpha[ok] = (B[ok] / A[ok]) ** 0.25
    return rescale(net, alpha)


# =================================================================================================
# Section 9: boundary-localised neurons
# =================================================================================================
def boundary_packing(d, eps, *, amplitude=1.0, signs=None, max_neurons=1000, n_candidates=None,
                     seed=0) -> Network:
    """A packing of boundary-localised neurons ``relu(u_j . x - (1 - eps))`` (MATH.md section 9).

    Neuron j is active, on the unit ball, on the cap ``{u_j . x > 1 - eps}`` of height eps, which
    lies in the cone of half-angle ``theta0 = arccos(1 - eps)`` around u_j. Two caps are disjoint
    iff the angle between their directions is at least ``2 theta0``, i.e.
    ``u_i . u_j <= cos(2 theta0) = 2 (1 - eps)^2 - 1``; the directions are chosen so:

    - d = 1: u = +1 and -1 (both caps, when eps <= 1);
    - d = 2: equally spaced angles, ``floor(pi / theta0)`` of them (at most ``max_neurons``);
    - d >= 3: greedily from ``n_candidates`` seeded uniform random directions (default
      ``50 * max_neurons``), keeping each candidate compatible with all kept ones, until
      ``max_neurons``. About ``eps^(-(d-1)/2)`` caps fit, so for small eps and large d the packing
      is cut at ``max_neurons`` (not maximal).

    Output weights ``v_j = amplitude * s_j`` with signs s_j = +-1 (given, or seeded random:
    the Varshamov-Gilbert sign patterns of the lower bound); w_j = u_j, b_j = 1 - eps, beta = 0.

    Parameters
    ----------
    d : int, >= 1
    eps : float in (0, 1]
        Cap height.
    amplitude : float, > 0
    signs : array of +-1, optional
        One per neuron; its length must equal the number of directions found (which depends on
        d, eps, max_neurons and seed only: build once without ``signs`` to learn it).
    max_neurons : int
    n_candidates : int, optional
    seed
        Seeds the candidate directions and the random signs.

    Returns
    -------
    Network
        ``width`` = number of caps; each neuron's activation probability under the uniform ball
        is ``P(S > 1 - eps) ~ eps^((d+1)/2)`` and its weight ``g(u_j, 1 - eps) ~ eps^(d+2)``.
    """
    d = _as_dim(d)
    eps = as_scalar(eps, "eps", positive=True)
    if eps > 1.0:
        raise ValueError(f"eps must be in (0, 1] (the cap height, b = 1 - eps >= 0); got {eps}")
    amplitude = as_scalar(amplitude, "amplitude", positive=True)
    max_neurons = as_int(max_neurons, "max_neurons", minimum=1)
    rng = np.random.default_rng(seed)
    theta0 = np.arccos(1.0 - eps)
    cos_min = np.cos(min(2.0 * theta0, np.pi))
    if d == 1:
        U = np.array([[1.0], [-1.0]])[:max_neurons]
    elif d == 2:
        m = max(1, min(max_neurons, int(np.floor(np.pi / theta0 + 1e-12))))
        ang = 2.0 * np.pi * np.arange(m) / m
        U = np.stack([np.cos(ang), np.sin(ang)], axis=1)
    else:
        if n_candidates is None:
            n_candidates = 50 * max_neurons
        n_candidates = as_int(n_candidates, "n_candidates", minimum=1)
        thr = cos_min - 1e-12
        kept = np.empty((0, d))
        batch = 4096
        done = 0
        while done < n_candidates and kept.shape[0] < max_neurons:
            C = _sample_sphere(min(batch, n_candidates - done), d, rng)
            done += C.shape[0]
            if kept.shape[0]:
                C = C[np.max(C @ kept.T, axis=1) <= thr]
            new = []
            for c in C:
                if all(float(c @ o) <= thr for o in new):
                    new.append(c)
                    if kept.shape[0] + len(new) >= max_neurons:
                        break
            if new:
                kept = np.vstack([kept, np.array(new)])
        U = kept
    K = U.shape[0]
    if signs is None:
        s = rng.choice(np.array([-1.0, 1.0]), size=K)
    else:
        s = as_float_array(signs, "signs", 1)
        if s.shape != (K,):
            raise ValueError(f"signs must have one entry per neuron ({K} caps for d={d}, eps={eps}); "
                             f"got shape {s.shape}")
        if not np.all(np.abs(s) == 1.0):
            raise ValueError("signs must be +1 or -1")
    return Network(U, np.full(K, 1.0 - eps), amplitude * s, 0.0)
