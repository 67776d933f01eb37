"""``AsyncCreditChecker`` on asyncio, over real HTTP (FakePlatform served on a socket).

The async checker runs the sync checker's logic (one core): the same decisions
and journal records, the same faults giving ``review`` within the time budget,
the same loud refusal of a wrong secret. And what only an event loop can show:
the loop goes on while a check waits for the platform or the disk, fifty
concurrent checks are all journaled in one valid chain, and a task cancelled
mid-check leaves the journal whole.
"""

from __future__ import annotations

import asyncio
import logging
import threading
import time
from collections.abc import AsyncIterator, Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from stdnum.cn import ric

from credit_check_sdk import (
    AsyncCreditChecker,
    CreditChecker,
    CreditCheckError,
    Decision,
    InvalidSubjectError,
    Outcome,
    UnknownMatterError,
)
from credit_check_sdk.plugins import PluginHost, hookimpl
from credit_check_sdk.testing import FakePlatform

pytestmark = pytest.mark.anyio

TIMEOUT = 1.0
SLACK = 0.5
ORG = "91442000MA4UJ2KQ57"
CLEAN_ORG = "91442000MA4UC00019"
PERSON = "44010119920304001" + ric.calc_check_digit("44010119920304001" + "0")
WRONG = "not-the-secret-at-all"


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


@pytest.fixture
def fake() -> Iterator[FakePlatform]:
    with FakePlatform(agency_id="zs-fgj") as platform:
        platform.serve()
        yield platform


def _settings(fake: FakePlatform, data_dir: Path, **overrides: Any) -> dict[str, Any]:
    options: dict[str, Any] = {
        "base_url": fake.serve(),
        "app_id": fake.app_id,
        "app_secret": fake.app_secret,
        "agency_id": fake.agency_id,
        "data_dir": data_dir,
        "timeout": TIMEOUT,
        # No snapshot: these cases are about "no usable data" (review), as in sync.
        "offline": False,
    }
    options.update(overrides)
    return options


@pytest.fixture
async def make_checker(
    fake: FakePlatform, tmp_path: Path
) -> AsyncIterator[Callable[..., AsyncCreditChecker]]:
    made: list[AsyncCreditChecker] = []

    def make(**overrides: Any) -> AsyncCreditChecker:
        checker = AsyncCreditChecker(**_settings(fake, tmp_path / f"cc{len(made)}", **overrides))
        made.append(checker)
        return checker

    yield make
    fake.stop()  # answers held back by a delay are dropped: the last flush fails fast
    for checker in made:
        await checker.aclose(timeout=1)


@pytest.fixture
async def checker(make_checker: Callable[..., AsyncCreditChecker]) -> AsyncCreditChecker:
    """An async checker whose catalogue is stored (so faults hit the profile request)."""
    made = make_checker()
    await made.must_check(CLEAN_ORG, "bidding")  # a cold install fetches the catalogue
    return made


async def timed_check(checker: AsyncCreditChecker, subject: str = ORG) -> tuple[Decision, float]:
    started = time.monotonic()
    decision = await checker.must_check(subject, "bidding", fresh=True)
    return decision, time.monotonic() - started


def assert_review(checker: AsyncCreditChecker, decision: Decision, elapsed: float) -> None:
    assert decision.outcome is Outcome.REVIEW
    assert decision.source == "none"
    assert decision.degraded is True
    assert elapsed <= TIMEOUT + SLACK, f"the check took {elapsed:.2f} s"
    assert checker.journal.verify().ok
    stored = checker.journal.get(decision.check_id)
    assert stored is not None
    assert stored["outcome"] == "review"


def _comparable(record: dict[str, Any]) -> dict[str, Any]:
    """A check record without what differs from one check to the next (ids, times, chain)."""
    varying = ("id", "checked_at", "data_as_of", "hash", "prev_hash")
    return {k: v for k, v in record.items() if k not in varying}


# --- the same decisions and records as the sync checker --------------------------------


async def test_async_and_sync_checks_decide_and_journal_alike(
    fake: FakePlatform, make_checker: Callable[..., AsyncCreditChecker], tmp_path: Path
) -> None:
    fake.add_entry(ORG, "black", "court_judgment_defaulter")
    fake.add_entry(PERSON, "black", "court_judgment_defaulter")
    achecker = make_checker()
    with CreditChecker(**_settings(fake, tmp_path / "sync")) as schecker:
        for subject in (ORG, CLEAN_ORG, PERSON):
            a = await achecker.must_check(subject, "bidding", operator="u1")
            s = schecker.must_check(subject, "bidding", operator="u1")
            assert (a.outcome, a.source, a.degraded) == (s.outcome, s.source, s.degraded)
            assert a.measures == s.measures
            assert a.reasons == s.reasons
            arecord, srecord = achecker.journal.get(a.check_id), schecker.journal.get(s.check_id)
            assert arecord is not None
            assert srecord is not None
            assert _comparable(arecord) == _comparable(srecord)
    assert achecker.journal.verify().ok
    # The personal id went in a request body, never in a URL (as in sync).
    assert not [r for r in fake.requests if PERSON in r[1]]


