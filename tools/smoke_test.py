"""Check an installed flatcore (a wheel in a fresh environment), as a user's machine would.

It imports, chooses the core variant the CPU runs, trains, agrees with a NumPy reference,
carries its licences, and every variant this CPU runs gives the same losses to rounding.

    python tools/smoke_test.py [--expect VARIANT] [--json]

Run it from outside the source tree, so that the installed package is the one imported.
``--expect`` asserts the chosen variant (e.g. under an emulated CPU); ``--json`` prints the
losses of a short training run, for comparison between machines (tools/build_wheel does).
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np

TRAIN = dict(lr=0.1, steps=200, record_every=20)


def problem():
    """A small regression problem (fixed seed)."""
    rng = np.random.default_rng(3)
    X = rng.standard_normal((257, 6))
    y = np.sin(X[:, 0]) + 0.1 * rng.standard_normal(257)
    return X, y


def losses() -> list[float]:
    """The loss along a short GD run on :func:`problem`."""
    import flatcore as fc

    X, y = problem()
    net = fc.Network.init(d=6, width=67, seed=1)
    return [float(x) for x in fc.train(net, X, y, **TRAIN).history.loss]


def main() -> int:
    """Run the checks; 0 when they pass."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--expect", help="the variant the CPU should get")
    parser.add_argument("--json", action="store_true", help="print the losses as JSON and stop")
    args = parser.parse_args()

    import flatcore as fc
    from flatcore import _core, _simd

    if args.json:
        print(json.dumps({"variant": _core.variant, "losses": losses()}))
        return 0
    source = Path(fc.__file__).resolve().parent
    print(f"flatcore {fc.__version__} from {source}")
    print(f"variants built {_simd.built()}, runnable here {_simd.supported()}, chosen {_core.variant}")
    assert _core.variant == _simd.supported()[0] or os.environ.get(_simd.ENV), "not the widest runnable variant"
    if args.expect:
        assert _core.variant == args.expect, f"expected the {args.expect} variant, got {_core.variant}"

    # numbers against a NumPy forward pass and a finite difference of the loss
    X, y = problem()
    net = fc.Network.init(d=6, width=67, seed=1)
    f = np.maximum(X @ net.W.T - net.b, 0.0) @ net.v + net.beta
    assert np.allclose(fc.predict(net, X), f, rtol=1e-12, atol=1e-12)
    theta, g, h = net.params(), fc.gradient(net, X, y), 1e-6
    e = np.zeros_like(theta)
    e[3] = h
    fd = (
        fc.loss(fc.Network.from_params(theta + e, 6, 67), X, y)
        - fc.loss(fc.Network.from_params(theta - e, 6, 67), X, y)
    ) / (2 * h)
    assert abs(fd - g[3]) <= 1e-6 * max(1.0, abs(g[3])), (fd, g[3])
    mine = losses()
    assert mine[-1] < mine[0], "training did not lower the loss"

    # the licences travel with the package
    for name in ("eigen/COPYING.MPL2", "spectra/COPYING.MPL2"):
        assert (source / "_licenses" / name).is_file(), f"missing licence {name}"

    # every variant this CPU runs: the same losses to rounding
    for variant in _simd.supported():
        env = {**os.environ, _simd.ENV: variant}
        out = subprocess.run([sys.executable, __file__, "--json"], capture_output=True, text=True, env=env, check=True)
        theirs = json.loads(out.stdout)
        assert theirs["variant"] == variant
        assert np.allclose(theirs["losses"], mine, rtol=1e-10), (variant, theirs["losses"][-1], mine[-1])
        print(f"  {variant}: final loss {theirs['losses'][-1]!r}")
    print("smoke test passed")
    return 0


if __name__ == "__main__":
    sys.exit(main())
