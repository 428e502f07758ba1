"""Studies on a Dask cluster: the same records as the local pool, the CLI, lost workers, no Dask.

One LocalCluster (2 worker processes, 1 thread each) serves the module. Its scheduler has
``allowed-failures`` 0, so that a run whose worker dies comes back to the executor at once as
KilledWorker and the executor's own resubmission is what the lost-worker tests exercise (with Dask's
default, 3, the scheduler moves such a run to another worker itself first).
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import textwrap
import threading
import time
from pathlib import Path

import pandas as pd
import pytest

distributed = pytest.importorskip("dask.distributed")
import dask  # noqa: E402

import flatcore  # noqa: E402
from flatcore.experiments import Study, Task, run_study  # noqa: E402
from flatcore.experiments import dask_executor as dx  # noqa: E402
from flatcore.experiments.dask_executor import DaskExecutor  # noqa: E402

PYTHON_DIR = str(Path(flatcore.__file__).resolve().parents[1])
TIMING = ["wall_seconds", "train_seconds", "steps_per_s"]  # the only columns that may differ

SMALL = """
name = "small"
[fixed]
n = 48
width = 64
lr = 0.1
steps = 300
noise = 0.1
sharpness_every = 100
[grid]
d = [2, 3]
seed = [0, 1, 2]
"""

# Runs of about a second each, so that a worker can be killed in the middle of one.
SLOW = Study("slow", grid={"seed": [0, 1, 2, 3]}, fixed={"d": 3, "n": 128, "width": 256, "lr": 0.05, "steps": 100_000})


def _env() -> dict:
    env = dict(os.environ)
    env["PYTHONPATH"] = PYTHON_DIR + os.pathsep + env.get("PYTHONPATH", "")
    return env


def _cli(*args, timeout=120) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "flatcore", *map(str, args)],
        capture_output=True,
        text=True,
        env=_env(),
        timeout=timeout,
    )


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def assert_same_results(db_a, db_b) -> None:
    """Two stores hold the same runs, bit for bit apart from timings."""
    with flatcore.load(db_a) as a, flatcore.load(db_b) as b:
        assert (a.runs["status"] == "done").all(), a.runs[["run_id", "status", "error"]]
        assert (b.runs["status"] == "done").all(), b.runs[["run_id", "status", "error"]]
        pd.testing.assert_frame_equal(a.runs.drop(columns=TIMING), b.runs.drop(columns=TIMING), check_exact=True)
        ha, hb = (r.histories.sort_values(["run_id", "step"]).reset_index(drop=True) for r in (a, b))
        assert len(ha) > 0
        pd.testing.assert_frame_equal(ha, hb, check_exact=True)
        for run_id in a.runs["run_id"]:
            pa, pb = a.network(run_id).params(), b.network(run_id).params()
            assert pa.tobytes() == pb.tobytes(), run_id


@pytest.fixture(scope="module")
def cluster():
    with dask.config.set({"distributed.scheduler.allowed-failures": 0}):
        cluster = distributed.LocalCluster(
            n_workers=2, threads_per_worker=1, processes=True, dashboard_address=":0", silence_logs=50
        )
    assert cluster.scheduler.allowed_failures == 0
    yield cluster
    cluster.close()


@pytest.fixture
def client(cluster):
    with distributed.Client(cluster, set_as_default=False) as client:
        client.wait_for_workers(2, timeout=120)
        yield client


@pytest.fixture(scope="module")
def small_local(tmp_path_factory):
    """The small study run on the local pool: the reference."""
    db = tmp_path_factory.mktemp("local") / "small.db"
    summary = run_study(Study.from_toml_text(SMALL), db, workers=2, progress=False)
    assert summary.done == 6
    return db


def test_records_equal_the_local_pool(client, small_local, tmp_path):
    db = tmp_path / "dask.db"
    summary = run_study(Study.from_toml_text(SMALL), db, client=client, progress=False)
    assert (summary.done, summary.failed, summary.interrupted) == (6, 0, False)
    assert_same_results(small_local, db)
    assert client.status == "running"  # a client passed in is left open
    # Nothing to do the second time.
    assert run_study(Study.from_toml_text(SMALL), db, client=client, progress=False).skipped == 6


def test_cli_runs_on_a_scheduler_address(cluster, client, small_local, tmp_path):
    study = tmp_path / "small.toml"
    study.write_text(SMALL)
    db = tmp_path / "cli.db"
    proc = _cli("run", study, "--dask", cluster.scheduler_address, "--db", db, "--no-progress")
    assert proc.returncode == 0, proc.stderr
    assert "6 done now" in proc.stdout
    assert_same_results(small_local, db)


def test_an_unreachable_scheduler_fails_fast_and_clearly(tmp_path):
    study = tmp_path / "small.toml"
    study.write_text(SMALL)
    address = f"tcp://127.0.0.1:{_free_port()}"  # nobody listens there
    start = time.monotonic()
    proc = _cli("run", study, "--dask", address, "--db", tmp_path / "x.db", timeout=90)
    elapsed = time.monotonic() - start
    assert proc.returncode == 2, (proc.stdout, proc.stderr)
    assert proc.stderr.startswith("flatcore: error: cannot reach a Dask scheduler at " + address), proc.stderr
    assert "scheduler is running" in proc.stderr and "port" in proc.stderr
    assert "Traceback" not in proc.stderr
    assert elapsed < 40, elapsed  # the connect timeout is 10 s; the rest is starting Python on a busy machine
    assert not (tmp_path / "x.db").exists()  # nothing was touched

    proc = _cli("run", study, "--dask", "localhost", "--db", tmp_path / "x.db")
    assert proc.returncode == 2, proc.stderr
    assert "not a Dask scheduler address: 'localhost'" in proc.stderr and "Traceback" not in proc.stderr


def _kill_a_worker_running_a_run(client) -> None:
    """SIGKILL a worker process as soon as it holds one of the study's runs."""
    pids = client.run(os.getpid)
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        for address, keys in client.processing().items():
            if any(str(key).startswith("flatcore-run-") for key in keys) and address in pids:
                os.kill(pids[address], signal.SIGKILL)
                return
        time.sleep(0.02)
    raise AssertionError("no run reached a worker within 120 s")


