"""The SDK's local evaluation beside the feature-flag SDKs a developer compares it with.

Run: ``python benchmarks/bench_peers.py`` (``make bench`` runs it). The peers come
from the ``bench`` extra (``pip install -e ".[bench]"``); a peer that is not
installed gets a row saying so, and nothing fails.

Every figure is measured in this one run, on this machine, each evaluated
locally with no network:

- LaunchDarkly's server SDK: ``variation()`` of a boolean flag with one rule,
  fed by its ``TestData`` source, with events off (``send_events=False``) and on
  (events queued for a loopback port nobody listens on; flushes are far apart).
- Unleash's Python client: ``is_enabled()`` of a toggle with a user-id
  strategy, bootstrapped from a dict (no fetch, no metrics, no registration).
- credit-check-sdk: ``decide()`` on a typical profile (the pure rules, what a
  flag evaluation corresponds to), and the floor of a dict lookup.

The SDK's check also journals each decision durably before returning (see
``bench_checker.py``); these peers keep no record of an evaluation that survives
a crash, and drop events when their queue fills.
"""

from __future__ import annotations

import contextlib
import logging
import statistics
import tempfile
import time
from collections.abc import Callable
from typing import Any

# Run as a script, this folder is on sys.path: the typical profile is bench_decision's.
from bench_decision import COMPANY, DAY, typical_profile

from credit_check_sdk._models import Matter
from credit_check_sdk.catalogue import default_catalog
from credit_check_sdk.decision import decide

ROUNDS = 5
ITERATIONS = 5_000


def per_call_us(fn: Callable[[], object]) -> tuple[float, float]:
    """Best and median over ROUNDS of the mean microseconds per call (best is the figure)."""
    fn()
    samples = []
    for _ in range(ROUNDS):
        start = time.perf_counter_ns()
        for _ in range(ITERATIONS):
            fn()
        samples.append((time.perf_counter_ns() - start) / ITERATIONS / 1000)
    return min(samples), statistics.median(samples)


def launchdarkly(events: bool) -> tuple[Callable[[], object], Callable[[], None]] | str:
    """``(evaluate, close)`` for LaunchDarkly's ``variation()``, or why it cannot run."""
    try:
        import ldclient
        from ldclient import Context
        from ldclient.config import Config
        from ldclient.integrations.test_data import TestData
    except ImportError:
        return 'not installed (pip install -e ".[bench]")'
    td = TestData.data_source()
    td.update(
        td.flag("green-channel")
        .variation_for_all(False)
        .if_match("tier", "a")
        .then_return(True)
        .on(True)
    )
    config = Config(
        "sdk-key-bench",
        update_processor_class=td,
        send_events=events,
        # Events go nowhere: a loopback port with no server, flushed rarely, so the
        # figure is the evaluation plus queueing the event, not the network.
        events_uri="http://127.0.0.1:9",
        flush_interval=3600,
        diagnostic_opt_out=True,
    )
    client = ldclient.LDClient(config=config)
    context = Context.builder(COMPANY).set("tier", "a").build()
    assert client.variation("green-channel", context, False) is True

    def evaluate() -> object:
        return client.variation("green-channel", context, False)

    return evaluate, client.close


def unleash() -> tuple[Callable[[], object], Callable[[], None]] | str:
    """``(evaluate, close)`` for Unleash's ``is_enabled()``, or why it cannot run."""
    try:
        from UnleashClient import UnleashClient
        from UnleashClient.cache import FileCache
    except ImportError:
        return 'not installed (pip install -e ".[bench]")'
    features: dict[str, Any] = {
        "version": 1,
        "features": [
            {
                "name": "green-channel",
                "enabled": True,
                "strategies": [{"name": "userWithId", "parameters": {"userIds": COMPANY}}],
            }
        ],
    }
    folder = tempfile.mkdtemp(prefix="bench-unleash-")
    cache = FileCache("bench", directory=folder)
    cache.bootstrap_from_dict(features)
    client = UnleashClient(
        url="http://127.0.0.1:9/api",
        app_name="bench",
        disable_metrics=True,
        disable_registration=True,
        cache=cache,
    )
    client.initialize_client(fetch_toggles=False)
    context = {"userId": COMPANY}
    assert client.is_enabled("green-channel", context) is True

    def evaluate() -> object:
        return client.is_enabled("green-channel", context)

    return evaluate, client.destroy


def main() -> None:
    # The peers log their (expected) failures to reach loopback port 9; keep the table clean.
    logging.getLogger("ldclient").setLevel(logging.CRITICAL)
    logging.getLogger("UnleashClient").setLevel(logging.CRITICAL)
    catalog = default_catalog()
    profile = typical_profile(black=False)
    bidding = Matter("bidding")
    table = {("bidding", COMPANY): "normal"}
    rows: list[tuple[str, float | str]] = []

    floor_us, _ = per_call_us(lambda: table.get(("bidding", COMPANY)))
    decide_us, _ = per_call_us(lambda: decide(profile, catalog, bidding, on=DAY))
    rows.append(("credit-check-sdk decide() (bidding, red entries)", decide_us))
    peers: list[tuple[str, Callable[[], tuple[Callable[[], object], Callable[[], None]] | str]]] = [
        ("LaunchDarkly variation(), events off", lambda: launchdarkly(events=False)),
        ("LaunchDarkly variation(), events on", lambda: launchdarkly(events=True)),
        ("Unleash is_enabled()", unleash),
    ]
    for name, make in peers:
        made = make()
        if isinstance(made, str):
            rows.append((name, made))
            continue
        evaluate, close = made
        try:
            rows.append((name, per_call_us(evaluate)[0]))
        finally:
            with contextlib.suppress(Exception):
                close()

    print(f"local evaluation per call, best of {ROUNDS} rounds x {ITERATIONS} calls")
    print(f"floor (dict lookup, same run): {floor_us * 1000:.0f} ns")
    print(f"{'what':<52} {'µs/call':>9} {'vs decide()':>12}")
    for name, figure in rows:
        if isinstance(figure, str):
            print(f"{name:<52} {figure}")
        else:
            print(f"{name:<52} {figure:>9.2f} {figure / decide_us:>11.2f}x")
    ld_off = next((f for n, f in rows if n.endswith("events off")), None)
    if isinstance(ld_off, float):
        verdict = "meets" if decide_us <= ld_off else "misses"
        print(
            f"goal decide() <= LaunchDarkly variation() events off: "
            f"{decide_us:.2f} vs {ld_off:.2f} µs ({verdict})"
        )


if __name__ == "__main__":
    main()
