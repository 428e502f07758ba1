"""Small workloads over the whole public API, for the thread and memory checks.

Run as ``python -m reliability.workloads threads|memory`` (from tests/) it prints one JSON line:
the check's figures and, on failure, what went wrong. The tests run it in a child process, so
that a crash or a hang there is a failed test, not a lost run.
"""

from __future__ import annotations

import gc
import json
import os
import sys
import threading
import time
import tracemalloc

import numpy as np

import flatcore as fc
from flatcore import data, theory


def problem(seed=0, n=60, d=3, width=12):
    rng = np.random.default_rng(seed)
    X = rng.uniform(-1.0, 1.0, size=(n, d))
    y = rng.standard_normal(n)
    net = fc.Network.init(d, width, seed=seed)
    u = rng.standard_normal(net.n_params)
    return net, X, y, u


SHARED = problem(n=400, width=24)  # the same arrays in every thread
SMALL = problem(n=40, width=8)


def calls(shared=SHARED):
    """(name, thunk) for a call of every kind on the shared problem (an operator of its own);
    each thunk returns something flat() can read."""
    net, X, y, u = shared
    op = fc.hessian_operator(net, X, y)
    ball, mix = data.UniformBall(3), data.BallMixture.random(3, 3, seed=1)
    target = data.RandomReLU(3, rate=5.0, seed=2)
    return [
        ("predict", lambda: fc.predict(net, X)),
        ("loss", lambda: fc.loss(net, X, y, loss="mse")),
        ("gradient", lambda: fc.gradient(net, X, y, n_threads=1)),
        ("loss_and_gradient", lambda: fc.loss_and_gradient(net, X, y, n_threads=2)),
        ("hessian", lambda: fc.hessian(net, X, y, part="gauss_newton")),
        ("hvp", lambda: fc.hvp(net, X, y, u)),
        ("hessian_trace", lambda: fc.hessian_trace(net, X, y)),
        ("trace_terms", lambda: fc.trace_terms(net, X)),
        ("activation_rates", lambda: fc.activation_rates(net, X)),
        ("neuron_sides", lambda: fc.neuron_sides(net, X)),
        ("sharpness lanczos", lambda: fc.sharpness(net, X, y, method="lanczos")),
        ("top_eigs both", lambda: fc.top_eigs(net, X, y, k=2, which="both", method="lanczos")),
        ("exact_spectrum", lambda: fc.exact_spectrum(net, X, y)),
        ("spectral_density", lambda: fc.spectral_density(net, X, y, n_probes=2, lanczos_steps=6)),
        ("operator matvec", lambda: op.matvec(u)),
        ("train", lambda: fc.train(net, X, y, lr=0.1, steps=30, sharpness_every=10, test=(X, y), y_clean=y)),
        ("min_trace", lambda: theory.min_trace(net, X)),
        ("balance_for_min_trace", lambda: theory.balance_for_min_trace(net, X)),
        ("vg_norm", lambda: theory.vg_norm(net, X)),
        ("vg_norm population", lambda: theory.vg_norm(net, law=data.Gaussian(3))),
        ("g_population mc", lambda: theory.g_population(np.eye(3)[0], 0.2, mix, n_samples=2000, seed=3)),
        ("stability_bound", lambda: theory.stability_bound(net, X, y, lr=0.1)),
        ("stability_inequality", lambda: theory.stability_inequality(net, X, y)),
        ("sample", lambda: ball.sample(50, seed=4)),
        ("marginal_tail", lambda: data.Radial(3, 0.5).marginal_tail(np.linspace(-1, 1, 7))),
        ("draw", lambda: data.draw(mix, target, 40, n_test=20, noise=0.1, seed=5)),
        ("boundary_packing", lambda: theory.boundary_packing(3, 0.3, max_neurons=10, seed=6)),
    ]


