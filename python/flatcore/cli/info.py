"""``flatcore info``: version, build flags, threads and machine."""

from __future__ import annotations

from ..provenance import provenance


def info(args) -> int:
    """``flatcore info``: version, build, threads and machine."""
    facts = provenance()
    print(f"flatcore {facts['flatcore']}")
    print(
        f"compiled core: OpenMP {'yes' if facts['openmp'] else 'no'}; SIMD {facts['simd_kind']} "
        f"({facts['simd_lanes']} doubles per vector); build flags: {facts['build_flags'] or '-'}"
    )
    print(
        f"core variant: {facts['simd_variant']} ({facts['simd_choice']}; this CPU runs "
        f"{', '.join(facts['simd_variants'])}; FLATCORE_SIMD=NAME chooses a lower one)"
    )
    print(f"default threads: {facts['default_num_threads']}")
    print(f"Python {facts['python']}, NumPy {facts['numpy']}, SciPy {facts['scipy']}; {facts['platform']}")
    print(f"CPU: {facts['cpu_model']}, {facts['logical_cores']} logical cores ({facts['usable_cores']} usable)")
    return 0


def add_parser(sub) -> None:
    """Register ``flatcore info``."""
    p = sub.add_parser("info", help="version, build flags and threads")
    p.set_defaults(func=info)
