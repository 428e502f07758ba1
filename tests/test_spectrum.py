"""docs/math.md, section 4: sharpness and extreme eigenpairs of the Hessian, matrix-free vs dense."""

import pickle

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy.sparse.linalg import LinearOperator, eigsh

import flatcore as fc
from conftest import make_problem, problems, seeds


def dense_spectrum(net, X, y, part="full"):
    return np.linalg.eigh(fc.hessian(net, X, y, part=part))


def trained_problem(n=150, d=3, width=40, lr=0.5, steps=300, seed=0):
    X, y = fc.data.regression(n, d, seed=seed)
    net = fc.train(fc.Network.init(d, width, seed=seed), X, y, lr, steps).net
    return net, X, y


@given(problems(max_d=8, max_width=40, max_n=120, min_n=2), st.sampled_from(["full", "gauss_newton", "residual"]))
def test_lanczos_top_eigenvalue_matches_eigvalsh(pb, part):
    """lambda_max by Lanczos equals numpy.linalg.eigvalsh's to 1e-9 relative (to the spectral norm)."""
    P = pb.net.n_params
    if P < 4:
        return
    evals, _ = dense_spectrum(pb.net, pb.X, pb.y, part)
    res = fc.top_eigs(pb.net, pb.X, pb.y, 1, "largest", part=part, method="lanczos")
    scale = max(np.abs(evals).max(), 1e-300)
    assert res.converged
    assert abs(res.values[0] - evals[-1]) <= 1e-9 * scale
    # the reported residual is the true one
    H = fc.hessian(pb.net, pb.X, pb.y, part=part)
    q = res.vectors[:, 0]
    assert np.linalg.norm(q) == pytest.approx(1.0, rel=1e-10)
    assert res.residual_norms[0] == pytest.approx(np.linalg.norm(H @ q - res.values[0] * q), abs=1e-12 * scale)
    assert res.residual_norms[0] <= 1e-8 * scale


@given(
    problems(max_d=8, max_width=40, max_n=120, min_n=2),
    st.sampled_from(["full", "gauss_newton", "residual"]),
    st.sampled_from(["largest", "smallest"]),
)
def test_eigenvalue_stopping_rule_meets_its_tolerance(pb, part, which):
    """stop="eigenvalue" (the sharpness default). Always: the value is within its residual of an
    eigenvalue, the error estimate is at most the residual, and no more products are used than
    by stop="residual" (where that converges). Where the wanted eigenvalue is separated from the next by more than
    1e-4 of the spectrum (the estimate's assumption), it is within 10 tol of eigvalsh's and the
    estimate accounts for the actual error."""
    P = pb.net.n_params
    if P < 4:
        return
    evals = np.linalg.eigvalsh(fc.hessian(pb.net, pb.X, pb.y, part=part))
    ordered = evals[::-1] if which == "largest" else evals
    scale = max(np.abs(evals).max(), 1e-300)
    tol = 1e-10
    res = fc.top_eigs(pb.net, pb.X, pb.y, 1, which, part=part, tol=tol, stop="eigenvalue", method="lanczos")
    assert res.converged and res.stop == "eigenvalue"
    lam, r = res.values[0], res.residual_norms[0]
    assert np.min(np.abs(evals - lam)) <= r + 1e-13 * scale
    assert res.error_bounds[0] <= r
    # (the residual rule can take very long on a cluster at 0, e.g. the Gauss-Newton null space)
    by_residual = fc.top_eigs(pb.net, pb.X, pb.y, 1, which, part=part, tol=tol, method="lanczos", max_restarts=20)
    if by_residual.converged:
        assert res.n_hvp <= by_residual.n_hvp
    if abs(ordered[0] - ordered[1]) >= 1e-4 * scale:
        err = abs(lam - ordered[0])
        assert err <= 10 * tol * scale
        assert err <= 10 * res.error_bounds[0] + 1e-13 * scale


