"""``CreditChecker.must_check`` when the platform fails, over real HTTP.

Every fault of the matrix must give outcome ``review`` from ``source ==
"none"``, marked degraded, within the time budget (``timeout`` plus a little),
with the check durably in an intact journal. A check never reports a clean
result it could not verify.
"""

from __future__ import annotations

import logging
import socket
import threading
import time
from collections.abc import Callable, Iterator
from typing import Any, Literal

import pytest
from stdnum.cn import ric, uscc

from credit_check_sdk import (
    CreditChecker,
    Decision,
    InvalidRequestError,
    InvalidSubjectError,
    Outcome,
    UnknownMatterError,
)
from credit_check_sdk.testing import FakePlatform

TIMEOUT = 1.0
SLACK = 0.5
ORG = "91442000MA4UJ2KQ57"
CLEAN_ORG = "91442000MA4UC00019"


def _ric(stem: str) -> str:
    return stem + ric.calc_check_digit(stem + "0")


PERSON = _ric("44010119920304001")
assert ric.is_valid(PERSON)
assert not uscc.is_valid(PERSON)


@pytest.fixture
def fake() -> Iterator[FakePlatform]:
    with FakePlatform(agency_id="zs-fgj") as platform:
        platform.serve()
        yield platform


@pytest.fixture
def make_checker(tmp_path: Any) -> Iterator[Callable[..., CreditChecker]]:
    made: list[tuple[FakePlatform, CreditChecker]] = []

    def make(fake: FakePlatform, **settings: Any) -> CreditChecker:
        # No offline snapshot here: these cases are about "no usable data" (review);
        # deciding from the snapshot is tested in test_offline.py.
        options: dict[str, Any] = {
            "timeout": TIMEOUT,
            "data_dir": tmp_path / f"cc{len(made)}",
            "offline": False,
        }
        options.update(settings)
        checker = fake.checker(http=True, **options)
        made.append((fake, checker))
        return checker

    yield make
    # Stop the servers first: answers held back by a delay fault are dropped at once,
    # so the uploaders' last flush fails fast instead of waiting out the delay.
    for fake, checker in made:
        fake.stop()
        checker.close(timeout=1)


@pytest.fixture
def checker(fake: FakePlatform, make_checker: Callable[..., CreditChecker]) -> CreditChecker:
    """A checker over HTTP whose catalogue is already fetched (so faults hit the profile)."""
    made = make_checker(fake)
    assert made.refresh_catalog() is True
    return made


def timed_check(checker: CreditChecker, subject: str = ORG) -> tuple[Decision, float]:
    started = time.monotonic()
    decision = checker.must_check(subject, "bidding")
    return decision, time.monotonic() - started


def assert_review(checker: CreditChecker, decision: Decision, elapsed: float) -> None:
    assert decision.outcome is Outcome.REVIEW
    assert decision.source == "none"
    assert decision.degraded is True
    assert decision.data_as_of is None
    assert elapsed <= TIMEOUT + SLACK, f"the check took {elapsed:.2f} s"
    assert checker.journal.verify().ok
    stored = checker.journal.get(decision.check_id)
    assert stored is not None
    assert stored["outcome"] == "review"
    assert stored["source"] == "none"


# --- the outage matrix ---------------------------------------------------------------

FAULTS: dict[str, Callable[[FakePlatform], None]] = {
    "500": lambda f: f.fail(500),
    "502": lambda f: f.fail(502),
    "503": lambda f: f.fail(503),
    "504": lambda f: f.fail(504),
    "429-retry-after-beyond-budget": lambda f: f.fail(429, retry_after=5),
    "read-timeout": lambda f: f.delay(3.0),
    "reset-mid-body": lambda f: f.reset(),
    "not-json": lambda f: f.malformed("not_json"),
    "truncated-json": lambda f: f.malformed("truncated"),
    "missing-fields": lambda f: f.malformed("missing_fields"),
    "wrong-types": lambda f: f.malformed("wrong_types"),
    "outage": lambda f: f.outage(),
}


