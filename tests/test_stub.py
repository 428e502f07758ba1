"""The committed type stub python/flatcore/_core.pyi describes the compiled module as built.

Regenerate it with tools/update_stub.py after changing a binding. The check compares what both
declare: the module's names, each class's methods and properties, and every function's parameters
(names, kinds and which have defaults), read from the signatures pybind11 writes into docstrings.
"""

from __future__ import annotations

import ast
import inspect
from pathlib import Path

import pytest

from flatcore import _core

STUB = Path(_core.__file__).with_name("_core.pyi")
if not STUB.exists():  # an in-place build of a source tree: the stub sits beside the sources
    STUB = Path(__file__).resolve().parents[1] / "python" / "flatcore" / "_core.pyi"


def parameters(fn: ast.FunctionDef) -> list[tuple[str, str, bool]]:
    """(name, kind, has a default) of each parameter, self excluded."""
    a = fn.args
    positional = a.posonlyargs + a.args
    defaults = [False] * (len(positional) - len(a.defaults)) + [True] * len(a.defaults)
    out = [(p.arg, "positional", d) for p, d in zip(positional, defaults)]
    out += [(p.arg, "keyword", d is not None) for p, d in zip(a.kwonlyargs, a.kw_defaults)]
    if a.vararg:
        out.append((a.vararg.arg, "varargs", False))
    if a.kwarg:
        out.append((a.kwarg.arg, "varkw", False))
    return [p for p in out if p[0] != "self"]


def runtime_signatures(obj) -> list[list[tuple[str, str, bool]]]:
    """The parameters of each overload of a pybind11 function, from its docstring."""
    doc = inspect.getdoc(obj) or ""
    name = obj.__name__
    sigs = []
    for line in doc.splitlines():
        line = line.strip()
        if line.split("(", 1)[0].split(". ", 1)[-1] != name:
            continue
        text = line.split(". ", 1)[-1] if line[0].isdigit() else line
        try:
            tree = ast.parse(f"def {text}: ...")
        except SyntaxError:  # a default pybind11 could only print as <...>
            tree = ast.parse("def " + text.replace("<", "'").replace(">", "'") + ": ...")
        sigs.append(parameters(tree.body[0]))
    return sigs


def stub_tree():
    """The stub's top-level declarations by name."""
    tree = ast.parse(STUB.read_text())
    names = {}
    for node in tree.body:
        if isinstance(node, (ast.FunctionDef, ast.ClassDef)):
            names[node.name] = node
        elif isinstance(node, ast.AnnAssign) and isinstance(node.target, ast.Name):
            names[node.target.id] = node
        elif isinstance(node, ast.Assign):
            names.update({t.id: node for t in node.targets if isinstance(t, ast.Name)})
    return names


def public(names):
    """The names that do not start with an underscore."""
    return {n for n in names if not n.startswith("_")}


def test_the_stub_exists_and_parses():
    assert STUB.exists(), f"no stub at {STUB}: run tools/update_stub.py"
    assert "HessianOperator" in stub_tree()


def test_the_stub_declares_every_name_of_the_module():
    assert public(stub_tree()) == public(vars(_core)), "run tools/update_stub.py"


@pytest.mark.parametrize("name", sorted(public(vars(_core))))
def test_each_declaration_matches_the_module(name):
    node = stub_tree()[name]
    obj = getattr(_core, name)
    if isinstance(node, ast.FunctionDef):
        assert parameters(node) in runtime_signatures(obj), f"{name}: run tools/update_stub.py"
    elif isinstance(node, ast.ClassDef):
        members = {m.name: m for m in node.body if isinstance(m, ast.FunctionDef)}
        members.update({m.target.id: m for m in node.body if isinstance(m, ast.AnnAssign)})
        assert public(members) == public(vars(obj)), f"{name}: run tools/update_stub.py"
        for member, sub in members.items():
            if member.startswith("_") and member != "__init__":
                continue
            attr = inspect.getattr_static(obj, member)
            if isinstance(sub, ast.FunctionDef) and not isinstance(attr, property) and callable(attr):
                sigs = runtime_signatures(getattr(obj, member))
                assert parameters(sub) in sigs, f"{name}.{member}: run tools/update_stub.py"
