"""flatcore reproduce at the quick sizes: the numbers under the figures, the report, resuming."""

import os
import re
import subprocess
import sys

import numpy as np
import pytest

pytest.importorskip("matplotlib")

import flatcore as fc
from flatcore import studies
from flatcore.reproduce import HEADLINE, reproduce


@pytest.fixture(scope="module")
def reproduction(tmp_path_factory):
    out = tmp_path_factory.mktemp("reproduction")
    report, sections = reproduce(out, progress=False)
    return out, report, {s.key: s for s in sections}


def test_edge_of_stability(reproduction):
    """E1: at the end of training the sharpness sits at 2/lr for every step size."""
    _, _, sections = reproduction
    ratios = sections["E1"].numbers["late_sharpness_over_2_over_lr"]
    assert sorted(ratios) == [0.1, 0.2, 0.4]
    for lr, ratio in ratios.items():
        assert 0.95 <= ratio <= 1.05, (lr, ratio)


def test_shattering(reproduction):
    """E2: large-lr neurons fire on few points, far fewer than with weight decay; large-lr GD sits
    at the edge of stability; it fits the labels' noise, weight decay fits the target."""
    _, _, sections = reproduction
    n = sections["E2"].numbers
    assert n["d"] == 10
    assert n["act_mean_large"] < 0.1 < n["act_mean_small"]
    assert n["act_mean_large"] * 10 < n["act_mean_small"]
    assert 0.9 <= n["sharpness_over_2_over_lr_large"] <= 1.1
    assert n["train_mse_large"] < n["train_mse_small"]  # fits the noisy labels more closely ...
    assert n["clean_mse_large"] > 5 * n["clean_mse_small"]  # ... and the target much worse
    # the reported quantities have stopped moving: under 15% over the last fifth in every run
    settled = n["change_last_fifth"]
    assert set(settled) == {"clean_mse", "active_fraction"}
    for column, regimes in settled.items():
        assert set(regimes) == {"large lr", "small lr + weight decay"}
        assert all(0 <= median <= worst < 0.15 for median, worst in regimes.values()), (column, regimes)


def test_rates(reproduction):
    """E3 (quick: d 1 and 3, n 32 to 128): the error falls with n; at the large step size the rate
    is flatter in d = 3 than in d = 1 (within 0.1: the quick size is small)."""
    _, _, sections = reproduction
    slopes = sections["E3"].numbers["slopes"]
    large = slopes["large lr"]
    assert all(slope < 0 for slope, _, _ in large.values())
    assert large[3][0] >= large[1][0] - 0.1
    for slope, low, high in large.values():
        assert low <= slope <= high
    moves = sections["E3"].numbers["test_mse_change_last_fifth"]
    assert set(moves) == {"large lr", "small lr + weight decay"}
    assert all(0 <= median <= worst for median, worst in moves.values())
    # the slopes have stopped moving: computed again at four fifths of training they agree to 0.1
    shift = sections["E3"].numbers["test_slope_shift_last_fifth"]
    assert set(shift) == {"large lr", "small lr + weight decay"}
    assert all(0 <= value < 0.1 for value in shift.values()), shift
    assert any(path.endswith("e3-settling.png") for path, _ in sections["E3"].figures)


def test_bound_holds(reproduction):
    """E4: every trained network is stable and satisfies the bound on V_g."""
    _, _, sections = reproduction
    n = sections["E4"].numbers
    assert n["min_slack"] >= 0 and n["stable"] == n["runs"] == len(studies.study("e4", quick=True))


def test_packing(reproduction):
    """E5: the members of the boundary packing are pairwise separated in L2, cost almost nothing in
    V_g against their path norm, and the packing fits part of pure noise on the points of its caps."""
    _, _, sections = reproduction
    n = sections["E5"].numbers["d2"]
    assert n["neurons"] >= 10 and n["min_distance"] > 0.05
    assert n["vg_median"] < 1e-5 * n["path_norm"]
    assert n["cap_points"] > 0 and n["cap_mse_after"] < 0.95 * n["cap_mse_before"]
    assert n["fit_vg"] < 1e-5 * n["fit_path_norm"]


