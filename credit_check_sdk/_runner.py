"""One background daemon thread of the SDK, started on demand and again in a forked child.

Every background worker of the SDK (the uploader, the snapshot sync, the
breaker's probe, the change-feed prefetch) is a :class:`Runner` around a
*work* function. The runner owns what they all need and used to keep each on
its own: the thread, the process it belongs to, waking it, stopping it
within a bound, and starting it again where it is wanted but not running
(in a child after ``fork()``, whose copy of the parent has no threads, or
after the work ended or failed). Nothing it does blocks or raises into the
caller; an exception escaping the work is logged and ends that thread only.

>>> import threading
>>> seen = threading.Event()
>>> def work(run: Run) -> None:
...     while not run.stopping:
...         seen.set()
...         run.wait(60)
>>> runner = Runner("example", work)
>>> runner.start(); seen.wait(5)
True
>>> runner.stop(timeout=5)
True
"""

from __future__ import annotations

import logging
import os
import threading
from collections.abc import Callable

from ._fork import after_fork_in_child

__all__ = ["Run", "Runner"]

logger = logging.getLogger(__name__)


class Run:
    """One thread's view of its runner: whether to stop, and a way to sleep until woken.

    ``stopping`` is this thread's own flag: a runner stopped and started again
    runs a new thread with a new ``Run``, and the old thread still sees it set.
    """

    __slots__ = ("_stop", "_wake", "thread")

    def __init__(self) -> None:
        self._stop = threading.Event()
        self._wake = threading.Event()
        self.thread: threading.Thread | None = None

    @property
    def stop_event(self) -> threading.Event:
        """The event behind :attr:`stopping`, for code that takes one (a sync pass)."""
        return self._stop

    @property
    def stopping(self) -> bool:
        """Whether the work should end now (``stop()`` was called)."""
        return self._stop.is_set()

    def wait(self, timeout: float | None) -> bool:
        """Sleep until woken, stopped or ``timeout`` seconds; ``True`` when woken or stopped.

        A wake that came while the work was busy is not lost: it ends the next wait at once.
        """
        woken = self._wake.wait(timeout)
        self._wake.clear()
        return woken or self._stop.is_set()

    def clear_wake(self) -> None:
        """Forget the wakes so far (the work is about to do what they asked for)."""
        self._wake.clear()

    def woken(self) -> bool:
        """Whether a wake is waiting (without clearing it)."""
        return self._wake.is_set()


class Runner:
    """A daemon thread running ``work(run)``, started on demand, fork-aware.

    * :meth:`start` runs the work in a thread if none runs in this process;
      cheap when it runs (no lock taken).
    * :meth:`wake` ends the work's current :meth:`Run.wait` (starting the
      thread first if the runner is wanted and its thread is missing).
    * :meth:`stop` asks the work to end and waits at most ``timeout``.
    * In a forked child the runner forgets the parent's thread; the next
      :meth:`start` or :meth:`wake` starts one there. ``on_child`` (called in
      the child, right after the fork) lets the owner reset its own state.
    * When ``work`` returns (or raises: the exception is logged) its thread
      ends; the next :meth:`start` (or :meth:`wake`, unless stopped) runs it
      again.

    >>> runner = Runner("credit-check-example", lambda run: None)  # doctest: +SKIP
    """

    def __init__(
        self,
        name: str,
        work: Callable[[Run], None],
        *,
        on_child: Callable[[], None] | None = None,
    ) -> None:
        self.name = name
        self._work = work
        self._on_child = on_child
        self._wanted = False
        self._reset()
        after_fork_in_child(self._after_fork_in_child)

    def _reset(self) -> None:
        self._lock = threading.Lock()
        self._run: Run | None = None
        self._pid = os.getpid()

    def _after_fork_in_child(self) -> None:
        # The parent's thread does not exist here; its Run and lock stay behind.
        self._reset()
        if self._on_child is not None:
            self._on_child()

    @property
    def wanted(self) -> bool:
        """Whether the work was started and not stopped since."""
        return self._wanted

    @property
    def running(self) -> bool:
        """Whether the work's thread is alive in this process."""
        run = self._run
        return (
            run is not None
            and self._pid == os.getpid()
            and run.thread is not None
            and run.thread.is_alive()
        )

    def start(self) -> None:
        """Run the work unless it runs already in this process; never raises."""
        self._wanted = True
        if not self.running:
            self._spawn()

    def wake(self) -> None:
        """Interrupt the work's wait (starting it again if wanted and missing); never raises."""
        if self._wanted and not self.running:
            self._spawn()
        run = self._run
        if run is not None:
            run._wake.set()

    def stop(self, timeout: float = 5.0) -> bool:
        """Ask the work to end; ``True`` when its thread ended within ``timeout`` seconds.

        Called from the work's own thread, it returns at once (the work ends
        when it returns). A thread still busy after ``timeout`` (a request in
        flight) is a daemon: it ends when the request does, or with the process.
        """
        self._wanted = False
        with self._lock:
            run, self._run = self._run, None
        if run is None:
            return True
        run._stop.set()
        run._wake.set()
        thread = run.thread
        if thread is None or thread is threading.current_thread() or not thread.is_alive():
            return True
        thread.join(max(0.0, timeout))
        return not thread.is_alive()

    def _spawn(self) -> None:
        with self._lock:
            if not self._wanted or self.running:
                return
            run = Run()
            run.thread = threading.Thread(
                target=self._main, args=(run,), name=self.name, daemon=True
            )
            self._run = run
            self._pid = os.getpid()
            try:
                run.thread.start()
            except Exception:
                # "can't start new thread" (at interpreter exit, or out of resources):
                # the caller carries on; the next start() or wake() tries again.
                self._run = None
                logger.exception("%s: cannot start the background thread", self.name)

    def _main(self, run: Run) -> None:
        try:
            self._work(run)
        except BaseException:
            # The work catches its own failures; this is the last guard. The thread
            # ends; the next start() or wake() runs the work again.
            logger.exception("%s: the background work failed", self.name)
        finally:
            with self._lock:
                if self._run is run:
                    self._run = None
