"""End to end: studies through the ``flatcore`` command, as a user runs them, in a temporary folder.

Every command runs in its own process (``python -m flatcore``). The driver is killed (SIGKILL,
SIGINT) at several moments, one of its workers is killed, the store is made read-only, corrupt or
busy, and the study files are wrong in every way a user might get them wrong. Whatever happens,
the store must end up equal to a clean run's: the same runs, all done, the same numbers bit for
bit, no duplicates, and no process left behind.
"""

from __future__ import annotations

import hashlib
import importlib.util
import json
import os
import re
import signal
import sqlite3
import subprocess
import sys
import time
import urllib.parse
from pathlib import Path

import pandas as pd
import pytest

import flatcore
from flatcore.experiments import Executor, LocalExecutor, RunConfig, Study, Task, run_study, run_task

pytestmark = pytest.mark.skipif(sys.platform != "linux", reason="reads /proc to find the driver's processes")

ENV = {
    **os.environ,
    "PYTHONPATH": os.path.dirname(os.path.dirname(os.path.abspath(flatcore.__file__))),
    "PYTHONUNBUFFERED": "1",
}
TIMEOUT = 180  # seconds for any one command: generous, the machine may be shared

# 12 runs of about 0.2-0.4 s each on one thread: long enough to be caught in flight, short
# enough that the whole file stays well under a minute and a half on 2 cores.
STUDY = """\
name = "e2e"
description = "the end-to-end tests' study"

[fixed]
distribution = "uniform_ball"
target = "linear"
noise = 0.5
n = 96
init = "kaiming"
clip_grad_norm = 50
n_test = 200
record_every = 500
sharpness_every = 2000

[grid]
d = [1, 2]
lr = [0.1, 0.2]
seed = [0, 1, 2]

[derived]
width = "4 * n"
steps = "round(4000 / lr)"
"""
N_RUNS = 12
TIMING = ("wall_seconds", "train_seconds", "steps_per_s", "started")


# -------------------------------------------------------------------------------------------------
# Helpers
# -------------------------------------------------------------------------------------------------
def cli(*args, cwd, timeout=TIMEOUT):
    """Run ``flatcore ARGS`` to completion."""
    return subprocess.run(
        [sys.executable, "-m", "flatcore", *map(str, args)],
        cwd=cwd,
        env=ENV,
        capture_output=True,
        text=True,
        timeout=timeout,
    )


_started: list[Driver] = []


@pytest.fixture(autouse=True)
def _no_driver_outlives_its_test():
    """A test that fails half-way leaves no driver running (its workers follow it)."""
    yield
    while _started:
        driver = _started.pop()
        if driver.proc.poll() is None:
            os.kill(driver.pid, signal.SIGCONT)
            driver.proc.kill()
            driver.proc.wait()


class Driver:
    """``flatcore run`` in the background, its output in files (a pipe would wait for leftover workers)."""

    def __init__(self, cwd: Path, *args, name="driver"):
        self.cwd = cwd
        self.out = cwd / f"{name}.out"
        self.err = cwd / f"{name}.err"
        with open(self.out, "w") as out, open(self.err, "w") as err:
            self.proc = subprocess.Popen(
                [sys.executable, "-m", "flatcore", "run", *map(str, args)],
                cwd=cwd,
                env=ENV,
                stdout=out,
                stderr=err,
                start_new_session=True,  # its own process group, as a terminal's job is
            )
        self.pid = self.proc.pid
        self.seen: dict[int, tuple[str, str]] = {}  # every child seen: pid -> (start time, command)
        _started.append(self)

    def watch(self) -> dict[int, tuple[str, str]]:
        """The driver's children now (remembered for :meth:`leftovers`)."""
        now = children(self.pid)
        for pid, (start, cmd) in now.items():
            if cmd or self.seen.get(pid, (None,))[0] != start:  # an exiting process has no command line
                self.seen[pid] = (start, cmd)
        return now

    def wait_until(self, condition, what: str, timeout=TIMEOUT):
        """Poll ``condition()`` (watching the children meanwhile) until it is true."""
        deadline = time.monotonic() + timeout
        while not condition():
            self.watch()
            assert self.proc.poll() is None, f"the driver ended before {what}:\n{self.output()}"
            assert time.monotonic() < deadline, f"no {what} after {timeout} s"
            time.sleep(0.02)
        self.watch()

    def wait(self, timeout=TIMEOUT) -> int:
        return self.proc.wait(timeout=timeout)

    def finish(self, timeout=TIMEOUT) -> int:
        """Wait for the driver to end, watching its children meanwhile; its exit code."""
        deadline = time.monotonic() + timeout
        while self.proc.poll() is None:
            assert time.monotonic() < deadline, f"the driver still runs after {timeout} s"
            self.watch()
            time.sleep(0.02)
        return self.proc.returncode

    def output(self) -> str:
        return self.out.read_text() + self.err.read_text()

    def leftovers(self, within=5.0) -> list[str]:
        """The processes of this run still alive ``within`` seconds after the driver ended.

        Both the children seen (by pid and start time) and any process whose working folder is
        this test's folder (a child started after the last look, re-parented after the kill).
        """
        deadline = time.monotonic() + within
        while True:
            alive = [f"{pid} {cmd}" for pid, (start, cmd) in self.seen.items() if is_alive(pid, start)]
            alive += [f"{pid} {cmd}" for pid, cmd in in_folder(self.cwd).items() if pid != self.pid]
            if not alive or time.monotonic() > deadline:
                return sorted(set(alive))
            time.sleep(0.1)


