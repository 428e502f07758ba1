"""``flatcore demo``: a small experiment end to end, GD at a small and a large step size."""

from __future__ import annotations

import time

import numpy as np

from .. import __version__, _threads, data
from ..network import Network
from ..numerics import activation_rates, hessian_trace
from ..spectrum import sharpness
from ..training import train
from ._args import positive_float, positive_int


def demo(args) -> int:
    """``flatcore demo``: GD at a small and a large step size on the built-in problem, side by side."""
    threads = _threads.resolve(args.threads)
    X, y = data.regression(args.n, args.d, target_kind="smooth", noise=args.noise, seed=args.seed)
    X_test = data.uniform_ball(args.n_test, args.d, seed=args.seed + 1)
    f_test = data.target(X_test, "smooth")
    print(
        f"flatcore {__version__} demo: n={args.n} points uniform in the unit ball of R^{args.d}, "
        f"y = sin(2 x_1) + |x|^2/2 + N(0, {args.noise}^2)"
    )
    print(
        f"two-layer ReLU network, width {args.width}, Kaiming init (seed {args.seed}); "
        f"full-batch GD, {args.steps} steps, gradient clipping at 50; {threads} thread(s)\n"
    )
    rows = []
    for lr in args.lrs:
        net = Network.init(args.d, args.width, seed=args.seed, scheme="kaiming")
        start = time.perf_counter()
        res = train(net, X, y, lr, args.steps, clip_grad_norm=50.0, n_threads=threads, progress=not args.no_progress)
        seconds = time.perf_counter() - start
        final = res.net
        test_mse = float(np.mean((final.predict(X_test, n_threads=threads) - f_test) ** 2))
        rows.append(
            dict(
                lr=lr,
                status=f"diverged@{res.diverged_step}" if res.diverged else "ok",
                train_loss=res.final_loss,
                test_mse=test_mse,
                trace=hessian_trace(final, X, y, n_threads=threads),
                lam=sharpness(final, X, y, n_threads=threads),
                two_over_lr=2.0 / lr,
                rare=float((activation_rates(final, X, n_threads=threads) < 0.01).mean()),  # neurons on < 1% of points
                steps_per_s=res.steps_run / seconds if seconds > 0 else float("nan"),
            )
        )
    header = (
        "step size",
        "status",
        "train loss",
        "test MSE",
        "trace H",
        "lambda_max",
        "2/eta",
        "neurons on <1% of pts",
        "steps/s",
    )
    table = [header] + [
        (
            f"{r['lr']:g}",
            r["status"],
            f"{r['train_loss']:.4g}",
            f"{r['test_mse']:.4g}",
            f"{r['trace']:.4g}",
            f"{r['lam']:.4g}",
            f"{r['two_over_lr']:.4g}",
            f"{100 * r['rare']:.1f}%",
            f"{r['steps_per_s']:,.0f}",
        )
        for r in rows
    ]
    widths = [max(len(row[j]) for row in table) for j in range(len(header))]
    for i, row in enumerate(table):
        print("  ".join(cell.rjust(w) for cell, w in zip(row, widths)))
        if i == 0:
            print("  ".join("-" * w for w in widths))
    if args.json:
        import json

        with open(args.json, "w") as fh:
            json.dump(
                {
                    "settings": {
                        k: getattr(args, k) for k in ("d", "n", "width", "steps", "lrs", "noise", "n_test", "seed")
                    },
                    "runs": rows,
                },
                fh,
                indent=2,
            )
    print(
        "\ntrain loss = 1/(2n) sum (f(x_i) - y_i)^2; test MSE against the noiseless target on "
        f"{args.n_test} fresh points; trace H exact (closed form);\nlambda_max = top Hessian eigenvalue "
        "(GD at step eta can only settle where lambda_max <= 2/eta)."
    )
    return 0


def add_parser(sub) -> None:
    """Register ``flatcore demo``."""
    p = sub.add_parser(
        "demo",
        help="train a wide network at a small and a large step size and compare",
        description="A small experiment end to end on a built-in default: data uniform in the "
        "unit ball, a smooth target with noise, a wide two-layer ReLU network trained "
        "by full-batch GD at a small and at a large step size.",
    )
    p.add_argument("--d", type=positive_int, default=5, help="input dimension (default 5)")
    p.add_argument("--n", type=positive_int, default=256, help="training points (default 256)")
    p.add_argument("--width", type=positive_int, default=256, help="hidden neurons (default 256)")
    p.add_argument("--steps", type=positive_int, default=20000, help="GD steps per run (default 20000)")
    p.add_argument(
        "--lrs", type=positive_float, nargs="+", default=[0.02, 0.5], help="step sizes to compare (default 0.02 0.5)"
    )
    p.add_argument("--noise", type=float, default=0.3, help="label noise standard deviation (default 0.3)")
    p.add_argument("--n-test", type=positive_int, default=4000, help="fresh test points (default 4000)")
    p.add_argument("--seed", type=int, default=0, help="seed for data and initialisation (default 0)")
    p.add_argument("--threads", type=positive_int, default=None, help="threads (default: all cores)")
    p.add_argument("--no-progress", action="store_true", help="no progress bars")
    p.add_argument("--json", metavar="PATH", help="also write the table to this JSON file")
    p.set_defaults(func=demo)
