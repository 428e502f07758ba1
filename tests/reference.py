"""Independent NumPy reimplementations of docs/math.md, sections 1-3, and rounding-error scales.

Nothing here calls flatcore's numerics: these are the routes the tests compare it against.
Every function takes plain arrays (or anything with attributes W, b, v, beta).

Error scales
------------
Comparisons between two float64 computations of the same quantity cannot be tighter than the
rounding of the sums involved, and that rounding is relative to the size of the *terms*, not of
the result (residuals r_i = f(x_i) - y_i may cancel). The ``*_scale`` helpers return, for each
computed quantity, the same expression evaluated on absolute values; ``gamma(...)`` is a
conservative relative unit roundoff for sums of the given length. A test then asserts
``|a - b| <= gamma * scale`` (plus a relative tolerance where a test asks for one): a bound that
holds for any correct implementation, and is orders of magnitude below the size of any formula
mistake (a wrong factor, sign, index or mask).
"""

from __future__ import annotations

import numpy as np

EPS = np.finfo(np.float64).eps


# -------------------------------------------------------------------------------------------------
# Section 1: model and layout
# -------------------------------------------------------------------------------------------------
def unpack(theta, d, width):
    """theta = [W row-major (width*d) | b (width) | v (width) | beta] -> (W, b, v, beta)."""
    theta = np.asarray(theta, dtype=np.float64)
    Kd = width * d
    assert theta.shape == (width * (d + 2) + 1,)
    return (theta[:Kd].reshape(width, d), theta[Kd : Kd + width], theta[Kd + width : Kd + 2 * width], float(theta[-1]))


def pack(W, b, v, beta):
    return np.concatenate([np.asarray(W, float).reshape(-1), np.asarray(b, float), np.asarray(v, float), [float(beta)]])


def params_of(net):
    return net.W, net.b, net.v, float(net.beta)


def forward(W, b, v, beta, X):
    """(Z, A, Phi, f): pre-activations z_ik, mask a_ik = 1[z_ik > 0], phi_ik, outputs f(x_i)."""
    Z = X @ W.T - b[None, :]
    A = (Z > 0).astype(np.float64)  # relu'(0) := 0
    Phi = np.maximum(Z, 0.0)
    f = Phi @ v + beta
    return Z, A, Phi, f


def predict(W, b, v, beta, X):
    return forward(W, b, v, beta, X)[3]


def loss(W, b, v, beta, X, y):
    """L = 1/(2n) sum_i r_i^2."""
    r = predict(W, b, v, beta, X) - y
    return 0.5 * float(np.dot(r, r)) / X.shape[0]


def loss_theta(theta, X, y, d, width):
    return loss(*unpack(theta, d, width), X, y)


# -------------------------------------------------------------------------------------------------
# Section 2: gradient, written block by block from the formulas
# -------------------------------------------------------------------------------------------------
def gradient(W, b, v, beta, X, y):
    """dL/dbeta = mean r; dL/dv_k = mean r phi_k; dL/dw_k = mean r v_k a_k x; dL/db_k = -mean r v_k a_k."""
    n = X.shape[0]
    _, A, Phi, f = forward(W, b, v, beta, X)
    r = f - y
    RA = r[:, None] * A  # r_i a_ik
    gW = v[:, None] * (RA.T @ X) / n  # (K, d)
    gb = -v * RA.sum(axis=0) / n
    gv = Phi.T @ r / n
    gbeta = r.sum() / n
    return pack(gW, gb, gv, gbeta)


def gradient_theta(theta, X, y, d, width):
    return gradient(*unpack(theta, d, width), X, y)


def weight_decay_mask(d, width, decay_biases=False):
    """1 on the decayed entries of theta: W and v (and b, beta with decay_biases)."""
    W = np.ones((width, d))
    b = np.full(width, 1.0 if decay_biases else 0.0)
    v = np.ones(width)
    return pack(W, b, v, 1.0 if decay_biases else 0.0)


# -------------------------------------------------------------------------------------------------
# Section 3: Jacobian, Hessian parts, HVP, trace
# -------------------------------------------------------------------------------------------------
def jacobian(W, b, v, beta, X):
    """J (n x P), row i is g_i = grad_theta f(x_i): d/dw_k = v_k a_ik x_i, d/db_k = -v_k a_ik,
    d/dv_k = phi_ik, d/dbeta = 1."""
    n, d = X.shape
    K = W.shape[0]
    _, A, Phi, _ = forward(W, b, v, beta, X)
    JW = (A * v[None, :])[:, :, None] * X[:, None, :]  # (n, K, d)
    return np.concatenate([JW.reshape(n, K * d), -A * v[None, :], Phi, np.ones((n, 1))], axis=1)


