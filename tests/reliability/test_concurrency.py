"""Threads and memory (QUALITY.md, reliability): calls from several Python threads at once give
the results of the same calls made one after the other, bit for bit, and repeated calls, good and
failing, do not grow the process's memory.

Both run in a child process (reliability/workloads.py), so that a crash or a hang is a failed test
with the child's last words. Forked children and Ctrl-C are tested in tests/test_fork.py and
tests/test_interrupt.py.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

TESTS = Path(__file__).resolve().parent.parent
# What the 2,000 repeated calls may add after the warm-up of 1,000. The resident set: allocator
# slack, not a leak (each call's buffers in the core are kilobytes, so a leak there adds megabytes).
# Python and NumPy objects (tracemalloc): caches filling up, about 15 KiB in a fresh process; a
# leak of one kilobyte in each call of one function (57 of the 2,000) would add 57 KiB.
RSS_GROWTH_LIMIT = 4 * 2**20
TRACED_GROWTH_LIMIT = 48 * 2**10


def run_child(*args, timeout=600):
    out = subprocess.run(
        [sys.executable, "-m", "reliability.workloads", *args],
        capture_output=True,
        text=True,
        timeout=timeout,
        cwd=str(TESTS),
    )
    assert out.returncode == 0, f"the child failed (status {out.returncode}):\n{out.stderr[-3000:]}"
    return json.loads(out.stdout.strip().splitlines()[-1])


def test_four_threads_match_serial_calls():
    """Four Python threads, each running every kind of call (numerics, eigensolvers, training with
    sharpness tracking, theory, data) five times in its own order on shared arrays, get exactly
    the serial results."""
    report = run_child("threads")
    assert not report["hung"], report
    assert not report["errors"], report["errors"]
    assert not report["mismatches"], report["mismatches"]
    assert report["calls"] == 4 * 5 * report["functions"]


@pytest.mark.skipif(not Path("/proc/self/statm").exists(), reason="reads the resident set size from /proc")
def test_repeated_calls_do_not_grow_memory():
    """2,000 calls (every kind, and failing ones: bad shapes, overflow, refused sizes) after a
    warm-up of 1,000: the resident set grows by less than 4 MiB, the memory held by Python and
    NumPy objects by less than 48 KiB."""
    report = run_child("memory", "2000")
    assert report["traced_growth"] < TRACED_GROWTH_LIMIT, (
        f"Python and NumPy memory grew by {report['traced_growth'] / 2**10:.1f} KiB over {report['calls']} calls"
    )
    if os.environ.get("FLATCORE_UNDER_SANITIZER"):
        return  # AddressSanitizer keeps freed memory in quarantine: the resident set says nothing
    assert report["growth"] < RSS_GROWTH_LIMIT, (
        f"RSS grew by {report['growth'] / 2**20:.1f} MiB over {report['calls']} calls "
        f"({report['rss_before'] / 2**20:.1f} -> {report['rss_after'] / 2**20:.1f} MiB)"
    )
