"""Studies in-process: declaration, run ids, the store, the worker's metrics and flatcore.load."""

import json
import math
import sqlite3

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

import flatcore as fc
from flatcore import data, theory
from flatcore.experiments import (
    ConfigError,
    Executor,
    RunConfig,
    Store,
    StoreError,
    Study,
    StudyError,
    load,
    run_study,
)
from flatcore.experiments.worker import Task, execute, init_seed, network_bytes, network_from_bytes, run_task

BASE = {"d": 2, "n": 32, "width": 16, "lr": 0.1, "steps": 50}


# --- declaration -------------------------------------------------------------------------------
def test_grid_is_the_cartesian_product_in_order_with_bundles_and_derived():
    study = Study(
        "s",
        grid={
            "d": [1, 2],
            "regime": [{"lr": 0.2, "weight_decay": 0.0}, {"lr": 0.01, "weight_decay": 0.1}],
            "seed": [0, 1, 2],
        },
        fixed={"n": 64},
        derived={"width": "4 * n", "steps": "round(1e4 / lr)"},
    )
    runs = study.runs
    assert len(runs) == 2 * 2 * 3
    expected = [(d, lr, wd, seed) for d in (1, 2) for lr, wd in ((0.2, 0.0), (0.01, 0.1)) for seed in (0, 1, 2)]
    assert [(r.d, r.lr, r.weight_decay, r.seed) for r in runs] == expected
    assert all(r.width == 256 for r in runs)
    assert {r.steps for r in runs if r.lr == 0.2} == {50_000} and {r.steps for r in runs if r.lr == 0.01} == {10**6}
    assert all(r.lr * r.steps == pytest.approx(1e4) for r in runs)
    assert study.swept == ["d", "lr", "steps", "weight_decay", "seed"]


def test_toml_and_python_give_the_same_runs_and_ids():
    text = """
name = "same"
[fixed]
n = 32
distribution = { name = "radial", alpha = 0.5 }
[grid]
d = [2, 3]
lr = [0.1, 0.05]
[derived]
width = "2 * n"
steps = "round(10 / lr)"
"""
    from_file = Study.from_toml_text(text)
    from_python = Study(
        "same",
        grid={"d": [2, 3], "lr": [0.1, 0.05]},
        fixed={"n": 32, "distribution": {"alpha": 0.5, "name": "radial"}},
        derived={"steps": "round(10 / lr)", "width": "2 * n"},
    )
    assert [r.run_id for r in from_file.runs] == [r.run_id for r in from_python.runs]


def test_run_id_is_stable_and_sees_every_setting():
    a = RunConfig.from_mapping(BASE)
    # Defaults written out, integers as floats, specs as names or tables: the same run.
    b = RunConfig.from_mapping(
        {**BASE, "lr": 0.1, "d": 2.0, "weight_decay": 0, "distribution": {"name": "uniform_ball"}, "target": "linear"}
    )
    assert a.run_id == b.run_id and len(a.run_id) == 16
    # The id is a function of the canonical JSON alone (a fixed value: the hash must not drift
    # between versions, or stores would silently recompute everything).
    assert a.run_id == __import__("hashlib").sha256(a.canonical_json().encode()).hexdigest()[:16]
    for key, value in [
        ("lr", 0.1000001),
        ("seed", 1),
        ("noise", 0.1),
        ("loss", "mse"),
        ("decay_biases", True),
        ("target", {"name": "linear", "seed": 1}),
        ("record", ["history"]),
        ("n_test", 999),
    ]:
        assert RunConfig.from_mapping({**BASE, key: value}).run_id != a.run_id, key


def test_duplicate_runs_are_listed_once():
    study = Study("dup", grid={"seed": [0, 0, 1]}, fixed=BASE)
    assert len(study) == 2


