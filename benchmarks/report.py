"""Benchmark reports: number formats, Markdown tables, goals, files and --rerender.

A report is a plain dict, saved as OUT/NAME.json beside its Markdown OUT/NAME.md: ``provenance``
(``flatcore.provenance.provenance()``: flatcore's version and build, Python stack, machine, time),
``environment`` (``harness.environment``: git commit, BLAS, peer versions, memory, load, steal
time), ``config``, ``notes``, the results, and ``goals`` (judged at 2 threads).
Reports saved before ``provenance`` existed carry ``date``, ``machine`` and ``versions``
instead; they render the same way.

The scripts own their workloads, orchestration and goal thresholds; everything the Markdown
needs besides the tool labels below is in the report itself, so a saved report renders again
(``--rerender``) without the machine that produced it.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import harness
from harness import SIZES

TRAIN_LABELS = {
    "flatcore": "flatcore.train",
    "torch_autograd": "PyTorch eager, autograd",
    "torch_manual": "PyTorch eager, hand-written gradient",
    "numpy": "NumPy, hand-written gradient",
    "jax": "JAX, jit of the whole loop (lax.fori_loop)",
    "torch_cuda_graph": "PyTorch CUDA graphs (GPU), hand-written gradient",
}
SHARPNESS_LABELS = {
    "flatcore": "flatcore.sharpness (Lanczos, residual <= 1e-10, the default)",
    "flatcore_eig": 'flatcore.sharpness(stop="eigenvalue") (error estimate <= 1e-10; opt-in)',
    "flatcore_power": "power iteration on flatcore's HVP",
    "flatcore_eigsh": "scipy eigsh on flatcore's HVP",
    "torch_power": "PyTorch autograd HVP, power iteration",
    "torch_eigsh": "PyTorch autograd HVP, scipy eigsh",
    "dense": "dense: eigvalsh(flatcore.hessian)",
    "flatcore_costs": "flatcore HVP and GD step costs",
}


# ================================================================================================
# Numbers
# ================================================================================================


def rate(x) -> str:
    """Steps per second, three significant digits (thousands separated)."""
    if x is None:
        return "–"
    return f"{x:,.0f}" if x >= 100 else f"{x:.1f}" if x >= 10 else f"{x:.2f}"


def ratio(x) -> str:
    """A ratio of two speeds with an x: three significant digits (thousands separated)."""
    if x is None:
        return "–"
    return f"{x:#.3g}x" if x < 100 else f"{x:,.0f}x"


def seconds(x) -> str:
    """A duration in s, ms or µs, three significant digits."""
    if x is None:
        return "–"
    if x >= 10:
        return f"{x:.1f} s"
    if x >= 1:
        return f"{x:.2f} s"
    if x >= 1e-3:
        return f"{1e3 * x:.3g} ms"
    return f"{1e6 * x:.3g} µs"


def error(x) -> str:
    """A relative error."""
    return "–" if x is None else ("0" if x == 0 else f"{x:.1e}")


def plural(t: int) -> str:
    return f"{t} thread{'s' if t > 1 else ''}"


# ================================================================================================
# Markdown
# ================================================================================================


def row(label: str, cells) -> str:
    """A Markdown table row."""
    return f"| {label} | " + " | ".join(cells) + " |"


def size_header(sizes, first: str = "") -> list[str]:
    """Header and separator lines of a table with a first column `first` and one column per size."""
    cells = [f"{s} ({SIZES[s][0]}, {SIZES[s][1]}, {SIZES[s][2]})" for s in sizes]
    return [(f"| {first} | " if first else "| | ") + " | ".join(cells) + " |", "|---|" + "---:|" * len(sizes)]


def header(title: str, report: dict, settings: str) -> list[str]:
    """Title, date, machine and load, flatcore and its build, versions, settings and notes, as lines."""
    prov, env = (report["provenance"], report["environment"]) if "provenance" in report else _legacy(report)
    machine = (
        f"{prov['cpu_model']}, {prov['logical_cores']} logical CPUs ({prov['usable_cores']} allowed)"
        + (f", {env['memory_gib']} GiB" if env.get("memory_gib") else "")
        + (f", SIMD {'/'.join(prov['cpu_flags']) or 'none'}" if "cpu_flags" in prov else "")
    )
    if env.get("loadavg_before"):
        machine += f"; load average before/after: {env['loadavg_before']} / {env.get('loadavg_after')}"
    flatcore = prov["flatcore"] + (f" ({env['flatcore_commit']})" if env.get("flatcore_commit") else "")
    if "simd_kind" in prov:
        flatcore += (
            f", SIMD {prov['simd_kind']} ({prov['simd_lanes']} doubles), OpenMP "
            f"{'on' if prov['openmp'] else 'off'}, {prov['default_num_threads']} threads by default, "
            f"build flags '{prov['build_flags']}'"
        )
    versions = [f"{name} {prov[key]}" for name, key in (("Python", "python"), ("NumPy", "numpy")) if prov.get(key)]
    if env.get("numpy_blas") and versions:
        versions[-1] += f" ({env['numpy_blas']})"
    if prov.get("scipy"):
        versions.append(f"SciPy {prov['scipy']}")
    versions += [f"{dist} {v or 'absent'}" for dist, v in env.get("peers", {}).items()]
    lines = [f"# {title}", "", f"- date: {prov['timestamp']}", f"- machine: {machine}", f"- flatcore: {flatcore}"]
    if versions:
        lines.append(f"- versions: {', '.join(versions)}")
    lines.append(f"- settings: {settings}")
    return lines + [f"- note: {note}" for note in report.get("notes", [])]


def _legacy(report: dict):
    """(provenance, environment) of a report saved before flatcore.provenance existed."""
    m, v = report["machine"], report.get("versions", {"flatcore": report.get("flatcore")})
    prov = {
        "timestamp": report["date"],
        "cpu_model": m["cpu_model"],
        "logical_cores": m["logical_cpus"],
        "usable_cores": m["allowed_cpus"],
        "cpu_flags": m["simd"],
        "flatcore": v["flatcore"],
        "python": v.get("python"),
        "numpy": v.get("numpy"),
        "scipy": v.get("scipy"),
    }
    env = {
        "flatcore_commit": v.get("flatcore_commit"),
        "numpy_blas": v.get("numpy_blas"),
        "peers": {dist: v[dist] for dist in ("torch", "jax", "jaxlib") if dist in v},
        "memory_gib": m.get("memory_gib"),
        "loadavg_before": report.get("loadavg_before"),
        "loadavg_after": report.get("loadavg_after"),
    }
    return prov, env


def add_note(report: dict, note: str | None) -> None:
    """Append `note` to the report's notes, unless it is None or there already (a rerender adds none twice)."""
    notes = report.setdefault("notes", [])
    if note and note not in notes:
        notes.append(note)


