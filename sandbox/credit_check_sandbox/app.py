"""The sandbox platform as a FastAPI application: every endpoint of the contract.

>>> app = create_app(SandboxSettings(database_url="sqlite://", seed_size=50))
>>> app.state.sandbox.store.profile("91442000MA4UC00019", "legal_entity")["entries"][0]["category"]
'court_judgment_defaulter'

The contract's rules are the platform core's (:mod:`credit_check_sdk._platform`,
the same that FakePlatform runs); this module is the HTTP side: routes,
streaming the export, faults, counters, rate limits and the nonce store's fast
path. Everything under ``base_path`` (``/api``) is signed as the contract says
and answers errors as RFC 9457 problem documents. With ``admin_enabled`` the
unsigned, loopback-only ``/_sandbox/…`` endpoints (:mod:`.admin`) change the
data and inject faults.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import math
import queue
import random
import threading
import time
import zlib
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any
from urllib.parse import parse_qsl

from fastapi import APIRouter, Depends, FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import Response, StreamingResponse
from pydantic import BaseModel, ConfigDict, Field
from starlette.concurrency import run_in_threadpool
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.routing import Route
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from credit_check_sdk._ids import mask_ids_in
from credit_check_sdk._platform import (
    PLATFORM_TZ,
    GenerationCursors,
    PlatformCore,
    Refusal,
    parse_limit,
    problem_document,
)

from . import db
from .admin import admin_router, read_admin_body
from .seed import seed_database
from .store import Store, json_bytes

__all__ = [
    "Faults",
    "Problem",
    "RateLimiter",
    "SandboxSettings",
    "SandboxState",
    "create_app",
    "problem_response",
]

logger = logging.getLogger(__name__)

#: Uncompressed NDJSON handed to zlib at a time by the export (fewer, larger calls).
_EXPORT_CHUNK = 1024 * 1024

#: An error answered as an RFC 9457 problem document: the platform core's refusal.
Problem = Refusal

#: A change-feed cursor's parts ``(generation, seq, head, issued)`` (for tests and tools).
_decode_cursor = GenerationCursors.parse


class SandboxSettings(BaseModel):
    """How a sandbox platform runs.

    ``change_retention`` bounds how long a change-feed cursor stays good: an
    ``int`` is a number of changes made since the cursor was issued, a
    ``timedelta`` its age; past either, the cursor gets ``410``. ``None``:
    cursors live until the database is reseeded. ``rate_limit`` is requests
    per second per app id (``None``: unlimited). ``agency_id`` is the agency the
    app's journal records, objections, commitments and reports must name
    (``None``: the app id itself).

    >>> s = SandboxSettings(database_url="sqlite://", seed_size=100)
    >>> s.base_path, s.admin_enabled
    ('/api', False)
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    database_url: str = "sqlite:///credit-check-sandbox.db"
    app_id: str = "sandbox-agency"
    app_secret: str = "sandbox-secret"  # noqa: S105 - a documented demo credential, not a secret
    agency_id: str | None = None
    seed: int = 20181130
    seed_size: int = Field(default=10_000, ge=0)
    reference_date: date | None = None
    admin_enabled: bool = False
    change_retention: int | timedelta | None = timedelta(days=7)
    rate_limit: float | None = Field(default=None, gt=0)
    base_path: str = "/api"
    #: Several processes serve the database (``--workers``): nonces are claimed in it.
    shared_nonces: bool = False


def problem_response(
    status: int, detail: str, *, slug: str | None = None, headers: dict[str, str] | None = None
) -> Response:
    """A ``application/problem+json`` response."""
    return Response(
        problem_document(status, detail, slug),
        status_code=status,
        headers=headers,
        media_type="application/problem+json",
    )


def _json_response(body: Any, status: int = 200) -> Response:
    """``body`` serialised once, as it is (no response-model validation on the hot paths)."""
    return Response(json_bytes(body), status_code=status, media_type="application/json")


# --- runtime state ----------------------------------------------------------------


@dataclass
class Faults:
    """Injected faults (``/_sandbox/faults``)."""

    latency_ms: int = 0
    error_rate: float = 0.0
    error_status: int = 503
    outage: bool = False
    rate_limit: float | None = None  # overrides the setting; 0 means unlimited


