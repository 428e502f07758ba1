"""The built-in studies: the experiments of arXiv:2506.20779 and its neighbours, as study files.

Each experiment has a full size (the figures of docs/reproduction.md) and a quick size (seconds to
a minute on 2 cores, which the tests run). ``flatcore studies`` lists them; ``flatcore run e2``
(or ``e2-shattering``, ``--quick``) runs one; :func:`study` loads one as a
:class:`~flatcore.experiments.Study`.

E5, the construction behind the lower bound, trains nothing: it builds its networks directly
(:func:`flatcore.reproduce.packing_experiment`). It is listed here (:data:`COMPUTED`) and runs in
``flatcore reproduce --only e5`` (``--full e5`` for its larger size).
"""

from __future__ import annotations

from pathlib import Path

from ..experiments import Study

__all__ = ["NAMES", "COMPUTED", "FULL_WALL_TIME", "path", "study", "resolve"]

_HERE = Path(__file__).resolve().parent

#: Wall time of each full size, measured with 2 worker processes on a 2-core AMD EPYC (AVX-512).
FULL_WALL_TIME = {
    "e1-edge-of-stability": "under a minute",
    "e2-shattering": "about 4 minutes",
    "e3-curse-of-dimensionality": "about 9 minutes",
    "e4-stability-bound": "about a minute",
    "e5-packing": "seconds",
    "e6-data-geometry": "about 2 minutes",
    "e7-trace-rescaling": "under a minute",
}

#: The built-in studies by name, in order.
NAMES = tuple(sorted(p.name[: -len(".toml")] for p in _HERE.glob("*.toml") if not p.name.endswith(".quick.toml")))


#: The experiments computed directly, without training runs: name -> (quick size, full size).
COMPUTED = {
    "e5-packing": (
        "d = 2, eps = 0.02 on 4,000 points",
        "d = 2, eps = 0.02 and d = 3, eps = 0.05 on 20,000 points",
        "E5, the lower-bound construction: networks of neurons that fire on disjoint thin caps at the "
        "boundary of the ball, far apart in L2 yet flat and cheap in V_g, and one that fits pure noise "
        "on its caps (computed directly, no training).",
    )
}


def resolve(name: str) -> str:
    """The full name of a built-in study from its name or its short form (``"e3"``)."""
    known = (*NAMES, *COMPUTED)
    if name in known:
        return name
    matches = [n for n in known if n.split("-")[0] == name.lower()]
    if len(matches) == 1:
        return matches[0]
    raise KeyError(f"no built-in study {name!r}; the built-in studies are {', '.join(sorted(known))} (or e1, e2, ...)")


def _not_computed(full: str) -> None:
    if full in COMPUTED:
        raise KeyError(
            f"{full} trains nothing and has no study file: it is computed directly by "
            f"`flatcore reproduce --only {full.split('-')[0]}` (add `--full {full.split('-')[0]}` for its larger size)"
        )


def path(name: str, quick: bool = False) -> Path:
    """The file of a built-in study (its quick size with ``quick=True``)."""
    full = resolve(name)
    _not_computed(full)
    return _HERE / (f"{full}.quick.toml" if quick else f"{full}.toml")


def study(name: str, quick: bool = False) -> Study:
    """A built-in study, e.g. ``study("e3", quick=True)``."""
    return Study.from_toml(path(name, quick))
