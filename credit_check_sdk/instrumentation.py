"""The checker's instrumentation seam: what it tells an observer, and when.

A :class:`~credit_check_sdk.CreditChecker` made with ``instrumentation=`` calls that
object at these points, and at no other: when a check ends (:meth:`Instrumentation.check_finished`,
once per ``must_check`` or ``must_check_many`` call, whether it returned or raised, and once
per re-check the background thread makes, of a degraded decision or of a watched subject),
when an upload batch ends (:meth:`Instrumentation.upload_finished`, once per request to the
platform), and once when the checker is made (:meth:`Instrumentation.attach`), handing over a
:class:`CheckerState` whose :meth:`~CheckerState.read` the observer calls whenever it wants
the gauges (records pending, breaker state). An observer that also has ``check_context``
(:class:`TracingInstrumentation`) is entered around each check's work, on the thread (or
asyncio task) that does it, so that what it makes current there, a span, is current for
the check's HTTP requests and journal write; one that has ``upload_context()`` likewise
around each upload request (on the uploader's thread). The SDK itself imports no telemetry library;
:mod:`credit_check_sdk.otel` is the OpenTelemetry observer (extra ``otel``).

What an observer is given holds no personal id: a check's matter, outcome, source,
``degraded`` and check id, never its subject. An observer's exception is logged, never
raised into the check; without ``instrumentation=`` the checker measures nothing.

>>> class Count:
...     def __init__(self): self.outcomes = []
...     def attach(self, state): pass
...     def check_finished(self, event):
...         self.outcomes += [c.outcome for c in event.checks]
...     def upload_finished(self, event): pass
>>> from credit_check_sdk.testing import FakePlatform
>>> seen = Count()
>>> with FakePlatform().checker(instrumentation=seen) as checker:
...     _ = checker.must_check("91442000MA4UJ2KQ57", "bidding")
>>> seen.outcomes
['normal']
"""

from __future__ import annotations

import contextlib
import functools
import logging
import time
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from datetime import datetime
from types import TracebackType
from typing import TYPE_CHECKING, Any, Literal, Protocol, TypeVar, runtime_checkable

from ._ids import mask_ids_in

if TYPE_CHECKING:
    from ._models import Decision, RecordsReceipt

__all__ = [
    "CheckEvent",
    "CheckSummary",
    "CheckerState",
    "Instrumentation",
    "StateReading",
    "TracingInstrumentation",
    "UploadEvent",
]

logger = logging.getLogger(__name__)

#: ``recheck``: a re-check of a degraded decision or of a watched subject, made by the
#: background thread (or ``recheck_pending()``), not by a check call.
CheckKind = Literal["must_check", "must_check_many", "recheck"]
#: What made a re-check: a decision that was ``degraded``, or a list change touching a
#: subject under ``watch``.
RecheckTrigger = Literal["degraded", "watch"]


@dataclass(frozen=True)
class CheckSummary:
    """One decision, as an observer sees it: no subject, no personal id.

    >>> CheckSummary("c1", "bidding", "normal", "live", False).degraded
    False
    """

    check_id: str
    matter: str
    outcome: str
    source: str
    degraded: bool

    @classmethod
    def of(cls, decision: Decision) -> CheckSummary:
        """The summary of ``decision`` (its subject left out)."""
        return cls(
            decision.check_id,
            decision.matter.category,
            decision.outcome.value,
            decision.source,
            decision.degraded,
        )


@dataclass(frozen=True)
class CheckEvent:
    """A ``must_check`` or ``must_check_many`` call that ended, or a background re-check.

    ``start_ns`` and ``end_ns`` are :func:`time.time_ns` values (for a span's times);
    ``duration`` is measured with the monotonic clock. ``error`` is the exception's
    class name when the call raised (``checks`` then empty), with ``error_message``
    (personal ids masked). A re-check (``kind="recheck"``) says what made it
    (``recheck``: ``degraded`` or ``watch``) and, for a degraded decision, which
    check it re-checks (``recheck_of``); one the platform could not answer is
    postponed, with ``error`` naming why.

    >>> CheckEvent("must_check", "bidding", 0, 1, 0.0).failed
    False
    """

    kind: CheckKind
    matter: str
    start_ns: int
    end_ns: int
    duration: float
    checks: tuple[CheckSummary, ...] = ()
    error: str | None = None
    error_message: str | None = None
    recheck: RecheckTrigger | None = None
    recheck_of: str | None = None

    @property
    def failed(self) -> bool:
        """Whether the call raised (bad input, a journal that could not be written …)."""
        return self.error is not None


