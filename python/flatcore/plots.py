"""Figures of studies and networks (matplotlib, an optional extra: ``pip install "flatcore[plots]"``).

Every function takes what :func:`flatcore.load` gives (the ``runs`` and ``histories`` tables, or a
network and its data), so that any study is drawn the same way. Each draws on one Axes, ``ax``
when given (else on a new figure), and returns the :class:`matplotlib.figure.Figure` it drew on;
:func:`save` writes it as PNG and PDF.

- :func:`sharpness_curves`: sharpness over the steps of GD, with the edge of stability 2/lr;
- :func:`activation_histogram` (rates from :func:`activation_rates_of`): how many training points
  each neuron is active on;
- :func:`activation_scatter`: a neuron's activation rate against its weight in f;
- :func:`rate_plot` (numbers from :func:`fit_slopes`): a metric against n, log-log, with fitted
  slopes and bootstrap intervals;
- :func:`bound_plot`: V_g of trained networks against the bound that stability implies;
- :func:`regions_2d`, :func:`function_2d`: for d = 2, the neurons' kinks over the data, and the
  learned function;
- :func:`settling_curves` (numbers from :func:`late_change`, :func:`at_fraction`): a quantity along
  training against its final value, to show that it has stopped moving.

matplotlib is imported by these functions only, never by ``import flatcore``.
"""

from __future__ import annotations

import math
import os
import zlib
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import TYPE_CHECKING, Any, Optional, Union

import numpy as np

if TYPE_CHECKING:
    import pandas as pd
    from matplotlib.axes import Axes
    from matplotlib.figure import Figure

    from .experiments import Results
    from .network import Network

__all__ = [
    "save",
    "sharpness_curves",
    "activation_histogram",
    "activation_rates_of",
    "group_runs",
    "activation_scatter",
    "fit_slopes",
    "rate_plot",
    "bound_plot",
    "regions_2d",
    "function_2d",
    "kink_segments",
    "at_fraction",
    "late_change",
    "settling_curves",
]

INSTALL_HINT = 'pip install "flatcore[plots]"'

# A reference line of rate_plot: (label, exponent), the exponent a number or a function of the group.
Reference = Union[tuple[str, Union[float, Callable[[Any], float]]], Callable[[Any], float]]
By = Union[str, Sequence[str], None]


# -------------------------------------------------------------------------------------------------
# matplotlib, figures, saving
# -------------------------------------------------------------------------------------------------
def _require_matplotlib():
    """matplotlib, or an ImportError that says how to install it."""
    try:
        import matplotlib
    except ImportError as exc:
        raise ImportError(f"flatcore's figures need matplotlib (>= 3.5): {INSTALL_HINT}") from exc
    return matplotlib


def _axes(ax: Optional[Axes], figsize: tuple[float, float] = (6.4, 4.8)) -> tuple[Figure, Axes]:
    """The root figure and the Axes to draw on: ``ax``, or a new pyplot figure's."""
    _require_matplotlib()
    if ax is None:
        import matplotlib.pyplot as plt

        fig, ax = plt.subplots(figsize=figsize, layout="constrained")
        return fig, ax
    return _root_figure(ax), ax


def _root_figure(obj) -> Figure:
    """The top-level Figure of a Figure, SubFigure or Axes."""
    fig = getattr(obj, "figure", None)
    if fig is None:
        raise TypeError(f"expected a matplotlib Figure or Axes, got {type(obj).__name__}")
    while fig.figure is not fig:  # a SubFigure's .figure is its root
        fig = fig.figure
    return fig


_IMAGE_EXTENSIONS = ("png", "pdf", "svg", "eps", "ps", "jpg", "jpeg", "tif", "tiff", "webp", "pgf")


def save(fig, path, formats: Sequence[str] = ("png", "pdf"), *, dpi: float = 200, **savefig_kwargs) -> list[str]:
    """Write a figure in each of ``formats``; return the paths written.

    Parameters
    ----------
    fig : matplotlib.figure.Figure or matplotlib.axes.Axes
        The figure (or an Axes of it: its whole figure is saved).
    path : str or os.PathLike
        The file name without extension; an image extension it has (``fig.png``) is dropped, so
        that ``save(fig, "out/fig.png")`` writes ``out/fig.png`` and ``out/fig.pdf``. Missing
        folders are created.
    formats : sequence of str
        File formats, as matplotlib names them (default PNG and PDF).
    dpi : float
        Resolution of raster formats.
    **savefig_kwargs
        Passed on to :meth:`matplotlib.figure.Figure.savefig` (default ``bbox_inches="tight"``).

    Returns
    -------
    list of str
        ``path.<format>`` for each format, in order.

    Notes
    -----
    PDFs are written without a creation date, so that the same figure gives the same file.
    """
    _require_matplotlib()
    root = _root_figure(fig)
    if isinstance(formats, str):
        formats = (formats,)
    formats = [f.lower().lstrip(".") for f in formats]
    if not formats:
        raise ValueError("save needs at least one format")
    stem = os.fspath(path)
    base, ext = os.path.splitext(stem)
    if ext.lower().lstrip(".") in _IMAGE_EXTENSIONS:
        stem = base
    folder = os.path.dirname(stem)
    if folder:
        os.makedirs(folder, exist_ok=True)
    savefig_kwargs.setdefault("bbox_inches", "tight")
    written = []
    for fmt in formats:
        target = f"{stem}.{fmt}"
        kwargs = dict(savefig_kwargs)
        if fmt == "pdf":
            kwargs.setdefault("metadata", {"CreationDate": None})
        root.savefig(target, format=fmt, dpi=dpi, **kwargs)
        written.append(target)
    return written


# -------------------------------------------------------------------------------------------------
# Tables: columns, groups, colours, labels
# -------------------------------------------------------------------------------------------------
def _need(frame, columns: Iterable[str], what: str) -> None:
    missing = [c for c in columns if c not in frame.columns]
    if missing:
        known = ", ".join(map(str, frame.columns))
        raise KeyError(f"the {what} table has no column {missing[0]!r} (its columns: {known})")


def _by_list(by: By) -> list[str]:
    if by is None:
        return []
    if isinstance(by, str):
        return [by]
    return list(by)


def _done(runs):
    """The finished runs (all of them when the table has no status column)."""
    if "status" in runs.columns:
        return runs[runs["status"] == "done"]
    return runs


def _plain(value):
    """A NumPy scalar as the Python number it holds (for labels and sorting)."""
    return value.item() if isinstance(value, np.generic) else value


def _group_key(row_values: Sequence[Any]):
    values = tuple(_plain(v) for v in row_values)
    return values[0] if len(values) == 1 else values


def _sorted_keys(keys: Iterable[Any]) -> list[Any]:
    unique = list(dict.fromkeys(keys))
    try:
        return sorted(unique)
    except TypeError:
        return sorted(unique, key=str)


def _fmt(value) -> str:
    value = _plain(value)
    if isinstance(value, float):
        return f"{value:g}"
    return str(value)


def _label(by: list[str], key) -> str:
    if not by:
        return "all runs"
    values = key if len(by) > 1 else (key,)
    return ", ".join(f"{name} = {_fmt(v)}" for name, v in zip(by, values))