def test_sharpness_stops_on_the_eigenvalue_at_a_trained_point():
    """At a trained point (well-separated top eigenvalue) the eigenvalue rule reaches 1e-10 with
    fewer products than the residual rule (the default); the error estimate tracks the actual
    error; results pickle."""
    net, X, y = trained_problem(n=200, d=3, width=60)
    exact = np.linalg.eigvalsh(fc.hessian(net, X, y))[-1]
    fast = fc.sharpness(net, X, y, method="lanczos", stop="eigenvalue", return_result=True)
    slow = fc.sharpness(net, X, y, method="lanczos", return_result=True)
    assert slow.stop == "residual" and fast.stop == "eigenvalue"
    assert abs(fast.values[0] - exact) <= 1e-10 * exact
    assert abs(fast.values[0] - exact) <= 10 * fast.error_bounds[0] + 1e-14 * exact
    assert abs(slow.values[0] - exact) <= 1e-12 * exact
    assert fast.n_hvp < slow.n_hvp
    assert fc.sharpness(net, X, y, method="lanczos") == slow.values[0]
    back = pickle.loads(pickle.dumps(fast))
    assert back.stop == "eigenvalue" and np.array_equal(back.error_bounds, fast.error_bounds)
    assert np.array_equal(back.vectors, fast.vectors) and back.n_hvp == fast.n_hvp


def test_default_sharpness_is_accurate_on_a_nearly_degenerate_top_pair():
    """Two neurons that differ on one data point give a top pair of eigenvalues about 1e-6 apart
    (relative): the default (residual) rule still finds lambda_max to 1e-10."""
    rng = np.random.default_rng(1)
    n, d, K = 300, 6, 40
    X, y = rng.standard_normal((n, d)), rng.standard_normal(n)
    W = rng.standard_normal((K, d)) / np.sqrt(d)
    b, v = rng.standard_normal(K) * 0.3, rng.standard_normal(K) / np.sqrt(K)
    H = fc.hessian(fc.Network(W, b, v, 0.1), X, y, part="residual")
    top = np.linalg.eigh(H)[1][:, -1]
    k = int(np.argmax(np.abs(top[-1 - K : -1])))
    j = (k + 1) % K
    z = X @ W[k]
    inactive = np.where(z - b[k] <= 0)[0]
    i_star = inactive[np.argmax(z[inactive])]
    W[j], v[j], b[j] = W[k], v[k], z[i_star] - 1e-9  # neuron j: neuron k, also active on x_{i*}
    net = fc.Network(W, b, v, 0.1)
    y[i_star] = net.predict(X)[i_star] - 1e-5  # a small residual there: a close pair
    evals = np.linalg.eigvalsh(fc.hessian(net, X, y, part="residual"))
    assert 0 < (evals[-1] - evals[-2]) / np.abs(evals).max() < 1e-4
    res = fc.sharpness(net, X, y, part="residual", method="lanczos", return_result=True)
    assert res.converged
    assert abs(res.values[0] - evals[-1]) <= 1e-10 * np.abs(evals).max()


@given(seeds, st.integers(1, 4), st.sampled_from(["largest", "smallest", "both"]))
@settings(max_examples=15)
def test_top_eigs_k_pairs_match_dense(seed, k, which):
    """The k extreme eigenpairs (each end) agree with the dense eigendecomposition."""
    pb = make_problem(80, 3, 20, seed, data="ball")
    evals, _ = dense_spectrum(pb.net, pb.X, pb.y)
    res = fc.top_eigs(pb.net, pb.X, pb.y, k, which, method="lanczos")
    scale = np.abs(evals).max()
    expected = {
        "largest": evals[::-1][:k],
        "smallest": evals[:k],
        "both": np.concatenate([evals[::-1][:k], evals[:k]]),
    }[which]
    assert res.converged
    np.testing.assert_allclose(res.values, expected, atol=1e-9 * scale, rtol=0)
    H = fc.hessian(pb.net, pb.X, pb.y)
    R = H @ res.vectors - res.vectors * res.values
    np.testing.assert_allclose(np.linalg.norm(R, axis=0), res.residual_norms, atol=1e-11 * scale)
    dense = fc.top_eigs(pb.net, pb.X, pb.y, k, which, method="dense")
    np.testing.assert_allclose(dense.values, expected, atol=1e-12 * scale, rtol=0)


