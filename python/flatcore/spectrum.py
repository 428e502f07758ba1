"""The Hessian's spectrum: sharpness, extreme eigenpairs, spectral density (docs/math.md, sections 3-4).

Every eigen-solve returns an :class:`EigenResult` that says how far to trust it (residual norms,
number of Hessian-vector products, a converged flag) and is reproducible: the start vector comes
from ``seed`` through a generator whose output the C++ standard fixes.

Every result is finite. A Hessian whose entries are finite but extreme (say 1e200) is handled by
scaling the solvers' products by a power of two, which is exact; where a product itself overflows
float64 (data or weights far too large, e.g. X * 1e200) the solve stops at once with a
FloatingPointError saying so, never with NaN values next to ``converged=True``.
"""

from __future__ import annotations

import numbers
from dataclasses import dataclass

import numpy as np
from scipy.sparse.linalg import LinearOperator

from . import _core
from ._equality import same_fields
from ._inputs import prepare
from ._interrupt import run_abandonable
from ._validation import as_flag, as_float_array, as_int, as_scalar, check_choice, check_memory, check_result
from .network import Network
from .numerics import HESSIAN_PARTS, LOSSES, hessian

WHICH = (*tuple(_core.EIG_WHICH), "both")
METHODS = ("auto", "lanczos", "dense")
STOPS = tuple(_core.EIG_STOPS)
# Below this many parameters "auto" uses the dense eigendecomposition (exact and fast there).
DENSE_AUTO_MAX_PARAMS = 256
# Seeds of the compiled solvers are unsigned 64-bit integers.
MAX_SEED = 2**64 - 1
# Products whose largest entry lies outside [2^-200, 2^200] are scaled by a power of two (exact)
# before the Python Lanczos of spectral_density sees them, as the compiled solvers do.
_SCALE_LIMIT = 2.0**200


def _read_only_copy(a: np.ndarray) -> np.ndarray:
    a = np.array(a, dtype=np.float64, order="C", copy=True)
    a.setflags(write=False)
    return a


# From this many parameters on, a dense eigendecomposition runs on a thread of its own, so that
# Ctrl-C need not wait for it (below, it takes well under 0.1 s and runs in the calling thread).
DENSE_BACKGROUND_MIN_PARAMS = 512


@dataclass(eq=False)
class EigenResult:
    """Eigenpairs of the Hessian and how they were obtained.

    Attributes
    ----------
    values : ndarray, shape (m,)
        ``which="largest"``: descending; ``"smallest"``: ascending; ``"both"``: the k largest
        (descending) followed by the k smallest (ascending).
    vectors : ndarray, shape (P, m)
        Unit eigenvectors in the layout of ``Network.params()``.
    residual_norms : ndarray, shape (m,)
        ``||H q - lambda q||`` for each pair: computed by one more product after the solve, or
        (k = 1 Lanczos) read off the Lanczos relation, which is exact up to rounding.
    error_bounds : ndarray, shape (m,)
        Estimated error of each eigenvalue. For k = 1 Lanczos, ``min(r, r**2 / gap)`` with r the
        residual and gap the distance to the next Ritz value (the Kato-Temple bound with the
        Ritz gap for the true one); otherwise the residual, which bounds the distance to the
        nearest eigenvalue.
    stop : str
        The stopping rule that ran (``"residual"`` or ``"eigenvalue"``).
    n_hvp : int
        Hessian-vector products used (0 for the dense route).
    n_restarts : int
        Lanczos restarts.
    converged : bool
        All requested pairs met the tolerance.
    method : str
        ``"lanczos"`` or ``"dense"``.
    tol : float
        The relative tolerance asked for.
    seed : int
        The seed of the Lanczos start vector.

    Two results are equal (``==``) when every attribute is, arrays entry for entry.
    """

    values: np.ndarray
    vectors: np.ndarray
    residual_norms: np.ndarray
    n_hvp: int
    n_restarts: int
    converged: bool
    method: str
    error_bounds: np.ndarray
    stop: str
    tol: float
    seed: int

    def __repr__(self) -> str:
        vals = np.array2string(self.values, precision=6, threshold=8)
        return (
            f"EigenResult(values={vals}, vectors of shape {self.vectors.shape}, method={self.method!r}, "
            f"converged={self.converged}, n_hvp={self.n_hvp}, "
            f"max_residual={self.residual_norms.max(initial=0.0):.2e})"
        )

    def __eq__(self, other):
        return same_fields(self, other)

    __hash__ = None  # type: ignore[assignment]  # mutable arrays: not hashable


