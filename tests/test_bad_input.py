"""Bad input: a Python exception that names the argument and the
problem; never a crash, a hang or a silent NaN. And input that is merely unusual (non-contiguous,
Fortran-ordered, integer, float32, read-only, lists) is accepted and gives exactly the result of
its float64 C-contiguous copy."""

from __future__ import annotations

import os

import numpy as np
import pytest

import flatcore as fc
from conftest import make_problem

# Every public function that looks at data, as f(net, X, y, u).
FUNCS = {
    "predict": lambda net, X, y, u, **kw: fc.predict(net, X, **kw),
    "Network.__call__": lambda net, X, y, u, **kw: net(X, **kw),
    "loss": lambda net, X, y, u, **kw: fc.loss(net, X, y, **kw),
    "gradient": lambda net, X, y, u, **kw: fc.gradient(net, X, y, **kw),
    "loss_and_gradient": lambda net, X, y, u, **kw: fc.loss_and_gradient(net, X, y, **kw),
    "hessian": lambda net, X, y, u, **kw: fc.hessian(net, X, y, **kw),
    "hvp": lambda net, X, y, u, **kw: fc.hvp(net, X, y, u, **kw),
    "hessian_trace": lambda net, X, y, u, **kw: fc.hessian_trace(net, X, y, **kw),
    "trace_per_neuron": lambda net, X, y, u, **kw: fc.trace_per_neuron(net, X, **kw),
    "train": lambda net, X, y, u, **kw: fc.train(net, X, y, lr=0.05, steps=3, **kw),
}
WITH_Y = [k for k in FUNCS if k not in ("predict", "Network.__call__", "trace_per_neuron")]
WITH_NET_ARG = [k for k in FUNCS if k != "Network.__call__"]
WITH_PART = {
    "hessian": lambda net, X, y, u, part: fc.hessian(net, X, y, part=part),
    "hvp": lambda net, X, y, u, part: fc.hvp(net, X, y, u, part=part),
    "hessian_trace": lambda net, X, y, u, part: fc.hessian_trace(net, X, y, part=part),
}


@pytest.fixture
def pb():
    p = make_problem(20, 3, 5, seed=0)
    u = np.random.default_rng(1).standard_normal(p.net.n_params)
    return p.net, p.X, p.y, u


def as_tuple(result):
    """A comparable flat view of any function's result."""
    if isinstance(result, fc.TrainResult):
        h = result.history
        return np.concatenate(
            [result.net.params(), [result.final_loss, result.final_grad_norm]]
            + [np.asarray(h[c], dtype=float) for c in h.columns]
        )
    if isinstance(result, tuple):
        return np.concatenate([np.atleast_1d(np.asarray(r, dtype=float)).ravel() for r in result])
    return np.atleast_1d(np.asarray(result, dtype=float)).ravel()


# -------------------------------------------------------------------------------------------------
# NaN and Inf
# -------------------------------------------------------------------------------------------------
@pytest.mark.parametrize("bad", [np.nan, np.inf, -np.inf])
@pytest.mark.parametrize("fn", list(FUNCS))
def test_nonfinite_X(fn, bad, pb):
    """NaN/Inf anywhere in X: ValueError naming X."""
    net, X, y, u = pb
    X = X.copy()
    X[7, 2] = bad
    with pytest.raises(ValueError, match=r"X contains NaN or Inf.*\(7, 2\)"):
        FUNCS[fn](net, X, y, u)


@pytest.mark.parametrize("bad", [np.nan, np.inf, -np.inf])
@pytest.mark.parametrize("fn", WITH_Y)
def test_nonfinite_y(fn, bad, pb):
    """NaN/Inf in y: ValueError naming y."""
    net, X, y, u = pb
    y = y.copy()
    y[-1] = bad
    with pytest.raises(ValueError, match="y contains NaN or Inf"):
        FUNCS[fn](net, X, y, u)


