"""An in-memory credit platform for agencies' own tests: :class:`FakePlatform`.

It implements the platform contract (``docs/platform-contract.md``): signed
requests (signature and nonce replay checked), profiles, batches, the
catalogue with ``ETag``, the change feed, record uploads, monthly reports,
objections and commitments, and answers every error with an RFC 9457 problem
document. Tests arrange the data (:meth:`FakePlatform.add_entry`,
:meth:`FakePlatform.set_record`, :meth:`FakePlatform.relate`), inject faults
(:meth:`FakePlatform.fail`, :meth:`FakePlatform.delay`,
:meth:`FakePlatform.malformed`, :meth:`FakePlatform.outage` …) and look at
what reached the platform (:attr:`FakePlatform.records`,
:attr:`FakePlatform.requests` …).

Two wirings share one request handler: an in-memory transport (no sockets,
the default of :meth:`FakePlatform.checker`) and a real HTTP server on a
loopback port (:meth:`FakePlatform.serve`).

>>> fake = FakePlatform()
>>> entry_id = fake.add_entry("91442000MA4UJ2KQ57", "black", "court_judgment_defaulter")
>>> with fake.checker() as checker:
...     checker.must_check("91442000MA4UJ2KQ57", "bidding").outcome.value
'restriction'
"""

from __future__ import annotations

import collections
import gzip
import hashlib
import http.server
import itertools
import json
import re
import socket
import struct
import tempfile
import threading
import time
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date, timedelta
from pathlib import Path
from types import TracebackType
from typing import Any, Literal
from urllib.parse import parse_qsl, unquote, urlsplit

from requests.structures import CaseInsensitiveDict
from stdnum.cn import uscc

from ._checker import CreditChecker
from ._exceptions import ConnectError, InvalidResponseError, RequestTimeoutError
from ._ids import SubjectKind, normalize_id, ric_problem
from ._models import Catalog
from ._time import now, today
from ._transports import MockTransport, Request, Response
from .catalogue import default_catalog
from .signing import NONCE_TTL_SECONDS, verify

__all__ = ["FakePlatform"]

MalformedKind = Literal["not_json", "truncated", "missing_fields", "wrong_types"]
Answer = tuple[int, dict[str, str], bytes]

_MEMORY_BASE_URL = "https://fake-platform.invalid/api"
_JSON = "application/json; charset=utf-8"
_PROBLEM = "application/problem+json"
_STATUSES = ("active", "objection_pending", "repaired", "expired", "withdrawn")
_ROLES = ("legal_representative", "principal", "responsible_person")
_PERIOD = re.compile(r"^[0-9]{4}-(0[1-9]|1[0-2])$")
_TITLES = {
    400: "Bad Request",
    401: "Unauthorized",
    403: "Forbidden",
    404: "Not Found",
    405: "Method Not Allowed",
    409: "Conflict",
    410: "Gone",
    413: "Content Too Large",
    429: "Too Many Requests",
    500: "Internal Server Error",
    502: "Bad Gateway",
    503: "Service Unavailable",
    504: "Gateway Timeout",
}
_CHECK_FIELDS = (
    "type", "id", "agency_id", "checked_at", "matter", "subject", "outcome",
    "measures", "source", "catalog_version", "sdk_version", "prev_hash", "hash",
)  # fmt: skip
_ACTION_FIELDS = (
    "type", "id", "check_id", "agency_id", "acted_at", "action", "measure_ids",
    "prev_hash", "hash",
)  # fmt: skip
_REPORT_FIELDS = (
    "agency_id", "period", "generated_at", "totals", "by_matter", "measures",
    "overrides", "degraded", "journal_head_hash", "record_count",
)  # fmt: skip
_COMMITMENT_FIELDS = ("commitment_id", "subject_id", "check_id", "matter", "documents", "due_on")
# The field `malformed("missing_fields")` drops from an answer, the first one present.
_DROP_FIRST = ("entries", "measures", "profiles", "accepted", "changes", "receipt_id", "status")


class _Keep:
    """Marks an argument of :meth:`FakePlatform.set_record` that was not given."""

    def __repr__(self) -> str:
        return "<unchanged>"


_KEEP = _Keep()


@dataclass
class _Fault:
    kind: Literal["status", "delay", "malformed", "reset", "drip"]
    times: int | None
    path: str | None
    status: int = 503
    retry_after: float | None = None
    seconds: float = 0.0
    malformed: MalformedKind = "not_json"

    def matches(self, path: str) -> bool:
        return self.times != 0 and (self.path is None or self.path in path)


@dataclass
class _Exchange:
    """One answer, with what the wiring must do on the network to deliver it."""

    status: int
    headers: dict[str, str]
    body: bytes
    delay: float = 0.0
    drip: float | None = None  # seconds between body bytes
    reset: bool = False  # break the connection in the middle of the body


class _RefusalError(Exception):
    """Raised inside a route: becomes a problem document."""

    def __init__(self, status: int, detail: str, headers: dict[str, str] | None = None) -> None:
        super().__init__(detail)
        self.status = status
        self.detail = detail
        self.headers = headers or {}