def spread_note(tools: dict, threads: int, labels: dict) -> str | None:
    """A note when the timed repeats at `threads` differed by more than 20% (tools: tool -> size -> result)."""
    spreads = [(r.get("spread", 0.0), tool, s) for tool, d in tools.items() for s, r in d.items()]
    if spreads and max(spreads)[0] > 0.2:
        sp, tool, s = max(spreads)
        return (
            f"at {threads} thread(s) the timed repeats differed by up to {100 * sp:.0f}% "
            f"({labels[tool]}, {s}): noisy machine; the best repeat is reported"
        )
    return None


# ================================================================================================
# Goals
# ================================================================================================


def goal(what: str, value: str, met: bool) -> dict:
    return {"what": what, "value": value, "met": bool(met)}


def goals(report: dict, items) -> dict | None:
    """The report's goals: `items(block)` (a list of ``goal``) judged on the results block at 2
    threads (or the largest count run); None when there are none."""
    threads = report["config"]["threads"]
    t = 2 if 2 in threads else max(threads)
    found = items(report["results"][str(t)])
    return {"threads": t, "items": found} if found else None


def goals_section(goals_: dict | None) -> list[str]:
    if not goals_:
        return []
    return ["", f"## Goals at {plural(goals_['threads'])}", ""] + [
        f"- {'met' if g['met'] else 'NOT met'}: {g['what']} ({g['value']})" for g in goals_["items"]
    ]


