"""Neural shattering: a packing of boundary-localised neurons (docs/math.md, section 9).

A neuron ``relu(u.x - (1 - eps))`` is active, on the unit ball, on a cap of height eps, with
probability ~ eps^((d+1)/2), while its V_g weight is g ~ eps^(d+2). About eps^(-(d-1)/2) such
neurons with pairwise disjoint caps fit; with sign patterns over them (Varshamov-Gilbert) they
give the lower-bound construction: flat networks, far apart in L2, that fit noise near the
boundary.
"""

from __future__ import annotations

import numpy as np

from .._validation import as_float_array, as_int, as_scalar, check_memory
from ..data import UniformSphere
from ..data._random import generator
from ..network import Network
from ._checks import as_dim

__all__ = ["boundary_packing"]


def boundary_packing(d, eps, *, amplitude=1.0, signs=None, max_neurons=1000, n_candidates=None, seed=0) -> Network:
    """A packing of boundary-localised neurons ``relu(u_j . x - (1 - eps))`` (docs/math.md, section 9).

    Neuron j is active, on the unit ball, on the cap ``{u_j . x > 1 - eps}`` of height eps, which
    lies in the cone of half-angle ``theta0 = arccos(1 - eps)`` around u_j. Two caps are disjoint
    iff the angle between their directions is at least ``2 theta0``, i.e.
    ``u_i . u_j <= cos(2 theta0) = 2 (1 - eps)^2 - 1``; the directions are chosen so:

    - d = 1: u = +1 and -1 (both caps, when eps <= 1);
    - d = 2: equally spaced angles, ``floor(pi / theta0)`` of them (at most ``max_neurons``);
    - d >= 3: greedily from ``n_candidates`` seeded uniform random directions (default
      ``50 * max_neurons``), keeping each candidate compatible with all kept ones, until
      ``max_neurons``. About ``eps^(-(d-1)/2)`` caps fit, so for small eps and large d the packing
      is cut at ``max_neurons`` (not maximal).

    Output weights ``v_j = amplitude * s_j`` with signs s_j = +-1 (given, or seeded random:
    the Varshamov-Gilbert sign patterns of the lower bound); w_j = u_j, b_j = 1 - eps, beta = 0.

    Parameters
    ----------
    d : int
        Dimension, >= 1.
    eps : float
        Cap height, in (0, 1], and at least about 1.1e-16 (so that the thresholds ``1 - eps``
        differ from 1 in float64).
    amplitude : float
        ``|v_j|``, > 0 (default 1).
    signs : array of +-1, optional
        One per neuron; its length must equal the number of directions found (which depends on
        d, eps, max_neurons, n_candidates and seed only: build once without ``signs`` to learn it).
    max_neurons : int
        At most this many neurons, >= 1 (default 1000).
    n_candidates : int, optional
        Random candidate directions for d >= 3 (default ``50 * max_neurons``).
    seed : optional
        Seeds the candidate directions and the random signs (anything
        :func:`numpy.random.default_rng` accepts).

    Returns
    -------
    Network
        ``width`` = number of caps; each neuron's activation probability under the uniform ball
        is ``P(S > 1 - eps) ~ eps^((d+1)/2)`` and its weight ``g(u_j, 1 - eps) ~ eps^(d+2)``.
    """
    d = as_dim(d)
    eps = as_scalar(eps, "eps", positive=True)
    if eps > 1.0:
        raise ValueError(f"eps must be in (0, 1] (the cap height, b = 1 - eps >= 0); got {eps}")
    if 1.0 - eps == 1.0:
        raise ValueError(
            f"eps = {eps!r} is below float64's resolution at 1: the thresholds b = 1 - eps would be exactly 1 "
            "(no neuron active anywhere on the ball); use eps >= 1.2e-16"
        )
    amplitude = as_scalar(amplitude, "amplitude", positive=True)
    max_neurons = as_int(max_neurons, "max_neurons", minimum=1)
    if n_candidates is not None:  # checked whatever d is, although only d >= 3 uses it
        n_candidates = as_int(n_candidates, "n_candidates", minimum=1, maximum=2**62)
    rng = generator(seed)
    theta0 = np.arccos(1.0 - eps)  # of the caps the thresholds b = 1 - eps (rounded) give: > 0
    cos_min = np.cos(min(2.0 * theta0, np.pi))
    if d == 1:
        U = np.array([[1.0], [-1.0]])[:max_neurons]
    elif d == 2:
        m = max(1, min(max_neurons, int(np.floor(np.pi / theta0 + 1e-12))))
        _check_size(m, d)
        ang = 2.0 * np.pi * np.arange(m) / m
        U = np.stack([np.cos(ang), np.sin(ang)], axis=1)
    else:
        if n_candidates is None:
            n_candidates = 50 * max_neurons
        _check_size(min(max_neurons, n_candidates), d)
        thr = cos_min - 1e-12
        sphere = UniformSphere(d)
        kept = np.empty((0, d))
        batch = 4096
        done = 0
        while done < n_candidates and kept.shape[0] < max_neurons:
            C = sphere.sample(min(batch, n_candidates - done), seed=rng)
            done += C.shape[0]
            if kept.shape[0]:
                C = C[np.max(C @ kept.T, axis=1) <= thr]
            new: list[np.ndarray] = []
            for c in C:
                if all(float(c @ o) <= thr for o in new):
                    new.append(c)
                    if kept.shape[0] + len(new) >= max_neurons:
                        break
            if new:
                kept = np.vstack([kept, np.array(new)])
        U = kept
    K = U.shape[0]
    if signs is None:
        s = rng.choice(np.array([-1.0, 1.0]), size=K)
    else:
        s = as_float_array(signs, "signs", 1)
        if s.shape != (K,):
            raise ValueError(
                f"signs must have one entry per neuron ({K} caps for d={d}, eps={eps}); got shape {s.shape}"
            )
        if not np.all(np.abs(s) == 1.0):
            raise ValueError("signs must be +1 or -1")
    return Network(U, np.full(K, 1.0 - eps), amplitude * s, 0.0)


def _check_size(neurons: int, d: int) -> None:
    """Refuse (MemoryError) a packing of this many neurons that the machine could not hold."""
    # the directions, the network's arrays and their copies
    what = f"a packing of up to {neurons} neurons in d={d}"
    check_memory(8 * 4 * neurons * (d + 2), what, "use a smaller max_neurons")
