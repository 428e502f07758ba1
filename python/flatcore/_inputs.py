"""The check every numerical entry point starts with.

It covers the network, the data, the thread count, and whether the core's working buffers fit in
memory.
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np

from . import _core, _threads
from ._validation import check_data, check_memory
from .network import Network, as_network


class Inputs(NamedTuple):
    """Checked arguments of a call.

    ``X`` (n, d) and ``y`` (n,) as float64 C-contiguous arrays (``y`` None when the call takes no
    targets) and the thread count the call will use.
    """

    net: Network
    X: np.ndarray
    y: np.ndarray | None
    n_threads: int


def prepare(net, X, y=None, *, n_threads=None, needs_y: bool = True) -> Inputs:
    """Check ``net``, ``X`` (and ``y`` when ``needs_y``) and ``n_threads``.

    Refuses with a MemoryError when the core's working buffers for this size would not fit.
    """
    net = as_network(net)
    threads = _threads.resolve(n_threads)
    if needs_y:
        X, y = check_data(net, X, y)
    else:
        X = check_data(net, X)
    n = X.shape[0]
    check_memory(
        _core.gradient_workspace_bytes(n, net.d, net.width, n_threads=threads),
        f"the working buffers for n={n}, d={net.d}, width={net.width}",
        "use fewer neurons or threads",
    )
    return Inputs(net, X, y, threads)