@pytest.mark.parametrize("arrange", FAULTS.values(), ids=FAULTS.keys())
def test_a_platform_fault_gives_review(
    fake: FakePlatform, checker: CreditChecker, arrange: Callable[[FakePlatform], None]
) -> None:
    fake.add_entry(ORG, "black", "court_judgment_defaulter")
    arrange(fake)
    decision, elapsed = timed_check(checker)
    assert_review(checker, decision, elapsed)
    assert ("GET", f"/v1/subjects/{ORG}/profile") in fake.requests


def test_a_clean_subject_is_not_reported_clean_during_a_fault(
    fake: FakePlatform, checker: CreditChecker
) -> None:
    fake.fail(503)
    decision, elapsed = timed_check(checker, CLEAN_ORG)
    assert_review(checker, decision, elapsed)


def test_429_with_a_short_retry_after_is_retried_and_succeeds(
    fake: FakePlatform, checker: CreditChecker
) -> None:
    fake.add_entry(ORG, "black", "court_judgment_defaulter")
    fake.fail(429, retry_after=0.3, times=1, path="/profile")
    decision, elapsed = timed_check(checker)
    assert decision.outcome is Outcome.RESTRICTION
    assert decision.source == "live"
    assert decision.degraded is False
    assert 0.3 <= elapsed <= TIMEOUT + SLACK
    assert fake.requests.count(("GET", f"/v1/subjects/{ORG}/profile")) == 2


def test_a_transient_503_is_retried_within_the_budget(
    fake: FakePlatform, checker: CreditChecker
) -> None:
    fake.fail(503, times=2, path="/profile")
    decision, elapsed = timed_check(checker)
    assert decision.source == "live"
    assert decision.outcome is Outcome.NORMAL
    assert elapsed <= TIMEOUT + SLACK


class DripServer:
    """A raw socket server: headers at once, then one body byte every ``interval`` s.

    Paths other than a profile get a quick 503, so that only the profile drips.
    """

    def __init__(self, interval: float = 0.3) -> None:
        self.interval = interval
        self.stop = threading.Event()
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(16)
        self.sock.settimeout(0.1)
        self.port = self.sock.getsockname()[1]
        self.thread = threading.Thread(target=self._accept, daemon=True)
        self.thread.start()

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}/api"

    def _accept(self) -> None:
        while not self.stop.is_set():
            try:
                conn, _ = self.sock.accept()
            except (TimeoutError, OSError):
                continue
            threading.Thread(target=self._serve, args=(conn,), daemon=True).start()

    def _serve(self, conn: socket.socket) -> None:
        with conn:
            data = b""
            while b"\r\n\r\n" not in data:
                chunk = conn.recv(4096)
                if not chunk:
                    return
                data += chunk
            path = data.split(b" ", 2)[1]
            try:
                if b"/profile" not in path:
                    body = b'{"title":"down","status":503}'
                    conn.sendall(
                        b"HTTP/1.1 503 Service Unavailable\r\nConnection: close\r\n"
                        b"Content-Type: application/problem+json\r\n"
                        b"Content-Length: %d\r\n\r\n%s" % (len(body), body)
                    )
                    return
                conn.sendall(
                    b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n"
                    b"Content-Length: 4096\r\n\r\n"
                )
                for _ in range(4096):
                    if self.stop.wait(self.interval):
                        return
                    conn.sendall(b" ")
            except OSError:
                return  # the client gave up

    def close(self) -> None:
        self.stop.set()
        self.sock.close()
        self.thread.join(2)


def test_a_slow_drip_is_cut_at_the_budget(
    fake: FakePlatform, make_checker: Callable[..., CreditChecker]
) -> None:
    server = DripServer(0.3)
    try:
        checker = make_checker(fake, base_url=server.base_url)
        checker.refresh_catalog()  # fails quickly (503); the check then goes for the profile
        decision, elapsed = timed_check(checker)
        assert_review(checker, decision, elapsed)
        assert elapsed >= 0.6  # it did wait for the drip, not give up at once
    finally:
        server.close()


