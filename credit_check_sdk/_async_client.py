"""The platform client's requests on an event loop, and the async driver of steps.

:class:`AsyncPlatformClient` sends what :class:`~credit_check_sdk._client.PlatformClient`
would send (one :class:`~credit_check_sdk._client.Exchange`: the same signing,
deadline, answer checks, typed errors and retry policy) on an async
transport. :meth:`AsyncPlatformClient.run` performs the steps of a check
(:mod:`credit_check_sdk._steps`): each ``Call`` awaited on the transport, each
``Offload`` (the journal's fsync'd append, a snapshot read) in a worker thread,
so that the event loop never waits for the network or the disk.
"""

from __future__ import annotations

from typing import Any, TypeVar

import anyio
from tenacity import AsyncRetrying

from ._client import Exchange, PlatformClient
from ._exceptions import PlatformError
from ._steps import Call, Steps
from ._transports import AsyncBaseTransport, Response

__all__ = ["AsyncPlatformClient"]

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

    async def request(self, method: str, path: str, **options: Any) -> Response:
        """:meth:`PlatformClient.request`, awaited: the same arguments, answer and errors."""
        exchange = Exchange(self.client, method, path, **options)

        async def attempt() -> Response:
            request = exchange.build()
            return exchange.answer(request, await self.transport.handle_async_request(request))

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
        abandoned: cancelled while the journal is written, the write still
        completes (whole, or not at all: one transaction) before the
        cancellation is seen.
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
                else:
                    value = await anyio.to_thread.run_sync(step.run)
            except BaseException as exc:  # any error, cancellation too: thrown in where asked
                error = exc

    def end_requests(self, within: float) -> None:
        """Shutting down: requests in flight and later ones end within ``within`` s.

        Call it on the event loop the requests run on.
        """
        self.client.end_requests(within)
        self.transport.end_requests(self.client._end_by)

    async def aclose(self) -> None:
        """Release the async transport's connections (the sync client is closed apart)."""
        await self.transport.aclose()
