"""The cyclic garbage collector paused while a batch of checks is built: :func:`collector_paused`.

``must_check_many(1,000)`` holds every check it prepares (profile, inputs,
record, decision: some forty containers each) until the one durable write at
its end. Each 700 such allocations start a collection that walks them all
again, finds nothing to free (the checks make no reference cycles: what they
drop, reference counting frees at once) and moves them to an older
generation, whose growth then sets off a full collection of the whole heap
(pydantic's schemas included) about every other call: 10–35 ms per call
plus 25–95 ms every other call, a third of the call, spent finding nothing.

Paused for the call, the collector walks only what outlives it (the
decisions, the cached profiles), once, at its first collection after the
call, instead of every check's temporaries several times over.

Why it is safe to do in a library, with threads:

- the pause is bounded by the call (its ``timeout``) and ends in a
  ``finally``; reference counting goes on freeing everything that is not in a
  cycle, in every thread, so only other threads' *cyclic* garbage waits, for
  that long at most (the checks themselves leave a hundred-odd objects of
  cyclic garbage per call: the HTTP client's per-request state);
- calls from several threads overlap safely: the first one in pauses the
  collector, the last one out resumes it (a count under a lock); should calls
  overlap without a break, the first to come or go once the collector has
  been off :data:`LONGEST_PAUSE` seconds resumes it, and it stays on until a
  moment when no call is inside (a busy server is never left without it);
- an application that runs with the collector disabled keeps it disabled:
  the collector is resumed only when this module paused it;
- a child forked during a pause (from another thread) gets the collector
  back on: the thread that would resume it does not exist there;
- ``gc.collect()`` still works during the pause; nothing is frozen
  (``gc.freeze()`` is the application's decision, not the SDK's).

``AsyncCreditChecker.must_check_many`` does not pause it: while it awaits the
platform, the event loop runs the application's other tasks, which are not
the SDK's to decide for.

>>> import gc
>>> with collector_paused():
...     gc.isenabled()
False
>>> gc.isenabled()
True
"""

from __future__ import annotations

import gc
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager

from ._fork import after_fork_in_child

__all__ = ["LONGEST_PAUSE", "collector_paused"]

#: Seconds the collector stays paused at most while calls overlap without a break.
LONGEST_PAUSE = 2.0


class _Pause:
    __slots__ = ("depth", "lock", "paused", "since")

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.depth = 0  # calls inside, in every thread
        self.paused = False  # whether this module disabled the collector
        self.since = 0.0  # when it did (monotonic)

    def resume_if_long(self) -> None:
        # Called with the lock held.
        if self.paused and time.monotonic() - self.since > LONGEST_PAUSE:
            self.paused = False
            gc.enable()


_state = _Pause()


def _after_fork_in_child() -> None:
    # The threads that would end their pauses were not copied into the child.
    global _state
    if _state.paused:
        gc.enable()
    _state = _Pause()


after_fork_in_child(_after_fork_in_child)


@contextmanager
def collector_paused() -> Iterator[None]:
    """The cyclic garbage collector off inside, back on after the last overlapping use.

    >>> with collector_paused():
    ...     pass
    """
    state = _state
    with state.lock:
        if state.depth == 0:
            state.paused = gc.isenabled()
            if state.paused:
                state.since = time.monotonic()
                gc.disable()
        else:
            state.resume_if_long()
        state.depth += 1
    try:
        yield
    finally:
        with state.lock:
            # max(): a child forked inside the pause starts from a new state.
            state.depth = max(0, state.depth - 1)
            if state.depth == 0 and state.paused:
                state.paused = False
                gc.enable()
            else:
                state.resume_if_long()
