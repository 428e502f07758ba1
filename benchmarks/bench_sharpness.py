#!/usr/bin/env python
"""Sharpness (lambda_max of the Hessian) at a trained point: flatcore.sharpness against its peers.

    python benchmarks/bench_sharpness.py [--threads 1 2] [--sizes small mid large] [--quick]
                                         [--tools flatcore torch_power ...] [--out benchmarks/results]

Workloads (QUALITY.md, Performance): float64, X uniform in the unit ball, y = smooth target plus
noise (``flatcore.data.regression(n, d, seed=0)``), L = 1/(2n) sum_i r_i^2:

    small (n=256, width=256, d=5), mid (1024, 512, 10), large (4096, 1024, 16)

The point: ``flatcore.train`` from the PyTorch-default initialisation (seed 0) at a large step
(clip_grad_norm 50; lr 0.16 / 0.18 / 0.14 for 2000 / 1000 / 500 steps), which ends at the edge of
stability (lr * lambda_max / 2 = 0.97-1.0). It is computed once by this process and handed to
every subprocess, so every tool sees the same theta.

Tools, each run for every thread count in a fresh subprocess pinned to the first N cores:

    flatcore         flatcore.sharpness(method="lanczos", tol=1e-10, return_result=True): single-vector
                     Lanczos stopping on the residual (the default)
    flatcore_eig     the same with stop="eigenvalue": stops on the eigenvalue's error estimate (opt-in;
                     fewer HVPs where the top eigenvalue is well separated)
    flatcore_power   power iteration on flatcore.hessian_operator(...).matvec
    flatcore_eigsh   scipy.sparse.linalg.eigsh(k=1, which="LA", tol=1e-10) on flatcore's operator
    torch_power      power iteration on a PyTorch float64 autograd HVP (double backward)
    torch_eigsh      scipy eigsh on that PyTorch HVP
    dense            numpy.linalg.eigvalsh(flatcore.hessian(...)) (where P*P*8 bytes is small);
                     its value is the accuracy reference (else flatcore.sharpness at tol=1e-13)
    flatcore_costs   (not a peer) flatcore's time per HVP against its time per GD step

Power iteration and eigsh start from the same seeded unit vector; power iteration stops when the
Rayleigh quotient changes by less than --power-tol (1e-10) relative, or after --power-max-hvp.

Results: a Markdown table printed and written to OUT/sharpness.md, everything in
OUT/sharpness.json. torch is optional: without it the PyTorch rows are skipped with a note.
"""
from __future__ import annotations

import json
import math
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
import harness  # noqa: E402  (the shared benchmark harness, next to this file)
from harness import SIZES, md_row  # noqa: E402

# Default training run to the benchmark point: (lr, steps). Each lr sits just below 2 / (the sharpness at
# initialisation: 12.2, 10.6, 13.7), so that progressive sharpening takes lr * lambda_max / 2 to about
# 0.97-1.0 without a catapult (at larger lr the sharpness first collapses to well below 2 / lr).
TRAIN = {"small": (0.16, 2000), "mid": (0.18, 1000), "large": (0.14, 500)}
TOOLS = ("flatcore", "flatcore_eig", "flatcore_power", "flatcore_eigsh", "torch_power", "torch_eigsh", "dense", "flatcore_costs")
SOLVERS = TOOLS[:-1]  # tools that return a lambda_max
PEERS = SOLVERS[1:]
TORCH_ROUTES = ("torch_power", "torch_eigsh")
TOOL_LABELS = {
    "flatcore": "flatcore.sharpness (Lanczos, residual <= 1e-10, the default)",
    "flatcore_eig": "flatcore.sharpness(stop=\"eigenvalue\") (error estimate <= 1e-10; opt-in)",
    "flatcore_power": "power iteration on flatcore's HVP",
    "flatcore_eigsh": "scipy eigsh on flatcore's HVP",
    "torch_power": "PyTorch autograd HVP, power iteration",
    "torch_eigsh": "PyTorch autograd HVP, scipy eigsh",
    "dense": "dense: eigvalsh(flatcore.hessian)",
    "flatcore_costs": "flatcore HVP and GD step costs",
}
TOOL_MODULES = {"torch_power": "torch", "torch_eigsh": "torch"}
ACCURACY_GOAL = 1e-9   # QUALITY.md: sharpness to 1e-9 relative
SPEEDUP_GOAL = 20.0    # ... at least 20x faster than the best PyTorch route
HVP_GOAL = 2.0         # each HVP within 2x the cost of a GD step
HVP_SANITY_TOL = 1e-10
LONG_CALL_S = 2.0      # a first call at least this long counts as a timed repeat (no separate warm-up)


