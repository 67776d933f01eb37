"""What keeps the SDK safe across ``fork()``: a quiet moment to fork at, and locks a child can use.

``fork()`` copies the memory of the calling process but only the calling
thread. A lock that another thread held at that instant stays held in the
child for ever, and SQLite's own C mutexes (its allocator's, each
connection's) are such locks: a child forked while an SDK thread was inside
SQLite hangs at its first ``sqlite3.connect``. Restarting threads in the
child cannot undo that, so the parent must not fork at such a moment.

The SDK therefore does every SQLite call, and holds every short lock, inside a
*region* (:func:`region`, :class:`ShortLock`). A hook registered with
:func:`os.register_at_fork` waits, before each fork, until no region is in
progress, and lets no new one start until the fork is done; after it the
parent carries on and the child starts with nothing held. The wait is short
(regions are single statements or transactions, never a network request:
a background thread waiting for the platform holds none), and bounded by
:data:`FORK_WAIT` so that a fork never hangs on the SDK.

Locks that are held across a network request (one sync pass at a time, say)
are :class:`LongLock`: the fork does not wait for them, and a forked child gets
a fresh one. Code inside a region never waits for a ``LongLock`` (it could be
waiting for a thread that is itself waiting to enter a region).

>>> lock = ShortLock()
>>> with lock:
...     in_region()
True
>>> in_region()
False
"""

from __future__ import annotations

import itertools
import logging
import os
import threading
import time
import weakref
from collections.abc import Callable
from types import TracebackType
from typing import Any

__all__ = ["FORK_WAIT", "LongLock", "ShortLock", "after_fork_in_child", "in_region", "region"]

logger = logging.getLogger(__name__)

#: Seconds a fork waits for the SDK's regions in progress to end. Past it the fork
#: goes ahead (with a warning): a fork must never hang on the SDK.
FORK_WAIT = 30.0


class _Gate:
    """Counts the threads inside a region; the fork hook waits for zero and closes the gate.

    Re-entrant per thread: a region entered inside a region of the same thread
    is free, so nested SDK calls never wait for a fork that waits for them.
    """

    def __init__(self) -> None:
        self.cond = threading.Condition(threading.Lock())
        self.active = 0  # threads inside a region
        self.closed = False  # a fork is waiting or in progress: no region may start
        self.local = threading.local()
        self.held = False  # the hook holds cond's lock across the fork

    def enter(self) -> None:
        local = self.local
        depth = getattr(local, "depth", 0)
        if depth:
            local.depth = depth + 1
            return
        with self.cond:
            while self.closed:
                self.cond.wait()
            self.active += 1
        local.depth = 1

    def exit(self) -> None:
        local = self.local
        local.depth -= 1
        if local.depth:
            return
        with self.cond:
            self.active -= 1
            if self.closed and not self.active:
                self.cond.notify_all()

    def depth(self) -> int:
        return int(getattr(self.local, "depth", 0))


_gate = _Gate()


def in_region() -> bool:
    """Whether the calling thread is inside a region (for assertions and tests)."""
    return _gate.depth() > 0


class region:  # noqa: N801 - used like a function: ``with region():``
    """A stretch of SQLite work (or of holding a short lock) that a fork waits for.

    >>> with region():
    ...     in_region()
    True
    """

    __slots__ = ()

    def __enter__(self) -> None:
        _gate.enter()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        _gate.exit()


class ShortLock:
    """A lock held briefly (no network, no wait for a :class:`LongLock`); a fork waits for it.

    Holding it is being inside a region, so at a fork no ``ShortLock`` is held
    and a child can use every one of them as it finds them.

    >>> lock = ShortLock()
    >>> lock.acquire(); lock.locked(); lock.release()
    True
    True
    """

    __slots__ = ("__weakref__", "_lock")

    def __init__(self) -> None:
        self._lock = threading.Lock()

    def acquire(self, blocking: bool = True, timeout: float = -1) -> bool:
        """Enter a region and take the lock; ``False`` (and no region) when not taken."""
        _gate.enter()
        try:
            taken = self._lock.acquire(blocking, timeout)
        except BaseException:
            _gate.exit()
            raise
        if not taken:
            _gate.exit()
        return taken

    def release(self) -> None:
        """Release the lock and leave the region."""
        self._lock.release()
        _gate.exit()

    def locked(self) -> bool:
        """Whether some thread holds the lock."""
        return self._lock.locked()

    def __enter__(self) -> bool:
        return self.acquire()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.release()


