"""flatcore's GD steps per second against the activation rate (the shattering regime).

    python benchmarks/bench_sparsity.py [--sizes mid large] [--threads 1 2] [--rounds 2] [--quick]

At large step sizes GD ends where each neuron is active on few points. The fused kernels skip a
register tile of rows x 8 neurons in the backward pass when none of its pairs is active, so the
backward work shrinks with the share of such tiles, while the forward pass (which must compute
every pre-activation to know which are active) does not. Each neuron's threshold b_k is set to
the (1 - rate) quantile of w_k . x over the data, so every neuron is active on a share `rate` of
the points, scattered over the rows; the weights are PyTorch-default initialised. The table gives
the share of register tiles the backward pass skips at each rate (computed from the activation
pattern and this build's tile shape), which is what the speed-up follows: with scattered
activations a tile of 32 (AVX2) or 64 (AVX-512) pairs is empty only at rates of about 1% and
below. Every (size, rate, threads) is measured once per round, the rounds in turn, and keeps its
best round. Writes results/sparsity.md and .json.
"""
from __future__ import annotations

import argparse
import datetime as dt
import json
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
import harness  # noqa: E402

RATES = (0.5, 0.2, 0.05, 0.02, 0.01, 0.003)


def steps_per_second(fc, net, X, y, threads, target_s, repeats):
    def run(k):
        t0 = time.perf_counter()
        fc.train(net, X, y, 1e-4, k, record_every=max(1, k), n_threads=threads)
        return time.perf_counter() - t0

    steps, times = harness.time_steps(run, target_s, repeats)
    return steps / min(times)


def skipped_tiles(active: np.ndarray, tile_rows: int) -> float:
    """Share of the (tile_rows x 8) register tiles of the n x width activation pattern without an
    active pair (rows from 0 in steps of tile_rows, the neurons padded to whole tiles of 8)."""
    n, width = active.shape
    pad = np.zeros((-(-n // tile_rows) * tile_rows, -(-width // 8) * 8), dtype=bool)
    pad[:n, :width] = active
    tiles = pad.reshape(pad.shape[0] // tile_rows, tile_rows, pad.shape[1] // 8, 8).any(axis=(1, 3))
    return float(1.0 - tiles.mean())


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--sizes", nargs="+", choices=list(harness.SIZES), default=["mid", "large"])
    p.add_argument("--threads", nargs="+", type=int, default=[1, 2])
    p.add_argument("--rounds", type=int, default=None, help="measurement rounds, best kept (default 2; quick 1)")
    p.add_argument("--quick", action="store_true", help="short measurements")
    p.add_argument("--out", type=Path, default=harness.HERE / "results")
    args = p.parse_args(argv)
    import flatcore as fc

    target_s, repeats = (0.2, 2) if args.quick else (1.0, 3)
    rounds = args.rounds or (1 if args.quick else 2)
    lanes = fc._core.simd_lanes()
    tile_rows = {8: 8, 4: 4}.get(lanes, 2)   # the kernels' register tile: rows x 8 neurons
    cases = []
    for size in args.sizes:
        n, width, d = harness.SIZES[size]
        X = fc.data.uniform_ball(n, d, seed=0)
        y = np.random.default_rng(1).standard_normal(n)
        base = fc.Network.init(d, width, seed=0)
        Z = X @ base.W.T
        for rate in RATES:
            net = fc.Network(base.W, np.quantile(Z, 1.0 - rate, axis=0), base.v, base.beta)
            active = (Z - net.b) > 0
            cases.append((size, n, width, d, rate, net, X, y, float(active.mean()),
                          skipped_tiles(active, tile_rows)))
    best = {}
    for rnd in range(rounds):
        for size, n, width, d, rate, net, X, y, measured, skipped in cases:
            for threads in args.threads:
                sps = steps_per_second(fc, net, X, y, threads, target_s, repeats)
                key = (size, rate, threads)
                best[key] = max(best.get(key, 0.0), sps)
                print(f"round {rnd + 1}: {size:6s} rate {rate:<6g} threads {threads}: {sps:,.1f} steps/s",
                      flush=True)
    rows = [dict(size=size, n=n, width=width, d=d, rate=rate, active_fraction=measured,
                 skipped_tiles=skipped, threads=threads, steps_per_s=best[(size, rate, threads)])
            for size, n, width, d, rate, net, X, y, measured, skipped in cases for threads in args.threads]

    report = {"date": dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"),
              "machine": harness.machine(), "flatcore": fc.__version__, "quick": args.quick, "rounds": rounds,
              "tile": f"{tile_rows} rows x 8 neurons", "rows": rows}
    lines = ["# flatcore: GD steps per second against the activation rate", "",
             f"- date: {report['date']}", f"- machine: {report['machine']['cpu_model']}, "
             f"{report['machine']['allowed_cpus']} CPUs allowed, SIMD {'/'.join(report['machine']['simd'])}",
             f"- every neuron active on a share `rate` of the points; speed-up relative to rate 0.5; best of "
             f"{rounds} round(s)" + (" (QUICK run)" if args.quick else ""),
             f"- skipped tiles: share of the backward pass's register tiles ({tile_rows} rows x 8 neurons in this "
             "build) without an active pair, whose gradient update is skipped", ""]
    for size in args.sizes:
        n, width, d = harness.SIZES[size]
        lines += [f"## {size} (n={n}, width={width}, d={d})", "",
                  "| rate | skipped tiles | " + " | ".join(f"{t} thread(s): steps/s (speed-up)" for t in args.threads)
                  + " |", "|---:|---:|" + "---:|" * len(args.threads)]
        for rate in RATES:
            skipped = next(x for x in rows if x["size"] == size and x["rate"] == rate)["skipped_tiles"]
            cells = [f"{100 * skipped:.0f}%"]
            for t in args.threads:
                r = next(x for x in rows if x["size"] == size and x["rate"] == rate and x["threads"] == t)
                ref = next(x for x in rows if x["size"] == size and x["rate"] == RATES[0] and x["threads"] == t)
                cells.append(f"{r['steps_per_s']:,.1f} ({r['steps_per_s'] / ref['steps_per_s']:.2f}x)")
            lines.append(f"| {rate:g} | " + " | ".join(cells) + " |")
        lines.append("")
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "sparsity.md").write_text("\n".join(lines))
    (args.out / "sparsity.json").write_text(json.dumps(report, indent=2))
    print("\n".join(lines))
    return 0


if __name__ == "__main__":
    sys.exit(main())
