"""``AsyncCreditChecker``'s calls beyond the checks: the same as ``CreditChecker``'s, awaited.

Every public call of the sync checker is on the async one (a pinned list of the few that
differ by nature); watches, snapshot syncs (and their cancellation), objections,
disclosures, re-checks and the catalogue run the sync checker's own logic, against
FakePlatform served over real HTTP and real SQLite files. Objections and the catalogue go
through the async transport; local work through a worker thread.
"""

from __future__ import annotations

import asyncio
import inspect
import threading
import time
from collections.abc import AsyncIterator, Callable, Iterator
from datetime import date
from pathlib import Path
from typing import Any

import anyio
import pytest

from credit_check_sdk import (
    AsyncCreditChecker,
    CreditChecker,
    CreditCheckError,
    Decision,
    InvalidArgumentError,
    InvalidRequestError,
    InvalidSubjectError,
    Matter,
    Outcome,
)
from credit_check_sdk._transports import Request, Response
from credit_check_sdk._transports.httpx_async import AsyncHttpxTransport
from credit_check_sdk.testing import FakePlatform

pytestmark = pytest.mark.anyio

ORG = "91442000MA4UJ2KQ57"  # black-listed in the fixture
LATE = "91442000MA4UC00019"  # black-listed while watched
CASE = "ZSGC-2026-118"
WAIT = 8.0


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


@pytest.fixture
def fake() -> Iterator[FakePlatform]:
    with FakePlatform(agency_id="zs-fgj") as platform:
        platform.serve()
        yield platform


class RecordingTransport(AsyncHttpxTransport):
    """The real async transport, noting the path of each request it sends."""

    def __init__(self) -> None:
        super().__init__()
        self.paths: list[str] = []

    async def handle_async_request(self, request: Request) -> Response:
        self.paths.append(request.path)
        return await super().handle_async_request(request)


@pytest.fixture
async def make_checker(
    fake: FakePlatform, tmp_path: Path
) -> AsyncIterator[Callable[..., AsyncCreditChecker]]:
    made: list[AsyncCreditChecker] = []

    def make(**settings: Any) -> AsyncCreditChecker:
        options: dict[str, Any] = {
            "timeout": 2.0,
            "cache_ttl": 0,
            "stale_cache_age": 0,
            "sync_interval": 3600,  # passes only when a test asks for them
            "upload_interval": 600,
        }
        options.update(settings)
        checker = fake.async_checker(tmp_path / f"cc{len(made)}", **options)
        made.append(checker)
        return checker

    yield make
    fake.reset_faults()
    for checker in made:
        await checker.aclose(timeout=2)


async def wait_until(predicate: Callable[[], object], timeout: float = WAIT) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError(f"condition not met within {timeout} s")
        await anyio.sleep(0.05)


def _public(obj: object) -> set[str]:
    return {name for name in dir(obj) if not name.startswith("_")}


# --- the same calls -----------------------------------------------------------------------

#: What differs by nature: ``close`` is ``aclose`` on an event loop; ``client`` is the
#: sync client of the background threads (the async one is the checker's own).
ONLY_SYNC = {"close", "client"}
ONLY_ASYNC = {"aclose"}
#: Calls that read local state only (no request, no fsync'd write): not awaited.
NOT_AWAITED = {"health", "upload_stats"}


async def test_every_call_of_the_sync_checker_is_on_the_async_one(
    fake: FakePlatform, make_checker: Callable[..., AsyncCreditChecker], tmp_path: Path
) -> None:
    checker = make_checker()
    with fake.checker(tmp_path / "sync") as sync_checker:
        assert _public(sync_checker) - _public(checker) == ONLY_SYNC
        assert _public(checker) - _public(sync_checker) == ONLY_ASYNC
    awaited = set()
    for name in sorted(_public(checker)):
        attribute = inspect.getattr_static(AsyncCreditChecker, name, None)
        if attribute is None or isinstance(attribute, property) or name in NOT_AWAITED:
            assert not inspect.iscoroutinefunction(attribute), name  # an attribute, or local
            continue
        assert inspect.iscoroutinefunction(attribute), f"{name} is not awaited"
        awaited.add(name)
        sync = inspect.signature(getattr(CreditChecker, "close" if name == "aclose" else name))
        # The same arguments, by the same names, kinds and defaults.
        assert list(inspect.signature(attribute).parameters.values()) == list(
            sync.parameters.values()
        ), name
    assert awaited >= {"watch", "sync_snapshot", "file_objection", "must_check", "aclose"}


async def test_the_properties_are_the_cores(
    make_checker: Callable[..., AsyncCreditChecker],
) -> None:
    checker = make_checker()
    assert checker.data_dir == checker._core.data_dir
    assert checker.data_dir.is_dir()
    assert checker.plugins is checker._core.plugins
    assert checker.catalog is checker._core.catalog


# --- watches and the snapshot ----------------------------------------------------------------


