"""Full-batch gradient descent (docs/math.md, section 2):

    theta <- theta - eta * (clip(grad L(theta)) + lambda * mask * theta),

mask = 1 on W and v (and on b, beta with decay_biases), i.e. GD on
L_lambda = L + (lambda/2)(||W||_F^2 + ||v||^2). Checked against a plain NumPy loop, and the
bookkeeping (history, convergence, divergence) against what that loop sees. Also: results do not
depend on the thread count, bit for bit.
"""

from __future__ import annotations

import pickle

import numpy as np
import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st

import flatcore as fc
import reference as ref
from conftest import Problem, problems

COLUMNS = (
    "step",
    "loss",
    "grad_norm",
    "W_norm",
    "b_norm",
    "v_norm",
    "beta",
    "active_fraction",
    "dead_fraction",
    "rare_fraction",
)


def ball_problem(n, d, width, seed, init_seed=None, noise=0.1):
    X, y = fc.data.regression(n, d, noise=noise, seed=seed)
    return Problem(fc.Network.init(d, width, seed=seed + 1 if init_seed is None else init_seed), X, y, {})


def assert_close_theta(actual, expected, rtol=1e-10):
    """|actual - expected| <= rtol * max|expected| entrywise (the trajectory's scale)."""
    np.testing.assert_allclose(actual, expected, rtol=rtol, atol=rtol * np.abs(expected).max())


# -------------------------------------------------------------------------------------------------
# The trajectory equals the NumPy update
# -------------------------------------------------------------------------------------------------
CONFIGS = [
    dict(lr=0.05),
    dict(lr=0.05, weight_decay=1e-2),
    dict(lr=0.05, weight_decay=3e-2, decay_biases=True),
    dict(lr=0.05, clip_grad_norm="active"),
    dict(lr=0.05, weight_decay=1e-2, decay_biases=True, clip_grad_norm="active"),
]


@pytest.mark.parametrize("config", CONFIGS, ids=lambda c: ",".join(f"{k}={v}" for k, v in c.items()))
@pytest.mark.parametrize("shape", [(64, 3, 16), (300, 5, 40)], ids=lambda s: "n{}_d{}_w{}".format(*s))
def test_trajectory_equals_numpy_gradient_descent(config, shape):
    """100 GD steps of fc.train equal the NumPy loop theta <- theta - eta (clip(grad L) +
    lambda mask theta) to 1e-10, iterate and every recorded history row."""
    n, d, width = shape
    p = ball_problem(n, d, width, seed=3)
    steps = 100
    config = dict(config)
    g0 = np.linalg.norm(ref.gradient(*p.arrays))
    if config.get("clip_grad_norm") == "active":
        config["clip_grad_norm"] = 0.5 * g0  # below the gradient norm for a good part of the run
    thetas, losses, gnorms, raw = ref.gradient_descent(p.net.params(), p.X, p.y, d, width, steps=steps, **config)
    if "clip_grad_norm" in config:
        assert (raw[:-1] > config["clip_grad_norm"]).sum() >= 10, "clipping must be active in this test"
    res = fc.train(p.net, p.X, p.y, steps=steps, record_every=1, **config)
    assert res.steps_run == steps and not res.converged and not res.diverged
    assert_close_theta(res.net.params(), thetas[-1])
    h = res.history
    np.testing.assert_array_equal(h["step"], np.arange(steps + 1))
    np.testing.assert_allclose(h["loss"], losses, rtol=1e-10)
    np.testing.assert_allclose(h["grad_norm"], gnorms, rtol=1e-10)
    T = np.array(thetas)
    K = width
    np.testing.assert_allclose(h["W_norm"], np.linalg.norm(T[:, : K * d], axis=1), rtol=1e-10)
    np.testing.assert_allclose(h["b_norm"], np.linalg.norm(T[:, K * d : K * d + K], axis=1), rtol=1e-10)
    np.testing.assert_allclose(h["v_norm"], np.linalg.norm(T[:, K * d + K : K * d + 2 * K], axis=1), rtol=1e-10)
    np.testing.assert_allclose(h["beta"], T[:, -1], rtol=1e-10, atol=1e-12)
    active = np.array([ref.forward(*ref.unpack(t, d, K), p.X)[1].sum() for t in thetas])  # counts
    np.testing.assert_array_equal(np.rint(h["active_fraction"] * n * K), active)
    np.testing.assert_allclose(h["active_fraction"], active / (n * K), rtol=1e-14)
    assert abs(res.final_loss - losses[-1]) <= 1e-10 * losses[-1]
    assert abs(res.final_grad_norm - gnorms[-1]) <= 1e-10 * gnorms[-1]


