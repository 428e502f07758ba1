"""flatcore.plots and `flatcore plot`: the numbers behind the figures, and what each figure draws."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import flatcore as fc

matplotlib = pytest.importorskip("matplotlib")
matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
from matplotlib.collections import LineCollection  # noqa: E402
from matplotlib.patches import StepPatch  # noqa: E402

from flatcore import plots  # noqa: E402

PACKAGE_PARENT = str(Path(fc.__file__).resolve().parents[1])
LRS = (0.05, 0.4)


@pytest.fixture(scope="module")
def store(tmp_path_factory):
    """A tiny study: d = 2, two n, two step sizes, two seeds (8 runs, about a second)."""
    path = tmp_path_factory.mktemp("plots") / "tiny.db"
    fc.Study(
        "tiny",
        grid={"n": [16, 32], "lr": list(LRS), "seed": [0, 1]},
        fixed={"d": 2, "steps": 400, "noise": 0.3, "target": "smooth", "sharpness_every": 100, "record_every": 100},
        derived={"width": "2 * n"},
    ).run(path, progress=False)
    return path


@pytest.fixture(scope="module")
def res(store):
    with fc.load(store) as results:
        yield results


@pytest.fixture(autouse=True)
def _close_figures():
    yield
    plt.close("all")


def by_gid(artists, prefix):
    return [a for a in artists if (a.get_gid() or "").startswith(prefix)]


def synthetic_runs(exponents, *, ns=(32, 64, 128, 256, 512, 1024, 2048), seeds=8, sigma=0.15, C=3.0, rng=0):
    """Runs of y = C n^a exp(sigma z), one group per d."""
    rng = np.random.default_rng(rng)
    rows = [
        {"d": d, "n": n, "seed": s, "status": "done", "test_mse": C * n**a * np.exp(sigma * rng.standard_normal())}
        for d, a in exponents.items()
        for n in ns
        for s in range(seeds)
    ]
    return pd.DataFrame(rows)


# -------------------------------------------------------------------------------------------------
# fit_slopes: the numbers
# -------------------------------------------------------------------------------------------------
def test_fit_slopes_recovers_the_exponent():
    exponents = {1: -1.0, 2: -2 / 3, 5: -1 / 3}
    table = plots.fit_slopes(synthetic_runs(exponents), "n", "test_mse", "d", n_boot=500, seed=1)
    assert list(table["d"]) == [1, 2, 5]
    for row in table.itertuples():
        a = exponents[row.d]
        assert row.slope == pytest.approx(a, abs=0.05)
        assert row.ci_low <= a <= row.ci_high
        assert row.ci_low < row.slope < row.ci_high
        assert row.ci_high - row.ci_low < 0.2
        assert row.intercept == pytest.approx(np.log10(3.0), abs=0.15)
        assert (row.n_x, row.n_runs) == (7, 56)
    assert table.attrs["n_boot"] == 500 and table.attrs["ci"] == 0.95


def test_fit_slopes_exact_power_law_and_single_runs():
    """Without noise the slope is exact; with one run per x the interval has zero width."""
    runs = synthetic_runs({3: -0.4}, seeds=1, sigma=0.0)
    row = plots.fit_slopes(runs, by="d", n_boot=50).iloc[0]
    assert row.slope == pytest.approx(-0.4, abs=1e-12)
    assert row.ci_low == pytest.approx(-0.4, abs=1e-12) and row.ci_high == pytest.approx(-0.4, abs=1e-12)


def test_bootstrap_is_seeded_and_per_group():
    runs = synthetic_runs({1: -1.0, 2: -0.5}, seeds=4, sigma=0.3)
    a = plots.fit_slopes(runs, n_boot=200, seed=7)
    pd.testing.assert_frame_equal(a, plots.fit_slopes(runs, n_boot=200, seed=7))
    b = plots.fit_slopes(runs, n_boot=200, seed=8)
    assert not np.allclose(a[["ci_low", "ci_high"]], b[["ci_low", "ci_high"]])
    np.testing.assert_array_equal(a["slope"], b["slope"])  # the fit itself is not random
    # a group's interval does not depend on the other groups
    alone = plots.fit_slopes(runs[runs["d"] == 2], n_boot=200, seed=7)
    np.testing.assert_array_equal(alone[["slope", "ci_low", "ci_high"]], a[a["d"] == 2][["slope", "ci_low", "ci_high"]])
    none = plots.fit_slopes(runs, n_boot=0)
    assert none["ci_low"].isna().all() and none["slope"].notna().all()


def test_fit_slopes_leaves_out_unusable_runs():
    runs = synthetic_runs({1: -1.0}, seeds=3, sigma=0.0)
    bad = pd.DataFrame(
        [
            {"d": 1, "n": 64, "seed": 9, "status": "done", "test_mse": np.nan},  # diverged
            {"d": 1, "n": 64, "seed": 10, "status": "done", "test_mse": 0.0},
            {"d": 1, "n": 64, "seed": 11, "status": "failed", "test_mse": 1e9},
        ]
    )
    table = plots.fit_slopes(pd.concat([runs, bad], ignore_index=True), by=["d"], n_boot=10)
    assert table["n_runs"].iloc[0] == len(runs)
    assert table["slope"].iloc[0] == pytest.approx(-1.0, abs=1e-12)
    one_x = plots.fit_slopes(runs[runs["n"] == 64], by=None, n_boot=10)
    assert list(one_x["group"]) == ["all runs"] and np.isnan(one_x["slope"].iloc[0])
    with pytest.raises(KeyError, match="no column 'nope'"):
        plots.fit_slopes(runs, y="nope")
    with pytest.raises(ValueError, match="ci"):
        plots.fit_slopes(runs, ci=1.5)


# -------------------------------------------------------------------------------------------------
# The figures on a real store
# -------------------------------------------------------------------------------------------------
def test_sharpness_curves(res):
    runs, histories = res.runs, res.histories
    fig = plots.sharpness_curves(histories, runs)
    ax = fig.axes[0]
    curves = by_gid(ax.lines, "run:")
    levels = by_gid(ax.lines, "two_over_lr:")
    assert len(curves) == len(runs) and len(levels) == len(LRS)
    assert len(ax.lines) == len(runs) + len(LRS)
    assert sorted(line.get_ydata()[0] for line in levels) == sorted(2 / lr for lr in LRS)
    assert all(line.get_linestyle() == "--" for line in levels)
    for line in levels:  # the level has the colour of its step size's runs
        lr = float(line.get_gid().split(":")[1])
        ids = set(runs[runs["lr"] == lr]["run_id"])
        assert all(c.get_color() == line.get_color() for c in curves if c.get_gid()[4:] in ids)
    rid = runs["run_id"].iloc[0]
    one = next(c for c in curves if c.get_gid() == f"run:{rid}")
    expected = histories[histories["run_id"] == rid].dropna(subset=["sharpness"])
    np.testing.assert_array_equal(one.get_ydata(), expected["sharpness"])
    assert len(ax.get_legend().get_texts()) == len(LRS) + 1
    # grouped by n instead: one 2/lr level per (n, lr)
    fig = plots.sharpness_curves(histories, runs, by="n")
    assert len(by_gid(fig.axes[0].lines, "two_over_lr:")) == 4
    with pytest.raises(ValueError, match="sharpness_every"):
        plots.sharpness_curves(histories.assign(sharpness=np.nan), runs)


def test_activation_histogram_counts_every_neuron(res):
    groups = plots.group_runs(res.runs, "lr")
    assert list(groups) == [f"lr = {lr:g}" for lr in LRS]
    rates = plots.activation_rates_of(res, groups)
    for label, ids in groups.items():
        assert rates[label].size == res.runs.set_index("run_id").loc[ids, "width"].sum()
    fig = plots.activation_histogram(rates)
    patches = [p for p in fig.axes[0].patches if isinstance(p, StepPatch)]
    assert [p.get_gid() for p in patches] == list(groups)
    for patch in patches:
        values, edges = patch.get_data().values, patch.get_data().edges
        r = rates[patch.get_gid()]
        assert values.sum() == r.size
        assert values[0] == np.sum(r == 0)  # the zero bin, left of the logarithmic bins
        assert edges[2] <= r[r > 0].min() and edges[-1] == 1.0
    assert fig.axes[0].get_xscale() == "log"
    fig = plots.activation_histogram(rates, log=False, share=True, bins=10)
    for patch in [p for p in fig.axes[0].patches if isinstance(p, StepPatch)]:
        assert patch.get_data().values.sum() == pytest.approx(1.0)
        np.testing.assert_allclose(patch.get_data().edges, np.linspace(0, 1, 11))
    # one group per run
    per_run = plots.activation_rates_of(res, list(res.runs["run_id"][:2]))
    assert list(per_run) == list(res.runs["run_id"][:2])
    with pytest.raises(ValueError, match=r"\[0, 1\]"):
        plots.activation_histogram({"bad": [0.5, 1.5]})


def test_activation_scatter(res):
    rid = res.runs[res.runs["lr"] == max(LRS)]["run_id"].iloc[0]
    net, X = res.network(rid), res.dataset(rid).X
    fig = plots.activation_scatter(net, X, label="large lr")
    ax = fig.axes[0]
    rates = fc.activation_rates(net, X)
    weight = np.abs(net.v) * np.linalg.norm(net.W, axis=1)
    (active,) = by_gid(ax.collections, "active")
    dead = by_gid(ax.collections, "dead")
    n_dead = int(np.sum((rates == 0) & (weight > 0)))
    assert len(active.get_offsets()) == int(np.sum((rates > 0) & (weight > 0)))
    assert sum(len(c.get_offsets()) for c in dead) == n_dead
    offsets = np.asarray(active.get_offsets())
    np.testing.assert_allclose(np.sort(offsets[:, 1]), np.sort(rates[(rates > 0) & (weight > 0)]))
    (one_point,) = by_gid(ax.lines, "one_point")
    assert one_point.get_ydata()[0] == pytest.approx(1 / len(X))
    assert ax.get_xscale() == ax.get_yscale() == "log"
    # overlaying a second network on the same axes
    small = res.runs[(res.runs["lr"] == min(LRS)) & (res.runs["n"] == len(X))]["run_id"].iloc[0]
    plots.activation_scatter(res.network(small), res.dataset(small).X, ax=ax, color="C1")
    assert len(by_gid(ax.collections, "active")) == 2 and len(by_gid(ax.lines, "one_point")) == 1


def test_rate_plot(res):
    runs = res.runs
    refs = [("n^(-2/(d+1))", lambda d: -2 / (d + 1)), ("n^-0.5", -0.5)]
    fig = plots.rate_plot(runs, "n", "test_mse", "lr", references=refs, n_boot=100, seed=3)
    ax = fig.axes[0]
    table = plots.fit_slopes(runs, "n", "test_mse", "lr", n_boot=100, seed=3)
    assert len(by_gid(ax.lines, "median:")) == len(by_gid(ax.lines, "fit:")) == len(LRS)
    assert len(by_gid(ax.collections, "runs:")) == len(LRS)
    assert sum(len(c.get_offsets()) for c in by_gid(ax.collections, "runs:")) == len(runs)
    assert len(by_gid(ax.lines, "reference:")) == len(refs) * len(LRS)
    texts = [t.get_text() for t in ax.get_legend().get_texts()]
    for row in table.itertuples():
        expected = f"{row.label}: slope {row.slope:.3f} [{row.ci_low:.3f}, {row.ci_high:.3f}]"
        assert expected in texts
        median = next(line for line in ax.lines if line.get_gid() == f"median:{row.label}")
        group = runs[runs["lr"] == row.lr]
        np.testing.assert_allclose(median.get_ydata(), group.groupby("n")["test_mse"].median().to_numpy())
    assert {"n^(-2/(d+1))", "n^-0.5"} <= set(texts)
    ref = next(line for line in ax.lines if line.get_gid() == f"reference:n^-0.5:{table.label[0]}")
    x, y = ref.get_xdata(), ref.get_ydata()
    assert np.log(y[-1] / y[0]) / np.log(x[-1] / x[0]) == pytest.approx(-0.5)
    assert ax.get_xscale() == ax.get_yscale() == "log"


def test_bound_plot(res):
    runs = res.runs
    fig = plots.bound_plot(runs)
    ax = fig.axes[0]
    (identity,) = by_gid(ax.lines, "identity")
    np.testing.assert_array_equal(identity.get_xdata(), identity.get_ydata())
    lo, hi = identity.get_xdata()
    values = np.concatenate([runs["vg"], runs["stability_bound"]])
    assert lo < values.min() and hi > values.max()
    points = np.concatenate([c.get_offsets() for c in by_gid(ax.collections, "runs:")])
    assert len(points) == len(runs)
    np.testing.assert_allclose(np.sort(points[:, 1]), np.sort(runs["vg"]))
    below = int(np.sum(runs["vg"] <= runs["stability_bound"]))
    assert any(t.get_text() == f"{below} of {len(runs)} runs below the line" for t in ax.texts)


def crossing_count(W, b, corners):
    """Neurons whose line w.x = b separates two corners of a box (an independent count)."""
    side = corners @ W.T - b
    return int(np.sum((side.max(axis=0) > 0) & (side.min(axis=0) < 0)))


def test_regions_2d_draws_one_line_per_crossing_kink(res):
    rid = res.runs[res.runs["lr"] == max(LRS)]["run_id"].iloc[0]
    net, X = res.network(rid), res.dataset(rid).X
    fig = plots.regions_2d(net, X, margin=0.0, shade=True)
    ax = fig.axes[0]
    (kinks,) = by_gid(ax.collections, "kinks")
    assert isinstance(kinks, LineCollection)
    lo, hi = X.min(axis=0), X.max(axis=0)
    corners = np.array([[lo[0], lo[1]], [hi[0], lo[1]], [hi[0], hi[1]], [lo[0], hi[1]]])
    segments = kinks.get_segments()
    assert len(segments) == crossing_count(net.W, net.b, corners) > 0
    assert len(by_gid(ax.collections, "active sides")[0].get_paths()) == len(segments)
    (data,) = by_gid(ax.collections, "data")
    np.testing.assert_array_equal(data.get_offsets(), X)
    # each segment lies on a kink line and ends on the box's edge
    index, segs = plots.kink_segments(net.W, net.b, box=(lo[0], hi[0], lo[1], hi[1]))
    assert len(index) == len(segments)
    for k, seg in zip(index, segs):
        np.testing.assert_allclose(seg @ net.W[k], [net.b[k]] * 2, atol=1e-9)
        on_edge = np.isclose(seg, lo, atol=1e-9) | np.isclose(seg, hi, atol=1e-9)
        assert on_edge.any(axis=1).all()
    # the unit disk: the lines at distance |b|/||w|| < 1 from 0
    fig = plots.regions_2d(net, X, region="disk", color_by="rate")
    (kinks,) = by_gid(fig.axes[0].collections, "kinks")
    assert len(kinks.get_segments()) == int(np.sum(np.abs(net.b) < np.linalg.norm(net.W, axis=1)))
    with pytest.raises(ValueError, match="d = 2"):
        plots.regions_2d(fc.Network.init(3, 4), np.zeros((5, 3)))


def test_kink_segments_by_hand():
    W = np.array([[1.0, 0.0], [0.0, 2.0], [1.0, 0.0], [0.0, 0.0], [1.0, 1.0], [1.0, 1.0]])
    b = np.array([0.5, -1.0, 3.0, 0.0, 2.0, 0.0])  # x = 0.5, y = -0.5, outside, no line, a corner, a diagonal
    index, segs = plots.kink_segments(W, b, box=(-1, 1, -1, 1))
    assert list(index) == [0, 1, 5]
    np.testing.assert_allclose(segs[0], [[0.5, -1], [0.5, 1]])
    np.testing.assert_allclose(np.sort(segs[1][:, 0]), [-1, 1])
    np.testing.assert_allclose(segs[1][:, 1], [-0.5, -0.5])
    np.testing.assert_allclose(np.sort(segs[2][:, 0]), [-1, 1])
    index, segs = plots.kink_segments(W, b, radius=1.0)
    assert list(index) == [0, 1, 5]
    np.testing.assert_allclose(np.linalg.norm(segs, axis=2), 1.0)


def test_function_2d(res):
    rid = res.runs["run_id"].iloc[0]
    net, data = res.network(rid), res.dataset(rid)
    fig = plots.function_2d(net, data.X, y=data.y, resolution=41, kinks=True)
    ax = fig.axes[0]
    (image,) = [im for im in ax.images if im.get_gid() == "f"]
    array = image.get_array()
    assert array.shape == (41, 41)
    assert array.mask[0, 0] and not array.mask[20, 20]  # a corner is outside the disk
    grid = np.linspace(-1, 1, 41)
    assert array[20, 30] == pytest.approx(net.predict(np.array([[grid[30], grid[20]]]))[0], rel=1e-12)
    np.testing.assert_allclose(by_gid(ax.collections, "data")[0].get_array(), data.y)
    assert len(by_gid(ax.collections, "kinks")) == 1
    assert len(fig.axes) == 2  # and the colour bar


def test_save_writes_png_and_pdf(res, tmp_path):
    fig = plots.bound_plot(res.runs)
    paths = plots.save(fig, tmp_path / "sub" / "bound.png")
    assert paths == [str(tmp_path / "sub" / "bound.png"), str(tmp_path / "sub" / "bound.pdf")]
    for path in paths:
        assert os.path.getsize(path) > 1000
    assert Path(paths[0]).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert Path(paths[1]).read_bytes()[:5] == b"%PDF-"
    first = Path(paths[1]).read_bytes()
    plots.save(fig.axes[0], tmp_path / "sub" / "bound", formats=("pdf",))  # an Axes saves its figure
    assert Path(paths[1]).read_bytes() == first  # no creation date: the same bytes


# -------------------------------------------------------------------------------------------------
# The command line
# -------------------------------------------------------------------------------------------------
def synthetic_history(values_by_run):
    """A histories table: run id -> the values of ``q`` at steps 0, 10, 20, ..."""
    rows = [
        {"run_id": rid, "step": 10 * i, "q": v} for rid, values in values_by_run.items() for i, v in enumerate(values)
    ]
    return pd.DataFrame(rows)


def test_late_change_and_at_fraction_by_hand():
    """Steps 0..100 by 10: the last fifth starts at step 80 (the row at or before 0.8 * 100)."""
    h = synthetic_history(
        {
            "settled": [5.0] * 8 + [2.0, 2.0, 2.0],  # steps 0..70 at 5, 80..100 at 2
            "moving": [float(10 - i) for i in range(11)],  # 10, 9, ..., 0 ... ends at 0: left out
            "halving": [8.0] * 8 + [4.0, 3.0, 2.0],
            "nan_end": [1.0] * 10 + [np.nan],  # NaN rows are skipped: ends at step 90
        }
    )
    change = plots.late_change(h, "q", 0.2)
    assert change["settled"] == 0.0
    assert "moving" not in change  # final value 0: no relative change
    assert change["halving"] == pytest.approx(1.0)  # |2 - 4| / 2
    assert change["nan_end"] == 0.0
    runs = pd.DataFrame({"run_id": ["settled", "halving", "absent"], "q": [2.0, 2.0, 7.0], "d": [1, 2, 3]})
    early = plots.at_fraction(h, runs, "q", 0.8)
    assert list(early["run_id"]) == ["settled", "halving"]  # no history: dropped
    assert list(early["q"]) == [2.0, 4.0] and list(early["d"]) == [1, 2]
    assert list(plots.at_fraction(h, runs, "q", 0.75)["q"]) == [5.0, 8.0]  # step 70
    assert list(plots.at_fraction(h, runs, "q", 1.0)["q"]) == [2.0, 2.0]
    assert runs["q"].tolist() == [2.0, 2.0, 7.0]  # the input is not modified
    with pytest.raises(ValueError, match="fraction"):
        plots.at_fraction(h, runs, "q", 1.5)
    with pytest.raises(ValueError, match="fraction"):
        plots.late_change(h, "q", 0.0)


def test_late_change_of_a_study_matches_its_histories(res):
    """On a real store: the change over the last fifth from the recorded loss, run by run."""
    h = res.histories
    change = plots.late_change(h, "loss")
    assert set(change.index) == set(res.runs["run_id"])
    for rid, value in change.items():
        loss = h.loc[h["run_id"] == rid].sort_values("step")
        steps, ys = loss["step"].to_numpy(), loss["loss"].to_numpy()
        start = ys[steps <= 0.8 * steps[-1]][-1]
        assert value == pytest.approx(abs(ys[-1] - start) / abs(ys[-1]), rel=1e-12)
    # at the end, at_fraction gives back the stored final loss's history value
    final = plots.at_fraction(h, res.runs.assign(loss=np.nan), "loss", 1.0)
    last = h.sort_values("step").groupby("run_id")["loss"].last()
    assert np.allclose(final.set_index("run_id")["loss"], last[final["run_id"]])


def test_settling_curves(res):
    fig = plots.settling_curves(res.histories, res.runs, "loss", by="lr")
    lines = by_gid(fig.axes[0].get_lines(), "group:")
    assert len(lines) == len(LRS)
    for line in lines:
        assert line.get_ydata()[-1] == pytest.approx(1.0)  # each run over its own final value
        assert line.get_xdata()[0] == 0.0 and line.get_xdata()[-1] == 1.0
    with pytest.raises(ValueError, match="history"):
        plots.settling_curves(res.histories, res.runs.assign(run_id="x"), "loss")


def run_cli(*args, env_extra=None):
    env = {**os.environ, "PYTHONPATH": PACKAGE_PARENT, "MPLBACKEND": "Agg", **(env_extra or {})}
    return subprocess.run(
        [sys.executable, "-m", "flatcore", *args], capture_output=True, text=True, timeout=120, env=env
    )


def test_cli_plot_writes_its_files(store, tmp_path):
    out = run_cli("plot", str(store), "rates", "--by", "lr", "--n-boot", "50", "--out", str(tmp_path / "rates"))
    assert out.returncode == 0, out.stderr
    for ext in ("png", "pdf"):
        path = tmp_path / f"rates.{ext}"
        assert f"wrote {path}" in out.stdout and path.stat().st_size > 1000
    assert "slope" in out.stdout and "ci_low" in out.stdout
    bad = run_cli("plot", str(store), "rates", "--y", "nope", "--out", str(tmp_path / "x"))
    assert bad.returncode == 2 and "no column 'nope'" in bad.stderr


@pytest.mark.parametrize("kind", ["sharpness", "activations", "bound", "settling", "regions", "function"])
def test_cli_plot_kinds(store, tmp_path, kind, capsys):
    from flatcore.cli import main

    assert main(["plot", str(store), kind, "--study", "tiny", "--out", str(tmp_path / kind)]) == 0
    assert (tmp_path / f"{kind}.png").stat().st_size > 1000 and (tmp_path / f"{kind}.pdf").stat().st_size > 1000
    assert f"wrote {tmp_path / kind}.pdf" in capsys.readouterr().out


def test_cli_plot_errors(store, tmp_path, capsys):
    from flatcore.cli import main

    assert main(["plot", str(store), "regions", "--run", "0123456789abcdef", "--out", str(tmp_path / "r")]) == 2
    assert "no run '0123456789abcdef'" in capsys.readouterr().err
    assert main(["plot", str(store), "bound", "--study", "nope"]) == 2
    assert "no study 'nope'" in capsys.readouterr().err


def test_without_matplotlib(store):
    """Without matplotlib, flatcore imports and loads stores; a figure says how to install it."""
    script = textwrap.dedent(
        f"""
        import sys
        sys.modules["matplotlib"] = None
        import flatcore
        import flatcore.cli
        res = flatcore.load({str(store)!r})
        assert len(res.runs) == 8
        try:
            flatcore.plots.sharpness_curves(res.histories, res.runs)
        except ImportError as exc:
            print("ImportError:", exc)
        assert not any(m == "matplotlib" or m.startswith("matplotlib.") for m in sys.modules if sys.modules[m])
        sys.exit(flatcore.cli.main(["plot", {str(store)!r}, "bound"]))
        """
    )
    env = {**os.environ, "PYTHONPATH": PACKAGE_PARENT}
    out = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=120, env=env)
    assert "ImportError:" in out.stdout and 'pip install "flatcore[plots]"' in out.stdout, out.stderr
    assert out.returncode == 2 and "flatcore[plots]" in out.stderr


def test_histories_are_read_once_and_handed_out_as_copies(res):
    first = res.histories
    first.loc[:, "loss"] = -1.0  # a caller's edit
    second = res.histories
    assert (second["loss"] >= 0).all() and len(second) == len(first)
    assert res._histories is not second  # the kept table is not handed out
