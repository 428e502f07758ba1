"""
flatcore's compiled core (use the flatcore package instead of this module)
"""

from __future__ import annotations

import typing

import numpy
import numpy.typing

import flatcore

__all__: list[str] = [
    "EIG_STOPS",
    "EIG_WHICH",
    "EigOptions",
    "EigResult",
    "HESSIAN_PARTS",
    "HessianOperator",
    "Interruption",
    "KERNELS",
    "LOSSES",
    "LossGradient",
    "NeuronSide",
    "NeuronSides",
    "TraceTerms",
    "TrainHistory",
    "TrainOptions",
    "TrainResult",
    "TrainStart",
    "activation_cache_bytes",
    "activation_rates",
    "available_memory_bytes",
    "build_flags",
    "cache_activations_by_default",
    "default_num_threads",
    "dense_eigenpairs",
    "dense_hessian",
    "dense_hessian_bytes",
    "gradient_workspace_bytes",
    "has_openmp",
    "hessian_trace",
    "history_bytes_per_row",
    "history_columns",
    "hvp",
    "lanczos_eigenpairs",
    "loss",
    "loss_and_gradient",
    "loss_scale",
    "max_num_threads",
    "neuron_sides",
    "predict",
    "set_default_num_threads",
    "simd_kind",
    "simd_lanes",
    "threads_lost_to_fork",
    "trace_terms",
    "train",
    "variant",
]

class Interruption:
    """
    Whether Ctrl-C asked the calling thread's call to stop since the object was made (in the thread that made it).
    """
    def __init__(self) -> None: ...
    def check(self) -> None:
        """
        Raise KeyboardInterrupt (or what the user's SIGINT handler raises) if Ctrl-C asked to stop.
        """

class LossGradient:
    @property
    def active_count(self) -> typing.Annotated[numpy.typing.NDArray[numpy.float64], "[m, 1]"]: ...
    @property
    def active_fraction(self) -> float: ...
    @property
    def grad(self) -> typing.Annotated[numpy.typing.NDArray[numpy.float64], "[m, 1]"]: ...
    @property
    def loss(self) -> float: ...
    @property
    def residuals(self) -> typing.Annotated[numpy.typing.NDArray[numpy.float64], "[m, 1]"]: ...

class NeuronSide:
    @property
    def excess(self) -> typing.Annotated[numpy.typing.NDArray[numpy.float64], "[m, 1]"]: ...
    @property
    def moment(self) -> typing.Annotated[numpy.typing.NDArray[numpy.float64], "[m, n]"]: ...
    @property
    def share(self) -> typing.Annotated[numpy.typing.NDArray[numpy.float64], "[m, 1]"]: ...

class NeuronSides:
    @property
    def active(self) -> NeuronSide: ...
    @property
    def inactive(self) -> NeuronSide: ...

class TraceTerms:
    @property
    def A(self) -> typing.Annotated[numpy.typing.NDArray[numpy.float64], "[m, 1]"]: ...
    @property
    def B(self) -> typing.Annotated[numpy.typing.NDArray[numpy.float64], "[m, 1]"]: ...
    @property
    def beta(self) -> float: ...

class HessianOperator:
    def __init__(
        self,
        net: flatcore.Network,
        X: typing.Annotated[numpy.typing.NDArray[numpy.float64], "[m, n]", "flags.c_contiguous"],
        y: typing.Annotated[numpy.typing.NDArray[numpy.float64], "[m, 1]"],
        *,
        part: str = "full",
        loss: str = "half_mse",
        n_threads: typing.SupportsInt | typing.SupportsIndex | None = None,
        cache_activations: bool | None = None,
        kernel: str = "auto",
    ) -> None: ...
    def matmat(
        self, U: typing.Annotated[numpy.typing.NDArray[numpy.float64], "[m, n]", "flags.f_contiguous"]
    ) -> typing.Annotated[numpy.typing.NDArray[numpy.float64], "[m, n]"]: ...
    def matvec(
        self, u: typing.Annotated[numpy.typing.NDArray[numpy.float64], "[m, 1]"]
    ) -> typing.Annotated[numpy.typing.NDArray[numpy.float64], "[m, 1]"]: ...
    @property
    def caches_activations(self) -> bool: ...
    @property
    def lists_active_pairs(self) -> bool: ...
    @property
    def loss(self) -> str: ...
    @property
    def n_hvp(self) -> int: ...
    @property
    def part(self) -> str: ...
    @property
    def residuals(self) -> typing.Annotated[numpy.typing.NDArray[numpy.float64], "[m, 1]"]: ...
    @property
    def size(self) -> int: ...