def test_clipping_changes_the_trajectory():
    """Sanity of the test above: with clipping active the result differs from plain GD."""
    p = ball_problem(64, 3, 16, seed=3)
    g0 = np.linalg.norm(ref.gradient(*p.arrays))
    a = fc.train(p.net, p.X, p.y, lr=0.05, steps=20).net.params()
    b = fc.train(p.net, p.X, p.y, lr=0.05, steps=20, clip_grad_norm=0.5 * g0).net.params()
    assert np.abs(a - b).max() > 1e-6 * np.abs(a).max()
    # and a clip threshold above every gradient norm changes nothing at all
    c = fc.train(p.net, p.X, p.y, lr=0.05, steps=20, clip_grad_norm=1e6 * g0).net.params()
    np.testing.assert_array_equal(a, c)


@given(
    p=problems(max_n=100, max_width=32),
    steps=st.integers(1, 30),
    wd=st.sampled_from([0.0, 1e-3, 0.1]),
    decay_biases=st.booleans(),
)
@settings(max_examples=15)
def test_trajectory_random_problems(p, steps, wd, decay_biases):
    """GD on random problems (all scales) equals the NumPy loop, at a step size 0.5 / tr H
    (below 2 / lambda_max of the Gauss-Newton part at the start)."""
    lr = 0.5 / ref.hessian_trace(*p.arrays[:5])
    with np.errstate(all="ignore"):
        thetas, losses, _, _ = ref.gradient_descent(p.net.params(), p.X, p.y, p.d, p.width, lr, steps, wd, decay_biases)
    # runs that blow up (the residual part can make H sharper than its trace suggests) are the
    # business of the divergence tests
    assume(np.all(np.isfinite(losses)) and losses.max() < 1e6 * max(1.0, losses[0]))
    # a kink crossed within rounding distance could make the two runs branch: skip such runs
    assume(min(ref.relative_kink_margin(*ref.unpack(t, p.d, p.width)[:2], p.X) for t in thetas) > 1e-6)
    res = fc.train(p.net, p.X, p.y, lr=lr, steps=steps, weight_decay=wd, decay_biases=decay_biases)
    assert not res.diverged and res.steps_run == steps
    assert_close_theta(res.net.params(), thetas[-1], rtol=1e-9)


def test_weight_decay_one_step_by_hand():
    """One step: theta_1 = theta_0 - eta (grad L + lambda [W, 0, v, 0]), and with decay_biases
    theta_1 = theta_0 - eta (grad L + lambda theta_0)."""
    p = ball_problem(50, 2, 6, seed=7)
    lr, lam = 0.1, 0.3
    theta0 = p.net.params()
    g = ref.gradient(*p.arrays)
    K, d = p.width, p.d
    W0, b0, v0, beta0 = ref.unpack(theta0, d, K)
    gW, gb, gv, gbeta = ref.unpack(g, d, K)
    res = fc.train(p.net, p.X, p.y, lr=lr, steps=1, weight_decay=lam)
    W1, b1, v1, beta1 = res.net.W, res.net.b, res.net.v, res.net.beta
    np.testing.assert_allclose(W1, W0 - lr * (gW + lam * W0), rtol=1e-12, atol=1e-14)
    np.testing.assert_allclose(v1, v0 - lr * (gv + lam * v0), rtol=1e-12, atol=1e-14)
    np.testing.assert_allclose(b1, b0 - lr * gb, rtol=1e-12, atol=1e-14)  # biases not decayed
    assert abs(beta1 - (beta0 - lr * gbeta)) <= 1e-14
    # grad_norm in the history is that of grad L_lambda = grad L + lambda mask theta
    full = g + lam * ref.weight_decay_mask(d, K) * theta0
    assert abs(res.history["grad_norm"][0] - np.linalg.norm(full)) <= 1e-12 * np.linalg.norm(full)
    res_b = fc.train(p.net, p.X, p.y, lr=lr, steps=1, weight_decay=lam, decay_biases=True)
    np.testing.assert_allclose(res_b.net.params(), theta0 - lr * (g + lam * theta0), rtol=1e-12, atol=1e-14)


