"""A circuit breaker for the platform, with a background probe.

After ``threshold`` consecutive failures the breaker opens: checks stop calling
the platform and decide at once from the snapshot (no timeout paid per check).
While open, one background thread (a :class:`~credit_check_sdk._runner.Runner`,
started again in a forked child at its first check) probes the platform every
``cooldown`` seconds; the first answer closes the breaker. State changes are logged once
each, never per check.

>>> b = CircuitBreaker(threshold=2, cooldown=60, probe=lambda: True)
>>> b.record_failure(); b.state
'closed'
>>> b.record_failure(); b.state
'open'
>>> b.allow()
False
>>> b.close()
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from typing import Literal

from ._fork import ShortLock
from ._runner import Run, Runner

__all__ = ["BreakerState", "CircuitBreaker"]

logger = logging.getLogger(__name__)

BreakerState = Literal["closed", "open"]


class CircuitBreaker:
    """Counts consecutive platform failures; opens at ``threshold``, probes to close."""

    def __init__(
        self,
        *,
        threshold: int = 3,
        cooldown: float = 15.0,
        probe: Callable[[], bool],
        on_close: Callable[[], None] | None = None,
    ) -> None:
        self.threshold = threshold
        self.cooldown = cooldown
        self._probe = probe
        self._on_close = on_close
        self._lock = ShortLock()
        self._failures = 0
        self._state: BreakerState = "closed"
        self._opened_at: float | None = None
        self._last_error: str | None = None
        self._closed = False
        self._probe_runner = Runner("credit-check-probe", self._run_probe)

    @property
    def state(self) -> BreakerState:
        """``closed`` (calling the platform) or ``open`` (deciding offline)."""
        return self._state

    def allow(self) -> bool:
        """Whether a check may call the platform now."""
        if self._state == "open":
            # Cheap when the probe runs; starts it in a child forked while open.
            self._start_probe()
            return False
        return True

    def record_success(self) -> None:
        """A call answered: reset the failure count (and close, if open)."""
        with self._lock:
            self._failures = 0
            was_open = self._state == "open"
            self._state = "closed"
            self._opened_at = None
        if was_open:
            logger.warning("platform answers again: circuit closed, checking live")
            self._closed_hook()

    def record_failure(self, error: str | None = None) -> None:
        """A call failed; open after ``threshold`` in a row."""
        with self._lock:
            self._failures += 1
            self._last_error = error
            opening = self._state == "closed" and self._failures >= self.threshold
            if opening:
                self._state = "open"
                self._opened_at = time.monotonic()
        if opening:
            logger.warning(
                "platform failed %d times in a row (%s): circuit open, deciding offline "
                "and probing every %g s",
                self.threshold,
                error or "no detail",
                self.cooldown,
            )
            self._start_probe()

    def open_for(self) -> float | None:
        """Seconds the breaker has been open, or ``None`` when closed."""
        opened = self._opened_at
        return None if opened is None else time.monotonic() - opened

    def snapshot(self) -> dict[str, object]:
        """The breaker's state for ``health()``."""
        return {
            "state": self._state,
            "consecutive_failures": self._failures,
            "open_for_seconds": self.open_for(),
            "last_error": self._last_error,
        }

    def _start_probe(self) -> None:
        if not self._closed:
            self._probe_runner.start()

    def _run_probe(self, run: Run) -> None:
        while True:
            run.wait(self.cooldown)
            if run.stopping or self._state != "open":
                return
            try:
                answered = self._probe()
            except Exception as exc:  # a probe failure must never kill the thread
                logger.debug("probe failed: %s", exc)
                answered = False
            if answered:
                self.record_success()
                return

    def _closed_hook(self) -> None:
        if self._on_close is None:
            return
        try:
            self._on_close()
        except Exception:  # a callback's fault must not reach the checker
            logger.exception("breaker close callback failed")

    def close(self, timeout: float = 1.0) -> None:
        """Stop the probe thread (waiting at most ``timeout`` for a probe in flight)."""
        self._closed = True
        self._probe_runner.stop(timeout)
