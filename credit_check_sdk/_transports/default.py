"""The default transport, on ``requests`` with one session per thread.

The request's deadline bounds the whole exchange (``_deadline``): a server that
drips its headers or its body one byte a second is cut off at the deadline,
not at the next read timeout. Bodies are read and, for ``Content-Encoding:
gzip``, inflated in pieces of 64 KiB, and refused as soon as they pass
``request.max_bytes``, so a small gzip bomb never becomes a large string.

Proxies: an explicit ``proxy`` wins; without one, ``HTTPS_PROXY`` /
``HTTP_PROXY`` / ``ALL_PROXY`` and ``NO_PROXY`` from the environment are
honoured (read per request, as curl and requests do); ``proxy="direct"``
ignores the environment. Nothing else is taken from the environment (no
``.netrc`` credentials, no ``REQUESTS_CA_BUNDLE``): TLS trust is ``verify``.
"""

from __future__ import annotations

import contextlib
import math
import os
import sys
import threading
import time
import zlib
from collections.abc import Iterator, Mapping
from typing import Any
from urllib.parse import urlsplit

import requests
import urllib3
from requests.adapters import HTTPAdapter

from .._exceptions import ConnectError, InvalidResponseError, RequestTimeoutError
from .._ids import mask_ids_in
from .._inflate import Inflater
from . import _deadline
from .base import BaseTransport, Request, Response, Sink, check_media_type

__all__ = [
    "CHUNK",
    "DIRECT",
    "RequestsTransport",
    "inflater_for",
    "proxy_for",
    "refuse_declared_length",
    "take_chunk",
]

#: Bytes read (and inflated) at a time.
CHUNK = 64 * 1024
#: ``proxy=DIRECT``: connect straight to the platform, whatever the environment says.
DIRECT = "direct"


class _WatchedAdapter(HTTPAdapter):
    """An adapter whose connections (direct or through a proxy) obey the exchange deadline."""

    def init_poolmanager(self, *args: Any, **kwargs: Any) -> None:
        super().init_poolmanager(*args, **kwargs)
        _deadline.watch_pools(self.poolmanager)

    def proxy_manager_for(self, proxy: str, **proxy_kwargs: Any) -> Any:
        fresh = proxy not in self.proxy_manager
        manager = super().proxy_manager_for(proxy, **proxy_kwargs)
        if fresh:
            _deadline.watch_pools(manager)
        return manager


