"""Where a result came from: flatcore's version and build, the Python stack, the machine, the time.

>>> from flatcore.provenance import SIMD_KINDS, provenance
>>> facts = provenance()
>>> facts["simd_kind"] in SIMD_KINDS
True

What :func:`provenance` returns is meant to be stored beside results (a results store, a
benchmark report), so that a number can be traced to the code, the build and the machine
that produced it. It reads facts only (package metadata, the compiled core's build
settings, ``/proc/cpuinfo``); it measures nothing and takes well under a millisecond.
"""

from __future__ import annotations

import datetime
import importlib.metadata
import os
import platform
import subprocess
import sys

import numpy as np

from . import _core, _simd
from ._version import version

#: The values ``provenance()["simd_kind"]`` can take: the widest instruction set the compiled
#: core's kernels were built for ("generic": portable vector code, no x86 intrinsics).
SIMD_KINDS = ("avx512", "avx2", "avx", "sse2", "generic")


def provenance() -> dict:
    """flatcore's version and build, the Python stack, the machine and the time, as plain JSON values.

    Returns
    -------
    dict
        ``flatcore`` (str): the installed distribution's version (package metadata);
        ``build_flags`` (str): how the compiled core was built ("" when not recorded);
        ``simd_kind`` (str): one of :data:`SIMD_KINDS`; ``simd_lanes`` (int): doubles per vector;
        ``simd_variant`` (str): the compiled core's variant in use (``flatcore._simd``), and
        ``simd_choice`` (str) why; ``simd_variants`` (list of str): the variants this CPU can
        run, widest first;
        ``openmp`` (bool): whether the core runs threads;
        ``default_num_threads`` (int): the core's thread count when a call names none;
        ``python``, ``numpy`` (str), ``scipy`` (str or None): versions;
        ``platform`` (str): operating system and architecture (``platform.platform()``);
        ``cpu_model`` (str): the processor's name, "unknown" where the system does not say;
        ``logical_cores`` (int): logical CPUs of the machine;
        ``usable_cores`` (int): those this process may run on (its CPU affinity);
        ``timestamp`` (str): now, UTC, ISO 8601 to the second.
    """
    return {
        "flatcore": version,
        "build_flags": str(getattr(_core, "build_flags", "")),
        "simd_kind": str(_core.simd_kind()),
        "simd_lanes": int(_core.simd_lanes()),
        "simd_variant": str(_core.variant),
        "simd_choice": str(getattr(_core, "_choice", "")),
        "simd_variants": list(_simd.supported()),
        "openmp": bool(_core.has_openmp()),
        "default_num_threads": int(_core.default_num_threads()),
        "python": platform.python_version(),
        "numpy": np.__version__,
        "scipy": _version("scipy"),
        "platform": platform.platform(),
        "cpu_model": cpu_model(),
        "logical_cores": os.cpu_count() or 1,
        "usable_cores": len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1,
        "timestamp": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
    }


def cpu_model() -> str:
    """The processor's name (``/proc/cpuinfo`` on Linux, ``sysctl`` on macOS), or "unknown"."""
    try:
        if sys.platform.startswith("linux"):
            with open("/proc/cpuinfo") as fh:
                for line in fh:
                    if line.startswith(("model name", "Model", "Hardware")):
                        return line.split(":", 1)[1].strip()
        elif sys.platform == "darwin":
            out = subprocess.run(
                ["sysctl", "-n", "machdep.cpu.brand_string"], check=False, capture_output=True, text=True, timeout=2
            )
            if out.returncode == 0 and out.stdout.strip():
                return out.stdout.strip()
    except (OSError, subprocess.SubprocessError):
        pass
    return platform.processor() or platform.machine() or "unknown"


def _version(dist: str):
    try:
        return importlib.metadata.version(dist)
    except importlib.metadata.PackageNotFoundError:
        return None
