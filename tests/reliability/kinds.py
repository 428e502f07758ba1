"""Kinds of arguments: how to make a valid one, and how to spoil it.

Every argument of a public function has a kind. A kind makes a valid value from the drawn problem
(:class:`Ctx`) and lists labelled mutations, each with what flatcore must do with it:

- ``REFUSE``: the value is wrong (NaN, a complex array, a wrong shape, an out-of-range count...):
  the call must raise ValueError or TypeError naming the argument (or MemoryError for a size);
- ``EITHER``: the value is valid but extreme or unusual (1e300, a subnormal, a bool array, a huge
  count): finite numbers of the right shape, or a clear ValueError / TypeError / MemoryError /
  FloatingPointError;
- ``SAME``: the same numbers in another form (strided, read-only, Fortran order, big-endian, a
  list, a NumPy scalar): the result must be bit for bit that of the plain value.
- ``USER``: a law or target of the user's making raises: its exception must reach the caller
  (unless the call is refused first, naming the argument, for a reason of its own).

Mutations are chosen by label (``hypothesis.strategies.sampled_from``), so a failing example
shrinks to a readable one, e.g. ``X:nan``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from decimal import Decimal
from fractions import Fraction
from typing import Any, Callable

import numpy as np
from hypothesis import strategies as st

from .spec import Build, Edited, Layout, NoSample, UserLaw, UserTarget

REFUSE, EITHER, SAME, USER = "refuse", "either", "same", "user"

BIG_INT = 2**1100  # a finite integer that no float64 can hold
HUGE = 1.7976931348623157e308
SUBNORMAL = 5e-324


@dataclass
class Mutation:
    label: str
    value: Any
    expect: str
    names: tuple = ()  # words one of which a refusal's message must contain (default: the argument's)


@dataclass
class Ctx:
    """The drawn problem: sizes, a network, data, and the valid values drawn so far."""

    draw: Callable
    d: int
    width: int
    n: int
    seed: int
    net: Any
    X: np.ndarray
    y: np.ndarray
    u: np.ndarray
    values: dict = field(default_factory=dict)

    @property
    def P(self) -> int:
        return self.width * (self.d + 2) + 1

    @property
    def rng(self):
        return np.random.default_rng(self.seed + 7)


def draw_ctx(draw, max_d=4, max_width=5, max_n=10, min_n=1) -> Ctx:
    import flatcore as fc

    d = draw(st.integers(1, max_d), label="d")
    width = draw(st.integers(1, max_width), label="width")
    n = draw(st.integers(min_n, max_n), label="n")
    seed = draw(st.integers(0, 2**16), label="seed")
    rng = np.random.default_rng(seed)
    X = rng.uniform(-1.0, 1.0, size=(n, d))
    W = rng.standard_normal((width, d))
    b = rng.uniform(-0.5, 0.5, size=width)
    v = rng.standard_normal(width) / np.sqrt(width)
    beta = float(rng.standard_normal())
    net = fc.Network(W, b, v, beta)
    y = rng.standard_normal(n)
    u = rng.standard_normal(width * (d + 2) + 1)
    return Ctx(draw, d, width, n, seed, net, X, y, u)


def pick(c: Ctx, options, label="value"):
    return c.draw(st.sampled_from(list(options)), label=label)


class Kind:
    """An argument kind. ``optional``: None is a valid value (the default)."""

    optional = False
    names: tuple = ()

    def valid(self, c: Ctx):
        raise NotImplementedError

    def labels(self, c: Ctx, v) -> list:
        return ["none", "str", "dict", "object"]

    def mutate(self, label: str, c: Ctx, v) -> Mutation:
        if label == "none":
            return Mutation(label, None, EITHER if self.optional else REFUSE)
        if label == "str":
            return Mutation(label, "bogus", REFUSE)
        if label == "dict":
            return Mutation(label, {}, REFUSE)
        if label == "object":
            return Mutation(label, _Opaque(), REFUSE)
        raise KeyError(label)


class _Opaque:
    """An object of no meaning to flatcore."""

    def __repr__(self):
        return "<opaque>"


class Lenient(Kind):
    """``kind``'s values, none of which need be refused (a membership test takes anything)."""

    def __init__(self, kind):
        self.kind = kind
        self.optional = kind.optional
        self.names = kind.names

    def valid(self, c):
        return self.kind.valid(c)

    def labels(self, c, v):
        return self.kind.labels(c, v)

    def mutate(self, label, c, v):
        m = self.kind.mutate(label, c, v)
        if m.expect == REFUSE:
            m.expect = EITHER
        return m


