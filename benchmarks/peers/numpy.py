"""NumPy, the hand-written gradient, with preallocated ``out=`` buffers (as a careful user writes it)."""

from __future__ import annotations

import numpy as np

from . import Stepper, augmented, flat


class GD(Stepper):
    def __init__(self, X, y, W, b, v, beta, lr, threads):
        n, d = X.shape
        K = W.shape[0]
        self.n, self.lr = n, lr
        self.Xa = augmented(X)  # z = Xa @ Wa.T, Wa = [W | b]
        self.y = y.copy()
        self.init = (np.hstack([W, b[:, None]]), v.copy(), float(beta))
        self.Z, self.Phi, self.A = np.empty((n, K)), np.empty((n, K)), np.empty((n, K))
        self.RX = np.empty((n, d + 1))
        self.reset()

    def reset(self):
        Wa, v, beta = self.init
        self.Wa, self.v, self.beta = Wa.copy(), v.copy(), beta

    def steps(self, k):
        Xa, y, Z, Phi, A, RX, lr, inv_n = self.Xa, self.y, self.Z, self.Phi, self.A, self.RX, self.lr, 1.0 / self.n
        Wa, v = self.Wa, self.v
        for _ in range(k):
            np.matmul(Xa, Wa.T, out=Z)  # z_ik = w_k.x_i - b_k
            np.maximum(Z, 0.0, out=Phi)  # phi
            np.greater(Z, 0.0, out=A)  # a (as 0/1 doubles)
            r = Phi @ v
            r += self.beta - y
            r *= inv_n  # r_i / n
            gv = Phi.T @ r
            gbeta = r.sum()
            np.multiply(Xa, r[:, None], out=RX)
            M = A.T @ RX  # sum_i r_i a_ik (x_i, -1) / n
            M *= v[:, None]  # [dL/dW | dL/db], with the old v
            Wa -= lr * M
            v -= lr * gv
            self.beta -= lr * gbeta

    def params(self):
        return flat(self.Wa[:, :-1], self.Wa[:, -1], self.v, self.beta)
