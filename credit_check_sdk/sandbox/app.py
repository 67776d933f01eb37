"""The sandbox platform as a FastAPI application: every endpoint of the contract.

>>> app = create_app(SandboxSettings(database_url="sqlite://", seed_size=50))
>>> app.state.sandbox.store.profile("91442000MA4UC00019", "legal_entity")["entries"][0]["category"]
'court_judgment_defaulter'

Everything under ``base_path`` (``/api``) is signed as the contract says and
answers errors as RFC 9457 problem documents. With ``admin_enabled`` the
unsigned, loopback-only ``/_sandbox/…`` endpoints change the data and inject
faults (see the module :mod:`credit_check_sdk.sandbox` and the README).
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import contextlib
import hashlib
import http
import itertools
import json
import logging
import math
import queue
import random
import re
import threading
import time
import uuid
import zlib
from collections.abc import Iterable, Iterator
from dataclasses import asdict, dataclass
from datetime import date, timedelta
from typing import Annotated, Any, Literal, TypeVar
from urllib.parse import parse_qsl

import sqlalchemy as sa
from fastapi import APIRouter, Depends, FastAPI, Query, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response, StreamingResponse
from pydantic import BaseModel, ConfigDict, Field, ValidationError
from starlette.concurrency import run_in_threadpool
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.routing import Route
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from .._exceptions import InvalidSubjectError
from .._ids import mask_id, mask_ids_in, normalize_id, validate_id
from ..categories import BLACK, RED
from ..signing import verify
from . import _inputs as inp
from . import db
from .seed import SCENARIO_SUBJECTS, seed_database
from .store import Store, entry_json, json_bytes

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

_PROBLEM_BASE = "https://credit.example/problems/"
_MAX_BATCH_PROFILES = 200
_MAX_RECORDS = 1000
_MAX_CHANGES = 5000
#: Uncompressed NDJSON handed to zlib at a time by the export (fewer, larger calls).
_EXPORT_CHUNK = 1024 * 1024
_PERIOD = re.compile(r"^[0-9]{4}-(0[1-9]|1[0-2])$")
_LOOPBACK = frozenset({"127.0.0.1", "::1", "localhost", "testclient"})


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


class Problem(Exception):  # noqa: N818 - named after the RFC 9457 document it becomes
    """An error answered as an RFC 9457 problem document.

    >>> Problem(404, "no such objection").status
    404
    """

    def __init__(
        self,
        status: int,
        detail: str,
        *,
        slug: str | None = None,
        headers: dict[str, str] | None = None,
    ) -> None:
        super().__init__(detail)
        self.status = status
        self.detail = detail
        self.slug = slug
        self.headers = headers or {}


def problem_response(
    status: int, detail: str, *, slug: str | None = None, headers: dict[str, str] | None = None
) -> JSONResponse:
    """A ``application/problem+json`` response."""
    title = (
        http.HTTPStatus(status).phrase
        if status in http.HTTPStatus._value2member_map_
        else ("Error")
    )
    body = {
        "type": _PROBLEM_BASE + (slug or title.lower().replace(" ", "-")),
        "title": title,
        "status": status,
        "detail": detail,
    }
    return JSONResponse(
        body, status_code=status, headers=headers, media_type="application/problem+json"
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
            from ..catalogue import default_catalog  # imported lazily: optional at import time

            body = json.dumps(
                default_catalog().model_dump(mode="json"), ensure_ascii=False, separators=(",", ":")
            ).encode()
            self._catalog = (body, '"' + hashlib.sha256(body).hexdigest()[:32] + '"')
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
    app_id = request.headers.get("X-App-Id", "")
    secret = state.settings.app_secret if app_id == state.settings.app_id else None
    why = verify(
        request.headers,
        secret=secret or "",
        method=request.method,
        path=path,
        query=pairs,
        body=body,
    )
    if why is None and secret is None:
        why = "unknown app id"
    if why is not None:
        raise Problem(401, why, slug="bad-signature")
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
        raise Problem(401, "nonce already used within the last 600 s", slug="replayed-nonce")
    rate = state.rate()
    if rate is not None:
        wait = state.limiter.take(app_id, rate)
        if wait is not None:
            raise Problem(
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


_M = TypeVar("_M", bound=BaseModel)


def _parse(model: type[_M], body: bytes) -> _M:
    if not body:
        raise Problem(400, "a JSON request body is required", slug="bad-body")
    try:
        return model.model_validate_json(body)
    except ValidationError as exc:
        raise Problem(400, inp.describe_errors(exc), slug="bad-body") from None


def _resolve_id(raw: str, store: Store | None = None) -> tuple[str, str]:
    """``validate_id``; an all-digit id valid both as USCC and RIC takes the kind on record,
    else ``natural_person`` (the path carries no kind, and 18 digits are mostly a RIC).

    With a ``store``, an id on record is taken with its recorded kind: every subject was
    validated when stored (as that kind), and checking a RIC's region code again costs far
    more than looking the id up.
    """
    if store is not None and isinstance(raw, str):
        number = normalize_id(raw)
        if len(number) == 18:
            known = store.kind_of(number)
            if known is not None:
                return number, known
    try:
        return validate_id(raw)
    except InvalidSubjectError as exc:
        if exc.reason != "ambiguous":
            raise
        number = normalize_id(raw)
        known = store.kind_of(number) if store is not None else None
        return number, known or "natural_person"


def _subject(raw: str, store: Store | None = None) -> tuple[str, str]:
    try:
        return _resolve_id(raw, store)
    except InvalidSubjectError as exc:
        raise Problem(400, str(exc), slug="invalid-subject") from None


# --- cursors ----------------------------------------------------------------------


def _encode_cursor(generation: str, seq: int, head: int) -> str:
    raw = f"v1:{generation}:{seq}:{head}:{int(time.time())}".encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def _decode_cursor(cursor: str) -> tuple[str, int, int, int]:
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)).decode()
        version, generation, seq, head, issued = raw.split(":")
        if version != "v1":
            raise ValueError(version)
        return generation, int(seq), int(head), int(issued)
    except (ValueError, binascii.Error, UnicodeDecodeError):
        raise Problem(400, "malformed cursor; start again without one", slug="bad-cursor") from None


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
    def batch_profiles(request: Request) -> dict[str, Any]:
        body = _body(request)
        try:
            raw = json.loads(body) if body else None
        except ValueError:
            raise Problem(400, "the body is not JSON", slug="bad-body") from None
        if (
            isinstance(raw, dict)
            and isinstance(raw.get("subject_ids"), list)
            and len(raw["subject_ids"]) > _MAX_BATCH_PROFILES
        ):
            raise Problem(
                413, f"at most {_MAX_BATCH_PROFILES} subject ids per batch", slug="too-many"
            )
        req = _parse(inp.BatchProfilesIn, body)
        valid: list[tuple[str, str]] = []
        invalid: list[dict[str, str]] = []
        for raw_id in req.subject_ids:
            try:
                valid.append(_resolve_id(raw_id, _state(request).store))
            except InvalidSubjectError as exc:
                invalid.append({"subject_id": raw_id, "detail": str(exc)})
        profiles = _state(request).store.profiles(valid) if valid else []
        return {"profiles": profiles, "invalid": invalid}

    @router.get("/catalog")
    def get_catalog(request: Request) -> Response:
        body, etag = _state(request).catalog()
        given = request.headers.get("If-None-Match")
        if given is not None:
            tags = {t.strip().removeprefix("W/") for t in given.split(",")}
            if "*" in tags or etag in tags:
                return Response(status_code=304, headers={"ETag": etag})
        return Response(body, media_type="application/json", headers={"ETag": etag})

    @router.get("/lists/changes")
    def list_changes(
        request: Request,
        cursor: Annotated[str | None, Query()] = None,
        limit: Annotated[int, Query(ge=1, le=_MAX_CHANGES)] = 1000,
    ) -> Response:
        state = _state(request)
        generation = state.store.meta()["generation"]
        after = 0
        if cursor is not None:
            gen, after, head, issued = _decode_cursor(cursor)
            if gen != generation:
                raise Problem(
                    410,
                    "the cursor belongs to an earlier data set; start again without a cursor",
                    slug="cursor-expired",
                )
            retention = state.settings.change_retention
            with state.engine.connect() as conn:
                newest = state.store.max_seq(conn)
            if after > newest or head > newest or after > head:
                raise Problem(400, "the cursor points past the end of the feed", slug="bad-cursor")
            too_old = (isinstance(retention, int) and newest - head > retention) or (
                isinstance(retention, timedelta)
                and time.time() - issued > retention.total_seconds()
            )
            if too_old:
                raise Problem(
                    410,
                    "the cursor is older than the change feed keeps; start again without a cursor",
                    slug="cursor-expired",
                )
        changes, newest = state.store.change_texts_after(after, limit + 1)
        has_more = len(changes) > limit
        changes = changes[:limit]
        last = changes[-1][0] if changes else after
        tail = json_bytes(
            {
                "next_cursor": _encode_cursor(generation, last, newest),
                "has_more": has_more,
                "as_of": db.format_ts(db.now()),
            }
        )
        # The changes come as JSON text, joined as they are: parsing and serialising a
        # 5000-change page again would cost more than reading it from the database. The
        # object's start and end go onto the first and last change, so that the page (a few
        # megabytes) is copied once, by the one join.
        texts = [text for _, text in changes] or [b""]
        texts[0] = b'{"changes":[' + texts[0]
        texts[-1] += b"]," + tail[1:]
        return Response(b",".join(texts), media_type="application/json")

    @router.get("/lists/export")
    def export_lists(request: Request) -> StreamingResponse:
        state = _state(request)
        generation = state.store.meta()["generation"]

        def lines() -> Iterator[bytes]:
            # Level 1: at level 6 compressing took longer than reading the entries; the
            # export is a bulk download, where a somewhat larger body costs less than the CPU.
            packer = zlib.compressobj(1, zlib.DEFLATED, 31)  # 31: gzip container
            with state.store.export_ndjson() as (newest, count, chunks):
                head = {
                    "cursor": _encode_cursor(generation, newest, newest),
                    "as_of": db.format_ts(db.now()),
                    "count": count,
                }
                ndjson = itertools.chain([json_bytes(head) + b"\n"], chunks)
                # SQLite and zlib both let go of the GIL while they work, so the next block of
                # lines is read while this one is compressed.
                with _read_ahead(_blocks(ndjson, _EXPORT_CHUNK)) as blocks:
                    for block in blocks:
                        packed = packer.compress(block)
                        if packed:
                            yield packed
            yield packer.flush()

        return StreamingResponse(
            lines(), media_type="application/x-ndjson", headers={"Content-Encoding": "gzip"}
        )

    @router.post("/records:batch")
    def upload_records(request: Request) -> dict[str, Any]:
        return _upload_records(_state(request), _caller(request), _body(request))

    @router.put("/reports/{agency_id}/{period}")
    def put_report(agency_id: str, period: str, request: Request) -> dict[str, Any]:
        caller = _caller(request)
        if agency_id != caller:
            raise Problem(
                403, f"app {caller} may not file reports for agency {agency_id}", slug="forbidden"
            )
        if not _PERIOD.match(period):
            raise Problem(400, f"period {period!r} is not YYYY-MM", slug="bad-period")
        report = _parse(inp.MonthlyReportIn, _body(request))
        if report.agency_id != agency_id or report.period != period:
            raise Problem(
                400, "the report's agency_id and period must match the URL", slug="bad-body"
            )
        receipt, version = _state(request).store.put_report(
            agency_id, period, json.loads(_body(request))
        )
        logger.info("report %s %s stored as version %d", agency_id, period, version)
        return {"receipt_id": receipt, "version": version}

    @router.post("/objections", status_code=202)
    def file_objection(request: Request) -> dict[str, Any]:
        req = _parse(inp.ObjectionIn, _body(request))
        subject_id, _ = _subject(req.subject_id)
        return _file_objection(_state(request), _caller(request), subject_id, req)

    @router.get("/objections/{objection_id}")
    def get_objection(objection_id: str, request: Request) -> dict[str, Any]:
        with _state(request).engine.connect() as conn:
            row = (
                conn.execute(
                    sa.select(db.objections).where(db.objections.c.objection_id == objection_id)
                )
                .mappings()
                .one_or_none()
            )
        if row is None:
            raise Problem(404, f"no objection {objection_id!r}", slug="not-found")
        return _objection_json(row)

    @router.post("/commitments", status_code=201)
    def record_commitment(request: Request) -> dict[str, Any]:
        req = _parse(inp.CommitmentIn, _body(request))
        subject_id, kind = _subject(req.subject_id, _state(request).store)
        return _record_commitment(_state(request), _caller(request), subject_id, kind, req)

    @router.post("/commitments/{commitment_id}:resolve")
    def resolve_commitment(commitment_id: str, request: Request) -> dict[str, Any]:
        req = _parse(inp.ResolveIn, _body(request))
        return _resolve_commitment(_state(request), commitment_id, req)

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
        store = _state(request).store
        number, kind = _subject(request.path_params["subject_id"], store)
        if not store.is_sqlite:
            return _json_response(await run_in_threadpool(store.profile, number, kind))
        # On the event loop: on SQLite the look-up takes well under a millisecond, less than
        # handing it to a worker thread and back would.
        return _json_response(store.profile(number, kind))

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


def _record_hash(item: dict[str, Any]) -> str:
    rest = {k: v for k, v in item.items() if k != "hash"}
    canonical = json.dumps(rest, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return hashlib.sha256(canonical.encode()).hexdigest()


def _upload_records(state: SandboxState, caller: str, body: bytes) -> dict[str, Any]:
    try:
        raw = json.loads(body) if body else None
    except ValueError:
        raise Problem(400, "the body is not JSON", slug="bad-body") from None
    if not isinstance(raw, dict) or not isinstance(raw.get("records"), list):
        raise Problem(400, 'the body must be {"records": [...]}', slug="bad-body")
    items: list[Any] = raw["records"]
    if not items:
        raise Problem(400, "records is empty", slug="bad-body")
    if len(items) > _MAX_RECORDS:
        raise Problem(413, f"at most {_MAX_RECORDS} records per batch", slug="too-many")
    bad = [i for i, item in enumerate(items) if not isinstance(item, dict)]
    if bad:
        raise Problem(400, f"records[{bad[0]}] is not a JSON object", slug="bad-body")
    accepted: list[dict[str, Any]] = []
    duplicates: list[str] = []
    rejected: list[dict[str, str]] = []
    seen: set[str] = set()
    for i, item in enumerate(items):
        rid = item.get("id")
        label = rid if isinstance(rid, str) and rid else f"records[{i}]"
        kind = item.get("type")
        model: type[inp.CheckRecordIn] | type[inp.ActionRecordIn]
        if kind == "check":
            model = inp.CheckRecordIn
        elif kind == "action":
            model = inp.ActionRecordIn
        else:
            rejected.append({"id": label, "detail": f"type must be check or action, not {kind!r}"})
            continue
        try:
            record = model.model_validate_json(json.dumps(item))
        except ValidationError as exc:
            rejected.append({"id": label, "detail": inp.describe_errors(exc)})
            continue
        if record.agency_id != caller:
            rejected.append(
                {
                    "id": label,
                    "detail": f"agency_id {record.agency_id!r} is not the "
                    f"calling agency {caller!r}",
                }
            )
            continue
        if (
            isinstance(record, inp.ActionRecordIn)
            and record.action != "applied"
            and not (record.reason or "").strip()
        ):
            rejected.append({"id": label, "detail": f"a reason is required for {record.action}"})
            continue
        if _record_hash(item) != record.hash:
            rejected.append(
                {"id": label, "detail": "hash is not the SHA-256 of the record's canonical JSON"}
            )
            continue
        if label in seen:
            duplicates.append(label)
            continue
        seen.add(label)
        accepted.append(item)
    present = state.store.store_records(caller, accepted) if accepted else set()
    duplicates.extend(r["id"] for r in accepted if r["id"] in present)
    return {
        "accepted": [r["id"] for r in accepted if r["id"] not in present],
        "duplicates": duplicates,
        "rejected": rejected,
    }


def _objection_json(row: Any) -> dict[str, Any]:
    return {
        "objection_id": row["objection_id"],
        "status": row["status"],
        "subject_id": row["subject_id"],
        "entry_id": row["entry_id"],
        "check_id": row["check_id"],
        "filed_at": db.format_ts(row["filed_at"]),
        "resolved_at": db.format_ts(row["resolved_at"]) if row["resolved_at"] else None,
    }


def _file_objection(
    state: SandboxState, caller: str, subject_id: str, req: inp.ObjectionIn
) -> dict[str, Any]:
    store = state.store
    with store.write() as conn:
        entry = store.get_entry(conn, req.entry_id)
        if entry is None or entry["deleted"] or entry["subject_id"] != subject_id:
            raise Problem(
                404,
                f"no entry {req.entry_id!r} for subject {mask_id(subject_id)}",
                slug="not-found",
            )
        if entry["status"] == "objection_pending":
            raise Problem(409, f"entry {req.entry_id} is already under objection", slug="conflict")
        if entry["status"] != "active":
            raise Problem(
                409,
                f"entry {req.entry_id} is {entry['status']}; only active entries can be disputed",
                slug="conflict",
            )
        objection_id = f"OB-{db.now():%Y%m%d}-{uuid.uuid4().hex[:10].upper()}"
        conn.execute(
            db.objections.insert().values(
                objection_id=objection_id,
                agency_id=caller,
                subject_id=subject_id,
                entry_id=req.entry_id,
                check_id=req.check_id,
                reason=req.reason,
                submitted_by=req.submitted_by,
                status="verifying",
                previous_status=entry["status"],
                filed_at=db.now(),
                resolved_at=None,
            )
        )
        store.set_entry_status(conn, req.entry_id, "objection_pending")
    logger.info("objection %s filed on entry %s", objection_id, req.entry_id)
    return {
        "objection_id": objection_id,
        "status": "verifying",
        "subject_id": subject_id,
        "entry_id": req.entry_id,
    }


def _commitment_json(body: dict[str, Any], status: str) -> dict[str, Any]:
    return {**body, "status": status}


def _record_commitment(
    state: SandboxState, caller: str, subject_id: str, kind: str, req: inp.CommitmentIn
) -> dict[str, Any]:
    body = req.model_dump(mode="json", exclude={"status"})
    body["subject_id"] = subject_id
    c = db.commitments.c
    with state.store.write() as conn:
        row = (
            conn.execute(sa.select(db.commitments).where(c.commitment_id == req.commitment_id))
            .mappings()
            .one_or_none()
        )
        if row is not None:
            if json.loads(row["body"]) != body:
                raise Problem(
                    409,
                    f"commitment {req.commitment_id!r} exists with other content",
                    slug="conflict",
                )
            return _commitment_json(body, row["status"])
        conn.execute(
            db.commitments.insert().values(
                commitment_id=req.commitment_id,
                agency_id=caller,
                subject_id=subject_id,
                body=json.dumps(body, ensure_ascii=False),
                status="open",
                resolved_on=None,
                created_at=db.now(),
            )
        )
    return _commitment_json(body, "open")


def _resolve_commitment(
    state: SandboxState, commitment_id: str, req: inp.ResolveIn
) -> dict[str, Any]:
    c = db.commitments.c
    store = state.store
    with store.write() as conn:
        row = (
            conn.execute(sa.select(db.commitments).where(c.commitment_id == commitment_id))
            .mappings()
            .one_or_none()
        )
        if row is None:
            raise Problem(404, f"no commitment {commitment_id!r}", slug="not-found")
        body = json.loads(row["body"])
        if row["status"] != "open":
            if row["status"] == req.resolution and row["resolved_on"] == req.resolved_on:
                return _commitment_json(body, row["status"])
            raise Problem(
                409, f"commitment {commitment_id!r} is already {row['status']}", slug="conflict"
            )
        conn.execute(
            db.commitments.update()
            .where(c.commitment_id == commitment_id)
            .values(status=req.resolution, resolved_on=req.resolved_on)
        )
        if req.resolution == "breached":
            sid = row["subject_id"]
            kind = _resolve_id(sid, store)[1]
            store.ensure_subject(conn, sid, kind, since=req.resolved_on)
            store.add_adverse(
                conn,
                sid,
                "commitment_breach",
                req.resolved_on,
                f"breached commitment {commitment_id}",
            )
    return _commitment_json(body, req.resolution)


# --- admin ------------------------------------------------------------------------


def loopback_only(request: Request) -> None:
    """Dependency of the admin routes: refuse anything but the local machine."""
    host = request.client.host if request.client else ""
    if host not in _LOOPBACK:
        raise Problem(
            403, "the sandbox admin endpoints answer the local machine only", slug="forbidden"
        )


def _admin_router() -> APIRouter:
    router = APIRouter(prefix="/_sandbox", dependencies=[Depends(loopback_only)])

    @router.get("")
    def info(request: Request) -> dict[str, Any]:
        state = _state(request)
        s = state.settings
        return {
            "meta": state.store.meta(),
            "app_id": s.app_id,
            "agency_id": s.agency_id or s.app_id,
            "base_path": s.base_path,
            "rate_limit": state.rate(),
            "change_retention": str(s.change_retention),
            "scenarios": {k: asdict(v) for k, v in SCENARIO_SUBJECTS.items()},
        }

    @router.get("/scenarios")
    def scenarios() -> dict[str, Any]:
        return {k: asdict(v) for k, v in SCENARIO_SUBJECTS.items()}

    @router.post("/entries", status_code=201)
    def add_entry(request: Request) -> dict[str, Any]:
        req = _parse(inp.AdminEntryIn, _body_sync(request))
        return _admin_add_entry(_state(request), req)

    @router.patch("/entries/{entry_id}")
    def change_entry(entry_id: str, request: Request) -> dict[str, Any]:
        req = _parse(inp.AdminEntryPatch, _body_sync(request))
        store = _state(request).store
        values = req.model_dump(exclude_unset=True)
        with store.write() as conn:
            entry = store.get_entry(conn, entry_id)
            if entry is None or entry["deleted"]:
                raise Problem(404, f"no entry {entry_id!r}", slug="not-found")
            at = db.now()
            conn.execute(
                db.entries.update()
                .where(db.entries.c.entry_id == entry_id)
                .values(**values, updated_at=at)
            )
            seq = store.touch_entry(conn, entry_id, "upsert", at)
            entry = store.get_entry(conn, entry_id)
        assert entry is not None  # noqa: S101 - just updated in the same transaction
        return {**entry_json(entry), "seq": seq}

    @router.delete("/entries/{entry_id}")
    def delete_entry(entry_id: str, request: Request) -> dict[str, Any]:
        store = _state(request).store
        with store.write() as conn:
            entry = store.get_entry(conn, entry_id)
            if entry is None or entry["deleted"]:
                raise Problem(404, f"no entry {entry_id!r}", slug="not-found")
            at = db.now()
            conn.execute(
                db.entries.update()
                .where(db.entries.c.entry_id == entry_id)
                .values(deleted=True, updated_at=at)
            )
            seq = store.touch_entry(conn, entry_id, "delete", at)
        return {"entry_id": entry_id, "seq": seq}

    @router.post("/subjects")
    def put_subject(request: Request) -> dict[str, Any]:
        req = _parse(inp.AdminSubjectIn, _body_sync(request))
        return _admin_subject(_state(request), req)

    @router.post("/adverse-records", status_code=201)
    def add_adverse(request: Request) -> dict[str, Any]:
        raw = json.loads(_body_sync(request) or b"{}")
        if not isinstance(raw, dict) or not isinstance(raw.get("subject_id"), str):
            raise Problem(400, "subject_id is required", slug="bad-body")
        sid, kind = _subject(raw["subject_id"])
        try:
            on = date.fromisoformat(str(raw.get("occurred_on") or db.now().date()))
        except ValueError:
            raise Problem(400, "occurred_on is not YYYY-MM-DD", slug="bad-body") from None
        store = _state(request).store
        with store.write() as conn:
            store.ensure_subject(conn, sid, kind, since=on)
            store.add_adverse(
                conn,
                sid,
                str(raw.get("kind") or "administrative_penalty"),
                on,
                str(raw.get("detail") or ""),
            )
        return store.profile(sid, kind)

    @router.get("/objections")
    def list_objections(request: Request) -> list[dict[str, Any]]:
        with _state(request).engine.connect() as conn:
            rows = (
                conn.execute(sa.select(db.objections).order_by(db.objections.c.filed_at))
                .mappings()
                .all()
            )
        return [
            {
                **_objection_json(r),
                "agency_id": r["agency_id"],
                "reason": r["reason"],
                "submitted_by": r["submitted_by"],
            }
            for r in rows
        ]

    @router.post("/objections/{objection_id}/resolve")
    def resolve_objection(objection_id: str, request: Request) -> dict[str, Any]:
        req = _parse(inp.ObjectionResolutionIn, _body_sync(request))
        return _admin_resolve_objection(_state(request), objection_id, req.status)

    @router.get("/commitments")
    def list_commitments(request: Request) -> list[dict[str, Any]]:
        with _state(request).engine.connect() as conn:
            rows = (
                conn.execute(sa.select(db.commitments).order_by(db.commitments.c.created_at))
                .mappings()
                .all()
            )
        return [
            {
                **json.loads(r["body"]),
                "status": r["status"],
                "agency_id": r["agency_id"],
                "resolved_on": r["resolved_on"].isoformat() if r["resolved_on"] else None,
            }
            for r in rows
        ]

    @router.get("/records")
    def list_records(
        request: Request,
        agency_id: str | None = None,
        limit: Annotated[int, Query(ge=1, le=100_000)] = 1000,
    ) -> list[dict[str, Any]]:
        return _state(request).store.list_records(agency_id, limit)

    @router.get("/reports")
    def list_reports(request: Request, agency_id: str | None = None) -> list[dict[str, Any]]:
        return _state(request).store.list_reports(agency_id)

    @router.get("/faults")
    def get_faults(request: Request) -> dict[str, Any]:
        return asdict(_state(request).faults)

    @router.put("/faults")
    def put_faults(request: Request) -> dict[str, Any]:
        req = _parse(inp.FaultsIn, _body_sync(request) or b"{}")
        state = _state(request)
        for name in req.model_fields_set:
            setattr(state.faults, name, getattr(req, name))
        if "rate_limit" in req.model_fields_set:
            state.limiter.reset()
        logger.warning("sandbox faults now %s", asdict(state.faults))
        return asdict(state.faults)

    @router.delete("/faults")
    def clear_faults(request: Request) -> dict[str, Any]:
        state = _state(request)
        state.faults = Faults()
        state.limiter.reset()
        return asdict(state.faults)

    @router.get("/counters")
    def counters(request: Request) -> dict[str, Any]:
        return _state(request).counters()

    @router.post("/counters/reset")
    def reset_counters(request: Request) -> dict[str, Any]:
        state = _state(request)
        state.reset_counters()
        return state.counters()

    return router


async def _read_admin_body(request: Request) -> None:
    request.state.body = await request.body()


def _body_sync(request: Request) -> bytes:
    body: bytes = getattr(request.state, "body", b"")
    return body


def _admin_add_entry(state: SandboxState, req: inp.AdminEntryIn) -> dict[str, Any]:
    sid, kind = _subject(req.subject_id)
    names = RED if req.list == "red" else BLACK
    if req.category not in names:
        logger.warning("entry in category %r, which categories.py does not name", req.category)
    store = state.store
    listed = req.listed_on or db.now().date()
    prefix = "BL" if req.list == "black" else "RL"
    entry_id = req.entry_id or f"{prefix}-{listed.year}-X{uuid.uuid4().hex[:8].upper()}"
    at = db.now()
    zh = names.get(req.category, (req.category, req.category))[0]
    row = {
        "entry_id": entry_id,
        "subject_id": sid,
        "list": req.list,
        "category": req.category,
        "authority": req.authority or "中山市社会信用体系建设统筹协调小组办公室",
        "basis": req.basis if req.basis is not None else f"{zh}认定文书",
        "listed_on": listed,
        "expires_on": req.expires_on,
        "status": req.status,
        "updated_at": at,
        "deleted": False,
    }
    with store.write() as conn:
        if store.get_entry(conn, entry_id) is not None:
            raise Problem(409, f"entry {entry_id!r} exists", slug="conflict")
        store.ensure_subject(conn, sid, kind, req.subject_name, since=listed)
        conn.execute(db.entries.insert().values(**row))
        seq = store.touch_entry(conn, entry_id, "upsert", at)
        if req.list == "black":
            store.add_adverse(conn, sid, f"listed:{req.category}", listed, entry_id)
    return {**entry_json(row), "seq": seq}


def _admin_subject(state: SandboxState, req: inp.AdminSubjectIn) -> dict[str, Any]:
    sid, kind = _subject(req.id)
    store = state.store
    s = db.subjects.c
    with store.write() as conn:
        store.ensure_subject(conn, sid, kind)
        values = req.model_dump(
            include={"name", "record_since", "last_adverse_on"}, exclude_unset=True
        )
        if values:
            conn.execute(db.subjects.update().where(s.id == sid).values(**values))
        for rel in req.related:
            pid, pkind = _subject(rel.subject_id)
            store.ensure_subject(conn, pid, pkind, rel.name)
            if rel.name:
                conn.execute(db.subjects.update().where(s.id == pid).values(name=rel.name))
            conn.execute(
                db.relations.delete().where(
                    db.relations.c.org_id == sid,
                    db.relations.c.role == rel.role,
                    db.relations.c.person_id == pid,
                )
            )
            conn.execute(db.relations.insert().values(org_id=sid, role=rel.role, person_id=pid))
    return store.profile(sid, kind)


def _admin_resolve_objection(
    state: SandboxState, objection_id: str, outcome: Literal["upheld", "rejected"]
) -> dict[str, Any]:
    store = state.store
    o = db.objections.c
    with store.write() as conn:
        row = (
            conn.execute(sa.select(db.objections).where(o.objection_id == objection_id))
            .mappings()
            .one_or_none()
        )
        if row is None:
            raise Problem(404, f"no objection {objection_id!r}", slug="not-found")
        if row["status"] != "verifying":
            raise Problem(
                409, f"objection {objection_id} is already {row['status']}", slug="conflict"
            )
        conn.execute(
            db.objections.update()
            .where(o.objection_id == objection_id)
            .values(status=outcome, resolved_at=db.now())
        )
        new_status = "withdrawn" if outcome == "upheld" else row["previous_status"]
        store.set_entry_status(conn, row["entry_id"], new_status)
        row = (
            conn.execute(sa.select(db.objections).where(o.objection_id == objection_id))
            .mappings()
            .one()
        )
    logger.info("objection %s %s", objection_id, outcome)
    return _objection_json(row)


# --- errors -----------------------------------------------------------------------


def _install_error_handlers(app: FastAPI) -> None:
    async def on_problem(_request: Request, exc: Exception) -> Response:
        assert isinstance(exc, Problem)  # noqa: S101 - registered for Problem only
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

    app.add_exception_handler(Problem, on_problem)
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
        app.include_router(_admin_router(), dependencies=[Depends(_read_admin_body)])
    _install_error_handlers(app)
    app.add_middleware(FaultsAndCounters, state=state)
    return app
