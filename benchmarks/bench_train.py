#!/usr/bin/env python
"""Full-batch gradient descent, steps per second: flatcore.train against its peers.

    python benchmarks/bench_train.py [--threads 1 2] [--sizes small mid large] [--quick]
                                     [--tools flatcore torch_autograd ...] [--eager-threads 1 2]
                                     [--out benchmarks/results]

Workloads (QUALITY.md, Performance): float64, X uniform in the unit ball, y = smooth target plus
noise (``flatcore.data.regression``), PyTorch-default initialisation, L = 1/(2n) sum_i r_i^2:

    small (n=256, width=256, d=5), mid (1024, 512, 10), large (4096, 1024, 16)

Tools, each run for every thread count in a fresh subprocess pinned to the first N cores:

    flatcore         flatcore.train (whole loop in C++), record_every = steps
    torch_autograd   PyTorch eager: nn.Linear-ReLU-nn.Linear, autograd, torch.optim.SGD
    torch_manual     PyTorch eager, hand-written gradient (two GEMMs per step, no autograd)
    numpy            NumPy, the same hand-written gradient, preallocated buffers
    jax              JAX, jax.grad of the loss, the whole loop jitted with lax.fori_loop
    torch_cuda_graph PyTorch float64 on the GPU: the torch_manual step captured into CUDA graphs
                     (run once, not per thread count; skipped with a note when CUDA is unavailable)
    gemm             (not a peer) NumPy float64 square matmul: the machine's GEMM peak

Every tool starts from the same parameters and data (written once by this process), and each
timed repeat starts again from the initial parameters, so every repeat follows the same
trajectory. A sanity check runs 5 single steps of each tool and compares the parameters after
each step against flatcore's trajectory (max |difference| / max(1, max |theta|) <= 1e-8).

Results: a Markdown table printed and written to OUT/train.md, everything in OUT/train.json.
Optional peers (torch, jax) that are not importable are skipped with a note, and so is the GPU
peer when PyTorch sees no CUDA device.
"""
from __future__ import annotations

import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
import harness  # noqa: E402  (the shared benchmark harness, next to this file)
from harness import SIZES, THREAD_ENV, md_row  # noqa: E402

TOOLS = ("flatcore", "torch_autograd", "torch_manual", "numpy", "jax", "torch_cuda_graph")
TOOL_LABELS = {
    "flatcore": "flatcore.train",
    "torch_autograd": "PyTorch eager, autograd",
    "torch_manual": "PyTorch eager, hand-written gradient",
    "numpy": "NumPy, hand-written gradient",
    "jax": "JAX, jit of the whole loop (lax.fori_loop)",
    "torch_cuda_graph": "PyTorch CUDA graphs (GPU), hand-written gradient",
}
TOOL_MODULES = {"torch_autograd": "torch", "torch_manual": "torch", "jax": "jax", "torch_cuda_graph": "torch"}
GPU_TOOLS = ("torch_cuda_graph",)                  # run once, not at every thread count
EAGER_TOOLS = ("torch_autograd", "torch_manual", "numpy")  # the slow CPU peers (--eager-threads)
CUDA_GRAPH_CHUNK = 100                             # steps per captured CUDA graph
SANITY_STEPS = 5
SANITY_TOL = 1e-8
JAX_ONE_THREAD_FLAGS = "--xla_cpu_multi_thread_eigen=false intra_op_parallelism_threads=1"


# ================================================================================================
# Worker side: one (tool, thread count) per process
# ================================================================================================

def _flat(W, b, v, beta) -> np.ndarray:
    """theta = [W row-major | b | v | beta] (MATH.md section 1)."""
    return np.concatenate([np.asarray(W, dtype=np.float64).ravel(), np.asarray(b, dtype=np.float64).ravel(),
                           np.asarray(v, dtype=np.float64).ravel(), [float(beta)]])


class FlatcoreImpl:
    def __init__(self, X, y, W, b, v, beta, lr, threads):
        import flatcore

        self.fc = flatcore
        self.net0 = flatcore.Network(W, b, v, beta)
        self.X, self.y, self.lr, self.threads = X, y, lr, threads
        self.last = None

    def reset(self):
        pass  # every call of train starts from net0

    def run(self, k):
        self.last = self.fc.train(self.net0, self.X, self.y, self.lr, k, n_threads=self.threads, record_every=k)
        if self.last.diverged:
            raise RuntimeError(f"flatcore.train diverged at step {self.last.diverged_step}; lower --lr")

    def trajectory(self, steps):
        return [self.fc.train(self.net0, self.X, self.y, self.lr, j, n_threads=self.threads,
                              record_every=j).net.params() for j in range(1, steps + 1)]

    def extra(self):
        if self.last is None:
            return {}
        h = self.last.history
        return {"active_fraction_start": float(h["active_fraction"][0]),
                "active_fraction_end": float(h["active_fraction"][-1]),
                "final_loss": float(self.last.final_loss)}


class StepImpl:
    """A tool with an in-place `run(k)` from a state that `reset` restores."""

    def trajectory(self, steps):
        self.reset()
        out = []
        for _ in range(steps):
            self.run(1)
            out.append(self.get())
        return out

    def extra(self):
        return {}