def test_weight_decay_is_gradient_of_penalty():
    """lambda mask theta is the gradient of (lambda/2)(||W||^2 + ||v||^2): compare the update
    direction with central differences of L_lambda (NumPy)."""
    p = ball_problem(40, 2, 5, seed=8)
    lam, lr = 0.7, 1e-3
    d, K = p.d, p.width
    theta0 = p.net.params()

    def L_lam(theta):
        W, b, v, beta = ref.unpack(theta, d, K)
        return ref.loss(W, b, v, beta, p.X, p.y) + lam / 2 * (np.sum(W**2) + np.sum(v**2))

    h = np.minimum(0.5 * ref.kink_free_steps(p.net.W, p.net.b, p.X), 1e-5)
    fd = np.array(
        [(L_lam(theta0 + h[j] * e) - L_lam(theta0 - h[j] * e)) / (2 * h[j]) for j, e in enumerate(np.eye(theta0.size))]
    )
    step = (theta0 - fc.train(p.net, p.X, p.y, lr=lr, steps=1, weight_decay=lam).net.params()) / lr
    np.testing.assert_allclose(step, fd, rtol=1e-6, atol=1e-8 * np.abs(fd).max())


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_loss_decreases_monotonically_at_small_step(seed):
    """At a step size well below 2 / lambda_max (eta = 0.2 / tr H, and tr H = tr GN >= the largest
    Gauss-Newton eigenvalue) the loss never increases along the GD run (up to rounding)."""
    p = ball_problem(200, 4, 32, seed=seed)
    lr = 0.2 / fc.hessian_trace(p.net, p.X, p.y)
    res = fc.train(p.net, p.X, p.y, lr=lr, steps=500, record_every=1)
    loss = res.history["loss"]
    assert loss.size == 501
    assert np.all(np.diff(loss) <= 1e-14 * loss[:-1]), np.max(np.diff(loss))
    assert loss[-1] < 0.9 * loss[0]


# -------------------------------------------------------------------------------------------------
# History bookkeeping
# -------------------------------------------------------------------------------------------------
@given(steps=st.integers(0, 120), record_every=st.integers(1, 50))
@settings(max_examples=25)
def test_history_record_every(steps, record_every):
    """Rows at every step t with t % record_every == 0, plus the last step (always recorded);
    all columns have that length; the row values are those of the iterate theta_t."""
    p = ball_problem(30, 2, 4, seed=1)
    res = fc.train(p.net, p.X, p.y, lr=0.05, steps=steps, record_every=record_every)
    expected_steps = sorted(set(range(0, steps + 1, record_every)) | {steps})
    h = res.history
    assert tuple(h.columns) == COLUMNS
    np.testing.assert_array_equal(h["step"], expected_steps)
    assert len(h) == len(expected_steps)
    for c in COLUMNS:
        assert len(h[c]) == len(expected_steps)
    full = fc.train(p.net, p.X, p.y, lr=0.05, steps=steps, record_every=1).history
    for c in COLUMNS:
        np.testing.assert_array_equal(h[c], full[c][expected_steps])
    assert h["loss"][-1] == res.final_loss
    assert res.config["record_every"] == record_every


@pytest.mark.parametrize("steps,expected", [(10, 1), (999, 1), (1000, 1), (2500, 2), (10_000, 10)])
def test_history_default_record_every(steps, expected):
    """Default record_every = max(1, steps // 1000): about 1000 rows."""
    p = ball_problem(8, 1, 2, seed=0)
    res = fc.train(p.net, p.X, p.y, lr=1e-3, steps=steps)
    assert res.config["record_every"] == expected
    np.testing.assert_array_equal(res.history["step"], sorted(set(range(0, steps + 1, expected)) | {steps}))


def test_history_to_pandas_and_dict(problem):
    """to_pandas gives a DataFrame with the columns, in order, equal to the arrays; to_dict
    gives plain lists; attribute access works."""
    pd = pytest.importorskip("pandas")
    res = fc.train(problem.net, problem.X, problem.y, lr=0.05, steps=37, record_every=5)
    h = res.history
    df = h.to_pandas()
    assert isinstance(df, pd.DataFrame)
    assert tuple(df.columns) == COLUMNS and len(df) == len(h) == 9
    for c in COLUMNS:
        np.testing.assert_array_equal(df[c].to_numpy(), h[c])
        np.testing.assert_array_equal(getattr(h, c), h[c])
    df.loc[0, "loss"] = -1.0  # a copy: editing it does not change the history
    assert h["loss"][0] != -1.0
    d = h.to_dict()
    assert list(d) == list(COLUMNS) and d["step"] == h["step"].tolist()
    assert "loss" in h and "nope" not in h
    with pytest.raises(KeyError, match="nope"):
        h["nope"]


