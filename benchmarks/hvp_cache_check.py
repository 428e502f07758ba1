#!/usr/bin/env python
"""Hessian-vector products with the activations cached against recomputed, on this machine.

    python benchmarks/hvp_cache_check.py [--threads 1 2 ...]

`flatcore.hessian_operator` (and so `top_eigs`, `sharpness` and `train`'s sharpness tracking)
caches the n x width activations by default whenever memory allows. Reading a cached activation
costs a load; recomputing it costs d multiply-adds, so once the activations no longer fit in the
processor's caches the choice depends on the machine. This prints, for shapes on both sides of
the usual cache sizes, the time of one product (the compiled operator) each way. What it showed
is in benchmarks/README.md (results/device/hvp_cache.md).
"""

import argparse
import sys
import time
from pathlib import Path

import numpy as np

import flatcore as fc

sys.path.insert(0, str(Path(__file__).resolve().parent))
import harness

SHAPES = [(1024, 512, 10), (2048, 512, 10), (2048, 1024, 10), (4096, 1024, 16), (4096, 1024, 32)]


def product_seconds(matvec, u) -> float:
    """Seconds per product, timed as the benchmarks time steps (harness.time_steps, best of 3)."""

    def run(k):
        t0 = time.perf_counter()
        for _ in range(k):
            matvec(u)
        return time.perf_counter() - t0

    steps, times = harness.time_steps(run, 0.1, 3)
    return min(times) / steps


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--threads", type=int, nargs="+", default=[1, 2])
    args = p.parse_args()
    print("| threads | (n, width, d) | activations (n·width doubles) | cached | recomputed | recomputed / cached |")
    print("|---:|---|---:|---:|---:|---:|")
    for nt in args.threads:
        for n, width, d in SHAPES:
            X, y = fc.data.regression(n, d, seed=0)
            net = fc.Network.init(d, width, seed=0, scheme="pytorch")
            u = np.random.default_rng(0).standard_normal(net.n_params)
            times = {}
            for cache in (True, False):
                op = fc.hessian_operator(net, X, y, cache=cache, n_threads=nt)
                times[cache] = product_seconds(op.core.matvec, u)
                del op
            print(
                f"| {nt} | ({n}, {width}, {d}) | {8 * n * width / 2**20:.1f} MiB | {times[True] * 1e3:.2f} ms | "
                f"{times[False] * 1e3:.2f} ms | {times[False] / times[True]:.2f} |",
                flush=True,
            )


if __name__ == "__main__":
    main()