# ================================================================================================
# Worker side: one (tool, thread count) per process
# ================================================================================================

def _timeit(fn, repeats: int, min_s: float, budget_s: float):
    """Best-of-`repeats` seconds per call of `fn`; returns (seconds, info, last output).

    The first call is a warm-up (one-time costs: imports, allocation), unless it took at least
    LONG_CALL_S, when it counts as the first repeat. Calls shorter than `min_s` are looped so that
    each repeat lasts about `min_s`. Further repeats stop once the repeats have taken `budget_s`.
    """
    t0 = time.perf_counter()
    out = fn()
    first = time.perf_counter() - t0
    if first >= LONG_CALL_S:
        inner, times = 1, [first]
    else:
        inner, times = max(1, math.ceil(min_s / max(first, 1e-6))), []
    while len(times) < repeats and (not times or sum(times) * inner < budget_s):
        t0 = time.perf_counter()
        for _ in range(inner):
            out = fn()
        times.append((time.perf_counter() - t0) / inner)
    return min(times), {"seconds_per_call": times, "calls_per_repeat": inner, "first_call_s": first,
                        "spread": harness.spread(times)}, out


def power_iteration(matvec, u0, tol, max_hvp, dot=None, norm=None):
    """Power iteration from u0 (unit): stop when the Rayleigh quotient changes by < tol relative.

    Returns (lambda, n_hvp, converged). Converges to the eigenvalue of largest modulus, which at
    these points is lambda_max (the most negative eigenvalue is ~1e-3 of it).
    """
    dot = dot or (lambda a, b: float(a @ b))
    norm = norm or (lambda a: float(np.linalg.norm(a)))
    q, lam_prev, lam = u0, None, float("nan")
    for k in range(1, max_hvp + 1):
        w = matvec(q)
        lam = dot(q, w)
        if lam_prev is not None and abs(lam - lam_prev) <= tol * abs(lam):
            return lam, k, True
        lam_prev = lam
        q = w / norm(w)
    return lam, max_hvp, False


class TorchHVP:
    """Hessian-vector products by double backward, as PyHessian and most users write them.

    ``build()`` runs the forward pass and the first backward with ``create_graph=True`` once per
    solve; each ``hvp(u)`` is ``torch.autograd.grad(grad . u, params, retain_graph=True)``.
    """

    def __init__(self, X, y, W, b, v, beta):
        import torch

        self.torch = torch
        self.X = torch.from_numpy(np.ascontiguousarray(X))
        self.y = torch.from_numpy(np.ascontiguousarray(y))
        self.params = [torch.tensor(np.asarray(a, dtype=np.float64), requires_grad=True)
                       for a in (W, b, v, np.float64(beta))]
        self.sizes = [p.numel() for p in self.params]
        self.n_hvp = 0
        self.grads = None

    def build(self):
        torch = self.torch
        W, b, v, beta = self.params
        f = torch.relu(self.X @ W.T - b) @ v + beta    # torch.relu: relu'(0) = 0, as in MATH.md
        loss = 0.5 * torch.mean((f - self.y) ** 2)
        self.grads = torch.autograd.grad(loss, self.params, create_graph=True)
        self.n_hvp = 0

    def hvp(self, u):
        """u: flat torch tensor in the layout of Network.params(); returns H u (flat torch tensor)."""
        torch = self.torch
        parts = torch.split(u, self.sizes)
        dot = sum((g * p.view(g.shape)).sum() for g, p in zip(self.grads, parts))
        h = torch.autograd.grad(dot, self.params, retain_graph=True)
        self.n_hvp += 1
        return torch.cat([t.reshape(-1) for t in h])


