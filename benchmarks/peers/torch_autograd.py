"""PyTorch eager as a user writes it: nn.Linear-ReLU-nn.Linear, 0.5 * mse_loss, backward, optim.SGD."""

from __future__ import annotations

from . import Stepper, flat, torch_threads


class GD(Stepper):
    def __init__(self, X, y, W, b, v, beta, lr, threads):
        import torch

        self.torch, self.lr = torch, lr
        self.threads = torch_threads(threads)
        self.X = torch.from_numpy(X.copy())
        self.y = torch.from_numpy(y.copy())
        self.init = (W.copy(), b.copy(), v.copy(), float(beta))
        d, K = X.shape[1], W.shape[0]
        self.model = torch.nn.Sequential(torch.nn.Linear(d, K), torch.nn.ReLU(), torch.nn.Linear(K, 1)).double()
        self.reset()

    def reset(self):
        torch = self.torch
        W, b, v, beta = self.init
        l1, _, l2 = self.model
        with torch.no_grad():
            l1.weight.copy_(torch.from_numpy(W))
            l1.bias.copy_(torch.from_numpy(-b))  # nn.Linear adds its bias: bias = -b
            l2.weight.copy_(torch.from_numpy(v[None, :]))
            l2.bias.fill_(beta)
        self.opt = torch.optim.SGD(self.model.parameters(), lr=self.lr)

    def steps(self, k):
        model, opt, X, y = self.model, self.opt, self.X, self.y
        mse = self.torch.nn.functional.mse_loss
        for _ in range(k):
            opt.zero_grad(set_to_none=True)
            loss = 0.5 * mse(model(X).squeeze(1), y)
            loss.backward()
            opt.step()

    def params(self):
        l1, _, l2 = self.model
        return flat(
            l1.weight.detach().numpy(),
            -l1.bias.detach().numpy(),
            l2.weight.detach().numpy()[0],
            float(l2.bias.detach()[0]),
        )

    def info(self):
        return {"torch_threads": self.threads}