class TrainOptions:
    """
    Settings of a gradient-descent run (keyword arguments; unset optional settings are off).
    """

    decay_biases: bool
    kernel: str
    loss: str
    def __getstate__(self) -> dict: ...
    def __init__(
        self,
        *,
        lr: typing.SupportsFloat | typing.SupportsIndex = 0.01,
        steps: typing.SupportsInt | typing.SupportsIndex = 1000,
        loss: str = "half_mse",
        weight_decay: typing.SupportsFloat | typing.SupportsIndex = 0.0,
        decay_biases: bool = False,
        clip_grad_norm: typing.SupportsFloat | typing.SupportsIndex | None = None,
        record_every: typing.SupportsInt | typing.SupportsIndex = 1,
        tol: typing.SupportsFloat | typing.SupportsIndex | None = None,
        max_loss: typing.SupportsFloat | typing.SupportsIndex | None = None,
        sharpness_every: typing.SupportsInt | typing.SupportsIndex | None = None,
        sharpness_tol: typing.SupportsFloat | typing.SupportsIndex = 1e-10,
        rare_share: typing.SupportsFloat | typing.SupportsIndex = 0.1,
        kernel: str = "auto",
        n_threads: typing.SupportsInt | typing.SupportsIndex | None = None,
    ) -> None: ...
    def __repr__(self) -> str: ...
    def __setstate__(self, arg0: dict) -> None: ...
    def as_dict(self) -> dict: ...
    def check(self) -> None:
        """
        Raise ValueError naming the first setting out of range.
        """
    @property
    def clip_grad_norm(self) -> float | None: ...
    @clip_grad_norm.setter
    def clip_grad_norm(self, arg0: typing.SupportsFloat | typing.SupportsIndex | None) -> None: ...
    @property
    def lr(self) -> float: ...
    @lr.setter
    def lr(self, arg0: typing.SupportsFloat | typing.SupportsIndex) -> None: ...
    @property
    def max_loss(self) -> float | None: ...
    @max_loss.setter
    def max_loss(self, arg0: typing.SupportsFloat | typing.SupportsIndex | None) -> None: ...
    @property
    def n_threads(self) -> int: ...
    @n_threads.setter
    def n_threads(self, arg0: typing.SupportsInt | typing.SupportsIndex) -> None: ...
    @property
    def rare_share(self) -> float: ...
    @rare_share.setter
    def rare_share(self, arg0: typing.SupportsFloat | typing.SupportsIndex) -> None: ...
    @property
    def record_every(self) -> int: ...
    @record_every.setter
    def record_every(self, arg0: typing.SupportsInt | typing.SupportsIndex) -> None: ...
    @property
    def sharpness_every(self) -> int | None: ...
    @sharpness_every.setter
    def sharpness_every(self, arg0: typing.SupportsInt | typing.SupportsIndex | None) -> None: ...
    @property
    def sharpness_tol(self) -> float: ...
    @sharpness_tol.setter
    def sharpness_tol(self, arg0: typing.SupportsFloat | typing.SupportsIndex) -> None: ...
    @property
    def steps(self) -> int: ...
    @steps.setter
    def steps(self, arg0: typing.SupportsInt | typing.SupportsIndex) -> None: ...
    @property
    def tol(self) -> float | None: ...
    @tol.setter
    def tol(self, arg0: typing.SupportsFloat | typing.SupportsIndex | None) -> None: ...
    @property
    def weight_decay(self) -> float: ...
    @weight_decay.setter
    def weight_decay(self, arg0: typing.SupportsFloat | typing.SupportsIndex) -> None: ...

