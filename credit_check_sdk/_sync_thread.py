"""Following the change feed in the background: :class:`SyncThread`.

:class:`SyncThread` runs a :class:`~credit_check_sdk._sync.Syncer` pass (or anything
with its ``sync_once``, :class:`SyncPass`) every ``interval`` seconds in a daemon
thread, backing off after failures and logging each change of state once. The
pass itself, what it fetches and applies, is in :mod:`._sync`.

>>> runner = SyncThread(syncer, interval=300)  # doctest: +SKIP
>>> runner.start()  # doctest: +SKIP
"""

from __future__ import annotations

import logging
import random
import threading
import time
from typing import Any, Protocol

from ._exceptions import PlatformError
from ._ids import mask_ids_in
from ._runner import Run, Runner
from ._sync import SyncResult

__all__ = ["SyncPass", "SyncThread"]

# The background sync logs as the sync itself does (docs/logging.md names one logger).
logger = logging.getLogger("credit_check_sdk._sync")


class SyncPass(Protocol):
    """What :class:`SyncThread` runs: a :class:`Syncer`, or anything with its ``sync_once``."""

    def sync_once(
        self, timeout: float | None = None, *, stop: threading.Event | None = None
    ) -> SyncResult:
        """One pass; raise to report a failure."""


class SyncThread:
    """Runs :meth:`Syncer.sync_once` every ``interval`` seconds in a daemon thread.

    Never raises into the caller: failures are logged once when the state
    changes (working → failing, one error kind → another, failing → working),
    not at every attempt, and retried with jittered backoff (from
    ``min_backoff`` doubling up to ``interval``). The thread is a
    :class:`~credit_check_sdk._runner.Runner`: in a forked child it is started
    again by the next :meth:`start`, :meth:`wake` or :meth:`ensure_running`.
    ``timeout`` bounds each request of a pass.

    >>> runner = SyncThread(syncer, interval=300)  # doctest: +SKIP
    >>> runner.start()                              # doctest: +SKIP
    >>> runner.wake()   # sync now, e.g. after the platform came back  # doctest: +SKIP
    >>> runner.stop(timeout=5)                      # doctest: +SKIP
    True
    """

    def __init__(
        self,
        syncer: SyncPass,
        interval: float,
        *,
        timeout: float | None = 30.0,
        min_backoff: float = 5.0,
    ) -> None:
        if interval <= 0 or min_backoff <= 0:
            raise ValueError("interval and min_backoff must be > 0")
        self.syncer = syncer
        self.interval = interval
        self.timeout = timeout
        self.min_backoff = min_backoff
        self.last_result: SyncResult | None = None
        self.last_error: str | None = None
        self.last_success: float | None = None  # time.time() of the last complete pass
        self.failures = 0  # consecutive
        self.passes = 0
        self._state: str | None = None  # "ok" or the failing error's class name
        self._runner = Runner("credit-check-snapshot-sync", self._run)

    def start(self) -> None:
        """Start the thread (a first pass runs at once); no-op when it is running."""
        self._runner.start()

    def ensure_running(self) -> None:
        """Start the thread again if it should run but does not (after a fork); cheap."""
        if self._runner.wanted:
            self._runner.start()

    def wake(self) -> None:
        """Run a pass now instead of at the next interval; returns at once."""
        self._runner.wake()

    def stop(self, timeout: float = 5.0) -> bool:
        """Stop after the current page; ``True`` when the thread has ended within ``timeout``."""
        return self._runner.stop(timeout)

    @property
    def running(self) -> bool:
        """Whether the thread is alive in this process."""
        return self._runner.running

    def stats(self) -> dict[str, Any]:
        """For health pages: running, passes, consecutive failures, last error and success."""
        return {
            "running": self.running,
            "passes": self.passes,
            "consecutive_failures": self.failures,
            "last_error": self.last_error,
            "last_success": self.last_success,
        }

    def _run(self, run: Run) -> None:
        while not run.stopping:
            delay = self.interval
            try:
                result = self.syncer.sync_once(self.timeout, stop=run.stop_event)
            except Exception as exc:
                if run.stopping:
                    break  # closing: a pass cut short by the close is not a failure
                delay = self._failed(exc)
            else:
                self._succeeded(result)
            if run.stopping:
                break
            run.wait(delay)

    def _succeeded(self, result: SyncResult) -> None:
        self.passes += 1
        self.last_result = result
        if not result.complete:
            return
        self.last_success = time.time()
        if self._state not in (None, "ok"):
            logger.info(
                "snapshot: sync works again after %d failed attempt(s); as of %s",
                self.failures,
                result.as_of.isoformat() if result.as_of else "?",
            )
        self._state = "ok"
        self.failures = 0
        self.last_error = None

    def _failed(self, exc: Exception) -> float:
        self.passes += 1
        self.failures += 1
        self.last_error = mask_ids_in(f"{type(exc).__name__}: {exc}")
        state = type(exc).__name__
        if state != self._state:
            # Once per state change: a platform down for a day must not fill the log.
            level = logging.WARNING if isinstance(exc, PlatformError) else logging.ERROR
            logger.log(
                level,
                "snapshot: sync failing (%s); the snapshot in service stays, retrying",
                self.last_error,
                exc_info=not isinstance(exc, PlatformError),
            )
        else:
            logger.debug("snapshot: sync still failing (%s)", self.last_error)
        self._state = state
        ceiling = min(self.interval, self.min_backoff * 2 ** min(self.failures - 1, 20))
        # Full jitter: many agencies coming back after an outage do not all ask at once.
        return random.uniform(ceiling / 2, ceiling)  # noqa: S311 - jitter, not a secret