@pytest.mark.parametrize(
    ("kwargs", "key", "words"),
    [
        ({"fixed": {**BASE, "lrr": 0.1}}, "lrr", "unknown setting"),
        ({"fixed": {**BASE, "d": "ten"}}, "d", "integer"),
        ({"fixed": {**BASE, "lr": -0.1}}, "lr", "> 0"),
        ({"fixed": {**BASE, "n": 0}}, "n", ">= 1"),
        ({"fixed": {**BASE, "loss": "l1"}}, "loss", "half_mse"),
        ({"fixed": {**BASE, "distribution": "cube"}}, "distribution", "uniform_ball"),
        ({"fixed": {**BASE, "distribution": {"name": "radial", "beta": 1}}}, "distribution", "alpha"),
        ({"fixed": {**BASE, "target": {"name": "multi_index", "k": 5}}}, "target", "d = 2"),
        ({"fixed": {k: v for k, v in BASE.items() if k != "steps"}}, "steps", "required"),
        ({"fixed": BASE, "grid": {"seed": []}}, "seed", "empty"),
        ({"fixed": BASE, "grid": {"lr": [0.1]}}, "lr", "set twice"),
        (
            {"fixed": {k: v for k, v in BASE.items() if k != "steps"}, "derived": {"steps": "10 / lr / 3"}},
            "steps",
            "round(",
        ),
        ({"fixed": BASE, "derived": {"noise": "__import__('os')"}}, "noise", "not allowed"),
        ({"fixed": BASE, "derived": {"noise": "lr +"}}, "noise", "parse"),
        (
            {"fixed": {k: v for k, v in BASE.items() if k != "width"}, "derived": {"width": "4 * m"}},
            "width",
            "unknown name",
        ),
        ({"fixed": BASE, "grid": {"regime": [0.1, 0.2]}}, "regime", "list of tables"),
        ({"fixed": BASE, "grid": {"regime": [{"lrr": 0.1}]}}, "regime", "not a setting"),
    ],
)
def test_bad_declarations_name_the_key(kwargs, key, words):
    with pytest.raises(StudyError) as info:
        Study("bad", **kwargs)
    assert info.value.key == key
    assert key in str(info.value) and words in str(info.value)


def test_toml_errors_give_the_line():
    text = "\n".join(
        [
            'name = "lines"',  # 1
            "[fixed]",  # 2
            "n = 32",  # 3
            "width = 8",  # 4
            "steps = 10",  # 5
            "d = 2",  # 6
            "[grid]",  # 7
            "seed = [0, 1]",  # 8
            "lr = [0.1, -0.5]",  # 9
        ]
    )
    with pytest.raises(StudyError) as info:
        Study.from_toml_text(text, path="lines.toml")
    message = str(info.value)
    assert message.startswith("lines.toml, line 9: [grid] lr") and "> 0" in message and "-0.5" in message
    with pytest.raises(StudyError, match=r"line 3: unknown key 'step'"):
        Study.from_toml_text('name = "x"\n\nstep = 3\n')
    with pytest.raises(StudyError, match=r"line 2: not valid TOML: Invalid value"):
        Study.from_toml_text('name = "x"\nd = = 2\n')
    with pytest.raises(StudyError, match=r"not valid TOML: Unclosed array"):
        Study.from_toml_text('name = "x"\nd = [1, 2\n')


def test_study_names_are_checked():
    with pytest.raises(StudyError, match="name"):
        Study("has space", fixed=BASE)


# --- laws and targets by name ------------------------------------------------------------------
@pytest.mark.parametrize("name", data.LAW_NAMES)
def test_every_law_name_builds_and_samples(name):
    spec = {
        "name": name,
        **({"alpha": 0.5} if name == "radial" else {}),
        **({"n_components": 2} if name == "ball_mixture" else {}),
    }
    law = data.law_from_spec(spec, 3)
    assert law.d == 3 and law.sample(5, seed=0).shape == (5, 3)
    assert data.canonical_spec(data.canonical_spec(spec)) == data.canonical_spec(spec)


@pytest.mark.parametrize("name", data.TARGET_NAMES)
def test_every_target_name_builds(name):
    target = data.target_from_spec(name, 3)
    values = target(np.zeros((4, 3)))
    assert target.d == 3 and values.shape == (4,) and np.all(np.isfinite(values))


