"""The platform client: signed requests, bounded retries, typed errors, validated answers.

Every request is signed as the contract fixes it (:mod:`credit_check_sdk.signing`).
Retries (tenacity, exponential backoff with full jitter) happen only on
connection faults, timeouts, 429 (after ``Retry-After``) and 5xx, and never past
the call's deadline, which bounds every attempt's whole exchange. Problem
documents become the typed errors of :mod:`credit_check_sdk._exceptions`;
answers must have the contract's media type and are validated with the
pydantic models, so a malformed answer is an :class:`InvalidResponseError`,
never a clean profile. Refusals of the credentials or the clock (401, 403) are
kept for ``health()`` and logged at ERROR once a minute (:mod:`._refusals`).

This module holds :class:`PlatformClient` (its settings and the endpoints); the
exchange it shares with the async client (signing, deadline, answer checks,
error mapping, retry policy) is in :mod:`._exchange`, the change feed's pages in
:mod:`._feed_pages`.
"""

from __future__ import annotations

import importlib
import json
import threading
import time
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any, TypeVar
from urllib.parse import quote, urlsplit

from pydantic import BaseModel, ValidationError

from ._config import check_base_url, mask_password
from ._exceptions import InvalidResponseError, PlatformError, problem_class
from ._exchange import JSON_TYPES, Exchange
from ._feed_pages import Change, ChangesPage, FeedPage, RelationChange
from ._ids import mask_id, mask_ids_in
from ._models import (
    Catalog,
    Disclosure,
    DisclosureReceipt,
    Profile,
    RecordsReceipt,
)
from ._refusals import Refusals, refusal_kind
from ._steps import Call, Steps, run_sync
from ._transports import BaseTransport, Response, Sink

if TYPE_CHECKING:
    from ._config import Settings

__all__ = [
    "EXPORT_TYPES",
    "JSON_TYPES",
    "BatchProfiles",
    "Change",
    "ChangesPage",
    "Exchange",
    "PlatformClient",
    "RelationChange",
    "check_base_url",
]

M = TypeVar("M", bound=BaseModel)
T = TypeVar("T")

#: Media types of the list export: NDJSON as the contract names it, or the gzip file.
EXPORT_TYPES = ("application/x-ndjson", "application/gzip", "application/x-gzip")


class BatchProfiles(BaseModel):
    """The answer to ``POST /v1/profiles:batch``."""

    model_config = {"extra": "ignore", "frozen": True, "defer_build": True}

    profiles: tuple[Profile, ...]
    invalid: tuple[dict[str, str], ...]


