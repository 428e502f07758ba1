"""The thread tuner of the training loop (cpp/src/thread_tuner.hpp), driven with made-up step times.

``train`` times its steps and moves its thread count among a ladder of counts (at most
``n_threads``) to the fastest, so that on a shared machine it is never much slower than one thread
while a quiet machine keeps its speed. The tuner sees only the durations it is given, so these
tests simulate machines (quiet, a neighbour arriving and leaving, 16 cores half busy) without a
clock: each step takes what the model says for the count the tuner chose. That results do not
depend on the count, even when it changes every step, is checked in test_training.py.
"""

from __future__ import annotations

import pytest

from flatcore import _core


def simulate(tuner, step_time, until: float, start: float = 0.0):
    """Steps from simulated time `start` to `until`: each takes step_time(threads, t); returns
    (the end time, [(t, threads, seconds)] per step)."""
    t, steps = start, []
    while t < until:
        threads = tuner.threads
        dt = step_time(threads, t)
        tuner.record(dt)
        steps.append((t, threads, dt))
        t += dt
    return t, steps


def quiet(one: float, speedup: float):
    """A quiet 2-core machine: a step takes `one` seconds on 1 thread, `one / speedup` on 2."""
    return lambda threads, t: one if threads == 1 else one / speedup


def busy_after(arrive: float, one: float, speedup: float, slice_s: float, leave: float = float("inf")):
    """`quiet` until `arrive`, then (until `leave`) a busy neighbour: a 2-thread step costs a scheduler slice."""
    calm = quiet(one, speedup)
    return lambda threads, t: slice_s if (threads > 1 and arrive <= t < leave) else calm(threads, t)


def mostly(steps) -> int:
    """The count that ran for most of the time of `steps`."""
    time: dict[int, float] = {}
    for _, threads, dt in steps:
        time[threads] = time.get(threads, 0.0) + dt
    return max(time, key=time.__getitem__)


def overhead(steps, best) -> float:
    """Time of `steps` over the time at the best count for each step, less 1."""
    return sum(dt for _, _, dt in steps) / sum(best(t) for t, _, _ in steps) - 1.0


@pytest.mark.parametrize(
    ("max_threads", "rungs"), [(1, [1]), (2, [2, 1]), (3, [3, 2, 1]), (16, [16, 11, 8, 6, 4, 3, 2, 1])]
)
def test_ladder(max_threads, rungs):
    """The counts tried: from max_threads down by about 1/sqrt(2) to 1; the start is the top."""
    tuner = _core._ThreadTuner(max_threads)
    assert tuner.rungs == rungs
    assert tuner.threads == max_threads


@pytest.mark.parametrize(("one", "speedup"), [(40e-6, 1.4), (0.28e-3, 1.6), (5e-3, 1.6), (0.1, 1.9)])
def test_quiet_machine_keeps_its_speed(one, speedup):
    """On a quiet machine the probes of fewer threads cost under 1% of the time over a minute, and
    the count ends at the top."""
    tuner = _core._ThreadTuner(2)
    _, steps = simulate(tuner, quiet(one, speedup), 60.0)
    assert overhead(steps, lambda t: one / speedup) < 0.01
    assert mostly(steps) == 2


@pytest.mark.parametrize(("one", "slice_s"), [(40e-6, 8e-3), (0.28e-3, 15e-3), (3.4e-3, 25e-3)])
def test_neighbour_arrives_and_leaves(one, slice_s):
    """A busy neighbour from t = 5 s to 25 s makes a 2-thread step cost a scheduler slice: the count
    drops to 1 within 0.1 s, costs at most 3% over 1 thread while the neighbour stays, and is back
    at 2 at most max_interval (2 s; or 100 probe lengths if longer) and a probe after it leaves."""
    model = busy_after(5.0, one, 1.6, slice_s, leave=25.0)
    tuner = _core._ThreadTuner(2)
    _, before = simulate(tuner, model, 5.0)
    assert mostly(before) == 2
    end, during = simulate(tuner, model, 25.0, start=5.0)
    first_one = next(t for t, threads, _ in during if threads == 1)
    assert first_one - 5.0 < 0.1
    settled = [s for s in during if s[0] > first_one]
    assert overhead(settled, lambda t: one) < 0.03
    _, after = simulate(tuner, model, end + 3.0, start=end)
    back = next(t for t, threads, _ in after if threads == 2)
    assert back - end < max(2.0, 100 * slice_s) + 0.1
    assert mostly([s for s in after if s[0] > back]) == 2