def _groups(runs, by: list[str]) -> dict[Any, Any]:
    """The rows of ``runs`` by the values of the ``by`` columns, groups in sorted order."""
    if not by:
        return {None: runs}
    keys = [_group_key(row) for row in runs[by].itertuples(index=False)]
    index = np.asarray(keys, dtype=object) if len(by) == 1 else None
    out = {}
    for key in _sorted_keys(keys):
        mask = index == key if index is not None else np.array([k == key for k in keys], dtype=bool)
        out[key] = runs[np.asarray(mask, dtype=bool)]
    return out


def _palette(keys: Sequence[Any]) -> dict[Any, Any]:
    """A colour per key: tab10 for up to ten keys, viridis (in sorted order) beyond."""
    import matplotlib

    keys = list(keys)
    if len(keys) <= 10:
        cmap = matplotlib.colormaps["tab10"]
        return {k: cmap(i) for i, k in enumerate(keys)}
    cmap = matplotlib.colormaps["viridis"]
    return {k: cmap(i / (len(keys) - 1)) for i, k in enumerate(keys)}


def _legend_proxy(**kwargs):
    from matplotlib.lines import Line2D

    return Line2D([], [], **kwargs)


# -------------------------------------------------------------------------------------------------
# 1. Sharpness over training
# -------------------------------------------------------------------------------------------------
def sharpness_curves(
    histories: pd.DataFrame,
    runs: pd.DataFrame,
    *,
    by: By = "lr",
    ax: Optional[Axes] = None,
    logy: Optional[bool] = None,
    edge: bool = True,
) -> Figure:
    """Sharpness over the steps of GD, one line per run, with the edge of stability 2/lr.

    The figure shows the largest Hessian eigenvalue lambda_max of the training loss along each
    run (solid lines, coloured by ``by``) and, dashed in the same colour, the level 2/lr of each
    step size: GD at step size lr cannot stay at a minimum sharper than 2/lr, so at a large step
    size the sharpness rises to about 2/lr and stays there (the edge of stability), while at a
    small one it stays below.

    Parameters
    ----------
    histories : pandas.DataFrame
        :attr:`Results.histories <flatcore.experiments.Results.histories>`: columns ``run_id``,
        ``step``, ``sharpness`` (recorded when the study set ``sharpness_every``). Rows without
        a sharpness are skipped.
    runs : pandas.DataFrame
        :attr:`Results.runs <flatcore.experiments.Results.runs>`: ``run_id``, ``lr`` and the
        ``by`` columns. Only runs in both tables are drawn.
    by : str or list of str or None
        The settings that colour the lines (default ``"lr"``); None: one colour.
    ax : matplotlib.axes.Axes, optional
        Where to draw (default: a new figure).
    logy : bool, optional
        Logarithmic sharpness axis (default: when the levels drawn span more than a factor 20).
    edge : bool
        Draw the 2/lr levels (one dashed line per step size and colour).

    Returns
    -------
    matplotlib.figure.Figure
        The figure drawn on. Each run's line has gid ``"run:<run_id>"``, each 2/lr level
        ``"two_over_lr:<lr>"``.
    """
    _require_matplotlib()
    by_cols = _by_list(by)
    _need(histories, ["run_id", "step", "sharpness"], "histories")
    _need(runs, ["run_id", "lr", *by_cols], "runs")
    h = histories[["run_id", "step", "sharpness"]].dropna(subset=["sharpness"])
    if h.empty:
        raise ValueError("the histories hold no sharpness: give the study a sharpness_every setting")
    present = set(h["run_id"])
    rows = runs[runs["run_id"].isin(present)].drop_duplicates("run_id")
    if rows.empty:
        raise ValueError("none of the runs has a sharpness history")
    fig, ax = _axes(ax)
    groups = _groups(rows, by_cols)
    colors = _palette(list(groups))
    by_run = {rid: frame.sort_values("step") for rid, frame in h.groupby("run_id", sort=False)}
    levels = []
    for key, members in groups.items():
        color = colors[key]
        for rid in members["run_id"]:
            frame = by_run[rid]
            ax.plot(frame["step"], frame["sharpness"], color=color, lw=1.3, alpha=0.9, gid=f"run:{rid}")
            levels.extend(frame["sharpness"].to_numpy(float))
        if edge:
            for lr in _sorted_keys(_plain(v) for v in members["lr"]):
                level = 2.0 / float(lr)
                ax.axhline(level, color=color, ls="--", lw=1.0, alpha=0.9, gid=f"two_over_lr:{_fmt(lr)}")
                levels.append(level)
    positive = np.asarray([v for v in levels if v > 0])
    if logy is None:
        logy = positive.size > 0 and positive.max() / positive.min() > 20
    if logy:
        ax.set_yscale("log")
    ax.set_xlabel("GD step")
    ax.set_ylabel("sharpness λ_max of the Hessian")
    handles = [_legend_proxy(color=colors[k], lw=1.5, label=_label(by_cols, k)) for k in groups]
    if edge:
        handles.append(_legend_proxy(color="0.35", ls="--", lw=1.0, label="2/lr (edge of stability)"))
    ax.legend(handles=handles, fontsize="small")
    ax.set_title("sharpness during training")
    return fig


# -------------------------------------------------------------------------------------------------
# 2. Activation rates: histogram
# -------------------------------------------------------------------------------------------------
def group_runs(runs: pd.DataFrame, by: By = "lr") -> dict[str, list[str]]:
    """The ids of the finished runs, grouped by the values of the ``by`` settings.

    Parameters
    ----------
    runs : pandas.DataFrame
        The runs table (``run_id``, ``status`` when present, and the ``by`` columns).
    by : str or list of str or None
        Grouping settings; None: one group, ``"all runs"``.

    Returns
    -------
    dict of str to list of str
        ``"lr = 0.4"`` (or ``"d = 2, lr = 0.4"``) to the run ids of that group, groups in sorted
        order: the input of :func:`activation_rates_of`.
    """
    by_cols = _by_list(by)
    _need(runs, ["run_id", *by_cols], "runs")
    return {_label(by_cols, key): list(rows["run_id"]) for key, rows in _groups(_done(runs), by_cols).items()}


def activation_rates_of(
    results: Results, groups: Union[Mapping[str, Sequence[str]], Sequence[str]]
) -> dict[str, np.ndarray]:
    """Per-neuron activation rates of finished runs, on their own training points.

    For each run, :func:`flatcore.activation_rates` of its final network
    (:meth:`Results.network <flatcore.experiments.Results.network>`) on its training inputs
    (:meth:`Results.dataset <flatcore.experiments.Results.dataset>`, drawn again from its
    settings): the share of the n training points on which each neuron is active.

    Parameters
    ----------
    results : flatcore.experiments.Results
        The store read back (its runs must have recorded ``network``).
    groups : mapping of str to list of str, or list of str
        Label to run ids (e.g. from :func:`group_runs`); the rates of a group's runs are pooled.
        A plain list of run ids makes one group per run, labelled by its id.

    Returns
    -------
    dict of str to numpy.ndarray
        Label to the pooled rates (one per neuron of each run): the input of
        :func:`activation_histogram`.
    """
    from .numerics import activation_rates

    if not isinstance(groups, Mapping):
        groups = {str(rid): [rid] for rid in groups}
    out = {}
    for label, run_ids in groups.items():
        if isinstance(run_ids, str):
            run_ids = [run_ids]
        parts = [activation_rates(results.network(rid), results.dataset(rid).X) for rid in run_ids]
        out[str(label)] = np.concatenate(parts) if parts else np.zeros(0)
    return out


