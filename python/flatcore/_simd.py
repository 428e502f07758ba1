"""Which compiled core to import: the variant for the widest instruction set this CPU runs.

The C++ core is compiled once per instruction set, each into its own extension module
(``flatcore._core_avx512``, ``_core_avx2``, ``_core_sse2`` on x86-64; ``_core_generic``
elsewhere; ``_core_native`` in a build made with ``FLATCORE_NATIVE=ON``). At import,
:func:`choose` asks the CPU (``flatcore._cpu``, compiled for the baseline) what it can run and
picks the widest variant it supports; ``flatcore._core`` is that variant. The environment
variable ``FLATCORE_SIMD`` (``avx2``, ``sse2``, ...) chooses a lower one, e.g. to test every path
on one machine; a variant the CPU cannot run is refused with a warning, never loaded.

The variants compute the same quantities in the same order of operations except for two things:
the width of the vectors (8, 4 or 2 doubles), which changes how the sums over neurons are split
into partial sums, and fused multiply-adds (AVX2 and AVX-512 round a*b + c once, SSE2 twice). So
their results agree to rounding, not bit for bit; within one variant, results do not depend on
the thread count.
"""

from __future__ import annotations

import importlib
import importlib.util
import os
import warnings
from types import ModuleType
from typing import Optional

__all__ = ["VARIANTS", "REQUIRES", "ENV", "built", "supported", "choose", "load"]

#: The variants, widest first.
VARIANTS = ("native", "avx512", "avx2", "sse2", "generic")

#: The CPU features each variant's code may use (x86-64 micro-architecture levels v4, v3, v1).
REQUIRES = {
    "avx512": ("avx512f", "avx512cd", "avx512bw", "avx512dq", "avx512vl", "avx2", "fma", "bmi1", "bmi2"),
    "avx2": ("avx2", "avx", "fma", "bmi1", "bmi2", "f16c", "lzcnt", "movbe", "popcnt", "sse4_2"),
    "sse2": ("sse2",),
    "generic": (),
    "native": (),  # built for the building machine: an opt-in, used when present
}

#: The environment variable that forces a variant.
ENV = "FLATCORE_SIMD"


def built() -> tuple[str, ...]:
    """The variants this installation holds, widest first."""
    return tuple(v for v in VARIANTS if importlib.util.find_spec(f"{__package__}._core_{v}") is not None)


def cpu_features() -> frozenset[str]:
    """The instruction-set features of this CPU that its operating system enables."""
    from . import _cpu

    return frozenset(_cpu.features())


def supported(features: Optional[frozenset[str]] = None) -> tuple[str, ...]:
    """The built variants this CPU can run, widest first."""
    have = cpu_features() if features is None else features
    return tuple(v for v in built() if all(f in have for f in REQUIRES[v]))


def choose() -> tuple[str, str]:
    """The variant to import, and why: the widest supported, or the one ``FLATCORE_SIMD`` names."""
    runnable = supported()
    if not runnable:
        raise ImportError(
            f"flatcore: no compiled core this CPU can run (built: {', '.join(built()) or 'none'}); "
            "reinstall flatcore from source (pip install --no-binary flatcore flatcore)"
        )
    forced = os.environ.get(ENV, "").strip().lower()
    if forced:
        if forced in runnable:
            return forced, f"{ENV}={forced}"
        why = (
            "this CPU cannot run it"
            if forced in built()
            else "not built here"
            if forced in VARIANTS
            else f"not a variant (one of {', '.join(VARIANTS)})"
        )
        warnings.warn(
            f"{ENV}={forced} ignored ({why}); using {runnable[0]}, the widest this CPU runs "
            f"(choices here: {', '.join(runnable)})",
            RuntimeWarning,
            stacklevel=3,
        )
    return runnable[0], "the widest this CPU runs"


def load() -> ModuleType:
    """Import and return the chosen variant (``_core_<variant>``); records why in ``_choice``."""
    variant, reason = choose()
    module = importlib.import_module(f"{__package__}._core_{variant}")
    module._choice = reason  # type: ignore[attr-defined]
    return module
