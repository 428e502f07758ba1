"""Laws and targets by name: the plain-data form a study file uses.

A *spec* is a name, or a mapping with the key ``name`` and the object's parameters other than the
dimension, which a study supplies per run::

    "uniform_ball"
    {"name": "radial", "alpha": 0.5}
    {"name": "ball_mixture", "n_components": 3, "dim": 1}
    {"name": "single_index", "link": "tanh", "seed": 1}

:func:`law_from_spec` and :func:`target_from_spec` build the object for a dimension d; :func:`canonical_spec` gives
the one mapping that stands for a spec (every parameter written out, defaults included), so that
two ways of writing the same law are the same law to a study's run ids.
"""

from __future__ import annotations

import dataclasses
import inspect
import numbers
from collections.abc import Mapping
from typing import Any, Callable, Union

from . import laws as _laws
from . import targets as _targets

__all__ = ["LAW_NAMES", "TARGET_NAMES", "law_from_spec", "target_from_spec", "canonical_spec", "spec_label"]

Spec = Union[str, Mapping[str, Any]]


def _dataclass_params(cls) -> dict[str, Any]:
    """The constructor parameters of a law or target class other than d, with their defaults."""
    out = {}
    for f in dataclasses.fields(cls):
        if f.name == "d" or not f.init:
            continue
        out[f.name] = f.default if f.default is not dataclasses.MISSING else inspect.Parameter.empty
    return out


def _ball_mixture(d: int, **params):
    return _laws.BallMixture.random(d, **params)


def _ball_mixture_params() -> dict[str, Any]:
    sig = inspect.signature(_laws.BallMixture.random)
    return {name: p.default for name, p in sig.parameters.items() if name not in ("cls", "d")}


# name -> (constructor taking d first, its parameters with defaults; empty: required)
_LAWS: dict[str, tuple[Callable[..., Any], dict[str, Any]]] = {
    "uniform_ball": (_laws.UniformBall, _dataclass_params(_laws.UniformBall)),
    "uniform_sphere": (_laws.UniformSphere, _dataclass_params(_laws.UniformSphere)),
    "gaussian": (_laws.Gaussian, _dataclass_params(_laws.Gaussian)),
    "radial": (_laws.Radial, _dataclass_params(_laws.Radial)),
    "ball_mixture": (_ball_mixture, _ball_mixture_params()),
}
_TARGETS: dict[str, tuple[Callable[..., Any], dict[str, Any]]] = {
    "linear": (_targets.Linear, _dataclass_params(_targets.Linear)),
    "single_index": (_targets.SingleIndex, _dataclass_params(_targets.SingleIndex)),
    "multi_index": (_targets.MultiIndex, _dataclass_params(_targets.MultiIndex)),
    "random_relu": (_targets.RandomReLU, _dataclass_params(_targets.RandomReLU)),
    "smooth_radial": (_targets.SmoothRadial, _dataclass_params(_targets.SmoothRadial)),
    "hoelder": (_targets.Hoelder, _dataclass_params(_targets.Hoelder)),
    "smooth": (_targets.Smooth, _dataclass_params(_targets.Smooth)),
}

#: The law names a spec may use.
LAW_NAMES = tuple(_LAWS)
#: The target names a spec may use.
TARGET_NAMES = tuple(_TARGETS)


def _plain(value, where: str):
    """A parameter value as plain data (numbers, strings, booleans, None, nested lists)."""
    if value is None or isinstance(value, (bool, str)):
        return value
    if isinstance(value, numbers.Integral):
        return int(value)
    if isinstance(value, numbers.Real):
        return float(value)
    if isinstance(value, (list, tuple)):
        return [_plain(v, where) for v in value]
    if hasattr(value, "tolist"):  # a NumPy array or scalar
        return _plain(value.tolist(), where)
    raise TypeError(f"{where}: parameters must be numbers, strings, booleans or lists; got {type(value).__name__}")