async def test_must_check_many_matches_the_sync_batch(
    fake: FakePlatform, make_checker: Callable[..., AsyncCreditChecker], tmp_path: Path
) -> None:
    fake.add_entry(ORG, "black", "court_judgment_defaulter")
    subjects = [ORG, CLEAN_ORG, PERSON, ORG]
    achecker = make_checker()
    adecisions = await achecker.must_check_many(subjects, "bidding")
    with CreditChecker(**_settings(fake, tmp_path / "sync")) as schecker:
        sdecisions = schecker.must_check_many(subjects, "bidding")
    assert [d.outcome for d in adecisions] == [d.outcome for d in sdecisions]
    assert [d.subject.id for d in adecisions] == subjects
    assert adecisions[0].outcome is Outcome.RESTRICTION
    assert all(achecker.journal.get(d.check_id) for d in adecisions)
    assert achecker.journal.verify().ok
    assert ("POST", "/v1/profiles:batch") in fake.requests


async def test_bad_input_raises_before_any_request_or_record(
    fake: FakePlatform, checker: AsyncCreditChecker
) -> None:
    # The fixture's warm-up check is uploaded in the background: let it go first, so
    # that only what the bad calls would send is counted.
    assert await checker.flush(timeout=10) == 0
    before, records = len(fake.requests), checker.journal.counts()
    with pytest.raises(InvalidSubjectError):
        await checker.must_check("91442000MA4UJ2KQ5X", "bidding")
    with pytest.raises(UnknownMatterError):
        await checker.must_check(ORG, "no-such-matter")
    with pytest.raises(InvalidSubjectError, match="subject #1"):
        await checker.must_check_many([ORG, "nonsense"], "bidding")
    with pytest.raises(TypeError):
        await checker.must_check(ORG, "bidding", fresh="yes")  # type: ignore[arg-type]
    assert len(fake.requests) == before
    assert checker.journal.counts() == records


async def test_record_action_and_flush_upload_the_check_and_its_action(
    fake: FakePlatform, checker: AsyncCreditChecker
) -> None:
    fake.add_entry(ORG, "black", "court_judgment_defaulter")
    decision = await checker.must_check(ORG, "bidding")
    with pytest.raises(CreditCheckError, match="needs a reason"):
        await checker.record_action(decision.check_id, "overridden")
    action_id = await checker.record_action(decision.check_id, "overridden", reason="法院已撤销")
    assert await checker.flush(timeout=10) == 0
    assert decision.check_id in fake.records
    assert action_id in fake.records
    assert checker.upload_stats()["pending"] == 0
    assert checker.health()["uploads"]["pending"] == 0


# --- faults: as in sync ----------------------------------------------------------------


FAULTS: dict[str, Callable[[FakePlatform], None]] = {
    "503": lambda f: f.fail(503),
    "outage": lambda f: f.outage(),
    "read-timeout": lambda f: f.delay(3.0),
    "drip": lambda f: f.drip(0.3, path="/profile"),
    "reset-mid-body": lambda f: f.reset(),
    "not-json": lambda f: f.malformed("not_json"),
}


@pytest.mark.parametrize("arrange", FAULTS.values(), ids=FAULTS.keys())
async def test_a_platform_fault_gives_review_within_the_budget_and_queues_a_recheck(
    fake: FakePlatform, checker: AsyncCreditChecker, arrange: Callable[[FakePlatform], None]
) -> None:
    fake.add_entry(ORG, "black", "court_judgment_defaulter")
    queued = checker.storage.followups.counts()["pending"]
    arrange(fake)
    decision, elapsed = await timed_check(checker)
    assert_review(checker, decision, elapsed)
    assert checker.storage.followups.counts()["pending"] == queued + 1


async def test_the_budget_holds_for_a_cold_check_whose_catalogue_hangs_too(
    fake: FakePlatform, make_checker: Callable[..., AsyncCreditChecker]
) -> None:
    fake.delay(3.0)  # the catalogue (fetched by a cold install) and the profile
    checker = make_checker()
    decision, elapsed = await timed_check(checker)
    assert_review(checker, decision, elapsed)


