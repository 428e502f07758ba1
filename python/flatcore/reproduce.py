"""Reproduce the shattering evidence end to end: built-in studies, figures and a report.

:func:`reproduce` runs the headline built-in studies (quick sizes by default, full sizes on
request) into one store in a folder, draws their figures, and writes ``report.html``: one
self-contained page (figures embedded) with a table of the headline numbers next to what
arXiv:2506.20779 reports and a sentence on what each figure shows. Run again, it resumes: the
store skips finished runs, and the figures and report are drawn afresh.
"""

from __future__ import annotations

import base64
import html
import importlib.util
import math
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Optional

import numpy as np

from . import __version__, studies
from .experiments import Results, load

__all__ = ["reproduce", "HEADLINE", "Headline", "Section", "analyse"]

#: The studies `flatcore reproduce` runs, in order.
HEADLINE = (
    "e1-edge-of-stability",
    "e2-shattering",
    "e3-curse-of-dimensionality",
    "e4-stability-bound",
    "e6-data-geometry",
    "e7-trace-rescaling",
)


@dataclass
class Headline:
    """One number of the report: what it is, flatcore's value, the paper's, and a comment."""

    quantity: str
    ours: str
    paper: str
    comment: str = ""


@dataclass
class Section:
    """One experiment's part of the report."""

    key: str
    title: str
    study: str
    text: str
    figures: list[tuple[str, str]] = field(default_factory=list)  # (png path, caption)
    headlines: list[Headline] = field(default_factory=list)
    numbers: dict[str, Any] = field(default_factory=dict)  # the values the tests check


def _fmt(x, digits: int = 3) -> str:
    if x is None or (isinstance(x, float) and not math.isfinite(x)):
        return "-"
    return f"{x:.{digits}g}"


def _runs_of(results: Results, study: str):
    runs = results.runs
    return runs[runs["study"].str.split(",").apply(lambda names: study in names) & (runs["status"] == "done")]


def _histories_of(results: Results, runs):
    histories = results.histories
    return histories[histories["run_id"].isin(set(runs["run_id"]))]


def _regimes(runs) -> dict:
    """The runs at the largest step size, and the others (a small step with weight decay)."""
    large = runs["lr"].max()
    return {"large lr": runs[runs["lr"] == large], "small lr + weight decay": runs[runs["lr"] != large]}


def _late_changes(histories, regimes: dict, column: str) -> dict[str, tuple[float, float]]:
    """Per regime: the median and largest relative change of ``column`` over the last fifth."""
    from . import plots

    changes = plots.late_change(histories, column, 0.2)
    out = {}
    for label, part in regimes.items():
        values = changes[changes.index.isin(set(part["run_id"]))]
        if len(values):
            out[label] = (float(values.median()), float(values.max()))
    return out


def can_draw() -> bool:
    """Whether matplotlib is installed: without it the report has the numbers and no figures."""
    return importlib.util.find_spec("matplotlib") is not None


def _save(fig, folder: Path, name: str) -> str:
    from . import plots

    paths = plots.save(fig, folder / name, formats=("png", "pdf"), dpi=110)
    import matplotlib.pyplot as plt

    plt.close(fig)
    return next(p for p in paths if p.endswith(".png"))


