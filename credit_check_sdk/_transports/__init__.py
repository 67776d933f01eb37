"""How requests reach the platform: one-method transports (see ``base.py``)."""

from .base import BaseTransport, Request, Response, Sink
from .default import RequestsTransport
from .mock import MockTransport

__all__ = ["BaseTransport", "MockTransport", "Request", "RequestsTransport", "Response", "Sink"]