class RateLimiter:
    """A token bucket per app id: ``rate`` requests per second, bursts of ``rate``."""

    def __init__(self) -> None:
        self._buckets: dict[str, tuple[float, float]] = {}
        self._lock = threading.Lock()

    def take(self, key: str, rate: float, now: float | None = None) -> int | None:
        """``None`` when allowed, else the seconds to wait (``Retry-After``).

        >>> rl = RateLimiter()
        >>> rl.take("a", 1.0, now=0.0), rl.take("a", 1.0, now=0.1)
        (None, 1)
        """
        clock = time.monotonic() if now is None else now
        capacity = max(rate, 1.0)
        with self._lock:
            tokens, last = self._buckets.get(key, (capacity, clock))
            tokens = min(capacity, tokens + (clock - last) * rate)
            if tokens >= 1.0:
                self._buckets[key] = (tokens - 1.0, clock)
                return None
            self._buckets[key] = (tokens, clock)
            return max(1, math.ceil((1.0 - tokens) / rate))

    def reset(self) -> None:
        """Forget every bucket."""
        with self._lock:
            self._buckets.clear()


class SandboxState:
    """What one sandbox app holds: settings, database, faults, counters."""

    def __init__(self, settings: SandboxSettings) -> None:
        self.settings = settings
        self.engine = db.make_engine(settings.database_url)
        self.store = Store(self.engine, shared_nonces=settings.shared_nonces)
        self.core = PlatformCore(
            self.store,
            app_id=settings.app_id,
            app_secret=settings.app_secret,
            agency_id=settings.agency_id,
            clock=lambda: datetime.now(PLATFORM_TZ),
            cursors=GenerationCursors(
                lambda: self.store.meta()["generation"], settings.change_retention
            ),
        )
        self.faults = Faults()
        self.limiter = RateLimiter()
        self._counters: dict[str, dict[str, int]] = {}
        self._counters_since = db.format_ts(db.now())
        self._counter_lock = threading.Lock()
        self._catalog: tuple[bytes, str] | None = None

    def count(self, key: str, status: int) -> None:
        """Count one answered request."""
        with self._counter_lock:
            per = self._counters.setdefault(key, {})
            per[str(status)] = per.get(str(status), 0) + 1

    def counters(self) -> dict[str, Any]:
        """Requests answered since the last reset, by operation and status."""
        with self._counter_lock:
            return {
                "since": self._counters_since,
                "requests": {k: dict(v) for k, v in sorted(self._counters.items())},
            }

    def reset_counters(self) -> None:
        """Zero the counters and the rate-limit buckets."""
        with self._counter_lock:
            self._counters.clear()
            self._counters_since = db.format_ts(db.now())
        self.limiter.reset()

    def rate(self) -> float | None:
        """The rate limit in force (faults override the setting)."""
        if self.faults.rate_limit is not None:
            return self.faults.rate_limit or None
        return self.settings.rate_limit

    def catalog(self) -> tuple[bytes, str]:
        """The catalogue's JSON bytes and ETag (the SDK's packaged default catalogue)."""
        if self._catalog is None:
            from credit_check_sdk.catalogue import (
                default_catalog,  # imported lazily: optional at import time
            )

            body = json.dumps(
                default_catalog().model_dump(mode="json"), ensure_ascii=False, separators=(",", ":")
            ).encode()
            self.core.set_catalog(body)
            self._catalog = (body, self.core.catalog(None)[2])
        return self._catalog


def _state(request: Request) -> SandboxState:
    state: SandboxState = request.app.state.sandbox
    return state


# --- signature, nonce, rate limit -----------------------------------------------


