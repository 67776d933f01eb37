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
from typing import Protocol
from urllib.parse import parse_qsl, urlsplit

from requests.structures import CaseInsensitiveDict

__all__ = ["BaseTransport", "Request", "Response", "Sink"]


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
    and the client writes it.
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


class Response:
    """One HTTP response with its whole body read."""

    __slots__ = ("body", "headers", "status")

    def __init__(self, status: int, headers: Mapping[str, str] | None = None, body: bytes = b""):
        self.status = status
        self.headers: CaseInsensitiveDict[str] = CaseInsensitiveDict(headers or {})
        self.body = body

    def __repr__(self) -> str:
        return f"<Response {self.status} {len(self.body)} bytes>"


class BaseTransport:
    """Send one request and return its response.

    Raise :class:`~credit_check_sdk.ConnectError` when no connection could be
    made or it broke, :class:`~credit_check_sdk.RequestTimeoutError` when a timeout
    or the deadline ran out, and
    :class:`~credit_check_sdk.InvalidResponseError` when the body is larger
    than ``request.max_bytes``. Anything else is the client's business.
    """

    def handle_request(self, request: Request) -> Response:
        """Send ``request``; return the response with its body read."""
        raise NotImplementedError

    def close(self) -> None:
        """Release connections."""
