"""Hessian-vector products by PyTorch double backward, as PyHessian and most users write them.

``prepare()`` runs the forward pass and the first backward with ``create_graph=True`` once per
solve; each ``hvp(u)`` is ``torch.autograd.grad(grad . u, params, retain_graph=True)``.
"""

from __future__ import annotations

import numpy as np

from . import torch_threads


class HVP:
    def __init__(self, X, y, W, b, v, beta, threads):
        import torch

        self.torch = torch
        self.threads = torch_threads(threads)
        self.X = torch.from_numpy(np.ascontiguousarray(X))
        self.y = torch.from_numpy(np.ascontiguousarray(y))
        self.params = [
            torch.tensor(np.asarray(a, dtype=np.float64), requires_grad=True) for a in (W, b, v, np.float64(beta))
        ]
        self.sizes = [p.numel() for p in self.params]
        self.grads = None

    def prepare(self):
        torch = self.torch
        W, b, v, beta = self.params
        f = torch.relu(self.X @ W.T - b) @ v + beta  # torch.relu: relu'(0) = 0, as flatcore
        loss = 0.5 * torch.mean((f - self.y) ** 2)
        self.grads = torch.autograd.grad(loss, self.params, create_graph=True)

    def hvp(self, u):
        """u in the layout of Network.params() (zero-copy in and out)."""
        torch = self.torch
        parts = torch.split(torch.from_numpy(np.ascontiguousarray(u, dtype=np.float64).reshape(-1)), self.sizes)
        dot = sum((g * p.view(g.shape)).sum() for g, p in zip(self.grads, parts))
        h = torch.autograd.grad(dot, self.params, retain_graph=True)
        return torch.cat([t.reshape(-1) for t in h]).numpy()