def _rate_edges(positive_min: float, bins: Union[int, Sequence[float], None]) -> np.ndarray:
    """Logarithmic bin edges from a power of ten below ``positive_min`` up to 1."""
    if bins is not None and not isinstance(bins, (int, np.integer)):
        edges = np.asarray(bins, dtype=float)
        if edges.ndim != 1 or edges.size < 2 or np.any(edges <= 0) or np.any(np.diff(edges) <= 0):
            raise ValueError("bins: the edges of a logarithmic histogram must be positive and increasing")
        return edges
    lo = min(10.0 ** math.floor(math.log10(positive_min)), 0.1)  # at least one decade
    decades = -math.log10(lo)
    n_bins = int(bins) if bins is not None else max(8, round(5 * decades))
    if n_bins < 1:
        raise ValueError(f"bins must be at least 1, got {bins}")
    return np.logspace(math.log10(lo), 0.0, n_bins + 1)


def activation_histogram(
    rates: Mapping[str, Any],
    *,
    ax: Optional[Axes] = None,
    log: bool = True,
    bins: Union[int, Sequence[float], None] = None,
    share: bool = False,
) -> Figure:
    """Histograms of per-neuron activation rates, one outline per group.

    A neuron's activation rate is the share of training points on which it is active
    (w_k . x > b_k). The figure overlays, for each group (e.g. large step size against small
    step size with weight decay, or one group per d), how many neurons have each rate. In the
    paper's shattering regime, the stable minima of large step sizes have most neurons active on
    very few points (or none), while small step sizes with weight decay leave neurons active on a
    sizable share of the data.

    Parameters
    ----------
    rates : mapping of str to array_like
        Label to rates in [0, 1] (e.g. from :func:`activation_rates_of`).
    ax : matplotlib.axes.Axes, optional
        Where to draw (default: a new figure).
    log : bool
        Logarithmic rate axis (default): bins of equal ratio from a power of ten below the
        smallest non-zero rate up to 1, and the neurons active on no point in a separate bin at
        the left, labelled 0. With ``log=False``: equal bins on [0, 1] (the first holds the zeros).
    bins : int or sequence of float, optional
        Number of bins (default: 5 per decade, at least 8, with ``log``; 20 without), or the bin
        edges (positive with ``log``; the zero bin is added).
    share : bool
        Heights as the share of the group's neurons instead of counts.

    Returns
    -------
    matplotlib.figure.Figure
        The figure drawn on. Each group is one :class:`matplotlib.patches.StepPatch` (gid: the
        label); ``get_data().values`` are its counts (or shares), ``get_data().edges`` the bins.
    """
    _require_matplotlib()
    if not rates:
        raise ValueError("activation_histogram needs at least one group of rates")
    arrays = {}
    for label, values in rates.items():
        r = np.asarray(values, dtype=float).ravel()
        if r.size == 0:
            raise ValueError(f"group {label!r} has no rates")
        if not np.all(np.isfinite(r)) or np.any(r < 0) or np.any(r > 1):
            raise ValueError(f"group {label!r}: activation rates must lie in [0, 1]")
        arrays[str(label)] = r
    fig, ax = _axes(ax)
    everything = np.concatenate(list(arrays.values()))
    positive = everything[everything > 0]
    any_dead = bool(np.any(everything == 0))
    zero_at = None
    if log:
        edges = _rate_edges(positive.min() if positive.size else 1e-2, bins)
        if any_dead:  # a bin for the zeros, one empty bin to the left of the first edge
            ratio = edges[1] / edges[0]
            edges = np.concatenate([[edges[0] / ratio**3, edges[0] / ratio**2], edges])
            zero_at = math.sqrt(edges[0] * edges[1])  # the zero bin's middle (on the log axis)
    else:
        if bins is None or isinstance(bins, (int, np.integer)):
            n_bins = 20 if bins is None else int(bins)
            if n_bins < 1:
                raise ValueError(f"bins must be at least 1, got {bins}")
            edges = np.linspace(0.0, 1.0, n_bins + 1)
        else:
            edges = np.asarray(bins, dtype=float)
            if edges.ndim != 1 or edges.size < 2 or np.any(np.diff(edges) <= 0):
                raise ValueError("bins: the edges must be increasing")
    colors = _palette(list(arrays))
    for label, r in arrays.items():
        dead = int(np.sum(r == 0))
        if log:
            counts = np.histogram(r[r > 0], bins=edges[2:] if any_dead else edges)[0].astype(float)
            if any_dead:
                counts = np.concatenate([[dead, 0.0], counts])
        else:
            counts = np.histogram(r, bins=edges)[0].astype(float)
        if share:
            counts = counts / r.size
        color = colors[label]
        ax.stairs(
            counts,
            edges,
            fill=True,
            facecolor=(*color[:3], 0.18),
            edgecolor=color,
            linewidth=1.5,
            label=f"{label} ({r.size} neurons, {dead} active on no point)",
            gid=label,
        )
    if log:
        ax.set_xscale("log")
        lo_exp = math.floor(math.log10(edges[2] if any_dead else edges[0]) + 1e-9)
        ticks = [10.0**k for k in range(lo_exp, 1)]
        labels = [f"$10^{{{k}}}$" if k else "1" for k in range(lo_exp, 1)]
        if zero_at is not None:
            ticks = [zero_at, *ticks]
            labels = ["0", *labels]
        ax.set_xticks(ticks)
        ax.set_xticklabels(labels)
        ax.set_xticks([m * 10.0**k for k in range(lo_exp, 0) for m in range(2, 10)], minor=True)
        ax.set_xticklabels([], minor=True)
    ax.set_xlim(edges[0], edges[-1])
    ax.set_xlabel("activation rate (share of training points the neuron is active on)")
    ax.set_ylabel("share of neurons" if share else "neurons")
    ax.legend(fontsize="small")
    ax.set_title("activation rates of the neurons")
    return fig


