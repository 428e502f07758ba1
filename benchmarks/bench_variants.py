#!/usr/bin/env python
"""The compiled core's instruction-set variants side by side: what each costs against the widest.

    python benchmarks/bench_variants.py [--rounds 5] [--sizes small mid large]
                                        [--native PYTHONPATH] [--out benchmarks/results]

For every variant this CPU runs (``FLATCORE_SIMD``, python/flatcore/_simd.py) and, with
``--native DIR``, a flatcore importable from DIR built with ``-march=native`` (the old default
build, for comparison), a fresh single-threaded process times ``flatcore.train`` (steps/s) and
``flatcore.hvp`` (products/s) on the workloads of bench_train.py. The processes take turns,
``--rounds`` times, and each keeps its best round, so that a slow moment of a shared machine
does not land on one variant only. Results: OUT/variants.md and OUT/variants.json, as ratios to
the widest variant.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
from harness import SIZES, THREAD_ENV  # noqa: E402

WORKER = r"""
import json, sys, time
import numpy as np
import flatcore as fc
from flatcore import _core
n, width, d = (int(a) for a in sys.argv[1:4])
X, y = fc.data.regression(n, d, seed=0)
net = fc.Network.init(d=d, width=width, seed=0, scheme="pytorch")
u = np.random.default_rng(0).standard_normal(net.n_params)

def best_rate(call, count):
    call(1)  # warm up
    best = 0.0
    for _ in range(3):
        t0 = time.perf_counter(); call(count); dt = time.perf_counter() - t0
        best = max(best, count / dt)
    return best

steps = max(20, int(2e8 / (4 * n * width * d)))
train = best_rate(lambda k: fc.train(net, X, y, lr=0.05, steps=k, n_threads=1), steps)
def hvps(k):
    for _ in range(k):
        fc.hvp(net, X, y, u, n_threads=1)
hvp = best_rate(hvps, max(5, steps // 4))
print(json.dumps({"variant": getattr(_core, "variant", "") or "native build", "flags": _core.build_flags,
                  "train": train, "hvp": hvp}))
"""


def run(label: str, pythonpath: str, variant: str | None, size) -> dict:
    env = {**os.environ, "PYTHONPATH": pythonpath, **{k: "1" for k in THREAD_ENV}}
    env.pop("FLATCORE_SIMD", None)
    if variant:
        env["FLATCORE_SIMD"] = variant
    out = subprocess.run(
        [sys.executable, "-c", WORKER, *map(str, size)], capture_output=True, text=True, env=env, check=True
    )
    return json.loads(out.stdout.strip().splitlines()[-1])


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--sizes", nargs="+", default=list(SIZES), choices=list(SIZES))
    parser.add_argument("--native", help="PYTHONPATH of a flatcore built with -march=native")
    parser.add_argument("--out", default=str(HERE / "results"))
    args = parser.parse_args()

    import flatcore
    from flatcore import _simd
    from flatcore.provenance import provenance

    package = str(Path(flatcore.__file__).resolve().parents[1])
    contenders = {v: (package, v) for v in _simd.supported()}
    if args.native:
        contenders["native build (-march=native)"] = (args.native, None)
    best: dict[str, dict[str, dict]] = {size: {} for size in args.sizes}
    start = time.time()
    for r in range(args.rounds):
        for size in args.sizes:
            for label, (path, variant) in contenders.items():
                got = run(label, path, variant, SIZES[size])
                mine = best[size].setdefault(label, {"train": 0.0, "hvp": 0.0, "flags": got["flags"]})
                mine["train"] = max(mine["train"], got["train"])
                mine["hvp"] = max(mine["hvp"], got["hvp"])
        print(f"round {r + 1}/{args.rounds} done ({time.time() - start:.0f} s)", file=sys.stderr)

    widest = _simd.supported()[0]
    facts = provenance()
    lines = [
        "# The core's instruction-set variants",
        "",
        f"`python benchmarks/bench_variants.py --rounds {args.rounds}"
        + (" --native ..." if args.native else "")
        + f"` on {facts['cpu_model']} ({facts['logical_cores']} logical cores), one thread, best of "
        f"{args.rounds} rounds taken in turns. Steps/s of `train` and products/s of `hvp`; in brackets, "
        f"the ratio to the {widest} variant, the one `import flatcore` chooses here.",
        "",
        "| variant | build flags | " + " | ".join(f"{s} train | {s} hvp" for s in args.sizes) + " |",
        "|---|---|" + "---:|---:|" * len(args.sizes),
    ]
    for label in contenders:
        cells = []
        for size in args.sizes:
            mine, ref = best[size][label], best[size][widest]
            cells += [
                f"{mine['train']:,.0f} ({mine['train'] / ref['train']:.2f}x)",
                f"{mine['hvp']:,.0f} ({mine['hvp'] / ref['hvp']:.2f}x)",
            ]
        flags = best[args.sizes[0]][label]["flags"]
        lines.append(f"| {label} | `{flags}` | " + " | ".join(cells) + " |")
    lines.append("")
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    (out / "variants.md").write_text("\n".join(lines))
    (out / "variants.json").write_text(json.dumps({"provenance": facts, "rounds": args.rounds, "best": best}, indent=1))
    print("\n".join(lines))
    return 0


if __name__ == "__main__":
    sys.exit(main())
