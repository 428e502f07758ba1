"""What a fuzzed call is, how the worker runs it, and how a result is summarised.

Shared by the test process (which builds calls) and the worker process (which runs them): a call
travels as a pickle, so everything in it is built from plain values and the marker classes below,
which the worker turns into the real arguments (a pickle would make a strided or read-only array
contiguous and writable, so those are rebuilt in the worker from a marker).

The worker never pickles a result back: it summarises it (every number it holds, with its shape,
whether it is finite, and a digest of the bits), so that any result type can be checked and the
test process never holds an object the worker made.
"""

from __future__ import annotations

import builtins
import dataclasses
import hashlib
import importlib
import numbers
import time
import traceback
import warnings
from dataclasses import dataclass, field
from typing import Any

import numpy as np

# The exceptions a public function may raise on bad input (QUALITY.md: a clear Python exception).
ALLOWED = ("ValueError", "TypeError", "MemoryError", "FloatingPointError")
# Exceptions that a caller should never see from flatcore: they mean an internal step failed on
# input nobody checked (and OverflowError is Python's, from float() of a huge int, not a
# FloatingPointError saying what overflowed).
LEAKY_TYPES = (
    "IndexError",
    "KeyError",
    "ZeroDivisionError",
    "OverflowError",
    "AssertionError",
    "AttributeError",
    "RuntimeError",
    "SystemError",
    "NotImplementedError",
    "RecursionError",
    "LinAlgError",
    "UnboundLocalError",
    "NameError",
)
# Messages of the binding layer or of NumPy internals that reached the caller unexplained.
LEAKY_MESSAGES = (
    "incompatible function arguments",
    "Unable to cast",
    "unable to convert function return value",
    "truth value of an array",
    "setting an array element with a sequence",
    "could not broadcast",
    "operands could not be broadcast",
    "object of type 'NoneType'",
    "unsupported operand type",
    "not subscriptable",
    "object is not iterable",
    "has no attribute",
)


class UserError(Exception):
    """What the user's own law or target raises in the fuzz: it must reach the caller as is."""


# =================================================================================================
# Markers: values the worker builds
# =================================================================================================
@dataclass(frozen=True)
class Layout:
    """``base`` re-laid out in the worker: the same numbers in a memory layout a pickle loses."""

    kind: str
    base: Any

    def build(self, base):
        a = base
        if self.kind == "strided":  # every other row (or entry) of a twice-as-long array
            big = np.repeat(np.asarray(a), 2, axis=0)
            return big[::2]
        if self.kind == "strided_cols":
            arr = np.asarray(a)
            big = np.repeat(arr, 2, axis=-1)
            big[..., 1::2] = -7.0
            return big[..., ::2]
        if self.kind == "readonly":
            arr = np.array(a, copy=True)
            arr.setflags(write=False)
            return arr
        if self.kind == "fortran":
            return np.asfortranarray(a)
        if self.kind == "bigendian":
            arr = np.asarray(a)
            return arr.astype(arr.dtype.newbyteorder(">"))
        if self.kind == "huge_rows":  # 10**12 rows that take no memory (stride 0)
            arr = np.asarray(a, dtype=np.float64)
            return np.broadcast_to(arr.reshape(-1)[:1] if arr.ndim == 1 else arr[:1], (10**12, *arr.shape[1:]))
        raise ValueError(f"unknown layout {self.kind}")


@dataclass(frozen=True)
class Build:
    """The result of calling ``target(*args, **kwargs)`` in the worker (a valid object to work on)."""

    target: Any
    args: tuple = ()
    kwargs: dict = field(default_factory=dict)


@dataclass(frozen=True)
class Method:
    """The bound method ``getattr(receiver, name)``; ``name`` may also be an operator (see OPERATORS)."""

    receiver: Any
    name: str


# Operators a fuzzed call may apply to a receiver: name -> function of (receiver, *args).
OPERATORS = {
    "@": lambda r, x: r @ x,
    "len": lambda r: len(r),
    "in": lambda r, x: x in r,
    "[]": lambda r, x: r[x],
    "getattr": lambda r, name: getattr(r, name),
}


@dataclass(frozen=True)
class Edited:
    """A copy of the network ``base`` with ``attr`` set to ``value`` behind its back, as a user may
    edit the plain arrays of a network in place (no check at the assignment)."""

    base: Any
    attr: str
    value: Any


@dataclass
class Call:
    """One fuzzed call: ``target(*args, **kwargs)``; ``label`` says what was mutated (for reports)."""

    entry: str
    target: Any
    args: tuple
    kwargs: dict
    label: str = "valid"


