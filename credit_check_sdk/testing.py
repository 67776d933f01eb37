"""An in-memory credit platform for agencies' own tests: :class:`FakePlatform`.

It implements the platform contract (``docs/platform-contract.md``) through the
project's one platform core (:mod:`credit_check_sdk._platform`, the same rules
the sandbox platform runs): signed requests (signature and nonce replay
checked), profiles with related parties both ways, batches, the catalogue with
``ETag``, the change feed with relation changes, the export, record uploads,
monthly reports, objections, commitments and disclosures, every error an
RFC 9457 problem document. Tests arrange the data
(:meth:`FakePlatform.add_entry`, :meth:`FakePlatform.set_record`,
:meth:`FakePlatform.relate`), inject faults (:meth:`FakePlatform.fail`,
:meth:`FakePlatform.delay`, :meth:`FakePlatform.malformed`,
:meth:`FakePlatform.outage` …) and look at what reached the platform
(:attr:`FakePlatform.records`, :attr:`FakePlatform.requests` …).

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
import http.server
import itertools
import tempfile
import threading
from collections.abc import Mapping
from datetime import date, timedelta
from pathlib import Path
from types import TracebackType
from typing import TYPE_CHECKING, Any, Literal

from ._checker import CreditChecker
from ._fake_faults import FaultInjection
from ._fake_http import Answer, Fault, deliver_in_memory, handler_for
from ._ids import SubjectKind
from ._models import Catalog
from ._platform import MemoryStore, PlatformCore, Refusal
from ._time import now, today
from ._transports import MockTransport, Request, Response
from .catalogue import default_catalog

if TYPE_CHECKING:
    from ._async_checker import AsyncCreditChecker

__all__ = ["FakePlatform"]

_MEMORY_BASE_URL = "https://fake-platform.invalid/api"


class _Keep:
    """Marks an argument of :meth:`FakePlatform.set_record` that was not given."""

    def __repr__(self) -> str:
        return "<unchanged>"


_KEEP = _Keep()


def _day(value: date | str | None) -> str | None:
    if value is None:
        return None
    return value.isoformat() if isinstance(value, date) else date.fromisoformat(value).isoformat()


class FakePlatform(FaultInjection):
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
        feed_relations: bool = True,
    ) -> None:
        self.app_id = app_id
        """The application id the platform knows (the checkers it makes use it)."""
        self.agency_id = agency_id
        """The agency whose records, reports and disclosures it takes."""
        self.store = MemoryStore(feed_relations=feed_relations)
        """The platform's data, in memory (the core's store)."""
        self._lock = self.store.lock
        counter = itertools.count(1)
        self.core: PlatformCore = PlatformCore(
            self.store,
            app_id=app_id,
            app_secret=app_secret,
            agency_id=agency_id,
            verify_signatures=verify_signatures,
            clock=now,
            # An all-digit id valid both as a USCC and a RIC: a legal entity unless told.
            ambiguous_kind="legal_entity",
            entry_ids=lambda prefix, _year: f"{prefix}-{today().year}-{next(counter):06d}",
        )
        """The platform contract's rules, shared with the sandbox (:mod:`._platform`)."""
        self._faults: list[Fault] = []
        self._down = False
        self.requests: list[tuple[str, str]] = []
        """``(method, path from /v1/)`` of every call, in order."""
        self.set_catalog(catalog or default_catalog())
        self._transport = MockTransport(self._in_memory)
        self._server: http.server.ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None
        self._stopping = threading.Event()

    # -- what reached the platform -----------------------------------------------------

    @property
    def app_secret(self) -> str:
        """The secret the platform holds for ``app_id`` (change it to play a rotated secret)."""
        return self.core.app_secret

    @app_secret.setter
    def app_secret(self, secret: str) -> None:
        self.core.app_secret = secret

    @property
    def verify_signatures(self) -> bool:
        """Whether requests must be signed (set ``False`` to poke at the routes by hand)."""
        return self.core.verify_signatures

    @verify_signatures.setter
    def verify_signatures(self, on: bool) -> None:
        self.core.verify_signatures = on

    @property
    def feed_relations(self) -> bool:
        """Whether relations travel in the change feed and the export (contract v2; set
        ``False`` to play a platform of contract v1, which sends list entries only)."""
        return self.store.feed_relations

    @feed_relations.setter
    def feed_relations(self, on: bool) -> None:
        self.store.feed_relations = on

    @property
    def records(self) -> dict[str, dict[str, Any]]:
        """Journal records accepted, by id."""
        return self.store.records

    @property
    def upload_counts(self) -> collections.Counter[str]:
        """How many times each record id was uploaded (accepted, duplicate or rejected)."""
        return self.store.upload_counts

    @property
    def reports(self) -> dict[tuple[str, str], list[dict[str, Any]]]:
        """Monthly reports by ``(agency_id, period)``, every version in order."""
        return self.store.reports

    @property
    def objections(self) -> dict[str, dict[str, Any]]:
        """Objections by id."""
        return self.store.tables["objections"]

    @property
    def commitments(self) -> dict[str, dict[str, Any]]:
        """Commitments by id, as posted, with ``status`` (open, fulfilled or breached) and
        ``resolved_on`` (a copy: arrange data through the platform's calls)."""
        with self._lock:
            return {
                key: {**doc["body"], "status": doc["status"], "resolved_on": doc["resolved_on"]}
                for key, doc in self.store.tables["commitments"].items()
            }

    @property
    def disclosures(self) -> dict[str, dict[str, Any]]:
        """Disclosures (双公示) by id, with ``published_on``."""
        return self.store.tables["disclosures"]

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
        on = _day(listed_on) or (today() - timedelta(days=365)).isoformat()
        with _as_value_error():
            entry = self.core.add_entry(
                subject_id,
                list,
                category,
                status=status,
                listed_on=on,
                expires_on=expires_on,
                entry_id=entry_id,
                authority=authority,
                basis=basis,
            )
        return str(entry["entry_id"])

    def set_entry_status(self, entry_id: str, status: str) -> None:
        """Change an entry's status (repaired, withdrawn …); emits a change-feed ``upsert``.

        >>> fake = FakePlatform()
        >>> e = fake.add_entry("91442000MA4UJ2KQ57", "black", "environment")
        >>> fake.set_entry_status(e, "repaired")
        >>> fake.profile("91442000MA4UJ2KQ57")["entries"][0]["status"]
        'repaired'
        """
        with _as_value_error(entry_id):
            self.core.change_entry(entry_id, {"status": status})

    def remove_entry(self, entry_id: str) -> None:
        """Delete an entry; emits a change-feed ``delete``.

        >>> fake = FakePlatform()
        >>> fake.remove_entry(fake.add_entry("91442000MA4UJ2KQ57", "black", "environment"))
        >>> fake.profile("91442000MA4UJ2KQ57")["entries"]
        []
        """
        with _as_value_error(entry_id):
            self.core.remove_entry(entry_id)

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
        values: dict[str, Any] = {}
        if not isinstance(record_since, _Keep):
            values["record_since"] = record_since
        if not isinstance(last_adverse_on, _Keep):
            values["last_adverse_on"] = last_adverse_on
        if name is not None:
            values["name"] = name
        with _as_value_error():
            self.core.set_subject(subject_id, values, kind)

    def relate(
        self,
        organisation_id: str,
        person_id: str,
        role: str = "legal_representative",
        *,
        since: date | str | None = None,
    ) -> None:
        """Link a party to an organisation in ``role`` (named from the organisation's side:
        ``legal_representative``, ``director`` …, or a role the contract does not know yet).

        The organisation's profile lists the party by ``role``, the party's lists
        the organisation by ``role`` + ``_of``; the change feed gets a ``relate``.

        >>> fake = FakePlatform()
        >>> fake.relate("91442000MA4UJ2KQ57", "442000199001011233")
        >>> fake.profile("91442000MA4UJ2KQ57")["related"][0]["role"]
        'legal_representative'
        >>> fake.profile("442000199001011233")["related"][0]["role"]
        'legal_representative_of'
        """
        with _as_value_error():
            self.core.relate(organisation_id, role, person_id, since=since)

    def unrelate(self, organisation_id: str, person_id: str, role: str | None = None) -> None:
        """End the links between an organisation and a party (every role, or ``role``);
        the change feed gets an ``unrelate`` for each.

        >>> fake = FakePlatform()
        >>> fake.relate("91442000MA4UJ2KQ57", "442000199001011233")
        >>> fake.unrelate("91442000MA4UJ2KQ57", "442000199001011233")
        >>> fake.profile("91442000MA4UJ2KQ57")["related"]
        []
        """
        with _as_value_error():
            self.core.unrelate(organisation_id, person_id, role)

    def set_catalog(self, catalog: Catalog) -> None:
        """Publish another catalogue (a new ``ETag``).

        >>> from credit_check_sdk.catalogue import default_catalog
        >>> FakePlatform().set_catalog(default_catalog())
        """
        self.core.set_catalog(catalog.model_dump_json().encode())

    def decide_objection(self, objection_id: str, outcome: Literal["upheld", "rejected"]) -> None:
        """End an objection's verification: upheld withdraws the entry (a mistaken listing,
        §五(三)), rejected reinstates it.

        >>> fake = FakePlatform()
        >>> fake.decide_objection("OBJ-missing", "upheld")
        Traceback (most recent call last):
        ...
        KeyError: 'no objection OBJ-missing'
        """
        if outcome not in ("upheld", "rejected"):
            raise ValueError("outcome must be 'upheld' or 'rejected'")
        if objection_id not in self.objections:
            raise KeyError(f"no objection {objection_id}")
        with _as_value_error():
            self.core.resolve_objection(objection_id, outcome)

    def profile(self, subject_id: str) -> dict[str, Any]:
        """The subject's profile exactly as the platform serves it.

        >>> FakePlatform().profile("91442000MA4UJ2KQ57")["subject"]["kind"]
        'legal_entity'
        """
        with _as_value_error():
            return self.core.profile(subject_id)

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
                self._server = http.server.ThreadingHTTPServer(
                    (host, port), handler_for(self._exchange, self._stopping)
                )
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
        options = self._settings(data_dir, over_http=over_http, settings=settings)
        return CreditChecker(transport=None if over_http else self._transport, **options)

    def async_checker(
        self, data_dir: str | Path | None = None, **settings: Any
    ) -> AsyncCreditChecker:
        """An :class:`~credit_check_sdk.AsyncCreditChecker` wired to this fake, over real
        HTTP (:meth:`serve` is called if needed); as :meth:`checker` otherwise.

        Needs the ``async`` extra.

        >>> fake = FakePlatform()
        >>> async def check() -> str:
        ...     async with fake.async_checker(timeout=1.0) as checker:
        ...         return (await checker.must_check("91442000MA4UJ2KQ57", "bidding")).source
        >>> import asyncio; asyncio.run(check())  # doctest: +SKIP
        'live'
        """
        from ._async_checker import AsyncCreditChecker  # here: it needs the async extra

        return AsyncCreditChecker(**self._settings(data_dir, over_http=True, settings=settings))

    def _settings(
        self, data_dir: str | Path | None, *, over_http: bool, settings: dict[str, Any]
    ) -> dict[str, Any]:
        """A checker's settings for this fake; ``data_dir`` by default a fresh temporary one."""
        options: dict[str, Any] = {
            "base_url": self.serve() if over_http else _MEMORY_BASE_URL,
            "app_id": self.app_id,
            "app_secret": self.app_secret,
            "agency_id": self.agency_id,
            "data_dir": Path(data_dir) if data_dir is not None else Path(tempfile.mkdtemp()),
        }
        options.update(settings)
        return options

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
        return f"<FakePlatform {self.base_url} {len(self.store.entries)} entries>"

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

    def _in_memory(self, request: Request) -> Response:
        ex = self._exchange(
            request.method, request.path, request.query, request.headers, request.body
        )
        return deliver_in_memory(ex, request)


class _as_value_error:  # noqa: N801 - used like a function, as a context manager
    """Refusals of the core raised as the errors Python callers expect: ``KeyError`` for an
    unknown entry, ``ValueError`` otherwise."""

    def __init__(self, entry_id: str | None = None) -> None:
        self.entry_id = entry_id

    def __enter__(self) -> None:
        return None

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        if isinstance(exc, Refusal):
            if exc.status == 404 and self.entry_id is not None:
                raise KeyError(f"no entry {self.entry_id}") from None
            raise ValueError(exc.detail) from None
