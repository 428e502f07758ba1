"""Shared harness of the flatcore benchmarks (``bench_train.py``, ``bench_sharpness.py``).

Each benchmark runs every (tool, thread count) in a fresh subprocess of its own script (``--worker
SPEC``), pinned to the first N cores with the thread variables set to N, and writes a Markdown
report and a JSON file. This module holds what the scripts have in common:

- the workloads (``SIZES``) and the thread variables (``THREAD_ENV``);
- the command line options every benchmark has (``make_parser``, ``parse_args``) and what
  the driver derives from them before it starts (``prepare``: sizes, thread counts, cores, tools,
  the notes on skipped tools, pinning and a busy machine);
- machine and version information (``machine``, ``versions``, ``report_header``);
- core order and pinning, the child environment and launching a worker (``core_order``,
  ``cores_for``, ``child_env``, ``run_worker``), and the worker's own description of itself
  (``worker_info``, ``set_torch_threads``, ``os_threads``);
- timing of a step loop (``time_steps``);
- Markdown helpers (``markdown_header``, ``size_header``, ``md_row``, ``markdown_text``) and the
  end of a run (``spread_note``, ``goals``, ``finish``).
"""
from __future__ import annotations

import argparse
import datetime as _dt
import importlib.util
import json
import math
import os
import platform
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
REPO = HERE.parent

SIZES = {  # name: (n, width, d)
    "small": (256, 256, 5),
    "mid": (1024, 512, 10),
    "large": (4096, 1024, 16),
}
THREAD_ENV = ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS", "BLIS_NUM_THREADS",
              "VECLIB_MAXIMUM_THREADS", "NUMEXPR_NUM_THREADS", "FLATCORE_NUM_THREADS")


# ================================================================================================
# Command line
# ================================================================================================