@pytest.mark.parametrize("bad", [np.nan, np.inf])
@pytest.mark.parametrize("name", ["W", "b", "v"])
def test_nonfinite_parameters_at_construction(name, bad, pb):
    """Network(W, b, v, beta) refuses NaN/Inf in W, b or v, naming the argument."""
    net = pb[0]
    args = {"W": net.W.copy(), "b": net.b.copy(), "v": net.v.copy(), "beta": net.beta}
    args[name].flat[0] = bad
    with pytest.raises(ValueError, match=f"{name} contains NaN or Inf"):
        fc.Network(**args)


@pytest.mark.parametrize("bad", [np.nan, np.inf, -np.inf, np.float64("nan")])
def test_nonfinite_beta_at_construction(bad, pb):
    net = pb[0]
    with pytest.raises(ValueError, match="beta must be finite"):
        fc.Network(net.W, net.b, net.v, bad)


@pytest.mark.parametrize("fn", list(FUNCS))
@pytest.mark.parametrize("name", ["W", "b", "v", "beta"])
def test_nonfinite_parameters_edited_in_place(name, fn, pb):
    """Parameters are plain arrays a user may edit: NaN put in afterwards is caught by every
    function, naming the parameter."""
    net, X, y, u = pb
    net = net.copy()
    if name == "beta":
        net.beta = float("nan")
        pattern = "beta must be finite"
    else:
        getattr(net, name).flat[-1] = np.inf
        pattern = f"{name} contains NaN or Inf"
    with pytest.raises(ValueError, match=pattern):
        FUNCS[fn](net, X, y, u)


@pytest.mark.parametrize("bad", [np.nan, np.inf])
def test_nonfinite_u(bad, pb):
    net, X, y, u = pb
    u = u.copy()
    u[3] = bad
    with pytest.raises(ValueError, match="u contains NaN or Inf"):
        fc.hvp(net, X, y, u)


def test_nonfinite_theta(pb):
    net = pb[0]
    theta = net.params()
    theta[0] = np.nan
    with pytest.raises(ValueError, match="theta contains NaN or Inf"):
        fc.Network.from_params(theta, net.d, net.width)


# -------------------------------------------------------------------------------------------------
# Shapes
# -------------------------------------------------------------------------------------------------
@pytest.mark.parametrize("fn", list(FUNCS))
def test_X_wrong_number_of_columns(fn, pb):
    net, X, y, u = pb
    with pytest.raises(ValueError, match=r"X has 4 columns.*d = 3"):
        FUNCS[fn](net, np.hstack([X, X[:, :1]]), y, u)


@pytest.mark.parametrize("fn", list(FUNCS))
def test_X_wrong_ndim(fn, pb):
    net, X, y, u = pb
    with pytest.raises(ValueError, match="X must be"):
        FUNCS[fn](net, X[None], y, u)
    with pytest.raises(ValueError, match="X must be 2-dimensional"):  # 1-D only when d = 1
        FUNCS[fn](net, X[:, 0], y, u)
    with pytest.raises(ValueError, match="X must be"):
        FUNCS[fn](net, 1.0, y, u)


@pytest.mark.parametrize("fn", WITH_Y)
def test_y_wrong_length(fn, pb):
    net, X, y, u = pb
    with pytest.raises(ValueError, match="y has 19 entries but X has 20 rows"):
        FUNCS[fn](net, X, y[:-1], u)


@pytest.mark.parametrize("fn", WITH_Y)
def test_y_wrong_ndim(fn, pb):
    net, X, y, u = pb
    with pytest.raises(ValueError, match="y must be 1-dimensional"):
        FUNCS[fn](net, X, np.column_stack([y, y]), u)
    with pytest.raises(ValueError, match="y must be"):
        FUNCS[fn](net, X, y[None, None], u)