class Fixed(Kind):
    """A value that is not fuzzed (e.g. the receiver of a getter)."""

    def __init__(self, make):
        self.make = make

    def valid(self, c):
        return self.make(c)

    def labels(self, c, v):
        return []


# =================================================================================================
# Arrays
# =================================================================================================
class Array(Kind):
    """A float array made by ``make(c)``.

    shape: "fixed" (its shape is dictated: other shapes are refused) or "free" (any length or, with
    ndims covering it, any number of axes). domain: "real", "pos" (entries > 0), "nonneg", "unit"
    (unit vectors along the last axis), "orthonormal" (rows), "nonzero" (not all zero), "pm1"
    (+1 or -1).
    """

    def __init__(
        self, make, *, shape="fixed", ndims=(1,), domain="real", optional=False, empty_ok=False, names=(), fallback=None
    ):
        self.make = make
        self.fallback = fallback  # fallback(c): what to spoil where the valid value is None
        self.shape = shape
        self.ndims = ndims
        self.domain = domain
        self.optional = optional
        self.empty_ok = empty_ok
        self.names = names

    def valid(self, c):
        return self.make(c)

    def labels(self, c, v):
        out = [*super().labels(c, v), "complex", "object_dtype", "strings", "bool", "int", "float32"]
        out += ["nan", "inf", "-inf", "extra_axis", "list", "bigendian", "readonly", "strided", "huge_rows"]
        out += ["scale1e100", "scale1e200", "scale1e300", "scale1e-300", "max", "subnormal", "negate", "zeros"]
        if np.ndim(v) >= 1:
            out += ["scalar", "longer", "shorter", "empty", "ragged"]
        if np.ndim(v) == 2:
            out += ["fortran", "strided_cols", "transposed"]
        return out

    def _refuse_if(self, cond):
        return REFUSE if cond else EITHER

    def mutate(self, label, c, v):
        if v is None:  # nothing to compare a re-laid-out copy with: no SAME expectation
            v = self.fallback(c) if self.fallback is not None else np.ones(3)
            m = self._mutate(label, c, v)
            m.expect = EITHER if m.expect == SAME else m.expect
            return m
        return self._mutate(label, c, v)

    def _mutate(self, label, c, v):
        a = np.array(v, dtype=np.float64)
        fixed = self.shape == "fixed"
        special = self.domain in ("unit", "orthonormal", "pm1")
        if label in ("none", "str", "dict", "object"):
            return super().mutate(label, c, v)
        if label == "complex":
            return Mutation(label, a + 1j, REFUSE)
        if label == "object_dtype":
            return Mutation(label, a.astype(object), REFUSE)
        if label == "strings":
            return Mutation(label, a.astype(str), REFUSE)
        if label == "bool":
            return Mutation(label, a != 0, EITHER)
        if label == "int":
            return Mutation(label, np.rint(a).astype(np.int64), EITHER)
        if label == "float32":
            return Mutation(label, a.astype(np.float32), EITHER)
        if label in ("nan", "inf", "-inf"):
            if a.size == 0:
                return Mutation(label, a, EITHER)
            b = a.copy()
            i = pick(c, range(b.size), "index")
            b.flat[i] = {"nan": np.nan, "inf": np.inf, "-inf": -np.inf}[label]
            return Mutation(label, b, REFUSE)
        if label == "extra_axis":  # (n, ...) -> (1, n, ...): the same shape for a fixed n = 1
            wrong = (fixed and a.ndim > 0 and a.shape[0] != 1) or (a.ndim + 1) not in self.ndims
            return Mutation(label, a[None], self._refuse_if(wrong))
        if label == "scalar":
            s = float(a.flat[0]) if a.size else 0.5
            return Mutation(label, s, self._refuse_if(0 not in self.ndims))
        if label == "longer":
            b = np.concatenate([a, a[:1] if len(a) else np.ones((1, *a.shape[1:]))], axis=0)
            return Mutation(label, b, self._refuse_if(fixed))
        if label == "shorter":
            return Mutation(label, a[:-1], self._refuse_if(fixed or (len(a) <= 1 and not self.empty_ok)))
        if label == "empty":
            return Mutation(label, a[:0], self._refuse_if(not self.empty_ok))
        if label == "transposed":
            square = a.shape[0] == a.shape[1]
            if square and np.array_equal(a, a.T):
                return Mutation(label, a.T, SAME)
            return Mutation(label, a.T, EITHER if (square or not fixed) else REFUSE)
        if label == "ragged":
            rows = a.tolist()
            if a.ndim == 1:
                rows = [[x] for x in rows]
            rows.append(rows[-1] + [0.0] if isinstance(rows[-1], list) else [0.0, 0.0])
            return Mutation(label, rows, REFUSE)
        if label == "list":
            return Mutation(label, a.tolist(), SAME)
        if label in ("bigendian", "readonly", "strided", "fortran", "strided_cols"):
            if label in ("strided",) and a.ndim == 0:
                return Mutation(label, a, SAME)
            return Mutation(label, Layout(label, a), SAME)
        if label == "huge_rows":
            if a.ndim == 0:
                return Mutation(label, a, SAME)
            return Mutation(label, Layout("huge_rows", a), EITHER if not fixed else REFUSE)
        if label.startswith("scale"):
            s = float(label[5:])
            return Mutation(label, a * s, REFUSE if special or (s == 1e-300 and self.domain == "unit") else EITHER)
        if label in ("max", "subnormal"):
            b = a.copy()
            if b.size:
                i = pick(c, range(b.size), "index")
                b.flat[i] = HUGE if label == "max" else SUBNORMAL
            return Mutation(label, b, REFUSE if (special and label == "max" and b.size) else EITHER)
        if label == "negate":
            bad = self.domain in ("pos", "nonneg") and np.any(a != 0)
            return Mutation(label, -a, REFUSE if bad else EITHER)
        if label == "zeros":
            bad = self.domain in ("pos", "unit", "orthonormal", "nonzero", "pm1") and a.size > 0
            return Mutation(label, np.zeros_like(a), REFUSE if bad else EITHER)
        raise KeyError(label)


