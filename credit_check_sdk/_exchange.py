"""One request as the platform clients send it: signing, deadline, answer checks, errors, retries.

:class:`Exchange` is what the sync client (:class:`~._client.PlatformClient`) and
the async one (:mod:`._async_client`) share: the call's deadline, a freshly
signed request per attempt, the checks of the answer (status and media type),
the mapping of a problem document to the typed errors of :mod:`._exceptions`
(``problem_error``), and tenacity's retry policy (backoff with full jitter on
connection faults, timeouts, 429 after ``Retry-After`` and 5xx, never past the
deadline). Only sending the request differs between the clients.
"""

from __future__ import annotations

import json
import logging
import time
import traceback
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any
from urllib.parse import quote, urlencode, urlsplit

from ._exceptions import (
    AuthenticationError,
    PlatformError,
    ProblemError,
    RateLimitedError,
    ServerError,
    TransportError,
    problem_class,
)
from ._ids import mask_ids_in
from ._refusals import clock_skew, refusal_kind
from ._transports import Request, Response, Sink
from ._transports.base import check_media_type, media_type
from .signing import signed_headers

if TYPE_CHECKING:
    from tenacity import RetryCallState

    from ._client import PlatformClient

__all__ = ["JSON_TYPES", "Exchange", "problem_error"]

# Retries are logged as the client's (docs/logging.md names credit_check_sdk._client).
logger = logging.getLogger("credit_check_sdk._client")

#: Media types of a JSON answer (``platform-api.yaml``: ``application/json``).
JSON_TYPES = ("application/json",)
#: Media types of a problem document whose fields are read (servers often say plain JSON).
_PROBLEM_TYPES = ("application/problem+json", "application/json")


def _retryable(exc: BaseException) -> bool:
    return isinstance(exc, (TransportError, RateLimitedError, ServerError))


class Exchange:
    """One request as the client sends it, attempt after attempt.

    What the sync client (:meth:`PlatformClient.request`) and the async one
    share: the deadline (the call's budget, cut short by ``end_requests``), a
    freshly signed :class:`Request` per attempt, the checks of the answer (its
    status and media type, a problem document made a typed error) and the retry
    policy. Only sending the request differs.
    """

    def __init__(
        self,
        client: PlatformClient,
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
        ends: Callable[[], float] | None = None,
    ) -> None:
        self.client = client
        # When requests must end (shutting down): the client's end_requests(), by default.
        self._ends = ends if ends is not None else lambda: client._end_by
        self.method = method
        self.path = path
        self.budget = client.timeout if timeout is None else timeout
        self.started = time.monotonic()
        self.query = query
        self.body = (
            b""
            if json_body is None
            else json.dumps(json_body, ensure_ascii=False, separators=(",", ":")).encode()
        )
        self.headers = headers
        self.ok = ok
        self.sink = sink
        self.max_bytes = client.max_response_bytes if max_bytes is None else max_bytes
        self.read_timeout = self.budget if read_timeout is None else min(read_timeout, self.budget)
        self.accept = tuple(accept)
        qs = urlencode(list(query), quote_via=quote, safe="-_.~") if query else ""
        self.url = client.base_url + path + (f"?{qs}" if qs else "")
        self.route = f"{method} {path}"

    def deadline(self) -> float:
        """The ``time.monotonic()`` instant by which the whole call must end."""
        return min(self.started + self.budget, self._ends())

    def build(self) -> Request:
        """The next attempt, freshly signed (a rewound sink for a streamed body)."""
        client = self.client
        hdrs = signed_headers(
            app_id=client._app_id,
            app_secret=client._secret,
            method=self.method,
            path=client._base_path + self.path,
            query=self.query,
            body=self.body,
        )
        hdrs["Accept"] = ", ".join(self.accept)
        if self.body:
            hdrs["Content-Type"] = "application/json; charset=utf-8"
        if self.headers:
            hdrs.update(self.headers)
        if self.sink is not None:
            self.sink.seek(0)
            self.sink.truncate()
        return Request(
            self.method,
            self.url,
            hdrs,
            self.body,
            connect_timeout=client.connect_timeout,
            read_timeout=self.read_timeout,
            deadline=self.deadline(),
            max_bytes=self.max_bytes,
            sink=self.sink,
            accept=self.accept,
        )

    def answer(self, request: Request, response: Response) -> Response:
        """``response`` when its status is one asked for; else its problem, raised."""
        client = self.client
        if response.status in self.ok:
            # Again here: a transport other than the default may not check it.
            check_media_type(request, response.status, response.headers)
            if self.sink is not None and response.body and 200 <= response.status < 300:
                self.sink.write(response.body)  # the transport did not stream it
            client.refusals.answered(self.route)
            return response
        problem = problem_error(self.method, self.url, response)
        client.refusals.record(problem, self.route)
        raise problem

    def retry_policy(self) -> dict[str, Any]:
        """tenacity's arguments (``Retrying`` or ``AsyncRetrying``), all but ``sleep``."""
        # tenacity is loaded when a PlatformClient is made, not with the SDK.
        from tenacity import retry_if_exception, stop_after_attempt

        return {
            "retry": retry_if_exception(_retryable),
            "stop": stop_after_attempt(self.client.max_attempts),
            "wait": _retry_wait(self.deadline),
            "reraise": True,
            "before_sleep": _retry_log(self.method, self.path),
        }

    @staticmethod
    def forget(exc: PlatformError) -> None:
        """Drop the failed attempts' frames from a final error's traceback.

        tenacity's state holds the error and the error's traceback holds tenacity's
        frames: a cycle that would keep the failed attempt's locals (a refused body,
        say) alive until the garbage collector runs. Locals are not needed to show it.
        """
        traceback.clear_frames(exc.__traceback__)


