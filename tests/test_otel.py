"""OpenTelemetry spans and metrics of a checker (credit_check_sdk.otel), read back through
OpenTelemetry's own in-memory span exporter and metric reader, against FakePlatform served
over real HTTP."""

from __future__ import annotations

import logging
import re
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import InMemoryMetricReader
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import StatusCode

from credit_check_sdk import ArgumentTypeError, CreditChecker, UnknownMatterError, configure
from credit_check_sdk import must_check as module_must_check
from credit_check_sdk.instrumentation import CheckerState, CheckEvent, UploadEvent
from credit_check_sdk.otel import ATTRIBUTES, OpenTelemetryInstrumentation
from credit_check_sdk.testing import FakePlatform

ORG = "91442000MA4UJ2KQ57"  # black-listed below: restriction for bidding
CLEAN = "91442000MA4UC00019"
PERSON = "442000198803122010"  # a natural person: never in full in any attribute
ID_NUMBER = re.compile(r"(?<![0-9])[0-9]{17}[0-9Xx](?![0-9])")


@dataclass
class Telemetry:
    spans: InMemorySpanExporter
    metrics: InMemoryMetricReader
    otel: OpenTelemetryInstrumentation

    def finished(self, name: str) -> list[ReadableSpan]:
        return [s for s in self.spans.get_finished_spans() if s.name == name]

    def points(self, name: str) -> list[Any]:
        """The data points of metric ``name`` as collected now."""
        data = self.metrics.get_metrics_data()
        found = []
        if data is None:
            return found
        for resource in data.resource_metrics:
            for scope in resource.scope_metrics:
                for metric in scope.metrics:
                    if metric.name == name:
                        found += list(metric.data.data_points)
        return found

    def sums(self, name: str) -> dict[frozenset[tuple[str, Any]], float]:
        return {frozenset(p.attributes.items()): p.value for p in self.points(name)}


@pytest.fixture
def telemetry() -> Iterator[Telemetry]:
    spans = InMemorySpanExporter()
    tracing = TracerProvider()
    tracing.add_span_processor(SimpleSpanProcessor(spans))
    reader = InMemoryMetricReader()
    meters = MeterProvider(metric_readers=[reader])
    yield Telemetry(
        spans, reader, OpenTelemetryInstrumentation(tracer_provider=tracing, meter_provider=meters)
    )
    tracing.shutdown()
    meters.shutdown()


@pytest.fixture
def fake() -> Iterator[FakePlatform]:
    with FakePlatform() as platform:
        platform.add_entry(ORG, "black", "court_judgment_defaulter")
        platform.serve()  # real HTTP
        yield platform


def _checker(fake: FakePlatform, tmp_path: Path, telemetry: Telemetry, **settings: Any) -> Any:
    return fake.checker(
        tmp_path / "data", instrumentation=telemetry.otel, upload_interval=600, **settings
    )


def test_a_check_is_one_span_and_counted_by_outcome_and_source(
    fake: FakePlatform, tmp_path: Path, telemetry: Telemetry
) -> None:
    with _checker(fake, tmp_path, telemetry) as checker:
        restricted = checker.must_check(ORG, "bidding")
        clean = checker.must_check(CLEAN, "bidding")
        again = checker.must_check(CLEAN, "bidding")  # from the cache
    assert (restricted.outcome.value, clean.outcome.value, again.source) == (
        "restriction", "normal", "cache",
    )  # fmt: skip
    spans = telemetry.finished("credit_check.must_check")
    assert [dict(s.attributes or {}) for s in spans] == [
        {
            "credit_check.matter": "bidding",
            "credit_check.kind": "must_check",
            "credit_check.outcome": d.outcome.value,
            "credit_check.source": d.source,
            "credit_check.degraded": False,
            "credit_check.check_id": d.check_id,
        }
        for d in (restricted, clean, again)
    ]
    assert all(s.status.status_code is StatusCode.UNSET for s in spans)
    assert all(s.end_time and s.start_time and s.end_time >= s.start_time for s in spans)

    def by(outcome: str, source: str) -> frozenset[tuple[str, Any]]:
        return frozenset(
            {
                "credit_check.matter": "bidding",
                "credit_check.outcome": outcome,
                "credit_check.source": source,
                "credit_check.degraded": False,
            }.items()
        )

    assert telemetry.sums("credit_check.checks") == {
        by("restriction", "live"): 1,
        by("normal", "live"): 1,
        by("normal", "cache"): 1,
    }
    assert telemetry.sums("credit_check.degraded_decisions") == {}
    [duration] = telemetry.points("credit_check.check.duration")
    assert duration.count == 3