def symmetric_problem(eps=0.0):
    """A problem invariant under rotations by 90 degrees of the plane: the Hessian commutes with a
    C4 action, so eigenvalues of its two-dimensional real representation come in exact pairs.
    ``eps`` breaks the symmetry slightly, leaving nearly degenerate pairs."""
    rng = np.random.default_rng(5)
    base = rng.uniform(-1, 1, size=(10, 2))
    R = np.array([[0.0, -1.0], [1.0, 0.0]])
    X = np.concatenate([base @ np.linalg.matrix_power(R, j).T for j in range(4)])
    y = np.tile(rng.standard_normal(10), 4)
    w0, b0, v0 = rng.standard_normal((3, 2)), rng.uniform(-0.5, 0.5, 3), rng.standard_normal(3)
    W = np.concatenate([w0 @ np.linalg.matrix_power(R, j).T for j in range(4)])
    b, v = np.tile(b0, 4), np.tile(v0, 4)
    W = W + eps * rng.standard_normal(W.shape)
    return fc.Network(W, b, v, 0.3), X, y


@pytest.mark.parametrize("eps", [0.0, 1e-7])
def test_degenerate_and_nearly_degenerate_top_eigenvalues(eps):
    """Exact and nearly equal eigenvalue pairs among the top k are all found, to 1e-9 relative."""
    net, X, y = symmetric_problem(eps)
    evals = np.linalg.eigvalsh(fc.hessian(net, X, y))[::-1]
    gaps = np.diff(evals[:12])
    assert np.min(np.abs(gaps)) < 1e-6 * evals[0]  # the construction does produce (near) pairs
    res = fc.top_eigs(net, X, y, 8, "largest", method="lanczos")
    assert res.converged
    np.testing.assert_allclose(res.values, evals[:8], atol=1e-9 * evals[0], rtol=0)
    # the returned vectors are orthonormal even inside a degenerate eigenspace
    np.testing.assert_allclose(res.vectors.T @ res.vectors, np.eye(8), atol=1e-8)


def test_sharpness_matches_scipy_eigsh_and_is_reproducible():
    """sharpness at a trained point equals scipy's eigsh on the same operator; same seed, same bits,
    any thread count."""
    net, X, y = trained_problem(n=300, d=4, width=80)
    op = fc.hessian_operator(net, X, y)
    assert isinstance(op, LinearOperator)
    ref = eigsh(op, k=1, which="LA", tol=1e-12)[0][0]
    lam = fc.sharpness(net, X, y, method="lanczos")
    assert lam == pytest.approx(ref, rel=1e-10)
    r1 = fc.top_eigs(net, X, y, 2, method="lanczos", seed=7, n_threads=1)
    r2 = fc.top_eigs(net, X, y, 2, method="lanczos", seed=7, n_threads=3)
    assert np.array_equal(r1.values, r2.values) and np.array_equal(r1.vectors, r2.vectors)
    assert r1.n_hvp == r2.n_hvp > 0
    r3 = fc.top_eigs(net, X, y, 2, method="lanczos", seed=8)
    np.testing.assert_allclose(r3.values, r1.values, rtol=1e-9)


def test_warm_start_needs_no_more_products():
    net, X, y = trained_problem()
    cold = fc.top_eigs(net, X, y, 1, method="lanczos", seed=3)
    warm = fc.top_eigs(net, X, y, 1, method="lanczos", v0=cold.vectors[:, 0])
    assert warm.values[0] == pytest.approx(cold.values[0], rel=1e-10)
    assert warm.n_hvp <= cold.n_hvp