@dataclass
class Leaf:
    """One number, array or other value inside a result, found at ``path``."""

    path: str
    kind: str  # "float", "int", "bool", "array", "str", "none", "complex", "object"
    shape: tuple = ()
    dtype: str = ""
    nonfinite: int = 0
    type_name: str = ""
    value: Any = None  # for bool, int and str leaves


@dataclass
class Outcome:
    """What a call did: returned (with a summary of its result) or raised; or, as the test process
    records them, crashed or hung (the worker died or did not answer)."""

    status: str  # "returned", "raised", "crash", "hang", "setup"
    exc_type: str = ""
    exc_category: str = ""  # the first of ALLOWED that exc_type is (a subclass of), else exc_type
    message: str = ""
    traceback: str = ""
    leaves: list = field(default_factory=list)
    digest: str = ""
    top_type: str = ""
    warnings: list = field(default_factory=list)
    seconds: float = 0.0
    detail: str = ""  # crash: exit status and the worker's last words

    def leaf(self, path: str) -> Leaf | None:
        for leaf in self.leaves:
            if leaf.path == path:
                return leaf
        return None


# =================================================================================================
# Objects of a user's making, for the functions that take laws and targets
# =================================================================================================
class UserLaw:
    """A law written by a user: ``d`` and ``sample(n, seed)``, misbehaving as ``mode`` says."""

    def __init__(self, d, mode="ok"):
        self.d = d
        self.mode = mode

    def __repr__(self):
        return f"UserLaw(d={self.d!r}, mode={self.mode!r})"

    def sample(self, n, seed=0):
        d = int(self.d)
        rng = np.random.default_rng(0)
        X = rng.uniform(-1.0, 1.0, size=(n, d))
        mode = self.mode
        if mode == "ok":
            return X
        if mode == "nan":
            X[-1, 0] = np.nan
            return X
        if mode == "huge":
            return X * 1e300
        if mode == "wide":
            return np.ones((n, d + 1))
        if mode == "short":
            return X[:-1]
        if mode == "complex":
            return X + 1j
        if mode == "list":
            return X.tolist()
        if mode == "none":
            return None
        if mode == "3d":
            return X[None]
        if mode == "raises":
            raise UserError("the user's law failed")
        raise ValueError(mode)


class NoSample:
    """An object with a dimension but no sampler."""

    def __init__(self, d):
        self.d = d

    def __repr__(self):
        return f"NoSample(d={self.d!r})"


class UserTarget:
    """A target written by a user: ``d`` and ``__call__(X)``, misbehaving as ``mode`` says."""

    def __init__(self, d, mode="ok"):
        self.d = d
        self.mode = mode

    def __repr__(self):
        return f"UserTarget(d={self.d!r}, mode={self.mode!r})"

    def __call__(self, X):
        X = np.asarray(X)
        y = np.sin(X.sum(axis=1))
        mode = self.mode
        if mode == "ok":
            return y
        if mode == "nan":
            y[0] = np.nan
            return y
        if mode == "inf":
            y[-1] = -np.inf
            return y
        if mode == "long":
            return np.append(y, 0.0)
        if mode == "column":
            return y[:, None]
        if mode == "scalar":
            return float(y[0])
        if mode == "complex":
            return y + 1j
        if mode == "none":
            return None
        if mode == "strings":
            return y.astype(str)
        if mode == "raises":
            raise UserError("the user's target failed")
        raise ValueError(mode)


# =================================================================================================
# In the worker: build the arguments, run, summarise
# =================================================================================================
def resolve(path: str):
    """The object at a dotted path such as ``flatcore.data.UniformBall.sample``."""
    parts = path.split(".")
    for i in range(len(parts), 0, -1):
        try:
            obj = importlib.import_module(".".join(parts[:i]))
        except ImportError:
            continue
        for name in parts[i:]:
            obj = getattr(obj, name)
        return obj
    raise ImportError(path)