def v_cross_blocks(vw, vb):
    """The P x P symmetric matrix whose only non-zero blocks couple v_k with w_k (entries vw[k],
    shape (K, d)) and with b_k (entry vb[k]): the pattern of the residual part of H."""
    K, d = vw.shape
    P = K * (d + 2) + 1
    M = np.zeros((P, P))
    for k in range(K):
        iv = K * d + K + k
        M[iv, k * d : (k + 1) * d] = vw[k]
        M[k * d : (k + 1) * d, iv] = vw[k]
        M[iv, K * d + k] = vb[k]
        M[K * d + k, iv] = vb[k]
    return M


def residual_hessian(W, b, v, beta, X, y):
    """(1/n) sum_i r_i Hf_i with d2f/dv_k dw_k = a_ik x_i and d2f/dv_k db_k = -a_ik, all else 0."""
    n = X.shape[0]
    _, A, _, f = forward(W, b, v, beta, X)
    r = f - y
    RA = r[:, None] * A
    vw = RA.T @ X / n  # (K, d): (1/n) sum_i r_i a_ik x_i
    vb = -RA.sum(axis=0) / n  # (K,)
    return v_cross_blocks(vw, vb)


def hessian(W, b, v, beta, X, y, part="full"):
    n = X.shape[0]
    out = 0.0
    if part in ("full", "gauss_newton"):
        J = jacobian(W, b, v, beta, X)
        out = out + J.T @ J / n
    if part in ("full", "residual"):
        out = out + residual_hessian(W, b, v, beta, X, y)
    return out


def hvp(W, b, v, beta, X, y, u, part="full"):
    """The HVP formulas of docs/math.md, section 3, without forming any P x P matrix."""
    n, d = X.shape
    K = W.shape[0]
    UW, ub, uv, ubeta = unpack(u, d, K)
    _, A, Phi, f = forward(W, b, v, beta, X)
    r = f - y
    T = X @ UW.T - ub[None, :]  # x_i . U_W,k - u_b,k
    gW = np.zeros((K, d))
    gb = np.zeros(K)
    gv = np.zeros(K)
    gbeta = 0.0
    if part in ("full", "gauss_newton"):
        s = ubeta + Phi @ uv + (A * v[None, :] * T).sum(axis=1)  # s = J u
        SA = s[:, None] * A
        gW += v[:, None] * (SA.T @ X) / n
        gb += -v * SA.sum(axis=0) / n
        gv += Phi.T @ s / n
        gbeta += s.sum() / n
    if part in ("full", "residual"):
        RA = r[:, None] * A
        gv += (RA * T).sum(axis=0) / n
        gW += uv[:, None] * (RA.T @ X) / n
        gb += -uv * RA.sum(axis=0) / n
    return pack(gW, gb, gv, gbeta)


def trace_per_neuron(W, b, v, beta, X):
    """mean_i phi_ik^2 + v_k^2 mean_i a_ik (||x_i||^2 + 1)."""
    _, A, Phi, _ = forward(W, b, v, beta, X)
    x2 = (X * X).sum(axis=1) + 1.0
    return (Phi**2).mean(axis=0) + v**2 * (A * x2[:, None]).mean(axis=0)


def hessian_trace(W, b, v, beta, X):
    """tr H = 1 + (1/n) sum_ik [phi_ik^2 + v_k^2 a_ik (||x_i||^2 + 1)]."""
    return 1.0 + float(trace_per_neuron(W, b, v, beta, X).sum())


# -------------------------------------------------------------------------------------------------
# Rounding-error scales (see the module docstring)
# -------------------------------------------------------------------------------------------------
def gamma(n, d, width, factor=8.0):
    """Conservative relative rounding unit for the sums of a problem of this size."""
    return factor * (n + d + width + 8) * EPS


def zabs(W, b, X):
    """|X| |W|^T + |b|: the size of the terms of z_ik."""
    return np.abs(X) @ np.abs(W).T + np.abs(b)[None, :]


