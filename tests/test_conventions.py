"""NumPy conventions of the public API: any array-like in, NumPy arrays out, inputs never modified.

Every numerical entry point is one line of ENTRY_POINTS: what it is called on. The property test
passes each array argument in a form drawn by hypothesis (a list of lists, a tuple, float32, a
Fortran-ordered array, a strided or reversed view, a read-only array) and checks that

- the result equals, bit for bit, that of the same values as float64 C-contiguous arrays (the
  numerics do not depend on the memory layout, and a float32 input is read exactly);
- the result holds NumPy arrays (or Python numbers), never lists;
- every argument, and the network's own arrays, are unchanged byte for byte afterwards (train
  must leave its starting network alone).

The other conventions: every result type has a ``__repr__`` that shows its sizes, compares
equal exactly when its contents are equal, and survives a pickle round trip.
"""

from __future__ import annotations

import copy
import dataclasses
import pickle
from typing import Callable, NamedTuple

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

import flatcore as fc
from flatcore import data, theory


class Entry(NamedTuple):
    """A public entry point: ``call(net, **arrays)`` with the named arrays of :func:`_arrays`."""

    name: str
    call: Callable
    arrays: tuple[str, ...]


def _entry(name: str, call: Callable, arrays: str = "") -> Entry:
    return Entry(name, call, tuple(arrays.split()))


def _law(X):
    return data.UniformBall(np.shape(X)[1])


# One line per entry point. The arrays (by name) are those of _arrays: X (n, d), y (n,), u and
# theta (P,), alpha (width,), W/b/v the network's own, X_test/y_test/y_clean, U (m, d) unit rows,
# t (m,) thresholds, grid (g,).
ENTRY_POINTS = [
    _entry("predict", lambda net, X: fc.predict(net, X), "X"),
    _entry("Network.__call__", lambda net, X: net(X), "X"),
    _entry("loss", lambda net, X, y: fc.loss(net, X, y, loss="mse"), "X y"),
    _entry("loss_and_gradient", lambda net, X, y: fc.loss_and_gradient(net, X, y), "X y"),
    _entry("gradient", lambda net, X, y: fc.gradient(net, X, y), "X y"),
    _entry("hessian", lambda net, X, y: fc.hessian(net, X, y), "X y"),
    _entry("hvp", lambda net, X, y, u: fc.hvp(net, X, y, u, part="gauss_newton"), "X y u"),
    _entry("hessian_trace", lambda net, X, y: fc.hessian_trace(net, X, y), "X y"),
    _entry("trace_terms", lambda net, X: fc.trace_terms(net, X), "X"),
    _entry("trace_per_neuron", lambda net, X: fc.trace_per_neuron(net, X, loss="mse"), "X"),
    _entry("activation_rates", lambda net, X: fc.activation_rates(net, X), "X"),
    _entry("neuron_sides", lambda net, X: fc.neuron_sides(net, X), "X"),
    _entry("sharpness", lambda net, X, y: fc.sharpness(net, X, y, return_result=True), "X y"),
    _entry("top_eigs", lambda net, X, y, u: fc.top_eigs(net, X, y, 1, "both", method="lanczos", v0=u), "X y u"),
    _entry("exact_spectrum", lambda net, X, y: fc.exact_spectrum(net, X, y), "X y"),
    _entry("spectral_density", lambda net, X, y: fc.spectral_density(net, X, y, n_probes=2, lanczos_steps=6), "X y"),
    _entry(
        "SpectralDensity.smoothed",
        lambda net, X, y, grid: fc.spectral_density(net, X, y, n_probes=1, lanczos_steps=4).smoothed(grid, 0.5),
        "X y grid",
    ),
    _entry("hessian_operator.matvec", lambda net, X, y, u: fc.hessian_operator(net, X, y).matvec(u), "X y u"),
    _entry(
        "train",
        lambda net, X, y, X_test, y_test, y_clean: fc.train(
            net, X, y, lr=0.05, steps=6, sharpness_every=3, test=(X_test, y_test), y_clean=y_clean
        ),
        "X y X_test y_test y_clean",
    ),
    _entry("Network", lambda net, W, b, v: fc.Network(W, b, v, net.beta), "W b v"),
    _entry("Network.from_params", lambda net, theta: fc.Network.from_params(theta, net.d, net.width), "theta"),
    _entry("theory.gtilde_empirical", lambda net, X, U, t: theory.gtilde_empirical(X, U, t), "X U t"),
    _entry("theory.g_empirical", lambda net, X, U, t: theory.g_empirical(X, U, t), "X U t"),
    _entry("theory.gtilde_uniform_ball", lambda net, t: theory.gtilde_uniform_ball(t, 3), "t"),
    _entry("theory.g_uniform_ball", lambda net, t: theory.g_uniform_ball(t, 3), "t"),
    _entry("theory.gtilde_population", lambda net, X, U, t: theory.gtilde_population(U, t, _law(X)), "X U t"),
    _entry("theory.g_population", lambda net, X, U, t: theory.g_population(U, t, data.Gaussian(net.d)), "X U t"),
    _entry("theory.path_norm", lambda net: theory.path_norm(net)),
    _entry("theory.vg_contributions", lambda net, X: theory.vg_contributions(net, X), "X"),
    _entry("theory.vg_norm", lambda net, X: theory.vg_norm(net, X), "X"),
    _entry("theory.stability_inequality", lambda net, X, y: theory.stability_inequality(net, X, y), "X y"),
    _entry("theory.stability_bound", lambda net, X, y: theory.stability_bound(net, X, y, 0.1, loss="mse"), "X y"),
    _entry("theory.rescale", lambda net, alpha: theory.rescale(net, alpha), "alpha"),
    _entry("theory.min_trace", lambda net, X, y: theory.min_trace(net, X, y), "X y"),
    _entry("theory.balance_for_min_trace", lambda net, X: theory.balance_for_min_trace(net, X), "X"),
    _entry("data.target", lambda net, X: data.target(X, "smooth"), "X"),
    _entry("data.SingleIndex", lambda net, X: data.SingleIndex(net.d, "tanh", seed=1)(X), "X"),
    _entry("data.Linear(direction=...)", lambda net, U: data.Linear(net.d, direction=U[0])(U), "U"),
    _entry("data.uniform_ball", lambda net: data.uniform_ball(7, net.d, seed=3)),
    _entry("data.regression", lambda net: data.regression(7, net.d, seed=3)),
    _entry("data.draw", lambda net: data.draw(data.Gaussian(net.d), data.Linear(net.d), 5, n_test=3, seed=3)),
]