# ================================================================================================
# Files
# ================================================================================================


def write(report: dict, render, out: Path, name: str) -> None:
    """Print the Markdown `render(report)` and write it to OUT/NAME.md, the report to OUT/NAME.json."""
    md = render(report)
    print(md)
    out.mkdir(parents=True, exist_ok=True)
    (out / f"{name}.md").write_text(md)
    (out / f"{name}.json").write_text(json.dumps(report, indent=1, default=float) + "\n")
    print(f"wrote {out / f'{name}.md'} and {out / f'{name}.json'}", file=sys.stderr)


def finish(report: dict, render, out: Path, name: str, sanity_tol: float, failure: str) -> int:
    """End a run: record the load and steal time, write the files; the exit code is 1 (said with
    `failure`) when a sanity deviation (report["sanity"]: tool -> size -> deviation) exceeds `sanity_tol`."""
    harness.close_environment(report)
    write(report, render, out, name)
    failed = [f"{tool}/{s}" for tool, d in report["sanity"].items() for s, dev in d.items() if dev > sanity_tol]
    if failed:
        print(f"SANITY FAILED ({failure}): {', '.join(failed)}", file=sys.stderr)
        return 1
    return 0


def rerender(path: Path, complete, render) -> int:
    """Load a saved report, let `complete(report)` recompute what is derived (tables, goals), write it again."""
    report = json.loads(path.read_text())
    complete(report)
    write(report, render, path.parent, path.stem)
    return 0


# ================================================================================================
# bench_train.py
# ================================================================================================


