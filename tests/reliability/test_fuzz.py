"""Fuzz every public function and method with bad and extreme arguments (QUALITY.md, reliability).

For each entry of :mod:`reliability.catalog` and each example, hypothesis draws a small problem and
valid arguments, then leaves them valid or spoils one argument (:mod:`reliability.kinds`). The
call runs in a worker process (:mod:`reliability.runner`), so a crash or a hang is a reported
failure with the call that caused it, not the end of the run. The call must:

- return finite numbers of the documented shape, with no RuntimeWarning (NumPy's overflow and
  invalid-value warnings are not a way to report a problem), and ``converged`` never beside a
  non-finite value; or
- raise ValueError, TypeError, MemoryError or FloatingPointError (plus an entry's documented
  exceptions, e.g. sharpness's RuntimeError when the solver did not converge), with a message
  that names the argument when the argument was wrong, and without the binding layer's or NumPy's
  internal wording ("incompatible function arguments", "truth value of an array", ...).

A valid call must return; a wrong argument must be refused; the same numbers in another layout
must give the same bits. Examples per entry: the hypothesis profile's ``max_examples`` (ci: 30),
or ``FLATCORE_FUZZ_EXAMPLES``.
"""

from __future__ import annotations

import os
import re

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from . import spec
from .catalog import ENTRIES, R, build_call, valid_values
from .kinds import EITHER, REFUSE, SAME, USER, draw_ctx
from .runner import TALLY

EXAMPLES = int(os.environ.get("FLATCORE_FUZZ_EXAMPLES", "0")) or settings().max_examples


def _short(value, limit=160):
    with np.printoptions(threshold=8, precision=4, linewidth=200):
        text = repr(value)
    return text if len(text) <= limit else text[:limit] + "..."


def describe(call) -> str:
    args = [_short(a) for a in call.args] + [f"{k}={_short(v)}" for k, v in call.kwargs.items()]
    target = call.target if isinstance(call.target, str) else _short(call.target, 300)
    return f"{call.entry} [{call.label}]: {target}({', '.join(args)})"


def _names_in(message: str, names) -> bool:
    for name in names:
        if re.search(r"(?<![A-Za-z0-9_])" + re.escape(name) + r"(?![A-Za-z0-9_])", message):
            return True
    return False


def judge(entry, mutation, names, outcome, unused=False, nan_ok=False):
    """(class, failure) for one outcome: class for the tally ("returned", "ValueError", "crash", ...),
    failure None or (kind, detail). ``unused``: the spoiled argument plays no part in this call."""
    expect = "valid" if mutation is None else mutation.expect
    if expect == REFUSE and unused:
        expect = EITHER
    if outcome.status in ("crash", "hang"):
        return outcome.status, (outcome.status, outcome.detail)
    if outcome.status == "setup":
        return "harness", ("harness", f"the suite could not build the call: {outcome.message}\n{outcome.traceback}")
    if outcome.status == "returned":
        bad = [leaf for leaf in outcome.leaves if leaf.nonfinite and not nan_ok]
        if bad:
            where = ", ".join(f"{leaf.path or 'result'} ({leaf.nonfinite} non-finite)" for leaf in bad[:5])
            return "returned", ("non-finite", f"a non-finite value was returned: {where}")
        odd = [leaf for leaf in outcome.leaves if leaf.kind == "complex" or leaf.type_name.startswith("ndarray[")]
        if odd:
            return "returned", ("bad-type", f"returned {odd[0].type_name} at {odd[0].path or 'the top'}")
        if outcome.warnings:
            return "returned", ("warning", "returned with warnings: " + "; ".join(outcome.warnings[:3]))
        if expect == REFUSE:
            return "returned", ("accepted", "a wrong argument was accepted (the call returned)")
        if expect == USER:
            return "returned", ("accepted", "the user's object raised, but the call returned")
        return "returned", None
    # raised
    category, message = outcome.exc_category, outcome.message
    where = f"{outcome.exc_type}: {message}\n{outcome.traceback[-1500:]}"
    if category.startswith("result-unreadable"):
        return category, ("unreadable", where)
    if expect == USER:
        if outcome.exc_type == "UserError":
            return "UserError", None
        if category in ("ValueError", "TypeError") and _names_in(message, names):
            return category, None  # refused for a reason of its own before the user's object was used
        return category, ("swallowed", f"the user's exception did not reach the caller: {where}")
    leaks = [m for m in spec.LEAKY_MESSAGES if m in message]
    if leaks and not (names and _names_in(message, names)):
        return category, ("leak", f"internal wording {leaks[0]!r} reached the caller: {where}")
    if category not in spec.ALLOWED and category not in entry.raises:
        return category, ("leak", f"{outcome.exc_type} is not one of {spec.ALLOWED + entry.raises}: {where}")
    if category in entry.raises and outcome.exc_type in ("KeyError",) and not _names_in(message, (*names, "column")):
        return category, ("unnamed", where)
    if expect == "valid" and category not in entry.raises:
        return category, ("refused-valid", f"a valid call raised: {where}")
    if category == "MemoryError" and not re.search(r"GiB|TiB|allocate|memory", message):
        return category, ("unclear", f"a MemoryError without a size: {where}")
    if expect in (REFUSE, EITHER, SAME) and category in ("ValueError", "TypeError") and not _names_in(message, names):
        return category, ("unnamed", f"the message names none of {names}: {where}")
    return category, None