def test_parameter_shapes_at_construction():
    W = np.ones((4, 3))
    with pytest.raises(ValueError, match=r"b must have shape \(width,\) = \(4,\)"):
        fc.Network(W, np.ones(3), np.ones(4), 0.0)
    with pytest.raises(ValueError, match=r"v must have shape \(width,\) = \(4,\)"):
        fc.Network(W, np.ones(4), np.ones(5), 0.0)
    with pytest.raises(ValueError, match="W must be 2-dimensional"):
        fc.Network(np.ones(4), np.ones(4), np.ones(4), 0.0)
    with pytest.raises(ValueError, match="b must be 1-dimensional"):
        fc.Network(W, np.ones((4, 1)), np.ones(4), 0.0)
    with pytest.raises(TypeError, match="beta must be a real number"):
        fc.Network(W, np.ones(4), np.ones(4), np.ones(2))


@pytest.mark.parametrize("fn", list(FUNCS))
def test_parameter_shapes_edited_in_place(fn, pb):
    """A network whose b was replaced by an array of the wrong length is refused by every call."""
    net, X, y, u = pb
    net = net.copy()
    net.b = np.zeros(net.width + 1)
    with pytest.raises(ValueError, match=r"b and v must have shape"):
        FUNCS[fn](net, X, y, u)


def test_u_wrong_length_or_ndim(pb):
    net, X, y, u = pb
    with pytest.raises(ValueError, match=f"u has {u.size - 1} entries; the network has P = {u.size}"):
        fc.hvp(net, X, y, u[:-1])
    with pytest.raises(ValueError, match="u must be 1-dimensional"):
        fc.hvp(net, X, y, u[None, :])


def test_theta_wrong_length(pb):
    net = pb[0]
    theta = net.params()
    with pytest.raises(ValueError, match=f"theta has {theta.size + 1} entries.*{theta.size} expected"):
        fc.Network.from_params(np.append(theta, 0.0), net.d, net.width)
    with pytest.raises(ValueError, match="theta has"):
        fc.Network.from_params(theta, net.d + 1, net.width)
    with pytest.raises(ValueError, match="theta must be 1-dimensional"):
        fc.Network.from_params(theta[None, :], net.d, net.width)


# -------------------------------------------------------------------------------------------------
# Types
# -------------------------------------------------------------------------------------------------
@pytest.mark.parametrize("dtype", [np.complex128, object, "U3"])
@pytest.mark.parametrize("fn", list(FUNCS))
def test_X_bad_dtype(fn, dtype, pb):
    """complex, object and string X: TypeError naming X."""
    net, X, y, u = pb
    with pytest.raises(TypeError, match="X must hold real numbers"):
        FUNCS[fn](net, X.astype(dtype), y, u)


@pytest.mark.parametrize("dtype", [np.complex128, object])
@pytest.mark.parametrize("fn", WITH_Y)
def test_y_bad_dtype(fn, dtype, pb):
    net, X, y, u = pb
    with pytest.raises(TypeError, match="y must hold real numbers"):
        FUNCS[fn](net, X, y.astype(dtype), u)


def test_complex_dtype_message_suggests_real_part(pb):
    net, X, y, _u = pb
    with pytest.raises(TypeError, match="real part"):
        fc.loss(net, X + 0j, y)


@pytest.mark.parametrize("dtype", [np.complex128, object])
@pytest.mark.parametrize("name", ["W", "b", "v"])
def test_parameters_bad_dtype(name, dtype, pb):
    net = pb[0]
    args = {"W": net.W, "b": net.b, "v": net.v, "beta": net.beta}
    args[name] = args[name].astype(dtype)
    with pytest.raises(TypeError, match=f"{name} must hold real numbers"):
        fc.Network(**args)


@pytest.mark.parametrize("beta", [1 + 2j, "0.5", None, [0.5], True])
def test_beta_bad_type(beta, pb):
    net = pb[0]
    with pytest.raises(TypeError, match="beta must be a real number"):
        fc.Network(net.W, net.b, net.v, beta)