def flat(result) -> np.ndarray:
    """Every number of a result, as one float64 vector (the run's wall time left out)."""
    if isinstance(result, fc.TrainResult):
        h = result.history
        cols = [np.nan_to_num(np.asarray(h[c], dtype=float), nan=-1.0) for c in h.columns]
        return np.concatenate([result.net.params(), [result.final_loss, result.final_grad_norm], *cols])
    if isinstance(result, fc.Network):
        return result.params()
    if isinstance(result, fc.EigenResult):
        return np.concatenate([result.values, result.vectors.ravel(), result.residual_norms, [result.n_hvp]])
    if isinstance(result, fc.SpectralDensity):
        return np.concatenate([result.nodes, result.weights])
    if isinstance(result, (theory.StabilityInequality, theory.StabilityBound)):
        return np.array([float(v) for v in vars(result).values() if np.ndim(v) == 0])
    if isinstance(result, tuple):
        return np.concatenate([flat(r) for r in result if not isinstance(r, str)])
    return np.atleast_1d(np.asarray(result, dtype=np.float64)).ravel()


def bad_calls(shared=SHARED):
    """Calls that raise: the error paths must not leak either."""
    net, X, y, u = shared
    return [
        lambda: fc.loss(net, X, y[:-1]),
        lambda: fc.hvp(net, X, y, u[:-1]),
        lambda: fc.gradient(net, X * 1e300, y),
        lambda: fc.sharpness(net, X * 1e200, y, method="lanczos"),
        lambda: fc.hessian(net, X, y, max_bytes=16),
        lambda: fc.train(net, X, y, lr=-1.0, steps=3),
        lambda: theory.g_population([1.0, 0.0], 0.1, data.UniformBall(3)),
        lambda: data.UniformBall(3).sample(10**15),
    ]


# -------------------------------------------------------------------------------------------------
# The checks
# -------------------------------------------------------------------------------------------------
def threads_check(n_threads=4, rounds=5) -> dict:
    """n_threads Python threads, each running every call ``rounds`` times in its own order, get
    exactly the results of the same calls made one after the other."""
    serial = {name: flat(thunk()) for name, thunk in calls()}
    errors: list[str] = []
    mismatches: list[str] = []
    barrier = threading.Barrier(n_threads)
    counts = [0] * n_threads

    def worker(i):
        try:
            mine = calls()
            mine = mine[i:] + mine[:i]  # a different order in every thread
            barrier.wait()
            for _ in range(rounds):
                for name, thunk in mine:
                    got = flat(thunk())
                    counts[i] += 1
                    if not np.array_equal(got, serial[name]):
                        mismatches.append(f"thread {i}: {name}")
        except BaseException as exc:  # reported below
            errors.append(f"thread {i}: {type(exc).__name__}: {exc}")

    threads = [threading.Thread(target=worker, args=(i,)) for i in range(n_threads)]
    began = time.perf_counter()
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=300)
    hung = [t.name for t in threads if t.is_alive()]
    return {
        "threads": n_threads,
        "calls": sum(counts),
        "functions": len(serial),
        "seconds": round(time.perf_counter() - began, 2),
        "errors": errors,
        "mismatches": sorted(set(mismatches)),
        "hung": hung,
    }


def rss_bytes() -> int:
    with open("/proc/self/statm") as fh:
        return int(fh.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")


def memory_check(n_calls=2000, warmup=1000) -> dict:
    """RSS, and the memory Python and NumPy hold (tracemalloc), after ``n_calls`` calls (good and
    failing ones, round robin) against the same after a warm-up of the same calls. The resident
    set catches leaks in the compiled core, where each call's buffers are tens of kilobytes;
    tracemalloc catches small ones on the Python side, which the allocator's free space would
    hide from the resident set."""
    good = [thunk for _, thunk in calls(SMALL)]
    bad = bad_calls(SMALL)
    schedule = good + bad

    def run(k):
        for i in range(k):
            try:
                schedule[i % len(schedule)]()
            except (ValueError, TypeError, MemoryError, FloatingPointError):
                pass

    tracemalloc.start()  # NumPy reports its arrays to it: Python-side leaks, to the byte
    run(warmup)
    gc.collect()
    before, traced_before = rss_bytes(), tracemalloc.get_traced_memory()[0]
    run(n_calls)
    gc.collect()
    after, traced_after = rss_bytes(), tracemalloc.get_traced_memory()[0]
    return {
        "calls": n_calls,
        "warmup": warmup,
        "rss_before": before,
        "rss_after": after,
        "growth": after - before,
        "traced_growth": traced_after - traced_before,
    }


if __name__ == "__main__":
    which = sys.argv[1]
    out = threads_check() if which == "threads" else memory_check(int(sys.argv[2]) if len(sys.argv) > 2 else 2000)
    print(json.dumps(out))