def _arrays(rng: np.random.Generator, net: fc.Network, n: int) -> dict[str, np.ndarray]:
    """Every array an entry point may take, float64 and C-contiguous."""
    d, K, P = net.d, net.width, net.n_params
    m = 3
    # Unit directions that stay exactly unit in float32: signed coordinate axes.
    U = np.zeros((m, d))
    U[np.arange(m), rng.integers(0, d, size=m)] = rng.choice([-1.0, 1.0], size=m)
    return {
        "X": rng.standard_normal((n, d)),
        "y": rng.standard_normal(n),
        "u": rng.standard_normal(P),
        "theta": net.params(),
        "alpha": rng.uniform(0.5, 2.0, size=K),
        "W": net.W.copy(),
        "b": net.b.copy(),
        "v": net.v.copy(),
        "X_test": rng.standard_normal((4, d)),
        "y_test": rng.standard_normal(4),
        "y_clean": rng.standard_normal(n),
        "U": U,
        "t": rng.uniform(-1.5, 1.5, size=m),
        "grid": np.linspace(-1.0, 2.0, 9),
    }


def _nested(a: np.ndarray, kind: type) -> object:
    return kind(_nested(row, kind) for row in a) if a.ndim > 1 else kind(a.tolist())


def _strided(a: np.ndarray) -> np.ndarray:
    """A view of a with the same values whose rows (and columns) are not adjacent in memory."""
    big = np.full(tuple(2 * s for s in a.shape), np.nan)
    view = big[tuple(slice(None, None, 2) for _ in a.shape)]
    view[...] = a
    return view


def _read_only(a: np.ndarray) -> np.ndarray:
    a = a.copy()
    a.setflags(write=False)
    return a


# Array-like forms of a float64 array; each must give the result of the C-contiguous float64
# array of the same values.
FORMS: dict[str, Callable[[np.ndarray], object]] = {
    "float64": lambda a: a,
    "list": lambda a: a.tolist(),
    "tuple": lambda a: _nested(a, tuple),
    "float32": lambda a: a.astype(np.float32),
    "fortran": lambda a: np.asfortranarray(a),
    "transposed": lambda a: np.ascontiguousarray(a.T).T,
    "strided": _strided,
    "reversed": lambda a: a[::-1].copy()[::-1],
    "read-only": _read_only,
}


def _as_c_float64(value) -> np.ndarray:
    return np.ascontiguousarray(np.asarray(value, dtype=np.float64))


def _snapshot(value):
    """What must not change: an array's bytes, dtype and strides; a list's contents."""
    if isinstance(value, np.ndarray):
        return (value.dtype, value.shape, value.strides, value.tobytes())
    return copy.deepcopy(value)


def _network_snapshot(net: fc.Network):
    return [_snapshot(a) for a in (net.W, net.b, net.v)] + [net.beta]