def materialize(value):
    """The real argument behind a marker (recursively through tuples, lists, dicts and networks)."""
    if isinstance(value, Layout):
        return value.build(materialize(value.base))
    if isinstance(value, Build):
        fn = resolve(value.target) if isinstance(value.target, str) else materialize(value.target)
        return fn(*materialize(value.args), **materialize(value.kwargs))
    if isinstance(value, Method):
        receiver = materialize(value.receiver)
        if value.name in OPERATORS:
            op = OPERATORS[value.name]
            return lambda *a, **k: op(receiver, *a, **k)
        return getattr(receiver, value.name)
    if isinstance(value, Edited):  # a copy made without the constructor's checks, then edited
        base = materialize(value.base)
        net = object.__new__(type(base))
        for name in type(base).__slots__:
            object.__setattr__(net, name, getattr(base, name))
        object.__setattr__(net, value.attr, materialize(value.value))
        return net
    if isinstance(value, tuple) and type(value) is tuple:
        return tuple(materialize(v) for v in value)
    if isinstance(value, list) and type(value) is list:
        return [materialize(v) for v in value]
    if isinstance(value, dict) and type(value) is dict:
        return {k: materialize(v) for k, v in value.items()}
    return value


def _category(exc: BaseException) -> str:
    for name in ALLOWED:
        if isinstance(exc, getattr(builtins, name)):
            return name
    return type(exc).__name__


def execute(call: Call) -> Outcome:
    """Run one call in this process and describe what happened."""
    try:
        fn = resolve(call.target) if isinstance(call.target, str) else materialize(call.target)
        args = materialize(call.args)
        kwargs = materialize(call.kwargs)
    except BaseException as exc:  # a receiver or a valid argument could not be built: a harness error
        return Outcome("setup", exc_type=type(exc).__name__, message=str(exc)[:2000], traceback=traceback.format_exc())
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        began = time.perf_counter()
        try:
            result = fn(*args, **kwargs)
        except BaseException as exc:
            if isinstance(exc, (SystemExit, KeyboardInterrupt)):
                raise
            return Outcome(
                "raised",
                exc_type=type(exc).__name__,
                exc_category=_category(exc),
                message=str(exc)[:2000],
                traceback=traceback.format_exc()[-4000:],
                warnings=_warning_texts(caught),
                seconds=time.perf_counter() - began,
            )
        seconds = time.perf_counter() - began
        leaves: list[Leaf] = []
        digest = hashlib.sha1()
        try:
            _summarize(result, "", leaves, digest, set(), 0)
        except BaseException as exc:  # reading the result failed: report it as the call's failure
            return Outcome(
                "raised",
                exc_type=type(exc).__name__,
                exc_category="result-unreadable:" + type(exc).__name__,
                message=f"reading the result failed: {exc}"[:2000],
                traceback=traceback.format_exc()[-4000:],
            )
    return Outcome(
        "returned",
        leaves=leaves,
        digest=digest.hexdigest(),
        top_type=type(result).__name__,
        warnings=_warning_texts(caught),
        seconds=seconds,
    )


def _warning_texts(caught) -> list:
    """The RuntimeWarnings (NumPy's floating-point warnings among them) a call emitted."""
    return [f"{w.category.__name__}: {w.message}" for w in caught if issubclass(w.category, RuntimeWarning)]


# Attributes that differ between two calls that must agree: the wall time, and the thread count
# an object records (HessianLinearOperator.n_threads), on which no number depends.
_UNSTABLE = ("seconds", "n_threads")


def _is_flatcore_object(obj) -> bool:
    module = type(obj).__module__ or ""
    return module.startswith("flatcore") and not module.startswith("flatcore._core")


def _public_attributes(obj):
    """(name, value) for the data fields and properties of a flatcore object, by name."""
    names: list[str] = []
    if dataclasses.is_dataclass(obj):
        names += [f.name for f in dataclasses.fields(obj)]
    elif hasattr(obj, "_fields"):  # NamedTuple: walked as a tuple by the caller
        return []
    for klass in type(obj).__mro__:
        if not (klass.__module__ or "").startswith("flatcore"):
            continue
        for name, attr in vars(klass).items():
            if name.startswith("_"):
                continue
            if isinstance(attr, (property,)) or type(attr).__name__ == "cached_property":
                names.append(name)
        for name in getattr(klass, "__slots__", ()):
            if not name.startswith("_"):
                names.append(name)
    if hasattr(obj, "__dict__"):
        names += [k for k in vars(obj) if not k.startswith("_")]
    seen, out = set(), []
    for name in names:
        if name in seen:
            continue
        seen.add(name)
        out.append((name, getattr(obj, name)))
    return out


def _history_nan_allowed(columns: dict) -> dict:
    """Per column, where NaN is documented: ``sharpness`` on rows where it was not computed, and
    the columns that an earlier piece of a run carried on did not record (NaN there, never inf)."""
    allowed = {}
    if "sharpness" in columns and "sharpness_n_hvp" in columns:
        allowed["sharpness"] = np.asarray(columns["sharpness_n_hvp"]) == 0
    for name in ("test_mse", "clean_mse"):
        if name in columns and "step" in columns:
            allowed[name] = True
    return allowed