def _solver(tool, fc, net, X, y, u0, args, threads):
    """A zero-argument callable that solves once and returns (lambda, n_hvp, converged, extra)."""
    tol = args["tol"]
    if tool in ("flatcore", "flatcore_eig"):
        stop = "eigenvalue" if tool == "flatcore_eig" else "residual"

        def run():
            res = fc.sharpness(net, X, y, tol=tol, stop=stop, method="lanczos", return_result=True,
                               n_threads=threads)
            return float(res.values[0]), int(res.n_hvp), bool(res.converged), {
                "residual_norm": float(res.residual_norms[0]), "n_restarts": int(res.n_restarts)}
        return run
    if tool == "flatcore_power":
        def run():
            op = fc.hessian_operator(net, X, y, n_threads=threads)
            lam, k, ok = power_iteration(op.matvec, u0, args["power_tol"], args["power_max_hvp"])
            return lam, k, ok, {}
        return run
    if tool == "flatcore_eigsh":
        from scipy.sparse.linalg import ArpackNoConvergence, eigsh

        def run():
            op = fc.hessian_operator(net, X, y, n_threads=threads)
            try:
                vals = eigsh(op.aslinearoperator(), k=1, which="LA", tol=tol, v0=u0, return_eigenvectors=False)
                return float(vals[-1]), op.n_hvp, True, {}
            except ArpackNoConvergence as exc:
                val = float(exc.eigenvalues[-1]) if len(exc.eigenvalues) else float("nan")
                return val, op.n_hvp, False, {}
        return run
    if tool in TORCH_ROUTES:
        import torch

        th = TorchHVP(X, y, net.W, net.b, net.v, net.beta)
        if tool == "torch_power":
            u0t = torch.from_numpy(u0.copy())

            def run():
                th.build()
                lam, k, ok = power_iteration(th.hvp, u0t, args["power_tol"], args["power_max_hvp"],
                                             dot=lambda a, b: float(torch.dot(a, b)),
                                             norm=lambda a: float(torch.linalg.vector_norm(a)))
                return lam, k, ok, {}
            return run
        from scipy.sparse.linalg import ArpackNoConvergence, LinearOperator, eigsh

        P = u0.shape[0]
        lin = LinearOperator((P, P), matvec=lambda u: th.hvp(torch.from_numpy(
            np.ascontiguousarray(u, dtype=np.float64).reshape(-1))).numpy(), dtype=np.float64)

        def run():
            th.build()
            try:
                vals = eigsh(lin, k=1, which="LA", tol=tol, v0=u0, return_eigenvectors=False)
                return float(vals[-1]), th.n_hvp, True, {}
            except ArpackNoConvergence as exc:
                val = float(exc.eigenvalues[-1]) if len(exc.eigenvalues) else float("nan")
                return val, th.n_hvp, False, {}
        return run
    if tool == "dense":
        split = {}

        def run():
            t0 = time.perf_counter()
            H = fc.hessian(net, X, y, n_threads=threads)
            t1 = time.perf_counter()
            ev = np.linalg.eigvalsh(H)
            split.update(hessian_s=t1 - t0, eigvalsh_s=time.perf_counter() - t1)
            return float(ev[-1]), 0, True, {"lambda_2": float(ev[-2]), "lambda_min": float(ev[0]), **split}
        return run
    raise ValueError(tool)


def _steps_per_s(fc, net, X, y, lr, threads, min_s, repeats):
    """flatcore.train seconds per step at the trained point (plain GD, history only at the end)."""
    def run(k):
        t0 = time.perf_counter()
        r = fc.train(net, X, y, lr, k, n_threads=threads, record_every=k)
        dt = time.perf_counter() - t0
        if r.diverged:
            raise RuntimeError(f"flatcore.train diverged at the trained point (step {r.diverged_step})")
        return dt

    k, times = harness.time_steps(run, min_s, repeats, max_steps=10**7)
    return min(times) / k, {"steps": k, "seconds": times, "spread": harness.spread(times)}


def _costs(fc, net, X, y, u0, u_check, Hu_check, spec, threads, lr):
    """Seconds per HVP (through the Python operator, and the compiled operator the solver calls)
    and per GD step, at the trained point. The GD steps use lr/2 (the cost does not depend on lr;
    the trained point's own lr sits at the edge of stability)."""
    min_s, repeats, budget = spec["min_s"], spec["repeats"], spec["budget_s"]
    out = {}
    t, info, op = _timeit(lambda: fc.hessian_operator(net, X, y, n_threads=threads), repeats, min_s, budget)
    out["operator_setup_s"], out["operator_setup"] = t, info
    t, info, _ = _timeit(lambda: op.matvec(u0), repeats, min_s, budget)
    out["hvp_s"], out["hvp"] = t, info
    core = op.core
    t, info, _ = _timeit(lambda: core.matvec(u0), repeats, min_s, budget)
    out["hvp_core_s"], out["hvp_core"] = t, info
    t, info = _steps_per_s(fc, net, X, y, 0.5 * lr, threads, min_s, repeats)
    out["gd_step_s"], out["gd_step"] = t, info
    out["hvp_over_gd_step"] = out["hvp_s"] / out["gd_step_s"]
    out["hvp_core_over_gd_step"] = out["hvp_core_s"] / out["gd_step_s"]
    Hu = op.matvec(u_check)
    out["hvp_dev"] = float(np.max(np.abs(Hu - Hu_check)) / np.max(np.abs(Hu_check)))
    return out


