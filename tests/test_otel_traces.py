"""Where a checker's spans sit in a trace (credit_check_sdk.otel), read back through
OpenTelemetry's in-memory span exporter, against FakePlatform served over real HTTP.

A check's span is current while the check works: the spans an HTTP client's
instrumentation makes for its requests (played here by the real transports with one
span around each request, as ``opentelemetry-instrumentation-requests`` or ``-httpx``
would make) are its children, on the sync and the async checker alike, and each of
concurrent async checks has its own. A re-check made in the background is a span of its
own, with its requests under it.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from opentelemetry import trace
from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import InMemoryMetricReader
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import SpanKind, StatusCode

from credit_check_sdk import AsyncCreditChecker, CreditChecker, Matter, Outcome
from credit_check_sdk._transports import Request, Response
from credit_check_sdk._transports.default import RequestsTransport
from credit_check_sdk._transports.httpx_async import AsyncHttpxTransport
from credit_check_sdk.instrumentation import CheckerState, CheckEvent, UploadEvent
from credit_check_sdk.otel import ATTRIBUTES, OpenTelemetryInstrumentation
from credit_check_sdk.testing import FakePlatform

ORG = "91442000MA4UJ2KQ57"
CLEAN = "91442000MA4UC00019"
CASE = "ZSGC-2026-118"
WAIT = 8.0


@pytest.fixture
def tracing() -> Iterator[tuple[TracerProvider, InMemorySpanExporter]]:
    spans = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(spans))
    yield provider, spans
    provider.shutdown()


@pytest.fixture
def otel(tracing: tuple[TracerProvider, InMemorySpanExporter]) -> OpenTelemetryInstrumentation:
    meters = MeterProvider(metric_readers=[InMemoryMetricReader()])
    return OpenTelemetryInstrumentation(tracer_provider=tracing[0], meter_provider=meters)


@pytest.fixture
def fake() -> Iterator[FakePlatform]:
    with FakePlatform() as platform:
        platform.add_entry(ORG, "black", "court_judgment_defaulter")
        platform.serve()
        yield platform


class TracedTransport(RequestsTransport):
    """The default transport, with a CLIENT span around each request made current the
    way an HTTP client's instrumentation does (a child of whatever span is current)."""

    def __init__(self, provider: TracerProvider) -> None:
        super().__init__()
        self._tracer = provider.get_tracer("http-client")

    def handle_request(self, request: Request) -> Response:
        name = f"HTTP {request.method} {request.path.split('/v1/', 1)[-1].split('/', 1)[0]}"
        with self._tracer.start_as_current_span(name, kind=SpanKind.CLIENT):
            return super().handle_request(request)


class TracedAsyncTransport(AsyncHttpxTransport):
    """The async transport, with a CLIENT span around each request (as ``-httpx`` makes)."""

    def __init__(self, provider: TracerProvider) -> None:
        super().__init__()
        self._tracer = provider.get_tracer("http-client")

    async def handle_async_request(self, request: Request) -> Response:
        name = f"HTTP {request.method} {request.path.split('/v1/', 1)[-1].split('/', 1)[0]}"
        with self._tracer.start_as_current_span(name, kind=SpanKind.CLIENT):
            return await super().handle_async_request(request)


def _settings(fake: FakePlatform, data_dir: Path, **overrides: Any) -> dict[str, Any]:
    return {
        "base_url": fake.serve(),
        "app_id": fake.app_id,
        "app_secret": fake.app_secret,
        "agency_id": fake.agency_id,
        "data_dir": data_dir,
        "timeout": 2.0,
        "upload_interval": 600,  # no upload spans in the way, unless a test flushes
        "sync_interval": 3600,
        **overrides,
    }


def _named(spans: InMemorySpanExporter, name: str) -> list[ReadableSpan]:
    """The finished spans called ``name``, or starting with it when it ends with a space."""
    return [
        s
        for s in spans.get_finished_spans()
        if s.name == name or (name.endswith(" ") and s.name.startswith(name))
    ]


