"""Argument checks shared by the public functions.

Every public function checks its arguments here before calling the compiled core, so that bad
input gets a Python exception naming the argument instead of a crash or a silent NaN.
"""

from __future__ import annotations

import numbers
from typing import Literal, overload

import numpy as np

from . import _core

_NUMERIC_KINDS = "biuf"  # bool, signed and unsigned integers, floats


def as_float_array(value, name: str, ndim: int | tuple[int, ...]) -> np.ndarray:
    """Return ``value`` as a C-contiguous float64 array of the given ndim, all entries finite.

    Integer, boolean and non-contiguous arrays are converted (a copy); complex, object and
    string arrays are refused with a TypeError, wrong shapes and NaN/Inf with a ValueError.
    """
    try:
        arr = np.asarray(value)
    except Exception as exc:  # ragged lists and the like
        raise TypeError(f"{name} must be an array of real numbers; could not convert it ({exc})") from None
    if arr.dtype.kind not in _NUMERIC_KINDS:
        raise TypeError(
            f"{name} must hold real numbers (float or integer); got dtype {arr.dtype}"
            + (" (take the real part explicitly if that is what you mean)" if arr.dtype.kind == "c" else "")
        )
    ndims = (ndim,) if isinstance(ndim, int) else ndim
    if arr.ndim not in ndims:
        want = " or ".join(str(k) for k in ndims)
        raise ValueError(f"{name} must be {want}-dimensional; got shape {arr.shape}")
    if not is_plain_float64(arr):  # a copy: a view may be far larger than its memory
        check_memory(8 * arr.size, f"a float64 copy of {name} (shape {arr.shape})", f"pass a smaller {name}")
        arr = np.array(arr, dtype=np.float64, order="C", copy=True)
    check_finite(arr, name)
    return arr


def is_plain_float64(arr) -> bool:
    """``arr`` is a float64 ndarray laid out exactly as a new C-ordered one (the core takes it as is).

    NumPy flags an array C-contiguous whatever its strides along axes of length 1 (a reversed
    view of one element has a negative stride); the compiled core's converters refuse those
    strides, so such an array counts as not plain and is copied.
    """
    if not isinstance(arr, np.ndarray) or arr.dtype != np.float64 or not arr.flags.c_contiguous:
        return False
    expected, stride = [], arr.itemsize
    for size in reversed(arr.shape):
        expected.append(stride)
        stride *= size
    return arr.strides == tuple(reversed(expected))


def check_finite(arr: np.ndarray, name: str) -> None:
    finite = np.isfinite(arr)
    if not finite.all():
        bad = np.argwhere(~finite)[0]
        where = tuple(int(i) for i in bad) if arr.ndim > 0 else ()
        value = arr[tuple(bad)] if arr.ndim > 0 else arr
        raise ValueError(f"{name} contains NaN or Inf (first at index {where}: {value}); remove or replace it")


@overload
def as_scalar(
    value, name: str, *, positive: bool = False, nonnegative: bool = False, allow_none: Literal[False] = False
) -> float: ...
@overload
def as_scalar(
    value, name: str, *, positive: bool = False, nonnegative: bool = False, allow_none: bool
) -> float | None: ...
def as_scalar(
    value, name: str, *, positive: bool = False, nonnegative: bool = False, allow_none: bool = False
) -> float | None:
    """``value`` as a finite float; ``None`` passes when ``allow_none``.

    A non-number is refused with a TypeError, a value out of range with a ValueError.
    """
    if value is None and allow_none:
        return None
    if isinstance(value, np.ndarray) and value.ndim == 0 and value.dtype.kind in "iuf":
        value = value.item()
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, (numbers.Real, np.floating, np.integer)):
        raise TypeError(f"{name} must be a real number; got {type(value).__name__} {value!r}")
    try:
        value = float(value)
    except OverflowError:  # an integer beyond float64's range (about 1.8e308)
        raise ValueError(
            f"{name} must be finite in float64; got an integer of {len(str(abs(int(value))))} digits"
        ) from None
    if not np.isfinite(value):
        raise ValueError(f"{name} must be finite; got {value}")
    if positive and value <= 0:
        raise ValueError(f"{name} must be positive; got {value}")
    if nonnegative and value < 0:
        raise ValueError(f"{name} must be non-negative; got {value}")
    return value


@overload
def as_flag(value, name: str, *, allow_none: Literal[False] = False) -> bool: ...
@overload
def as_flag(value, name: str, *, allow_none: bool) -> bool | None: ...
def as_flag(value, name: str, *, allow_none: bool = False) -> bool | None:
    """``value`` as a bool, from True, False, a NumPy bool or the integers 0 and 1.

    None passes when ``allow_none``. Anything else is a TypeError: a string such as "no" is not
    silently True, and an array has no single truth value.
    """
    if value is None and allow_none:
        return None
    if isinstance(value, (bool, np.bool_)):
        return bool(value)
    if isinstance(value, (numbers.Integral, np.integer)) and value in (0, 1):
        return bool(value)
    raise TypeError(f"{name} must be True or False; got {type(value).__name__} {value!r}")


