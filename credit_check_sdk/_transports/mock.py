"""A transport that hands each request to a function: for tests, no sockets.

>>> from credit_check_sdk._transports import MockTransport, Response
>>> t = MockTransport(lambda request: Response(503))
>>> t.handle_request(Request("GET", "http://127.0.0.1/api/v1/health")).status
503
"""

from __future__ import annotations

from collections.abc import Callable

from .base import BaseTransport, Request, Response

__all__ = ["MockTransport"]


class MockTransport(BaseTransport):
    """Answer every request with ``handler(request)``; the handler may raise transport errors."""

    def __init__(self, handler: Callable[[Request], Response]) -> None:
        self.handler = handler

    def handle_request(self, request: Request) -> Response:
        """Call the handler."""
        return self.handler(request)
