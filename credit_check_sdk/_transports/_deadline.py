"""A deadline on a whole HTTP exchange: connect, send, response headers and body.

``requests`` (urllib3) timeouts bound each socket operation, and every byte
that arrives starts the read timeout again: a server that drips its response
headers one byte a second holds a request with a 2 s timeout for as long as it
likes. No option of requests or urllib3 bounds the whole exchange, so a
watchdog does. Each request runs inside :func:`watch`; urllib3 connections made
through :func:`watch_pools` attach themselves to the request of the thread that
uses them; at the deadline one watchdog thread shuts the connection's socket
down, which wakes the blocked ``recv``/``send`` at once (``shutdown`` does,
``close`` from another thread would not). The transport then reports the
exchange as timed out, whatever error the broken socket caused.

>>> import time
>>> with watch(time.monotonic() + 5) as exchange:
...     exchange.fired
False
"""

from __future__ import annotations

import contextlib
import math
import os
import socket
import threading
import time
from collections.abc import Iterator
from typing import Any

__all__ = ["Exchange", "shorten", "watch", "watch_pools"]

# After the deadline, the watchdog shuts the socket again at this interval until the
# exchange ends: a connection still being made at the deadline has no socket yet.
_REFIRE = 0.02
# The watchdog thread ends after this many idle seconds.
_IDLE_EXIT = 0.5


class Exchange:
    """One request's deadline and the connections it used."""

    __slots__ = ("_conns", "_ended", "_lock", "deadline", "fired")

    def __init__(self, deadline: float) -> None:
        self.deadline = deadline
        self.fired = False
        self._conns: list[Any] = []
        self._ended = False
        self._lock = threading.Lock()

    def attach(self, conn: Any) -> None:
        """A connection this exchange sends on (shut at once when the deadline has passed)."""
        with self._lock:
            if self._ended:
                return
            self._conns.append(conn)
            if self.fired:
                _shut(conn)

    def fire(self) -> None:
        """The deadline passed: break every connection of the exchange."""
        with self._lock:
            if self._ended:
                return
            self.fired = True
            for conn in self._conns:
                _shut(conn)

    def end(self) -> None:
        """The exchange is over: never touch its connections again."""
        with self._lock:
            self._ended = True
            self._conns.clear()


def _shut(conn: Any) -> None:
    sock = getattr(conn, "sock", None)
    # urllib3's TLS-in-TLS wrapper (an https proxy) keeps the real socket inside.
    sock = getattr(sock, "socket", sock)
    if not isinstance(sock, socket.socket):
        return
    # socket.socket.shutdown, not SSLSocket.shutdown: the latter drops the TLS object
    # under the thread that is reading; this only ends the TCP connection beneath it.
    with contextlib.suppress(OSError):
        socket.socket.shutdown(sock, socket.SHUT_RDWR)


class _Watchdog:
    """One daemon thread per process that fires exchanges whose deadline has passed.

    It runs while requests are in flight, and ends half a second after the last.
    """

    def __init__(self) -> None:
        self._cond = threading.Condition()
        self._live: set[Exchange] = set()
        self._thread: threading.Thread | None = None

    def add(self, exchange: Exchange) -> None:
        with self._cond:
            self._live.add(exchange)
            if self._thread is None or not self._thread.is_alive():
                self._thread = threading.Thread(
                    target=self._run, name="credit-check-deadline", daemon=True
                )
                self._thread.start()
            self._cond.notify()

    def remove(self, exchange: Exchange) -> None:
        with self._cond:
            self._live.discard(exchange)

    def shorten(self, exchanges: list[Exchange], by: float) -> None:
        with self._cond:
            for exchange in exchanges:
                exchange.deadline = min(exchange.deadline, by)
            self._cond.notify()

    def _run(self) -> None:
        while True:
            with self._cond:
                now = time.monotonic()
                due = [ex for ex in self._live if ex.deadline <= now]
                if not self._live:
                    # Idle: wait a little for the next request, then end (add() starts
                    # the thread again), so that no thread outlives the SDK's work.
                    self._cond.wait(_IDLE_EXIT)
                    if not self._live:
                        self._thread = None
                        return
                    continue
                if not due:
                    # Computed and waited on under one lock hold: an add() cannot slip
                    # in between unseen.
                    soonest = min(ex.deadline for ex in self._live)
                    self._cond.wait(None if soonest == math.inf else soonest - now)
                    continue
            for exchange in due:
                exchange.fire()
            with self._cond:
                self._cond.wait(_REFIRE)

    def reset(self) -> None:
        """Forget the parent's state in a forked child (its thread does not exist here)."""
        self._cond = threading.Condition()
        self._live = set()
        self._thread = None


_watchdog = _Watchdog()
_current = threading.local()


# The parent's watchdog thread does not exist in a forked child, and its lock may be held.
os.register_at_fork(after_in_child=_watchdog.reset)


def shorten(exchanges: list[Exchange], by: float) -> None:
    """Bring the deadline of ``exchanges`` forward to ``by`` (no later than they had)."""
    _watchdog.shorten(exchanges, by)


@contextlib.contextmanager
def watch(deadline: float | None) -> Iterator[Exchange]:
    """Run one exchange of this thread under ``deadline`` (``time.monotonic()``).

    With ``deadline`` None the exchange fires only once :func:`shorten` gives it one.
    """
    exchange = Exchange(math.inf if deadline is None else deadline)
    _current.exchange = exchange
    _watchdog.add(exchange)
    try:
        yield exchange
    finally:
        exchange.end()
        _current.exchange = None
        _watchdog.remove(exchange)


def _attach(conn: Any) -> None:
    exchange: Exchange | None = getattr(_current, "exchange", None)
    if exchange is not None:
        exchange.attach(conn)


class _WatchedConnection:
    """Mixed into a urllib3 connection class: attach to the thread's exchange when used."""

    def connect(self) -> None:
        _attach(self)
        super().connect()  # type: ignore[misc]  # the urllib3 class it is mixed into

    def request(self, *args: Any, **kwargs: Any) -> Any:
        _attach(self)
        return super().request(*args, **kwargs)  # type: ignore[misc]  # same


_watched_classes: dict[type[Any], type[Any]] = {}
_classes_lock = threading.Lock()


def _watched(cls: type[Any], make: Any) -> type[Any]:
    with _classes_lock:
        made = _watched_classes.get(cls)
        if made is None:
            made = _watched_classes[cls] = make()
        return made


def _watched_pool(pool_cls: type[Any]) -> type[Any]:
    conn_cls = pool_cls.ConnectionCls
    watched_conn = _watched(
        conn_cls, lambda: type(f"Watched{conn_cls.__name__}", (_WatchedConnection, conn_cls), {})
    )
    return _watched(
        pool_cls,
        lambda: type(f"Watched{pool_cls.__name__}", (pool_cls,), {"ConnectionCls": watched_conn}),
    )


def watch_pools(manager: Any) -> None:
    """Make the connections of a urllib3 ``PoolManager`` (or proxy manager) watchable."""
    manager.pool_classes_by_scheme = {
        scheme: _watched_pool(cls) for scheme, cls in manager.pool_classes_by_scheme.items()
    }