def test_hessian_operator_products_and_pickle():
    """The LinearOperator applies H (dense comparison) for vectors and matrices, counts its
    products, and pickles."""
    pb = make_problem(60, 3, 10, 11)
    H = fc.hessian(pb.net, pb.X, pb.y)
    rng = np.random.default_rng(0)
    for part in ("full", "gauss_newton", "residual"):
        op = fc.hessian_operator(pb.net, pb.X, pb.y, part=part)
        Hp = fc.hessian(pb.net, pb.X, pb.y, part=part)
        u, U = rng.standard_normal(op.shape[0]), rng.standard_normal((op.shape[0], 3))
        np.testing.assert_allclose(op.matvec(u), Hp @ u, atol=1e-12 * np.abs(Hp).max())
        np.testing.assert_allclose(op.matmat(U), Hp @ U, atol=1e-12 * np.abs(Hp).max())
        np.testing.assert_allclose(op @ u, Hp @ u, atol=1e-12 * np.abs(Hp).max())
        np.testing.assert_allclose(op.T @ u, Hp @ u, atol=1e-12 * np.abs(Hp).max())
        np.testing.assert_allclose(op.rmatvec(u), Hp @ u, atol=1e-12 * np.abs(Hp).max())
        assert op.n_hvp == 7
        recomputed = fc.hessian_operator(pb.net, pb.X, pb.y, part=part, cache=False)
        assert np.array_equal(recomputed.matvec(u), op.matvec(u))  # the same arithmetic either way
    op2 = pickle.loads(pickle.dumps(fc.hessian_operator(pb.net, pb.X, pb.y)))
    np.testing.assert_allclose(op2.matvec(u), H @ u, atol=1e-12 * np.abs(H).max())
    with pytest.raises(ValueError, match="NaN"):
        op2.matvec(np.full(op2.shape[0], np.nan))


def test_operators_reuse_activation_buffers_without_their_content():
    """A new operator takes over the activation buffer of one destroyed before it (when the sizes
    are close): its products must not depend on what the earlier operator left there."""
    import gc

    big = make_problem(90, 3, 20, 1)  # activations 90 x 24 (padded)
    small = make_problem(70, 3, 17, 2)  # 70 x 24: fits the spare, at most twice the need
    u = np.random.default_rng(3).standard_normal(small.net.n_params)
    H = fc.hessian(small.net, small.X, small.y)
    expected = H @ u
    fresh = fc.hessian_operator(small.net, small.X, small.y).matvec(u)
    for _ in range(3):
        op = fc.hessian_operator(big.net, big.X, big.y)
        op.matvec(np.ones(big.net.n_params))
        del op
        gc.collect()
        again = fc.hessian_operator(small.net, small.X, small.y).matvec(u)
        np.testing.assert_allclose(again, expected, atol=1e-12 * np.abs(H).max())
        assert np.array_equal(again, fresh)


def test_exact_spectrum_and_density():
    """SLQ: each probe's quadrature gives q^T H q exactly, so the density's mean is a Hutchinson
    estimate of tr(H)/P; it must agree within 4 standard errors (Rademacher variance
    2 sum_{i != j} H_ij^2 / P^2 per probe). Its largest node converges to lambda_max."""
    pb = make_problem(50, 2, 8, 4, data="ball")
    H = fc.hessian(pb.net, pb.X, pb.y)
    evals = fc.exact_spectrum(pb.net, pb.X, pb.y)
    P = pb.net.n_params
    assert np.array_equal(evals, np.sort(evals)) and len(evals) == P
    np.testing.assert_allclose(evals, np.linalg.eigvalsh(H), atol=1e-13 * np.abs(evals).max())
    n_probes = 300
    sd = fc.spectral_density(pb.net, pb.X, pb.y, n_probes=n_probes, lanczos_steps=P, seed=0)
    assert sd.weights.sum() == pytest.approx(1.0, abs=1e-10)
    assert sd.n_hvp <= n_probes * P
    mean = (sd.weights * sd.nodes).sum()
    off = H - np.diag(np.diag(H))
    se = np.sqrt(2 * (off**2).sum() / P**2 / n_probes)
    assert abs(mean - np.trace(H) / P) <= 4 * se + 1e-12
    assert sd.nodes.max() == pytest.approx(evals[-1], rel=1e-8)
    assert sd.nodes.min() >= evals[0] - 1e-8 * np.abs(evals).max()
    grid = np.linspace(evals[0] - 1, evals[-1] + 1, 2000)
    dens = sd.smoothed(grid, 0.05)
    assert np.sum(dens) * (grid[1] - grid[0]) == pytest.approx(1.0, rel=1e-3)