# =================================================================================================
# Scalars
# =================================================================================================
class Real(Kind):
    """A real number. domain: "any", "pos", "nonneg"; ``hi``: an upper bound (inclusive)."""

    def __init__(self, make, *, domain="any", hi=None, optional=False, names=()):
        self.make = make
        self.domain = domain
        self.hi = hi
        self.optional = optional
        self.names = names

    def valid(self, c):
        return self.make(c)

    def labels(self, c, v):
        return [
            *super().labels(c, v),
            "nan",
            "inf",
            "-inf",
            "zero",
            "negative",
            "huge",
            "tiny",
            "bigint",
            "int30",
            "str_num",
            "bool",
            "complex",
            "list",
            "array1",
            "0d",
            "np_float64",
            "np_float32",
            "np_nan",
            "fraction",
            "decimal",
        ]

    def mutate(self, label, c, v):
        x = 0.5 if v is None else float(v)
        pos, nonneg = self.domain == "pos", self.domain in ("pos", "nonneg")
        if label in ("none", "str", "dict", "object"):
            return super().mutate(label, c, v)
        table = {
            "nan": (float("nan"), REFUSE),
            "inf": (float("inf"), REFUSE),
            "-inf": (float("-inf"), REFUSE),
            "np_nan": (np.float64("nan"), REFUSE),
            "zero": (0.0, REFUSE if pos else EITHER),
            "negative": (-abs(x) - 1.5, REFUSE if nonneg else EITHER),
            "huge": (HUGE, REFUSE if self.hi is not None else EITHER),
            "tiny": (SUBNORMAL, EITHER),
            "bigint": (BIG_INT, REFUSE),
            "int30": (10**30, REFUSE if self.hi is not None else EITHER),
            "str_num": (str(x), REFUSE),
            "bool": (True, REFUSE),
            "complex": (complex(x, 0.0), REFUSE),
            "list": ([x], REFUSE),
            "array1": (np.array([x]), REFUSE),
            "0d": (np.array(x), SAME),
            "np_float64": (np.float64(x), SAME),
            "np_float32": (np.float32(x), EITHER),
            "fraction": (Fraction(x), EITHER),
            "decimal": (Decimal(repr(x)), EITHER),
        }
        value, expect = table[label]
        if v is None and expect == SAME:
            expect = EITHER
        return Mutation(label, value, expect)