class HessianLinearOperator(LinearOperator):
    """The Hessian at a fixed theta as a ``scipy.sparse.linalg.LinearOperator``.

    Built by :func:`hessian_operator`; hand it to any SciPy solver
    (``scipy.sparse.linalg.eigsh(op, k=1, which="LA")``). The residuals (and, when cached, the
    n x width activations) are computed once; each product then costs about one gradient.
    ``n_hvp`` counts the products so far. Symmetric, so ``op.T`` and ``op.H`` are ``op``.
    Pickles (the compiled operator is rebuilt on arrival). The operator keeps its own read-only
    copies of X and y (``op.X``, ``op.y``): editing the caller's arrays later changes neither the
    products nor a pickled copy.

    Products take real directions only (a complex one is refused with a TypeError, as
    :func:`flatcore.hvp` does) and raise FloatingPointError where they overflow float64.
    """

    def __init__(
        self,
        net: Network,
        X,
        y,
        part: str = "full",
        cache=None,
        n_threads=None,
        loss: str = "half_mse",
        kernel: str = "auto",
    ):
        a = prepare(net, X, y, n_threads=n_threads)
        check_choice(part, "part", HESSIAN_PARTS)
        check_choice(loss, "loss", LOSSES)
        check_choice(kernel, "kernel", tuple(_core.KERNELS))
        cache = as_flag(cache, "cache", allow_none=True)
        if cache:
            check_memory(
                _core.activation_cache_bytes(a.X.shape[0], a.net.width), "caching the activations", "pass cache=False"
            )
        self._op = _core.HessianOperator(
            a.net,
            a.X,
            a.y,
            part=part,
            loss=loss,
            n_threads=a.n_threads,
            cache_activations=None if cache is None else bool(cache),
            kernel=kernel,
        )
        # The compiled operator holds copies of X and y; so does this object, for pickling (the
        # caller's arrays may change later).
        self.X, self.y = _read_only_copy(a.X), _read_only_copy(a.y)
        self.net, self.part, self.loss, self.kernel = a.net.copy(), part, loss, kernel
        self.cache, self.n_threads = self._op.caches_activations, a.n_threads
        P = a.net.n_params
        super().__init__(dtype=np.float64, shape=(P, P))

    # SciPy's public methods convert their argument with NumPy first, whose errors (a ragged list:
    # "setting an array element with a sequence") and shape errors ("dimension mismatch") do not
    # say what was wrong; these check it the way every flatcore function does, then hand it on.
    def _directions(self, x, name: str, ndim, *, one_column: bool = False):
        x = as_float_array(x, name, ndim)
        if x.shape[0] != self.shape[0]:
            raise ValueError(f"{name} has {x.shape[0]} rows; the Hessian is P x P with P = {self.shape[0]}")
        if one_column and x.ndim == 2 and x.shape[1] != 1:
            raise ValueError(f"{name} must have shape (P,) or (P, 1) = ({self.shape[0]}, 1); got {x.shape}")
        return x

    def matvec(self, x):
        """H x for x of shape (P,) or (P, 1)."""
        return super().matvec(self._directions(x, "the direction u", (1, 2), one_column=True))

    def rmatvec(self, x):
        """H x (H is symmetric), for x of shape (P,) or (P, 1)."""
        return super().rmatvec(self._directions(x, "the direction u", (1, 2), one_column=True))

    def matmat(self, X):
        """H X for X of shape (P, m)."""
        return super().matmat(self._directions(X, "the directions U", 2))

    def rmatmat(self, X):
        """H X (H is symmetric), for X of shape (P, m)."""
        return super().rmatmat(self._directions(X, "the directions U", 2))

    def dot(self, x):
        """H x for an array x; the product operator for an operator, the scaled one for a number."""
        if isinstance(x, (LinearOperator, numbers.Number)):  # a product or a scaled operator
            return super().dot(x)
        return super().dot(self._directions(x, "the direction x", (1, 2)))

    def _matvec(self, u):
        u = np.ascontiguousarray(as_float_array(u, "the direction u", (1, 2)).reshape(-1))
        return check_result(self._op.matvec(u), "the Hessian-vector product")

    def _matmat(self, U):
        U = np.asfortranarray(as_float_array(U, "the directions U", 2))
        return check_result(self._op.matmat(U), "the Hessian-vector products")

    _rmatvec = _matvec
    _rmatmat = _matmat

    def _adjoint(self):
        return self

    _transpose = _adjoint

    @property
    def n_hvp(self) -> int:
        """Hessian-vector products computed so far."""
        return int(self._op.n_hvp)

    @property
    def lists_active_pairs(self) -> bool:
        """Whether products run over the listed active pairs only (``kernel``)."""
        return bool(self._op.lists_active_pairs)

    @property
    def core(self):
        """The compiled operator (``matvec`` without the Python layer's checks, e.g. for timing)."""
        return self._op

    def __reduce__(self):
        return (
            HessianLinearOperator,
            (self.net, self.X, self.y, self.part, self.cache, self.n_threads, self.loss, self.kernel),
        )

    def __repr__(self) -> str:
        return f"HessianLinearOperator(P={self.shape[0]}, part={self.part!r}, loss={self.loss!r}, n_hvp={self.n_hvp})"