@dataclass(frozen=True)
class UploadEvent:
    """One request that sent journal records to the platform (``POST /v1/records:batch``).

    ``lag``: seconds from the oldest record's own time (its check or action) to the end
    of the request. ``accepted``, ``duplicates``, ``rejected``: the platform's answer,
    all 0 when the request failed (``error`` then names the exception's class).

    >>> UploadEvent(0, 1, 0.0, records=2, lag=0.5, accepted=2).failed
    False
    """

    start_ns: int
    end_ns: int
    duration: float
    records: int
    lag: float | None
    accepted: int = 0
    duplicates: int = 0
    rejected: int = 0
    error: str | None = None
    error_message: str | None = None

    @property
    def failed(self) -> bool:
        """Whether the request failed (the records stay pending and are sent again)."""
        return self.error is not None


@dataclass(frozen=True)
class StateReading:
    """The checker's state when it was read (:meth:`CheckerState.read`).

    ``journal_pending``: records not yet uploaded (None when the journal could not be
    read); ``breaker``: ``closed`` (the platform is asked) or ``open`` (it is not:
    decisions come from the cache or the snapshot, degraded).

    >>> StateReading(journal_pending=0, breaker="closed").breaker_open
    False
    """

    journal_pending: int | None
    breaker: str

    @property
    def breaker_open(self) -> bool:
        """Whether the platform is not being asked."""
        return self.breaker == "open"


class CheckerState:
    """What an observer reads on demand (the gauges); given by :meth:`Instrumentation.attach`.

    >>> state = CheckerState(lambda: 3, lambda: "closed")
    >>> state.read().journal_pending
    3
    """

    def __init__(
        self,
        pending: Callable[[], int | None],
        breaker: Callable[[], str],
        closed: Callable[[], bool] = lambda: False,
    ) -> None:
        self._pending = pending
        self._breaker = breaker
        self._closed = closed

    @property
    def closed(self) -> bool:
        """Whether the checker has been closed (its gauges then read nothing)."""
        return self._closed()

    def read(self) -> StateReading:
        """The state now: one count of the journal's pending records, the breaker's state."""
        return StateReading(journal_pending=self.journal_pending(), breaker=self.breaker())

    def journal_pending(self) -> int | None:
        """Records not yet uploaded (one count in the journal); None when it cannot be read
        (the checker is closed)."""
        try:
            return self._pending()
        except Exception as exc:  # a gauge must not fail its reader's export
            logger.warning("instrumentation: cannot count pending records: %s", exc)
            return None

    def breaker(self) -> str:
        """``closed`` (the platform is asked) or ``open`` (it is not, for now)."""
        return self._breaker()


@runtime_checkable
class Instrumentation(Protocol):
    """What ``CreditChecker(instrumentation=…)`` calls. Each call is made on the thread
    that did the work (the caller's for checks, the uploader's for uploads) and must be
    quick; an exception from it is logged and dropped.

    >>> isinstance(object(), Instrumentation)
    False
    """

    def attach(self, state: CheckerState) -> None:
        """Called once, when the checker is made: ``state`` reads its gauges."""

    def check_finished(self, event: CheckEvent) -> None:
        """Called when a ``must_check`` or ``must_check_many`` call ends."""

    def upload_finished(self, event: UploadEvent) -> None:
        """Called when a request sending journal records ends."""


@runtime_checkable
class TracingInstrumentation(Instrumentation, Protocol):
    """An :class:`Instrumentation` that is also entered around each check's work.

    ``check_context(kind, matter)`` is entered before the check's work begins and left
    after :meth:`~Instrumentation.check_finished` was called, on the thread (or asyncio
    task) that does the work: what it makes current there (an OpenTelemetry span) is
    current for the check's HTTP requests and journal write, whose own spans (an HTTP
    client's instrumentation) are then its children. ``matter`` is the call's argument
    as given (masked; bad input included). An exception from it is logged, never raised.

    >>> import contextlib
    >>> class Timed:
    ...     def attach(self, state): pass
    ...     def check_finished(self, event): pass
    ...     def upload_finished(self, event): pass
    ...     def check_context(self, kind, matter): return contextlib.nullcontext()
    >>> isinstance(Timed(), TracingInstrumentation)
    True
    """

    def check_context(
        self, kind: CheckKind, matter: str
    ) -> contextlib.AbstractContextManager[object]:
        """A context manager entered around one check's work."""