def test_connection_refused(fake: FakePlatform, make_checker: Callable[..., CreditChecker]) -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    checker = make_checker(fake, base_url=f"http://127.0.0.1:{port}/api")
    decision, elapsed = timed_check(checker)  # cold: the catalogue refresh fails too
    assert_review(checker, decision, elapsed)


def test_the_fake_drip_is_cut_at_the_budget_too(fake: FakePlatform, checker: CreditChecker) -> None:
    fake.drip(0.3, path="/profile")
    decision, elapsed = timed_check(checker)
    assert_review(checker, decision, elapsed)


def test_a_slow_catalogue_does_not_stretch_a_cold_check(
    fake: FakePlatform, make_checker: Callable[..., CreditChecker]
) -> None:
    fake.delay(3.0)  # everything, the first catalogue refresh included
    checker = make_checker(fake)
    decision, elapsed = timed_check(checker)
    assert_review(checker, decision, elapsed)


def test_a_slow_catalogue_does_not_starve_the_profile(
    fake: FakePlatform, make_checker: Callable[..., CreditChecker]
) -> None:
    fake.delay(3.0, path="/catalog")
    checker = make_checker(fake)
    decision, elapsed = timed_check(checker)
    assert elapsed <= TIMEOUT + SLACK
    assert decision.source == "live"
    # The first check of a new install gave the catalogue a third of its budget;
    # later checks never ask for it (the background thread refreshes it).
    again, elapsed = timed_check(checker, PERSON)
    assert elapsed <= TIMEOUT * 0.6
    assert again.source == "live"


# --- live, cache and input errors ---------------------------------------------------------


def test_live_then_cache(fake: FakePlatform, checker: CreditChecker) -> None:
    fake.add_entry(ORG, "black", "court_judgment_defaulter")
    first, _ = timed_check(checker)
    second, _ = timed_check(checker)
    assert (first.source, first.degraded) == ("live", False)
    assert (second.source, second.degraded) == ("cache", False)
    assert first.outcome is second.outcome is Outcome.RESTRICTION
    assert first.data_as_of is not None
    assert fake.requests.count(("GET", f"/v1/subjects/{ORG}/profile")) == 1
    assert first.check_id != second.check_id
    assert checker.journal.get(second.check_id)["source"] == "cache"  # type: ignore[index]


def test_the_cache_keeps_answering_during_an_outage(
    fake: FakePlatform, checker: CreditChecker
) -> None:
    timed_check(checker)
    fake.outage()
    decision, elapsed = timed_check(checker)
    assert decision.source == "cache"
    assert elapsed < SLACK


def test_an_invalid_subject_sends_nothing(fake: FakePlatform, checker: CreditChecker) -> None:
    fake.requests.clear()
    before = checker.journal.counts()
    with pytest.raises(InvalidSubjectError) as caught:
        checker.must_check("91442000MA4UJ2KQ58", "bidding")
    assert isinstance(caught.value, ValueError)
    with pytest.raises(InvalidSubjectError, match="#1"):
        checker.must_check_many([ORG, "9144200"], "bidding")
    time.sleep(0.1)
    assert fake.requests == []
    assert checker.journal.counts() == before


def test_an_unknown_matter_raises(fake: FakePlatform, checker: CreditChecker) -> None:
    fake.requests.clear()
    with pytest.raises(UnknownMatterError) as caught:
        checker.must_check(ORG, "parking-permit")
    assert "bidding" in caught.value.known
    assert not [r for r in fake.requests if "/subjects/" in r[1]]


def _usccs(n: int) -> list[str]:
    out = []
    for i in range(n):
        stem = f"91442000MA{i:07d}"
        out.append(stem + uscc.calc_check_digit(stem))
    return out


