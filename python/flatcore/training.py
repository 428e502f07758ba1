"""Full-batch gradient descent with the whole trajectory in C++ (docs/math.md, section 2)."""

from __future__ import annotations

import time
from dataclasses import dataclass, field

import numpy as np

from . import _core
from ._equality import same_fields, same_values
from ._inputs import prepare
from ._validation import as_flag, as_float_array, as_int, as_scalar, check_choice, check_memory, check_result
from .network import Network
from .numerics import LOSSES

#: The kernels of :func:`train` (its ``kernel`` argument).
KERNELS: tuple[str, ...] = tuple(_core.KERNELS)


class History:
    """What ``train`` recorded along the trajectory: one row per recorded step.

    Columns (each a NumPy array of the same length):

    - ``step``: the GD step t (theta_t is the iterate after t updates)
    - ``loss``: L(theta_t) in the run's loss convention, without the weight-decay term
    - ``grad_norm``: ||grad L_lambda(theta_t)|| (weight decay included, before clipping)
    - ``W_norm``, ``b_norm``, ``v_norm``: ||W||_F, ||b||, ||v||; ``beta``: the output bias
    - ``active_fraction``: mean over neurons and points of 1[w_k . x_i > b_k]
    - ``dead_fraction``: the share of neurons active on no training point
    - ``rare_fraction``: the share of neurons active on at least one training point and on at
      most a share ``rare_share`` (default 10%) of them, the shattered neurons of the paper
    - with ``sharpness_every``: ``sharpness`` (lambda_max of the Hessian of the run's loss; NaN
      where not computed) and ``sharpness_n_hvp`` (the Hessian-vector products that eigensolve
      used; 0 where not computed)
    - with ``test``: ``test_mse``, mean_j (f(x_j) - y_test_j)^2 over the test set
    - with ``y_clean``: ``clean_mse``, mean_i (f(x_i) - y_clean_i)^2 at the training points, the
      error against the noiseless target that the theory bounds

    The two MSE columns are plain means of squares whatever the loss convention.
    ``history["loss"]`` gives a column, ``history.to_pandas()`` a DataFrame, ``history.to_dict()``
    plain lists (what a results store takes).

    Two histories are equal (``==``) when they have the same columns, in the same order, with
    the same values; NaN equals NaN at the same rows (the sharpness of rows where it was not
    computed).
    """

    __slots__ = ("_columns",)

    def __init__(self, columns: dict):
        """``columns``: name -> 1-D array, all of the same length."""
        lengths = {len(np.asarray(c)) for c in columns.values()}
        if len(lengths) > 1:
            raise ValueError("history columns must have equal lengths")
        self._columns = {k: np.asarray(c) for k, c in columns.items()}

    @classmethod
    def _from_core(cls, history) -> History:
        return cls(history.as_dict())

    def _then(self, later: History) -> History:
        """The rows of this history, then those of ``later``.

        A column one of them lacks is NaN there (0 for an integer column).
        """
        names = list(self._columns) + [c for c in later.columns if c not in self._columns]

        def column(h: History, name: str, like: np.ndarray) -> np.ndarray:
            if name in h:
                return h[name]
            fill = 0 if like.dtype.kind in "iu" else np.nan
            return np.full(len(h), fill, dtype=like.dtype)

        out = {}
        for name in names:
            like = self._columns[name] if name in self._columns else later[name]
            out[name] = np.concatenate([column(self, name, like), column(later, name, like)])
        return History(out)

    @property
    def columns(self) -> tuple[str, ...]:
        """The column names, in order."""
        return tuple(self._columns)

    def __getitem__(self, name: str) -> np.ndarray:
        if not isinstance(name, str):
            raise TypeError(f"a history column is named by a string; got {type(name).__name__} {name!r}")
        try:
            return self._columns[name]
        except KeyError:
            raise KeyError(f"no column {name!r} in the history; columns are {self.columns}") from None

    def __getattr__(self, name):
        # Only reached for names that are not regular attributes; look the column up without
        # recursing when _columns itself is not set yet (e.g. during unpickling).
        try:
            columns = object.__getattribute__(self, "_columns")
        except AttributeError:
            raise AttributeError(name) from None
        try:
            return columns[name]
        except KeyError:
            raise AttributeError(f"History has no column {name!r}") from None

    def __len__(self) -> int:
        return len(next(iter(self._columns.values()))) if self._columns else 0

    def __contains__(self, name) -> bool:
        return isinstance(name, str) and name in self._columns

    def to_pandas(self):
        """The history as a pandas DataFrame, one row per recorded step."""
        import pandas as pd

        return pd.DataFrame({k: v.copy() for k, v in self._columns.items()})

    def to_dict(self) -> dict:
        """The columns as plain lists, by name."""
        return {k: v.tolist() for k, v in self._columns.items()}

    def __repr__(self) -> str:
        return f"History({len(self)} rows; columns {', '.join(self.columns)})"

    def __eq__(self, other):
        if not isinstance(other, History):
            return NotImplemented
        return self.columns == other.columns and same_values(self._columns, other._columns)

    __hash__ = None  # type: ignore[assignment]  # mutable arrays: not hashable

    def __getstate__(self):
        return self._columns

    def __setstate__(self, state):
        object.__setattr__(self, "_columns", state)


