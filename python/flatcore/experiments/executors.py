"""Where runs execute: a local process pool (the default) or a Dask cluster (:mod:`.dask_executor`).

An executor takes :class:`~flatcore.experiments.worker.Task` objects and yields their records
(:func:`~flatcore.experiments.worker.run_task`) as they finish, in any order. It owns its workers:
closing it (or leaving the ``for`` loop early, or Ctrl-C) stops them. A run whose worker dies (killed,
out of memory, a crash) is given to a fresh worker; after ``max_attempts`` deaths it comes back as a
failed record that says so. The results do not depend on the executor or on how many workers it
has: a run's numbers depend only on its settings.
"""

from __future__ import annotations

import collections
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterable, Iterator
from multiprocessing.connection import Connection, wait
from typing import Any, Optional, cast

from .worker import Task, failed_record, run_task

__all__ = ["Executor", "LocalExecutor", "available_cores"]


def available_cores() -> int:
    """The cores this process may run on (its CPU affinity where the OS tells, else the CPU count)."""
    try:
        return len(os.sched_getaffinity(0))
    except (AttributeError, OSError):  # pragma: no cover - not Linux
        return os.cpu_count() or 1


class Executor:
    """The interface of an executor: :meth:`map_unordered`, :meth:`close`, a context manager."""

    #: How many runs execute at once.
    workers: int = 1

    def map_unordered(self, tasks: Iterable[Task]) -> Iterator[dict[str, Any]]:  # pragma: no cover - interface
        """Execute the tasks, yielding each record as it finishes."""
        raise NotImplementedError

    def close(self) -> None:  # pragma: no cover - interface
        """Stop the workers (idempotent)."""

    def __enter__(self):
        return self

    def __exit__(self, *exc) -> None:
        self.close()


def _watch_parent(parent: int) -> None:
    # A worker never outlives its driver: if the driver is killed (kill -9 included, which no
    # handler sees), the worker is re-parented and ends itself within a second, even in the
    # middle of a long run (this thread runs while the run's C++ loop holds no GIL).
    while True:
        time.sleep(0.5)
        if os.getppid() != parent:
            os._exit(70)


def _worker_main(conn, parent: int) -> None:
    """A pool worker: run tasks received on ``conn`` until it closes or sends None."""
    # Ctrl-C in a terminal reaches the whole process group; the driver decides what stops.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    threading.Thread(target=_watch_parent, args=(parent,), daemon=True).start()
    while True:
        try:
            task = conn.recv()
        except (EOFError, OSError):
            return
        if task is None:
            return
        record = run_task(task)
        try:
            conn.send(record)
        except (BrokenPipeError, OSError):
            return


# What a worker interpreter runs (python -c): only the standard library until it has the driver's
# sys.path, then the worker loop. The user's script is never imported again in the worker, so a
# study started from a script without an ``if __name__ == "__main__":`` guard runs as it should.
_BOOTSTRAP = (
    "import signal, sys\n"
    "signal.signal(signal.SIGINT, signal.SIG_IGN)\n"  # from the start: Ctrl-C is the driver's to handle
    "from multiprocessing.connection import Connection\n"
    "conn = Connection(int(sys.argv[1]))\n"
    "sys.path[:0] = [p for p in conn.recv() if p not in sys.path]\n"
    "from flatcore.experiments.executors import _worker_main\n"
    "_worker_main(conn, int(sys.argv[2]))\n"
)


def _describe_exit(code: Optional[int]) -> str:
    if code is not None and code < 0:
        try:
            return f"killed by {signal.Signals(-code).name}"
        except ValueError:
            return f"killed by signal {-code}"
    return f"exit code {code}"


