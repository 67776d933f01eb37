"""Work that needs the network or the disk, written once for the sync and the async client.

A check is a generator of *steps*: it runs its logic (validation, cache,
breaker, decision, records) itself and yields each piece of input/output it
needs done, a :class:`Call` (one platform request, with the client's signing,
retries and deadline), an :class:`Offload` (blocking local work: the journal's
fsync'd append, a file write) or an :class:`Alongside` (a request, and local work
done while its answer is awaited). A *driver* performs each step and sends the
result back in, or throws the error in where the step was asked for, so the
generator's own ``try``/``except`` handles it just as a direct call would.

:func:`run_sync` performs steps in the caller's thread (``CreditChecker``); the
async client performs a ``Call`` on its async transport and an ``Offload`` in a
worker thread (``AsyncCreditChecker``); both do an ``Alongside``'s work in a
worker thread while the request is under way (the socket's wait releases the
GIL). The logic exists once; only how its input/output is done differs.

>>> def steps():
...     answer = yield Offload(lambda: 40)
...     return answer + 2
>>> run_sync(steps(), request=lambda call: None)
42
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Generator
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, TypeAlias, TypeVar

if TYPE_CHECKING:
    from ._transports import Response

__all__ = ["Alongside", "Call", "Offload", "Step", "Steps", "alongside", "run_sync"]

T = TypeVar("T")


@dataclass(frozen=True)
class Call:
    """One platform request: ``PlatformClient.request(method, path, **options)``."""

    method: str
    path: str
    options: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class Offload:
    """Blocking local work (disk, SQLite): ``fn(*args)``, kept off an event loop."""

    fn: Callable[..., Any]
    args: tuple[Any, ...] = ()

    def run(self) -> Any:
        """Do the work here, in this thread."""
        return self.fn(*self.args)


@dataclass(frozen=True)
class Alongside:
    """``call``, with ``work`` done in a worker thread while its answer is awaited.

    The driver sends back the call's answer (or throws its error in) once both
    are over; ``work``'s result is not sent (it keeps what it makes where the
    steps find it) and its error, if any, is thrown in instead of the call's outcome.
    """

    call: Call
    work: Offload


Step: TypeAlias = "Call | Offload | Alongside"
#: A generator of steps that returns a ``T``.
Steps: TypeAlias = Generator[Step, Any, T]


def run_sync(steps: Steps[T], *, request: Callable[[Call], Response]) -> T:
    """Perform ``steps`` in this thread, each ``Call`` with ``request``; return the result."""
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
                value = request(step)
            elif isinstance(step, Alongside):
                value = _alongside_sync(step, request)
            else:
                value = step.run()
        except BaseException as exc:  # any error: thrown in where the step was asked for
            error = exc


def _alongside_sync(step: Alongside, request: Callable[[Call], Response]) -> Response:
    """The request in this thread, the work in a short-lived one; both over before return."""
    failed: list[BaseException] = []

    def work() -> None:
        try:
            step.work.run()
        except BaseException as exc:  # handed to the caller's thread, raised there
            failed.append(exc)

    worker = threading.Thread(target=work, name="credit-check-alongside", daemon=True)
    worker.start()
    try:
        answer = request(step.call)
    finally:
        worker.join()  # never left running behind the caller
        if failed:
            raise failed[0]
    return answer


def alongside(steps: Steps[T], work: Offload | None) -> Steps[T]:
    """``steps``, their first ``Call`` made an :class:`Alongside` with ``work``.

    Steps that make no request leave ``work`` undone: the caller checks.

    >>> done = []
    >>> def fetch():
    ...     answer = yield Call("GET", "/v1/health")
    ...     return answer
    >>> run_sync(alongside(fetch(), Offload(done.append, (1,))), request=lambda call: "ok"), done
    ('ok', [1])
    """
    if work is None:
        return (yield from steps)
    value: Any = None
    error: BaseException | None = None
    while True:
        try:
            step = steps.send(value) if error is None else steps.throw(error)
        except StopIteration as done:
            return done.value  # type: ignore[no-any-return]  # the generator's return value
        finally:
            value = error = None
        if isinstance(step, Call) and work is not None:
            step, work = Alongside(step, work), None
        try:
            value = yield step
        except BaseException as exc:  # thrown in by the driver: passed on to ``steps``
            error = exc