class RequestsTransport(BaseTransport):
    """HTTP(S) with TLS verification on (``verify`` may name a CA bundle for a government CA).

    >>> t = RequestsTransport(proxy="http://proxy.gov.example:3128")
    >>> t.close()
    """

    def __init__(
        self, *, verify: bool | str = True, pool_size: int = 16, proxy: str | None = None
    ) -> None:
        self._verify = verify
        self._pool_size = pool_size
        self._proxy = proxy or None
        self._local = threading.local()
        self._sessions: list[requests.Session] = []
        self._lock = threading.Lock()
        self._pid = os.getpid()
        self._exchanges: set[_deadline.Exchange] = set()  # in flight, for end_requests()
        self._end_by = math.inf

    def _session(self) -> requests.Session:
        if self._pid != os.getpid():
            # Forked (gunicorn/uWSGI preload): pooled sockets belong to the parent.
            self._local = threading.local()
            self._sessions = []
            self._lock = threading.Lock()
            self._exchanges = set()  # the parent's requests in flight are not this process's
            self._pid = os.getpid()
        # requests.Session is not documented as thread-safe; one per thread is.
        session: requests.Session | None = getattr(self._local, "session", None)
        if session is None:
            session = requests.Session()
            adapter = _WatchedAdapter(
                pool_connections=self._pool_size, pool_maxsize=self._pool_size, max_retries=0
            )
            session.mount("http://", adapter)
            session.mount("https://", adapter)
            session.verify = self._verify
            # Proxies are chosen per request (proxies_for); the rest of what requests
            # would take from the environment (.netrc credentials sent to the platform,
            # REQUESTS_CA_BUNDLE overriding verify) must not apply.
            session.trust_env = False
            self._local.session = session
            with self._lock:
                self._sessions.append(session)
        return session

    def proxies_for(self, url: str) -> dict[str, str]:
        """The proxies a request to ``url`` goes through: the setting, else the environment.

        >>> RequestsTransport(proxy="direct").proxies_for("https://credit.example/api")
        {}
        """
        if self._proxy == DIRECT:
            return {}
        if self._proxy:
            return {"http": self._proxy, "https": self._proxy}
        # HTTPS_PROXY, HTTP_PROXY, ALL_PROXY, honouring NO_PROXY for this host.
        return dict(requests.utils.get_environ_proxies(url))

    def proxy_for(self, url: str) -> str | None:
        """The proxy a request to ``url`` goes through now (``None``: straight there)."""
        return proxy_for(self._proxy, url)

    def handle_request(self, request: Request) -> Response:
        """Send ``request`` and read its answer, all within the deadline and size limit."""
        deadline = request.deadline
        if self._end_by < math.inf:  # shutting down (end_requests)
            deadline = min(self._end_by, math.inf if deadline is None else deadline)
        connect, read = request.connect_timeout, request.read_timeout
        if deadline is not None:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise RequestTimeoutError(
                    "time budget spent before sending", method=request.method, url=request.url
                )
            connect, read = min(connect, remaining), min(read, remaining)
        # Only what this transport can inflate within bounds (requests would also offer
        # br and zstd when their modules happen to be installed).
        headers = {"Accept-Encoding": "gzip", **request.headers}
        with _deadline.watch(deadline) as exchange, self._in_flight(exchange):
            try:
                raw = self._session().request(
                    request.method,
                    request.url,
                    headers=headers,
                    data=request.body or None,
                    timeout=(connect, read),
                    stream=True,
                    allow_redirects=False,
                    proxies=self.proxies_for(request.url),
                )
            except (requests.RequestException, OSError) as exc:
                # OSError: what requests raises for an unreadable CA bundle, among others.
                raise _failure(exc, request, exchange.fired) from exc
            try:
                ok = 200 <= raw.status_code < 300
                if ok:
                    check_media_type(request, raw.status_code, raw.headers)
                body = self._read(raw, request, request.sink if ok else None, exchange)
            except (urllib3.exceptions.HTTPError, OSError) as exc:
                raise _failure(exc, request, exchange.fired) from exc
            finally:
                raw.close()
            if exchange.fired:
                # The socket was shut under the read: what came looks complete but is not.
                raise _failure(None, request, fired=True)
        return Response(raw.status_code, dict(raw.headers), body)

    @contextlib.contextmanager
    def _in_flight(self, exchange: _deadline.Exchange) -> Iterator[None]:
        with self._lock:
            self._exchanges.add(exchange)
        try:
            yield
        finally:
            with self._lock:
                self._exchanges.discard(exchange)

    def end_requests(self, by: float) -> None:
        """Cut every request in flight at ``by``; later ones get no deadline past it."""
        with self._lock:
            self._end_by = min(self._end_by, by)
            live = list(self._exchanges)
        _deadline.shorten(live, by)

    def _read(
        self,
        raw: requests.Response,
        request: Request,
        sink: Sink | None,
        exchange: _deadline.Exchange,
    ) -> bytes:
        refuse_declared_length(raw.headers, request)
        inflater = inflater_for(raw.headers, request, streaming=sink is not None)
        parts: list[bytes] = []
        try:
            return self._read_parts(raw, request, sink, exchange, inflater, parts)
        finally:
            # Whatever happens, the pieces go now: a traceback that keeps this frame
            # alive (until the garbage collector breaks its cycle) must not keep them.
            parts.clear()

    def _read_parts(
        self,
        raw: requests.Response,
        request: Request,
        sink: Sink | None,
        exchange: _deadline.Exchange,
        inflater: Inflater | None,
        parts: list[bytes],
    ) -> bytes:
        size = 0
        while True:
            # read1 returns after at most one socket read; the raw bytes, inflated here.
            chunk = raw.raw.read1(CHUNK, decode_content=False)
            if not chunk:
                break
            size = take_chunk(chunk, inflater, request, sink, parts, size)
            if time.monotonic() > exchange.deadline:
                raise RequestTimeoutError(
                    "time budget ran out while reading the response",
                    method=request.method,
                    url=request.url,
                )
        if inflater is not None and not inflater.complete:
            raise InvalidResponseError(
                "the gzip body ends early", method=request.method, url=request.url
            )
        return b"".join(parts)

    def close(self) -> None:
        """Close every thread's session."""
        with self._lock:
            sessions, self._sessions = self._sessions, []
        for session in sessions:
            session.close()