class NumpyImpl(StepImpl):
    def __init__(self, X, y, W, b, v, beta, lr, threads):
        n, d = X.shape
        K = W.shape[0]
        self.n, self.lr = n, lr
        self.Xa = np.ascontiguousarray(np.hstack([X, -np.ones((n, 1))]))  # z = Xa @ Wa.T, Wa = [W | b]
        self.y = y.copy()
        self.init = (np.hstack([W, b[:, None]]), v.copy(), float(beta))
        self.Z = np.empty((n, K))
        self.Phi = np.empty((n, K))
        self.A = np.empty((n, K))
        self.RX = np.empty((n, d + 1))
        self.reset()

    def reset(self):
        Wa, v, beta = self.init
        self.Wa, self.v, self.beta = Wa.copy(), v.copy(), beta

    def run(self, k):
        Xa, y, Z, Phi, A, RX, lr, inv_n = self.Xa, self.y, self.Z, self.Phi, self.A, self.RX, self.lr, 1.0 / self.n
        Wa, v = self.Wa, self.v
        for _ in range(k):
            np.matmul(Xa, Wa.T, out=Z)                 # z_ik = w_k.x_i - b_k
            np.maximum(Z, 0.0, out=Phi)                # phi
            np.greater(Z, 0.0, out=A)                  # a (as 0/1 doubles)
            r = Phi @ v
            r += self.beta - y
            r *= inv_n                                 # r_i / n
            gv = Phi.T @ r
            gbeta = r.sum()
            np.multiply(Xa, r[:, None], out=RX)
            M = A.T @ RX                               # sum_i r_i a_ik (x_i, -1) / n
            M *= v[:, None]                            # [dL/dW | dL/db], with the old v
            Wa -= lr * M
            v -= lr * gv
            self.beta -= lr * gbeta

    def get(self):
        return _flat(self.Wa[:, :-1], self.Wa[:, -1], self.v, self.beta)


def _torch_manual_steps(torch, Xa, y, Wa, v, beta, lr: float, inv_n: float, k: int) -> None:
    """k GD steps with the hand-written gradient, in place on Wa = [W | b], v and the 0-d tensor beta.

    The same formulas as NumpyImpl; no host synchronisation inside, so the loop can be captured into
    a CUDA graph as it stands (TorchCudaGraphImpl).
    """
    with torch.no_grad():
        for _ in range(k):
            Z = Xa @ Wa.T                              # z_ik = w_k.x_i - b_k
            A = (Z > 0).to(torch.float64)              # a (as 0/1 doubles)
            Phi = Z.clamp_(min=0.0)                    # phi (Z is not needed any more)
            r = torch.mv(Phi, v).add_(beta).sub_(y).mul_(inv_n)  # r_i / n
            gv = torch.mv(Phi.T, r)
            gbeta = r.sum()
            M = A.T @ (Xa * r[:, None])                # sum_i r_i a_ik (x_i, -1) / n
            M.mul_(v[:, None])                         # [dL/dW | dL/db], with the old v
            Wa.sub_(M, alpha=lr)
            v.sub_(gv, alpha=lr)
            beta.sub_(gbeta, alpha=lr)


class TorchManualImpl(StepImpl):
    def __init__(self, X, y, W, b, v, beta, lr, threads):
        import torch

        self.torch = torch
        n, d = X.shape
        self.n, self.lr = n, lr
        self.Xa = torch.from_numpy(np.ascontiguousarray(np.hstack([X, -np.ones((n, 1))])))
        self.y = torch.from_numpy(y.copy())
        self.init = (torch.from_numpy(np.hstack([W, b[:, None]])), torch.from_numpy(v.copy()),
                     torch.tensor(float(beta), dtype=torch.float64))
        self.reset()

    def reset(self):
        Wa, v, beta = self.init
        self.Wa, self.v, self.beta = Wa.clone(), v.clone(), beta.clone()

    def run(self, k):
        _torch_manual_steps(self.torch, self.Xa, self.y, self.Wa, self.v, self.beta, self.lr, 1.0 / self.n, k)

    def get(self):
        Wa = self.Wa.numpy()
        return _flat(Wa[:, :-1], Wa[:, -1], self.v.numpy(), float(self.beta))


