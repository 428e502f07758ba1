"""A whole study: flatcore's pool and store against the same runs as a plain PyTorch loop.

    python benchmarks/bench_study.py [--quick] [--workers 2] [--steps 2000] [--seeds 2] [--name study]

The grid is the curse-of-dimensionality design of arXiv:2506.20779 (inputs uniform in the unit
ball, y = w*.x + N(0, 1), width 4n, Kaiming initialisation, gradient clipping at 50; d 1-5, n
32-512; lr 0.2 without weight decay against lr 0.01 with weight decay 0.1; a fixed step count).
Each run draws its data, trains by full-batch GD, and measures the final train loss and the test
MSE against the noiseless target on 1000 fresh points.

- flatcore: ``flatcore.run_study`` into a fresh SQLite store, on its process pool with
  ``--workers`` workers of one thread each, recording only the basics (``record = []``: losses,
  errors, activation rates); a second row records every metric (sharpness, trace, min-trace, V_g,
  the bound, history, network).
- PyTorch: the loop a researcher would write (``nn.Sequential(Linear, ReLU, Linear)`` in float64
  from the same initial weights, ``0.5 * mean((f - y)^2)``, ``loss.backward()``,
  ``clip_grad_norm_``, ``SGD`` with the weight decay on W and v) in a ``ProcessPoolExecutor`` of the
  same size (spawned workers, ``torch.set_num_threads(1)``), on the same data.

Reported: wall time of each, runs per hour, the ratio, and flatcore's orchestration overhead:
``(wall * workers - sum of the runs' own wall times) / sum of the runs' own wall times`` (the
time the pool, the scheduling and the store add to the runs themselves). Results:
OUT/NAME.md and OUT/NAME.json.
"""

from __future__ import annotations

import argparse
import math
import multiprocessing
import sys
import tempfile
import time
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

import harness  # noqa: E402
import report  # noqa: E402


def grid(quick: bool, steps: int, seeds: int) -> dict:
    """The study's declaration (as for flatcore.Study)."""
    return {
        "grid": {
            "d": [1, 2] if quick else [1, 2, 3, 4, 5],
            "n": [32, 64] if quick else [32, 64, 128, 256, 512],
            "regime": [{"lr": 0.2, "weight_decay": 0.0}, {"lr": 0.01, "weight_decay": 0.1}],
            "seed": list(range(seeds)),
        },
        "fixed": {
            "distribution": "uniform_ball",
            "target": "linear",
            "noise": 1.0,
            "init": "kaiming",
            "clip_grad_norm": 50.0,
            "steps": steps,
            "n_test": 1000,
        },
        "derived": {"width": "4 * n"},
    }


def torch_run(config: dict) -> dict:
    """One run as a plain PyTorch loop; the data and initial weights are flatcore's for the run."""
    import torch

    from flatcore.experiments import RunConfig

    start = time.perf_counter()
    torch.set_num_threads(1)
    cfg = RunConfig.from_mapping(config)
    ds = cfg.dataset()
    net0 = cfg.initial_network()
    X, y = torch.from_numpy(ds.X), torch.from_numpy(ds.y)
    model = torch.nn.Sequential(
        torch.nn.Linear(cfg.d, cfg.width), torch.nn.ReLU(), torch.nn.Linear(cfg.width, 1)
    ).double()
    with torch.no_grad():  # flatcore's f = v . relu(W x - b) + beta: PyTorch's bias is -b
        model[0].weight.copy_(torch.from_numpy(net0.W))
        model[0].bias.copy_(torch.from_numpy(-net0.b))
        model[2].weight.copy_(torch.from_numpy(net0.v)[None, :])
        model[2].bias.fill_(net0.beta)
    decayed = [model[0].weight, model[2].weight]
    plain = [model[0].bias, model[2].bias]
    opt = torch.optim.SGD(
        [{"params": decayed, "weight_decay": cfg.weight_decay}, {"params": plain, "weight_decay": 0.0}], lr=cfg.lr
    )
    loss = None
    for _ in range(cfg.steps):
        opt.zero_grad()
        loss = 0.5 * ((model(X).squeeze(1) - y) ** 2).mean()
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), cfg.clip_grad_norm)
        opt.step()
    with torch.no_grad():
        final = float(0.5 * ((model(X).squeeze(1) - y) ** 2).mean())
        test = float(((model(torch.from_numpy(ds.X_test)).squeeze(1) - torch.from_numpy(ds.y_test)) ** 2).mean())
    return {"run_id": cfg.run_id, "train_loss": final, "test_mse": test, "seconds": time.perf_counter() - start}


def run_flatcore(declaration: dict, record: list, workers: int, tmp: Path, name: str) -> dict:
    """The study through flatcore.run_study into a fresh store; wall time and the runs' own times."""
    import flatcore as fc

    study = fc.Study(
        name, grid=declaration["grid"], fixed={**declaration["fixed"], "record": record}, derived=declaration["derived"]
    )
    db = tmp / f"{name}.db"
    start = time.perf_counter()
    summary = study.run(db, workers=workers, progress=False)
    wall = time.perf_counter() - start
    runs = fc.load(db).runs
    assert summary.done == len(study), summary
    own = float(runs["wall_seconds"].sum())
    return {
        "runs": len(study),
        "wall_s": wall,
        "runs_own_s": own,
        "train_s": float(runs["train_seconds"].sum()),
        "overhead": (wall * workers - own) / own,
        "results": {r.run_id: {"train_loss": r.train_loss, "test_mse": r.test_mse} for r in runs.itertuples()},
    }