def _children(spans: InMemorySpanExporter, parent: ReadableSpan) -> list[ReadableSpan]:
    assert parent.context is not None
    return [
        s
        for s in spans.get_finished_spans()
        if s.parent is not None and s.parent.span_id == parent.context.span_id
    ]


def _wait_until(predicate: Callable[[], object], timeout: float = WAIT) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError(f"condition not met within {timeout} s")
        time.sleep(0.05)


# --- checks: their requests are their children --------------------------------------------


def test_the_requests_of_a_check_are_children_of_its_span_and_it_of_the_callers(
    fake: FakePlatform,
    tmp_path: Path,
    tracing: tuple[TracerProvider, InMemorySpanExporter],
    otel: OpenTelemetryInstrumentation,
) -> None:
    provider, spans = tracing
    app = provider.get_tracer("agency-app")
    settings = _settings(fake, tmp_path / "data", cache_ttl=0)
    checker = CreditChecker(transport=TracedTransport(provider), instrumentation=otel, **settings)
    with checker, app.start_as_current_span("POST /bids") as request_span:
        decision = checker.must_check(ORG, "bidding")
        checker.must_check_many([ORG, CLEAN], "licensing")
    assert decision.outcome is Outcome.RESTRICTION
    [check] = _named(spans, "credit_check.must_check")
    [many] = _named(spans, "credit_check.must_check_many")
    [bids] = _named(spans, "POST /bids")
    # The check is a child of the application's request span, in the same trace.
    for span in (check, many):
        assert span.parent is not None
        assert span.parent.span_id == request_span.get_span_context().span_id
        assert span.context is not None
        assert span.context.trace_id == request_span.get_span_context().trace_id
    # Its requests (the first catalogue, the profile) are its children.
    assert sorted(s.name for s in _children(spans, check)) == [
        "HTTP GET catalog",
        "HTTP GET subjects",
    ]
    assert [s.name for s in _children(spans, many)] == ["HTTP POST profiles:batch"]
    assert sorted(s.name for s in _children(spans, bids)) == [
        "credit_check.must_check",
        "credit_check.must_check_many",
    ]  # no request hangs loose beside the checks
    assert all(s.kind is SpanKind.CLIENT for s in _named(spans, "HTTP "))
    # Every other request is the background threads': the snapshot sync's have no parent,
    # an upload's is the child of its batch's span.
    under_checks = {*_children(spans, check), *_children(spans, many)}
    uploads = [s for b in _named(spans, "credit_check.upload_batch") for s in _children(spans, b)]
    background = [s for s in _named(spans, "HTTP ") if s not in under_checks]
    assert all(s.parent is None for s in background if s not in uploads)
    assert {s.name for s in background if s not in uploads} <= {"HTTP GET lists"}
    assert {s.name for s in uploads} <= {"HTTP POST records:batch"}
    # The span covers the requests: started before, ended after.
    for child in _children(spans, check):
        assert check.start_time is not None
        assert child.start_time is not None
        assert check.end_time is not None
        assert child.end_time is not None
        assert check.start_time <= child.start_time <= child.end_time <= check.end_time
    assert check.attributes is not None
    assert check.attributes["credit_check.check_id"] == decision.check_id
    assert check.attributes["credit_check.matter"] == "bidding"


def test_a_check_that_raises_is_one_error_span_and_no_context_is_left_behind(
    fake: FakePlatform,
    tmp_path: Path,
    tracing: tuple[TracerProvider, InMemorySpanExporter],
    otel: OpenTelemetryInstrumentation,
) -> None:
    _provider, spans = tracing
    with fake.checker(tmp_path / "data", instrumentation=otel) as checker:
        with pytest.raises(ValueError, match="unknown matter"):
            checker.must_check(ORG, "no-such-matter")
        assert not trace.get_current_span().get_span_context().is_valid  # detached again
        checker.must_check(ORG, "bidding")
    first, second = _named(spans, "credit_check.must_check")
    assert first.status.status_code is StatusCode.ERROR
    assert second.status.status_code is StatusCode.UNSET
    assert second.parent is None  # not a child of the failed one


