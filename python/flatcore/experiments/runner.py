"""Run a study into a store: skip what is stored, execute the rest, record each run as it finishes."""

from __future__ import annotations

import contextlib
import os
import time
from dataclasses import dataclass
from typing import Any, Optional

from .executors import Executor, LocalExecutor
from .store import Store, StoreError
from .study import Study
from .worker import Task

__all__ = ["run_study", "RunSummary"]


@dataclass
class RunSummary:
    """What :func:`run_study` did.

    Attributes
    ----------
    study : str
    db : str
        The store's path.
    total : int
        Runs the study lists.
    skipped : int
        Runs found finished in the store (and failed ones, without ``retry_failed``).
    skipped_failed : int
        Of the skipped runs, those stored as failed (``retry_failed`` runs them again).
    done, failed : int
        Runs executed in this call that finished / failed.
    seconds : float
        Wall time of the call.
    interrupted : bool
        Whether Ctrl-C stopped it (the finished runs are stored; run again to go on).
    """

    study: str
    db: str
    total: int
    skipped: int
    skipped_failed: int = 0
    done: int = 0
    failed: int = 0
    seconds: float = 0.0
    interrupted: bool = False

    @property
    def remaining(self) -> int:
        """Runs neither stored before nor executed now."""
        return self.total - self.skipped - self.done - self.failed

    def __str__(self) -> str:
        stored = f"{self.skipped} already stored"
        if self.skipped_failed:
            stored += (
                f" ({self.skipped_failed} of them failed: flatcore status {self.db} shows why, "
                "--retry-failed runs them again)"
            )
        parts = [f"{self.study}: {self.total} runs", stored, f"{self.done} done now"]
        if self.failed:
            parts.append(f"{self.failed} failed (flatcore status {self.db} shows why; --retry-failed runs them again)")
        if self.remaining:
            parts.append(f"{self.remaining} left (run again to resume)")
        text = ", ".join(parts) + f"; {self.seconds:.1f} s; store: {self.db}"
        return ("interrupted: " if self.interrupted else "") + text


@contextlib.contextmanager
def _driver_lock(db: str):
    """One driver per store at a time: a second one fails at once instead of duplicating work."""
    try:
        import fcntl
    except ImportError:  # pragma: no cover - Windows: SQLite's own locking still keeps the store whole
        yield
        return
    path = os.path.abspath(db) + ".lock"
    try:
        fh = open(path, "a+")
    except OSError as exc:
        folder = os.path.dirname(path)
        if not os.path.isdir(folder):
            raise StoreError(f"cannot open {db}: the folder {folder} does not exist") from None
        raise StoreError(
            f"cannot open {db}: cannot create {path} next to it ({exc.strerror}); choose a writable folder with --db"
        ) from None
    try:
        try:
            fcntl.flock(fh.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            fh.seek(0)
            holder = fh.read().strip() or "unknown"
            raise StoreError(
                f"{db} is in use by another flatcore run (process {holder}); wait for it to finish, "
                "or give another --db"
            ) from None
        fh.seek(0)
        fh.truncate()
        fh.write(str(os.getpid()))
        fh.flush()
        yield
    finally:
        fh.close()  # releases the lock; the file stays (removing it would race with another driver)


def _progress_bar(total: int, enabled: bool, name: str):
    if not enabled:
        return None
    from tqdm.auto import tqdm

    return tqdm(total=total, desc=name, unit="run", dynamic_ncols=True)


def run_study(
    study: Study,
    db="flatcore.db",
    *,
    workers: Optional[int] = None,
    threads_per_run: Optional[int] = None,
    client: Any = None,
    executor: Optional[Executor] = None,
    retry_failed: bool = False,
    progress: bool = True,
) -> RunSummary:
    """Run every run of ``study`` that the store ``db`` does not hold yet.

    Each finished run is written in its own transaction as soon as it comes back, so that killing
    the driver at any moment loses only the runs in flight; running the study again goes on where
    it stopped. A run that raises is stored as failed with its error, and the sweep goes on;
    ``retry_failed=True`` runs those again.

    Parameters
    ----------
    study : Study
    db : str or os.PathLike
        The SQLite store (created when missing).
    workers, threads_per_run : int, optional
        For the local pool (:class:`~flatcore.experiments.LocalExecutor`): runs at once (default
        one per core) and threads per run (default 1; also on a Dask cluster). ``workers`` with a
        ``client`` is refused: the cluster's workers run the study.
    client : dask.distributed.Client or str, optional
        Run on a Dask cluster instead: a client, or a scheduler address such as
        ``"tcp://host:8786"`` (needs the ``dask`` extra).
    executor : Executor, optional
        Any executor (overrides ``workers`` and ``client``); closed by the caller.
    retry_failed : bool
        Run the stored failures again.
    progress : bool
        Show a progress bar (runs done of those to do, failures, time left).

    Returns
    -------
    RunSummary
        Ctrl-C stops the workers, keeps what finished and returns a summary with
        ``interrupted=True`` (the CLI then exits with status 130).
    """
    if not isinstance(study, Study):
        raise TypeError(f"study must be a flatcore.Study, got {type(study).__name__}")
    if workers is not None and client is not None and executor is None:
        raise ValueError(
            "workers sets the size of the local pool; on a Dask cluster the cluster's own workers run "
            "the study (start more of them, e.g. `dask worker ADDRESS --nworkers N`), so leave workers out"
        )
    db = os.fspath(db)
    start = time.perf_counter()
    with _driver_lock(db), Store(db) as store:
        runs = study.runs
        store.register(study.name, study.as_dict(), [(r.run_id, r.canonical_json()) for r in runs])
        stored = store.statuses(r.run_id for r in runs)
        todo = [r for r in runs if r.run_id not in stored or (retry_failed and stored[r.run_id] == "failed")]
        summary = RunSummary(study.name, db, total=len(runs), skipped=len(runs) - len(todo))
        if not retry_failed:
            summary.skipped_failed = sum(1 for status in stored.values() if status == "failed")
        if not todo:
            summary.seconds = time.perf_counter() - start
            return summary
        owned = executor is None
        if executor is None:
            if client is not None:
                from .dask_executor import DaskExecutor

                executor = DaskExecutor(client, threads_per_run=threads_per_run)
            else:
                executor = LocalExecutor(workers, threads_per_run)
                executor.workers = min(executor.workers, len(todo))  # no idle processes to start
        bar = _progress_bar(len(todo), progress, study.name)
        tasks = [Task(r.run_id, r.as_dict(), threads_per_run or 1) for r in todo]
        records = executor.map_unordered(tasks)
        try:
            for record in records:
                store.record(record)
                if record["status"] == "done":
                    summary.done += 1
                else:
                    summary.failed += 1
                if bar is not None:
                    bar.update(1)
                    if summary.failed:
                        bar.set_postfix(failed=summary.failed, refresh=False)
        except KeyboardInterrupt:
            summary.interrupted = True
        finally:
            # Ctrl-C while a record was being stored leaves the generator paused at its yield:
            # closing it stops the runs in flight now (executor.close() would wait for them).
            close = getattr(records, "close", None)
            if close is not None:
                close()
            if bar is not None:
                bar.close()
            if owned:
                executor.close()
    summary.seconds = time.perf_counter() - start
    return summary