class TorchCudaGraphImpl(StepImpl):
    """The torch_manual step in float64 on the GPU, replayed from CUDA graphs.

    The data and the parameters live in static CUDA tensors that the steps update in place. After a
    warm-up of three steps on a side stream (cuBLAS handles and workspaces, the caching allocator:
    the warm-up the CUDA graphs documentation asks for before a capture), two graphs are captured
    on that same stream (the libraries' handles and workspaces are kept per stream), over those
    tensors: one of `chunk` steps and one of a single step. `run(k)` replays the first
    k // chunk times and the second k % chunk times, so it does exactly k steps, then synchronises;
    `reset` copies the initial parameters back and synchronises, so the timing (around `run`) holds
    the GPU work and nothing else.
    """

    def __init__(self, X, y, W, b, v, beta, lr, threads, chunk: int = CUDA_GRAPH_CHUNK):
        import torch

        self.torch = torch
        dev = torch.device("cuda")
        n = X.shape[0]
        self.n, self.lr, self.chunk = n, lr, chunk
        self.Xa = torch.from_numpy(np.ascontiguousarray(np.hstack([X, -np.ones((n, 1))]))).to(dev)
        self.y = torch.from_numpy(y.copy()).to(dev)
        self.init = (torch.from_numpy(np.hstack([W, b[:, None]])).to(dev), torch.from_numpy(v.copy()).to(dev),
                     torch.tensor(float(beta), dtype=torch.float64, device=dev))
        self.Wa, self.v, self.beta = (a.clone() for a in self.init)  # the graphs' static state
        self.side = torch.cuda.Stream()
        self.side.wait_stream(torch.cuda.current_stream())
        with torch.cuda.stream(self.side):
            self._steps(3)
        torch.cuda.current_stream().wait_stream(self.side)
        self.graph_chunk = self._capture(chunk)
        self.graph_one = self._capture(1)
        self.reset()

    def _steps(self, k):
        _torch_manual_steps(self.torch, self.Xa, self.y, self.Wa, self.v, self.beta, self.lr, 1.0 / self.n, k)

    def _capture(self, k):
        graph = self.torch.cuda.CUDAGraph()
        with self.torch.cuda.graph(graph, stream=self.side):
            self._steps(k)                             # recorded, not run
        return graph

    def reset(self):
        for a, a0 in zip((self.Wa, self.v, self.beta), self.init):
            a.copy_(a0)
        self.torch.cuda.synchronize()

    def run(self, k):
        for _ in range(k // self.chunk):
            self.graph_chunk.replay()
        for _ in range(k % self.chunk):
            self.graph_one.replay()
        self.torch.cuda.synchronize()

    def get(self):
        Wa = self.Wa.cpu().numpy()
        return _flat(Wa[:, :-1], Wa[:, -1], self.v.cpu().numpy(), float(self.beta))

    def extra(self):
        return {"graph_chunk_steps": self.chunk}


class TorchAutogradImpl(StepImpl):
    def __init__(self, X, y, W, b, v, beta, lr, threads):
        import torch

        self.torch = torch
        n, d = X.shape
        K = W.shape[0]
        self.X = torch.from_numpy(X.copy())
        self.y = torch.from_numpy(y.copy())
        self.lr = lr
        self.init = (W.copy(), b.copy(), v.copy(), float(beta))
        self.model = torch.nn.Sequential(torch.nn.Linear(d, K), torch.nn.ReLU(), torch.nn.Linear(K, 1)).double()
        self.reset()

    def reset(self):
        torch = self.torch
        W, b, v, beta = self.init
        l1, _, l2 = self.model
        with torch.no_grad():
            l1.weight.copy_(torch.from_numpy(W))
            l1.bias.copy_(torch.from_numpy(-b))          # nn.Linear adds its bias: bias = -b
            l2.weight.copy_(torch.from_numpy(v[None, :]))
            l2.bias.fill_(beta)
        self.opt = torch.optim.SGD(self.model.parameters(), lr=self.lr)

    def run(self, k):
        torch = self.torch
        model, opt, X, y = self.model, self.opt, self.X, self.y
        mse = torch.nn.functional.mse_loss
        for _ in range(k):
            opt.zero_grad(set_to_none=True)
            loss = 0.5 * mse(model(X).squeeze(1), y)
            loss.backward()
            opt.step()

    def get(self):
        l1, _, l2 = self.model
        return _flat(l1.weight.detach().numpy(), -l1.bias.detach().numpy(), l2.weight.detach().numpy()[0],
                     float(l2.bias.detach()[0]))


class JaxImpl(StepImpl):
    def __init__(self, X, y, W, b, v, beta, lr, threads):
        import jax
        import jax.numpy as jnp

        jax.config.update("jax_enable_x64", True)
        self.jax = jax
        self.X = jnp.asarray(X, dtype=jnp.float64)
        self.y = jnp.asarray(y, dtype=jnp.float64)
        self.lr = jnp.asarray(lr, dtype=jnp.float64)
        self.init = tuple(jnp.asarray(a, dtype=jnp.float64) for a in (W, b, v, beta))
        assert self.X.dtype == jnp.float64, "JAX did not enable float64"

        def loss(p, X, y):
            W, b, v, beta = p
            f = jax.nn.relu(X @ W.T - b) @ v + beta     # jax.nn.relu: relu'(0) = 0 as in MATH.md
            return 0.5 * jnp.mean((f - y) ** 2)

        grad = jax.grad(loss)

        @jax.jit
        def run(p, X, y, lr, steps):
            def body(_, p):
                g = grad(p, X, y)
                return jax.tree_util.tree_map(lambda a, ga: a - lr * ga, p, g)

            return jax.lax.fori_loop(0, steps, body, p)

        self._run = run
        self.reset()

    def reset(self):
        self.p = self.init

    def run(self, k):
        self.p = self._run(self.p, self.X, self.y, self.lr, k)
        self.jax.block_until_ready(self.p)

    def get(self):
        W, b, v, beta = (np.asarray(a) for a in self.p)
        return _flat(W, b, v, float(beta))


IMPLS = {"flatcore": FlatcoreImpl, "numpy": NumpyImpl, "torch_manual": TorchManualImpl,
         "torch_autograd": TorchAutogradImpl, "jax": JaxImpl, "torch_cuda_graph": TorchCudaGraphImpl}


def _measure(impl, target_s, repeats, max_steps=10**8):
    """Best-of-`repeats` steps/s, each repeat from the initial parameters, ~target_s long."""
    def run(k):
        impl.reset()                                     # outside the timing
        t0 = time.perf_counter()
        impl.run(k)
        return time.perf_counter() - t0

    steps, times = harness.time_steps(run, target_s, repeats, max_steps)
    return {"steps_per_s": steps / min(times), "steps": steps, "seconds": times, "spread": harness.spread(times)}


def worker(spec_path: str) -> None:
    spec = json.loads(Path(spec_path).read_text())
    tool, threads = spec["tool"], spec["threads"]
    out = harness.worker_info(tool, threads, THREAD_ENV + ("XLA_FLAGS",))
    if tool == "gemm":
        out["gemm"] = harness.gemm_peak(spec["gemm_n"], spec["gemm_repeats"])
    else:
        if tool.startswith("torch"):
            out["torch_threads"] = harness.set_torch_threads(threads)
        trajectories = {}
        for size in spec["sizes"]:
            data = np.load(size["data"])
            X, y, W, b, v, beta = (data[k] for k in ("X", "y", "W", "b", "v", "beta"))
            impl = IMPLS[tool](X, y, W, b, v, float(beta), spec["lr"], threads)
            res = _measure(impl, spec["target_s"], spec["repeats"])
            res.update(impl.extra())
            trajectories[size["name"]] = np.stack(impl.trajectory(SANITY_STEPS))
            out["sizes"][size["name"]] = res
        np.savez(spec["trajectory_out"], **trajectories)
    out["os_threads"] = harness.os_threads()
    if tool == "jax":
        import jax

        out["jax_devices"] = [str(dv) for dv in jax.devices()]
    if tool in GPU_TOOLS:
        import torch

        out["cuda_device"] = torch.cuda.get_device_name()
        out["torch_cuda"] = torch.version.cuda
    Path(spec["result_out"]).write_text(json.dumps(out))


# ================================================================================================
# Driver side
# ================================================================================================

def _child_env(tool: str, threads: int) -> dict:
    env = harness.child_env(threads)
    if tool == "jax":
        env["JAX_PLATFORMS"] = "cpu"
        env["JAX_ENABLE_X64"] = "1"
        flags = env.get("XLA_FLAGS", "")
        if threads == 1:
            flags = (flags + " " + JAX_ONE_THREAD_FLAGS).strip()
        if flags:
            env["XLA_FLAGS"] = flags
    return env


def _run_child(tool, threads, cores, sizes, args, tmp: Path, pin: bool) -> dict:
    tag = f"{tool}-{threads}"
    spec = {"tool": tool, "threads": threads, "lr": args.lr, "target_s": args.seconds, "repeats": args.repeats,
            "gemm_n": args.gemm_n, "gemm_repeats": 5,
            "sizes": [{"name": s, "data": str(tmp / f"data-{s}.npz")} for s in sizes],
            "result_out": str(tmp / f"result-{tag}.json"), "trajectory_out": str(tmp / f"traj-{tag}.npz")}
    res = harness.run_worker(__file__, spec, tag, tmp, _child_env(tool, threads), cores, pin, args.timeout)
    if "error" not in res and tool != "gemm":
        res["_trajectory"] = spec["trajectory_out"]
    return res


def _keep_best_round(block: dict, tool: str, res: dict, sizes) -> None:
    """Merge one round's result of `tool` into `block`: per size, the round with the most steps/s wins;
    every round's rate is kept under "round_rates", every round's raw result under raw[tool]."""
    block["raw"].setdefault(tool, []).append(res)
    best = block["tools"].setdefault(tool, {})
    for s in sizes:
        new = dict(res["sizes"][s])
        rates = best.get(s, {}).get("round_rates", []) + [new["steps_per_s"]]
        if s not in best or new["steps_per_s"] > best[s]["steps_per_s"]:
            best[s] = new
        best[s]["round_rates"] = rates


def _cuda_device(timeout: float = 300.0):
    """(name of the CUDA device PyTorch sees, its CUDA version), or (None, why not).

    Asked in a subprocess, so that this process never loads torch or initialises CUDA.
    """
    code = ("import json, torch\n"
            "ok = torch.cuda.is_available()\n"
            "print(json.dumps([torch.cuda.get_device_name(0) if ok else None, torch.version.cuda]))")
    try:
        proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=timeout)
        if proc.returncode == 0:
            name, cuda = json.loads(proc.stdout.strip().splitlines()[-1])
    except (OSError, subprocess.SubprocessError, ValueError, IndexError) as exc:
        return None, f"checking for CUDA failed ({type(exc).__name__}: {exc})"
    if proc.returncode != 0:
        tail = " | ".join((proc.stderr or proc.stdout).strip().splitlines()[-3:])
        return None, f"checking for CUDA failed (exit code {proc.returncode}: {tail})"
    if not name:
        build = f"torch built for CUDA {cuda}" if cuda else "a CPU-only torch build"
        return None, f"torch.cuda.is_available() is False ({build}; no usable CUDA device)"
    return name, cuda