def test_u_and_theta_bad_dtype(pb):
    net, X, y, u = pb
    with pytest.raises(TypeError, match="u must hold real numbers"):
        fc.hvp(net, X, y, u.astype(complex))
    with pytest.raises(TypeError, match="u must hold real numbers"):
        fc.hvp(net, X, y, u.astype(object))
    with pytest.raises(TypeError, match="theta must hold real numbers"):
        fc.Network.from_params(net.params().astype(complex), net.d, net.width)


def test_ragged_list(pb):
    net, _X, _y, _u = pb
    with pytest.raises(TypeError, match="X must be an array of real numbers"):
        fc.loss(net, [[1.0, 2.0, 3.0], [1.0]], [0.0, 0.0])


@pytest.mark.parametrize("fn", WITH_NET_ARG)
def test_net_not_a_network(fn, pb):
    """Anything but a Network as net: TypeError naming net."""
    net, X, y, u = pb
    with pytest.raises(TypeError, match=r"net must be a flatcore\.Network"):
        FUNCS[fn](net.params(), X, y, u)


# -------------------------------------------------------------------------------------------------
# Empty data, zero width
# -------------------------------------------------------------------------------------------------
@pytest.mark.parametrize("fn", list(FUNCS))
def test_empty_data(fn, pb):
    """0 rows: ValueError naming X (the loss is an average over no points)."""
    net, X, y, u = pb
    with pytest.raises(ValueError, match="X has no rows"):
        FUNCS[fn](net, X[:0], y[:0], u)


def test_zero_width_or_dimension():
    with pytest.raises(ValueError, match="W must have at least one neuron and one input"):
        fc.Network(np.zeros((0, 3)), np.zeros(0), np.zeros(0), 0.0)
    with pytest.raises(ValueError, match="W must have at least one neuron and one input"):
        fc.Network(np.zeros((3, 0)), np.zeros(3), np.zeros(3), 0.0)
    with pytest.raises(ValueError, match="width must be at least 1"):
        fc.Network.init(3, 0)
    with pytest.raises(ValueError, match="d must be at least 1"):
        fc.Network.init(0, 3)
    with pytest.raises(ValueError, match="width must be at least 1"):
        fc.Network.from_params(np.zeros(1), 3, 0)
    with pytest.raises(ValueError, match="d must be at least 1"):
        fc.Network.from_params(np.zeros(7), 0, 3)
    with pytest.raises(TypeError, match="width must be an integer"):
        fc.Network.init(3, 2.5)


def test_bad_init_scheme():
    with pytest.raises(ValueError, match="scheme must be one of"):
        fc.Network.init(3, 4, scheme="xavier")