async def test_the_platform_coming_back_reverifies_the_degraded_check(
    fake: FakePlatform, checker: AsyncCreditChecker
) -> None:
    fake.add_entry(ORG, "black", "court_judgment_defaulter")
    fake.outage()
    decision, _ = await timed_check(checker)
    assert decision.outcome is Outcome.REVIEW
    fake.outage(False)
    # The background re-check (on the core's thread) would do this in time; hurry it.
    await asyncio.to_thread(checker._core.recheck_pending)
    assert checker.storage.followups.counts()["pending"] == 0
    records = checker.journal.iter_records()
    [recheck] = [r for r in records if r.get("recheck_of") == decision.check_id]
    assert recheck["outcome"] == "restriction"
    assert recheck["source"] == "live"
    assert checker.journal.verify().ok


async def test_a_wrong_secret_is_a_loud_refusal_as_in_sync(
    fake: FakePlatform,
    make_checker: Callable[..., AsyncCreditChecker],
    caplog: pytest.LogCaptureFixture,
) -> None:
    checker = make_checker(app_secret=WRONG, timeout=2.0, breaker_threshold=2)
    caplog.set_level(logging.WARNING)
    for _ in range(3):
        decision = await checker.must_check(ORG, "bidding")
        assert decision.outcome is Outcome.REVIEW
        assert decision.degraded
        assert "credentials" in decision.reasons[0].en
        assert "CREDIT_CHECK_APP_SECRET" in decision.reasons[0].en
    errors = [
        r
        for r in caplog.records
        if r.levelno >= logging.ERROR and r.name.startswith("credit_check_sdk")
    ]
    assert len(errors) == 1, [r.getMessage() for r in errors]
    assert "credentials" in errors[0].getMessage()
    assert WRONG not in caplog.text
    report = checker.health()
    assert report["configuration"]["refused"] == "credentials"
    assert report["configuration"]["status"] == 401
    # Not an outage: every check asked the platform, the breaker stayed closed.
    assert report["breaker"]["state"] == "closed"
    assert len([r for r in fake.requests if r[1].endswith("/profile")]) == 3


# --- what only an event loop shows -----------------------------------------------------


async def _longest_gap(until: asyncio.Event) -> float:
    """The longest the loop kept a 10 ms ticker waiting, until ``until`` is set."""
    longest, last = 0.0, time.monotonic()
    while not until.is_set():
        await asyncio.sleep(0.01)
        now = time.monotonic()
        longest, last = max(longest, now - last), now
    return longest


async def test_a_check_waiting_for_the_platform_does_not_block_the_loop(
    fake: FakePlatform, make_checker: Callable[..., AsyncCreditChecker]
) -> None:
    checker = make_checker(timeout=5.0)
    await checker.must_check(CLEAN_ORG, "bidding")  # the catalogue is fetched
    fake.delay(1.5, path="/profile", times=1)
    done = asyncio.Event()
    ticker = asyncio.create_task(_longest_gap(done))
    decision, elapsed = await timed_check(checker, CLEAN_ORG)
    done.set()
    longest = await ticker
    assert decision.source == "live"
    assert elapsed >= 1.5
    # A loop blocked by the request would have kept the ticker waiting 1.5 s.
    assert longest < 0.75, f"the loop was blocked for {longest:.2f} s"


async def test_fifty_concurrent_checks_are_all_journaled_in_a_valid_chain(
    fake: FakePlatform, checker: AsyncCreditChecker
) -> None:
    fake.add_entry(ORG, "black", "court_judgment_defaulter")
    subjects = [ORG, CLEAN_ORG, PERSON] * 17
    decisions = await asyncio.gather(
        *(checker.must_check(s, "bidding", fresh=True) for s in subjects[:50])
    )
    assert len({d.check_id for d in decisions}) == 50
    assert all(checker.journal.get(d.check_id) is not None for d in decisions)
    assert [d.outcome is Outcome.RESTRICTION for d in decisions] == [
        s == ORG for s in subjects[:50]
    ]
    report = checker.journal.verify()
    assert report.ok
    assert await checker.flush(timeout=10) == 0
    assert {d.check_id for d in decisions} <= set(fake.records)


async def test_a_task_cancelled_while_awaiting_the_platform_writes_nothing(
    fake: FakePlatform, checker: AsyncCreditChecker
) -> None:
    fake.delay(3.0, path="/profile")
    records = sum(checker.journal.counts().values())
    task = asyncio.create_task(checker.must_check(CLEAN_ORG, "bidding", fresh=True))
    await asyncio.sleep(0.3)  # inside the profile request
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert sum(checker.journal.counts().values()) == records
    assert checker.journal.verify().ok
    # The checker is still sound for the next check (no lock left held, breaker closed).
    fake.reset_faults()
    decision = await checker.must_check(CLEAN_ORG, "bidding", fresh=True)
    assert decision.source == "live"
    assert checker.health()["breaker"]["state"] == "closed"