async def test_a_watched_bidder_blacklisted_before_award_is_rechecked(
    fake: FakePlatform, make_checker: Callable[..., AsyncCreditChecker]
) -> None:
    events: list[tuple[str, Outcome | None, Decision]] = []
    checker = make_checker(on_watch=lambda *a: events.append(a))
    first = await checker.sync_snapshot()
    assert first.resynced
    opening = await checker.must_check(LATE, Matter("bidding", case_id=CASE))
    assert opening.outcome is Outcome.NORMAL
    assert await checker.watch(LATE, "bidding", CASE) is None
    assert checker.health()["followups"]["watches"] == 1

    fake.add_entry(LATE, "black", "court_judgment_defaulter")
    progress: list[tuple[int, int | None]] = []
    synced = await checker.sync_snapshot(progress=lambda *a: progress.append(a))
    assert synced.applied == 1
    assert progress
    assert progress[-1] == (1, None)
    await wait_until(lambda: events)
    case_id, previous, decision = events[0]
    assert (case_id, previous) == (CASE, Outcome.NORMAL)
    assert decision.outcome is Outcome.RESTRICTION
    stored = checker.journal.get(decision.check_id)
    assert stored is not None
    assert stored["matter"]["case_id"] == CASE

    assert await checker.unwatch(LATE, CASE) is True
    assert await checker.unwatch(LATE, CASE) is False
    fake.add_entry(LATE, "black", "wage_arrears")
    assert (await checker.sync_snapshot()).applied == 1
    await anyio.sleep(0.2)
    assert len(events) == 1  # no longer watched


async def test_bad_input_to_watch_raises_before_anything_is_kept(
    make_checker: Callable[..., AsyncCreditChecker],
) -> None:
    checker = make_checker()
    with pytest.raises(InvalidSubjectError):
        await checker.watch("91442000MA4UJ2KQ5X", "bidding", CASE)
    with pytest.raises(InvalidArgumentError):
        await checker.watch(LATE, "bidding", "two\nlines")
    assert checker.health()["followups"]["watches"] == 0


async def test_a_cancelled_sync_stops_between_pages_and_the_next_one_completes(
    fake: FakePlatform, make_checker: Callable[..., AsyncCreditChecker]
) -> None:
    fake.add_entry(ORG, "black", "environment")
    checker = make_checker()
    fake.delay(0.6, path="lists/")  # the export, then each page of the feed
    task = asyncio.create_task(checker.sync_snapshot(timeout=5))
    await anyio.sleep(0.2)  # inside the first request
    started = time.monotonic()
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    # The task waited for the worker thread: it ended with the request it was in.
    assert time.monotonic() - started < 3.0
    assert checker.health()["snapshot"]["cursor"] is None  # the rebuild was discarded
    fake.reset_faults()
    done = await checker.sync_snapshot()
    assert done.complete
    assert done.resynced
    assert checker.health()["snapshot"]["cursor"] == done.cursor


async def test_aclose_ends_a_sync_in_progress(
    fake: FakePlatform, make_checker: Callable[..., AsyncCreditChecker]
) -> None:
    checker = make_checker()
    fake.delay(0.5, path="lists/")
    task = asyncio.create_task(checker.sync_snapshot(timeout=5))
    await anyio.sleep(0.2)
    started = time.monotonic()
    await checker.aclose(timeout=2)
    assert time.monotonic() - started < 3.0
    result = await task
    assert not result.complete


async def test_import_snapshot_seeds_it_from_an_export_file(
    fake: FakePlatform, make_checker: Callable[..., AsyncCreditChecker], tmp_path: Path
) -> None:
    fake.add_entry(ORG, "black", "court_judgment_defaulter")
    export = tmp_path / "lists-export.ndjson.gz"
    checker = make_checker()
    with export.open("wb") as f:
        checker._core.client.export_lists(f, timeout=30)  # what a USB stick carries in
    loaded: list[tuple[int, int]] = []
    result = await checker.import_snapshot(export, progress=lambda *a: loaded.append(a))
    assert result.entries == 1
    assert checker.health()["snapshot"]["entries"] == 1
    assert loaded
    assert loaded[-1] == (1, 1)


async def test_recheck_pending_rechecks_a_degraded_decision_live(
    fake: FakePlatform, make_checker: Callable[..., AsyncCreditChecker]
) -> None:
    changed: list[tuple[str, Outcome, Decision]] = []
    checker = make_checker(offline=False, on_recheck_changed=lambda *a: changed.append(a))
    await checker.must_check(LATE, "bidding")  # the catalogue, while the platform is up
    fake.outage()
    degraded = await checker.must_check(ORG, "bidding", fresh=True)
    assert (degraded.outcome, degraded.degraded) == (Outcome.REVIEW, True)
    fake.outage(False)
    fake.add_entry(ORG, "black", "court_judgment_defaulter")
    assert await checker.recheck_pending() == 1
    assert [(c[0], c[2].outcome) for c in changed] == [(degraded.check_id, Outcome.RESTRICTION)]
    with pytest.raises(TypeError):
        await checker.recheck_pending("ten")  # type: ignore[arg-type]