class Int(Kind):
    """An integer in [minimum, maximum]."""

    def __init__(self, make, *, minimum=None, maximum=None, optional=False, names=()):
        self.make = make
        self.minimum = minimum
        self.maximum = maximum
        self.optional = optional
        self.names = names

    def valid(self, c):
        return self.make(c)

    def labels(self, c, v):
        out = [*super().labels(c, v), "i64", "u64", "big30", "bigint", "frac", "float_int", "nan", "inf"]
        out += ["str_num", "bool", "np_int64", "np_uint8", "0d", "complex"]
        if self.minimum is not None:
            out += ["below"]
            if self.minimum >= 0:
                out += ["negative"]
        return out

    def mutate(self, label, c, v):
        k = 1 if v is None else int(v)
        if label in ("none", "str", "dict", "object"):
            return super().mutate(label, c, v)
        over = REFUSE if self.maximum is not None else EITHER
        same = SAME if v is not None else EITHER
        table = {
            "below": (None if self.minimum is None else self.minimum - 1, REFUSE),
            "negative": (-5, REFUSE),
            "i64": (2**63, over),
            "u64": (2**64, over),
            "big30": (10**30, over),
            "bigint": (BIG_INT, over),
            "frac": (k + 0.5, REFUSE),
            "float_int": (float(k), same),
            "nan": (float("nan"), REFUSE),
            "inf": (float("inf"), REFUSE),
            "str_num": (str(k), REFUSE),
            "bool": (True, REFUSE),
            "np_int64": (np.int64(k), same),
            "np_uint8": (np.uint8(k) if 0 <= k < 256 else np.int64(k), same),
            "0d": (np.array(k), EITHER),
            "complex": (complex(k, 0), REFUSE),
        }
        value, expect = table[label]
        return Mutation(label, value, expect)


class Choice(Kind):
    """One of a few strings."""

    def __init__(self, choices, *, optional=False, names=()):
        self.choices = tuple(choices)
        self.optional = optional
        self.names = names

    def valid(self, c):
        return pick(c, self.choices, "choice")

    def labels(self, c, v):
        return [
            *super().labels(c, v)[:1],
            "dict",
            "object",
            "upper",
            "empty",
            "unknown",
            "space",
            "int",
            "bytes",
            "list",
        ]

    def mutate(self, label, c, v):
        s = v if isinstance(v, str) else self.choices[0]
        if label in ("none", "dict", "object"):
            return super().mutate(label, c, v)
        table = {
            "upper": s.upper() if s.upper() != s else s + "X",
            "empty": "",
            "unknown": "nonsense",
            "space": s + " ",
            "int": 1,
            "bytes": s.encode(),
            "list": [s],
        }
        return Mutation(label, table[label], REFUSE)