class _Blocking:
    """A plugin that holds the journal's worker thread after the write, until released."""

    def __init__(self) -> None:
        self.entered = threading.Event()
        self.release = threading.Event()

    @hookimpl
    def credit_check_observe_decision(self, decision: Decision) -> None:
        self.entered.set()
        self.release.wait(10)


async def test_a_task_cancelled_during_the_journal_work_completes_its_record(
    fake: FakePlatform, make_checker: Callable[..., AsyncCreditChecker]
) -> None:
    blocking = _Blocking()
    plugins = PluginHost()
    plugins.register(blocking, "blocking")
    checker = make_checker(plugins=plugins)
    fake.outage()  # degraded: the record is followed by a queued re-check
    task = asyncio.create_task(checker.must_check(CLEAN_ORG, "bidding"))
    assert await asyncio.to_thread(blocking.entered.wait, 10)
    task.cancel()
    await asyncio.sleep(0.1)
    assert not task.done()  # the cancellation waits for the worker thread, never abandons it
    blocking.release.set()
    with pytest.raises(asyncio.CancelledError):
        await task
    # The worker thread finished the whole of the check's durable work.
    assert checker.journal.counts()["pending"] == 1
    assert checker.storage.followups.counts()["pending"] == 1
    assert checker.journal.verify().ok


async def test_checks_cancelled_at_any_moment_leave_only_whole_records(
    fake: FakePlatform, checker: AsyncCreditChecker
) -> None:
    fake.delay(0.05, path="/profile")
    before = sum(checker.journal.counts().values())
    tasks = [
        asyncio.create_task(checker.must_check(CLEAN_ORG, "bidding", fresh=True)) for _ in range(30)
    ]
    for i, task in enumerate(tasks):
        await asyncio.sleep(0.003 * (i % 10))
        task.cancel()
    results = await asyncio.gather(*tasks, return_exceptions=True)
    finished = [r for r in results if isinstance(r, Decision)]
    assert all(isinstance(r, (Decision, asyncio.CancelledError)) for r in results)
    # Every finished check is journaled; cancelled ones at most whole (none half).
    assert all(checker.journal.get(d.check_id) for d in finished)
    written = sum(checker.journal.counts().values()) - before
    assert len(finished) <= written <= len(tasks)
    assert checker.journal.verify().ok


async def test_a_closed_checker_refuses_checks(checker: AsyncCreditChecker) -> None:
    await checker.aclose(timeout=1)
    with pytest.raises(CreditCheckError, match="closed"):
        await checker.must_check(ORG, "bidding")
    await checker.aclose()  # twice is fine


async def test_aclose_cuts_a_check_awaiting_the_platform_and_journals_it(
    fake: FakePlatform, make_checker: Callable[..., AsyncCreditChecker]
) -> None:
    checker = make_checker(timeout=10.0)
    await checker.must_check(CLEAN_ORG, "bidding")
    fake.delay(8.0, path="/profile")
    task = asyncio.create_task(checker.must_check(CLEAN_ORG, "bidding", fresh=True))
    await asyncio.sleep(0.2)
    started = time.monotonic()
    await checker.aclose(timeout=1)
    assert time.monotonic() - started < 1.5
    assert task.done()
    decision = task.result()
    assert decision.outcome is Outcome.REVIEW
    assert decision.degraded
    with CreditChecker(**_settings(fake, checker.settings.resolved_data_dir())) as reopened:
        assert reopened.journal.get(decision.check_id) is not None
        assert reopened.journal.verify().ok


class _Recorder:
    """An instrumentation observer that keeps what it hears."""

    def __init__(self) -> None:
        self.events: list[Any] = []

    def attach(self, state: Any) -> None:
        self.state = state

    def check_finished(self, event: Any) -> None:
        self.events.append(event)

    def upload_finished(self, event: Any) -> None:
        pass


async def test_awaited_checks_are_told_to_the_instrumentation(
    fake: FakePlatform, make_checker: Callable[..., AsyncCreditChecker]
) -> None:
    fake.add_entry(ORG, "black", "court_judgment_defaulter")
    recorder = _Recorder()
    checker = make_checker(instrumentation=recorder)
    await checker.must_check(ORG, "bidding")
    await checker.must_check_many([ORG, CLEAN_ORG], "bidding")
    with pytest.raises(UnknownMatterError):
        await checker.must_check(ORG, "no-such-matter")
    kinds = [(e.kind, len(e.checks), e.error) for e in recorder.events]
    assert kinds == [
        ("must_check", 1, None),
        ("must_check_many", 2, None),
        ("must_check", 0, "UnknownMatterError"),
    ]
    assert recorder.events[0].checks[0].outcome == "restriction"
