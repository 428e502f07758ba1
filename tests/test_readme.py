"""The README's tour runs as written, at a smaller size (fewer neurons and steps)."""

from __future__ import annotations

from pathlib import Path

import pytest

from doc_blocks import python_blocks

README = Path(__file__).resolve().parents[1] / "README.md"


def test_the_tour_runs():
    pytest.importorskip("pandas")
    pytest.importorskip("tqdm")
    blocks = python_blocks(README)
    assert blocks, "the README has no python block"
    tour = blocks[0].code
    smaller = {
        "width=1024": "width=48",
        "steps=20_000": "steps=300",
        "n=512": "n=128",
        "progress=True": "progress=False",
    }
    for big, small in smaller.items():
        assert big in tour, f"the tour no longer says {big!r}; update this test"
        tour = tour.replace(big, small)
    namespace: dict = {}
    exec(compile(tour, str(README), "exec"), namespace)
    result = namespace["result"]
    assert result.steps_run == 600  # two pieces of 300 steps
    assert {"sharpness", "test_mse", "clean_mse", "rare_fraction"} <= set(result.history.columns)