class _Context:
    """The observer's ``check_context`` (or ``upload_context``: ``opener``) when it has
    one, called with ``args``; its failures are logged, and it never swallows the
    work's exception."""

    def __init__(
        self, observer: Instrumentation, *args: str, opener: str = "check_context"
    ) -> None:
        self._opener = getattr(observer, opener, None)
        self._args = args
        self._entered: contextlib.AbstractContextManager[object] | None = None

    def __enter__(self) -> None:
        if self._opener is None:
            return
        try:
            manager = self._opener(*self._args)
            manager.__enter__()
        except Exception:
            logger.exception("instrumentation: check_context failed")
        else:
            self._entered = manager

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        if self._entered is not None:
            try:
                self._entered.__exit__(exc_type, exc, tb)
            except Exception:
                logger.exception("instrumentation: check_context failed")


def _error_fields(exc: BaseException) -> dict[str, Any]:
    return {"error": type(exc).__name__, "error_message": mask_ids_in(str(exc))}


def _deliver(observer: Instrumentation, method: str, event: object) -> None:
    try:
        getattr(observer, method)(event)
    except Exception:
        logger.exception("instrumentation: %s failed", method)


def _matter_of(args: tuple[Any, ...], kwargs: Mapping[str, Any]) -> str:
    """The matter category of a call that raised (its argument, which may be bad input)."""
    matter = kwargs.get("matter", args[1] if len(args) > 1 else "")
    category = getattr(matter, "category", matter)
    return mask_ids_in(category) if isinstance(category, str) else type(category).__name__


_Method = TypeVar("_Method", bound=Callable[..., Any])


class _Returned:
    """What a check call returned, set inside :func:`_observed_call`'s block."""

    __slots__ = ("value",)

    def __init__(self) -> None:
        self.value: Any = None


@contextlib.contextmanager
def _observed_call(
    observer: Instrumentation, kind: CheckKind, args: tuple[Any, ...], kwargs: Mapping[str, Any]
) -> Iterator[_Returned]:
    """Around one check call (sync or awaited): ``observer``'s ``check_context`` entered,
    then told of the call's end, whether it returned (set ``value``) or raised."""
    with _Context(observer, kind, _matter_of(args, kwargs)):
        start_ns, start = time.time_ns(), time.monotonic()
        returned = _Returned()
        try:
            yield returned
        except BaseException as exc:
            _check_finished(observer, kind, args, kwargs, start_ns, start, exc=exc)
            raise
        _check_finished(observer, kind, args, kwargs, start_ns, start, result=returned.value)


def observed_check(kind: CheckKind) -> Callable[[_Method], _Method]:
    """Decorate a checker's check method so that ``self._instrumentation`` hears of each call.

    Without an observer the method runs as it is, measured by nothing.
    """

    def decorate(method: _Method) -> _Method:
        @functools.wraps(method)
        def run(self: Any, *args: Any, **kwargs: Any) -> Any:
            observer: Instrumentation | None = self._instrumentation
            if observer is None:
                return method(self, *args, **kwargs)
            with _observed_call(observer, kind, args, kwargs) as returned:
                returned.value = method(self, *args, **kwargs)
            return returned.value

        return run  # type: ignore[return-value]  # same signature, as functools.wraps says

    return decorate


def observed_async_check(kind: CheckKind) -> Callable[[_Method], _Method]:
    """:func:`observed_check` for a coroutine method (``AsyncCreditChecker``'s checks)."""

    def decorate(method: _Method) -> _Method:
        @functools.wraps(method)
        async def run(self: Any, *args: Any, **kwargs: Any) -> Any:
            observer: Instrumentation | None = self._instrumentation
            if observer is None:
                return await method(self, *args, **kwargs)
            # Entered and left in this task: its context (the span made current) is the
            # check's, handed on to the worker threads of its journal write.
            with _observed_call(observer, kind, args, kwargs) as returned:
                returned.value = await method(self, *args, **kwargs)
            return returned.value

        return run  # type: ignore[return-value]  # same signature, as functools.wraps says

    return decorate


