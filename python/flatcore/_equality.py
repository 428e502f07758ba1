"""Equality of result objects: equal exactly when their contents are equal.

Arrays are compared by shape and value, exactly, with NaN equal to NaN at the same positions
(histories hold NaN where a quantity was not computed, and a result must equal its own copy).
"""

from __future__ import annotations

import dataclasses

import numpy as np


def same_values(a, b) -> bool:
    """``a`` and ``b`` hold the same values: arrays entry for entry (NaN == NaN), containers item by item."""
    if isinstance(a, np.ndarray) or isinstance(b, np.ndarray):
        if not (isinstance(a, np.ndarray) and isinstance(b, np.ndarray)) or a.shape != b.shape:
            return False
        nan_aware = a.dtype.kind in "fc" and b.dtype.kind in "fc"
        return bool(np.array_equal(a, b, equal_nan=nan_aware))
    if isinstance(a, float) and isinstance(b, float):
        return a == b or (a != a and b != b)
    if isinstance(a, dict) and isinstance(b, dict):
        return a.keys() == b.keys() and all(same_values(a[k], b[k]) for k in a)
    if isinstance(a, (tuple, list)) and isinstance(b, (tuple, list)):
        return type(a) is type(b) and len(a) == len(b) and all(same_values(x, y) for x, y in zip(a, b))
    if hasattr(a, "as_dict") and type(a) is type(b) and type(a).__module__ == "flatcore._core":
        return same_values(a.as_dict(), b.as_dict())  # compiled state objects (TrainStart) have no ==
    return bool(a == b)


def same_fields(a, b, skip: tuple[str, ...] = ()):
    """``a == b`` for results of one type: every field (dataclass or named tuple) but ``skip`` equal.

    NotImplemented when ``b`` is not of ``a``'s type, so that Python tries ``b``'s comparison.
    """
    if type(a) is not type(b):
        return NotImplemented
    names = [f.name for f in dataclasses.fields(a)] if dataclasses.is_dataclass(a) else list(a._fields)
    return all(same_values(getattr(a, name), getattr(b, name)) for name in names if name not in skip)


def not_equal(a, b):
    """The negation of ``a == b`` (named tuples need it: tuple's own != compares item by item)."""
    equal = a.__eq__(b)
    return equal if equal is NotImplemented else not equal