def _record(report: dict, tool: str, res: dict, reference: dict, sizes) -> None:
    """Compare a worker's 5-step trajectory (res["_trajectory"]) with flatcore's; keep the largest deviation."""
    traj = np.load(res.pop("_trajectory"))
    for s in sizes:
        ref = reference[s]
        dev = float(np.max(np.abs(traj[s] - ref) / np.maximum(1.0, np.max(np.abs(ref), axis=1))[:, None]))
        res["sizes"][s]["sanity_max_dev"] = dev
        prev = report["sanity"].setdefault(tool, {}).get(s)
        report["sanity"][tool][s] = dev if prev is None else max(prev, dev)


def _fmt_rate(x) -> str:
    if x is None:
        return "–"
    if x >= 100:
        return f"{x:,.0f}"
    if x >= 10:
        return f"{x:.1f}"
    return f"{x:.2f}"


def _fmt_ratio(x) -> str:
    if x is None:
        return "–"
    return f"{x:.2f}x" if x < 10 else f"{x:.1f}x"


def render_markdown(report: dict) -> str:
    v, cfg = report["versions"], report["config"]
    sizes = cfg["sizes"]
    lines = harness.markdown_header(
        "flatcore: full-batch GD steps per second", report,
        f"{harness.versions_prefix(v)}, torch {v['torch'] or 'absent'}, "
        f"jax {v['jax'] or 'absent'} / jaxlib {v['jaxlib'] or 'absent'}",
        f"float64, lr {cfg['lr']}, ~{cfg['seconds']} s per measurement, best of {cfg['repeats']} repeats "
        f"in each of {cfg.get('rounds', 1)} round(s), the tools taking turns, best round kept, "
        f"threads {cfg['threads']}, pinned to the first N cores: {cfg['pin']}"
        + (" (QUICK run: indicative only)" if cfg["quick"] else ""))
    head, sep = harness.size_header(sizes, "tool")
    cpu_tools = [tool for tool in cfg["tools"] if tool not in GPU_TOOLS]
    for t in cfg["threads"]:
        block = report["results"][str(t)]
        here = block.get("tools_run", cpu_tools)
        peak = block.get("gemm_gflops")
        lines += ["", f"## {t} thread{'s' if t > 1 else ''}" + (f" (GEMM peak {peak:.1f} GFLOP/s)" if peak else ""), ""]
        lines += ["Steps per second (higher is better):", "", head, sep]
        for tool in here:
            cells = [_fmt_rate(block["tools"].get(tool, {}).get(s, {}).get("steps_per_s")) for s in sizes]
            lines.append(md_row(TOOL_LABELS[tool], cells))
        if peak:
            lines.append(md_row("compute limit, 4·n·width·d flops at GEMM peak",
                                (_fmt_rate(block["limit"].get(s)) for s in sizes)))
            lines.append(md_row("flatcore, fraction of the compute limit",
                                (f"{100 * block['fraction'][s]:.1f}%" if block["fraction"].get(s) is not None
                                 else "–" for s in sizes)))
        peers = [tool for tool in here if tool != "flatcore"]
        if "flatcore" in here and peers:
            lines += ["", "flatcore / peer (speed-up of flatcore; above 1 means flatcore is faster):", "", head, sep]
            for tool in peers:
                cells = [_fmt_ratio(block["ratios"].get(tool, {}).get(s)) for s in sizes]
                lines.append(md_row(TOOL_LABELS[tool], cells))
    best = report.get("best_over_threads")
    if best and len(cfg["threads"]) > 1:
        lines += ["", "## Best thread count of each tool", "",
                  "Steps per second at each tool's best thread count (that count in brackets), and flatcore's "
                  "best over the peer's best:", "", head, sep]
        for tool in cpu_tools:
            cells = []
            for s in sizes:
                b = best.get(tool, {}).get(s)
                if b is None:
                    cells.append("–")
                    continue
                r = best.get("_ratios", {}).get(tool, {}).get(s)
                cells.append(f"{_fmt_rate(b['steps_per_s'])} [{b['threads']}]"
                             + (f", flatcore {_fmt_ratio(r)}" if r is not None and tool != "flatcore" else ""))
            lines.append(md_row(TOOL_LABELS[tool], cells))
    scaling = report.get("scaling")
    if scaling and len(cfg["threads"]) > 1:
        base, more = cfg["threads"][0], cfg["threads"][1:]
        lines += ["", f"## Speed-up over {base} thread{'s' if base > 1 else ''}", "",
                  f"Steps per second at N threads over steps per second at {base}, for N = "
                  f"{' / '.join(str(t) for t in more)} ('–': not run at that count):", "", head, sep]
        for tool in cpu_tools:
            if tool in scaling:
                lines.append(md_row(TOOL_LABELS[tool], (" / ".join(_fmt_ratio(scaling[tool].get(s, {}).get(str(t)))
                                                                   for t in more) for s in sizes)))
        gemm = _gemm_scaling(report)
        if gemm:
            cell = " / ".join(_fmt_ratio(gemm.get(str(t))) for t in more)
            lines.append(md_row("GEMM peak (NumPy float64 matmul): the cores' own scaling", (cell for _ in sizes)))
    gpu = report.get("gpu")
    if gpu:
        fbest = report.get("best_over_threads", {}).get("flatcore", {})
        lines += ["", f"## GPU peer: PyTorch float64 with CUDA graphs on {gpu['device']}", "",
                  f"Steps per second on the GPU (CUDA {gpu['cuda']}; graphs of {cfg['cuda_graph_chunk']} steps "
                  "replayed), flatcore's on this machine's CPU at its best thread count (in brackets), and "
                  "flatcore over the GPU (above 1: flatcore faster):", "", head, sep]
        for tool in cfg["tools"]:
            if tool in GPU_TOOLS:
                lines.append(md_row(TOOL_LABELS[tool], (_fmt_rate(gpu["tools"].get(tool, {}).get(s, {})
                                                                   .get("steps_per_s")) for s in sizes)))
        if fbest:
            lines.append(md_row(f"{TOOL_LABELS['flatcore']}, best thread count",
                                (f"{_fmt_rate(fbest[s]['steps_per_s'])} [{fbest[s]['threads']}]" if s in fbest
                                 else "–" for s in sizes)))
            for tool, rs in gpu.get("ratios", {}).items():
                lines.append(md_row(f"flatcore (best thread count) / {TOOL_LABELS[tool]}",
                                    (_fmt_ratio(rs.get(s)) for s in sizes)))
    lines += ["", f"## Sanity: same update as flatcore ({SANITY_STEPS} steps, tolerance {SANITY_TOL:g})", "",
              "Largest max|theta_tool - theta_flatcore| / max(1, max|theta|) over the first "
              f"{SANITY_STEPS} steps and all thread counts (flatcore's row compares its N-thread runs "
              "with the reference run: results must not depend on the thread count):", "", head, sep]
    for tool in cfg["tools"]:
        cells = []
        for s in sizes:
            dev = report["sanity"].get(tool, {}).get(s)
            cells.append("–" if dev is None else f"{dev:.1e} {'ok' if dev <= SANITY_TOL else 'FAIL'}")
        lines.append(md_row(TOOL_LABELS[tool], cells))
    signal = report.get("sanity_signal", {})
    lines.append(md_row("(signal: flatcore's own displacement after those steps, same scale)",
                        (f"{signal[s]:.1e}" if s in signal else "–" for s in sizes)))
    return harness.markdown_text(lines, report.get("goals"))