# -------------------------------------------------------------------------------------------------
# 3. Activation rate against a neuron's weight in f
# -------------------------------------------------------------------------------------------------
def activation_scatter(
    net: Network,
    X,
    *,
    ax: Optional[Axes] = None,
    color: Any = "C0",
    label: Optional[str] = None,
) -> Figure:
    """Each neuron's activation rate against its weight ``|v_k| ||w_k||`` in f, log-log.

    In the paper's large-step-size minima the neurons that weigh most in f fire on very few
    points: the points lie along the top left to bottom right. Neurons active on no point of X
    are drawn as crosses on a band at 1/(4n), below the dotted level 1/n of a single point.

    Parameters
    ----------
    net : flatcore.Network
        The network.
    X : array_like, shape (n, d)
        The points the rates are measured on (the training inputs).
    ax : matplotlib.axes.Axes, optional
        Where to draw (default: a new figure); call again on the same ``ax`` to overlay networks.
    color : matplotlib colour
        Colour of this network's points.
    label : str, optional
        Prefix of the legend entries (e.g. ``"lr = 0.4"``).

    Returns
    -------
    matplotlib.figure.Figure
        The figure drawn on. The active neurons are the scatter with gid ``"active"``, those
        active on no point ``"dead"`` (drawn only when there are some), the level 1/n a line with
        gid ``"one_point"``. Neurons with ``|v_k| ||w_k|| = 0`` (no part in f) are left out.
    """
    _require_matplotlib()
    from .numerics import activation_rates

    X = np.asarray(X, dtype=float)
    rates = activation_rates(net, X)
    weight = np.abs(net.v) * np.linalg.norm(net.W, axis=1)
    n = X.shape[0]
    fig, ax = _axes(ax)
    prefix = f"{label}: " if label else ""
    keep = weight > 0
    active = keep & (rates > 0)
    dead = keep & (rates == 0)
    ax.scatter(
        weight[active],
        rates[active],
        s=14,
        alpha=0.7,
        color=color,
        label=f"{prefix}neurons ({int(active.sum())})",
        gid="active",
    )
    if dead.any():
        ax.scatter(
            weight[dead],
            np.full(int(dead.sum()), 0.25 / n),
            s=18,
            marker="x",
            alpha=0.7,
            color=color,
            label=f"{prefix}active on no point ({int(dead.sum())}), at 1/(4n)",
            gid="dead",
        )
    if not any(line.get_gid() == "one_point" and np.asarray(line.get_ydata())[0] == 1.0 / n for line in ax.lines):
        ax.axhline(1.0 / n, color="0.5", ls=":", lw=1.0, label=f"one point (1/n, n = {n})", gid="one_point")
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.set_xlabel("|v_k| ‖w_k‖ (the neuron's weight in f)")
    ax.set_ylabel("activation rate (share of training points)")
    ax.legend(fontsize="small")
    ax.set_title("activation rate against weight, per neuron")
    return fig


# -------------------------------------------------------------------------------------------------
# 4. Rates: a metric against n, log-log, with fitted slopes
# -------------------------------------------------------------------------------------------------
def _rate_rows(runs, x: str, y: str, by_cols: list[str]):
    _need(runs, [x, y, *by_cols], "runs")
    rows = _done(runs)
    xs = rows[x].to_numpy(float)
    ys = rows[y].to_numpy(float)
    ok = np.isfinite(xs) & np.isfinite(ys) & (xs > 0) & (ys > 0)
    return rows[ok]


def _slopes_of(log_x: np.ndarray, log_y: np.ndarray) -> np.ndarray:
    """Least-squares slopes of the rows of log_y (..., J) against log_x (J,)."""
    cx = log_x - log_x.mean()
    return ((log_y - log_y.mean(axis=-1, keepdims=True)) @ cx) / (cx @ cx)


def _fit_group(xs: np.ndarray, ys: np.ndarray, n_boot: int, rng: np.random.Generator, ci: float) -> dict:
    levels = np.unique(xs)
    samples = [ys[xs == level] for level in levels]
    log_x = np.log10(levels)
    log_med = np.log10([np.median(s) for s in samples])
    out = {"slope": np.nan, "ci_low": np.nan, "ci_high": np.nan, "intercept": np.nan}
    out.update(n_x=len(levels), n_runs=int(ys.size))
    if len(levels) < 2:
        return out
    slope = float(_slopes_of(log_x, log_med))
    out["slope"] = slope
    out["intercept"] = float(log_med.mean() - slope * log_x.mean())
    if n_boot > 0:
        boot = np.empty((n_boot, len(levels)))
        for j, s in enumerate(samples):
            picks = rng.integers(0, s.size, size=(n_boot, s.size))
            boot[:, j] = np.log10(np.median(s[picks], axis=1))
        slopes = _slopes_of(log_x, boot)
        alpha = (1.0 - ci) / 2.0
        out["ci_low"], out["ci_high"] = (float(q) for q in np.quantile(slopes, [alpha, 1.0 - alpha]))
    return out


def fit_slopes(
    runs: pd.DataFrame,
    x: str = "n",
    y: str = "test_mse",
    by: By = "d",
    *,
    n_boot: int = 1000,
    seed: int = 0,
    ci: float = 0.95,
) -> pd.DataFrame:
    """The slope of log y against log x in each group, with a bootstrap interval over seeds.

    Method: in each group (the finished runs with one value of ``by``) and at each value of
    ``x``, the median of ``y`` over the runs there (the seeds); the slope and intercept are the
    least-squares line through the points (log10 x, log10 median y). The interval is a
    percentile bootstrap: ``n_boot`` times, at each x the runs are resampled with replacement
    (as many as there are, independently between x values), the medians and the line computed
    again; the interval holds the central ``ci`` share of the resampled slopes. It measures the
    spread over seeds only: with one run per x it has zero width. The resampling is seeded by
    ``seed`` and the group's label, so the same table and seed give the same intervals, and a
    group's interval does not depend on the other groups. Runs whose x or y is missing, not
    finite or not positive (e.g. diverged runs) are left out.

    Parameters
    ----------
    runs : pandas.DataFrame
        The runs table (:attr:`Results.runs <flatcore.experiments.Results.runs>`, or any table
        with the columns named; a ``status`` column, when present, keeps the ``"done"`` rows).
    x, y : str
        The columns (default test MSE against n).
    by : str or list of str or None
        Grouping settings (default ``"d"``); None: one group.
    n_boot : int
        Bootstrap resamples (0: no interval).
    seed : int
        Seed of the resampling.
    ci : float
        Coverage of the interval, in (0, 1).

    Returns
    -------
    pandas.DataFrame
        One row per group, in sorted order: the ``by`` columns (or ``group`` = ``"all runs"``),
        ``slope``, ``ci_low``, ``ci_high``, ``intercept`` (log10 of the fitted y at x = 1, so
        y ~ 10**intercept * x**slope), ``n_x`` (distinct x values; the slope is NaN below two),
        ``n_runs``, ``label``. ``attrs`` holds x, y, ci, n_boot and seed.
    """
    import pandas as pd

    by_cols = _by_list(by)
    if not 0.0 < ci < 1.0:
        raise ValueError(f"ci must lie in (0, 1), got {ci}")
    if int(n_boot) != n_boot or n_boot < 0:
        raise ValueError(f"n_boot must be a non-negative integer, got {n_boot}")
    rows = _rate_rows(runs, x, y, by_cols)
    records = []
    for key, group in _groups(rows, by_cols).items():
        label = _label(by_cols, key)
        rng = np.random.default_rng([int(seed), zlib.crc32(label.encode())])
        fit = _fit_group(group[x].to_numpy(float), group[y].to_numpy(float), int(n_boot), rng, ci)
        keys = (key if len(by_cols) > 1 else (key,)) if by_cols else ("all runs",)
        record = dict(zip(by_cols or ["group"], keys))
        record.update(fit)
        record["label"] = label
        records.append(record)
    columns = [*(by_cols or ["group"]), "slope", "ci_low", "ci_high", "intercept", "n_x", "n_runs", "label"]
    table = pd.DataFrame(records, columns=columns)
    table.attrs.update(x=x, y=y, ci=ci, n_boot=int(n_boot), seed=int(seed))
    return table