def proxy_for(setting: str | None, url: str) -> str | None:
    """The proxy a request to ``url`` goes through with the ``proxy`` setting ``setting``:
    the setting, else ``HTTPS_PROXY`` / ``HTTP_PROXY`` / ``ALL_PROXY`` honouring
    ``NO_PROXY``, read now; ``None`` (straight there) for ``"direct"``.

    >>> proxy_for("http://proxy.gov.example:3128", "https://credit.example/api")
    'http://proxy.gov.example:3128'
    """
    if setting == DIRECT:
        return None
    if setting:
        return setting
    if sys.platform in ("darwin", "win32"):  # urllib reads the system's settings there too
        return _environment_proxy(url)
    # Elsewhere the answer depends on the ``*_proxy`` variables (any case, as urllib
    # reads them), ``REQUEST_METHOD`` and the URL's scheme and host alone: it is kept
    # for them, and looked for again when one of them changes. Working it out scans the
    # whole environment four times (~0.13 ms), for every request, on the event loop for
    # the async checker; the key is one scan of the names.
    env = os.environ
    key = (
        url.partition("/")[0],
        urlsplit(url).netloc,
        "REQUEST_METHOD" in env,
        tuple((name, env[name]) for name in env if name[-6:].lower() == "_proxy"),
    )
    try:
        return _PROXIES[key]
    except KeyError:
        pass
    if len(_PROXIES) >= 64:  # a new environment or many hosts: start again
        _PROXIES.clear()
    found = _PROXIES[key] = _environment_proxy(url)
    return found


#: ``proxy_for``'s answers from the environment, by what they depend on.
_PROXIES: dict[tuple[object, ...], str | None] = {}


def _environment_proxy(url: str) -> str | None:
    return requests.utils.select_proxy(url, dict(requests.utils.get_environ_proxies(url)))


def take_chunk(
    chunk: bytes,
    inflater: Inflater | None,
    request: Request,
    sink: Sink | None,
    parts: list[bytes],
    size: int,
) -> int:
    """Add one raw chunk (inflated) to the body; returns the body's size so far.

    Both transports read through it: the size limit, counted after inflating, and
    a corrupt gzip body are refused the same way.
    """
    try:
        for piece in [chunk] if inflater is None else inflater.feed(chunk):
            size += len(piece)
            if size > request.max_bytes:
                raise InvalidResponseError(
                    f"response exceeds the limit of {request.max_bytes} bytes"
                    + (" once inflated" if inflater is not None else ""),
                    method=request.method,
                    url=request.url,
                )
            if sink is not None:
                sink.write(piece)
            else:
                parts.append(piece)
    except zlib.error as exc:
        raise InvalidResponseError(
            f"the gzip body is corrupt: {exc}", method=request.method, url=request.url
        ) from exc
    return size


def refuse_declared_length(headers: Mapping[str, str], request: Request) -> None:
    """Refuse a body whose declared ``Content-Length`` is over the request's limit before
    reading any of it (both transports; the limit is checked again as the body comes)."""
    declared = headers.get("Content-Length")
    if declared and declared.isdigit() and int(declared) > request.max_bytes:
        raise InvalidResponseError(
            f"response of {declared} bytes exceeds the limit of {request.max_bytes}",
            method=request.method,
            url=request.url,
        )


def inflater_for(
    headers: Mapping[str, str], request: Request, *, streaming: bool
) -> Inflater | None:
    """How to inflate a body with these headers: ``None`` for identity, or for a sink that
    takes gzip as is; an encoding not asked for is an :class:`InvalidResponseError`."""
    encoding = (headers.get("Content-Encoding") or "identity").strip().lower()
    if encoding in ("identity", ""):
        return None
    if encoding in ("gzip", "x-gzip"):
        # A sink (the list export) stores the gzip bytes as they came and inflates them
        # itself, within its own bounds.
        return None if streaming else Inflater(chunk=CHUNK)
    if encoding == "deflate" and not streaming:
        return Inflater(chunk=CHUNK, zlib_too=True)
    raise InvalidResponseError(
        f"the answer's Content-Encoding {encoding!r} was not asked for (only gzip is)",
        method=request.method,
        url=request.url,
    )


def _failure(exc: BaseException | None, request: Request, fired: bool) -> Exception:
    """The SDK error for a failed exchange; a timeout whenever the deadline cut it."""
    detail = mask_ids_in(str(exc)) if exc is not None else ""
    if fired:
        return RequestTimeoutError(
            "time budget ran out during the exchange (connect, send, headers or body)",
            method=request.method,
            url=request.url,
        )
    if isinstance(exc, (requests.Timeout, urllib3.exceptions.TimeoutError, TimeoutError)):
        return RequestTimeoutError(f"timed out: {detail}", method=request.method, url=request.url)
    if isinstance(exc, (requests.RequestException, urllib3.exceptions.HTTPError, OSError)):
        return ConnectError(f"connection failed: {detail}", method=request.method, url=request.url)
    return ConnectError(f"exchange failed: {detail}", method=request.method, url=request.url)