class Seed(Kind):
    """A seed. style: "numpy" (anything numpy.random.default_rng takes), "u64" (0 <= seed < 2**64),
    "target" (a non-negative int: a target's seed)."""

    def __init__(self, style="numpy", *, optional=False):
        self.style = style
        self.optional = optional

    def valid(self, c):
        return c.draw(st.integers(0, 2**32), label="seed value")

    def labels(self, c, v):
        out = [*super().labels(c, v), "negative", "frac", "nan", "big200", "bool", "float_int", "seq", "neg_seq"]
        if self.style == "numpy":
            out += ["generator"]
        if self.style == "u64":
            out += ["u64max", "u64", "np_uint64"]
        return out

    def mutate(self, label, c, v):
        k = 0 if v is None else int(v)
        if label in ("str", "dict", "object"):
            return super().mutate(label, c, v)
        numpy = self.style == "numpy"
        table = {
            "none": (None, EITHER if (numpy or self.optional) else REFUSE),
            "negative": (-1, REFUSE),
            "frac": (1.5, REFUSE),
            "nan": (float("nan"), REFUSE),
            "big200": (2**200, EITHER if numpy or self.style == "target" else REFUSE),
            "bool": (True, EITHER if numpy else REFUSE),
            "float_int": (float(k), EITHER),
            "seq": ([k, 1], EITHER if numpy else REFUSE),
            "neg_seq": ([1, -1], REFUSE),
            "generator": (Build("numpy.random.default_rng", (k,)), EITHER),
            "u64max": (2**64 - 1, EITHER),
            "u64": (2**64, REFUSE),
            "np_uint64": (np.uint64(k), SAME),
        }
        value, expect = table[label]
        return Mutation(label, value, expect)


class Threads(Kind):
    """A thread count: None (the default) or 1 <= n <= max_num_threads()."""

    optional = True
    names = ("n_threads",)

    def valid(self, c):
        return pick(c, [None, 1, 2], "n_threads")

    def labels(self, c, v):
        out = ["str", "dict", "zero", "negative", "too_many", "u64", "frac", "bool", "nan", "float_int", "np_int"]
        return [*out, "max"]

    def mutate(self, label, c, v):
        if label in ("str", "dict"):
            return super().mutate(label, c, v)
        table = {
            "zero": (0, REFUSE),
            "negative": (-1, REFUSE),
            "too_many": (10**6, REFUSE),
            "u64": (2**64, REFUSE),
            "frac": (1.5, REFUSE),
            "bool": (True, REFUSE),
            "nan": (float("nan"), REFUSE),
            "float_int": (2.0, EITHER),
            "np_int": (np.int64(2), EITHER),
            # the most a call may ask for: the same bits as any other count
            "max": (Build("flatcore.max_num_threads"), SAME),
        }
        value, expect = table[label]
        return Mutation(label, value, expect)


class Flag(Kind):
    """A yes/no switch: True, False, a NumPy bool, 0 or 1 (``optional``: None too)."""

    def __init__(self, *, optional=False, names=()):
        self.optional = optional
        self.names = names

    def valid(self, c):
        return pick(c, [False, True], "flag")

    def labels(self, c, v):
        return ["none", "str", "int01", "np_bool", "str_no", "array2", "float_nan", "two"]

    def mutate(self, label, c, v):
        if label in ("none", "str"):
            return super().mutate(label, c, v)
        table = {
            "int01": (int(bool(v)), SAME),
            "np_bool": (np.bool_(v), SAME),
            "str_no": ("no", REFUSE),
            "array2": (np.array([1, 0]), REFUSE),
            "float_nan": (float("nan"), REFUSE),
            "two": (2, REFUSE),
        }
        value, expect = table[label]
        return Mutation(label, value, expect)