def output_scale(W, b, v, beta, X, y):
    """Fy_i = |beta| + sum_k |v_k| (|w_k|.|x_i| + |b_k|) + |y_i|: the size of the terms of r_i."""
    return abs(beta) + zabs(W, b, X) @ np.abs(v) + np.abs(y)


def jacobian_scale(W, b, v, beta, X):
    """|J| with phi_ik replaced by the size of its terms (where the neuron is active)."""
    n, d = X.shape
    K = W.shape[0]
    _, A, _, _ = forward(W, b, v, beta, X)
    JW = (A * np.abs(v)[None, :])[:, :, None] * np.abs(X)[:, None, :]
    return np.concatenate([JW.reshape(n, K * d), A * np.abs(v)[None, :], A * zabs(W, b, X), np.ones((n, 1))], axis=1)


def loss_scale(W, b, v, beta, X, y):
    r = predict(W, b, v, beta, X) - y
    return float(np.mean(np.abs(r) * output_scale(W, b, v, beta, X, y))) + 0.5 * float(np.mean(r * r))


def gradient_scale(W, b, v, beta, X, y):
    Fy = output_scale(W, b, v, beta, X, y)
    return Fy @ jacobian_scale(W, b, v, beta, X) / X.shape[0]


def hessian_scale(W, b, v, beta, X, y):
    """|J|^T |J| / n + |residual part| with |r_i| replaced by the size of its terms."""
    n = X.shape[0]
    Ja = jacobian_scale(W, b, v, beta, X)
    Fy = output_scale(W, b, v, beta, X, y)
    _, A, _, _ = forward(W, b, v, beta, X)
    FA = Fy[:, None] * A
    R = v_cross_blocks(FA.T @ np.abs(X) / n, FA.sum(axis=0) / n)
    return Ja.T @ Ja / n + R


def relative_kink_margin(W, b, X):
    """min_ik |z_ik| / (|w_k|.|x_i| + |b_k|): how far (relatively) every point is from a kink."""
    Z = X @ W.T - b[None, :]
    scale = zabs(W, b, X)
    with np.errstate(divide="ignore", invalid="ignore"):
        rel = np.where(scale > 0, np.abs(Z) / scale, np.inf)
    return float(rel.min())


def kink_free_steps(W, b, X):
    """For each coordinate j of theta, the largest |h| such that theta + h e_j has the same
    activation pattern (inf for v and beta, which have no kinks)."""
    _n, _d = X.shape
    K = W.shape[0]
    Z = X @ W.T - b[None, :]
    absZ = np.abs(Z)  # (n, K)
    with np.errstate(divide="ignore"):
        # w_kj: z_ik moves by h x_ij for every i
        hW = np.min(absZ[:, :, None] / np.abs(X)[:, None, :], axis=0)  # (K, d)
    hb = absZ.min(axis=0)
    return np.concatenate([hW.reshape(-1), hb, np.full(K, np.inf), [np.inf]])


# -------------------------------------------------------------------------------------------------
# Gradient descent, the plain way
# -------------------------------------------------------------------------------------------------
def gradient_descent(theta0, X, y, d, width, lr, steps, weight_decay=0.0, decay_biases=False, clip_grad_norm=None):
    """theta <- theta - lr (clip(grad L) + lambda * mask * theta). Returns the list of iterates
    theta_0..theta_steps and, for each, (L, ||grad L_lambda||, ||grad L|| before clipping)."""
    mask = weight_decay_mask(d, width, decay_biases)
    theta = np.array(theta0, dtype=np.float64)
    thetas, losses, gnorms, raw_gnorms = [], [], [], []
    for t in range(steps + 1):
        g = gradient_theta(theta, X, y, d, width)
        full = g + weight_decay * mask * theta
        thetas.append(theta.copy())
        losses.append(loss_theta(theta, X, y, d, width))
        gnorms.append(float(np.linalg.norm(full)))
        raw_gnorms.append(float(np.linalg.norm(g)))
        if t == steps:
            break
        step = g.copy()
        if clip_grad_norm is not None:
            gn = np.linalg.norm(g)
            if gn > clip_grad_norm:
                step = step * (clip_grad_norm / gn)
        step = step + weight_decay * mask * theta
        theta = theta - lr * step
    return thetas, np.array(losses), np.array(gnorms), np.array(raw_gnorms)
