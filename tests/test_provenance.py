"""flatcore.provenance: the facts stored beside results (version, build, machine, time) are
complete, of the documented types, cheap, and plain JSON."""

from __future__ import annotations

import datetime
import importlib.metadata
import json
import time

import numpy as np

from flatcore.provenance import SIMD_KINDS, provenance

TYPES = {
    "flatcore": str,
    "build_flags": str,
    "simd_kind": str,
    "simd_lanes": int,
    "openmp": bool,
    "default_num_threads": int,
    "python": str,
    "numpy": str,
    "scipy": str,
    "simd_variant": str,
    "simd_choice": str,
    "simd_variants": list,
    "platform": str,
    "cpu_model": str,
    "logical_cores": int,
    "usable_cores": int,
    "timestamp": str,
}


def test_keys_and_types():
    p = provenance()
    assert set(p) == set(TYPES)
    for key, kind in TYPES.items():
        assert type(p[key]) is kind, (key, p[key])


def test_json_round_trip():
    p = provenance()
    assert json.loads(json.dumps(p)) == p


def test_versions_are_the_installed_ones():
    p = provenance()
    assert p["flatcore"] == importlib.metadata.version("flatcore")
    assert p["numpy"] == np.__version__
    assert p["scipy"] == importlib.metadata.version("scipy")


def test_build_and_machine():
    p = provenance()
    assert p["simd_kind"] in SIMD_KINDS
    assert p["simd_lanes"] in (1, 2, 4, 8)
    assert p["default_num_threads"] >= 1
    assert 1 <= p["usable_cores"] <= p["logical_cores"]
    assert p["cpu_model"]


def test_timestamp_is_utc_now():
    before = datetime.datetime.now(datetime.timezone.utc).replace(microsecond=0)
    stamp = datetime.datetime.fromisoformat(provenance()["timestamp"])
    assert stamp.utcoffset() == datetime.timedelta(0)
    assert before <= stamp <= datetime.datetime.now(datetime.timezone.utc)


def test_cheap():
    provenance()
    t0 = time.perf_counter()
    for _ in range(10):
        provenance()
    assert (time.perf_counter() - t0) / 10 < 0.05
