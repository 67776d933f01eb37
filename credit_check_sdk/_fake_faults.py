"""Faults injected into :class:`~credit_check_sdk.testing.FakePlatform`'s answers, and
the one request pipeline that applies them before the platform core answers.

:class:`FaultInjection` holds the fake's fault calls (``fail``, ``delay``, ``drip``,
``reset``, ``malformed``, ``outage``, ``reset_faults``) and ``_exchange``, through which
both wirings (in memory, real HTTP) hand every request: it records the call, takes the
faults that match its path, and routes it to the core. ``FakePlatform`` inherits it; how
a fault is carried out on the wire is in :mod:`._fake_http`.

>>> from credit_check_sdk.testing import FakePlatform
>>> fake = FakePlatform(verify_signatures=False)
>>> fake.fail(503, times=1, path="/health")
>>> [fake.handle("GET", "/api/v1/health", [], {}, b"")[0] for _ in range(2)]
[503, 200]
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import TYPE_CHECKING

from ._fake_http import Exchange, Fault, MalformedKind, garble, problem, route_request, take_faults

if TYPE_CHECKING:
    import threading

    from ._platform import MemoryStore, PlatformCore

__all__ = ["FaultInjection"]

_JSON = "application/json; charset=utf-8"


class FaultInjection:
    """The fault calls of :class:`~credit_check_sdk.testing.FakePlatform` (a mixin).

    >>> from credit_check_sdk.testing import FakePlatform
    >>> FakePlatform().outage(False)
    """

    if TYPE_CHECKING:
        # What this part uses of the fake (set in FakePlatform.__init__).
        store: MemoryStore
        core: PlatformCore
        requests: list[tuple[str, str]]
        _lock: threading.RLock
        _faults: list[Fault]
        _down: bool

    def fail(
        self,
        status: int = 503,
        *,
        times: int | None = None,
        retry_after: float | None = None,
        path: str | None = None,
    ) -> None:
        """Answer ``/v1`` calls (whose path contains ``path``) with a problem document.

        ``times`` limits how many calls fail (``None``: until :meth:`reset_faults`);
        ``retry_after`` adds a ``Retry-After`` header.

        >>> from credit_check_sdk.testing import FakePlatform
        >>> fake = FakePlatform()
        >>> fake.fail(429, retry_after=5, times=2, path="/profile")
        >>> fake.fail(410, path="lists/changes")
        """
        self._add(Fault("status", times, path, status=status, retry_after=retry_after))

    def delay(self, seconds: float, *, times: int | None = None, path: str | None = None) -> None:
        """Hold answers to ``/v1`` calls for ``seconds`` before sending them.

        In memory, a delay past the request's read timeout or deadline raises
        :class:`RequestTimeoutError` at that moment, as a real transport would.

        >>> from credit_check_sdk.testing import FakePlatform
        >>> FakePlatform().delay(5.0, path="/profile")
        """
        self._add(Fault("delay", times, path, seconds=seconds))

    def drip(
        self, interval: float = 0.3, *, times: int | None = None, path: str | None = None
    ) -> None:
        """Send the status and headers at once, then the body one byte every ``interval`` s.

        >>> from credit_check_sdk.testing import FakePlatform
        >>> FakePlatform().drip(0.3, path="/profile")
        """
        self._add(Fault("drip", times, path, seconds=interval))

    def reset(self, *, times: int | None = None, path: str | None = None) -> None:
        """Break the connection in the middle of the body (a TCP reset over HTTP).

        >>> from credit_check_sdk.testing import FakePlatform
        >>> FakePlatform().reset(times=1)
        """
        self._add(Fault("reset", times, path))

    def malformed(
        self, kind: MalformedKind, *, times: int | None = None, path: str | None = None
    ) -> None:
        """Garble answers to ``/v1`` calls (status 200, the request still takes effect).

        ``not_json``: an HTML page; ``truncated``: the first half of the JSON;
        ``missing_fields``: a required field left out; ``wrong_types``: every
        top-level field of the wrong type.

        >>> from credit_check_sdk.testing import FakePlatform
        >>> FakePlatform().malformed("truncated", times=1)
        """
        if kind not in ("not_json", "truncated", "missing_fields", "wrong_types"):
            raise ValueError(f"unknown kind of malformed answer {kind!r}")
        self._add(Fault("malformed", times, path, malformed=kind))

    def outage(self, on: bool = True) -> None:
        """While on, every call is answered 503.

        >>> from credit_check_sdk.testing import FakePlatform
        >>> fake = FakePlatform()
        >>> fake.outage()
        >>> fake.outage(False)
        """
        with self._lock:
            self._down = on

    def reset_faults(self) -> None:
        """Remove every fault and end an outage.

        >>> from credit_check_sdk.testing import FakePlatform
        >>> FakePlatform().reset_faults()
        """
        with self._lock:
            self._faults.clear()
            self._down = False

    def _add(self, fault: Fault) -> None:
        if fault.times is not None and fault.times < 1:
            raise ValueError("times must be at least 1, or None for every call")
        with self._lock:
            self._faults.append(fault)

    def _exchange(
        self,
        method: str,
        path: str,
        query: list[tuple[str, str]],
        headers: Mapping[str, str],
        body: bytes,
    ) -> Exchange:
        method = method.upper()
        at = path.find("/v1/")
        route = path[at:] if at >= 0 else path
        with self._lock:
            self.requests.append((method, route))
            delay, fault = 0.0, None
            if at >= 0:
                delay, fault, self._faults = take_faults(self._faults, route)
            if self._down:
                return Exchange(*problem(503, "the platform is down"), delay=delay)
            if fault is not None and fault.kind == "status":
                extra = {}
                if fault.retry_after is not None:
                    extra["Retry-After"] = f"{fault.retry_after:g}"
                return Exchange(*problem(fault.status, "injected fault", extra), delay=delay)
            if route == "/v1/records:batch":
                self._count_uploads(body)
            status, hdrs, data = route_request(self.core, method, path, route, query, headers, body)
        ex = Exchange(status, hdrs, data, delay=delay)
        if fault is not None and fault.kind == "malformed":
            ex = Exchange(200, {"Content-Type": _JSON}, garble(data, fault), delay=delay)
        elif fault is not None and fault.kind == "drip":
            ex.drip = fault.seconds
        elif fault is not None and fault.kind == "reset":
            ex.reset = True
        return ex

    def _count_uploads(self, body: bytes) -> None:
        # What tests look at: how often each record id reached the platform.
        try:
            doc = json.loads(body or b"null")
        except ValueError:
            return
        records = doc.get("records") if isinstance(doc, dict) else None
        for record in records if isinstance(records, list) else ():
            rid = record.get("id") if isinstance(record, dict) else None
            if isinstance(rid, str) and rid:
                self.store.upload_counts[rid] += 1
