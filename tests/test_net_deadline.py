"""The time budget holds against a slow server: a deadline on the whole exchange.

A server that drips its response headers (or its body) one byte a second
restarts every read timeout with each byte; the deadline cuts the exchange
anyway. Real loopback sockets throughout (``tests/netfaults.py``).
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from credit_check_sdk import CreditChecker, Outcome, RequestTimeoutError
from credit_check_sdk._client import PlatformClient
from credit_check_sdk.journal import Journal
from tests.netfaults import (
    ORG,
    Behaviour,
    Conn,
    RawRequest,
    RawServer,
    catalogue,
    drip_body,
    drip_head,
    hang,
    json_answer,
    profile,
    raw_server,
    send_all,
)

TIMEOUT = 2.0
SLACK = 0.5

DRIPS: dict[str, Callable[[Any], Behaviour]] = {"headers": drip_head, "body": drip_body}


def accept_all() -> Behaviour:
    """records:batch that accepts every record it is sent."""

    def answer(conn: Conn, request: RawRequest) -> None:
        ids = [r["id"] for r in json.loads(request.body)["records"]]
        body = json.dumps({"accepted": ids, "duplicates": [], "rejected": []}).encode()
        send_all(conn, b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n")
        send_all(conn, f"Content-Length: {len(body)}\r\n\r\n".encode() + body)

    return answer


@pytest.fixture
def make_checker(tmp_path: Path) -> Iterator[Callable[..., CreditChecker]]:
    made: list[CreditChecker] = []

    def make(server: RawServer, **settings: Any) -> CreditChecker:
        options: dict[str, Any] = {
            "base_url": server.url(),
            "app_id": "zs-fgj-app",
            "app_secret": "s3cret",
            "agency_id": "zs-fgj",
            "data_dir": tmp_path / f"cc{len(made)}",
            "timeout": TIMEOUT,
            "offline": False,
        }
        options.update(settings)
        checker = CreditChecker(**options)
        made.append(checker)
        return checker

    yield make
    for checker in made:
        checker.close(timeout=1)


@pytest.mark.parametrize("part", sorted(DRIPS))
def test_a_drip_fed_answer_is_cut_at_the_budget(part: str) -> None:
    with raw_server({"/v1/health": DRIPS[part]({"status": "ok", "time": "x"})}) as server:
        client = PlatformClient(server.url(), "app", "secret", timeout=TIMEOUT)
        started = time.monotonic()
        with pytest.raises(RequestTimeoutError):
            client.health()
        elapsed = time.monotonic() - started
        client.close()
    assert elapsed <= TIMEOUT + SLACK
    # The drip was still going: the read timeout alone would never have fired.
    assert elapsed >= TIMEOUT - 0.1


@pytest.mark.parametrize("part", sorted(DRIPS))
def test_every_check_returns_within_the_budget_with_review(
    make_checker: Callable[..., CreditChecker], part: str
) -> None:
    routes = {
        "/v1/catalog": catalogue(),
        "/v1/subjects/": DRIPS[part](profile()),
        "/v1/records:batch": accept_all(),
    }
    with raw_server(routes) as server:
        checker = make_checker(server)
        for _ in range(3):
            started = time.monotonic()
            decision = checker.must_check(ORG, "bidding")
            elapsed = time.monotonic() - started
            assert elapsed <= TIMEOUT + SLACK, f"a check took {elapsed:.2f} s"
            assert decision.outcome is Outcome.REVIEW
            assert decision.source == "none"
            assert decision.degraded
        assert len(server.requests_to("/v1/subjects/")) >= 3


def test_a_drip_fed_batch_is_cut_at_the_budget(
    make_checker: Callable[..., CreditChecker],
) -> None:
    routes = {
        "/v1/catalog": catalogue(),
        "/v1/profiles:batch": drip_head({"profiles": [profile()], "invalid": []}),
        "/v1/records:batch": accept_all(),
    }
    with raw_server(routes) as server:
        checker = make_checker(server)
        checker.refresh_catalog()
        started = time.monotonic()
        decisions = checker.must_check_many([ORG, "91442000MA4UC00019"], "bidding")
        elapsed = time.monotonic() - started
    assert elapsed <= TIMEOUT + SLACK
    assert [d.outcome for d in decisions] == [Outcome.REVIEW, Outcome.REVIEW]


def test_close_ends_a_hung_upload_within_its_timeout(
    make_checker: Callable[..., CreditChecker],
) -> None:
    routes = {
        "/v1/catalog": catalogue(),
        "/v1/subjects/": json_answer(profile()),
        "/v1/records:batch": hang(),
    }
    with raw_server(routes) as server:
        checker = make_checker(server)
        assert checker.must_check(ORG, "bidding").source == "live"
        deadline = time.monotonic() + 10
        while not server.requests_to("/v1/records:batch"):
            assert time.monotonic() < deadline, "the upload never started"
            time.sleep(0.02)
        (upload,) = server.requests_to("/v1/records:batch")
        started = time.monotonic()
        checker.close(timeout=2.0)
        returned = time.monotonic()
        assert returned - started <= 2.0 + 0.3
        # The upload request itself was ended (its socket closed) within the close,
        # not left hanging in a thread until the upload's own 30 s timeout.
        time.sleep(0.2)
        assert upload.client_closed_at is not None
        assert upload.client_closed_at <= returned + 0.1
    journal = Journal(checker.data_dir / "journal.sqlite3")
    assert journal.counts()["pending"] == 1  # kept for next time, not lost
    journal.close()


def test_end_requests_cuts_a_request_in_flight() -> None:
    with raw_server({"/v1/health": hang()}) as server:
        client = PlatformClient(server.url(), "app", "secret", timeout=30.0)
        failure: list[BaseException] = []

        def call() -> None:
            try:
                client.health()
            except BaseException as exc:  # the test reads it below
                failure.append(exc)

        thread = threading.Thread(target=call)
        thread.start()
        while not server.requests_to("/v1/health"):
            time.sleep(0.01)
        started = time.monotonic()
        client.end_requests(within=0.3)
        thread.join(5)
        elapsed = time.monotonic() - started
        # Later requests get no time past the end either.
        with pytest.raises(RequestTimeoutError):
            client.health()
        client.close()
    assert not thread.is_alive()
    assert elapsed <= 0.3 + SLACK
    assert isinstance(failure[0], RequestTimeoutError)


def test_retries_of_a_drip_never_pass_the_budget() -> None:
    calls = {"n": 0}
    slow = drip_head({"status": "ok", "time": "x"}, every=0.2)

    def counted(conn: Conn, request: RawRequest) -> None:
        calls["n"] += 1
        slow(conn, request)

    with raw_server({"/v1/health": counted}) as server:
        client = PlatformClient(server.url(), "app", "secret", timeout=1.0, max_attempts=10)
        started = time.monotonic()
        with pytest.raises(RequestTimeoutError):
            client.health()
        elapsed = time.monotonic() - started
        client.close()
    assert elapsed <= 1.0 + SLACK
    assert calls["n"] == 1  # the first attempt spent the budget: no retry after it
