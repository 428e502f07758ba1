"""Process, core and timing plumbing shared by the benchmarks.

Each of bench_train.py and bench_sharpness.py runs every (tool, thread count) in a fresh
subprocess of its own script (``--worker SPEC``), pinned to the first N cores with the thread
variables set to N. This module holds:

- the workloads (``SIZES``) and the thread variables (``THREAD_ENV``);
- the options every benchmark has (``make_parser``, ``parse_args``) and what the driver derives
  from them before it starts (``prepare``: sizes, thread counts, cores, tools, the first notes);
- what a report records beside ``flatcore.provenance``: the benchmark's own environment (peer
  versions, BLAS, git commit, memory, load, steal time: ``environment``, ``close_environment``);
- core order and pinning, the child environment and launching a worker (``core_order``,
  ``cores_for``, ``child_env``, ``run_worker``, ``worker_info``, ``os_threads``);
- timing (``time_steps``, ``measure_steps``, ``time_calls``, ``gemm_peak``, ``spread``).

Tables, ratios, goals and files are in report.py; the timed implementations in peers/.
"""

from __future__ import annotations

import argparse
import importlib.metadata
import importlib.util
import json
import math
import os
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
THREAD_ENV = (
    "OMP_NUM_THREADS",
    "OPENBLAS_NUM_THREADS",
    "MKL_NUM_THREADS",
    "BLIS_NUM_THREADS",
    "VECLIB_MAXIMUM_THREADS",
    "NUMEXPR_NUM_THREADS",
    "FLATCORE_NUM_THREADS",
)


# ================================================================================================
# Command line
# ================================================================================================