@dataclass(eq=False)
class TrainResult:
    """Outcome of :func:`train`.

    Attributes
    ----------
    net : Network
        The final iterate; after a divergence, the last iterate whose loss was finite.
    history : History
        For a run carried on from an earlier result, that result's history followed by this
        run's rows.
    steps_run : int
        Number of GD updates that produced ``net``, counted from the first run's starting point.
    converged : bool
        ``tol`` was given and ||grad L_lambda|| <= tol was reached.
    diverged : bool
        The loss became non-finite or exceeded ``max_loss``; ``diverged_step`` is that step.
    final_loss, final_grad_norm : float
        L and ||grad L_lambda|| at ``net``.
    config : dict
        The settings of the run (lr, steps, loss, weight_decay, ...; None for settings left off).
        For a run done in pieces, the last piece's settings, with ``steps`` the sum over pieces.
    seconds : float
        Wall-clock time of the run (of all its pieces).
    resume : TrainStart
        Where ``train(result, ...)`` carries the run on: the step, the divergence threshold, the
        sharpness solver's warm start and the kernel in effect.
    kernel_stats : dict
        How the steps' gradients were computed (``kernel``): ``certified_steps`` and
        ``dense_steps`` (gradient evaluations of each kind, over all pieces of the run),
        ``pairs`` (the (point, neuron) pairs they evaluated: n * width per dense step), their
        share of all pairs ``pairs_share``, and ``refreshes`` (certified neurons whose reference
        was taken afresh).

    Two results are equal (``==``) when every attribute but ``seconds`` and ``kernel_stats`` is:
    the same network, history (NaN equal to NaN where the sharpness was not computed), counts,
    flags, settings and resume state. The wall-clock time and the kernels' work are left out so
    that a rerun of the same computation, a run done in pieces, or a result reloaded from a
    pickle, compares equal.
    """

    net: Network
    history: History
    steps_run: int
    converged: bool
    diverged: bool
    diverged_step: int | None
    final_loss: float
    final_grad_norm: float
    config: dict = field(default_factory=dict)
    seconds: float = 0.0
    resume: _core.TrainStart | None = field(default=None, repr=False)
    kernel_stats: dict = field(default_factory=dict, repr=False)

    def __repr__(self) -> str:
        status = (
            "converged" if self.converged else (f"diverged at step {self.diverged_step}" if self.diverged else "ran")
        )
        return (
            f"TrainResult({status}, net={self.net!r}, steps_run={self.steps_run}, final_loss={self.final_loss:.6g}, "
            f"final_grad_norm={self.final_grad_norm:.3g}, history={len(self.history)} rows)"
        )

    def __eq__(self, other):
        return same_fields(self, other, skip=("seconds", "kernel_stats"))

    __hash__ = None  # type: ignore[assignment]  # mutable: not hashable


