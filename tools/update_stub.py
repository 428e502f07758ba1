"""Regenerate python/flatcore/_core.pyi, the type stub of the compiled module.

Run after changing a binding (cpp/bindings/), with flatcore built and importable:

    pip install pybind11-stubgen==3.0.0 ruff && python tools/update_stub.py

tests/test_stub.py checks that the committed stub still describes the compiled module.
"""

from __future__ import annotations

import re
import subprocess
import sys
import tempfile
from pathlib import Path

STUB = Path(__file__).resolve().parents[1] / "python" / "flatcore" / "_core.pyi"


def main() -> int:
    """Write the stub; return the exit code."""
    with tempfile.TemporaryDirectory() as tmp:
        command = ["pybind11_stubgen", "flatcore._core", "-o", tmp, "--numpy-array-wrap-with-annotated"]
        subprocess.run([sys.executable, "-m", *command], check=True)
        text = (Path(tmp) / "flatcore" / "_core.pyi").read_text()
    # The build's own facts (its flags, its instruction-set variant) are typed, not recorded:
    # the stub describes every variant on every machine.
    text = re.sub(r"^(build_flags|variant): str = .*$", r"\1: str", text, flags=re.M)
    text = re.sub(r"^_choice: .*\n", "", text, flags=re.M)
    STUB.write_text(text)
    subprocess.run([sys.executable, "-m", "ruff", "check", "--fix", "--quiet", str(STUB)], check=True)
    subprocess.run([sys.executable, "-m", "ruff", "format", "--quiet", str(STUB)], check=True)
    print(f"wrote {STUB}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