def test_a_lost_worker_s_runs_are_run_again(client, tmp_path):
    local = tmp_path / "local.db"
    assert run_study(SLOW, local, workers=2, progress=False).done == len(SLOW)
    db = tmp_path / "dask.db"
    executor = DaskExecutor(client)
    outcome: dict = {}

    def drive():
        try:
            outcome["summary"] = run_study(SLOW, db, executor=executor, progress=False)
        except BaseException as exc:  # reported by the main thread
            outcome["error"] = exc

    driver = threading.Thread(target=drive, daemon=True)
    driver.start()
    _kill_a_worker_running_a_run(client)
    driver.join(timeout=300)
    assert not driver.is_alive(), "the study did not finish"
    assert "error" not in outcome, outcome.get("error")
    summary = outcome["summary"]
    assert (summary.done, summary.failed) == (len(SLOW), 0)
    assert executor.resubmitted >= 1  # the killed worker's run came back as KilledWorker and went again
    executor.close()
    assert_same_results(local, db)


def test_a_run_that_keeps_killing_its_worker_is_recorded_failed(client, monkeypatch):
    def die(task):  # a local function: Dask ships it by value
        os.kill(os.getpid(), signal.SIGKILL)

    monkeypatch.setattr(dx, "run_task", die)
    run = Study.from_toml_text(SMALL).runs[0]
    with DaskExecutor(client, threads_per_run=1, max_attempts=2) as executor:
        records = list(executor.map_unordered([Task(run.run_id, run.as_dict())]))
        assert executor.resubmitted == 1
    assert len(records) == 1
    record = records[0]
    assert record["run_id"] == run.run_id and record["status"] == "failed"
    assert record["error"].startswith("WorkerLost: its Dask worker was lost 2 time(s)"), record["error"]
    assert "KilledWorker" in record["error"]
    assert client.status == "running"


def test_leaving_early_cancels_the_runs_in_flight(cluster, client):
    study = Study.from_toml_text(SMALL)
    tasks = [Task(r.run_id, r.as_dict()) for r in study.runs]
    executor = DaskExecutor(client, batch_size=2)
    records = executor.map_unordered(tasks)
    first = next(records)
    assert first["status"] == "done"
    assert 1 <= len(executor._futures) <= 2  # at most batch_size in flight
    records.close()  # what leaving a for loop early does
    assert not executor._futures
    deadline = time.monotonic() + 60
    while any(str(key).startswith("flatcore-run-") for key in cluster.scheduler.tasks):
        assert time.monotonic() < deadline, list(cluster.scheduler.tasks)
        time.sleep(0.05)
    executor.close()
    executor.close()  # idempotent
    assert client.status == "running"


