#!/usr/bin/env python
"""Sharpness (lambda_max of the Hessian) at a trained point: flatcore.sharpness against its peers.

    python benchmarks/bench_sharpness.py [--threads 1 2] [--sizes small mid large] [--quick]
                                         [--tools flatcore torch_power ...] [--out benchmarks/results]
                                         [--rerender results/sharpness.json]

Workloads: float64, ``flatcore.data.regression(n, d, seed=0)``,
L = 1/(2n) sum_i r_i^2, small (n=256, width=256, d=5), mid (1024, 512, 10), large (4096, 1024, 16).

The point: ``flatcore.train`` from the PyTorch-default initialisation (seed 0) at a large step
(clip_grad_norm 50; lr 0.16 / 0.18 / 0.14 for 2000 / 1000 / 500 steps), which ends at the edge of
stability (lr * lambda_max / 2 = 0.97-1.0). It is computed once by this process and handed to
every subprocess, so every tool sees the same theta.

Tools, each run for every thread count in a fresh subprocess pinned to the first N cores:

    flatcore         flatcore.sharpness(method="lanczos", tol=1e-10): Lanczos stopping on the residual
    flatcore_eig     the same with stop="eigenvalue" (opt-in; fewer HVPs where the gap is large)
    flatcore_power   power iteration on flatcore.hessian_operator
    flatcore_eigsh   scipy.sparse.linalg.eigsh(k=1, which="LA", tol=1e-10) on flatcore's operator
    torch_power      power iteration on a PyTorch float64 autograd HVP (double backward)
    torch_eigsh      scipy eigsh on that PyTorch HVP
    dense            numpy.linalg.eigvalsh(flatcore.hessian(...)) (where P*P*8 bytes is small);
                     its value is the accuracy reference (else flatcore.sharpness at tol=1e-13)
    flatcore_costs   (not a peer) flatcore's time per HVP against its time per GD step

Power iteration and eigsh start from the same seeded unit vector; power iteration stops when the
Rayleigh quotient changes by less than --power-tol (1e-10) relative, or after --power-max-hvp.
Results: OUT/sharpness.md and OUT/sharpness.json.
"""

from __future__ import annotations

import json
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
import harness
import peers
import report
from harness import SIZES
from peers import eigensolvers
from report import SHARPNESS_LABELS as LABELS

# Default training run to the benchmark point: (lr, steps). Each lr sits just below 2 / (the sharpness at
# initialisation: 12.2, 10.6, 13.7), so that progressive sharpening takes lr * lambda_max / 2 to about
# 0.97-1.0 without a catapult (at larger lr the sharpness first collapses to well below 2 / lr).
TRAIN = {"small": (0.16, 2000), "mid": (0.18, 1000), "large": (0.14, 500)}
TOOLS = tuple(LABELS)
PEERS = TOOLS[1:-1]  # the solvers flatcore.sharpness is compared with
TORCH_ROUTES = ("torch_power", "torch_eigsh")
TOOL_MODULES = dict.fromkeys(TORCH_ROUTES, "torch")
ACCURACY_GOAL = 1e-9  # goals: sharpness to 1e-9 relative
SPEEDUP_GOAL = 20.0  # ... at least 20x faster than the best PyTorch route
HVP_GOAL = 2.0  # each HVP within 2x the cost of a GD step
HVP_SANITY_TOL = 1e-10


# ================================================================================================
# Worker side: one (tool, thread count) per process
# ================================================================================================


def _solver(tool, arrays, u0, spec, threads):
    """A zero-argument callable that solves once and returns {"lambda_max", "n_hvp", "converged", ...}."""
    route, _, method = tool.partition("_")
    op = peers.hvp("torch_hvp" if route == "torch" else "flatcore")(*arrays, threads)
    if tool == "dense":
        return op.dense
    if route == "flatcore" and method in ("", "eig"):
        return lambda: op.sharpness(spec["tol"], "eigenvalue" if method == "eig" else "residual")
    if method == "power":
        return lambda: eigensolvers.power_iteration(op, u0, spec["power_tol"], spec["power_max_hvp"])
    return lambda: eigensolvers.eigsh(op, u0, spec["tol"])