def _goal_items(report: dict, block: dict) -> list:
    """The QUALITY.md goals judged on `block` (the results at the goals' thread count)."""
    cfg = report["config"]
    items = []
    for s in cfg["sizes"]:
        frac = block["fraction"].get(s)
        if s in ("mid", "large") and frac is not None:
            items.append({"what": f"{s}: flatcore >= 50% of the compute limit", "value": f"{100 * frac:.1f}%",
                          "met": frac >= 0.5})
        for tool, need in (("jax", 5.0), ("torch_autograd", 10.0), ("torch_manual", 10.0)):
            r = block["ratios"].get(tool, {}).get(s)
            if r is not None:
                value = _fmt_ratio(r)
                peer = block["tools"].get(tool, {}).get(s, {}).get("steps_per_s")
                limit = block["limit"].get(s)
                if r < need and peer and limit:
                    # what the goal asks of flatcore on this machine, against what no fused step can beat
                    value += f"; the goal needs {100 * need * peer / limit:.0f}% of the compute limit"
                items.append({"what": f"{s}: flatcore >= {need:g}x {TOOL_LABELS[tool]}", "value": value,
                              "met": r >= need})
        r = report.get("best_over_threads", {}).get("_ratios", {}).get("jax", {}).get(s)
        if r is not None and len(cfg["threads"]) > 1:
            items.append({"what": f"{s}: flatcore (best thread count) faster than JAX at its best thread count",
                          "value": _fmt_ratio(r), "met": r > 1.0})
    gpu = report.get("gpu", {})
    fbest = report.get("best_over_threads", {}).get("flatcore", {})
    for tool, rs in gpu.get("ratios", {}).items():     # the GPU machine's goal, at small and mid
        for s in ("small", "mid"):
            if rs.get(s) is not None:
                value = _fmt_ratio(rs[s])
                t_best = fbest[s]["threads"]
                limit = report["results"][str(t_best)].get("limit", {}).get(s)
                gpu_rate = gpu["tools"].get(tool, {}).get(s, {}).get("steps_per_s")
                if rs[s] < 1.0 and limit and gpu_rate:
                    value += f"; matching it needs {100 * gpu_rate / limit:.0f}% of the compute limit at {t_best} threads"
                items.append({"what": f"{s}: flatcore at its best thread count ({t_best}) at least "
                                      f"matches PyTorch float64 + CUDA graphs on {gpu['device']}",
                              "value": value, "met": rs[s] >= 1.0})
    sc = report.get("scaling", {}).get("flatcore", {}).get("large", {}).get("16")
    if cfg["threads"][0] == 1 and sc is not None:
        value = _fmt_ratio(sc)
        gemm = _gemm_scaling(report).get("16")
        if gemm is not None:   # what the same cores give the machine's own GEMM, the yardstick of the goal
            value += f"; the GEMM peak scales {_fmt_ratio(gemm)} on the same cores"
        items.append({"what": "large: flatcore >= 10x faster at 16 threads than at 1", "value": value,
                      "met": sc >= 10.0})
    return items


