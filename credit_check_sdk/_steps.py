"""Work that needs the network or the disk, written once for the sync and the async client.

A check is a generator of *steps*: it runs its logic (validation, cache,
breaker, decision, records) itself and yields each piece of input/output it
needs done, a :class:`Call` (one platform request, with the client's signing,
retries and deadline) or an :class:`Offload` (blocking local work: the journal's
fsync'd append, a file write). A *driver* performs each step and sends the
result back in, or throws the error in where the step was asked for, so the
generator's own ``try``/``except`` handles it just as a direct call would.

:func:`run_sync` performs steps in the caller's thread (``CreditChecker``); the
async client performs a ``Call`` on its async transport and an ``Offload`` in a
worker thread (``AsyncCreditChecker``). The logic exists once; only how its
input/output is done differs.

>>> def steps():
...     answer = yield Offload(lambda: 40)
...     return answer + 2
>>> run_sync(steps(), request=lambda call: None)
42
"""

from __future__ import annotations

from collections.abc import Callable, Generator
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, TypeAlias, TypeVar

if TYPE_CHECKING:
    from ._transports import Response

__all__ = ["Call", "Offload", "Step", "Steps", "run_sync"]

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


Step: TypeAlias = "Call | Offload"
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
            value = request(step) if isinstance(step, Call) else step.run()
        except BaseException as exc:  # any error: thrown in where the step was asked for
            error = exc
