"""Input laws: the distributions of x, as objects (docs/math.md, section 5).

Every law has a dimension ``d``, a bound ``radius`` on ``||x||`` (None when unbounded) and one
seeded sampler ``sample(n, seed)``: the same seed gives the same points on every machine
(NumPy's PCG64 stream), and a :class:`numpy.random.Generator` passed as ``seed`` is drawn from
and advanced. Laws are frozen values: they compare equal by their parameters, hash, print as
their constructor call and pickle.

=====================  ===================================================================
:class:`UniformBall`    uniform in the ball of radius ``radius`` in R^d
:class:`UniformSphere`  uniform on the unit sphere S^(d-1)
:class:`Gaussian`       standard normal N(0, I_d)
:class:`Radial`         x = (1 - (1 - U)^(1/alpha)) S, U uniform on [0, 1], S uniform on the
                        sphere: mass moves toward the sphere as alpha shrinks
:class:`BallMixture`    a mixture of low-dimensional balls (e.g. segments through the origin)
=====================  ===================================================================

The isotropic laws (the first four) also give the tail of the one-dimensional marginal
``S = u.X`` (the same for every unit u), :meth:`UniformBall.marginal_tail`, from which
:mod:`flatcore.theory` computes the population weight g without sampling. The two protocols
:class:`Law` and :class:`IsotropicLaw` say what a law object must offer: a user's own law with
only ``d`` and ``sample`` is a :class:`Law` too.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar, NamedTuple, Protocol, runtime_checkable

import numpy as np

from .._validation import as_float_array, as_int, as_scalar, check_memory, check_result, row_norms
from . import _marginals
from ._random import directions, generator

__all__ = [
    "Law",
    "IsotropicLaw",
    "MarginalTail",
    "UniformBall",
    "UniformSphere",
    "Gaussian",
    "Radial",
    "BallMixture",
    "uniform_ball",
]


# =================================================================================================
# What a law offers
# =================================================================================================
class MarginalTail(NamedTuple):
    """Tail quantities of the marginal ``S = u.X`` of an isotropic law at thresholds t.

    Attributes
    ----------
    P : float or ndarray
        ``P(t) = P(S > t)``.
    m1 : float or ndarray
        ``m1(t) = E[S 1(S > t)]``.
    excess : float or ndarray
        ``E[(S - t)_+] = m1(t) - t P(t)``, computed without that cancellation where the law allows.
    """

    P: np.ndarray | float
    m1: np.ndarray | float
    excess: np.ndarray | float


@runtime_checkable
class Law(Protocol):
    """Any input law: a dimension and a seeded sampler.

    Attributes
    ----------
    d : int
        The dimension of the points, >= 1.

    Methods
    -------
    sample(n, seed)
        n points, a float64 array of shape (n, d); the same seed gives the same points.
    """

    @property
    def d(self) -> int:
        """The dimension of the points."""

    def sample(self, n: int, seed=0) -> np.ndarray:
        """n points of the law, an array of shape (n, d); the same seed gives the same points.

        ``seed`` is whatever the law takes as a seed (for the laws of this module, anything
        :func:`numpy.random.default_rng` accepts).
        """


@runtime_checkable
class IsotropicLaw(Law, Protocol):
    """A rotation-invariant law (X and QX equal in law for every orthogonal Q) that knows its marginal.

    For such a law and any unit u, ``S = u.X`` has a law that does not depend on u and
    ``E[X 1(u.X > t)] = u m1(t)``, so the population weight g follows from the marginal alone
    (docs/math.md, section 5).

    Methods
    -------
    marginal_tail(t)
        A :class:`MarginalTail` ``(P, m1, excess)`` with the shape of t.

    Notes
    -----
    A class attribute ``marginal_method`` (a short string such as ``"closed form"``) names how the
    marginal is computed; :func:`flatcore.theory.g_population` reports it.
    """

    def marginal_tail(self, t) -> MarginalTail:
        """Tail quantities ``(P, m1, excess)`` of ``S = u.X`` (any unit u) at the thresholds t (any shape).

        A :class:`MarginalTail` or a tuple of three arrays, each with the shape of t.
        """


# =================================================================================================
# What the laws of this module share
# =================================================================================================
class _Sampler:
    """Base of the laws of this module (private): the seeded ``sample``, around the law's ``_draw``."""

    def sample(self, n: int, seed=0) -> np.ndarray:
        """n points of the law, drawn as the class docstring says; the same seed gives the same points.

        Parameters
        ----------
        n : int
            Number of points, >= 1.
        seed : optional
            Anything :func:`numpy.random.default_rng` accepts (default 0); a Generator is drawn
            from and advanced.

        Returns
        -------
        ndarray, shape (n, d)
        """
        n = as_int(n, "n", minimum=1)
        # the sample and the draws it is made of (a few arrays of its size at most)
        d = self.d  # type: ignore[attr-defined]  # every law has d (a field or a property)
        check_memory(8 * 3 * n * (d + 1), f"a sample of n={n} points in d={d}", "draw fewer points")
        with np.errstate(over="ignore", invalid="ignore"):
            X = self._draw(n, generator(seed))
        return check_result(X, f"a sample of {self!r}", "the law's scale is too large: use a smaller one")

    def _draw(self, n: int, rng: np.random.Generator) -> np.ndarray:
        raise NotImplementedError