# -------------------------------------------------------------------------------------------------
# Training arguments
# -------------------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    "kwargs,exc,pattern",
    [
        (dict(lr=0.0), ValueError, "lr must be positive"),
        (dict(lr=-0.1), ValueError, "lr must be positive"),
        (dict(lr=np.inf), ValueError, "lr must be finite"),
        (dict(lr=np.nan), ValueError, "lr must be finite"),
        (dict(lr="0.1"), TypeError, "lr must be a real number"),
        (dict(lr=None), TypeError, "lr must be a real number"),
        (dict(lr=True), TypeError, "lr must be a real number"),
        (dict(lr=1 + 0j), TypeError, "lr must be a real number"),
        (dict(steps=-1), ValueError, "steps must be at least 0"),
        (dict(steps=2.5), TypeError, "steps must be an integer"),
        (dict(steps="10"), TypeError, "steps must be an integer"),
        (dict(steps=np.nan), TypeError, "steps must be an integer"),
        (dict(weight_decay=-1e-3), ValueError, "weight_decay must be non-negative"),
        (dict(weight_decay=np.nan), ValueError, "weight_decay must be finite"),
        (dict(weight_decay=np.inf), ValueError, "weight_decay must be finite"),
        (dict(clip_grad_norm=0.0), ValueError, "clip_grad_norm must be positive"),
        (dict(clip_grad_norm=-1.0), ValueError, "clip_grad_norm must be positive"),
        (dict(clip_grad_norm=np.nan), ValueError, "clip_grad_norm must be finite"),
        (dict(record_every=0), ValueError, "record_every must be at least 1"),
        (dict(record_every=1.5), TypeError, "record_every must be an integer"),
        (dict(tol=-1.0), ValueError, "tol must be non-negative"),
        (dict(tol=np.nan), ValueError, "tol must be finite"),
        (dict(max_loss=0.0), ValueError, "max_loss must be positive"),
        (dict(max_loss=np.inf), ValueError, "max_loss must be finite"),
        (dict(n_threads=0), ValueError, "n_threads must be at least 1"),
        (dict(n_threads=-2), ValueError, "n_threads must be at least 1"),
        (dict(n_threads=1.5), TypeError, "n_threads must be an integer"),
    ],
)
def test_train_bad_arguments(kwargs, exc, pattern, pb):
    net, X, y, _u = pb
    args = dict(lr=0.1, steps=5)
    args.update(kwargs)
    with pytest.raises(exc, match=pattern):
        fc.train(net, X, y, **args)


def test_train_accepts_numpy_scalars_and_integral_floats(pb):
    """lr as np.float32/0-d array, steps as np.int64 or 3.0: accepted, same result."""
    net, X, y, _u = pb
    a = fc.train(net, X, y, lr=0.125, steps=3)
    b = fc.train(net, X, y, lr=np.array(0.125), steps=np.int64(3))
    c = fc.train(net, X, y, lr=np.float32(0.125), steps=3.0)
    assert a.net == b.net == c.net


# -------------------------------------------------------------------------------------------------
# Hessian arguments and thread counts
# -------------------------------------------------------------------------------------------------
@pytest.mark.parametrize("part", ["Full", "gn", "", "gauss-newton", None])
@pytest.mark.parametrize("fn", list(WITH_PART))
def test_bad_part(fn, part, pb):
    net, X, y, u = pb
    with pytest.raises(ValueError, match="part must be one of"):
        WITH_PART[fn](net, X, y, u, part)


@pytest.mark.parametrize(
    "max_bytes,exc,pattern",
    [
        (0, ValueError, "max_bytes must be positive"),
        (-5, ValueError, "max_bytes must be positive"),
        (np.nan, ValueError, "max_bytes must be finite"),
        ("1GB", TypeError, "max_bytes must be a real number"),
    ],
)
def test_bad_max_bytes(max_bytes, exc, pattern, pb):
    net, X, y, _u = pb
    with pytest.raises(exc, match=pattern):
        fc.hessian(net, X, y, max_bytes=max_bytes)


@pytest.mark.parametrize("n_threads,exc", [(0, ValueError), (-1, ValueError), (1.5, TypeError), ("2", TypeError)])
@pytest.mark.parametrize("fn", list(FUNCS))
def test_bad_n_threads(fn, n_threads, exc, pb):
    net, X, y, u = pb
    with pytest.raises(exc, match="n_threads must be"):
        FUNCS[fn](net, X, y, u, n_threads=n_threads)


def test_bad_set_num_threads():
    with pytest.raises(ValueError, match="n_threads must be at least 1"):
        fc.set_num_threads(0)
    with pytest.raises(TypeError, match="n_threads must be an integer"):
        fc.set_num_threads("4")


def test_bad_environment_thread_count(monkeypatch):
    monkeypatch.setenv("FLATCORE_NUM_THREADS", "many")
    fc.set_num_threads(None)
    with pytest.raises(ValueError, match="FLATCORE_NUM_THREADS"):
        fc.get_num_threads()