def hessian_operator(
    net: Network,
    X,
    y,
    *,
    part: str = "full",
    loss: str = "half_mse",
    cache=None,
    n_threads=None,
    kernel: str = "auto",
):
    """The Hessian as a matrix-free ``scipy.sparse.linalg.LinearOperator``.

    ``part`` and ``loss`` (the convention, "half_mse" or "mse") as in :func:`flatcore.hessian`.

    ``cache`` keeps the n x width activations in memory so that each product skips recomputing
    them (default: always below 64 MiB, up to 512 MiB when that is less than a quarter of the
    memory available). Products are the same to the last bit either way; caching makes them
    faster (benchmarks/README.md).

    ``kernel``: at a fixed point the mask is known exactly, so with the activations cached
    ``"certified"`` lists each neuron's active points once and every product then costs what the
    active pairs cost (the same terms as ``"dense"``, added in another order: products agree to
    rounding). ``"auto"`` (default) does so when at most 5% of the (point, neuron) pairs are
    active, as in shattered networks; ``lists_active_pairs`` says which path the products take.
    """
    return HessianLinearOperator(net, X, y, part=part, cache=cache, n_threads=n_threads, loss=loss, kernel=kernel)


def _choose_method(method, P, k_total):
    if method not in METHODS:
        raise ValueError(f"method must be one of {METHODS}; got {method!r}")
    if method == "auto":
        return "dense" if (P <= DENSE_AUTO_MAX_PARAMS or k_total >= P - 1) else "lanczos"
    if method == "lanczos" and k_total >= P:
        raise ValueError(
            f"Lanczos needs fewer eigenpairs than parameters: asked for {k_total}, P = {P}; use method='dense'"
        )
    return method