# --- the experiments -------------------------------------------------------------------------------
def _e1(results: Results, study: str, figures: Path) -> Section:
    from . import plots

    runs = _runs_of(results, study)
    histories = _histories_of(results, runs)
    section = Section(
        "E1",
        "Edge of stability",
        study,
        "Full-batch GD at several step sizes lr. The sharpness (the top eigenvalue of the Hessian of the "
        "training loss) rises during training until it reaches 2/lr, the largest value GD at that step "
        "size can stay at, and then hovers there: the edge of stability.",
    )
    if len(runs) and can_draw():
        fig = plots.sharpness_curves(histories, runs, by="lr")
        section.figures.append(
            (_save(fig, figures, "e1-sharpness"), "Sharpness over training (solid) and 2/lr (dashed).")
        )
    if len(runs):
        ratios: dict[float, list[float]] = {}
        for row in runs.itertuples():
            h = histories[histories["run_id"] == row.run_id]
            s = h["sharpness"].to_numpy(dtype=float)
            s = s[np.isfinite(s)]
            if len(s):
                ratios.setdefault(row.lr, []).append(float(np.median(s[-max(1, len(s) // 5) :])) * row.lr / 2)
        section.numbers["late_sharpness_over_2_over_lr"] = {lr: float(np.median(v)) for lr, v in ratios.items()}
        for lr, value in sorted(section.numbers["late_sharpness_over_2_over_lr"].items()):
            section.headlines.append(
                Headline(
                    f"sharpness / (2/lr) over the last fifth of training, lr = {lr:g}",
                    _fmt(value),
                    "about 1 (edge of stability)",
                )
            )
    return section


def _e2(results: Results, study: str, figures: Path) -> Section:
    from . import plots

    runs = _runs_of(results, study)
    section = Section(
        "E2",
        "Neural shattering",
        study,
        "Wide networks trained at a large step size without weight decay, against a small step size with "
        "weight decay. At the large step size, GD can only stop at flat (stable) minima, and in high "
        "dimension these are shattered: the neurons that carry the function are active on very few "
        "training points each, so the network interpolates the noise piece by piece. With weight decay "
        "the neurons stay active on large shares of the data.",
    )
    if not len(runs):
        return section
    # The figures and main numbers follow the reading that reproduces the paper (PyTorch's MSELoss
    # with weight decay on every parameter: docs/reproduction.md); a study that also runs other
    # readings gets their numbers in the table.
    every = runs
    main_reading = (runs["loss"] == "mse") & runs["decay_biases"].astype(bool)
    if main_reading.any():
        runs = runs[main_reading]
    large = runs["lr"].max()
    regimes = _regimes(runs)
    for label, part in regimes.items():
        groups = plots.group_runs(part, by="d")
        if groups and can_draw():
            hist = plots.activation_histogram(plots.activation_rates_of(results, groups))
            hist.axes[0].set_title(f"{label} (lr = {_fmt(part['lr'].iloc[0])})")
            name = "e2-rates-large-lr" if label == "large lr" else "e2-rates-weight-decay"
            section.figures.append((_save(hist, figures, name), f"Per-neuron activation rates across d: {label}."))
    d_max = int(runs["d"].max())
    fig: Any = None
    for color, (label, part) in zip(("C3", "C0"), regimes.items()):
        top = part[part["d"] == d_max]
        if len(top) and can_draw():
            run_id = top["run_id"].iloc[0]
            fig = plots.activation_scatter(
                results.network(run_id),
                results.dataset(run_id).X,
                ax=None if fig is None else fig.axes[0],
                color=color,
                label=label,
            )
    if fig is not None:
        section.figures.append(
            (_save(fig, figures, "e2-rate-vs-weight"), f"Activation rate against |v_k| ||w_k|| at d = {d_max}.")
        )
    if (runs["d"] == 2).any() and can_draw():
        for label, part in regimes.items():
            two = part[part["d"] == 2]
            if len(two):
                run_id = two["run_id"].iloc[0]
                fig = plots.regions_2d(results.network(run_id), results.dataset(run_id).X, region="disk")
                fig.axes[0].set_title(f"d = 2, {label}")
                name = "e2-regions-large-lr" if label == "large lr" else "e2-regions-weight-decay"
                section.figures.append(
                    (_save(fig, figures, name), f"Kink lines of every neuron over the data, d = 2, {label}.")
                )
    top_large = regimes["large lr"][regimes["large lr"]["d"] == d_max]
    top_small = regimes["small lr + weight decay"][regimes["small lr + weight decay"]["d"] == d_max]
    numbers = {
        "d": d_max,
        "act_max_large": float(top_large["act_max"].median()),
        "act_mean_large": float(top_large["act_mean"].median()),
        "act_mean_small": float(top_small["act_mean"].median()),
        "clean_mse_large": float(top_large["clean_mse"].median()),
        "clean_mse_small": float(top_small["clean_mse"].median()),
        "train_mse_large": float(top_large["train_mse"].median()),
        "train_mse_small": float(top_small["train_mse"].median()),
        "sharpness_over_2_over_lr_large": float((top_large["sharpness"] * top_large["lr"] / 2).median()),
    }
    section.numbers.update(numbers)
    section.headlines += [
        Headline(
            f"largest activation rate of a neuron, lr = {_fmt(large)}, d = {d_max}",
            _fmt(numbers["act_max_large"]),
            "at most 0.10 (d = 10, n = 512, width 2048)",
        ),
        Headline(
            f"mean activation rate, large lr / small lr + weight decay, d = {d_max}",
            f"{_fmt(numbers['act_mean_large'])} / {_fmt(numbers['act_mean_small'])}",
            "much higher with weight decay",
        ),
        Headline(
            f"sharpness / (2/lr) at the end, lr = {_fmt(large)}",
            _fmt(numbers["sharpness_over_2_over_lr_large"]),
            "oscillates around 1 (2/lr = 2.2)",
        ),
        Headline(
            f"error against the noiseless target at the training points, d = {d_max}: large lr / weight decay",
            f"{_fmt(numbers['clean_mse_large'])} / {_fmt(numbers['clean_mse_small'])}",
            "'train MSE' about 1.1 / 0.055",
            "the paper's 0.055 is below the label noise (sigma = 1): its 'MSE' reads as this error",
        ),
        Headline(
            f"MSE against the noisy labels, d = {d_max}: large lr / weight decay",
            f"{_fmt(numbers['train_mse_large'])} / {_fmt(numbers['train_mse_small'])}",
            "-",
        ),
    ]
    # Have the reported quantities stopped moving? Their change over the last fifth of training.
    histories = _histories_of(results, runs)
    settled = {}
    for column, what in (
        ("clean_mse", "error against the noiseless target"),
        ("active_fraction", "mean activation rate"),
    ):
        if column in histories and histories[column].notna().any():
            settled[column] = _late_changes(histories, regimes, column)
            for label, (median, worst) in settled[column].items():
                section.headlines.append(
                    Headline(
                        f"relative change of the {what} over the last fifth of training, {label}: median / largest",
                        f"{_fmt(median, 2)} / {_fmt(worst, 2)}",
                        "(steps not stated)",
                        "near 0 where it has stopped moving",
                    )
                )
    section.numbers["change_last_fifth"] = settled
    if "clean_mse" in settled and can_draw():
        fig = plots.settling_curves(histories, runs, "clean_mse", by="lr")
        section.figures.append(
            (
                _save(fig, figures, "e2-settling"),
                "Error against the noiseless target along training over its final value, per step size.",
            )
        )
    readings = every.drop(runs.index)
    for (loss, decay_biases), part in readings.groupby(["loss", "decay_biases"]):
        top = part[part["d"] == d_max]
        big, small = top[top["lr"] == top["lr"].max()], top[top["lr"] != top["lr"].max()]
        name = f"loss {loss}, biases {'decayed' if decay_biases else 'not decayed'}"
        section.numbers[f"reading {name}"] = {
            "clean_mse_large": float(big["clean_mse"].median()),
            "clean_mse_small": float(small["clean_mse"].median()),
            "train_mse_large": float(big["train_mse"].median()),
            "train_mse_small": float(small["train_mse"].median()),
            "diverged_large": int(big["diverged"].astype(bool).sum()),
        }
        r = section.numbers[f"reading {name}"]
        section.headlines.append(
            Headline(
                f"{name}, d = {d_max}: error against the target / against the labels, large lr; weight decay",
                f"{_fmt(r['clean_mse_large'])} / {_fmt(r['train_mse_large'])}; "
                f"{_fmt(r['clean_mse_small'])} / {_fmt(r['train_mse_small'])}",
                "'train MSE' about 1.1 / 0.055",
                f"another reading of the paper's setting ({r['diverged_large']} large-lr runs diverged)",
            )
        )
    return section


def _e3(results: Results, study: str, figures: Path) -> Section:
    from . import plots

    runs = _runs_of(results, study)
    section = Section(
        "E3",
        "The curse of dimensionality",
        study,
        "Test error against the noiseless target on fresh points, against the sample size n, per input "
        "dimension d, log-log. The theory says the stable minima of large-step GD learn at a rate that "
        "degrades with d (at best n^(-1/(2d+4)), and no better than n^(-2/(d+1)) in the worst case), "
        "while weight decay keeps a rate near n^(-1/2) in any d. The fitted slopes, with bootstrap "
        "intervals over seeds, are in the legends.",
    )
    if not len(runs):
        return section
    slopes: dict[str, dict] = {}
    clean_slopes: dict[str, dict] = {}
    references = [("n^(-1/(2d+4))", lambda d: -1.0 / (2 * d + 4)), ("n^(-2/(d+1))", lambda d: -2.0 / (d + 1))]
    regimes = _regimes(runs)
    for label, part in regimes.items():
        if not len(part):
            continue
        if can_draw():
            fig = plots.rate_plot(part, x="n", y="test_mse", by="d", references=references, n_boot=400)
            fig.axes[0].set_title(
                f"{label} (lr = {_fmt(part['lr'].iloc[0])}, weight decay {_fmt(part['weight_decay'].iloc[0])})"
            )
            name = "e3-rates-large-lr" if label == "large lr" else "e3-rates-weight-decay"
            section.figures.append((_save(fig, figures, name), f"Test MSE against n per d: {label}."))
        table = plots.fit_slopes(part, x="n", y="test_mse", by="d", n_boot=400)
        slopes[label] = {int(r.d): (float(r.slope), float(r.ci_low), float(r.ci_high)) for r in table.itertuples()}
        table = plots.fit_slopes(part, x="n", y="clean_mse", by="d", n_boot=400)
        clean_slopes[label] = {
            int(r.d): (float(r.slope), float(r.ci_low), float(r.ci_high)) for r in table.itertuples()
        }
    section.numbers["slopes"] = slopes
    section.numbers["clean_slopes"] = clean_slopes
    # Has the test error stopped moving? Its relative change over the last fifth of each run, and
    # the slopes computed again from the test error at four fifths of training.
    histories = _histories_of(results, runs)
    if len(histories) and "test_mse" in histories:
        moves = _late_changes(histories, regimes, "test_mse")
        section.numbers["test_mse_change_last_fifth"] = moves
        earlier = {}
        for label, part in regimes.items():
            table = plots.fit_slopes(plots.at_fraction(histories, part, "test_mse", 0.8), by="d", n_boot=0)
            now = slopes.get(label, {})
            earlier[label] = {int(r.d): float(r.slope) for r in table.itertuples() if int(r.d) in now}
        shift = {
            label: max((abs(slope - slopes[label][d][0]) for d, slope in per_d.items()), default=float("nan"))
            for label, per_d in earlier.items()
        }
        section.numbers["test_slopes_at_four_fifths"] = earlier
        section.numbers["test_slope_shift_last_fifth"] = shift
        if can_draw():
            fig = plots.settling_curves(histories, runs, "test_mse", by="lr")
            section.figures.append(
                (_save(fig, figures, "e3-settling"), "Test MSE along training over its final value, per step size.")
            )
        for label, (median, worst) in moves.items():
            section.headlines.append(
                Headline(
                    f"relative change of the test MSE over the last fifth of training, {label}: median / largest",
                    f"{_fmt(median, 2)} / {_fmt(worst, 2)}",
                    "(steps not stated)",
                    "near 0 where the error has stopped moving",
                )
            )
        for label, value in shift.items():
            section.headlines.append(
                Headline(
                    f"largest change of a test-MSE slope between 4/5 of training and the end, {label}",
                    _fmt(value, 2),
                    "(steps not stated)",
                    "small against the slopes' differences across d: the slopes have stopped moving",
                )
            )
    for label, per_d in clean_slopes.items():
        for d, (slope, low, high) in sorted(per_d.items()):
            paper = "about -0.1 at d = 5" if label == "large lr" else "steeper than -0.5"
            section.headlines.append(
                Headline(
                    f"slope of log error against the target at the training points, {label}, d = {d}",
                    f"{_fmt(slope, 2)} [{_fmt(low, 2)}, {_fmt(high, 2)}]",
                    paper,
                    "the paper's 'MSE' read as this error",
                )
            )
    for label, per_d in slopes.items():
        for d, (slope, low, high) in sorted(per_d.items()):
            paper = "about -0.1 at d = 5" if label == "large lr" else "steeper than -0.5"
            section.headlines.append(
                Headline(
                    f"slope of log test MSE against log n, {label}, d = {d}",
                    f"{_fmt(slope, 2)} [{_fmt(low, 2)}, {_fmt(high, 2)}]",
                    paper,
                )
            )
    return section


def _e4(results: Results, study: str, figures: Path) -> Section:
    from . import plots

    runs = _runs_of(results, study)
    section = Section(
        "E4",
        "The bound on V_g",
        study,
        "The weighted variation V_g of each trained network against the bound 1/lr - 1/2 + ... that a "
        "minimum stable for GD at step size lr must satisfy (docs/math.md, section 7). Every point lies "
        "below the line y = x: the bound holds, for every step size.",
    )
    if not len(runs):
        return section
    if can_draw():
        fig = plots.bound_plot(runs, by="lr")
        section.figures.append(
            (_save(fig, figures, "e4-bound"), "V_g against its stability bound; the dashed line is y = x.")
        )
    slack = runs["bound_slack"].to_numpy(dtype=float)
    stable = runs["sharpness"] <= runs["two_over_lr"] * (1 + 1e-9)
    section.numbers.update(min_slack=float(np.nanmin(slack)), runs=len(runs), stable=int(stable.sum()))
    section.headlines += [
        Headline(
            "smallest slack (bound - V_g) over the runs", _fmt(section.numbers["min_slack"]), ">= 0 (its Theorem 3.2)"
        ),
        Headline("runs at a stable point (sharpness <= 2/lr)", f"{int(stable.sum())} of {len(runs)}", "-"),
    ]
    return section


def _e6(results: Results, study: str, figures: Path) -> Section:
    from . import plots

    runs = _runs_of(results, study)
    section = Section(
        "E6",
        "Data geometry",
        study,
        "The rate study of E3 at a large step size for inputs of different geometry in the same R^d: "
        "data on a few lines through the origin (a mixture of one-dimensional balls) against the "
        "radial family x = (1 - (1 - U)^(1/alpha)) S, whose mass moves toward the sphere as alpha shrinks "
        "(arXiv:2510.18120). Low-dimensional data should learn faster; mass near the sphere, where a "
        "stable network can interpolate, slower.",
    )
    if not len(runs):
        return section
    if can_draw():
        fig = plots.rate_plot(runs, x="n", y="test_mse", by="distribution", n_boot=400)
        fig.axes[0].set_title(f"test MSE against n, lr = {_fmt(runs['lr'].iloc[0])}, d = {int(runs['d'].iloc[0])}")
        section.figures.append((_save(fig, figures, "e6-rates"), "Test MSE against n, per input law."))
    table = plots.fit_slopes(runs, x="n", y="test_mse", by="distribution", n_boot=400)
    section.numbers["slopes"] = {
        r.distribution: (float(r.slope), float(r.ci_low), float(r.ci_high)) for r in table.itertuples()
    }
    medians = runs[runs["n"] == runs["n"].max()].groupby("distribution")["test_mse"].median()
    section.numbers["test_mse_at_largest_n"] = {k: float(v) for k, v in medians.items()}
    for name, (slope, low, high) in section.numbers["slopes"].items():
        section.headlines.append(
            Headline(
                f"slope of log test MSE against log n, {name}",
                f"{_fmt(slope, 2)} [{_fmt(low, 2)}, {_fmt(high, 2)}]",
                "steeper for lines, flatter toward the sphere",
            )
        )
    return section


def _trace_along_training(results: Results, run_id: str, checkpoints: int = 10):
    """Raw trace and min-trace at ``checkpoints`` points of a run, trained again in pieces.

    The run is retraced from its settings; the pieces end on its record grid, so they follow the
    stored run bit for bit.
    """
    from .numerics import hessian_trace
    from .theory import min_trace
    from .training import train

    c = results.config(run_id)
    ds = results.dataset(run_id)
    net = c.initial_network()
    every = c.record_every or max(1, c.steps // 100)
    piece = max(every, (c.steps // checkpoints) // every * every)
    steps, raw, invariant = (
        [0],
        [hessian_trace(net, ds.X, ds.y, loss=c.loss)],
        [min_trace(net, ds.X, ds.y, loss=c.loss)],
    )
    state: Any = net  # a Network, then the TrainResult that carries the run on
    done = 0
    while done < c.steps:
        k = min(piece, c.steps - done)
        state = train(
            state,
            ds.X,
            ds.y,
            c.lr,
            k,
            **{**c.train_options(), "record_every": every, "sharpness_every": None},  # pieces on the record grid
        )
        done += k
        steps.append(done)
        raw.append(hessian_trace(state.net, ds.X, ds.y, loss=c.loss))
        invariant.append(min_trace(state.net, ds.X, ds.y, loss=c.loss))  # (state: a TrainResult now)
    final = state.net if done else net
    return np.array(steps), np.array(raw), np.array(invariant), final, ds


def _e7(results: Results, study: str, figures: Path) -> Section:
    from .numerics import hessian_trace
    from .theory import min_trace, rescale

    runs = _runs_of(results, study)
    section = Section(
        "E7",
        "Trace flatness and rescaling",
        study,
        "The trace of the Hessian, a common flatness measure, is not a property of the function: "
        "rescaling a neuron's input weights by alpha and its output weight by 1/alpha leaves f unchanged "
        "and moves the trace, without bound. Its minimum over such rescalings (min-trace) is invariant. "
        "Along training the two move differently: at initialisation most of the trace is an artefact "
        "of the parametrisation, and the gap narrows as GD trains; under random rescalings of a "
        "trained network the raw trace moves while the min-trace stays where it is.",
    )
    if not len(runs):
        return section
    rng = np.random.default_rng(0)
    curves = []
    spreads = []
    for row in runs.sort_values("lr").drop_duplicates("lr").itertuples():
        steps, raw, invariant, net, ds = _trace_along_training(results, row.run_id)
        curves.append((row.lr, steps, raw, invariant))
        c = results.config(row.run_id)
        traces, mins = [], []
        for _ in range(20):
            alpha = np.exp(rng.uniform(-1.5, 1.5, size=net.width))
            moved = rescale(net, alpha)
            traces.append(hessian_trace(moved, ds.X, ds.y, loss=c.loss))
            mins.append(min_trace(moved, ds.X, ds.y, loss=c.loss))
        spreads.append((row.lr, float(np.max(traces) / np.min(traces)), float(np.max(mins) / np.min(mins) - 1)))
        section.numbers[f"lr {row.lr:g}"] = {
            "min_trace_never_above_trace": bool(np.all(invariant <= raw * (1 + 1e-12))),
            "stored_final_trace": float(row.trace),
            "retraced_final_trace": float(raw[-1]),
            "rescaled_trace_spread": spreads[-1][1],
            "rescaled_min_trace_change": spreads[-1][2],
        }
    if can_draw():
        import matplotlib.pyplot as plt

        fig, ax = plt.subplots(figsize=(6.4, 4.8))
        for i, (lr, steps, raw, invariant) in enumerate(curves):
            ax.plot(steps, raw, color=f"C{i}", label=f"tr H, lr = {lr:g}")
            ax.plot(steps, invariant, color=f"C{i}", linestyle="--", label=f"min-trace, lr = {lr:g}")
        ax.set_yscale("log")
        ax.set(xlabel="GD step", ylabel="trace of the Hessian", title="raw trace and min-trace along training")
        ax.legend(fontsize=8)
        section.figures.append(
            (_save(fig, figures, "e7-trace"), "tr H (solid) and its rescaling-invariant minimum (dashed).")
        )
    for lr, spread, change in spreads:
        section.headlines.append(
            Headline(
                f"20 random rescalings (alpha_k in [e^-1.5, e^1.5]) of the network trained at lr = {lr:g}: "
                "max/min of tr H; relative change of min-trace",
                f"{_fmt(spread)}; {_fmt(change, 2)}",
                "raw trace not invariant; min-trace invariant",
            )
        )
    return section


def packing_experiment(d: int = 2, eps: float = 0.02, *, members: int = 6, n: int = 4000, seed: int = 0) -> dict:
    """E5: the boundary packing behind the lower bound, measured (docs/math.md, section 9).

    Builds ``members`` networks of the packing of caps of height ``eps`` in the unit ball of R^d,
    one per random sign pattern, with the amplitude that makes each neuron's bump reach height 1
    (a = 1/eps). On ``n`` points uniform in the ball it measures each member's sharpness at its own
    values (zero residual: the loss's Hessian at a perfect fit), V_g with the ball's g, the path
    norm, and the L2 distances between members. Then it fits pure label noise at those points with
    the packing (each neuron's output weight by least squares on the points of its cap; the caps
    are disjoint) and measures that fit's error on the cap points, its sharpness and V_g.
    """
    from . import data
    from .network import Network
    from .spectrum import sharpness
    from .theory import boundary_packing, path_norm, vg_norm

    law = data.UniformBall(d)
    X = law.sample(n, seed=seed)
    base = boundary_packing(d, eps, seed=seed)
    width = base.width
    amplitude = 1.0 / eps
    rng = np.random.default_rng(seed)
    signs = rng.choice(np.array([-1.0, 1.0]), size=(members, width))
    nets = [boundary_packing(d, eps, signs=s, amplitude=amplitude, seed=seed) for s in signs]
    values = np.array([net.predict(X) for net in nets])
    dist = np.sqrt(((values[:, None, :] - values[None, :, :]) ** 2).mean(axis=2))
    off = dist[~np.eye(members, dtype=bool)]
    sharp = [float(sharpness(net, X, net.predict(X))) for net in nets]
    vg = [float(vg_norm(net, law=law)) for net in nets]
    # Fit label noise with the packing: on its own cap a neuron is relu(u.x - (1 - eps)), and the
    # caps are disjoint, so each output weight is a one-dimensional least-squares fit.
    y = rng.standard_normal(n)
    phi = np.maximum(X @ base.W.T - base.b, 0.0)  # (n, width)
    on_cap = phi > 0
    weights = np.where(
        on_cap.any(axis=0), (phi * y[:, None]).sum(axis=0) / np.maximum((phi**2).sum(axis=0), 1e-300), 0.0
    )
    fit = Network(base.W, base.b, weights, 0.0)
    covered = on_cap.any(axis=1)
    residual = fit.predict(X) - y
    return {
        "d": d,
        "eps": eps,
        "neurons": width,
        "amplitude": amplitude,
        "min_distance": float(off.min()),
        "median_distance": float(np.median(off)),
        "max_sharpness": float(max(sharp)),
        "vg_median": float(np.median(vg)),
        "path_norm": float(path_norm(nets[0])),
        "cap_points": int(covered.sum()),
        "cap_mse_before": float(np.mean(y[covered] ** 2)),
        "cap_mse_after": float(np.mean(residual[covered] ** 2)),
        "fit_sharpness": float(sharpness(fit, X, y)),
        "fit_vg": float(vg_norm(fit, law=law)),
        "fit_path_norm": float(path_norm(fit)),
        "nets": nets,
        "X": X,
    }


def _e5(results: Optional[Results], study: str, figures: Path, *, full: bool = False) -> Section:
    from . import plots

    section = Section(
        "E5",
        "The lower-bound construction",
        "(computed directly, no training)",
        "The construction behind the paper's lower bound: neurons that fire only on thin caps at the "
        "boundary of the ball, relu(u_j.x - (1 - eps)), with disjoint caps. With any signs of the output "
        "weights they give networks that are far apart in L2 yet flat (small sharpness at their own "
        "values) and cheap in V_g, the quantity that stability controls; and such a network fits pure "
        "noise on the points that fall in its caps.",
    )
    settings = [(2, 0.02), (3, 0.05)] if full else [(2, 0.02)]
    rows = [packing_experiment(d, eps, n=20000 if full else 4000) for d, eps in settings]
    for r in rows:
        d = r["d"]
        section.numbers[f"d{d}"] = {k: v for k, v in r.items() if k not in ("nets", "X")}
        section.headlines += [
            Headline(
                f"packing, d = {d}, eps = {r['eps']:g}: neurons / smallest L2 distance between members",
                f"{r['neurons']} / {_fmt(r['min_distance'])}",
                "pairwise separated",
            ),
            Headline(
                f"packing, d = {d}: largest sharpness of a member / V_g / path norm",
                f"{_fmt(r['max_sharpness'])} / {_fmt(r['vg_median'])} / {_fmt(r['path_norm'])}",
                "flat, small V_g, large path norm",
            ),
            Headline(
                f"packing fit to pure noise, d = {d}: MSE on the {r['cap_points']} cap points, before / after",
                f"{_fmt(r['cap_mse_before'])} / {_fmt(r['cap_mse_after'])}",
                "fits boundary noise",
            ),
        ]
        if d == 2 and can_draw():
            fig = plots.function_2d(r["nets"][0], r["X"][:400], kinks=True)
            fig.axes[0].set_title(f"one member of the packing, d = 2, eps = {r['eps']:g}")
            section.figures.append((_save(fig, figures, "e5-packing"), "A member of the boundary packing (d = 2)."))
    return section


ANALYSES: dict[str, Callable[[Results, str, Path], Section]] = {
    "e1-edge-of-stability": _e1,
    "e2-shattering": _e2,
    "e3-curse-of-dimensionality": _e3,
    "e4-stability-bound": _e4,
    "e6-data-geometry": _e6,
    "e7-trace-rescaling": _e7,
}


def analyse(results: Results, names: dict[str, str], figures: Path) -> list[Section]:
    """The report's sections: figures written to ``figures`` and headline numbers, one per study.

    ``names`` maps a built-in study's name to the name of the study in the store (its quick or
    full size).
    """
    figures.mkdir(parents=True, exist_ok=True)
    return [ANALYSES[name](results, stored, figures) for name, stored in names.items() if name in ANALYSES]


# --- the report ------------------------------------------------------------------------------------
_CSS = """
body { font-family: system-ui, -apple-system, Segoe UI, Roboto, sans-serif; max-width: 1100px; margin: 2em auto;
       padding: 0 1em; color: #222; line-height: 1.45; }
h1 { font-size: 1.7em; } h2 { margin-top: 2em; border-bottom: 1px solid #ddd; padding-bottom: .2em; }
table { border-collapse: collapse; margin: 1em 0; font-size: .92em; }
th, td { border: 1px solid #ccc; padding: .35em .6em; text-align: left; vertical-align: top; }
th { background: #f3f3f3; }
figure { display: inline-block; margin: .5em 1em .5em 0; max-width: 520px; vertical-align: top; }
figure img { max-width: 100%; border: 1px solid #eee; }
figcaption { font-size: .88em; color: #555; }
.meta { color: #666; font-size: .9em; }
"""


def _img(path: str) -> str:
    data = base64.b64encode(Path(path).read_bytes()).decode("ascii")
    return f'<img src="data:image/png;base64,{data}" alt="{html.escape(Path(path).stem)}">'


def write_report(path: Path, sections: Sequence[Section], *, sizes: dict[str, str], seconds: float) -> Path:
    """One self-contained HTML page: the headline table, then each section with its figures."""
    e = html.escape
    rows = []
    for s in sections:
        for h in s.headlines:
            rows.append(
                f"<tr><td>{e(s.key)}</td><td>{e(h.quantity)}</td><td>{e(h.ours)}</td><td>{e(h.paper)}</td>"
                f"<td>{e(h.comment)}</td></tr>"
            )
    parts = [
        "<!DOCTYPE html>",
        '<html lang="en"><head><meta charset="utf-8">',
        "<title>flatcore: reproducing the neural shattering phenomenon</title>",
        f"<style>{_CSS}</style></head><body>",
        "<h1>Stable minima of ReLU networks and the curse of dimensionality: a reproduction</h1>",
        f'<p class="meta">flatcore {e(__version__)}, {e(time.strftime("%Y-%m-%d %H:%M"))}; studies: '
        + ", ".join(f"{e(name)} ({e(size)})" for name, size in sizes.items())
        + f"; {seconds:.0f} s. Paper: arXiv:2506.20779. The quick sizes run in seconds and show the "
        "phenomena qualitatively; <code>flatcore reproduce --full E2 E3</code> runs the paper's sizes.</p>",
        *(
            []
            if can_draw()
            else ['<p><b>No figures:</b> matplotlib is not installed (<code>pip install "flatcore[plots]"</code>).</p>']
        ),
        "<h2>Headline numbers</h2>",
        "<table><tr><th></th><th>quantity</th><th>flatcore</th><th>paper</th><th>note</th></tr>",
        *rows,
        "</table>",
    ]
    for s in sections:
        parts.append(f"<h2>{e(s.key)}: {e(s.title)}</h2>")
        parts.append(f"<p>{e(s.text)}</p>")
        parts.append(f'<p class="meta">study: {e(s.study)}</p>')
        for png, caption in s.figures:
            parts.append(f"<figure>{_img(png)}<figcaption>{e(caption)}</figcaption></figure>")
    parts.append("</body></html>")
    path.write_text("\n".join(parts), encoding="utf-8")
    return path


def reproduce(
    out="flatcore-reproduction",
    *,
    full: Sequence[str] = (),
    only: Optional[Sequence[str]] = None,
    workers: Optional[int] = None,
    progress: bool = True,
) -> tuple[Path, list[Section]]:
    """Run the headline studies, draw their figures and write ``report.html`` in ``out``.

    Parameters
    ----------
    out : str or os.PathLike
        The folder (created): ``flatcore.db`` (the store), ``figures/`` (PNG and PDF) and
        ``report.html``.
    full : list of str
        Studies to run at their full size (``"e3"`` or ``"e3-curse-of-dimensionality"``); the
        others run at their quick size.
    only : list of str, optional
        Run only these studies (default: :data:`HEADLINE` and E5, the packing construction, which is
        computed directly).
    workers : int, optional
        Local worker processes (default: one per core).
    progress : bool
        Progress bars.

    Returns
    -------
    (Path, list of Section)
        The report's path, and its sections (figures and numbers).
    """
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    e5 = "e5-packing"  # computed directly: not a study
    requested = [studies.resolve(n) for n in (only or (*HEADLINE, e5))]
    full_names = {studies.resolve(n) for n in full}
    names = [n for n in requested if n != e5]
    want_e5, full_e5 = e5 in requested, e5 in full_names
    unknown = full_names - set(requested)
    if unknown:
        raise ValueError(f"--full names studies that are not run: {', '.join(sorted(unknown))}")
    start = time.perf_counter()
    stored: dict[str, str] = {}
    sizes: dict[str, str] = {}
    db = out / "flatcore.db"
    for name in names:
        study = studies.study(name, quick=name not in full_names)
        summary = study.run(db, workers=workers, progress=progress)
        if progress:
            print(summary)
        if summary.interrupted:
            raise KeyboardInterrupt
        stored[name] = study.name
        sizes[name] = "full" if name in full_names else "quick"
    with load(db) as results:
        sections = analyse(results, stored, out / "figures")
    if want_e5:
        sections.append(_e5(None, "", out / "figures", full=full_e5))
    report = write_report(out / "report.html", sections, sizes=sizes, seconds=time.perf_counter() - start)
    return report, sections
