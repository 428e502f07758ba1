"""JAX: jax.grad of the loss, the whole loop jitted as lax.fori_loop with a traced step count.

JAX has no documented thread setting; its maintainers give the affinity mask as the way to limit
it (jax-ml/jax#1539: the XLA CPU client sizes its thread pool from it), so the harness's pinning
is what limits it. For 1 thread the process also gets ONE_THREAD_FLAGS (jax-ml/jax#743, #1539;
``--intra_op_parallelism_threads=1`` would abort with "Unknown flag").
"""

from __future__ import annotations

import numpy as np

from . import Stepper, flat

ONE_THREAD_FLAGS = "--xla_cpu_multi_thread_eigen=false intra_op_parallelism_threads=1"


def environment(threads: int, env: dict) -> dict:
    """`env` for a process that runs this peer at `threads` threads: CPU only, float64, XLA's flags."""
    env = {**env, "JAX_PLATFORMS": "cpu", "JAX_ENABLE_X64": "1"}
    flags = env.get("XLA_FLAGS", "")
    if threads == 1:
        flags = (flags + " " + ONE_THREAD_FLAGS).strip()
    if flags:
        env["XLA_FLAGS"] = flags
    return env


class GD(Stepper):
    def __init__(self, X, y, W, b, v, beta, lr, threads):
        import jax
        import jax.numpy as jnp

        jax.config.update("jax_enable_x64", True)
        self.jax = jax
        self.X = jnp.asarray(X, dtype=jnp.float64)
        self.y = jnp.asarray(y, dtype=jnp.float64)
        self.lr = jnp.asarray(lr, dtype=jnp.float64)
        self.init = tuple(jnp.asarray(a, dtype=jnp.float64) for a in (W, b, v, beta))
        assert self.X.dtype == jnp.float64, "JAX did not enable float64"

        def loss(p, X, y):
            W, b, v, beta = p
            f = jax.nn.relu(X @ W.T - b) @ v + beta  # jax.nn.relu: relu'(0) = 0, as flatcore
            return 0.5 * jnp.mean((f - y) ** 2)

        grad = jax.grad(loss)

        @jax.jit
        def run(p, X, y, lr, steps):
            def body(_, p):
                g = grad(p, X, y)
                return jax.tree_util.tree_map(lambda a, ga: a - lr * ga, p, g)

            return jax.lax.fori_loop(0, steps, body, p)

        self._run = run
        self.reset()

    def reset(self):
        self.p = self.init

    def steps(self, k):
        self.p = self._run(self.p, self.X, self.y, self.lr, k)
        self.jax.block_until_ready(self.p)

    def params(self):
        W, b, v, beta = (np.asarray(a) for a in self.p)
        return flat(W, b, v, float(beta))

    def info(self):
        return {"jax_devices": [str(dv) for dv in self.jax.devices()]}