def _retry_wait(deadline: Callable[[], float]) -> Any:
    """tenacity's wait: jittered backoff, or the 429's ``Retry-After``; none past ``deadline()``."""
    from tenacity import wait_random_exponential

    jitter = wait_random_exponential(multiplier=0.05, max=2.0)

    def wait(state: RetryCallState) -> float:
        exc = state.outcome.exception() if state.outcome else None
        delay = jitter(state)
        if isinstance(exc, RateLimitedError) and exc.retry_after is not None:
            delay = exc.retry_after
        if time.monotonic() + delay >= deadline():
            # Waiting would spend the rest of the budget: give up now with the last error.
            assert exc is not None  # noqa: S101 - tenacity only waits after a failure
            raise exc
        return delay

    return wait


def _retry_log(method: str, path: str) -> Any:
    """tenacity's ``before_sleep``: one INFO line per retry (ids masked)."""

    def log(state: RetryCallState) -> None:
        exc = state.outcome.exception() if state.outcome else None
        logger.info(
            "retrying %s %s after attempt %d: %s",
            method,
            mask_ids_in(path),
            state.attempt_number,
            mask_ids_in(str(exc)),
        )

    return log


def problem_error(method: str, url: str, response: Response) -> ProblemError:
    """The typed error for a refused answer: by its status, with the problem document's fields."""
    doc: dict[str, Any] = {}
    # Only a JSON body is read as a problem document: a gateway's HTML error page
    # still maps by its status, with no title or detail taken from it.
    if media_type(response.headers)[0] in _PROBLEM_TYPES:
        try:
            parsed = json.loads(response.body or b"{}")
            if isinstance(parsed, dict):
                doc = parsed
        except ValueError:
            pass
    title = doc.get("title") if isinstance(doc.get("title"), str) else None
    detail = doc.get("detail") if isinstance(doc.get("detail"), str) else None
    kind = doc.get("type") if isinstance(doc.get("type"), str) else None
    message = mask_ids_in(
        f"{method} {urlsplit(url).path} -> {response.status}"
        + (f" {title}" if title else "")
        + (f": {detail}" if detail else "")
    )
    fields: dict[str, Any] = {
        "title": title,
        "detail": detail,
        "type": kind,
        "method": method,
        "url": url,
    }
    cls = problem_class(response.status)
    if cls is RateLimitedError:
        retry_after = _retry_after(response.headers.get("Retry-After"))
        return RateLimitedError(message, retry_after=retry_after, **fields)
    if cls is AuthenticationError:
        skew = clock_skew(response.headers.get("Date"))
        error = AuthenticationError(message, clock_skew=skew, **fields)
        if skew is not None and refusal_kind(error) == "clock":
            message += f" (the platform's clock is {skew:+.0f} s from this machine's)"
            error = AuthenticationError(message, clock_skew=skew, **fields)
        return error
    return cls(message, status=response.status, **fields)


def _retry_after(value: str | None) -> float | None:
    if value is None:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        return None