def test_must_check_many_is_one_span_with_an_event_per_check(
    fake: FakePlatform, tmp_path: Path, telemetry: Telemetry
) -> None:
    with _checker(fake, tmp_path, telemetry) as checker:
        decisions = checker.must_check_many([ORG, CLEAN, PERSON], "licensing")
    [span] = telemetry.finished("credit_check.must_check_many")
    assert span.attributes is not None
    assert span.attributes["credit_check.checks"] == 3
    assert span.attributes["credit_check.matter"] == "licensing"
    assert [dict(e.attributes or {}) for e in span.events] == [
        {
            "credit_check.matter": "licensing",
            "credit_check.outcome": d.outcome.value,
            "credit_check.source": "live",
            "credit_check.degraded": False,
            "credit_check.check_id": d.check_id,
        }
        for d in decisions
    ]
    assert sum(telemetry.sums("credit_check.checks").values()) == 3


def test_an_outage_counts_degraded_decisions_and_opens_the_breaker_gauge(
    fake: FakePlatform, tmp_path: Path, telemetry: Telemetry
) -> None:
    with _checker(fake, tmp_path, telemetry, breaker_threshold=1, timeout=1.0) as checker:
        checker.must_check(CLEAN, "bidding")  # the catalogue and the cache, while it is up
        assert [p.value for p in telemetry.points("credit_check.breaker.state")] == [0]
        fake.outage()
        fallback = checker.must_check(ORG, "bidding")  # not cached: the snapshot, or review
        stale = checker.must_check(CLEAN, "bidding", fresh=True)  # the breaker is open
        assert fallback.degraded
        assert fallback.source in ("snapshot", "none")
        assert stale.degraded
        assert [p.value for p in telemetry.points("credit_check.breaker.state")] == [1]
    degraded = telemetry.sums("credit_check.degraded_decisions")
    assert sum(degraded.values()) == 2
    assert all(dict(k)["credit_check.matter"] == "bidding" for k in degraded)
    last = telemetry.finished("credit_check.must_check")[-1]
    assert last.attributes is not None
    assert last.attributes["credit_check.degraded"] is True
    assert last.attributes["credit_check.source"] == stale.source


def test_upload_batches_are_spans_with_their_lag_and_the_pending_gauge_falls(
    fake: FakePlatform, tmp_path: Path, telemetry: Telemetry
) -> None:
    with _checker(fake, tmp_path, telemetry) as checker:
        fake.fail(503, path="records")  # nothing is accepted before the flush below
        checker.must_check(ORG, "bidding")
        checker.must_check(PERSON, "bidding")
        assert [p.value for p in telemetry.points("credit_check.journal.pending")] == [2]
        fake.reset_faults()
        assert checker.flush(timeout=30) == 0
        assert [p.value for p in telemetry.points("credit_check.journal.pending")] == [0]
    spans = telemetry.finished("credit_check.upload_batch")
    sent = [dict(s.attributes or {}) for s in spans if s.status.status_code is StatusCode.UNSET]
    failed = [s for s in spans if s.status.status_code is StatusCode.ERROR]
    assert sum(a["credit_check.upload.records"] for a in sent) == 2
    assert sum(a["credit_check.upload.accepted"] for a in sent) == 2
    assert sum(a["credit_check.upload.rejected"] for a in sent) == 0
    assert all(0 <= a["credit_check.upload.lag"] < 60 for a in sent)
    assert telemetry.sums("credit_check.upload.records") == {
        frozenset({("credit_check.upload.state", "accepted")}): 2
    }
    batches = telemetry.sums("credit_check.upload.batches")
    assert batches[frozenset({("credit_check.upload.result", "ok")})] == len(sent)
    assert batches.get(frozenset({("credit_check.upload.result", "failed")}), 0) == len(failed)
    [lag] = telemetry.points("credit_check.upload.lag")
    assert lag.count == len(sent)