# -------------------------------------------------------------------------------------------------
# Unusual but valid input: same result as the float64 C-contiguous copy
# -------------------------------------------------------------------------------------------------
def _variants_of_X(X):
    wide = np.repeat(X, 2, axis=1)
    wide[:, 1::2] = -7.0
    yield "strided columns", wide[:, ::2]
    tall = np.repeat(X, 3, axis=0)
    yield "strided rows", tall[::3]
    yield "Fortran order", np.asfortranarray(X)
    yield "float32", X.astype(np.float32)
    yield "big-endian", X.astype(">f8")
    yield "list", X.tolist()
    ro = X.copy()
    ro.setflags(write=False)
    yield "read-only", ro


@pytest.mark.parametrize("fn", list(FUNCS))
def test_unusual_X_gives_same_result(fn, pb):
    net, X, y, u = pb
    for name, Xv in _variants_of_X(X):
        expected = as_tuple(FUNCS[fn](net, np.ascontiguousarray(np.asarray(Xv, dtype=np.float64)), y, u))
        np.testing.assert_array_equal(as_tuple(FUNCS[fn](net, Xv, y, u)), expected, err_msg=name)


@pytest.mark.parametrize("fn", list(FUNCS))
def test_integer_and_bool_data_give_same_result(fn, pb):
    net, X, y, u = pb
    Xi = np.rint(3 * X).astype(np.int64)
    yi = np.rint(3 * y).astype(np.int32)
    expected = as_tuple(FUNCS[fn](net, Xi.astype(float), yi.astype(float), u))
    np.testing.assert_array_equal(as_tuple(FUNCS[fn](net, Xi, yi, u)), expected)
    Xb = X > 0
    expected = as_tuple(FUNCS[fn](net, Xb.astype(float), y, u))
    np.testing.assert_array_equal(as_tuple(FUNCS[fn](net, Xb, y, u)), expected)


@pytest.mark.parametrize("fn", WITH_Y)
def test_unusual_y_gives_same_result(fn, pb):
    net, X, y, u = pb
    expected = as_tuple(FUNCS[fn](net, X, y, u))
    for yv in (np.repeat(y, 2)[::2], y.astype(">f8"), y.tolist(), y[:, None], np.asfortranarray(y[:, None])):
        np.testing.assert_array_equal(as_tuple(FUNCS[fn](net, X, yv, u)), expected)


def test_unusual_u_gives_same_result(pb):
    net, X, y, u = pb
    expected = fc.hvp(net, X, y, u)
    for uv in (np.repeat(u, 2)[::2], u.tolist(), u.astype(">f8")):
        np.testing.assert_array_equal(fc.hvp(net, X, y, uv), expected)
    ui = np.arange(u.size) % 5 - 2
    np.testing.assert_array_equal(fc.hvp(net, X, y, ui), fc.hvp(net, X, y, ui.astype(float)))


@pytest.mark.parametrize("fn", list(FUNCS))
def test_unusual_parameter_arrays_give_same_result(fn, pb):
    """A network built from strided / Fortran / integer arrays, or whose arrays were replaced by
    such afterwards, computes exactly what the float64 C-contiguous one does."""
    net, X, y, u = pb
    expected = as_tuple(FUNCS[fn](net, X, y, u))
    Wwide = np.repeat(net.W, 2, axis=1)
    built = fc.Network(Wwide[:, ::2], np.repeat(net.b, 2)[::2], net.v.tolist(), np.float64(net.beta))
    np.testing.assert_array_equal(as_tuple(FUNCS[fn](built, X, y, u)), expected)
    edited = net.copy()
    edited.W = np.asfortranarray(net.W)
    edited.v = np.repeat(net.v, 2)[::2]
    edited.beta = np.float32(0.5)
    ref_net = fc.Network(net.W, net.b, net.v, float(np.float32(0.5)))
    np.testing.assert_array_equal(as_tuple(FUNCS[fn](edited, X, y, u)), as_tuple(FUNCS[fn](ref_net, X, y, u)))
    Wi = np.rint(net.W * 4).astype(np.int16)
    np.testing.assert_array_equal(
        as_tuple(FUNCS[fn](fc.Network(Wi, net.b, net.v, net.beta), X, y, u)),
        as_tuple(FUNCS[fn](fc.Network(Wi.astype(float), net.b, net.v, net.beta), X, y, u)),
    )