def _gemm_scaling(report: dict) -> dict:
    """{str(t): GEMM peak at t threads over the GEMM peak at the smallest count}: the cores' own scaling."""
    threads = report["config"]["threads"]
    peaks = {t: report["results"].get(str(t), {}).get("gemm_gflops") for t in threads}
    if not peaks.get(threads[0]):
        return {}
    return {str(t): peaks[t] / peaks[threads[0]] for t in threads[1:] if peaks[t]}


def rerender(path: Path) -> int:
    """Write NAME.md (and NAME.json, with the derived tables and the goals recomputed) again from a saved NAME.json."""
    report = json.loads(path.read_text())
    cfg = report["config"]
    cpu_tools = [tool for tool in cfg["tools"] if tool not in GPU_TOOLS]
    report["scaling"] = _scaling(report, cpu_tools, cfg["sizes"], cfg["threads"])
    report["goals"] = harness.goals(report, lambda block: _goal_items(report, block))
    md = render_markdown(report)
    path.with_suffix(".md").write_text(md)
    path.write_text(json.dumps(report, indent=1, default=float) + "\n")
    print(md)
    return 0


def _scaling(report: dict, tools, sizes, threads) -> dict:
    """tool -> size -> {str(t): steps/s at t threads over steps/s at the smallest count}, for every larger t run."""
    out = {}
    base_t = threads[0]
    for tool in tools:
        for s in sizes:
            rates = {t: report["results"][str(t)]["tools"].get(tool, {}).get(s, {}).get("steps_per_s")
                     for t in threads}
            if rates[base_t] is None:
                continue
            sc = {str(t): rates[t] / rates[base_t] for t in threads[1:] if rates[t] is not None}
            if sc:
                out.setdefault(tool, {})[s] = sc
    return out


