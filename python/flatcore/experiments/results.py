"""A store read back as pandas tables: :func:`load`."""

from __future__ import annotations

import json
import os
from collections.abc import Sequence
from typing import Any, Optional

import numpy as np

from ..data.specs import spec_label
from ..network import Network
from .config import SETTINGS
from .store import Store
from .worker import METRICS, network_from_bytes

__all__ = ["load", "Results"]

# Settings shown as their name alone in the runs table (their full spec is in `<key>_spec`).
_SPECS = ("distribution", "target")


def _flat_config(config: dict[str, Any]) -> dict[str, Any]:
    row: dict[str, Any] = {}
    for key in SETTINGS:
        value = config.get(key)
        if key in _SPECS and isinstance(value, dict):
            row[key] = spec_label(value, "law" if key == "distribution" else "target")
            row[f"{key}_spec"] = json.dumps(value, sort_keys=True)
        elif key == "record":
            row[key] = ",".join(value or ())
        else:
            row[key] = value
    return row


class Results:
    """The contents of a store (see :func:`load`).

    Attributes
    ----------
    runs : pandas.DataFrame
        One row per run: ``run_id``, ``study`` (the studies that list it, comma-separated),
        ``status`` ("done", "failed", or "pending" for a registered run not executed yet), every
        setting (``distribution`` and ``target`` by name and the parameters not at their defaults,
        e.g. ``radial(alpha=0.3)``; their full specs in
        ``distribution_spec`` / ``target_spec``), every metric of
        :data:`flatcore.experiments.METRICS`, ``error``, ``version``, ``wall_seconds``,
        ``threads``, ``attempts``.
    studies : pandas.DataFrame
        One row per study: name, description, number of runs, and counts by status.
    """

    def __init__(self, path, study: Optional[str] = None):
        import pandas as pd

        self.path = os.fspath(path)
        self._store = Store(self.path, readonly=True)
        studies = self._store.studies()
        if study is not None and study not in {s["name"] for s in studies}:
            known = ", ".join(s["name"] for s in studies) or "none"
            raise KeyError(f"no study {study!r} in {self.path} (its studies: {known})")
        members: dict[str, list[str]] = {}
        for s in studies:
            for run_id in s["run_ids"]:
                members.setdefault(run_id, []).append(s["name"])
        configs = self._store.configs()
        self._configs = configs
        results = {r["run_id"]: r for r in self._store.results()}
        order = [rid for s in studies if study is None or s["name"] == study for rid in s["run_ids"]]
        order = list(dict.fromkeys(order))  # a run in two studies is one row
        if study is None:
            order += [rid for rid in configs if rid not in set(order)]
        rows = []
        for run_id in order:
            result = results.get(run_id)
            row: dict[str, Any] = {
                "run_id": run_id,
                "study": ",".join(members.get(run_id, [])),
                "status": result["status"] if result else "pending",
            }
            row.update(_flat_config(configs[run_id]))
            metrics = (result or {}).get("metrics") or {}
            for key in METRICS:
                row[key] = metrics.get(key)
            for key in ("error", "version", "wall_seconds", "threads", "attempts"):
                row[key] = result.get(key) if result else None
            rows.append(row)
        columns = [
            "run_id",
            "study",
            "status",
            *(_flat_config({}).keys()),
            *METRICS,
            "error",
            "version",
            "wall_seconds",
            "threads",
            "attempts",
        ]
        self.runs = pd.DataFrame(rows, columns=columns)
        for key in METRICS:  # None -> NaN in numeric columns, so that medians and plots just work
            if key not in ("converged", "diverged"):
                self.runs[key] = pd.to_numeric(self.runs[key], errors="coerce")
        listed = [s for s in studies if study is None or s["name"] == study]
        self.studies = pd.DataFrame(
            [
                {
                    "study": s["name"],
                    "description": s["declaration"].get("description", ""),
                    "runs": len(s["run_ids"]),
                    **{
                        status: sum(
                            1 for rid in s["run_ids"] if (results.get(rid) or {}).get("status", "pending") == status
                        )
                        for status in ("done", "failed", "pending")
                    },
                }
                for s in listed
            ],
            columns=["study", "description", "runs", "done", "failed", "pending"],
        )
        self._declarations = {s["name"]: s["declaration"] for s in studies}

    @property
    def histories(self):
        """The sampled histories as one long table.

        Columns: ``run_id``, ``step`` and the history columns (loss, grad_norm, weight norms,
        activation shares, test_mse, clean_mse, sharpness where
        recorded); one row per run and recorded step. Read from the store once; each access
        returns a copy (so a caller's edits do not reach the next one).
        """
        import pandas as pd

        cached = getattr(self, "_histories", None)
        if cached is not None:
            return cached.copy()
        wanted = set(self.runs["run_id"])
        frames = []
        for run_id, history in self._store.histories():
            if run_id in wanted:
                frame = pd.DataFrame(history)
                frame.insert(0, "run_id", run_id)
                if "step" in frame:
                    frame["step"] = frame["step"].astype(np.int64)
                frames.append(frame)
        table = pd.concat(frames, ignore_index=True) if frames else pd.DataFrame(columns=["run_id", "step"])
        self._histories = table
        return table.copy()

    def history(self, run_id: str):
        """One run's sampled history as a DataFrame."""
        import pandas as pd

        history = self._store.history(run_id)
        if history is None:
            raise KeyError(f"run {run_id!r} has no stored history")
        return pd.DataFrame(history)

    def network(self, run_id: str) -> Network:
        """A finished run's final network (when its study recorded ``network``)."""
        blob = self._store.network_blob(run_id)
        if blob is None:
            raise KeyError(f"run {run_id!r} has no stored network (not finished, or 'network' not recorded)")
        return network_from_bytes(blob)

    def dataset(self, run_id: str):
        """A run's data drawn again (:class:`flatcore.data.Dataset`).

        The same points, labels and test set the run trained and was measured on: they depend only
        on its settings.
        """
        return self.config(run_id).dataset()

    def config(self, run_id: str):
        """A run's settings as a :class:`~flatcore.experiments.RunConfig`."""
        from .config import RunConfig

        return RunConfig.from_canonical(self._configs[run_id])

    def swept(self, study: Optional[str] = None) -> list[str]:
        """The settings that vary between the runs (of one study, or all)."""
        runs = self.runs if study is None else self.runs[self.runs["study"].str.split(",").apply(lambda s: study in s)]
        out = []
        for key in _flat_config({}):
            if key.endswith("_spec"):
                continue
            if runs[key].astype(str).nunique() > 1:
                out.append(key)
        return out

    def summarize(self, by: Optional[Sequence[str]] = None, metrics: Optional[Sequence[str]] = None):
        """Medians over seeds of the finished runs, grouped by the swept settings.

        Parameters
        ----------
        by : list of str, optional
            Grouping settings (default: the swept settings other than ``seed``).
        metrics : list of str, optional
            Which metrics (default: train_loss, train_mse, clean_mse, test_mse, gen_gap, sharpness,
            two_over_lr, trace, vg, stability_bound, act_mean, rare1_share).

        Returns
        -------
        pandas.DataFrame
            One row per group: the grouping settings, ``runs`` (finished runs in the group),
            ``failed``, and the median of each metric.
        """
        import pandas as pd

        if by is None:
            by = [k for k in self.swept() if k != "seed"]
        by = list(by)
        for key in by:
            if key not in self.runs.columns:
                raise KeyError(f"cannot group by {key!r}: not a column of the runs table")
        if metrics is None:
            metrics = [
                "train_loss",
                "train_mse",
                "clean_mse",
                "test_mse",
                "gen_gap",
                "sharpness",
                "two_over_lr",
                "trace",
                "vg",
                "stability_bound",
                "act_mean",
                "rare1_share",
            ]
        metrics = [m for m in metrics if m in self.runs.columns]
        done = self.runs[self.runs["status"] == "done"]
        failed = self.runs[self.runs["status"] == "failed"]
        if not by:
            row = {"runs": len(done), "failed": len(failed), **{m: done[m].median() for m in metrics}}
            return pd.DataFrame([row])
        table = done.groupby(by, dropna=False, sort=True)[metrics].median()
        table.insert(0, "runs", done.groupby(by, dropna=False, sort=True).size())
        counts = failed.groupby(by, dropna=False).size() if len(failed) else None
        table.insert(1, "failed", 0 if counts is None else counts.reindex(table.index, fill_value=0).to_numpy())
        return table.reset_index()

    def close(self) -> None:
        """Close the store."""
        self._store.close()

    def __enter__(self) -> Results:
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def __repr__(self) -> str:
        counts = self.runs["status"].value_counts().to_dict()
        return f"Results({self.path!r}: {len(self.runs)} runs, {counts})"


def load(path, study: Optional[str] = None) -> Results:
    """Read a store: its runs, histories and final networks as pandas tables and objects.

    Parameters
    ----------
    path : str or os.PathLike
        The SQLite file written by :func:`flatcore.experiments.run_study` or ``flatcore run``.
    study : str, optional
        Only the runs of this study (default: every run in the store).

    Returns
    -------
    Results
        ``.runs`` (one row per run), ``.histories`` (long table), ``.network(run_id)``,
        ``.summarize()``.

    Examples
    --------
    >>> res = flatcore.load("study.db")                       # doctest: +SKIP
    >>> res.runs.groupby(["d", "n"]).test_mse.median()        # doctest: +SKIP
    """
    return Results(path, study=study)
