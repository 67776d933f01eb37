"""How FakePlatform's answers reach a client: routing onto the platform core, faults, and
the two wirings (an in-memory transport, a stdlib HTTP server on a loopback port).

The platform's rules are all in :mod:`credit_check_sdk._platform`; this module
only maps paths to its operations and carries out what a fault asks of the
wire (delays, byte-by-byte drips, connection resets, garbled bodies).

>>> from credit_check_sdk._platform import MemoryStore, PlatformCore
>>> core = PlatformCore(MemoryStore(), app_id="a", app_secret="s", verify_signatures=False)
>>> route_request(core, "GET", "/api/v1/health", "/v1/health", [], {}, b"")[0]
200
"""

from __future__ import annotations

import gzip
import http.server
import json
import socket
import struct
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, Literal
from urllib.parse import parse_qsl, unquote, urlsplit

from requests.structures import CaseInsensitiveDict

from ._exceptions import ConnectError, InvalidResponseError, RequestTimeoutError
from ._platform import PlatformCore, Refusal, json_bytes, parse_limit, problem_document
from ._transports import Request, Response

__all__ = [
    "Answer",
    "Exchange",
    "Fault",
    "MalformedKind",
    "deliver_in_memory",
    "garble",
    "handler_for",
    "problem",
    "route_request",
    "take_faults",
]

MalformedKind = Literal["not_json", "truncated", "missing_fields", "wrong_types"]
#: ``(status, headers, body)``
Answer = tuple[int, dict[str, str], bytes]

_JSON = "application/json; charset=utf-8"
_PROBLEM = "application/problem+json"
# The field `malformed("missing_fields")` drops from an answer, the first one present.
_DROP_FIRST = ("entries", "measures", "profiles", "accepted", "changes", "receipt_id", "status")


@dataclass
class Fault:
    """One injected fault: what it does, how many more calls it applies to, which paths."""

    kind: Literal["status", "delay", "malformed", "reset", "drip"]
    times: int | None
    path: str | None
    status: int = 503
    retry_after: float | None = None
    seconds: float = 0.0
    malformed: MalformedKind = "not_json"

    def matches(self, path: str) -> bool:
        """Whether the fault applies to a call of ``path``."""
        return self.times != 0 and (self.path is None or self.path in path)


@dataclass
class Exchange:
    """One answer, with what the wiring must do on the network to deliver it."""

    status: int
    headers: dict[str, str]
    body: bytes
    delay: float = 0.0
    drip: float | None = None  # seconds between body bytes
    reset: bool = False  # break the connection in the middle of the body


def problem(
    status: int, detail: str, headers: dict[str, str] | None = None, slug: str | None = None
) -> Answer:
    """A problem document answer."""
    return (
        status,
        {"Content-Type": _PROBLEM, **(headers or {})},
        problem_document(status, detail, slug),
    )


def _ok(value: Any, status: int = 200) -> Answer:
    return status, {"Content-Type": _JSON}, json_bytes(value)


def _allow(method: str, allowed: str) -> None:
    if method != allowed:
        raise Refusal(405, f"use {allowed}", headers={"Allow": allowed})


def route_request(
    core: PlatformCore,
    method: str,
    path: str,
    route: str,
    query: list[tuple[str, str]],
    headers: Mapping[str, str],
    body: bytes,
) -> Answer:
    """Authenticate, then answer one request through ``core`` (``route`` is the path from
    ``/v1/``; refusals become problem documents)."""
    hdrs: CaseInsensitiveDict[str] = CaseInsensitiveDict(dict(headers))
    try:
        caller = core.authenticate(method, path, query, hdrs, body)
        return _route(core, caller, method, route, query, hdrs, body)
    except Refusal as refusal:
        return problem(refusal.status, refusal.detail, refusal.headers, refusal.slug)


def _route(
    core: PlatformCore,
    caller: str,
    method: str,
    route: str,
    query: list[tuple[str, str]],
    headers: Mapping[str, str],
    body: bytes,
) -> Answer:
    parts = [unquote(p) for p in route.strip("/").split("/")]
    if route == "/v1/health":
        _allow(method, "GET")
        return _ok({"status": "ok", "time": core.stamp()})
    if len(parts) == 4 and parts[1] == "subjects" and parts[3] == "profile":
        _allow(method, "GET")
        return _ok(core.profile(parts[2]))
    if route == "/v1/profiles:batch":
        _allow(method, "POST")
        return _ok(core.batch_profiles(body))
    if route == "/v1/catalog":
        _allow(method, "GET")
        status, data, etag = core.catalog(headers.get("If-None-Match"))
        if status == 304:
            return 304, {"ETag": etag}, b""
        return 200, {"Content-Type": _JSON, "ETag": etag}, data
    if route == "/v1/lists/changes":
        _allow(method, "GET")
        given = dict(query)
        page = core.changes(given.get("cursor"), parse_limit(given.get("limit")))
        return 200, {"Content-Type": _JSON}, page
    if route == "/v1/lists/export":
        _allow(method, "GET")
        data = gzip.compress(b"".join(core.export()))
        return 200, {"Content-Type": "application/x-ndjson"}, data
    if route == "/v1/records:batch":
        _allow(method, "POST")
        return _ok(core.upload_records(caller, body))
    if len(parts) == 4 and parts[1] == "reports":
        _allow(method, "PUT")
        return _ok(core.put_report(caller, parts[2], parts[3], body))
    if route == "/v1/objections":
        _allow(method, "POST")
        return _ok(core.file_objection(caller, body), 202)
    if len(parts) == 3 and parts[1] == "objections":
        _allow(method, "GET")
        return _ok(core.objection(parts[2]))
    if route == "/v1/commitments":
        _allow(method, "POST")
        return _ok(core.record_commitment(caller, body), 201)
    if len(parts) == 3 and parts[1] == "commitments" and parts[2].endswith(":resolve"):
        _allow(method, "POST")
        return _ok(core.resolve_commitment(parts[2].removesuffix(":resolve"), body))
    if route == "/v1/disclosures":
        _allow(method, "POST")
        status, receipt = core.disclose(caller, body)
        return _ok(receipt, status)
    raise Refusal(404, f"no such resource: {route}", slug="not-found")


