"""lambda_max from any HVP peer (``prepare()``, ``hvp(u)``): power iteration and SciPy's eigsh.

Each returns {"lambda_max", "n_hvp", "converged"}; the operator is prepared inside, so that a
timed solve holds everything from theta, X, y to the number.
"""

from __future__ import annotations

import numpy as np


def power_iteration(op, u0: np.ndarray, tol: float, max_hvp: int) -> dict:
    """Power iteration from the unit vector u0, until the Rayleigh quotient changes by < tol relative.

    Converges to the eigenvalue of largest modulus, which at the benchmark's points is lambda_max
    (the most negative eigenvalue is ~1e-3 of it).
    """
    op.prepare()
    q, lam_prev, lam = u0, None, float("nan")
    for k in range(1, max_hvp + 1):
        w = op.hvp(q)
        lam = float(q @ w)
        if lam_prev is not None and abs(lam - lam_prev) <= tol * abs(lam):
            return {"lambda_max": lam, "n_hvp": k, "converged": True}
        lam_prev = lam
        q = w / np.linalg.norm(w)
    return {"lambda_max": lam, "n_hvp": max_hvp, "converged": False}


def eigsh(op, u0: np.ndarray, tol: float) -> dict:
    """scipy.sparse.linalg.eigsh(k=1, which="LA", tol, v0=u0) on the operator (ARPACK)."""
    from scipy.sparse.linalg import ArpackNoConvergence, LinearOperator
    from scipy.sparse.linalg import eigsh as arpack

    op.prepare()
    count = [0]

    def matvec(u):
        count[0] += 1
        return op.hvp(u)

    P = u0.shape[0]
    lin = LinearOperator((P, P), matvec=matvec, dtype=np.float64)
    try:
        vals, converged = arpack(lin, k=1, which="LA", tol=tol, v0=u0, return_eigenvectors=False), True
    except ArpackNoConvergence as exc:
        vals, converged = (exc.eigenvalues if len(exc.eigenvalues) else [float("nan")]), False
    return {"lambda_max": float(vals[-1]), "n_hvp": count[0], "converged": converged}
