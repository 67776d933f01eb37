"""The transport interface: one method, ``handle_request``.

The platform client signs, retries, maps errors and validates; a transport only
moves bytes. That keeps every policy in one place and lets tests (and the
``credit_check_sdk.testing`` fake platform) answer requests in memory.

>>> class Echo(BaseTransport):
...     def handle_request(self, request: Request) -> Response:
...         return Response(200, {"Content-Type": "application/json"}, b"{}")
>>> Echo().handle_request(Request("GET", "http://127.0.0.1/api/v1/health")).status
200
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Protocol
from urllib.parse import parse_qsl, urlsplit

from .._exceptions import InvalidResponseError

if TYPE_CHECKING:
    from requests.structures import CaseInsensitiveDict

__all__ = [
    "AsyncBaseTransport",
    "BaseTransport",
    "Request",
    "Response",
    "Sink",
    "check_media_type",
    "media_type",
]


class Sink(Protocol):
    """Where a streamed body goes: a binary file, or a loader that parses as bytes arrive.

    A retried request rewinds it with ``seek(0)`` and ``truncate()`` first.
    """

    def write(self, data: bytes, /) -> int:
        """Take the next bytes of the body."""

    def seek(self, offset: int, whence: int = 0, /) -> int:
        """Rewind (only ``seek(0)`` is asked for)."""

    def truncate(self, size: int | None = None, /) -> int:
        """Forget what was written."""


@dataclass(frozen=True)
class Request:
    """One HTTP request, fully formed and signed.

    ``deadline`` is a ``time.monotonic()`` instant after which the transport
    must give up (the check's whole time budget); ``max_bytes`` bounds the
    response body the transport will read. With ``sink`` set, a successful
    (2xx) body is written there as it arrives instead of being kept in memory
    (large list exports); transports that cannot stream may return the body
    and the client writes it. ``accept`` names the media types a 2xx answer
    may have (empty: any); see :func:`check_media_type`.
    """

    method: str
    url: str
    headers: Mapping[str, str] = field(default_factory=dict)
    body: bytes = b""
    connect_timeout: float = 2.0
    read_timeout: float = 5.0
    deadline: float | None = None
    max_bytes: int = 8 * 1024 * 1024
    sink: Sink | None = None
    accept: tuple[str, ...] = ()

    @property
    def path(self) -> str:
        """The URL's path, without query."""
        return urlsplit(self.url).path

    @property
    def query(self) -> list[tuple[str, str]]:
        """The URL's query pairs, decoded."""
        return parse_qsl(urlsplit(self.url).query, keep_blank_values=True)

    def remaining(self) -> float | None:
        """Seconds left before ``deadline``; ``None`` when there is none."""
        return None if self.deadline is None else self.deadline - time.monotonic()


def media_type(headers: Mapping[str, str]) -> tuple[str, str | None]:
    """The ``Content-Type`` without parameters, lowercased, and its ``charset`` (or None).

    >>> media_type({"Content-Type": "Application/JSON; charset=UTF-8"})
    ('application/json', 'utf-8')
    """
    value = next((v for k, v in headers.items() if k.lower() == "content-type"), "") or ""
    kind, *params = value.split(";")
    charset = None
    for param in params:
        name, _, arg = param.partition("=")
        if name.strip().lower() == "charset":
            charset = arg.strip().strip('"').lower()
    return kind.strip().lower(), charset


def check_media_type(request: Request, status: int, headers: Mapping[str, str]) -> None:
    """Refuse a 2xx answer whose media type ``request.accept`` does not name.

    A platform that answers a profile request with ``text/html`` is not speaking
    the contract, even when the page happens to parse as JSON (a captive portal,
    a gateway's error page): :class:`~credit_check_sdk.InvalidResponseError`.
    Answers without a body (204, 304) and requests without ``accept`` pass; a
    ``charset`` other than UTF-8 is refused (the contract is UTF-8 throughout).

    >>> check_media_type(Request("GET", "http://x/", accept=("application/json",)), 200,
    ...                  {"Content-Type": "application/json; charset=utf-8"})
    """
    if not request.accept or not 200 <= status < 300 or status in (204, 304):
        return
    kind, charset = media_type(headers)
    if kind not in request.accept:
        raise InvalidResponseError(
            f"the answer is {kind or 'without a Content-Type'}, "
            f"not {' or '.join(request.accept)} as the contract fixes",
            method=request.method,
            url=request.url,
        )
    if charset is not None and charset not in ("utf-8", "utf8"):
        raise InvalidResponseError(
            f"the answer is in {charset}, not UTF-8 as the contract fixes",
            method=request.method,
            url=request.url,
        )


class Response:
    """One HTTP response with its whole body read."""

    __slots__ = ("body", "headers", "status")

    def __init__(self, status: int, headers: Mapping[str, str] | None = None, body: bytes = b""):
        # requests is imported with the first response, not with the SDK (it is slow to import).
        from requests.structures import CaseInsensitiveDict

        self.status = status
        self.headers: CaseInsensitiveDict[str] = CaseInsensitiveDict(headers or {})
        self.body = body

    def __repr__(self) -> str:
        return f"<Response {self.status} {len(self.body)} bytes>"


class BaseTransport:
    """Send one request and return its response.

    Raise :class:`~credit_check_sdk.ConnectError` when no connection could be
    made or it broke, :class:`~credit_check_sdk.RequestTimeoutError` when a timeout
    or the deadline ran out (the deadline bounds the whole exchange: connecting,
    sending, the headers and the body), and
    :class:`~credit_check_sdk.InvalidResponseError` when the body is larger
    than ``request.max_bytes`` or a 2xx answer's media type is not one of
    ``request.accept`` (:func:`check_media_type`, before a byte of it reaches a
    sink). Anything else is the client's business.
    """

    def handle_request(self, request: Request) -> Response:
        """Send ``request``; return the response with its body read."""
        raise NotImplementedError

    def proxy_for(self, url: str) -> str | None:
        """The proxy a request to ``url`` would go through (``None``: straight there)."""
        return None

    def end_requests(self, by: float) -> None:
        """End every request in flight by ``by`` (``time.monotonic()``): shutting down.

        The client also gives requests made later no deadline past it; a
        transport that cannot cut a request in flight may do nothing here.
        """

    def close(self) -> None:
        """Release connections."""


class AsyncBaseTransport:
    """:class:`BaseTransport` for an event loop: ``await handle_async_request(request)``.

    The same duties: the deadline bounds the whole exchange, the body is
    bounded by ``request.max_bytes``, and faults are the same errors.

    >>> class Echo(AsyncBaseTransport):
    ...     async def handle_async_request(self, request: Request) -> Response:
    ...         return Response(200, {"Content-Type": "application/json"}, b"{}")
    """

    async def handle_async_request(self, request: Request) -> Response:
        """Send ``request``; return the response with its body read."""
        raise NotImplementedError

    def proxy_for(self, url: str) -> str | None:
        """The proxy a request to ``url`` would go through (``None``: straight there)."""
        return None

    def end_requests(self, by: float) -> None:
        """End every request in flight by ``by`` (``time.monotonic()``): shutting down.

        Called on the event loop the requests run on.
        """

    async def aclose(self) -> None:
        """Release connections."""