def train(report: dict) -> str:
    cfg = report["config"]
    sizes, gpu_tools = cfg["sizes"], cfg["gpu_tools"]
    cpu_tools = [tool for tool in cfg["tools"] if tool not in gpu_tools]
    table = size_header(sizes, "tool")
    lines = header(
        "flatcore: full-batch GD steps per second",
        report,
        f"float64, lr {cfg['lr']}, ~{cfg['seconds']} s per measurement, best of {cfg['repeats']} repeats "
        f"in each of {cfg.get('rounds', 1)} round(s), the tools taking turns, best round kept, "
        f"threads {cfg['threads']}, pinned to the first N cores: {cfg['pin']}"
        + (" (QUICK run: indicative only)" if cfg["quick"] else ""),
    )
    for t in cfg["threads"]:
        block = report["results"][str(t)]
        here = block.get("tools_run", cpu_tools)
        peak = block.get("gemm_gflops")
        lines += [
            "",
            f"## {plural(t)}" + (f" (GEMM peak {peak:.1f} GFLOP/s)" if peak else ""),
            "",
            "Steps per second (higher is better):",
            "",
            *table,
        ]
        lines += [
            row(TRAIN_LABELS[tool], (rate(block["tools"].get(tool, {}).get(s, {}).get("steps_per_s")) for s in sizes))
            for tool in here
        ]
        if peak:
            lines.append(
                row("compute limit, 4·n·width·d flops at GEMM peak", (rate(block["limit"].get(s)) for s in sizes))
            )
            lines.append(
                row(
                    "flatcore, fraction of the compute limit",
                    (
                        f"{100 * block['fraction'][s]:.1f}%" if block["fraction"].get(s) is not None else "–"
                        for s in sizes
                    ),
                )
            )
        peers = [tool for tool in here if tool != "flatcore"]
        if "flatcore" in here and peers:
            lines += ["", "flatcore / peer (speed-up of flatcore; above 1 means flatcore is faster):", "", *table]
            lines += [
                row(TRAIN_LABELS[tool], (ratio(block["ratios"].get(tool, {}).get(s)) for s in sizes)) for tool in peers
            ]
    best = report.get("best_over_threads")
    if best and len(cfg["threads"]) > 1:
        lines += [
            "",
            "## Best thread count of each tool",
            "",
            (
                "Steps per second at each tool's best thread count (that count in brackets), and flatcore's "
                "best over the peer's best:"
            ),
            "",
            *table,
        ]
        for tool in cpu_tools:
            cells = []
            for s in sizes:
                b, r = best.get(tool, {}).get(s), best.get("_ratios", {}).get(tool, {}).get(s)
                cells.append(
                    "–"
                    if b is None
                    else f"{rate(b['steps_per_s'])} [{b['threads']}]"
                    + (f", flatcore {ratio(r)}" if r is not None and tool != "flatcore" else "")
                )
            lines.append(row(TRAIN_LABELS[tool], cells))
    scaling = report.get("scaling")
    if scaling and len(cfg["threads"]) > 1:
        base, more = cfg["threads"][0], cfg["threads"][1:]
        lines += [
            "",
            f"## Speed-up over {plural(base)}",
            "",
            (
                f"Steps per second at N threads over steps per second at {base}, for N = "
                f"{' / '.join(str(t) for t in more)} ('–': not run at that count):"
            ),
            "",
            *table,
        ]
        lines += [
            row(
                TRAIN_LABELS[tool],
                (" / ".join(ratio(scaling[tool].get(s, {}).get(str(t))) for t in more) for s in sizes),
            )
            for tool in cpu_tools
            if tool in scaling
        ]
        gemm = report.get("gemm_scaling")
        if gemm:
            cell = " / ".join(ratio(gemm.get(str(t))) for t in more)
            lines.append(row("GEMM peak (NumPy float64 matmul): the cores' own scaling", (cell for _ in sizes)))
    gpu = report.get("gpu")
    if gpu:
        fbest = (best or {}).get("flatcore", {})
        lines += [
            "",
            f"## GPU peer: PyTorch float64 with CUDA graphs on {gpu['device']}",
            "",
            (
                f"Steps per second on the GPU (CUDA {gpu['cuda']}; graphs of {cfg['cuda_graph_chunk']} steps "
                "replayed), flatcore's on this machine's CPU at its best thread count (in brackets), and "
                "flatcore over the GPU (above 1: flatcore faster):"
            ),
            "",
            *table,
        ]
        lines += [
            row(TRAIN_LABELS[tool], (rate(gpu["tools"].get(tool, {}).get(s, {}).get("steps_per_s")) for s in sizes))
            for tool in gpu_tools
        ]
        if fbest:
            lines.append(
                row(
                    f"{TRAIN_LABELS['flatcore']}, best thread count",
                    (f"{rate(fbest[s]['steps_per_s'])} [{fbest[s]['threads']}]" if s in fbest else "–" for s in sizes),
                )
            )
            lines += [
                row(f"flatcore (best thread count) / {TRAIN_LABELS[tool]}", (ratio(rs.get(s)) for s in sizes))
                for tool, rs in gpu.get("ratios", {}).items()
            ]
    steps, tol = cfg["sanity_steps"], cfg["sanity_tol"]
    lines += [
        "",
        f"## Sanity: same update as flatcore ({steps} steps, tolerance {tol:g})",
        "",
        (
            "Largest max|theta_tool - theta_flatcore| / max(1, max|theta|) over the first "
            f"{steps} steps and all thread counts (flatcore's row compares its N-thread runs "
            "with the reference run: results must not depend on the thread count):"
        ),
        "",
        *table,
    ]
    lines += [
        row(TRAIN_LABELS[tool], sanity_cells(report["sanity"].get(tool, {}), sizes, tol)) for tool in cfg["tools"]
    ]
    signal = report.get("sanity_signal", {})
    lines.append(
        row(
            "(signal: flatcore's own displacement after those steps, same scale)",
            (f"{signal[s]:.1e}" if s in signal else "–" for s in sizes),
        )
    )
    return "\n".join(lines + goals_section(report.get("goals"))) + "\n"


def sanity_cells(devs: dict, sizes, tol: float) -> list[str]:
    """Per size: the deviation and ok / FAIL against `tol` ('–' where not measured)."""
    return ["–" if devs.get(s) is None else f"{devs[s]:.1e} {'ok' if devs[s] <= tol else 'FAIL'}" for s in sizes]


# ================================================================================================
# bench_sharpness.py
# ================================================================================================