def test_an_observer_whose_check_context_fails_never_fails_the_check(
    fake: FakePlatform, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    class Broken:
        def __init__(self) -> None:
            self.events: list[CheckEvent] = []

        def attach(self, state: CheckerState) -> None:
            pass

        def check_finished(self, event: CheckEvent) -> None:
            self.events.append(event)

        def upload_finished(self, event: UploadEvent) -> None:
            pass

        def check_context(self, kind: str, matter: str) -> Any:
            raise RuntimeError("the tracer is broken")

    broken = Broken()
    with fake.checker(tmp_path / "data", instrumentation=broken) as checker:
        assert checker.must_check(ORG, "bidding").outcome is Outcome.RESTRICTION
    assert [e.kind for e in broken.events] == ["must_check"]
    assert "instrumentation: check_context failed" in caplog.text


# --- the async checker ----------------------------------------------------------------------


@pytest.mark.anyio
@pytest.mark.parametrize("anyio_backend", ["asyncio"])
async def test_concurrent_async_checks_each_have_their_requests_under_them(
    fake: FakePlatform,
    tmp_path: Path,
    tracing: tuple[TracerProvider, InMemorySpanExporter],
    otel: OpenTelemetryInstrumentation,
    anyio_backend: str,
) -> None:
    provider, spans = tracing
    settings = _settings(fake, tmp_path / "data", cache_ttl=0)
    async with AsyncCreditChecker(
        transport=TracedAsyncTransport(provider), instrumentation=otel, **settings
    ) as checker:
        await checker.must_check(CLEAN, "bidding")  # the catalogue first
        spans.clear()
        fake.delay(0.2, path="/profile")  # the checks overlap on the event loop
        subjects = [ORG, CLEAN, ORG, CLEAN, ORG]
        decisions = await asyncio.gather(*(checker.must_check(s, "bidding") for s in subjects))
    checks = _named(spans, "credit_check.must_check")
    assert len(checks) == 5
    assert {(s.attributes or {}).get("credit_check.check_id") for s in checks} == {
        d.check_id for d in decisions
    }
    requests = _named(spans, "HTTP GET subjects")
    assert len(requests) == 5
    for check in checks:
        [request] = _children(spans, check)  # its own profile request, and no other's
        assert request.name == "HTTP GET subjects"
    # The checks overlapped: a request began before another check's span ended.
    starts = sorted(s.start_time or 0 for s in checks)
    ends = sorted(s.end_time or 0 for s in checks)
    assert starts[-1] < ends[0]


# --- re-checks: a span of their own ------------------------------------------------------------


def test_a_background_recheck_of_a_degraded_decision_is_a_span_with_its_requests(
    fake: FakePlatform,
    tmp_path: Path,
    tracing: tuple[TracerProvider, InMemorySpanExporter],
    otel: OpenTelemetryInstrumentation,
) -> None:
    provider, spans = tracing
    changed: list[Any] = []
    settings = _settings(
        fake,
        tmp_path / "data",
        offline=False,
        cache_ttl=0,
        stale_cache_age=0,
        sync_interval=0.3,
        breaker_cooldown=0.3,
    )
    with CreditChecker(
        transport=TracedTransport(provider),
        instrumentation=otel,
        on_recheck_changed=lambda *a: changed.append(a),
        **settings,
    ) as checker:
        checker.must_check(CLEAN, "bidding")  # the catalogue, while the platform is up
        fake.outage()
        degraded = checker.must_check(ORG, "bidding", fresh=True)
        assert (degraded.outcome, degraded.degraded) == (Outcome.REVIEW, True)
        fake.outage(False)
        _wait_until(lambda: changed)  # re-checked by the background thread
        _wait_until(lambda: _named(spans, "credit_check.recheck"))
    rechecks = [
        s for s in _named(spans, "credit_check.recheck") if s.status.status_code is StatusCode.UNSET
    ]
    [recheck] = rechecks
    attributes = dict(recheck.attributes or {})
    assert attributes["credit_check.recheck.trigger"] == "degraded"
    assert attributes["credit_check.recheck_of"] == degraded.check_id
    assert attributes["credit_check.outcome"] == "restriction"
    assert attributes["credit_check.check_id"] == changed[0][2].check_id
    assert attributes["credit_check.kind"] == "recheck"
    assert recheck.parent is None  # a root of its own, on the background thread
    assert [s.name for s in _children(spans, recheck)] == ["HTTP GET subjects"]
    # Postponed attempts (the platform still refused) are error spans, if there were any.
    for postponed in _named(spans, "credit_check.recheck"):
        if postponed is not recheck:
            assert postponed.status.status_code is StatusCode.ERROR
    assert set(attributes) <= set(ATTRIBUTES)


def test_a_watch_recheck_is_a_span_and_rechecks_are_not_counted_as_checks(
    fake: FakePlatform, tmp_path: Path, tracing: tuple[TracerProvider, InMemorySpanExporter]
) -> None:
    provider, spans = tracing
    reader = InMemoryMetricReader()
    otel = OpenTelemetryInstrumentation(
        tracer_provider=provider, meter_provider=MeterProvider(metric_readers=[reader])
    )
    events: list[Any] = []
    settings = _settings(fake, tmp_path / "data", cache_ttl=0)
    with CreditChecker(
        transport=TracedTransport(provider),
        instrumentation=otel,
        on_watch=lambda *a: events.append(a),
        **settings,
    ) as checker:
        checker.sync_snapshot()
        checker.must_check(CLEAN, Matter("bidding", case_id=CASE))
        checker.watch(CLEAN, "bidding", CASE)
        fake.add_entry(CLEAN, "black", "wage_arrears")
        checker.sync_snapshot()
        _wait_until(lambda: events)
    [recheck] = _named(spans, "credit_check.recheck")
    attributes = dict(recheck.attributes or {})
    assert attributes["credit_check.recheck.trigger"] == "watch"
    assert "credit_check.recheck_of" not in attributes
    assert attributes["credit_check.check_id"] == events[0][2].check_id
    assert [s.name for s in _children(spans, recheck)] == ["HTTP GET subjects"]
    data = reader.get_metrics_data()
    assert data is not None
    counted = sum(
        point.value
        for resource in data.resource_metrics
        for scope in resource.scope_metrics
        for metric in scope.metrics
        if metric.name == "credit_check.checks"
        for point in metric.data.data_points
    )
    assert counted == 1  # the check asked for; the re-check is traced only


# --- uploads: their requests are children of the batch's span ---------------------------


def test_an_upload_request_is_a_child_of_its_batch_span(
    fake: FakePlatform,
    tmp_path: Path,
    tracing: tuple[TracerProvider, InMemorySpanExporter],
    otel: OpenTelemetryInstrumentation,
) -> None:
    provider, spans = tracing
    settings = _settings(fake, tmp_path / "data")
    checker = CreditChecker(transport=TracedTransport(provider), instrumentation=otel, **settings)
    with checker:
        fake.fail(503, path="records")  # failed batches: error spans, their requests under them
        checker.must_check(ORG, "bidding")
        checker.must_check(CLEAN, "bidding")
        assert checker.flush(timeout=3) == 2
        fake.reset_faults()
        assert checker.flush(timeout=30) == 0
    batches = _named(spans, "credit_check.upload_batch")
    assert len(batches) >= 2
    for batch in batches:
        requests = _children(spans, batch)  # the request, and its retries if it failed
        assert requests
        for request in requests:
            assert request.name == "HTTP POST records:batch"
            assert request.kind is SpanKind.CLIENT
            assert batch.context is not None
            assert request.context is not None
            assert request.context.trace_id == batch.context.trace_id
            # The batch's span covers its requests.
            assert batch.start_time is not None
            assert request.start_time is not None
            assert batch.end_time is not None
            assert request.end_time is not None
            assert batch.start_time <= request.start_time <= request.end_time <= batch.end_time
    assert batches[0].status.status_code is StatusCode.ERROR
    assert batches[-1].status.status_code is StatusCode.UNSET
    assert batches[-1].attributes is not None
    assert batches[-1].attributes["credit_check.upload.accepted"] == 2
    # Every upload request has its batch: none hangs loose.
    assert all(r.parent is not None for r in _named(spans, "HTTP POST records:batch"))