def run_torch(declaration: dict, workers: int) -> dict:
    """The same runs as PyTorch loops in a spawned process pool of the same size."""
    import flatcore as fc

    # record = [] as flatcore's basic row, so that the run ids match
    study = fc.Study(
        "torch", grid=declaration["grid"], fixed={**declaration["fixed"], "record": []}, derived=declaration["derived"]
    )
    configs = [r.as_dict() for r in study.runs]
    start = time.perf_counter()
    with ProcessPoolExecutor(workers, mp_context=multiprocessing.get_context("spawn")) as pool:
        out = list(pool.map(torch_run, configs))
    wall = time.perf_counter() - start
    own = sum(r["seconds"] for r in out)
    return {
        "runs": len(out),
        "wall_s": wall,
        "runs_own_s": own,
        "overhead": (wall * workers - own) / own,
        "results": {r["run_id"]: {"train_loss": r["train_loss"], "test_mse": r["test_mse"]} for r in out},
    }


def render(rep: dict) -> str:
    """The report as Markdown."""
    s = rep["settings"]
    lines = report.header(
        "A whole study: flatcore's pool and store against plain PyTorch loops",
        rep,
        f"{s['runs']} runs (d {s['d']}, n {s['n']}, width 4n, 2 regimes, {s['seeds']} seed(s)), {s['steps']} steps "
        f"each, {s['workers']} worker process(es) of 1 thread",
    )
    lines += [
        "",
        "| implementation | wall time | runs per hour | over flatcore (basics) | overhead |",
        "|---|---:|---:|---:|---:|",
    ]
    base = rep["flatcore_basic"]["wall_s"]
    for key, label in (
        ("flatcore_basic", "flatcore.run_study, basic metrics"),
        ("flatcore_full", "flatcore.run_study, every metric"),
        ("torch", "PyTorch loop (autograd, SGD) in a process pool"),
    ):
        r = rep.get(key)
        if r is None:
            continue
        lines.append(
            f"| {label} | {report.seconds(r['wall_s'])} | {r['runs'] * 3600 / r['wall_s']:,.0f} | "
            f"{r['wall_s'] / base:.1f}x | {100 * r['overhead']:.1f}% |"
        )
    if rep.get("agreement"):
        a = rep["agreement"]
        lines += [
            "",
            f"Same runs, same data and initial weights: the final train loss of flatcore and PyTorch agree to a "
            f"relative {a['train_loss_median']:.1e} in the median run and {a['train_loss_max']:.1e} at worst "
            f"(runs at lr 0.2 sit at the edge of stability, where rounding differences grow), test MSE "
            f"{a['test_mse_median']:.1e} / {a['test_mse_max']:.1e}.",
        ]
    lines += [
        "",
        "Overhead: (wall time x workers - the runs' own wall times) / the runs' own wall times, i.e. what "
        "starting the workers, scheduling, moving results back and the store add to the runs.",
    ]
    return "\n".join(lines) + "\n"


def main(argv=None) -> int:
    """Run the benchmark and write its report."""
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--quick", action="store_true", help="d 1-2, n 32-64, 1 seed, 300 steps")
    p.add_argument("--workers", type=int, default=harness.os.cpu_count() or 1)
    p.add_argument("--steps", type=int, default=None, help="GD steps per run (default 2000; quick 300)")
    p.add_argument("--seeds", type=int, default=None, help="seeds per cell (default 2; quick 1)")
    p.add_argument("--no-torch", action="store_true", help="flatcore only")
    p.add_argument("--out", type=Path, default=HERE / "results")
    p.add_argument("--name", default=None, help="report name (default study, or study-quick)")
    args = p.parse_args(argv)
    steps = args.steps or (300 if args.quick else 2000)
    seeds = args.seeds or (1 if args.quick else 2)
    declaration = grid(args.quick, steps, seeds)
    import flatcore as fc
    from flatcore.provenance import provenance

    rep = {
        "provenance": provenance(),
        "environment": harness.environment(peers=("torch",)),
        "settings": {
            "runs": None,
            "d": declaration["grid"]["d"],
            "n": declaration["grid"]["n"],
            "seeds": seeds,
            "steps": steps,
            "workers": args.workers,
        },
    }
    with tempfile.TemporaryDirectory() as tmp:
        rep["flatcore_basic"] = run_flatcore(declaration, [], args.workers, Path(tmp), "basic")
        print(f"flatcore, basic metrics: {rep['flatcore_basic']['wall_s']:.1f} s", file=sys.stderr)
        rep["flatcore_full"] = run_flatcore(
            declaration, list(fc.experiments.RECORDABLE), args.workers, Path(tmp), "full"
        )
        print(f"flatcore, every metric: {rep['flatcore_full']['wall_s']:.1f} s", file=sys.stderr)
    rep["settings"]["runs"] = rep["flatcore_basic"]["runs"]
    if not args.no_torch and harness.version("torch"):
        rep["torch"] = run_torch(declaration, args.workers)
        print(f"PyTorch: {rep['torch']['wall_s']:.1f} s", file=sys.stderr)
        rel = {"train_loss": [], "test_mse": []}
        for run_id, ours in rep["flatcore_basic"]["results"].items():
            theirs = rep["torch"]["results"][run_id]
            for key in rel:
                if ours[key] is not None and math.isfinite(ours[key]):
                    rel[key].append(abs(ours[key] - theirs[key]) / abs(theirs[key]))
        rep["agreement"] = {
            f"{key}_{stat}": float(f(values))
            for key, values in rel.items()
            for stat, f in (("median", np.median), ("max", np.max))
        }
    for key in ("flatcore_basic", "flatcore_full", "torch"):
        if key in rep:
            rep[key].pop("results", None)
    harness.close_environment(rep)
    name = args.name or ("study-quick" if args.quick else "study")
    report.write(rep, render, args.out, name)
    return 0


if __name__ == "__main__":
    sys.exit(main())
