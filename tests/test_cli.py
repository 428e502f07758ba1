"""End-to-end: the `flatcore` command as a user runs it, in a temporary folder."""

import json
import subprocess
import sys

import numpy as np
import pytest

import flatcore as fc


def run_cli(*args, cwd):
    return subprocess.run(
        [sys.executable, "-m", "flatcore", *args], cwd=cwd, capture_output=True, text=True, timeout=600
    )


def test_demo_runs_and_matches_the_api(tmp_path):
    """The demo's table equals what the API computes for the same settings and seeds."""
    out = run_cli(
        "demo",
        "--d",
        "3",
        "--n",
        "64",
        "--width",
        "32",
        "--steps",
        "300",
        "--lrs",
        "0.05",
        "0.6",
        "--n-test",
        "500",
        "--seed",
        "3",
        "--threads",
        "1",
        "--no-progress",
        "--json",
        "demo.json",
        cwd=tmp_path,
    )
    assert out.returncode == 0, out.stderr
    assert "test MSE" in out.stdout and "lambda_max" in out.stdout
    runs = json.loads((tmp_path / "demo.json").read_text())["runs"]
    assert [r["lr"] for r in runs] == [0.05, 0.6]

    X, y = fc.data.regression(64, 3, target_kind="smooth", noise=0.3, seed=3)
    X_test = fc.data.uniform_ball(500, 3, seed=4)
    for r in runs:
        net = fc.Network.init(3, 32, seed=3, scheme="kaiming")
        res = fc.train(net, X, y, r["lr"], 300, clip_grad_norm=50.0)
        assert r["train_loss"] == pytest.approx(res.final_loss, rel=1e-12)
        assert r["trace"] == pytest.approx(fc.hessian_trace(res.net, X, y), rel=1e-12)
        mse = np.mean((res.net(X_test) - fc.data.target(X_test)) ** 2)
        assert r["test_mse"] == pytest.approx(mse, rel=1e-12)
        # the sharpness column against the dense Hessian's top eigenvalue
        lam = np.linalg.eigvalsh(fc.hessian(res.net, X, y))[-1]
        assert r["lam"] == pytest.approx(lam, rel=1e-8)
        rates = ((X @ res.net.W.T - res.net.b) > 0).mean(axis=0)
        assert r["rare"] == pytest.approx(np.mean(rates < 0.01))


def test_info_and_bad_arguments(tmp_path):
    out = run_cli("info", cwd=tmp_path)
    assert out.returncode == 0 and "flatcore" in out.stdout
    bad = run_cli("demo", "--lrs", "-1", cwd=tmp_path)
    assert bad.returncode == 2 and "positive" in bad.stderr
    bad = run_cli("demo", "--width", "0", cwd=tmp_path)
    assert bad.returncode == 2 and "positive integer" in bad.stderr
