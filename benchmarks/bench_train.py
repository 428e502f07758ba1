#!/usr/bin/env python
"""Full-batch gradient descent, steps per second: flatcore.train against its peers.

    python benchmarks/bench_train.py [--threads 1 2] [--sizes small mid large] [--quick]
                                     [--tools flatcore torch_autograd ...] [--eager-threads 1 2]
                                     [--out benchmarks/results] [--rerender results/train.json]

Workloads: float64, X uniform in the unit ball, y = smooth target plus
noise (``flatcore.data.regression(n, d, seed=0)``), ``Network.init(d, width, seed=0,
scheme="pytorch")``, L = 1/(2n) sum_i r_i^2, plain GD at step --lr:

    small (n=256, width=256, d=5), mid (1024, 512, 10), large (4096, 1024, 16)

Tools (peers/, one module each), each run for every thread count in a fresh subprocess pinned
to the first N cores: flatcore, torch_autograd, torch_manual, numpy, jax, and torch_cuda_graph
(on the GPU: run once, not per thread count; skipped with a note without CUDA). Beside them, not
a peer, the machine's float64 GEMM peak (NumPy matmul), whose 4·n·width·d flops per step give
the compute limit.

Every tool starts from the same parameters and data (written once by this process), and each
timed repeat starts again from them, so every repeat follows the same trajectory. A sanity check
runs 5 single steps of each tool and compares the parameters after each step with flatcore's
(max |difference| / max(1, max |theta|) <= 1e-8). Results: OUT/train.md and OUT/train.json.
"""

from __future__ import annotations

import json
import sys
import tempfile
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
import harness
import peers
import report
from harness import SIZES, THREAD_ENV
from report import TRAIN_LABELS as LABELS

TOOLS = tuple(LABELS)
TOOL_MODULES = {"torch_autograd": "torch", "torch_manual": "torch", "jax": "jax", "torch_cuda_graph": "torch"}
GPU_TOOLS = ("torch_cuda_graph",)  # run once, not at every thread count
EAGER_TOOLS = ("torch_autograd", "torch_manual", "numpy")  # the slow CPU peers (--eager-threads)
SANITY_STEPS = 5
SANITY_TOL = 1e-8
# Goals at 2 threads: a share of the compute limit at mid and large, speed-ups over peers.
LIMIT_GOAL = 0.5
SPEEDUP_GOALS = (("jax", 5.0), ("torch_autograd", 10.0), ("torch_manual", 10.0))
SCALING_GOAL = 10.0  # large, 16 threads over 1


# ================================================================================================
# Worker side: one (tool, thread count) per process
# ================================================================================================


def worker(spec_path: str) -> None:
    spec = json.loads(Path(spec_path).read_text())
    tool, threads = spec["tool"], spec["threads"]
    out = harness.worker_info(tool, threads, (*THREAD_ENV, "XLA_FLAGS"))
    if tool == "gemm":
        out["gemm"] = harness.gemm_peak(spec["gemm_n"], spec["gemm_repeats"])
    else:
        trajectories = {}
        for size in spec["sizes"]:
            data = np.load(size["data"])
            gd = peers.gd(tool)(*(data[k] for k in ("X", "y", "W", "b", "v")), float(data["beta"]), spec["lr"], threads)
            res = harness.measure_steps(gd, spec["target_s"], spec["repeats"])
            res.update(gd.extra())
            trajectories[size["name"]] = np.stack(gd.trajectory(SANITY_STEPS))
            out["sizes"][size["name"]] = res
        out.update(gd.info())
        np.savez(spec["trajectory_out"], **trajectories)
    out["os_threads"] = harness.os_threads()
    Path(spec["result_out"]).write_text(json.dumps(out))


# ================================================================================================
# Driver side
# ================================================================================================