def test_train_result_pickles(problem):
    """TrainResult (net, history, config) survives pickling."""
    res = fc.train(problem.net, problem.X, problem.y, lr=0.05, steps=10)
    back = pickle.loads(pickle.dumps(res))
    assert back.net == res.net
    assert back.history.to_dict() == res.history.to_dict()
    assert (back.steps_run, back.final_loss, back.config) == (res.steps_run, res.final_loss, res.config)


def test_steps_zero(problem):
    """steps=0: no update; net equals the input, one history row (step 0), final values at theta_0."""
    p = problem
    res = fc.train(p.net, p.X, p.y, lr=0.1, steps=0)
    assert res.net == p.net and res.steps_run == 0
    assert not res.converged and not res.diverged and res.diverged_step is None
    np.testing.assert_array_equal(res.history["step"], [0])
    assert res.final_loss == res.history["loss"][0]
    np.testing.assert_allclose(res.final_loss, ref.loss(*p.arrays), rtol=1e-12)
    np.testing.assert_allclose(res.final_grad_norm, np.linalg.norm(ref.gradient(*p.arrays)), rtol=1e-12)


def test_config_recorded(problem):
    """config holds the arguments of the run."""
    p = problem
    res = fc.train(
        p.net,
        p.X,
        p.y,
        lr=0.02,
        steps=3,
        weight_decay=0.1,
        decay_biases=True,
        clip_grad_norm=5.0,
        tol=1e-9,
        max_loss=1e6,
    )
    expected = dict(
        lr=0.02,
        steps=3,
        weight_decay=0.1,
        decay_biases=True,
        clip_grad_norm=5.0,
        record_every=1,
        tol=1e-9,
        max_loss=1e6,
    )
    assert {k: res.config.get(k, "missing") for k in expected} == expected


def test_train_does_not_modify_inputs(problem):
    """The starting network, X and y are left as they were."""
    p = problem
    W, b, v, beta = p.net.W.copy(), p.net.b.copy(), p.net.v.copy(), p.net.beta
    X, y = p.X.copy(), p.y.copy()
    res = fc.train(p.net, p.X, p.y, lr=0.1, steps=50, weight_decay=0.01)
    assert res.net != p.net
    np.testing.assert_array_equal(p.net.W, W)
    np.testing.assert_array_equal(p.net.b, b)
    np.testing.assert_array_equal(p.net.v, v)
    assert p.net.beta == beta
    np.testing.assert_array_equal(p.X, X)
    np.testing.assert_array_equal(p.y, y)
    # the result owns its arrays
    assert not np.shares_memory(res.net.W, p.net.W)


def test_progress_bar_gives_same_result(problem):
    """progress=True (a tqdm bar) changes nothing in the result."""
    pytest.importorskip("tqdm")
    p = problem
    a = fc.train(p.net, p.X, p.y, lr=0.05, steps=200, progress=True)
    b = fc.train(p.net, p.X, p.y, lr=0.05, steps=200)
    assert a.net == b.net


# -------------------------------------------------------------------------------------------------
# Stopping: convergence and divergence
# -------------------------------------------------------------------------------------------------
def test_tol_converges_and_stops_early():
    """With tol, the run stops at the first t with ||grad L_lambda(theta_t)|| <= tol (as the
    NumPy loop sees it), converged=True, and the last history row is that step."""
    p = ball_problem(100, 3, 12, seed=5)
    lr = 0.5 / fc.hessian_trace(p.net, p.X, p.y)
    _, losses, gnorms, _ = ref.gradient_descent(p.net.params(), p.X, p.y, 3, 12, lr, 300, weight_decay=1e-3)
    tol = gnorms[150] * (1 + 1e-9)
    t_star = int(np.argmax(gnorms <= tol))
    # the test needs a crossing that rounding cannot move
    assert np.all(np.abs(gnorms[:t_star] - tol) > 1e-7 * tol) and 0 < t_star <= 150
    res = fc.train(p.net, p.X, p.y, lr=lr, steps=10_000, tol=tol, weight_decay=1e-3, record_every=100)
    assert res.converged and not res.diverged
    assert res.steps_run == t_star
    assert res.final_grad_norm <= tol
    assert res.history["step"][-1] == t_star
    assert res.history["grad_norm"][-1] == res.final_grad_norm
    np.testing.assert_allclose(res.final_loss, losses[t_star], rtol=1e-10)


def test_tol_already_met_at_start(problem):
    """A tol above the initial gradient norm stops at step 0 with the input network."""
    p = problem
    res = fc.train(p.net, p.X, p.y, lr=0.1, steps=100, tol=1e6)
    assert res.converged and res.steps_run == 0 and res.net == p.net
    np.testing.assert_array_equal(res.history["step"], [0])


