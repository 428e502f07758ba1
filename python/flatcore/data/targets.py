"""Regression targets as objects, and seeded train/test data sets (docs/math.md, section 5.7).

A target is a fixed function f* of x in R^d: it has a dimension ``d`` and is called on a float64
array of shape (n, d), returning the n values f*(x_i). Targets are frozen values, like the laws of
:mod:`flatcore.data.laws`: they compare equal by their parameters, hash, print as their
constructor call and pickle (as their parameters; the random ones redraw the same parameters from
their own ``seed``, so a target is the same function on every machine and for every data seed).

=====================  ===================================================================
:class:`Linear`         f*(x) = w.x, w a unit vector (given, or seeded uniform)
:class:`SingleIndex`    f*(x) = g(w.x), g a link of :data:`LINKS`
:class:`MultiIndex`     f*(x) = sum_j g(u_j.x) or prod_j g(u_j.x), u_1..u_k orthonormal
:class:`RandomReLU`     a random ReLU network with a Poisson number of neurons
:class:`SmoothRadial`   f*(x) = cos(pi * frequency * ||x||)
:class:`Hoelder`        f*(x) = |w.x|^exponent: Hoelder, not Lipschitz, for exponent < 1
:class:`Smooth`         f*(x) = sin(2 x_1) + ||x||^2 / 2
=====================  ===================================================================

:func:`draw` makes a data set from a law and a target: training points with Gaussian label noise,
their noiseless values, and a fresh test sample with noiseless values. The older shortcuts
:func:`target` (a target by name) and :func:`regression` (unit-ball data) are kept unchanged.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from functools import cached_property
from typing import Callable, NamedTuple, Optional, Protocol, runtime_checkable

import numpy as np

from .._equality import not_equal, same_fields
from .._validation import as_float_array, as_int, as_scalar, check_choice, check_memory, check_result
from ._random import directions, generator
from .laws import UniformBall

__all__ = [
    "Target",
    "Linear",
    "SingleIndex",
    "MultiIndex",
    "RandomReLU",
    "SmoothRadial",
    "Hoelder",
    "Smooth",
    "LINKS",
    "Dataset",
    "draw",
    "TARGETS",
    "target",
    "regression",
]


# =================================================================================================
# What a target offers
# =================================================================================================
@runtime_checkable
class Target(Protocol):
    """Any regression target: a dimension and a function of the points.

    Every target of this module is one, and so is a :class:`flatcore.Network` (a teacher network).

    Attributes
    ----------
    d : int
        The dimension of the points, >= 1.

    Methods
    -------
    __call__(X)
        The values f*(x_i), a float64 array of shape (n,), for X of shape (n, d).
    """

    @property
    def d(self) -> int:
        """The dimension of the points."""

    def __call__(self, X) -> np.ndarray:
        """The values f*(x_i) at the rows of X (shape (n, d)), an array of shape (n,)."""


# The links g of SingleIndex and MultiIndex, by name (docs/math.md, section 5.7).
_LINKS: dict[str, Callable[[np.ndarray], np.ndarray]] = {
    "relu": lambda z: np.maximum(z, 0.0),
    "abs": np.abs,
    "tanh": np.tanh,
    "sin": np.sin,
    "square": np.square,
}
LINKS = tuple(_LINKS)
_COMBINE = ("sum", "product")


# =================================================================================================
# What the targets of this module share
# =================================================================================================
class _Target:
    """Base of the targets of this module (private): the checks of X, and pickling by parameters.

    A subclass is a frozen dataclass whose fields are plain numbers, strings and tuples; it checks
    them in ``__post_init__`` (and draws its random parameters there), and evaluates in ``_eval``.
    """

    d: int

    def __call__(self, X) -> np.ndarray:
        """f*(x_i) for every row of X.

        Parameters
        ----------
        X : array, shape (n, d)
            Points, finite (n = 0 gives an empty result).

        Returns
        -------
        ndarray, shape (n,)

        Raises
        ------
        FloatingPointError
            When a value overflows float64 (X too large for the target).
        """
        X = as_float_array(X, "X", 2)
        if X.shape[1] != self.d:
            raise ValueError(f"X has {X.shape[1]} columns but the target {type(self).__name__} expects d = {self.d}")
        with np.errstate(over="ignore", invalid="ignore"):
            values = self._eval(X)
        return check_result(values, f"the target {type(self).__name__} at X")

    def _eval(self, X: np.ndarray) -> np.ndarray:
        raise NotImplementedError

    def __reduce__(self):
        # Pickled as the constructor call: small, and the random parameters are redrawn from the
        # seed (the same on every machine) and checked again.
        return (type(self), tuple(getattr(self, f.name) for f in dataclasses.fields(self)))  # type: ignore[arg-type]


def _check_seed(seed) -> int:
    """A target's seed: a non-negative int, so that the target is a plain, reproducible value."""
    if seed is None:
        raise TypeError(
            "seed must be a non-negative integer (a target's random parameters must be reproducible); got None"
        )
    return as_int(seed, "seed", minimum=0)