class PlatformClient:
    """Talks to the platform for one app id.

    >>> from credit_check_sdk._transports import MockTransport, Response
    >>> ok = Response(200, {"Content-Type": "application/json"}, b'{"status":"ok","time":"x"}')
    >>> client = PlatformClient("http://127.0.0.1:8700/api", "app", "secret",
    ...     transport=MockTransport(lambda r: ok))
    >>> client.health()["status"]
    'ok'
    """

    def __init__(
        self,
        base_url: str,
        app_id: str,
        app_secret: str,
        *,
        transport: BaseTransport | None = None,
        timeout: float = 2.0,
        connect_timeout: float = 1.0,
        max_attempts: int = 4,
        max_response_bytes: int = 8 * 1024 * 1024,
        allow_insecure_http: bool = False,
        verify_tls: bool | str = True,
        proxy: str | None = None,
        max_export_bytes: int = 16 * 1024**3,
        max_export_line_bytes: int = 1024 * 1024,
    ) -> None:
        self.base_url = check_base_url(base_url, allow_insecure_http=allow_insecure_http)
        self._base_path = urlsplit(self.base_url).path
        self._app_id = app_id
        self._secret = app_secret
        if transport is None:
            from ._transports import RequestsTransport

            transport = RequestsTransport(verify=verify_tls, proxy=proxy)
        self._transport = transport
        # The retry library is loaded with the client, as the transport's session is:
        # importing the SDK does not pay for it, and neither does the first request.
        importlib.import_module("tenacity")
        self.timeout = timeout
        self.connect_timeout = connect_timeout
        self.max_attempts = max_attempts
        self.max_response_bytes = max_response_bytes
        self.max_export_bytes = max_export_bytes
        #: Longest line of the list export its loader takes (a ListEntry is ~1 KB).
        self.max_export_line_bytes = max_export_line_bytes
        self.refusals = Refusals()
        # Set by end_requests(): no request runs past it, and retry waits end early.
        self._end_by = float("inf")
        self._ending = threading.Event()

    @classmethod
    def from_settings(
        cls, settings: Settings, *, transport: BaseTransport | None = None
    ) -> PlatformClient:
        """A client with the platform, credentials, time budget and TLS of ``settings``.

        >>> client = PlatformClient.from_settings(Settings.build())  # doctest: +SKIP
        """
        return cls(
            settings.base_url,
            settings.app_id,
            settings.app_secret.get_secret_value(),
            transport=transport,
            timeout=settings.timeout,
            connect_timeout=settings.connect_timeout,
            max_response_bytes=settings.max_response_bytes,
            allow_insecure_http=settings.allow_insecure_http,
            verify_tls=settings.verify_tls,
            proxy=settings.proxy,
            max_export_bytes=settings.max_export_bytes,
            max_export_line_bytes=settings.max_export_line_bytes,
        )

    # -- plumbing ------------------------------------------------------------------

    def request(
        self,
        method: str,
        path: str,
        *,
        query: Sequence[tuple[str, str]] = (),
        json_body: Any = None,
        headers: dict[str, str] | None = None,
        timeout: float | None = None,
        ok: Sequence[int] = (200,),
        sink: Sink | None = None,
        max_bytes: int | None = None,
        read_timeout: float | None = None,
        accept: Sequence[str] = JSON_TYPES,
    ) -> Response:
        """Send one signed request with retries within ``timeout`` seconds in all.

        ``path`` is relative to the base URL (``/v1/...``). Statuses in ``ok``
        are returned, when their media type is one of ``accept``; any other
        status raises the matching :class:`ProblemError`. ``timeout`` bounds
        everything (connecting, sending, the answer's headers and body, the
        retries); ``read_timeout`` bounds each wait for bytes (default: the
        whole budget).
        """
        exchange = Exchange(
            self,
            method,
            path,
            query=query,
            json_body=json_body,
            headers=headers,
            timeout=timeout,
            ok=ok,
            sink=sink,
            max_bytes=max_bytes,
            read_timeout=read_timeout,
            accept=accept,
        )

        def attempt() -> Response:
            request = exchange.build()
            return exchange.answer(request, self._transport.handle_request(request))

        from tenacity import Retrying  # loaded by __init__

        retrying = Retrying(**exchange.retry_policy(), sleep=self._sleep)
        try:
            return retrying(attempt)
        except PlatformError as exc:
            exchange.forget(exc)
            raise

    def run(self, steps: Steps[T]) -> T:
        """Perform the requests of ``steps`` (:mod:`._steps`) in this thread."""
        return run_sync(steps, request=self._request_call)

    def _request_call(self, call: Call) -> Response:
        return self.request(call.method, call.path, **call.options)

    def _sleep(self, seconds: float) -> None:
        # A retry's wait, cut short when end_requests() is called.
        self._ending.wait(seconds)

    def end_requests(self, within: float) -> None:
        """Shutting down: every request, those in flight included, ends within ``within`` s.

        Requests in flight are cut at that time (their sockets shut), retry waits
        end, and requests made later get no more time than is left.
        :meth:`CreditChecker.close` calls it, so that no upload or sync holds
        a thread inside a request past the close's timeout.

        >>> client.end_requests(within=4.5)  # doctest: +SKIP
        """
        self._end_by = min(self._end_by, time.monotonic() + max(0.0, within))
        self._transport.end_requests(self._end_by)
        self._ending.set()

    @staticmethod
    def _parse(model: type[M], response: Response, what: str) -> M:
        try:
            return model.model_validate_json(response.body)
        except ValidationError as exc:
            raise InvalidResponseError(
                f"{what}: the answer breaks the contract: "
                f"{mask_ids_in(str(exc.errors(include_url=False, include_input=False)))}"
            ) from exc

    def _json(self, response: Response, what: str) -> dict[str, Any]:
        try:
            value = json.loads(response.body)
        except ValueError as exc:
            raise InvalidResponseError(f"{what}: the answer is not JSON") from exc
        if not isinstance(value, dict):
            raise InvalidResponseError(f"{what}: the answer is not a JSON object")
        return value

    # -- endpoints -----------------------------------------------------------------

    def health(self, *, timeout: float | None = None) -> dict[str, Any]:
        """``GET /v1/health``."""
        return self._json(self.request("GET", "/v1/health", timeout=timeout), "health")

    def answers(self, *, timeout: float | None = None) -> bool:
        """Whether the platform answers at all (the circuit breaker's probe); never raises.

        A refusal of the credentials or clock (401, 403) is an answer: the
        platform is up, and checks should reach it and report the refusal.

        >>> client.answers(timeout=5)  # doctest: +SKIP
        True
        """
        try:
            self.health(timeout=timeout)
        except PlatformError as exc:
            return refusal_kind(exc) is not None
        return True

    def get_profile(self, subject_id: str, *, timeout: float | None = None) -> Profile:
        """One subject's profile, for a validated, normalised id.

        A legal entity's USCC is public and goes in the path
        (``GET /v1/subjects/{id}/profile``). A personal id number (RIC) is sent
        in the body of ``POST /v1/profiles:batch`` instead, so that it never
        stands in a URL, where proxies, servers and HTTP libraries log it.
        """
        return self.run(self.profile_steps(subject_id, timeout=timeout))

    def profile_steps(self, subject_id: str, *, timeout: float | None = None) -> Steps[Profile]:
        """:meth:`get_profile` as steps (:mod:`._steps`), for the sync and async clients."""
        if mask_id(subject_id) != subject_id:
            batch = yield from self.profiles_steps([subject_id], timeout=timeout)
            found = [p for p in batch.profiles if p.subject.id == subject_id]
            if not found:
                refused = [i for i in batch.invalid if i.get("subject_id") == subject_id]
                if refused:  # as the profile path would answer: a 400 for that id
                    detail = mask_ids_in(str(refused[0].get("detail", "")))
                    raise problem_class(400)(
                        f"profiles:batch refused {mask_id(subject_id)}: {detail}",
                        status=400,
                        detail=detail,
                        method="POST",
                        url=self.base_url + "/v1/profiles:batch",
                    )
                raise InvalidResponseError(
                    "profiles:batch: the answer has no profile for the subject"
                )
            return found[0]
        response = yield Call(
            "GET", f"/v1/subjects/{quote(subject_id, safe='')}/profile", {"timeout": timeout}
        )
        profile = self._parse(Profile, response, "profile")
        if profile.subject.id != subject_id:
            raise InvalidResponseError("profile: the answer is for another subject")
        return profile

    def get_profiles(
        self, subject_ids: Sequence[str], *, timeout: float | None = None
    ) -> BatchProfiles:
        """``POST /v1/profiles:batch`` for at most 200 ids."""
        return self.run(self.profiles_steps(subject_ids, timeout=timeout))

    def profiles_steps(
        self, subject_ids: Sequence[str], *, timeout: float | None = None
    ) -> Steps[BatchProfiles]:
        """:meth:`get_profiles` as steps (:mod:`._steps`)."""
        if not 1 <= len(subject_ids) <= 200:
            raise ValueError("profiles:batch takes 1 to 200 subject ids")
        response = yield Call(
            "POST",
            "/v1/profiles:batch",
            {"json_body": {"subject_ids": list(subject_ids)}, "timeout": timeout},
        )
        return self._parse(BatchProfiles, response, "profiles:batch")

    def get_catalog(
        self, etag: str | None = None, *, timeout: float | None = None
    ) -> tuple[Catalog, str | None, bytes] | None:
        """``GET /v1/catalog``; ``None`` when unchanged since ``etag`` (304)."""
        return self.run(self.catalog_steps(etag, timeout=timeout))

    def catalog_steps(
        self, etag: str | None = None, *, timeout: float | None = None
    ) -> Steps[tuple[Catalog, str | None, bytes] | None]:
        """:meth:`get_catalog` as steps (:mod:`._steps`)."""
        response = yield Call(
            "GET",
            "/v1/catalog",
            {
                "headers": {"If-None-Match": etag} if etag else None,
                "timeout": timeout,
                "ok": (200, 304),
            },
        )
        if response.status == 304:
            return None
        catalog = self._parse(Catalog, response, "catalog")
        return catalog, response.headers.get("ETag"), response.body

    def upload_records(
        self, records: Sequence[dict[str, Any]], *, timeout: float | None = None
    ) -> RecordsReceipt:
        """``POST /v1/records:batch`` with at most 1000 journal records."""
        response = self.request(
            "POST", "/v1/records:batch", json_body={"records": list(records)}, timeout=timeout
        )
        return self._parse(RecordsReceipt, response, "records:batch")

    def list_changes(
        self, cursor: str | None = None, *, limit: int = 1000, timeout: float | None = None
    ) -> ChangesPage:
        """``GET /v1/lists/changes``: the next page of the change feed (no cursor: the start).

        Raises :class:`CursorExpiredError` (410) when the cursor is too old.

        >>> page = client.list_changes(limit=5000)  # doctest: +SKIP
        >>> page.has_more, page.next_cursor  # doctest: +SKIP
        """
        query = [("limit", str(limit))]
        if cursor is not None:
            query.append(("cursor", cursor))
        response = self.request("GET", "/v1/lists/changes", query=query, timeout=timeout)
        return self._parse(FeedPage, response, "lists/changes").split()

    def export_lists(
        self,
        sink: Sink,
        *,
        timeout: float = 600.0,
        read_timeout: float | None = None,
        max_bytes: int | None = None,
    ) -> None:
        """``GET /v1/lists/export``: write the gzip NDJSON export into ``sink`` as it arrives.

        ``timeout`` bounds the whole download, ``read_timeout`` each wait for
        bytes, ``max_bytes`` its size as sent (default ``max_export_bytes``).
        The answer must be ``application/x-ndjson`` (or a gzip file type).
        A loader without its own ``max_line_bytes`` takes ``max_export_line_bytes``.
        ``sink`` is a binary file, or an
        :class:`~credit_check_sdk.snapshot.ExportLoader` that loads the export
        into a snapshot rebuild while it downloads.

        >>> with open("lists.ndjson.gz", "wb") as f:  # doctest: +SKIP
        ...     client.export_lists(f)
        """
        from .snapshot import ExportLoader  # here: the snapshot module imports this one

        if isinstance(sink, ExportLoader) and sink.max_line_bytes is None:
            sink.max_line_bytes = self.max_export_line_bytes
        self.request(
            "GET",
            "/v1/lists/export",
            timeout=timeout,
            read_timeout=read_timeout,
            sink=sink,
            max_bytes=self.max_export_bytes if max_bytes is None else max_bytes,
            accept=EXPORT_TYPES,
        )

    def disclose(
        self, disclosure: Disclosure, *, timeout: float | None = None
    ) -> DisclosureReceipt:
        """``POST /v1/disclosures`` (双公示, §四(三)): publish a licensing or penalty decision.

        Idempotent by ``disclosure_id``: a repeat gets the first receipt.

        >>> receipt = client.disclose(Disclosure(disclosure_id="D-1", kind="licence",
        ...     subject_id="91442000MA4UJ2KQ57", decision_no="中环许〔2026〕12号",
        ...     decided_on="2026-11-02", title="排污许可"))  # doctest: +SKIP
        >>> receipt.published_on  # doctest: +SKIP
        datetime.date(2026, 11, 3)
        """
        response = self.request(
            "POST",
            "/v1/disclosures",
            json_body=disclosure.model_dump(mode="json"),
            ok=(200, 201),
            timeout=timeout,
        )
        return self._parse(DisclosureReceipt, response, "disclosures")

    def post(
        self,
        path: str,
        body: Any,
        *,
        ok: Sequence[int] = (200, 201, 202),
        timeout: float | None = None,
    ) -> dict[str, Any]:
        """A signed ``POST`` of JSON whose answer is a JSON object."""
        return self.run(self.post_steps(path, body, ok=ok, timeout=timeout))

    def post_steps(
        self,
        path: str,
        body: Any,
        *,
        ok: Sequence[int] = (200, 201, 202),
        timeout: float | None = None,
    ) -> Steps[dict[str, Any]]:
        """:meth:`post` as steps (:mod:`._steps`), for the sync and async checkers."""
        response = yield Call("POST", path, {"json_body": body, "ok": ok, "timeout": timeout})
        return self._json(response, path)

    def put(self, path: str, body: Any, *, timeout: float | None = None) -> dict[str, Any]:
        """A signed ``PUT`` of JSON whose answer is a JSON object."""
        return self._json(self.request("PUT", path, json_body=body, timeout=timeout), path)

    def get(
        self, path: str, *, query: Sequence[tuple[str, str]] = (), timeout: float | None = None
    ) -> dict[str, Any]:
        """A signed ``GET`` whose answer is a JSON object."""
        return self.run(self.get_steps(path, query=query, timeout=timeout))

    def get_steps(
        self, path: str, *, query: Sequence[tuple[str, str]] = (), timeout: float | None = None
    ) -> Steps[dict[str, Any]]:
        """:meth:`get` as steps (:mod:`._steps`)."""
        response = yield Call("GET", path, {"query": query, "timeout": timeout})
        return self._json(response, path)

    def configuration(self) -> dict[str, Any]:
        """For ``health()``: the platform's refusal in force (if any) and the proxy in use.

        >>> client.configuration()["refused"]  # doctest: +SKIP
        'clock'
        """
        proxy = self._transport.proxy_for(self.base_url)
        return {
            **self.refusals.health(),
            "proxy": mask_password(proxy) if proxy else None,
        }

    def close(self) -> None:
        """Release the transport's connections."""
        self._transport.close()
