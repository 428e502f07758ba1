"""What the benchmarks time: flatcore's own runner and its peers, one module each.

A module imports its framework only when one of its classes is built, so a driver can name,
check and configure tools without loading torch or JAX.

Gradient descent (``gd(tool)``; bench_train.py, bench_sparsity.py, core_check.py): a class
``GD(X, y, W, b, v, beta, lr, threads)`` with ``reset()`` (back to the initial parameters,
outside any timing), ``steps(k)`` (k full-batch GD steps on L = 1/(2n) sum_i r_i^2, in place),
``params()`` (theta flat, as ``flatcore.Network.params``), ``trajectory(k)``, ``extra()``
(facts for the report, per workload) and ``info()`` (facts about the process):

    flatcore          flatcore.train, the whole loop in C++
    numpy             NumPy, hand-written gradient, preallocated buffers
    torch_manual      PyTorch eager, the same hand-written gradient
    torch_autograd    PyTorch eager, nn.Sequential + autograd + optim.SGD
    torch_cuda_graph  the torch_manual step, float64 on the GPU, replayed from CUDA graphs
    jax               JAX, jax.grad, the whole loop jitted with lax.fori_loop

Hessian-vector products (``hvp(tool)``; bench_sharpness.py): a class ``HVP(X, y, W, b, v,
beta, threads)`` with ``prepare()`` (once per solve: operator or graph) and ``hvp(u)`` (H u,
NumPy in and out): ``flatcore`` (flatcore.hessian_operator) and ``torch_hvp`` (double
backward). ``eigensolvers`` runs power iteration and SciPy's eigsh on any of them.
"""

from __future__ import annotations

import importlib

import numpy as np


def gd(tool: str):
    """The GD class of `tool`'s module."""
    return importlib.import_module(f".{tool}", __name__).GD


def hvp(tool: str):
    """The HVP class of `tool`'s module."""
    return importlib.import_module(f".{tool}", __name__).HVP


def environment(tool: str, threads: int, env: dict) -> dict:
    """`env` with what `tool` needs set before its framework loads (its module's ``environment``, if any)."""
    mod = importlib.import_module(f".{tool}", __name__)
    return mod.environment(threads, env) if hasattr(mod, "environment") else env


def flat(W, b, v, beta) -> np.ndarray:
    """theta = [W row-major | b | v | beta], the layout of flatcore.Network.params."""
    return np.concatenate(
        [
            np.asarray(W, dtype=np.float64).ravel(),
            np.asarray(b, dtype=np.float64).ravel(),
            np.asarray(v, dtype=np.float64).ravel(),
            [float(beta)],
        ]
    )


def augmented(X: np.ndarray) -> np.ndarray:
    """[X | -1], so that z = [X | -1] @ [W | b]^T = X W^T - b: the hand-written steps' first product."""
    return np.ascontiguousarray(np.hstack([X, -np.ones((X.shape[0], 1))]))


def torch_threads(threads: int) -> int:
    """Give PyTorch `threads` intra-op threads and one inter-op thread; return its thread count."""
    import torch

    torch.set_num_threads(threads)
    try:
        torch.set_num_interop_threads(1)
    except RuntimeError:  # already set, or parallel work already began
        pass
    return torch.get_num_threads()


class Stepper:
    """What every GD class shares: the trajectory of single steps and empty facts."""

    def trajectory(self, steps: int) -> list:
        """theta after each of the first `steps` steps from the initial parameters."""
        self.reset()
        out = []
        for _ in range(steps):
            self.steps(1)
            out.append(self.params())
        return out

    def extra(self) -> dict:
        return {}

    def info(self) -> dict:
        return {}