def _references(references: Optional[Sequence[Reference]]) -> list[tuple[str, Any]]:
    out: list[tuple[str, Any]] = []
    for ref in references or ():
        if callable(ref):
            out.append((getattr(ref, "__name__", "reference"), ref))
        else:
            label, exponent = ref
            out.append((str(label), exponent))
    return out


def rate_plot(
    runs: pd.DataFrame,
    x: str = "n",
    y: str = "test_mse",
    by: By = "d",
    *,
    ax: Optional[Axes] = None,
    references: Optional[Sequence[Reference]] = None,
    n_boot: int = 1000,
    seed: int = 0,
    ci: float = 0.95,
    show_runs: bool = True,
) -> Figure:
    """A metric against a setting, log-log: medians over seeds, fitted slopes, reference rates.

    For each group of ``by`` (e.g. each d), the figure shows every run faintly, the medians over
    seeds at each x joined by a solid line, and the least-squares line through the medians
    (dashed), whose slope is the empirical rate; the legend gives each slope with its bootstrap
    interval (:func:`fit_slopes` documents the method and returns the numbers). Reference rates
    (dotted) start at each group's median at the smallest x, so that slopes compare by eye: the
    paper's curse of dimensionality is a slope that flattens as d grows.

    Parameters
    ----------
    runs : pandas.DataFrame
        The runs table.
    x, y : str
        The columns (default test MSE against n).
    by : str or list of str or None
        Grouping settings (default ``"d"``); None: one group.
    ax : matplotlib.axes.Axes, optional
        Where to draw (default: a new figure).
    references : list, optional
        Reference rates x**a: each a pair ``(label, a)``, where ``a`` is a number or a function of
        the group's value of ``by`` (a tuple for several keys, None without grouping) that gives
        the exponent, e.g. ``("n^(-1/(2d+4))", lambda d: -1 / (2 * d + 4))``; a bare function is
        labelled by its name.
    n_boot, seed, ci : int, int, float
        Of the bootstrap intervals (:func:`fit_slopes`).
    show_runs : bool
        Draw the individual runs (faint points).

    Returns
    -------
    matplotlib.figure.Figure
        The figure drawn on. Per group label: the runs are the scatter with gid
        ``"runs:<label>"``, the medians the line ``"median:<label>"``, the fit ``"fit:<label>"``,
        each reference ``"reference:<ref label>:<label>"``.
    """
    _require_matplotlib()
    by_cols = _by_list(by)
    slopes = fit_slopes(runs, x, y, by, n_boot=n_boot, seed=seed, ci=ci)
    rows = _rate_rows(runs, x, y, by_cols)
    if rows.empty:
        raise ValueError(f"no finished run has positive, finite {x!r} and {y!r}")
    refs = _references(references)
    fig, ax = _axes(ax)
    groups = _groups(rows, by_cols)
    colors = _palette(list(groups))
    fits = {row["label"]: row for row in slopes.to_dict("records")}
    ref_styles = [":", "-.", (0, (1, 3)), (0, (5, 2, 1, 2))]
    for key, group in groups.items():
        label = _label(by_cols, key)
        color = colors[key]
        xs = group[x].to_numpy(float)
        ys = group[y].to_numpy(float)
        levels = np.unique(xs)
        medians = np.array([np.median(ys[xs == v]) for v in levels])
        if show_runs:
            ax.scatter(xs, ys, s=10, color=color, alpha=0.25, linewidths=0, gid=f"runs:{label}")
        fit = fits[label]
        text = label
        if np.isfinite(fit["slope"]):
            text += f": slope {fit['slope']:.3f}"
            if np.isfinite(fit["ci_low"]):
                text += f" [{fit['ci_low']:.3f}, {fit['ci_high']:.3f}]"
        ax.plot(levels, medians, "o-", color=color, ms=4, lw=1.5, label=text, gid=f"median:{label}")
        if np.isfinite(fit["slope"]):
            grid = np.geomspace(levels[0], levels[-1], 50)
            ax.plot(grid, 10.0 ** fit["intercept"] * grid ** fit["slope"], "--", color=color, lw=1, gid=f"fit:{label}")
        for i, (ref_label, exponent) in enumerate(refs):
            a = float(exponent(key) if callable(exponent) else exponent)
            grid = np.geomspace(levels[0], levels[-1], 50) if len(levels) > 1 else levels
            ax.plot(
                grid,
                medians[0] * (grid / levels[0]) ** a,
                ls=ref_styles[i % len(ref_styles)],
                color=color,
                lw=1.2,
                alpha=0.8,
                gid=f"reference:{ref_label}:{label}",
            )
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.set_xlabel(x)
    ax.set_ylabel(y)
    handles, _ = ax.get_legend_handles_labels()
    handles.append(_legend_proxy(color="0.35", ls="--", lw=1, label="least-squares fit to the medians"))
    for i, (ref_label, _exp) in enumerate(refs):
        handles.append(_legend_proxy(color="0.35", ls=ref_styles[i % len(ref_styles)], lw=1.2, label=ref_label))
    ax.legend(handles=handles, fontsize="small")
    ax.set_title(f"{y} against {x}: medians over seeds, slopes [{ci:.0%} bootstrap interval]")
    return fig


# -------------------------------------------------------------------------------------------------
# 5. V_g against the stability bound
# -------------------------------------------------------------------------------------------------
def bound_plot(
    runs: pd.DataFrame,
    *,
    x: str = "stability_bound",
    y: str = "vg",
    by: By = "lr",
    ax: Optional[Axes] = None,
    log: Optional[bool] = None,
) -> Figure:
    """V_g of trained networks against the bound that their stability implies, with y = x.

    Each point is a finished run: its weighted variation V_g (``vg``) against the bound on V_g
    that a minimum stable for GD at its step size must satisfy (``stability_bound``, docs/math.md
    section 7). Points below the dashed line y = x satisfy the bound; the text counts them.

    Parameters
    ----------
    runs : pandas.DataFrame
        The runs table.
    x, y : str
        The columns (default ``stability_bound`` and ``vg``; ``vg_population`` is the other V_g).
    by : str or list of str or None
        The settings that colour the points (default ``"lr"``).
    ax : matplotlib.axes.Axes, optional
        Where to draw (default: a new figure).
    log : bool, optional
        Log-log axes (default: when every value is positive).

    Returns
    -------
    matplotlib.figure.Figure
        The figure drawn on. The line y = x has gid ``"identity"``, each group's points
        ``"runs:<label>"``.
    """
    _require_matplotlib()
    by_cols = _by_list(by)
    _need(runs, [x, y, *by_cols], "runs")
    rows = _done(runs)
    xs_all = rows[x].to_numpy(float)
    ys_all = rows[y].to_numpy(float)
    rows = rows[np.isfinite(xs_all) & np.isfinite(ys_all)]
    if rows.empty:
        raise ValueError(f"no finished run has both {x!r} and {y!r} (record 'vg' and 'stability')")
    values = np.concatenate([rows[x].to_numpy(float), rows[y].to_numpy(float)])
    if log is None:
        log = bool(np.all(values > 0))
    if log:
        rows = rows[(rows[x] > 0) & (rows[y] > 0)]
        values = values[values > 0]
    fig, ax = _axes(ax)
    groups = _groups(rows, by_cols)
    colors = _palette(list(groups))
    for key, group in groups.items():
        label = _label(by_cols, key)
        ax.scatter(
            group[x],
            group[y],
            s=28,
            color=colors[key],
            alpha=0.85,
            edgecolors="none",
            label=f"{label} ({len(group)} runs)",
            gid=f"runs:{label}",
        )
    lo, hi = float(values.min()), float(values.max())
    if log:
        lo, hi = lo / 1.5, hi * 1.5
    else:
        pad = 0.05 * (hi - lo or 1.0)
        lo, hi = min(lo - pad, 0.0), hi + pad
    ax.plot([lo, hi], [lo, hi], "k--", lw=1, label="y = x (below: the bound holds)", gid="identity")
    if log:
        ax.set_xscale("log")
        ax.set_yscale("log")
    ax.set_xlim(lo, hi)
    ax.set_ylim(lo, hi)
    below = int(np.sum(rows[y].to_numpy(float) <= rows[x].to_numpy(float)))
    ax.text(0.03, 0.97, f"{below} of {len(rows)} runs below the line", transform=ax.transAxes, va="top")
    ax.set_xlabel(f"stability bound on V_g ({x})")
    ax.set_ylabel(f"V_g of the trained network ({y})")
    ax.legend(fontsize="small")
    ax.set_title("V_g against the stability bound")
    return fig


