"""A worker process that runs fuzzed calls, so that a crash or a hang is counted, not fatal.

The test process sends one :class:`~reliability.spec.Call` at a time (a length-prefixed pickle on
the worker's stdin) and waits for the :class:`~reliability.spec.Outcome` with a timeout. When the
worker dies (a segfault, an abort, an allocation the kernel refuses) the outcome is a ``crash``
with the exit status and the worker's last lines of stderr (faulthandler's traceback among them);
when it does not answer in time the worker is killed and the outcome is a ``hang``. Either way the
next call gets a fresh worker.

Run as a script, this module is the worker.
"""

from __future__ import annotations

import collections
import json
import os
import pickle
import select
import signal
import struct
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
TESTS = HERE.parent
# Seconds a call may take before it counts as a hang (small inputs: real calls take milliseconds).
# A sanitizer build is about ten times slower.
TIMEOUT_S = float(os.environ.get("FLATCORE_FUZZ_TIMEOUT", "20")) * (
    10.0 if os.environ.get("FLATCORE_UNDER_SANITIZER") else 1.0
)
# The worker's address space is capped so that a size check that is missing shows up as an
# error instead of loading the machine (not under AddressSanitizer, whose shadow memory needs more).
ADDRESS_SPACE_BYTES = int(float(os.environ.get("FLATCORE_FUZZ_MEMORY_GIB", "8")) * 2**30)


# =================================================================================================
# Framing: 8-byte length, then a pickle
# =================================================================================================
def _write_frame(fd: int, payload: bytes) -> None:
    data = struct.pack("<Q", len(payload)) + payload
    view = memoryview(data)
    while view:
        n = os.write(fd, view)
        view = view[n:]


def _read_exact(fd: int, size: int, deadline: float | None) -> bytes | None:
    """``size`` bytes from ``fd``; None at end of file; TimeoutError past ``deadline``."""
    chunks, got = [], 0
    while got < size:
        if deadline is not None:
            left = deadline - time.monotonic()
            if left <= 0:
                raise TimeoutError
            ready, _, _ = select.select([fd], [], [], left)
            if not ready:
                raise TimeoutError
        chunk = os.read(fd, size - got)
        if not chunk:
            return None
        chunks.append(chunk)
        got += len(chunk)
    return b"".join(chunks)


def _read_frame(fd: int, deadline: float | None = None) -> bytes | None:
    head = _read_exact(fd, 8, deadline)
    if head is None:
        return None
    (size,) = struct.unpack("<Q", head)
    return _read_exact(fd, size, deadline)


# =================================================================================================
# The test process's side
# =================================================================================================
class Tally:
    """Every outcome, by function and kind: what tools/reliability_report.py prints."""

    def __init__(self):
        self.counts: dict[str, collections.Counter] = collections.defaultdict(collections.Counter)
        self.failures: list[dict] = []

    def add(self, entry: str, kind: str) -> None:
        self.counts[entry][kind] += 1

    def fail(self, entry: str, kind: str, call_text: str, detail: str) -> None:
        if len(self.failures) < 500:
            self.failures.append({"entry": entry, "kind": kind, "call": call_text[:2000], "detail": detail[:3000]})

    def as_dict(self) -> dict:
        return {
            "counts": {k: dict(v) for k, v in sorted(self.counts.items())},
            "failures": self.failures,
        }

    def write(self, path: str) -> None:
        Path(path).write_text(json.dumps(self.as_dict(), indent=1, sort_keys=True))


TALLY = Tally()


class Worker:
    """A worker process running calls one at a time; restarted after a crash or a hang."""

    def __init__(self, timeout_s: float = TIMEOUT_S):
        self.timeout_s = timeout_s
        self.proc: subprocess.Popen | None = None
        self.stderr_file = None
        self.starts = 0
        self.lock = threading.Lock()

    def _start(self) -> None:
        self.stderr_file = tempfile.TemporaryFile()
        env = dict(os.environ)
        env.setdefault("PYTHONFAULTHANDLER", "1")
        self.proc = subprocess.Popen(
            [sys.executable, "-u", str(Path(__file__).resolve())],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=self.stderr_file,
            env=env,
            cwd=str(TESTS.parent),
        )
        self.starts += 1
        ready = _read_frame(self.proc.stdout.fileno(), time.monotonic() + 120)
        if ready != b"ready":
            raise RuntimeError(f"the fuzz worker did not start: {self._last_words()}")

    def _last_words(self, limit: int = 3000) -> str:
        if self.stderr_file is None:
            return ""
        self.stderr_file.seek(0)
        text = self.stderr_file.read().decode(errors="replace")
        return text[-limit:]

    def _discard(self) -> None:
        if self.proc is not None:
            if self.proc.poll() is None:
                self.proc.kill()
            self.proc.wait()
            for stream in (self.proc.stdin, self.proc.stdout):
                try:
                    stream.close()
                except OSError:
                    pass
        if self.stderr_file is not None:
            self.stderr_file.close()
        self.proc = None
        self.stderr_file = None

    def run(self, call):
        """The Outcome of ``call`` (spec.Outcome), a crash or a hang included."""
        from . import spec

        with self.lock:
            if self.proc is None or self.proc.poll() is not None:
                self._discard()
                self._start()
            assert self.proc is not None
            if self.stderr_file is not None:  # keep only this call's words
                self.stderr_file.seek(0)
                self.stderr_file.truncate()
            payload = pickle.dumps(call)
            try:
                _write_frame(self.proc.stdin.fileno(), payload)
                answer = _read_frame(self.proc.stdout.fileno(), time.monotonic() + self.timeout_s)
            except TimeoutError:
                words = self._last_words()
                self._discard()
                return spec.Outcome("hang", detail=f"no answer within {self.timeout_s:.0f} s\n{words}")
            except (BrokenPipeError, OSError):
                answer = None
            if answer is None:
                self.proc.wait(timeout=30)
                code = self.proc.returncode
                how = f"killed by signal {signal.Signals(-code).name}" if code < 0 else f"exit status {code}"
                words = self._last_words()
                self._discard()
                return spec.Outcome("crash", detail=f"the worker died ({how})\n{words}")
            return pickle.loads(answer)

    def close(self) -> None:
        with self.lock:
            if self.proc is not None and self.proc.poll() is None:
                try:
                    self.proc.stdin.close()
                    self.proc.wait(timeout=10)
                except (OSError, subprocess.TimeoutExpired):
                    pass
            self._discard()


# =================================================================================================
# The worker's side
# =================================================================================================
def _worker_main() -> None:
    # The protocol owns the real stdout; anything the code under test prints goes to stderr.
    proto_out = os.dup(1)
    os.dup2(2, 1)
    sys.stdout = sys.stderr
    proto_in = sys.stdin.fileno()
    if not os.environ.get("FLATCORE_UNDER_SANITIZER"):
        import resource

        resource.setrlimit(resource.RLIMIT_AS, (ADDRESS_SPACE_BYTES, ADDRESS_SPACE_BYTES))
    sys.path.insert(0, str(TESTS))
    import faulthandler

    faulthandler.enable()
    import flatcore as fc
    from reliability import spec

    _write_frame(proto_out, b"ready")
    while True:
        frame = _read_frame(proto_in)
        if frame is None:
            return
        call = pickle.loads(frame)
        print(f"--- {call.entry} [{call.label}]", file=sys.stderr, flush=True)
        outcome = spec.execute(call)
        fc.set_num_threads(None)  # a fuzzed set_num_threads must not change the next call
        _write_frame(proto_out, pickle.dumps(outcome))


if __name__ == "__main__":
    _worker_main()