# --- the worker ----------------------------------------------------------------------------------
def test_execute_measures_what_the_public_functions_give():
    config = RunConfig.from_mapping(
        {
            **BASE,
            "steps": 200,
            "noise": 0.3,
            "weight_decay": 0.01,
            "distribution": {"name": "radial", "alpha": 2.0},
            "target": "smooth",
            "record_every": 50,
            "init": "kaiming",
            "seed": 3,
        }
    )
    out = execute(config)
    m = out["metrics"]
    ds = data.draw(config.law(), config.target_function(), config.n, n_test=config.n_test, noise=0.3, seed=3)
    net = fc.Network.init(2, 16, seed=init_seed(3), scheme="kaiming")
    res = fc.train(
        net, ds.X, ds.y, 0.1, 200, weight_decay=0.01, record_every=50, test=(ds.X_test, ds.y_test), y_clean=ds.y_clean
    )
    final = res.net
    assert network_from_bytes(out["network"]) == final
    f = final.predict(ds.X)
    assert m["train_loss"] == res.final_loss
    assert m["train_mse"] == pytest.approx(np.mean((f - ds.y) ** 2), rel=1e-14)
    assert m["clean_mse"] == pytest.approx(np.mean((f - ds.y_clean) ** 2), rel=1e-14)
    assert m["test_mse"] == pytest.approx(np.mean((final.predict(ds.X_test) - ds.y_test) ** 2), rel=1e-14)
    assert m["gen_gap"] == pytest.approx(m["test_mse"] - m["train_mse"])
    # The history's last test_mse is the same quantity, computed by the core.
    assert out["history"]["test_mse"][-1] == pytest.approx(m["test_mse"], rel=1e-12)
    assert m["sharpness"] == pytest.approx(fc.sharpness(final, ds.X, ds.y), rel=1e-9)
    assert m["two_over_lr"] == 20.0
    assert m["trace"] == pytest.approx(fc.hessian_trace(final, ds.X, ds.y), rel=1e-12)
    assert m["min_trace"] == pytest.approx(theory.min_trace(final, ds.X, ds.y), rel=1e-12)
    assert m["min_trace"] <= m["trace"] * (1 + 1e-12)
    assert m["vg"] == pytest.approx(theory.vg_norm(final, ds.X), rel=1e-12)
    assert m["path_norm"] == pytest.approx(theory.path_norm(final), rel=1e-12)
    assert m["vg_population"] == pytest.approx(theory.vg_norm(final, law=config.law()), rel=1e-12)
    bound = theory.stability_bound(final, ds.X, ds.y, 0.1)
    assert m["stability_bound"] == pytest.approx(bound.bound) and m["bound_slack"] == pytest.approx(
        bound.bound - bound.vg
    )
    rates = fc.activation_rates(final, ds.X)
    assert m["act_mean"] == pytest.approx(rates.mean()) and m["act_max"] == rates.max()
    assert m["dead_share"] == np.mean(rates == 0) and m["rare10_share"] == np.mean(rates <= 0.1)
    assert m["steps_run"] == 200 and not m["diverged"] and m["diverged_step"] is None
    json.dumps(m)  # plain data


def test_a_diverged_run_is_done_with_the_step_and_no_metrics_of_a_broken_network():
    config = RunConfig.from_mapping({**BASE, "lr": 50.0, "steps": 500, "target": "smooth", "noise": 1.0})
    m = execute(config)["metrics"]
    assert m["diverged"] and m["diverged_step"] is not None and m["steps_run"] <= 500
    assert m["test_mse"] is None and m["sharpness"] is None
    json.dumps(m)


def test_run_task_turns_a_failure_into_a_record():
    config = RunConfig.from_mapping(BASE)
    record = run_task(Task("0" * 16, config.as_dict()))
    assert record["status"] == "failed" and "do not match the run id" in record["error"]
    record = run_task(Task(config.run_id, {**config.as_dict(), "lr": "x"}))
    assert record["status"] == "failed" and "lr" in record["error"]


def test_network_bytes_round_trip():
    net = fc.Network.init(3, 7, seed=1)
    assert network_from_bytes(network_bytes(net)) == net


# --- the store -----------------------------------------------------------------------------------
def _record(config, status="done", **metrics):
    return {
        "run_id": config.run_id,
        "status": status,
        "error": None if status == "done" else "boom",
        "metrics": metrics or None,
        "history": {"step": np.arange(3.0), "loss": np.array([3.0, 2.0, 1.0])},
        "network": None,
        "version": "x",
        "started": 0.0,
        "wall_seconds": 1.0,
        "threads": 1,
    }


def test_store_keeps_a_finished_run_and_replaces_a_failed_one(tmp_path):
    path = tmp_path / "s.db"
    config = RunConfig.from_mapping(BASE)
    with Store(path) as store:
        store.register("s", {"name": "s"}, [(config.run_id, config.canonical_json())])
        assert store.record(_record(config, "failed"))
        assert store.statuses() == {config.run_id: "failed"}
        assert store.record(_record(config, "done", train_loss=1.5))
        assert not store.record(_record(config, "done", train_loss=9.9))  # never overwritten
        assert not store.record(_record(config, "failed"))
        [row] = store.results()
        assert row["status"] == "done" and row["metrics"] == {"train_loss": 1.5} and row["attempts"] == 2
        np.testing.assert_array_equal(store.history(config.run_id)["loss"], [3.0, 2.0, 1.0])
    # A fresh connection sees the same, in WAL mode.
    db = sqlite3.connect(path)
    assert db.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    assert db.execute("SELECT COUNT(*) FROM results").fetchone()[0] == 1


