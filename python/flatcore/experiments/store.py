"""The store: one SQLite file holding studies, their runs' settings and every finished run.

Only the driving process writes, one transaction per finished run, in WAL mode: a driver killed
at any moment (kill -9 included) leaves every finished run whole and loses only the runs in
flight. A finished run is never overwritten and never stored twice (its id is the primary key);
a failed one is replaced when it is run again. The store keeps data and answers queries; it never
computes.

Tables: ``meta`` (schema version), ``studies`` (name, declaration as JSON), ``study_runs`` (which
runs a study lists, in order), ``configs`` (run id -> settings as JSON) and ``results`` (status,
error, metrics as JSON, history as float64 bytes, final network as bytes, version, timing).
"""

from __future__ import annotations

import json
import os
import sqlite3
import time
import urllib.parse
from collections.abc import Iterable, Mapping
from typing import Any, Optional

import numpy as np

__all__ = ["Store", "StoreError", "SCHEMA_VERSION"]

SCHEMA_VERSION = 1
_APPLICATION_ID = 0x666C6174  # "flat": marks the file as a flatcore store

_SCHEMA = """
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS studies (
    name TEXT PRIMARY KEY,
    declaration TEXT NOT NULL,
    created REAL NOT NULL,
    updated REAL NOT NULL
);
CREATE TABLE IF NOT EXISTS configs (run_id TEXT PRIMARY KEY, config TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS study_runs (
    study TEXT NOT NULL REFERENCES studies(name),
    run_id TEXT NOT NULL REFERENCES configs(run_id),
    position INTEGER NOT NULL,
    PRIMARY KEY (study, run_id)
);
CREATE TABLE IF NOT EXISTS results (
    run_id TEXT PRIMARY KEY REFERENCES configs(run_id),
    status TEXT NOT NULL CHECK (status IN ('done', 'failed')),
    error TEXT,
    metrics TEXT,
    history_columns TEXT,
    history BLOB,
    network BLOB,
    version TEXT,
    started REAL,
    wall_seconds REAL,
    threads INTEGER,
    attempts INTEGER NOT NULL DEFAULT 1
);
"""


class StoreError(RuntimeError):
    """The store cannot be opened or written (locked, corrupt, read-only, not a flatcore store).

    The file is never modified when this is raised on opening.
    """


def _describe(path: str, exc: sqlite3.Error, writing: bool) -> str:
    text = str(exc)
    if "locked" in text or "busy" in text:
        return f"{path} is locked by another process (another flatcore run writing to it?); wait or use another --db"
    if "readonly" in text or "read-only" in text:
        return f"{path} cannot be written (a read-only file or folder); choose a writable path with --db"
    if "not a database" in text or "malformed" in text or "corrupt" in text:
        return f"{path} is not a readable SQLite database ({text}); it was left untouched"
    if "unable to open" in text:
        where = os.path.dirname(os.path.abspath(path))
        why = "the folder does not exist" if not os.path.isdir(where) else "no permission to create or open it"
        return f"cannot open {path}: {why}" if writing else f"cannot open {path} ({text})"
    return f"{path}: {text}"