def top_eigs(
    net: Network,
    X,
    y,
    k: int = 1,
    which: str = "largest",
    *,
    part: str = "full",
    loss: str = "half_mse",
    tol: float = 1e-10,
    stop: str = "residual",
    method: str = "auto",
    seed: int = 0,
    max_restarts: int = 1000,
    ncv=None,
    v0=None,
    n_threads=None,
) -> EigenResult:
    """Extreme eigenpairs of the Hessian (or of one of its parts).

    Parameters
    ----------
    k : int
        Number of eigenpairs from each requested end (1 <= k <= P; ``"both"`` needs 2k <= P).
    which : {"largest", "smallest", "both"}
        Algebraically largest, smallest (negative curvature), or k from each end.
    part : {"full", "gauss_newton", "residual"}
    loss : {"half_mse", "mse"}
        The loss convention (docs/math.md, section 1.3); "mse" eigenvalues are twice the
        "half_mse" ones, with the same eigenvectors.
    tol : float
        Relative tolerance, scaled by ``max(|lambda|, 1e3 eps ||H|| / tol)`` (``||H||`` estimated from
        the Ritz values: an eigenvalue near 0 is known only to the rounding level of H); what
        it bounds is set by ``stop``.
    stop : {"residual", "eigenvalue"}
        ``"residual"`` (default): each residual ||H q - lambda q|| <= tol * scale, so vectors and
        values are both accurate whatever the rest of the spectrum. ``"eigenvalue"`` (k = 1
        Lanczos only; faster): stops once the eigenvalue's error estimate min(r, r**2 / gap) <=
        tol * scale, where gap is the distance to the next Ritz value less that value's residual.
        At trained points with a well-separated top eigenvalue it needs about half the products
        for the same accuracy of the value (the vector is then accurate to about sqrt(tol)).
        But the gap is estimated, not bounded: while a second eigenvalue within a small relative
        distance (say 1e-4 or less) is not yet resolved, the estimate can be orders of magnitude
        too small and the value off by up to about the residual, with ``converged=True``. For
        k > 1 and the dense route both mean ``"residual"``.
    method : {"auto", "lanczos", "dense"}
        ``"lanczos"``: implicitly restarted Lanczos (Spectra) on the matrix-free Hessian with the
        activations cached; ``"dense"``: full eigendecomposition; ``"auto"``: dense when
        P <= 256 or k is close to P, else Lanczos. Ctrl-C returns at once from either; an
        interrupted dense decomposition (P >= 512) finishes on a background thread, holding about
        three P x P matrices and a core until then, and its result is dropped.
    seed : int
        Seeds the Lanczos start vector (results are reproducible bit for bit); 0 <= seed < 2**64.
    max_restarts : int
        Lanczos restarts at most before giving up (``converged=False``).
    ncv : int, optional
        Lanczos basis size (default max(2k + 1, 20)).
    v0 : array, shape (P,), optional
        Warm start (e.g. a previous top eigenvector): the start vector is v0 / ||v0|| plus 1e-2
        times the seeded unit vector, a small admixture that keeps the Krylov space growing when
        v0 is already an eigenvector.
    n_threads : int, optional

    Returns
    -------
    EigenResult
        Finite values and residuals.

    Raises
    ------
    FloatingPointError
        When the Hessian overflows float64 (its products, or its dense entries, are inf or NaN
        although the network and the data are finite): rescale the data or the weights. A finite
        Hessian, however large its entries, gives finite eigenpairs.
    """
    a = prepare(net, X, y, n_threads=n_threads)
    net, X, y = a.net, a.X, a.y
    check_choice(which, "which", WHICH)
    check_choice(part, "part", HESSIAN_PARTS)
    check_choice(loss, "loss", LOSSES)
    P = net.n_params
    k = as_int(k, "k", minimum=1)
    k_total = 2 * k if which == "both" else k
    if k_total > P:
        raise ValueError(f"k = {k} asks for {k_total} eigenpairs but the Hessian is only {P} x {P}")
    tol = as_scalar(tol, "tol", positive=True)
    check_choice(stop, "stop", STOPS)
    seed = as_int(seed, "seed")
    if not 0 <= seed <= MAX_SEED:
        raise ValueError(f"seed must be in [0, 2**64) (it seeds a 64-bit generator); got {seed}")
    max_restarts = as_int(max_restarts, "max_restarts", minimum=1, maximum=2**62)
    ncv = as_int(ncv, "ncv", minimum=2, maximum=2**62, allow_none=True)
    if v0 is not None:
        v0 = as_float_array(v0, "v0", 1)
        if v0.shape[0] != P:
            raise ValueError(f"v0 has {v0.shape[0]} entries; P = {P}")
        if not np.any(v0):
            raise ValueError("v0 must not be the zero vector")
    chosen = _choose_method(method, P, k_total)
    ends = ["largest", "smallest"] if which == "both" else [which]
    if chosen == "lanczos":  # the Krylov basis and Spectra's work arrays: a few P x ncv matrices
        basis = min(max(ncv or 0, 2 * k + 1, 20, 64 if k == 1 else 0), P)
        check_memory(8.0 * 3 * P * basis, f"a Lanczos basis of {P} x {basis} entries", "use a smaller ncv")

    if chosen == "dense":
        H = hessian(net, X, y, part=part, loss=loss, n_threads=a.n_threads)
        parts = [_core.dense_eigenpairs(H, k=k, which=end) for end in ends]
    else:
        op = _core.HessianOperator(net, X, y, part=part, loss=loss, n_threads=a.n_threads)
        parts = [
            _core.lanczos_eigenpairs(
                op,
                _core.EigOptions(
                    k=k, which=end, tol=tol, stop=stop, max_restarts=max_restarts, ncv=ncv or 0, seed=seed, start=v0
                ),
            )
            for end in ends
        ]

    for p in parts:  # the core raises first; a last guard that no NaN passes as a number
        check_result(p.values, "the eigenvalues")
        check_result(p.residual_norms, "the eigenpairs' residuals")
    return EigenResult(
        values=np.concatenate([p.values for p in parts]),
        vectors=np.concatenate([p.vectors for p in parts], axis=1),
        residual_norms=np.concatenate([p.residual_norms for p in parts]),
        n_hvp=int(sum(p.n_hvp for p in parts)),
        n_restarts=int(sum(p.n_restarts for p in parts)),
        converged=all(p.converged and len(p.values) == k for p in parts),
        method=chosen,
        error_bounds=np.concatenate([p.error_bounds for p in parts]),
        stop=stop if (chosen == "lanczos" and k == 1) else "residual",
        tol=tol,
        seed=seed,
    )


