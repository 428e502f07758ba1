"""flatcore's compiled core: the variant of it that this CPU runs best (see flatcore._simd).

Every Python module of flatcore reaches the C++ core through this module; its contents are the
chosen variant's (``_core.pyi`` describes them), and ``_core.variant`` names it.
"""

from ._simd import load as _load

_variant = _load()
globals().update({name: value for name, value in vars(_variant).items() if not name.startswith("__")})
__doc__ = _variant.__doc__
del _load
