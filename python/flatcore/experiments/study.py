"""A study: a sweep of runs, declared in a TOML file or in Python.

A study file has a name, fixed settings, a grid, and settings derived from others::

    name = "curse-of-dimensionality"

    [fixed]                      # the same for every run
    distribution = "uniform_ball"
    target = "linear"
    noise = 1.0
    init = "kaiming"
    clip_grad_norm = 50

    [grid]                       # the Cartesian product of these lists
    d = [1, 2, 3]
    n = [32, 64, 128]
    seed = [0, 1, 2]
    regime = [                   # a list of tables: alternatives that set several keys at once
      { lr = 0.2, weight_decay = 0.0 },
      { lr = 0.01, weight_decay = 0.1 },
    ]

    [derived]                    # arithmetic on the other settings
    width = "4 * n"
    steps = "round(1e4 / lr)"

Every run is a :class:`~flatcore.experiments.RunConfig`; the settings are listed in
:data:`~flatcore.experiments.SETTINGS`. A grid key that is not a setting must hold a list of tables
(a *bundle*, named as the user likes). A value in the grid may be a single value. Derived
expressions may use numbers, the other settings by name, ``+ - * / // % **``, parentheses and the
functions ``round``, ``int``, ``float``, ``min``, ``max``, ``abs``, ``ceil``, ``floor``, ``sqrt``,
``log``, ``log2``, ``exp``. Runs are listed in grid order (the first key varies slowest).
"""

from __future__ import annotations

import ast
import itertools
import math
import operator
import os
import re
import sys
from collections.abc import Mapping, Sequence
from typing import Any, Optional

from .config import SETTINGS, ConfigError, RunConfig

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - Python < 3.11
    import tomli as tomllib  # type: ignore[import-not-found, unused-ignore]

__all__ = ["Study", "StudyError"]

_TOP_KEYS = ("name", "description", "fixed", "grid", "derived")


class StudyError(ValueError):
    """A study that cannot run as declared; the message names the key and, for a file, its line."""

    def __init__(self, message: str, *, key: Optional[str] = None, line: Optional[int] = None, path=None):
        where = []
        if path is not None:
            where.append(str(path))
        if line is not None:
            where.append(f"line {line}")
        prefix = ", ".join(where)
        super().__init__(f"{prefix}: {message}" if prefix else message)
        self.key = key
        self.line = line
        self.path = path


# --- where a key is written in a TOML file ------------------------------------------------------
_HEADER = re.compile(r"^\s*(\[\[?)\s*([^\]]+?)\s*\]\]?\s*(#.*)?$")
_KEY = re.compile(r"""^\s*("[^"]*"|'[^']*'|[A-Za-z0-9_\-]+)\s*=""")


def _key_lines(text: str) -> dict[tuple[str, str], int]:
    """``(table, key) -> line`` for every ``key = value`` line of a TOML text (table "" at the top).

    Enough to point at a setting; keys inside multi-line arrays or inline tables point at the
    line of the key that holds them.
    """
    lines: dict[tuple[str, str], int] = {}
    table = ""
    depth = 0  # open brackets of a multi-line value
    for number, raw in enumerate(text.splitlines(), start=1):
        line = re.sub(r"#.*$", "", raw) if '"' not in raw and "'" not in raw else raw
        if depth == 0:
            header = _HEADER.match(raw)
            if header:
                table = header.group(2).strip()
                lines.setdefault((table, ""), number)
                continue
            key = _KEY.match(line)
            if key:
                lines.setdefault((table, key.group(1).strip("\"'")), number)
        depth += line.count("[") + line.count("{") - line.count("]") - line.count("}")
        depth = max(depth, 0)
    return lines


# --- derived settings ----------------------------------------------------------------------------
_BINARY: dict[type, Any] = {
    ast.Add: operator.add,
    ast.Sub: operator.sub,
    ast.Mult: operator.mul,
    ast.Div: operator.truediv,
    ast.FloorDiv: operator.floordiv,
    ast.Mod: operator.mod,
    ast.Pow: operator.pow,
}
_UNARY: dict[type, Any] = {ast.USub: operator.neg, ast.UAdd: operator.pos}
_FUNCTIONS: dict[str, Any] = {
    "round": round,
    "int": int,
    "float": float,
    "min": min,
    "max": max,
    "abs": abs,
    "ceil": math.ceil,
    "floor": math.floor,
    "sqrt": math.sqrt,
    "log": math.log,
    "log2": math.log2,
    "exp": math.exp,
}


