"""flatcore: exact, fast float64 numerics for two-layer ReLU networks.

    f(x) = sum_k v_k relu(w_k . x - b_k) + beta

Loss, gradient, closed-form Hessian, Hessian-vector products, exact trace and whole full-batch
gradient-descent runs, computed by a C++/Eigen core with OpenMP.

Every public function returns finite numbers or raises: bad arguments give a ValueError or
TypeError naming them, and a result that overflows float64 (finite inputs too large in magnitude)
a FloatingPointError saying what overflowed and to rescale the data or the weights.

>>> import flatcore as fc
>>> X, y = fc.data.regression(256, 5, seed=0)
>>> net = fc.Network.init(d=5, width=256, seed=0)
>>> result = fc.train(net, X, y, lr=0.1, steps=1000)
>>> fc.hessian_trace(result.net, X, y)
"""

from . import data, experiments, plots, theory
from ._threads import get_num_threads, max_num_threads, set_num_threads, threads_lost_to_fork
from ._version import version as __version__
from .experiments import Study, load, run_study
from .interop import from_torch
from .network import INIT_SCHEMES, Network
from .numerics import (
    HESSIAN_PARTS,
    LOSSES,
    NeuronSide,
    NeuronSides,
    activation_rates,
    gradient,
    hessian,
    hessian_trace,
    hvp,
    loss,
    loss_and_gradient,
    loss_scale,
    neuron_sides,
    predict,
    trace_per_neuron,
    trace_terms,
)
from .spectrum import (
    EigenResult,
    HessianLinearOperator,
    SpectralDensity,
    exact_spectrum,
    hessian_operator,
    sharpness,
    spectral_density,
    top_eigs,
)
from .training import KERNELS, History, TrainResult, train

__all__ = [
    "Network",
    "INIT_SCHEMES",
    "from_torch",
    "HESSIAN_PARTS",
    "LOSSES",
    "KERNELS",
    "predict",
    "loss",
    "loss_scale",
    "loss_and_gradient",
    "gradient",
    "hessian",
    "hvp",
    "hessian_trace",
    "trace_terms",
    "trace_per_neuron",
    "activation_rates",
    "neuron_sides",
    "NeuronSides",
    "NeuronSide",
    "train",
    "Study",
    "run_study",
    "load",
    "TrainResult",
    "History",
    "sharpness",
    "top_eigs",
    "hessian_operator",
    "HessianLinearOperator",
    "EigenResult",
    "spectral_density",
    "SpectralDensity",
    "exact_spectrum",
    "get_num_threads",
    "set_num_threads",
    "max_num_threads",
    "threads_lost_to_fork",
    "data",
    "theory",
    "experiments",
    "plots",
    "__version__",
]