def test_no_convergence_without_tol(problem):
    p = problem
    res = fc.train(p.net, p.X, p.y, lr=0.1, steps=20)
    assert not res.converged and res.steps_run == 20


@pytest.mark.parametrize("lr", [1e3, 1e6, 1e12])
def test_divergence_detected(lr):
    """A huge step size: diverged=True, diverged_step >= 1 is the first step whose loss is
    non-finite or above max_loss; the returned net is the last finite iterate
    (steps_run = diverged_step - 1), finite, and final_loss/final_grad_norm describe it."""
    p = ball_problem(100, 3, 16, seed=2)
    res = fc.train(p.net, p.X, p.y, lr=lr, steps=1000)
    assert res.diverged and not res.converged
    assert isinstance(res.diverged_step, int) and res.diverged_step >= 1
    assert res.steps_run == res.diverged_step - 1
    theta = res.net.params()
    assert np.all(np.isfinite(theta))
    assert np.isfinite(res.final_loss) and np.isfinite(res.final_grad_norm)
    np.testing.assert_allclose(res.final_loss, ref.loss(*ref.params_of(res.net), p.X, p.y), rtol=1e-12)
    np.testing.assert_allclose(
        res.final_grad_norm, np.linalg.norm(ref.gradient(*ref.params_of(res.net), p.X, p.y)), rtol=1e-12
    )
    # the iterate is the one the NumPy loop reaches after steps_run updates
    thetas, losses, _, _ = ref.gradient_descent(p.net.params(), p.X, p.y, 3, 16, lr, res.diverged_step)
    assert_close_theta(theta, thetas[res.steps_run])
    nxt = losses[res.diverged_step]
    assert (not np.isfinite(nxt)) or nxt > 1e8 * max(1.0, losses[0]) * (1 - 1e-9)
    assert np.all(np.isfinite(losses[: res.diverged_step]))
    assert np.all(losses[: res.diverged_step] <= 1e8 * max(1.0, losses[0]))
    h = res.history
    assert np.all(np.isfinite(h["loss"])) and h["step"][-1] == res.steps_run


def test_divergence_with_max_loss():
    """max_loss sets the threshold: a run whose loss first exceeds it at step t stops there."""
    p = ball_problem(100, 3, 16, seed=2)
    lr = 5.0 / fc.hessian_trace(p.net, p.X, p.y) * 20  # unstable
    _, losses, _, _ = ref.gradient_descent(p.net.params(), p.X, p.y, 3, 16, lr, 30)
    assert losses[-1] > 10 * losses[0], "the run must blow up for this test"
    max_loss = float(np.sqrt(losses[0] * losses[-1]))
    t = int(np.argmax(losses > max_loss))
    assert np.all(np.abs(losses[: t + 1] - max_loss) > 1e-6 * max_loss)
    res = fc.train(p.net, p.X, p.y, lr=lr, steps=30, max_loss=max_loss)
    assert res.diverged and res.diverged_step == t and res.steps_run == t - 1
    assert res.final_loss <= max_loss


def test_diverged_at_step_zero_reports_gradient_norm(problem):
    """max_loss below L(theta_0): diverged at step 0, net = the input; final_loss and
    final_grad_norm are L and ||grad L|| at that net (TrainResult's documented meaning)."""
    p = problem
    L0 = ref.loss(*p.arrays)
    res = fc.train(p.net, p.X, p.y, lr=0.1, steps=10, max_loss=0.5 * L0)
    assert res.diverged and res.diverged_step == 0 and res.steps_run == 0
    assert res.net == p.net
    np.testing.assert_allclose(res.final_loss, L0, rtol=1e-12)


def test_diverged_at_step_zero(problem):
    """final_grad_norm is ||grad L_lambda|| at the returned net, also when the run diverged at
    step 0; the last step (0) is recorded."""
    p = problem
    L0 = ref.loss(*p.arrays)
    res = fc.train(p.net, p.X, p.y, lr=0.1, steps=10, max_loss=0.5 * L0)
    assert res.final_grad_norm == pytest.approx(np.linalg.norm(ref.gradient(*p.arrays)), rel=1e-12)
    assert len(res.history) >= 1 and res.history["step"][-1] == 0


# -------------------------------------------------------------------------------------------------
# Thread count: same bits
# -------------------------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def big_problem():
    """Large enough for every parallel path: n = 3000 rows (32 chunks), P = 201 * 22 + 1 > 4096
    (parallel reductions), several Hessian column blocks."""
    return ball_problem(3000, 20, 201, seed=11)


