#!/usr/bin/env python
"""flatcore's GD steps per second against the activation rate (the shattering regime).

    python benchmarks/bench_sparsity.py [--sizes mid large] [--threads 1 2] [--rounds 2] [--quick]
                                        [--out benchmarks/results] [--rerender results/sparsity.json]

At large step sizes GD ends where each neuron is active on few points. The fused kernels skip a
register tile of rows x 8 neurons in the backward pass when none of its pairs is active, so the
backward work shrinks with the share of such tiles, while the forward pass (which must compute
every pre-activation to know which are active) does not. Each neuron's threshold b_k is set to
the (1 - rate) quantile of w_k . x over the data, so every neuron is active on a share `rate` of
the points, scattered over the rows; the weights are PyTorch-default initialised. The table gives
the share of register tiles the backward pass skips at each rate (from the activation pattern
and this build's tile shape), which is what the speed-up follows: with scattered activations a
tile of 32 (AVX2) or 64 (AVX-512) pairs is empty only at rates of about 1% and below. Every (size, rate, threads) is
measured once per round, the rounds in turn, and keeps its best round. Writes OUT/sparsity.md
and OUT/sparsity.json.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
import harness
import peers
import report

RATES = (0.5, 0.2, 0.05, 0.02, 0.01, 0.003)
LR = 1e-4  # small: the timed runs stay at the constructed activation rate


def skipped_tiles(active: np.ndarray, tile_rows: int) -> float:
    """Share of the (tile_rows x 8) register tiles of the n x width activation pattern without an
    active pair (rows from 0 in steps of tile_rows, the neurons padded to whole tiles of 8)."""
    n, width = active.shape
    pad = np.zeros((-(-n // tile_rows) * tile_rows, -(-width // 8) * 8), dtype=bool)
    pad[:n, :width] = active
    tiles = pad.reshape(pad.shape[0] // tile_rows, tile_rows, pad.shape[1] // 8, 8).any(axis=(1, 3))
    return float(1.0 - tiles.mean())


def complete(rep: dict) -> None:
    """Fill in the configuration of a report saved before it was recorded (read off its rows)."""
    if "config" not in rep:
        rows = rep["rows"]
        rep["config"] = {
            "sizes": list(dict.fromkeys(r["size"] for r in rows)),
            "threads": list(dict.fromkeys(r["threads"] for r in rows)),
            "rates": list(dict.fromkeys(r["rate"] for r in rows)),
            "rounds": rep.pop("rounds"),
            "quick": rep.pop("quick"),
            "tile": rep.pop("tile"),
        }


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--sizes", nargs="+", choices=list(harness.SIZES), default=["mid", "large"])
    p.add_argument("--threads", nargs="+", type=int, default=[1, 2])
    p.add_argument("--rounds", type=int, default=None, help="measurement rounds, best kept (default 2; quick 1)")
    p.add_argument("--quick", action="store_true", help="short measurements")
    p.add_argument("--out", type=Path, default=harness.HERE / "results")
    harness.add_rerender(p)
    args = p.parse_args(argv)
    if args.rerender is not None:
        return report.rerender(args.rerender, complete, report.sparsity)
    import flatcore as fc
    from flatcore.provenance import provenance

    prov = provenance()
    target_s, repeats = (0.2, 2) if args.quick else (1.0, 3)
    tile_rows = {8: 8, 4: 4}.get(prov["simd_lanes"], 2)  # the kernels' register tile: rows x 8 neurons
    sizes = [s for s in harness.SIZES if s in args.sizes]
    rep = {
        "provenance": prov,
        "environment": harness.environment(harness.cpu_busy()),
        "config": {
            "sizes": sizes,
            "threads": args.threads,
            "rates": list(RATES),
            "rounds": args.rounds or (1 if args.quick else 2),
            "quick": args.quick,
            "seconds": target_s,
            "repeats": repeats,
            "lr": LR,
            "tile": f"{tile_rows} rows x 8 neurons",
        },
        "notes": [],
        "rows": [],
    }
    cases = []
    for size in sizes:
        n, width, d = harness.SIZES[size]
        X = fc.data.uniform_ball(n, d, seed=0)
        y = np.random.default_rng(1).standard_normal(n)
        base = fc.Network.init(d, width, seed=0)
        Z = X @ base.W.T
        for rate in RATES:
            b = np.quantile(Z, 1.0 - rate, axis=0)
            active = (Z - b) > 0
            for threads in args.threads:
                row = {
                    "size": size,
                    "n": n,
                    "width": width,
                    "d": d,
                    "rate": rate,
                    "active_fraction": float(active.mean()),
                    "skipped_tiles": skipped_tiles(active, tile_rows),
                    "threads": threads,
                    "steps_per_s": 0.0,
                }
                cases.append((row, peers.gd("flatcore")(X, y, base.W, b, base.v, base.beta, LR, threads)))
    for rnd in range(rep["config"]["rounds"]):
        for row, gd in cases:
            sps = harness.measure_steps(gd, target_s, repeats)["steps_per_s"]
            row["steps_per_s"] = max(row["steps_per_s"], sps)
            print(
                f"round {rnd + 1}: {row['size']:6s} rate {row['rate']:<6g} threads {row['threads']}: "
                f"{sps:,.1f} steps/s",
                flush=True,
            )
    rep["rows"] = [row for row, _ in cases]
    harness.close_environment(rep)
    report.write(rep, report.sparsity, args.out, "sparsity")
    return 0


if __name__ == "__main__":
    sys.exit(main())
