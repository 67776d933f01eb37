"""Background upload of journal records to the platform (``POST /v1/records:batch``).

At least once, never lost: a record leaves the ``pending`` state only when the
platform's answer names it (accepted, duplicate or rejected). Anything else
(an exception from ``send``, a hang, an answer that leaves ids out) keeps the
records pending on disk, to be sent again later; the platform is idempotent
by record id, so a resend shows up there as a duplicate, never twice.

One daemon thread per process does the sending (a :class:`~credit_check_sdk._runner.Runner`,
started again in a forked child). Processes (and instances) sharing one journal
claim each batch before sending it, so that they do not all send the same
records (:class:`~credit_check_sdk.storage.UploadQueue`). The caller of
:meth:`Uploader.notify` never waits for the network and never sees an
exception; :meth:`Uploader.flush` and :meth:`Uploader.close` wait at most
their ``timeout``.

>>> from credit_check_sdk._models import RecordsReceipt
>>> import tempfile
>>> from credit_check_sdk.storage import open_storage
>>> storage = open_storage(data_dir=tempfile.mkdtemp())
>>> def send(records):
...     return RecordsReceipt(accepted=[r["id"] for r in records], duplicates=[], rejected=[])
>>> up = Uploader(storage.uploads, send)
>>> _ = storage.journal.append({"type": "check", "id": "c1",
...                             "checked_at": "2026-11-29T08:00:00+08:00"})
>>> up.notify()
>>> up.flush(timeout=5)
0
>>> up.close(); storage.close()
"""

from __future__ import annotations

import atexit
import logging
import random
import threading
import time
import weakref
from collections.abc import Callable
from typing import Any

from ._exceptions import JournalError, RateLimitedError
from ._fork import ShortLock
from ._ids import mask_ids_in
from ._models import RecordsReceipt
from ._runner import Run, Runner
from .storage import UploadQueue, owner_name

__all__ = ["Uploader"]

logger = logging.getLogger(__name__)

Send = Callable[[list[dict[str, Any]]], RecordsReceipt]

#: The platform takes at most this many records per request (records:batch maxItems).
MAX_BATCH = 1000

#: Seconds between a notify() and the upload it asks for, so that the records of
#: checks made meanwhile go in the same request (flush() does not wait for it).
LINGER = 0.5

#: How often flush() looks again at records another process is sending.
_FLUSH_POLL = 0.05
# Walks over the queue in one pass (see Uploader._pass): the first, then one from the
# start for each that sent something, to take records committed behind its cursor.
_WALKS = 3


#: Seconds a process's exit waits to upload what is pending (and for a send in flight,
#: whose records it would otherwise leave claimed, to be sent again after the lease).
EXIT_WAIT = 2.0

_LIVE: weakref.WeakSet[Uploader] = weakref.WeakSet()


def _at_exit() -> None:
    for uploader in list(_LIVE):
        uploader._leave(EXIT_WAIT)


try:
    # Called by threading._shutdown(): at interpreter exit and at the end of a
    # multiprocessing child, before daemon threads are dropped (atexit covers only
    # the first). The stdlib's concurrent.futures uses the same hook.
    threading._register_atexit(_at_exit)  # type: ignore[attr-defined]
except (AttributeError, RuntimeError):  # pragma: no cover - other Pythons
    atexit.register(_at_exit)


#: Who claims records: host and process, plus a token that differs after every fork.
_owner_name = owner_name


