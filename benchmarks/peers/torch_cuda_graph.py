"""The torch_manual step in float64 on the GPU, replayed from CUDA graphs.

The data and the parameters live in static CUDA tensors that the steps update in place. After a
warm-up of three steps on a side stream (cuBLAS handles and workspaces, the caching allocator:
the warm-up the CUDA graphs documentation asks for before a capture), two graphs are captured
on that same stream (the libraries' handles and workspaces are kept per stream): one of `chunk`
steps and one of a single step. ``steps(k)`` replays the first k // chunk times and the second
k % chunk times, so it does exactly k steps, then synchronises; ``reset`` copies the initial
parameters back and synchronises, so the timing (around ``steps``) holds the GPU work only.
"""

from __future__ import annotations

import json
import subprocess
import sys

from . import torch_manual

CHUNK = 100  # steps per captured graph


class GD(torch_manual.GD):
    device = "cuda"

    def __init__(self, X, y, W, b, v, beta, lr, threads, chunk: int = CHUNK):
        super().__init__(X, y, W, b, v, beta, lr, threads)
        torch = self.torch
        self.chunk = chunk
        self.side = torch.cuda.Stream()
        self.side.wait_stream(torch.cuda.current_stream())
        with torch.cuda.stream(self.side):
            super().steps(3)
        torch.cuda.current_stream().wait_stream(self.side)
        self.graph_chunk = self._capture(chunk)
        self.graph_one = self._capture(1)
        self.reset()

    def _capture(self, k):
        graph = self.torch.cuda.CUDAGraph()
        with self.torch.cuda.graph(graph, stream=self.side):
            super().steps(k)  # recorded, not run
        return graph

    def reset(self):
        super().reset()
        self.torch.cuda.synchronize()

    def steps(self, k):
        for _ in range(k // self.chunk):
            self.graph_chunk.replay()
        for _ in range(k % self.chunk):
            self.graph_one.replay()
        self.torch.cuda.synchronize()

    def extra(self):
        return {"graph_chunk_steps": self.chunk}

    def info(self):
        return {
            **super().info(),
            "cuda_device": self.torch.cuda.get_device_name(),
            "torch_cuda": self.torch.version.cuda,
        }


def available(timeout: float = 300.0):
    """(name of the CUDA device PyTorch sees, its CUDA version), or (None, why not).

    Asked in a subprocess, so that the calling process never loads torch or initialises CUDA.
    """
    code = (
        "import json, torch\n"
        "ok = torch.cuda.is_available()\n"
        "print(json.dumps([torch.cuda.get_device_name(0) if ok else None, torch.version.cuda]))"
    )
    try:
        proc = subprocess.run(
            [sys.executable, "-c", code], check=False, capture_output=True, text=True, timeout=timeout
        )
        if proc.returncode != 0:
            tail = " | ".join((proc.stderr or proc.stdout).strip().splitlines()[-3:])
            return None, f"checking for CUDA failed (exit code {proc.returncode}: {tail})"
        name, cuda = json.loads(proc.stdout.strip().splitlines()[-1])
    except (OSError, subprocess.SubprocessError, ValueError, IndexError) as exc:
        return None, f"checking for CUDA failed ({type(exc).__name__}: {exc})"
    if not name:
        build = f"torch built for CUDA {cuda}" if cuda else "a CPU-only torch build"
        return None, f"torch.cuda.is_available() is False ({build}; no usable CUDA device)"
    return name, cuda