def test_an_executor_made_from_an_address_owns_its_client(cluster):
    run = Study.from_toml_text(SMALL).runs[0]
    executor = DaskExecutor(cluster.scheduler_address, threads_per_run=2)
    assert executor.workers == 2
    [record] = executor.map_unordered([Task(run.run_id, run.as_dict())])
    assert record["status"] == "done" and record["threads"] == 2
    executor.close()
    assert executor.client.status == "closed"
    executor.close()


@pytest.mark.parametrize(
    "preload",
    [
        "import sys\nsys.modules['flatcore'] = None  # as if flatcore were not installed\n",
        "import flatcore\nflatcore.__version__ = '0.0.1'\n",
    ],
    ids=["missing", "other-version"],
)
def test_workers_without_flatcore_are_named(tmp_path, preload):
    script = tmp_path / "preload.py"
    script.write_text(preload)
    with (
        distributed.LocalCluster(
            n_workers=1,
            threads_per_worker=1,
            processes=True,
            dashboard_address=":0",
            silence_logs=50,
            preload=[str(script)],
        ) as cluster,
        distributed.Client(cluster, set_as_default=False) as client,
    ):
        client.wait_for_workers(1, timeout=120)
        if "None" in preload:
            with pytest.raises(dx.DaskWorkerError, match=r"flatcore cannot be imported on 1 Dask worker\(s\), tcp://"):
                DaskExecutor(client)
        else:
            with pytest.warns(RuntimeWarning, match="Dask workers run flatcore 0.0.1 and this driver"):
                DaskExecutor(client).close()
        assert client.status == "running"


def test_bad_arguments():
    with pytest.raises(ValueError, match="not a Dask scheduler address"):
        dx.connect("http://localhost:8787")
    with pytest.raises(ValueError, match="not a Dask scheduler address"):
        DaskExecutor("tcp://localhost")
    with pytest.raises(TypeError, match="Client or a scheduler address"):
        DaskExecutor(8786)
    with pytest.raises(ValueError, match="threads_per_run"):
        DaskExecutor("tcp://127.0.0.1:1", threads_per_run=0)
    with pytest.raises(ValueError, match="max_attempts"):
        DaskExecutor("tcp://127.0.0.1:1", max_attempts=0)
    with pytest.raises(ValueError, match="batch_size"):
        DaskExecutor("tcp://127.0.0.1:1", batch_size=0)


def test_workers_with_a_cluster_are_refused(tmp_path, capsys):
    """The local pool's size means nothing on a cluster: said, before anything starts."""
    from flatcore.cli import main

    study = Study("w", grid={"seed": [0]}, fixed={"d": 2, "n": 8, "width": 4, "steps": 2, "lr": 0.1})
    with pytest.raises(ValueError, match="local pool"):
        run_study(study, tmp_path / "w.db", workers=2, client="tcp://127.0.0.1:1")
    assert not (tmp_path / "w.db").exists()
    path = tmp_path / "w.toml"
    path.write_text('name = "w"\n[fixed]\nd = 2\nn = 8\nwidth = 4\nsteps = 2\nlr = 0.1\n')
    assert main(["run", str(path), "--dask", "tcp://127.0.0.1:1", "--workers", "2"]) == 2
    assert "--workers" in capsys.readouterr().err


def test_without_dask(tmp_path):
    study = tmp_path / "small.toml"
    study.write_text(SMALL)
    script = textwrap.dedent(
        f"""
        import sys
        sys.modules["dask"] = None  # import dask (and dask.distributed) now fails
        sys.modules["distributed"] = None
        import flatcore
        from flatcore.cli import main
        from flatcore.experiments import DaskExecutor, Study, run_study

        study = Study.from_toml_text({SMALL!r})
        summary = run_study(study, {str(tmp_path / "local.db")!r}, workers=1, progress=False)
        assert summary.done == 6, summary
        try:
            run_study(study, {str(tmp_path / "dask.db")!r}, client="tcp://127.0.0.1:8786", progress=False)
        except ImportError as exc:
            assert 'pip install "flatcore[dask]"' in str(exc), exc
        else:
            raise AssertionError("no ImportError")
        assert main(["run", {str(study)!r}, "--dask", "tcp://127.0.0.1:8786", "--no-progress"]) == 2
        assert not any(name.startswith(("dask.", "distributed.")) for name in sys.modules)
        print("ok")
        """
    )
    proc = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, env=_env(), timeout=120, cwd=tmp_path
    )
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip().endswith("ok")
    assert "flatcore: error: running on a Dask cluster needs dask.distributed" in proc.stderr
    assert 'pip install "flatcore[dask]"' in proc.stderr