def test_geometry_and_trace(reproduction):
    """E6: every law gets a fitted rate; E7: rescalings move the raw trace and leave min-trace alone,
    and the run retraced in pieces ends where the stored one did."""
    _, _, sections = reproduction
    slopes = sections["E6"].numbers["slopes"]
    assert len(slopes) == 3 and all(np.isfinite(s) for s, _, _ in slopes.values())
    for lr, n in ((k, v) for k, v in sections["E7"].numbers.items() if k.startswith("lr")):
        assert n["min_trace_never_above_trace"], lr
        assert n["rescaled_trace_spread"] > 1.5 and n["rescaled_min_trace_change"] < 1e-9, (lr, n)
        assert n["retraced_final_trace"] == pytest.approx(n["stored_final_trace"], rel=1e-12)


def test_report_is_self_contained(reproduction):
    _, report, sections = reproduction
    text = report.read_text()
    images = re.findall(r'<img src="data:image/png;base64,([A-Za-z0-9+/=]+)"', text)
    figures = [png for s in sections.values() for png, _ in s.figures]
    assert len(images) == len(figures) >= 8
    assert all(os.path.getsize(png) > 1000 and os.path.exists(png[:-4] + ".pdf") for png in figures)
    rows = sum(len(s.headlines) for s in sections.values())
    assert text.count("<tr><td>") == rows > 10
    assert 'src="http' not in text and "<script" not in text  # nothing to fetch


def test_reproduce_resumes_without_running_again(reproduction):
    out, _, _ = reproduction
    with fc.load(out / "flatcore.db") as res:
        before = res.runs[["run_id", "wall_seconds"]].copy()
    assert set(before["run_id"]) == {r.run_id for name in HEADLINE for r in studies.study(name, quick=True).runs}
    reproduce(out, progress=False, only=["e4"])
    with fc.load(out / "flatcore.db") as res:
        after = res.runs[["run_id", "wall_seconds"]]
        assert after.set_index("run_id").equals(before.set_index("run_id"))  # nothing ran again


def test_cli(tmp_path):
    env = {**os.environ, "PYTHONPATH": os.path.dirname(os.path.dirname(fc.__file__)), "MPLBACKEND": "Agg"}
    out = subprocess.run(
        [sys.executable, "-m", "flatcore", "reproduce", "--only", "e1", "--out", str(tmp_path / "r"), "--no-progress"],
        capture_output=True,
        text=True,
        env=env,
        timeout=600,
    )
    assert out.returncode == 0, out.stderr
    assert "E1" in out.stdout and (tmp_path / "r" / "report.html").exists()
    bad = subprocess.run(
        [sys.executable, "-m", "flatcore", "reproduce", "--only", "e1", "--full", "e9", "--out", str(tmp_path / "r")],
        capture_output=True,
        text=True,
        env=env,
        timeout=600,
    )
    assert bad.returncode == 2 and "no built-in study 'e9'" in bad.stderr and "Traceback" not in bad.stderr


def test_builtin_studies_parse_at_both_sizes():
    for name in studies.NAMES:
        full, quick = studies.study(name), studies.study(name, quick=True)
        assert len(quick) <= len(full) and full.description
    assert studies.resolve("e3") == "e3-curse-of-dimensionality"
    assert set(studies.FULL_WALL_TIME) == set(studies.NAMES) | set(studies.COMPUTED)
    with pytest.raises(KeyError, match="no built-in study"):
        studies.resolve("e99")
    # E5 builds its networks directly: listed and resolved, but it has no study file to run
    assert studies.resolve("E5") == "e5-packing"
    with pytest.raises(KeyError, match="reproduce --only e5"):
        studies.study("e5")