class TrainStart:
    """
    Where a run starts: the network and, to carry on an earlier run, its state.
    """
    def __getstate__(self) -> dict: ...
    def __init__(
        self,
        *,
        net: flatcore.Network,
        step: typing.SupportsInt | typing.SupportsIndex = 0,
        recorded: bool = False,
        max_loss: typing.SupportsFloat | typing.SupportsIndex | None = None,
        sharpness_start: typing.Annotated[numpy.typing.ArrayLike, numpy.float64, "[m, 1]"] | None = None,
        certified: bool = False,
    ) -> None: ...
    def __repr__(self) -> str: ...
    def __setstate__(self, arg0: dict) -> None: ...
    def as_dict(self) -> dict: ...
    @property
    def certified(self) -> bool: ...
    @property
    def max_loss(self) -> float | None: ...
    @property
    def net(self) -> flatcore.Network: ...
    @property
    def recorded(self) -> bool: ...
    @property
    def sharpness_start(self) -> typing.Annotated[numpy.typing.NDArray[numpy.float64], "[m, 1]"]: ...
    @property
    def step(self) -> int: ...

class TrainHistory:
    def __len__(self) -> int: ...
    def as_dict(self) -> dict:
        """
        The columns by name, in order, as arrays.
        """

class TrainResult:
    def next_start(self) -> TrainStart:
        """
        Where a run that carries this one on starts.
        """
    @property
    def certified(self) -> bool: ...
    @property
    def certified_pairs(self) -> float: ...
    @property
    def certified_refreshes(self) -> int: ...
    @property
    def certified_steps(self) -> int: ...
    @property
    def converged(self) -> bool: ...
    @property
    def diverged(self) -> bool: ...
    @property
    def diverged_step(self) -> int | None: ...
    @property
    def final_grad_norm(self) -> float: ...
    @property
    def final_loss(self) -> float: ...
    @property
    def final_step(self) -> int: ...
    @property
    def history(self) -> TrainHistory: ...
    @property
    def interrupted(self) -> bool: ...
    @property
    def max_loss(self) -> float: ...
    @property
    def net(self) -> flatcore.Network: ...
    @property
    def sharpness_vector(self) -> typing.Annotated[numpy.typing.NDArray[numpy.float64], "[m, 1]"]: ...
    @property
    def steps_run(self) -> int: ...

class EigOptions:
    """
    Settings of a Lanczos eigensolve (keyword arguments).
    """

    stop: str
    which: str
    def __getstate__(self) -> dict: ...
    def __init__(
        self,
        *,
        k: typing.SupportsInt | typing.SupportsIndex = 1,
        which: str = "largest",
        tol: typing.SupportsFloat | typing.SupportsIndex = 1e-10,
        stop: str = "residual",
        max_restarts: typing.SupportsInt | typing.SupportsIndex = 1000,
        ncv: typing.SupportsInt | typing.SupportsIndex = 0,
        seed: typing.SupportsInt | typing.SupportsIndex = 0,
        start: typing.Annotated[numpy.typing.ArrayLike, numpy.float64, "[m, 1]"] | None = None,
    ) -> None: ...
    def __repr__(self) -> str: ...
    def __setstate__(self, arg0: dict) -> None: ...
    def as_dict(self) -> dict: ...
    @property
    def k(self) -> int: ...
    @k.setter
    def k(self, arg0: typing.SupportsInt | typing.SupportsIndex) -> None: ...
    @property
    def max_restarts(self) -> int: ...
    @max_restarts.setter
    def max_restarts(self, arg0: typing.SupportsInt | typing.SupportsIndex) -> None: ...
    @property
    def ncv(self) -> int:
        """
        Lanczos basis size; 0 chooses max(2k + 1, 20), at most P
        """
    @ncv.setter
    def ncv(self, arg0: typing.SupportsInt | typing.SupportsIndex) -> None: ...
    @property
    def seed(self) -> int: ...
    @seed.setter
    def seed(self, arg0: typing.SupportsInt | typing.SupportsIndex) -> None: ...
    @property
    def start(self) -> typing.Annotated[numpy.typing.NDArray[numpy.float64], "[m, 1]"]:
        """
        warm start (size P), or empty
        """
    @start.setter
    def start(self, arg0: typing.Annotated[numpy.typing.ArrayLike, numpy.float64, "[m, 1]"]) -> None: ...
    @property
    def tol(self) -> float: ...
    @tol.setter
    def tol(self, arg0: typing.SupportsFloat | typing.SupportsIndex) -> None: ...

