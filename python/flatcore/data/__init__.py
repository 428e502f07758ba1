"""Data: input laws as objects, regression targets and data sets (seeded, float64).

- :mod:`flatcore.data.laws`: :class:`UniformBall`, :class:`UniformSphere`, :class:`Gaussian`,
  :class:`Radial`, :class:`BallMixture`, each with ``d``, ``radius`` and a seeded
  ``sample(n, seed)``; the isotropic ones also give the tail of their one-dimensional marginal
  (:class:`MarginalTail`). :class:`Law` and :class:`IsotropicLaw` say what a law object offers;
  :func:`uniform_ball` is the shortcut ``UniformBall(d, radius).sample(n, seed)``.
- :mod:`flatcore.data.targets`: regression targets as objects (:class:`Linear`,
  :class:`SingleIndex`, :class:`MultiIndex`, :class:`RandomReLU`, :class:`SmoothRadial`,
  :class:`Hoelder`, :class:`Smooth`), each with ``d`` and called on an (n, d) array; the protocol
  :class:`Target`; :func:`draw`, a seeded :class:`Dataset` of training points with Gaussian label
  noise and a noiseless test set from any law and target; and the first shortcuts, the targets by
  name (:func:`target`) and unit-ball data sets (:func:`regression`).
- :mod:`flatcore.data.specs`: laws and targets by name, as a study file writes them
  (:func:`law_from_spec`, :func:`target_from_spec`, :func:`canonical_spec`).

>>> from flatcore import data
>>> X = data.Radial(5, alpha=0.3).sample(1000, seed=0)
>>> ds = data.draw(data.UniformBall(5), data.SingleIndex(5, "tanh", seed=1), 256, noise=0.5, seed=0)
>>> X, y = data.regression(256, 5, target_kind="linear", noise=1.0, seed=0)
"""

from . import laws, specs, targets
from .laws import BallMixture as BallMixture
from .laws import Gaussian as Gaussian
from .laws import IsotropicLaw as IsotropicLaw
from .laws import Law as Law
from .laws import MarginalTail as MarginalTail
from .laws import Radial as Radial
from .laws import UniformBall as UniformBall
from .laws import UniformSphere as UniformSphere
from .laws import uniform_ball as uniform_ball
from .specs import LAW_NAMES as LAW_NAMES
from .specs import TARGET_NAMES as TARGET_NAMES
from .specs import canonical_spec as canonical_spec
from .specs import law_from_spec as law_from_spec
from .specs import spec_label as spec_label
from .specs import target_from_spec as target_from_spec
from .targets import LINKS as LINKS
from .targets import TARGETS as TARGETS
from .targets import Dataset as Dataset
from .targets import Hoelder as Hoelder
from .targets import Linear as Linear
from .targets import MultiIndex as MultiIndex
from .targets import RandomReLU as RandomReLU
from .targets import SingleIndex as SingleIndex
from .targets import Smooth as Smooth
from .targets import SmoothRadial as SmoothRadial
from .targets import Target as Target
from .targets import draw as draw
from .targets import regression as regression
from .targets import target as target

# The public names are those of the two modules (imported above), in their order.
__all__ = []
__all__ += laws.__all__
__all__ += targets.__all__
__all__ += specs.__all__