def _names(tree: ast.AST) -> set[str]:
    return {node.id for node in ast.walk(tree) if isinstance(node, ast.Name) and node.id not in _FUNCTIONS}


def _evaluate(node: ast.AST, values: Mapping[str, Any]):
    if isinstance(node, ast.Expression):
        return _evaluate(node.body, values)
    if isinstance(node, ast.Constant) and isinstance(node.value, (int, float)) and not isinstance(node.value, bool):
        return node.value
    if isinstance(node, ast.Name):
        if node.id not in values:
            raise ValueError(f"unknown name {node.id!r}")
        value = values[node.id]
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise ValueError(f"{node.id!r} is not a number here ({value!r})")
        return value
    if isinstance(node, ast.BinOp) and type(node.op) in _BINARY:
        return _BINARY[type(node.op)](_evaluate(node.left, values), _evaluate(node.right, values))
    if isinstance(node, ast.UnaryOp) and type(node.op) in _UNARY:
        return _UNARY[type(node.op)](_evaluate(node.operand, values))
    if (
        isinstance(node, ast.Call)
        and isinstance(node.func, ast.Name)
        and node.func.id in _FUNCTIONS
        and not node.keywords
    ):
        return _FUNCTIONS[node.func.id](*(_evaluate(a, values) for a in node.args))
    raise ValueError(
        f"{ast.unparse(node)!r} is not allowed (numbers, settings, + - * / // % **, and {', '.join(_FUNCTIONS)})"
    )


