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

from . import laws, targets
from .laws import BallMixture as BallMixture
from .laws import Gaussian as Gaussian
from .laws import IsotropicLaw as IsotropicLaw
from .laws import Law as Law
from .laws import MarginalTail as MarginalTail
from .laws import Radial as Radial
from .laws import UniformBall as UniformBall
from .laws import UniformSphere as UniformSphere
from .laws import uniform_ball as uniform_ball
from .targets import TARGETS as TARGETS
from .targets import regression as regression
from .targets import target as target

# The public names are those of the two modules (imported above), in their order.
__all__ = []
__all__ += laws.__all__
__all__ += targets.__all__