def test_a_failed_upload_is_an_error_span_and_records_stay_pending(
    fake: FakePlatform, tmp_path: Path, telemetry: Telemetry
) -> None:
    with _checker(fake, tmp_path, telemetry) as checker:
        checker.must_check(ORG, "bidding")
        fake.fail(503, path="records")
        assert checker.flush(timeout=3) == 1
        fake.reset_faults()
        assert checker.flush(timeout=30) == 0
    spans = telemetry.finished("credit_check.upload_batch")
    assert spans[0].status.status_code is StatusCode.ERROR
    assert spans[0].attributes is not None
    assert spans[0].attributes["error.type"]
    assert spans[-1].status.status_code is StatusCode.UNSET
    results = {
        dict(k)["credit_check.upload.result"] for k in telemetry.sums("credit_check.upload.batches")
    }
    assert results == {"ok", "failed"}


def test_a_check_that_raises_is_an_error_span(
    fake: FakePlatform, tmp_path: Path, telemetry: Telemetry
) -> None:
    with _checker(fake, tmp_path, telemetry) as checker, pytest.raises(UnknownMatterError):
        checker.must_check(PERSON, "no-such-matter")
    [span] = telemetry.finished("credit_check.must_check")
    assert span.status.status_code is StatusCode.ERROR
    assert span.attributes is not None
    assert span.attributes["error.type"] == "UnknownMatterError"
    assert span.attributes["credit_check.matter"] == "no-such-matter"
    assert telemetry.sums("credit_check.check.errors") == {
        frozenset(
            {
                "credit_check.matter": "no-such-matter",
                "credit_check.kind": "must_check",
                "error.type": "UnknownMatterError",
            }.items()
        ): 1
    }


def _shown(attributes: Any) -> list[str]:
    # A float (a duration, a lag) has digits, not an id: an int or a text could be one.
    return [f"{k}={v}" for k, v in (attributes or {}).items() if not isinstance(v, float)]


def _every_exported_value(telemetry: Telemetry) -> list[str]:
    values: list[str] = []
    for span in telemetry.spans.get_finished_spans():
        values += [span.name, str(span.status.description), *_shown(span.attributes)]
        for event in span.events:
            values += [event.name, *_shown(event.attributes)]
    data = telemetry.metrics.get_metrics_data()
    assert data is not None
    for resource in data.resource_metrics:
        for scope in resource.scope_metrics:
            for metric in scope.metrics:
                for point in metric.data.data_points:
                    values += _shown(point.attributes)
    return values


def test_no_personal_id_number_in_any_span_or_metric_attribute(
    fake: FakePlatform, tmp_path: Path, telemetry: Telemetry
) -> None:
    with _checker(fake, tmp_path, telemetry) as checker:
        checker.must_check(PERSON, "bidding")
        checker.must_check_many([PERSON, "44200019900715303X"], "licensing")
        with pytest.raises(UnknownMatterError):
            checker.must_check(PERSON, PERSON)  # an id where the matter goes: masked
        checker.flush(timeout=30)
    values = _every_exported_value(telemetry)
    assert len(values) > 40  # spans, events and data points were all read
    assert any("check_id=" in v for v in values)
    assert [v for v in values if ID_NUMBER.search(v)] == []
    assert set(ATTRIBUTES) >= {
        v.split("=", 1)[0] for v in values if "=" in v
    }  # every attribute set is a documented one