# --- the study -----------------------------------------------------------------------------------
class Study:
    """A sweep of runs: fixed settings, a grid and derived settings.

    Parameters
    ----------
    name : str
        The study's name (letters, digits, ``-``, ``_``, ``.``), under which the store lists it.
    grid : mapping, optional
        Setting -> list of values (or one value); the runs are the Cartesian product, in order
        (the first key varies slowest). A key that is not a setting names a *bundle*: a list of
        mappings, each an alternative that sets several settings together.
    fixed : mapping, optional
        Settings shared by every run.
    derived : mapping, optional
        Setting -> expression (a string) computed from the other settings of each run, e.g.
        ``{"width": "4 * n", "steps": "round(1e4 / lr)"}``.
    description : str, optional

    Raises
    ------
    StudyError
        (a ValueError) naming the key at fault, before anything runs; for a file also its line.

    Examples
    --------
    >>> study = Study("lr-sweep", grid={"lr": [0.05, 0.1], "seed": [0, 1]},
    ...               fixed={"d": 2, "n": 64, "steps": 1000}, derived={"width": "4 * n"})
    >>> len(study.runs)
    4
    """

    def __init__(
        self,
        name: str,
        grid: Optional[Mapping[str, Any]] = None,
        fixed: Optional[Mapping[str, Any]] = None,
        derived: Optional[Mapping[str, str]] = None,
        description: str = "",
        *,
        _path=None,
        _lines: Optional[Mapping[tuple[str, str], int]] = None,
    ):
        self._path = _path
        self._lines = dict(_lines or {})
        if not isinstance(name, str) or not re.fullmatch(r"[A-Za-z0-9_.\-]+", name):
            self._fail("name", "", f"must be a non-empty string of letters, digits, '-', '_' or '.'; got {name!r}")
        if not isinstance(description, str):
            self._fail("description", "", f"must be a string, got {description!r}")
        self.name = name
        self.description = description
        self.fixed = dict(self._table(fixed, "fixed"))
        self.grid = dict(self._table(grid, "grid"))
        self.derived = dict(self._table(derived, "derived"))
        self._check_keys()
        self._runs = self._expand()

    # -- construction from a file --
    @classmethod
    def from_toml(cls, path) -> Study:
        """The study declared in a TOML file; errors name the key and its line."""
        path = os.fspath(path)
        try:
            with open(path, encoding="utf-8") as fh:
                text = fh.read()
        except OSError as exc:
            raise StudyError(f"cannot read the study file: {exc.strerror}", path=path) from None
        return cls.from_toml_text(text, path=path)

    @classmethod
    def from_toml_text(cls, text: str, *, path=None) -> Study:
        """The study declared by a TOML text (``path`` only names it in errors)."""
        try:
            doc = tomllib.loads(text)
        except tomllib.TOMLDecodeError as exc:
            # tomllib gives the place only in its message before Python 3.14: "... (at line 3, column 9)"
            message, _, place = str(exc).partition(" (at ")
            found = re.match(r"line (\d+), column (\d+)\)$", place)
            line = getattr(exc, "lineno", None) or (int(found.group(1)) if found else None)
            if found:
                message += f" (column {found.group(2)})"
            raise StudyError(f"not valid TOML: {message}", line=line, path=path) from None
        lines = _key_lines(text)
        for key in doc:
            if key not in _TOP_KEYS:
                line = lines.get(("", key), lines.get((key, "")))
                raise StudyError(
                    f"unknown key {key!r} at the top level; expected {', '.join(_TOP_KEYS)} "
                    "(run settings go in [fixed], [grid] or [derived])",
                    key=key,
                    line=line,
                    path=path,
                )
        if "name" not in doc:
            stem = os.path.splitext(os.path.basename(path))[0] if path else None
            if not stem:
                raise StudyError('a study needs a name (name = "...")', key="name", path=path)
            doc["name"] = stem
        return cls(
            doc["name"],
            grid=doc.get("grid"),
            fixed=doc.get("fixed"),
            derived=doc.get("derived"),
            description=doc.get("description", ""),
            _path=path,
            _lines=lines,
        )

    # -- errors that point at the file --
    def _fail(self, key: str, table: str, message: str, *, cause=None, bundle: Optional[str] = None):
        # A setting from a bundle is written inside the bundle's list: point at the bundle's line.
        line = self._lines.get((table, bundle or key)) if self._lines else None
        if line is None and self._lines and table:
            line = self._lines.get((table, ""))
        where = f"[{table}] {key}" if table else key
        if bundle:
            where = f"[{table}] {bundle}: {key}"
        raise StudyError(f"{where}: {message}", key=key, line=line, path=self._path) from cause

    def _table(self, value, table: str) -> Mapping[str, Any]:
        if value is None:
            return {}
        if not isinstance(value, Mapping):
            self._fail(table, "", f"must be a table (mapping), got {type(value).__name__}")
        return value

    def _check_keys(self) -> None:
        seen: dict[str, str] = {}

        def claim(key, table):
            if key not in SETTINGS:
                self._fail(key, table, f"unknown setting; the settings are {', '.join(SETTINGS)}")
            if key in seen:
                self._fail(key, table, f"set twice (also in [{seen[key]}])")
            seen[key] = table

        for key in self.fixed:
            claim(key, "fixed")
        for key, values in self.grid.items():
            if key in SETTINGS:
                claim(key, "grid")
                continue
            if not self._is_bundle(values):
                self._fail(
                    key,
                    "grid",
                    f"unknown setting (the settings are {', '.join(SETTINGS)}); a grid key that is not a "
                    "setting must hold a list of tables (alternatives that set several settings)",
                )
            inner: set[str] = set()
            for alternative in values:
                inner.update(alternative)
            for inner_key in inner:
                if inner_key not in SETTINGS:
                    self._fail(key, "grid", f"bundle alternative sets {inner_key!r}, which is not a setting")
                if inner_key in seen:
                    self._fail(key, "grid", f"bundle sets {inner_key!r}, also set in [{seen[inner_key]}]")
            for inner_key in inner:
                seen[inner_key] = "grid"
        for key, expression in self.derived.items():
            claim(key, "derived")
            if not isinstance(expression, str):
                self._fail(key, "derived", f'must be an expression in a string, e.g. "4 * n"; got {expression!r}')
            try:
                ast.parse(expression, mode="eval")
            except SyntaxError:
                self._fail(key, "derived", f"cannot parse the expression {expression!r}")

    @staticmethod
    def _is_bundle(values) -> bool:
        return (
            isinstance(values, Sequence)
            and not isinstance(values, str)
            and len(values) > 0
            and all(isinstance(v, Mapping) for v in values)
        )

    def _axes(self) -> list[tuple[str, list[dict[str, Any]]]]:
        """One axis per grid key: the list of partial settings it takes, in order."""
        axes = []
        for key, values in self.grid.items():
            if key not in SETTINGS:
                axes.append((key, [dict(v) for v in values]))
            elif isinstance(values, (list, tuple)) and not (key == "record" and values and isinstance(values[0], str)):
                if len(values) == 0:
                    self._fail(key, "grid", "is an empty list: the study would have no runs")
                axes.append((key, [{key: v} for v in values]))
            else:
                axes.append((key, [{key: values}]))
        return axes

    def _derive(self, settings: dict[str, Any]) -> dict[str, Any]:
        pending = dict(self.derived)
        while pending:
            progressed = False
            for key, expression in list(pending.items()):
                tree = ast.parse(expression, mode="eval")
                needs = _names(tree)
                if needs & set(pending):
                    continue
                try:
                    value = _evaluate(tree, settings)
                except (ValueError, TypeError, ArithmeticError) as exc:
                    self._fail(key, "derived", f"{expression!r}: {exc}", cause=exc)
                settings[key] = value
                del pending[key]
                progressed = True
            if not progressed:
                self._fail(
                    next(iter(pending)), "derived", f"the expressions depend on each other: {', '.join(pending)}"
                )
        return settings

    def _expand(self) -> list[RunConfig]:
        axes = self._axes()
        runs: list[RunConfig] = []
        seen: set[str] = set()
        for combination in itertools.product(*(alternatives for _, alternatives in axes)):
            settings: dict[str, Any] = dict(self.fixed)
            for part in combination:
                settings.update(part)
            settings = self._derive(settings)
            try:
                config = RunConfig.from_mapping(settings)
                config.check_buildable()
            except ConfigError as exc:
                table, bundle = self._table_of(exc.key)
                detail = exc.reason
                if exc.key in self.derived:
                    detail += f" (from {self.derived[exc.key]!r})"
                    if "integer" in exc.reason:
                        detail += "; wrap the expression in round(...) to round it"
                if not table:  # a required setting that no table gives: point at the first table
                    first = next((t for t in ("fixed", "grid", "derived") if (t, "") in self._lines), None)
                    raise StudyError(
                        f"{exc.key}: {detail}; set it in [fixed], [grid] or [derived]",
                        key=exc.key,
                        line=self._lines.get((first, "")) if first else None,
                        path=self._path,
                    ) from exc
                self._fail(exc.key, table, detail + self._context(settings, exc.key), cause=exc, bundle=bundle)
            if config.run_id not in seen:  # the same run listed twice is run once
                seen.add(config.run_id)
                runs.append(config)
        return runs

    def _table_of(self, key: str) -> tuple[str, Optional[str]]:
        """The table that sets ``key`` ("" when none does) and the bundle that holds it, if one does."""
        if key in self.fixed:
            return "fixed", None
        if key in self.derived:
            return "derived", None
        if key in self.grid:
            return "grid", None
        for bundle, values in self.grid.items():
            if bundle not in SETTINGS and any(key in v for v in values):
                return "grid", bundle
        return "", None

    def _context(self, settings: Mapping[str, Any], key: str) -> str:
        swept = [k for k in self.grid if k in SETTINGS and k != key]
        if not swept:
            return ""
        return " (in the run with " + ", ".join(f"{k} = {settings[k]!r}" for k in swept if k in settings) + ")"

    # -- what users read --
    @property
    def runs(self) -> list[RunConfig]:
        """The study's runs, each once, in grid order."""
        return list(self._runs)

    @property
    def swept(self) -> list[str]:
        """The settings that vary between runs, in grid order."""
        out = []
        for key in SETTINGS:
            values = {repr(getattr(r, key)) for r in self._runs}
            if len(values) > 1:
                out.append(key)
        return out

    def as_dict(self) -> dict[str, Any]:
        """The declaration as plain data (what the store keeps)."""
        return {
            "name": self.name,
            "description": self.description,
            "fixed": self.fixed,
            "grid": self.grid,
            "derived": self.derived,
        }

    def __len__(self) -> int:
        return len(self._runs)

    def __repr__(self) -> str:
        return f"Study({self.name!r}, {len(self._runs)} runs, swept: {', '.join(self.swept) or 'nothing'})"

    def run(
        self, db="flatcore.db", *, workers=None, threads_per_run=None, client=None, retry_failed=False, progress=True
    ):
        """Run the study into a store (see :func:`flatcore.experiments.run_study`)."""
        from .runner import run_study

        return run_study(
            self,
            db,
            workers=workers,
            threads_per_run=threads_per_run,
            client=client,
            retry_failed=retry_failed,
            progress=progress,
        )