def sharpness(report: dict) -> str:
    cfg = report["config"]
    sizes, points, hvp_goal = cfg["sizes"], report["points"], cfg["hvp_goal"]
    table = size_header(sizes)
    lines = header(
        "flatcore: sharpness (lambda_max of the Hessian) at a trained point",
        report,
        f"float64, tol {cfg['tol']:g} (Lanczos, eigsh), power iteration until the Rayleigh quotient "
        f"changes < {cfg['power_tol']:g} relative (at most {cfg['power_max_hvp']} HVPs), same seeded start "
        f"vector for power iteration and eigsh; best of {cfg['repeats']} repeats (calls shorter than "
        f"{cfg['min_seconds']} s looped; repeats stop after {cfg['budget']} s); threads {cfg['threads']}, "
        f"pinned to the first N cores: {cfg['pin']}" + (" (QUICK run: indicative only)" if cfg["quick"] else ""),
    )
    lines += [
        "",
        "## Trained points",
        "",
        (
            '`flatcore.train` from `Network.init(d, width, seed=0, scheme="pytorch")` with '
            "`clip_grad_norm`, the same theta for every tool. lr·lambda_max/2 near 1 is the edge of "
            "stability; lambda_2/lambda_max sets how fast power iteration converges."
        ),
        "",
        *table,
    ]
    facts = [
        ("P (parameters)", lambda p: f"{p['P']:,}"),
        ("lr, steps", lambda p: f"{p['lr']:g}, {p['steps']}"),
        ("final loss", lambda p: f"{p['final_loss']:.4g}"),
        ("active fraction", lambda p: f"{p['active_fraction']:.3f}"),
        ("reference lambda_max", lambda p: f"{p['reference']['lambda_max']:.12g}" if p.get("reference") else "–"),
        ("reference from", lambda p: p["reference"]["source"] if p.get("reference") else "–"),
        ("lr·lambda_max/2", lambda p: f"{p['edge_of_stability']:.3f}"),
        ("lambda_2/lambda_max", lambda p: f"{p['lambda_2_over_lambda_max']:.4f}"),
        ("Lanczos tol 1e-13 vs dense, relative", lambda p: error(p.get("lanczos13_vs_dense"))),
        ("dense Hessian size", lambda p: f"{p['dense_gib']:.2f} GiB"),
    ]
    lines += [row(label, (f(points[s]) for s in sizes)) for label, f in facts]

    solvers = [t for t in cfg["tools"] if t != "flatcore_costs"]
    for t in cfg["threads"]:
        block = report["results"][str(t)]
        res = block["tools"]
        lines += [
            "",
            f"## {plural(t)}",
            "",
            (
                "Time to lambda_max · Hessian-vector products · relative error against the reference "
                "(lower is better; `*` = the solver reported no convergence; the dense route builds the "
                "whole Hessian instead of HVPs):"
            ),
            "",
            *table,
        ]
        for tool in solvers:
            cells = []
            for s in sizes:
                r = res.get(tool, {}).get(s)
                if r is None:
                    cells.append("–")
                    continue
                err = "reference" if r.get("is_reference") else error(r.get("rel_error"))
                cells.append(
                    f"{seconds(r['seconds'])} · {r['n_hvp'] if tool != 'dense' else '–'} · {err}"
                    + ("" if r["converged"] else " *")
                )
            lines.append(row(SHARPNESS_LABELS[tool], cells))
        if "flatcore" in solvers:
            lines += [
                "",
                (
                    "flatcore.sharpness time / peer time (below 1: flatcore is faster), and in brackets the "
                    "speed-up of flatcore (peer time / flatcore time):"
                ),
                "",
                *table,
            ]
            for tool in [x for x in solvers if x != "flatcore"]:
                qs = [block["ratios"].get(tool, {}).get(s) for s in sizes]
                lines.append(
                    row(SHARPNESS_LABELS[tool], ("–" if q is None else f"{q:.3g} ({ratio(1.0 / q)})" for q in qs))
                )
            bests = [block["best_torch"].get(s) for s in sizes]
            lines.append(
                row(
                    "**best PyTorch route** (fastest within 1e-9)",
                    (
                        "–"
                        if not b
                        else f"{SHARPNESS_LABELS[b['tool']].split(', ')[-1]}: {b['ratio']:.3g} ({ratio(b['speedup'])})"
                        for b in bests
                    ),
                )
            )
        costs = res.get("flatcore_costs", {})
        lines += [
            "",
            f"Cost of one Hessian-vector product (goal: flatcore's HVP <= {hvp_goal:g}x its GD step):",
            "",
            *table,
        ]
        crow = [
            ("flatcore GD step (flatcore.train, per step)", lambda c: seconds(c["gd_step_s"])),
            ("flatcore HVP, compiled operator (what flatcore.sharpness calls)", lambda c: seconds(c["hvp_core_s"])),
            (
                "**flatcore HVP (compiled) / GD step**",
                lambda c: (
                    f"{c['hvp_core_over_gd_step']:.2f} "
                    f"({'met' if c['hvp_core_over_gd_step'] <= hvp_goal else 'NOT met'})"
                ),
            ),
            ("flatcore HVP through Python (hessian_operator(...).matvec)", lambda c: seconds(c["hvp_s"])),
            ("flatcore HVP through Python / GD step", lambda c: f"{c['hvp_over_gd_step']:.2f}"),
            (
                "flatcore operator setup (hessian_operator: residuals, activations)",
                lambda c: seconds(c["operator_setup_s"]),
            ),
        ]
        lines += [row(label, (f(costs[s]) if s in costs else "–" for s in sizes)) for label, f in crow]
        lines += [
            row(
                f"{SHARPNESS_LABELS[tool]}: solve time / HVPs",
                (seconds(res.get(tool, {}).get(s, {}).get("seconds_per_hvp")) for s in sizes),
            )
            for tool in solvers
            if tool != "dense"
        ]

    tol = cfg["hvp_sanity_tol"]
    lines += [
        "",
        "## Sanity",
        "",
        (
            "Largest max|H u - H_flatcore u| / max|H_flatcore u| for a fixed random u over the thread counts "
            "(flatcore's row: its N-thread operator against `flatcore.hvp` in the parent; `ok` at most "
            f"{tol:g}):"
        ),
        "",
        *table,
    ]
    lines += [
        row(
            SHARPNESS_LABELS[tool] if tool != "flatcore_costs" else "flatcore HVP",
            sanity_cells(report["sanity"].get(tool, {}), sizes, tol),
        )
        for tool in cfg["tools"]
        if tool.startswith("torch_") or tool == "flatcore_costs"
    ]
    return "\n".join(lines + goals_section(report.get("goals"))) + "\n"