def _stat(pid) -> list[str]:
    """The fields of /proc/PID/stat after the command name: state, ppid, ..., start time at [19]."""
    with open(f"/proc/{pid}/stat") as fh:
        text = fh.read()
    return text[text.rindex(")") + 2 :].split()


def _cmdline(pid) -> str:
    try:
        with open(f"/proc/{pid}/cmdline", "rb") as fh:
            return fh.read().replace(b"\0", b" ").decode(errors="replace").strip()
    except OSError:
        return "?"


def children(parent: int) -> dict[int, tuple[str, str]]:
    """pid -> (start time, command line) of the live processes whose parent is ``parent``."""
    out = {}
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                fields = _stat(entry)
            except OSError:
                continue
            if int(fields[1]) == parent and fields[0] not in "ZX":
                out[int(entry)] = (fields[19], _cmdline(entry))
    return out


def cpu_seconds(pid: int) -> float:
    """The CPU time the process ``pid`` has used (0 when it is gone)."""
    try:
        fields = _stat(pid)
    except OSError:
        return 0.0
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def is_alive(pid: int, start: str) -> bool:
    """Whether the process ``pid`` that started at ``start`` still runs (a zombie does not)."""
    try:
        fields = _stat(pid)
    except OSError:
        return False
    return fields[19] == start and fields[0] not in "ZX"


def in_folder(folder: Path) -> dict[int, str]:
    """pid -> command line of the live processes whose working folder is ``folder``."""
    out = {}
    folder = os.path.realpath(folder)
    for entry in os.listdir("/proc"):
        if entry.isdigit() and int(entry) != os.getpid():
            try:
                if os.readlink(f"/proc/{entry}/cwd") != folder or _stat(entry)[0] in "ZX":
                    continue
            except OSError:
                continue
            out[int(entry)] = _cmdline(entry)
    return out


def workers_of(driver: Driver) -> list[int]:
    """The pool workers among the driver's children (their bootstrap runs _worker_main)."""
    return [pid for pid, (_, cmd) in driver.watch().items() if "_worker_main" in cmd]


def read_only(db: Path) -> str:
    """The URI that opens ``db`` for reading."""
    return f"file:{urllib.parse.quote(str(db))}?mode=ro"


def busy_workers(driver: Driver) -> int:
    """The driver's workers that are running runs: they have used more CPU than starting up takes
    (about 0.5 s). One still importing would print a KeyboardInterrupt traceback on Ctrl-C."""
    return sum(cpu_seconds(pid) > 1.0 for pid in workers_of(driver))


def stored(db: Path) -> int:
    """Finished runs in the store, read as a reader would (never blocks the driver)."""
    if not db.exists():
        return 0
    try:
        con = sqlite3.connect(read_only(db), uri=True, timeout=5)
        try:
            return con.execute("SELECT count(*) FROM results WHERE status = 'done'").fetchone()[0]
        finally:
            con.close()
    except sqlite3.Error:
        return 0  # not created yet