def _costs(arrays, u0, spec, threads, lr) -> dict:
    """Seconds per HVP (through the Python operator, and the compiled operator the solver calls),
    per operator setup and per GD step, at the trained point. The GD steps use lr/2 (the cost does
    not depend on lr; the trained point's own lr sits at the edge of stability)."""
    timing = (spec["repeats"], spec["min_s"], spec["budget_s"])
    op, out = peers.hvp("flatcore")(*arrays, threads), {}
    out["operator_setup_s"], out["operator_setup"], _ = harness.time_calls(op.prepare, *timing)
    out["hvp_s"], out["hvp"], _ = harness.time_calls(lambda: op.hvp(u0), *timing)
    out["hvp_core_s"], out["hvp_core"], _ = harness.time_calls(lambda: op.op.core.matvec(u0), *timing)
    gd = harness.measure_steps(peers.gd("flatcore")(*arrays, 0.5 * lr, threads), spec["min_s"], spec["repeats"])
    out["gd_step_s"], out["gd_step"] = 1.0 / gd["steps_per_s"], gd
    out["hvp_over_gd_step"] = out["hvp_s"] / out["gd_step_s"]
    out["hvp_core_over_gd_step"] = out["hvp_core_s"] / out["gd_step_s"]
    return out


def worker(spec_path: str) -> None:
    spec = json.loads(Path(spec_path).read_text())
    tool, threads = spec["tool"], spec["threads"]
    out = harness.worker_info(tool, threads)
    for size in spec["sizes"]:
        data = np.load(size["data"])
        arrays = (data["X"], data["y"], data["W"], data["b"], data["v"], float(data["beta"]))
        u0, u_check, Hu_check = data["u0"], data["u_check"], data["Hu_check"]
        if tool == "flatcore_costs":
            res = _costs(arrays, u0, spec, threads, size["lr"])
            check = peers.hvp("flatcore")(*arrays, threads)
        else:
            secs, info, found = harness.time_calls(
                _solver(tool, arrays, u0, spec, threads), spec["repeats"], spec["min_s"], spec["budget_s"]
            )
            res = {"seconds": secs, **found, **info}
            if res["n_hvp"]:
                res["seconds_per_hvp"] = secs / res["n_hvp"]
            check = peers.hvp("torch_hvp")(*arrays, threads) if tool in TORCH_ROUTES else None
        if check is not None:  # the HVP must be flatcore's Hessian (same relu'(0) = 0, any thread count)
            check.prepare()
            res["hvp_dev"] = float(np.max(np.abs(check.hvp(u_check) - Hu_check)) / np.max(np.abs(Hu_check)))
        out["sizes"][size["name"]] = res
    if tool in TORCH_ROUTES:
        out["torch_threads"] = peers.torch_threads(threads)
    out["os_threads"] = harness.os_threads()
    Path(spec["result_out"]).write_text(json.dumps(out))


# ================================================================================================
# Driver side
# ================================================================================================


def _run_child(tool, threads, cores, sizes, lrs, args, tmp: Path, pin: bool) -> dict:
    tag = f"{tool}-{threads}"
    spec = {
        "tool": tool,
        "threads": threads,
        "tol": args.tol,
        "power_tol": args.power_tol,
        "power_max_hvp": args.power_max_hvp,
        "repeats": args.repeats,
        "min_s": args.min_seconds,
        "budget_s": args.budget,
        "sizes": [{"name": s, "data": str(tmp / f"point-{s}.npz"), "lr": lrs[s]} for s in sizes],
        "result_out": str(tmp / f"result-{tag}.json"),
    }
    return harness.run_worker(__file__, spec, tag, tmp, harness.child_env(threads), cores, pin, args.timeout)