def test_must_check_many_batches_by_200(
    fake: FakePlatform, make_checker: Callable[..., CreditChecker]
) -> None:
    ids = _usccs(450)
    fake.add_entry(ids[7], "black", "court_judgment_defaulter")
    checker = make_checker(fake, timeout=5.0)
    decisions = checker.must_check_many(ids, "bidding")
    assert len(decisions) == 450
    assert [d.subject.id for d in decisions] == ids
    assert fake.requests.count(("POST", "/v1/profiles:batch")) == 3
    assert not [r for r in fake.requests if r[1].endswith("/profile")]
    assert {d.source for d in decisions} == {"live"}
    assert decisions[7].outcome is Outcome.RESTRICTION
    assert sum(d.outcome is Outcome.RESTRICTION for d in decisions) == 1
    counts = checker.journal.counts()
    assert sum(counts.values()) == 450
    assert checker.journal.verify().ok
    assert checker.flush(timeout=10) == 0
    assert len(fake.records) == 450


def test_must_check_many_keeps_the_order_while_deciding_during_the_next_request(
    fake: FakePlatform, make_checker: Callable[..., CreditChecker]
) -> None:
    """Three requests; the checks of each answer are decided while the next is in
    flight. The first request fails (every retry): its subjects are decided as
    must_check would (no data: review); a cached subject and a repeated one keep
    their places."""
    ids = _usccs(450)
    fake.add_entry(ids[260], "black", "court_judgment_defaulter")
    checker = make_checker(fake, timeout=10.0)
    checker.must_check(ids[300], "bidding")  # cached from here on
    fake.fail(503, times=4, path="profiles:batch")  # the first request, retries included
    asked = [*ids, ids[5], ids[300]]
    decisions = checker.must_check_many(asked, "bidding")
    assert [d.subject.id for d in decisions] == asked
    sources = [d.source for d in decisions]
    assert set(sources[:200]) == {"none"}
    assert sources[300] == sources[-1] == "cache"
    assert set(sources[200:300] + sources[301:450]) == {"live"}
    assert sources[450] == "none"  # the repeat of a subject of the failed request
    assert decisions[260].outcome is Outcome.RESTRICTION
    assert len({d.check_id for d in decisions}) == len(asked)
    assert checker.journal.verify().ok


def test_must_check_many_during_an_outage_is_all_review(
    fake: FakePlatform, checker: CreditChecker
) -> None:
    fake.outage()
    started = time.monotonic()
    decisions = checker.must_check_many(_usccs(3), "bidding")
    assert time.monotonic() - started <= TIMEOUT + SLACK
    assert {(d.outcome, d.source, d.degraded) for d in decisions} == {
        (Outcome.REVIEW, "none", True)
    }


# --- actions -------------------------------------------------------------------------------


def test_record_action(fake: FakePlatform, checker: CreditChecker) -> None:
    fake.add_entry(ORG, "black", "court_judgment_defaulter")
    decision, _ = timed_check(checker)
    measure_ids = [m.id for m in decision.measures]
    assert measure_ids
    actions: tuple[Literal["not_applied", "overridden"], ...] = ("not_applied", "overridden")
    for action in actions:
        for reason in (None, "", "   "):
            with pytest.raises(InvalidRequestError, match="reason"):
                checker.record_action(decision.check_id, action, reason=reason)
    with pytest.raises(InvalidRequestError, match="no check"):
        checker.record_action("no-such-check", "applied")
    with pytest.raises(InvalidRequestError):
        checker.record_action(decision.check_id, "ignored")  # type: ignore[arg-type]
    with pytest.raises(InvalidRequestError, match="no measure"):
        checker.record_action(decision.check_id, "applied", measure_ids=["P-NOPE"])
    applied = checker.record_action(decision.check_id, "applied", operator="u123")
    overridden = checker.record_action(
        decision.check_id, "overridden", reason="法院已撤销", measure_ids=measure_ids[:1]
    )
    stored = checker.journal.get(applied)
    assert stored is not None
    assert stored["check_id"] == decision.check_id
    assert stored["measure_ids"] == measure_ids
    assert checker.journal.get(overridden)["reason"] == "法院已撤销"  # type: ignore[index]
    assert checker.journal.verify().ok
    assert checker.flush(timeout=5) == 0
    assert {decision.check_id, applied, overridden} <= set(fake.records)


