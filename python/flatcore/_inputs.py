"""The checks every numerical entry point starts with.

They cover the network, the data, the thread count, and whether the core's working buffers fit
in memory.
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np

from . import _core, _threads
from ._validation import check_data, check_memory
from .network import Network, as_network


class Inputs(NamedTuple):
    """Checked arguments of a call on inputs alone.

    ``X`` (n, d) float64 C-contiguous and the thread count the call will use.
    """

    net: Network
    X: np.ndarray
    n_threads: int


class Data(NamedTuple):
    """Checked arguments of a call on data.

    ``X`` (n, d) and ``y`` (n,) as float64 C-contiguous arrays and the thread count the call will use.
    """

    net: Network
    X: np.ndarray
    y: np.ndarray
    n_threads: int


def prepare_inputs(net, X, *, n_threads=None) -> Inputs:
    """Check ``net``, ``X`` and ``n_threads``.

    Refuses with a MemoryError when the core's working buffers for this size would not fit.
    """
    net = as_network(net)
    threads = _threads.resolve(n_threads)
    X = check_data(net, X)
    _check_workspace(net, X.shape[0], threads)
    return Inputs(net, X, threads)


def prepare(net, X, y, *, n_threads=None) -> Data:
    """Check ``net``, ``X``, ``y`` and ``n_threads``.

    Refuses with a MemoryError when the core's working buffers for this size would not fit.
    """
    net = as_network(net)
    threads = _threads.resolve(n_threads)
    X, y = check_data(net, X, y)
    _check_workspace(net, X.shape[0], threads)
    return Data(net, X, y, threads)


def _check_workspace(net: Network, n: int, threads: int) -> None:
    check_memory(
        _core.gradient_workspace_bytes(n, net.d, net.width, n_threads=threads),
        f"the working buffers for n={n}, d={net.d}, width={net.width}",
        "use fewer neurons or threads",
    )
