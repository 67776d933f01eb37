"""A circuit breaker for the platform, with a background probe.

After ``threshold`` consecutive failures the breaker opens: checks stop calling
the platform and decide at once from the snapshot (no timeout paid per check).
While open, one background thread probes the platform every ``cooldown``
seconds; the first answer closes the breaker. State changes are logged once
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
import os
import threading
import time
from collections.abc import Callable
from typing import Literal

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
        self._lock = threading.Lock()
        self._failures = 0
        self._state: BreakerState = "closed"
        self._opened_at: float | None = None
        self._last_error: str | None = None
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._pid = os.getpid()

    @property
    def state(self) -> BreakerState:
        """``closed`` (calling the platform) or ``open`` (deciding offline)."""
        return self._state

    def allow(self) -> bool:
        """Whether a check may call the platform now."""
        if self._state == "open" and self._pid != os.getpid():
            self._start_probe()  # forked while open: the probe thread stayed in the parent
        return self._state == "closed"

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
        with self._lock:
            if self._pid != os.getpid():
                self._pid = os.getpid()
                self._thread = None
                self._stop = threading.Event()
            if self._thread is not None and self._thread.is_alive():
                return
            self._thread = threading.Thread(
                target=self._run_probe, name="credit-check-probe", daemon=True
            )
            self._thread.start()

    def _run_probe(self) -> None:
        while not self._stop.wait(self.cooldown):
            if self._state != "open":
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
        """Stop the probe thread."""
        self._stop.set()
        thread = self._thread
        if thread is not None and thread.is_alive():
            thread.join(timeout)