@pytest.mark.parametrize("name", list(ENTRIES))
@settings(max_examples=EXAMPLES)
@given(data=st.data())
def test_fuzz(name, data, worker):
    entry = ENTRIES[name]
    c = draw_ctx(data.draw, **entry.sizes)
    values = valid_values(entry, c)
    params = {p.name: p for p in entry.params}
    mutable = [p.name for p in entry.params if p.kind.labels(c, values.get(p.name))]
    which = data.draw(st.sampled_from([None, *mutable]), label="argument to spoil")
    passed = {k: v for k, v in values.items() if not k.startswith("_")}
    mutation, names = None, ()
    if which is not None:
        kind = params[which].kind
        base = values[which] if which in values else kind.valid(c)
        label = data.draw(st.sampled_from(kind.labels(c, base)), label=f"{which} mutation")
        mutation = kind.mutate(label, c, base)
        passed[which] = mutation.value
        names = tuple(mutation.names) or (which, *kind.names)
    call = build_call(entry, passed, "valid" if mutation is None else f"{which}:{mutation.label}")
    outcome = worker.run(call)
    unused = which is not None and entry.unused is not None and entry.unused(passed, which)
    nan_ok = entry.nan_ok is not None and entry.nan_ok(passed)
    klass, failure = judge(entry, mutation, names, outcome, unused, nan_ok)
    if failure is None and outcome.status == "returned" and entry.check is not None:
        try:
            entry.check(R(outcome), c, passed)
        except AssertionError as exc:
            failure = ("shape", f"the result is not what the documentation says: {exc}")
    if failure is None and mutation is not None and mutation.expect == SAME:
        reference = worker.run(build_call(entry, {**passed, which: base}, f"{which}:reference"))
        same = (reference.status == outcome.status == "returned" and reference.digest == outcome.digest) or (
            reference.status == outcome.status == "raised" and reference.exc_category == outcome.exc_category
        )
        if not same:
            failure = (
                "differs",
                f"the same numbers in another form gave {outcome.status} {outcome.exc_type} "
                f"where the plain value gave {reference.status} {reference.exc_type} {reference.message[:300]}",
            )
    if failure is None:
        TALLY.add(entry.name, klass)
    else:
        TALLY.add(entry.name, "FAIL " + failure[0])
        TALLY.fail(entry.name, failure[0], describe(call), failure[1])
    assert failure is None, f"{failure[0]}: {describe(call)}\n{failure[1]}"