def test_store_refuses_what_it_cannot_trust(tmp_path):
    junk = tmp_path / "junk.db"
    junk.write_bytes(b"not a database at all" * 100)
    before = junk.read_bytes()
    with pytest.raises(StoreError, match="left untouched"):
        Store(junk)
    assert junk.read_bytes() == before
    other = tmp_path / "other.db"
    db = sqlite3.connect(other)
    db.execute("CREATE TABLE t (x)")
    db.commit()
    db.close()
    with pytest.raises(StoreError, match="not a flatcore store"):
        Store(other)
    with pytest.raises(StoreError, match="does not exist"):
        Store(tmp_path / "missing.db", readonly=True)
    with pytest.raises(StoreError, match="folder"):
        Store(tmp_path)
    with pytest.raises(StoreError, match=r"folder .* does not exist"):
        Store(tmp_path / "no" / "such" / "s.db")


# --- running and loading -------------------------------------------------------------------------
class _SerialExecutor(Executor):
    """Runs in this process; fails each run listed in `fail_once` the first time."""

    def __init__(self, fail_once=()):
        self.fail_once = set(fail_once)
        self.calls = []

    def map_unordered(self, tasks):
        for task in tasks:
            self.calls.append(task.run_id)
            if task.run_id in self.fail_once:
                self.fail_once.discard(task.run_id)
                yield {**run_task(task), "status": "failed", "error": "RuntimeError: injected", "metrics": None}
            else:
                yield run_task(task)


def test_run_study_skips_stored_runs_and_retries_failures(tmp_path):
    study = Study("r", grid={"seed": [0, 1, 2]}, fixed=BASE)
    ids = [r.run_id for r in study.runs]
    first = _SerialExecutor(fail_once=[ids[1]])
    summary = run_study(study, tmp_path / "r.db", executor=first, progress=False)
    assert (summary.done, summary.failed, summary.skipped) == (2, 1, 0) and first.calls == ids
    again = _SerialExecutor()
    summary = run_study(study, tmp_path / "r.db", executor=again, progress=False)
    assert again.calls == [] and summary.skipped == 3
    summary = run_study(study, tmp_path / "r.db", executor=again, retry_failed=True, progress=False)
    assert again.calls == [ids[1]] and summary.done == 1
    res = load(tmp_path / "r.db")
    assert list(res.runs["status"]) == ["done"] * 3
    assert res.runs.set_index("run_id").loc[ids[1], "attempts"] == 2


def test_local_pool_and_load_agree_with_serial_runs(tmp_path):
    study = Study(
        "pool",
        grid={"d": [1, 3], "seed": [0, 1]},
        fixed={"n": 40, "lr": 0.05, "steps": 120, "noise": 0.2, "record_every": 40, "target": "smooth"},
        derived={"width": "2 * n"},
    )
    summary = study.run(tmp_path / "pool.db", workers=2, progress=False)
    assert summary.done == 4 and summary.failed == 0 and not summary.interrupted
    res = load(tmp_path / "pool.db")
    assert len(res.runs) == 4 and set(res.runs["status"]) == {"done"}
    assert list(res.runs["run_id"]) == [r.run_id for r in study.runs]  # the study's order
    for config in study.runs:
        direct = execute(config)
        row = res.runs.set_index("run_id").loc[config.run_id]
        for key, value in direct["metrics"].items():
            if key in ("train_seconds", "steps_per_s"):
                continue
            if value is None:
                assert row[key] is None or (isinstance(row[key], float) and math.isnan(row[key])), key
            else:
                assert row[key] == value, key  # bit for bit: the numbers depend only on the settings
        assert res.network(config.run_id) == network_from_bytes(direct["network"])
        ds = res.dataset(config.run_id)  # drawn again: the run's own data, so its loss comes back
        assert fc.loss(res.network(config.run_id), ds.X, ds.y) == pytest.approx(row["train_loss"], rel=1e-12)
        history = res.history(config.run_id)
        for column, values in direct["history"].items():
            np.testing.assert_array_equal(history[column].to_numpy(), values)
    long = res.histories
    assert set(long["run_id"]) == set(res.runs["run_id"]) and long["step"].dtype == np.int64
    table = res.summarize()
    assert list(table["d"]) == [1, 3] and list(table["runs"]) == [2, 2]
    assert table["test_mse"].iloc[0] == pytest.approx(res.runs[res.runs["d"] == 1]["test_mse"].median())
    assert res.studies.iloc[0].to_dict() == {
        "study": "pool",
        "description": "",
        "runs": 4,
        "done": 4,
        "failed": 0,
        "pending": 0,
    }