def _build_points(sizes, args, tmp: Path, fc) -> dict:
    """Train to the benchmark point for each size; write what the workers need; return its description."""
    points = {}
    for s in sizes:
        n, width, d = SIZES[s]
        X, y = fc.data.regression(n, d, seed=0)
        net0 = fc.Network.init(d, width, seed=0, scheme="pytorch")
        lr = TRAIN[s][0] if args.lr is None else args.lr
        steps = TRAIN[s][1] if args.train_steps is None else args.train_steps
        t0 = time.perf_counter()
        tr = fc.train(net0, X, y, lr, steps, clip_grad_norm=args.clip)
        train_s = time.perf_counter() - t0
        if tr.diverged:
            raise SystemExit(f"{s}: training diverged at step {tr.diverged_step}; lower --lr")
        net = tr.net
        P = net.n_params
        u0 = np.random.default_rng(args.seed).standard_normal(P)
        u0 /= np.linalg.norm(u0)
        u_check = np.random.default_rng(args.seed + 1).standard_normal(P)
        Hu_check = fc.hvp(net, X, y, u_check)
        t0 = time.perf_counter()
        ref13 = fc.sharpness(net, X, y, tol=1e-13, stop="residual", method="lanczos", return_result=True)
        ref13_s = time.perf_counter() - t0
        top2 = fc.top_eigs(net, X, y, k=2, which="largest", tol=1e-10, method="lanczos")
        np.savez(
            tmp / f"point-{s}.npz",
            X=X,
            y=y,
            W=net.W,
            b=net.b,
            v=net.v,
            beta=np.float64(net.beta),
            u0=u0,
            u_check=u_check,
            Hu_check=Hu_check,
        )
        lam = float(ref13.values[0])
        points[s] = {
            "n": n,
            "width": width,
            "d": d,
            "P": P,
            "lr": lr,
            "steps": steps,
            "clip_grad_norm": args.clip,
            "train_s": train_s,
            "final_loss": float(tr.final_loss),
            "final_grad_norm": float(tr.final_grad_norm),
            "active_fraction": float(tr.history["active_fraction"][-1]),
            "lanczos_1e-13": {
                "lambda_max": lam,
                "residual_norm": float(ref13.residual_norms[0]),
                "n_hvp": int(ref13.n_hvp),
                "converged": bool(ref13.converged),
                "seconds": ref13_s,
            },
            "lambda_2": float(top2.values[1]),
            "lambda_2_over_lambda_max": float(top2.values[1] / lam),
            "edge_of_stability": lr * lam / 2.0,
            "dense_gib": 8.0 * P * P / 2**30,
        }
        print(
            f"[{s}] trained {steps} steps at lr {lr} in {train_s:.1f} s: loss {tr.final_loss:.3g}, "
            f"lambda_max {lam:.10g} (lr*lambda/2 = {lr * lam / 2:.3f}), lambda_2/lambda_max "
            f"{top2.values[1] / lam:.3f}",
            file=sys.stderr,
            flush=True,
        )
    return points


def complete(rep: dict) -> None:
    """The accuracy reference, every solver's relative error, the ratios to flatcore, the best PyTorch
    route and the goals.

    The reference is the dense eigenvalue where it ran (at the first thread count), else Lanczos at 1e-13.
    """
    cfg, points = rep["config"], rep["points"]
    cfg.setdefault("hvp_goal", HVP_GOAL)
    cfg.setdefault("hvp_sanity_tol", HVP_SANITY_TOL)
    sizes, blocks = cfg["sizes"], [rep["results"][str(t)] for t in cfg["threads"]]
    for s in sizes:
        pt = points[s]
        dense = [b["tools"]["dense"][s] for b in blocks if s in b["tools"].get("dense", {})]
        lz = pt["lanczos_1e-13"]["lambda_max"]
        if dense:
            dense[0]["is_reference"] = True
            pt["reference"] = {"lambda_max": dense[0]["lambda_max"], "source": "dense eigvalsh"}
            pt["lanczos13_vs_dense"] = abs(lz - dense[0]["lambda_max"]) / abs(dense[0]["lambda_max"])
            vals = [r["lambda_max"] for r in dense]
            pt["dense_spread_over_threads"] = (max(vals) - min(vals)) / abs(dense[0]["lambda_max"])
        else:
            pt["reference"] = {"lambda_max": lz, "source": "flatcore.sharpness tol 1e-13"}
            report.add_note(
                rep,
                f"{s}: no dense reference (too large or not run); relative errors are against "
                f"flatcore.sharpness at tol 1e-13 (residual {pt['lanczos_1e-13']['residual_norm']:.1e}), "
                "so flatcore's own error there is only a self-consistency check",
            )
    for t, block in zip(cfg["threads"], blocks):
        block["ratios"], block["best_torch"] = {}, {}
        for per_size in block["tools"].values():
            for s, r in per_size.items():
                if "lambda_max" in r:
                    ref = points[s]["reference"]["lambda_max"]
                    r["rel_error"] = abs(r["lambda_max"] - ref) / abs(ref)
        fcres = block["tools"].get("flatcore", {})
        for s in [s for s in sizes if s in fcres]:
            for tool in PEERS:
                r = block["tools"].get(tool, {}).get(s)
                if r is not None:
                    block["ratios"].setdefault(tool, {})[s] = fcres[s]["seconds"] / r["seconds"]
            routes = [(block["tools"][tool][s], tool) for tool in TORCH_ROUTES if s in block["tools"].get(tool, {})]
            good = [(r["seconds"], tool) for r, tool in routes if r["converged"] and r["rel_error"] <= ACCURACY_GOAL]
            if routes and not good:
                report.add_note(
                    rep,
                    f"{s}, {t} thread(s): no PyTorch route reached {ACCURACY_GOAL:g}; "
                    "the fastest is used as the best route",
                )
            if routes:
                secs, tool = min(good or [(r["seconds"], tool) for r, tool in routes])
                block["best_torch"][s] = {
                    "tool": tool,
                    "seconds": secs,
                    "ratio": fcres[s]["seconds"] / secs,
                    "speedup": secs / fcres[s]["seconds"],
                }
    rep["goals"] = report.goals(rep, lambda block: goal_items(rep, block))