class EigResult:
    @property
    def converged(self) -> bool: ...
    @property
    def error_bounds(self) -> typing.Annotated[numpy.typing.NDArray[numpy.float64], "[m, 1]"]: ...
    @property
    def n_hvp(self) -> int: ...
    @property
    def n_restarts(self) -> int: ...
    @property
    def residual_norms(self) -> typing.Annotated[numpy.typing.NDArray[numpy.float64], "[m, 1]"]: ...
    @property
    def values(self) -> typing.Annotated[numpy.typing.NDArray[numpy.float64], "[m, 1]"]: ...
    @property
    def vectors(self) -> typing.Annotated[numpy.typing.NDArray[numpy.float64], "[m, n]"]: ...

class _ThreadTuner:
    """
    Private (tests): the choice of a thread count from timed steps; settings left None keep their defaults.
    """
    def __init__(
        self,
        max_threads: typing.SupportsInt | typing.SupportsIndex,
        *,
        window_s: typing.SupportsFloat | typing.SupportsIndex | None = None,
        probe_s: typing.SupportsFloat | typing.SupportsIndex | None = None,
        first_interval_s: typing.SupportsFloat | typing.SupportsIndex | None = None,
        max_interval_s: typing.SupportsFloat | typing.SupportsIndex | None = None,
        slowdown: typing.SupportsFloat | typing.SupportsIndex | None = None,
        margin: typing.SupportsFloat | typing.SupportsIndex | None = None,
        spacing: typing.SupportsFloat | typing.SupportsIndex | None = None,
    ) -> None: ...
    def pause(self, seconds: typing.SupportsFloat | typing.SupportsIndex) -> None:
        """
        Time passed without steps.
        """
    def record(self, seconds: typing.SupportsFloat | typing.SupportsIndex) -> None:
        """
        The duration of a step run with `threads`.
        """
    @property
    def rungs(self) -> list[int]:
        """
        The counts it chooses among, descending.
        """
    @property
    def threads(self) -> int:
        """
        The count for the next step.
        """

def _check_certified_steps(
    net: flatcore.Network,
    X: typing.Annotated[numpy.typing.NDArray[numpy.float64], "[m, n]", "flags.c_contiguous"],
    y: typing.Annotated[numpy.typing.NDArray[numpy.float64], "[m, 1]"],
    *,
    lr: typing.SupportsFloat | typing.SupportsIndex,
    steps: typing.SupportsInt | typing.SupportsIndex,
    loss: str = "half_mse",
    weight_decay: typing.SupportsFloat | typing.SupportsIndex = 0.0,
    clip_grad_norm: typing.SupportsFloat | typing.SupportsIndex | None = None,
    n_threads: typing.SupportsInt | typing.SupportsIndex | None = None,
) -> dict: ...
def _set_thread_tuner_settings(
    *,
    window_s: typing.SupportsFloat | typing.SupportsIndex | None = None,
    probe_s: typing.SupportsFloat | typing.SupportsIndex | None = None,
    first_interval_s: typing.SupportsFloat | typing.SupportsIndex | None = None,
    max_interval_s: typing.SupportsFloat | typing.SupportsIndex | None = None,
    slowdown: typing.SupportsFloat | typing.SupportsIndex | None = None,
    margin: typing.SupportsFloat | typing.SupportsIndex | None = None,
    spacing: typing.SupportsFloat | typing.SupportsIndex | None = None,
) -> None:
    """
    Private (tests): the tuner settings of later training loops (each None: its default; no argument: all defaults); forgets the tuners of earlier loops.
    """