# -------------------------------------------------------------------------------------------------
# 6. Two dimensions: the kinks over the data, and the learned function
# -------------------------------------------------------------------------------------------------
def _check_2d(net: Network, X) -> np.ndarray:
    if net.d != 2:
        raise ValueError(f"this figure needs d = 2, the network has d = {net.d}")
    X = np.asarray(X, dtype=float)
    if X.ndim != 2 or X.shape[1] != 2:
        raise ValueError(f"X must have shape (n, 2), got {X.shape}")
    return X


def kink_segments(
    W: np.ndarray, b: np.ndarray, *, box: Optional[tuple[float, float, float, float]] = None, radius=None
) -> tuple[np.ndarray, np.ndarray]:
    """The part of each line w_k . x = b_k inside a box or a disk (d = 2).

    Parameters
    ----------
    W : numpy.ndarray, shape (width, 2)
        The neurons' input weights w_k.
    b : numpy.ndarray, shape (width,)
        Their biases (the line is w_k . x = b_k).
    box : (xmin, xmax, ymin, ymax), optional
        The box (give this or ``radius``).
    radius : float, optional
        The disk centred at 0.

    Returns
    -------
    index : numpy.ndarray of int
        The neurons whose line crosses the inside (touching a corner or the circle, up to
        rounding, does not).
    segments : numpy.ndarray, shape (len(index), 2, 2)
        Each one's end points.
    """
    W = np.asarray(W, dtype=float)
    b = np.asarray(b, dtype=float)
    norm = np.linalg.norm(W, axis=1)
    ok = norm > 0
    safe = np.where(ok, norm, 1.0)
    foot = W * (b / safe**2)[:, None]  # the line's point closest to 0
    u = np.stack([-W[:, 1], W[:, 0]], axis=1) / safe[:, None]  # its direction
    if radius is not None:
        dist = np.abs(b) / safe
        ok &= dist < radius * (1 - 1e-12)
        half = np.sqrt(np.maximum(radius**2 - dist**2, 0.0))
        t0, t1 = -half, half
    else:
        if box is None:
            raise ValueError("kink_segments needs a box or a radius")
        lo = np.array([box[0], box[2]])
        hi = np.array([box[1], box[3]])
        t0 = np.full(len(b), -np.inf)
        t1 = np.full(len(b), np.inf)
        for i in range(2):
            ui = u[:, i]
            flat = np.abs(ui) < 1e-300
            with np.errstate(divide="ignore", invalid="ignore"):
                a = (lo[i] - foot[:, i]) / ui
                c = (hi[i] - foot[:, i]) / ui
            ok &= ~flat | ((foot[:, i] > lo[i]) & (foot[:, i] < hi[i]))
            t0 = np.where(flat, t0, np.maximum(t0, np.minimum(a, c)))
            t1 = np.where(flat, t1, np.minimum(t1, np.maximum(a, c)))
        ok &= t1 - t0 > 1e-9 * math.hypot(box[1] - box[0], box[3] - box[2])  # touching a corner is not crossing
    index = np.flatnonzero(ok)
    start = foot[index] + t0[index, None] * u[index]
    end = foot[index] + t1[index, None] * u[index]
    return index, np.stack([start, end], axis=1)


def _clip_halfplane(polygon: np.ndarray, w: np.ndarray, b: float) -> np.ndarray:
    """The part of a convex polygon where w . x >= b (Sutherland-Hodgman, one edge)."""
    out = []
    s = polygon @ w - b
    for i in range(len(polygon)):
        j = (i + 1) % len(polygon)
        if s[i] >= 0:
            out.append(polygon[i])
        if (s[i] >= 0) != (s[j] >= 0):
            t = s[i] / (s[i] - s[j])
            out.append(polygon[i] + t * (polygon[j] - polygon[i]))
    return np.asarray(out).reshape(-1, 2)


