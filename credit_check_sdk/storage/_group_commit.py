"""Appends from many threads committed together: one transaction (one ``fsync``) per batch.

:class:`GroupCommit` is the group commit every journal adapter (the SQLite file,
the spool) uses for :class:`~credit_check_sdk.storage._journal_core.PreparedRecord` s.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from typing import TYPE_CHECKING

from .._exceptions import JournalError
from .._fork import ShortLock

if TYPE_CHECKING:
    from ._journal_core import PreparedRecord

__all__ = ["GATHER", "GroupCommit"]

#: Longest a leader waits for the callers of the last batch to queue again (seconds):
#: under a millisecond, far below any check's time budget, about what a cached check
#: takes to run on a busy core.
GATHER = 0.0005


class GroupCommit:
    """Appends from many threads, committed together: one transaction (one ``fsync``) per batch.

    :meth:`submit` queues prepared records. When no commit is under way the
    submitting thread leads one: it takes everything queued so far and calls
    ``write(batch)`` with ``lock`` held, which must set each record's ``error``
    (when that record alone cannot be stored) and leave the others stored, or
    raise for the batch. Threads that queue meanwhile wait on a condition, not
    on ``lock``: when the commit holding their records ends they return at once
    (they do not queue behind the next leader's ``fsync``), and one of those
    still waiting leads the next batch. ``lock`` is the adapter's write lock (a
    :class:`~credit_check_sdk._fork.ShortLock`, so a fork waits for a commit);
    waiting threads hold no lock a fork would wait for. ``path`` names the
    journal in errors.

    >>> written = []
    >>> group = GroupCommit(ShortLock(), written.extend, path="journal.sqlite3")
    >>> from credit_check_sdk.storage._journal_core import prepare_record
    >>> p = prepare_record({"type": "check", "id": "c1",
    ...                     "checked_at": "2026-11-29T08:00:00+08:00"}, None)
    >>> group.submit([p]); [q.record["id"] for q in written]
    ['c1']
    """

    def __init__(
        self, lock: ShortLock, write: Callable[[list[PreparedRecord]], None], *, path: str
    ) -> None:
        self._write = write
        self._path = path
        self.reset(lock)

    def reset(self, lock: ShortLock) -> None:
        """Forget the queue and take new locks (in a forked child: the parent's threads,
        whose records the queue held, do not exist there)."""
        self.lock = lock
        self.queue: list[PreparedRecord] = []
        # Held only to queue, to hand over the lead and to wait: never across SQLite work.
        guard = threading.Lock()
        self._turn = threading.Condition(guard)
        # The leader gathering a batch waits on this one (same lock): an arrival wakes it
        # alone, not every thread waiting for its commit.
        self._arrived = threading.Condition(guard)
        self._leading = False
        self._gathering = False
        self._calls = 0  # submit() calls with records in the queue
        self._last_calls = 0  # ... in the last batch committed

    def submit(self, prepared: list[PreparedRecord]) -> None:
        """Commit ``prepared`` (with whatever else is queued); raise the first record's error."""
        if not prepared:
            return
        turn = self._turn
        with turn:
            # Queued at once, so one batch holds them all: the last one's fate is theirs.
            self.queue.extend(prepared)
            self._calls += 1
            if self._gathering:
                self._arrived.notify()
            last = prepared[-1]
            while not last.done:
                if self._leading:
                    turn.wait()
                    continue
                self._leading = True
                self._gather()
                batch, self.queue = self.queue, []
                self._last_calls, self._calls = self._calls, 0
                turn.release()
                try:
                    with self.lock:
                        self._commit(batch)
                finally:
                    turn.acquire()
                    self._leading = False
                    turn.notify_all()
        for p in prepared:
            if p.error is not None:
                raise p.error

    def _gather(self) -> None:
        """With the turn held: when the last batch came from more callers than are queued
        now, wait up to :data:`GATHER` seconds for them (they are finishing their next
        check), so that one ``fsync`` serves them all. A caller alone never waits."""
        if self._calls >= self._last_calls:
            return
        self._gathering = True
        try:
            deadline = time.monotonic() + GATHER
            while self._calls < self._last_calls:
                left = deadline - time.monotonic()
                if left <= 0:
                    break
                self._arrived.wait(left)
        finally:
            self._gathering = False

    def _commit(self, batch: list[PreparedRecord]) -> None:
        try:
            self._write(batch)
        except JournalError as exc:
            for p in batch:
                if p.error is None:
                    p.error = exc
        except BaseException as exc:
            # KeyboardInterrupt and the like: no record of this batch is stored;
            # every waiter learns so, then the interrupt goes on.
            for p in batch:
                if p.error is None:
                    p.error = JournalError(
                        f"journal {self._path}: write interrupted: {exc!r}", path=self._path
                    )
                p.done = True
            raise
        for p in batch:
            p.done = True