def worker(spec_path: str) -> None:
    spec = json.loads(Path(spec_path).read_text())
    tool, threads = spec["tool"], spec["threads"]
    out = harness.worker_info(tool, threads)
    if tool in TORCH_ROUTES:
        out["torch_threads"] = harness.set_torch_threads(threads)
    import flatcore as fc

    for size in spec["sizes"]:
        data = np.load(size["data"])
        X, y = data["X"], data["y"]
        net = fc.Network(data["W"], data["b"], data["v"], float(data["beta"]))
        u0 = data["u0"]
        if tool == "flatcore_costs":
            out["sizes"][size["name"]] = _costs(fc, net, X, y, u0, data["u_check"], data["Hu_check"], spec, threads,
                                                size["lr"])
            continue
        run = _solver(tool, fc, net, X, y, u0, spec, threads)
        seconds, info, (lam, n_hvp, converged, extra) = _timeit(run, spec["repeats"], spec["min_s"],
                                                                 spec["budget_s"])
        res = {"seconds": seconds, "lambda_max": lam, "n_hvp": n_hvp, "converged": converged, **info, **extra}
        if n_hvp:
            res["seconds_per_hvp"] = seconds / n_hvp
        if tool in TORCH_ROUTES:  # the PyTorch HVP must be flatcore's Hessian (same relu'(0) = 0)
            import torch

            th = TorchHVP(X, y, net.W, net.b, net.v, net.beta)
            th.build()
            Hu = th.hvp(torch.from_numpy(data["u_check"].copy())).numpy()
            res["hvp_dev"] = float(np.max(np.abs(Hu - data["Hu_check"])) / np.max(np.abs(data["Hu_check"])))
        out["sizes"][size["name"]] = res
    out["os_threads"] = harness.os_threads()
    Path(spec["result_out"]).write_text(json.dumps(out))


# ================================================================================================
# Driver side
# ================================================================================================

def _run_child(tool, threads, cores, sizes, lrs, args, tmp: Path, pin: bool) -> dict:
    tag = f"{tool}-{threads}"
    spec = {"tool": tool, "threads": threads, "tol": args.tol, "power_tol": args.power_tol,
            "power_max_hvp": args.power_max_hvp, "repeats": args.repeats, "min_s": args.min_seconds,
            "budget_s": args.budget,
            "sizes": [{"name": s, "data": str(tmp / f"point-{s}.npz"), "lr": lrs[s]} for s in sizes],
            "result_out": str(tmp / f"result-{tag}.json")}
    return harness.run_worker(__file__, spec, tag, tmp, harness.child_env(threads), cores, pin, args.timeout)


def _fmt_s(x) -> str:
    if x is None:
        return "–"
    if x >= 10:
        return f"{x:.1f} s"
    if x >= 1:
        return f"{x:.2f} s"
    if x >= 1e-3:
        return f"{1e3 * x:.3g} ms"
    return f"{1e6 * x:.3g} µs"


def _fmt_ratio(x) -> str:
    if x is None:
        return "–"
    return f"{x:.3g}x" if x < 100 else f"{x:,.0f}x"


def _fmt_err(x) -> str:
    return "–" if x is None else ("0" if x == 0 else f"{x:.1e}")


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
        rng = np.random.default_rng(args.seed)
        u0 = rng.standard_normal(P)
        u0 /= np.linalg.norm(u0)
        u_check = np.random.default_rng(args.seed + 1).standard_normal(P)
        Hu_check = fc.hvp(net, X, y, u_check)
        t0 = time.perf_counter()
        ref13 = fc.sharpness(net, X, y, tol=1e-13, stop="residual", method="lanczos", return_result=True)
        ref13_s = time.perf_counter() - t0
        top2 = fc.top_eigs(net, X, y, k=2, which="largest", tol=1e-10, method="lanczos")
        np.savez(tmp / f"point-{s}.npz", X=X, y=y, W=net.W, b=net.b, v=net.v, beta=np.float64(net.beta),
                 u0=u0, u_check=u_check, Hu_check=Hu_check)
        lam = float(ref13.values[0])
        points[s] = {"n": n, "width": width, "d": d, "P": P, "lr": lr, "steps": steps,
                     "clip_grad_norm": args.clip, "train_s": train_s, "final_loss": float(tr.final_loss),
                     "final_grad_norm": float(tr.final_grad_norm),
                     "active_fraction": float(tr.history["active_fraction"][-1]),
                     "lanczos_1e-13": {"lambda_max": lam, "residual_norm": float(ref13.residual_norms[0]),
                                       "n_hvp": int(ref13.n_hvp), "converged": bool(ref13.converged),
                                       "seconds": ref13_s},
                     "lambda_2": float(top2.values[1]), "lambda_2_over_lambda_max": float(top2.values[1] / lam),
                     "edge_of_stability": lr * lam / 2.0,
                     "dense_gib": 8.0 * P * P / 2**30}
        print(f"[{s}] trained {steps} steps at lr {lr} in {train_s:.1f} s: loss {tr.final_loss:.3g}, "
              f"lambda_max {lam:.10g} (lr*lambda/2 = {lr * lam / 2:.3f}), lambda_2/lambda_max "
              f"{top2.values[1] / lam:.3f}", file=sys.stderr, flush=True)
    return points


