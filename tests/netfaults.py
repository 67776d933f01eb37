"""Hostile and broken HTTP servers, and a forwarding proxy, on real loopback sockets.

:class:`RawServer` answers each request with a behaviour (a function that
writes to the socket as it likes): a drip of the headers or the body one byte
at a time, an upload that is read and never answered, a gzip bomb, a body with
no ``Content-Length`` that does not end. :class:`ForwardProxy` is a small HTTP
proxy (absolute-form requests and ``CONNECT`` tunnels) that records what
passed through it. Every loop here is bounded in time and stops with the server.
"""

from __future__ import annotations

import base64
import contextlib
import email.utils
import gzip
import json
import socket
import ssl
import threading
import time
import zlib
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Any
from urllib.parse import parse_qsl

from requests.structures import CaseInsensitiveDict

from credit_check_sdk.catalogue import default_catalog
from credit_check_sdk.signing import verify

ORG = "91442000MA4UJ2KQ57"
NOW = "2026-11-29T08:00:00+08:00"
# Nothing here runs longer than this, whatever the client does.
_MAX_SECONDS = 60.0


def profile(subject_id: str = ORG) -> dict[str, Any]:
    return {
        "subject": {"id": subject_id, "kind": "legal_entity", "name": "中山市某某有限公司"},
        "as_of": NOW,
        "record_since": "2012-03-02",
        "last_adverse_on": None,
        "entries": [],
        "related": [],
    }


@dataclass
class RawRequest:
    method: str
    target: str
    headers: dict[str, str]
    body: bytes

    @property
    def path(self) -> str:
        return self.target.partition("?")[0]


@dataclass
class Conn:
    """One accepted connection, and whether the client closed it (and when)."""

    sock: socket.socket
    opened: float = field(default_factory=time.monotonic)
    client_closed_at: float | None = None
    requests: list[RawRequest] = field(default_factory=list)


Behaviour = Callable[["Conn", RawRequest], None]