# --- duties: objections and disclosures ----------------------------------------------------


async def test_an_objection_is_filed_and_followed_on_the_async_transport(
    fake: FakePlatform, tmp_path: Path
) -> None:
    entry = fake.add_entry(ORG, "black", "court_judgment_defaulter")
    transport = RecordingTransport()
    async with fake.async_checker(
        tmp_path / "cc", transport=transport, timeout=2.0, cache_ttl=600, upload_interval=600
    ) as checker:
        decision = await checker.must_check(ORG, "bidding")
        assert decision.outcome is Outcome.RESTRICTION

        # Only the objection routes: the first check's background upload may land meanwhile.
        def objection_requests() -> int:
            return sum(1 for _method, path in fake.requests if "/objections" in path)

        asked = objection_requests()
        with pytest.raises(InvalidRequestError, match="not behind check"):
            await checker.file_objection(decision.check_id, "BL-404", "已履行判决", "u123")
        with pytest.raises(InvalidRequestError, match="no check"):
            await checker.file_objection("no-such-check", entry, "已履行判决", "u123")
        with pytest.raises(InvalidArgumentError):
            await checker.file_objection(decision.check_id, entry, "   ", "u123")
        assert objection_requests() == asked  # refused before any request

        objection_id = await checker.file_objection(decision.check_id, entry, "已履行判决", "u123")
        assert transport.paths[-1].endswith("/v1/objections")
        assert fake.objections[objection_id]["check_id"] == decision.check_id
        assert (await checker.objection_status(objection_id))["status"] == "verifying"
        assert transport.paths[-1].endswith(f"/v1/objections/{objection_id}")
        # The cached profile was dropped: the next check sees the punishment suspended.
        suspended = await checker.must_check(ORG, "bidding")
        assert {m.status for m in suspended.measures} == {"suspended"}
        fake.decide_objection(objection_id, "upheld")
        assert (await checker.objection_status(objection_id))["status"] == "upheld"
        # The local bookkeeping the monthly report reads.
        [kept] = checker.storage.objections.select()
        assert (kept["objection_id"], kept["status"]) == (objection_id, "upheld")


async def test_a_disclosure_is_kept_and_posted(
    fake: FakePlatform, make_checker: Callable[..., AsyncCreditChecker]
) -> None:
    checker = make_checker()
    decision = await checker.must_check(ORG, "licensing")
    duty = await checker.disclose(
        "licensing",
        ORG,
        "中市监许〔2026〕1号",
        date.today(),
        "食品经营许可证核发",
        {"scope": "餐饮服务"},
        check_id=decision.check_id,
    )
    assert duty.check_id == decision.check_id
    assert checker.storage.disclosures.get(duty.disclosure_id) is not None
    assert await checker.flush(timeout=10) == 0
    await wait_until(lambda: duty.disclosure_id in fake.disclosures)
    with pytest.raises(InvalidArgumentError):
        await checker.disclose("licensing", ORG, "", date.today(), "t")


async def test_refresh_catalog_asks_on_the_async_transport(
    fake: FakePlatform, tmp_path: Path
) -> None:
    transport = RecordingTransport()
    async with fake.async_checker(tmp_path / "cc", transport=transport) as checker:
        assert await checker.refresh_catalog() is True  # a first catalogue stored
        assert transport.paths == ["/api/v1/catalog"]
        assert await checker.refresh_catalog() is False  # unchanged (304)
        assert transport.paths == ["/api/v1/catalog"] * 2


async def test_a_closed_checker_refuses_every_call(
    make_checker: Callable[..., AsyncCreditChecker], tmp_path: Path
) -> None:
    checker = make_checker()
    await checker.aclose()
    calls = [
        checker.watch(ORG, "bidding", CASE),
        checker.unwatch(ORG, CASE),
        checker.sync_snapshot(),
        checker.import_snapshot(tmp_path / "none.ndjson.gz"),
        checker.recheck_pending(),
        checker.refresh_catalog(),
        checker.file_objection("c", "e", "r", "u"),
        checker.objection_status("OBJ-1"),
        checker.disclose("licensing", ORG, "1", date.today(), "t"),
        checker.record_action("c", "applied"),
    ]
    for call in calls:
        with pytest.raises(CreditCheckError, match="closed"):
            await call


def test_the_worker_thread_is_not_the_event_loops(fake: FakePlatform, tmp_path: Path) -> None:
    # on_watch runs on the thread that synced (here a worker thread), never on the loop.
    threads: list[threading.Thread] = []

    async def main() -> threading.Thread:
        async with fake.async_checker(
            tmp_path / "cc",
            sync_interval=3600,
            on_watch=lambda *a: threads.append(threading.current_thread()),
        ) as checker:
            await checker.sync_snapshot()
            await checker.watch(LATE, "bidding", CASE)
            fake.add_entry(LATE, "black", "environment")
            await checker.sync_snapshot()
            return threading.current_thread()

    loop_thread = asyncio.run(main())
    assert threads
    assert threads[0] is not loop_thread
