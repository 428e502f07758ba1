"""Thread counts: the process-wide default and the checks every entry point applies.

A thread count means the same everywhere, in the compiled core too: a positive number of threads
(at most :func:`max_num_threads`), or ``None`` for the process default.
"""

from __future__ import annotations

from . import _core
from ._validation import as_int


def get_num_threads() -> int:
    """Number of threads the core uses when a call does not name one.

    Set with :func:`set_num_threads`, else the ``FLATCORE_NUM_THREADS`` environment variable,
    else OpenMP's default (``OMP_NUM_THREADS`` or the number of cores). Results never depend
    on it: the core reduces in a fixed order.
    """
    return int(_core.default_num_threads())


def set_num_threads(n_threads: int | None) -> None:
    """Set the default thread count for this process (``None`` restores the default)."""
    if n_threads is not None:
        n_threads = resolve(n_threads)
    _core.set_default_num_threads(n_threads)


def max_num_threads() -> int:
    """The most threads a call may ask for: max(256, 8 x the number of cores)."""
    return int(_core.max_num_threads())


def resolve(n_threads: int | None) -> int:
    """The thread count a call will use: ``n_threads`` checked, or the default for ``None``."""
    if n_threads is None:
        return get_num_threads()
    return as_int(n_threads, "n_threads", minimum=1, maximum=max_num_threads())