@pytest.mark.parametrize(
    "fn", ["predict", "loss", "gradient", "hvp", "hessian", "hessian_trace", "trace_per_neuron", "train"]
)
def test_results_identical_for_1_2_3_threads(fn, big_problem):
    """Every numeric function gives bit-identical results for n_threads = 1, 2, 3."""
    p = big_problem
    u = np.random.default_rng(0).standard_normal(p.net.n_params)
    small = fc.Network.init(10, 100, seed=1)  # P = 1201: 19 column blocks of the dense Hessian
    calls = {
        "predict": lambda t: p.net.predict(p.X, n_threads=t),
        "loss": lambda t: np.array(fc.loss(p.net, p.X, p.y, n_threads=t)),
        "gradient": lambda t: fc.gradient(p.net, p.X, p.y, n_threads=t),
        "hvp": lambda t: np.concatenate(
            [fc.hvp(p.net, p.X, p.y, u, part=part, n_threads=t) for part in ("full", "gauss_newton", "residual")]
        ),
        "hessian": lambda t: fc.hessian(small, p.X[:400, :10], p.y[:400], n_threads=t),
        "hessian_trace": lambda t: np.array(fc.hessian_trace(p.net, p.X, p.y, n_threads=t)),
        "trace_per_neuron": lambda t: fc.trace_per_neuron(p.net, p.X, n_threads=t),
        "train": lambda t: _train_bits(
            fc.train(
                p.net, p.X, p.y, lr=0.05, steps=20, weight_decay=1e-3, clip_grad_norm=0.1, record_every=3, n_threads=t
            )
        ),
    }
    results = [calls[fn](t) for t in (1, 2, 3)]
    for other in results[1:]:
        np.testing.assert_array_equal(other, results[0])


@pytest.mark.parametrize("n", [300, 511])
def test_small_data_results_identical_for_any_thread_count(n):
    """Fewer than 512 rows are cut into 8 chunks of at least 32 rows (more chunks than the 64-row
    rule gives, so that small steps can use 8 threads): the same bits for 1, 2, 3 and 8 threads."""
    p = ball_problem(n, 8, 64, seed=5)
    u = np.random.default_rng(1).standard_normal(p.net.n_params)
    calls = [
        lambda t: p.net.predict(p.X, n_threads=t),
        lambda t: fc.gradient(p.net, p.X, p.y, n_threads=t),
        lambda t: np.concatenate(
            [fc.hvp(p.net, p.X, p.y, u, part=part, n_threads=t) for part in ("full", "gauss_newton", "residual")]
        ),
        lambda t: _train_bits(fc.train(p.net, p.X, p.y, lr=0.05, steps=10, record_every=2, n_threads=t)),
    ]
    for call in calls:
        results = [call(t) for t in (1, 2, 3, 8)]
        for other in results[1:]:
            np.testing.assert_array_equal(other, results[0])


def _train_bits(res):
    h = res.history
    return np.concatenate(
        [res.net.params(), [res.final_loss, res.final_grad_norm, res.steps_run]]
        + [np.asarray(h[c], dtype=float) for c in COLUMNS]
    )


@pytest.fixture
def restless_threads():
    """Training loops whose thread count changes nearly every step: the windows, intervals and
    spacing of their thread tuner (cpp/src/thread_tuner.hpp) set to 0; the defaults after."""
    from flatcore import _core

    _core._set_thread_tuner_settings(window_s=0, probe_s=0, first_interval_s=0, max_interval_s=0, spacing=0)
    yield
    _core._set_thread_tuner_settings()


@pytest.mark.parametrize("adaptive", ["1", "0"])
def test_train_with_changing_thread_count_is_bit_identical(big_problem, restless_threads, monkeypatch, adaptive):
    """train adapts its thread count while it runs (n_threads is the most it uses): with the count
    changing nearly every step, runs at n_threads = 2 and 3 equal the 1-thread run bit for bit,
    sharpness tracking included (its eigensolves use the count of the moment); so do runs with
    the adaptation off (FLATCORE_ADAPTIVE_THREADS=0)."""
    p = big_problem
    monkeypatch.setenv("FLATCORE_ADAPTIVE_THREADS", adaptive)

    def run(t):
        res = fc.train(p.net, p.X, p.y, lr=0.05, steps=40, record_every=3, sharpness_every=9, n_threads=t)
        return np.concatenate([_train_bits(res), res.history["sharpness"], res.history["sharpness_n_hvp"]])

    one = run(1)
    for t in (2, 3):
        np.testing.assert_array_equal(run(t), one)