def main(argv=None) -> int:
    p = harness.make_parser(__doc__, TOOLS, "smoke run: ~0.2 s per measurement, small GEMM")
    p.add_argument("--seconds", type=float, default=None, help="seconds per timed repeat (default 1.5; quick 0.2)")
    p.add_argument("--repeats", type=int, default=3, help="timed repeats, best taken (default 3)")
    p.add_argument("--rounds", type=int, default=None,
                   help="rounds: at each thread count every tool is measured this many times, the tools taking "
                        "turns, and each keeps its best round, so that a busy spell of a shared host does not fall "
                        "on one tool alone (default 3; quick 1)")
    p.add_argument("--lr", type=float, default=0.01,
                   help="GD step size (default 0.01; well below 2/sharpness ~ 0.15 at these initialisations)")
    p.add_argument("--gemm-n", type=int, default=None, help="matrix size for the GEMM peak (default 2048; quick 1024)")
    p.add_argument("--eager-threads", type=int, nargs="+", default=None,
                   help="thread counts at which the slow eager peers (PyTorch eager, NumPy) run (default: every "
                        "count of --threads); flatcore, JAX and the GEMM peak always run at every count")
    p.add_argument("--rerender", type=Path, metavar="JSON", default=None,
                   help="measure nothing: write the Markdown next to a saved train.json again (after a change of "
                        "the tables or goals)")
    args = harness.parse_args(p, argv, 1800.0, worker, seconds=(0.2, 0.6), gemm_n=(1024, 2048), rounds=(1, 3))
    if args.worker:
        return 0
    if args.rerender is not None:
        return rerender(args.rerender)

    import flatcore

    run = harness.prepare(
        p, args, TOOLS, TOOL_MODULES, TOOL_LABELS, "pip install -r the bench extra",
        tool_notes={"jax": "JAX threads: the process is pinned to N cores (XLA sizes its thread pool from the "
                           f"affinity mask); for 1 thread also XLA_FLAGS='{JAX_ONE_THREAD_FLAGS}'"})
    sizes, threads, tools, pin, notes = run.sizes, run.threads, run.tools, run.pin, run.notes
    gpu_device = cuda_version = None
    if any(tool in GPU_TOOLS for tool in tools):
        gpu_device, cuda_version = _cuda_device()
        if gpu_device is None:
            for tool in GPU_TOOLS:
                if tool in tools:
                    notes.append(f"{TOOL_LABELS[tool]} skipped: {cuda_version}")
                    tools.remove(tool)
    cpu_tools = [tool for tool in tools if tool not in GPU_TOOLS]
    gpu_tools = [tool for tool in tools if tool in GPU_TOOLS]
    eager_threads = [t for t in threads if args.eager_threads is None or t in args.eager_threads]
    if eager_threads != threads and any(tool in EAGER_TOOLS for tool in tools):
        notes.append(f"the eager peers ({', '.join(TOOL_LABELS[tool] for tool in tools if tool in EAGER_TOOLS)}) "
                     f"ran only at threads {eager_threads} (--eager-threads)")
    if gpu_tools:
        notes.append(f"{TOOL_LABELS[gpu_tools[0]]}: run once, on {gpu_device} (CUDA {cuda_version}), in a process "
                     f"{'pinned to' if pin else 'with'} the cores of the largest thread count ({max(threads)}); "
                     f"graphs of {CUDA_GRAPH_CHUNK} steps (and of 1 step for the rest) replayed, timed between "
                     "torch.cuda.synchronize() calls")
    report = {**harness.report_header(run, harness.versions()),
              "config": {"sizes": sizes, "threads": threads, "tools": tools, "lr": args.lr, "seconds": args.seconds,
                         "repeats": args.repeats, "rounds": args.rounds, "gemm_n": args.gemm_n, "pin": pin, "quick": args.quick,
                         "eager_threads": eager_threads, "gpu_device": gpu_device, "cuda_version": cuda_version,
                         "cuda_graph_chunk": CUDA_GRAPH_CHUNK,
                         "workloads": {s: dict(zip(("n", "width", "d"), SIZES[s])) for s in sizes},
                         "data": "flatcore.data.regression(n, d, seed=0): X uniform in the unit ball",
                         "init": "flatcore.Network.init(d, width, seed=0, scheme='pytorch')"},
              "notes": notes, "results": {}, "sanity": {}, "sanity_signal": {}}

    with tempfile.TemporaryDirectory(prefix="flatcore-bench-") as tmpdir:
        tmp = Path(tmpdir)
        reference = {}
        for s in sizes:
            n, width, d = SIZES[s]
            X, y = flatcore.data.regression(n, d, seed=0)
            net = flatcore.Network.init(d, width, seed=0, scheme="pytorch")
            np.savez(tmp / f"data-{s}.npz", X=X, y=y, W=net.W, b=net.b, v=net.v, beta=np.float64(net.beta))
            reference[s] = np.stack([flatcore.train(net, X, y, args.lr, j, record_every=j).net.params()
                                     for j in range(1, SANITY_STEPS + 1)])
            theta0 = net.params()
            report["sanity_signal"][s] = float(np.max(np.abs(reference[s][-1] - theta0)) / max(1.0, np.max(np.abs(theta0))))

        for t in threads:
            cores = harness.cores_for(run.cores_all, t)
            here = [tool for tool in cpu_tools if tool not in EAGER_TOOLS or t in eager_threads]
            block = {"cores": cores, "tools_run": here, "tools": {}, "raw": {}, "limit": {}, "fraction": {},
                     "ratios": {}}
            print(f"[{t} thread(s), cores {cores}]", file=sys.stderr, flush=True)
            failed = set()
            for rnd in range(args.rounds):
                g = _run_child("gemm", t, cores, sizes, args, tmp, pin)
                if "error" in g:
                    notes.append(f"GEMM peak at {t} threads failed: {g['error']}")
                elif g["gemm"]["gflops"] > block.get("gemm_gflops", 0.0):
                    block["gemm_gflops"] = g["gemm"]["gflops"]
                    block["raw"]["gemm"] = g
                    print(f"  gemm: {g['gemm']['gflops']:.1f} GFLOP/s", file=sys.stderr, flush=True)
                for tool in here:
                    if tool in failed:
                        continue
                    res = _run_child(tool, t, cores, sizes, args, tmp, pin)
                    if "error" in res:
                        failed.add(tool)
                        notes.append(f"{TOOL_LABELS[tool]} at {t} threads failed: {res['error']}")
                        print(f"  {tool}: FAILED {res['error']}", file=sys.stderr, flush=True)
                        continue
                    if rnd == 0:
                        _record(report, tool, res, reference, sizes)
                    _keep_best_round(block, tool, res, sizes)
                    print(f"  {tool} (round {rnd + 1}): "
                          + ", ".join(f"{s} {_fmt_rate(res['sizes'][s]['steps_per_s'])}/s" for s in sizes)
                          + f"  ({res['wall_s']:.0f} s)", file=sys.stderr, flush=True)
            fc = block["tools"].get("flatcore", {})
            for s in sizes:
                n, width, d = SIZES[s]
                if block.get("gemm_gflops"):
                    block["limit"][s] = block["gemm_gflops"] * 1e9 / (4.0 * n * width * d)
                    if s in fc:
                        block["fraction"][s] = fc[s]["steps_per_s"] / block["limit"][s]
                for tool in here:
                    if tool != "flatcore" and s in fc and s in block["tools"].get(tool, {}):
                        block["ratios"].setdefault(tool, {})[s] = (
                            fc[s]["steps_per_s"] / block["tools"][tool][s]["steps_per_s"])
            note = harness.spread_note(block["tools"], t, TOOL_LABELS)
            if note:
                notes.append(note)
            report["results"][str(t)] = block

        if gpu_tools:                                  # once: the CPU thread count does not matter to it
            t = max(threads)
            cores = harness.cores_for(run.cores_all, t)
            gpu = {"device": gpu_device, "cuda": cuda_version, "threads": t, "cores": cores, "tools": {}, "raw": {}}
            print(f"[GPU: {gpu_device}, cores {cores}]", file=sys.stderr, flush=True)
            for tool in gpu_tools:
                res = _run_child(tool, t, cores, sizes, args, tmp, pin)
                if "error" in res:
                    notes.append(f"{TOOL_LABELS[tool]} failed: {res['error']}")
                    print(f"  {tool}: FAILED {res['error']}", file=sys.stderr, flush=True)
                    continue
                _record(report, tool, res, reference, sizes)
                gpu["raw"][tool] = res
                gpu["tools"][tool] = res["sizes"]
                print(f"  {tool}: " + ", ".join(f"{s} {_fmt_rate(res['sizes'][s]['steps_per_s'])}/s" for s in sizes)
                      + f"  ({res['wall_s']:.0f} s)", file=sys.stderr, flush=True)
                sp = max((res["sizes"][s].get("spread", 0.0), s) for s in sizes)
                if sp[0] > 0.2:
                    notes.append(f"{TOOL_LABELS[tool]}: the timed repeats differed by up to {100 * sp[0]:.0f}% "
                                 f"({sp[1]}); the best repeat is reported")
            report["gpu"] = gpu

    best = {}
    for tool in cpu_tools:
        for s in sizes:
            cands = [(report["results"][str(t)]["tools"].get(tool, {}).get(s, {}).get("steps_per_s"), t)
                     for t in threads]
            cands = [c for c in cands if c[0] is not None]
            if cands:
                rate, t = max(cands)
                best.setdefault(tool, {})[s] = {"steps_per_s": rate, "threads": t}
    ratios = {}
    for tool in cpu_tools:
        for s in sizes:
            fb, pb = best.get("flatcore", {}).get(s), best.get(tool, {}).get(s)
            if fb and pb and tool != "flatcore":
                ratios.setdefault(tool, {})[s] = fb["steps_per_s"] / pb["steps_per_s"]
    best["_ratios"] = ratios
    report["best_over_threads"] = best
    report["scaling"] = _scaling(report, cpu_tools, sizes, threads)
    if "gpu" in report:                                # flatcore at its best thread count over the GPU peer
        for tool, res in report["gpu"]["tools"].items():
            for s in sizes:
                fb = best.get("flatcore", {}).get(s)
                if fb and s in res:
                    report["gpu"].setdefault("ratios", {}).setdefault(tool, {})[s] = (
                        fb["steps_per_s"] / res[s]["steps_per_s"])
    return harness.finish(report, lambda block: _goal_items(report, block), render_markdown, args.out, "train",
                          SANITY_TOL, "not the same update as flatcore")


if __name__ == "__main__":
    sys.exit(main())
