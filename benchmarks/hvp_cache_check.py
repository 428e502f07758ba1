"""Hessian-vector products with the activations cached against recomputed, on this machine.

    python benchmarks/hvp_cache_check.py [--threads 1 2 ...]

`flatcore.hessian_operator` caches the n x width activations by default only where that is
faster (`flatcore._core.activations_worth_caching`: up to 12 MiB of them, or from d = 32). The
rule was measured on an AVX2 machine; this prints, for shapes on both sides of it, the time of
one product each way and which the default picks, so the rule can be checked elsewhere.
"""
import argparse
import time

import numpy as np

import flatcore as fc
from flatcore import _core

SHAPES = [(1024, 512, 10), (2048, 512, 10), (2048, 1024, 10), (4096, 1024, 16), (4096, 1024, 32)]


def product_seconds(op, u, budget_s=0.3, repeats=3):
    op.matvec(u)
    reps = 1
    while True:
        t = time.perf_counter()
        for _ in range(reps):
            op.matvec(u)
        if time.perf_counter() - t > budget_s / repeats or reps > 1 << 16:
            break
        reps *= 2
    best = float("inf")
    for _ in range(repeats):
        t = time.perf_counter()
        for _ in range(reps):
            op.matvec(u)
        best = min(best, (time.perf_counter() - t) / reps)
    return best


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--threads", type=int, nargs="+", default=[1, 2])
    args = p.parse_args()
    print("| threads | (n, width, d) | activations | cached | recomputed | recomputed / cached | default |")
    print("|---:|---|---:|---:|---:|---:|---|")
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
            default = "cache" if _core.activations_worth_caching(n, width, d) else "recompute"
            faster = "cache" if times[True] <= times[False] else "recompute"
            print(f"| {nt} | ({n}, {width}, {d}) | {mib:.1f} MiB | {times[True] * 1e3:.2f} ms | "
                  f"{times[False] * 1e3:.2f} ms | {times[False] / times[True]:.2f} | {default}"
                  f"{'' if default == faster else ' (the other is faster here)'} |", flush=True)


if __name__ == "__main__":
    main()
