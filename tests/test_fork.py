"""Reliability: a process forked after flatcore has started threads (os.fork, multiprocessing's
'fork' start method) works, on one thread, with a warning that names the way out, and gives the
same numbers; 'spawn' keeps the threads. Every scenario runs in a child process under a generous
timeout, so that a hang fails the test instead of the suite."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap

import pytest

pytestmark = pytest.mark.skipif(not hasattr(os, "fork"), reason="needs fork")

HANG_GUARD_S = 180

# Shared by the scripts below: a problem large enough that the core uses two threads on it, the
# results of every kind of call (each with n_threads=2 and with the default), and the number of
# OS threads of this process (Linux; None elsewhere).
COMMON = """
import os, sys, warnings
import numpy as np
import flatcore as fc

X, y = fc.data.regression(2048, 8, seed=0)
net = fc.Network.init(d=8, width=256, seed=0)
Xs, ys = X[:300], y[:300]
small = fc.Network.init(d=8, width=12, seed=1)
u = np.random.default_rng(0).standard_normal(net.n_params)


def results(op=None, n_threads=2):
    out = [
        [fc.loss(net, X, y, n_threads=n_threads)],
        fc.gradient(net, X, y, n_threads=n_threads),
        fc.hvp(net, X, y, u, n_threads=n_threads),
        [fc.hessian_trace(net, X, y, n_threads=n_threads)],
        fc.predict(net, X, n_threads=n_threads),
        fc.hessian(small, Xs, ys, n_threads=n_threads).ravel(),
        fc.top_eigs(small, Xs, ys, k=2, method="dense", n_threads=n_threads).values,
        fc.top_eigs(net, X, y, k=2, method="lanczos", n_threads=n_threads).values,
        [fc.sharpness(net, X, y, n_threads=n_threads)],
        fc.train(net, X, y, lr=0.05, steps=20, n_threads=n_threads).net.params(),
    ]
    if op is not None:  # an operator made before a fork, with the thread count resolved then
        out.append(op.matvec(u))
    return [np.asarray(r, dtype=float) for r in out]


def same(a, b):
    return len(a) == len(b) and all(np.array_equal(p, q) for p, q in zip(a, b))


def os_threads():
    try:
        with open("/proc/self/status") as f:
            return next(int(line.split()[1]) for line in f if line.startswith("Threads:"))
    except OSError:
        return None


def lost_warnings(caught):
    return [w for w in caught if issubclass(w.category, RuntimeWarning) and "forkserver" in str(w.message)]