def make_parser(doc: str, tools, quick_help: str) -> argparse.ArgumentParser:
    """A parser with the options that come first in every benchmark: --threads, --sizes, --tools, --quick.

    The description is the first paragraph of the script's docstring `doc`.
    """
    p = argparse.ArgumentParser(description=doc.split("\n\n")[0], formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--threads", type=int, nargs="+", default=[1, 2], help="thread counts (default: 1 2)")
    p.add_argument("--sizes", nargs="+", choices=list(SIZES), default=None,
                   help="workloads (default: all; with --quick: small mid)")
    p.add_argument("--tools", nargs="+", choices=list(tools), default=list(tools), help="tools (default: all)")
    p.add_argument("--quick", action="store_true", help=quick_help)
    return p


def parse_args(p: argparse.ArgumentParser, argv, timeout: float, worker, **quick_defaults):
    """Add the options that come last in every benchmark (--no-pin, --timeout, --out, the hidden --worker), parse.

    With --worker SPEC, `worker(SPEC)` runs here (the caller then returns 0). Otherwise each option
    named in `quick_defaults` (dest=(quick value, full value)) that was not given gets its default.
    """
    p.add_argument("--no-pin", action="store_true", help="do not pin each subprocess to the first N cores")
    p.add_argument("--timeout", type=float, default=timeout, help="seconds allowed per (tool, threads) subprocess")
    p.add_argument("--out", type=Path, default=HERE / "results", help="output folder (default benchmarks/results)")
    p.add_argument("--worker", help=argparse.SUPPRESS)
    args = p.parse_args(argv)
    if args.worker:
        worker(args.worker)
        return args
    for dest, (quick, full) in quick_defaults.items():
        setattr(args, dest, getattr(args, dest) or (quick if args.quick else full))
    return args


@dataclass
class Run:
    """What the driver derives from the common options before it starts."""

    sizes: list          # workload names, in the order of SIZES
    threads: list        # thread counts, ascending, without repeats
    tools: list          # tools to run: the requested ones that are importable, in the script's order
    cores_all: list      # allowed CPUs, one per physical core first (core_order)
    pin: bool            # pin each subprocess to the first N cores
    notes: list          # notes for the report header (appended to while the benchmark runs)
    busy: float | None   # fraction of the CPUs busy for a second before the run (cpu_busy)


def prepare(p: argparse.ArgumentParser, args, tools, tool_modules: dict, tool_labels: dict, install_hint: str,
            tool_notes: dict | None = None) -> Run:
    """Resolve --sizes, --threads, --tools and --no-pin, and measure how busy the machine is.

    Notes, in this order: oversubscription; each requested tool skipped because its module
    (`tool_modules`) is not importable, with `install_hint`; `tool_notes[tool]` for each tool that
    runs; running unpinned; a machine more than 10% busy before the start.
    """
    sizes = args.sizes or (["small", "mid"] if args.quick else list(SIZES))
    sizes = [s for s in SIZES if s in sizes]
    threads = sorted(set(args.threads))
    if min(threads) < 1:
        p.error("--threads must be positive")
    cores_all = core_order()
    pin = not args.no_pin
    notes = []
    if max(threads) > len(cores_all):
        notes.append(f"{max(threads)} threads requested but only {len(cores_all)} CPUs allowed: oversubscribed")
    run_tools = [t for t in tools if t in args.tools]
    for tool in list(run_tools):
        mod = tool_modules.get(tool)
        if mod and importlib.util.find_spec(mod) is None:
            notes.append(f"{tool_labels[tool]} skipped: {mod} is not importable ({install_hint})")
            run_tools.remove(tool)
    for tool, note in (tool_notes or {}).items():
        if tool in run_tools:
            notes.append(note)
    if any(t > 1 for t in threads) and not pin:
        notes.append("not pinned (--no-pin): thread counts rely on the libraries' own settings only")
    busy = cpu_busy()
    if busy is not None and busy > 0.1:
        notes.append(f"the machine was {100 * busy:.0f}% busy before the run started (other processes): "
                     "timings are noisy, multi-thread ones most of all")
    return Run(sizes, threads, run_tools, cores_all, pin, notes, busy)


# ================================================================================================
# Machine and versions
# ================================================================================================

def core_order() -> list[int]:
    """Allowed CPUs, one per physical core first (then SMT siblings)."""
    allowed = sorted(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else list(range(os.cpu_count() or 1))
    seen, first, rest = set(), [], []
    for cpu in allowed:
        try:
            base = Path(f"/sys/devices/system/cpu/cpu{cpu}/topology")
            key = ((base / "physical_package_id").read_text().strip(), (base / "core_id").read_text().strip())
        except OSError:
            key = ("?", str(cpu))
        (rest if key in seen else first).append(cpu)
        seen.add(key)
    return first + rest


def cores_for(cores_all: list[int], threads: int) -> list[int]:
    """The first `threads` cores of `cores_all` (all of them when oversubscribed)."""
    return cores_all[:threads] if threads <= len(cores_all) else cores_all


def machine() -> dict:
    """CPU model, logical and allowed CPUs, SIMD flags, memory, platform and host name."""
    model = None
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    flags = ""
    try:
        flags = next(l for l in Path("/proc/cpuinfo").read_text().splitlines() if l.startswith("flags"))
    except (OSError, StopIteration):
        pass
    mem_gib = None
    try:
        kb = int(next(l for l in Path("/proc/meminfo").read_text().splitlines() if l.startswith("MemTotal")).split()[1])
        mem_gib = round(kb / 2**20, 1)
    except (OSError, StopIteration, ValueError):
        pass
    simd = [f for f in ("avx512f", "avx2", "fma") if f" {f}" in flags]
    return {"cpu_model": model or platform.processor() or "unknown", "logical_cpus": os.cpu_count(),
            "allowed_cpus": len(core_order()), "simd": simd, "memory_gib": mem_gib,
            "platform": platform.platform(), "hostname": platform.node()}


def cpu_jiffies() -> list[int]:
    """The all-CPU counters of /proc/stat (user, nice, system, idle, iowait, irq, softirq, steal, ...)."""
    return [int(x) for x in Path("/proc/stat").read_text().splitlines()[0].split()[1:]]


def steal_snapshot():
    """(steal, total) jiffies of all CPUs; steal is time the hypervisor gave to other guests."""
    try:
        vals = cpu_jiffies()
        return (vals[7] if len(vals) > 7 else 0), sum(vals[:8])
    except (OSError, ValueError, IndexError):
        return None


_STEAL_AT_START = steal_snapshot()


def cpu_busy(seconds: float = 1.0):
    """Fraction of all CPUs busy (as /proc/stat sees it) over `seconds`, before this run starts."""
    def snap():
        vals = cpu_jiffies()
        idle = vals[3] + (vals[4] if len(vals) > 4 else 0)
        return sum(vals[:8]), idle

    try:
        t0, i0 = snap()
        time.sleep(seconds)
        t1, i1 = snap()
        return round(1.0 - (i1 - i0) / max(1, t1 - t0), 3)
    except (OSError, ValueError, IndexError):
        return None


def version(dist: str):
    """The installed version of distribution `dist`, or None."""
    try:
        from importlib.metadata import version as _version

        return _version(dist)
    except Exception:
        return None


def versions(*extra: str) -> dict:
    """Versions of Python, NumPy (and its BLAS), flatcore (and its git commit), torch, jax, jaxlib, and `extra`.

    The commit gets ``+dirty`` when cpp/, python/ or the build files have uncommitted changes.
    """
    import flatcore

    out = {"python": platform.python_version(), "numpy": np.__version__, "flatcore": flatcore.__version__,
           "torch": version("torch"), "jax": version("jax"), "jaxlib": version("jaxlib")}
    try:
        blas = np.show_config(mode="dicts")["Build Dependencies"]["blas"]
        out["numpy_blas"] = f"{blas.get('name')} {blas.get('version')}"
    except Exception:
        pass
    try:
        commit = subprocess.run(["git", "-C", str(REPO), "rev-parse", "--short", "HEAD"], capture_output=True,
                                text=True, timeout=10).stdout.strip()
        dirty = subprocess.run(["git", "-C", str(REPO), "status", "--porcelain", "--", "cpp", "python",
                                "CMakeLists.txt", "pyproject.toml"], capture_output=True, text=True,
                               timeout=10).stdout.strip()
        out["flatcore_commit"] = (commit + ("+dirty" if dirty else "")) if commit else None
    except (OSError, subprocess.SubprocessError):
        out["flatcore_commit"] = None
    for dist in extra:
        out[dist] = version(dist)
    return out


def report_header(run: Run, versions_: dict) -> dict:
    """The first entries of a report: CPU busy fraction, date, machine, versions, load average."""
    return {"cpu_busy_before": run.busy, "date": _dt.datetime.now().astimezone().isoformat(timespec="seconds"),
            "machine": machine(), "versions": versions_, "loadavg_before": loadavg()}


def loadavg() -> list[float]:
    """The 1, 5 and 15 minute load averages, rounded to 0.01."""
    return [round(x, 2) for x in os.getloadavg()]


# ================================================================================================
# Subprocesses
# ================================================================================================

def child_env(threads: int) -> dict:
    """This process's environment with every thread variable (THREAD_ENV) set to `threads`."""
    env = dict(os.environ)
    for key in THREAD_ENV:
        env[key] = str(threads)
    return env


def run_worker(script: str, spec: dict, tag: str, tmp: Path, env: dict, cores, pin: bool, timeout: float) -> dict:
    """Run ``script --worker SPEC`` in a fresh Python, pinned to `cores` when `pin`; return its result.

    `spec` is written to TMP/spec-TAG.json; the worker writes its result (JSON) to
    ``spec["result_out"]``, which is returned with the subprocess's wall time added as ``wall_s``.
    A worker that fails or times out gives ``{"error": what happened}``.
    """
    spec_path = tmp / f"spec-{tag}.json"
    spec_path.write_text(json.dumps(spec))
    preexec = (lambda: os.sched_setaffinity(0, cores)) if pin and hasattr(os, "sched_setaffinity") else None
    t0 = time.perf_counter()
    try:
        proc = subprocess.run([sys.executable, str(Path(script).resolve()), "--worker", str(spec_path)],
                              env=env, preexec_fn=preexec, capture_output=True, text=True, timeout=timeout)
    except subprocess.TimeoutExpired:
        return {"error": f"timed out after {timeout} s"}
    wall = time.perf_counter() - t0
    if proc.returncode != 0:
        tail = (proc.stderr or proc.stdout).strip().splitlines()[-6:]
        return {"error": f"exit code {proc.returncode}: " + " | ".join(tail)}
    res = json.loads(Path(spec["result_out"]).read_text())
    res["wall_s"] = wall
    return res


def worker_info(tool: str, threads: int, env_keys=THREAD_ENV) -> dict:
    """The start of a worker's result: tool, threads, pid, CPU affinity, the `env_keys` variables, no sizes yet."""
    return {"tool": tool, "threads": threads, "pid": os.getpid(),
            "affinity": sorted(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else None,
            "env": {k: os.environ.get(k) for k in env_keys}, "sizes": {}}


def set_torch_threads(threads: int) -> int:
    """Give PyTorch `threads` intra-op threads and one inter-op thread; return its thread count."""
    import torch

    torch.set_num_threads(threads)
    try:
        torch.set_num_interop_threads(1)
    except RuntimeError:
        pass
    return torch.get_num_threads()


def os_threads() -> int | None:
    """How many OS threads this process has (Linux), or None."""
    try:
        return len(os.listdir("/proc/self/task"))
    except OSError:
        return None


# ================================================================================================
# Timing
# ================================================================================================

def time_steps(run, target_s: float, repeats: int, max_steps: int = 10**8):
    """Time a step loop: `run(k)` does k steps (always from the same start) and returns its seconds.

    Two warm-up steps, then the step count grows until a run takes a quarter of `target_s`, and
    `repeats` runs of about `target_s` each are timed. Returns (steps per timed run, their seconds).
    """
    run(2)                                               # warm-up (JIT compilation, allocation)
    k, dt = 1, 0.0
    while True:                                          # calibrate the step count
        dt = run(k)
        if dt >= 0.25 * target_s or k >= max_steps:
            break
        k = min(max_steps, k * max(2, min(16, int(0.3 * target_s / max(dt, 1e-9)))))
    steps = int(min(max_steps, max(3, math.ceil(target_s * k / max(dt, 1e-9)))))
    return steps, [run(steps) for _ in range(repeats)]


def gemm_peak(n: int, repeats: int) -> dict:
    """The machine's float64 GEMM peak: best of `repeats` n x n NumPy matmuls (after one warm-up)."""
    rng = np.random.default_rng(0)
    a = rng.standard_normal((n, n))
    b = rng.standard_normal((n, n))
    c = np.empty((n, n))
    np.matmul(a, b, out=c)
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        np.matmul(a, b, out=c)
        times.append(time.perf_counter() - t0)
    return {"gflops": 2.0 * n ** 3 / min(times) / 1e9, "n": n, "seconds": times}


def spread(times) -> float:
    """How much the slowest of `times` exceeds the fastest, relative."""
    return max(times) / min(times) - 1.0


# ================================================================================================
# Markdown and the end of a run
# ================================================================================================

def markdown_header(title: str, report: dict, versions_line: str, settings_line: str) -> list[str]:
    """Title, date, machine (with the load before and after), versions, settings and notes, as lines."""
    m = report["machine"]
    lines = [f"# {title}", ""]
    lines.append(f"- date: {report['date']}")
    lines.append(f"- machine: {m['cpu_model']}, {m['logical_cpus']} logical CPUs ({m['allowed_cpus']} allowed), "
                 f"{m['memory_gib']} GiB, SIMD {'/'.join(m['simd']) or 'none'}; load average before/after: "
                 f"{report['loadavg_before']} / {report['loadavg_after']}")
    lines.append(f"- versions: {versions_line}")
    lines.append(f"- settings: {settings_line}")
    for note in report["notes"]:
        lines.append(f"- note: {note}")
    return lines


def versions_prefix(v: dict) -> str:
    """'flatcore X (commit), Python X, NumPy X (BLAS)': the start of the versions line."""
    return (f"flatcore {v['flatcore']} ({v.get('flatcore_commit')}), Python {v['python']}, "
            f"NumPy {v['numpy']} ({v.get('numpy_blas', '?')})")


def size_header(sizes, first: str) -> tuple[str, str]:
    """Header and separator lines of a table with a first column `first` and one column per size."""
    head = (f"| {first} | " if first else "| | ") + " | ".join(
        f"{s} ({SIZES[s][0]}, {SIZES[s][1]}, {SIZES[s][2]})" for s in sizes) + " |"
    return head, "|---|" + "---:|" * len(sizes)


def md_row(label: str, cells) -> str:
    """A Markdown table row."""
    return f"| {label} | " + " | ".join(cells) + " |"


def goals(report: dict, items) -> dict | None:
    """The report's goals: `items(block)` judged on the results block at 2 threads (or the largest count run).

    Each item is {"what", "value", "met"}; None when there are none.
    """
    cfg = report["config"]
    t = 2 if 2 in cfg["threads"] else max(cfg["threads"])
    found = items(report["results"][str(t)])
    return {"threads": t, "items": found} if found else None


def markdown_text(lines: list[str], goals_: dict | None) -> str:
    """The Markdown document: `lines`, then the *QUALITY.md goals* section (when there are goals)."""
    if goals_:
        t = goals_["threads"]
        lines = lines + ["", f"## QUALITY.md goals at {t} thread{'s' if t > 1 else ''}", ""]
        for g in goals_["items"]:
            lines.append(f"- {'met' if g['met'] else 'NOT met'}: {g['what']} ({g['value']})")
    return "\n".join(lines) + "\n"


def spread_note(tools: dict, threads: int, tool_labels: dict) -> str | None:
    """A note when the timed repeats at `threads` differed by more than 20% (tools: tool -> size -> result)."""
    spreads = [(r.get("spread", 0.0), tool, s) for tool, d in tools.items() for s, r in d.items()]
    if spreads and max(spreads)[0] > 0.2:
        sp, tool, s = max(spreads)
        return (f"at {threads} thread(s) the timed repeats differed by up to {100 * sp:.0f}% "
                f"({tool_labels[tool]}, {s}): noisy machine; the best repeat is reported")
    return None


def finish(report: dict, goal_items, render, out: Path, name: str, sanity_tol: float, failure: str) -> int:
    """End a run: record the load and the goals, print the Markdown and write OUT/NAME.md and OUT/NAME.json.

    `goal_items` is as in `goals`, `render(report)` gives the Markdown. Returns the exit code: 1
    (after saying so with `failure`) when a sanity deviation (report["sanity"]: tool -> size ->
    deviation) is above `sanity_tol`, else 0.
    """
    report["loadavg_after"] = loadavg()
    now = steal_snapshot()
    if now and _STEAL_AT_START and now[1] > _STEAL_AT_START[1]:
        steal = (now[0] - _STEAL_AT_START[0]) / (now[1] - _STEAL_AT_START[1])
        report["steal_fraction"] = round(steal, 4)
        if steal > 0.02:
            report.setdefault("notes", []).append(
                f"the hypervisor gave {100 * steal:.0f}% of this machine's CPU time to other guests during the run "
                "(steal time in /proc/stat): a shared host, so every number, and the multi-thread ones most, "
                "is noisier than the repeats suggest")
    report["goals"] = goals(report, goal_items)
    md = render(report)
    print(md)
    out.mkdir(parents=True, exist_ok=True)
    (out / f"{name}.md").write_text(md)
    (out / f"{name}.json").write_text(json.dumps(report, indent=1, default=float) + "\n")
    print(f"wrote {out / f'{name}.md'} and {out / f'{name}.json'}", file=sys.stderr)
    failed = [f"{tool}/{s}" for tool, d in report["sanity"].items() for s, dev in d.items() if dev > sanity_tol]
    if failed:
        print(f"SANITY FAILED ({failure}): {', '.join(failed)}", file=sys.stderr)
        return 1
    return 0