def snapshot(db: Path) -> dict:
    """What a store holds, less the timing: the thing that must not depend on how the runs went."""
    con = sqlite3.connect(read_only(db), uri=True)
    try:
        assert con.execute("PRAGMA quick_check").fetchone()[0] == "ok"
        study_runs = con.execute("SELECT study, run_id, position FROM study_runs ORDER BY study, position").fetchall()
        configs = con.execute("SELECT run_id, config FROM configs ORDER BY run_id").fetchall()
        rows = con.execute(
            "SELECT run_id, status, error, metrics, history_columns, history, network, version, threads, attempts "
            "FROM results ORDER BY run_id"
        ).fetchall()
        studies = con.execute("SELECT name, declaration FROM studies ORDER BY name").fetchall()
    finally:
        con.close()
    results = {}
    for run_id, status, error, metrics, columns, history, network, version, threads, attempts in rows:
        assert run_id not in results, f"run {run_id} stored twice"
        metrics = json.loads(metrics) if metrics else None
        for key in TIMING:
            (metrics or {}).pop(key, None)
        results[run_id] = dict(
            status=status,
            error=error,
            metrics=json.dumps(metrics, sort_keys=True),  # text: NaN equals NaN, floats bit for bit (repr)
            history_columns=columns,
            history=history,
            network=network,
            version=version,
            threads=threads,
            attempts=attempts,
        )
    assert len({r for _, r, _ in study_runs}) == len(study_runs)
    return dict(studies=studies, study_runs=study_runs, configs=configs, results=results)


def file_digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def assert_user_error(out, *, code=2):
    """Exit code ``code``, one ``flatcore: error:`` message, no traceback."""
    text = out.stdout + out.stderr
    assert out.returncode == code, text
    assert "flatcore: error:" in out.stderr, text
    assert "Traceback" not in text, text