# =================================================================================================
# Networks, laws, targets, test sets
# =================================================================================================
class Net(Kind):
    """A flatcore.Network (``receiver``: the network a method is called on)."""

    names = ("net",)

    def __init__(self, *, allow_result=False, receiver=False):
        self.allow_result = allow_result
        self.receiver = receiver

    def valid(self, c):
        return c.net

    def labels(self, c, v):
        out = [] if self.receiver else [*super().labels(c, v), "params"]
        out += ["W_nan", "b_inf", "v_nan", "beta_nan", "beta_inf", "beta_str", "beta_none", "beta_bigint"]
        out += ["beta_complex", "W_complex", "W_object", "W_none", "W_1d", "b_short", "v_long", "W_list"]
        out += ["W_fortran", "v_strided", "W_readonly", "W_int", "W_float32", "empty_width", "no_columns", "beta_np"]
        out += ["all1e100", "all1e200", "all1e300", "all1e-300", "W1e200v1e-200", "W_max", "v_subnormal"]
        if self.allow_result:
            out += ["train_result"]
        return out

    def mutate(self, label, c, v):
        net = c.net
        if label in ("none", "str", "dict", "object"):
            return super().mutate(label, c, v)
        if label == "params":
            return Mutation(label, net.params(), REFUSE, ("net",))
        if label == "train_result":
            return Mutation(label, Build("flatcore.train", (net, c.X, c.y, 0.05, 2)), EITHER)
        W, b, vv, beta = net.W, net.b, net.v, net.beta
        edits = {
            "W_nan": ("W", _with(W, np.nan), REFUSE),
            "b_inf": ("b", _with(b, np.inf), REFUSE),
            "v_nan": ("v", _with(vv, np.nan), REFUSE),
            "beta_nan": ("beta", float("nan"), REFUSE),
            "beta_inf": ("beta", float("-inf"), REFUSE),
            "beta_str": ("beta", "0.5", REFUSE),
            "beta_none": ("beta", None, REFUSE),
            "beta_bigint": ("beta", BIG_INT, REFUSE),
            "beta_complex": ("beta", 0.5 + 0j, REFUSE),
            "W_complex": ("W", W + 0j, REFUSE),
            "W_object": ("W", W.astype(object), REFUSE),
            "W_none": ("W", None, REFUSE),
            "W_1d": ("W", W.ravel(), REFUSE if W.shape[1] != 1 else EITHER),
            "b_short": ("b", b[:-1], REFUSE),
            "v_long": ("v", np.append(vv, 1.0), REFUSE),
            "W_list": ("W", W.tolist(), SAME),
            "W_fortran": ("W", Layout("fortran", W), SAME),
            "v_strided": ("v", Layout("strided", vv), SAME),
            "W_readonly": ("W", Layout("readonly", W), SAME),
            "W_int": ("W", np.rint(W).astype(np.int32), EITHER),
            "W_float32": ("W", W.astype(np.float32), EITHER),
            "beta_np": ("beta", np.float32(beta), EITHER),
            "W_max": ("W", _with(W, HUGE), EITHER),
            "v_subnormal": ("v", _with(vv, SUBNORMAL), EITHER),
        }
        if label in edits:
            attr, value, expect = edits[label]
            return Mutation(label, Edited(net, attr, value), expect, ("net", attr))
        if label == "empty_width":
            e = Edited(Edited(Edited(net, "W", W[:0]), "b", b[:0]), "v", vv[:0])
            return Mutation(label, e, REFUSE, ("net", "W", "b", "v", "width", "neuron"))
        if label == "no_columns":
            return Mutation(label, Edited(net, "W", W[:, :0]), REFUSE, ("net", "W", "X", "d", "columns"))
        scales = {
            "all1e100": (1e100, 1e100, 1e100),
            "all1e200": (1e200, 1e200, 1e200),
            "all1e300": (1e300, 1e300, 1e300),
            "all1e-300": (1e-300, 1e-300, 1e-300),
            "W1e200v1e-200": (1e200, 1e200, 1e-200),
        }
        sW, sb, sv = scales[label]
        e = Edited(Edited(Edited(net, "W", W * sW), "b", b * sb), "v", vv * sv)
        return Mutation(label, e, EITHER)


def _with(a, value):
    b = np.array(a, dtype=np.float64, copy=True)
    b.flat[-1] = value
    return b


LAW_BUILDS = {
    "ball": lambda d: Build("flatcore.data.UniformBall", (d,)),
    "sphere": lambda d: Build("flatcore.data.UniformSphere", (d,)),
    "gaussian": lambda d: Build("flatcore.data.Gaussian", (d,)),
    "radial": lambda d: Build("flatcore.data.Radial", (d,), {"alpha": 0.7}),
    "mixture": lambda d: Build("flatcore.data.BallMixture.random", (d, 2), {"seed": 1}),
    "user": lambda d: UserLaw(d),
}


