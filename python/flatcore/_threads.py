"""Thread counts: the process-wide default and the checks every entry point applies.

A thread count means the same everywhere, in the compiled core too: a positive number of threads
(at most :func:`max_num_threads`), or ``None`` for the process default.

Threads and fork: a process forked (``os.fork``, multiprocessing's ``'fork'`` start method)
after flatcore has run a multi-threaded call cannot start threads again, because the GNU OpenMP
runtime does not survive a fork: a parallel region in the child would wait forever for threads
that were not copied. flatcore notices such a child (and its own forked children) and runs every
call there on one thread, whatever ``n_threads`` says, with the same results; the first call that
asks for more than one thread warns once per process. Children started fresh (the ``'spawn'`` or
``'forkserver'`` start method), and children forked before the parent's first multi-threaded
call, keep their threads.
"""

from __future__ import annotations

import os
import sys
import warnings
from types import FrameType

from . import _core
from ._validation import as_int

THREADS_LOST_MESSAGE = (
    "flatcore runs on one thread in this process: it was forked (os.fork, or multiprocessing's "
    "'fork' start method) after flatcore had started threads in its parent, and the OpenMP runtime "
    "cannot start threads again in such a child without hanging. Results are the same, only slower. "
    "To keep the threads, start worker processes with the 'spawn' or 'forkserver' start method "
    "(multiprocessing.get_context('spawn'), or ProcessPoolExecutor(mp_context=...)), or fork them "
    "before the parent's first multi-threaded flatcore call."
)

_warned_in_pid: int | None = None  # the process that has warned (a forked child warns again)


def get_num_threads() -> int:
    """Number of threads the core uses when a call does not name one.

    Set with :func:`set_num_threads`, else the ``FLATCORE_NUM_THREADS`` environment variable,
    else OpenMP's default (``OMP_NUM_THREADS`` or the number of cores). Results never depend
    on it: the core reduces in a fixed order. In a process that lost its threads to fork
    (:func:`threads_lost_to_fork`) every call runs on one thread whatever this says.
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


def threads_lost_to_fork() -> bool:
    """Whether this process lost its threads to fork, so that every call runs on one thread.

    True in a child forked (``os.fork``, multiprocessing's ``'fork'`` start method) after its
    parent had run a multi-threaded flatcore call, and in that child's own forked children: the
    OpenMP runtime does not survive such a fork. Start workers with the ``'spawn'`` or
    ``'forkserver'`` start method to keep the threads.
    """
    return bool(_core.threads_lost_to_fork())


def resolve(n_threads: int | None) -> int:
    """The thread count a call asks for: ``n_threads`` checked, or the default for ``None``.

    In a process that lost its threads to fork (:func:`threads_lost_to_fork`) the core runs the
    call on one thread all the same; the first such call that asks for more warns.
    """
    if n_threads is None:
        n_threads = get_num_threads()
    else:
        n_threads = as_int(n_threads, "n_threads", minimum=1, maximum=max_num_threads())
    if n_threads > 1 and _core.threads_lost_to_fork() and _warned_in_pid != os.getpid():
        _warn_threads_lost()
    return n_threads


def _warn_threads_lost() -> None:
    global _warned_in_pid
    _warned_in_pid = os.getpid()
    warnings.warn(THREADS_LOST_MESSAGE, RuntimeWarning, stacklevel=_caller_level())


def _caller_level() -> int:
    """The stacklevel of the first frame outside flatcore (the user's call), seen from the caller."""
    package = os.path.dirname(os.path.abspath(__file__)) + os.sep
    frame: FrameType | None = sys._getframe(2)
    level = 2
    while frame is not None and frame.f_code.co_filename.startswith(package):
        frame, level = frame.f_back, level + 1
    return level
