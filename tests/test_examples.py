"""The study files in examples/: each parses, says what it shows and how long it takes, and the small ones run."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

import flatcore

EXAMPLES = Path(__file__).resolve().parents[1] / "examples"
FILES = sorted(EXAMPLES.glob("*.toml"))
ENV = {**os.environ, "PYTHONPATH": os.path.dirname(os.path.dirname(os.path.abspath(flatcore.__file__)))}


def run_cli(*args, cwd):
    return subprocess.run(
        [sys.executable, "-m", "flatcore", *map(str, args)],
        cwd=cwd,
        env=ENV,
        capture_output=True,
        text=True,
        timeout=600,
    )


def header(path: Path) -> str:
    """The comment block a study file starts with."""
    lines = []
    for line in path.read_text().splitlines():
        if not line.startswith("#"):
            break
        lines.append(line.lstrip("# "))
    return " ".join(lines)


def test_the_examples_are_there():
    assert {"quick.toml", "curse_of_dimensionality.toml", "edge_of_stability.toml"} <= {p.name for p in FILES}


@pytest.mark.parametrize("path", FILES, ids=lambda p: p.name)
def test_every_example_parses_and_says_what_it_shows(path):
    study = flatcore.Study.from_toml(path)
    assert len(study) > 0 and study.runs
    text = header(path)
    assert len(text) > 100, "the header should say what the study shows"
    assert re.search(r"\b(seconds?|minutes?|hours?)\b", text), "the header should say how long it takes"
    assert f"{len(study)} runs" in text, f"the header should count the runs ({len(study)})"


def test_the_curse_of_dimensionality_design():
    study = flatcore.Study.from_toml(EXAMPLES / "curse_of_dimensionality.toml")
    runs = study.runs
    assert len(runs) == 5 * 5 * 2 * 3
    assert sorted({r.n for r in runs}) == [32, 64, 128, 256, 512]
    assert sorted({r.d for r in runs}) == [1, 2, 3, 4, 5]
    assert sorted({r.seed for r in runs}) == [0, 1, 2]
    assert {(r.lr, r.weight_decay) for r in runs} == {(0.2, 0.0), (0.01, 0.1)}
    assert len({r.lr * r.steps for r in runs}) == 1  # the same lr * steps in both regimes
    for r in runs:
        assert r.width == 4 * r.n
        assert (r.init, r.clip_grad_norm, r.noise) == ("kaiming", 50.0, 1.0)
        assert r.distribution["name"] == "uniform_ball" and r.target["name"] == "linear"


def test_quick_runs_end_to_end(tmp_path):
    study = flatcore.Study.from_toml(EXAMPLES / "quick.toml")
    db = tmp_path / "quick.db"
    out = run_cli("run", EXAMPLES / "quick.toml", "--db", db, "--workers", 2, "--no-progress", cwd=tmp_path)
    assert out.returncode == 0, out.stdout + out.stderr
    with flatcore.load(db) as res:
        assert len(res.runs) == len(study)
        assert set(res.runs["status"]) == {"done"}
        assert set(res.runs["run_id"]) == {r.run_id for r in study.runs}
        assert not res.histories.empty
    summary = run_cli("summarize", db, cwd=tmp_path)
    assert summary.returncode == 0 and "test_mse" in summary.stdout, summary.stderr


def test_edge_of_stability_shows_what_it_says(tmp_path):
    db = tmp_path / "eos.db"
    out = run_cli("run", EXAMPLES / "edge_of_stability.toml", "--db", db, "--workers", 2, "--no-progress", cwd=tmp_path)
    assert out.returncode == 0, out.stdout + out.stderr
    with flatcore.load(db) as res:
        runs = res.runs
        histories = res.histories
    assert set(runs["status"]) == {"done"} and not runs["diverged"].any()
    for run in runs.itertuples():
        sharpness = histories.loc[histories["run_id"] == run.run_id, "sharpness"].dropna().to_numpy()
        assert len(sharpness) > 100  # tracked along the way
        assert run.sharpness <= 1.1 * run.two_over_lr  # GD does not stay above 2/lr
        if run.lr >= 0.6:  # the largest step sizes: at the edge
            assert run.sharpness >= 0.8 * run.two_over_lr
        if run.lr == min(runs["lr"]):  # the smallest: near its initial value, far below 2/lr
            assert run.sharpness == pytest.approx(sharpness[0], rel=0.05)
            assert run.sharpness < 0.5 * run.two_over_lr