class LocalExecutor(Executor):
    """A pool of worker processes on this machine.

    Each worker is a fresh Python interpreter started by the pool (not a fork of the driver and not
    a :mod:`multiprocessing` child), so the pool behaves the same whatever the driver did before
    (threads, a fork, the multiprocessing start method) and never re-imports the driver's script.

    Parameters
    ----------
    workers : int, optional
        Runs at once (default: the available cores divided by ``threads_per_run``).
    threads_per_run : int, optional
        Threads each run's computations use (default 1; ``train`` may use fewer when the machine
        is busy). ``workers * threads_per_run`` should not exceed the cores.
    max_attempts : int
        How many times a run may lose its worker before it is recorded as failed (default 2).
    """

    def __init__(self, workers: Optional[int] = None, threads_per_run: Optional[int] = None, *, max_attempts: int = 2):
        threads = 1 if threads_per_run is None else threads_per_run
        if isinstance(threads, bool) or not isinstance(threads, int) or threads < 1:
            raise ValueError(f"threads_per_run must be a positive integer, got {threads_per_run!r}")
        if workers is None:
            workers = max(1, available_cores() // threads)
        if isinstance(workers, bool) or not isinstance(workers, int) or workers < 1:
            raise ValueError(f"workers must be a positive integer, got {workers!r}")
        if isinstance(max_attempts, bool) or not isinstance(max_attempts, int) or max_attempts < 1:
            raise ValueError(f"max_attempts must be a positive integer, got {max_attempts!r}")
        self.workers = workers
        self.threads_per_run = threads
        self.max_attempts = max_attempts
        self._processes: dict[Any, subprocess.Popen] = {}  # connection -> worker process

    def _start_worker(self):
        ours, theirs = socket.socketpair()
        try:
            process = subprocess.Popen(
                [sys.executable, "-c", _BOOTSTRAP, str(theirs.fileno()), str(os.getpid())],
                pass_fds=(theirs.fileno(),),
                stdin=subprocess.DEVNULL,
            )
        finally:
            theirs.close()
        conn = Connection(ours.detach())
        conn.send(list(sys.path))
        self._processes[conn] = process
        return conn

    def _stop_worker(self, conn, *, kill: bool) -> None:
        process = self._processes.pop(conn)
        if kill:
            process.kill()
        else:
            try:
                conn.send(None)
            except OSError:
                pass
        conn.close()
        try:
            process.wait(timeout=None if kill else 5.0)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()

    def map_unordered(self, tasks: Iterable[Task]) -> Iterator[dict[str, Any]]:
        """Execute ``tasks`` on the pool, yielding each record as it finishes (see the class)."""
        queue = collections.deque(Task(t.run_id, t.config, self.threads_per_run) for t in tasks)
        attempts: dict[str, int] = collections.Counter()
        busy: dict[Any, Task] = {}  # connection -> its task
        idle: list = []
        clean = False
        try:
            while queue or busy:
                while queue and (idle or len(self._processes) < self.workers):
                    fresh = not idle
                    conn = idle.pop() if idle else self._start_worker()
                    task = queue.popleft()
                    try:
                        conn.send(task)
                    except OSError:
                        # The worker died before taking the run: killed while idle between runs (the
                        # run goes to another worker), or at its start (that counts as an attempt).
                        process = self._processes[conn]
                        self._stop_worker(conn, kill=True)
                        if fresh:
                            attempts[task.run_id] += 1
                            if attempts[task.run_id] >= self.max_attempts:
                                yield _lost(
                                    task, f"its worker process died on starting ({_describe_exit(process.returncode)})"
                                )
                                continue
                        queue.appendleft(task)
                        continue
                    busy[conn] = task
                for ready in wait(list(busy)):
                    conn = cast(Connection, ready)
                    task = busy.pop(conn)
                    try:
                        record = conn.recv()
                    except (EOFError, OSError):  # the worker died during the run
                        process = self._processes[conn]
                        self._stop_worker(conn, kill=True)
                        how = _describe_exit(process.returncode)
                        attempts[task.run_id] += 1
                        if attempts[task.run_id] < self.max_attempts:
                            queue.appendleft(task)
                        else:
                            yield _lost(
                                task,
                                f"its worker process died {attempts[task.run_id]} time(s) during the run "
                                f"(last: {how}); out of memory, or a crash",
                            )
                        continue
                    idle.append(conn)
                    yield record
            clean = True
        finally:
            if not clean:  # interrupted, or the consumer stopped early: stop the runs in flight now
                for conn in list(self._processes):
                    self._stop_worker(conn, kill=True)

    def close(self) -> None:
        """Stop every worker (idle ones leave cleanly)."""
        for conn in list(self._processes):
            self._stop_worker(conn, kill=False)

    def __repr__(self) -> str:
        return f"LocalExecutor(workers={self.workers}, threads_per_run={self.threads_per_run})"


def _lost(task: Task, why: str) -> dict[str, Any]:
    """The failed record of a run whose worker was lost."""
    return failed_record(task, f"WorkerLost: {why}")