# --- upload after an outage -------------------------------------------------------------------


def test_every_record_reaches_the_platform_once_after_an_outage(
    fake: FakePlatform, checker: CreditChecker
) -> None:
    timed_check(checker, CLEAN_ORG)
    assert checker.flush(timeout=5) == 0
    fake.outage()
    decisions = [timed_check(checker, s)[0] for s in _usccs(5)]
    action = checker.record_action(decisions[0].check_id, "applied")
    assert checker.flush(timeout=1) > 0  # nothing gets through while the platform is down
    fake.outage(False)
    assert checker.flush(timeout=10) == 0
    ids = {r["id"] for r in checker.journal.iter_records()}
    assert len(ids) == 7
    assert action in ids
    assert set(fake.records) == ids
    assert set(fake.upload_counts) == ids
    assert set(fake.upload_counts.values()) == {1}
    assert checker.upload_stats()["pending"] == 0


# --- personal ids in logs ---------------------------------------------------------------------


def _leaks(caplog: pytest.LogCaptureFixture, number: str) -> list[str]:
    """Every captured record (any logger: the SDK's, urllib3's …) that shows ``number`` whole."""
    return [
        f"{r.name}: {r.getMessage()}"
        for r in caplog.records
        if number in r.getMessage() or number in (r.exc_text or "")
    ]


def test_no_full_ric_in_captured_logs(
    fake: FakePlatform, checker: CreditChecker, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    fake.add_entry(PERSON, "black", "finance")
    assert checker.must_check(PERSON, "bidding").outcome is Outcome.RESTRICTION
    checker._cache.clear()
    fake.fail(503, times=2)  # retried: the retries are logged
    assert checker.must_check(PERSON, "bidding").source == "live"
    checker._cache.clear()
    faults: list[Callable[[], None]] = [
        lambda: fake.fail(500),
        lambda: fake.reset(),
        lambda: fake.delay(3.0),
        lambda: fake.malformed("wrong_types"),
        lambda: fake.malformed("truncated"),
    ]
    for arrange in faults:
        arrange()
        assert checker.must_check(PERSON, "bidding").source == "none"
        fake.reset_faults()
    with pytest.raises(InvalidSubjectError) as caught:
        checker.must_check(PERSON[:-1] + str((int(PERSON[-1]) + 1) % 10), "bidding")
    logging.getLogger("credit_check_sdk.test").error("refused: %s", caught.value)
    assert checker.flush(timeout=5) == 0
    masked = PERSON[:4] + "*" * 10 + PERSON[-4:]
    assert masked in caplog.text  # the SDK did log about this person, masked
    assert any(r.name.startswith("urllib3") for r in caplog.records)  # HTTP was logged too
    assert _leaks(caplog, PERSON) == []


def test_no_full_ric_in_captured_logs_when_the_connection_is_refused(
    fake: FakePlatform,
    make_checker: Callable[..., CreditChecker],
    caplog: pytest.LogCaptureFixture,
) -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    checker = make_checker(fake, base_url=f"http://127.0.0.1:{port}/api")
    checker.refresh_catalog()
    caplog.set_level(logging.DEBUG)
    assert checker.must_check(PERSON, "bidding").source == "none"
    checker.flush(timeout=0.5)
    assert "Connection refused" in caplog.text or "connection failed" in caplog.text
    assert _leaks(caplog, PERSON) == []