_LONG_LOCKS: weakref.WeakSet[LongLock] = weakref.WeakSet()


class LongLock:
    """A lock that may be held across a network request; a forked child gets a new one.

    A fork does not wait for it. What it guards must be safe to start over in
    the child (a sync pass, a round of re-checks): the thread that held it does
    not exist there. Never wait for one inside a region.

    >>> lock = LongLock()
    >>> with lock:
    ...     lock.locked()
    True
    """

    __slots__ = ("__weakref__", "_holds", "_lock", "_reentrant")

    def __init__(self, *, reentrant: bool = False) -> None:
        self._reentrant = reentrant
        self._lock: threading.Lock | threading.RLock = self._new()
        self._holds = 0  # acquisitions not yet released (changed with the lock held)
        _LONG_LOCKS.add(self)

    def _new(self) -> threading.Lock | threading.RLock:
        return threading.RLock() if self._reentrant else threading.Lock()

    def _reset(self) -> None:
        self._lock = self._new()
        self._holds = 0

    def acquire(self, blocking: bool = True, timeout: float = -1) -> bool:
        """Take the lock (as :meth:`threading.Lock.acquire`)."""
        taken = self._lock.acquire(blocking, timeout)
        if taken:
            self._holds += 1
        return taken

    def release(self) -> None:
        """Release the lock."""
        self._holds -= 1
        self._lock.release()

    def locked(self) -> bool:
        """Whether some thread holds the lock."""
        return self._holds > 0

    def __enter__(self) -> bool:
        return self.acquire()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.release()


# Insertion-ordered; a bound method's entry (its object held weakly, and its function)
# leaves when its object goes away.
_CHILD_HOOKS: dict[int, tuple[weakref.ref[Any], Callable[[Any], None]] | Callable[[], None]] = {}
_hook_ids = itertools.count()


def after_fork_in_child(hook: Callable[[], None]) -> None:
    """Call ``hook`` in every forked child, after the gate and the long locks are reset.

    A bound method is held weakly (its object may go away); a plain function
    for good. Exceptions are logged, never raised into the child.

    >>> after_fork_in_child(lambda: None)
    """
    key = next(_hook_ids)
    if hasattr(hook, "__self__") and hasattr(hook, "__func__"):
        # Not a weakref.WeakMethod: at interpreter exit its callback may run after the
        # WeakMethod itself is gone, and prints an AttributeError ("Exception ignored").
        # The callback binds the dict, not the module global (None by then).
        def forget(_ref: object, hooks: dict[int, Any] = _CHILD_HOOKS, key: int = key) -> None:
            hooks.pop(key, None)

        _CHILD_HOOKS[key] = (weakref.ref(hook.__self__, forget), hook.__func__)
    else:
        _CHILD_HOOKS[key] = hook


def _before_fork() -> None:
    gate = _gate
    if gate.depth():
        # The forking thread is inside a region itself (a fork from an SDK callback):
        # waiting would wait for ourselves.
        logger.warning(
            "fork() from inside the SDK's own work: not waiting for its SQLite calls to end"
        )
        return
    gate.cond.acquire()
    gate.closed = True
    deadline = time.monotonic() + FORK_WAIT
    while gate.active:
        left = deadline - time.monotonic()
        if left <= 0:
            logger.warning(
                "fork(): %d SDK thread(s) still inside SQLite after %g s; forking anyway, "
                "the child may hang at its first SQLite call",
                gate.active,
                FORK_WAIT,
            )
            break
        gate.cond.wait(left)
    # Held across the fork: no thread is half-way through the gate's bookkeeping.
    gate.held = True


def _after_fork_in_parent() -> None:
    gate = _gate
    if not gate.held:
        return
    gate.held = False
    gate.closed = False
    gate.cond.notify_all()
    gate.cond.release()


def _after_fork_in_child() -> None:
    global _gate
    depth = _gate.depth()
    _gate = _Gate()
    if depth:
        _gate.active = 1  # this thread is still inside its region(s)
        _gate.local.depth = depth
    for lock in list(_LONG_LOCKS):
        lock._reset()
    for entry in list(_CHILD_HOOKS.values()):
        try:
            if isinstance(entry, tuple):
                obj = entry[0]()
                if obj is not None:
                    entry[1](obj)
            else:
                entry()
        except Exception:
            logger.exception("after-fork reset failed in the child")


os.register_at_fork(
    before=_before_fork,
    after_in_parent=_after_fork_in_parent,
    after_in_child=_after_fork_in_child,
)