def read_request(sock: socket.socket) -> RawRequest | None:
    """One HTTP/1.1 request (head and Content-Length body); ``None`` at end of stream."""
    data = b""
    while b"\r\n\r\n" not in data:
        chunk = sock.recv(65536)
        if not chunk:
            return None
        data += chunk
        if len(data) > 1 << 20:
            return None
    head, _, rest = data.partition(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    method, target, _version = lines[0].split(" ", 2)
    headers = {}
    for line in lines[1:]:
        name, _, value = line.partition(":")
        headers[name.strip().lower()] = value.strip()
    length = int(headers.get("content-length", "0"))
    while len(rest) < length:
        chunk = sock.recv(65536)
        if not chunk:
            return None
        rest += chunk
    return RawRequest(method, target, headers, rest[:length])


def head(
    status: int = 200,
    headers: dict[str, str] | None = None,
    *,
    length: int | None = None,
    reason: str = "OK",
) -> bytes:
    lines = [f"HTTP/1.1 {status} {reason}"]
    for name, value in (headers or {}).items():
        lines.append(f"{name}: {value}")
    if length is not None:
        lines.append(f"Content-Length: {length}")
    return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1")


def send_all(conn: Conn, data: bytes) -> bool:
    try:
        conn.sock.sendall(data)
        return True
    except OSError:
        conn.client_closed_at = conn.client_closed_at or time.monotonic()
        return False


def client_gone(conn: Conn, wait: float = 0.0) -> bool:
    """Whether the client has closed its side (waits up to ``wait`` seconds to see)."""
    conn.sock.settimeout(wait if wait > 0 else 0.0001)
    try:
        # Peeks at the TCP stream beneath TLS too (an SSLSocket refuses flags).
        gone = socket.socket.recv(conn.sock, 1, socket.MSG_PEEK) == b""
    except (TimeoutError, BlockingIOError):
        gone = False
    except OSError:
        gone = True
    finally:
        conn.sock.settimeout(None)
    if gone and conn.client_closed_at is None:
        conn.client_closed_at = time.monotonic()
    return gone


# --- behaviours ------------------------------------------------------------------------


def json_answer(value: Any, status: int = 200, ctype: str = "application/json") -> Behaviour:
    body = json.dumps(value, ensure_ascii=False).encode()

    def answer(conn: Conn, _request: RawRequest) -> None:
        send_all(conn, head(status, {"Content-Type": ctype}, length=len(body)) + body)

    return answer


def drip_head(value: Any, every: float = 1.0) -> Behaviour:
    """The status line and headers one byte every ``every`` seconds, then the body."""
    body = json.dumps(value).encode()

    def answer(conn: Conn, _request: RawRequest) -> None:
        data = head(200, {"Content-Type": "application/json"}, length=len(body)) + body
        stop = time.monotonic() + _MAX_SECONDS
        for byte in data:
            if time.monotonic() > stop or not send_all(conn, bytes([byte])):
                return
            if client_gone(conn, every):
                return

    return answer


def drip_body(value: Any, every: float = 1.0) -> Behaviour:
    """The headers at once, then the body one byte every ``every`` seconds."""
    body = json.dumps(value).encode()

    def answer(conn: Conn, _request: RawRequest) -> None:
        if not send_all(conn, head(200, {"Content-Type": "application/json"}, length=len(body))):
            return
        stop = time.monotonic() + _MAX_SECONDS
        for byte in body:
            if time.monotonic() > stop or not send_all(conn, bytes([byte])):
                return
            if client_gone(conn, every):
                return

    return answer


def hang() -> Behaviour:
    """Read the request, never answer; note when the client gives up."""

    def answer(conn: Conn, _request: RawRequest) -> None:
        stop = time.monotonic() + _MAX_SECONDS
        while time.monotonic() < stop and not client_gone(conn, 0.05):
            pass

    return answer


def gzip_bomb(inflated: int, ctype: str = "application/json", *, encoded: bool = True) -> Behaviour:
    """``inflated`` bytes of ``a`` with no newline, gzip'd (~1000:1), sent at once.

    ``encoded``: as ``Content-Encoding: gzip`` (else as a gzip body, as the export is).
    """
    data = _bomb(inflated)

    def answer(conn: Conn, _request: RawRequest) -> None:
        headers = {"Content-Type": ctype}
        if encoded:
            headers["Content-Encoding"] = "gzip"
        send_all(conn, head(200, headers, length=len(data)) + data)

    return answer


_bombs: dict[int, bytes] = {}


def _bomb(inflated: int) -> bytes:
    if inflated not in _bombs:
        squeeze = zlib.compressobj(9, zlib.DEFLATED, 31)
        piece = b"a" * (1 << 20)
        parts = [squeeze.compress(piece) for _ in range(inflated >> 20)]
        parts.append(squeeze.flush())
        _bombs[inflated] = b"".join(parts)
    return _bombs[inflated]


def endless(size: int, ctype: str = "application/json", line: bytes = b"") -> Behaviour:
    """``size`` bytes with no ``Content-Length`` (the end is the close), 64 KiB at a time.

    Without ``line`` the body is one line of ``a``; with it, that line again and again.
    """
    block = (line * (65536 // len(line) + 1))[:65536] if line else b"a" * 65536

    def answer(conn: Conn, _request: RawRequest) -> None:
        headers = {"Content-Type": ctype, "Connection": "close"}
        if not send_all(conn, head(200, headers)):
            return
        sent, stop = 0, time.monotonic() + _MAX_SECONDS
        while sent < size and time.monotonic() < stop:
            if not send_all(conn, block):
                return
            sent += len(block)
        with contextlib.suppress(OSError):
            conn.sock.shutdown(socket.SHUT_WR)

    return answer


def export_of(entries: list[dict[str, Any]], cursor: str = "s0") -> Behaviour:
    """The export of ``entries``, as of now (so a snapshot made from it is young)."""
    as_of = datetime.now(timezone.utc).isoformat()
    head_line = {"cursor": cursor, "as_of": as_of, "count": len(entries)}
    lines = [json.dumps(x, ensure_ascii=False) for x in (head_line, *entries)]
    data = gzip.compress(("\n".join(lines) + "\n").encode())

    def answer(conn: Conn, _request: RawRequest) -> None:
        headers = {"Content-Type": "application/x-ndjson", "Content-Encoding": "gzip"}
        send_all(conn, head(200, headers, length=len(data)) + data)

    return answer


def empty_feed(cursor: str = "s0") -> Behaviour:
    as_of = datetime.now(timezone.utc).isoformat()
    return json_answer({"changes": [], "next_cursor": cursor, "has_more": False, "as_of": as_of})


def problem(status: int, detail: str, *, clock_offset: float = 0.0, date: bool = True) -> Behaviour:
    """A problem document, with the server's ``Date`` ``clock_offset`` seconds from ours."""
    doc = {"type": "about:blank", "title": "refused", "status": status, "detail": detail}
    body = json.dumps(doc).encode()

    def answer(conn: Conn, _request: RawRequest) -> None:
        headers = {"Content-Type": "application/problem+json"}
        if date:
            headers["Date"] = email.utils.formatdate(time.time() + clock_offset, usegmt=True)
        send_all(conn, head(status, headers, length=len(body), reason="Refused") + body)

    return answer


def skewed_platform(secret: str, clock_offset: float) -> Behaviour:
    """A platform whose clock is ``clock_offset`` seconds from ours: it checks each
    signature against its own clock (the contract's 300 s) and says what it thinks."""

    def answer(conn: Conn, request: RawRequest) -> None:
        path, _, query = request.target.partition("?")
        why = verify(
            CaseInsensitiveDict(request.headers),
            secret=secret,
            method=request.method,
            path=path,
            query=parse_qsl(query, keep_blank_values=True),
            body=request.body,
            now=time.time() + clock_offset,
        )
        if why is None:
            json_answer({"status": "ok", "time": NOW})(conn, request)
        else:
            problem(401, why, clock_offset=clock_offset)(conn, request)

    return answer


def catalogue() -> Behaviour:
    body = default_catalog().model_dump_json().encode()

    def answer(conn: Conn, _request: RawRequest) -> None:
        headers = {"Content-Type": "application/json", "ETag": '"c1"'}
        send_all(conn, head(200, headers, length=len(body)) + body)

    return answer


# --- the server ------------------------------------------------------------------------


class RawServer:
    """A loopback HTTP server answering by path: the longest matching prefix's behaviour.

    Every connection gets its own thread and answers one request, then closes.
    """

    def __init__(
        self, routes: dict[str, Behaviour] | None = None, *, tls: ssl.SSLContext | None = None
    ) -> None:
        self.routes: dict[str, Behaviour] = dict(routes or {})
        self._tls = tls
        self.conns: list[Conn] = []
        self._listener = socket.create_server(("127.0.0.1", 0))
        self.port = self._listener.getsockname()[1]
        self._stop = threading.Event()
        self._lock = threading.Lock()
        self._thread = threading.Thread(target=self._accept, daemon=True)
        self._thread.start()

    def url(self, path: str = "/api") -> str:
        scheme = "https" if self._tls is not None else "http"
        return f"{scheme}://127.0.0.1:{self.port}{path}"

    def requests_to(self, prefix: str) -> list[Conn]:
        with self._lock:
            return [c for c in self.conns if any(prefix in r.path for r in c.requests)]

    def _accept(self) -> None:
        self._listener.settimeout(0.1)
        while not self._stop.is_set():
            try:
                sock, _ = self._listener.accept()
            except (TimeoutError, OSError):
                continue
            conn = Conn(sock)
            with self._lock:
                self.conns.append(conn)
            threading.Thread(target=self._serve, args=(conn,), daemon=True).start()

    def _serve(self, conn: Conn) -> None:
        try:
            if self._tls is not None:
                conn.sock.settimeout(10)
                conn.sock = self._tls.wrap_socket(conn.sock, server_side=True)
                conn.sock.settimeout(None)
            request = read_request(conn.sock)
            if request is None:
                return
            conn.requests.append(request)
            behaviour = self._route(request.path)
            behaviour(conn, request)
        except (OSError, ssl.SSLError):
            pass
        finally:
            with contextlib.suppress(OSError):
                conn.sock.close()

    def _route(self, path: str) -> Behaviour:
        best = ""
        for prefix in self.routes:
            if prefix in path and len(prefix) > len(best):
                best = prefix
        if best:
            return self.routes[best]
        return problem(404, f"no such resource: {path}")

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(5)
        self._listener.close()
        with self._lock:
            conns = list(self.conns)
        for conn in conns:
            with contextlib.suppress(OSError):
                conn.sock.shutdown(socket.SHUT_RDWR)
            with contextlib.suppress(OSError):
                conn.sock.close()


@contextlib.contextmanager
def raw_server(
    routes: dict[str, Behaviour], *, tls: ssl.SSLContext | None = None
) -> Iterator[RawServer]:
    server = RawServer(routes, tls=tls)
    try:
        yield server
    finally:
        server.stop()


# --- a forwarding proxy ----------------------------------------------------------------


class ForwardProxy:
    """An HTTP proxy: absolute-form requests are forwarded, ``CONNECT`` is tunnelled.

    ``seen`` lists ``(method, target)`` of what came through. With ``credentials``
    (``"user:password"``) it answers 407 to a request without them.
    """

    def __init__(self, credentials: str | None = None) -> None:
        self.seen: list[tuple[str, str]] = []
        self.refused = 0
        self._credentials = credentials
        self._listener = socket.create_server(("127.0.0.1", 0))
        self.port = self._listener.getsockname()[1]
        self._stop = threading.Event()
        self._socks: list[socket.socket] = []
        self._lock = threading.Lock()
        self._thread = threading.Thread(target=self._accept, daemon=True)
        self._thread.start()

    def url(self, credentials: str | None = None) -> str:
        auth = f"{credentials}@" if credentials else ""
        return f"http://{auth}127.0.0.1:{self.port}"

    def _accept(self) -> None:
        self._listener.settimeout(0.1)
        while not self._stop.is_set():
            try:
                sock, _ = self._listener.accept()
            except (TimeoutError, OSError):
                continue
            with self._lock:
                self._socks.append(sock)
            threading.Thread(target=self._serve, args=(sock,), daemon=True).start()

    def _authorised(self, request: RawRequest) -> bool:
        if self._credentials is None:
            return True
        given = request.headers.get("proxy-authorization", "")
        return given == "Basic " + base64.b64encode(self._credentials.encode()).decode()

    def _serve(self, client: socket.socket) -> None:
        try:
            request = read_request(client)
            if request is None:
                return
            if not self._authorised(request):
                self.refused += 1
                client.sendall(head(407, {"Proxy-Authenticate": "Basic"}, length=0))
                return
            self.seen.append((request.method, request.target))
            if request.method == "CONNECT":
                host, _, port = request.target.rpartition(":")
                upstream = socket.create_connection((host, int(port)), timeout=10)
                client.sendall(b"HTTP/1.1 200 Connection established\r\n\r\n")
                self._pipe(client, upstream)
                return
            self._forward(client, request)
        except OSError:
            pass
        finally:
            with contextlib.suppress(OSError):
                client.close()

    def _forward(self, client: socket.socket, request: RawRequest) -> None:
        # http://host:port/path?query -> "GET /path?query" to host:port, one request a connection.
        rest = request.target.split("://", 1)[1]
        hostport, slash, path = rest.partition("/")
        host, _, port = hostport.rpartition(":")
        headers = {
            k: v
            for k, v in request.headers.items()
            if not k.startswith("proxy-") and k not in ("connection", "keep-alive")
        }
        headers["connection"] = "close"
        lines = [f"{request.method} {slash}{path} HTTP/1.1"]
        lines += [f"{k}: {v}" for k, v in headers.items()]
        upstream = socket.create_connection((host, int(port or 80)), timeout=10)
        with upstream:
            upstream.sendall(("\r\n".join(lines) + "\r\n\r\n").encode("latin-1") + request.body)
            # The answer's head gets "Connection: close": this proxy closes after it.
            data = b""
            while b"\r\n\r\n" not in data:
                chunk = upstream.recv(65536)
                if not chunk:
                    break
                data += chunk
            answer_head, _, body = data.partition(b"\r\n\r\n")
            kept = [
                line
                for line in answer_head.split(b"\r\n")
                if not line.lower().startswith((b"connection:", b"keep-alive:"))
            ]
            client.sendall(b"\r\n".join([*kept, b"Connection: close"]) + b"\r\n\r\n" + body)
            stop = time.monotonic() + _MAX_SECONDS
            while time.monotonic() < stop:
                chunk = upstream.recv(65536)
                if not chunk:
                    break
                client.sendall(chunk)

    def _pipe(self, a: socket.socket, b: socket.socket) -> None:
        def copy(src: socket.socket, dst: socket.socket) -> None:
            try:
                while chunk := src.recv(65536):
                    dst.sendall(chunk)
            except OSError:
                pass
            finally:
                with contextlib.suppress(OSError):
                    dst.shutdown(socket.SHUT_WR)

        other = threading.Thread(target=copy, args=(b, a), daemon=True)
        other.start()
        copy(a, b)
        other.join(_MAX_SECONDS)
        b.close()

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(5)
        self._listener.close()
        with self._lock:
            socks = list(self._socks)
        for sock in socks:
            with contextlib.suppress(OSError):
                sock.shutdown(socket.SHUT_RDWR)
            with contextlib.suppress(OSError):
                sock.close()


@contextlib.contextmanager
def forward_proxy(credentials: str | None = None) -> Iterator[ForwardProxy]:
    proxy = ForwardProxy(credentials)
    try:
        yield proxy
    finally:
        proxy.stop()