def regions_2d(
    net: Network,
    X,
    *,
    ax: Optional[Axes] = None,
    region: str = "box",
    radius: float = 1.0,
    margin: float = 0.05,
    color_by: str = "weight",
    shade: bool = False,
    shade_alpha: float = 0.04,
    cmap: str = "viridis",
) -> Figure:
    """The data and each neuron's kink line w_k . x = b_k (d = 2): the network's pieces.

    Each neuron of a two-layer ReLU network is linear on one side of its kink line and zero on
    the other. The figure draws the training points and each kink line clipped to the data's
    bounding box (or the disk of ``radius``), coloured by the neuron's weight ``|v_k| ||w_k||`` in f
    (or by its activation rate), and optionally shades each neuron's active side. Shattering
    shows as many heavy kinks close to the edge of the data, whose active side holds a few
    points only.

    Parameters
    ----------
    net : flatcore.Network
        A network with d = 2.
    X : array_like, shape (n, 2)
        The training inputs.
    ax : matplotlib.axes.Axes, optional
        Where to draw (default: a new figure).
    region : {"box", "disk"}
        Clip to the data's bounding box, widened by ``margin`` times its size on each side
        (default), or to the disk of ``radius`` centred at 0.
    radius : float
        The disk's radius (``region="disk"``).
    margin : float
        The box's widening (``region="box"``).
    color_by : {"weight", "rate"}
        Colour of a line: the neuron's ``|v_k| ||w_k||`` (default) or its activation rate on X
        (both on a log scale).
    shade : bool
        Shade each drawn neuron's active side (w_k . x > b_k) in its colour, at ``shade_alpha``.
    shade_alpha : float
        Opacity of one shaded side.
    cmap : str
        Colour map of the lines.

    Returns
    -------
    matplotlib.figure.Figure
        The figure drawn on. The kinks are one :class:`matplotlib.collections.LineCollection`
        with gid ``"kinks"``, one segment per neuron whose line crosses the region (the heaviest
        drawn last); the points the scatter ``"data"``; the shaded sides a collection ``"active
        sides"``; the region's outline ``"region"``.
    """
    _require_matplotlib()
    import matplotlib.colors as mcolors
    from matplotlib.collections import LineCollection, PolyCollection
    from matplotlib.patches import Circle, Rectangle

    from .numerics import activation_rates

    X = _check_2d(net, X)
    if region not in ("box", "disk"):
        raise ValueError(f"region must be 'box' or 'disk', got {region!r}")
    if color_by not in ("weight", "rate"):
        raise ValueError(f"color_by must be 'weight' or 'rate', got {color_by!r}")
    if region == "box":
        lo, hi = X.min(axis=0), X.max(axis=0)
        pad = margin * np.maximum(hi - lo, 1e-12)
        lo, hi = lo - pad, hi + pad
        box = (float(lo[0]), float(hi[0]), float(lo[1]), float(hi[1]))
        index, segments = kink_segments(net.W, net.b, box=box)
        outline = np.array([[box[0], box[2]], [box[1], box[2]], [box[1], box[3]], [box[0], box[3]]])
    else:
        index, segments = kink_segments(net.W, net.b, radius=radius)
        angles = np.linspace(0.0, 2 * np.pi, 256, endpoint=False)
        outline = radius * np.stack([np.cos(angles), np.sin(angles)], axis=1)
    rates = activation_rates(net, X)
    if color_by == "weight":
        values = np.abs(net.v) * np.linalg.norm(net.W, axis=1)
        bar_label = "|v_k| ‖w_k‖ (the neuron's weight in f)"
    else:
        values = rates
        bar_label = "activation rate (share of training points)"
    values = values[index]
    order = np.argsort(values, kind="stable")
    index, segments, values = index[order], segments[order], values[order]
    positive = values[values > 0]
    if positive.size and positive.max() > positive.min():
        norm: mcolors.Normalize = mcolors.LogNorm(vmin=positive.min(), vmax=positive.max())
        shown = np.maximum(values, positive.min())
    else:
        norm = mcolors.Normalize(vmin=0.0, vmax=float(values.max()) if positive.size else 1.0)
        shown = values
    fig, ax = _axes(ax, figsize=(6.4, 5.6))
    if shade and index.size:
        polygons = [_clip_halfplane(outline, net.W[k], float(net.b[k])) for k in index]
        faces = [(*rgba[:3], shade_alpha) for rgba in _cmap(cmap)(norm(shown))]
        keep = [i for i, p in enumerate(polygons) if len(p) >= 3]
        ax.add_collection(
            PolyCollection(
                [polygons[i] for i in keep],
                facecolors=[faces[i] for i in keep],
                edgecolors="none",
                gid="active sides",
                zorder=1,
            )
        )
    lines = LineCollection(list(segments), cmap=cmap, norm=norm, linewidths=1.0, alpha=0.85, gid="kinks", zorder=2)
    lines.set_array(shown)
    ax.add_collection(lines)
    if region == "box":
        ax.add_patch(
            Rectangle((box[0], box[2]), box[1] - box[0], box[3] - box[2], fill=False, ec="0.6", lw=0.8, gid="region")
        )
        ax.set_xlim(box[0], box[1])
        ax.set_ylim(box[2], box[3])
    else:
        ax.add_patch(Circle((0.0, 0.0), radius, fill=False, ec="0.6", lw=0.8, gid="region"))
        ax.set_xlim(-1.02 * radius, 1.02 * radius)
        ax.set_ylim(-1.02 * radius, 1.02 * radius)
    ax.scatter(X[:, 0], X[:, 1], s=9, color="k", zorder=3, label=f"training points ({len(X)})", gid="data")
    ax.set_aspect("equal")
    fig.colorbar(lines, ax=ax, label=bar_label, shrink=0.85)
    where = "bounding box" if region == "box" else "disk"
    ax.set_title(f"kinks of {index.size} of {net.width} neurons cross the {where}")
    ax.set_xlabel("x₁")
    ax.set_ylabel("x₂")
    ax.legend(loc="upper right", fontsize="small")
    return fig


def _cmap(name):
    import matplotlib

    return matplotlib.colormaps[name]


def function_2d(
    net: Network,
    X=None,
    *,
    y=None,
    ax: Optional[Axes] = None,
    radius: Optional[float] = None,
    resolution: int = 201,
    cmap: str = "viridis",
    kinks: bool = False,
) -> Figure:
    """The learned function f as a heat map over a disk (d = 2), with the data.

    The figure shows f on a grid over the disk (outside it is left blank), the training points
    (coloured by their labels ``y`` on the same scale when given, black otherwise), and
    optionally the kink lines. At a large step size the shattered network's f is smooth inside
    the data and bends only near the points at the edge.

    Parameters
    ----------
    net : flatcore.Network
        A network with d = 2.
    X : array_like, shape (n, 2), optional
        The training inputs.
    y : array_like, shape (n,), optional
        Their labels (colours of the points).
    ax : matplotlib.axes.Axes, optional
        Where to draw (default: a new figure).
    radius : float, optional
        The disk's radius (default 1, or the largest ||x|| when a point lies outside the unit
        disk).
    resolution : int
        Grid points along each axis.
    cmap : str
        Colour map of f.
    kinks : bool
        Also draw the kink lines inside the disk (thin, grey).

    Returns
    -------
    matplotlib.figure.Figure
        The figure drawn on. The heat map is the image with gid ``"f"`` (a masked array,
        ``resolution`` x ``resolution``, rows from the bottom, masked outside the disk), the
        points the scatter ``"data"``, the kinks a collection ``"kinks"``.
    """
    _require_matplotlib()
    import matplotlib.colors as mcolors
    from matplotlib.collections import LineCollection
    from matplotlib.patches import Circle

    if net.d != 2:
        raise ValueError(f"this figure needs d = 2, the network has d = {net.d}")
    if X is not None:
        X = _check_2d(net, X)
    if int(resolution) < 2:
        raise ValueError(f"resolution must be at least 2, got {resolution}")
    if radius is None:
        radius = 1.0
        if X is not None and len(X):
            radius = max(1.0, float(np.linalg.norm(X, axis=1).max()) * 1.02)
    grid = np.linspace(-radius, radius, int(resolution))
    gx, gy = np.meshgrid(grid, grid)
    values = net.predict(np.column_stack([gx.ravel(), gy.ravel()])).reshape(gx.shape)
    image = np.ma.masked_where(gx**2 + gy**2 > radius**2, values)
    lo, hi = float(image.min()), float(image.max())
    if y is not None:
        y = np.asarray(y, dtype=float).ravel()
        if X is None or y.shape[0] != X.shape[0]:
            raise ValueError("y needs X, with one label per point")
        lo, hi = min(lo, float(y.min())), max(hi, float(y.max()))
    norm = mcolors.Normalize(vmin=lo, vmax=hi if hi > lo else lo + 1.0)
    fig, ax = _axes(ax, figsize=(6.4, 5.6))
    im = ax.imshow(
        image,
        extent=(-radius, radius, -radius, radius),
        origin="lower",
        cmap=cmap,
        norm=norm,
        interpolation="nearest",
        gid="f",
    )
    ax.add_patch(Circle((0.0, 0.0), radius, fill=False, ec="0.5", lw=0.8))
    if kinks:
        _index, segments = kink_segments(net.W, net.b, radius=radius)
        ax.add_collection(LineCollection(list(segments), colors="0.3", linewidths=0.6, alpha=0.6, gid="kinks"))
    if X is not None:
        if y is not None:
            ax.scatter(X[:, 0], X[:, 1], c=y, cmap=cmap, norm=norm, s=16, edgecolors="k", linewidths=0.5, gid="data")
        else:
            ax.scatter(X[:, 0], X[:, 1], s=8, color="k", gid="data")
    ax.set_xlim(-radius, radius)
    ax.set_ylim(-radius, radius)
    ax.set_aspect("equal")
    fig.colorbar(im, ax=ax, label="f(x)", shrink=0.85)
    ax.set_xlabel("x₁")
    ax.set_ylabel("x₂")
    ax.set_title("the learned function" + (" and the training points" if X is not None else ""))
    return fig