@pytest.fixture(scope="module")
def study_file(tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("study") / "e2e.toml"
    path.write_text(STUDY)
    return path


@pytest.fixture(scope="module")
def clean(tmp_path_factory, study_file):
    """A clean, uninterrupted run of the study: the reference every other store must equal."""
    folder = tmp_path_factory.mktemp("clean")
    db = folder / "clean.db"
    out = cli("run", study_file, "--db", db, "--workers", 2, "--no-progress", cwd=folder)
    assert out.returncode == 0, out.stdout + out.stderr
    assert f"{N_RUNS} done now" in out.stdout
    reference = snapshot(db)
    assert len(reference["results"]) == N_RUNS
    assert {r["status"] for r in reference["results"].values()} == {"done"}
    return db, reference


def assert_equals_clean(db: Path, clean):
    _, reference = clean
    got = snapshot(db)
    assert [r for r, _ in got["configs"]] == [r for r, _ in reference["configs"]]
    assert got["study_runs"] == reference["study_runs"]
    assert got["studies"] == reference["studies"]
    assert got["configs"] == reference["configs"]
    assert sorted(got["results"]) == sorted(reference["results"])
    for run_id, result in reference["results"].items():
        assert got["results"][run_id] == result, f"run {run_id} differs from the clean run's"


# -------------------------------------------------------------------------------------------------
# A study end to end
# -------------------------------------------------------------------------------------------------
def test_run_status_summarize_export(tmp_path, study_file, clean):
    db, reference = clean
    status = cli("status", db, cwd=tmp_path)
    assert status.returncode == 0, status.stderr
    assert re.search(r"e2e\s+12\s+12\s+0\s+0", status.stdout), status.stdout

    summary = cli("summarize", db, cwd=tmp_path)
    assert summary.returncode == 0, summary.stderr
    lines = summary.stdout.strip().splitlines()
    assert lines[0].split()[:5] == ["d", "lr", "steps", "runs", "failed"]
    assert len(lines) == 2 + 4  # header, rule, one row per (d, lr): seeds are summarised

    out = cli("export", db, "--csv", "--out", tmp_path / "runs", cwd=tmp_path)
    assert out.returncode == 0, out.stderr
    runs = pd.read_csv(tmp_path / "runs.csv")
    assert len(runs) == N_RUNS and set(runs["status"]) == {"done"}
    assert sorted(runs["run_id"]) == sorted(reference["results"])

    out = cli("export", db, "--parquet", "--histories", "--out", tmp_path / "both", cwd=tmp_path)
    if importlib.util.find_spec("pyarrow") is None and importlib.util.find_spec("fastparquet") is None:
        # Parquet is optional: without an engine the command says what to install, and stops.
        assert out.returncode == 2 and "pip install" in out.stderr and "Traceback" not in out.stderr, out.stderr
        out = cli("export", db, "--csv", "--histories", "--out", tmp_path / "both", cwd=tmp_path)
        assert out.returncode == 0, out.stderr
        runs, histories = pd.read_csv(tmp_path / "both.csv"), pd.read_csv(tmp_path / "both-histories.csv")
    else:
        assert out.returncode == 0, out.stderr
        runs = pd.read_parquet(tmp_path / "both.parquet")
        histories = pd.read_parquet(tmp_path / "both-histories.parquet")
    assert sorted(runs["run_id"]) == sorted(reference["results"])
    # every run's history is there, every record_every = 500 steps from 0 to its last step
    assert set(histories["run_id"]) == set(runs["run_id"])
    for run in runs.itertuples():
        steps = histories.loc[histories["run_id"] == run.run_id, "step"].to_numpy()
        assert steps[0] == 0 and steps[-1] == run.steps and set(steps[:-1] % 500) == {0}
    # the values are the store's, bit for bit
    with flatcore.load(db) as res:
        pd.testing.assert_frame_equal(histories, res.histories, check_exact=True)
        pd.testing.assert_frame_equal(
            runs.drop(columns=["wall_seconds", "train_seconds", "steps_per_s"]),
            res.runs.drop(columns=["wall_seconds", "train_seconds", "steps_per_s"]),
            check_exact=True,
        )

    for command in (
        ("export", db, "--out", tmp_path / "no" / "runs"),
        ("summarize", db, "--csv", tmp_path / "no" / "s.csv"),
    ):
        out = cli(*command, cwd=tmp_path)
        assert_user_error(out)
        assert "cannot write" in out.stderr and str(tmp_path / "no") in out.stderr, out.stderr

    again = cli("run", study_file, "--db", db, "--no-progress", cwd=tmp_path)  # nothing left to do
    assert again.returncode == 0 and "12 already stored, 0 done now" in again.stdout, again.stdout
    assert snapshot(db) == reference


# -------------------------------------------------------------------------------------------------
# Killed drivers and workers
# -------------------------------------------------------------------------------------------------
@pytest.mark.parametrize("moment", ["after 0.5 s", "after the first run", "after half the runs"])
def test_driver_killed_then_resumed(tmp_path, study_file, clean, moment):
    db = tmp_path / "store.db"
    command = (study_file, "--db", db, "--workers", 2, "--no-progress")
    driver = Driver(tmp_path, *command)
    if moment == "after 0.5 s":
        end = time.monotonic() + 0.5
        while time.monotonic() < end:
            driver.watch()
            time.sleep(0.02)
    elif moment == "after the first run":
        driver.wait_until(lambda: stored(db) >= 1, "first stored run")
    else:
        driver.wait_until(lambda: stored(db) >= N_RUNS // 2, "half the runs stored")
    assert driver.proc.poll() is None, "the driver finished before it could be killed"
    driver.watch()
    os.kill(driver.pid, signal.SIGKILL)
    assert driver.wait() == -signal.SIGKILL
    assert driver.leftovers() == [], "processes outlived the killed driver"
    assert stored(db) < N_RUNS

    # the same command again goes on where it stopped
    out = cli("run", *command, cwd=tmp_path)
    assert out.returncode == 0, out.stdout + out.stderr
    assert_equals_clean(db, clean)


LONG = """\
name = "long"

[fixed]
d = 2
n = 256
width = 1024
lr = 0.05
steps = 10000000  # minutes: only a killed worker stops this

[grid]
seed = [0, 1]
"""


@pytest.mark.parametrize("how", ["SIGKILL", "Ctrl-C"])
def test_long_runs_end_with_their_driver(tmp_path, how):
    """Workers in the middle of long runs end within seconds of their driver, even after kill -9."""
    study = tmp_path / "long.toml"
    study.write_text(LONG)
    db = tmp_path / "long.db"
    driver = Driver(tmp_path, study, "--db", db, "--workers", 2, "--no-progress")
    try:
        driver.wait_until(lambda: busy_workers(driver) == 2, "two busy workers")
        if how == "SIGKILL":
            os.kill(driver.pid, signal.SIGKILL)
            assert driver.wait() == -signal.SIGKILL
        else:
            os.killpg(driver.pid, signal.SIGINT)  # what Ctrl-C in a terminal does: the whole job
            assert driver.wait(timeout=10) == 130, driver.output()
            assert "interrupted: long: 2 runs, 0 already stored, 0 done now, 2 left" in driver.output()
        assert driver.leftovers() == [], "workers outlived their driver"
    finally:
        for pid, (start, _) in driver.seen.items():
            if is_alive(pid, start):
                os.kill(pid, signal.SIGKILL)
    assert stored(db) == 0 and snapshot(db)["results"] == {}


def test_ctrl_c_stops_promptly_and_resumes(tmp_path, study_file, clean):
    db = tmp_path / "store.db"
    command = (study_file, "--db", db, "--workers", 2, "--no-progress")
    driver = Driver(tmp_path, *command)
    driver.wait_until(lambda: stored(db) >= 1 and busy_workers(driver) == 2, "two busy workers")
    os.killpg(driver.pid, signal.SIGINT)  # what Ctrl-C in a terminal does: the whole job
    assert driver.wait(timeout=10) == 130, driver.output()
    text = driver.output()
    assert "interrupted" in text and "left (run again to resume)" in text, text
    assert "Traceback" not in text, text
    assert driver.leftovers() == []

    # what was stored is whole and equal to the clean run's
    part = snapshot(db)
    _, reference = clean
    assert 1 <= len(part["results"]) < N_RUNS
    for run_id, result in part["results"].items():
        assert result == reference["results"][run_id]

    out = cli("run", *command, cwd=tmp_path)
    assert out.returncode == 0, out.stdout + out.stderr
    assert_equals_clean(db, clean)


def test_worker_killed_mid_run(tmp_path, study_file, clean):
    db = tmp_path / "store.db"
    driver = Driver(tmp_path, study_file, "--db", db, "--workers", 2, "--no-progress")
    driver.wait_until(lambda: stored(db) >= 1 and busy_workers(driver) == 2, "two busy workers")
    assert stored(db) <= N_RUNS - 4, "too late: the study is nearly done"
    victim = workers_of(driver)[0]
    os.kill(victim, signal.SIGKILL)
    assert driver.finish() == 0, driver.output()
    assert f"{N_RUNS} done now" in driver.output(), driver.output()
    spawned = [pid for pid, (_, cmd) in driver.seen.items() if "_worker_main" in cmd]
    assert len(spawned) == 3, f"the lost run was not given to a fresh worker: {driver.seen}"
    assert driver.leftovers() == []
    assert_equals_clean(db, clean)


def test_worker_killed_between_runs():
    """A worker that dies while idle (between two runs) costs nothing: the next run goes to a fresh one."""
    configs = [RunConfig.from_mapping({"d": 1, "n": 8, "width": 4, "lr": 0.1, "steps": 5, "seed": s}) for s in range(3)]
    tasks = [Task(c.run_id, c.as_dict()) for c in configs]
    with LocalExecutor(workers=1) as executor:
        records = executor.map_unordered(tasks)
        first = next(records)  # the worker is idle until the loop asks for the next record
        (worker,) = executor._processes.values()
        os.kill(worker.pid, signal.SIGKILL)
        worker.wait()
        rest = list(records)
    got = {r["run_id"]: r for r in [first, *rest]}
    assert sorted(got) == sorted(t.run_id for t in tasks)
    assert {r["status"] for r in got.values()} == {"done"}
    for task in tasks:  # the same numbers as a run in this process
        assert got[task.run_id]["metrics"]["train_loss"] == run_task(task)["metrics"]["train_loss"]


def test_store_in_use(tmp_path, study_file, clean):
    """A second driver on the same store fails at once, naming the first, and harms nothing."""
    db = tmp_path / "store.db"
    first = Driver(tmp_path, study_file, "--db", db, "--workers", 2, "--no-progress")
    first.wait_until(lambda: stored(db) >= 1, "first stored run")
    os.kill(first.pid, signal.SIGSTOP)  # it cannot finish while the second one tries
    try:
        second = cli("run", study_file, "--db", db, "--workers", 2, "--no-progress", cwd=tmp_path)
    finally:
        os.kill(first.pid, signal.SIGCONT)
    assert_user_error(second)
    assert "in use" in second.stderr and f"process {first.pid}" in second.stderr, second.stderr
    assert first.wait() == 0, first.output()
    assert_equals_clean(db, clean)


# -------------------------------------------------------------------------------------------------
# Stores that cannot be used
# -------------------------------------------------------------------------------------------------
def test_unwritable_paths(tmp_path, study_file):
    """Paths no one can write, root included: a clear message, exit code 2, nothing created."""
    for db, why in (
        (tmp_path / "missing" / "folder" / "x.db", "the folder .* does not exist"),
        (Path("/proc/flatcore-e2e.db"), "choose a writable folder with --db"),
    ):
        out = cli("run", study_file, "--db", db, "--no-progress", cwd=tmp_path)
        assert_user_error(out)
        assert str(db) in out.stderr and re.search(why, out.stderr), out.stderr
        assert not db.exists()


def permissions_enforced(folder: Path) -> bool:
    """Whether this process is refused a read-only file (root is not, unless it gave up the right)."""
    if os.geteuid() != 0:
        return True
    probe = folder / "probe"
    probe.write_text("")
    probe.chmod(0o444)
    try:
        with open(probe, "a"):
            return False
    except PermissionError:
        return True
    finally:
        probe.unlink()


def test_read_only_store_and_folder(tmp_path, study_file, clean):
    if not permissions_enforced(tmp_path):
        pytest.skip("root ignores file permissions")
    store = tmp_path / "store.db"
    store.write_bytes(clean[0].read_bytes())
    store.chmod(0o444)
    before = file_digest(store)
    out = cli("run", study_file, "--db", store, "--no-progress", cwd=tmp_path)
    assert_user_error(out)
    assert "cannot be written" in out.stderr, out.stderr
    status = cli("status", store, cwd=tmp_path)  # reading needs no write access
    assert status.returncode == 0 and "e2e" in status.stdout, status.stderr
    assert file_digest(store) == before
    # nothing left next to it that would refuse a writer once the store is writable again
    assert sorted(p.name for p in tmp_path.glob("store.db*")) == ["store.db", "store.db.lock"]
    store.chmod(0o644)
    again = cli("run", study_file, "--db", store, "--no-progress", cwd=tmp_path)
    assert again.returncode == 0 and "12 already stored" in again.stdout, again.stdout + again.stderr

    folder = tmp_path / "ro"
    folder.mkdir()
    (folder / "store.db").write_bytes(clean[0].read_bytes())
    folder.chmod(0o555)
    try:
        for db in (folder / "new.db", folder / "store.db"):
            out = cli("run", study_file, "--db", db, "--no-progress", cwd=tmp_path)
            assert_user_error(out)
            assert str(db) in out.stderr and "writable folder" in out.stderr, out.stderr
        status = cli("status", folder / "store.db", cwd=tmp_path)
        assert status.returncode == 0 and "e2e" in status.stdout, status.stderr
        assert [p.name for p in folder.iterdir()] == ["store.db"]
        assert file_digest(folder / "store.db") == file_digest(clean[0])
    finally:
        folder.chmod(0o755)


def _random_bytes(path: Path):
    path.write_bytes(bytes((i * 7919 + 13) % 251 for i in range(8192)))


def _truncated_store(path: Path, clean):
    data = clean[0].read_bytes()
    path.write_bytes(data[: len(data) // 2])


def _other_app(path: Path, clean):
    con = sqlite3.connect(path)
    con.execute("CREATE TABLE users (name TEXT, email TEXT)")
    con.execute("INSERT INTO users VALUES ('ada', 'ada@example.org')")
    con.commit()
    con.close()


@pytest.mark.parametrize(
    "make, message",
    [
        (lambda path, clean: _random_bytes(path), "not a readable SQLite database"),
        (_truncated_store, "malformed|damaged"),
        (_other_app, "not a flatcore store"),
    ],
    ids=["random-bytes", "truncated-store", "another-apps-database"],
)
def test_corrupt_store_is_reported_never_overwritten(tmp_path, study_file, clean, make, message):
    db = tmp_path / "store.db"
    make(db, clean)
    before = file_digest(db)
    for command in (
        ("run", study_file, "--db", db, "--no-progress"),
        ("status", db),
        ("summarize", db),
        ("export", db, "--out", tmp_path / "export"),
    ):
        out = cli(*command, cwd=tmp_path)
        assert_user_error(out)
        assert re.search(message, out.stderr) and str(db) in out.stderr, (command, out.stderr)
        assert file_digest(db) == before, f"{command[0]} changed the file"
    assert not list(tmp_path.glob("export*"))


def test_store_path_with_uri_characters(tmp_path):
    """A store named with '#', '?' or '%' is that file (SQLite opens it by URI: the name is quoted)."""
    study = tmp_path / "tiny.toml"
    study.write_text('name = "tiny"\n[fixed]\nd = 1\nn = 8\nwidth = 4\nlr = 0.1\nsteps = 5\n')
    db = tmp_path / "runs #1 ?x=%41.db"
    out = cli("run", study, "--db", db, "--workers", 1, "--no-progress", cwd=tmp_path)
    assert out.returncode == 0, out.stdout + out.stderr
    assert stored(db) == 1
    assert sorted(p.name for p in tmp_path.iterdir() if not p.name.startswith(db.name)) == ["tiny.toml"]
    status = cli("status", db, cwd=tmp_path)
    assert status.returncode == 0 and re.search(r"tiny\s+1\s+1", status.stdout), status.stdout + status.stderr


# -------------------------------------------------------------------------------------------------
# Study files with mistakes: exit code 2, the key and its line, no traceback
# -------------------------------------------------------------------------------------------------
_GOOD = """\
name = "bad"

[fixed]
d = 2
n = 16
lr = 0.1
steps = 10

[grid]
width = [4, 8]
seed = [0, 1]
"""

# name -> (study text, the text the message must contain, the line it must name as a marker: the
# first line of the text containing it)
BAD_STUDIES = {
    "unknown setting in fixed": (_GOOD.replace("d = 2", "d = 2\nwidht = 4"), "widht", "widht = 4"),
    "unknown setting in grid": (_GOOD + "nosie = [0.1, 0.2]\n", "nosie", "nosie ="),
    "unknown top-level table": (_GOOD.replace("[grid]", "[gird]"), "gird", "[gird]"),
    "wrong type": (_GOOD.replace("d = 2", 'd = "ten"'), "d: must be an integer", 'd = "ten"'),
    "negative step size": (_GOOD.replace("lr = 0.1", "lr = -0.1"), "lr: must be > 0", "lr = -0.1"),
    "zero points in the grid": (
        _GOOD.replace("n = 16\n", "").replace("seed = [0, 1]", "seed = [0, 1]\nn = [16, 0]"),
        "n: must be >= 1",
        "n = [16, 0]",
    ),
    "unknown distribution": (
        _GOOD.replace("[fixed]", '[fixed]\ndistribution = "uniform_cube"'),
        "unknown distribution 'uniform_cube'",
        "distribution =",
    ),
    "unknown target": (
        _GOOD.replace("[fixed]", '[fixed]\ntarget = "quadratic"'),
        "unknown target 'quadratic'",
        "target =",
    ),
    "unknown parameter of a distribution": (
        _GOOD.replace("[fixed]", '[fixed]\ndistribution = { name = "radial", alpah = 0.5 }'),
        "no parameter 'alpah'",
        "distribution =",
    ),
    "unknown distribution in a grid bundle": (
        _GOOD + 'law = [{ distribution = "uniform_ball" }, { distribution = "cube" }]\n',
        "unknown distribution 'cube'",
        "law =",
    ),
    "non-integer derived steps": (
        _GOOD.replace("steps = 10\n", "").replace("lr = 0.1", "lr = 0.3") + '\n[derived]\nsteps = "1000 / lr"\n',
        "round(",
        'steps = "1000 / lr"',
    ),
    "disallowed construct in a derived setting": (
        _GOOD.replace("steps = 10\n", "") + "\n[derived]\nsteps = \"__import__('os').getpid()\"\n",
        "is not allowed",
        "steps = ",
    ),
    "TOML syntax error": (_GOOD.replace("lr = 0.1", "lr = 0.1.2"), "not valid TOML", "lr = 0.1.2"),
    "TOML table header not closed": (_GOOD.replace("[grid]", "[grid"), "not valid TOML", "[grid"),
    "empty grid list": (_GOOD.replace("seed = [0, 1]", "seed = []"), "empty list", "seed = []"),
    "missing required setting": (_GOOD.replace("steps = 10\n", ""), "steps: required", "[fixed]"),
}


def test_bad_study_files(tmp_path):
    procs = {}
    for i, (case, (text, _, marker)) in enumerate(BAD_STUDIES.items()):
        assert marker in text, case
        path = tmp_path / f"case{i}.toml"
        path.write_text(text)
        procs[case] = subprocess.Popen(  # all at once: each only parses its file
            [sys.executable, "-m", "flatcore", "run", path.name, "--no-progress"],
            cwd=tmp_path,
            env=ENV,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
    failures = []
    for case, proc in procs.items():
        stdout, stderr = proc.communicate(timeout=TIMEOUT)
        text, needle, marker = BAD_STUDIES[case]
        line = next(i for i, row in enumerate(text.splitlines(), start=1) if marker in row)
        problems = []
        if proc.returncode != 2:
            problems.append(f"exit code {proc.returncode}")
        if not stderr.startswith("flatcore: error: ") or "Traceback" in stdout + stderr:
            problems.append("not one error message")
        if needle not in stderr:
            problems.append(f"no {needle!r}")
        if f"line {line}:" not in stderr:
            problems.append(f"not line {line}")
        if problems:
            failures.append(f"{case}: {', '.join(problems)}\n    {stderr.strip()}")
    assert not failures, "\n".join(failures)
    assert not list(tmp_path.glob("*.db")), "a store was created for a study that cannot run"


# -------------------------------------------------------------------------------------------------
# Failed runs and --retry-failed
# -------------------------------------------------------------------------------------------------
FAILING = """\
name = "failing"

[fixed]
d = 2
n = 16
lr = 0.1
steps = 20

[grid]
# the second width passes every check but cannot be allocated: it fails only when it runs
width = [8, 100000000000]
"""


def test_failed_run_shown_and_retried(tmp_path):
    study = tmp_path / "failing.toml"
    study.write_text(FAILING)
    db = tmp_path / "failing.db"
    first = cli("run", study, "--db", db, "--workers", 1, "--no-progress", cwd=tmp_path)
    assert first.returncode == 1, first.stdout + first.stderr
    assert "1 done now, 1 failed" in first.stdout and "--retry-failed" in first.stdout, first.stdout

    status = cli("status", db, cwd=tmp_path)
    assert status.returncode == 0, status.stderr
    assert "1 failed run(s)" in status.stdout and "width=100000000000" in status.stdout, status.stdout
    assert "MemoryError" in status.stdout, status.stdout

    again = cli("run", study, "--db", db, "--workers", 1, "--no-progress", cwd=tmp_path)
    assert again.returncode == 1, again.stdout  # the store still holds a failure
    assert "2 already stored (1 of them failed" in again.stdout and "0 done now" in again.stdout, again.stdout

    retried = cli("run", study, "--db", db, "--workers", 1, "--no-progress", "--retry-failed", cwd=tmp_path)
    assert retried.returncode == 1, retried.stdout + retried.stderr
    assert "1 already stored, 0 done now, 1 failed" in retried.stdout, retried.stdout
    with flatcore.load(db) as res:
        runs = res.runs.set_index("width")
        assert runs.loc[8, "status"] == "done" and runs.loc[8, "attempts"] == 1
        assert runs.loc[100000000000, "status"] == "failed" and runs.loc[100000000000, "attempts"] == 2


class FailsOnce(Executor):
    """Runs in this process; each run fails the first time it is given (a lost node, say)."""

    def __init__(self):
        self.given: set[str] = set()

    def map_unordered(self, tasks):
        for task in tasks:
            if task.run_id in self.given:
                yield run_task(task)
            else:
                self.given.add(task.run_id)
                yield {
                    "run_id": task.run_id,
                    "status": "failed",
                    "error": "RuntimeError: the node went away",
                    "metrics": None,
                    "history": None,
                    "network": None,
                    "version": flatcore.__version__,
                    "started": None,
                    "wall_seconds": None,
                    "threads": task.threads,
                }


def test_retry_failed_runs_them_again(tmp_path):
    study = Study("retry", grid={"seed": [0, 1]}, fixed={"d": 1, "n": 8, "width": 4, "lr": 0.1, "steps": 5})
    db = tmp_path / "retry.db"
    executor = FailsOnce()
    first = run_study(study, db, executor=executor, progress=False)
    assert (first.done, first.failed) == (0, 2)

    status = cli("status", db, cwd=tmp_path)
    assert status.returncode == 0 and "2 failed run(s)" in status.stdout, status.stdout
    assert status.stdout.count("RuntimeError: the node went away") == 2, status.stdout

    second = run_study(study, db, executor=executor, progress=False)  # failures are kept without the flag
    assert (second.skipped, second.skipped_failed, second.done, second.failed) == (2, 2, 0, 0)
    assert "2 of them failed" in str(second)
    third = run_study(study, db, executor=executor, progress=False, retry_failed=True)
    assert (third.skipped, third.done, third.failed) == (0, 2, 0)
    with flatcore.load(db) as res:
        assert list(res.runs["status"]) == ["done", "done"]
        assert list(res.runs["attempts"]) == [2, 2]
        assert res.runs["error"].isna().all()
    status = cli("status", db, cwd=tmp_path)
    assert re.search(r"retry\s+2\s+2\s+0\s+0", status.stdout) and "failed run" not in status.stdout, status.stdout
