"""Every public function and method of flatcore, with the kinds of its arguments and the shape of
its result (the description the fuzz works from).

An :class:`Entry` names a public callable, says how to call it (a dotted path, or a receiver and a
method for methods), lists its parameters with their :mod:`kinds <reliability.kinds>` and checks
the result's structure (``check(r, c, p)``: ``r`` reads the result's summary, ``c`` is the drawn
problem with the valid values in ``c.values``, ``p`` the values actually passed).
``test_catalog_covers_the_public_api`` fails when a public name has no entry here.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Callable

import numpy as np
from hypothesis import strategies as st

from .kinds import (
    Array,
    Choice,
    Ctx,
    Fixed,
    Flag,
    Int,
    Law,
    Lenient,
    Net,
    Real,
    Seed,
    Target,
    TestPair,
    Threads,
    pick,
)
from .spec import Build, Layout, Method, UserLaw

LOSSES = ("half_mse", "mse")
KERNELS = ("auto", "dense", "certified")
PARTS = ("full", "gauss_newton", "residual")


@dataclass
class Param:
    name: str
    kind: Any
    positional: bool = True
    optional: bool = False  # passed only sometimes in valid calls (it has a default)


def pos(name, kind):
    return Param(name, kind, positional=True, optional=False)


def kw(name, kind, optional=True):
    return Param(name, kind, positional=False, optional=optional)


def this(kind):
    """The receiver of a method (not passed as an argument)."""
    return Param("self", kind, positional=False, optional=False)


@dataclass
class Entry:
    name: str  # the public name, e.g. "flatcore.loss" or "flatcore.Network.predict"
    target: Any  # a dotted path, or a function of the passed values giving a Method marker
    params: list
    check: Callable | None = None
    raises: tuple = ()  # exception types allowed beyond spec.ALLOWED (documented ones)
    sizes: dict = field(default_factory=dict)  # limits of the drawn problem (draw_ctx keywords)
    fixup: Callable | None = None  # fixup(values, c): make the valid values consistent
    # unused(values, name): True where the argument ``name`` plays no part with these other values
    # (a seed beside an explicit direction): a wrong value for it need not be refused.
    unused: Callable | None = None
    nan_ok: Callable | None = None  # nan_ok(passed): NaN in the result is documented for these arguments


# =================================================================================================
# Reading a result's summary
# =================================================================================================
class R:
    """The leaves of a result, by path ("" the result itself, ".net.W", "[0]", ...)."""

    def __init__(self, outcome):
        self.leaves = {leaf.path: leaf for leaf in outcome.leaves}
        self.top = outcome.top_type

    def get(self, path):
        assert path in self.leaves, f"the result has no {path or 'value'}; it has {sorted(self.leaves)[:20]}"
        return self.leaves[path]

    def float(self, path=""):
        leaf = self.get(path)
        assert leaf.kind == "float", f"{path or 'the result'} is {leaf.kind} {leaf.type_name}, expected a float"

    def int(self, path=""):
        leaf = self.get(path)
        assert leaf.kind == "int", f"{path or 'the result'} is {leaf.kind}, expected an int"
        return leaf.value

    def bool(self, path=""):
        leaf = self.get(path)
        assert leaf.kind == "bool", f"{path or 'the result'} is {leaf.kind}, expected a bool"
        return leaf.value

    def array(self, path="", shape=None, dtype="<f8"):
        leaf = self.get(path)
        assert leaf.kind == "array", f"{path or 'the result'} is {leaf.kind}, expected an array"
        if dtype is not None:
            assert leaf.dtype == dtype, f"{path or 'the result'} has dtype {leaf.dtype}, expected {dtype}"
        if shape is not None:
            assert leaf.shape == tuple(shape), f"{path or 'the result'} has shape {leaf.shape}, expected {shape}"
        return leaf.shape

    def float_or_array(self, path, shape):
        """A float where ``shape`` is (), else a float64 array of that shape."""
        if tuple(shape) == ():
            self.float(path)
        else:
            self.array(path, shape)

    def obj(self, path, type_name):
        leaf = self.get(path)
        assert leaf.type_name == type_name, (
            f"{path or 'the result'} is {leaf.type_name or leaf.kind}, expected {type_name}"
        )

    def value(self, path):
        return self.get(path).value


def shape_of(value):
    """The shape of a passed value (through a layout marker)."""
    if isinstance(value, Layout):
        base = shape_of(value.base)
        if value.kind == "huge_rows":
            return (10**12, *base[1:])
        return base
    try:
        return np.shape(value)
    except Exception:  # ragged lists and the like
        return None


def network(r, d, width, path=""):
    r.obj(path, "Network")
    r.array(path + ".W", (width, d))
    r.array(path + ".b", (width,))
    r.array(path + ".v", (width,))
    r.float(path + ".beta")


# =================================================================================================
# Valid values
# =================================================================================================
def X_(c):
    return c.X


def y_(c):
    return c.y


def u_(c):
    return c.u


def unit(c, m=None):
    rng = c.rng
    g = rng.standard_normal((c.d,) if m is None else (m, c.d))
    return g / np.linalg.norm(g, axis=-1, keepdims=True)


def thresholds(c):
    shape = pick(c, [(), (3,), (2, 2)], "t shape")
    t = c.rng.uniform(-1.5, 1.5, size=shape)
    return float(t) if shape == () else t


def orthonormal_rows(c, k, d):
    q, _ = np.linalg.qr(c.rng.standard_normal((d, k)))
    return q.T.copy()


NET = Net()
X = Array(X_, ndims=(1, 2), names=("X",))  # beside y: its number of rows is fixed
X_ROWS = Array(X_, shape="free", ndims=(1, 2), names=("X",))  # alone: any number of rows
X_ANY_ROWS = Array(X_, shape="free", ndims=(2,), empty_ok=True, names=("X",))
Y = Array(y_, ndims=(1, 2), names=("y",))
U = Array(u_, names=("u",))
LOSS = Choice(LOSSES, names=("loss",))
KERNEL = Choice(KERNELS, names=("kernel",))
PART = Choice(PARTS, names=("part",))
THREADS = Threads()


def pos_real(*choices, hi=None, optional=False, names=()):
    return Real(lambda c: pick(c, choices), domain="pos", hi=hi, optional=optional, names=names)


def count(lo, hi, *, minimum=1, maximum=None, optional=False, none_too=False, names=()):
    def make(c):
        if none_too and pick(c, [True, False], "default"):
            return None
        return c.draw(st.integers(lo, hi), label="count")

    return Int(make, minimum=minimum, maximum=maximum, optional=optional or none_too, names=names)


def dim():
    return count(1, 4)


# =================================================================================================
# Checks
# =================================================================================================
def float_result(r, c, p):
    r.float("")


def params_shaped(r, c, p):
    r.array("", (c.P,))


def per_neuron(r, c, p):
    r.array("", (c.width,))


def n_values(r, c, p):
    r.array("", (shape_of(p["X"])[0],))


def the_network(r, c, p):
    network(r, c.d, c.width)


def eigen_result(path, r, m, P):
    r.obj(path, "EigenResult")
    r.array(path + ".values", (m,))
    r.array(path + ".vectors", (P, m))
    r.array(path + ".residual_norms", (m,))
    r.array(path + ".error_bounds", (m,))
    r.bool(path + ".converged")
    r.int(path + ".n_hvp")


def check_top_eigs(r, c, p):
    k = int(p.get("k", 1))
    m = 2 * k if p.get("which") == "both" else k
    eigen_result("", r, m, c.P)


def check_sharpness(r, c, p):
    if p.get("return_result") in (True, 1):
        eigen_result("", r, 1, c.P)
    else:
        r.float("")


def check_train(r, c, p):
    r.obj("", "TrainResult")
    network(r, c.d, c.width, ".net")
    r.float(".final_loss")
    r.float(".final_grad_norm")
    r.int(".steps_run")
    converged, diverged = r.bool(".converged"), r.bool(".diverged")
    assert not (converged and diverged), "a run both converged and diverged"
    if diverged:
        r.int(".diverged_step")
    lengths = {leaf.shape for path, leaf in r.leaves.items() if path.startswith(".history[") and leaf.kind == "array"}
    assert len(lengths) == 1, f"history columns of different lengths: {lengths}"


def check_operator(r, c, p):
    r.obj("", "HessianLinearOperator")
    r.int(".n_hvp")


def check_density(r, c, p):
    r.obj("", "SpectralDensity")
    (m,) = r.array(".nodes")
    r.array(".weights", (m,))


def check_sides(r, c, p):
    for side in (".active", ".inactive"):
        r.array(side + ".excess", (c.width,))
        r.array(side + ".share", (c.width,))
        r.array(side + ".moment", (c.width, c.d))


def check_law(r, c, p):
    assert r.top in ("UniformBall", "UniformSphere", "Gaussian", "Radial", "BallMixture"), r.top


def check_sample(r, c, p):
    r.array("", (int(p["n"]), c.values["self_d"]))


def check_marginal(r, c, p):
    shape = shape_of(p["t"])
    for name in ("P", "m1", "excess"):
        r.float_or_array("." + name, shape)


def check_target_object(r, c, p):
    assert r.top in ("Linear", "SingleIndex", "MultiIndex", "RandomReLU", "SmoothRadial", "Hoelder", "Smooth"), r.top


def check_target_values(r, c, p):
    r.array("", (shape_of(p["X"])[0],))


def check_dataset(r, c, p):
    n, m = int(p["n"]), int(p.get("n_test", 1000))
    r.array(".X", (n, c.d))
    r.array(".y", (n,))
    r.array(".y_clean", (n,))
    r.array(".X_test", (m, c.d))
    r.array(".y_test", (m,))


def check_regression(r, c, p):
    n, d = int(p["n"]), int(p["d"])
    r.array("[0]", (n, d))
    r.array("[1]", (n,))


def check_g_values(r, c, p):
    """g or gtilde: the shape of t for one direction, (m,) for m directions."""
    u_shape, t_shape = shape_of(p["u"]), shape_of(p["t"])
    shape = t_shape if len(u_shape) == 1 else (u_shape[0],)
    r.float_or_array("", shape)


def check_g_closed(r, c, p):
    r.float_or_array("", shape_of(p["t"]))


def check_population(r, c, p):
    u_shape, t_shape = shape_of(p["u"]), shape_of(p["t"])
    shape = t_shape if len(u_shape) == 1 else (u_shape[0],)
    r.obj("", "PopulationG")
    r.float_or_array(".g", shape)
    r.float_or_array(".stderr", shape)


def check_packing(r, c, p):
    r.obj("", "Network")
    r.array(".W")


# =================================================================================================
# Receivers
# =================================================================================================
def operator_of(c):
    return Build("flatcore.hessian_operator", (c.net, c.X, c.y))


def history_of(c):
    result = Build("flatcore.train", (c.net, c.X, c.y, 0.05, 4), {"sharpness_every": 2, "record_every": 1})
    return Build("builtins.getattr", (result, "history"))


def density_of(c):
    return Build("flatcore.spectral_density", (c.net, c.X, c.y), {"n_probes": 2, "lanczos_steps": 4})


def method(name):
    return lambda p: Method(p["self"], name)


def law_receiver(path, **kwargs):
    def make(c):
        c.values["self_d"] = c.d
        return Build(path, (c.d,), kwargs)

    return Fixed(make)


def target_receiver(path, **kwargs):
    return Fixed(lambda c: Build(path, (c.d,), kwargs))


# =================================================================================================
# The entries
# =================================================================================================
def _numerics():
    common = [kw("n_threads", THREADS)]
    with_loss = [kw("loss", LOSS), *common]
    with_part = [kw("part", PART), *with_loss]
    data = [pos("net", NET), pos("X", X), pos("y", Y)]
    inputs = [pos("net", NET), pos("X", X_ROWS)]
    return [
        Entry("flatcore.predict", "flatcore.predict", [*inputs, *common], n_values),
        Entry("flatcore.loss", "flatcore.loss", [*data, *with_loss], float_result),
        Entry("flatcore.loss_scale", "flatcore.loss_scale", [pos("loss", LOSS)], float_result),
        Entry(
            "flatcore.loss_and_gradient",
            "flatcore.loss_and_gradient",
            [*data, *with_loss],
            lambda r, c, p: (r.float("[0]"), r.array("[1]", (c.P,))),
        ),
        Entry("flatcore.gradient", "flatcore.gradient", [*data, *with_loss], params_shaped),
        Entry(
            "flatcore.hessian",
            "flatcore.hessian",
            [*data, *with_part, kw("max_bytes", pos_real(1e9, 2**40, optional=True, names=("max_bytes",)))],
            lambda r, c, p: r.array("", (c.P, c.P)),
        ),
        Entry("flatcore.hvp", "flatcore.hvp", [*data, pos("u", U), *with_part], params_shaped),
        Entry("flatcore.hessian_trace", "flatcore.hessian_trace", [*data, *with_part], float_result),
        Entry(
            "flatcore.trace_terms",
            "flatcore.trace_terms",
            [*inputs, *with_loss],
            lambda r, c, p: (r.array("[0]", (c.width,)), r.array("[1]", (c.width,))),
        ),
        Entry("flatcore.trace_per_neuron", "flatcore.trace_per_neuron", [*inputs, *with_loss], per_neuron),
        Entry("flatcore.activation_rates", "flatcore.activation_rates", [*inputs, *common], per_neuron),
        Entry("flatcore.neuron_sides", "flatcore.neuron_sides", [*inputs, *common], check_sides),
    ]


def _network():
    width_d = [
        pos("W", Array(lambda c: c.net.W, ndims=(2,), names=("W",))),
        pos("b", Array(lambda c: c.net.b, names=("b",))),
        pos("v", Array(lambda c: c.net.v, names=("v",))),
        kw("beta", Real(lambda c: c.net.beta, names=("beta",))),
    ]
    receiver = this(Net(receiver=True))
    return [
        Entry("flatcore.Network", "flatcore.Network", width_d, the_network),
        Entry(
            "flatcore.Network.init",
            "flatcore.Network.init",
            [
                pos("d", Int(lambda c: c.d, minimum=1, names=("d",))),
                pos("width", Int(lambda c: c.width, minimum=1, names=("width",))),
                kw("seed", Seed()),
                kw("scheme", Choice(("pytorch", "kaiming", "kaiming_uniform"), names=("scheme",))),
            ],
            the_network,
        ),
        Entry(
            "flatcore.Network.from_params",
            "flatcore.Network.from_params",
            [
                pos("theta", Array(lambda c: c.net.params(), names=("theta",))),
                pos("d", Int(lambda c: c.d, minimum=1, names=("d", "theta"))),
                pos("width", Int(lambda c: c.width, minimum=1, names=("width", "theta"))),
            ],
            the_network,
        ),
        Entry("flatcore.Network.params", method("params"), [this(Fixed(lambda c: c.net))], params_shaped),
        Entry(
            "flatcore.Network.predict",
            method("predict"),
            [receiver, pos("X", X_ROWS), kw("n_threads", THREADS)],
            n_values,
        ),
        Entry(
            "flatcore.Network.__call__",
            method("__call__"),
            [receiver, pos("X", X_ROWS), kw("n_threads", THREADS)],
            n_values,
        ),
        Entry("flatcore.Network.copy", method("copy"), [receiver], the_network),
    ]


def _spectrum():
    data = [pos("net", NET), pos("X", X), pos("y", Y)]
    tol = Real(lambda c: pick(c, [1e-10, 1e-6]), domain="pos", names=("tol",))
    method_ = Choice(("auto", "lanczos", "dense"), names=("method",))
    stop = Choice(("residual", "eigenvalue"), names=("stop",))

    def k_valid(c):
        return 1 if c.P < 12 else pick(c, [1, 2], "k")

    def top_eigs_fixup(values, c):
        if values.get("which") == "both" and values.get("method") == "lanczos" and 2 * int(values.get("k", 1)) >= c.P:
            values["k"] = 1

    operator_entries = []
    operand = ("u", "x", "direction", "operands")  # "operands": SciPy's refusal of `op @ scalar`
    P_vector = Array(u_, ndims=(1, 2), names=operand)
    P_operand = Array(u_, ndims=(0, 1, 2), names=operand)  # dot and op(x) also take a scalar
    P_matrix = Array(
        lambda c: c.rng.standard_normal((c.P, pick(c, [1, 2, 3], "columns"))),
        ndims=(2,),
        names=("U", "X", "directions", "operands"),
    )

    def matvec_check(r, c, p):
        shape = shape_of(p["x"])
        if shape == ():  # dot(scalar), op(scalar): a scaled operator
            return
        r.array("", (c.P, *shape[1:]))

    for name, arg, check in (
        ("matvec", P_vector, matvec_check),
        ("rmatvec", P_vector, matvec_check),
        ("matmat", P_matrix, matvec_check),
        ("rmatmat", P_matrix, matvec_check),
        ("dot", P_operand, matvec_check),
        ("__matmul__", P_vector, matvec_check),
        ("__call__", P_operand, matvec_check),
    ):
        target = method(name) if name != "__matmul__" else method("@")
        operator_entries.append(
            Entry(f"flatcore.HessianLinearOperator.{name}", target, [this(Fixed(operator_of)), pos("x", arg)], check)
        )
    for name in ("adjoint", "transpose"):
        operator_entries.append(
            Entry(f"flatcore.HessianLinearOperator.{name}", method(name), [this(Fixed(operator_of))], check_operator)
        )

    cache = Flag(optional=True, names=("cache",))
    return [
        Entry(
            "flatcore.sharpness",
            "flatcore.sharpness",
            [
                *data,
                kw("part", PART),
                kw("loss", LOSS),
                kw("tol", tol),
                kw("stop", stop),
                kw("method", method_),
                kw("seed", Seed("u64")),
                kw("return_result", Flag(names=("return_result",))),
                kw("n_threads", THREADS),
            ],
            check_sharpness,
            raises=("RuntimeError",),  # documented: the solver did not converge
        ),
        Entry(
            "flatcore.top_eigs",
            "flatcore.top_eigs",
            [
                *data,
                kw("k", Int(k_valid, minimum=1, names=("k",))),
                kw("which", Choice(("largest", "smallest", "both"), names=("which",))),
                kw("part", PART),
                kw("loss", LOSS),
                kw("tol", tol),
                kw("stop", stop),
                kw("method", method_),
                kw("seed", Seed("u64")),
                kw("max_restarts", count(5, 1000, maximum=2**62, names=("max_restarts",))),
                kw("ncv", Int(lambda c: None, minimum=2, maximum=2**62, optional=True, names=("ncv",))),
                kw("v0", Array(u_, domain="nonzero", optional=True, names=("v0",))),
                kw("n_threads", THREADS),
            ],
            check_top_eigs,
            fixup=top_eigs_fixup,
        ),
        Entry(
            "flatcore.hessian_operator",
            "flatcore.hessian_operator",
            [
                *data,
                kw("part", PART),
                kw("loss", LOSS),
                kw("cache", cache),
                kw("n_threads", THREADS),
                kw("kernel", KERNEL),
            ],
            check_operator,
        ),
        Entry(
            "flatcore.HessianLinearOperator",
            "flatcore.HessianLinearOperator",
            [
                *data,
                kw("part", PART),
                kw("cache", cache),
                kw("n_threads", THREADS),
                kw("loss", LOSS),
                kw("kernel", KERNEL),
            ],
            check_operator,
        ),
        *operator_entries,
        Entry(
            "flatcore.spectral_density",
            "flatcore.spectral_density",
            [
                *data,
                kw("n_probes", count(1, 3, names=("n_probes",))),
                kw("lanczos_steps", count(1, 10, names=("lanczos_steps",))),
                kw("part", PART),
                kw("loss", LOSS),
                kw("seed", Seed()),
                kw("n_threads", THREADS),
            ],
            check_density,
        ),
        Entry(
            "flatcore.SpectralDensity.smoothed",
            method("smoothed"),
            [
                this(Fixed(density_of)),
                pos(
                    "grid",
                    Array(lambda c: np.linspace(-1, 2, pick(c, [1, 5])), shape="free", empty_ok=True, names=("grid",)),
                ),
                pos("sigma", pos_real(0.01, 0.3, names=("sigma",))),
            ],
            lambda r, c, p: r.array("", (shape_of(p["grid"])[0],)),
        ),
        Entry(
            "flatcore.exact_spectrum",
            "flatcore.exact_spectrum",
            [*data, kw("part", PART), kw("loss", LOSS), kw("n_threads", THREADS)],
            params_shaped,
        ),
    ]


def _training():
    def y_clean(c):
        return c.rng.standard_normal(c.n)

    history = this(Fixed(history_of))
    column = Choice(("step", "loss", "sharpness", "grad_norm"), names=("column", "name"))
    return [
        Entry(
            "flatcore.train",
            "flatcore.train",
            [
                pos("net", Net(allow_result=True)),
                pos("X", X),
                pos("y", Y),
                pos("lr", pos_real(0.01, 0.1, 0.5, names=("lr",))),
                pos("steps", count(0, 12, minimum=0, maximum=2**62, names=("steps",))),
                kw("loss", LOSS),
                kw("weight_decay", Real(lambda c: pick(c, [0.0, 1e-3]), domain="nonneg", names=("weight_decay",))),
                kw("decay_biases", Flag(names=("decay_biases",))),
                kw("clip_grad_norm", pos_real(0.5, 10.0, optional=True, names=("clip_grad_norm",))),
                kw("record_every", count(1, 5, maximum=2**62, none_too=True, names=("record_every",))),
                kw("tol", Real(lambda c: pick(c, [None, 1e-3]), domain="nonneg", optional=True, names=("tol",))),
                kw("max_loss", pos_real(1e3, 1e6, optional=True, names=("max_loss",))),
                kw("sharpness_every", count(1, 5, maximum=2**62, none_too=True, names=("sharpness_every",))),
                kw("sharpness_tol", pos_real(1e-10, 1e-6, names=("sharpness_tol",))),
                kw("test", TestPair()),
                kw("y_clean", Array(y_clean, optional=True, names=("y_clean",))),
                kw("rare_share", Real(lambda c: pick(c, [0.1, 0.5]), domain="nonneg", names=("rare_share",))),
                kw("kernel", KERNEL),
                kw("n_threads", THREADS),
                kw("progress", Flag(names=("progress",))),
            ],
            check_train,
        ),
        Entry(
            "flatcore.History.__getitem__",
            method("[]"),
            [history, pos("name", column)],
            lambda r, c, p: r.array("", (5,), dtype=None),
            raises=("KeyError",),  # the mapping protocol: an unknown column is a KeyError naming it
            nan_ok=lambda p: p.get("name") == "sharpness",  # NaN where the sharpness was not computed
        ),
        Entry(
            "flatcore.History.__contains__",
            method("in"),
            [history, pos("name", Lenient(column))],
            lambda r, c, p: r.bool(""),
        ),
        Entry("flatcore.History.__len__", method("len"), [history], lambda r, c, p: r.int("")),
        Entry("flatcore.History.to_pandas", method("to_pandas"), [history], None),
        Entry("flatcore.History.to_dict", method("to_dict"), [history], None),
    ]


def _threads():
    return [
        Entry("flatcore.get_num_threads", "flatcore.get_num_threads", [], lambda r, c, p: r.int("")),
        Entry("flatcore.max_num_threads", "flatcore.max_num_threads", [], lambda r, c, p: r.int("")),
        Entry("flatcore.set_num_threads", "flatcore.set_num_threads", [pos("n_threads", THREADS)], None),
        Entry("flatcore.threads_lost_to_fork", "flatcore.threads_lost_to_fork", [], lambda r, c, p: r.bool("")),
    ]


def _laws():
    d = Int(lambda c: c.d, minimum=1, names=("d",))
    radius = pos_real(0.5, 1.0, 3.0, names=("radius",))
    n = count(1, 10, names=("n",))

    def mixture_arrays(c):
        k = pick(c, [1, 2, 3], "components")
        dim_ = pick(c, range(1, c.d + 1), "dim")
        bases = np.stack([orthonormal_rows(c, dim_, c.d) for _ in range(k)])
        centers = c.rng.uniform(-0.5, 0.5, size=(k, c.d))
        c.values["_mixture"] = (centers, bases, np.full(k, 0.5), np.full(k, 1.0 / k))

    mixture = ("centers", "bases", "radii", "weights")

    def part(i):
        def make(c):
            if "_mixture" not in c.values:
                mixture_arrays(c)
            return c.values["_mixture"][i]

        return make

    entries = [
        Entry("flatcore.data.UniformBall", "flatcore.data.UniformBall", [pos("d", d), kw("radius", radius)], check_law),
        Entry("flatcore.data.UniformSphere", "flatcore.data.UniformSphere", [pos("d", d)], check_law),
        Entry("flatcore.data.Gaussian", "flatcore.data.Gaussian", [pos("d", d)], check_law),
        Entry(
            "flatcore.data.Radial",
            "flatcore.data.Radial",
            [pos("d", d), pos("alpha", pos_real(0.3, 1.0, 5.0, names=("alpha",)))],
            check_law,
        ),
        Entry(
            "flatcore.data.BallMixture",
            "flatcore.data.BallMixture",
            [
                # the four must agree on k (and bases with centers on d): a message about a mismatch
                # may name either side
                pos("centers", Array(part(0), ndims=(2,), names=mixture)),
                pos("bases", Array(part(1), ndims=(3,), domain="orthonormal", names=mixture)),
                pos("radii", Array(part(2), ndims=(0, 1), domain="pos", names=mixture)),
                pos("weights", Array(part(3), ndims=(0, 1), domain="nonneg", names=mixture)),
            ],
            check_law,
        ),
        Entry(
            "flatcore.data.BallMixture.random",
            "flatcore.data.BallMixture.random",
            [
                pos("d", d),
                pos("n_components", count(1, 4, names=("n_components",))),
                kw("dim", Int(lambda c: pick(c, range(1, c.d + 1)), minimum=1, names=("dim",))),
                kw("radius", radius),
                kw("center_scale", Real(lambda c: pick(c, [0.0, 0.5]), domain="nonneg", names=("center_scale",))),
                kw("seed", Seed()),
            ],
            check_law,
        ),
        Entry(
            "flatcore.data.uniform_ball",
            "flatcore.data.uniform_ball",
            [pos("n", n), pos("d", d), kw("seed", Seed()), kw("radius", radius)],
            lambda r, c, p: r.array("", (int(p["n"]), int(p["d"]))),
        ),
    ]
    receivers = {
        "UniformBall": law_receiver("flatcore.data.UniformBall"),
        "UniformSphere": law_receiver("flatcore.data.UniformSphere"),
        "Gaussian": law_receiver("flatcore.data.Gaussian"),
        "Radial": law_receiver("flatcore.data.Radial", alpha=0.5),
        "BallMixture": Fixed(
            lambda c: (
                c.values.__setitem__("self_d", c.d),
                Build("flatcore.data.BallMixture.random", (c.d, 2), {"dim": 1, "seed": 3}),
            )[1]
        ),
    }
    t = Array(thresholds, shape="free", ndims=tuple(range(0, 33)), empty_ok=True, names=("t",))
    for name, receiver in receivers.items():
        entries.append(
            Entry(
                f"flatcore.data.{name}.sample",
                method("sample"),
                [this(receiver), pos("n", n), kw("seed", Seed())],
                check_sample,
            )
        )
        if name != "BallMixture":
            entries.append(
                Entry(
                    f"flatcore.data.{name}.marginal_tail",
                    method("marginal_tail"),
                    [this(receiver), pos("t", t)],
                    check_marginal,
                )
            )
    return entries


def _targets():
    d = Int(lambda c: c.d, minimum=1, names=("d",))
    law_spec = Choice(
        ("uniform_ball", "uniform_sphere", "gaussian"), names=("spec",)
    )  # laws without required parameters
    direction = Array(lambda c: c.rng.standard_normal(c.d), domain="nonzero", optional=True, names=("direction",))
    tseed = kw("seed", Seed("target"))
    link = Choice(("relu", "abs", "tanh", "sin", "square"), names=("link",))

    def k_valid(c):
        return pick(c, range(1, c.d + 1), "k")

    def basis_valid(c):
        if pick(c, [True, False], "with basis"):
            k = int(c.values.get("k", 1))
            return orthonormal_rows(c, k, c.d)
        return None

    def multi_fixup(values, c):
        if values.get("basis") is not None:
            values["basis"] = orthonormal_rows(c, int(values.get("k", 1)), c.d)

    constructors = {
        "Linear": [pos("d", d), kw("direction", direction), tseed],
        "SingleIndex": [pos("d", d), kw("link", link), kw("direction", direction), tseed],
        "MultiIndex": [
            pos("d", d),
            kw("k", Int(k_valid, minimum=1, names=("k",))),
            kw("link", link),
            kw("combine", Choice(("sum", "product"), names=("combine",))),
            kw("basis", Array(basis_valid, ndims=(2,), domain="orthonormal", optional=True, names=("basis",))),
            tseed,
        ],
        "RandomReLU": [
            pos("d", d),
            kw("rate", pos_real(1.0, 3.0, 10.0, names=("rate",))),
            kw("radius", pos_real(0.5, 1.0, names=("radius",))),
            tseed,
        ],
        "SmoothRadial": [pos("d", d), kw("frequency", pos_real(0.5, 1.0, 2.0, names=("frequency",)))],
        "Hoelder": [
            pos("d", d),
            kw("exponent", pos_real(0.25, 0.5, 1.0, hi=1.0, names=("exponent",))),
            kw("direction", direction),
            tseed,
        ],
        "Smooth": [pos("d", d)],
    }

    def seed_beside(given):
        return lambda values, name: name == "seed" and values.get(given) is not None

    fixups = {"MultiIndex": multi_fixup}
    unused = {
        "Linear": seed_beside("direction"),
        "SingleIndex": seed_beside("direction"),
        "Hoelder": seed_beside("direction"),
        "MultiIndex": seed_beside("basis"),
    }
    entries = []
    for name, params in constructors.items():
        path = f"flatcore.data.{name}"
        entries.append(Entry(path, path, params, check_target_object, fixup=fixups.get(name), unused=unused.get(name)))
        entries.append(
            Entry(
                f"{path}.__call__",
                method("__call__"),
                [this(target_receiver(path)), pos("X", X_ANY_ROWS)],
                check_target_values,
            )
        )
    target_kind = Choice(("smooth", "linear"), names=("target_kind",))
    entries += [
        Entry(
            "flatcore.data.draw",
            "flatcore.data.draw",
            [
                pos("law", Law()),
                pos("target", Target()),
                pos("n", count(1, 10, names=("n",))),
                kw("n_test", count(1, 10, names=("n_test",))),
                kw("noise", Real(lambda c: pick(c, [0.0, 0.3]), domain="nonneg", names=("noise",))),
                kw("seed", Seed()),
            ],
            check_dataset,
        ),
        Entry(
            "flatcore.data.target",
            "flatcore.data.target",
            [
                pos("X", Array(X_, shape="free", ndims=(2,), empty_ok=True, names=("X",))),
                kw("target_kind", target_kind),
            ],
            lambda r, c, p: r.array("", (shape_of(p["X"])[0],)),
        ),
        Entry(
            "flatcore.data.canonical_spec",
            "flatcore.data.canonical_spec",
            [pos("spec", law_spec)],
            lambda r, c, p: r.top == "dict",
        ),
        Entry(
            "flatcore.data.spec_label",
            "flatcore.data.spec_label",
            [pos("spec", law_spec)],
            lambda r, c, p: r.top == "str",
        ),
        Entry(
            "flatcore.data.law_from_spec",
            "flatcore.data.law_from_spec",
            [pos("spec", law_spec), pos("d", d)],
            check_law,
        ),
        Entry(
            "flatcore.data.target_from_spec",
            "flatcore.data.target_from_spec",
            [
                pos("spec", Choice(("linear", "single_index", "smooth_radial", "hoelder", "smooth"), names=("spec",))),
                pos("d", d),
            ],
            lambda r, c, p: r.top in ("Linear", "SingleIndex", "SmoothRadial", "Hoelder", "Smooth"),
        ),
        Entry(
            "flatcore.data.regression",
            "flatcore.data.regression",
            [
                pos("n", count(1, 10, names=("n",))),
                pos("d", d),
                kw("target_kind", target_kind),
                kw("noise", Real(lambda c: pick(c, [0.0, 0.1]), domain="nonneg", names=("noise",))),
                kw("seed", Seed()),
            ],
            check_regression,
        ),
    ]
    return entries


def _theory():
    d = Int(lambda c: c.d, minimum=1, names=("d",))
    t = Array(thresholds, shape="free", ndims=tuple(range(0, 33)), empty_ok=True, names=("t",))

    def directions(c):
        if pick(c, [True, False], "one direction"):
            return unit(c)
        return unit(c, pick(c, [1, 3], "directions"))

    def t_for_u(c):
        u = c.values.get("u")
        if u is not None and np.ndim(u) == 2:
            return c.rng.uniform(-1.5, 1.5, size=u.shape[0])
        return thresholds(c)

    # u: one direction (d,) or m of them (m, d); another d or m is another valid question
    u = Array(directions, shape="free", ndims=(1, 2), domain="unit", empty_ok=True, names=("u",))
    t_u = Array(t_for_u, shape="free", ndims=tuple(range(0, 33)), empty_ok=True, names=("t",))
    population = [
        pos("u", u),
        pos("t", t_u),
        kw("law", Law(optional=True)),
        kw("method", Choice(("auto", "monte_carlo"), names=("method",))),
        kw("n_samples", count(2, 200, minimum=2, names=("n_samples",))),
        kw("seed", Seed()),
    ]
    samples = Array(X_, shape="free", ndims=(1, 2), names=("X", "u", "data"))  # X's d must match u's
    empirical = [pos("X", samples), pos("u", u), pos("t", t_u)]
    vg = [
        pos("net", NET),
        kw("X", Array(X_, shape="free", ndims=(1, 2), optional=True, names=("X",))),
        kw("law", Law(optional=True)),
        kw("n_samples", count(2, 200, minimum=2, names=("n_samples",))),
        kw("seed", Seed()),
    ]

    def vg_fixup(values, c):
        if values.get("X") is not None and values.get("law") is not None:
            del values["law"]
        values.setdefault("n_samples", 100)

    def population_fixup(values, c):
        values.setdefault("n_samples", 100)

    def seed_unused(values, name):
        """The seed goes to law.sample, which the marginal route (an isotropic law) never calls."""
        law = values.get("law")
        isotropic = law is None or (hasattr(law, "target") and law.target != "flatcore.data.BallMixture.random")
        marginal = values.get("method", "auto") == "auto" and isotropic
        # a user's law takes whatever seed it likes: flatcore hands it on unread
        return name == "seed" and (values.get("X") is not None or marginal or isinstance(law, UserLaw))

    def alpha_valid(c):
        if pick(c, [True, False], "scalar alpha"):
            return float(pick(c, [0.5, 2.0]))
        return c.rng.uniform(0.5, 2.0, size=c.width)

    data = [pos("net", NET), pos("X", X), pos("y", Y)]
    return [
        Entry(
            "flatcore.theory.gtilde_uniform_ball",
            "flatcore.theory.gtilde_uniform_ball",
            [pos("t", t), pos("d", d)],
            check_g_closed,
        ),
        Entry(
            "flatcore.theory.g_uniform_ball",
            "flatcore.theory.g_uniform_ball",
            [pos("t", t), pos("d", d)],
            check_g_closed,
        ),
        Entry("flatcore.theory.gtilde_empirical", "flatcore.theory.gtilde_empirical", empirical, check_g_values),
        Entry("flatcore.theory.g_empirical", "flatcore.theory.g_empirical", empirical, check_g_values),
        Entry(
            "flatcore.theory.gtilde_population",
            "flatcore.theory.gtilde_population",
            population,
            check_population,
            fixup=population_fixup,
            unused=seed_unused,
        ),
        Entry(
            "flatcore.theory.g_population",
            "flatcore.theory.g_population",
            population,
            check_population,
            fixup=population_fixup,
            unused=seed_unused,
        ),
        Entry("flatcore.theory.path_norm", "flatcore.theory.path_norm", [pos("net", NET)], float_result),
        Entry(
            "flatcore.theory.vg_contributions",
            "flatcore.theory.vg_contributions",
            vg,
            per_neuron,
            fixup=vg_fixup,
            unused=seed_unused,
        ),
        Entry(
            "flatcore.theory.vg_norm", "flatcore.theory.vg_norm", vg, float_result, fixup=vg_fixup, unused=seed_unused
        ),
        Entry(
            "flatcore.theory.stability_inequality",
            "flatcore.theory.stability_inequality",
            [
                *data,
                kw("lambda_max", Real(lambda c: pick(c, [None, 1.0, 5.0]), optional=True, names=("lambda_max",))),
                kw("loss", LOSS),
            ],
            lambda r, c, p: (r.obj("", "StabilityInequality"), r.array(".terms", (c.width,)), r.bool(".holds")),
        ),
        Entry(
            "flatcore.theory.stability_bound",
            "flatcore.theory.stability_bound",
            [*data, pos("lr", pos_real(0.01, 0.5, names=("lr",))), kw("loss", LOSS)],
            lambda r, c, p: (r.obj("", "StabilityBound"), r.float(".bound"), r.bool(".holds")),
        ),
        Entry(
            "flatcore.theory.rescale",
            "flatcore.theory.rescale",
            [pos("net", NET), pos("alpha", Array(alpha_valid, ndims=(0, 1), domain="pos", names=("alpha",)))],
            the_network,
        ),
        Entry(
            "flatcore.theory.min_trace",
            "flatcore.theory.min_trace",
            [
                pos("net", NET),
                pos("X", X_ROWS),
                kw("y", Array(y_, ndims=(1, 2), optional=True, names=("y",))),
                kw("loss", LOSS),
                kw("n_threads", THREADS),
            ],
            float_result,
        ),
        Entry(
            "flatcore.theory.balance_for_min_trace",
            "flatcore.theory.balance_for_min_trace",
            [pos("net", NET), pos("X", X_ROWS), kw("n_threads", THREADS)],
            the_network,
        ),
        Entry(
            "flatcore.theory.boundary_packing",
            "flatcore.theory.boundary_packing",
            [
                pos("d", d),
                pos("eps", pos_real(0.05, 0.3, 1.0, hi=1.0, names=("eps",))),
                kw("amplitude", pos_real(0.5, 1.0, names=("amplitude",))),
                kw(
                    "signs",
                    Array(lambda c: None, domain="pm1", optional=True, names=("signs",), fallback=lambda c: np.ones(3)),
                ),
                kw("max_neurons", count(1, 20, names=("max_neurons",))),
                kw("n_candidates", count(1, 200, none_too=True, names=("n_candidates",))),
                kw("seed", Seed()),
            ],
            check_packing,
        ),
    ]


CATALOG: list[Entry] = [
    *_network(),
    *_numerics(),
    *_spectrum(),
    *_training(),
    *_threads(),
    *_laws(),
    *_targets(),
    *_theory(),
]
ENTRIES = {e.name: e for e in CATALOG}
assert len(ENTRIES) == len(CATALOG), "duplicate entry names"


# =================================================================================================
# Building a call
# =================================================================================================
def valid_values(entry: Entry, c: Ctx) -> dict:
    """Valid values for the entry's parameters; optional ones are passed or not as drawn."""
    values = c.values
    for p in entry.params:
        if p.optional and not c.draw(st.booleans(), label=f"pass {p.name}"):
            continue
        value = p.kind.valid(c)
        if value is None and p.optional:
            continue
        values[p.name] = value
    if entry.fixup is not None:
        entry.fixup(values, c)
    return values


def build_call(entry: Entry, passed: dict, label: str):
    from .spec import Call

    target = entry.target(passed) if callable(entry.target) else entry.target
    args, kwargs = [], {}
    for p in entry.params:
        if p.name == "self" or p.name not in passed:
            continue
        if p.positional and not p.optional:
            args.append(passed[p.name])
        else:
            kwargs[p.name] = passed[p.name]
    return Call(entry.name, target, tuple(args), kwargs, label)
