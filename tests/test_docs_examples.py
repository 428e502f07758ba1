"""Every code example of the documentation site runs: the python blocks of docs/**/*.md and the
``>>>`` examples in the docstrings of the API reference.

Each page's blocks run in order in one namespace, in a fresh folder, as a reader would paste them
(see doc_blocks.py for the skip-test mark). The pages write their examples small; a page that
shows a full-size run is shrunk here by replacements, as test_readme.py shrinks the README's tour,
and each replacement must still apply, so that the test notices when the page changes.
"""

from __future__ import annotations

import doctest
import importlib
import inspect
import re
import shutil
from pathlib import Path

import pytest

from doc_blocks import python_blocks, run_blocks

ROOT = Path(__file__).resolve().parents[1]
DOCS = ROOT / "docs"
PAGES = sorted(p for p in DOCS.rglob("*.md") if "_build" not in p.parts and p.name != "README.md")

# Page -> (replacements, files the page expects to find, modules it needs).
SMALLER = {
    # The written reading of E3 at the quick size (24 short runs) instead of the full one.
    "reproduction.md": {'studies.study("e3")': 'studies.study("e3", quick=True)'},
    # A local in-process Dask cluster in place of the scheduler at tcp://host:8786.
    "clusters.md": {'Client("tcp://host:8786")': "Client(processes=False, n_workers=1, threads_per_worker=1)"},
}
SETUP = {
    "studies.md": {"examples/quick.toml": "examples/quick.toml"},
    "clusters.md": {"study.toml": "examples/quick.toml"},
    "reproduction.md": {"reproduction/": None},  # the folder `flatcore reproduce --out reproduction` made
}
NEEDS = {"clusters.md": ["distributed"], "guide/edge-of-stability.md": ["matplotlib"]}

# The modules whose docstrings the API reference shows (docs/api/*.rst).
API_MODULES = [
    "flatcore",
    "flatcore.network",
    "flatcore.numerics",
    "flatcore.spectrum",
    "flatcore.training",
    "flatcore.provenance",
    "flatcore.data",
    "flatcore.data.laws",
    "flatcore.data.targets",
    "flatcore.data.specs",
    "flatcore.theory",
    "flatcore.theory.weight",
    "flatcore.theory.variation",
    "flatcore.theory.stability",
    "flatcore.theory.rescaling",
    "flatcore.theory.packing",
    "flatcore.experiments",
    "flatcore.experiments.study",
    "flatcore.experiments.runner",
    "flatcore.experiments.results",
    "flatcore.experiments.store",
    "flatcore.experiments.config",
    "flatcore.experiments.executors",
    "flatcore.experiments.worker",
    "flatcore.plots",
    "flatcore.reproduce",
    "flatcore.studies",
]


def page_id(page: Path) -> str:
    return page.relative_to(DOCS).as_posix()


@pytest.fixture
def matplotlib_agg(monkeypatch):
    monkeypatch.setenv("MPLBACKEND", "Agg")
    try:
        import matplotlib
    except ImportError:
        return
    matplotlib.use("Agg")
    yield
    import matplotlib.pyplot as plt

    plt.close("all")


@pytest.mark.parametrize("page", [p for p in PAGES if python_blocks(p)], ids=page_id)
def test_page_examples_run(page, tmp_path, monkeypatch, matplotlib_agg):
    name = page_id(page)
    for module in NEEDS.get(name, []):
        pytest.importorskip(module)
    for target, source in SETUP.get(name, {}).items():
        dest = tmp_path / target
        if source is None:
            dest.mkdir(parents=True)
        else:
            dest.parent.mkdir(parents=True, exist_ok=True)
            shutil.copy(ROOT / source, dest)
    monkeypatch.chdir(tmp_path)
    run_blocks(python_blocks(page), SMALLER.get(name))


def test_every_page_with_code_is_found():
    assert {"studies.md", "guide/tour.md", "reproduction.md"} <= {page_id(p) for p in PAGES if python_blocks(p)}
    for name in [*SMALLER, *SETUP, *NEEDS]:
        assert (DOCS / name).exists(), f"docs/{name} is gone: update this test"


# Each public module's names and the API reference page that must list them.
API_PAGES = {
    "flatcore": "flatcore.rst",
    "flatcore.data": "data.rst",
    "flatcore.theory": "theory.rst",
    "flatcore.experiments": "experiments.rst",
    "flatcore.plots": "plots.rst",
    "flatcore.reproduce": "reproduce.rst",
    "flatcore.studies": "reproduce.rst",
}


@pytest.mark.parametrize("module_name", API_PAGES)
def test_api_reference_lists_every_public_name(module_name):
    module = importlib.import_module(module_name)
    page = (DOCS / "api" / API_PAGES[module_name]).read_text()
    missing = [
        name
        for name in module.__all__
        if not name.startswith("_")
        and not inspect.ismodule(getattr(module, name))
        and not re.search(rf"(?<!\w){re.escape(name)}\b", page)
    ]
    assert not missing, f"docs/api/{API_PAGES[module_name]} does not list {missing} of {module_name}"


def docstring_examples():
    finder = doctest.DocTestFinder(recurse=True, exclude_empty=True)
    seen = set()
    for module_name in API_MODULES:
        module = importlib.import_module(module_name)
        for test in finder.find(module):
            if test.examples and test.name not in seen and test.name.startswith(module_name):
                seen.add(test.name)
                yield pytest.param(test, id=test.name)


@pytest.mark.parametrize("test", list(docstring_examples()))
def test_docstring_examples_run(test, tmp_path, monkeypatch, matplotlib_agg):
    # The examples show calls, not their printed values, so they run without doctest's comparison;
    # doctest's +SKIP marks one that needs what a test machine lacks (a study's store).
    monkeypatch.chdir(tmp_path)
    namespace = dict(test.globs)
    for example in test.examples:
        if example.options.get(doctest.SKIP):
            continue
        exec(compile(example.source, f"<docstring of {test.name}>", "exec"), namespace)