# -------------------------------------------------------------------------------------------------
# The catalog covers the public API
# -------------------------------------------------------------------------------------------------
# Classes whose instances flatcore returns: their constructors take what flatcore gives them and
# are not part of the surface a user calls (their properties are read on every result the fuzz
# returns). Protocols describe what a user's own object offers and have no code to fuzz.
RESULT_TYPES = {
    "flatcore.NeuronSide",
    "flatcore.NeuronSides",
    "flatcore.TrainResult",
    "flatcore.History",
    "flatcore.EigenResult",
    "flatcore.SpectralDensity",
    "flatcore.data.MarginalTail",
    "flatcore.data.Dataset",
    "flatcore.theory.PopulationG",
    "flatcore.theory.StabilityInequality",
    "flatcore.theory.StabilityBound",
}
PROTOCOLS = {"flatcore.data.Law", "flatcore.data.IsotropicLaw", "flatcore.data.Target"}
# Studies read and write files and start processes: their bad input (settings, TOML, stores) is
# checked by tests/test_study.py and tests/test_study_cli.py instead of this in-process fuzz.
FILES_AND_PROCESSES = {"flatcore.Study", "flatcore.run_study", "flatcore.load"}
# PyTorch interop takes and makes torch modules (an optional dependency): its refusals of what it
# does not support are checked by tests/test_interop.py.
FILES_AND_PROCESSES |= {"flatcore.from_torch", "flatcore.Network.to_torch"}
# Methods that call the public ones, or that say what the object is rather than compute
CALL_DUNDERS = ("__call__", "__getitem__", "__len__", "__contains__", "__matmul__")


def public_callables():
    """Every public function, constructor and method of flatcore, by dotted name."""
    import inspect

    import flatcore

    names = []
    for module in (flatcore, flatcore.data, flatcore.theory):
        for name in module.__all__:
            obj = getattr(module, name)
            full = f"{module.__name__}.{name}"
            if inspect.ismodule(obj) or not callable(obj):
                continue
            if not inspect.isclass(obj):
                names.append(full)
                continue
            if full in PROTOCOLS:
                continue
            if full not in RESULT_TYPES:
                names.append(full)
            for attr in dir(obj):
                if attr.startswith("_") and attr not in CALL_DUNDERS:
                    continue
                owner = next((k for k in obj.__mro__ if attr in vars(k)), None)
                if owner is None or owner in (object, tuple) or owner.__module__ == "typing":
                    continue
                value = getattr(obj, attr)
                if isinstance(inspect.getattr_static(obj, attr), property) or not callable(value):
                    continue
                names.append(f"{full}.{attr}")
    return sorted(set(names))


def test_catalog_covers_the_public_api():
    """A public name without a catalog entry fails here: add it to reliability/catalog.py."""
    missing = [
        name
        for name in public_callables()
        if name not in ENTRIES and not any(name == s or name.startswith(s + ".") for s in FILES_AND_PROCESSES)
    ]
    assert not missing, f"public callables the fuzz does not cover: {missing}"
    stale = [name for name in ENTRIES if name not in public_callables()]
    assert not stale, f"catalog entries for names that are not public (any more): {stale}"


# -------------------------------------------------------------------------------------------------
# The harness itself: a crash and a hang are caught, reported with the call, and survived
# -------------------------------------------------------------------------------------------------
def test_the_worker_reports_a_crash_and_a_hang_and_goes_on():
    from .runner import Worker

    w = Worker(timeout_s=3)
    try:
        crash = w.run(spec.Call("crash", "ctypes.string_at", (0,), {}, "segfault"))
        assert crash.status == "crash" and "SEGV" in crash.detail, crash
        assert "--- crash [segfault]" in crash.detail  # the worker's last words name the call
        hang = w.run(spec.Call("hang", "time.sleep", (60,), {}, "sleep"))
        assert hang.status == "hang", hang
        fine = w.run(spec.Call("fine", "flatcore.loss_scale", ("mse",), {}, "valid"))
        assert fine.status == "returned" and fine.leaves[0].kind == "float", fine
        assert w.starts == 3
    finally:
        w.close()
