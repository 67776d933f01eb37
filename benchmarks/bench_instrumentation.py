"""What the instrumentation seam costs a check, each figure beside its floor in the same run.

Run: ``python benchmarks/bench_instrumentation.py`` (``make bench`` runs every benchmark).

Cached ``must_check`` calls with the durable journal write, one thread, in rounds that
alternate three ways of calling the same checker's method:

1. the method as the SDK ships it, no ``instrumentation=`` (the seam present, off);
2. the floor: the same method without the seam at all (``must_check.__wrapped__``);
3. with :class:`~credit_check_sdk.otel.OpenTelemetryInstrumentation` on the
   OpenTelemetry SDK's providers (spans to an in-memory exporter, metrics to an
   in-memory reader), against the same floor.

A check's time is mostly its journal's fsync, whose spread on a shared machine hides
a fraction of a microsecond; so the seam alone is timed too: a method that does nothing,
called through the seam (off) and directly, a million times.
"""

from __future__ import annotations

import statistics
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import InMemoryMetricReader
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from credit_check_sdk import CreditChecker
from credit_check_sdk.instrumentation import Instrumentation, observed_check
from credit_check_sdk.otel import OpenTelemetryInstrumentation
from credit_check_sdk.testing import FakePlatform

ROUNDS = 11
CHECKS = 300
ORG = "91442000MA4UJ2KQ57"


def _per_check(call: Callable[[], object]) -> float:
    t0 = time.perf_counter()
    for _ in range(CHECKS):
        call()
    return (time.perf_counter() - t0) / CHECKS


def _rounds(checker: CreditChecker) -> tuple[float, float]:
    """Median seconds per check: as shipped, and without the seam (interleaved)."""
    bare = CreditChecker.must_check.__wrapped__  # type: ignore[attr-defined]
    shipped, floor = [], []
    for _ in range(ROUNDS):
        shipped.append(_per_check(lambda: checker.must_check(ORG, "bidding")))
        floor.append(_per_check(lambda: bare(checker, ORG, "bidding")))
    return statistics.median(shipped), statistics.median(floor)


class _Nothing:
    _instrumentation: Instrumentation | None = None

    def direct(self, subject: str, matter: str) -> None:
        return None

    @observed_check("must_check")
    def through_seam(self, subject: str, matter: str) -> None:
        return None


def _seam_alone(calls: int = 1_000_000) -> tuple[float, float]:
    """Seconds per call of a no-op method through the seam (off), and directly."""
    obj = _Nothing()
    seam, direct = [], []
    for _ in range(5):
        t0 = time.perf_counter()
        for _ in range(calls // 5):
            obj.through_seam(ORG, "bidding")
        seam.append(time.perf_counter() - t0)
        t0 = time.perf_counter()
        for _ in range(calls // 5):
            obj.direct(ORG, "bidding")
        direct.append(time.perf_counter() - t0)
    return min(seam) / (calls // 5), min(direct) / (calls // 5)


def main() -> None:
    with tempfile.TemporaryDirectory() as d, FakePlatform() as fake:
        fake.add_entry(ORG, "black", "court_judgment_defaulter")
        with fake.checker(Path(d) / "off", cache_ttl=3600, upload_interval=600) as checker:
            checker.must_check(ORG, "bidding")  # warm the cache
            off, off_floor = _rounds(checker)
        tracing = TracerProvider()
        tracing.add_span_processor(SimpleSpanProcessor(InMemorySpanExporter()))
        otel = OpenTelemetryInstrumentation(
            tracer_provider=tracing,
            meter_provider=MeterProvider(metric_readers=[InMemoryMetricReader()]),
        )
        with fake.checker(
            Path(d) / "on", cache_ttl=3600, upload_interval=600, instrumentation=otel
        ) as checker:
            checker.must_check(ORG, "bidding")
            on, on_floor = _rounds(checker)
    seam, direct = _seam_alone()
    rows = [
        (
            "the seam alone, off (a no-op method)",
            f"{seam * 1e9:,.0f} ns",
            f"direct call {direct * 1e9:,.0f} ns",
            f"+{(seam - direct) * 1e9:,.0f} ns a call",
        ),
        (
            "cached must_check, instrumentation off",
            f"{off * 1e6:,.0f} µs",
            f"no seam {off_floor * 1e6:,.0f} µs",
            f"{off / off_floor:.3f}×",
        ),
        (
            "cached must_check, OpenTelemetry on",
            f"{on * 1e6:,.0f} µs",
            f"no seam {on_floor * 1e6:,.0f} µs",
            f"{on / on_floor:.3f}×",
        ),
    ]
    width = [max(len(r[i]) for r in rows) for i in range(4)]
    header = ("benchmark", "per check (median)", "floor (same run)", "ratio")
    width = [max(w, len(h)) for w, h in zip(width, header, strict=True)]
    print("| " + " | ".join(h.ljust(w) for h, w in zip(header, width, strict=True)) + " |")
    print("|" + "|".join("-" * (w + 2) for w in width) + "|")
    for r in rows:
        print("| " + " | ".join(c.ljust(w) for c, w in zip(r, width, strict=True)) + " |")


if __name__ == "__main__":
    main()