async def authenticate(request: Request) -> str:
    """Dependency of every ``/api`` route: signature, nonce replay, rate limit."""
    state = _state(request)
    body = await request.body()
    request.state.body = body
    raw_path: bytes = request.scope.get("raw_path") or request.url.path.encode()
    path = raw_path.split(b"?", 1)[0].decode("latin-1")
    query = request.scope.get("query_string", b"").decode("utf-8", "replace")
    pairs = parse_qsl(query, keep_blank_values=True)
    app_id = state.core.check_signature(request.method, path, pairs, request.headers, body)
    nonce = request.headers["X-Nonce"]
    store = state.store
    if store.shared_nonces:  # claimed in the database: a replay to another worker is refused
        fresh = (
            store.remember_nonce(app_id, nonce)
            if store.is_sqlite  # one short statement
            else await run_in_threadpool(store.remember_nonce, app_id, nonce)
        )
    else:
        fresh, batch = store.check_nonce(app_id, nonce)
        if batch is not None:  # durable before answering: on SQLite one short write, done here
            if store.is_sqlite:
                store.flush_nonces(batch)
            else:
                await run_in_threadpool(store.flush_nonces, batch)
    if not fresh:
        raise state.core.replayed()
    rate = state.rate()
    if rate is not None:
        wait = state.limiter.take(app_id, rate)
        if wait is not None:
            raise Refusal(
                429,
                f"more than {rate:g} requests per second from {app_id}",
                slug="rate-limited",
                headers={"Retry-After": str(wait)},
            )
    request.state.app_id = app_id
    return app_id


def _caller(request: Request) -> str:
    """The calling app's agency id: what its records, objections and reports must name."""
    app_id: str = request.state.app_id
    return _state(request).settings.agency_id or app_id


def _body(request: Request) -> bytes:
    body: bytes = request.state.body
    return body


# --- middleware: faults and counters --------------------------------------------


