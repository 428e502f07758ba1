"""``flatcore plot DB KIND``: a figure of a store, written as PNG and PDF (see :mod:`flatcore.plots`)."""

from __future__ import annotations

import os

from ._args import positive_int
from ._common import USER_ERRORS, fail, format_table, load_results

KINDS = ("sharpness", "activations", "rates", "bound", "settling", "regions", "function")
_DEFAULT_BY = {"sharpness": ["lr"], "activations": ["lr"], "rates": ["d"], "bound": ["lr"], "settling": ["lr"]}


def _message(exc: BaseException) -> str:
    """An exception's message, without the quotes KeyError puts around it."""
    return str(exc.args[0]) if isinstance(exc, KeyError) and exc.args else str(exc)


def _two_d_run(res, run_id):
    """The run to draw in two dimensions: ``run_id``, or the first finished run with d = 2."""
    runs = res.runs
    if run_id is not None:
        if run_id not in set(runs["run_id"]):
            raise KeyError(f"no run {run_id!r} in {res.path}")
        return run_id
    done = runs[(runs["status"] == "done") & (runs["d"] == 2)]
    if done.empty:
        raise ValueError(f"{res.path} has no finished run with d = 2 (give one with --run)")
    return str(done["run_id"].iloc[0])


def _draw(res, args, ax):
    """Draw ``args.kind`` on ``ax``; return what to print besides the paths (or None)."""
    from .. import plots

    by = args.by or _DEFAULT_BY.get(args.kind)
    if args.kind == "sharpness":
        plots.sharpness_curves(res.histories, res.runs, by=by, ax=ax)
    elif args.kind == "activations":
        groups = plots.group_runs(res.runs, by)
        if not groups:
            raise ValueError(f"{res.path} has no finished run")
        plots.activation_histogram(plots.activation_rates_of(res, groups), ax=ax)
    elif args.kind == "rates":
        x, y = args.x or "n", args.y or "test_mse"
        plots.rate_plot(res.runs, x, y, by, ax=ax, n_boot=args.n_boot)
        table = plots.fit_slopes(res.runs, x, y, by, n_boot=args.n_boot)
        return format_table(table.drop(columns="label"))
    elif args.kind == "bound":
        plots.bound_plot(res.runs, x=args.x or "stability_bound", y=args.y or "vg", by=by, ax=ax)
    elif args.kind == "settling":
        column = args.y or "loss"
        plots.settling_curves(res.histories, res.runs, column, by=by, ax=ax)
        change = plots.late_change(res.histories, column)
        return (
            f"relative change of {column} over the last fifth of training: median {change.median():.3g}, "
            f"largest {change.max():.3g} ({len(change)} runs)"
        )
    else:
        run_id = _two_d_run(res, args.run)
        net = res.network(run_id)
        data = res.dataset(run_id)
        if args.kind == "regions":
            plots.regions_2d(net, data.X, ax=ax)
        else:
            plots.function_2d(net, data.X, y=data.y, ax=ax)
        return f"run {run_id}"
    return None


def plot(args) -> int:
    """Draw one figure of the store and write it as ``<out>.png`` and ``<out>.pdf``."""
    try:
        from .. import plots

        plots._require_matplotlib()
        from matplotlib.figure import Figure  # no pyplot: no window, no backend to choose
    except ImportError as exc:
        return fail(str(exc))
    out = args.out or f"{os.path.splitext(args.db)[0]}-{args.kind}"
    square = args.kind in ("regions", "function")
    fig = Figure(figsize=(6.4, 5.6) if square else (7.0, 4.8), layout="constrained")
    ax = fig.add_subplot()
    try:
        with load_results(args.db, args.study) as res:
            note = _draw(res, args, ax)
        paths = plots.save(fig, out)
    except (*USER_ERRORS, ValueError) as exc:
        return fail(_message(exc))
    if note:
        print(note)
    for path in paths:
        print(f"wrote {path}")
    return 0


def add_parser(sub) -> None:
    """Register ``flatcore plot``."""
    p = sub.add_parser(
        "plot",
        help="figures of a store: sharpness, activations, rates, bound, settling, regions, function",
        description="Draw one figure of a store and write it as PNG and PDF (needs matplotlib: "
        'pip install "flatcore[plots]"). sharpness: sharpness over training with 2/lr; activations: '
        "histogram of the neurons' activation rates, by --by; rates: --y against --x, log-log, by "
        "--by, with fitted slopes (printed); bound: V_g against the stability bound; settling: a "
        "history column (--y, default loss) over its final value along training, to see that it has "
        "stopped moving; regions, "
        "function: the kinks over the data, and the learned function, of one run with d = 2.",
    )
    p.add_argument("db", help="the SQLite store")
    p.add_argument("kind", choices=KINDS, help="which figure")
    p.add_argument("--study", help="only this study's runs")
    p.add_argument("--out", metavar="PATH", help="file name without extension (default: DB-KIND beside the store)")
    p.add_argument("--x", help="x column (rates: default n; bound: default stability_bound)")
    p.add_argument("--y", help="y column (rates: default test_mse; bound: default vg; settling: default loss)")
    p.add_argument("--by", nargs="+", help="settings that group or colour (default: d for rates, lr otherwise)")
    p.add_argument("--run", metavar="RUN_ID", help="regions, function: the run (default: the first with d = 2)")
    p.add_argument("--n-boot", type=positive_int, default=1000, help="rates: bootstrap resamples (default 1000)")
    p.set_defaults(func=plot)