def _vector(value, name: str, d: int) -> tuple[float, ...]:
    """A given direction as a tuple of d floats, finite and not zero."""
    arr = as_float_array(value, name, 1)
    if arr.shape != (d,):
        raise ValueError(f"{name} must have d = {d} entries; got shape {arr.shape}")
    if not np.any(arr):
        raise ValueError(f"{name} must not be the zero vector")
    return tuple(float(a) for a in arr)


def _direction_and_seed(d: int, direction, seed) -> tuple[Optional[tuple[float, ...]], Optional[int]]:
    """The checked ``direction`` and ``seed`` fields: the seed is None when a direction is given."""
    if direction is None:
        return None, _check_seed(seed)
    return _vector(direction, "direction", d), None


def _unit(d: int, direction: Optional[tuple[float, ...]], seed: Optional[int]) -> np.ndarray:
    """``direction / ||direction||``, or a uniform unit vector drawn from ``default_rng(seed)``."""
    if direction is None:
        check_memory(8 * 2 * d, f"a direction in d={d}", "use a smaller d")
        w = directions(1, d, generator(seed))[0]
    else:
        w = np.array(direction, dtype=np.float64)
        w = w / np.max(np.abs(w))  # first, so that the norm neither underflows nor overflows
        w = w / np.linalg.norm(w)
    return _read_only(w)


def _read_only(a: np.ndarray) -> np.ndarray:
    a = np.array(a, dtype=np.float64, order="C", copy=True)
    a.setflags(write=False)
    return a


def _set(obj, name: str, value) -> None:
    object.__setattr__(obj, name, value)


# =================================================================================================
# The targets
# =================================================================================================
@dataclass(frozen=True)
class Linear(_Target):
    """The linear (ridge) target ``f*(x) = w.x`` with w a unit vector.

    arXiv:2506.20779's curse-of-dimensionality experiment uses it with ``w = (1, ..., 1)/sqrt(d)``
    (``Linear(d, direction=np.ones(d))``, the ``"linear"`` target of :func:`target` up to rounding).

    Parameters
    ----------
    d : int
        Dimension, >= 1.
    direction : array of d floats, optional
        Not zero; normalised to ``w = direction / ||direction||`` (stored as given, a tuple).
        Default: w uniform on the unit sphere, drawn from the seed.
    seed : int
        Non-negative; draws w when no direction is given (``default_rng(seed)``: a normalised
        standard normal vector). Set to None when a direction is given, so that targets with the
        same direction are equal.

    Attributes
    ----------
    w : ndarray, shape (d,)
        The unit vector w (read-only).
    """

    d: int
    direction: Optional[tuple[float, ...]] = None
    seed: Optional[int] = 0

    def __post_init__(self):
        _set(self, "d", as_int(self.d, "d", minimum=1))
        direction, seed = _direction_and_seed(self.d, self.direction, self.seed)
        _set(self, "direction", direction)
        _set(self, "seed", seed)
        _ = self.w

    @cached_property
    def w(self) -> np.ndarray:
        """The unit vector w (read-only)."""
        return _unit(self.d, self.direction, self.seed)

    def _eval(self, X):
        return X @ self.w