def render_markdown(report: dict) -> str:
    v, cfg = report["versions"], report["config"]
    sizes, points = cfg["sizes"], report["points"]
    lines = harness.markdown_header(
        "flatcore: sharpness (lambda_max of the Hessian) at a trained point", report,
        f"{harness.versions_prefix(v)}, SciPy {v.get('scipy') or 'absent'}, torch {v['torch'] or 'absent'}",
        f"float64, tol {cfg['tol']:g} (Lanczos, eigsh), power iteration until the Rayleigh quotient changes "
        f"< {cfg['power_tol']:g} relative (at most {cfg['power_max_hvp']} HVPs), same seeded start vector for "
        f"power iteration and eigsh; best of {cfg['repeats']} repeats (calls shorter than {cfg['min_seconds']} s "
        f"looped; repeats stop after {cfg['budget']} s); threads {cfg['threads']}, pinned to the first N cores: "
        f"{cfg['pin']}" + (" (QUICK run: indicative only)" if cfg["quick"] else ""))
    head, sep = harness.size_header(sizes, "")

    lines += ["", "## Trained points", "",
              "`flatcore.train` from `Network.init(d, width, seed=0, scheme=\"pytorch\")` with "
              "`clip_grad_norm`, the same theta for every tool. lr·lambda_max/2 near 1 is the edge of "
              "stability; lambda_2/lambda_max sets how fast power iteration converges.", "", head, sep]
    rows = [("P (parameters)", lambda p: f"{p['P']:,}"),
            ("lr, steps", lambda p: f"{p['lr']:g}, {p['steps']}"),
            ("final loss", lambda p: f"{p['final_loss']:.4g}"),
            ("active fraction", lambda p: f"{p['active_fraction']:.3f}"),
            ("reference lambda_max", lambda p: f"{p['reference']['lambda_max']:.12g}" if p.get("reference") else "–"),
            ("reference from", lambda p: p["reference"]["source"] if p.get("reference") else "–"),
            ("lr·lambda_max/2", lambda p: f"{p['edge_of_stability']:.3f}"),
            ("lambda_2/lambda_max", lambda p: f"{p['lambda_2_over_lambda_max']:.4f}"),
            ("Lanczos tol 1e-13 vs dense, relative", lambda p: _fmt_err(p.get("lanczos13_vs_dense"))),
            ("dense Hessian size", lambda p: f"{p['dense_gib']:.2f} GiB")]
    for label, f in rows:
        lines.append(md_row(label, (f(points[s]) for s in sizes)))

    solvers = [t for t in cfg["tools"] if t in SOLVERS]
    for t in cfg["threads"]:
        block = report["results"][str(t)]
        res = block["tools"]
        lines += ["", f"## {t} thread{'s' if t > 1 else ''}", "",
                  "Time to lambda_max · Hessian-vector products · relative error against the reference "
                  "(lower is better; `*` = the solver reported no convergence; the dense route builds the "
                  "whole Hessian instead of HVPs):", "", head, sep]
        for tool in solvers:
            cells = []
            for s in sizes:
                r = res.get(tool, {}).get(s)
                if r is None:
                    cells.append("–")
                    continue
                hv = r["n_hvp"] if tool != "dense" else "–"
                err = "reference" if r.get("is_reference") else _fmt_err(r.get("rel_error"))
                cells.append(f"{_fmt_s(r['seconds'])} · {hv} · {err}" + ("" if r["converged"] else " *"))
            lines.append(md_row(TOOL_LABELS[tool], cells))
        if "flatcore" in solvers:
            lines += ["", "flatcore.sharpness time / peer time (below 1: flatcore is faster), and in brackets the "
                      "speed-up of flatcore (peer time / flatcore time):", "", head, sep]
            for tool in [x for x in solvers if x in PEERS]:
                cells = []
                for s in sizes:
                    q = block["ratios"].get(tool, {}).get(s)
                    cells.append("–" if q is None else f"{q:.3g} ({_fmt_ratio(1.0 / q)})")
                lines.append(md_row(TOOL_LABELS[tool], cells))
            cells = []
            for s in sizes:
                b = block["best_torch"].get(s)
                cells.append("–" if not b else f"{TOOL_LABELS[b['tool']].split(', ')[-1]}: "
                             f"{b['ratio']:.3g} ({_fmt_ratio(b['speedup'])})")
            lines.append(md_row("**best PyTorch route** (fastest within 1e-9)", cells))
        costs = res.get("flatcore_costs")
        lines += ["", "Cost of one Hessian-vector product (goal: flatcore's HVP <= "
                  f"{HVP_GOAL:g}x its GD step):", "", head, sep]
        crow = [("flatcore GD step (flatcore.train, per step)", lambda c: _fmt_s(c["gd_step_s"])),
                ("flatcore HVP, compiled operator (what flatcore.sharpness calls)", lambda c: _fmt_s(c["hvp_core_s"])),
                ("**flatcore HVP (compiled) / GD step**", lambda c: f"{c['hvp_core_over_gd_step']:.2f} "
                 f"({'met' if c['hvp_core_over_gd_step'] <= HVP_GOAL else 'NOT met'})"),
                ("flatcore HVP through Python (hessian_operator(...).matvec)", lambda c: _fmt_s(c["hvp_s"])),
                ("flatcore HVP through Python / GD step", lambda c: f"{c['hvp_over_gd_step']:.2f}"),
                ("flatcore operator setup (hessian_operator: residuals, activations)",
                 lambda c: _fmt_s(c["operator_setup_s"]))]
        for label, f in crow:
            lines.append(md_row(label, (f(costs[s]) if costs and s in costs else "–" for s in sizes)))
        for tool in [x for x in solvers if x != "dense"]:
            cells = [_fmt_s(res.get(tool, {}).get(s, {}).get("seconds_per_hvp")) for s in sizes]
            lines.append(md_row(f"{TOOL_LABELS[tool]}: solve time / HVPs", cells))

    lines += ["", "## Sanity", "",
              f"Largest max|H u - H_flatcore u| / max|H_flatcore u| for a fixed random u over the thread counts "
              f"(flatcore's row: its N-thread operator against `flatcore.hvp` in the parent; `ok` at most "
              f"{HVP_SANITY_TOL:g}):", "", head, sep]
    for tool in [x for x in cfg["tools"] if x in TORCH_ROUTES + ("flatcore_costs",)]:
        cells = []
        for s in sizes:
            dev = report["sanity"].get(tool, {}).get(s)
            cells.append("–" if dev is None else f"{dev:.1e} {'ok' if dev <= HVP_SANITY_TOL else 'FAIL'}")
        lines.append(md_row(TOOL_LABELS[tool] if tool != "flatcore_costs" else "flatcore HVP", cells))

    return harness.markdown_text(lines, report.get("goals"))


