"""Random-number helpers shared by the modules of :mod:`flatcore.data` (private)."""

from __future__ import annotations

import numpy as np


def generator(seed) -> np.random.Generator:
    """numpy.random.default_rng(seed), with an error message naming ``seed``.

    A Generator is returned as is (drawing from it advances it); None draws fresh entropy.
    """
    try:
        return np.random.default_rng(seed)
    except (TypeError, ValueError) as exc:
        raise type(exc)(
            "seed must be something numpy.random.default_rng accepts (a non-negative int, a sequence "
            f"of them, a SeedSequence or a Generator); got {type(seed).__name__} {seed!r} ({exc})"
        ) from None


def directions(n: int, d: int, rng: np.random.Generator) -> np.ndarray:
    """n points uniform on the unit sphere of R^d: normalised standard normal vectors, shape (n, d)."""
    g = rng.standard_normal((n, d))
    norms = np.linalg.norm(g, axis=1, keepdims=True)
    while np.any(norms == 0):  # probability zero; keeps the sampler total
        bad = norms[:, 0] == 0
        g[bad] = rng.standard_normal((int(bad.sum()), d))
        norms = np.linalg.norm(g, axis=1, keepdims=True)
    return g / norms
