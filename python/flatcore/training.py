"""Full-batch gradient descent with the whole trajectory in C++ (docs/math.md, section 2)."""

from __future__ import annotations

import time
from dataclasses import dataclass, field

import numpy as np

from . import _core
from ._inputs import prepare
from ._validation import as_int, as_scalar, check_memory
from .network import Network


class History:
    """What ``train`` recorded along the trajectory: one row per recorded step.

    Columns (each a NumPy array of the same length):

    - ``step``: the GD step t (theta_t is the iterate after t updates)
    - ``loss``: L(theta_t), without the weight-decay term
    - ``grad_norm``: ||grad L_lambda(theta_t)|| (weight decay included, before clipping)
    - ``W_norm``, ``b_norm``, ``v_norm``: ||W||_F, ||b||, ||v||; ``beta``: the output bias
    - ``active_fraction``: mean over neurons and points of 1[w_k . x_i > b_k]
    - with ``sharpness_every``: ``sharpness`` (lambda_max of the Hessian; NaN where not computed)
      and ``sharpness_n_hvp`` (the Hessian-vector products that eigensolve used; 0 where not computed)

    ``history["loss"]`` gives a column, ``history.to_pandas()`` a DataFrame, ``history.to_dict()``
    plain lists (what a results store takes).
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
        names = _core.TrainHistory.column_names(history.tracks_sharpness)
        return cls({name: getattr(history, name) for name in names})

    @property
    def columns(self) -> tuple[str, ...]:
        """The column names, in order."""
        return tuple(self._columns)

    def __getitem__(self, name: str) -> np.ndarray:
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
        return name in self._columns

    def to_pandas(self):
        """The history as a pandas DataFrame, one row per recorded step."""
        import pandas as pd

        return pd.DataFrame({k: v.copy() for k, v in self._columns.items()})

    def to_dict(self) -> dict:
        """The columns as plain lists, by name."""
        return {k: v.tolist() for k, v in self._columns.items()}

    def __repr__(self) -> str:
        return f"History({len(self)} rows; columns {', '.join(self.columns)})"

    def __getstate__(self):
        return self._columns

    def __setstate__(self, state):
        object.__setattr__(self, "_columns", state)


@dataclass
class TrainResult:
    """Outcome of :func:`train`.

    Attributes
    ----------
    net : Network
        The final iterate; after a divergence, the last iterate whose loss was finite.
    history : History
    steps_run : int
        Number of GD updates that produced ``net``.
    converged : bool
        ``tol`` was given and ||grad L_lambda|| <= tol was reached.
    diverged : bool
        The loss became non-finite or exceeded ``max_loss``; ``diverged_step`` is that step.
    final_loss, final_grad_norm : float
        L and ||grad L_lambda|| at ``net``.
    config : dict
        The settings of the run (lr, steps, weight_decay, ...; None for settings left off).
    seconds : float
        Wall-clock time of the run.
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

    def __repr__(self) -> str:
        status = (
            "converged" if self.converged else (f"diverged at step {self.diverged_step}" if self.diverged else "ran")
        )
        return (
            f"TrainResult({status}, steps_run={self.steps_run}, final_loss={self.final_loss:.6g}, "
            f"final_grad_norm={self.final_grad_norm:.3g}, history={len(self.history)} rows)"
        )


def train(
    net: Network,
    X,
    y,
    lr,
    steps,
    *,
    weight_decay=0.0,
    decay_biases: bool = False,
    clip_grad_norm=None,
    record_every=None,
    tol=None,
    max_loss=None,
    sharpness_every=None,
    sharpness_tol: float = 1e-10,
    n_threads=None,
    progress: bool = False,
) -> TrainResult:
    """Full-batch gradient descent on L(theta) = 1/(2n) sum_i (f(x_i) - y_i)^2.

    Each step: ``theta <- theta - lr * (clip(grad L) + weight_decay * theta_decayed)``, where
    ``theta_decayed`` is W and v (and b, beta if ``decay_biases``) (docs/math.md, section 2.2).
    This is PyTorch's SGD with ``weight_decay`` after ``clip_grad_norm_`` (which divides by
    ``norm + 1e-6``; flatcore clips to exactly ``clip_grad_norm``) when the biases are put in a
    parameter group without weight decay; PyTorch's default decays every parameter, biases
    included, which is ``decay_biases=True`` here. The whole loop runs in C++ with the GIL
    released; Ctrl-C raises KeyboardInterrupt within a fraction of a second.

    Parameters
    ----------
    net : Network
        Starting point (not modified).
    X : array, shape (n, d)
    y : array, shape (n,)
    lr : float
        Step size eta > 0.
    steps : int
        Maximum number of updates (>= 0).
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
        A loss above this counts as divergence. Default ``1e8 * max(1, L(theta_0))``.
    sharpness_every : int, optional
        Also compute the sharpness lambda_max(H) every this many steps (and at the last step),
        without leaving C++: Lanczos on the Hessian at theta_t, warm-started from the previous top
        eigenvector. Adds the history columns ``sharpness`` (NaN on rows where it was not
        computed) and ``sharpness_n_hvp`` (Hessian-vector products used). The edge-of-stability
        curve is ``history["sharpness"]`` against ``2 / lr``.
    sharpness_tol : float
        Relative tolerance of those eigensolves (default 1e-10; the residual rule of
        :func:`flatcore.top_eigs`).
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
    """
    a = prepare(net, X, y, n_threads=n_threads)
    steps = as_int(steps, "steps", minimum=0, maximum=2**62)
    if record_every is None:
        record_every = max(1, steps // 1000)
    record_every = as_int(record_every, "record_every", minimum=1, maximum=2**62)
    sharpness_every = as_int(sharpness_every, "sharpness_every", minimum=1, maximum=2**62, allow_none=True)
    options = _core.TrainOptions(
        lr=as_scalar(lr, "lr", positive=True),
        steps=steps,
        weight_decay=as_scalar(weight_decay, "weight_decay", nonnegative=True),
        decay_biases=bool(decay_biases),
        clip_grad_norm=as_scalar(clip_grad_norm, "clip_grad_norm", positive=True, allow_none=True),
        record_every=record_every,
        tol=as_scalar(tol, "tol", nonnegative=True, allow_none=True),
        max_loss=as_scalar(max_loss, "max_loss", positive=True, allow_none=True),
        sharpness_every=sharpness_every,
        sharpness_tol=as_scalar(sharpness_tol, "sharpness_tol", positive=True),
        n_threads=a.n_threads,
    )
    rows = steps // record_every + 2
    check_memory(
        rows * _core.TrainHistory.bytes_per_row(sharpness_every is not None),
        f"a history of {rows} rows",
        "record less often (a larger record_every)",
    )

    bar = None
    callback = None
    if progress:
        from tqdm.auto import tqdm

        bar = tqdm(total=steps, unit="step", desc="GD", leave=False)

        def callback(step):
            bar.n = int(step)
            bar.refresh()

    start = time.perf_counter()
    try:
        out = _core.train(a.net, a.X, a.y, options, progress=callback)
    finally:
        if bar is not None:
            bar.close()
    seconds = time.perf_counter() - start
    config = options.as_dict()
    del config["n_threads"]  # results do not depend on it
    return TrainResult(
        net=out.net,
        history=History._from_core(out.history),
        steps_run=int(out.steps_run),
        converged=bool(out.converged),
        diverged=bool(out.diverged),
        diverged_step=out.diverged_step,
        final_loss=float(out.final_loss),
        final_grad_norm=float(out.final_grad_norm),
        config=config,
        seconds=seconds,
    )