def make_parser(doc: str, tools, quick_help: str) -> argparse.ArgumentParser:
    """A parser with the options that come first in every benchmark: --threads, --sizes, --tools, --quick.

    The description is the first paragraph of the script's docstring `doc`.
    """
    p = argparse.ArgumentParser(description=doc.split("\n\n")[0], formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--threads", type=int, nargs="+", default=[1, 2], help="thread counts (default: 1 2)")
    p.add_argument(
        "--sizes",
        nargs="+",
        choices=list(SIZES),
        default=None,
        help="workloads (default: all; with --quick: small mid)",
    )
    p.add_argument("--tools", nargs="+", choices=list(tools), default=list(tools), help="tools (default: all)")
    p.add_argument("--quick", action="store_true", help=quick_help)
    return p


def parse_args(p: argparse.ArgumentParser, argv, timeout: float, worker, **quick_defaults):
    """Add the options that come last in every benchmark (--no-pin, --timeout, --out, --rerender,
    the hidden --worker), parse.

    With --worker SPEC, `worker(SPEC)` runs here (the caller then returns 0). Otherwise each option
    named in `quick_defaults` (dest=(quick value, full value)) that was not given gets its default.
    """
    p.add_argument("--no-pin", action="store_true", help="do not pin each subprocess to the first N cores")
    p.add_argument("--timeout", type=float, default=timeout, help="seconds allowed per (tool, threads) subprocess")
    p.add_argument("--out", type=Path, default=HERE / "results", help="output folder (default benchmarks/results)")
    add_rerender(p)
    p.add_argument("--worker", help=argparse.SUPPRESS)
    args = p.parse_args(argv)
    if args.worker:
        worker(args.worker)
        return args
    for dest, (quick, full) in quick_defaults.items():
        setattr(args, dest, getattr(args, dest) or (quick if args.quick else full))
    return args


def add_rerender(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--rerender",
        type=Path,
        metavar="JSON",
        default=None,
        help="measure nothing: recompute the derived tables and goals of a saved report and write "
        "its Markdown (and JSON) again",
    )


@dataclass
class Run:
    """What the driver derives from the common options before it starts."""

    sizes: list  # workload names, in the order of SIZES
    threads: list  # thread counts, ascending, without repeats
    tools: list  # tools to run: the requested ones that are importable, in the script's order
    cores_all: list  # allowed CPUs, one per physical core first (core_order)
    pin: bool  # pin each subprocess to the first N cores
    notes: list  # notes for the report header (appended to while the benchmark runs)
    busy: float | None  # fraction of the CPUs busy for a second before the run (cpu_busy)


def prepare(
    p: argparse.ArgumentParser,
    args,
    tools,
    tool_modules: dict,
    tool_labels: dict,
    install_hint: str,
    tool_notes: dict | None = None,
) -> Run:
    """Resolve --sizes, --threads, --tools and --no-pin, and measure how busy the machine is.

    Notes, in this order: oversubscription; each requested tool skipped because its framework
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
        notes.append(
            f"the machine was {100 * busy:.0f}% busy before the run started (other processes): "
            "timings are noisy, multi-thread ones most of all"
        )
    return Run(sizes, threads, run_tools, cores_all, pin, notes, busy)


# ================================================================================================
# Cores, load and what a report records beside flatcore.provenance
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


def loadavg() -> list[float]:
    """The 1, 5 and 15 minute load averages, rounded to 0.01."""
    return [round(x, 2) for x in os.getloadavg()]


def version(dist: str):
    """The installed version of distribution `dist`, or None."""
    try:
        return importlib.metadata.version(dist)
    except importlib.metadata.PackageNotFoundError:
        return None


def environment(busy=None, peers=()) -> dict:
    """What a benchmark report records beside ``flatcore.provenance()``, at the start of a run.

    The git commit of the checkout (``+dirty`` when cpp/, python/ or the build files have
    uncommitted changes), NumPy's BLAS, the versions of the peer distributions `peers`, the
    memory, how busy the CPUs were (`busy`, from ``cpu_busy``) and the load average.
    """
    env = {
        "flatcore_commit": _git_commit(),
        "numpy_blas": _numpy_blas(),
        "peers": {dist: version(dist) for dist in peers},
        "memory_gib": None,
        "cpu_busy_before": busy,
        "loadavg_before": loadavg(),
    }
    try:
        kb = int(
            next(
                line for line in Path("/proc/meminfo").read_text().splitlines() if line.startswith("MemTotal")
            ).split()[1]
        )
        env["memory_gib"] = round(kb / 2**20, 1)
    except (OSError, StopIteration, ValueError):
        pass
    return env


def close_environment(report: dict) -> None:
    """At the end of a run: the load average after it and the steal time during it (a note above 2%)."""
    env = report["environment"]
    env["loadavg_after"] = loadavg()
    now = steal_snapshot()
    if now and _STEAL_AT_START and now[1] > _STEAL_AT_START[1]:
        steal = (now[0] - _STEAL_AT_START[0]) / (now[1] - _STEAL_AT_START[1])
        env["steal_fraction"] = round(steal, 4)
        if steal > 0.02:
            report.setdefault("notes", []).append(
                f"the hypervisor gave {100 * steal:.0f}% of this machine's CPU time to other guests during the run "
                "(steal time in /proc/stat): a shared host, so every number, and the multi-thread ones most, "
                "is noisier than the repeats suggest"
            )


def _numpy_blas():
    try:
        blas = np.show_config(mode="dicts")["Build Dependencies"]["blas"]
    except (TypeError, KeyError, ValueError):  # older NumPy: no mode="dicts"
        return None
    return f"{blas.get('name')} {blas.get('version')}"


def _git_commit():
    try:
        git = ["git", "-C", str(REPO)]
        commit = subprocess.run(
            [*git, "rev-parse", "--short", "HEAD"], check=False, capture_output=True, text=True, timeout=10
        ).stdout.strip()
        dirty = subprocess.run(
            [*git, "status", "--porcelain", "--", "cpp", "python", "CMakeLists.txt", "pyproject.toml"],
            check=False,
            capture_output=True,
            text=True,
            timeout=10,
        ).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return None
    return (commit + ("+dirty" if dirty else "")) if commit else None


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
        proc = subprocess.run(
            [sys.executable, str(Path(script).resolve()), "--worker", str(spec_path)],
            check=False,
            env=env,
            preexec_fn=preexec,
            capture_output=True,
            text=True,
            timeout=timeout,
        )
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
    return {
        "tool": tool,
        "threads": threads,
        "pid": os.getpid(),
        "affinity": sorted(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else None,
        "env": {k: os.environ.get(k) for k in env_keys},
        "sizes": {},
    }


def os_threads() -> int | None:
    """How many OS threads this process has (Linux), or None."""
    try:
        return len(os.listdir("/proc/self/task"))
    except OSError:
        return None


# ================================================================================================
# Timing
# ================================================================================================

LONG_CALL_S = 2.0  # time_calls: a first call at least this long counts as a timed repeat


def time_steps(run, target_s: float, repeats: int, max_steps: int = 10**8):
    """Time a step loop: `run(k)` does k steps (always from the same start) and returns its seconds.

    Two warm-up steps, then the step count grows until a run takes a quarter of `target_s`, and
    `repeats` runs of about `target_s` each are timed. Returns (steps per timed run, their seconds).
    """
    run(2)  # warm-up (JIT compilation, allocation)
    k, dt = 1, 0.0
    while True:  # calibrate the step count
        dt = run(k)
        if dt >= 0.25 * target_s or k >= max_steps:
            break
        k = min(max_steps, k * max(2, min(16, int(0.3 * target_s / max(dt, 1e-9)))))
    steps = int(min(max_steps, max(3, math.ceil(target_s * k / max(dt, 1e-9)))))
    return steps, [run(steps) for _ in range(repeats)]


def measure_steps(stepper, target_s: float, repeats: int) -> dict:
    """Best-of-`repeats` GD steps per second of a peers GD object, each repeat from its initial
    parameters (``reset`` outside the timing), about `target_s` long."""

    def run(k):
        stepper.reset()
        t0 = time.perf_counter()
        stepper.steps(k)
        return time.perf_counter() - t0

    steps, times = time_steps(run, target_s, repeats)
    return {"steps_per_s": steps / min(times), "steps": steps, "seconds": times, "spread": spread(times)}


def time_calls(fn, repeats: int, min_s: float, budget_s: float):
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
    return (
        min(times),
        {"seconds_per_call": times, "calls_per_repeat": inner, "first_call_s": first, "spread": spread(times)},
        out,
    )


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
    return {"gflops": 2.0 * n**3 / min(times) / 1e9, "n": n, "seconds": times}


def spread(times) -> float:
    """How much the slowest of `times` exceeds the fastest, relative."""
    return max(times) / min(times) - 1.0
