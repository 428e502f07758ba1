"""Run a study on a Dask cluster: :class:`DaskExecutor` and :func:`connect`.

Dask is an optional extra (``pip install "flatcore[dask]"``): this module imports it only when an
executor or a connection is made, so that flatcore works without it. Each run is one Dask task
that calls :func:`~flatcore.experiments.worker.run_task` on a worker and sends its record back to
the driver, which alone writes the store. The scheduler and every worker need flatcore installed,
the same version (and build) as the driver. The records are those of the local pool, bit for bit:
a run's numbers depend only on its settings.
"""

from __future__ import annotations

import asyncio
import collections
import concurrent.futures
import numbers
import time
import uuid
import warnings
from collections.abc import Iterable, Iterator
from typing import Any, Optional

from .executors import Executor, _lost
from .worker import Task, failed_record, run_task

__all__ = ["DaskExecutor", "DaskConnectionError", "DaskWorkerError", "connect"]

_INSTALL = 'pip install "flatcore[dask]" (or pip install "dask[distributed]")'

#: How often the in-flight limit looks at the cluster's size again (workers may join or leave).
_RESIZE_SECONDS = 5.0


class DaskConnectionError(ConnectionError):
    """No Dask scheduler answers at the address given, or the connection to it was lost."""


class DaskWorkerError(RuntimeError):
    """A Dask worker (or the scheduler) cannot import flatcore: it is not installed there."""


def _flatcore_probe():
    """A function that says which flatcore a process has: its version, or "!" and the error.

    Defined here, inside a function, so that Dask ships it by value: a process without flatcore
    can run it (one that gets a function of flatcore by reference fails to read the message).
    """

    def probe() -> str:
        try:
            import flatcore
        except Exception as exc:
            return f"! {type(exc).__name__}: {exc}"
        return str(flatcore.__version__)

    return probe


def _distributed():
    """The ``distributed`` package, or an ImportError that says how to install it."""
    try:
        import distributed
    except ImportError as exc:
        raise ImportError(
            f"running on a Dask cluster needs dask.distributed, which cannot be imported ({exc}): {_INSTALL}",
            name="distributed",
        ) from exc
    return distributed


def _check_address(address) -> str:
    """``address`` stripped, or a ValueError when it is not a scheduler address."""
    if not isinstance(address, str) or not address.strip():
        raise ValueError(f"a Dask scheduler address is a string such as 'tcp://host:8786', got {address!r}")
    address = address.strip()
    from distributed.comm.addressing import parse_address, parse_host_port
    from distributed.comm.registry import get_backend

    try:
        scheme, location = parse_address(address)
        if scheme in ("http", "https"):
            raise ValueError(
                "that is a web address (the dashboard's?); the scheduler listens on tcp://host:8786 by default"
            )
        get_backend(scheme)
        if scheme in ("tcp", "tls", "ws", "wss"):
            parse_host_port(location)
    except ValueError as exc:
        raise ValueError(
            f"not a Dask scheduler address: {address!r} ({exc}); expected tcp://host:port, e.g. tcp://10.0.0.5:8786"
        ) from None
    return address


def connect(address: str, timeout: float = 10.0):
    """A client of the Dask scheduler at ``address``, or a clear error within ``timeout`` seconds.

    Parameters
    ----------
    address : str
        The scheduler's address, as ``dask scheduler`` prints it: ``tcp://host:8786``.
    timeout : float
        Seconds to keep trying to connect (default 10).

    Returns
    -------
    dask.distributed.Client
        Not set as Dask's default client; close it when done.

    Raises
    ------
    ImportError
        Dask is not installed (``pip install "flatcore[dask]"``).
    ValueError
        ``address`` is not a scheduler address.
    DaskConnectionError
        (a ConnectionError) no scheduler answered at ``address`` in time; the message names the
        address and what to check.
    """
    distributed = _distributed()
    address = _check_address(address)
    if not timeout > 0:
        raise ValueError(f"timeout must be > 0 seconds, got {timeout!r}")
    try:
        return distributed.Client(address, timeout=timeout, set_as_default=False)
    except (OSError, asyncio.TimeoutError) as exc:
        detail = str(exc) or type(exc).__name__
        cause = exc.__cause__ or exc.__context__
        if cause is not None and str(cause) and str(cause) not in detail:
            detail += f"; last error: {cause}"
        raise DaskConnectionError(
            f"cannot reach a Dask scheduler at {address} within {timeout:g} s ({detail}). Check that the "
            "scheduler is running (`dask scheduler` prints its address), that the host and port are right "
            "(8786 unless it was started with --port), and that this machine can reach it (firewall, tunnel)"
        ) from None


