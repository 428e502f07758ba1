"""Theory of flat two-layer ReLU networks (docs/math.md, sections 5-9).

The weight function g, the weighted variation V_g, the stability inequality, the
rescaling-invariant minimal trace and the boundary-localised packing, in vectorised NumPy and
SciPy (float64). Modules:

=====================================  ==========================================================
:mod:`~flatcore.theory.weight`         the data-dependent weight g and its one-sided part gtilde:
                                       empirical, closed form for the unit ball, population for
                                       a law of :mod:`flatcore.data` (section 5)
:mod:`~flatcore.theory.variation`      V_g of a network, its per-neuron terms, the path norm
                                       (section 6)
:mod:`~flatcore.theory.stability`      the stability inequality and the stable-minima bound
                                       (section 7)
:mod:`~flatcore.theory.rescaling`      the rescaling symmetry and the invariant minimal trace
                                       (section 8)
:mod:`~flatcore.theory.packing`        the packing of boundary-localised neurons (section 9)
=====================================  ==========================================================

Activation statistics (:func:`flatcore.activation_rates`, :func:`flatcore.neuron_sides`) and the
trace's per-neuron terms (:func:`flatcore.trace_terms`) come from the compiled core's forward pass,
shared with the Hessian, so that theory and numerics agree on every mask. Population quantities take
a law object (``law=flatcore.data.Gaussian(d)``, ...; default the unit ball): a law that knows
its one-dimensional marginal is used through it, any other through Monte Carlo on its sampler.

>>> from flatcore import data, theory
>>> theory.g_uniform_ball(0.5, d=5)
>>> theory.g_population([1.0, 0.0, 0.0], 0.5, data.Radial(3, alpha=0.3))
"""

from . import packing, rescaling, stability, variation, weight
from .packing import boundary_packing as boundary_packing
from .rescaling import balance_for_min_trace as balance_for_min_trace
from .rescaling import min_trace as min_trace
from .rescaling import rescale as rescale
from .stability import StabilityBound as StabilityBound
from .stability import StabilityInequality as StabilityInequality
from .stability import stability_bound as stability_bound
from .stability import stability_inequality as stability_inequality
from .variation import path_norm as path_norm
from .variation import vg_contributions as vg_contributions
from .variation import vg_norm as vg_norm
from .weight import PopulationG as PopulationG
from .weight import g_empirical as g_empirical
from .weight import g_population as g_population
from .weight import g_uniform_ball as g_uniform_ball
from .weight import gtilde_empirical as gtilde_empirical
from .weight import gtilde_population as gtilde_population
from .weight import gtilde_uniform_ball as gtilde_uniform_ball

# The public names are those of the modules, in the order of the table in the docstring.
__all__ = []
__all__ += weight.__all__
__all__ += variation.__all__
__all__ += stability.__all__
__all__ += rescaling.__all__
__all__ += packing.__all__