def test_sharpness_tracking_in_train_matches_fresh_computation():
    """history['sharpness'] at step t equals sharpness of the iterate at step t."""
    X, y = fc.data.regression(120, 3, seed=2)
    net = fc.Network.init(3, 30, seed=2)
    res = fc.train(net, X, y, 0.4, 60, record_every=20, sharpness_every=15)
    h = res.history.to_pandas()
    computed = h[h["sharpness"].notna()]
    assert list(computed["step"]) == [0, 15, 30, 45, 60]
    assert h["sharpness"].isna().sum() == len(h) - len(computed)
    for _, row in computed.iterrows():
        step = int(row["step"])
        at = fc.train(net, X, y, 0.4, step).net if step > 0 else net
        ref = np.linalg.eigvalsh(fc.hessian(at, X, y))[-1]
        assert row["sharpness"] == pytest.approx(ref, rel=1e-9)
    # tracking does not change the trajectory
    plain = fc.train(net, X, y, 0.4, 60)
    assert np.array_equal(plain.net.W, res.net.W)


def test_edge_of_stability_after_training():
    """After GD at step eta has settled, lambda_max <= 2/eta (up to a small tolerance)."""
    X, y = fc.data.regression(100, 2, seed=0)
    for lr in (0.2, 0.8):
        res = fc.train(fc.Network.init(2, 50, seed=1), X, y, lr, 4000, tol=1e-9)
        if res.converged:
            assert fc.sharpness(res.net, X, y) <= 2 / lr * (1 + 1e-6)


def test_bad_input():
    pb = make_problem(20, 2, 3, 0)
    P = pb.net.n_params
    with pytest.raises(ValueError, match="k"):
        fc.top_eigs(pb.net, pb.X, pb.y, P + 1)
    with pytest.raises(ValueError, match="k"):
        fc.top_eigs(pb.net, pb.X, pb.y, P // 2 + 1, "both")
    with pytest.raises(ValueError, match="Lanczos"):
        fc.top_eigs(pb.net, pb.X, pb.y, P, method="lanczos")
    with pytest.raises(ValueError, match="which"):
        fc.top_eigs(pb.net, pb.X, pb.y, 1, "top")
    with pytest.raises(ValueError, match="method"):
        fc.top_eigs(pb.net, pb.X, pb.y, 1, method="arpack")
    with pytest.raises(ValueError, match="stop"):
        fc.top_eigs(pb.net, pb.X, pb.y, 1, stop="value")
    with pytest.raises(ValueError, match="v0"):
        fc.top_eigs(pb.net, pb.X, pb.y, 1, v0=np.zeros(P))
    with pytest.raises(ValueError, match="v0"):
        fc.top_eigs(pb.net, pb.X, pb.y, 1, v0=np.full(P, np.nan))
    with pytest.raises(ValueError, match="X"):
        fc.sharpness(pb.net, np.zeros((0, 2)), np.zeros(0))
    # k = P is fine on the dense route; a zero network has a well-defined spectrum
    assert len(fc.top_eigs(pb.net, pb.X, pb.y, P).values) == P
    zero = fc.Network(np.zeros((3, 2)), np.zeros(3), np.zeros(3), 0.0)
    assert fc.sharpness(zero, pb.X, pb.y) == pytest.approx(np.linalg.eigvalsh(fc.hessian(zero, pb.X, pb.y))[-1])
    # a single data point
    one = fc.sharpness(pb.net, pb.X[:1], pb.y[:1])
    assert one == pytest.approx(np.linalg.eigvalsh(fc.hessian(pb.net, pb.X[:1], pb.y[:1]))[-1], rel=1e-9)
