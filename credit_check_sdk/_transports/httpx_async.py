"""The async transport, on ``httpx.AsyncClient`` (the ``async`` extra).

The same duties as the default transport (``default.py``), done the event
loop's way. The request's deadline bounds the whole exchange (connect, send,
headers, body): the exchange runs in a cancel scope with that deadline, so a
server that drips its answer is cut off at the deadline by cancellation, with
no watchdog thread. Bodies are read raw and, for ``Content-Encoding: gzip``,
inflated in pieces of 64 KiB by the SDK (not by httpx), and refused as soon as
they pass ``request.max_bytes``. Proxies are those of the default transport
(``proxy_for``: the setting, else the environment, read per request);
nothing else is taken from the environment (``trust_env=False``: no
``.netrc``, no ``SSL_CERT_FILE``): TLS trust is ``verify``.

An ``httpx.AsyncClient`` belongs to the event loop it was first used on, and its
pooled connections to the process: a transport made before a fork, or used from
another loop, makes fresh clients there.

>>> t = AsyncHttpxTransport(proxy="direct")
>>> t.proxy_for("https://credit.example/api") is None
True
"""

from __future__ import annotations

import asyncio
import math
import os
import ssl
import time
import weakref

try:
    import anyio
    import httpcore  # noqa: F401 - loaded now: httpx loads it at its first client, on the loop
    import httpx
except ImportError as exc:  # pragma: no cover - the extra is installed wherever tests run
    raise ImportError(
        f"the async client needs httpx and anyio ({exc.name} is missing): "
        'pip install "credit-check-sdk[async]"'
    ) from exc

from .._exceptions import ConnectError, InvalidResponseError, RequestTimeoutError
from .._ids import mask_ids_in
from .base import AsyncBaseTransport, Request, Response, Sink, check_media_type
from .default import CHUNK, inflater_for, proxy_for, refuse_declared_length, take_chunk

__all__ = ["AsyncHttpxTransport"]