def test_an_observer_that_fails_never_fails_the_check(
    fake: FakePlatform, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    class Broken:
        def attach(self, state: CheckerState) -> None:
            self.state = state

        def check_finished(self, event: CheckEvent) -> None:
            raise RuntimeError("the collector is down")

        def upload_finished(self, event: UploadEvent) -> None:
            raise RuntimeError("the collector is down")

    broken = Broken()
    with caplog.at_level(logging.ERROR), fake.checker(tmp_path, instrumentation=broken) as checker:
        assert checker.must_check(ORG, "bidding").outcome.value == "restriction"
        assert checker.flush(timeout=30) == 0
        assert broken.state.read().journal_pending == 0
        assert broken.state.read().breaker == "closed"
    assert "instrumentation: check_finished failed" in caplog.text
    assert "instrumentation: upload_finished failed" in caplog.text


def test_instrumentation_must_be_an_observer(fake: FakePlatform, tmp_path: Path) -> None:
    with pytest.raises(ArgumentTypeError, match="attach, check_finished and upload_finished"):
        CreditChecker(instrumentation=object(), **_settings(fake, tmp_path))  # type: ignore[arg-type]


def test_one_instrumentation_serves_one_open_checker(
    fake: FakePlatform, tmp_path: Path, telemetry: Telemetry
) -> None:
    with _checker(fake, tmp_path, telemetry), pytest.raises(ValueError, match="per checker"):
        fake.checker(tmp_path / "other", instrumentation=telemetry.otel)
    assert telemetry.points("credit_check.journal.pending") == []  # closed: nothing to read
    with fake.checker(tmp_path / "next", instrumentation=telemetry.otel) as checker:
        checker.must_check(ORG, "bidding")  # the first one closed: this one may be served
        assert len(telemetry.points("credit_check.journal.pending")) == 1


def test_the_default_checker_takes_instrumentation_from_configure(
    fake: FakePlatform, tmp_path: Path, telemetry: Telemetry
) -> None:
    try:
        configure(instrumentation=telemetry.otel, **_settings(fake, tmp_path))
        assert module_must_check(ORG, "bidding").outcome.value == "restriction"
        configure(instrumentation=telemetry.otel, **_settings(fake, tmp_path))  # replaced
        module_must_check(CLEAN, "bidding")
    finally:
        configure()  # closes the default checker
    outcomes = [
        (s.attributes or {}).get("credit_check.outcome")
        for s in telemetry.finished("credit_check.must_check")
    ]
    assert outcomes == ["restriction", "normal"]


def _settings(fake: FakePlatform, tmp_path: Path) -> dict[str, Any]:
    return {
        "base_url": fake.base_url,
        "app_id": fake.app_id,
        "app_secret": fake.app_secret,
        "agency_id": fake.agency_id,
        "data_dir": tmp_path / "data",
    }


def test_without_the_extra_the_message_names_the_pip_command() -> None:
    code = (
        "import sys\n"
        "sys.modules['opentelemetry'] = None  # as if the otel extra were not installed\n"
        "import credit_check_sdk, credit_check_sdk.instrumentation  # the core needs none\n"
        "try:\n"
        "    import credit_check_sdk.otel\n"
        "except ImportError as exc:\n"
        "    print(exc)\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=60, check=True
    )
    assert done.stdout.strip() == (
        'credit_check_sdk.otel needs the OpenTelemetry API: pip install "credit-check-sdk[otel]"'
    )


def test_the_core_imports_no_opentelemetry() -> None:
    code = (
        "import sys\n"
        "from credit_check_sdk.testing import FakePlatform\n"
        "with FakePlatform().checker() as c:\n"
        "    c.must_check('91442000MA4UJ2KQ57', 'bidding')\n"
        "print(sorted(m for m in sys.modules if m.startswith('opentelemetry')))\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=60, check=True
    )
    assert done.stdout.strip() == "[]"
