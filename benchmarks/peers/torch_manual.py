"""PyTorch eager, the hand-written gradient (no autograd): three GEMM-shaped products per step."""

from __future__ import annotations

import numpy as np

from . import Stepper, augmented, flat, torch_threads


def gd_steps(torch, Xa, y, Wa, v, beta, lr: float, inv_n: float, k: int) -> None:
    """k GD steps in place on Wa = [W | b], v and the 0-d tensor beta; the formulas of the NumPy peer.

    No host synchronisation inside, so the loop can be captured into a CUDA graph as it stands.
    """
    with torch.no_grad():
        for _ in range(k):
            Z = Xa @ Wa.T  # z_ik = w_k.x_i - b_k
            A = (Z > 0).to(torch.float64)  # a (as 0/1 doubles)
            Phi = Z.clamp_(min=0.0)  # phi (Z is not needed any more)
            r = torch.mv(Phi, v).add_(beta).sub_(y).mul_(inv_n)  # r_i / n
            gv = torch.mv(Phi.T, r)
            gbeta = r.sum()
            M = A.T @ (Xa * r[:, None])  # sum_i r_i a_ik (x_i, -1) / n
            M.mul_(v[:, None])  # [dL/dW | dL/db], with the old v
            Wa.sub_(M, alpha=lr)
            v.sub_(gv, alpha=lr)
            beta.sub_(gbeta, alpha=lr)


class GD(Stepper):
    device = "cpu"

    def __init__(self, X, y, W, b, v, beta, lr, threads):
        import torch

        self.torch, self.n, self.lr = torch, X.shape[0], lr
        self.threads = torch_threads(threads)
        dev = torch.device(self.device)
        self.Xa = torch.from_numpy(augmented(X)).to(dev)
        self.y = torch.from_numpy(y.copy()).to(dev)
        self.init = (
            torch.from_numpy(np.hstack([W, b[:, None]])).to(dev),
            torch.from_numpy(v.copy()).to(dev),
            torch.tensor(float(beta), dtype=torch.float64, device=dev),
        )
        self.Wa, self.v, self.beta = (a.clone() for a in self.init)

    def reset(self):
        for a, a0 in zip((self.Wa, self.v, self.beta), self.init):
            a.copy_(a0)

    def steps(self, k):
        gd_steps(self.torch, self.Xa, self.y, self.Wa, self.v, self.beta, self.lr, 1.0 / self.n, k)

    def params(self):
        Wa = self.Wa.cpu().numpy()
        return flat(Wa[:, :-1], Wa[:, -1], self.v.cpu().numpy(), float(self.beta))

    def info(self):
        return {"torch_threads": self.threads}
