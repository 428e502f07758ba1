#!/usr/bin/env python
"""One-thread speed on chosen cores: is the first core slower than the others?

    python benchmarks/core_check.py [CORE ...]      # default: 0, the last core, 0 again

For each core in turn, a fresh process pinned to that core measures NumPy's float64 GEMM
(GFLOP/s) and flatcore.train at the large workload (steps/s), one thread each, the way
bench_train.py measures them. On a virtual machine the first core often also serves the host's
interrupts and housekeeping, and a machine just woken may run its first seconds slowly; both
would make a 1-thread baseline (and so every speed-up over 1 thread) look better than it is.
Measuring core 0 first and last tells the two apart.
"""

import json
import os
import subprocess
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import harness
import peers


def measure() -> dict:
    """In the pinned child: the GEMM peak and flatcore.train steps/s at large, one thread."""
    import flatcore as fc

    n, width, d = harness.SIZES["large"]
    X, y = fc.data.regression(n, d, seed=0)
    net = fc.Network.init(d, width, seed=0, scheme="pytorch")
    gd = peers.gd("flatcore")(X, y, net.W, net.b, net.v, net.beta, 0.01, 1)
    return {
        "core": sorted(os.sched_getaffinity(0)),
        "gemm_gflops": harness.gemm_peak(2048, 5)["gflops"],
        "train_large_steps_per_s": harness.measure_steps(gd, 0.5, 3)["steps_per_s"],
    }


def main(argv):
    if argv[:1] == ["--child"]:
        print(json.dumps(measure()))
        return 0
    cores = sorted(os.sched_getaffinity(0))
    order = [int(c) for c in argv] or [cores[0], cores[-1], cores[0]]
    for core in order:
        out = subprocess.run(
            [sys.executable, __file__, "--child"],
            check=False,
            env=harness.child_env(1),
            capture_output=True,
            text=True,
            preexec_fn=lambda c=core: os.sched_setaffinity(0, [c]),
            timeout=120,
        )
        if out.returncode != 0:
            print(f"core {core}: failed\n{out.stderr[-2000:]}")
            return 1
        r = json.loads(out.stdout.strip().splitlines()[-1])
        print(
            f"core {core}: GEMM {r['gemm_gflops']:.1f} GFLOP/s, flatcore.train large "
            f"{r['train_large_steps_per_s']:.1f} steps/s"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