def _assert_numpy_out(result, where: str = "result") -> None:
    """No list anywhere in a result (arrays, numbers, strings, None, or objects holding those)."""
    assert not isinstance(result, list), f"{where} is a list; NumPy arrays are expected"
    if isinstance(result, tuple):
        for i, item in enumerate(result):
            _assert_numpy_out(item, f"{where}[{i}]")
    elif dataclasses.is_dataclass(result):
        for f in dataclasses.fields(result):
            _assert_numpy_out(getattr(result, f.name), f"{where}.{f.name}")
    elif isinstance(result, fc.History):
        for name in result.columns:
            assert isinstance(result[name], np.ndarray), f"{where}[{name!r}]"
    elif isinstance(result, fc.Network):
        assert all(isinstance(a, np.ndarray) for a in (result.W, result.b, result.v))


def _same(a, b) -> bool:
    """Exactly equal results: the same types, arrays bit for bit (NaN where NaN)."""
    if type(a) is not type(b):
        return False
    if isinstance(a, np.ndarray):
        return a.dtype == b.dtype and a.shape == b.shape and np.array_equal(a, b, equal_nan=a.dtype.kind in "fc")
    if isinstance(a, tuple):
        return len(a) == len(b) and all(_same(x, y) for x, y in zip(a, b))
    if isinstance(a, float):
        return a == b or (np.isnan(a) and np.isnan(b))
    if isinstance(a, fc.TrainResult):  # the wall-clock time differs from run to run; == ignores it
        return a == b
    if dataclasses.is_dataclass(a):
        return all(_same(getattr(a, f.name), getattr(b, f.name)) for f in dataclasses.fields(a))
    return a == b


@pytest.mark.parametrize("entry", ENTRY_POINTS, ids=[e.name for e in ENTRY_POINTS])
@given(
    n=st.integers(1, 12),
    d=st.integers(1, 4),
    width=st.integers(1, 6),
    seed=st.integers(0, 2**32 - 1),
    forms=st.lists(st.sampled_from(sorted(FORMS)), min_size=6, max_size=6),
)
def test_array_likes_in_numpy_out_inputs_unchanged(entry, n, d, width, seed, forms):
    rng = np.random.default_rng(seed)
    net = fc.Network.init(d, width, seed=rng)
    base = _arrays(rng, net, n)
    given_args = {name: FORMS[form](base[name]) for name, form in zip(entry.arrays, forms)}
    plain_args = {name: _as_c_float64(value) for name, value in given_args.items()}
    before = {name: _snapshot(value) for name, value in given_args.items()}
    net_before = _network_snapshot(net)

    result = entry.call(net, **given_args)

    for name, value in given_args.items():
        assert _snapshot(value) == before[name], f"{entry.name} modified its argument {name}"
    assert _network_snapshot(net) == net_before, f"{entry.name} modified the network"
    _assert_numpy_out(result)
    expected = entry.call(net, **plain_args)
    assert _same(result, expected), f"{entry.name}: {dict(zip(entry.arrays, forms))} differs from float64 C arrays"


def test_every_public_numerical_function_has_an_entry():
    """A new public function is one line in ENTRY_POINTS (or named here as taking no arrays)."""
    covered = {e.name.split(".")[-1].split("(")[0] for e in ENTRY_POINTS}
    not_numerical = {
        # classes, constants and modules, and functions of no arrays (settings, studies, plots)
        "INIT_SCHEMES", "HESSIAN_PARTS", "LOSSES", "KERNELS", "NeuronSides", "NeuronSide", "Study", "run_study", "load",
        "TrainResult", "History", "HessianLinearOperator", "EigenResult", "SpectralDensity", "get_num_threads",
        "set_num_threads", "max_num_threads", "threads_lost_to_fork", "data", "theory", "experiments", "plots",
        "__version__", "from_torch", "loss_scale", "hessian_operator",
        "StabilityInequality", "StabilityBound", "PopulationG", "boundary_packing",
    }  # fmt: skip
    names = set(fc.__all__) | set(theory.__all__)
    missing = names - covered - not_numerical
    assert not missing, f"add these to ENTRY_POINTS: {sorted(missing)}"


# -------------------------------------------------------------------------------------------------
# Result types: repr with sizes, equality, pickling
# -------------------------------------------------------------------------------------------------
D, WIDTH, N = 3, 8, 40


@pytest.fixture(scope="module")
def setting():
    X, y = data.regression(N, D, seed=1)
    return fc.Network.init(D, WIDTH, seed=2), X, y


def _train(net, X, y):
    return fc.train(net, X, y, lr=0.1, steps=10, record_every=2, sharpness_every=5)