def _dumps(value: Any) -> bytes:
    return json.dumps(value, ensure_ascii=False, separators=(",", ":")).encode()


def _problem(status: int, detail: str, headers: dict[str, str] | None = None) -> Answer:
    title = _TITLES.get(status, "Error")
    doc = {
        "type": f"https://credit.example/problems/{title.lower().replace(' ', '-')}",
        "title": title,
        "status": status,
        "detail": detail,
    }
    return status, {"Content-Type": _PROBLEM, **(headers or {})}, _dumps(doc)


def _day(value: date | str | None) -> str | None:
    if value is None:
        return None
    return value.isoformat() if isinstance(value, date) else date.fromisoformat(value).isoformat()


def _stamp() -> str:
    return now().isoformat(timespec="seconds")


def _subject_kind(number: str) -> SubjectKind | None:
    """The kind of a checksum-valid id as sent (already normalised), else ``None``."""
    if number != normalize_id(number):
        return None
    if uscc.is_valid(number):
        return "legal_entity"
    if ric_problem(number) is None:  # the SDK's own RIC rules: same ids accepted
        return "natural_person"
    return None


def _record_hash(record: Mapping[str, Any]) -> str:
    body = {k: v for k, v in record.items() if k != "hash"}
    text = json.dumps(body, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return hashlib.sha256(text.encode()).hexdigest()


def _wrong_type(value: Any) -> Any:
    if isinstance(value, list):
        return "not-a-list"
    if isinstance(value, dict):
        return ["not-an-object"]
    if isinstance(value, str):
        return 12345
    return "not-a-" + type(value).__name__


class FakePlatform:
    """An in-memory credit platform implementing the contract, for tests.

    Thread-safe: one lock guards its state, so checks on many threads (or the
    HTTP server's threads) can use it at once.

    >>> fake = FakePlatform(agency_id="zs-fgj")
    >>> fake.profile("91442000MA4UJ2KQ57")["entries"]
    []
    """

    def __init__(
        self,
        *,
        app_id: str = "test-app",
        app_secret: str = "test-secret-0123456789",  # noqa: S107 - a fixed secret for tests
        agency_id: str = "test-agency",
        catalog: Catalog | None = None,
        verify_signatures: bool = True,
    ) -> None:
        self.app_id = app_id
        self.app_secret = app_secret
        self.agency_id = agency_id
        self.verify_signatures = verify_signatures
        self._lock = threading.RLock()
        self._entries: dict[str, dict[str, Any]] = {}
        self._people: dict[str, dict[str, Any]] = {}  # subject id -> name, kind, dates
        self._relations: dict[str, list[tuple[str, str]]] = {}  # org id -> (role, person)
        self._changes: list[dict[str, Any]] = []
        self._nonces: dict[str, float] = {}
        self._faults: list[_Fault] = []
        self._down = False
        self._counter = itertools.count(1)
        self.records: dict[str, dict[str, Any]] = {}
        self.upload_counts: collections.Counter[str] = collections.Counter()
        self.requests: list[tuple[str, str]] = []
        self.reports: dict[tuple[str, str], list[dict[str, Any]]] = {}
        self.objections: dict[str, dict[str, Any]] = {}
        self.commitments: dict[str, dict[str, Any]] = {}
        self._catalog_body = b""
        self._etag = ""
        self.set_catalog(catalog or default_catalog())
        self._transport = MockTransport(self._in_memory)
        self._server: http.server.ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None
        self._stopping = threading.Event()

    # -- arranging data ------------------------------------------------------------

    def add_entry(
        self,
        subject_id: str,
        list: Literal["red", "black"],
        category: str,
        *,
        status: str = "active",
        listed_on: date | str | None = None,
        expires_on: date | str | None = None,
        entry_id: str | None = None,
        authority: str = "中山市信用办",
        basis: str | None = None,
    ) -> str:
        """List a subject; returns the entry id and emits a change-feed ``upsert``.

        ``listed_on`` defaults to a year ago. The entry's date also starts the
        subject's ``record_since`` if it had none, and a black entry is an
        adverse record (``last_adverse_on`` moves up to ``listed_on``).

        >>> fake = FakePlatform()
        >>> fake.add_entry("91442000MA4UJ2KQ57", "red", "integrity_model", entry_id="RL-1")
        'RL-1'
        """
        number = self._valid(subject_id)
        if list not in ("red", "black"):
            raise ValueError(f"list must be 'red' or 'black', not {list!r}")
        if status not in _STATUSES:
            raise ValueError(f"status must be one of {', '.join(_STATUSES)}, not {status!r}")
        on = _day(listed_on) or (today() - timedelta(days=365)).isoformat()
        with self._lock:
            if entry_id is None:
                prefix = "BL" if list == "black" else "RL"
                entry_id = f"{prefix}-{today().year}-{next(self._counter):06d}"
            if entry_id in self._entries:
                raise ValueError(f"entry {entry_id!r} exists already")
            entry = {
                "entry_id": entry_id,
                "subject_id": number,
                "list": list,
                "category": category,
                "authority": authority,
                "basis": basis,
                "listed_on": on,
                "expires_on": _day(expires_on),
                "status": status,
                "updated_at": _stamp(),
            }
            self._entries[entry_id] = entry
            person = self._person(number)
            if person["record_since"] is None or person["record_since"] > on:
                person["record_since"] = on
            if list == "black" and (person["last_adverse_on"] or "") < on:
                person["last_adverse_on"] = on
            self._emit("upsert", entry)
        return entry_id

    def set_entry_status(self, entry_id: str, status: str) -> None:
        """Change an entry's status (repaired, withdrawn …); emits a change-feed ``upsert``.

        >>> fake = FakePlatform()
        >>> e = fake.add_entry("91442000MA4UJ2KQ57", "black", "environment")
        >>> fake.set_entry_status(e, "repaired")
        >>> fake.profile("91442000MA4UJ2KQ57")["entries"][0]["status"]
        'repaired'
        """
        if status not in _STATUSES:
            raise ValueError(f"status must be one of {', '.join(_STATUSES)}, not {status!r}")
        with self._lock:
            entry = self._entry(entry_id)
            entry["status"] = status
            entry["updated_at"] = _stamp()
            self._emit("upsert", entry)

    def remove_entry(self, entry_id: str) -> None:
        """Delete an entry; emits a change-feed ``delete``.

        >>> fake = FakePlatform()
        >>> fake.remove_entry(fake.add_entry("91442000MA4UJ2KQ57", "black", "environment"))
        >>> fake.profile("91442000MA4UJ2KQ57")["entries"]
        []
        """
        with self._lock:
            entry = self._entry(entry_id)
            del self._entries[entry_id]
            self._emit("delete", entry)

    def set_record(
        self,
        subject_id: str,
        *,
        record_since: date | str | _Keep | None = _KEEP,
        last_adverse_on: date | str | _Keep | None = _KEEP,
        name: str | None = None,
        kind: SubjectKind | None = None,
    ) -> None:
        """Set a subject's record history and name; arguments not given stay as they are.

        ``kind`` is needed only for an all-digit id that is valid both as a
        USCC and as a RIC (legal entity unless told otherwise).

        >>> fake = FakePlatform()
        >>> fake.set_record("91442000MA4UJ2KQ57", record_since="2012-03-02",
        ...                 last_adverse_on=None, name="中山市某某有限公司")
        >>> fake.profile("91442000MA4UJ2KQ57")["record_since"]
        '2012-03-02'
        """
        number = self._valid(subject_id)
        with self._lock:
            person = self._person(number)
            if not isinstance(record_since, _Keep):
                person["record_since"] = _day(record_since)
            if not isinstance(last_adverse_on, _Keep):
                person["last_adverse_on"] = _day(last_adverse_on)
            if name is not None:
                person["name"] = name
            if kind is not None:
                person["kind"] = kind

    def relate(
        self,
        organisation_id: str,
        person_id: str,
        role: Literal["legal_representative", "principal", "responsible_person"] = (
            "legal_representative"
        ),
    ) -> None:
        """Link a person to an organisation, so the person's entries show in its profile.

        >>> fake = FakePlatform()
        >>> fake.relate("91442000MA4UJ2KQ57", "442000199001011233")
        >>> fake.profile("91442000MA4UJ2KQ57")["related"][0]["role"]
        'legal_representative'
        """
        if role not in _ROLES:
            raise ValueError(f"role must be one of {', '.join(_ROLES)}, not {role!r}")
        org, person = self._valid(organisation_id), self._valid(person_id)
        with self._lock:
            links = self._relations.setdefault(org, [])
            if (role, person) not in links:
                links.append((role, person))

    def unrelate(self, organisation_id: str, person_id: str) -> None:
        """Remove every link between an organisation and a person (a new legal representative).

        >>> fake = FakePlatform()
        >>> fake.relate("91442000MA4UJ2KQ57", "442000199001011233")
        >>> fake.unrelate("91442000MA4UJ2KQ57", "442000199001011233")
        >>> fake.profile("91442000MA4UJ2KQ57")["related"]
        []
        """
        org, person = self._valid(organisation_id), self._valid(person_id)
        with self._lock:
            links = self._relations.get(org, [])
            links[:] = [(role, other) for role, other in links if other != person]

    def set_catalog(self, catalog: Catalog) -> None:
        """Publish another catalogue (a new ``ETag``).

        >>> from credit_check_sdk.catalogue import default_catalog
        >>> FakePlatform().set_catalog(default_catalog())
        """
        body = catalog.model_dump_json().encode()
        with self._lock:
            self._catalog_body = body
            self._etag = '"' + hashlib.sha256(body).hexdigest()[:32] + '"'

    def decide_objection(self, objection_id: str, outcome: Literal["upheld", "rejected"]) -> None:
        """End an objection's verification: upheld repairs the entry, rejected reinstates it.

        >>> fake = FakePlatform()
        >>> fake.decide_objection("OBJ-missing", "upheld")
        Traceback (most recent call last):
        ...
        KeyError: 'no objection OBJ-missing'
        """
        if outcome not in ("upheld", "rejected"):
            raise ValueError("outcome must be 'upheld' or 'rejected'")
        with self._lock:
            objection = self.objections.get(objection_id)
            if objection is None:
                raise KeyError(f"no objection {objection_id}")
            objection["status"] = outcome
            if objection["entry_id"] in self._entries:
                status = "repaired" if outcome == "upheld" else "active"
                self.set_entry_status(objection["entry_id"], status)

    def profile(self, subject_id: str) -> dict[str, Any]:
        """The subject's profile exactly as the platform serves it.

        >>> FakePlatform().profile("91442000MA4UJ2KQ57")["subject"]["kind"]
        'legal_entity'
        """
        with self._lock:
            return self._profile(self._valid(subject_id))

    # -- faults ------------------------------------------------------------------------

    def fail(
        self,
        status: int = 503,
        *,
        times: int | None = None,
        retry_after: float | None = None,
        path: str | None = None,
    ) -> None:
        """Answer ``/v1`` calls (whose path contains ``path``) with a problem document.

        ``times`` limits how many calls fail (``None``: until :meth:`reset_faults`);
        ``retry_after`` adds a ``Retry-After`` header.

        >>> fake = FakePlatform()
        >>> fake.fail(429, retry_after=5, times=2, path="/profile")
        >>> fake.fail(410, path="lists/changes")
        """
        self._add(_Fault("status", times, path, status=status, retry_after=retry_after))

    def delay(self, seconds: float, *, times: int | None = None, path: str | None = None) -> None:
        """Hold answers to ``/v1`` calls for ``seconds`` before sending them.

        In memory, a delay past the request's read timeout or deadline raises
        :class:`RequestTimeoutError` at that moment, as a real transport would.

        >>> FakePlatform().delay(5.0, path="/profile")
        """
        self._add(_Fault("delay", times, path, seconds=seconds))

    def drip(
        self, interval: float = 0.3, *, times: int | None = None, path: str | None = None
    ) -> None:
        """Send the status and headers at once, then the body one byte every ``interval`` s.

        >>> FakePlatform().drip(0.3, path="/profile")
        """
        self._add(_Fault("drip", times, path, seconds=interval))

    def reset(self, *, times: int | None = None, path: str | None = None) -> None:
        """Break the connection in the middle of the body (a TCP reset over HTTP).

        >>> FakePlatform().reset(times=1)
        """
        self._add(_Fault("reset", times, path))

    def malformed(
        self, kind: MalformedKind, *, times: int | None = None, path: str | None = None
    ) -> None:
        """Garble answers to ``/v1`` calls (status 200, the request still takes effect).

        ``not_json``: an HTML page; ``truncated``: the first half of the JSON;
        ``missing_fields``: a required field left out; ``wrong_types``: every
        top-level field of the wrong type.

        >>> FakePlatform().malformed("truncated", times=1)
        """
        if kind not in ("not_json", "truncated", "missing_fields", "wrong_types"):
            raise ValueError(f"unknown kind of malformed answer {kind!r}")
        self._add(_Fault("malformed", times, path, malformed=kind))

    def outage(self, on: bool = True) -> None:
        """While on, every call is answered 503.

        >>> fake = FakePlatform()
        >>> fake.outage()
        >>> fake.outage(False)
        """
        with self._lock:
            self._down = on

    def reset_faults(self) -> None:
        """Remove every fault and end an outage.

        >>> FakePlatform().reset_faults()
        """
        with self._lock:
            self._faults.clear()
            self._down = False

    def _add(self, fault: _Fault) -> None:
        if fault.times is not None and fault.times < 1:
            raise ValueError("times must be at least 1, or None for every call")
        with self._lock:
            self._faults.append(fault)

    # -- wiring ------------------------------------------------------------------------

    @property
    def transport(self) -> MockTransport:
        """A transport that hands requests to this fake in memory (no sockets).

        >>> from credit_check_sdk._client import PlatformClient
        >>> fake = FakePlatform()
        >>> client = PlatformClient(fake.base_url, fake.app_id, fake.app_secret,
        ...                         transport=fake.transport)
        >>> client.health()["status"]
        'ok'
        """
        return self._transport

    @property
    def base_url(self) -> str:
        """The served URL once :meth:`serve` has run, else the in-memory one.

        >>> FakePlatform().base_url
        'https://fake-platform.invalid/api'
        """
        if self._server is not None:
            host, port = self._server.server_address[:2]
            return f"http://{host!s}:{port}/api"
        return _MEMORY_BASE_URL

    def serve(self, host: str = "127.0.0.1", port: int = 0) -> str:
        """Serve the contract over real HTTP in a daemon thread; returns the base URL.

        Serving twice returns the same URL. Stop with :meth:`stop` (or use the
        fake as a context manager).

        >>> with FakePlatform() as fake:
        ...     fake.serve().startswith("http://127.0.0.1:")
        True
        """
        with self._lock:
            if self._server is None:
                self._stopping.clear()
                self._server = http.server.ThreadingHTTPServer((host, port), _handler_for(self))
                self._server.daemon_threads = True
                self._thread = threading.Thread(
                    target=self._server.serve_forever,
                    kwargs={"poll_interval": 0.05},
                    name="fake-credit-platform",
                    daemon=True,
                )
                self._thread.start()
        return self.base_url

    def stop(self) -> None:
        """Stop the HTTP server, if serving; delayed answers still in flight are abandoned.

        >>> fake = FakePlatform(); _ = fake.serve(); fake.stop()
        >>> fake.base_url
        'https://fake-platform.invalid/api'
        """
        with self._lock:
            server, thread = self._server, self._thread
            self._server = self._thread = None
        self._stopping.set()
        if server is not None:
            server.shutdown()
            server.server_close()
        if thread is not None:
            thread.join(5)

    def checker(
        self, data_dir: str | Path | None = None, *, http: bool = False, **settings: Any
    ) -> CreditChecker:
        """A :class:`CreditChecker` wired to this fake.

        In memory unless ``http=True`` or the fake is being served; then over
        real HTTP (and :meth:`serve` is called if needed). ``data_dir``
        defaults to a fresh temporary directory, left in place for inspection.
        Other keywords are checker settings.

        >>> fake = FakePlatform()
        >>> with fake.checker(timeout=1.0) as checker:
        ...     checker.must_check("91442000MA4UJ2KQ57", "licensing").source
        'live'
        """
        over_http = http or self._server is not None
        options: dict[str, Any] = {
            "base_url": self.serve() if over_http else _MEMORY_BASE_URL,
            "app_id": self.app_id,
            "app_secret": self.app_secret,
            "agency_id": self.agency_id,
            "data_dir": Path(data_dir) if data_dir is not None else Path(tempfile.mkdtemp()),
        }
        options.update(settings)
        return CreditChecker(transport=None if over_http else self._transport, **options)

    def __enter__(self) -> FakePlatform:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    def __repr__(self) -> str:
        return f"<FakePlatform {self.base_url} {len(self._entries)} entries>"

    # -- the request handler ---------------------------------------------------------------

    def handle(
        self,
        method: str,
        path: str,
        query: list[tuple[str, str]],
        headers: Mapping[str, str],
        body: bytes,
    ) -> Answer:
        """Answer one request: ``(status, headers, body)``.

        ``path`` is the full request path as sent (``/api/v1/health``) and
        ``query`` the decoded pairs. Both wirings answer through the same code
        (``_exchange``), which also tells them how to deliver the answer:
        delays, drips and resets are carried out by the wiring (see :meth:`delay`).

        >>> fake = FakePlatform(verify_signatures=False)
        >>> fake.handle("GET", "/api/v1/health", [], {}, b"")[0]
        200
        """
        ex = self._exchange(method, path, query, headers, body)
        return ex.status, ex.headers, ex.body

    def _exchange(
        self,
        method: str,
        path: str,
        query: list[tuple[str, str]],
        headers: Mapping[str, str],
        body: bytes,
    ) -> _Exchange:
        method = method.upper()
        at = path.find("/v1/")
        route = path[at:] if at >= 0 else path
        with self._lock:
            self.requests.append((method, route))
            delay, fault = self._take_faults(route) if at >= 0 else (0.0, None)
            if self._down:
                return _Exchange(*_problem(503, "the platform is down"), delay=delay)
            if fault is not None and fault.kind == "status":
                extra = {}
                if fault.retry_after is not None:
                    extra["Retry-After"] = f"{fault.retry_after:g}"
                answer = _problem(fault.status, "injected fault", extra)
                return _Exchange(*answer, delay=delay)
            status, hdrs, data = self._answer(method, path, route, query, headers, body)
        ex = _Exchange(status, hdrs, data, delay=delay)
        if fault is not None and fault.kind == "malformed":
            ex = _Exchange(200, {"Content-Type": _JSON}, self._garble(data, fault), delay=delay)
        elif fault is not None and fault.kind == "drip":
            ex.drip = fault.seconds
        elif fault is not None and fault.kind == "reset":
            ex.reset = True
        return ex

    def _take_faults(self, route: str) -> tuple[float, _Fault | None]:
        """Consume the faults that apply: every matching delay, the first other one."""
        delay, chosen = 0.0, None
        for fault in self._faults:
            if not fault.matches(route) or (fault.kind != "delay" and chosen is not None):
                continue
            if fault.times is not None:
                fault.times -= 1
            if fault.kind == "delay":
                delay += fault.seconds
            else:
                chosen = fault
        self._faults = [f for f in self._faults if f.times != 0]
        return delay, chosen

    @staticmethod
    def _garble(data: bytes, fault: _Fault) -> bytes:
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
        return _dumps(doc)

    def _answer(
        self,
        method: str,
        path: str,
        route: str,
        query: list[tuple[str, str]],
        headers: Mapping[str, str],
        body: bytes,
    ) -> Answer:
        hdrs: CaseInsensitiveDict[str] = CaseInsensitiveDict(dict(headers))
        if self.verify_signatures:
            why = self._check_signature(method, path, query, hdrs, body)
            if why is not None:
                return _problem(401, why)
        try:
            return self._route(method, route, query, hdrs, body)
        except _RefusalError as refusal:
            return _problem(refusal.status, refusal.detail, refusal.headers)

    def _check_signature(
        self,
        method: str,
        path: str,
        query: list[tuple[str, str]],
        headers: CaseInsensitiveDict[str],
        body: bytes,
    ) -> str | None:
        why = verify(
            headers, secret=self.app_secret, method=method, path=path, query=query, body=body
        )
        if why is not None:
            return why
        if headers.get("X-App-Id") != self.app_id:
            return "unknown app id"
        clock = time.time()
        self._nonces = {n: t for n, t in self._nonces.items() if clock - t < NONCE_TTL_SECONDS}
        nonce = headers["X-Nonce"]
        if nonce in self._nonces:
            return "nonce seen within the last 600 s (replayed request)"
        self._nonces[nonce] = clock
        return None

    def _route(
        self,
        method: str,
        route: str,
        query: list[tuple[str, str]],
        headers: CaseInsensitiveDict[str],
        body: bytes,
    ) -> Answer:
        parts = [unquote(p) for p in route.strip("/").split("/")]
        if route == "/v1/health":
            self._allow(method, "GET")
            return self._ok({"status": "ok", "time": _stamp()})
        if len(parts) == 4 and parts[1] == "subjects" and parts[3] == "profile":
            self._allow(method, "GET")
            return self._get_profile(parts[2])
        if route == "/v1/profiles:batch":
            self._allow(method, "POST")
            return self._batch(self._body(body))
        if route == "/v1/catalog":
            self._allow(method, "GET")
            return self._catalog(headers.get("If-None-Match"))
        if route == "/v1/lists/changes":
            self._allow(method, "GET")
            return self._list_changes(dict(query))
        if route == "/v1/lists/export":
            self._allow(method, "GET")
            return self._export()
        if route == "/v1/records:batch":
            self._allow(method, "POST")
            return self._upload(self._body(body))
        if len(parts) == 4 and parts[1] == "reports":
            self._allow(method, "PUT")
            return self._report(parts[2], parts[3], self._body(body))
        if route == "/v1/objections":
            self._allow(method, "POST")
            return self._object(self._body(body))
        if len(parts) == 3 and parts[1] == "objections":
            self._allow(method, "GET")
            objection = self.objections.get(parts[2])
            if objection is None:
                raise _RefusalError(404, f"no objection {parts[2]}")
            return self._ok(objection)
        if route == "/v1/commitments":
            self._allow(method, "POST")
            return self._commit(self._body(body))
        if len(parts) == 3 and parts[1] == "commitments" and parts[2].endswith(":resolve"):
            self._allow(method, "POST")
            return self._resolve(parts[2].removesuffix(":resolve"), self._body(body))
        raise _RefusalError(404, f"no such resource: {route}")

    # -- routes ------------------------------------------------------------------------

    def _get_profile(self, subject_id: str) -> Answer:
        if _subject_kind(subject_id) is None:
            raise _RefusalError(400, "subject id is not a checksum-valid USCC or RIC")
        return self._ok(self._profile(subject_id))

    def _batch(self, doc: dict[str, Any]) -> Answer:
        ids = doc.get("subject_ids")
        if not isinstance(ids, list) or not all(isinstance(i, str) for i in ids):
            raise _RefusalError(400, "subject_ids must be a list of strings")
        if not 1 <= len(ids) <= 200:
            raise _RefusalError(400, f"subject_ids takes 1 to 200 ids, not {len(ids)}")
        profiles, invalid = [], []
        for subject_id in ids:
            if _subject_kind(subject_id) is None:
                detail = "not a checksum-valid USCC or RIC"
                invalid.append({"subject_id": subject_id, "detail": detail})
            else:
                profiles.append(self._profile(subject_id))
        return self._ok({"profiles": profiles, "invalid": invalid})

    def _catalog(self, if_none_match: str | None) -> Answer:
        tags = {t.strip() for t in (if_none_match or "").split(",")}
        if self._etag in tags or "*" in tags:
            return 304, {"ETag": self._etag}, b""
        return 200, {"Content-Type": _JSON, "ETag": self._etag}, self._catalog_body

    def _list_changes(self, query: dict[str, str]) -> Answer:
        try:
            limit = int(query.get("limit", "1000"))
        except ValueError:
            raise _RefusalError(400, "limit must be an integer") from None
        if not 1 <= limit <= 5000:
            raise _RefusalError(400, "limit must be 1 to 5000")
        cursor = query.get("cursor")
        after = 0
        if cursor is not None:
            if not re.fullmatch(r"s[0-9]+", cursor) or int(cursor[1:]) > len(self._changes):
                raise _RefusalError(400, "unknown cursor")
            after = int(cursor[1:])
        page = self._changes[after : after + limit]
        last = page[-1]["seq"] if page else after
        return self._ok(
            {
                "changes": page,
                "next_cursor": f"s{last}",
                "has_more": last < len(self._changes),
                "as_of": _stamp(),
            }
        )

    def _export(self) -> Answer:
        entries = sorted(self._entries.values(), key=lambda e: str(e["entry_id"]))
        head = {"cursor": f"s{len(self._changes)}", "as_of": _stamp(), "count": len(entries)}
        lines = [json.dumps(x, ensure_ascii=False) for x in (head, *entries)]
        data = gzip.compress(("\n".join(lines) + "\n").encode())
        return 200, {"Content-Type": "application/x-ndjson"}, data

    def _upload(self, doc: dict[str, Any]) -> Answer:
        records = doc.get("records")
        if not isinstance(records, list) or not records:
            raise _RefusalError(400, "records must be a non-empty list")
        if len(records) > 1000:
            raise _RefusalError(413, f"at most 1000 records a request, not {len(records)}")
        accepted: list[str] = []
        duplicates: list[str] = []
        rejected: list[dict[str, str]] = []
        for position, record in enumerate(records):
            rid = record.get("id") if isinstance(record, dict) else None
            if not isinstance(rid, str) or not rid:
                rejected.append({"id": f"#{position}", "detail": "record has no id"})
                continue
            self.upload_counts[rid] += 1
            if rid in self.records:
                duplicates.append(rid)
                continue
            why = self._record_problem(record)
            if why is not None:
                rejected.append({"id": rid, "detail": why})
                continue
            self.records[rid] = record
            accepted.append(rid)
        return self._ok({"accepted": accepted, "duplicates": duplicates, "rejected": rejected})

    def _record_problem(self, record: dict[str, Any]) -> str | None:
        kind = record.get("type")
        if kind not in ("check", "action"):
            return f"type must be 'check' or 'action', not {kind!r}"
        required = _CHECK_FIELDS if kind == "check" else _ACTION_FIELDS
        missing = [name for name in required if name not in record]
        if missing:
            return f"missing required field(s): {', '.join(missing)}"
        if record["agency_id"] != self.agency_id:
            return f"agency_id {record['agency_id']!r} is not this app's agency"
        if record["hash"] != _record_hash(record):
            return "hash is not the SHA-256 of the record's canonical JSON"
        return None

    def _report(self, agency_id: str, period: str, doc: dict[str, Any]) -> Answer:
        if agency_id != self.agency_id:
            raise _RefusalError(403, f"this app may not report for agency {agency_id!r}")
        if not _PERIOD.match(period):
            raise _RefusalError(400, f"period must be YYYY-MM, not {period!r}")
        missing = [name for name in _REPORT_FIELDS if name not in doc]
        if missing:
            raise _RefusalError(400, f"report misses {', '.join(missing)}")
        versions = self.reports.setdefault((agency_id, period), [])
        versions.append(doc)
        version = len(versions)
        return self._ok({"receipt_id": f"RCPT-{period}-{version}", "version": version})

    def _object(self, doc: dict[str, Any]) -> Answer:
        for name in ("subject_id", "entry_id", "reason", "submitted_by"):
            if not isinstance(doc.get(name), str) or not doc[name].strip():
                raise _RefusalError(400, f"{name} is required")
        entry = self._entries.get(doc["entry_id"])
        if entry is None or entry["subject_id"] != doc["subject_id"]:
            raise _RefusalError(404, f"subject has no entry {doc['entry_id']}")
        if entry["status"] != "active":
            raise _RefusalError(409, f"entry {entry['entry_id']} is {entry['status']}")
        objection_id = f"OBJ-{next(self._counter):06d}"
        self.objections[objection_id] = {
            "objection_id": objection_id,
            "status": "verifying",
            "subject_id": doc["subject_id"],
            "entry_id": doc["entry_id"],
            "check_id": doc.get("check_id"),
            "reason": doc["reason"],
            "submitted_by": doc["submitted_by"],
            "filed_at": _stamp(),
        }
        self.set_entry_status(entry["entry_id"], "objection_pending")
        return self._ok({"objection_id": objection_id, "status": "verifying"}, status=202)

    def _commit(self, doc: dict[str, Any]) -> Answer:
        missing = [name for name in _COMMITMENT_FIELDS if name not in doc]
        if missing:
            raise _RefusalError(400, f"commitment misses {', '.join(missing)}")
        if _subject_kind(str(doc["subject_id"])) is None:
            raise _RefusalError(400, "subject id is not a checksum-valid USCC or RIC")
        known = self.commitments.get(str(doc["commitment_id"]))
        if known is None:
            known = {**doc, "status": "open"}
            self.commitments[str(doc["commitment_id"])] = known
        return self._ok(known, status=201)

    def _resolve(self, commitment_id: str, doc: dict[str, Any]) -> Answer:
        commitment = self.commitments.get(commitment_id)
        if commitment is None:
            raise _RefusalError(404, f"no commitment {commitment_id}")
        resolution = doc.get("resolution")
        if resolution not in ("fulfilled", "breached"):
            raise _RefusalError(400, "resolution must be 'fulfilled' or 'breached'")
        try:
            resolved_on = _day(str(doc.get("resolved_on")))
        except ValueError:
            raise _RefusalError(400, "resolved_on must be a date YYYY-MM-DD") from None
        if commitment["status"] not in ("open", resolution):
            raise _RefusalError(409, f"commitment {commitment_id} is {commitment['status']}")
        commitment["status"] = resolution
        commitment["resolved_on"] = resolved_on
        if resolution == "breached" and resolved_on is not None:
            person = self._person(str(commitment["subject_id"]))
            if (person["last_adverse_on"] or "") < resolved_on:
                person["last_adverse_on"] = resolved_on
            if person["record_since"] is None:
                person["record_since"] = resolved_on
        return self._ok(commitment)

    # -- helpers -----------------------------------------------------------------------

    @staticmethod
    def _ok(value: Any, *, status: int = 200) -> Answer:
        return status, {"Content-Type": _JSON}, _dumps(value)

    @staticmethod
    def _allow(method: str, allowed: str) -> None:
        if method != allowed:
            raise _RefusalError(405, f"use {allowed}", {"Allow": allowed})

    @staticmethod
    def _body(body: bytes) -> dict[str, Any]:
        try:
            doc = json.loads(body or b"null")
        except ValueError:
            raise _RefusalError(400, "the body is not JSON") from None
        if not isinstance(doc, dict):
            raise _RefusalError(400, "the body must be a JSON object")
        return doc

    def _valid(self, subject_id: str) -> str:
        number = normalize_id(subject_id)
        if _subject_kind(number) is None:
            raise ValueError(f"{subject_id!r} is not a checksum-valid USCC or RIC")
        return number

    def _person(self, number: str) -> dict[str, Any]:
        if number not in self._people:
            self._people[number] = {
                "name": None,
                "kind": None,
                "record_since": None,
                "last_adverse_on": None,
            }
        return self._people[number]

    def _entry(self, entry_id: str) -> dict[str, Any]:
        try:
            return self._entries[entry_id]
        except KeyError:
            raise KeyError(f"no entry {entry_id}") from None

    def _emit(self, op: str, entry: dict[str, Any]) -> None:
        self._changes.append({"seq": len(self._changes) + 1, "op": op, "entry": dict(entry)})

    def _subject(self, number: str) -> dict[str, Any]:
        person = self._people.get(number, {})
        kind = person.get("kind") or _subject_kind(number)
        return {"id": number, "kind": kind, "name": person.get("name")}

    def _entries_of(self, number: str) -> list[dict[str, Any]]:
        return [dict(e) for e in self._entries.values() if e["subject_id"] == number]

    def _profile(self, number: str) -> dict[str, Any]:
        person = self._people.get(number, {})
        return {
            "subject": self._subject(number),
            "as_of": _stamp(),
            "record_since": person.get("record_since"),
            "last_adverse_on": person.get("last_adverse_on"),
            "entries": self._entries_of(number),
            "related": [
                {"role": role, "subject": self._subject(other), "entries": self._entries_of(other)}
                for role, other in self._relations.get(number, [])
            ],
        }

    # -- the in-memory wiring ------------------------------------------------------------

    def _in_memory(self, request: Request) -> Response:
        ex = self._exchange(
            request.method, request.path, request.query, request.headers, request.body
        )
        wait = ex.delay + (ex.drip * len(ex.body) if ex.drip is not None else 0.0)
        remaining = request.remaining()
        if remaining is not None and remaining <= 0:
            raise RequestTimeoutError(
                "time budget spent before sending", method=request.method, url=request.url
            )
        patience = (
            request.read_timeout if remaining is None else min(request.read_timeout, remaining)
        )
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


def _handler_for(fake: FakePlatform) -> type[http.server.BaseHTTPRequestHandler]:
    """A request handler class for the stdlib HTTP server, bound to ``fake``."""

    class Handler(http.server.BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"
        server_version = "FakeCreditPlatform/1"

        def _serve(self) -> None:
            if fake._stopping.is_set():
                # Stopped: a kept-alive connection must not go on being answered.
                self.close_connection = True
                return
            length = int(self.headers.get("Content-Length") or 0)
            body = self.rfile.read(length) if length else b""
            parts = urlsplit(self.path)
            query = parse_qsl(parts.query, keep_blank_values=True)
            ex = fake._exchange(self.command, parts.path, query, dict(self.headers.items()), body)
            if ex.delay and fake._stopping.wait(ex.delay):
                self.close_connection = True
                return
            try:
                self._send(ex)
            except OSError:  # the client gave up (timeout) and closed its end
                self.close_connection = True

        def _send(self, ex: _Exchange) -> None:
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
                    if fake._stopping.wait(ex.drip):
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
