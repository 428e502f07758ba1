"""One-thread speed on chosen cores: is the first core slower than the others?

    python benchmarks/core_check.py [CORE ...]      # default: 0, the last core, 0 again

For each core in turn, a fresh process pinned to that core measures NumPy's float64 GEMM
(GFLOP/s) and flatcore.train at the large workload (steps/s), one thread each. On a virtual
machine the first core often also serves the host's interrupts and housekeeping, and a machine
just woken may run its first seconds slowly; both would make a 1-thread baseline (and so every
speed-up over 1 thread) look better than it is. Measuring core 0 first and last tells the two apart.
"""
import json
import os
import subprocess
import sys

CHILD = r"""
import json, os, time
import numpy as np
import flatcore as fc
a = np.random.default_rng(0).standard_normal((2048, 2048)); b = a.copy()
a @ b
best = 0.0
for _ in range(5):
    t = time.perf_counter(); a @ b; best = max(best, 2 * 2048**3 / (time.perf_counter() - t) / 1e9)
X, y = fc.data.regression(4096, 16, seed=0)
net = fc.Network.init(16, 1024, seed=0, scheme="pytorch")
fc.train(net, X, y, 0.01, 5, n_threads=1)
steps = 0.0
for _ in range(3):
    t = time.perf_counter(); fc.train(net, X, y, 0.01, 40, n_threads=1, record_every=40)
    steps = max(steps, 40 / (time.perf_counter() - t))
print(json.dumps({"core": sorted(os.sched_getaffinity(0)), "gemm_gflops": round(best, 1), "train_large_steps_per_s": round(steps, 1)}))
"""


def main(argv):
    cores = sorted(os.sched_getaffinity(0))
    order = [int(c) for c in argv] or [cores[0], cores[-1], cores[0]]
    env = dict(os.environ, OMP_NUM_THREADS="1", OPENBLAS_NUM_THREADS="1", MKL_NUM_THREADS="1")
    for core in order:
        out = subprocess.run([sys.executable, "-c", CHILD], env=env, capture_output=True, text=True,
                             preexec_fn=lambda c=core: os.sched_setaffinity(0, [c]), timeout=120)
        if out.returncode != 0:
            print(f"core {core}: failed\n{out.stderr[-2000:]}")
            return 1
        r = json.loads(out.stdout.strip().splitlines()[-1])
        print(f"core {core}: GEMM {r['gemm_gflops']:.1f} GFLOP/s, flatcore.train large {r['train_large_steps_per_s']:.1f} steps/s")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
