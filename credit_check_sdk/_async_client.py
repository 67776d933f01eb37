"""The platform client's requests on an event loop, and the async driver of steps.

:class:`AsyncPlatformClient` sends what :class:`~credit_check_sdk._client.PlatformClient`
would send (one :class:`~credit_check_sdk._client.Exchange`: the same signing,
deadline, answer checks, typed errors and retry policy) on an async
transport. :meth:`AsyncPlatformClient.run` performs the steps of a check
(:mod:`credit_check_sdk._steps`): each ``Call`` awaited on the transport, each
``Offload`` (the journal's fsync'd append, a snapshot read) in a worker thread,
so that the event loop never waits for the network or the disk; an
``Alongside``'s work in a worker thread while its request is awaited.
"""

from __future__ import annotations

import asyncio
import contextlib
import math
import time
from collections.abc import Callable
from typing import Any, TypeVar

import anyio

from ._client import PlatformClient
from ._exceptions import PlatformError
from ._exchange import Exchange
from ._steps import Alongside, Call, Offload, Steps
from ._transports import AsyncBaseTransport, Response

__all__ = ["AsyncPlatformClient", "offload"]

T = TypeVar("T")


class AsyncPlatformClient:
    """``client``'s requests, sent with ``await`` on ``transport``.

    >>> from credit_check_sdk._transports.httpx_async import AsyncHttpxTransport
    >>> client = PlatformClient("http://127.0.0.1:8700/api", "app", "secret",
    ...                         allow_insecure_http=True)
    >>> aclient = AsyncPlatformClient(client, AsyncHttpxTransport())
    >>> answer = await aclient.request("GET", "/v1/health")  # doctest: +SKIP
    """

    def __init__(self, client: PlatformClient, transport: AsyncBaseTransport) -> None:
        self.client = client
        self.transport = transport
        self._end_by = math.inf  # set by end_requests()

    async def request(self, method: str, path: str, **options: Any) -> Response:
        """:meth:`PlatformClient.request`, awaited: the same arguments, answer and errors."""
        exchange = Exchange(self.client, method, path, ends=self._ends, **options)

        async def attempt() -> Response:
            request = exchange.build()
            return exchange.answer(request, await self.transport.handle_async_request(request))

        from tenacity import AsyncRetrying  # loaded with the PlatformClient

        retrying = AsyncRetrying(**exchange.retry_policy(), sleep=anyio.sleep)
        try:
            return await retrying(attempt)
        except PlatformError as exc:
            exchange.forget(exc)
            raise

    async def run(self, steps: Steps[T]) -> T:
        """Perform ``steps``: requests awaited here, blocking work in a worker thread.

        An error is thrown into the steps where the step was asked for, as the
        sync driver does (``_steps.run_sync``). A worker thread is never
        abandoned: cancelled while the journal is written, the task waits for
        the write to complete (whole, or not at all: one transaction) and then
        is cancelled.
        """
        value: Any = None
        error: BaseException | None = None
        while True:
            try:
                step = steps.send(value) if error is None else steps.throw(error)
            except StopIteration as done:
                return done.value  # type: ignore[no-any-return]  # the generator's return value
            finally:
                value = error = None  # no reference cycle through a traceback
            try:
                if isinstance(step, Call):
                    value = await self.request(step.method, step.path, **step.options)
                elif isinstance(step, Alongside):
                    value = await self._alongside(step)
                else:
                    value = await offload(step)
            except BaseException as exc:  # any error, cancellation too: thrown in where asked
                error = exc

    async def _alongside(self, step: Alongside) -> Response:
        """The request awaited here, the work in a worker thread; both over before return
        (a cancellation too waits for the work, as :func:`offload` does)."""
        work = asyncio.ensure_future(offload(step.work))
        call = step.call
        try:
            answer = await self.request(call.method, call.path, **call.options)
        finally:
            cancelled = False
            while not work.done():
                try:
                    await asyncio.shield(work)
                except asyncio.CancelledError:
                    cancelled = True  # the caller's: raised once the work is over
                except BaseException:  # noqa: S110 - the work's error, raised just below
                    pass
            failed = None if work.cancelled() else work.exception()
            if failed is not None:
                raise failed
            if cancelled:
                raise asyncio.CancelledError
        return answer

    def _ends(self) -> float:
        # Either client's end_requests() ends this client's requests.
        return min(self.client._end_by, self._end_by)

    def end_requests(self, within: float) -> None:
        """Shutting down: this client's requests, in flight and later, end within ``within`` s.

        The sync client's (the background threads' uploads) are left to its own
        ``end_requests``. Call it on the event loop the requests run on.
        """
        self._end_by = min(self._end_by, time.monotonic() + max(0.0, within))
        self.transport.end_requests(self._end_by)

    async def aclose(self) -> None:
        """Release the async transport's connections (the sync client is closed apart)."""
        await self.transport.aclose()


async def offload(step: Offload, *, on_cancel: Callable[[], object] | None = None) -> Any:
    """``step.run()`` in a worker thread; a cancellation waits for it to end first.

    The work runs in a task of its own, which the caller's cancellation does not
    reach (``asyncio.shield``); the caller waits for it even when cancelled, so
    that durable work (a journal append and what follows it) is never left
    running behind a caller that has moved on (or behind a closed checker).
    ``on_cancel`` is called at the caller's cancellation, to ask long work (a
    snapshot sync) to end early.
    """
    work = asyncio.ensure_future(anyio.to_thread.run_sync(step.run))
    try:
        return await asyncio.shield(work)
    except asyncio.CancelledError:
        if on_cancel is not None:
            on_cancel()
        while not work.done():
            with contextlib.suppress(asyncio.CancelledError):
                await asyncio.shield(work)
        if not work.cancelled():
            work.exception()  # seen: the caller gets its cancellation, not the work's error
        raise
