"""Data: input laws as objects, regression targets and data sets (seeded, float64).

- :mod:`flatcore.data.laws`: :class:`UniformBall`, :class:`UniformSphere`, :class:`Gaussian`,
  :class:`Radial`, :class:`BallMixture`, each with ``d``, ``radius`` and a seeded
  ``sample(n, seed)``; the isotropic ones also give the tail of their one-dimensional marginal
  (:class:`MarginalTail`). :class:`Law` and :class:`IsotropicLaw` say what a law object offers;
  :func:`uniform_ball` is the shortcut ``UniformBall(d, radius).sample(n, seed)``.
- :mod:`flatcore.data.targets`: the noiseless targets (:func:`target`) and noisy regression data
  sets with X uniform in the unit ball (:func:`regression`).

>>> from flatcore import data
>>> X = data.Radial(5, alpha=0.3).sample(1000, seed=0)
>>> X, y = data.regression(256, 5, target_kind="linear", noise=1.0, seed=0)
"""

from .laws import (
    BallMixture,
    Gaussian,
    IsotropicLaw,
    Law,
    MarginalTail,
    Radial,
    UniformBall,
    UniformSphere,
    uniform_ball,
)
from .targets import TARGETS, regression, target

__all__ = [
    "Law",
    "IsotropicLaw",
    "MarginalTail",
    "UniformBall",
    "UniformSphere",
    "Gaussian",
    "Radial",
    "BallMixture",
    "uniform_ball",
    "TARGETS",
    "target",
    "regression",
]