class DaskExecutor(Executor):
    """Runs on a Dask cluster: one Dask task per run, records streamed back as they finish.

    Parameters
    ----------
    client_or_address : dask.distributed.Client or str
        A connected client (left open by :meth:`close`), or a scheduler address such as
        ``"tcp://host:8786"`` (see :func:`connect`; the client made then is closed by :meth:`close`).
    threads_per_run : int, optional
        Threads each run's computations use on its worker (default 1). Each worker thread executes
        one run at a time, so start workers with ``--nthreads 1`` and as many worker processes per
        machine as its cores divided by ``threads_per_run``.
    max_attempts : int
        How many times a run may lose its worker before it is recorded as failed (default 2). Dask
        itself first moves the runs of a dead worker to others, up to its
        ``distributed.scheduler.allowed-failures``; a run it gives up on (KilledWorker) is
        submitted again here, as is a run cancelled on the cluster.
    batch_size : int, optional
        The most runs submitted to the scheduler and not yet returned (default: 4 times the
        cluster's worker threads, at least 8, following the cluster as workers join or leave), so
        that a large study does not flood the scheduler.
    timeout : float
        Seconds to wait for the scheduler when given an address (default 10).

    Raises
    ------
    ImportError
        Dask is not installed (``pip install "flatcore[dask]"``).
    DaskConnectionError
        No scheduler answers at the address.
    DaskWorkerError
        The scheduler or a worker cannot import flatcore. Workers are checked when the executor
        starts and as they join; one running another version of flatcore draws a RuntimeWarning.

    Notes
    -----
    Runs waiting for a worker wait as long as it takes: a cluster without workers (a batch job
    still queued) holds them until workers join. Leaving the ``for`` loop over
    :meth:`map_unordered` early, Ctrl-C, or :meth:`close` cancel the runs not finished; a run
    already executing on a worker still finishes there (Dask does not stop a running task), and its
    record is dropped. Losing the connection to the scheduler raises :class:`DaskConnectionError`.
    """

    def __init__(
        self,
        client_or_address,
        threads_per_run: Optional[int] = None,
        *,
        max_attempts: int = 2,
        batch_size: Optional[int] = None,
        timeout: float = 10.0,
    ):
        distributed = _distributed()
        threads = 1 if threads_per_run is None else _positive_int("threads_per_run", threads_per_run)
        max_attempts = _positive_int("max_attempts", max_attempts)
        batch_size = None if batch_size is None else _positive_int("batch_size", batch_size)
        if isinstance(client_or_address, distributed.Client):
            if client_or_address.asynchronous:
                raise ValueError("DaskExecutor needs a synchronous dask.distributed.Client (asynchronous=False)")
            if client_or_address.status in ("closing", "closed"):
                raise ValueError("the dask.distributed.Client given is closed")
            self.client = client_or_address
            self._owns_client = False
        elif isinstance(client_or_address, str):
            self.client = connect(client_or_address, timeout=timeout)
            self._owns_client = True
        else:
            raise TypeError(
                "client_or_address must be a dask.distributed.Client or a scheduler address such as "
                f"'tcp://host:8786', got {type(client_or_address).__name__}"
            )
        #: The scheduler's address (for messages).
        self.address: Optional[str] = getattr(getattr(self.client, "scheduler", None), "address", None)
        self.threads_per_run = threads
        self.max_attempts = max_attempts
        self.batch_size = batch_size
        #: Runs submitted again after losing their worker (or being cancelled on the cluster).
        self.resubmitted = 0
        self._distributed = distributed
        self._session = uuid.uuid4().hex[:8]  # keys unique to this executor: never shared, never cached
        self._futures: dict[str, tuple[Any, Task, int]] = {}  # key -> (future, task, attempt)
        self._sized_at = -float("inf")
        self.workers = 0
        self._checked: set[str] = set()  # workers known to have flatcore
        self._closed = False
        try:
            self._check_scheduler()
            self._resize()
        except BaseException:
            self.close()
            raise

    # -- the cluster's size --
    def _resize(self) -> None:
        self._sized_at = time.monotonic()
        try:
            nthreads = self.client.nthreads()
        except Exception:  # the scheduler is busy or going away: keep the last size
            return
        self.workers = sum(nthreads.values())
        new = [worker for worker in nthreads if worker not in self._checked]
        if new:
            self._check_workers(new)

    # -- flatcore where the runs execute --
    def _check_scheduler(self) -> None:
        try:
            found = self.client.run_on_scheduler(_flatcore_probe())
        except Exception:  # the scheduler does not run functions (distributed.scheduler.pickle off)
            return
        if isinstance(found, str) and found.startswith("!"):
            raise DaskWorkerError(
                f"flatcore cannot be imported on the Dask scheduler at {self.address} ({found[2:]}), which reads "
                f"the runs it hands out: install flatcore {_version()} in the scheduler's environment too"
            )

    def _check_workers(self, workers: list[str]) -> None:
        try:
            found = self.client.run(_flatcore_probe(), workers=workers)
        except Exception:  # a worker left meanwhile: the next look checks the others
            return
        self._checked.update(found)
        missing = sorted(worker for worker, version in found.items() if version.startswith("!"))
        if missing:
            named = ", ".join(missing[:3]) + (f" and {len(missing) - 3} more" if len(missing) > 3 else "")
            raise DaskWorkerError(
                f"flatcore cannot be imported on {len(missing)} Dask worker(s), {named} "
                f"({found[missing[0]][2:]}): install flatcore {_version()}, the driver's version, in the "
                "environment the workers run in, and start them again"
            )
        other = sorted({version for version in found.values() if version != _version()})
        if other:
            warnings.warn(
                f"Dask workers run flatcore {', '.join(other)} and this driver {_version()}: install the same "
                "version everywhere (each run's record says which version ran it)",
                RuntimeWarning,
                stacklevel=2,
            )

    def _limit(self) -> int:
        if time.monotonic() - self._sized_at > _RESIZE_SECONDS:
            self._resize()  # and check the workers that joined
        return self.batch_size if self.batch_size is not None else max(8, 4 * self.workers)

    # -- submitting --
    def _key(self, task: Task, attempt: int) -> str:
        return f"flatcore-run-{task.run_id}-{attempt}-{self._session}"

    def _submit(self, queue: collections.deque, attempts: collections.Counter, completed) -> None:
        room = self._limit() - len(self._futures)
        if room <= 0 or not queue:
            return
        batch = [queue.popleft() for _ in range(min(room, len(queue)))]
        keys = [self._key(task, attempts[task.run_id]) for task in batch]
        futures = self.client.map(run_task, batch, key=keys, pure=False)
        for key, future, task in zip(keys, futures, batch):
            self._futures[key] = (future, task, attempts[task.run_id])
            completed.add(future)

    def _connection_lost(self) -> DaskConnectionError:
        where = f" at {self.address}" if self.address else ""
        return DaskConnectionError(
            f"lost the connection to the Dask scheduler{where}; the runs that finished are stored: "
            "run the study again to go on"
        )

    # -- the interface --
    def map_unordered(self, tasks: Iterable[Task]) -> Iterator[dict[str, Any]]:
        """Execute ``tasks`` on the cluster, yielding each record as it finishes (see the class)."""
        if self.client.status in ("closing", "closed"):
            raise RuntimeError("the Dask client of this executor is closed")
        distributed = self._distributed
        queue = collections.deque(Task(t.run_id, t.config, self.threads_per_run) for t in tasks)
        attempts: collections.Counter = collections.Counter()  # run id -> workers lost
        completed = distributed.as_completed(loop=self.client.loop)
        clean = False
        try:
            self._submit(queue, attempts, completed)
            for batch in completed.batches():
                for future in batch:
                    entry = self._futures.pop(future.key, None)
                    if entry is None:
                        continue  # cancelled by close() from elsewhere
                    _, task, _attempt = entry
                    record, lost = self._outcome(future, task)
                    future.release()
                    if lost is not None:
                        if self.client.status != "running":
                            raise self._connection_lost()
                        attempts[task.run_id] += 1
                        if attempts[task.run_id] < self.max_attempts:
                            queue.appendleft(task)
                            self.resubmitted += 1
                        else:
                            record = _lost(
                                task,
                                f"its Dask worker was lost {attempts[task.run_id]} time(s) during the run "
                                f"(last: {lost}); out of memory, a crash, or the worker was stopped",
                            )
                    if record is not None:
                        yield record
                self._submit(queue, attempts, completed)
            clean = True
        finally:
            if not clean:  # interrupted, failed, or the consumer stopped early: cancel what is left
                self._cancel()

    def _outcome(self, future, task: Task) -> tuple[Optional[dict[str, Any]], Optional[str]]:
        """(record, None) for a run that came back, (None, why) for one whose worker was lost."""
        distributed = self._distributed
        gone = (concurrent.futures.CancelledError, OSError, asyncio.TimeoutError)
        if future.status == "cancelled":
            return None, "cancelled on the cluster"
        if future.status == "finished":
            try:
                return future.result(), None
            except gone as exc:  # its data went with its worker
                return None, f"{type(exc).__name__}: {_first_line(exc)}"
        try:
            raised = future.exception()
        except gone as exc:
            return None, f"{type(exc).__name__}: {_first_line(exc)}"
        if isinstance(raised, (distributed.KilledWorker, OSError)):  # OSError: a comm error
            return None, f"{type(raised).__name__}: {_first_line(raised)}"
        # run_task does not raise: this failed around it (e.g. the scheduler could not load flatcore).
        error = f"{type(raised).__name__}: {raised}"
        if isinstance(raised, ImportError) or "deserializ" in error:
            error += " (is flatcore installed on the Dask scheduler and every worker, the same version as here?)"
        return failed_record(task, error), None

    def _cancel(self) -> None:
        futures = [future for future, _, _ in self._futures.values()]
        self._futures.clear()
        if futures and self.client.status == "running":
            try:
                self.client.cancel(futures)
            except Exception:  # the scheduler is going away: its tasks go with it
                pass

    def close(self) -> None:
        """Cancel the runs in flight; close the client if this executor made it (idempotent)."""
        self._cancel()
        if self._owns_client and not self._closed:
            self.client.close()
        self._closed = True

    def __repr__(self) -> str:
        return f"DaskExecutor({self.address or '?'}, workers={self.workers}, threads_per_run={self.threads_per_run})"


def _version() -> str:
    from .. import __version__

    return __version__


def _positive_int(name: str, value) -> int:
    if isinstance(value, bool) or not isinstance(value, numbers.Integral) or value < 1:
        raise ValueError(f"{name} must be a positive integer, got {value!r}")
    return int(value)


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__
