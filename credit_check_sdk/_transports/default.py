"""The default transport, on ``requests`` with one session per thread.

Connect and read timeouts come from the request; on top of them the body is
read in chunks and abandoned when the request's deadline passes, so a server
that drips one byte a second cannot hold a check past its budget. Bodies over
``request.max_bytes`` are refused.
"""

from __future__ import annotations

import os
import threading
import time

import requests
import urllib3

from .._exceptions import ConnectError, InvalidResponseError, RequestTimeoutError
from .._ids import mask_ids_in
from .base import BaseTransport, Request, Response, Sink

__all__ = ["RequestsTransport"]

_CHUNK = 64 * 1024


class RequestsTransport(BaseTransport):
    """HTTP(S) with TLS verification on (``verify`` may name a CA bundle for a government CA).

    >>> t = RequestsTransport()
    >>> t.close()
    """

    def __init__(self, *, verify: bool | str = True, pool_size: int = 16) -> None:
        self._verify = verify
        self._pool_size = pool_size
        self._local = threading.local()
        self._sessions: list[requests.Session] = []
        self._lock = threading.Lock()
        self._pid = os.getpid()

    def _session(self) -> requests.Session:
        if self._pid != os.getpid():
            # Forked (gunicorn/uWSGI preload): pooled sockets belong to the parent.
            self._local = threading.local()
            self._sessions = []
            self._lock = threading.Lock()
            self._pid = os.getpid()
        # requests.Session is not documented as thread-safe; one per thread is.
        session: requests.Session | None = getattr(self._local, "session", None)
        if session is None:
            session = requests.Session()
            adapter = requests.adapters.HTTPAdapter(
                pool_connections=self._pool_size, pool_maxsize=self._pool_size, max_retries=0
            )
            session.mount("http://", adapter)
            session.mount("https://", adapter)
            session.verify = self._verify
            session.trust_env = False  # proxies from the environment must not reroute checks
            self._local.session = session
            with self._lock:
                self._sessions.append(session)
        return session

    def handle_request(self, request: Request) -> Response:
        """Send ``request`` and read its body within the deadline and size limit."""
        connect, read = request.connect_timeout, request.read_timeout
        remaining = request.remaining()
        if remaining is not None:
            if remaining <= 0:
                raise RequestTimeoutError(
                    "time budget spent before sending", method=request.method, url=request.url
                )
            connect, read = min(connect, remaining), min(read, remaining)
        try:
            raw = self._session().request(
                request.method,
                request.url,
                headers=dict(request.headers),
                data=request.body or None,
                timeout=(connect, read),
                stream=True,
                allow_redirects=False,
            )
        except requests.Timeout as exc:
            raise RequestTimeoutError(
                f"timed out: {mask_ids_in(str(exc))}", method=request.method, url=request.url
            ) from exc
        except (requests.ConnectionError, requests.exceptions.ChunkedEncodingError) as exc:
            raise ConnectError(
                f"connection failed: {mask_ids_in(str(exc))}",
                method=request.method,
                url=request.url,
            ) from exc
        try:
            sink = request.sink if 200 <= raw.status_code < 300 else None
            body = self._read(raw, request, sink)
        finally:
            raw.close()
        return Response(raw.status_code, dict(raw.headers), body)

    def _read(self, raw: requests.Response, request: Request, sink: Sink | None) -> bytes:
        declared = raw.headers.get("Content-Length")
        if declared and declared.isdigit() and int(declared) > request.max_bytes:
            raise InvalidResponseError(
                f"response of {declared} bytes exceeds the limit of {request.max_bytes}",
                method=request.method,
                url=request.url,
            )
        parts: list[bytes] = []
        size = 0
        try:
            while True:
                # read1 returns after at most one socket read (each bounded by the read
                # timeout), so the deadline is checked however slowly the server drips.
                chunk = raw.raw.read1(_CHUNK, decode_content=sink is None)
                if not chunk:
                    break
                if sink is not None:
                    sink.write(chunk)
                else:
                    parts.append(chunk)
                size += len(chunk)
                if size > request.max_bytes:
                    raise InvalidResponseError(
                        f"response exceeds the limit of {request.max_bytes} bytes",
                        method=request.method,
                        url=request.url,
                    )
                if request.deadline is not None and time.monotonic() > request.deadline:
                    raise RequestTimeoutError(
                        "time budget ran out while reading the response",
                        method=request.method,
                        url=request.url,
                    )
        except (urllib3.exceptions.TimeoutError, TimeoutError) as exc:
            raise RequestTimeoutError(
                f"read timed out: {mask_ids_in(str(exc))}", method=request.method, url=request.url
            ) from exc
        except (urllib3.exceptions.HTTPError, OSError) as exc:
            raise ConnectError(
                f"connection broken while reading: {mask_ids_in(str(exc))}",
                method=request.method,
                url=request.url,
            ) from exc
        return b"".join(parts)

    def close(self) -> None:
        """Close every thread's session."""
        with self._lock:
            sessions, self._sessions = self._sessions, []
        for session in sessions:
            session.close()
