#!/usr/bin/env python
"""flatcore.train beside other CPU-bound processes: steps per second at 1 thread, 2 threads and the default.

    python benchmarks/bench_contention.py [--sizes small mid large] [--configs 1 2 default]
                                          [--scenarios quiet busy1 busy2 flatcore1] [--rounds 3] [--ab 10]
                                          [--quick] [--name contention] [--out benchmarks/results]
                                          [--rerender results/contention.json]

Researchers run flatcore beside other jobs and as many worker processes per machine. When the
cores are shared, threads that wait for each other at the end of every parallel region lose
their time slices to the neighbours, and a step can cost a scheduler slice instead of
microseconds. This benchmark measures it on the workloads of bench_train.py (float64,
``flatcore.data.regression(n, d, seed=0)``, ``Network.init(d, width, seed=0,
scheme="pytorch")``, plain GD at lr 0.01):

    small (n=256, width=256, d=5), mid (1024, 512, 10), large (4096, 1024, 16)

Scenarios (the neighbours start before and are killed after each workload; none is pinned):

    quiet      nothing else running
    busy1      one busy process (``while True: pass`` in Python)
    busy2      two busy processes
    flatcore1  a second flatcore process running ``train`` on the same workload at its default
               thread count, in a loop (its own steps/s are reported too)

Configurations (``--configs``), each in a fresh process, unpinned: ``1`` (n_threads=1), ``2``
(n_threads=2 with the thread adaptation off: FLATCORE_ADAPTIVE_THREADS=0), ``default``
(n_threads left to flatcore: its default count, adaptive when the build adapts). A
configuration may add environment variables after ``+``, e.g. ``2+OMP_WAIT_POLICY=passive`` or
``default+GOMP_SPINCOUNT=0``. Every (scenario, workload) runs ``--rounds`` rounds with the
configurations taking turns; each round times ``--repeats`` calls of ``train`` of about
``--seconds`` each. A cell is the median steps/s of all its timed calls (min and max in the
JSON). With ``--ab PAIRS``, also: on the quiet machine, one process at the default count times
PAIRS calls with the adaptation on and PAIRS with it off, in turn (what the adaptation costs
where it has nothing to gain, free of differences between processes). Results: OUT/NAME.md and
OUT/NAME.json (NAME: ``--name``, default ``contention``).
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import harness
import peers
import report
from harness import SIZES, THREAD_ENV

LR = 0.01
SCENARIOS = {  # name: (busy processes, flatcore processes, label)
    "quiet": (0, 0, "quiet machine"),
    "busy1": (1, 0, "one busy neighbour process"),
    "busy2": (2, 0, "two busy neighbour processes"),
    "flatcore1": (0, 1, "a second flatcore process (same workload, default threads)"),
}
CONFIGS = ("1", "2", "default")
NEIGHBOUR_CALL_S = 0.2  # the flatcore neighbour's train calls last about this long


# ================================================================================================
# Configurations
# ================================================================================================


def parse_config(spec: str) -> tuple[int | None, dict]:
    """(threads or None for the default, extra environment) of a configuration like ``2+OMP_WAIT_POLICY=passive``."""
    head, *env = spec.split("+")
    threads = None if head == "default" else int(head)
    if threads is not None and threads < 1:
        raise ValueError(f"a configuration's thread count must be positive; got {spec!r}")
    extra = {}
    for item in env:
        key, sep, value = item.partition("=")
        if not sep or not key:
            raise ValueError(f"expected NAME=VALUE after '+' in {spec!r}; got {item!r}")
        extra[key] = value
    return threads, extra


def config_env(spec: str) -> dict:
    """The environment of a configuration's process: no thread variables (flatcore's own default),
    adaptation off for a fixed count, then the configuration's own variables."""
    threads, extra = parse_config(spec)
    env = {k: v for k, v in os.environ.items() if k not in THREAD_ENV and k != "FLATCORE_ADAPTIVE_THREADS"}
    if threads is not None:
        env["FLATCORE_ADAPTIVE_THREADS"] = "0"
    env.update(extra)
    return env


def config_label(spec: str) -> str:
    threads, extra = parse_config(spec)
    label = "default threads" if threads is None else ("1 thread" if threads == 1 else f"{threads} threads, fixed")
    return label + "".join(f", {k}={v}" for k, v in extra.items())


