"""One run of a study: its settings, checked, in one canonical form, and its stable id.

A :class:`RunConfig` holds everything that decides a run's numbers: the data (dimension, sample
size, law, target, noise, seed, test-set size), the network (width, initialisation), the
optimisation (step size, steps, weight decay, loss convention, clipping, stopping rules) and what
is recorded. Its :attr:`~RunConfig.run_id` is a hash of its canonical JSON form, so the same run
declared in two studies, in any order or spelling, has the same id and is computed once.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import math
import numbers
from collections.abc import Mapping
from typing import Any, Callable, Optional

import numpy as np

from .. import data
from ..network import INIT_SCHEMES, Network
from ..numerics import LOSSES

__all__ = ["RunConfig", "SETTINGS", "RECORDABLE", "DEFAULT_RECORD", "ConfigError", "init_seed"]

#: What a run may record besides its final loss, errors, activation rates and timing (those are
#: always recorded). ``history``: the sampled history; ``network``: the final network;
#: ``sharpness``: lambda_max and 2/lr; ``trace``: tr H; ``min_trace``: the rescaling-invariant
#: minimum of the trace; ``vg``: V_g with the empirical g and the path norm; ``vg_population``:
#: V_g with the law's g (isotropic laws); ``stability``: the stability bound and its slack.
RECORDABLE = ("history", "network", "sharpness", "trace", "min_trace", "vg", "vg_population", "stability")
DEFAULT_RECORD = RECORDABLE

# Bumped when the meaning of a setting changes, so that old ids cannot be mistaken for new runs.
_ID_VERSION = 1


class ConfigError(ValueError):
    """A setting that is unknown, of the wrong type or impossible; ``key`` names it."""

    def __init__(self, key: str, message: str):
        super().__init__(f"{key}: {message}")
        self.key = key
        self.reason = message


def _integer(key, value, minimum=None) -> int:
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise ConfigError(key, f"must be an integer, got {value!r}")
    if isinstance(value, numbers.Integral):
        out = int(float(value))
    else:
        if not math.isfinite(value) or value != round(value):
            raise ConfigError(key, f"must be an integer, got {value!r}")
        out = int(round(value))  # noqa: RUF046 - NumPy 1.x rounds its floats to floats
    if minimum is not None and out < minimum:
        raise ConfigError(key, f"must be >= {minimum}, got {out}")
    return out


def _real(key, value, *, positive=False, nonnegative=False, at_most=None) -> float:
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise ConfigError(key, f"must be a number, got {value!r}")
    out = float(value)
    if not math.isfinite(out):
        raise ConfigError(key, f"must be finite, got {value!r}")
    if positive and out <= 0:
        raise ConfigError(key, f"must be > 0, got {value!r}")
    if nonnegative and out < 0:
        raise ConfigError(key, f"must be >= 0, got {value!r}")
    if at_most is not None and out > at_most:
        raise ConfigError(key, f"must be <= {at_most}, got {value!r}")
    return out


def _optional(check):
    def checked(key, value):
        return None if value is None else check(key, value)

    return checked


def _choice(options):
    def checked(key, value):
        if not isinstance(value, str) or value not in options:
            raise ConfigError(key, f"must be one of {', '.join(map(repr, options))}; got {value!r}")
        return value

    return checked


def _boolean(key, value) -> bool:
    if not isinstance(value, bool):
        raise ConfigError(key, f"must be true or false, got {value!r}")
    return value


def _spec(kind):
    def checked(key, value):
        try:
            return data.canonical_spec(value, kind)
        except (TypeError, ValueError) as exc:
            raise ConfigError(key, str(exc)) from None

    return checked


def _record(key, value):
    if isinstance(value, str) or not isinstance(value, (list, tuple)):
        raise ConfigError(key, f"must be a list of names from {', '.join(RECORDABLE)}; got {value!r}")
    for item in value:
        if item not in RECORDABLE:
            raise ConfigError(key, f"unknown item {item!r}: expected names from {', '.join(RECORDABLE)}")
    return tuple(sorted(set(value), key=RECORDABLE.index))


def init_seed(seed: int) -> int:
    """The initialisation's seed for a run's ``seed``.

    The data use ``seed`` itself; the network a separate stream, so that the network and the data are
    independent draws.
    """
    return int(np.random.SeedSequence([seed, 0x1417]).generate_state(1, dtype=np.uint64)[0] >> 1)


_REQUIRED = object()


@dataclasses.dataclass(frozen=True)
class _Setting:
    default: Any
    check: Callable[[str, Any], Any]
    doc: str


#: Every setting of a run: name -> (default, check, meaning). Settings without a default must be
#: given by the study.
SETTINGS: dict[str, _Setting] = {
    "d": _Setting(_REQUIRED, lambda k, v: _integer(k, v, 1), "input dimension"),
    "n": _Setting(_REQUIRED, lambda k, v: _integer(k, v, 1), "number of training points"),
    "width": _Setting(_REQUIRED, lambda k, v: _integer(k, v, 1), "number of hidden neurons"),
    "lr": _Setting(_REQUIRED, lambda k, v: _real(k, v, positive=True), "GD step size eta"),
    "steps": _Setting(_REQUIRED, lambda k, v: _integer(k, v, 0), "GD steps"),
    "weight_decay": _Setting(0.0, lambda k, v: _real(k, v, nonnegative=True), "weight decay lambda"),
    "decay_biases": _Setting(False, _boolean, "whether the biases decay too (PyTorch's SGD: yes)"),
    "distribution": _Setting("uniform_ball", _spec("law"), "input law (flatcore.data.LAW_NAMES)"),
    "target": _Setting("linear", _spec("target"), "regression target (flatcore.data.TARGET_NAMES)"),
    "noise": _Setting(0.0, lambda k, v: _real(k, v, nonnegative=True), "label noise sigma"),
    "loss": _Setting("half_mse", _choice(LOSSES), "loss convention"),
    "seed": _Setting(0, lambda k, v: _integer(k, v, 0), "seed of the data and the initialisation"),
    "init": _Setting("pytorch", _choice(INIT_SCHEMES), "initialisation scheme"),
    "clip_grad_norm": _Setting(None, _optional(lambda k, v: _real(k, v, positive=True)), "gradient clipping"),
    "record_every": _Setting(None, _optional(lambda k, v: _integer(k, v, 1)), "history sampling interval"),
    "sharpness_every": _Setting(None, _optional(lambda k, v: _integer(k, v, 1)), "sharpness tracking interval"),
    "n_test": _Setting(1000, lambda k, v: _integer(k, v, 1), "fresh noiseless test points"),
    "tol": _Setting(None, _optional(lambda k, v: _real(k, v, positive=True)), "stop at this gradient norm"),
    "max_loss": _Setting(None, _optional(lambda k, v: _real(k, v, positive=True)), "divergence threshold"),
    "rare_share": _Setting(0.1, lambda k, v: _real(k, v, positive=True, at_most=1.0), "rare-neuron threshold"),
    "record": _Setting(DEFAULT_RECORD, _record, "what to record (RECORDABLE)"),
}


@dataclasses.dataclass(frozen=True)
class RunConfig:
    """The full, checked settings of one run (see :data:`SETTINGS` for each field's meaning).

    Make one with :meth:`from_mapping`, which fills the defaults, checks every value and names
    the setting at fault.
    """

    d: int
    n: int
    width: int
    lr: float
    steps: int
    weight_decay: float
    decay_biases: bool
    distribution: Mapping[str, Any]
    target: Mapping[str, Any]
    noise: float
    loss: str
    seed: int
    init: str
    clip_grad_norm: Optional[float]
    record_every: Optional[int]
    sharpness_every: Optional[int]
    n_test: int
    tol: Optional[float]
    max_loss: Optional[float]
    rare_share: float
    record: tuple

    @classmethod
    def from_mapping(cls, settings: Mapping[str, Any]) -> RunConfig:
        """Checked settings, defaults filled in.

        Raises
        ------
        ConfigError
            (a ValueError) for an unknown setting, a missing required one, or a value of the
            wrong type or out of range; its ``key`` names the setting.
        """
        unknown = [k for k in settings if k not in SETTINGS]
        if unknown:
            raise ConfigError(unknown[0], f"unknown setting; the settings are {', '.join(SETTINGS)}")
        values = {}
        for key, setting in SETTINGS.items():
            if key in settings:
                values[key] = setting.check(key, settings[key])
            elif setting.default is _REQUIRED:
                raise ConfigError(key, "required, and not given")
            else:
                values[key] = setting.check(key, setting.default)
        return cls(**values)

    @classmethod
    def from_canonical(cls, settings: Mapping[str, Any]) -> RunConfig:
        """The run that :meth:`canonical_json` (as parsed JSON) stands for, as the store keeps it."""
        settings = dict(settings)
        version = settings.pop("v", _ID_VERSION)
        if version != _ID_VERSION:
            raise ConfigError(
                "v", f"settings written by another flatcore (id version {version}, this one {_ID_VERSION})"
            )
        return cls.from_mapping(settings)

    def as_dict(self) -> dict[str, Any]:
        """The settings as plain data (JSON-able), in :data:`SETTINGS` order."""
        out = {}
        for key in SETTINGS:
            value = getattr(self, key)
            out[key] = (
                list(value) if isinstance(value, tuple) else (dict(value) if isinstance(value, Mapping) else value)
            )
        return out

    def canonical_json(self) -> str:
        """The one JSON text that stands for this run (sorted keys, no spaces)."""
        return json.dumps({"v": _ID_VERSION, **self.as_dict()}, sort_keys=True, separators=(",", ":"))

    @property
    def run_id(self) -> str:
        """A stable 16-hex-digit id: the start of the SHA-256 of :meth:`canonical_json`."""
        return hashlib.sha256(self.canonical_json().encode()).hexdigest()[:16]

    def law(self):
        """The input law object (:func:`flatcore.data.law_from_spec`)."""
        return data.law_from_spec(self.distribution, self.d)

    def target_function(self):
        """The regression target object (:func:`flatcore.data.target_from_spec`)."""
        return data.target_from_spec(self.target, self.d)

    def dataset(self):
        """The run's data (:class:`flatcore.data.Dataset`), drawn from ``seed``.

        Training points with noisy labels, their noiseless values, and a noiseless test set.
        """
        return data.draw(
            self.law(), self.target_function(), self.n, n_test=self.n_test, noise=self.noise, seed=self.seed
        )

    def initial_network(self) -> Network:
        """The run's starting network: ``Network.init(d, width, seed=init_seed(seed), scheme=init)``."""
        return Network.init(self.d, self.width, seed=init_seed(self.seed), scheme=self.init)

    def train_options(self) -> dict[str, Any]:
        """The keyword arguments of :func:`flatcore.train` that this run's settings fix."""
        return {
            "loss": self.loss,
            "weight_decay": self.weight_decay,
            "decay_biases": self.decay_biases,
            "clip_grad_norm": self.clip_grad_norm,
            "record_every": self.record_every,
            "tol": self.tol,
            "max_loss": self.max_loss,
            "sharpness_every": self.sharpness_every,
            "rare_share": self.rare_share,
        }

    def check_buildable(self) -> None:
        """Build the law and target for this dimension (cheap).

        A value that only fails with d (a basis of the wrong size, dim > d) is caught before
        anything runs.
        """
        for key, build in (("distribution", self.law), ("target", self.target_function)):
            try:
                build()
            except (TypeError, ValueError) as exc:
                raise ConfigError(key, f"{exc} (with d = {self.d})") from None
