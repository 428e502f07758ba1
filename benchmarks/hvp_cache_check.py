"""Hessian-vector products with the activations cached against recomputed, on this machine.

    python benchmarks/hvp_cache_check.py [--threads 1 2 ...]

`flatcore.hessian_operator` (and so `top_eigs`, `sharpness` and `train`'s sharpness tracking)
caches the n x width activations by default whenever memory allows. Reading a cached activation
costs a load; recomputing it costs d multiply-adds, so once the activations no longer fit in the
processor's caches the choice depends on the machine. This prints, for shapes on both sides of
the usual cache sizes, the time of one product each way.

Measured (results/device/hvp_cache.md): on the 16-core Xeon with AVX-512, caching won at every
shape, by 4-46% on 1 thread and 15-35% on 16. On the 2-core AMD EPYC (AVX2) it won by 10-25% up
to 8 MiB of activations; at 16-32 MiB and d <= 16 the two were within that machine's noise,
either way by up to 15% from run to run. Hence the default.
"""
import argparse
import sys
import time
from pathlib import Path

import numpy as np

import flatcore as fc
from flatcore import _core

sys.path.insert(0, str(Path(__file__).resolve().parent))
import harness  # noqa: E402

SHAPES = [(1024, 512, 10), (2048, 512, 10), (2048, 1024, 10), (4096, 1024, 16), (4096, 1024, 32)]


def product_seconds(op, u) -> float:
    """Seconds per product, timed as the benchmarks time steps (harness.time_steps, best of 3)."""
    def run(k):
        t0 = time.perf_counter()
        for _ in range(k):
            op.matvec(u)
        return time.perf_counter() - t0

    steps, times = harness.time_steps(run, 0.1, 3)
    return min(times) / steps


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--threads", type=int, nargs="+", default=[1, 2])
    args = p.parse_args()
    print("| threads | (n, width, d) | activations | cached | recomputed | recomputed / cached |")
    print("|---:|---|---:|---:|---:|---:|")
    for nt in args.threads:
        for n, width, d in SHAPES:
            X, y = fc.data.regression(n, d, seed=0)
            net = fc.Network.init(d, width, seed=0, scheme="pytorch")
            u = np.random.default_rng(0).standard_normal(net.n_params)
            times = {}
            for cache in (True, False):
                op = _core.HessianOperator(net.W, net.b, net.v, net.beta, X, y, "full", nt, cache)
                times[cache] = product_seconds(op, u)
                del op
            mib = 8 * n * fc._validation.padded_stride(width) / 2**20
            print(f"| {nt} | ({n}, {width}, {d}) | {mib:.1f} MiB | {times[True] * 1e3:.2f} ms | "
                  f"{times[False] * 1e3:.2f} ms | {times[False] / times[True]:.2f} |", flush=True)


if __name__ == "__main__":
    main()