# ================================================================================================
# Neighbours
# ================================================================================================


TICK = os.sysconf("SC_CLK_TCK") if hasattr(os, "sysconf") else 100


def busy_cpu_s() -> float:
    """CPU seconds all CPUs have spent busy since boot (/proc/stat: everything but idle and iowait)."""
    vals = harness.cpu_jiffies()
    return (sum(vals[:8]) - vals[3] - vals[4]) / TICK


def process_cpu_s(pid: int) -> float:
    """CPU seconds process `pid` (all its threads) has used, or 0 once it is gone."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except (OSError, IndexError):
        return 0.0
    return (int(fields[11]) + int(fields[12])) / TICK  # utime, stime


class CpuMeter:
    """How many cores' worth of CPU went to processes other than ours over an interval.

    Busy CPU time of the whole machine (/proc/stat) less this process's children that have ended
    (the measuring worker) and the neighbours (`pids`), over the wall time. Other sessions on a
    shared machine show up here; the report flags measurements they disturbed.
    """

    def __init__(self, pids=()):
        self.pids = list(pids)
        self.t0 = time.monotonic()
        self.busy0 = busy_cpu_s()
        self.own0 = self._own()

    def _own(self) -> float:
        import resource

        ru = resource.getrusage(resource.RUSAGE_CHILDREN)
        me = resource.getrusage(resource.RUSAGE_SELF)
        return ru.ru_utime + ru.ru_stime + me.ru_utime + me.ru_stime + sum(process_cpu_s(p) for p in self.pids)

    def foreign_cores(self) -> float:
        wall = time.monotonic() - self.t0
        if wall <= 0:
            return 0.0
        return max(0.0, (busy_cpu_s() - self.busy0 - (self._own() - self.own0)) / wall)


def wait_quiet(pids, threshold: float, patience_s: float) -> float:
    """Wait (up to `patience_s`) until other processes use less than `threshold` cores over half a
    second; return the last such measurement."""
    end = time.monotonic() + patience_s
    while True:
        meter = CpuMeter(pids)
        time.sleep(0.5)
        load = meter.foreign_cores()
        if load < threshold or time.monotonic() > end:
            return load


def _die_with_parent() -> None:
    """In a child, before exec: killed when the benchmark dies (Linux), whatever kills it."""
    with contextlib.suppress(Exception):
        import ctypes

        ctypes.CDLL(None, use_errno=True).prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG


class Neighbours:
    """The neighbour processes of a scenario, started on entry and killed on exit (also on errors).

    Each runs in its own session (killed with its process group), dies with this process
    (PR_SET_PDEATHSIG on Linux) and stops by itself after `lifetime_s` in any case.
    """

    def __init__(self, busy: int, flatcore: int, size: str, tmp: Path, lifetime_s: float):
        self.busy, self.flatcore, self.size, self.tmp, self.lifetime_s = busy, flatcore, size, tmp, lifetime_s
        self.procs: list[subprocess.Popen] = []
        self.logs: list[Path] = []

    def __enter__(self) -> Neighbours:
        try:
            loop = f"import time\nend = time.monotonic() + {self.lifetime_s}\nwhile time.monotonic() < end:\n    pass\n"
            for _ in range(self.busy):
                self._start([sys.executable, "-c", loop], dict(os.environ))
            for j in range(self.flatcore):
                log = self.tmp / f"neighbour-{self.size}-{j}.json"
                log.unlink(missing_ok=True)
                self.logs.append(log)
                cmd = [sys.executable, str(Path(__file__).resolve()), "--neighbour", self.size, str(log)]
                self._start([*cmd, str(self.lifetime_s)], config_env("default"))
            deadline = time.monotonic() + 60.0
            while not all(log.exists() for log in self.logs):  # the flatcore neighbours are warm
                if time.monotonic() > deadline or any(p.poll() is not None for p in self.procs):
                    raise RuntimeError("a flatcore neighbour did not start")
                time.sleep(0.05)
            time.sleep(0.3)
        except BaseException:
            self.kill()
            raise
        return self

    def __exit__(self, *exc) -> None:
        self.kill()

    def _start(self, cmd, env) -> None:
        self.procs.append(
            subprocess.Popen(
                cmd,
                env=env,
                start_new_session=True,
                preexec_fn=_die_with_parent,
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
            )
        )

    def kill(self) -> None:
        for p in self.procs:
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(p.pid, signal.SIGKILL)
        for p in self.procs:
            with contextlib.suppress(subprocess.TimeoutExpired):
                p.wait(timeout=10)
        self.procs = []

    @property
    def pids(self) -> list[int]:
        return [p.pid for p in self.procs]

    def counters(self) -> list[tuple[float, float]]:
        """(steps done, time.monotonic()) of each flatcore neighbour, as last written."""
        out = []
        for log in self.logs:
            with contextlib.suppress(OSError, ValueError):
                rec = json.loads(log.read_text())
                out.append((rec["steps"], rec["t"]))
        return out


def neighbour(size: str, log: str, lifetime_s: float) -> None:
    """A flatcore process training on `size` at its default thread count until killed (or
    `lifetime_s`), writing its cumulative steps to `log` after every call."""
    import flatcore as fc

    end = time.monotonic() + lifetime_s
    gd = _stepper(fc, size, None)
    k, total = 2, 0
    while time.monotonic() < end:
        gd.reset()
        t0 = time.perf_counter()
        gd.steps(k)
        dt = time.perf_counter() - t0
        total += k
        tmp = Path(log + ".tmp")
        tmp.write_text(json.dumps({"steps": total, "t": time.monotonic()}))
        os.replace(tmp, log)
        k = max(1, min(4 * k, round(k * NEIGHBOUR_CALL_S / max(dt, 1e-6))))


def _stepper(fc, size: str, threads: int | None):
    n, width, d = SIZES[size]
    X, y = fc.data.regression(n, d, seed=0)
    net = fc.Network.init(d, width, seed=0, scheme="pytorch")
    return peers.gd("flatcore")(X, y, net.W, net.b, net.v, net.beta, LR, threads)


# ================================================================================================
# Worker: one (configuration, workload) per process
# ================================================================================================


def worker(spec_path: str) -> None:
    import flatcore as fc

    spec = json.loads(Path(spec_path).read_text())
    threads, _ = parse_config(spec["config"])
    out = harness.worker_info(spec["config"], threads or fc.get_num_threads(), (*THREAD_ENV, *spec["env_keys"]))
    gd = _stepper(fc, spec["size"], threads)

    def run(k):
        gd.reset()
        t0 = time.perf_counter()
        gd.steps(k)
        return time.perf_counter() - t0

    if spec.get("ab"):
        # One process, calls with the adaptation on and off in turn (the variable is read at every
        # call), so that both see the same memory layout and the same moments of the machine.
        os.environ["FLATCORE_ADAPTIVE_THREADS"] = "0"
        steps, _ = harness.time_steps(run, spec["seconds"], 1)
        out["steps"] = steps
        out["on"], out["off"] = [], []
        for j in range(spec["ab"]):
            for flag in ("1", "0") if j % 2 == 0 else ("0", "1"):
                os.environ["FLATCORE_ADAPTIVE_THREADS"] = flag
                out["on" if flag == "1" else "off"].append(steps / run(steps))
    else:
        steps, times = harness.time_steps(run, spec["seconds"], spec["repeats"])
        out["steps"] = steps
        out["seconds"] = times
        out["steps_per_s"] = [steps / t for t in times]
    out["os_threads"] = harness.os_threads()
    Path(spec["result_out"]).write_text(json.dumps(out))


# ================================================================================================
# Driver
# ================================================================================================


def complete(rep: dict) -> None:
    """Derive the medians and ratios of a report from its raw timings."""
    for res in rep.get("ab", {}).values():
        res["on_median"] = statistics.median(res["on"])
        res["off_median"] = statistics.median(res["off"])
        res["ratio_median"] = statistics.median(a / b for a, b in zip(res["on"], res["off"]))
    for scen in rep["results"].values():
        for cell in scen.values():
            for res in cell["configs"].values():
                rates = res["steps_per_s"]
                res["median"] = statistics.median(rates) if rates else None
                res["min"] = min(rates) if rates else None
                res["max"] = max(rates) if rates else None
                foreign = res.get("foreign_cores") or []
                res["foreign_median"] = statistics.median(foreign) if foreign else None
            nb = cell.get("neighbour_steps_per_s") or []
            cell["neighbour_median"] = statistics.median(nb) if nb else None


def render(rep: dict) -> str:
    cfg = rep["config"]
    sizes, configs = cfg["sizes"], cfg["configs"]
    rounds = (
        f"{cfg['rounds']} round(s) with the configurations taking turns, {cfg['repeats']} calls of "
        f"~{cfg['seconds']} s each per round; median of all calls"
        if cfg["scenarios"]
        else "no scenarios (--ab only)"
    )
    lines = report.header(
        "flatcore.train beside other processes: steps per second",
        rep,
        f"float64, lr {cfg['lr']}, unpinned; {rounds}"
        + (
            f"; a measurement during which other processes used more than {cfg['foreign_max']} cores was "
            f"taken again (up to {cfg['retries']} times, after waiting for quiet)"
            if "retries" in cfg
            else ""
        )
        + (" (QUICK run)" if cfg["quick"] else ""),
    )
    base = "1" if "1" in configs else configs[0]
    for scen in cfg["scenarios"]:
        res = rep["results"].get(scen)
        if not res:
            continue
        lines += ["", f"## {SCENARIOS[scen][2]}", "", "Steps per second (median; higher is better):", ""]
        lines += report.size_header(sizes, "configuration")

        def med(size, c, res=res):
            r = res.get(size, {}).get("configs", {}).get(c)
            return r["median"] if r else None

        def disturbed(size, c, res=res):
            r = res.get(size, {}).get("configs", {}).get(c)
            return bool(r and (r.get("foreign_median") or 0.0) > cfg.get("foreign_max", 1e9))

        marked = False
        for c in configs:
            cells = []
            for s in sizes:
                cells.append(report.rate(med(s, c)) + (" *" if disturbed(s, c) else ""))
                marked |= disturbed(s, c)
            lines.append(report.row(config_label(c), cells))
        if any(res.get(s, {}).get("neighbour_median") for s in sizes):
            lines.append(
                report.row(
                    "(the flatcore neighbour's own steps/s)",
                    [report.rate(res.get(s, {}).get("neighbour_median")) for s in sizes],
                )
            )
        if marked:
            lines += [
                "",
                f"\\* other processes (not the benchmark's) used more than {cfg['foreign_max']} cores during "
                "most of these runs: a busier machine than the scenario says",
            ]
        lines += ["", f"Over {config_label(base)} (above 1: faster):", ""]
        lines += report.size_header(sizes, "configuration")
        for c in configs:
            if c == base:
                continue
            cells = []
            for s in sizes:
                a, b = med(s, c), med(s, base)
                cells.append(report.ratio(a / b) if a and b else "–")
            lines.append(report.row(config_label(c), cells))
    if rep.get("ab"):
        ab = rep["ab"]
        lines += [
            "",
            "## Quiet machine, one process: the adaptation on and off in turn",
            "",
            f"Default threads; {cfg['ab']} pairs of calls (~{cfg['seconds']} s each) with FLATCORE_ADAPTIVE_THREADS=1 "
            "and =0 alternating in one process; medians, and the median of the pairs' ratios:",
            "",
        ]
        lines += report.size_header(sizes, "")
        lines.append(
            report.row("adaptive (steps/s)", [report.rate(ab[s]["on_median"]) if s in ab else "–" for s in sizes])
        )
        lines.append(
            report.row("fixed (steps/s)", [report.rate(ab[s]["off_median"]) if s in ab else "–" for s in sizes])
        )
        lines.append(
            report.row("adaptive / fixed", [report.ratio(ab[s]["ratio_median"]) if s in ab else "–" for s in sizes])
        )
    return "\n".join(lines) + "\n"


def run_ab(rep: dict, size: str, args, tmp: Path, env_keys) -> dict | None:
    """The same-process comparison of the adaptation on and off on a quiet machine (--ab pairs)."""
    for attempt in range(args.retries + 1):
        wait_quiet([], args.foreign_max, args.patience)
        meter = CpuMeter()
        spec = {
            "config": "default",
            "size": size,
            "seconds": rep["config"]["seconds"],
            "ab": args.ab,
            "env_keys": env_keys,
            "result_out": str(tmp / "result.json"),
        }
        res = harness.run_worker(__file__, spec, "ab", tmp, config_env("default"), [], False, args.timeout)
        if "error" in res:
            report.add_note(rep, f"ab/{size} failed: {res['error']}")
            return None
        res["foreign_cores"] = foreign = meter.foreign_cores()
        ratio = statistics.median(a / b for a, b in zip(res["on"], res["off"]))
        print(f"  on/off {ratio:.3f} (others: {foreign:.2f} cores)", file=sys.stderr, flush=True)
        if foreign <= args.foreign_max or attempt == args.retries:
            return res
    return None


def run_cell(rep: dict, scen: str, size: str, args, tmp: Path, env_keys) -> dict:
    """Every configuration on one workload in one scenario: the rounds, the neighbours around them.

    A measurement during which other processes used more than --foreign-max cores is kept aside
    (``disturbed``) and taken again after waiting for quiet, up to --retries times.
    """
    cfg = rep["config"]
    n_busy, n_flatcore, _ = SCENARIOS[scen]
    cell = {"configs": {c: {"steps_per_s": [], "foreign_cores": [], "raw": [], "disturbed": []} for c in args.configs}}
    cell["neighbour_steps_per_s"] = []
    lifetime = 2.0 * args.timeout * cfg["rounds"] * len(args.configs) * (1 + args.retries)
    with Neighbours(n_busy, n_flatcore, size, tmp, lifetime) as nb:
        for rnd in range(cfg["rounds"]):
            for c in args.configs:
                for attempt in range(args.retries + 1):
                    quiet = wait_quiet(nb.pids, args.foreign_max, args.patience)
                    if quiet >= args.foreign_max:
                        print(f"  (other processes use {quiet:.2f} cores)", file=sys.stderr, flush=True)
                    before = nb.counters()
                    meter = CpuMeter(nb.pids)
                    spec = {
                        "config": c,
                        "size": size,
                        "seconds": cfg["seconds"],
                        "repeats": cfg["repeats"],
                        "env_keys": env_keys,
                        "result_out": str(tmp / "result.json"),
                    }
                    res = harness.run_worker(__file__, spec, "w", tmp, config_env(c), [], False, args.timeout)
                    foreign = meter.foreign_cores()
                    after = nb.counters()
                    if "error" in res:
                        report.add_note(rep, f"{scen}/{size}/{c} failed: {res['error']}")
                        print(f"  {c}: FAILED {res['error']}", file=sys.stderr, flush=True)
                        break
                    res["foreign_cores"] = foreign
                    rates = ", ".join(report.rate(r) for r in res["steps_per_s"])
                    print(f"  round {rnd + 1} {c}: {rates} (others: {foreign:.2f} cores)", file=sys.stderr, flush=True)
                    if foreign > args.foreign_max and attempt < args.retries:
                        cell["configs"][c]["disturbed"].append(res)
                        continue
                    for (s0, t0), (s1, t1) in zip(before, after):
                        if t1 > t0:
                            cell["neighbour_steps_per_s"].append((s1 - s0) / (t1 - t0))
                    cell["configs"][c]["steps_per_s"] += res["steps_per_s"]
                    cell["configs"][c]["foreign_cores"].append(foreign)
                    cell["configs"][c]["raw"].append(res)
                    break
    return cell


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--sizes", nargs="+", choices=list(SIZES), default=None, help="workloads (default: all)")
    p.add_argument("--configs", nargs="+", default=list(CONFIGS), help="configurations (default: 1 2 default)")
    p.add_argument(
        "--scenarios", nargs="*", choices=list(SCENARIOS), default=list(SCENARIOS), help="scenarios (default: all)"
    )
    p.add_argument("--rounds", type=int, default=None, help="rounds per (scenario, workload) (default 3; quick 1)")
    p.add_argument("--repeats", type=int, default=None, help="timed calls per round (default 3; quick 2)")
    p.add_argument("--seconds", type=float, default=None, help="length of a timed call (default 0.5; quick 0.2)")
    p.add_argument("--quick", action="store_true", help="short measurements (small and mid)")
    p.add_argument("--timeout", type=float, default=600.0, help="seconds allowed per measuring subprocess")
    p.add_argument(
        "--foreign-max",
        type=float,
        default=0.15,
        help="before each round, wait until processes other than the benchmark's use fewer cores than "
        "this (default 0.15); measurements during which they used more are flagged",
    )
    p.add_argument("--patience", type=float, default=60.0, help="seconds to wait for that (default 60)")
    p.add_argument(
        "--retries",
        type=int,
        default=2,
        help="times a measurement disturbed that way is taken again (default 2; the last one counts)",
    )
    p.add_argument(
        "--ab",
        type=int,
        default=0,
        metavar="PAIRS",
        help="also, on the quiet machine, PAIRS calls with the adaptation on and off in turn in one process",
    )
    p.add_argument("--name", default="contention", help="report name: OUT/NAME.md and OUT/NAME.json")
    p.add_argument("--out", type=Path, default=harness.HERE / "results", help="output folder")
    harness.add_rerender(p)
    p.add_argument("--worker", help=argparse.SUPPRESS)
    p.add_argument("--neighbour", nargs=3, help=argparse.SUPPRESS)
    args = p.parse_args(argv)
    if args.worker:
        worker(args.worker)
        return 0
    if args.neighbour:
        neighbour(args.neighbour[0], args.neighbour[1], float(args.neighbour[2]))
        return 0
    if args.rerender is not None:
        return report.rerender(args.rerender, complete, render)
    for c in args.configs:
        parse_config(c)  # refuse a malformed one before anything runs

    # A SIGTERM ends the run as Ctrl-C does: through the finally clauses that kill the neighbours.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    from flatcore.provenance import provenance

    sizes = [s for s in SIZES if s in (args.sizes or (["small", "mid"] if args.quick else list(SIZES)))]
    rounds = args.rounds or (1 if args.quick else 3)
    repeats = args.repeats or (2 if args.quick else 3)
    seconds = args.seconds or (0.2 if args.quick else 0.5)
    busy = harness.cpu_busy()
    notes = [
        "configurations run unpinned, in fresh processes; neighbours are unpinned too",
        "2 threads, fixed: n_threads=2 with FLATCORE_ADAPTIVE_THREADS=0 (no effect on builds before the "
        "adaptive thread count); default threads: neither n_threads nor a thread variable set",
    ]
    if busy is not None and busy > 0.1:
        notes.append(f"the machine was {100 * busy:.0f}% busy before the run started: timings are noisy")
    env_keys = sorted({k for c in args.configs for k in parse_config(c)[1]} | {"FLATCORE_ADAPTIVE_THREADS"})
    rep = {
        "provenance": provenance(),
        "environment": harness.environment(busy),
        "config": {
            "sizes": sizes,
            "configs": list(args.configs),
            "scenarios": list(args.scenarios),
            "rounds": rounds,
            "repeats": repeats,
            "seconds": seconds,
            "lr": LR,
            "quick": args.quick,
            "foreign_max": args.foreign_max,
            "retries": args.retries,
            "ab": args.ab,
            "workloads": {s: dict(zip(("n", "width", "d"), SIZES[s])) for s in sizes},
        },
        "notes": notes,
        "results": {},
    }
    with tempfile.TemporaryDirectory(prefix="flatcore-contention-") as tmpdir:
        tmp = Path(tmpdir)
        for scen in args.scenarios:
            rep["results"][scen] = {}
            for size in sizes:
                print(f"[{SCENARIOS[scen][2]}: {size}]", file=sys.stderr, flush=True)
                rep["results"][scen][size] = run_cell(rep, scen, size, args, tmp, env_keys)
        if args.ab:
            rep["ab"] = {}
            for size in sizes:
                print(f"[quiet machine, adaptation on and off in one process: {size}]", file=sys.stderr, flush=True)
                res = run_ab(rep, size, args, tmp, env_keys)
                if res:
                    rep["ab"][size] = res
    complete(rep)
    harness.close_environment(rep)
    report.write(rep, render, args.out, args.name)
    return 0


if __name__ == "__main__":
    sys.exit(main())