def _run_child(tool, threads, cores, sizes, args, tmp: Path, pin: bool) -> dict:
    tag = f"{tool}-{threads}"
    spec = {
        "tool": tool,
        "threads": threads,
        "lr": args.lr,
        "target_s": args.seconds,
        "repeats": args.repeats,
        "gemm_n": args.gemm_n,
        "gemm_repeats": 5,
        "sizes": [{"name": s, "data": str(tmp / f"data-{s}.npz")} for s in sizes],
        "result_out": str(tmp / f"result-{tag}.json"),
        "trajectory_out": str(tmp / f"traj-{tag}.npz"),
    }
    env = harness.child_env(threads)
    if tool != "gemm":
        env = peers.environment(tool, threads, env)
    res = harness.run_worker(__file__, spec, tag, tmp, env, cores, pin, args.timeout)
    if "error" not in res and tool != "gemm":
        res["_trajectory"] = spec["trajectory_out"]
    return res


def _keep_best_round(block: dict, tool: str, res: dict, sizes) -> None:
    """Merge one round's result of `tool` into `block`: per size, the round with the most steps/s wins;
    every round's rate is kept under "round_rates", every round's raw result under raw[tool]."""
    block["raw"].setdefault(tool, []).append(res)
    best = block["tools"].setdefault(tool, {})
    for s in sizes:
        new = dict(res["sizes"][s])
        rates = [*best.get(s, {}).get("round_rates", []), new["steps_per_s"]]
        if s not in best or new["steps_per_s"] > best[s]["steps_per_s"]:
            best[s] = new
        best[s]["round_rates"] = rates


def _record(rep: dict, tool: str, res: dict, reference: dict, sizes) -> None:
    """Compare a worker's 5-step trajectory (res["_trajectory"]) with flatcore's; keep the largest deviation."""
    traj = np.load(res.pop("_trajectory"))
    for s in sizes:
        ref = reference[s]
        dev = float(np.max(np.abs(traj[s] - ref) / np.maximum(1.0, np.max(np.abs(ref), axis=1))[:, None]))
        res["sizes"][s]["sanity_max_dev"] = dev
        prev = rep["sanity"].setdefault(tool, {}).get(s)
        rep["sanity"][tool][s] = dev if prev is None else max(prev, dev)


def _progress(tool: str, res: dict, sizes, label: str = "") -> None:
    print(
        f"  {tool}{label}: "
        + ", ".join(f"{s} {report.rate(res['sizes'][s]['steps_per_s'])}/s" for s in sizes)
        + f"  ({res['wall_s']:.0f} s)",
        file=sys.stderr,
        flush=True,
    )


def complete(rep: dict) -> None:
    """The derived tables (compute limit, ratios, best thread counts, scaling, GPU ratios) and the goals."""
    cfg = rep["config"]
    cfg.setdefault("sanity_steps", SANITY_STEPS)
    cfg.setdefault("sanity_tol", SANITY_TOL)
    cfg.setdefault("gpu_tools", [tool for tool in cfg["tools"] if tool in GPU_TOOLS])
    sizes, threads = cfg["sizes"], cfg["threads"]
    cpu_tools = [tool for tool in cfg["tools"] if tool not in cfg["gpu_tools"]]
    rates = {
        (tool, t, s): rep["results"][str(t)]["tools"].get(tool, {}).get(s, {}).get("steps_per_s")
        for tool in cpu_tools
        for t in threads
        for s in sizes
    }
    for t in threads:
        block = rep["results"][str(t)]
        block["limit"], block["fraction"], block["ratios"] = {}, {}, {}
        for s in sizes:
            n, width, d = SIZES[s]
            fc = rates.get(("flatcore", t, s))
            if block.get("gemm_gflops"):
                block["limit"][s] = block["gemm_gflops"] * 1e9 / (4.0 * n * width * d)
                if fc:
                    block["fraction"][s] = fc / block["limit"][s]
            for tool in block.get("tools_run", cpu_tools):
                if tool != "flatcore" and fc and rates.get((tool, t, s)):
                    block["ratios"].setdefault(tool, {})[s] = fc / rates[(tool, t, s)]
    best, scaling = {}, {}
    for tool in cpu_tools:
        for s in sizes:
            cands = [(rates[(tool, t, s)], t) for t in threads if rates[(tool, t, s)] is not None]
            if cands:
                best.setdefault(tool, {})[s] = dict(zip(("steps_per_s", "threads"), max(cands)))
            base = rates[(tool, threads[0], s)]
            sc = {str(t): rates[(tool, t, s)] / base for t in threads[1:] if base and rates[(tool, t, s)]}
            if sc:
                scaling.setdefault(tool, {})[s] = sc
    fbest = best.get("flatcore", {})
    best["_ratios"] = {
        tool: {s: fbest[s]["steps_per_s"] / b["steps_per_s"] for s, b in per.items() if s in fbest}
        for tool, per in best.items()
        if tool != "flatcore"
    }
    rep["best_over_threads"], rep["scaling"] = best, scaling
    peaks = {t: rep["results"][str(t)].get("gemm_gflops") for t in threads}
    rep["gemm_scaling"] = {str(t): peaks[t] / peaks[threads[0]] for t in threads[1:] if peaks[t] and peaks[threads[0]]}
    if "gpu" in rep:  # flatcore at its best thread count over the GPU peer
        rep["gpu"]["ratios"] = {
            tool: {s: fbest[s]["steps_per_s"] / r[s]["steps_per_s"] for s in sizes if s in fbest and s in r}
            for tool, r in rep["gpu"]["tools"].items()
        }
    rep["goals"] = report.goals(rep, lambda block: goal_items(rep, block))