class FaultsAndCounters:
    """Pure ASGI middleware: outage, latency and error injection on ``/api``; counters."""

    def __init__(self, app: ASGIApp, state: SandboxState) -> None:
        self.app = app
        self.state = state
        self.prefix = state.settings.base_path.rstrip("/")

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        status = 0

        async def recording_send(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = int(message["status"])
            await send(message)

        path: str = scope["path"]
        in_api = path == self.prefix or path.startswith(self.prefix + "/")
        try:
            faults = self.state.faults
            if in_api and faults.outage:
                response = problem_response(
                    503,
                    "the platform is down (sandbox outage)",
                    slug="outage",
                    headers={"Retry-After": "5"},
                )
                await response(scope, receive, recording_send)
                return
            if in_api and faults.latency_ms:
                await asyncio.sleep(faults.latency_ms / 1000)
            if in_api and faults.error_rate and random.random() < faults.error_rate:  # noqa: S311 - fault injection, not security
                response = problem_response(
                    faults.error_status, "injected fault (sandbox)", slug="injected-fault"
                )
                await response(scope, receive, recording_send)
                return
            await self.app(scope, receive, recording_send)
        finally:
            route = scope.get("route")
            key = f"{scope.get('method', '')} {getattr(route, 'path', 'unmatched')}"
            self.state.count(key, status)


class _MaskIds(logging.Filter):
    """Masks personal id numbers in access-log lines."""

    def filter(self, record: logging.LogRecord) -> bool:
        if isinstance(record.args, tuple):
            record.args = tuple(mask_ids_in(a) if isinstance(a, str) else a for a in record.args)
        return True


def _install_log_masking() -> None:
    access = logging.getLogger("uvicorn.access")
    if not any(isinstance(f, _MaskIds) for f in access.filters):
        access.addFilter(_MaskIds())


# --- the API ----------------------------------------------------------------------


def _api_router() -> APIRouter:
    router = APIRouter(prefix="/v1", dependencies=[Depends(authenticate)])

    @router.post("/profiles:batch")
    def batch_profiles(request: Request) -> Response:
        return _json_response(_state(request).core.batch_profiles(_body(request)))

    @router.get("/catalog")
    def get_catalog(request: Request) -> Response:
        state = _state(request)
        state.catalog()
        status, body, etag = state.core.catalog(request.headers.get("If-None-Match"))
        if status == 304:
            return Response(status_code=304, headers={"ETag": etag})
        return Response(body, media_type="application/json", headers={"ETag": etag})

    @router.get("/lists/changes")
    def list_changes(request: Request) -> Response:
        params = request.query_params
        limit = parse_limit(params.get("limit"))
        page = _state(request).core.changes(params.get("cursor"), limit)
        return Response(page, media_type="application/json")

    @router.get("/lists/export")
    def export_lists(request: Request) -> StreamingResponse:
        core = _state(request).core

        def lines() -> Iterator[bytes]:
            # Level 1: at level 6 compressing took longer than reading the entries; the
            # export is a bulk download, where a somewhat larger body costs less than the CPU.
            packer = zlib.compressobj(1, zlib.DEFLATED, 31)  # 31: gzip container
            # SQLite and zlib both let go of the GIL while they work, so the next block of
            # lines is read while this one is compressed.
            with _read_ahead(_blocks(core.export(), _EXPORT_CHUNK)) as blocks:
                for block in blocks:
                    packed = packer.compress(block)
                    if packed:
                        yield packed
            yield packer.flush()

        return StreamingResponse(
            lines(), media_type="application/x-ndjson", headers={"Content-Encoding": "gzip"}
        )

    @router.post("/records:batch")
    def upload_records(request: Request) -> Response:
        return _json_response(_state(request).core.upload_records(_caller(request), _body(request)))

    @router.put("/reports/{agency_id}/{period}")
    def put_report(agency_id: str, period: str, request: Request) -> Response:
        core = _state(request).core
        return _json_response(core.put_report(_caller(request), agency_id, period, _body(request)))

    @router.post("/objections", status_code=202)
    def file_objection(request: Request) -> Response:
        answer = _state(request).core.file_objection(_caller(request), _body(request))
        return _json_response(answer, 202)

    @router.get("/objections/{objection_id}")
    def get_objection(objection_id: str, request: Request) -> Response:
        return _json_response(_state(request).core.objection(objection_id))

    @router.post("/commitments", status_code=201)
    def record_commitment(request: Request) -> Response:
        answer = _state(request).core.record_commitment(_caller(request), _body(request))
        return _json_response(answer, 201)

    @router.post("/commitments/{commitment_id}:resolve")
    def resolve_commitment(commitment_id: str, request: Request) -> Response:
        core = _state(request).core
        return _json_response(core.resolve_commitment(commitment_id, _body(request)))

    @router.post("/disclosures", status_code=201)
    def disclose(request: Request) -> Response:
        status, receipt = _state(request).core.disclose(_caller(request), _body(request))
        return _json_response(receipt, status)

    return router


def _blocks(chunks: Iterable[bytes], size: int) -> Iterator[bytes]:
    """``chunks`` joined into blocks of at least ``size`` bytes (the last may be shorter)."""
    buffer: list[bytes] = []
    held = 0
    for chunk in chunks:
        buffer.append(chunk)
        held += len(chunk)
        if held >= size:
            yield b"".join(buffer)
            buffer.clear()
            held = 0
    if buffer:
        yield b"".join(buffer)


@contextlib.contextmanager
def _read_ahead(source: Iterator[bytes], depth: int = 2) -> Iterator[Iterator[bytes]]:
    """``source``'s items, taken from it by a thread of its own up to ``depth`` items ahead.

    On leaving the block the thread is stopped and waited for (it finishes the item it is
    taking, if any), so that ``source`` and what it reads from are no longer in use afterwards.
    """
    ahead: queue.Queue[tuple[bytes | None, BaseException | None]] = queue.Queue(depth)
    stop = threading.Event()

    def put(item: tuple[bytes | None, BaseException | None]) -> bool:
        """Queue ``item``; ``False`` once the consumer is gone (then take no more)."""
        while not stop.is_set():
            try:
                ahead.put(item, timeout=0.05)
            except queue.Full:
                continue
            return not stop.is_set()
        return False

    def produce() -> None:
        try:
            for item in source:
                if not put((item, None)):
                    return
            put((None, None))
        except BaseException as exc:  # whatever it is, the consumer raises it
            put((None, exc))

    def items() -> Iterator[bytes]:
        while True:
            item, exc = ahead.get()
            if exc is not None:
                raise exc
            if item is None:
                return
            yield item

    thread = threading.Thread(target=produce, name="sandbox-export-reader", daemon=True)
    thread.start()
    try:
        yield items()
    finally:
        stop.set()
        with contextlib.suppress(queue.Empty):  # a put waiting for room returns at once
            while True:
                ahead.get_nowait()
        thread.join()


def _hot_routes(prefix: str) -> list[Route]:
    """``/v1/health`` and ``/v1/subjects/{id}/profile`` as plain Starlette routes: the calls
    agencies make most, without FastAPI's per-request dependency and parameter machinery
    (they take nothing but the path). They authenticate like every other ``/api`` route."""

    async def health(request: Request) -> Response:
        await authenticate(request)
        return _json_response({"status": "ok", "time": db.format_ts(db.now())})

    async def get_profile(request: Request) -> Response:
        await authenticate(request)
        state = _state(request)
        raw = request.path_params["subject_id"]
        if not state.store.is_sqlite:
            return _json_response(await run_in_threadpool(state.core.profile, raw))
        # On the event loop: on SQLite the look-up takes well under a millisecond, less than
        # handing it to a worker thread and back would.
        return _json_response(state.core.profile(raw))

    return [
        _HotRoute(prefix, "/v1/health", health),
        _HotRoute(prefix, "/v1/subjects/{subject_id}/profile", get_profile),
    ]


class _HotRoute(Route):
    """A GET route under ``prefix`` whose ``path`` omits the prefix, as the API router's
    routes do, so that the counters name it the same way."""

    def __init__(self, prefix: str, path: str, endpoint: Any) -> None:
        super().__init__(prefix + path, endpoint, methods=["GET"])
        self.path = path  # matching uses the pattern compiled from the full path

    async def handle(self, scope: Scope, receive: Receive, send: Send) -> None:
        scope["route"] = self  # for the counters (FastAPI's router sets it for its own only)
        await super().handle(scope, receive, send)


# --- errors -----------------------------------------------------------------------


def _install_error_handlers(app: FastAPI) -> None:
    async def on_problem(_request: Request, exc: Exception) -> Response:
        assert isinstance(exc, Refusal)  # noqa: S101 - registered for refusals only
        return problem_response(exc.status, exc.detail, slug=exc.slug, headers=exc.headers)

    async def on_http(_request: Request, exc: Exception) -> Response:
        assert isinstance(exc, StarletteHTTPException)  # noqa: S101 - registered for it only
        status = exc.status_code
        detail = exc.detail if isinstance(exc.detail, str) else json.dumps(exc.detail)
        if status == 404:
            detail = "no such resource"
        return problem_response(status, detail, headers=dict(exc.headers or {}))

    async def on_validation(_request: Request, exc: Exception) -> Response:
        assert isinstance(exc, RequestValidationError)  # noqa: S101 - registered for it only
        parts = []
        for err in list(exc.errors())[:5]:
            loc = ".".join(str(p) for p in err.get("loc", ()))
            parts.append(f"{loc}: {err.get('msg', 'invalid')}")
        return problem_response(400, "; ".join(parts) or "invalid request", slug="bad-request")

    async def on_error(_request: Request, exc: Exception) -> Response:
        logger.error("unhandled error: %s", mask_ids_in(repr(exc)), exc_info=exc)
        return problem_response(500, "internal error in the sandbox platform")

    app.add_exception_handler(Refusal, on_problem)
    app.add_exception_handler(StarletteHTTPException, on_http)
    app.add_exception_handler(RequestValidationError, on_validation)
    app.add_exception_handler(Exception, on_error)


def create_app(settings: SandboxSettings | None = None) -> FastAPI:
    """The sandbox platform app; seeds the database first when it is empty.

    >>> from fastapi.testclient import TestClient  # doctest: +SKIP
    >>> app = create_app(SandboxSettings(database_url="sqlite://", seed_size=100))
    >>> app.state.sandbox.settings.seed_size
    100
    """
    settings = settings or SandboxSettings()
    state = SandboxState(settings)
    stats = seed_database(
        state.engine,
        seed=settings.seed,
        seed_size=settings.seed_size,
        reference_date=settings.reference_date,
    )
    if stats is not None:
        logger.info(
            "sandbox database seeded: %d subjects, %d entries (%.1f s)",
            stats.subjects,
            stats.entries,
            stats.seconds,
        )
    _install_log_masking()
    app = FastAPI(title="Credit platform sandbox", docs_url=None, redoc_url=None, openapi_url=None)
    app.state.sandbox = state
    prefix = settings.base_path.rstrip("/")
    for route in _hot_routes(prefix):
        app.router.routes.append(route)
    app.include_router(_api_router(), prefix=prefix)
    if settings.admin_enabled:
        app.include_router(admin_router(), dependencies=[Depends(read_admin_body)])
    _install_error_handlers(app)
    app.add_middleware(FaultsAndCounters, state=state)
    return app