def _population():
    return theory.g_population(np.eye(D), [0.1, 0.2, 0.3], data.UniformBall(D))


def _dataset():
    return data.draw(data.UniformBall(D), data.Linear(D), N, n_test=30, seed=4)


def _plus_one(a):
    return a + 1.0


# name: (build from (net, X, y), a changed copy, what the repr must show)
RESULT_TYPES = {
    "Network": (lambda net, X, y: net.copy(), lambda r: fc.Network(_plus_one(r.W), r.b, r.v, r.beta), "width=8"),
    "TrainResult": (_train, lambda r: dataclasses.replace(r, steps_run=r.steps_run + 1), "width=8"),
    "History": (
        lambda net, X, y: _train(net, X, y).history,
        lambda h: fc.History({**{c: h[c] for c in h.columns}, "loss": _plus_one(h["loss"])}),
        "7 rows",
    ),
    "EigenResult": (
        lambda net, X, y: fc.top_eigs(net, X, y, 2),
        lambda r: dataclasses.replace(r, vectors=-r.vectors),
        "vectors of shape (41, 2)",
    ),
    "SpectralDensity": (
        lambda net, X, y: fc.spectral_density(net, X, y, n_probes=2, lanczos_steps=5),
        lambda r: dataclasses.replace(r, weights=r.weights[::-1].copy()),
        "10 nodes",
    ),
    "StabilityInequality": (
        lambda net, X, y: theory.stability_inequality(net, X, y),
        lambda r: dataclasses.replace(r, terms=2 * r.terms),
        "terms of 8 neurons",
    ),
    "StabilityBound": (
        lambda net, X, y: theory.stability_bound(net, X, y, 0.1),
        lambda r: dataclasses.replace(r, lr=0.2),
        "lr=0.1",
    ),
    "NeuronSides": (
        lambda net, X, y: fc.neuron_sides(net, X),
        lambda r: r._replace(active=r.active._replace(share=_plus_one(r.active.share))),
        "active=NeuronSide(width=8, d=3",
    ),
    "PopulationG": (lambda net, X, y: _population(), lambda r: r._replace(g=_plus_one(r.g)), "closed form"),
    "Dataset": (lambda net, X, y: _dataset(), lambda r: r._replace(y_test=_plus_one(r.y_test)), "n=40, d=3, n_test=30"),
}


@pytest.mark.parametrize("name", RESULT_TYPES)
def test_results_compare_equal_when_their_contents_are_equal(name, setting):
    make, change, _ = RESULT_TYPES[name]
    result = make(*setting)
    again = make(*setting)  # the same computation: equal, although no array is shared
    assert result == again and not (result != again)
    copied = pickle.loads(pickle.dumps(result))
    assert type(copied) is type(result)
    assert copied == result and not (copied != result)
    changed = change(result)
    assert changed != result and not (changed == result)
    assert result != "something else"
    if name != "StabilityBound":  # the one result of plain numbers (a frozen dataclass) hashes
        with pytest.raises(TypeError, match="unhashable"):
            hash(result)


def test_train_results_equal_whatever_the_wall_clock_time(setting):
    result = _train(*setting)
    assert np.isnan(result.history["sharpness"]).any()  # NaN rows compare equal
    assert dataclasses.replace(result, seconds=result.seconds + 1.0) == result
    assert dataclasses.replace(result, history=_train(setting[0], *setting[1:]).history) == result
    assert dataclasses.replace(result, config={**result.config, "lr": 0.2}) != result
    assert dataclasses.replace(result, net=fc.Network.init(D, WIDTH, seed=9)) != result
    # the resume state counts: a result that carries on elsewhere is another result
    other = fc.train(setting[0], *setting[1:], lr=0.1, steps=10, record_every=2, sharpness_every=5, max_loss=1e6)
    assert dataclasses.replace(result, resume=other.resume) != result


@pytest.mark.parametrize("name", RESULT_TYPES)
def test_repr_shows_sizes_not_contents(name, setting):
    make, _, shows = RESULT_TYPES[name]
    text = repr(make(*setting))
    assert shows in text, text
    assert len(text) < 600, text


def test_repr_of_large_results_stays_short():
    X, y = data.regression(3000, 20, seed=0)
    net = fc.Network.init(20, 300, seed=0)
    for result in (
        data.draw(data.UniformBall(20), data.Linear(20), 3000, seed=0),
        fc.spectral_density(net, X[:50], y[:50], n_probes=3, lanczos_steps=100),
        theory.stability_inequality(net, X[:50], y[:50], lambda_max=1.0),
        fc.top_eigs(net, X[:50], y[:50], 5),
    ):
        assert len(repr(result)) < 600, repr(result)
