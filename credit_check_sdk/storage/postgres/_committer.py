"""Group commit over several lanes: batches of a process commit side by side, each caller
waits at most the time its check has left.

A writer's records reach the database through :class:`Committer`. Each caller
queues its records and waits at most its budget (what remains of its check's
time); the commit threads of the process (one per *lane*, each a
:class:`~credit_check_sdk._runner.Runner`) take everything queued so far and
commit it as one transaction (group commit). Each lane is a hash chain of its
own with its own head (:class:`~._append.ChainWriter`), so while one lane's
transaction waits for the server's WAL flush, another lane's transaction is
already on its way, and the server flushes their commits together, as it does
for separate connections. Queued records go to the lowest-numbered idle lane:
one thread appending alone always writes lane 0.

A caller whose budget runs out leaves, and its records go to the local spool;
should the transaction it left still commit them, the spool's copy is
recognised and skipped when it drains (same id, same record).

A lane about to commit fewer callers' records than the last batch held waits a
moment for the others (the gather rule of
:class:`~credit_check_sdk.storage._group_commit.GroupCommit`, at most
:data:`~credit_check_sdk.storage._group_commit.GATHER`): they are finishing their
next check, and one commit for all of them costs the client and the server far
less than one each. A caller alone never waits.

Why the callers do not commit in their own threads (as the SQLite journal's
group commit does): a caller blocked in a socket read cannot leave at its
deadline. ``statement_timeout`` does not cover a commit waiting for the server's
WAL flush, nor a network gone silent; a commit thread can be left behind, a
caller's own thread cannot.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from functools import partial

from ..._exceptions import JournalError
from ..._fork import ShortLock
from ..._runner import Run, Runner
from .._group_commit import GATHER
from .._journal_core import PreparedRecord

__all__ = ["Committer"]

logger = logging.getLogger(__name__)


class _Ticket:
    """One caller's records on their way through the committer.

    ``done`` is held from the start and released once, when the commit holding the
    records ended (a bare lock: the cheapest wait and wake-up Python has).
    """

    __slots__ = ("abandoned", "deadline", "done", "error", "finished", "prepared", "taken")

    def __init__(self, prepared: list[PreparedRecord], deadline: float) -> None:
        self.prepared = prepared
        self.deadline = deadline
        self.done = threading.Lock()
        self.done.acquire()
        self.taken = False  # in a batch being written
        self.finished = False
        self.abandoned = False  # the caller left (its budget ran out)
        self.error: JournalError | None = None


class Committer:
    """Group commit with a budget: callers wait at most theirs, ``lanes`` threads commit.

    ``write(lane, batch, budget)`` stores a batch in lane ``lane`` (or raises for the
    whole of it); it is called from one thread per lane at a time.

    >>> written = []
    >>> committer = Committer(lambda lane, batch, budget: written.extend(batch), lanes=2)
    >>> from credit_check_sdk.storage._journal_core import prepare_record
    >>> p = prepare_record({"type": "check", "id": "c1",
    ...                     "checked_at": "2026-11-29T08:00:00+08:00"}, None)
    >>> committer.submit([p], budget=5.0), [q.record["id"] for q in written]
    (True, ['c1'])
    >>> committer.stop()
    """

    def __init__(
        self,
        write: Callable[[int, list[PreparedRecord], float], None],
        *,
        lanes: int = 1,
        name: str = "credit-check-journal",
    ) -> None:
        self._write = write
        self.lanes = max(1, int(lanes))
        self._init()
        self._runners = [
            Runner(
                f"{name}-{lane}",
                partial(self._work, lane=lane),
                on_child=self._init if lane == 0 else None,
            )
            for lane in range(self.lanes)
        ]

    def _init(self) -> None:
        # Per process: the queue of a parent's threads does not exist in a child, and
        # every lane is idle there (its thread starts on the first submit).
        self._lock = ShortLock()
        self._queue: list[_Ticket] = []
        self._idle: set[int] = set(range(self.lanes))
        # A lane sleeps on its wake lock (held while no wake is pending); a submit that
        # picks an idle lane releases it, once: ``_signalled`` says a release is pending
        # (so that none releases it twice), the lane clears it when it takes the wake.
        self._wakes = [threading.Lock() for _ in range(self.lanes)]
        for wake in self._wakes:
            wake.acquire()
        self._signalled = [False] * self.lanes
        self._stopping = False
        # The gather rule: callers in the last batch taken, and a lane waiting for as many
        # to queue (woken by each arrival; its own lock, not held across any other).
        self._last_calls = 0
        self._gathering = 0
        self._arrived = threading.Condition(threading.Lock())

    def _signal(self, lane: int) -> None:
        with self._lock:
            if self._signalled[lane]:
                return
            self._signalled[lane] = True
        self._wakes[lane].release()

    def submit(self, prepared: list[PreparedRecord], *, budget: float) -> bool:
        """Have ``prepared`` committed within ``budget`` seconds: ``True`` when it was
        (a record that failed alone raises its error after), ``False`` when the budget
        ran out first (nothing is queued then when ``budget`` is spent already). Raises
        the batch's error when the commit failed as a whole.
        """
        if budget <= 0:
            return False
        ticket = _Ticket(prepared, time.monotonic() + budget)
        signal = False
        with self._lock:
            self._queue.append(ticket)
            # A lane gathering takes this ticket with the others (it is told below): no
            # other lane is woken for it. (A gathering lane takes the queue under this
            # lock after it stops counting itself: the ticket is queued before that.)
            lane = min(self._idle) if self._idle and not self._gathering else -1
            if lane >= 0:
                # A busy lane takes what is queued when its commit ends: only an idle
                # one needs waking.
                self._idle.discard(lane)
                signal = not self._signalled[lane]
                self._signalled[lane] = True
        if lane >= 0:
            runner = self._runners[lane]
            if not runner.running:
                runner.start()
            if signal:
                self._wakes[lane].release()
        elif self._gathering:
            with self._arrived:
                self._arrived.notify_all()
        ticket.done.acquire(timeout=budget)
        with self._lock:
            if not ticket.finished:
                ticket.abandoned = True
                if not ticket.taken:
                    self._queue.remove(ticket)
                return False
        if ticket.error is not None:
            raise ticket.error
        for p in prepared:
            if p.error is not None:
                raise p.error
        return True

    def _work(self, run: Run, lane: int) -> None:
        wake = self._wakes[lane]
        while not run.stopping and not self._stopping:
            if 0 < len(self._queue) < self._last_calls:
                self._gather()
            with self._lock:
                batch, self._queue = self._queue, []
                if batch:
                    self._last_calls = len(batch)
                for ticket in batch:
                    ticket.taken = True
                if batch:
                    self._idle.discard(lane)
                else:
                    self._idle.add(lane)
            if not batch:
                # Until a submit picks this lane (or a minute passes: look again).
                if wake.acquire(timeout=60.0):
                    with self._lock:
                        self._signalled[lane] = False
                continue
            self._commit(lane, batch)

    def _gather(self) -> None:
        """Wait up to :data:`GATHER` seconds for as many callers to queue as the last batch
        held (they are finishing their next check): one commit then serves them all."""
        deadline = time.monotonic() + GATHER
        with self._arrived:
            self._gathering += 1
            try:
                while len(self._queue) < self._last_calls and not self._stopping:
                    left = deadline - time.monotonic()
                    if left <= 0:
                        break
                    self._arrived.wait(left)
            finally:
                self._gathering -= 1

    def _commit(self, lane: int, batch: list[_Ticket]) -> None:
        prepared = [p for ticket in batch for p in ticket.prepared]
        budget = max(t.deadline for t in batch) - time.monotonic()
        error: JournalError | None = None
        try:
            self._write(lane, prepared, budget)
        except JournalError as exc:
            error = exc
        except Exception as exc:  # a bug must not leave callers waiting: they spool
            logger.exception("journal: the commit failed")
            error = JournalError(f"journal: the commit failed: {exc!r}")
        with self._lock:
            # Idle again before its callers learn of the commit: a caller's next append
            # finds this lane free (one thread alone keeps to lane 0).
            self._idle.add(lane)
            for ticket in batch:
                ticket.error = error
                ticket.finished = True
                ticket.done.release()
                if ticket.abandoned and error is None:
                    logger.info(
                        "journal: %d record(s) committed after their caller's budget ran"
                        " out; their spooled copy will be skipped",
                        len(ticket.prepared),
                    )

    def stop(self, timeout: float = 2.0) -> None:
        """Stop the threads (records queued meanwhile are not written: their callers spool)."""
        self._stopping = True
        for lane in range(self.lanes):
            self._signal(lane)  # out of its sleep, to see the stop
        for runner in self._runners:
            runner.stop(timeout / self.lanes)