def test_studies_lists_every_experiment(capsys):
    from flatcore.cli import main

    assert main(["studies"]) == 0
    listed = [line.split()[0] for line in capsys.readouterr().out.splitlines() if line[:1] == "e"]
    assert listed == sorted([*studies.NAMES, *studies.COMPUTED])
    assert [name.split("-")[0] for name in listed] == [f"e{i}" for i in range(1, 8)]
    assert main(["run", "e5"]) == 2
    assert "flatcore reproduce --only e5" in capsys.readouterr().err


def test_without_matplotlib_the_report_has_the_numbers(tmp_path):
    code = (
        "import sys; sys.modules['matplotlib'] = None\n"
        "import importlib.util; importlib.util.find_spec = (lambda f: lambda name, *a: None if name == 'matplotlib' "
        "else f(name, *a))(importlib.util.find_spec)\n"
        "from flatcore.cli import main; sys.exit(main(['reproduce', '--only', 'e4', '--out', sys.argv[1], "
        "'--no-progress']))\n"
    )
    env = {**os.environ, "PYTHONPATH": os.path.dirname(os.path.dirname(fc.__file__))}
    out = subprocess.run(
        [sys.executable, "-c", code, str(tmp_path / "r")], capture_output=True, text=True, env=env, timeout=600
    )
    assert out.returncode == 0, out.stderr
    assert "no figures" in out.stdout and "smallest slack" in out.stdout
    text = (tmp_path / "r" / "report.html").read_text()
    assert "flatcore[plots]" in text and "<img" not in text and "smallest slack" in text


def test_e2_reports_each_reading_of_the_paper(tmp_path):
    """A shattering study that also runs the paper's written reading (1/(2n), W and v decayed) gets
    that reading's numbers in the table; the figures follow PyTorch's (MSELoss, all decayed)."""
    from flatcore.reproduce import ANALYSES

    study = fc.Study(
        "readings",
        grid={
            "d": [2, 3],
            "regime": [{"lr": 0.5, "weight_decay": 0.0}, {"lr": 0.05, "weight_decay": 0.1}],
            "reading": [{"loss": "half_mse", "decay_biases": False}, {"loss": "mse", "decay_biases": True}],
        },
        fixed={"n": 32, "width": 64, "steps": 300, "noise": 0.5, "init": "kaiming", "clip_grad_norm": 50.0},
    )
    study.run(tmp_path / "r.db", workers=2, progress=False)
    with fc.load(tmp_path / "r.db") as res:
        section = ANALYSES["e2-shattering"](res, "readings", tmp_path / "figures")
        runs = res.runs
    torch_like = runs[(runs["loss"] == "mse") & (runs["d"] == 3)]
    assert section.numbers["clean_mse_large"] == torch_like[torch_like["lr"] == 0.5]["clean_mse"].median()
    other = section.numbers["reading loss half_mse, biases not decayed"]
    written = runs[(runs["loss"] == "half_mse") & (runs["d"] == 3)]
    assert other["clean_mse_small"] == written[written["lr"] == 0.05]["clean_mse"].median()
    assert any("loss half_mse, biases not decayed" in h.quantity for h in section.headlines)


def test_run_a_builtin_study_by_name(tmp_path):
    env = {**os.environ, "PYTHONPATH": os.path.dirname(os.path.dirname(fc.__file__))}
    out = subprocess.run(
        [sys.executable, "-m", "flatcore", "run", "e7", "--quick", "--no-progress", "--workers", "1"],
        capture_output=True,
        text=True,
        env=env,
        timeout=600,
        cwd=tmp_path,
    )
    assert out.returncode == 0, out.stderr
    with fc.load(tmp_path / "e7-trace-rescaling-quick.db") as res:
        assert len(res.runs) == len(studies.study("e7", quick=True)) and set(res.runs["status"]) == {"done"}
        assert (res.runs["min_trace"] <= res.runs["trace"]).all()
    bad = subprocess.run(
        [sys.executable, "-m", "flatcore", "run", "e42"],
        capture_output=True,
        text=True,
        env=env,
        timeout=600,
        cwd=tmp_path,
    )
    assert bad.returncode == 2 and "no built-in study 'e42'" in bad.stderr
