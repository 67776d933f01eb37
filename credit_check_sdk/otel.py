"""OpenTelemetry traces and metrics for a checker (extra ``otel``).

::

    pip install "credit-check-sdk[otel]"

:class:`OpenTelemetryInstrumentation` is the :mod:`credit_check_sdk.instrumentation`
observer that turns what a checker tells it into OpenTelemetry spans and metrics, through
the providers the application set up (``opentelemetry.trace.set_tracer_provider`` …) or
those given. Only the OpenTelemetry API is needed here; the application brings the SDK and
its exporters.

Spans (each with the matter; never a subject or a personal id):

- ``credit_check.must_check``: outcome, source, degraded, check id;
- ``credit_check.must_check_many``: the number of checks, and one ``check`` event per
  decision with its outcome, source, degraded and check id;
- ``credit_check.recheck``: a re-check made in the background, of a degraded decision
  (``credit_check.recheck_of``: the check re-checked) or of a watched subject that a list
  change touched (``credit_check.recheck.trigger``); outcome, source, degraded, check id;
- ``credit_check.upload_batch``: records sent, accepted, duplicates, rejected, lag.

A check span is current while the check works, on its thread (or asyncio task): the
spans of its HTTP requests (an HTTP client's instrumentation: ``requests``, ``httpx``)
are its children, and it is itself the child of the span current where the check was
called (the application's request). A re-check's span is a root of its own, on the
background thread. A check or an upload that raised, and a re-check the platform could
not answer (postponed), have status ERROR and ``error.type``.

Metrics (re-checks are traced, not counted): ``credit_check.checks`` (by matter, outcome,
source, degraded),
``credit_check.degraded_decisions`` (by matter, outcome, source),
``credit_check.check.duration`` and ``credit_check.check.errors`` (by kind and matter),
``credit_check.upload.batches`` (by result), ``credit_check.upload.records`` (by state),
``credit_check.upload.lag`` (seconds from a record's check to its upload, oldest of each
batch), and two gauges read at each collection: ``credit_check.journal.pending`` and
``credit_check.breaker.state`` (0 closed, 1 open).

>>> from opentelemetry.sdk.trace import TracerProvider
>>> from opentelemetry.sdk.trace.export import SimpleSpanProcessor
>>> from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
>>> from credit_check_sdk.testing import FakePlatform
>>> spans = InMemorySpanExporter()
>>> tracing = TracerProvider()
>>> tracing.add_span_processor(SimpleSpanProcessor(spans))
>>> otel = OpenTelemetryInstrumentation(tracer_provider=tracing)
>>> with FakePlatform().checker(instrumentation=otel) as checker:
...     _ = checker.must_check("91442000MA4UJ2KQ57", "bidding")
>>> [s.attributes["credit_check.outcome"] for s in spans.get_finished_spans()
...  if s.name == "credit_check.must_check"]
['normal']
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterable, Iterator
from contextvars import ContextVar
from typing import Any, Literal

try:
    from opentelemetry import metrics, trace
    from opentelemetry.metrics import CallbackOptions, Observation
    from opentelemetry.trace import SpanKind, Status, StatusCode
except ImportError as exc:  # the extra is not installed
    raise ImportError(
        'credit_check_sdk.otel needs the OpenTelemetry API: pip install "credit-check-sdk[otel]"',
        name="opentelemetry",
    ) from exc

from ._version import __version__
from .instrumentation import CheckerState, CheckEvent, CheckKind, CheckSummary, UploadEvent

__all__ = ["ATTRIBUTES", "OpenTelemetryInstrumentation"]

#: The attributes this module sets, and what they hold. None is a personal id.
ATTRIBUTES: dict[str, str] = {
    "credit_check.matter": "the matter category (bidding, licensing …)",
    "credit_check.outcome": "green_channel, tolerance, normal, restriction or review",
    "credit_check.source": "live, cache, snapshot or none",
    "credit_check.degraded": "true when not decided from a live or fresh profile",
    "credit_check.check_id": "the journal record of the check (spans and events only)",
    "credit_check.kind": "must_check, must_check_many or recheck",
    "credit_check.recheck.trigger": "what made a re-check: degraded (a decision) or watch",
    "credit_check.recheck_of": "the degraded check a re-check re-checks (its journal record)",
    "credit_check.checks": "decisions made by the call",
    "credit_check.upload.records": "records sent in the batch",
    "credit_check.upload.accepted": "records the platform accepted",
    "credit_check.upload.duplicates": "records it had already",
    "credit_check.upload.rejected": "records it refused",
    "credit_check.upload.lag": "seconds from the oldest record's check to the upload",
    "credit_check.upload.result": "ok or failed",
    "credit_check.upload.state": "accepted, duplicate or rejected",
    "error.type": "the exception's class, when the call raised",
}

_NAME = "credit_check_sdk"


def _check_attributes(check: CheckSummary) -> dict[str, Any]:
    return {
        "credit_check.matter": check.matter,
        "credit_check.outcome": check.outcome,
        "credit_check.source": check.source,
        "credit_check.degraded": check.degraded,
        "credit_check.check_id": check.check_id,
    }


class _OpenSpan:
    """The span of a check (or upload) in progress, made current by ``check_context``
    (``upload_context``)."""

    __slots__ = ("kind", "span")

    def __init__(self, kind: CheckKind | Literal["upload"], span: trace.Span) -> None:
        self.kind = kind
        self.span: trace.Span | None = span


@contextlib.contextmanager
def _current(
    var: ContextVar[_OpenSpan | None], kind: CheckKind | Literal["upload"], span: trace.Span
) -> Iterator[None]:
    """``span`` current (and kept in ``var`` for the ``…_finished`` call that ends it) for
    the ``with`` block; ended here if that call never came (an observer's bug)."""
    opened = _OpenSpan(kind, span)
    token = var.set(opened)
    try:
        with trace.use_span(
            span, end_on_exit=False, record_exception=False, set_status_on_exception=False
        ):
            yield
    finally:
        var.reset(token)
        if opened.span is not None:
            span.end()


class OpenTelemetryInstrumentation:
    """Spans and metrics of one checker: ``CreditChecker(instrumentation=this)``.

    ``tracer_provider`` and ``meter_provider`` default to OpenTelemetry's global ones
    (as the application set them). One instance per open checker: its gauges read that
    checker's journal and breaker.

    >>> otel = OpenTelemetryInstrumentation()  # the global providers
    >>> checker = CreditChecker(instrumentation=otel)  # doctest: +SKIP
    """

    def __init__(
        self,
        *,
        tracer_provider: trace.TracerProvider | None = None,
        meter_provider: metrics.MeterProvider | None = None,
    ) -> None:
        self._tracer = trace.get_tracer(_NAME, __version__, tracer_provider=tracer_provider)
        # The span of the check in progress in this context (thread or asyncio task).
        self._open: ContextVar[_OpenSpan | None] = ContextVar("credit_check_span", default=None)
        self._open_upload: ContextVar[_OpenSpan | None] = ContextVar(
            "credit_check_upload_span", default=None
        )
        meter = metrics.get_meter(_NAME, __version__, meter_provider=meter_provider)
        self._state: CheckerState | None = None
        self._checks = meter.create_counter(
            "credit_check.checks", unit="{check}", description="Decisions made, by outcome"
        )
        self._degraded = meter.create_counter(
            "credit_check.degraded_decisions",
            unit="{check}",
            description="Decisions made without a live or fresh profile (cache, snapshot, none)",
        )
        self._errors = meter.create_counter(
            "credit_check.check.errors",
            unit="{call}",
            description="Check calls that raised (bad input, journal failure …)",
        )
        self._duration = meter.create_histogram(
            "credit_check.check.duration", unit="s", description="Time of a check call"
        )
        self._batches = meter.create_counter(
            "credit_check.upload.batches", unit="{batch}", description="Upload requests"
        )
        self._records = meter.create_counter(
            "credit_check.upload.records",
            unit="{record}",
            description="Journal records answered by the platform, by state",
        )
        self._lag = meter.create_histogram(
            "credit_check.upload.lag",
            unit="s",
            description="From the oldest record's check (or action) to its upload",
        )
        meter.create_observable_gauge(
            "credit_check.journal.pending",
            callbacks=[self._observe_pending],
            unit="{record}",
            description="Journal records not yet uploaded",
        )
        meter.create_observable_gauge(
            "credit_check.breaker.state",
            callbacks=[self._observe_breaker],
            unit="1",
            description="The platform circuit breaker: 0 closed, 1 open (not asking it)",
        )

    # -- the instrumentation protocol -------------------------------------------------------

    def attach(self, state: CheckerState) -> None:
        """Read ``state`` for the gauges (called by the checker). Once the checker it
        served is closed, it may serve another (``configure()`` replacing the default
        checker); two open at once each need their own."""
        if self._state is not None and not self._state.closed:
            raise ValueError(
                "this OpenTelemetryInstrumentation serves an open checker already: "
                "make one per checker"
            )
        self._state = state

    @contextlib.contextmanager
    def check_context(self, kind: CheckKind, matter: str) -> Iterator[None]:
        """The check's span, current while the check works (entered by the checker), so
        that the spans of its requests are its children; ended by :meth:`check_finished`."""
        span = self._tracer.start_span(
            f"credit_check.{kind}",
            kind=SpanKind.INTERNAL,
            attributes={"credit_check.matter": matter, "credit_check.kind": kind},
        )
        with _current(self._open, kind, span):
            yield

    def check_finished(self, event: CheckEvent) -> None:
        """One span for the call; the checks counted by outcome (called by the checker)."""
        common = {"credit_check.matter": event.matter, "credit_check.kind": event.kind}
        opened = self._open.get()
        if opened is not None and opened.kind == event.kind and opened.span is not None:
            span, opened.span = opened.span, None  # the one check_context made current
            span.set_attributes(common)  # the matter as decided (normalised)
        else:
            span = self._tracer.start_span(
                f"credit_check.{event.kind}",
                kind=SpanKind.INTERNAL,
                start_time=event.start_ns,
                attributes=common,
            )
        if event.kind != "must_check_many" and len(event.checks) == 1:
            span.set_attributes(_check_attributes(event.checks[0]))
        else:
            span.set_attribute("credit_check.checks", len(event.checks))
            for check in event.checks:
                span.add_event("check", _check_attributes(check), timestamp=event.end_ns)
        if event.recheck is not None:
            span.set_attribute("credit_check.recheck.trigger", event.recheck)
        if event.recheck_of is not None:
            span.set_attribute("credit_check.recheck_of", event.recheck_of)
        if event.failed:
            span.set_attribute("error.type", str(event.error))
            span.set_status(Status(StatusCode.ERROR, f"{event.error}: {event.error_message}"))
        span.end(end_time=event.end_ns)
        if event.kind == "recheck":
            return  # traced, not counted: the metrics count the checks asked for
        if event.failed:
            self._errors.add(1, {**common, "error.type": str(event.error)})
        self._duration.record(event.duration, common)
        for check in event.checks:
            attributes = _check_attributes(check)
            del attributes["credit_check.check_id"]  # one series per check: not a metric's
            self._checks.add(1, attributes)
            if check.degraded:
                del attributes["credit_check.degraded"]
                self._degraded.add(1, attributes)

    @contextlib.contextmanager
    def upload_context(self) -> Iterator[None]:
        """The upload batch's span, current while its request is sent (entered by the
        uploader), so that the request's own span is its child; ended by
        :meth:`upload_finished`."""
        span = self._tracer.start_span("credit_check.upload_batch", kind=SpanKind.CLIENT)
        with _current(self._open_upload, "upload", span):
            yield

    def upload_finished(self, event: UploadEvent) -> None:
        """One span for the request; the records counted by state (called by the checker)."""
        attributes: dict[str, Any] = {
            "credit_check.upload.records": event.records,
            "credit_check.upload.accepted": event.accepted,
            "credit_check.upload.duplicates": event.duplicates,
            "credit_check.upload.rejected": event.rejected,
        }
        if event.lag is not None:
            attributes["credit_check.upload.lag"] = event.lag
        opened = self._open_upload.get()
        if opened is not None and opened.span is not None:
            span, opened.span = opened.span, None  # the one upload_context made current
            span.set_attributes(attributes)
        else:
            span = self._tracer.start_span(
                "credit_check.upload_batch",
                kind=SpanKind.CLIENT,
                start_time=event.start_ns,
                attributes=attributes,
            )
        result = "failed" if event.failed else "ok"
        if event.failed:
            span.set_attribute("error.type", str(event.error))
            span.set_status(Status(StatusCode.ERROR, f"{event.error}: {event.error_message}"))
        span.end(end_time=event.end_ns)
        self._batches.add(1, {"credit_check.upload.result": result})
        for state, count in (
            ("accepted", event.accepted),
            ("duplicate", event.duplicates),
            ("rejected", event.rejected),
        ):
            if count:
                self._records.add(count, {"credit_check.upload.state": state})
        if event.lag is not None and not event.failed:
            self._lag.record(event.lag)

    # -- gauges -------------------------------------------------------------------------------

    def _observe_pending(self, options: CallbackOptions) -> Iterable[Observation]:
        if self._state is None:
            return []
        pending = self._state.journal_pending()
        return [] if pending is None else [Observation(pending)]

    def _observe_breaker(self, options: CallbackOptions) -> Iterable[Observation]:
        if self._state is None:
            return []
        return [Observation(1 if self._state.breaker() == "open" else 0)]