def sharpness(
    net: Network,
    X,
    y,
    *,
    part: str = "full",
    loss: str = "half_mse",
    tol: float = 1e-10,
    stop: str = "residual",
    method: str = "auto",
    seed: int = 0,
    return_result: bool = False,
    n_threads=None,
):
    """lambda_max of the Hessian (docs/math.md, section 4), to about ``tol`` relative.

    ``stop="eigenvalue"`` (see :func:`top_eigs`) needs fewer products where the top eigenvalue is
    well separated, but can be inaccurate when a second one is very close; the default, the
    residual rule, is accurate in every case.

    ``loss`` is the convention ("half_mse" or "mse", whose sharpness is twice as large): GD at step
    size eta on that loss can only settle at minima with sharpness <= 2/eta. Returns a float, or the
    full :class:`EigenResult` (residual norm, HVP count, converged flag) with ``return_result=True``.
    Raises RuntimeError if the solver did not converge (ask for the result to inspect it instead),
    FloatingPointError if the Hessian overflows float64 at this scale of the data and the weights
    (see :func:`top_eigs`).
    """
    return_result = as_flag(return_result, "return_result")
    res = top_eigs(
        net,
        X,
        y,
        1,
        "largest",
        part=part,
        loss=loss,
        tol=tol,
        stop=stop,
        method=method,
        seed=seed,
        n_threads=n_threads,
    )
    if return_result:
        return res
    if not res.converged:
        raise RuntimeError(
            f"the sharpness eigensolve did not converge ({res!r}); raise max_restarts or tol, "
            "or call with return_result=True to inspect it"
        )
    return float(res.values[0])


def exact_spectrum(net: Network, X, y, *, part: str = "full", loss: str = "half_mse", n_threads=None) -> np.ndarray:
    """All P eigenvalues (ascending) from the dense Hessian; for small P.

    Raises FloatingPointError where the Hessian or its eigenvalues overflow float64. Ctrl-C returns
    at once (KeyboardInterrupt), also during the eigendecomposition, which cannot stop part-way: an
    interrupted one finishes on a background thread, holding its memory and a core until then
    (seconds at P = 3600), and its result is dropped.
    """
    H = hessian(net, X, y, part=part, loss=loss, n_threads=n_threads)
    if H.shape[0] < DENSE_BACKGROUND_MIN_PARAMS:
        values = np.linalg.eigvalsh(H)
    else:
        values = run_abandonable(lambda: np.linalg.eigvalsh(H), "flatcore-exact-spectrum")
    return check_result(values, "the Hessian's eigenvalues")


@dataclass(eq=False)
class SpectralDensity:
    """A stochastic Lanczos quadrature estimate of the Hessian's spectral density.

    The density is ``sum_j weights[j] * delta(x - nodes[j])`` (weights sum to 1), an average over
    ``n_probes`` Gaussian quadratures; :meth:`smoothed` turns it into a curve on a grid. Two
    estimates are equal (``==``) when every attribute is, arrays entry for entry.
    """

    nodes: np.ndarray
    weights: np.ndarray
    n_probes: int
    lanczos_steps: int
    n_hvp: int

    def __repr__(self) -> str:
        span = f", nodes in [{self.nodes.min():.6g}, {self.nodes.max():.6g}]" if self.nodes.size else ""
        return (
            f"SpectralDensity({self.nodes.size} nodes{span}, n_probes={self.n_probes}, "
            f"lanczos_steps={self.lanczos_steps}, n_hvp={self.n_hvp})"
        )

    def __eq__(self, other):
        return same_fields(self, other)

    __hash__ = None  # type: ignore[assignment]  # mutable arrays: not hashable

    def smoothed(self, grid, sigma: float) -> np.ndarray:
        """Density on ``grid`` with each node replaced by a Gaussian of width ``sigma``.

        Raises FloatingPointError where the density overflows float64 (a ``sigma`` so small that
        1 / sigma does).
        """
        grid = as_float_array(grid, "grid", 1)
        sigma = as_scalar(sigma, "sigma", positive=True)
        with np.errstate(over="ignore", under="ignore"):  # far nodes: exp(-inf) = 0, as it should
            diff = (grid[:, None] - self.nodes[None, :]) / sigma
            density = (np.exp(-0.5 * diff**2) @ self.weights) / (sigma * np.sqrt(2 * np.pi))
        return check_result(density, "the smoothed density", f"sigma = {sigma} is too small: use a larger one")