def test_adaptive_threads_environment_variable_is_checked(monkeypatch):
    p = ball_problem(64, 3, 8, seed=0)
    monkeypatch.setenv("FLATCORE_ADAPTIVE_THREADS", "maybe")
    with pytest.raises(ValueError, match="FLATCORE_ADAPTIVE_THREADS must be 1 or 0"):
        fc.train(p.net, p.X, p.y, lr=0.05, steps=2, n_threads=2)


def test_set_num_threads_default(big_problem):
    """set_num_threads sets the default that calls without n_threads use; None restores it;
    the result is the same either way."""
    p = big_problem
    default = fc.get_num_threads()
    assert default >= 1
    ref_grad = fc.gradient(p.net, p.X, p.y, n_threads=1)
    fc.set_num_threads(3)
    assert fc.get_num_threads() == 3
    np.testing.assert_array_equal(fc.gradient(p.net, p.X, p.y), ref_grad)
    fc.set_num_threads(None)
    assert fc.get_num_threads() == default


def test_num_threads_environment_variable():
    """FLATCORE_NUM_THREADS sets the default thread count (read in a fresh interpreter)."""
    import os
    import subprocess
    import sys

    env = dict(os.environ, FLATCORE_NUM_THREADS="3")
    out = subprocess.run(
        [sys.executable, "-c", "import flatcore; print(flatcore.get_num_threads())"],
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
    )
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "3"


def test_progress_reports_gd_steps_while_tracking_sharpness():
    """The progress callable hears the GD step, never going back, also from inside the
    eigensolves of sharpness tracking (which count Hessian-vector products, not steps)."""
    from flatcore import _core

    X, y = fc.data.regression(1500, 8, seed=0)
    net = fc.Network.init(8, 200, seed=0)
    heard = []
    options = _core.TrainOptions(lr=0.05, steps=300, sharpness_every=1, record_every=100)
    _core.train(net, X, y, options, progress=heard.append)
    assert len(heard) >= 2, "the run was too short to be polled"
    assert heard == sorted(heard) and 0 <= heard[0] and heard[-1] <= 300
    assert heard[-1] >= 50


# -------------------------------------------------------------------------------------------------
# What a run records besides the loss: test and clean MSE, dead and rarely active neurons
# -------------------------------------------------------------------------------------------------
def _noisy_problem(seed=0):
    X, f = fc.data.regression(120, 3, noise=0.0, seed=seed)
    y = f + 0.5 * np.random.default_rng(seed + 100).standard_normal(f.shape[0])
    X_test, f_test = fc.data.regression(70, 3, noise=0.0, seed=seed + 1)
    return fc.Network.init(3, 40, seed=seed + 2), X, y, f, X_test, f_test


@pytest.mark.parametrize("loss", ["half_mse", "mse"])
def test_recorded_test_and_clean_mse_equal_a_direct_evaluation(loss):
    net, X, y, f, X_test, f_test = _noisy_problem()
    res = fc.train(net, X, y, 0.1, 40, loss=loss, record_every=10, test=(X_test, f_test), y_clean=f)
    h = res.history
    assert {"test_mse", "clean_mse"} <= set(h.columns) and list(h["step"]) == [0, 10, 20, 30, 40]
    for j, t in enumerate(h["step"]):
        net_t = fc.train(net, X, y, 0.1, int(t), loss=loss).net  # theta_t, run again to step t
        assert h["test_mse"][j] == pytest.approx(np.mean((net_t(X_test) - f_test) ** 2), rel=1e-12)
        assert h["clean_mse"][j] == pytest.approx(np.mean((net_t(X) - f) ** 2), rel=1e-10)
    # The recorded columns do not change the trajectory.
    np.testing.assert_array_equal(res.net.params(), fc.train(net, X, y, 0.1, 40, loss=loss).net.params())
    # clean_mse is not the loss: the loss contains the label noise.
    assert h["clean_mse"][-1] < 2 * h["loss"][-1] / fc.loss_scale(loss)


def test_evaluation_sets_are_checked():
    net, X, y, f, X_test, f_test = _noisy_problem()
    with pytest.raises(ValueError, match="X_test must have shape"):
        fc.train(net, X, y, 0.1, 1, test=(X_test[:, :2], f_test))
    with pytest.raises(ValueError, match="y_test has 3 values"):
        fc.train(net, X, y, 0.1, 1, test=(X_test, f_test[:3]))
    with pytest.raises(ValueError, match="y_clean has 5 values"):
        fc.train(net, X, y, 0.1, 1, y_clean=f[:5])
    with pytest.raises(TypeError, match="pair"):
        fc.train(net, X, y, 0.1, 1, test=X_test)
    with pytest.raises(ValueError, match="NaN"):
        fc.train(net, X, y, 0.1, 1, y_clean=np.full_like(f, np.nan))