def test_a_run_in_two_studies_is_stored_once(tmp_path):
    a = Study("a", grid={"seed": [0, 1]}, fixed=BASE)
    b = Study("b", grid={"seed": [1, 2]}, fixed=BASE)
    run_study(a, tmp_path / "s.db", executor=_SerialExecutor(), progress=False)
    executor = _SerialExecutor()
    summary = run_study(b, tmp_path / "s.db", executor=executor, progress=False)
    assert summary.skipped == 1 and len(executor.calls) == 1
    res = load(tmp_path / "s.db")
    assert len(res.runs) == 3
    shared = b.runs[0].run_id
    assert res.runs.set_index("run_id").loc[shared, "study"] == "a,b"
    assert len(load(tmp_path / "s.db", study="b").runs) == 2
    with pytest.raises(KeyError, match="no study 'c'"):
        load(tmp_path / "s.db", study="c")


def test_pending_runs_are_listed(tmp_path):
    study = Study("p", grid={"seed": [0, 1]}, fixed=BASE)
    with Store(tmp_path / "p.db") as store:
        store.register(study.name, study.as_dict(), [(r.run_id, r.canonical_json()) for r in study.runs])
    res = load(tmp_path / "p.db")
    assert list(res.runs["status"]) == ["pending", "pending"]
    assert res.studies.iloc[0]["pending"] == 2


def test_config_error_is_a_value_error():
    with pytest.raises(ValueError):
        RunConfig.from_mapping({**BASE, "width": 0})
    assert issubclass(ConfigError, ValueError) and issubclass(StudyError, ValueError)


# --- properties ----------------------------------------------------------------------------------
_AXES = {
    "d": st.lists(st.integers(1, 6), min_size=1, max_size=3, unique=True),
    "n": st.lists(st.integers(1, 500), min_size=1, max_size=3, unique=True),
    "lr": st.lists(st.floats(1e-4, 10.0), min_size=1, max_size=3, unique=True),
    "seed": st.lists(st.integers(0, 2**31), min_size=1, max_size=4, unique=True),
    "noise": st.lists(st.floats(0.0, 3.0), min_size=1, max_size=2, unique=True),
}


@given(
    axes=st.dictionaries(st.sampled_from(sorted(_AXES)), st.just(None), min_size=1).flatmap(
        lambda keys: st.fixed_dictionaries({k: _AXES[k] for k in keys})
    ),
    data_=st.data(),
)
def test_grid_size_order_and_ids_do_not_depend_on_spelling(axes, data_):
    fixed = {k: v for k, v in {"d": 2, "n": 8, "lr": 0.1, "seed": 0, "noise": 0.0}.items() if k not in axes}
    fixed.update(width=4, steps=3)
    study = Study("prop", grid=axes, fixed=fixed)
    assert len(study) == math.prod(len(v) for v in axes.values())
    # The same runs declared with the keys in another order (and fixed settings as one-value lists)
    # have the same ids; only the order of the runs follows the grid's key order.
    keys = data_.draw(st.permutations(sorted(axes)))
    other = Study("prop2", grid={**{k: axes[k] for k in keys}, **{k: [v] for k, v in fixed.items()}})
    assert sorted(r.run_id for r in other.runs) == sorted(r.run_id for r in study.runs)
    assert len({r.run_id for r in study.runs}) == len(study)


def test_spec_labels_show_what_differs_from_the_defaults():
    assert data.spec_label("uniform_ball") == "uniform_ball"
    assert data.spec_label({"name": "radial", "alpha": 0.3}) == "radial(alpha=0.3)"
    assert data.spec_label({"name": "ball_mixture", "n_components": 3, "dim": 1}) == "ball_mixture(n_components=3)"
    assert data.spec_label({"name": "single_index", "link": "tanh"}, "target") == "single_index(link=tanh)"
