"""Studies: declare a sweep of runs, execute it locally or on a Dask cluster, keep it in SQLite.

- :class:`Study` (:mod:`.study`): fixed settings, a grid and derived settings, from Python or a
  TOML file; its :attr:`~Study.runs` are :class:`RunConfig` objects with stable ids.
- :func:`run_study` (:mod:`.runner`): executes what the store lacks and records each run as it
  finishes; :class:`LocalExecutor` (the default) and :class:`DaskExecutor` run the runs.
- :class:`Store` (:mod:`.store`): the SQLite file; :func:`load` (:mod:`.results`) reads it back as
  pandas tables.
"""

from .config import DEFAULT_RECORD, RECORDABLE, SETTINGS, ConfigError, RunConfig
from .executors import Executor, LocalExecutor
from .results import Results, load
from .runner import RunSummary, run_study
from .store import Store, StoreError
from .study import Study, StudyError
from .worker import METRICS, Task, execute, run_task

__all__ = [
    "Study",
    "StudyError",
    "RunConfig",
    "ConfigError",
    "SETTINGS",
    "RECORDABLE",
    "DEFAULT_RECORD",
    "METRICS",
    "run_study",
    "RunSummary",
    "Executor",
    "LocalExecutor",
    "DaskExecutor",
    "Store",
    "StoreError",
    "load",
    "Results",
    "Task",
    "execute",
    "run_task",
]


def __getattr__(name):
    # Dask is an optional extra: imported only when its executor is asked for.
    if name == "DaskExecutor":
        from .dask_executor import DaskExecutor

        return DaskExecutor
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