def activation_cache_bytes(
    n: typing.SupportsInt | typing.SupportsIndex, width: typing.SupportsInt | typing.SupportsIndex
) -> float: ...
def activation_rates(
    net: flatcore.Network,
    X: typing.Annotated[numpy.typing.NDArray[numpy.float64], "[m, n]", "flags.c_contiguous"],
    *,
    n_threads: typing.SupportsInt | typing.SupportsIndex | None = None,
) -> typing.Annotated[numpy.typing.NDArray[numpy.float64], "[m, 1]"]: ...
def available_memory_bytes() -> float | None: ...
def cache_activations_by_default(
    n: typing.SupportsInt | typing.SupportsIndex, width: typing.SupportsInt | typing.SupportsIndex
) -> bool: ...
def default_num_threads() -> int: ...
def dense_eigenpairs(
    H: typing.Annotated[numpy.typing.NDArray[numpy.float64], "[m, n]", "flags.f_contiguous"],
    *,
    k: typing.SupportsInt | typing.SupportsIndex = 1,
    which: str = "largest",
) -> EigResult: ...
def dense_hessian(
    net: flatcore.Network,
    X: typing.Annotated[numpy.typing.NDArray[numpy.float64], "[m, n]", "flags.c_contiguous"],
    y: typing.Annotated[numpy.typing.NDArray[numpy.float64], "[m, 1]"],
    *,
    part: str = "full",
    loss: str = "half_mse",
    n_threads: typing.SupportsInt | typing.SupportsIndex | None = None,
) -> typing.Annotated[numpy.typing.NDArray[numpy.float64], "[m, n]"]: ...
def dense_hessian_bytes(
    n_params: typing.SupportsInt | typing.SupportsIndex, width: typing.SupportsInt | typing.SupportsIndex
) -> float: ...
def gradient_workspace_bytes(
    n: typing.SupportsInt | typing.SupportsIndex,
    d: typing.SupportsInt | typing.SupportsIndex,
    width: typing.SupportsInt | typing.SupportsIndex,
    *,
    n_threads: typing.SupportsInt | typing.SupportsIndex | None = None,
) -> float: ...
def has_openmp() -> bool: ...
def hessian_trace(
    net: flatcore.Network,
    X: typing.Annotated[numpy.typing.NDArray[numpy.float64], "[m, n]", "flags.c_contiguous"],
    y: typing.Annotated[numpy.typing.NDArray[numpy.float64], "[m, 1]"],
    *,
    part: str = "full",
    loss: str = "half_mse",
    n_threads: typing.SupportsInt | typing.SupportsIndex | None = None,
) -> float: ...
def history_bytes_per_row(*, sharpness: bool = False, test_mse: bool = False, clean_mse: bool = False) -> float: ...
def history_columns(*, sharpness: bool = False, test_mse: bool = False, clean_mse: bool = False) -> list[str]:
    """
    The names of a history's columns, in order, given which optional columns it has.
    """

def hvp(
    net: flatcore.Network,
    X: typing.Annotated[numpy.typing.NDArray[numpy.float64], "[m, n]", "flags.c_contiguous"],
    y: typing.Annotated[numpy.typing.NDArray[numpy.float64], "[m, 1]"],
    u: typing.Annotated[numpy.typing.NDArray[numpy.float64], "[m, 1]"],
    *,
    part: str = "full",
    loss: str = "half_mse",
    n_threads: typing.SupportsInt | typing.SupportsIndex | None = None,
) -> typing.Annotated[numpy.typing.NDArray[numpy.float64], "[m, 1]"]: ...
def lanczos_eigenpairs(op: HessianOperator, options: EigOptions = ...) -> EigResult: ...
def loss(
    net: flatcore.Network,
    X: typing.Annotated[numpy.typing.NDArray[numpy.float64], "[m, n]", "flags.c_contiguous"],
    y: typing.Annotated[numpy.typing.NDArray[numpy.float64], "[m, 1]"],
    *,
    loss: str = "half_mse",
    n_threads: typing.SupportsInt | typing.SupportsIndex | None = None,
) -> float: ...
def loss_and_gradient(
    net: flatcore.Network,
    X: typing.Annotated[numpy.typing.NDArray[numpy.float64], "[m, n]", "flags.c_contiguous"],
    y: typing.Annotated[numpy.typing.NDArray[numpy.float64], "[m, 1]"],
    *,
    loss: str = "half_mse",
    n_threads: typing.SupportsInt | typing.SupportsIndex | None = None,
) -> LossGradient: ...
def loss_scale(loss: str) -> float:
    """
    The convention's L, gradient and Hessian over the 'half_mse' ones: 1 or 2.
    """