def test_dead_and_rare_fractions_come_from_the_activation_rates():
    X, y = fc.data.regression(200, 4, seed=3)
    net = fc.Network.init(4, 60, seed=4)
    # Push some neurons off the data (dead) and some to its edge (rarely active).
    net.b[:10] = 5.0
    net.b[10:20] = 0.8 * np.linalg.norm(net.W[10:20], axis=1)
    for rare_share in (0.1, 0.3):
        res = fc.train(net, X, y, 0.01, 3, rare_share=rare_share, record_every=3)
        rates = fc.activation_rates(res.net, X)
        assert res.history["dead_fraction"][-1] == np.mean(rates == 0)
        assert res.history["rare_fraction"][-1] == np.mean((rates > 0) & (rates <= rare_share))
        assert res.history["active_fraction"][-1] == pytest.approx(rates.mean(), rel=1e-14)
        assert res.history["dead_fraction"][-1] >= 10 / 60
    assert res.history["rare_fraction"][0] > 0


def test_the_gradient_pass_counts_active_points_and_keeps_the_residuals(problem):
    from flatcore import _core

    out = _core.loss_and_gradient(problem.net, problem.X, problem.y)
    n = problem.X.shape[0]
    np.testing.assert_array_equal(out.active_count, np.rint(fc.activation_rates(problem.net, problem.X) * n))
    np.testing.assert_allclose(out.residuals, problem.net(problem.X) - problem.y, rtol=1e-13, atol=1e-13)


# -------------------------------------------------------------------------------------------------
# A run carried on from an earlier result
# -------------------------------------------------------------------------------------------------
def test_a_run_in_pieces_equals_the_run_at_once():
    net, X, y, f, X_test, f_test = _noisy_problem(1)
    kw = dict(record_every=5, sharpness_every=10, test=(X_test, f_test), y_clean=f, clip_grad_norm=1.0)
    once = fc.train(net, X, y, 0.2, 60, **kw)
    first = fc.train(net, X, y, 0.2, 20, **kw)
    pieces = fc.train(fc.train(first, X, y, 0.2, 30, **kw), X, y, 0.2, 10, **kw)
    np.testing.assert_array_equal(pieces.net.params(), once.net.params())
    assert pieces.history.columns == once.history.columns
    for name in once.history.columns:
        np.testing.assert_array_equal(pieces.history[name], once.history[name], err_msg=name)
    assert pieces.steps_run == 60 and pieces.config["steps"] == 60 and first.steps_run == 20
    assert pieces.final_loss == once.final_loss


def test_a_piece_ending_off_the_record_grid_adds_its_row():
    X, y = fc.data.regression(80, 2, seed=2)
    net = fc.Network.init(2, 10, seed=3)
    once = fc.train(net, X, y, 0.1, 30, record_every=10)
    pieces = fc.train(fc.train(net, X, y, 0.1, 13, record_every=10), X, y, 0.1, 17, record_every=10)
    assert list(pieces.history["step"]) == [0, 10, 13, 20, 30]
    np.testing.assert_array_equal(pieces.net.params(), once.net.params())
    keep = pieces.history["step"] != 13
    np.testing.assert_array_equal(pieces.history["loss"][keep], once.history["loss"])


def test_carrying_on_with_other_columns_fills_the_gaps():
    X, y = fc.data.regression(80, 2, seed=2)
    net = fc.Network.init(2, 10, seed=3)
    first = fc.train(net, X, y, 0.1, 4, record_every=2)
    later = fc.train(first, X, y, 0.1, 4, record_every=2, sharpness_every=2, test=(X, y))
    h = later.history
    assert list(h["step"]) == [0, 2, 4, 6, 8]
    assert np.isnan(h["sharpness"][:3]).all() and np.isfinite(h["sharpness"][3:]).all()
    assert (h["sharpness_n_hvp"][:3] == 0).all() and h["sharpness_n_hvp"].dtype.kind == "i"
    assert np.isnan(h["test_mse"][:3]).all() and np.isfinite(h["test_mse"][3:]).all()
    assert later.resume.step == 8 and later.resume.recorded
    # The result pickles, resume state included, and carries on after a round trip.
    again = pickle.loads(pickle.dumps(later))
    np.testing.assert_array_equal(
        fc.train(again, X, y, 0.1, 2).net.params(), fc.train(later, X, y, 0.1, 2).net.params()
    )
