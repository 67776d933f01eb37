"""How requests reach the platform: one-method transports (see ``base.py``).

The async transport (``httpx_async``) is imported apart: it needs the ``async`` extra.
"""

from .base import AsyncBaseTransport, BaseTransport, Request, Response, Sink
from .default import RequestsTransport
from .mock import MockTransport

__all__ = [
    "AsyncBaseTransport",
    "BaseTransport",
    "MockTransport",
    "Request",
    "RequestsTransport",
    "Response",
    "Sink",
]