def _evaluation(net: Network, n: int, test, y_clean) -> dict:
    """The checked evaluation arrays for the core: X_test, y_test and y_clean (each may be None)."""
    out: dict = {"X_test": None, "y_test": None, "y_clean": None}
    if test is not None:
        try:
            X_test, y_test = test
        except (TypeError, ValueError):
            raise TypeError("test must be a pair (X_test, y_test) of test points and their target values") from None
        X_test = as_float_array(X_test, "X_test", (1, 2))
        if X_test.ndim == 1 and net.d == 1:
            X_test = X_test.reshape(-1, 1)
        if X_test.ndim != 2 or X_test.shape[1] != net.d:
            raise ValueError(f"X_test must have shape (m, {net.d}); got {X_test.shape}")
        if X_test.shape[0] == 0:
            raise ValueError("the test set has no points")
        y_test = as_float_array(y_test, "y_test", 1)
        if y_test.shape[0] != X_test.shape[0]:
            raise ValueError(f"y_test has {y_test.shape[0]} values but X_test has {X_test.shape[0]} points")
        out["X_test"], out["y_test"] = X_test, y_test
    if y_clean is not None:
        y_clean = as_float_array(y_clean, "y_clean", 1)
        if y_clean.shape[0] != n:
            raise ValueError(f"y_clean has {y_clean.shape[0]} values but X has {n} points")
        out["y_clean"] = y_clean
    return out


def _check_history(history: History) -> None:
    """Raise FloatingPointError where a recorded value overflowed.

    Say the test or clean MSE of targets near float64's limit: the history holds numbers, and NaN
    only where the sharpness was not computed.
    """
    computed = history["sharpness_n_hvp"] > 0 if "sharpness_n_hvp" in history else None
    for name in history.columns:
        column = history[name]
        if column.dtype.kind != "f":
            continue
        if name == "sharpness" and computed is not None:
            column = column[computed]
        check_result(
            column, f"the history's {name}", "the data, the targets or the weights are too large: rescale them"
        )