# ================================================================================================
# bench_sparsity.py
# ================================================================================================


def sparsity(report: dict) -> str:
    cfg, rows = report["config"], report["rows"]
    at = {(r["size"], r["rate"], r["threads"]): r for r in rows}
    lines = header(
        "flatcore: GD steps per second against the activation rate",
        report,
        f"every neuron active on a share `rate` of the points; speed-up relative to rate {cfg['rates'][0]:g}; "
        f"best of {cfg['rounds']} round(s)"
        + (" (QUICK run)" if cfg["quick"] else "")
        + f"; skipped tiles: share of the backward pass's register tiles ({cfg['tile']} in this build) "
        "without an active pair, whose gradient update is skipped",
    )
    for size in cfg["sizes"]:
        n, width, d = SIZES[size]
        lines += [
            "",
            f"## {size} (n={n}, width={width}, d={d})",
            "",
            "| rate | skipped tiles | "
            + " | ".join(f"{t} thread(s): steps/s (speed-up)" for t in cfg["threads"])
            + " |",
            "|---:|---:|" + "---:|" * len(cfg["threads"]),
        ]
        for r in cfg["rates"]:
            cells = [f"{100 * at[(size, r, cfg['threads'][0])]['skipped_tiles']:.0f}%"]
            for t in cfg["threads"]:
                sps = at[(size, r, t)]["steps_per_s"]
                cells.append(f"{sps:,.1f} ({ratio(sps / at[(size, cfg['rates'][0], t)]['steps_per_s'])})")
            lines.append(row(f"{r:g}", cells))
    return "\n".join(lines) + "\n"