def canonical_spec(spec: Spec, kind: str = "law") -> dict[str, Any]:
    """The mapping that stands for a spec: ``name`` and every parameter (defaults filled in).

    Parameters
    ----------
    spec : str or mapping
        A name (:data:`LAW_NAMES` or :data:`TARGET_NAMES`), or a mapping with ``name`` and
        parameters.
    kind : {"law", "target"}
        Which registry the name is looked up in.

    Raises
    ------
    ValueError
        An unknown name or parameter, or a required parameter missing.
    TypeError
        A spec that is neither a string nor a mapping, or a parameter that is not plain data.
    """
    registry = _LAWS if kind == "law" else _TARGETS
    names = LAW_NAMES if kind == "law" else TARGET_NAMES
    what = "distribution" if kind == "law" else "target"
    if isinstance(spec, str):
        spec = {"name": spec}
    if not isinstance(spec, Mapping):
        raise TypeError(f"spec: a {what} is a name or a table with a 'name' key; got {type(spec).__name__}")
    if "name" not in spec:
        raise ValueError(f"spec: a {what} table needs a 'name' key (one of {', '.join(names)})")
    name = spec["name"]
    if not isinstance(name, str) or name not in registry:
        raise ValueError(f"spec: unknown {what} {name!r}; expected one of {', '.join(names)}")
    _, defaults = registry[name]
    unknown = sorted(set(spec) - {"name"} - set(defaults))
    if unknown:
        allowed = ", ".join(defaults) or "none"
        raise ValueError(f"spec: {what} {name!r} has no parameter {unknown[0]!r} (its parameters: {allowed})")
    out: dict[str, Any] = {"name": name}
    for key, default in defaults.items():
        if key in spec:
            out[key] = _plain(spec[key], f"{what} {name!r}, parameter {key!r}")
        elif default is inspect.Parameter.empty:
            raise ValueError(f"spec: {what} {name!r} needs the parameter {key!r}")
        else:
            out[key] = _plain(default, f"{what} {name!r}, parameter {key!r}")
    return out


def spec_label(spec: Spec, kind: str = "law") -> str:
    """A short readable name for a spec: its name and the parameters not at their defaults.

    >>> spec_label({"name": "radial", "alpha": 0.3})
    'radial(alpha=0.3)'
    >>> spec_label("uniform_ball")
    'uniform_ball'
    """
    canon = canonical_spec(spec, kind)
    _, defaults = (_LAWS if kind == "law" else _TARGETS)[canon["name"]]
    changed = [
        f"{key}={value}"
        for key, value in canon.items()
        if key != "name" and (defaults[key] is inspect.Parameter.empty or _plain(defaults[key], key) != value)
    ]
    return canon["name"] + (f"({', '.join(changed)})" if changed else "")


def _build(spec: Spec, d: int, kind: str):
    canon = canonical_spec(spec, kind)
    registry = _LAWS if kind == "law" else _TARGETS
    make, _ = registry[canon["name"]]
    params = {k: _as_tuple(v) for k, v in canon.items() if k != "name"}
    return make(d, **params)


def _as_tuple(value):
    """Lists (from TOML or JSON) as the tuples the frozen law and target classes hold."""
    return tuple(_as_tuple(v) for v in value) if isinstance(value, list) else value


def law_from_spec(spec: Spec, d: int):
    """The input law named by ``spec`` in dimension ``d`` (:data:`LAW_NAMES`).

    >>> law_from_spec({"name": "radial", "alpha": 0.5}, 3)
    Radial(d=3, alpha=0.5)
    """
    return _build(spec, d, "law")


def target_from_spec(spec: Spec, d: int):
    """The regression target named by ``spec`` in dimension ``d`` (:data:`TARGET_NAMES`).

    >>> target_from_spec({"name": "single_index", "link": "tanh"}, 2).d
    2
    """
    return _build(spec, d, "target")
