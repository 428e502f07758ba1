"""The compiled core's instruction-set variants: the choice at import, forcing a lower one, and
every variant this CPU runs checked against the NumPy reference and against each other."""

from __future__ import annotations

import json
import os
import pickle
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest

import flatcore as fc
import reference as ref
from flatcore import _core, _simd

PACKAGE_PARENT = str(Path(fc.__file__).resolve().parents[1])
RUNNABLE = _simd.supported()


def run_python(script: str, simd: str | None = None, timeout: float = 300) -> subprocess.CompletedProcess:
    env = {**os.environ, "PYTHONPATH": PACKAGE_PARENT}
    env.pop(_simd.ENV, None)
    if simd is not None:
        env[_simd.ENV] = simd
    return subprocess.run(
        [sys.executable, "-c", textwrap.dedent(script)], capture_output=True, text=True, env=env, timeout=timeout
    )


@pytest.mark.skipif(not Path("/proc/cpuinfo").exists(), reason="needs Linux's /proc/cpuinfo")
@pytest.mark.skipif(_simd.cpu_features() == frozenset(), reason="not x86-64")
def test_cpu_features_agree_with_the_kernel():
    """flatcore._cpu reads CPUID itself; Linux's /proc/cpuinfo is the independent account."""
    flags: set[str] = set()
    for line in Path("/proc/cpuinfo").read_text().splitlines():
        if line.startswith("flags"):
            flags = set(line.split(":", 1)[1].split())
            break
    kernel_name = {"lzcnt": "abm", "sse3": "pni", "sse4_1": "sse4_1", "bmi1": "bmi1"}
    for feature in {f for names in _simd.REQUIRES.values() for f in names} | {"sse3", "ssse3", "sse4_1"}:
        assert (feature in _simd.cpu_features()) == (kernel_name.get(feature, feature) in flags), feature


def test_the_default_is_the_widest_variant_this_cpu_runs():
    out = run_python("from flatcore import _core; print(_core.variant, '|', _core._choice)")
    assert out.returncode == 0, out.stderr
    assert out.stdout.split()[0] == RUNNABLE[0]
    assert "widest" in out.stdout and out.stderr == ""
    # the choice follows REQUIRES: a CPU without AVX-512 does not get the AVX-512 variant
    built = _simd.built()
    if "avx512" in built and "avx2" in built:
        features = _simd.cpu_features() | set(_simd.REQUIRES["avx2"])
        assert _simd.supported(frozenset(features - {"avx512f"}))[0] == "avx2"
        assert _simd.supported(frozenset({"sse2"})) == tuple(v for v in built if v in ("sse2", "native"))


@pytest.mark.parametrize("variant", RUNNABLE)
def test_forcing_a_variant(variant):
    out = run_python("import flatcore; from flatcore import _core; print(_core.variant)", simd=variant)
    assert out.returncode == 0 and out.stdout.strip() == variant and out.stderr == "", out.stderr


@pytest.mark.parametrize("bad", ["avx9", "AVX-512"])
def test_forcing_an_unknown_or_unrunnable_variant_warns_and_falls_back(bad):
    out = run_python("from flatcore import _core; print(_core.variant)", simd=bad)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == RUNNABLE[0]
    assert "RuntimeWarning" in out.stderr and f"FLATCORE_SIMD={bad.lower()} ignored" in out.stderr
    assert "not a variant" in out.stderr


def test_a_variant_this_cpu_cannot_run_is_never_loaded(monkeypatch):
    """Pretend the CPU has SSE2 only: the wider variants are refused with a warning."""
    if "sse2" not in _simd.built() or len(_simd.built()) < 2:
        pytest.skip("needs the x86-64 variants")
    monkeypatch.setattr(_simd, "cpu_features", lambda: frozenset({"sse2"}))
    monkeypatch.setenv(_simd.ENV, "avx512")
    with pytest.warns(RuntimeWarning, match="this CPU cannot run it|not built here"):
        variant, why = _simd.choose()
    assert variant == "sse2" and "widest" in why
    monkeypatch.setattr(_simd, "cpu_features", lambda: frozenset())
    with pytest.raises(ImportError, match="no compiled core this CPU can run"):
        _simd.choose()