# -------------------------------------------------------------------------------------------------
# Finite input whose result overflows
# -------------------------------------------------------------------------------------------------
@pytest.mark.parametrize("fn", list(FUNCS))
def test_overflow_is_not_returned_silently(fn):
    """All inputs finite, but f(x) = 1e200 * relu(1e200 * x) overflows: the result must be finite
    or the call must raise (FloatingPointError/OverflowError/ValueError), not return inf/NaN."""
    net = fc.Network([[1e200]], [0.0], [1e200], 0.0)
    X, y = np.array([[1e200]]), np.array([0.0])
    try:
        out = FUNCS[fn](net, X, y, np.ones(net.n_params))
    except (FloatingPointError, OverflowError, ValueError, ArithmeticError):
        return
    assert np.all(np.isfinite(as_tuple(out)))


# -------------------------------------------------------------------------------------------------
# Absurd thread counts
# -------------------------------------------------------------------------------------------------
@pytest.mark.skipif(
    bool(os.environ.get("FLATCORE_UNDER_SANITIZER")),
    reason="caps the address space, which AddressSanitizer cannot run under",
)
def test_huge_n_threads_does_not_crash():
    """n_threads=100000 must give a Python exception naming n_threads, or a correct result,
    never a crash. Run in a child with a 4 GiB address-space cap so that thread creation fails
    quickly instead of loading the machine (the core asks for ~1300 threads here)."""
    import subprocess
    import sys

    code = r"""
import resource, numpy as np, flatcore as fc
resource.setrlimit(resource.RLIMIT_AS, (4 * 2**30, 4 * 2**30))
# big enough that the core does not fall back to one thread for tiny work
X, y = fc.data.regression(20_000, 16, seed=0)
net = fc.Network.init(16, 256, seed=0)
try:
    out = fc.loss(net, X, y, n_threads=100_000)
    assert out == fc.loss(net, X, y, n_threads=1), out
    print("OK")
except (ValueError, MemoryError, RuntimeError) as exc:
    assert "n_threads" in str(exc), exc
    print("OK")
"""
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert out.returncode == 0 and out.stdout.strip() == "OK", (out.returncode, out.stderr[-500:])


def test_one_point_with_odd_strides_is_accepted():
    """NumPy calls a one-row view C-contiguous whatever its strides (a reversed one has a negative
    stride), which the compiled core refused with a TypeError; such arrays are copied instead."""
    X, y = fc.data.regression(5, 2, seed=0)
    net = fc.Network.init(2, 3, seed=0)
    one_X, one_y = X[:1].copy(), y[:1].copy()
    odd_X = X[::-1][-1:]  # shape (1, 2), strides (-16, 8)
    odd_y = y[::-1][-1:]  # stride -8
    assert odd_X.flags.c_contiguous and odd_y.flags.c_contiguous
    assert odd_X.strides[0] < 0 and odd_y.strides[0] < 0
    for fn in (fc.hessian, fc.gradient, fc.hessian_trace, fc.loss):
        np.testing.assert_array_equal(fn(net, odd_X, odd_y), fn(net, one_X, one_y))
    np.testing.assert_array_equal(fc.predict(net, odd_X), fc.predict(net, one_X))
    odd_net = fc.Network.init(2, 1, seed=1)
    odd_net.W = np.asarray(odd_X)  # a network edited in place with such an array
    assert fc.predict(odd_net, X).shape == (5,)