"""


def run_script(tmp_path, body: str) -> str:
    """Run COMMON + body as a script in its own session; fail on a hang (killing the whole
    session, children included) or a non-zero exit; return stdout."""
    script = tmp_path / "scenario.py"
    script.write_text(COMMON + textwrap.dedent(body))
    proc = subprocess.Popen(
        [sys.executable, str(script)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,
    )
    try:
        out, err = proc.communicate(timeout=HANG_GUARD_S)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        out, err = proc.communicate()
        pytest.fail(f"hung (killed after {HANG_GUARD_S} s)\nstdout:\n{out}\nstderr:\n{err}")
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
    assert proc.returncode == 0, f"exit {proc.returncode}\nstdout:\n{out}\nstderr:\n{err}"
    return out


def test_os_fork_after_threads_runs_on_one_thread(tmp_path):
    """The child of a fork made after multi-threaded calls (and its own forked child) runs every
    kind of call, explicit n_threads=2 and the default alike, an operator made before the fork
    included, on one thread; the numbers are the parent's; one warning per process, naming the
    'spawn' and 'forkserver' start methods."""
    out = run_script(
        tmp_path,
        """
        op = fc.hessian_operator(net, X, y, n_threads=2)
        reference = results(op)
        assert not fc.threads_lost_to_fork()


        def child(depth):
            with warnings.catch_warnings(record=True) as caught:
                warnings.simplefilter("always")
                before = os_threads()
                ok = fc.threads_lost_to_fork()
                ok = ok and same(results(op), reference) and same(results(op, n_threads=None), reference)
                ok = ok and same(results(op, n_threads=2), reference)
                after = os_threads()
            ok = ok and len(lost_warnings(caught)) == 1 and (before is None or after == before)
            if ok and depth == 1:  # a grandchild: also without threads, also warned once
                pid = os.fork()
                if pid == 0:
                    child(2)
                ok = os.waitstatus_to_exitcode(os.waitpid(pid, 0)[1]) == 0
            print(f"child {depth}: {'ok' if ok else 'FAILED'} threads {before} -> {after}", flush=True)
            os._exit(0 if ok else 1)


        pid = os.fork()
        if pid == 0:
            child(1)
        code = os.waitstatus_to_exitcode(os.waitpid(pid, 0)[1])
        # the parent keeps its threads
        assert not fc.threads_lost_to_fork() and same(results(op), reference)
        print("child exit", code)
        sys.exit(code)
        """,
    )
    assert "child 1: ok" in out and "child 2: ok" in out, out


def test_fork_before_any_threads_keeps_them(tmp_path):
    """A child forked before the parent's first multi-threaded call keeps its threads, silently."""
    out = run_script(
        tmp_path,
        """
        reference = results(n_threads=1)
        pid = os.fork()
        if pid == 0:
            with warnings.catch_warnings(record=True) as caught:
                warnings.simplefilter("always")
                before = os_threads()
                ok = not fc.threads_lost_to_fork() and same(results(n_threads=2), reference)
                after = os_threads()
            ok = ok and not lost_warnings(caught) and (before is None or after > before)
            print("child", "ok" if ok else "FAILED", before, after, flush=True)
            os._exit(0 if ok else 1)
        sys.exit(os.waitstatus_to_exitcode(os.waitpid(pid, 0)[1]))
        """,
    )
    assert "child ok" in out, out


POOL = """
import multiprocessing as mp


def work(n_threads):
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        before = os_threads()
        out = results(n_threads=n_threads)
        after = os_threads()
    return out, fc.threads_lost_to_fork(), len(lost_warnings(caught)), before, after


if __name__ == "__main__":
    reference = results()  # threads started in the parent
    with mp.get_context(METHOD).Pool(2) as pool:
        reports = pool.map(work, [2, 2, None, 2])
    for out, lost, n_warnings, before, after in reports:
        assert same(out, reference)
        print(METHOD, lost, n_warnings, before, after)
"""


def test_multiprocessing_fork_pool_after_threads(tmp_path):
    """multiprocessing's 'fork' Pool, started after multi-threaded calls: its workers answer
    with the parent's numbers, on one thread, each warning once."""
    out = run_script(tmp_path, POOL.replace("METHOD", "'fork'"))
    rows = [line.split() for line in out.splitlines() if line.startswith("fork")]
    assert len(rows) == 4, out
    for _, lost, n_warnings, before, after in rows:
        assert lost == "True" and n_warnings in ("0", "1"), out  # a worker warns on its first task
        if before != "None":
            assert before == after, out
    assert 1 <= sum(int(r[2]) for r in rows) <= 2, out  # once per worker process, 2 workers


def test_multiprocessing_spawn_keeps_threads(tmp_path):
    """The 'spawn' start method gives workers that keep their threads, without a warning, and
    the same numbers."""
    out = run_script(tmp_path, POOL.replace("METHOD", "'spawn'"))
    rows = [line.split() for line in out.splitlines() if line.startswith("spawn")]
    assert len(rows) == 4, out
    for _, lost, n_warnings, *_counts in rows:
        assert lost == "False" and n_warnings == "0", out
    # a worker's first multi-threaded call starts OpenMP threads (Linux: counted in /proc)
    if rows[0][3] != "None":
        assert any(int(after) > int(before) for *_, before, after in rows), out