def goal_items(rep: dict, block: dict) -> list:
    """The goals judged on `block` (the results at the goals' thread count)."""
    cfg, goal, ratio = rep["config"], report.goal, report.ratio
    items = []
    for s in cfg["sizes"]:
        frac = block["fraction"].get(s)
        if s in ("mid", "large") and frac is not None:
            items.append(
                goal(
                    f"{s}: flatcore >= {100 * LIMIT_GOAL:.0f}% of the compute limit",
                    f"{100 * frac:.1f}%",
                    frac >= LIMIT_GOAL,
                )
            )
        for tool, need in SPEEDUP_GOALS:
            r = block["ratios"].get(tool, {}).get(s)
            if r is not None:
                value = ratio(r)
                peer = block["tools"].get(tool, {}).get(s, {}).get("steps_per_s")
                limit = block["limit"].get(s)
                if r < need and peer and limit:
                    # what the goal asks of flatcore on this machine, against what no fused step can beat
                    value += f"; the goal needs {100 * need * peer / limit:.0f}% of the compute limit"
                items.append(goal(f"{s}: flatcore >= {need:g}x {LABELS[tool]}", value, r >= need))
        r = rep["best_over_threads"].get("_ratios", {}).get("jax", {}).get(s)
        if r is not None and len(cfg["threads"]) > 1:
            items.append(
                goal(f"{s}: flatcore (best thread count) faster than JAX at its best thread count", ratio(r), r > 1.0)
            )
    gpu = rep.get("gpu", {})
    fbest = rep["best_over_threads"].get("flatcore", {})
    for tool, rs in gpu.get("ratios", {}).items():  # the GPU machine's goal, at small and mid
        for s in ("small", "mid"):
            if rs.get(s) is not None:
                value = ratio(rs[s])
                t_best = fbest[s]["threads"]
                limit = rep["results"][str(t_best)].get("limit", {}).get(s)
                gpu_rate = gpu["tools"].get(tool, {}).get(s, {}).get("steps_per_s")
                if rs[s] < 1.0 and limit and gpu_rate:
                    value += (
                        f"; matching it needs {100 * gpu_rate / limit:.0f}% of the compute limit at {t_best} threads"
                    )
                items.append(
                    goal(
                        f"{s}: flatcore at its best thread count ({t_best}) at least matches PyTorch "
                        f"float64 + CUDA graphs on {gpu['device']}",
                        value,
                        rs[s] >= 1.0,
                    )
                )
    sc = rep["scaling"].get("flatcore", {}).get("large", {}).get("16")
    if cfg["threads"][0] == 1 and sc is not None:
        value = ratio(sc)
        gemm = rep["gemm_scaling"].get("16")
        if gemm is not None:  # what the same cores give the machine's own GEMM, the yardstick of the goal
            value += f"; the GEMM peak scales {ratio(gemm)} on the same cores"
        items.append(
            goal(f"large: flatcore >= {SCALING_GOAL:g}x faster at 16 threads than at 1", value, sc >= SCALING_GOAL)
        )
    return items