def goal_items(rep: dict, block: dict) -> list:
    """The goals judged on `block` (the results at the goals' thread count)."""
    goal, items = report.goal, []
    for s in rep["config"]["sizes"]:
        fcr = block["tools"].get("flatcore", {}).get(s)
        if fcr is not None and fcr.get("rel_error") is not None:
            items.append(
                goal(
                    f"{s}: flatcore.sharpness accurate to {ACCURACY_GOAL:g} relative",
                    f"{fcr['rel_error']:.1e}, {fcr['n_hvp']} HVPs"
                    + (
                        ""
                        if rep["points"][s]["reference"]["source"].startswith("dense")
                        else "; reference flatcore.sharpness tol 1e-13: a self-check only"
                    ),
                    fcr["converged"] and fcr["rel_error"] <= ACCURACY_GOAL,
                )
            )
        b = block["best_torch"].get(s)
        if fcr is not None and b:
            items.append(
                goal(
                    f"{s}: flatcore.sharpness >= {SPEEDUP_GOAL:g}x the best PyTorch route",
                    f"{report.ratio(b['speedup'])} against {LABELS[b['tool']]}",
                    b["speedup"] >= SPEEDUP_GOAL,
                )
            )
        c = block["tools"].get("flatcore_costs", {}).get(s)
        if c:
            items.append(
                goal(
                    f"{s}: flatcore HVP (compiled operator, as in flatcore.sharpness) <= {HVP_GOAL:g}x "
                    "a flatcore GD step",
                    f"{c['hvp_core_over_gd_step']:.2f}x: {report.seconds(c['hvp_core_s'])} vs "
                    f"{report.seconds(c['gd_step_s'])}; through Python {c['hvp_over_gd_step']:.2f}x",
                    c["hvp_core_over_gd_step"] <= HVP_GOAL,
                )
            )
    return items