def train(
    net: Network | TrainResult,
    X,
    y,
    lr,
    steps,
    *,
    loss: str = "half_mse",
    weight_decay=0.0,
    decay_biases: bool = False,
    clip_grad_norm=None,
    record_every=None,
    tol=None,
    max_loss=None,
    sharpness_every=None,
    sharpness_tol: float = 1e-10,
    test=None,
    y_clean=None,
    rare_share: float = 0.1,
    kernel: str = "auto",
    n_threads=None,
    progress: bool = False,
) -> TrainResult:
    """Full-batch gradient descent on L(theta) = 1/(2n) sum_i (f(x_i) - y_i)^2 (or 1/n, ``loss="mse"``).

    Each step: ``theta <- theta - lr * (clip(grad L) + weight_decay * theta_decayed)``, where
    ``theta_decayed`` is W and v, and also b and beta with ``decay_biases=True``
    (docs/math.md, section 2.2). With ``loss="mse"`` and ``decay_biases=True`` this is step for
    step PyTorch's ``torch.optim.SGD(params, lr, weight_decay=weight_decay)`` on ``MSELoss``
    (after ``clip_grad_norm_``, which divides by ``norm + 1e-6`` where flatcore clips to exactly
    ``clip_grad_norm``): PyTorch's SGD decays every parameter it is given, biases included; the
    default here, like the paper's analysis, decays only the weights W and v (in PyTorch: biases
    in a parameter group with ``weight_decay=0``). The whole loop runs in C++ with the GIL
    released; Ctrl-C raises KeyboardInterrupt within a fraction of a second, in whichever thread
    runs the call (unless a SIGINT handler of your own is installed: then only that handler runs).

    Parameters
    ----------
    net : Network or TrainResult
        Starting point (not modified). A :class:`TrainResult` carries that run on: the step count,
        the history and the sharpness solver's warm start continue without a seam, so a long run
        can be done in pieces (the result equals the run done at once when the pieces end on
        multiples of ``record_every`` and ``sharpness_every``; otherwise each piece's last step is
        an extra history row). The settings may change between pieces.
    X : array, shape (n, d)
    y : array, shape (n,)
    lr : float
        Step size eta > 0.
    steps : int
        Maximum number of updates (>= 0) in this call.
    loss : {"half_mse", "mse"}
        The loss convention (docs/math.md, section 1.3): "half_mse" (the paper's,
        L = 1/(2n) sum r^2) or "mse" (PyTorch's ``MSELoss``, L = 1/n sum r^2, whose gradient is
        twice as large). The loss, gradient norm and sharpness in the history are those of this
        L, so 2/lr is the stability threshold in either. GD on "mse" at step eta with weight decay
        lambda is GD on "half_mse" at step 2 eta with weight decay lambda/2 and clipping norm
        ``clip_grad_norm / 2``.
    weight_decay : float
        lambda >= 0 in L + lambda/2 (||W||_F^2 + ||v||^2).
    decay_biases : bool
        Also decay b and beta (lambda/2 (||b||^2 + beta^2) added to the objective).
    clip_grad_norm : float, optional
        Rescale grad L to this global norm when it is longer (the paper's experiments use 50).
    record_every : int, optional
        Record the history every this many steps (the last step is always recorded).
        Default: about 1000 rows, ``max(1, steps // 1000)``.
    tol : float, optional
        Stop early, with ``converged=True``, once ||grad L_lambda|| <= tol.
    max_loss : float, optional
        A loss above this counts as divergence. Default ``1e8 * max(1, L(theta_0))`` (for a run
        carried on, the earlier run's threshold).
    sharpness_every : int, optional
        Also compute the sharpness lambda_max(H) every this many steps (and at the last step),
        without leaving C++: Lanczos on the Hessian at theta_t, warm-started from the previous top
        eigenvector. Adds the history columns ``sharpness`` (NaN on rows where it was not
        computed) and ``sharpness_n_hvp`` (Hessian-vector products used). The edge-of-stability
        curve is ``history["sharpness"]`` against ``2 / lr``.
    sharpness_tol : float
        Relative tolerance of those eigensolves (default 1e-10; the residual rule of
        :func:`flatcore.top_eigs`).
    test : (X_test, y_test), optional
        A test set, typically fresh points of the same law with their noiseless target values:
        adds the history column ``test_mse``.
    y_clean : array, shape (n,), optional
        The noiseless target values at the training points: adds the column ``clean_mse``.
        :func:`flatcore.data.draw` gives both (``test=(ds.X_test, ds.y_test), y_clean=ds.y_clean``).
    rare_share : float
        The threshold of the ``rare_fraction`` column (default 0.1).
    kernel : {"auto", "dense", "certified"}
        How each step computes the loss and gradient (docs/math.md, section 2.4).
        ``"dense"`` evaluates every (point, neuron) pair. ``"certified"`` evaluates only the
        pairs that can be active, with a proof that the others are not: the same mask and
        pre-activations as the dense step, bit for bit, with the active contributions added in
        another order (so the losses agree to rounding, about 1e-15 relative per step). It pays
        when few pairs are active, as at large step sizes, where networks shatter. ``"auto"``
        (default) runs dense steps and switches to certified ones while at most 5% of the pairs
        are active (back above 10%), checked every 64 steps; the choice depends on the trajectory
        only, so results stay reproducible and independent of the thread count.
        ``result.kernel_stats`` says what was done.
    n_threads : int, optional
        The most threads the core uses (default :func:`flatcore.get_num_threads`); results do not
        depend on it, bit for bit. The loop times its steps and moves among counts from this one
        down to 1, keeping the fastest, so that beside other busy processes (or other flatcore
        workers) it runs about as fast as 1 thread instead of waiting a scheduler time slice per
        step, while a quiet machine keeps the full count (the probes of other counts cost under 1%).
        The sharpness eigensolves use the count of the moment. The environment variable
        ``FLATCORE_ADAPTIVE_THREADS=0`` turns this off: every step then uses exactly ``n_threads``.
    progress : bool
        Show a progress bar (tqdm).

    Returns
    -------
    TrainResult

    Raises
    ------
    FloatingPointError
        When the loss or the gradient at the starting network already overflows float64 (as
        :func:`flatcore.loss` would say; rescale the data or the weights), or the tracked
        sharpness does (the Hessian's entries overflow). A loss that becomes non-finite later is a
        divergence, reported in the result with its step.
    """
    earlier = net if isinstance(net, TrainResult) else None
    resume = None
    if earlier is not None:
        resume = earlier.resume
        if resume is None:
            raise ValueError("this TrainResult does not say where its run stopped; train from its net instead")
        net = earlier.net
    a = prepare(net, X, y, n_threads=n_threads)
    steps = as_int(steps, "steps", minimum=0, maximum=2**62)
    if record_every is None:
        record_every = max(1, steps // 1000)
    record_every = as_int(record_every, "record_every", minimum=1, maximum=2**62)
    sharpness_every = as_int(sharpness_every, "sharpness_every", minimum=1, maximum=2**62, allow_none=True)
    options = _core.TrainOptions(
        lr=as_scalar(lr, "lr", positive=True),
        steps=steps,
        loss=check_choice(loss, "loss", LOSSES),
        weight_decay=as_scalar(weight_decay, "weight_decay", nonnegative=True),
        decay_biases=as_flag(decay_biases, "decay_biases"),
        clip_grad_norm=as_scalar(clip_grad_norm, "clip_grad_norm", positive=True, allow_none=True),
        record_every=record_every,
        tol=as_scalar(tol, "tol", nonnegative=True, allow_none=True),
        max_loss=as_scalar(max_loss, "max_loss", positive=True, allow_none=True),
        sharpness_every=sharpness_every,
        sharpness_tol=as_scalar(sharpness_tol, "sharpness_tol", positive=True),
        rare_share=as_scalar(rare_share, "rare_share", nonnegative=True),
        kernel=check_choice(kernel, "kernel", KERNELS),
        n_threads=a.n_threads,
    )
    evaluation = _evaluation(a.net, a.X.shape[0], test, y_clean)
    rows = steps // record_every + 2
    check_memory(
        rows
        * _core.history_bytes_per_row(
            sharpness=sharpness_every is not None,
            test_mse=evaluation["X_test"] is not None,
            clean_mse=evaluation["y_clean"] is not None,
        ),
        f"a history of {rows} rows",
        "record less often (a larger record_every)",
    )
    if resume is not None:
        if resume.net.n_params != a.net.n_params:  # a TrainResult edited by hand
            raise ValueError("the result's resume state does not match its network")
        start = _core.TrainStart(**{**resume.as_dict(), "net": a.net})
    else:
        start = _core.TrainStart(net=a.net)

    bar = None
    callback = None
    if as_flag(progress, "progress"):
        from tqdm.auto import tqdm

        bar = tqdm(total=steps, unit="step", desc="GD", leave=False)
        first = start.step

        def callback(step):
            bar.n = int(step) - first
            bar.refresh()

    began = time.perf_counter()
    try:
        out = _core.train(start, a.X, a.y, options, progress=callback, **evaluation)
    finally:
        if bar is not None:
            bar.close()
    seconds = time.perf_counter() - began
    if out.diverged and out.diverged_step == start.step:
        check_result([out.final_loss, out.final_grad_norm], "the loss or its gradient at the starting network")
    config = options.as_dict()
    del config["n_threads"]  # results do not depend on it
    history = History._from_core(out.history)
    _check_history(history)
    pairs = a.X.shape[0] * a.net.width
    dense_steps = int(out.final_step - start.step + 1 - out.certified_steps)
    stats = {
        "certified_steps": int(out.certified_steps),
        "dense_steps": dense_steps,
        "pairs": float(out.certified_pairs) + float(dense_steps) * pairs,
        "refreshes": int(out.certified_refreshes),
    }
    if earlier is not None:
        history = earlier.history._then(history)
        config["steps"] += int(earlier.config.get("steps", 0))
        seconds += earlier.seconds
        for key, value in earlier.kernel_stats.items():
            stats[key] = stats.get(key, 0) + value
    evaluations = stats["certified_steps"] + stats["dense_steps"]
    stats["pairs_share"] = stats["pairs"] / (evaluations * pairs) if evaluations else 0.0
    return TrainResult(
        net=out.net,
        history=history,
        steps_run=int(out.final_step),
        converged=bool(out.converged),
        diverged=bool(out.diverged),
        diverged_step=out.diverged_step,
        final_loss=float(out.final_loss),
        final_grad_norm=float(out.final_grad_norm),
        config=config,
        seconds=seconds,
        resume=out.next_start(),
        kernel_stats=stats,
    )