class Store:
    """A flatcore store at ``path`` (created when missing unless ``readonly``).

    Parameters
    ----------
    path : str or os.PathLike
    readonly : bool
        Open for reading only (``flatcore status``, :func:`flatcore.load`); the file must exist.

    Raises
    ------
    StoreError
        A locked, corrupt or read-only database, a file that is not a flatcore store, or a store
        written by a newer flatcore. The file is left as it was.
    """

    def __init__(self, path, *, readonly: bool = False):
        self.path = os.fspath(path)
        self.readonly = readonly
        if readonly and not os.path.exists(self.path):
            raise StoreError(f"{self.path} does not exist")
        if not readonly and os.path.isdir(self.path):
            raise StoreError(f"{self.path} is a folder; give a file path for the store")
        full = os.path.abspath(self.path)
        folder = os.path.dirname(full)
        # Decide before SQLite opens anything: opened without write access, SQLite leaves -wal and
        # -shm files as read-only as the store, which refuse every later writer even once the store
        # is writable again.
        writable = os.access(folder, os.W_OK) and (not os.path.exists(full) or os.access(full, os.W_OK))
        if not readonly and not writable:
            if not os.path.isdir(folder):
                raise StoreError(f"cannot open {self.path}: the folder {folder} does not exist")
            raise StoreError(_describe(self.path, sqlite3.OperationalError("readonly"), True))
        # The path quoted: a '#' or '?' in it would otherwise end the file name.
        uri = f"file:{urllib.parse.quote(full)}?mode={'ro' if readonly else 'rwc'}"
        if readonly and not writable and not os.path.exists(full + "-wal"):
            # No writer has it open (a writer keeps its -wal file): read it as it is, creating nothing.
            uri += "&immutable=1"
        try:
            self._db: Any = sqlite3.connect(uri, uri=True, timeout=10.0, isolation_level=None)
        except sqlite3.Error as exc:
            raise StoreError(_describe(self.path, exc, not readonly)) from None
        try:
            self._check_or_create()
        except sqlite3.Error as exc:
            self._db.close()
            raise StoreError(_describe(self.path, exc, not readonly)) from None
        except StoreError:
            self._db.close()
            raise

    def _check_or_create(self) -> None:
        db = self._db
        app_id = db.execute("PRAGMA application_id").fetchone()[0]
        tables = {row[0] for row in db.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
        if app_id != _APPLICATION_ID:
            if tables or app_id != 0:
                raise StoreError(f"{self.path} is an SQLite database but not a flatcore store; it was left untouched")
            if self.readonly:
                raise StoreError(f"{self.path} is empty: not a flatcore store")
            db.execute("PRAGMA journal_mode = WAL")
            db.execute("BEGIN IMMEDIATE")
            for statement in _SCHEMA.split(";"):
                if statement.strip():
                    db.execute(statement)
            db.execute("INSERT OR REPLACE INTO meta VALUES ('schema_version', ?)", (str(SCHEMA_VERSION),))
            db.execute(f"PRAGMA application_id = {_APPLICATION_ID}")
            db.execute("COMMIT")
        else:
            version = db.execute("SELECT value FROM meta WHERE key = 'schema_version'").fetchone()
            if version is None or int(version[0]) > SCHEMA_VERSION:
                raise StoreError(
                    f"{self.path} was written by a newer flatcore (store schema "
                    f"{version and version[0]}); upgrade flatcore"
                )
            if not self.readonly:
                db.execute("PRAGMA journal_mode = WAL")
                ok = db.execute("PRAGMA quick_check").fetchone()[0]
                if ok != "ok":
                    raise StoreError(f"{self.path} is damaged ({ok}); it was left untouched")
        if not self.readonly:
            # In WAL mode NORMAL is durable against a killed process (only a power cut can lose the
            # last transactions) and keeps a commit cheap.
            db.execute("PRAGMA synchronous = NORMAL")
        db.execute("PRAGMA foreign_keys = ON")

    # -- context --
    def close(self) -> None:
        """Close the connection (idempotent)."""
        if self._db is not None:
            self._db.close()
            self._db = None

    def __enter__(self) -> Store:
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def _write(self, statements) -> None:
        """Run ``statements(db)`` in one IMMEDIATE transaction."""
        db = self._db
        try:
            db.execute("BEGIN IMMEDIATE")
            try:
                statements(db)
            except BaseException:
                db.execute("ROLLBACK")
                raise
            db.execute("COMMIT")
        except sqlite3.Error as exc:
            raise StoreError(_describe(self.path, exc, True)) from None

    # -- writing --
    def register(self, name: str, declaration: Mapping[str, Any], configs: Iterable[tuple[str, str]]) -> None:
        """Record a study: its declaration and its runs ``(run_id, canonical settings JSON)``, in order.

        A study registered again under the same name takes the new declaration and run list;
        results already stored are kept (a run listed by both keeps its result).
        """
        configs = list(configs)
        now = time.time()

        def statements(db):
            db.execute(
                "INSERT INTO studies VALUES (?, ?, ?, ?) "
                "ON CONFLICT(name) DO UPDATE SET declaration = excluded.declaration, updated = excluded.updated",
                (name, json.dumps(declaration, sort_keys=True), now, now),
            )
            db.executemany("INSERT OR IGNORE INTO configs VALUES (?, ?)", configs)
            db.execute("DELETE FROM study_runs WHERE study = ?", (name,))
            db.executemany(
                "INSERT INTO study_runs VALUES (?, ?, ?)", [(name, run_id, i) for i, (run_id, _) in enumerate(configs)]
            )

        self._write(statements)

    def record(self, result: Mapping[str, Any]) -> bool:
        """Store one executed run in one transaction.

        ``result`` is a record of :func:`flatcore.experiments.worker.run_task`. A finished run already
        stored is kept as it is (returns False); a failed
        one is replaced, its attempt count carried on.
        """
        history = result.get("history")
        columns = blob = None
        if history:
            columns = json.dumps(list(history))
            blob = np.column_stack([np.asarray(history[c], dtype="<f8") for c in history]).tobytes()
        row = (
            result["run_id"],
            result["status"],
            result.get("error"),
            None if result.get("metrics") is None else json.dumps(result["metrics"]),
            columns,
            blob,
            result.get("network"),
            result.get("version"),
            result.get("started"),
            result.get("wall_seconds"),
            result.get("threads"),
        )
        stored = []

        def statements(db):
            cur = db.execute(
                "INSERT INTO results (run_id, status, error, metrics, history_columns, history, network, version, "
                "started, wall_seconds, threads) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) "
                "ON CONFLICT(run_id) DO UPDATE SET status = excluded.status, error = excluded.error, "
                "metrics = excluded.metrics, history_columns = excluded.history_columns, "
                "history = excluded.history, network = excluded.network, version = excluded.version, "
                "started = excluded.started, wall_seconds = excluded.wall_seconds, threads = excluded.threads, "
                "attempts = results.attempts + 1 WHERE results.status = 'failed'",
                row,
            )
            stored.append(cur.rowcount > 0)

        self._write(statements)
        return stored[0]

    # -- reading --
    def statuses(self, run_ids: Optional[Iterable[str]] = None) -> dict[str, str]:
        """run id -> "done" / "failed" for the stored results (of ``run_ids``, or all)."""
        rows = self._db.execute("SELECT run_id, status FROM results").fetchall()
        out = dict(rows)
        if run_ids is not None:
            wanted = set(run_ids)
            out = {k: v for k, v in out.items() if k in wanted}
        return out

    def studies(self) -> list[dict[str, Any]]:
        """Each study: name, declaration, created, updated, and its run ids in order."""
        out = []
        for name, declaration, created, updated in self._db.execute(
            "SELECT name, declaration, created, updated FROM studies ORDER BY created"
        ):
            ids = [
                r[0]
                for r in self._db.execute("SELECT run_id FROM study_runs WHERE study = ? ORDER BY position", (name,))
            ]
            out.append(
                {
                    "name": name,
                    "declaration": json.loads(declaration),
                    "created": created,
                    "updated": updated,
                    "run_ids": ids,
                }
            )
        return out

    def configs(self) -> dict[str, dict[str, Any]]:
        """run id -> settings, for every registered run."""
        return {run_id: json.loads(text) for run_id, text in self._db.execute("SELECT run_id, config FROM configs")}

    def results(self) -> list[dict[str, Any]]:
        """Every stored result without its history and network (those are large).

        Keys: run_id, status, error, metrics (dict or None), version, started, wall_seconds, threads, attempts.
        """
        out = []
        for row in self._db.execute(
            "SELECT run_id, status, error, metrics, version, started, wall_seconds, threads, attempts FROM results"
        ):
            run_id, status, error, metrics, version, started, wall, threads, attempts = row
            out.append(
                dict(
                    run_id=run_id,
                    status=status,
                    error=error,
                    metrics=None if metrics is None else json.loads(metrics),
                    version=version,
                    started=started,
                    wall_seconds=wall,
                    threads=threads,
                    attempts=attempts,
                )
            )
        return out

    def history(self, run_id: str) -> Optional[dict[str, np.ndarray]]:
        """A run's sampled history (column -> array), or None when it has none."""
        row = self._db.execute("SELECT history_columns, history FROM results WHERE run_id = ?", (run_id,)).fetchone()
        if row is None or row[0] is None:
            return None
        columns = json.loads(row[0])
        values = np.frombuffer(row[1], dtype="<f8").reshape(-1, len(columns)).astype(np.float64)
        return {c: values[:, j].copy() for j, c in enumerate(columns)}

    def histories(self) -> Iterable[tuple[str, dict[str, np.ndarray]]]:
        """``(run_id, history)`` for every run with a stored history."""
        for run_id, columns, blob in self._db.execute(
            "SELECT run_id, history_columns, history FROM results WHERE history IS NOT NULL ORDER BY run_id"
        ):
            names = json.loads(columns)
            values = np.frombuffer(blob, dtype="<f8").reshape(-1, len(names)).astype(np.float64)
            yield run_id, {c: values[:, j].copy() for j, c in enumerate(names)}

    def network_blob(self, run_id: str) -> Optional[bytes]:
        """A run's final network as stored (see :func:`flatcore.experiments.worker.network_bytes`)."""
        row = self._db.execute("SELECT network FROM results WHERE run_id = ?", (run_id,)).fetchone()
        if row is None:
            raise KeyError(f"no stored result for run {run_id!r}")
        return row[0]