def main(argv=None) -> int:
    p = harness.make_parser(__doc__, TOOLS, "smoke run: small and mid, 2 repeats, short loops")
    p.add_argument("--repeats", type=int, default=None, help="timed repeats, best taken (default 5; quick 2)")
    p.add_argument(
        "--min-seconds",
        type=float,
        default=None,
        help="shorter calls are looped to about this long per repeat (default 0.5; quick 0.1)",
    )
    p.add_argument(
        "--budget",
        type=float,
        default=None,
        help="no further repeats of a measurement after this many seconds (default 120; quick 20)",
    )
    p.add_argument("--tol", type=float, default=1e-10, help="Lanczos and eigsh tolerance (default 1e-10)")
    p.add_argument(
        "--power-tol",
        type=float,
        default=1e-10,
        help="power iteration: stop at this relative change of the Rayleigh quotient (default 1e-10)",
    )
    p.add_argument("--power-max-hvp", type=int, default=2000, help="power iteration cap (default 2000)")
    p.add_argument(
        "--lr",
        type=float,
        default=None,
        help="step size of the training run, all sizes (default: small 0.16, mid 0.18, large 0.14)",
    )
    p.add_argument(
        "--train-steps",
        type=int,
        default=None,
        help="training steps, all sizes (default: small 2000, mid 1000, large 500)",
    )
    p.add_argument("--clip", type=float, default=50.0, help="clip_grad_norm of the training run (default 50)")
    p.add_argument("--seed", type=int, default=0, help="seed of the start vector (default 0)")
    p.add_argument(
        "--dense-max-gib",
        type=float,
        default=1.0,
        help="run the dense route only where P*P*8 bytes is at most this (default 1.0: small, mid)",
    )
    args = harness.parse_args(p, argv, 3600.0, worker, repeats=(2, 5), min_seconds=(0.1, 0.5), budget=(20.0, 120.0))
    if args.worker:
        return 0
    if args.rerender is not None:
        return report.rerender(args.rerender, complete, report.sharpness)

    import flatcore as fc
    from flatcore.provenance import provenance

    run = harness.prepare(p, args, TOOLS, TOOL_MODULES, LABELS, "pip install torch, CPU build")
    sizes, threads, tools, pin, notes = run.sizes, run.threads, run.tools, run.pin, run.notes
    rep = {
        "provenance": provenance(),
        "environment": harness.environment(run.busy, ("torch",)),
        "config": {
            "sizes": sizes,
            "threads": threads,
            "tools": tools,
            "tol": args.tol,
            "power_tol": args.power_tol,
            "power_max_hvp": args.power_max_hvp,
            "clip_grad_norm": args.clip,
            "train": {s: {"lr": args.lr or TRAIN[s][0], "steps": args.train_steps or TRAIN[s][1]} for s in sizes},
            "seed": args.seed,
            "repeats": args.repeats,
            "min_seconds": args.min_seconds,
            "budget": args.budget,
            "dense_max_gib": args.dense_max_gib,
            "pin": pin,
            "quick": args.quick,
            "hvp_goal": HVP_GOAL,
            "hvp_sanity_tol": HVP_SANITY_TOL,
            "workloads": {s: dict(zip(("n", "width", "d"), SIZES[s])) for s in sizes},
            "data": "flatcore.data.regression(n, d, seed=0): X uniform in the unit ball",
            "init": "flatcore.Network.init(d, width, seed=0, scheme='pytorch'), then flatcore.train",
        },
        "notes": notes,
        "results": {},
        "sanity": {},
    }

    with tempfile.TemporaryDirectory(prefix="flatcore-bench-") as tmpdir:
        tmp = Path(tmpdir)
        points = _build_points(sizes, args, tmp, fc)
        rep["points"] = points
        dense_sizes = [s for s in sizes if points[s]["dense_gib"] <= args.dense_max_gib]
        skipped = [s for s in sizes if s not in dense_sizes]
        if "dense" in tools and skipped:
            notes.append(
                f"dense route skipped at {', '.join(skipped)} (P*P*8 bytes above --dense-max-gib "
                f"{args.dense_max_gib:g} GiB)"
            )
        for t in threads:
            cores = harness.cores_for(run.cores_all, t)
            block = {"cores": cores, "tools": {}, "raw": {}}
            print(f"[{t} thread(s), cores {cores}]", file=sys.stderr, flush=True)
            for tool in tools:
                tool_sizes = dense_sizes if tool == "dense" else sizes
                if not tool_sizes:
                    continue
                res = _run_child(tool, t, cores, tool_sizes, {s: points[s]["lr"] for s in sizes}, args, tmp, pin)
                if "error" in res:
                    notes.append(f"{LABELS[tool]} at {t} threads failed: {res['error']}")
                    print(f"  {tool}: FAILED {res['error']}", file=sys.stderr, flush=True)
                    continue
                block["raw"][tool] = {k: v for k, v in res.items() if k != "sizes"}
                block["tools"][tool] = res["sizes"]
                for s, r in res["sizes"].items():
                    if "hvp_dev" in r:
                        prev = rep["sanity"].setdefault(tool, {}).get(s)
                        rep["sanity"][tool][s] = r["hvp_dev"] if prev is None else max(prev, r["hvp_dev"])
                if tool == "flatcore_costs":
                    msg = ", ".join(
                        f"{s} HVP {report.seconds(r['hvp_core_s'])} = {r['hvp_core_over_gd_step']:.2f} GD steps"
                        for s, r in res["sizes"].items()
                    )
                else:
                    msg = ", ".join(
                        f"{s} {report.seconds(r['seconds'])} ({r['n_hvp']} HVPs)" for s, r in res["sizes"].items()
                    )
                print(f"  {tool}: {msg}  ({res['wall_s']:.0f} s)", file=sys.stderr, flush=True)
            report.add_note(rep, report.spread_note(block["tools"], t, LABELS))
            rep["results"][str(t)] = block

    complete(rep)
    return report.finish(rep, report.sharpness, args.out, "sharpness", HVP_SANITY_TOL, "HVP differs from flatcore's")


if __name__ == "__main__":
    sys.exit(main())
