"""How requests reach the platform: one-method transports (see ``base.py``).

``RequestsTransport`` is imported when first asked for (PEP 562): ``requests``
and urllib3 take longer to import than the rest of the SDK, and a checker
given its own transport, or a program that only imports the SDK's types,
never needs them. The async transport (``httpx_async``) is imported apart: it
needs the ``async`` extra.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from .base import AsyncBaseTransport, BaseTransport, Request, Response, Sink
from .mock import MockTransport

if TYPE_CHECKING:
    from .default import RequestsTransport

__all__ = [
    "AsyncBaseTransport",
    "BaseTransport",
    "MockTransport",
    "Request",
    "RequestsTransport",
    "Response",
    "Sink",
]


def __getattr__(name: str) -> Any:
    if name == "RequestsTransport":
        from .default import RequestsTransport

        return RequestsTransport
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