@dataclass(frozen=True)
class SingleIndex(_Target):
    """A single-index target ``f*(x) = g(w.x)``, g a link chosen by name, w a unit vector.

    Links (:data:`LINKS`): ``"relu"`` max(z, 0), ``"abs"`` ``|z|``, ``"tanh"`` tanh z, ``"sin"`` sin z,
    ``"square"`` z^2.

    Parameters
    ----------
    d : int
        Dimension, >= 1.
    link : str
        One of :data:`LINKS` (default ``"relu"``).
    direction : array of d floats, optional
        As in :class:`Linear`.
    seed : int
        As in :class:`Linear`.

    Attributes
    ----------
    w : ndarray, shape (d,)
        The unit vector w (read-only).
    """

    d: int
    link: str = "relu"
    direction: Optional[tuple[float, ...]] = None
    seed: Optional[int] = 0

    def __post_init__(self):
        _set(self, "d", as_int(self.d, "d", minimum=1))
        check_choice(self.link, "link", LINKS)
        direction, seed = _direction_and_seed(self.d, self.direction, self.seed)
        _set(self, "direction", direction)
        _set(self, "seed", seed)
        _ = self.w

    @cached_property
    def w(self) -> np.ndarray:
        """The unit vector w (read-only)."""
        return _unit(self.d, self.direction, self.seed)

    def _eval(self, X):
        return _LINKS[self.link](X @ self.w)


@dataclass(frozen=True)
class MultiIndex(_Target):
    """A multi-index target: the link applied to k orthonormal projections, summed or multiplied.

    ``f*(x) = sum_j g(u_j.x)`` (``combine="sum"``) or ``prod_j g(u_j.x)`` (``combine="product"``),
    j = 1..k, with ``U = (u_1; ...; u_k)`` a k x d matrix with orthonormal rows: f* depends on x
    only through ``Ux``. With ``"product"`` the k directions interact (e.g. ``link="sin"``).

    Parameters
    ----------
    d : int
        Dimension, >= 1.
    k : int
        Number of directions, 1 <= k <= d.
    link : str
        One of :data:`LINKS` (default ``"relu"``), as in :class:`SingleIndex`.
    combine : {"sum", "product"}
        How the k values g(u_j.x) are combined (default ``"sum"``).
    basis : array, shape (k, d), optional
        U, with orthonormal rows (to 1e-8; used as given, stored as a tuple of tuples). Default:
        U uniform (Haar) on the k-frames of R^d, drawn from the seed: the transposed Q factor of
        the QR decomposition of a d x k standard normal matrix, column signs fixed so that R has
        a positive diagonal.
    seed : int
        Non-negative; draws U when no basis is given. Set to None when a basis is given.

    Attributes
    ----------
    U : ndarray, shape (k, d)
        The orthonormal rows u_j (read-only).
    """

    d: int
    k: int = 1
    link: str = "relu"
    combine: str = "sum"
    basis: Optional[tuple[tuple[float, ...], ...]] = None
    seed: Optional[int] = 0

    def __post_init__(self):
        d = as_int(self.d, "d", minimum=1)
        k = as_int(self.k, "k", minimum=1)
        if k > d:
            raise ValueError(f"k must be at most d = {d}; got {k}")
        _set(self, "d", d)
        _set(self, "k", k)
        check_choice(self.link, "link", LINKS)
        check_choice(self.combine, "combine", _COMBINE)
        if self.basis is None:
            _set(self, "seed", _check_seed(self.seed))
            check_memory(8 * 3 * d * k, f"a basis of k={k} directions in d={d}", "use a smaller d or k")
        else:
            U = as_float_array(self.basis, "basis", 2)
            if U.shape != (k, d):
                raise ValueError(f"basis must have shape (k, d) = ({k}, {d}); got {U.shape}")
            if not np.allclose(U @ U.T, np.eye(k), rtol=0.0, atol=1e-8):
                raise ValueError("basis must have orthonormal rows (U U^T = I to 1e-8)")
            _set(self, "basis", tuple(tuple(float(a) for a in row) for row in U))
            _set(self, "seed", None)
        _ = self.U

    @cached_property
    def U(self) -> np.ndarray:
        """The k x d matrix with orthonormal rows u_j (read-only)."""
        if self.basis is not None:
            return _read_only(np.array(self.basis, dtype=np.float64))
        q, r = np.linalg.qr(generator(self.seed).standard_normal((self.d, self.k)))
        return _read_only((q * np.sign(np.diag(r))[None, :]).T)

    def _eval(self, X):
        G = _LINKS[self.link](X @ self.U.T)
        return G.sum(axis=1) if self.combine == "sum" else G.prod(axis=1)


