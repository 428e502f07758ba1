"""What the study commands share: opening a store and reporting errors the user can act on."""

from __future__ import annotations

import sys

from ..experiments import StoreError, StudyError
from ..experiments.dask_executor import DaskConnectionError, DaskWorkerError


def fail(message: str, code: int = 2) -> int:
    """Print ``flatcore: error: message`` to stderr; return the exit code."""
    print(f"flatcore: error: {message}", file=sys.stderr)
    return code


USER_ERRORS = (StudyError, StoreError, DaskConnectionError, DaskWorkerError, FileNotFoundError, KeyError)


def load_results(path, study=None):
    """The store at ``path`` read back; errors as exceptions with a readable message."""
    from ..experiments import load

    return load(path, study=study)


def format_table(frame, floatfmt: str = ".4g") -> str:
    """A DataFrame as aligned plain text (no extra dependency)."""
    columns = [str(c) for c in frame.columns]
    cells = []
    for row in frame.itertuples(index=False):
        line = []
        for value in row:
            if isinstance(value, float):
                line.append("-" if value != value else format(value, floatfmt))
            else:
                line.append(str(value))
        cells.append(line)
    widths = [max([len(c)] + [len(r[j]) for r in cells]) for j, c in enumerate(columns)]
    out = ["  ".join(c.rjust(w) for c, w in zip(columns, widths)), "  ".join("-" * w for w in widths)]
    out += ["  ".join(v.rjust(w) for v, w in zip(r, widths)) for r in cells]
    return "\n".join(out)