# --- faults ----------------------------------------------------------------------------


def _wrong_type(value: Any) -> Any:
    if isinstance(value, list):
        return "not-a-list"
    if isinstance(value, dict):
        return ["not-an-object"]
    if isinstance(value, str):
        return 12345
    return "not-a-" + type(value).__name__


def take_faults(faults: list[Fault], route: str) -> tuple[float, Fault | None, list[Fault]]:
    """Consume the faults that apply: every matching delay, the first other one."""
    delay, chosen = 0.0, None
    for fault in faults:
        if not fault.matches(route) or (fault.kind != "delay" and chosen is not None):
            continue
        if fault.times is not None:
            fault.times -= 1
        if fault.kind == "delay":
            delay += fault.seconds
        else:
            chosen = fault
    return delay, chosen, [f for f in faults if f.times != 0]


def garble(data: bytes, fault: Fault) -> bytes:
    """The answer's body as a ``malformed`` fault spoils it."""
    if fault.malformed == "not_json":
        return b"<html><body><h1>502 Bad Gateway</h1></body></html>"
    if fault.malformed == "truncated":
        return data[: max(1, len(data) // 2)]
    try:
        doc = json.loads(data or b"{}")
    except ValueError:
        doc = {}
    if not isinstance(doc, dict):
        doc = {}
    if fault.malformed == "missing_fields":
        drop = next((k for k in _DROP_FIRST if k in doc), next(iter(doc), None))
        doc.pop(drop, None)
    else:
        doc = {k: _wrong_type(v) for k, v in doc.items()} or {"status": 12345}
    return json_bytes(doc)


# --- the wirings -------------------------------------------------------------------------


def deliver_in_memory(ex: Exchange, request: Request) -> Response:
    """Carry out an exchange's delays, drips and resets as a transport would see them."""
    wait = ex.delay + (ex.drip * len(ex.body) if ex.drip is not None else 0.0)
    remaining = request.remaining()
    if remaining is not None and remaining <= 0:
        raise RequestTimeoutError(
            "time budget spent before sending", method=request.method, url=request.url
        )
    patience = request.read_timeout if remaining is None else min(request.read_timeout, remaining)
    if wait > patience:
        time.sleep(max(0.0, patience))
        raise RequestTimeoutError(
            f"no answer within {patience:.2f} s", method=request.method, url=request.url
        )
    time.sleep(wait)
    if ex.reset:
        raise ConnectError("connection reset by peer", method=request.method, url=request.url)
    if len(ex.body) > request.max_bytes:
        raise InvalidResponseError(
            f"response exceeds the limit of {request.max_bytes} bytes",
            method=request.method,
            url=request.url,
        )
    return Response(ex.status, ex.headers, ex.body)


def handler_for(
    exchange: Callable[[str, str, list[tuple[str, str]], dict[str, str], bytes], Exchange],
    stopping: threading.Event,
) -> type[http.server.BaseHTTPRequestHandler]:
    """A request handler class for the stdlib HTTP server, answering through ``exchange``."""

    class Handler(http.server.BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"
        server_version = "FakeCreditPlatform/1"
        # TCP_NODELAY: the headers and the body go out as two writes, and with Nagle's
        # algorithm on the body waited for the client's delayed ACK (~40 ms an answer).
        disable_nagle_algorithm = True

        def _serve(self) -> None:
            if stopping.is_set():
                # Stopped: a kept-alive connection must not go on being answered.
                self.close_connection = True
                return
            length = int(self.headers.get("Content-Length") or 0)
            body = self.rfile.read(length) if length else b""
            parts = urlsplit(self.path)
            query = parse_qsl(parts.query, keep_blank_values=True)
            ex = exchange(self.command, parts.path, query, dict(self.headers.items()), body)
            if ex.delay and stopping.wait(ex.delay):
                self.close_connection = True
                return
            try:
                self._send(ex)
            except OSError:  # the client gave up (timeout) and closed its end
                self.close_connection = True

        def _send(self, ex: Exchange) -> None:
            self.send_response(ex.status)
            for name, value in ex.headers.items():
                self.send_header(name, value)
            self.send_header("Content-Length", str(len(ex.body)))
            if ex.reset or ex.drip is not None:
                self.send_header("Connection", "close")
            self.end_headers()
            if ex.reset:
                self.wfile.write(ex.body[: len(ex.body) // 2])
                self.wfile.flush()
                # SO_LINGER with a zero timeout: close() sends a TCP reset.
                self.connection.setsockopt(
                    socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0)
                )
                self.close_connection = True
                return
            if ex.drip is not None:
                self.wfile.flush()
                for i in range(len(ex.body)):
                    if stopping.wait(ex.drip):
                        break
                    self.wfile.write(ex.body[i : i + 1])
                    self.wfile.flush()
                self.close_connection = True
                return
            self.wfile.write(ex.body)

        do_GET = do_POST = do_PUT = do_DELETE = do_PATCH = _serve  # noqa: N815 - stdlib names

        def log_message(self, format: str, *args: Any) -> None:
            """Quiet: requests are in ``fake.requests``."""

    return Handler