# -------------------------------------------------------------------------------------------------
# 7. Has a quantity stopped moving? Its value along training against its final value
# -------------------------------------------------------------------------------------------------
def _last_row_by(steps: np.ndarray, fraction: float):
    """The index of the last history row at or before ``fraction`` of the last step (None: none)."""
    earlier = np.flatnonzero(steps <= fraction * steps[-1])
    return int(earlier[-1]) if earlier.size else None


def _history_columns(histories, column: str):
    _need(histories, ["run_id", "step", column], "histories")
    h = histories[["run_id", "step", column]]
    h = h[np.isfinite(h[column].to_numpy(float))]
    return {rid: frame.sort_values("step") for rid, frame in h.groupby("run_id", sort=False)}


def at_fraction(histories: pd.DataFrame, runs: pd.DataFrame, column: str, fraction: float = 0.8) -> pd.DataFrame:
    """The runs table with ``column`` as it was recorded at a fraction of each run's training.

    For each run, the last history row at or before ``fraction`` of its last recorded step
    replaces the run's value of ``column``; runs without such a row are dropped. With it, any
    number computed from the runs table (a slope from :func:`fit_slopes`, a median) can be
    computed again from an earlier point of training: if it has stopped moving, the two agree.

    Parameters
    ----------
    histories, runs : pandas.DataFrame
        :attr:`Results.histories <flatcore.experiments.Results.histories>` (with ``column``
        recorded, e.g. ``"test_mse"``) and :attr:`Results.runs <flatcore.experiments.Results.runs>`.
    column : str
        A column of both tables.
    fraction : float
        Where in training, in [0, 1] (0.8: four fifths of the way).

    Returns
    -------
    pandas.DataFrame
        A copy of the rows of ``runs`` that have a history, with ``column`` replaced.
    """
    if not 0.0 <= fraction <= 1.0:
        raise ValueError(f"fraction must lie in [0, 1], got {fraction}")
    _need(runs, ["run_id", column], "runs")
    by_run = _history_columns(histories, column)
    values = {}
    for rid, frame in by_run.items():
        row = _last_row_by(frame["step"].to_numpy(float), fraction)
        if row is not None:
            values[rid] = float(frame[column].to_numpy(float)[row])
    out = runs[runs["run_id"].isin(values)].copy()
    out[column] = out["run_id"].map(values).astype(float)
    return out


def late_change(histories: pd.DataFrame, column: str, fraction: float = 0.2) -> pd.Series:
    """Each run's relative change of ``column`` over the last ``fraction`` of its training.

    ``|y(end) - y(start of the last fraction)| / |y(end)|``, from the recorded history (the value at
    the last row at or before (1 - fraction) of the last step): near 0 where the quantity has
    stopped moving. Runs whose final value is 0 or that lack a recorded value are left out.

    Returns
    -------
    pandas.Series
        Indexed by run id.
    """
    import pandas as pd

    if not 0.0 < fraction < 1.0:
        raise ValueError(f"fraction must lie in (0, 1), got {fraction}")
    changes = {}
    for rid, frame in _history_columns(histories, column).items():
        ys = frame[column].to_numpy(float)
        row = _last_row_by(frame["step"].to_numpy(float), 1.0 - fraction)
        if row is not None and row < len(ys) - 1 and ys[-1] != 0:
            changes[rid] = abs(ys[-1] - ys[row]) / abs(ys[-1])
    return pd.Series(changes, name=f"late_change_{column}", dtype=float)


def settling_curves(
    histories: pd.DataFrame,
    runs: pd.DataFrame,
    column: str = "test_mse",
    *,
    by: By = "lr",
    ax: Optional[Axes] = None,
    logy: bool = True,
) -> Figure:
    """A recorded quantity along training over its final value, to show that it has stopped moving.

    Each run's history of ``column`` divided by its final value, against the fraction of
    training done (step over the last step); one line per group of ``by`` (the median over its
    runs, on a common grid of fractions) with the band between the 10% and 90% quantiles. A
    quantity that has stopped moving ends flat at 1; the shaded last fifth is where
    :func:`late_change` measures it.

    Parameters
    ----------
    histories, runs : pandas.DataFrame
        As from :func:`flatcore.load` (``runs`` gives the ``by`` columns).
    column : str
        The history column (default ``"test_mse"``).
    by : str or list of str or None
        Grouping settings (default ``"lr"``).
    ax : matplotlib.axes.Axes, optional
        Where to draw.
    logy : bool
        Logarithmic ratio axis.

    Returns
    -------
    matplotlib.figure.Figure
        Each group's median line has gid ``"group:<label>"``.
    """
    _require_matplotlib()
    by_cols = _by_list(by)
    _need(runs, ["run_id", *by_cols], "runs")
    by_run = _history_columns(histories, column)
    rows = runs[runs["run_id"].isin(by_run)].drop_duplicates("run_id")
    if rows.empty:
        raise ValueError(f"none of the runs has a recorded {column!r} history")
    fig, ax = _axes(ax)
    grid = np.linspace(0.0, 1.0, 101)
    groups = _groups(rows, by_cols)
    colors = _palette(list(groups))
    for key, members in groups.items():
        curves = []
        for rid in members["run_id"]:
            frame = by_run[rid]
            steps = frame["step"].to_numpy(float)
            ys = frame[column].to_numpy(float)
            if len(ys) < 2 or ys[-1] == 0 or steps[-1] <= 0:
                continue
            curves.append(np.interp(grid, steps / steps[-1], ys / ys[-1]))
        if not curves:
            continue
        stack = np.array(curves)
        label = _label(by_cols, key)
        color = colors[key]
        lo, mid, hi = np.quantile(stack, [0.1, 0.5, 0.9], axis=0)
        ax.fill_between(grid, lo, hi, color=color, alpha=0.2, lw=0)
        ax.plot(grid, mid, color=color, lw=1.6, label=f"{label} ({len(curves)} runs)", gid=f"group:{label}")
    ax.axvspan(0.8, 1.0, color="0.9", zorder=0)
    ax.axhline(1.0, color="0.4", lw=0.8, ls=":")
    if logy:
        ax.set_yscale("log")
    ax.set_xlabel("fraction of training")
    ax.set_ylabel(f"{column} / its final value")
    ax.legend(fontsize="small")
    ax.set_title(f"{column} along training (median, 10-90% band)")
    return fig
