"""Thread count used by the compiled core when a call does not name one."""
from __future__ import annotations

import os

from . import _core
from ._validation import as_int

_default: int | None = None


def get_num_threads() -> int:
    """Number of threads the core uses by default.

    Set with :func:`set_num_threads`, or the ``FLATCORE_NUM_THREADS`` environment variable,
    else OpenMP's default (``OMP_NUM_THREADS`` or the number of cores). Results never depend
    on it: the core reduces in a fixed order.
    """
    if _default is not None:
        return _default
    env = os.environ.get("FLATCORE_NUM_THREADS")
    if env:
        try:
            return min(MAX_THREADS, max(1, int(env)))
        except ValueError:
            raise ValueError(f"FLATCORE_NUM_THREADS must be a positive integer; got {env!r}") from None
    return max(1, int(_core.default_num_threads()))


def set_num_threads(n_threads: int | None) -> None:
    """Set the default thread count (None restores the default)."""
    global _default
    _default = None if n_threads is None else as_int(n_threads, "n_threads", minimum=1, maximum=MAX_THREADS)


# More threads than this is a mistake (and thread creation can fail and abort the process).
MAX_THREADS = max(256, 8 * (os.cpu_count() or 1))


def resolve(n_threads) -> int:
    if n_threads is None:
        return get_num_threads()
    return as_int(n_threads, "n_threads", minimum=1, maximum=MAX_THREADS)