class AsyncHttpxTransport(AsyncBaseTransport):
    """HTTP(S) on an event loop, TLS verification on (``verify`` may name a CA bundle).

    ``proxy``: a URL, ``"direct"``, or ``None`` for the environment's
    (``HTTPS_PROXY`` … with ``NO_PROXY``), as the default transport.

    >>> AsyncHttpxTransport(proxy="http://proxy.gov.example:3128").proxy_for("https://x/")
    'http://proxy.gov.example:3128'
    """

    def __init__(
        self, *, verify: bool | str = True, pool_size: int = 100, proxy: str | None = None
    ) -> None:
        # Built once, now (at start-up): loading a CA bundle takes tens of milliseconds,
        # which would otherwise be spent on the event loop, inside a check's budget.
        self._ssl = (
            ssl.create_default_context(cafile=verify)
            if isinstance(verify, str)
            else httpx.create_ssl_context(verify=verify, trust_env=False)
        )
        self._pool_size = pool_size
        self._proxy = proxy or None
        self._clients: dict[str | None, httpx.AsyncClient] = {}  # by proxy
        self._loop: weakref.ref[asyncio.AbstractEventLoop] | None = None
        self._pid = os.getpid()
        self._scopes: set[anyio.CancelScope] = set()  # in flight, for end_requests()
        self._end_by = math.inf

    def proxy_for(self, url: str) -> str | None:
        """The proxy a request to ``url`` goes through now (``None``: straight there)."""
        return proxy_for(self._proxy, url)

    def _client(self, url: str) -> httpx.AsyncClient:
        loop = asyncio.get_running_loop()
        if self._pid != os.getpid() or self._loop is None or self._loop() is not loop:
            # Forked, or another event loop: the clients there are not usable here (and
            # cannot be closed from here); they go with their loop or process.
            self._clients = {}
            self._loop = weakref.ref(loop)
            self._pid = os.getpid()
        proxy = self.proxy_for(url)
        client = self._clients.get(proxy)
        if client is None:
            client = httpx.AsyncClient(
                proxy=proxy,
                verify=self._ssl,
                trust_env=False,
                follow_redirects=False,
                limits=httpx.Limits(
                    max_connections=self._pool_size, max_keepalive_connections=self._pool_size
                ),
            )
            self._clients[proxy] = client
        return client

    async def handle_async_request(self, request: Request) -> Response:
        """Send ``request`` and read its answer, all within the deadline and size limit."""
        deadline = request.deadline
        if self._end_by < math.inf:  # shutting down (end_requests)
            deadline = min(self._end_by, math.inf if deadline is None else deadline)
        connect, read = request.connect_timeout, request.read_timeout
        remaining = math.inf
        if deadline is not None:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise RequestTimeoutError(
                    "time budget spent before sending", method=request.method, url=request.url
                )
            connect, read = min(connect, remaining), min(read, remaining)
        client = self._client(request.url)
        # Only what this transport can inflate within bounds.
        headers = {"Accept-Encoding": "gzip", **request.headers}
        timeout = httpx.Timeout(
            connect=connect, read=read, write=read, pool=None if remaining == math.inf else read
        )
        # The whole exchange under one deadline (the event loop's clock is monotonic).
        scope = anyio.CancelScope(deadline=anyio.current_time() + remaining)
        self._scopes.add(scope)
        try:
            with scope:
                try:
                    async with client.stream(
                        request.method,
                        request.url,
                        headers=headers,
                        content=request.body or None,
                        timeout=timeout,
                    ) as raw:
                        ok = 200 <= raw.status_code < 300
                        if ok:
                            check_media_type(request, raw.status_code, raw.headers)
                        body = await _read(raw, request, request.sink if ok else None)
                        return Response(raw.status_code, dict(raw.headers), body)
                except httpx.TimeoutException as exc:
                    raise RequestTimeoutError(
                        f"timed out: {mask_ids_in(str(exc) or type(exc).__name__)}",
                        method=request.method,
                        url=request.url,
                    ) from exc
                except (httpx.HTTPError, OSError) as exc:
                    raise ConnectError(
                        f"connection failed: {mask_ids_in(str(exc) or type(exc).__name__)}",
                        method=request.method,
                        url=request.url,
                    ) from exc
        finally:
            self._scopes.discard(scope)
        # Only the scope's own deadline ends up here (any other cancellation propagates).
        raise RequestTimeoutError(
            "time budget ran out during the exchange (connect, send, headers or body)",
            method=request.method,
            url=request.url,
        )

    def end_requests(self, by: float) -> None:
        """Cut every request in flight at ``by``; later ones get no deadline past it.

        Called on the event loop the requests run on.
        """
        self._end_by = min(self._end_by, by)
        if not self._scopes:
            return
        at = anyio.current_time() + (by - time.monotonic())
        for scope in list(self._scopes):
            scope.deadline = min(scope.deadline, at)

    async def aclose(self) -> None:
        """Close this event loop's clients (those of another loop or process are dropped)."""
        clients, self._clients = self._clients, {}
        mine = (
            self._pid == os.getpid()
            and self._loop is not None
            and self._loop() is asyncio.get_running_loop()
        )
        if mine:
            for client in clients.values():
                await client.aclose()


async def _read(raw: httpx.Response, request: Request, sink: Sink | None) -> bytes:
    refuse_declared_length(raw.headers, request)
    inflater = inflater_for(raw.headers, request, streaming=sink is not None)
    parts: list[bytes] = []
    try:
        size = 0
        async for chunk in raw.aiter_raw(CHUNK):
            size = take_chunk(chunk, inflater, request, sink, parts, size)
        if inflater is not None and not inflater.complete:
            raise InvalidResponseError(
                "the gzip body ends early", method=request.method, url=request.url
            )
        return b"".join(parts)
    finally:
        parts.clear()  # a traceback that keeps this frame alive must not keep the pieces
