"""The credit platform, once, for every platform the project runs: the platform core.

:class:`~credit_check_sdk._platform.core.PlatformCore` holds the rules of the
platform contract (``docs/platform-contract.md``): signatures and nonces,
request validation, profiles with related parties both ways, the change feed
with relations, the export, record uploads, reports, objections, commitments
and disclosures. It keeps its data in a
:class:`~credit_check_sdk._platform.store.PlatformStore`: in memory
(:class:`~credit_check_sdk._platform.memory.MemoryStore`, behind
:class:`~credit_check_sdk.testing.FakePlatform`) or in SQL (the sandbox's store).

It needs neither FastAPI nor SQLAlchemy: FakePlatform runs on the core install.

>>> core = PlatformCore(MemoryStore(), app_id="app", app_secret="secret")
>>> core.profile("91442000MA4UJ2KQ57")["record_since"] is None
True
"""

from __future__ import annotations

from .core import PLATFORM_TZ, PlatformCore, parse_body
from .errors import Refusal, problem_document
from .feed import GenerationCursors, SeqCursors, parse_limit
from .memory import MemoryStore, json_bytes
from .store import PlatformStore

__all__ = [
    "PLATFORM_TZ",
    "GenerationCursors",
    "MemoryStore",
    "PlatformCore",
    "PlatformStore",
    "Refusal",
    "SeqCursors",
    "json_bytes",
    "parse_body",
    "parse_limit",
    "problem_document",
]