def _check_finished(
    observer: Instrumentation,
    kind: CheckKind,
    args: tuple[Any, ...],
    kwargs: Mapping[str, Any],
    start_ns: int,
    start: float,
    *,
    result: Any = None,
    exc: BaseException | None = None,
) -> None:
    """Tell ``observer`` of a check call that ended with ``result`` or raised ``exc``."""
    if exc is not None:
        event = CheckEvent(
            kind, _matter_of(args, kwargs), start_ns, time.time_ns(),
            time.monotonic() - start, **_error_fields(exc),
        )  # fmt: skip
    else:
        decisions = result if isinstance(result, list) else [result]
        checks = tuple(CheckSummary.of(d) for d in decisions)
        matter = checks[0].matter if checks else _matter_of(args, kwargs)
        event = CheckEvent(kind, matter, start_ns, time.time_ns(), time.monotonic() - start, checks)
    _deliver(observer, "check_finished", event)


class Recheck:
    """What :func:`observed_recheck` hands the re-check it watches: tell it the decision
    made (:meth:`decided`) or why the re-check was postponed (:meth:`postponed`)."""

    def __init__(self) -> None:
        self.decision: Decision | None = None
        self.error: BaseException | None = None

    def decided(self, decision: Decision) -> None:
        """The re-check's decision, journaled."""
        self.decision = decision

    def postponed(self, exc: BaseException) -> None:
        """The platform could not answer (``exc``): the re-check waits for the next pass."""
        self.error = exc


@contextlib.contextmanager
def observed_recheck(
    observer: Instrumentation | None,
    matter: str,
    trigger: RecheckTrigger,
    recheck_of: str | None = None,
) -> Iterator[Recheck]:
    """Around one background re-check: ``observer`` hears of it as a check of kind
    ``recheck`` (and, with ``check_context``, is entered around its work).

    >>> with observed_recheck(None, "bidding", "watch") as recheck:
    ...     recheck.decision is None
    True
    """
    recheck = Recheck()
    if observer is None:
        yield recheck
        return
    with _Context(observer, "recheck", matter):
        start_ns, start = time.time_ns(), time.monotonic()
        fields: dict[str, Any] = {"recheck": trigger, "recheck_of": recheck_of}
        try:
            yield recheck
        except BaseException as exc:
            fields.update(_error_fields(exc))
            raise
        finally:
            if recheck.error is not None and "error" not in fields:
                fields.update(_error_fields(recheck.error))
            checks = () if recheck.decision is None else (CheckSummary.of(recheck.decision),)
            event = CheckEvent(
                "recheck", matter, start_ns, time.time_ns(), time.monotonic() - start,
                checks, **fields,
            )  # fmt: skip
            _deliver(observer, "check_finished", event)


def _oldest_time(records: list[dict[str, Any]]) -> datetime | None:
    times = []
    for record in records:
        text = record.get("checked_at") or record.get("acted_at")
        if isinstance(text, str):
            try:
                times.append(datetime.fromisoformat(text))
            except ValueError:
                continue
    return min(times, default=None)


def observed_upload(
    observer: Instrumentation | None,
    send: Callable[[list[dict[str, Any]]], RecordsReceipt],
) -> Callable[[list[dict[str, Any]]], RecordsReceipt]:
    """``send`` (one upload request) told to ``observer``; ``send`` itself without one.
    An observer with ``upload_context()`` is entered around the request (as
    ``check_context`` around a check), so that the request's own span is a child of
    what it makes current."""
    if observer is None:
        return send

    def run(records: list[dict[str, Any]]) -> RecordsReceipt:
        start_ns, start = time.time_ns(), time.monotonic()
        oldest = _oldest_time(records)

        def event(**fields: Any) -> UploadEvent:
            end_ns = time.time_ns()
            lag = None if oldest is None else max(0.0, end_ns / 1e9 - oldest.timestamp())
            return UploadEvent(
                start_ns, end_ns, time.monotonic() - start, len(records), lag, **fields
            )

        with _Context(observer, opener="upload_context"):
            try:
                receipt = send(records)
            except BaseException as exc:
                _deliver(observer, "upload_finished", event(**_error_fields(exc)))
                raise
            _deliver(
                observer,
                "upload_finished",
                event(
                    accepted=len(receipt.accepted),
                    duplicates=len(receipt.duplicates),
                    rejected=len(receipt.rejected),
                ),
            )
        return receipt

    return run
