"""The two-layer ReLU network f(x) = sum_k v_k relu(w_k . x - b_k) + beta (docs/math.md, section 1)."""

from __future__ import annotations

import numpy as np

from . import _core, _threads
from ._validation import (
    as_float_array,
    as_int,
    as_scalar,
    check_data,
    check_finite,
    check_memory,
    check_result,
    is_plain_float64,
)

INIT_SCHEMES = ("pytorch", "kaiming", "kaiming_uniform")


class Network:
    """A two-layer ReLU network with ``width`` hidden neurons and ``d`` inputs, in float64.

    ``f(x) = sum_k v[k] * relu(W[k] @ x - b[k]) + beta``. Note the sign of the bias: neuron k is
    active where ``W[k] @ x > b[k]`` (PyTorch's ``nn.Linear`` adds its bias, so its bias is -b).

    Parameters
    ----------
    W : array, shape (width, d)
        Input weights; row k is w_k.
    b : array, shape (width,)
        Thresholds of the hidden neurons.
    v : array, shape (width,)
        Output weights.
    beta : float
        Output bias.

    Notes
    -----
    The flat parameter vector (:meth:`params`, and every gradient, Hessian and eigenvector) is
    laid out as ``theta = [W row-major (width*d) | b (width) | v (width) | beta]``.
    Networks are plain objects that pickle, so they travel to worker processes.
    """

    __slots__ = ("W", "b", "v", "beta")

    def __init__(self, W, b, v, beta=0.0):
        W = as_float_array(W, "W", 2)
        width, d = W.shape
        if width == 0 or d == 0:
            raise ValueError(f"W must have at least one neuron and one input; got shape {W.shape}")
        b = as_float_array(b, "b", 1)
        v = as_float_array(v, "v", 1)
        if b.shape != (width,):
            raise ValueError(f"b must have shape (width,) = ({width},) to match W; got {b.shape}")
        if v.shape != (width,):
            raise ValueError(f"v must have shape (width,) = ({width},) to match W; got {v.shape}")
        # as_float_array may return the caller's own array; keep copies so that later changes by
        # the caller do not silently change the network.
        self.W = np.array(W, dtype=np.float64, order="C", copy=True)
        self.b = np.array(b, dtype=np.float64, copy=True)
        self.v = np.array(v, dtype=np.float64, copy=True)
        self.beta = as_scalar(beta, "beta")

    # -- construction --------------------------------------------------------------------------
    @classmethod
    def init(cls, d: int, width: int, *, seed=0, scheme: str = "pytorch") -> Network:
        """A randomly initialised network.

        Schemes (``fan_in`` is d for the hidden layer and width for the output layer):

        - ``"pytorch"``: PyTorch's default ``nn.Linear`` initialisation; every weight and bias
          uniform on ``[-1/sqrt(fan_in), 1/sqrt(fan_in)]``.
        - ``"kaiming"``: He/Kaiming normal (``torch.nn.init.kaiming_normal_``, fan-in mode,
          ReLU gain) for W and v: ``N(0, 2/fan_in)``; biases as in ``"pytorch"``. This is the
          initialisation of the experiments of arXiv:2506.20779.
        - ``"kaiming_uniform"``: uniform on ``[-sqrt(6/fan_in), sqrt(6/fan_in)]`` for W and v;
          biases as in ``"pytorch"``.

        ``seed`` is anything :func:`numpy.random.default_rng` accepts; the same seed gives the
        same network on every machine. A size the machine cannot hold is refused (MemoryError)
        before anything is allocated.
        """
        d = as_int(d, "d", minimum=1)
        width = as_int(width, "width", minimum=1)
        if scheme not in INIT_SCHEMES:
            raise ValueError(f"scheme must be one of {INIT_SCHEMES}; got {scheme!r}")
        # The draws and the network's copies of them: at most two (width, d) arrays at once.
        check_memory(
            8 * (2 * width * d + 4 * width),
            f"a network with d={d} and width={width} ({width * (d + 2) + 1} parameters)",
            "use fewer neurons",
        )
        try:
            rng = np.random.default_rng(seed)
        except (TypeError, ValueError) as exc:
            raise type(exc)(f"seed must be something numpy.random.default_rng accepts; got {seed!r} ({exc})") from None
        bound_in, bound_out = 1.0 / np.sqrt(d), 1.0 / np.sqrt(width)
        if scheme == "pytorch":
            W = rng.uniform(-bound_in, bound_in, size=(width, d))
            b = rng.uniform(-bound_in, bound_in, size=width)
            v = rng.uniform(-bound_out, bound_out, size=width)
            beta = rng.uniform(-bound_out, bound_out)
        elif scheme == "kaiming":
            W = rng.normal(0.0, np.sqrt(2.0 / d), size=(width, d))
            b = rng.uniform(-bound_in, bound_in, size=width)
            v = rng.normal(0.0, np.sqrt(2.0 / width), size=width)
            beta = rng.uniform(-bound_out, bound_out)
        else:  # kaiming_uniform
            W = rng.uniform(-np.sqrt(6.0 / d), np.sqrt(6.0 / d), size=(width, d))
            b = rng.uniform(-bound_in, bound_in, size=width)
            v = rng.uniform(-np.sqrt(6.0 / width), np.sqrt(6.0 / width), size=width)
            beta = rng.uniform(-bound_out, bound_out)
        return cls(W, b, v, float(beta))

    @classmethod
    def from_params(cls, theta, d: int, width: int) -> Network:
        """The network whose flat parameter vector is ``theta`` (layout in the class docstring)."""
        d = as_int(d, "d", minimum=1)
        width = as_int(width, "width", minimum=1)
        theta = as_float_array(theta, "theta", 1)
        P = width * (d + 2) + 1
        if theta.shape[0] != P:
            raise ValueError(
                f"theta has {theta.shape[0]} entries; width*(d+2)+1 = {P} expected for d={d}, width={width}"
            )
        Kd = width * d
        return cls(theta[:Kd].reshape(width, d), theta[Kd : Kd + width], theta[Kd + width : Kd + 2 * width], theta[-1])

    # -- shape ---------------------------------------------------------------------------------
    @property
    def d(self) -> int:
        """Input dimension."""
        return self.W.shape[1]

    @property
    def width(self) -> int:
        """Number of hidden neurons K."""
        return self.W.shape[0]

    @property
    def n_params(self) -> int:
        """P = width * (d + 2) + 1."""
        return self.width * (self.d + 2) + 1

    def params(self) -> np.ndarray:
        """theta = [W row-major | b | v | beta], a new array of length P."""
        return np.concatenate([self.W.ravel(), self.b, self.v, [self.beta]])

    # -- evaluation ----------------------------------------------------------------------------
    def predict(self, X, *, n_threads=None) -> np.ndarray:
        """f(X): one output per row of X (shape (n,))."""
        self._check()  # first: check_data reads the shape of W
        X = check_data(self, X)
        out = _core.predict(self, X, n_threads=_threads.resolve(n_threads))
        return check_result(out, "f(X)")

    __call__ = predict

    def copy(self) -> Network:
        """An independent copy (the arrays are copied)."""
        return Network(self.W, self.b, self.v, self.beta)

    def _check(self) -> None:
        """Re-check the parameters (they are plain arrays a user may have edited in place)."""
        for name in ("W", "b", "v"):
            arr, ndim = getattr(self, name), 2 if name == "W" else 1
            if not is_plain_float64(arr) or arr.ndim != ndim:
                setattr(self, name, as_float_array(arr, name, ndim))
            else:
                check_finite(arr, name)
        if self.W.size == 0:
            raise ValueError(f"W must have at least one neuron and one input; got shape {self.W.shape}")
        if self.b.shape != (self.width,) or self.v.shape != (self.width,):
            raise ValueError(f"b and v must have shape ({self.width},) to match W {self.W.shape}")
        self.beta = as_scalar(self.beta, "beta")

    def to_torch(self, dtype=None, device=None):
        """``torch.nn.Sequential(nn.Linear(d, K), nn.ReLU(), nn.Linear(K, 1))`` computing this network.

        ``dtype`` is a floating-point ``torch.dtype`` (default ``torch.float64``, in which
        ``flatcore.from_torch(net.to_torch()) == net`` exactly), ``device`` anything PyTorch
        accepts (default the CPU). The hidden layer's bias is ``-b``. Needs PyTorch
        (``pip install "flatcore[torch]"``); see :func:`flatcore.interop.to_torch`.
        """
        from .interop import to_torch  # torch is optional: imported only on use

        return to_torch(self, dtype=dtype, device=device)

    # -- niceties ------------------------------------------------------------------------------
    def __repr__(self) -> str:
        return f"Network(d={self.d}, width={self.width}, n_params={self.n_params})"

    def __eq__(self, other) -> bool:
        if not isinstance(other, Network):
            return NotImplemented
        return (
            self.W.shape == other.W.shape
            and np.array_equal(self.W, other.W)
            and np.array_equal(self.b, other.b)
            and np.array_equal(self.v, other.v)
            and self.beta == other.beta
        )

    __hash__ = None  # type: ignore[assignment]  # mutable arrays: not hashable

    def __getstate__(self):
        return {"W": self.W, "b": self.b, "v": self.v, "beta": self.beta}

    def __setstate__(self, state):
        for key in self.__slots__:
            setattr(self, key, state[key])


def as_network(net) -> Network:
    """``net`` itself, after checking that it is a Network whose parameters are still valid."""
    if not isinstance(net, Network):
        raise TypeError(f"net must be a flatcore.Network; got {type(net).__name__}")
    net._check()
    return net
