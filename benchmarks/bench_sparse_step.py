#!/usr/bin/env python
"""The certified GD step against the dense one, along real trajectories, phase by phase.

    python benchmarks/bench_sparse_step.py [--quick] [--threads 1] [--out benchmarks/results]

Trajectories (float64, y = w*.x + N(0, 1) on the unit ball, width 4n or the paper's 2048,
Kaiming initialisation, clipping at 50, PyTorch's MSELoss reading):

- the paper's shattering run: d = 10, n = 512, width 2048, lr 0.9, 20,000 steps;
- E3's runs at n = 512 (width 2048): d = 1..5 at lr 0.2 (5,000 steps) and at lr 0.01 with
  weight decay 0.1 (the first 10,000 of its 100,000 steps).

Each trajectory is followed with ``kernel="auto"`` (the default) in phases of equal length. At
the start of each phase the same phase is also run from the same state with ``kernel="dense"``
(today's step), and both are timed: so each phase compares the two kernels on the same stretch
of the same trajectory. Reported per phase: steps/s of each, their ratio, the share of the
(point, neuron) pairs the auto run evaluated, and the share that is active. The goal: at least
3x the dense step over the shattered phase of the d = 10 run, and never below 0.95x anywhere.
Results: OUT/sparse_step.md and OUT/sparse_step.json.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
from harness import THREAD_ENV  # noqa: E402

GOAL_SHATTERED = 3.0
GOAL_EVERYWHERE = 0.95


def trajectories(quick: bool):
    scale = 10 if quick else 1
    out = [("shattering d=10 lr=0.9", dict(d=10, n=512, width=2048, lr=0.9, weight_decay=0.0), 20000 // scale, 10)]
    for d in range(1, 6):
        out.append((f"E3 d={d} lr=0.2", dict(d=d, n=512, width=2048, lr=0.2, weight_decay=0.0), 5000 // scale, 5))
    for d in range(1, 6):
        out.append(
            (f"E3 d={d} lr=0.01 wd=0.1", dict(d=d, n=512, width=2048, lr=0.01, weight_decay=0.1), 10000 // scale, 5)
        )
    return out


def follow(label, setting, steps, phases, threads, repeats):
    import flatcore as fc

    d, n = setting["d"], setting["n"]
    ds = fc.data.draw(fc.data.UniformBall(d), fc.data.Linear(d, seed=0), n=n, noise=1.0, seed=0)
    net = fc.Network.init(d=d, width=setting["width"], seed=0, scheme="kaiming")
    common = dict(
        lr=setting["lr"],
        weight_decay=setting["weight_decay"],
        decay_biases=True,
        loss="mse",
        clip_grad_norm=50.0,
        n_threads=threads,
    )
    per_phase = steps // phases
    state = net
    rows = []
    for p in range(phases):
        best = {"dense": float("inf"), "auto": float("inf")}
        for rep in range(repeats):
            for kernel in ("dense", "auto") if rep % 2 == 0 else ("auto", "dense"):  # turns, both orders
                t0 = time.perf_counter()
                r = fc.train(state, ds.X, ds.y, steps=per_phase, record_every=per_phase, kernel=kernel, **common)
                best[kernel] = min(best[kernel], time.perf_counter() - t0)
                if kernel == "auto":
                    auto = r
        before = state.kernel_stats if isinstance(state, fc.TrainResult) else {"pairs": 0.0, "certified_steps": 0}
        stats = auto.kernel_stats
        evaluations = per_phase + 1
        pairs = (stats["pairs"] - before.get("pairs", 0.0)) / (evaluations * n * setting["width"])
        rows.append(
            {
                "phase": f"{p * per_phase}-{(p + 1) * per_phase}",
                "dense_steps_per_s": per_phase / best["dense"],
                "auto_steps_per_s": per_phase / best["auto"],
                "speedup": best["dense"] / best["auto"],
                "pairs_evaluated": pairs,
                "active": float(auto.history["active_fraction"][-1]),
                "certified_steps": stats["certified_steps"] - before.get("certified_steps", 0),
                "loss": float(auto.final_loss),
            }
        )
        print(
            f"{label:>26} {rows[-1]['phase']:>12}: dense {rows[-1]['dense_steps_per_s']:8.0f}/s, auto "
            f"{rows[-1]['auto_steps_per_s']:8.0f}/s ({rows[-1]['speedup']:.2f}x), pairs {pairs:.3f}, "
            f"active {rows[-1]['active']:.3f}",
            file=sys.stderr,
        )
        state = auto
    return rows, state.net, ds


def hvp_rates(net, ds, threads, repeats):
    """Hessian-vector products per second at the end of the shattering run: dense and listed."""
    import numpy as np

    import flatcore as fc

    u = np.random.default_rng(0).standard_normal(net.n_params)
    out = {}
    for kernel in ("dense", "certified"):
        op = fc.hessian_operator(net, ds.X, ds.y, loss="mse", kernel=kernel, n_threads=threads).core
        op.matvec(u)
        best = float("inf")
        for _ in range(max(2, repeats)):
            t0 = time.perf_counter()
            for _ in range(50):
                op.matvec(u)
            best = min(best, (time.perf_counter() - t0) / 50)
        out[kernel] = 1.0 / best
    return out


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="a tenth of the steps")
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--repeats", type=int, default=2, help="timings per phase and kernel (the best is kept)")
    parser.add_argument("--only", help="only the trajectories whose label contains this text")
    parser.add_argument("--out", default=str(HERE / "results"))
    args = parser.parse_args()
    for var in THREAD_ENV:
        os.environ.setdefault(var, str(args.threads))

    from flatcore.provenance import provenance

    results = {}
    hvp = None
    start = time.time()
    for label, setting, steps, phases in trajectories(args.quick):
        if args.only and args.only not in label:
            continue
        rows, final_net, data = follow(label, setting, steps, phases, args.threads, args.repeats)
        results[label] = {"setting": setting, "steps": steps, "phases": rows}
        if label.startswith("shattering"):
            hvp = hvp_rates(final_net, data, args.threads, args.repeats)
    facts = provenance()
    first = results.get("shattering d=10 lr=0.9") or next(iter(results.values()))
    shattered = first["phases"][1:] or first["phases"]
    shattered_speedup = sum(r["dense_steps_per_s"] ** -1 for r in shattered) / sum(
        r["auto_steps_per_s"] ** -1 for r in shattered
    )
    worst = min(r["speedup"] for res in results.values() for r in res["phases"])
    lines = [
        "# The certified GD step against the dense one",
        "",
        f"`python benchmarks/bench_sparse_step.py{' --quick' if args.quick else ''} --threads {args.threads}` on "
        f"{facts['cpu_model']} ({facts['logical_cores']} logical cores), core variant {facts['simd_variant']}, "
        f"{args.threads} thread(s), flatcore {facts['flatcore']}; {time.time() - start:.0f} s. Each phase of each "
        'trajectory (followed with `kernel="auto"`, the default) is run again from its start with '
        '`kernel="dense"`; best of '
        f"{args.repeats} timings of each. `pairs`: share of the (point, neuron) pairs the auto run evaluated; "
        "`active`: share active at the phase's end.",
        "",
        f"Over the shattered phase of the d = 10 run (after its first phase): **{shattered_speedup:.2f}x** the dense "
        f"step (goal {GOAL_SHATTERED}x). Slowest phase anywhere: **{worst:.2f}x** (goal at least "
        f"{GOAL_EVERYWHERE}x).",
        "",
        *(
            [
                f"Hessian-vector products at the end of the d = 10 run: {hvp['dense']:,.0f}/s dense, "
                f'{hvp["certified"]:,.0f}/s over the listed active pairs (`hessian_operator(kernel="certified")`, '
                f'what `kernel="auto"` takes there): **{hvp["certified"] / hvp["dense"]:.1f}x**.',
                "",
            ]
            if hvp
            else []
        ),
        "| trajectory | phase (steps) | dense steps/s | auto steps/s | speed-up | pairs | active |",
        "|---|---|---:|---:|---:|---:|---:|",
    ]
    for label, res in results.items():
        for r in res["phases"]:
            lines.append(
                f"| {label} | {r['phase']} | {r['dense_steps_per_s']:,.0f} | {r['auto_steps_per_s']:,.0f} | "
                f"{r['speedup']:.2f}x | {r['pairs_evaluated']:.3f} | {r['active']:.3f} |"
            )
    lines.append("")
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    (out / "sparse_step.md").write_text("\n".join(lines))
    payload = {"provenance": facts, "threads": args.threads, "quick": args.quick, "results": results}
    payload["shattered_speedup"] = shattered_speedup
    payload["worst_speedup"] = worst
    payload["hvp_per_s"] = hvp
    (out / "sparse_step.json").write_text(json.dumps(payload, indent=1))
    print("\n".join(lines))
    return 0


if __name__ == "__main__":
    sys.exit(main())
