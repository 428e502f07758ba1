"""One run, from its settings to its record: what a worker process (or a Dask worker) executes.

:func:`execute` draws the data, trains, and measures the final network; :func:`run_task` wraps it
for the executors: it never raises for a failed run, it returns a failed record with the error.
Records are plain data (dicts, floats, bytes, NumPy arrays) so that they pickle across processes
and machines.
"""

from __future__ import annotations

import math
import time
import traceback
from typing import Any, NamedTuple, Optional

import numpy as np

from .. import _threads
from ..network import Network
from ..numerics import activation_rates, hessian_trace, predict
from ..spectrum import sharpness
from ..theory import min_trace, path_norm, stability_bound, vg_norm
from ..training import train
from .config import RunConfig, init_seed

__all__ = [
    "Task",
    "execute",
    "run_task",
    "failed_record",
    "network_bytes",
    "network_from_bytes",
    "METRICS",
    "init_seed",
]

#: The metrics of a finished run, in the order the store's tables show them.
METRICS = (
    "train_loss",
    "train_mse",
    "clean_mse",
    "test_mse",
    "gen_gap",
    "sharpness",
    "two_over_lr",
    "trace",
    "min_trace",
    "vg",
    "vg_population",
    "path_norm",
    "stability_bound",
    "bound_slack",
    "act_mean",
    "act_max",
    "dead_share",
    "rare1_share",
    "rare10_share",
    "final_grad_norm",
    "converged",
    "diverged",
    "diverged_step",
    "steps_run",
    "train_seconds",
    "steps_per_s",
)


class Task(NamedTuple):
    """A run to execute: its id, its settings (``RunConfig.as_dict()``) and the threads it may use."""

    run_id: str
    config: dict
    threads: int = 1


def network_bytes(net: Network) -> bytes:
    """A network as bytes: d and width (two int64) then its parameters (float64, little-endian)."""
    header = np.array([net.d, net.width], dtype="<i8").tobytes()
    return header + np.ascontiguousarray(net.params(), dtype="<f8").tobytes()


def network_from_bytes(blob: bytes) -> Network:
    """The network that :func:`network_bytes` wrote."""
    d, width = (int(v) for v in np.frombuffer(blob[:16], dtype="<i8"))
    theta = np.frombuffer(blob[16:], dtype="<f8").astype(np.float64)
    return Network.from_params(theta, d, width)


def _finite_or_none(value) -> Optional[float]:
    value = float(value)
    return value if math.isfinite(value) else None


def execute(config: RunConfig, threads: int = 1) -> dict[str, Any]:
    """Draw the data, train, measure: the record of one finished run.

    The data are :meth:`RunConfig.dataset`, the network :meth:`RunConfig.initial_network`, and the
    training :func:`flatcore.train` with :meth:`RunConfig.train_options`. Returns a dict with ``metrics``
    (:data:`METRICS`; None where not recorded or not defined, e.g. after divergence), ``history``
    (column -> array, or None) and ``network`` (bytes, or None).
    """
    law = config.law()
    ds = config.dataset()
    net = config.initial_network()
    start = time.perf_counter()
    res = train(
        net,
        ds.X,
        ds.y,
        config.lr,
        config.steps,
        test=(ds.X_test, ds.y_test),
        y_clean=ds.y_clean,
        n_threads=threads,
        **config.train_options(),
    )
    seconds = time.perf_counter() - start
    record = set(config.record)
    m: dict[str, Any] = {key: None for key in METRICS}
    m.update(
        converged=bool(res.converged),
        diverged=bool(res.diverged),
        diverged_step=None if res.diverged_step is None else int(res.diverged_step),
        steps_run=int(res.steps_run),
        train_seconds=seconds,
        steps_per_s=res.steps_run / seconds if seconds > 0 else None,
        two_over_lr=2.0 / config.lr,
        train_loss=_finite_or_none(res.final_loss),
        final_grad_norm=_finite_or_none(res.final_grad_norm),
    )
    final = res.net
    if not res.diverged:
        f = predict(final, ds.X, n_threads=threads)
        m["train_mse"] = float(np.mean((f - ds.y) ** 2))
        m["clean_mse"] = float(np.mean((f - ds.y_clean) ** 2))
        m["test_mse"] = float(np.mean((predict(final, ds.X_test, n_threads=threads) - ds.y_test) ** 2))
        m["gen_gap"] = m["test_mse"] - m["train_mse"]
        rates = activation_rates(final, ds.X, n_threads=threads)
        m.update(
            act_mean=float(rates.mean()),
            act_max=float(rates.max()),
            dead_share=float(np.mean(rates == 0.0)),
            rare1_share=float(np.mean(rates <= 0.01)),
            rare10_share=float(np.mean(rates <= 0.10)),
        )
        if "sharpness" in record:
            m["sharpness"] = float(sharpness(final, ds.X, ds.y, loss=config.loss, n_threads=threads))
        if "trace" in record:
            m["trace"] = float(hessian_trace(final, ds.X, ds.y, loss=config.loss, n_threads=threads))
        if "min_trace" in record:
            m["min_trace"] = float(min_trace(final, ds.X, ds.y, loss=config.loss, n_threads=threads))
        if "vg" in record:
            m["vg"] = float(vg_norm(final, ds.X))
            m["path_norm"] = float(path_norm(final))
        if "vg_population" in record and hasattr(law, "marginal_tail"):
            m["vg_population"] = float(vg_norm(final, law=law))
        if "stability" in record:
            bound = stability_bound(final, ds.X, ds.y, config.lr, loss=config.loss)
            m["stability_bound"] = float(bound.bound)
            m["bound_slack"] = float(bound.bound - bound.vg)
            if m["vg"] is None:
                m["vg"] = float(bound.vg)
    history = None
    if "history" in record:
        history = {name: np.asarray(res.history[name], dtype=np.float64) for name in res.history.columns}
    return {
        "metrics": m,
        "history": history,
        "network": network_bytes(final) if "network" in record else None,
    }


def failed_record(task: Task, error: str, *, started: Optional[float] = None) -> dict[str, Any]:
    """The record of a run that did not finish: ``status`` "failed", the ``error``, no results."""
    from .. import __version__

    return {
        "run_id": task.run_id,
        "status": "failed",
        "error": error,
        "metrics": None,
        "history": None,
        "network": None,
        "version": __version__,
        "started": started,
        "wall_seconds": None,
        "threads": task.threads,
    }


def run_task(task: Task) -> dict[str, Any]:
    """Execute a task and return its record, ``status`` "done" or "failed" (with ``error``).

    Never raises for a failure of the run itself (a bad setting, an overflow). Ctrl-C still interrupts.
    """
    from .. import __version__

    started = time.time()
    wall = time.perf_counter()
    try:
        config = RunConfig.from_mapping(task.config)
        if config.run_id != task.run_id:
            raise ValueError(f"the settings do not match the run id {task.run_id} (they give {config.run_id})")
        out = {
            "run_id": task.run_id,
            "version": __version__,
            "started": started,
            "threads": task.threads,
            "status": "done",
            "error": None,
            **execute(config, _threads.resolve(task.threads)),
        }
    except Exception as exc:
        out = failed_record(task, f"{type(exc).__name__}: {exc}\n\n{traceback.format_exc()}", started=started)
    out["wall_seconds"] = time.perf_counter() - wall
    return out