def main(argv=None) -> int:
    p = harness.make_parser(__doc__, TOOLS, "smoke run: ~0.2 s per measurement, small GEMM")
    p.add_argument("--seconds", type=float, default=None, help="seconds per timed repeat (default 0.6; quick 0.2)")
    p.add_argument("--repeats", type=int, default=3, help="timed repeats, best taken (default 3)")
    p.add_argument(
        "--rounds",
        type=int,
        default=None,
        help="rounds: at each thread count every tool is measured this many times, the tools taking "
        "turns, and each keeps its best round, so that a busy spell of a shared host does not fall "
        "on one tool alone (default 3; quick 1)",
    )
    p.add_argument(
        "--lr",
        type=float,
        default=0.01,
        help="GD step size (default 0.01; well below 2/sharpness ~ 0.15 at these initialisations)",
    )
    p.add_argument("--gemm-n", type=int, default=None, help="matrix size for the GEMM peak (default 2048; quick 1024)")
    p.add_argument(
        "--eager-threads",
        type=int,
        nargs="+",
        default=None,
        help="thread counts at which the slow eager peers (PyTorch eager, NumPy) run (default: every "
        "count of --threads); flatcore, JAX and the GEMM peak always run at every count",
    )
    args = harness.parse_args(p, argv, 1800.0, worker, seconds=(0.2, 0.6), gemm_n=(1024, 2048), rounds=(1, 3))
    if args.worker:
        return 0
    if args.rerender is not None:
        return report.rerender(args.rerender, complete, report.train)

    import flatcore
    from flatcore.provenance import provenance
    from peers import jax as jax_peer
    from peers import torch_cuda_graph

    run = harness.prepare(
        p,
        args,
        TOOLS,
        TOOL_MODULES,
        LABELS,
        "pip install -r the bench extra",
        tool_notes={
            "jax": "JAX threads: the process is pinned to N cores (XLA sizes its thread pool from the "
            f"affinity mask); for 1 thread also XLA_FLAGS='{jax_peer.ONE_THREAD_FLAGS}'"
        },
    )
    sizes, threads, tools, pin, notes = run.sizes, run.threads, run.tools, run.pin, run.notes
    gpu_device = cuda_version = None
    if any(tool in GPU_TOOLS for tool in tools):
        gpu_device, cuda_version = torch_cuda_graph.available()
        if gpu_device is None:
            notes += [f"{LABELS[tool]} skipped: {cuda_version}" for tool in GPU_TOOLS if tool in tools]
            tools = [tool for tool in tools if tool not in GPU_TOOLS]
    cpu_tools = [tool for tool in tools if tool not in GPU_TOOLS]
    gpu_tools = [tool for tool in tools if tool in GPU_TOOLS]
    eager_threads = [t for t in threads if args.eager_threads is None or t in args.eager_threads]
    if eager_threads != threads and any(tool in EAGER_TOOLS for tool in tools):
        notes.append(
            f"the eager peers ({', '.join(LABELS[tool] for tool in tools if tool in EAGER_TOOLS)}) "
            f"ran only at threads {eager_threads} (--eager-threads)"
        )
    if gpu_tools:
        notes.append(
            f"{LABELS[gpu_tools[0]]}: run once, on {gpu_device} (CUDA {cuda_version}), in a process "
            f"{'pinned to' if pin else 'with'} the cores of the largest thread count ({max(threads)}); "
            f"graphs of {torch_cuda_graph.CHUNK} steps (and of 1 step for the rest) replayed, timed between "
            "torch.cuda.synchronize() calls"
        )
    rep = {
        "provenance": provenance(),
        "environment": harness.environment(run.busy, ("torch", "jax", "jaxlib")),
        "config": {
            "sizes": sizes,
            "threads": threads,
            "tools": tools,
            "lr": args.lr,
            "seconds": args.seconds,
            "repeats": args.repeats,
            "rounds": args.rounds,
            "gemm_n": args.gemm_n,
            "pin": pin,
            "quick": args.quick,
            "eager_threads": eager_threads,
            "gpu_device": gpu_device,
            "cuda_version": cuda_version,
            "cuda_graph_chunk": torch_cuda_graph.CHUNK,
            "gpu_tools": gpu_tools,
            "sanity_steps": SANITY_STEPS,
            "sanity_tol": SANITY_TOL,
            "workloads": {s: dict(zip(("n", "width", "d"), SIZES[s])) for s in sizes},
            "data": "flatcore.data.regression(n, d, seed=0): X uniform in the unit ball",
            "init": "flatcore.Network.init(d, width, seed=0, scheme='pytorch')",
        },
        "notes": notes,
        "results": {},
        "sanity": {},
        "sanity_signal": {},
    }

    with tempfile.TemporaryDirectory(prefix="flatcore-bench-") as tmpdir:
        tmp = Path(tmpdir)
        reference = {}
        for s in sizes:
            n, width, d = SIZES[s]
            X, y = flatcore.data.regression(n, d, seed=0)
            net = flatcore.Network.init(d, width, seed=0, scheme="pytorch")
            np.savez(tmp / f"data-{s}.npz", X=X, y=y, W=net.W, b=net.b, v=net.v, beta=np.float64(net.beta))
            reference[s] = np.stack(
                [flatcore.train(net, X, y, args.lr, j, record_every=j).net.params() for j in range(1, SANITY_STEPS + 1)]
            )
            theta0 = net.params()
            rep["sanity_signal"][s] = float(
                np.max(np.abs(reference[s][-1] - theta0)) / max(1.0, np.max(np.abs(theta0)))
            )

        for t in threads:
            cores = harness.cores_for(run.cores_all, t)
            here = [tool for tool in cpu_tools if tool not in EAGER_TOOLS or t in eager_threads]
            block = {"cores": cores, "tools_run": here, "tools": {}, "raw": {}}
            print(f"[{t} thread(s), cores {cores}]", file=sys.stderr, flush=True)
            failed = set()
            for rnd in range(args.rounds):
                g = _run_child("gemm", t, cores, sizes, args, tmp, pin)
                if "error" in g:
                    notes.append(f"GEMM peak at {t} threads failed: {g['error']}")
                elif g["gemm"]["gflops"] > block.get("gemm_gflops", 0.0):
                    block["gemm_gflops"] = g["gemm"]["gflops"]
                    block["raw"]["gemm"] = g
                    print(f"  gemm: {g['gemm']['gflops']:.1f} GFLOP/s", file=sys.stderr, flush=True)
                for tool in [tool for tool in here if tool not in failed]:
                    res = _run_child(tool, t, cores, sizes, args, tmp, pin)
                    if "error" in res:
                        failed.add(tool)
                        notes.append(f"{LABELS[tool]} at {t} threads failed: {res['error']}")
                        print(f"  {tool}: FAILED {res['error']}", file=sys.stderr, flush=True)
                        continue
                    if rnd == 0:
                        _record(rep, tool, res, reference, sizes)
                    _keep_best_round(block, tool, res, sizes)
                    _progress(tool, res, sizes, f" (round {rnd + 1})")
            report.add_note(rep, report.spread_note(block["tools"], t, LABELS))
            rep["results"][str(t)] = block

        if gpu_tools:  # once: the CPU thread count does not matter to it
            t = max(threads)
            cores = harness.cores_for(run.cores_all, t)
            gpu = {"device": gpu_device, "cuda": cuda_version, "threads": t, "cores": cores, "tools": {}, "raw": {}}
            print(f"[GPU: {gpu_device}, cores {cores}]", file=sys.stderr, flush=True)
            for tool in gpu_tools:
                res = _run_child(tool, t, cores, sizes, args, tmp, pin)
                if "error" in res:
                    notes.append(f"{LABELS[tool]} failed: {res['error']}")
                    print(f"  {tool}: FAILED {res['error']}", file=sys.stderr, flush=True)
                    continue
                _record(rep, tool, res, reference, sizes)
                gpu["raw"][tool] = res
                gpu["tools"][tool] = res["sizes"]
                _progress(tool, res, sizes)
                sp = max((res["sizes"][s].get("spread", 0.0), s) for s in sizes)
                if sp[0] > 0.2:
                    notes.append(
                        f"{LABELS[tool]}: the timed repeats differed by up to {100 * sp[0]:.0f}% "
                        f"({sp[1]}); the best repeat is reported"
                    )
            rep["gpu"] = gpu

    complete(rep)
    return report.finish(rep, report.train, args.out, "train", SANITY_TOL, "not the same update as flatcore")


if __name__ == "__main__":
    sys.exit(main())