def test_beside_neighbour_from_the_start():
    """Started beside a neighbour, the first steps (about a window) are lost, not more."""
    one, slice_s = 0.28e-3, 15e-3
    tuner = _core._ThreadTuner(2)
    _, steps = simulate(tuner, busy_after(0.0, one, 1.6, slice_s), 1.0)
    first_one = next(t for t, threads, _ in steps if threads == 1)
    assert first_one < 0.05
    assert overhead(steps, lambda t: one) < 0.25  # one up-probe and the first window in 1 s


def test_slower_steps_at_one_thread_do_not_probe_more_threads():
    """At 1 thread, steps that get slower (more load) start no probe of more threads: only the
    periodic probes try 2 threads, which cost a slice each here."""
    one, slice_s = 0.28e-3, 15e-3

    def model(threads, t):
        base = one * (3.0 if int(t * 10) % 2 else 1.0)  # every 0.1 s the load changes
        return slice_s if threads > 1 else base

    tuner = _core._ThreadTuner(2)
    _, steps = simulate(tuner, model, 30.0)
    probes = sum(1 for j in range(1, len(steps)) if steps[j][1] == 2 and steps[j - 1][1] == 1)
    assert probes <= 30.0 / 2.0 + 6  # every max_interval, plus the first doubling intervals


@pytest.mark.parametrize("free", [8, 4, 3])
def test_sixteen_cores_partly_busy(free):
    """16 threads on a machine with `free` free cores, where any count above that runs 3x slower
    than `free` threads (a plateau: 16 and 11 threads are as slow as each other): the tuner
    settles on `free` threads within a second and keeps within 5% of their speed."""
    work = 0.04

    def model(threads, t):
        return 3.0 * work / free if threads > free else work / threads

    tuner = _core._ThreadTuner(16)
    _, steps = simulate(tuner, model, 20.0)
    settled = next(t for t, threads, _ in steps if threads == free)
    assert settled < 1.0
    assert mostly([s for s in steps if s[0] > 1.0]) == free
    assert overhead([s for s in steps if s[0] > 1.0], lambda t: work / free) < 0.05


def test_a_pause_makes_a_probe_due():
    """Time passed between two loops (pause) counts toward the next probe: after a long pause the
    next window probes at once, so a loop resumed on a changed machine adapts within a window."""
    one, slice_s = 0.28e-3, 15e-3
    tuner = _core._ThreadTuner(2)
    _, steps = simulate(tuner, quiet(one, 1.6), 10.0)  # long enough for the interval to reach its maximum
    assert mostly(steps) == 2
    tuner.pause(5.0)
    _, steps = simulate(tuner, busy_after(0.0, one, 1.6, slice_s), 0.1)
    assert any(threads == 1 for _, threads, _ in steps[:5])


def test_settings_are_checked():
    with pytest.raises(ValueError, match="margin"):
        _core._ThreadTuner(2, margin=0.5)
    with pytest.raises(ValueError, match="slowdown"):
        _core._ThreadTuner(2, slowdown=0.0)
    with pytest.raises(ValueError, match="interval"):
        _core._ThreadTuner(2, first_interval_s=3.0, max_interval_s=1.0)
    with pytest.raises(ValueError, match="n_threads"):
        _core._ThreadTuner(0)