class Uploader:
    """Uploads pending journal records in the background, oldest first.

    ``send`` posts one batch (≤ ``batch_size`` records) and returns the
    platform's :class:`RecordsReceipt`, or raises. After a failure the next
    attempt waits a random time up to ``min_backoff · 2ⁿ`` (capped at
    ``max_backoff``; "full jitter"), and never less than a 429's
    ``Retry-After``. ``on_rejected(id, detail)`` is called for each record
    the platform refuses; the record stays in the journal, marked ``rejected``.
    ``after_pass()`` (the checker's disclosures, 双公示) runs in the same thread after
    each pass that sent its records or had none to send, so that a :meth:`flush`
    covers it too; it returns how many items it delivered, and an exception from it
    backs off like a failed upload.
    A :meth:`notify` is answered ``linger`` seconds later (0.5 by default), so
    that the records of the checks made meanwhile go in the same request;
    :meth:`flush` does not wait for it.

    Processes sharing the journal do not send the same records: each batch is
    claimed first (:meth:`UploadQueue.claim <credit_check_sdk.storage.UploadQueue.claim>`)
    for ``lease`` seconds, longer than a send may take; a process killed while
    sending leaves its claim to expire, and then another takes the records.
    ``queue`` is the storage's upload queue (``storage.uploads``; the SQLite
    ``Journal`` is one).

    >>> up = Uploader(storage.uploads, send, interval=5.0)  # doctest: +SKIP
    >>> storage.journal.append(record); up.notify()        # doctest: +SKIP
    """

    def __init__(
        self,
        queue: UploadQueue,
        send: Send,
        *,
        interval: float = 5.0,
        batch_size: int = MAX_BATCH,
        max_backoff: float = 300.0,
        min_backoff: float = 1.0,
        lease: float = 120.0,
        linger: float = LINGER,
        on_rejected: Callable[[str, str], None] | None = None,
        after_pass: Callable[[], int] | None = None,
    ) -> None:
        if not 1 <= batch_size <= MAX_BATCH:
            raise ValueError(f"batch_size must be 1..{MAX_BATCH}, not {batch_size}")
        if interval <= 0 or min_backoff <= 0 or max_backoff < min_backoff:
            raise ValueError("interval and min_backoff must be > 0 and max_backoff >= min_backoff")
        if lease <= 0 or linger < 0:
            raise ValueError("lease must be > 0 and linger >= 0")
        self._queue = queue
        self._send = send
        self._interval = interval
        self._batch_size = batch_size
        self._max_backoff = max_backoff
        self._min_backoff = min_backoff
        self._lease = lease
        self._linger = linger
        self._on_rejected = on_rejected
        self._after_pass = after_pass
        self._accepted = 0
        self._duplicates = 0
        self._rejected = 0
        self._failures_total = 0
        self._last_error: str | None = None
        self._closed = False
        self._init_runtime()
        self._runner = Runner("credit-check-uploader", self._work, on_child=self._init_runtime)
        _LIVE.add(self)

    def _init_runtime(self) -> None:
        """Per-process state (again in a forked child): claim owner, waiters, backoff."""
        self._owner = _owner_name()
        self._lock = ShortLock()
        self._waiters: list[threading.Event] = []
        self._failures = 0  # consecutive
        self._not_before = 0.0  # monotonic time before which nothing is sent
        self._hard_not_before = 0.0  # the platform's Retry-After; flush() waits for it too
        self._notified_at: float | None = None  # the first notify() since the last pass

    # --- public ---------------------------------------------------------------------

    def notify(self) -> None:
        """Say that a record was appended; returns at once and never raises.

        >>> up.notify()  # doctest: +SKIP
        """
        if self._closed:
            return
        self._runner.start()
        if self._notified_at is None:
            # The first notify since the last pass starts the linger; the records of
            # later ones go in the same pass, without waking the thread again.
            self._notified_at = time.monotonic()
            self._runner.wake()

    def flush(self, timeout: float = 10.0) -> int:
        """Upload pending records now; return how many are still pending.

        The sending happens in the worker thread; this waits at most
        ``timeout`` seconds for it, even when the network hangs. A pending
        ``Retry-After`` from the platform is honoured (then fewer or no
        records are sent). Records another process is sending are waited for
        (they are marked when the platform has answered it, or taken over
        when its claim expires). The count is of the records that were in the
        journal when the flush began: others append meanwhile in a shared
        journal. Returns -1 when the journal cannot be read.

        >>> up.flush(timeout=10)  # doctest: +SKIP
        0
        """
        deadline = time.monotonic() + max(0.0, timeout)
        try:
            upto = self._queue.head_position()
        except JournalError:
            logger.exception("uploader: cannot read the journal")
            return -1
        while not self._closed:
            done = threading.Event()
            with self._lock:
                self._waiters.append(done)
            self._runner.start()
            self._runner.wake()
            if not done.wait(max(0.0, deadline - time.monotonic())):
                break
            if self._failures:
                break  # the platform fails: the records wait for the backoff
            try:
                left = self._queue.pending_count(upto, claimed_by_others=self._owner)
            except JournalError:
                break
            remaining = deadline - time.monotonic()
            if not left or remaining <= 0:
                break
            # Pending records another process claimed: it is sending them, or it has
            # ended without (its claims are released now when it ran on this host,
            # else the next pass takes them once they have expired).
            try:
                self._queue.release_ended(self._owner)
            except JournalError as exc:
                logger.debug("uploader: cannot look at other claims: %s", exc)
            time.sleep(min(_FLUSH_POLL, remaining))
        return self._pending_count(upto)

    def close(self, timeout: float = 5.0) -> None:
        """A last best-effort flush, then stop the thread; returns within ``timeout``.

        A ``send`` that hangs is left to the daemon thread; its records stay
        pending in the journal (claimed until the lease ends). The journal
        itself is not closed.

        >>> up.close(timeout=5)  # doctest: +SKIP
        """
        if self._closed:
            return
        deadline = time.monotonic() + max(0.0, timeout)
        # Flush with most of the time; keep a little to let the thread exit.
        self.flush(timeout=max(0.0, timeout * 0.9))
        self._closed = True
        if not self._runner.stop(max(0.0, deadline - time.monotonic())):
            logger.warning("uploader: still sending at close; unsent records stay pending")
            return
        try:
            # What this process claimed and did not send is for the others now.
            self._queue.release(self._owner)
        except JournalError as exc:
            logger.debug("uploader: claims not released at close: %s", exc)
        _LIVE.discard(self)

    def _leave(self, timeout: float) -> None:
        """The process is ending (and this uploader was not closed): upload what is
        pending and let a send in flight finish, within ``timeout``, then give up this
        process's claims. Never raises.

        Runs before ``atexit`` handlers, so a ``checker.close()`` registered there finds
        the uploader closed and the records sent.
        """
        if self._closed:
            return
        try:
            if self._runner.running:
                self.flush(timeout=timeout)
            self._closed = True
            if self._runner.stop(max(0.1, timeout / 4)):
                self._queue.release(self._owner)
        except Exception as exc:  # at exit: nothing to raise into
            logger.debug("uploader: not finished at exit: %s", exc)
        finally:
            self._closed = True

    @property
    def rejected_count(self) -> int:
        """How many records the platform rejected since this uploader was made."""
        return self._rejected

    def stats(self) -> dict[str, Any]:
        """Counters since creation: accepted, duplicates, rejected, failures, consecutive failures,
        last error (masked) and seconds until the next attempt.

        >>> up.stats()["rejected"]  # doctest: +SKIP
        0
        """
        return {
            "accepted": self._accepted,
            "duplicates": self._duplicates,
            "rejected": self._rejected,
            "failures": self._failures_total,
            "consecutive_failures": self._failures,
            "last_error": self._last_error,
            "retry_in": max(0.0, self._not_before - time.monotonic()),
        }

    # --- worker -----------------------------------------------------------------------

    def _work(self, run: Run) -> None:
        while not run.stopping:
            now = time.monotonic()
            with self._lock:
                flushing = bool(self._waiters)
            # A flush overrides our own backoff and the linger, not the platform's Retry-After.
            if flushing:
                not_before = self._hard_not_before
            else:
                not_before = self._not_before
                noted = self._notified_at
                if noted is not None:
                    # Records appended within the linger go in one request.
                    not_before = max(not_before, noted + self._linger)
            if now < not_before:
                run.wait(not_before - now)
                continue
            with self._lock:
                waiters, self._waiters = self._waiters, []
            # The pass reads the journal after this point, so it covers every
            # notify() so far; a later one wakes the thread again.
            run.clear_wake()
            self._notified_at = None
            try:
                failures = self._failures
                self._pass(run)
                if self._after_pass is not None and self._failures == failures:
                    self._other_duties()
            except Exception:
                # _pass handles its own failures; this is the last guard that
                # keeps the thread alive.
                logger.exception("uploader: unexpected error")
            finally:
                for w in waiters:
                    w.set()
            if run.stopping:
                break
            with self._lock:
                more = bool(self._waiters)
            if not more:
                run.wait(self._interval)

    def _pass(self, run: Run) -> None:
        """Claim and send pending records, batch by batch, oldest first, until none is free.

        A position is a cursor within one walk over the queue only. In a shared database
        a record's position is taken when it is inserted and writers commit in any order:
        a record may become visible behind a walk's cursor. So a walk that sent anything
        is followed by another from the start (skipping what this pass tried), until one
        finds nothing new; what is left for later passes is what commits after that.
        """
        tried: set[str] = set()
        for _ in range(_WALKS):
            if not self._walk(run, tried):
                return

    def _walk(self, run: Run, tried: set[str]) -> bool:
        """One walk from the queue's start; whether it sent records not ``tried`` before
        (``False`` too when it failed or the runner stops)."""
        after = 0
        sent = False
        while not run.stopping:
            try:
                rows = self._queue.claim(self._owner, self._batch_size, self._lease, after=after)
            except JournalError as exc:
                self._failed(exc)
                return False
            if not rows:
                return sent
            after = rows[-1][0]
            again = [record["id"] for _, record in rows if record["id"] in tried]
            if again:
                self._release(again)  # left unmentioned by the platform earlier in this pass
            batch = [record for _, record in rows if record["id"] not in tried]
            if not batch:
                continue
            tried.update(record["id"] for record in batch)
            try:
                receipt = self._send(batch)
                if not isinstance(receipt, RecordsReceipt):
                    receipt = RecordsReceipt.model_validate(receipt)
            except Exception as exc:
                self._release([r["id"] for r in batch])
                self._failed(exc)
                return False
            try:
                self._apply(batch, receipt)
            except JournalError as exc:
                # The platform has them; they stay pending here and come back
                # as duplicates next time. Nothing is lost.
                self._failed(exc)
                return False
            sent = True
            if self._failures:
                logger.info(
                    "uploader: the platform takes records again after %d failed attempt(s)",
                    self._failures,
                )
            self._failures = 0
            self._not_before = self._hard_not_before = 0.0
            self._last_error = None
        return False

    def _other_duties(self) -> None:
        """``after_pass``: what else the platform must receive (the disclosures), once the
        records are sent; a failure backs off like a failed upload."""
        assert self._after_pass is not None  # noqa: S101 - checked by the caller
        try:
            sent = self._after_pass()
        except Exception as exc:
            self._failed(exc)
            return
        if sent and self._failures:
            self._failures = 0
            self._not_before = self._hard_not_before = 0.0
            self._last_error = None

    def _release(self, ids: list[str]) -> None:
        """Give up the claims on ``ids``: another process may send them before our backoff ends."""
        try:
            self._queue.release(self._owner, ids)
        except JournalError as exc:
            logger.debug("uploader: claims not released (they expire): %s", exc)

    def _apply(self, batch: list[dict[str, Any]], receipt: RecordsReceipt) -> None:
        sent = {r["id"] for r in batch}
        accepted = [i for i in receipt.accepted if i in sent]
        duplicates = [i for i in receipt.duplicates if i in sent]
        rejected = [r for r in receipt.rejected if r.id in sent]
        if accepted:
            self._queue.mark(accepted, "accepted")
            self._accepted += len(accepted)
        if duplicates:
            self._queue.mark(duplicates, "duplicate")
            self._duplicates += len(duplicates)
        for r in rejected:
            self._queue.mark_rejected(r.id, r.detail)
            self._rejected += 1
            logger.warning(
                "uploader: the platform rejected record %s: %s", r.id, mask_ids_in(r.detail)
            )
            if self._on_rejected is not None:
                try:
                    self._on_rejected(r.id, r.detail)
                except Exception:
                    logger.exception("uploader: on_rejected callback failed for record %s", r.id)
        named_ids = set(accepted) | set(duplicates) | {r.id for r in rejected}
        named = len(named_ids)
        if named < len(sent):
            self._release([i for i in sent if i not in named_ids])
            logger.warning(
                "uploader: the platform's answer left %d of %d records unmentioned;"
                " they stay pending",
                len(sent) - named,
                len(sent),
            )

    def _failed(self, exc: BaseException) -> None:
        self._failures += 1
        self._failures_total += 1
        ceiling = min(self._max_backoff, self._min_backoff * 2 ** min(self._failures - 1, 30))
        # Full jitter: spreads the retries of many agencies after a platform outage.
        delay = random.uniform(0, ceiling)  # noqa: S311 - jitter, not a secret
        now = time.monotonic()
        retry_after = exc.retry_after if isinstance(exc, RateLimitedError) else None
        if retry_after is not None and retry_after > 0:
            delay = max(delay, float(retry_after))
            self._hard_not_before = now + float(retry_after)
        self._not_before = now + delay
        self._last_error = mask_ids_in(f"{type(exc).__name__}: {exc}")
        # Once per outage at WARNING, not per attempt: a day-long outage must not fill the log.
        logger.log(
            logging.WARNING if self._failures == 1 else logging.DEBUG,
            "uploader: upload failed (%s); retrying in %.1f s, records stay pending",
            self._last_error,
            delay,
        )

    def _pending_count(self, upto_seq: int | None = None) -> int:
        try:
            return self._queue.pending_count(upto_seq)
        except JournalError:
            logger.exception("uploader: cannot count pending records")
            return -1
