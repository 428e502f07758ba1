#!/usr/bin/env python3
"""Run the reliability fuzz (tests/reliability/) and print what every call did, by function.

    python tools/reliability_report.py                       # the thorough profile: 500 examples each
    python tools/reliability_report.py --examples 50         # a quicker look
    python tools/reliability_report.py --markdown report.md  # also write the tables as Markdown

It runs ``pytest tests/reliability/test_fuzz.py`` with ``HYPOTHESIS_PROFILE`` and
``FLATCORE_RELIABILITY_REPORT`` set, then the thread and memory checks of
``tests/reliability/workloads.py``, and prints: per public function, the calls tried and how each
ended (returned finite numbers, or raised which exception); crashes, hangs, non-finite results and
other failures; the totals; and the threads and memory figures. Run it where flatcore imports (an
installed flatcore, or ``PYTHONPATH`` pointing at a build). The exit status is pytest's.
"""

from __future__ import annotations

import argparse
import collections
import json
import os
import platform
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
OUTCOMES = ["returned", "ValueError", "TypeError", "MemoryError", "FloatingPointError", "other"]
FAILURES = ["crash", "hang", "non-finite", "failed"]


def run_fuzz(profile: str, examples: int | None, report: Path) -> tuple[int, float]:
    """Run the fuzz; return pytest's exit status and the wall time."""
    env = dict(os.environ, HYPOTHESIS_PROFILE=profile, FLATCORE_RELIABILITY_REPORT=str(report))
    if examples:
        env["FLATCORE_FUZZ_EXAMPLES"] = str(examples)
    cmd = [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "-p", "no:warnings"]
    cmd += ["tests/reliability/test_fuzz.py"]
    began = time.perf_counter()
    status = subprocess.run(cmd, cwd=ROOT, env=env).returncode
    return status, time.perf_counter() - began


def run_workload(which: str) -> dict:
    """The JSON line of one check of tests/reliability/workloads.py (threads or memory)."""
    out = subprocess.run(
        [sys.executable, "-m", "reliability.workloads", which],
        cwd=ROOT / "tests",
        capture_output=True,
        text=True,
        timeout=1200,
    )
    if out.returncode != 0:
        return {"error": out.stderr[-2000:]}
    return json.loads(out.stdout.strip().splitlines()[-1])


def rows(counts: dict) -> list[tuple[str, dict]]:
    """(function, {column: count}) per function, then the total."""
    out, total = [], collections.Counter()
    for name, c in sorted(counts.items()):
        row = collections.Counter()
        for key, k in c.items():
            if key.startswith("FAIL "):  # a failed check: crash, hang, non-finite, or another
                kind = key[5:]
                row[kind if kind in FAILURES else "failed"] += k
            elif key in OUTCOMES:
                row[key] += k
            else:  # a documented exception of its own (sharpness's RuntimeError, a user's error)
                row["other"] += k
        row["calls"] = sum(c.values())
        out.append((name, row))
        total.update(row)
    out.append(("total", total))
    return out


def table(rows_: list[tuple[str, dict]]) -> str:
    """A Markdown table of the rows."""
    cols = ["calls", *OUTCOMES, *FAILURES]
    head = "| function | " + " | ".join(cols) + " |"
    rule = "|---|" + "---:|" * len(cols)
    body = [f"| {name} | " + " | ".join(f"{row.get(c, 0):,}" for c in cols) + " |" for name, row in rows_]
    return "\n".join([head, rule, *body])


def area_rows(rows_):
    """The per-function rows summed by area: flatcore, flatcore.data, flatcore.theory."""
    areas = collections.defaultdict(collections.Counter)
    for name, row in rows_:
        if name == "total":
            continue
        area = "flatcore.theory" if ".theory." in name else "flatcore.data" if ".data." in name else "flatcore"
        areas[area].update(row)
    return [*sorted(areas.items()), rows_[-1]]


def main(argv=None) -> int:
    """Run everything and print the report."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--profile", default="thorough", help="hypothesis profile (default: thorough)")
    parser.add_argument("--examples", type=int, default=None, help="examples per function (default: the profile's)")
    parser.add_argument("--markdown", type=Path, default=None, help="also write the tables to this file")
    parser.add_argument("--json", type=Path, default=None, help="also write the raw counts and failures here")
    args = parser.parse_args(argv)

    with tempfile.TemporaryDirectory() as tmp:
        report = Path(tmp) / "report.json"
        status, seconds = run_fuzz(args.profile, args.examples, report)
        if not report.exists():
            print("the fuzz wrote no report (did it run?)", file=sys.stderr)
            return status or 1
        data = json.loads(report.read_text())
    threads, memory = run_workload("threads"), run_workload("memory")

    per_function = rows(data["counts"])
    total = per_function[-1][1]
    lines = [
        f"# flatcore reliability report ({time.strftime('%Y-%m-%d')})",
        "",
        f"Machine: {platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}; "
        f"profile {args.profile}"
        + (f", {args.examples} examples per function" if args.examples else "")
        + f"; {len(per_function) - 1} public functions, {total['calls']:,} calls in {seconds:.0f} s.",
        "",
        "## By area",
        "",
        table(area_rows(per_function)),
        "",
        "## By function",
        "",
        table(per_function),
        "",
        "## Threads and memory",
        "",
        f"- Threads: {json.dumps(threads)}",
        f"- Memory: {json.dumps(memory)}",
    ]
    if data["failures"]:
        lines += ["", "## Failures", ""]
        for f in data["failures"][:50]:
            lines += [f"- **{f['entry']}** ({f['kind']}): `{f['call'][:300]}`", f"  {f['detail'][:500]}"]
    text = "\n".join(lines) + "\n"
    print(text)
    if args.markdown:
        args.markdown.write_text(text)
    if args.json:
        args.json.write_text(json.dumps({**data, "threads": threads, "memory": memory}, indent=1))
    return status


if __name__ == "__main__":
    sys.exit(main())
