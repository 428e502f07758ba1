"""flatcore itself: ``GD`` runs flatcore.train; ``HVP`` applies flatcore.hessian_operator and has
flatcore's own routes to lambda_max (``sharpness``: its Lanczos solver; ``dense``: eigvalsh of
the whole Hessian)."""

from __future__ import annotations

import time

import numpy as np

import flatcore as fc

from . import Stepper


class GD(Stepper):
    """flatcore.train: the whole loop in C++, the history recorded only at the last step."""

    def __init__(self, X, y, W, b, v, beta, lr, threads):
        self.net0 = fc.Network(W, b, v, beta)
        self.X, self.y, self.lr, self.threads = X, y, lr, threads
        self.last = None
        self.reset()

    def reset(self):
        self.net = self.net0

    def steps(self, k):
        self.last = fc.train(self.net, self.X, self.y, self.lr, k, n_threads=self.threads, record_every=k)
        if self.last.diverged:
            raise RuntimeError(f"flatcore.train diverged at step {self.last.diverged_step}; lower the step size")
        self.net = self.last.net

    def params(self):
        return self.net.params()

    def extra(self):
        if self.last is None:
            return {}
        h = self.last.history
        return {
            "active_fraction_start": float(h["active_fraction"][0]),
            "active_fraction_end": float(h["active_fraction"][-1]),
            "final_loss": float(self.last.final_loss),
        }


class HVP:
    """flatcore.hessian_operator (``prepare`` builds it: residuals, cached activations; ``hvp``
    applies it), and flatcore's own two routes to lambda_max at the same theta."""

    def __init__(self, X, y, W, b, v, beta, threads):
        self.net = fc.Network(W, b, v, beta)
        self.X, self.y, self.threads = X, y, threads

    def prepare(self):
        self.op = fc.hessian_operator(self.net, self.X, self.y, n_threads=self.threads)

    def hvp(self, u):
        return self.op.matvec(u)

    def sharpness(self, tol: float, stop: str) -> dict:
        """flatcore.sharpness: single-vector Lanczos in C++, stopping on the residual or the eigenvalue."""
        res = fc.sharpness(
            self.net, self.X, self.y, tol=tol, stop=stop, method="lanczos", return_result=True, n_threads=self.threads
        )
        return {
            "lambda_max": float(res.values[0]),
            "n_hvp": int(res.n_hvp),
            "converged": bool(res.converged),
            "residual_norm": float(res.residual_norms[0]),
            "n_restarts": int(res.n_restarts),
        }

    def dense(self) -> dict:
        """numpy.linalg.eigvalsh of flatcore.hessian, with the time of each half."""
        t0 = time.perf_counter()
        H = fc.hessian(self.net, self.X, self.y, n_threads=self.threads)
        t1 = time.perf_counter()
        ev = np.linalg.eigvalsh(H)
        return {
            "lambda_max": float(ev[-1]),
            "n_hvp": 0,
            "converged": True,
            "lambda_2": float(ev[-2]),
            "lambda_min": float(ev[0]),
            "hessian_s": t1 - t0,
            "eigvalsh_s": time.perf_counter() - t1,
        }
