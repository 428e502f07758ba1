"""Argument checks shared by the modules of :mod:`flatcore.theory` (private).

Directions, thresholds, samples and laws are checked here, on top of the package-wide checks
of :mod:`flatcore._validation`, so that every theory function refuses bad input with the same
words.
"""

from __future__ import annotations

import numpy as np

from .._validation import as_float_array, as_int
from ..data import Law, UniformBall

# Directions must be unit vectors to this relative tolerance (they are then renormalised exactly).
UNIT_RTOL = 1e-8
# Work arrays of the empirical and Monte Carlo routes are kept to about this many float64s.
CHUNK_ELEMENTS = 1 << 22


def as_samples(X, name: str = "X") -> np.ndarray:
    """X as an (n, d) float64 array with n >= 1 (a 1-D X is one column: n points in R^1)."""
    X = as_float_array(X, name, (1, 2))
    if X.ndim == 1:
        X = X.reshape(-1, 1)
    if X.shape[0] == 0:
        raise ValueError(f"{name} has no rows: need at least one data point")
    if X.shape[1] == 0:
        raise ValueError(f"{name} has no columns: need d >= 1")
    return X


def as_directions(u, d: int | None = None, where: str = "the data") -> np.ndarray:
    """u as float64 of shape (d,) or (m, d) with unit rows (checked, then renormalised).

    With ``d`` given, the number of entries per direction must equal it (``where`` names what
    fixes d in the error message).
    """
    u = as_float_array(u, "u", (1, 2))
    if u.shape[-1] == 0:
        raise ValueError(f"u must have d >= 1 entries per direction; got shape {u.shape}")
    if d is not None and u.shape[-1] != d:
        raise ValueError(f"u has {u.shape[-1]} entries per direction but {where} have d = {d}")
    norms = np.linalg.norm(u, axis=-1)
    bad = np.abs(norms - 1.0) > UNIT_RTOL
    if np.any(bad):
        where_bad = int(np.argmax(bad)) if u.ndim == 2 else None
        value = norms[where_bad] if u.ndim == 2 else float(norms)
        at = f" (row {where_bad})" if where_bad is not None else ""
        raise ValueError(
            f"u must hold unit vectors; got norm {value!r}{at}. For a neuron (w, b) pass "
            "u = w / ||w|| and t = b / ||w|| (a zero w has no direction)"
        )
    return u / norms[..., None]


def as_thresholds(t, name: str = "t") -> np.ndarray:
    """t as a float64 array of its own shape (any ndim, 0 for a scalar), all entries finite."""
    if isinstance(t, (bool, np.bool_)):
        raise TypeError(f"{name} must be a real number or an array of real numbers; got bool")
    arr = as_float_array(t, name, tuple(range(0, 33)))  # first: it names t if t is no array
    # as_float_array goes through np.ascontiguousarray, which makes a 0-d array 1-d: restore the shape
    return arr.reshape(np.shape(t))


def broadcast_ut(u: np.ndarray, t: np.ndarray):
    """Flatten (u, t) to M pairs. Returns (U (M, d) or (d,), t (M,), out_shape)."""
    if u.ndim == 1:
        return u, t.reshape(-1), t.shape
    m = u.shape[0]
    try:
        out_shape = np.broadcast_shapes((m,), t.shape)
    except ValueError:
        raise ValueError(
            f"t of shape {t.shape} does not broadcast against the {m} directions in u "
            f"(shape {u.shape}); give one threshold or one per direction"
        ) from None
    if out_shape != (m,):
        raise ValueError(f"with u of shape {u.shape}, t must be a scalar or have shape ({m},); got {t.shape}")
    return u, np.broadcast_to(t, (m,)).astype(np.float64), out_shape


def as_dim(d) -> int:
    """d as an int >= 1."""
    return as_int(d, "d", minimum=1)


def as_law(law, d: int, where: str):
    """``law`` checked to be a law object of dimension d; None means ``UniformBall(d)``.

    A law is any object with an integer ``d`` and a method ``sample(n, seed)`` (the protocol
    :class:`flatcore.data.Law`). ``where`` names what fixes d in the error message.
    """
    if law is None:
        return UniformBall(d)
    if isinstance(law, str):
        raise TypeError(
            f"law must be a law object such as flatcore.data.UniformBall({d}), Gaussian({d}) or "
            f"Radial({d}, alpha=0.5), not a name; got the string {law!r}"
        )
    if not isinstance(law, Law) or not callable(law.sample):
        raise TypeError(
            "law must be a law object with an integer attribute d and a method sample(n, seed) "
            f"returning an (n, d) array (e.g. flatcore.data.UniformBall({d})); got {type(law).__name__}"
        )
    law_d = as_int(law.d, "law.d", minimum=1)
    if law_d != d:
        raise ValueError(f"the law {law!r} has d = {law_d} but {where} have d = {d}; they must agree")
    return law