def _goal_items(report: dict, block: dict) -> list:
    """The QUALITY.md goals judged on `block` (the results at the goals' thread count)."""
    cfg = report["config"]
    items = []
    for s in cfg["sizes"]:
        fcr = block["tools"].get("flatcore", {}).get(s)
        if fcr is not None and fcr.get("rel_error") is not None:
            items.append({"what": f"{s}: flatcore.sharpness accurate to {ACCURACY_GOAL:g} relative",
                          "value": f"{fcr['rel_error']:.1e}, {fcr['n_hvp']} HVPs"
                                   + ("" if report["points"][s]["reference"]["source"].startswith("dense")
                                      else "; reference flatcore.sharpness tol 1e-13: a self-check only"),
                          "met": bool(fcr["converged"] and fcr["rel_error"] <= ACCURACY_GOAL)})
        b = block["best_torch"].get(s)
        if fcr is not None and b:
            items.append({"what": f"{s}: flatcore.sharpness >= {SPEEDUP_GOAL:g}x the best PyTorch route",
                          "value": f"{_fmt_ratio(b['speedup'])} against {TOOL_LABELS[b['tool']]}",
                          "met": b["speedup"] >= SPEEDUP_GOAL})
        c = block["tools"].get("flatcore_costs", {}).get(s)
        if c:
            items.append({"what": f"{s}: flatcore HVP (compiled operator, as in flatcore.sharpness) <= {HVP_GOAL:g}x "
                                  "a flatcore GD step",
                          "value": f"{c['hvp_core_over_gd_step']:.2f}x: {_fmt_s(c['hvp_core_s'])} vs "
                                   f"{_fmt_s(c['gd_step_s'])}; through Python {c['hvp_over_gd_step']:.2f}x",
                          "met": c["hvp_core_over_gd_step"] <= HVP_GOAL})
    return items