# Every variant on one problem: a width that is not a multiple of any tile, rows that are not a
# multiple of any row block, and steps that cross the kinks.
PROBLEM = """
import json, sys
import numpy as np
import flatcore as fc
from flatcore import _core
rng = np.random.default_rng(7)
n, d, K = 203, 5, 37
X = rng.standard_normal((n, d)); y = rng.standard_normal(n)
net = fc.Network(rng.standard_normal((K, d)), rng.standard_normal(K) * 0.3, rng.standard_normal(K) / K**0.5, 0.1)
u = rng.standard_normal(net.n_params)
out = {"variant": _core.variant, "lanes": _core.simd_lanes()}
for threads in (1, 2, 3):
    r = fc.train(net, X, y, lr=0.05, steps=60, n_threads=threads, record_every=1)
    out[threads] = {
        "predict": fc.predict(net, X, n_threads=threads).tolist(),
        "loss": fc.loss(net, X, y, n_threads=threads),
        "gradient": fc.gradient(net, X, y, n_threads=threads).tolist(),
        "hvp": fc.hvp(net, X, y, u, n_threads=threads).tolist(),
        "hessian": fc.hessian(net, X, y, n_threads=threads).tolist(),
        "trace": fc.hessian_trace(net, X, y, n_threads=threads),
        "train_loss": r.history.loss.tolist(),
        "final": r.net.params().tolist(),
    }
json.dump(out, sys.stdout)
"""


@pytest.fixture(scope="module")
def per_variant():
    results = {}
    for variant in RUNNABLE:
        out = run_python(PROBLEM, simd=variant)
        assert out.returncode == 0, out.stderr
        results[variant] = json.loads(out.stdout)
    return results


def test_each_variant_against_the_reference(per_variant):
    rng = np.random.default_rng(7)
    n, d, K = 203, 5, 37
    X, y = rng.standard_normal((n, d)), rng.standard_normal(n)
    params = (rng.standard_normal((K, d)), rng.standard_normal(K) * 0.3, rng.standard_normal(K) / K**0.5, 0.1)
    u = rng.standard_normal(K * (d + 2) + 1)
    expected = {
        "predict": ref.predict(*params, X),
        "loss": ref.loss(*params, X, y),
        "gradient": ref.gradient(*params, X, y),
        "hvp": ref.hvp(*params, X, y, u),
        "hessian": ref.hessian(*params, X, y),
        "trace": ref.hessian_trace(*params, X),
    }
    for variant, out in per_variant.items():
        assert out["variant"] == variant
        for name, want in expected.items():
            got = np.asarray(out["1"][name])
            scale = np.max(np.abs(want)) if np.ndim(want) else abs(want)
            assert np.allclose(got, want, rtol=1e-11, atol=1e-12 * scale), (variant, name)


def test_results_do_not_depend_on_the_thread_count_within_a_variant(per_variant):
    for variant, out in per_variant.items():
        assert out["1"] == out["2"] == out["3"], variant


def test_variants_agree_to_rounding(per_variant):
    """Different vector widths split the sums differently, and SSE2 has no fused multiply-add:
    the variants agree to rounding (here over 60 steps of GD too), not bit for bit."""
    first, *others = per_variant.values()
    for out in others:
        for name, values in first["1"].items():
            a, b = np.asarray(values, float), np.asarray(out["1"][name], float)
            assert np.allclose(a, b, rtol=1e-10, atol=1e-12 * np.max(np.abs(a))), (out["variant"], name)


def test_pickles_load_under_any_variant(tmp_path):
    """Compiled settings objects say flatcore._core, whichever variant made them."""
    options = _core.TrainOptions(lr=0.25, steps=7)
    assert type(options).__module__ == "flatcore._core"
    path = tmp_path / "options.pkl"
    path.write_bytes(pickle.dumps(options))
    for variant in RUNNABLE:
        out = run_python(
            f"import pickle; o = pickle.load(open({str(path)!r}, 'rb')); from flatcore import _core; "
            "print(o.lr, o.steps, _core.variant)",
            simd=variant,
        )
        assert out.returncode == 0, out.stderr
        assert out.stdout.split() == ["0.25", "7", variant]


def test_info_names_the_variant(capsys):
    from flatcore.cli import main

    assert main(["info"]) == 0
    text = capsys.readouterr().out
    assert f"core variant: {_core.variant}" in text and "FLATCORE_SIMD" in text