class Law(Kind):
    """An input law of dimension ``dim(c)``."""

    names = ("law",)

    def __init__(self, dim=lambda c: c.d, *, optional=False, which=tuple(LAW_BUILDS)):
        self.dim = dim
        self.optional = optional
        self.which = which

    def valid(self, c):
        return LAW_BUILDS[pick(c, self.which, "law")](self.dim(c))

    def labels(self, c, v):
        out = ["none", "str", "object", "wrong_d", "no_sample", "network"]
        out += ["user_nan", "user_huge", "user_wide", "user_short", "user_complex", "user_list", "user_none"]
        out += ["user_3d", "user_raises", "d_str", "d_neg", "d_float", "d_big"]
        return out

    def mutate(self, label, c, v):
        d = self.dim(c)
        if label in ("none", "str", "object"):
            return super().mutate(label, c, v)
        names = ("law", "sample", "law.d", "law.sample")
        if label == "wrong_d":
            return Mutation(label, Build("flatcore.data.UniformBall", (d + 1,)), REFUSE, ("law", "d"))
        if label == "no_sample":
            return Mutation(label, NoSample(d), REFUSE)
        if label == "network":
            return Mutation(label, c.net, REFUSE)
        if label.startswith("user_"):
            mode = label[5:]
            expect = {"huge": EITHER, "list": EITHER, "raises": USER}.get(mode, REFUSE)
            return Mutation(label, UserLaw(d, mode), expect, names)
        dims = {"d_str": str(d), "d_neg": -1, "d_float": d + 0.5, "d_big": 2**70}
        return Mutation(label, UserLaw(dims[label]), REFUSE, (*names, "d"))


TARGET_BUILDS = {
    "linear": lambda c, d: Build("flatcore.data.Linear", (d,), {"seed": 1}),
    "smooth": lambda c, d: Build("flatcore.data.Smooth", (d,)),
    "relu": lambda c, d: Build("flatcore.data.RandomReLU", (d,), {"rate": 3.0, "seed": 2}),
    "network": lambda c, d: c.net,
    "user": lambda c, d: UserTarget(d),
}


class Target(Kind):
    """A regression target of dimension c.d."""

    names = ("target",)

    def valid(self, c):
        return TARGET_BUILDS[pick(c, TARGET_BUILDS, "target")](c, c.d)

    def labels(self, c, v):
        out = ["none", "str", "object", "wrong_d", "not_callable"]
        out += ["user_nan", "user_inf", "user_long", "user_column", "user_scalar", "user_complex", "user_none"]
        out += ["user_strings", "user_raises"]
        return out

    def mutate(self, label, c, v):
        if label in ("none", "str", "object"):
            return super().mutate(label, c, v)
        names = ("target", "target(X)", "target(X_test)")
        if label == "wrong_d":
            return Mutation(label, Build("flatcore.data.Smooth", (c.d + 1,)), REFUSE, ("target", "d"))
        if label == "not_callable":
            return Mutation(label, NoSample(c.d), REFUSE)
        mode = label[5:]
        expect = {"raises": USER}.get(mode, REFUSE)
        return Mutation(label, UserTarget(c.d, mode), expect, names)


class TestPair(Kind):
    """train's ``test=(X_test, y_test)``."""

    optional = True
    names = ("test", "X_test", "y_test")

    def valid(self, c):
        rng = c.rng
        m = pick(c, [1, 3], "n_test")
        return (rng.uniform(-1, 1, size=(m, c.d)), rng.standard_normal(m))

    def labels(self, c, v):
        return ["none", "str", "single", "triple", "X_cols", "y_len", "X_nan", "y_inf", "empty", "X_complex", "lists"]

    def mutate(self, label, c, v):
        if label in ("none", "str"):
            return super().mutate(label, c, v)
        Xt, yt = v
        table = {
            "single": (Xt, REFUSE),
            "triple": ((Xt, yt, yt), REFUSE),
            "X_cols": ((np.hstack([Xt, Xt]), yt), REFUSE),
            "y_len": ((Xt, np.append(yt, 0.0)), REFUSE),
            "X_nan": ((_with(Xt, np.nan), yt), REFUSE),
            "y_inf": ((Xt, _with(yt, np.inf)), REFUSE),
            "empty": ((Xt[:0], yt[:0]), REFUSE),
            "X_complex": ((Xt + 1j, yt), REFUSE),
            "lists": ((Xt.tolist(), yt.tolist()), SAME),
        }
        value, expect = table[label]
        return Mutation(label, value, expect)