def main(argv=None) -> int:
    p = harness.make_parser(__doc__, TOOLS, "smoke run: small and mid, 2 repeats, short loops")
    p.add_argument("--repeats", type=int, default=None, help="timed repeats, best taken (default 5; quick 2)")
    p.add_argument("--min-seconds", type=float, default=None,
                   help="shorter calls are looped to about this long per repeat (default 0.5; quick 0.1)")
    p.add_argument("--budget", type=float, default=None,
                   help="no further repeats of a measurement after this many seconds (default 120; quick 20)")
    p.add_argument("--tol", type=float, default=1e-10, help="Lanczos and eigsh tolerance (default 1e-10)")
    p.add_argument("--power-tol", type=float, default=1e-10,
                   help="power iteration: stop at this relative change of the Rayleigh quotient (default 1e-10)")
    p.add_argument("--power-max-hvp", type=int, default=2000, help="power iteration cap (default 2000)")
    p.add_argument("--lr", type=float, default=None,
                   help="step size of the training run, all sizes (default: small 0.16, mid 0.18, large 0.14)")
    p.add_argument("--train-steps", type=int, default=None,
                   help="training steps, all sizes (default: small 2000, mid 1000, large 500)")
    p.add_argument("--clip", type=float, default=50.0, help="clip_grad_norm of the training run (default 50)")
    p.add_argument("--seed", type=int, default=0, help="seed of the start vector (default 0)")
    p.add_argument("--dense-max-gib", type=float, default=1.0,
                   help="run the dense route only where P*P*8 bytes is at most this (default 1.0: small, mid)")
    args = harness.parse_args(p, argv, 3600.0, worker, repeats=(2, 5), min_seconds=(0.1, 0.5), budget=(20.0, 120.0))
    if args.worker:
        return 0

    import flatcore as fc

    run = harness.prepare(p, args, TOOLS, TOOL_MODULES, TOOL_LABELS, "pip install torch, CPU build")
    sizes, threads, tools, pin, notes = run.sizes, run.threads, run.tools, run.pin, run.notes
    report = {**harness.report_header(run, harness.versions("scipy")),
              "config": {"sizes": sizes, "threads": threads, "tools": tools, "tol": args.tol,
                         "power_tol": args.power_tol, "power_max_hvp": args.power_max_hvp,
                         "clip_grad_norm": args.clip,
                         "train": {s: {"lr": args.lr or TRAIN[s][0], "steps": args.train_steps or TRAIN[s][1]}
                                   for s in sizes},
                         "seed": args.seed, "repeats": args.repeats, "min_seconds": args.min_seconds,
                         "budget": args.budget, "dense_max_gib": args.dense_max_gib, "pin": pin,
                         "quick": args.quick,
                         "workloads": {s: dict(zip(("n", "width", "d"), SIZES[s])) for s in sizes},
                         "data": "flatcore.data.regression(n, d, seed=0): X uniform in the unit ball",
                         "init": "flatcore.Network.init(d, width, seed=0, scheme='pytorch'), then flatcore.train"},
              "notes": notes, "results": {}, "sanity": {}}

    with tempfile.TemporaryDirectory(prefix="flatcore-bench-") as tmpdir:
        tmp = Path(tmpdir)
        points = _build_points(sizes, args, tmp, fc)
        report["points"] = points
        dense_sizes = [s for s in sizes if points[s]["dense_gib"] <= args.dense_max_gib]
        skipped = [s for s in sizes if s not in dense_sizes]
        if "dense" in tools and skipped:
            notes.append(f"dense route skipped at {', '.join(skipped)} (P*P*8 bytes above --dense-max-gib "
                         f"{args.dense_max_gib:g} GiB)")
        for t in threads:
            cores = harness.cores_for(run.cores_all, t)
            block = {"cores": cores, "tools": {}, "raw": {}, "ratios": {}, "best_torch": {}}
            print(f"[{t} thread(s), cores {cores}]", file=sys.stderr, flush=True)
            for tool in tools:
                tool_sizes = dense_sizes if tool == "dense" else sizes
                if not tool_sizes:
                    continue
                res = _run_child(tool, t, cores, tool_sizes, {s: points[s]["lr"] for s in sizes}, args, tmp, pin)
                if "error" in res:
                    notes.append(f"{TOOL_LABELS[tool]} at {t} threads failed: {res['error']}")
                    print(f"  {tool}: FAILED {res['error']}", file=sys.stderr, flush=True)
                    continue
                block["raw"][tool] = {k: v for k, v in res.items() if k != "sizes"}
                block["tools"][tool] = res["sizes"]
                for s, r in res["sizes"].items():
                    if "hvp_dev" in r:
                        prev = report["sanity"].setdefault(tool, {}).get(s)
                        report["sanity"][tool][s] = r["hvp_dev"] if prev is None else max(prev, r["hvp_dev"])
                if tool == "flatcore_costs":
                    msg = ", ".join(f"{s} HVP {_fmt_s(r['hvp_core_s'])} = {r['hvp_core_over_gd_step']:.2f} GD steps"
                                    for s, r in res["sizes"].items())
                else:
                    msg = ", ".join(f"{s} {_fmt_s(r['seconds'])} ({r['n_hvp']} HVPs)" for s, r in res["sizes"].items())
                print(f"  {tool}: {msg}  ({res['wall_s']:.0f} s)", file=sys.stderr, flush=True)
            report["results"][str(t)] = block

    # The accuracy reference: the dense eigenvalue where it ran (the first thread count), else Lanczos at 1e-13.
    for s in sizes:
        pt = points[s]
        dense = next((report["results"][str(t)]["tools"].get("dense", {}).get(s) for t in threads
                      if report["results"][str(t)]["tools"].get("dense", {}).get(s)), None)
        lz = pt["lanczos_1e-13"]["lambda_max"]
        if dense is not None:
            dense["is_reference"] = True
            ref = {"lambda_max": dense["lambda_max"], "source": "dense eigvalsh"}
            pt["lanczos13_vs_dense"] = abs(lz - dense["lambda_max"]) / abs(dense["lambda_max"])
            dvals = [report["results"][str(t)]["tools"].get("dense", {}).get(s, {}).get("lambda_max") for t in threads]
            dvals = [x for x in dvals if x is not None]
            pt["dense_spread_over_threads"] = (max(dvals) - min(dvals)) / abs(dense["lambda_max"])
        else:
            ref = {"lambda_max": lz, "source": "flatcore.sharpness tol 1e-13"}
            notes.append(f"{s}: no dense reference (too large or not run); relative errors are against "
                         f"flatcore.sharpness at tol 1e-13 (residual {pt['lanczos_1e-13']['residual_norm']:.1e}), "
                         "so flatcore's own error there is only a self-consistency check")
        pt["reference"] = ref
    for t in threads:
        block = report["results"][str(t)]
        for tool, per_size in block["tools"].items():
            for s, r in per_size.items():
                if "lambda_max" in r:
                    r["rel_error"] = abs(r["lambda_max"] - points[s]["reference"]["lambda_max"]) / abs(
                        points[s]["reference"]["lambda_max"])
        fcres = block["tools"].get("flatcore", {})
        for s in sizes:
            if s not in fcres:
                continue
            for tool in PEERS:
                r = block["tools"].get(tool, {}).get(s)
                if r is not None:
                    block["ratios"].setdefault(tool, {})[s] = fcres[s]["seconds"] / r["seconds"]
            cands = [(block["tools"][tool][s]["seconds"], tool) for tool in TORCH_ROUTES
                     if s in block["tools"].get(tool, {}) and block["tools"][tool][s]["converged"]
                     and block["tools"][tool][s]["rel_error"] <= ACCURACY_GOAL]
            if not cands:
                cands = [(block["tools"][tool][s]["seconds"], tool) for tool in TORCH_ROUTES
                         if s in block["tools"].get(tool, {})]
                if cands:
                    notes.append(f"{s}, {t} thread(s): no PyTorch route reached {ACCURACY_GOAL:g}; "
                                 "the fastest is used as the best route")
            if cands:
                secs, tool = min(cands)
                block["best_torch"][s] = {"tool": tool, "seconds": secs, "ratio": fcres[s]["seconds"] / secs,
                                          "speedup": secs / fcres[s]["seconds"]}
        note = harness.spread_note(block["tools"], t, TOOL_LABELS)
        if note:
            notes.append(note)
    return harness.finish(report, lambda block: _goal_items(report, block), render_markdown, args.out, "sharpness",
                          HVP_SANITY_TOL, "HVP differs from flatcore's")


if __name__ == "__main__":
    sys.exit(main())