@overload
def as_int(
    value, name: str, *, minimum: int | None = None, maximum: int | None = None, allow_none: Literal[False] = False
) -> int: ...
@overload
def as_int(
    value, name: str, *, minimum: int | None = None, maximum: int | None = None, allow_none: bool
) -> int | None: ...
def as_int(
    value, name: str, *, minimum: int | None = None, maximum: int | None = None, allow_none: bool = False
) -> int | None:
    """``value`` as an int (a float with an integral value is accepted).

    ``None`` passes when ``allow_none``.
    """
    if value is None and allow_none:
        return None
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, (numbers.Integral, np.integer)):
        if isinstance(value, float) and value.is_integer():
            value = int(value)
        else:
            raise TypeError(f"{name} must be an integer; got {type(value).__name__} {value!r}")
    value = int(value)
    if minimum is not None and value < minimum:
        raise ValueError(f"{name} must be at least {minimum}; got {value}")
    if maximum is not None and value > maximum:
        raise ValueError(f"{name} must be at most {maximum}; got {value}")
    return value


RESCALE_ADVICE = "the parameters or the data are too large in magnitude: rescale them"


def check_result(value, what: str, advice: str = RESCALE_ADVICE):
    """Raise FloatingPointError instead of returning a non-finite result (overflow).

    The message names ``what`` overflowed and ends with ``advice`` (what to do about it).
    """
    arr = np.asarray(value)
    if not np.isfinite(arr).all():
        raise FloatingPointError(f"{what} overflowed float64 (inf or NaN) although every input is finite; {advice}")
    return value


def row_norms(root: np.ndarray, M: np.ndarray, extra: np.ndarray | None = None) -> np.ndarray:
    """``root`` = sqrt(extra_k^2 + sum_j M_kj^2) (computed plainly by the caller), made overflow-safe.

    The plain sum of squares overflows for entries above about 1e154 and loses entries below about
    1e-154, although the norm itself is in range. The rows where that may have happened (root not
    finite, or below 1e-140) are recomputed scaled by their largest entry; the others keep the
    caller's bits. Returns a new array.
    """
    root = np.array(root, dtype=np.float64, copy=True)
    redo = ~np.isfinite(root) | (root < 1e-140)
    if np.any(redo):
        Mr = M[redo]
        er = np.zeros(Mr.shape[0]) if extra is None else np.broadcast_to(extra, root.shape)[redo]
        m = np.maximum(np.max(np.abs(Mr), axis=1, initial=0.0), np.abs(er))
        safe = np.where(m > 0, m, 1.0)
        Ms, es = Mr / safe[:, None], er / safe
        root[redo] = m * np.sqrt(es * es + np.einsum("kd,kd->k", Ms, Ms))
    return root


_NO_Y = object()  # check_data's default: the call takes no y (None is a wrong y)


def check_data(net, X, y=_NO_Y):
    """Check X (n x d) and y (n,) against ``net``; return them as float64 contiguous arrays.

    Without ``y``, returns X alone. A 1-D X is accepted when the network has d = 1; y may also be
    given as (n, 1).
    """
    X = as_float_array(X, "X", (1, 2))
    if X.ndim == 1:
        if net.d != 1:
            raise ValueError(f"X must be 2-dimensional (n x d = n x {net.d}); got shape {X.shape}")
        X = X.reshape(-1, 1)
    n, d = X.shape
    if n == 0:
        raise ValueError("X has no rows: need at least one data point")
    if d != net.d:
        raise ValueError(f"X has {d} columns but the network expects d = {net.d} inputs")
    if y is _NO_Y:
        return X
    if y is None:  # not "no y": the caller would unpack X itself as (X, y)
        raise TypeError("y must be an array of the n target values; got None")
    y = as_float_array(y, "y", (1, 2))
    if y.ndim == 2:
        if y.shape[1] != 1:
            raise ValueError(f"y must be 1-dimensional (n,); got shape {y.shape}")
        y = np.ascontiguousarray(y[:, 0])
    if y.shape[0] != n:
        raise ValueError(f"y has {y.shape[0]} entries but X has {n} rows")
    return X, y


def check_choice(value, name: str, choices) -> str:
    """``value`` itself when it is one of ``choices`` (strings), else a ValueError listing them."""
    if not isinstance(value, str) or value not in choices:
        raise ValueError(f"{name} must be one of {tuple(choices)}; got {value!r}")
    return value


def available_memory_bytes() -> float | None:
    """Memory the system could give us now (MemAvailable on Linux), or None if unknown."""
    return _core.available_memory_bytes()


def check_memory(n_bytes: float, what: str, advice: str = "") -> None:
    """Refuse (MemoryError) before allocating more than the system could give us now.

    ``n_bytes`` may be an int of any size (a count times a size, computed exactly).
    """
    if n_bytes < 2**26:  # 64 MiB: not worth reading /proc/meminfo on every small call
        return
    avail = available_memory_bytes()
    if avail is not None and n_bytes > 0.8 * avail:
        raise MemoryError(
            f"{what} would need {_gib(n_bytes)} but only {avail / 2**30:.2f} GiB is available"
            + (f"; {advice}" if advice else "")
        )


def _gib(n_bytes) -> str:
    """``n_bytes`` in GiB, readable for any size (an int may be beyond float64's range)."""
    try:
        gib = float(n_bytes) / 2**30
    except OverflowError:
        return f"about 2**{int(n_bytes).bit_length() - 30} GiB"
    return f"{gib:.2f} GiB" if gib < 1e6 else f"{gib:.3g} GiB"