@dataclass(frozen=True)
class _Isotropic(_Sampler):
    """Base of the isotropic laws (private): ``d`` and the checks, ``radius`` and ``marginal_tail``.

    ``d`` is checked with the float parameters named in ``_positive``, ``radius`` is 1 unless a law
    says otherwise, and ``marginal_tail`` checks t and calls the law's ``_marginal``.
    """

    d: int
    marginal_method: ClassVar[str] = "closed form"
    _positive: ClassVar[tuple[str, ...]] = ()  # the float parameters, each checked > 0

    def __post_init__(self):
        # beyond int64 a dimension is no dimension (and float(d) in the marginals would overflow)
        object.__setattr__(self, "d", as_int(self.d, "d", minimum=1, maximum=2**62))
        for name in self._positive:
            object.__setattr__(self, name, as_scalar(getattr(self, name), name, positive=True))

    @property
    def radius(self) -> float | None:
        """The bound on ``||x||``: 1."""
        return 1.0

    def marginal_tail(self, t) -> MarginalTail:
        """``P(S > t)``, ``E[S 1(S > t)]`` and ``E[(S - t)_+]`` for ``S = u.X``, any unit u.

        Parameters
        ----------
        t : float or array of any shape
            Thresholds.

        Returns
        -------
        MarginalTail
            Floats for a scalar t, else arrays of the shape of t.
        """
        if isinstance(t, (bool, np.bool_)):
            raise TypeError("t must be a real number or an array of real numbers; got bool")
        arr = as_float_array(t, "t", tuple(range(0, 33)))  # first: it names t if t is no array
        P, m1, excess = self._marginal(arr.reshape(np.shape(t)))
        if np.ndim(P) == 0:
            return MarginalTail(float(P), float(m1), float(excess))
        return MarginalTail(P, m1, excess)

    def _marginal(self, t: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        raise NotImplementedError


# =================================================================================================
# The isotropic laws
# =================================================================================================
@dataclass(frozen=True)
class UniformBall(_Isotropic):
    """Uniform law in the ball of radius ``radius`` centred at 0 in R^d.

    Parameters
    ----------
    d : int
        Dimension, >= 1.
    radius : float
        Radius of the ball, > 0 (default 1: the unit ball of docs/math.md, section 5).

    Notes
    -----
    Sampled as a Gaussian direction times ``radius * U^(1/d)``, U uniform on [0, 1].

    Marginal in closed form (docs/math.md, section 5), for the unit ball: ``S = u.X`` has density
    ``c_d (1 - s^2)^((d-1)/2)`` on [-1, 1], ``P(t) = (1/2) I_{1-t^2}((d+1)/2, 1/2)`` for t >= 0
    (``1 - P(-t)`` for t < 0) and ``m1(t) = c_d (1 - t^2)^((d+1)/2) / (d + 1)``; a radius r
    scales S by r.
    """

    radius: float = 1.0  # a field where the base has a property
    _positive: ClassVar[tuple[str, ...]] = ("radius",)

    def _draw(self, n, rng):
        g = rng.standard_normal((n, self.d))
        norms = np.linalg.norm(g, axis=1, keepdims=True)
        norms[norms == 0] = 1.0
        r = rng.uniform(size=(n, 1)) ** (1.0 / self.d)
        with np.errstate(over="ignore", invalid="ignore"):
            x = self.radius * r * g / norms
        bad = ~np.isfinite(x).all(axis=1)
        if np.any(bad):  # a radius near float64's limit: radius * r * g overflows before / norms
            x[bad] = self.radius * (r[bad] * (g[bad] / norms[bad]))
        return x

    def _marginal(self, t):
        with np.errstate(over="ignore"):
            s = t / self.radius
        # Beyond the support (|s| >= 1) nothing depends on s; far beyond it, t / radius may
        # overflow: there P is 0 or 1, m1 = 0 and E[(S - t)_+] is 0 or -t.
        far_below = s < -2.0
        s = np.clip(s, -2.0, 2.0)
        P, m1 = _marginals.ball_tail(s, float(self.d))
        excess = m1 - s * P
        return P, self.radius * m1, np.where(far_below, -t, self.radius * excess)


@dataclass(frozen=True)
class UniformSphere(_Isotropic):
    """Uniform law on the unit sphere S^(d-1) of R^d.

    Parameters
    ----------
    d : int
        Dimension of the ambient space, >= 1 (d = 1: the two points -1 and +1).

    Notes
    -----
    Sampled as normalised standard normal vectors.

    Marginal in closed form: for d >= 2, ``u.X`` has the marginal of the uniform ball of R^(d-2)
    (Archimedes); for d = 1 it is +-1 with probability 1/2 each.
    """

    def _draw(self, n, rng):
        return directions(n, self.d, rng)

    def _marginal(self, t):
        P, m1 = _marginals.sphere_tail(t, self.d)
        return P, m1, m1 - t * P


@dataclass(frozen=True)
class Gaussian(_Isotropic):
    """Standard normal law N(0, I_d).

    Parameters
    ----------
    d : int
        Dimension, >= 1.

    Notes
    -----
    Marginal in closed form: ``u.X ~ N(0, 1)``, ``P(t) = Phi(-t)``, ``m1(t) = phi(t)``; the
    excess ``phi(t) - t Phi(-t)`` is evaluated through ``erfcx`` for t > 0.
    """

    @property
    def radius(self) -> None:
        """No bound on ``||x||``: None."""
        return None

    def _draw(self, n, rng):
        return rng.standard_normal((n, self.d))

    def _marginal(self, t):
        return _marginals.gaussian_tail(t)


@dataclass(frozen=True)
class Radial(_Isotropic):
    """The radial family ``x = (1 - (1 - U)^(1/alpha)) S`` in the unit ball of R^d.

    U is uniform on [0, 1] and S uniform on the unit sphere, independent: the radius rho has
    ``P(rho > r) = (1 - r)^alpha``. Small alpha puts the mass near the sphere, large alpha near
    the centre; alpha = 1 in d = 1 is the uniform law on [-1, 1] (the data-geometry family of
    arXiv:2510.18120).

    Parameters
    ----------
    d : int
        Dimension, >= 1.
    alpha : float
        Exponent, > 0.

    Notes
    -----
    Sampled as a uniform direction S, then U, from the same generator.

    Marginal by tanh-sinh quadrature over the radius of the sphere's marginal at t / rho
    (relative error about 1e-12 typically, below 1e-8 even for sharply peaked laws such as
    alpha = 20 in d = 30).
    """

    alpha: float
    marginal_method: ClassVar[str] = "quadrature"
    _positive: ClassVar[tuple[str, ...]] = ("alpha",)

    def _draw(self, n, rng):
        S = directions(n, self.d, rng)
        U = rng.uniform(size=(n, 1))
        return S * -np.expm1(np.log1p(-U) / self.alpha)

    def _marginal(self, t):
        return _marginals.radial_tail(t, self.d, self.alpha)


# =================================================================================================
# Mixtures of low-dimensional balls
# =================================================================================================
@dataclass(frozen=True, eq=False, repr=False)
class BallMixture(_Sampler):
    """A mixture of low-dimensional balls embedded in R^d.

    Component j is ``c_j + r_j * B_j^T z`` with z uniform in the unit ball of R^dim and ``B_j``
    (dim x d) with orthonormal rows, chosen with probability ``weights[j]``. With dim = 1 and
    zero centres this is data on lines (segments) through the origin, as in arXiv:2510.18120.
    The arrays are stored as read-only copies. A point is drawn by choosing a component by its weight,
    then a uniform point of its ball.

    Parameters
    ----------
    centers : array, shape (k, d)
        Centres c_j.
    bases : array, shape (k, dim, d)
        Orthonormal rows spanning each ball's subspace.
    radii : float or array, shape (k,)
        Radii r_j, > 0.
    weights : float or array, shape (k,)
        Mixture weights, >= 0 with a positive sum; normalised to sum to 1.

    Attributes
    ----------
    d : int
        Ambient dimension.
    dim : int
        Dimension of every ball.
    radius : float
        ``max_j ||c_j|| + r_j``, a bound on ``||x||``.
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
            raise ValueError("centers has no rows: a BallMixture needs at least one component")
        if d == 0:
            raise ValueError("centers must have d >= 1 columns")
        if bases.shape[0] != k or bases.shape[2] != d or bases.shape[1] < 1:
            raise ValueError(f"bases must have shape (k, dim, d) = ({k}, dim, {d}); got {bases.shape}")
        gram = np.einsum("kad,kbd->kab", bases, bases)
        if not np.allclose(gram, np.eye(bases.shape[1])[None], atol=1e-8):
            raise ValueError("each bases[j] must have orthonormal rows")
        radii = _per_component(self.radii, "radii", k)
        if np.any(radii <= 0):
            raise ValueError("radii must be positive")
        weights = _per_component(self.weights, "weights", k)
        if np.any(weights < 0) or weights.sum() <= 0:
            raise ValueError("weights must be non-negative with a positive sum")
        self._freeze(centers=centers, bases=bases, radii=radii, weights=weights / weights.sum())

    def _freeze(self, **arrays):
        for name, value in arrays.items():
            value = np.array(value, dtype=np.float64, copy=True)
            value.setflags(write=False)
            object.__setattr__(self, name, value)

    def __setstate__(self, state):  # pickling: the arrays come back read-only
        self._freeze(**state)

    def __eq__(self, other):
        if not isinstance(other, BallMixture):
            return NotImplemented
        return all(
            np.array_equal(getattr(self, f), getattr(other, f)) for f in ("centers", "bases", "radii", "weights")
        )

    def __hash__(self):
        return hash(tuple(getattr(self, f).tobytes() for f in ("centers", "bases", "radii", "weights")))

    def __repr__(self):
        return f"BallMixture(d={self.d}, dim={self.dim}, n_components={len(self.weights)}, radius={self.radius:.6g})"

    @property
    def d(self) -> int:
        """Ambient dimension."""
        return self.centers.shape[1]

    @property
    def dim(self) -> int:
        """Dimension of every ball."""
        return self.bases.shape[1]

    @property
    def radius(self) -> float:
        """``max_j ||c_j|| + r_j``, a bound on ``||x||``."""
        with np.errstate(over="ignore", under="ignore"):
            norms = row_norms(np.linalg.norm(self.centers, axis=1), self.centers)  # overflow-safe
            bound = float(np.max(norms + self.radii))
        return check_result(bound, "the bound max_j ||c_j|| + r_j on the norm of the points")

    @classmethod
    def random(cls, d, n_components, dim=1, *, radius=1.0, center_scale=0.0, seed=0) -> BallMixture:
        """Balls of dimension ``dim`` in R^d with random (Haar) orientations and equal weights.

        Parameters
        ----------
        d : int
            Ambient dimension, >= 1.
        n_components : int
            Number of balls k, >= 1.
        dim : int
            Dimension of every ball, 1 <= dim <= d (default 1: segments).
        radius : float
            Common radius, > 0.
        center_scale : float
            Centres are ``center_scale`` times uniform points of the unit ball (default 0: every
            ball through the origin).
        seed : optional
            Anything :func:`numpy.random.default_rng` accepts (default 0).

        Returns
        -------
        BallMixture
        """
        d = as_int(d, "d", minimum=1)
        k = as_int(n_components, "n_components", minimum=1)
        dim = as_int(dim, "dim", minimum=1)
        if dim > d:
            raise ValueError(f"dim must be at most d = {d}; got {dim}")
        radius = as_scalar(radius, "radius", positive=True)
        center_scale = as_scalar(center_scale, "center_scale", nonnegative=True)
        check_memory(8 * 2 * k * (dim + 1) * d, f"{k} balls of dimension {dim} in d={d}", "use fewer components")
        rng = generator(seed)
        bases = np.empty((k, dim, d))
        for j in range(k):
            q, r = np.linalg.qr(rng.standard_normal((d, dim)))
            bases[j] = (q * np.sign(np.diag(r))[None, :]).T
        centers = center_scale * UniformBall(d).sample(k, seed=rng)
        return cls(centers, bases, np.full(k, radius), np.full(k, 1.0 / k))

    def _draw(self, n, rng):
        comp = rng.choice(len(self.weights), size=n, p=self.weights)
        z = UniformBall(self.dim).sample(n, seed=rng)
        return self.centers[comp] + self.radii[comp, None] * np.einsum("na,nad->nd", z, self.bases[comp])


def _per_component(value, name: str, k: int) -> np.ndarray:
    """One value for all k components (a scalar), or one per component (shape (k,))."""
    values = as_float_array(value, name, (0, 1))  # a scalar comes back with shape (1,)
    if np.ndim(value) == 1 and values.shape != (k,):
        raise ValueError(f"{name} must be a scalar or have one entry per component, shape ({k},); got {values.shape}")
    return np.broadcast_to(values, (k,))


# =================================================================================================
# Shortcut
# =================================================================================================
def uniform_ball(n: int, d: int, *, seed=0, radius: float = 1.0) -> np.ndarray:
    """n points uniform in the d-dimensional ball of the given radius: ``UniformBall(d, radius).sample(n, seed)``.

    Parameters
    ----------
    n, seed
        As in :meth:`UniformBall.sample`.
    d, radius
        As in :class:`UniformBall`.

    Returns
    -------
    ndarray, shape (n, d)
    """
    return UniformBall(d, radius).sample(n, seed)
