"""Ctrl-C during work that cannot stop part-way (a LAPACK call that holds no checkpoint).

:func:`run_abandonable` runs such work on a daemon thread while the caller waits in short slices,
so that Ctrl-C raises KeyboardInterrupt in the caller at once, in any thread (the same rule as the
compiled core's long loops: see ``_core.Interruption``). The interrupted work cannot be stopped:
it runs to its end unobserved, holding its memory and CPU until then, and its result is dropped.
"""

from __future__ import annotations

import threading
from typing import Callable, TypeVar

from . import _core

T = TypeVar("T")

# How often the waiting caller looks for Ctrl-C, in seconds.
POLL_S = 0.05


def run_abandonable(work: Callable[[], T], name: str) -> T:
    """Return ``work()``, computed on a daemon thread named ``name``; re-raise what it raises.

    ``work`` must release the GIL to be worth it, as NumPy's LAPACK calls do.
    """
    interruption = _core.Interruption()  # Ctrl-C before this point is not ours
    done = threading.Event()
    box: dict[str, object] = {}

    def target() -> None:
        try:
            box["result"] = work()
        except BaseException as exc:  # re-raised in the caller
            box["error"] = exc
        finally:
            done.set()

    threading.Thread(target=target, name=name, daemon=True).start()
    # In the main thread a signal interrupts the wait itself; elsewhere, check() sees the SIGINT.
    while not done.wait(POLL_S):
        interruption.check()
    if "error" in box:
        raise box["error"]  # type: ignore[misc]
    return box["result"]  # type: ignore[return-value]
