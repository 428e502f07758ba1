"""The boundary between the Python layer and the compiled core: networks, options and results
cross as typed objects, keyword arguments only after the data, a thread count means the same on
both sides, and the decisions the Python layer relies on (memory estimates, the caching rule,
names of choices) are the core's own."""

from __future__ import annotations

import os
import pickle
import subprocess
import sys

import numpy as np
import pytest

import flatcore as fc
from conftest import make_problem
from flatcore import _core


@pytest.fixture
def p():
    return make_problem(120, 3, 10, seed=4)


# -- networks ----------------------------------------------------------------------------------
def test_a_network_crosses_as_one_object(p):
    np.testing.assert_array_equal(_core.predict(p.net, p.X), fc.predict(p.net, p.X))
    result = _core.train(p.net, p.X, p.y, _core.TrainOptions(lr=0.1, steps=3))
    assert isinstance(result.net, fc.Network) and result.net.width == p.width
    with pytest.raises(TypeError):
        _core.predict((p.net.W, p.net.b, p.net.v, p.net.beta), p.X)


def test_bindings_take_keywords_after_the_data(p):
    with pytest.raises(TypeError):
        _core.loss(p.net, p.X, p.y, 2)  # n_threads is keyword-only
    with pytest.raises(TypeError):
        _core.dense_hessian(p.net, p.X, p.y, "full")
    assert _core.loss(p.net, p.X, p.y, n_threads=2) == _core.loss(p.net, p.X, p.y)


# -- options -------------------------------------------------------------------------------------
def test_train_options_are_a_typed_picklable_record():
    o = _core.TrainOptions(lr=0.5, steps=10, clip_grad_norm=50.0, sharpness_every=5)
    assert (o.lr, o.steps, o.clip_grad_norm, o.tol, o.sharpness_every) == (0.5, 10, 50.0, None, 5)
    back = pickle.loads(pickle.dumps(o))
    assert back.as_dict() == o.as_dict()
    o.tol = 1e-6
    assert o.as_dict()["tol"] == 1e-6
    with pytest.raises(TypeError):
        _core.TrainOptions(learning_rate=0.1)
    with pytest.raises(ValueError, match="lr must be positive"):
        _core.TrainOptions(lr=-1.0)
    with pytest.raises(ValueError, match="sharpness_every"):
        _core.TrainOptions(sharpness_every=0)


def test_eig_options_parse_their_names_in_the_core():
    o = _core.EigOptions(k=2, which="smallest", stop="eigenvalue")
    assert (o.k, o.which, o.stop) == (2, "smallest", "eigenvalue")
    with pytest.raises(ValueError, match="which must be 'largest' or 'smallest'"):
        _core.EigOptions(which="biggest")
    with pytest.raises(ValueError, match="stop must be"):
        o.stop = "never"


def test_the_names_of_choices_come_from_the_core(p):
    assert fc.HESSIAN_PARTS == ("full", "gauss_newton", "residual")
    for bad in ("FULL", "gn", 3):
        with pytest.raises(ValueError, match="part must be one of"):
            fc.hessian(p.net, p.X, p.y, part=bad)
        with pytest.raises(ValueError, match="part must be one of"):
            fc.hessian_operator(p.net, p.X, p.y, part=bad)
    with pytest.raises(ValueError, match="part must be 'full'"):
        _core.hvp(p.net, p.X, p.y, np.zeros(p.net.n_params), part="gn")


# -- thread counts -------------------------------------------------------------------------------
def test_a_thread_count_means_the_same_on_both_sides(p):
    fc.set_num_threads(3)
    assert fc.get_num_threads() == 3 == _core.default_num_threads()
    fc.set_num_threads(None)
    assert fc.get_num_threads() == _core.default_num_threads() >= 1
    for bad in (0, -1, fc.max_num_threads() + 1):
        with pytest.raises(ValueError, match="n_threads must be"):
            fc.loss(p.net, p.X, p.y, n_threads=bad)
        with pytest.raises(ValueError, match="n_threads must be"):
            _core.loss(p.net, p.X, p.y, n_threads=bad)
        with pytest.raises(ValueError, match="n_threads must be"):
            _core.TrainOptions(n_threads=bad)