def spectral_density(
    net: Network,
    X,
    y,
    *,
    n_probes: int = 10,
    lanczos_steps: int = 80,
    part: str = "full",
    loss: str = "half_mse",
    seed: int = 0,
    n_threads=None,
) -> SpectralDensity:
    """Spectral density of the Hessian by stochastic Lanczos quadrature (as PyHessian offers).

    Each probe is a Rademacher vector; ``lanczos_steps`` Lanczos steps with full
    reorthogonalisation give a Gaussian quadrature rule whose nodes are Ritz values and whose
    weights are the squared first components of the Ritz vectors. Cost: n_probes * lanczos_steps
    Hessian-vector products. For small P, :func:`exact_spectrum` gives every eigenvalue.

    ``seed`` is anything :func:`numpy.random.default_rng` accepts. A Hessian with extreme but finite
    entries is handled by scaling its products by a power of two (exact), so the nodes are finite;
    where the products overflow float64 it raises FloatingPointError.
    """
    n_probes = as_int(n_probes, "n_probes", minimum=1)
    lanczos_steps = as_int(lanczos_steps, "lanczos_steps", minimum=1)
    op = hessian_operator(net, X, y, part=part, loss=loss, n_threads=n_threads)
    P = op.shape[0]
    m = min(lanczos_steps, P)
    check_memory(8.0 * P * (m + 4), f"the Lanczos basis of {P} x {m} entries", "use fewer lanczos_steps")
    check_memory(16 * n_probes * m, f"the nodes and weights of {n_probes} probes x {m} steps", "use fewer probes")
    try:
        rng = np.random.default_rng(seed)
    except (TypeError, ValueError) as exc:
        raise type(exc)(f"seed must be something numpy.random.default_rng accepts; got {seed!r} ({exc})") from None
    scale = 0.0  # the power of two the products are multiplied by: chosen at the first non-zero one
    nodes, weights = [], []
    for _ in range(n_probes):
        q = rng.choice([-1.0, 1.0], size=P) / np.sqrt(P)
        Q = np.zeros((P, m))
        alpha, beta = np.zeros(m), np.zeros(max(m - 1, 0))
        Q[:, 0] = q
        steps = m
        for j in range(m):
            w = op.matvec(Q[:, j])  # FloatingPointError if the product overflows
            if scale == 0.0:
                top = float(np.max(np.abs(w)))
                if top > 0.0:
                    extreme = top > _SCALE_LIMIT or top < 1.0 / _SCALE_LIMIT
                    scale = float(np.ldexp(1.0, -int(np.frexp(top)[1]) + 1)) if extreme else 1.0
            if scale not in (0.0, 1.0):
                w *= scale
            alpha[j] = Q[:, j] @ w
            w -= Q[:, : j + 1] @ (Q[:, : j + 1].T @ w)  # full reorthogonalisation, twice
            w -= Q[:, : j + 1] @ (Q[:, : j + 1].T @ w)
            if j + 1 < m:
                b = np.linalg.norm(w)
                if b < 1e-12 * max(1.0, abs(alpha[j])):
                    steps = j + 1
                    break
                beta[j] = b
                Q[:, j + 1] = w / b
        T = np.diag(alpha[:steps]) + np.diag(beta[: steps - 1], 1) + np.diag(beta[: steps - 1], -1)
        theta, S = np.linalg.eigh(T)
        nodes.append(theta / scale if scale not in (0.0, 1.0) else theta)
        weights.append(S[0, :] ** 2 / n_probes)
    return SpectralDensity(
        nodes=check_result(np.concatenate(nodes), "the spectral density's nodes (eigenvalues)"),
        weights=np.concatenate(weights),
        n_probes=n_probes,
        lanczos_steps=m,
        n_hvp=op.n_hvp,
    )