def max_num_threads() -> int: ...
def neuron_sides(
    net: flatcore.Network,
    X: typing.Annotated[numpy.typing.NDArray[numpy.float64], "[m, n]", "flags.c_contiguous"],
    *,
    n_threads: typing.SupportsInt | typing.SupportsIndex | None = None,
) -> NeuronSides: ...
def predict(
    net: flatcore.Network,
    X: typing.Annotated[numpy.typing.NDArray[numpy.float64], "[m, n]", "flags.c_contiguous"],
    *,
    n_threads: typing.SupportsInt | typing.SupportsIndex | None = None,
) -> typing.Annotated[numpy.typing.NDArray[numpy.float64], "[m, 1]"]: ...
def set_default_num_threads(n_threads: typing.SupportsInt | typing.SupportsIndex | None) -> None:
    """
    Set the process-wide default thread count (None: back to the default).
    """

def simd_kind() -> str: ...
def simd_lanes() -> int: ...
def threads_lost_to_fork() -> bool:
    """
    Whether this process was forked after the core had started threads: then every call runs on one thread (the OpenMP runtime does not survive fork).
    """

def trace_terms(
    net: flatcore.Network,
    X: typing.Annotated[numpy.typing.NDArray[numpy.float64], "[m, n]", "flags.c_contiguous"],
    *,
    loss: str = "half_mse",
    n_threads: typing.SupportsInt | typing.SupportsIndex | None = None,
) -> TraceTerms: ...
@typing.overload
def train(
    start: TrainStart,
    X: typing.Annotated[numpy.typing.NDArray[numpy.float64], "[m, n]", "flags.c_contiguous"],
    y: typing.Annotated[numpy.typing.NDArray[numpy.float64], "[m, 1]"],
    options: TrainOptions,
    *,
    X_test: typing.Annotated[numpy.typing.ArrayLike, numpy.float64, "[m, n]"] | None = None,
    y_test: typing.Annotated[numpy.typing.ArrayLike, numpy.float64, "[m, 1]"] | None = None,
    y_clean: typing.Annotated[numpy.typing.ArrayLike, numpy.float64, "[m, 1]"] | None = None,
    progress: typing.Any = None,
) -> TrainResult: ...
@typing.overload
def train(
    net: flatcore.Network,
    X: typing.Annotated[numpy.typing.NDArray[numpy.float64], "[m, n]", "flags.c_contiguous"],
    y: typing.Annotated[numpy.typing.NDArray[numpy.float64], "[m, 1]"],
    options: TrainOptions,
    *,
    X_test: typing.Annotated[numpy.typing.ArrayLike, numpy.float64, "[m, n]"] | None = None,
    y_test: typing.Annotated[numpy.typing.ArrayLike, numpy.float64, "[m, 1]"] | None = None,
    y_clean: typing.Annotated[numpy.typing.ArrayLike, numpy.float64, "[m, 1]"] | None = None,
    progress: typing.Any = None,
) -> TrainResult: ...

EIG_STOPS: tuple = ("residual", "eigenvalue")
EIG_WHICH: tuple = ("largest", "smallest")
HESSIAN_PARTS: tuple = ("full", "gauss_newton", "residual")
KERNELS: tuple = ("auto", "dense", "certified")
LOSSES: tuple = ("half_mse", "mse")
build_flags: str
variant: str