def test_the_environment_sets_the_default_in_the_core():
    code = "import flatcore as fc, flatcore._core as c; print(fc.get_num_threads(), c.default_num_threads())"
    env = dict(os.environ, FLATCORE_NUM_THREADS="3")
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, check=True)
    assert out.stdout.split() == ["3", "3"]
    env["FLATCORE_NUM_THREADS"] = "many"
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True)
    assert out.returncode != 0 and "FLATCORE_NUM_THREADS must be a positive integer" in out.stderr


# -- decisions made once, in the core ------------------------------------------------------------
def test_the_dense_hessian_refuses_by_the_cores_estimate(p):
    need = _core.dense_hessian_bytes(p.net.n_params, p.width)
    assert need >= 8 * p.net.n_params**2
    with pytest.raises(MemoryError, match="max_bytes"):
        fc.hessian(p.net, p.X, p.y, max_bytes=need - 1)
    assert fc.hessian(p.net, p.X, p.y, max_bytes=need).shape == (p.net.n_params,) * 2


def test_operators_cache_by_the_cores_rule(p):
    op = fc.hessian_operator(p.net, p.X, p.y)
    assert op.cache == _core.cache_activations_by_default(p.n, p.width) is True
    assert not _core.cache_activations_by_default(10**6, 10**4)  # 80 GB of activations
    assert _core.activation_cache_bytes(100, 8) == 8 * 100 * 16  # 8 neurons: one tile + one of padding
    u = np.random.default_rng(0).standard_normal(p.net.n_params)
    np.testing.assert_array_equal(op.matvec(u), fc.hessian_operator(p.net, p.X, p.y, cache=False).matvec(u))


def test_history_memory_and_columns_come_from_the_core(p):
    assert _core.history_columns() == list(fc.train(p.net, p.X, p.y, 0.1, 2).history.columns)
    tracked = fc.train(p.net, p.X, p.y, 0.1, 2, sharpness_every=1, test=(p.X, p.y), y_clean=p.y).history
    assert _core.history_columns(sharpness=True, test_mse=True, clean_mse=True) == list(tracked.columns)
    assert _core.history_bytes_per_row(sharpness=True, test_mse=True, clean_mse=True) == 8 * len(tracked.columns)
    assert "sharpness_n_hvp" in tracked and tracked["sharpness_n_hvp"].min() > 0


def test_train_config_is_the_options_it_ran_with(p):
    result = fc.train(p.net, p.X, p.y, 0.1, 4, clip_grad_norm=50, n_threads=2)
    assert result.config == {
        "lr": 0.1,
        "steps": 4,
        "loss": "half_mse",
        "weight_decay": 0.0,
        "decay_biases": False,
        "clip_grad_norm": 50.0,
        "record_every": 1,
        "tol": None,
        "max_loss": None,
        "sharpness_every": None,
        "sharpness_tol": 1e-10,
        "rare_share": 0.1,
        "kernel": "auto",
    }
    assert fc.train(p.net, p.X, p.y, **{k: v for k, v in result.config.items()}).net == result.net


def read_syscalls() -> int:
    with open("/proc/self/io") as fh:
        return int(next(line for line in fh if line.startswith("syscr:")).split()[1])


@pytest.mark.skipif(not os.path.exists("/proc/self/io"), reason="needs Linux's /proc/self/io")
def test_calls_read_no_files():
    """A call checks its thread count against limits computed once, not read from the system
    per call (hardware_concurrency reads a file on Linux: that doubled the cost of small calls)."""
    p = make_problem(32, 4, 16, seed=0)
    fc.predict(p.net, p.X)
    fc.loss(p.net, p.X, p.y)
    before = read_syscalls()
    for _ in range(200):
        fc.predict(p.net, p.X)
        fc.loss_and_gradient(p.net, p.X, p.y)
        fc.hessian_trace(p.net, p.X, p.y)
    after = read_syscalls()
    assert after - before < 20  # reading /proc/self/io itself and the odd allocator call


def test_eig_options_pickle_and_default():
    start = np.arange(5.0)
    o = _core.EigOptions(k=3, which="smallest", stop="eigenvalue", seed=7, start=start)
    back = pickle.loads(pickle.dumps(o))
    assert back.as_dict()["which"] == "smallest" and back.seed == 7
    np.testing.assert_array_equal(back.start, start)
    assert _core.EigOptions().as_dict()["start"] is None