def _summarize(obj, path, leaves, digest, seen, depth, nan_ok=None):
    """Append a Leaf for every value in ``obj`` and feed its bits to ``digest``."""
    if depth > 6:
        return
    unstable = path.rsplit(".", 1)[-1] in _UNSTABLE
    if obj is None:
        leaves.append(Leaf(path, "none"))
        return
    if isinstance(obj, (bool, np.bool_)):
        leaves.append(Leaf(path, "bool", value=bool(obj)))
        digest.update(f"{path}={bool(obj)};".encode())
        return
    if isinstance(obj, (numbers.Integral, np.integer)):
        leaves.append(Leaf(path, "int", value=int(obj) if abs(int(obj)) < 2**64 else "big"))
        if not unstable:
            digest.update(f"{path}={int(obj)};".encode())
        return
    if isinstance(obj, (numbers.Real, np.floating)):
        value = float(obj)
        leaves.append(Leaf(path, "float", nonfinite=int(not np.isfinite(value)), type_name=type(obj).__name__))
        if not unstable:
            digest.update(f"{path}={value.hex()};".encode())
        return
    if isinstance(obj, (complex, np.complexfloating)):
        leaves.append(Leaf(path, "complex", type_name=type(obj).__name__))
        return
    if isinstance(obj, str):
        leaves.append(Leaf(path, "str", value=obj[:200]))
        digest.update(f"{path}={obj};".encode())
        return
    if isinstance(obj, np.ndarray):
        kind = obj.dtype.kind
        bad = 0
        if kind == "f":
            finite = np.isfinite(obj)
            if nan_ok is not None:
                finite = finite | (np.isnan(obj) & np.broadcast_to(nan_ok, obj.shape))
            bad = int(obj.size - np.count_nonzero(finite))
        leaves.append(Leaf(path, "array", tuple(obj.shape), obj.dtype.str, bad))
        if kind in "fiub":
            digest.update(f"{path}:{obj.shape}:{obj.dtype.str}:".encode())
            digest.update(np.ascontiguousarray(obj).tobytes())
        else:
            leaves.append(Leaf(path, "object", type_name=f"ndarray[{obj.dtype}]"))
        return
    if id(obj) in seen:
        return
    seen.add(id(obj))
    type_name = type(obj).__name__
    if type_name == "DataFrame":
        cols = {str(c): obj[c].to_numpy() for c in obj.columns}
        allowed = _history_nan_allowed(cols)
        for name, col in cols.items():
            _summarize(col, f"{path}[{name!r}]", leaves, digest, seen, depth + 1, allowed.get(name))
        return
    if type_name == "History" and _is_flatcore_object(obj):
        cols = {name: obj[name] for name in obj.columns}
        allowed = _history_nan_allowed(cols)
        for name, col in cols.items():
            _summarize(col, f"{path}[{name!r}]", leaves, digest, seen, depth + 1, allowed.get(name))
        leaves.append(Leaf(path, "object", type_name=type_name))
        return
    if isinstance(obj, dict):
        allowed = _history_nan_allowed(obj)
        for k, v in list(obj.items())[:200]:
            if isinstance(v, list) and k in allowed:
                v = np.asarray(v, dtype=float)
            _summarize(v, f"{path}[{k!r}]", leaves, digest, seen, depth + 1, allowed.get(k))
        return
    if isinstance(obj, (tuple, list)):
        if nan_ok is not None and isinstance(obj, list):
            _summarize(np.asarray(obj, dtype=float), path, leaves, digest, seen, depth, nan_ok)
            return
        if hasattr(obj, "_fields"):  # a NamedTuple: by field name, for readable checks
            leaves.append(Leaf(path, "object", type_name=type_name))
            for name, v in zip(obj._fields, obj):
                _summarize(v, f"{path}.{name}", leaves, digest, seen, depth + 1)
            return
        for i, v in enumerate(obj[:200]):
            _summarize(v, f"{path}[{i}]", leaves, digest, seen, depth + 1)
        return
    if _is_flatcore_object(obj):
        leaves.append(Leaf(path, "object", type_name=type_name))
        for name, value in _public_attributes(obj):
            _summarize(value, f"{path}.{name}", leaves, digest, seen, depth + 1)
        return
    leaves.append(Leaf(path, "object", type_name=f"{type(obj).__module__}.{type_name}"))