@dataclass(frozen=True)
class RandomReLU(_Target):
    """A random two-layer ReLU network ``f*(x) = sum_k v_k relu(w_k.x - b_k)``, k = 1..N.

    Drawn from ``default_rng(seed)``, in this order: the number of neurons ``N ~ Poisson(rate)``;
    the directions w_k uniform on the unit sphere (normalised standard normal vectors, shape
    (N, d)); the thresholds b_k uniform on ``[-radius, radius]``, so that every kink hyperplane
    ``{w_k.x = b_k}`` cuts the ball of that radius; the output weights ``v_k ~ N(0, 1/rate)``.
    The values are of order radius whatever d and rate: over the draw of the network, at every x
    with ``||x|| <= radius``, ``E f*(x) = 0`` and ``E f*(x)^2 = (radius^2 + 3 ||x||^2 / d) / 6``
    (at most 2/3 on the unit ball with radius 1; docs/math.md, section 5.7). N = 0 (probability
    exp(-rate)) gives f* = 0. The sign convention is :class:`flatcore.Network`'s:
    ``Network(W, b, v)`` is the same function.

    Parameters
    ----------
    d : int
        Dimension, >= 1.
    rate : float
        Mean number of neurons, > 0 (default 10).
    radius : float
        Range of the thresholds, > 0 (default 1: kinks cross the unit ball).
    seed : int
        Non-negative (default 0).

    Attributes
    ----------
    W : ndarray, shape (N, d)
        Unit rows w_k (read-only).
    b : ndarray, shape (N,)
        Thresholds (read-only).
    v : ndarray, shape (N,)
        Output weights (read-only).
    width : int
        N.
    """

    d: int
    rate: float = 10.0
    radius: float = 1.0
    seed: int = 0

    def __post_init__(self):
        _set(self, "d", as_int(self.d, "d", minimum=1))
        _set(self, "rate", as_scalar(self.rate, "rate", positive=True))
        _set(self, "radius", as_scalar(self.radius, "radius", positive=True))
        if not np.isfinite(2.0 * self.radius):  # the thresholds are drawn on [-radius, radius]
            raise ValueError(f"radius must be at most {np.finfo(np.float64).max / 2:.4g}; got {self.radius}")
        _set(self, "seed", _check_seed(self.seed))
        # N exceeds rate + 10 sqrt(rate) + 10 with negligible probability
        size = 8 * (self.d + 2) * int(np.ceil(self.rate + 10.0 * np.sqrt(self.rate) + 10.0))  # exact for any d
        check_memory(size, f"RandomReLU(d={self.d}, rate={self.rate:g})", "use a smaller rate")
        _ = self._params

    @cached_property
    def _params(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        rng = generator(self.seed)
        N = int(rng.poisson(self.rate))
        W = directions(N, self.d, rng)
        b = rng.uniform(-self.radius, self.radius, size=N)
        v = rng.standard_normal(N) / np.sqrt(self.rate)
        return _read_only(W), _read_only(b), _read_only(v)

    @property
    def W(self) -> np.ndarray:
        """The unit directions w_k, shape (N, d) (read-only)."""
        return self._params[0]

    @property
    def b(self) -> np.ndarray:
        """The thresholds b_k, shape (N,) (read-only)."""
        return self._params[1]

    @property
    def v(self) -> np.ndarray:
        """The output weights v_k, shape (N,) (read-only)."""
        return self._params[2]

    @property
    def width(self) -> int:
        """The number of neurons N."""
        return self.W.shape[0]

    def _eval(self, X):
        W, b, v = self._params
        return np.maximum(X @ W.T - b, 0.0) @ v


@dataclass(frozen=True)
class SmoothRadial(_Target):
    """A smooth radial target ``f*(x) = cos(pi * frequency * ||x||)``.

    Smooth (analytic) on all of R^d, the origin included: cos is even, so f* is a power series in
    ``||x||^2``. On the unit ball it goes from 1 at the centre through ``frequency`` half-periods
    to the sphere (from 1 to -1 for frequency 1).

    Parameters
    ----------
    d : int
        Dimension, >= 1.
    frequency : float
        > 0 (default 1).
    """

    d: int
    frequency: float = 1.0

    def __post_init__(self):
        _set(self, "d", as_int(self.d, "d", minimum=1))
        _set(self, "frequency", as_scalar(self.frequency, "frequency", positive=True))

    def _eval(self, X):
        return np.cos(np.pi * self.frequency * np.linalg.norm(X, axis=1))


@dataclass(frozen=True)
class Hoelder(_Target):
    """A Hoelder target that is not Lipschitz: ``f*(x) = |w.x|^exponent``, w a unit vector.

    For 0 < exponent <= 1, ``|f*(x) - f*(y)| <= ||x - y||^exponent`` for all x, y (constant 1);
    for exponent < 1 the difference quotient is unbounded near the hyperplane ``w.x = 0`` (the
    kink), so f* is not Lipschitz. The default exponent 1/2 is the square root of the distance to
    that hyperplane.

    Parameters
    ----------
    d : int
        Dimension, >= 1.
    exponent : float
        The Hoelder exponent, 0 < exponent <= 1 (default 0.5).
    direction : array of d floats, optional
        As in :class:`Linear`.
    seed : int
        As in :class:`Linear`.

    Attributes
    ----------
    w : ndarray, shape (d,)
        The unit vector w (read-only).
    """

    d: int
    exponent: float = 0.5
    direction: Optional[tuple[float, ...]] = None
    seed: Optional[int] = 0

    def __post_init__(self):
        _set(self, "d", as_int(self.d, "d", minimum=1))
        exponent = as_scalar(self.exponent, "exponent", positive=True)
        if exponent > 1:
            raise ValueError(f"exponent must be at most 1 (a Hoelder exponent); got {exponent}")
        _set(self, "exponent", exponent)
        direction, seed = _direction_and_seed(self.d, self.direction, self.seed)
        _set(self, "direction", direction)
        _set(self, "seed", seed)
        _ = self.w

    @cached_property
    def w(self) -> np.ndarray:
        """The unit vector w (read-only)."""
        return _unit(self.d, self.direction, self.seed)

    def _eval(self, X):
        return np.abs(X @ self.w) ** self.exponent


@dataclass(frozen=True)
class Smooth(_Target):
    """The smooth target ``f*(x) = sin(2 x_1) + ||x||^2 / 2`` (x_1 the first coordinate).

    Smooth, neither linear nor radial: the ``"smooth"`` target of :func:`target` and
    :func:`regression` (the same bits).

    Parameters
    ----------
    d : int
        Dimension, >= 1.
    """

    d: int

    def __post_init__(self):
        _set(self, "d", as_int(self.d, "d", minimum=1))

    def _eval(self, X):
        return np.sin(2.0 * X[:, 0]) + 0.5 * np.sum(X * X, axis=1)


# =================================================================================================
# Data sets
# =================================================================================================
class Dataset(NamedTuple):
    """A regression data set from :func:`draw`.

    Attributes
    ----------
    X : ndarray, shape (n, d)
        Training points.
    y : ndarray, shape (n,)
        Noisy labels ``f*(X) + noise * N(0, 1)``.
    y_clean : ndarray, shape (n,)
        The noiseless values ``f*(X)`` at the training points.
    X_test : ndarray, shape (n_test, d)
        A fresh sample of the same law.
    y_test : ndarray, shape (n_test,)
        The noiseless values ``f*(X_test)``.
    Two data sets are equal (``==``) when all five arrays are, entry for entry.
    """

    X: np.ndarray
    y: np.ndarray
    y_clean: np.ndarray
    X_test: np.ndarray
    y_test: np.ndarray

    # Arrays entry for entry: tuple's own == and != would ask an array for its truth value.
    def __eq__(self, other):
        return same_fields(self, other)

    def __ne__(self, other):
        return not_equal(self, other)

    def __repr__(self) -> str:
        n, d = self.X.shape
        return f"Dataset(n={n}, d={d}, n_test={self.X_test.shape[0]})"


Dataset.__hash__ = None  # type: ignore[assignment]  # holds arrays: not hashable


def _seed_sequence(seed) -> np.random.SeedSequence:
    """The SeedSequence behind ``seed`` (a Generator is drawn from and advanced)."""
    if isinstance(seed, np.random.SeedSequence):
        return seed
    if isinstance(seed, np.random.Generator):
        return np.random.SeedSequence([int(a) for a in seed.integers(0, 2**63, size=4)])
    generator(seed)  # the checks and the error message of every seed in flatcore.data
    if isinstance(seed, np.random.BitGenerator):
        return np.random.SeedSequence([int(a) for a in np.random.Generator(seed).integers(0, 2**63, size=4)])
    return np.random.SeedSequence(seed)


def _check_values(values, what: str, n: int) -> np.ndarray:
    values = as_float_array(values, what, 1)
    if values.shape != (n,):
        raise ValueError(f"{what} must have shape ({n},); got {values.shape}")
    return values


def _check_points(X, what: str, n: int, d: int) -> np.ndarray:
    X = as_float_array(X, what, 2)
    if X.shape != (n, d):
        raise ValueError(f"{what} must have shape ({n}, {d}); got {X.shape}")
    return X


def draw(law, target, n: int, *, n_test: int = 1000, noise: float = 0.0, seed=0) -> Dataset:
    """A seeded regression data set: n training points with noisy labels and a noiseless test set.

    ``X`` is ``law.sample(n)``, ``y = f*(X) + noise * z`` with z standard normal, and the test set
    is a fresh sample of the law with its noiseless values (docs/math.md, section 5.7). Train it as
    ``train(net, ds.X, ds.y, lr, steps, test=(ds.X_test, ds.y_test), y_clean=ds.y_clean)``.

    Parameters
    ----------
    law : Law
        Anything with ``d`` and a seeded ``sample(n, seed)`` (:mod:`flatcore.data.laws`); it is given
        a :class:`numpy.random.Generator` as seed.
    target : Target
        Anything with ``d`` that maps an (n, d) array to n values (the targets of this module, a
        :class:`flatcore.Network`); ``target.d`` must equal ``law.d``.
    n : int
        Number of training points, >= 1.
    n_test : int
        Number of test points, >= 1 (default 1000: a relative standard error of about 4.5% on a
        test MSE, from the sqrt(2/n_test) of a Gaussian error).
    noise : float
        Standard deviation sigma of the Gaussian label noise, >= 0 (default 0).
    seed : optional
        Anything :func:`numpy.random.default_rng` accepts (default 0); a Generator is drawn from
        and advanced.

    Returns
    -------
    Dataset
        ``(X, y, y_clean, X_test, y_test)``, float64.

    Notes
    -----
    Draw order: ``seed`` makes one :class:`numpy.random.SeedSequence`, which spawns three
    independent children: the first gives the training points, the second the noise z, the third
    the test points. So the training points do not depend on n_test, noise or the target, the
    noise z does not depend on the law, the target or sigma (the labels for two noise levels differ
    by a multiple of the same z), and the test points do not depend on n. Different seeds give
    independent data sets. The random parameters of a target come from the target's own seed,
    not from this one.
    """
    for obj, name, needs in ((law, "law", "sample"), (target, "target", "__call__")):
        if not hasattr(obj, "d") or not (callable(obj) if needs == "__call__" else hasattr(obj, needs)):
            raise TypeError(f"{name} must have a dimension d and {needs}; got {type(obj).__name__} {obj!r}")
    d = as_int(law.d, "law.d", minimum=1)
    if as_int(target.d, "target.d", minimum=1) != d:
        raise ValueError(f"law and target dimensions differ: law.d = {d}, target.d = {target.d}")
    n = as_int(n, "n", minimum=1)
    n_test = as_int(n_test, "n_test", minimum=1)
    noise = as_scalar(noise, "noise", nonnegative=True)
    # before the law is asked for them (a law of the user's making may not check)
    check_memory(8 * 3 * (n + n_test) * (d + 1), f"n={n} and n_test={n_test} points in d={d}", "draw fewer points")
    points, noise_stream, test = _seed_sequence(seed).spawn(3)

    X = _check_points(law.sample(n, np.random.default_rng(points)), "law.sample(n, seed)", n, d)
    y_clean = _check_values(target(X), "target(X)", n)
    with np.errstate(over="ignore", invalid="ignore"):
        y = y_clean + noise * np.random.default_rng(noise_stream).standard_normal(n)
    check_result(y, "the noisy labels y", "noise is too large: use a smaller one")
    X_test = _check_points(law.sample(n_test, np.random.default_rng(test)), "law.sample(n_test, seed)", n_test, d)
    y_test = _check_values(target(X_test), "target(X_test)", n_test)
    return Dataset(X, y, y_clean, X_test, y_test)


# =================================================================================================
# Targets by name, and unit-ball data sets (the first interface, kept bit for bit)
# =================================================================================================
TARGETS = ("smooth", "linear")


def target(X, target_kind: str = "smooth") -> np.ndarray:
    """Noiseless target values f*(x), the target chosen by name.

    Parameters
    ----------
    X : array, shape (n, d)
        Points.
    target_kind : {"smooth", "linear"}
        ``"smooth"``: f*(x) = sin(2 x_1) + 0.5 ||x||^2 (x_1 the first coordinate): smooth, not
        linear, not radial (:class:`Smooth`). ``"linear"``: f*(x) = sum_j x_j / sqrt(d), the ridge
        target of arXiv:2506.20779's curse-of-dimensionality experiment (:class:`Linear` with
        direction (1, ..., 1), up to rounding).

    Returns
    -------
    ndarray, shape (n,)

    Raises
    ------
    FloatingPointError
        When a value overflows float64 (X too large for the target).
    """
    check_choice(target_kind, "target_kind", TARGETS)
    X = as_float_array(X, "X", 2)
    if X.shape[1] == 0:
        raise ValueError(f"X has no columns (shape {X.shape}): the targets need d >= 1")
    with np.errstate(over="ignore", invalid="ignore"):
        if target_kind == "smooth":
            values = Smooth(X.shape[1])._eval(X)
        else:
            values = X.sum(axis=1) / np.sqrt(X.shape[1])
    return check_result(values, f"the target {target_kind!r} at X", "X is too large in magnitude: rescale it")


def regression(
    n: int, d: int, *, target_kind: str = "smooth", noise: float = 0.1, seed=0
) -> tuple[np.ndarray, np.ndarray]:
    """A regression data set: X uniform in the unit ball, ``y = f*(X) + N(0, noise^2)``.

    X is ``UniformBall(d).sample(n, rng)`` and the label noise is drawn after it from the same
    generator ``rng = numpy.random.default_rng(seed)``. :func:`draw` makes data sets from any law
    and target, with a test set.

    Parameters
    ----------
    n : int
        Number of points, >= 1.
    d : int
        Dimension, >= 1.
    target_kind : {"smooth", "linear"}
        The target f*, see :func:`target`.
    noise : float
        Standard deviation of the Gaussian label noise, >= 0.
    seed : optional
        Anything :func:`numpy.random.default_rng` accepts (default 0).

    Returns
    -------
    X : ndarray, shape (n, d)
    y : ndarray, shape (n,)
    """
    noise = as_scalar(noise, "noise", nonnegative=True)
    rng = generator(seed)
    X = UniformBall(d).sample(n, seed=rng)
    with np.errstate(over="ignore", invalid="ignore"):
        y = target(X, target_kind) + noise * rng.standard_normal(X.shape[0])
    return X, check_result(y, "the noisy labels y", "noise is too large: use a smaller one")
