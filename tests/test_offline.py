"""The offline mode against real components: FakePlatform over HTTP, real SQLite files.

A check never reports a clean result it could not verify. When the platform
cannot answer, the checker decides from a recently cached profile, then from
the local list snapshot (degraded, no clean-years incentive), else ``review``;
every degraded decision is re-checked live once the platform answers again
(``docs/platform-contract.md``, "When the platform is down").
"""

from __future__ import annotations

import gzip
import json
import logging
import os
import signal
import subprocess
import sys
import textwrap
import threading
import time
from collections.abc import Callable, Iterator
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from stdnum.cn import ric, uscc

from credit_check_sdk import CreditChecker, Decision, Matter, Outcome
from credit_check_sdk._time import now, today
from credit_check_sdk.snapshot import Snapshot
from credit_check_sdk.testing import FakePlatform

TIMEOUT = 1.0
SLACK = 0.5
WAIT = 8.0  # upper bound for background work (re-checks, probes) to happen


def _uscc(n: int) -> str:
    body = f"91442000MA{n:07d}"
    return body + uscc.calc_check_digit(body)


def _ric(stem: str) -> str:
    return stem + ric.calc_check_digit(stem + "0")


BLACK = _uscc(1)  # court judgment defaulter
CLEAN = _uscc(2)  # on no list
MODEL = _uscc(3)  # integrity model (red), records since 2010, no adverse record
LATE = _uscc(4)  # black-listed while the SDK is offline
PERSON = _ric("44010119920304001")  # a natural person, legal representative
assert uscc.is_valid(BLACK)
assert ric.is_valid(PERSON)

PROFILE = "/profile"


# --- fixtures and helpers -------------------------------------------------------------


@pytest.fixture
def fake() -> Iterator[FakePlatform]:
    with FakePlatform(agency_id="zs-fgj") as platform:
        platform.serve()
        platform.add_entry(BLACK, "black", "court_judgment_defaulter")
        platform.add_entry(MODEL, "red", "integrity_model")
        platform.set_record(MODEL, record_since="2010-01-01", last_adverse_on=None)
        platform.set_record(CLEAN, record_since="2012-01-01", last_adverse_on=None)
        yield platform


OpenChecker = Callable[..., CreditChecker]


@pytest.fixture
def open_checker(tmp_path: Path, fake: FakePlatform) -> Iterator[OpenChecker]:
    """Checkers over real HTTP with short timings; closed after the test."""
    made: list[CreditChecker] = []

    def open_(data_dir: Path | None = None, **settings: Any) -> CreditChecker:
        options: dict[str, Any] = {
            "timeout": TIMEOUT,
            "cache_ttl": 0,
            "stale_cache_age": 0,
            "sync_interval": 60,
            "breaker_cooldown": 0.3,
            "upload_interval": 0.5,
        }
        options.update(settings)
        checker = fake.checker(data_dir or tmp_path / "data", http=True, **options)
        made.append(checker)
        return checker

    yield open_
    fake.reset_faults()
    for checker in made:
        checker.close(timeout=1)


def wait_until(predicate: Callable[[], object], timeout: float = WAIT) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError(f"condition not met within {timeout} s")
        time.sleep(0.05)


def timed(checker: CreditChecker, subject: str, matter: Any = "bidding") -> tuple[Decision, float]:
    started = time.monotonic()
    decision = checker.must_check(subject, matter)
    return decision, time.monotonic() - started


def measure_ids(decision: Decision) -> set[str]:
    return {m.id for m in decision.measures}


def profile_requests(fake: FakePlatform) -> int:
    return sum(1 for method, route in list(fake.requests) if route.endswith(PROFILE))


def snapshot_entries(checker: CreditChecker) -> int:
    report = checker.health()["snapshot"]
    assert report is not None
    assert "error" not in report, report
    return int(report["entries"])


def stored(checker: CreditChecker, decision: Decision) -> dict[str, Any]:
    record = checker.journal.get(decision.check_id)
    assert record is not None, "the check is not in the journal"
    return record


def stored_outcome(checker: CreditChecker, decision: Decision) -> str:
    return str(stored(checker, decision)["outcome"])


def records(checker: CreditChecker) -> list[dict[str, Any]]:
    return list(checker.journal.iter_records())


def assert_from_snapshot(checker: CreditChecker, decision: Decision, outcome: Outcome) -> None:
    assert decision.outcome is outcome, decision.reasons
    assert decision.source == "snapshot"
    assert decision.degraded is True
    snapshot = checker.health()["snapshot"]
    assert decision.data_as_of is not None
    assert decision.data_as_of == datetime.fromisoformat(snapshot["as_of"])
    stored = checker.journal.get(decision.check_id)
    assert stored is not None
    assert stored["source"] == "snapshot"
    assert stored["outcome"] == outcome.value
    assert stored["data_as_of"] == decision.data_as_of.isoformat()


# --- deciding from the snapshot ---------------------------------------------------------


def test_outage_decides_from_the_snapshot(fake: FakePlatform, open_checker: OpenChecker) -> None:
    checker = open_checker()
    result = checker.sync_snapshot()
    assert result.resynced
    assert result.applied == 2
    fake.outage()

    black, elapsed = timed(checker, BLACK)
    assert_from_snapshot(checker, black, Outcome.RESTRICTION)
    assert "P-BID-EXCLUDE" in measure_ids(black)
    assert elapsed <= TIMEOUT + SLACK

    clean, elapsed = timed(checker, CLEAN)
    assert_from_snapshot(checker, clean, Outcome.NORMAL)
    assert clean.measures == ()
    assert elapsed <= TIMEOUT + SLACK
    assert checker.journal.verify().ok


def test_snapshot_grants_no_clean_years_incentive(
    fake: FakePlatform, open_checker: OpenChecker
) -> None:
    checker = open_checker()
    live = checker.must_check(MODEL, "licensing")
    assert live.source == "live"
    # Live, the three clean years count: the control for the offline case below.
    assert {"I-LIC-GREEN", "I-LIC-GREEN-CLEAN3", "I-LIC-TOLERANCE-CLEAN3"} <= measure_ids(live)
    checker.sync_snapshot()
    fake.outage()
    offline = checker.must_check(MODEL, "licensing")
    assert_from_snapshot(checker, offline, Outcome.GREEN_CHANNEL)
    ids = measure_ids(offline)
    assert "I-LIC-GREEN" in ids  # the red list is in the snapshot
    assert "I-LIC-GREEN-CLEAN3" not in ids
    assert "I-LIC-TOLERANCE-CLEAN3" not in ids
    # A subject with clean years but on no list gets nothing from the snapshot.
    clean = checker.must_check(CLEAN, "licensing")
    assert_from_snapshot(checker, clean, Outcome.NORMAL)
    assert not any(m.kind == "incentive" for m in clean.measures)


def test_an_entry_expired_by_date_since_the_snapshot_no_longer_counts(
    fake: FakePlatform, open_checker: OpenChecker, monkeypatch: pytest.MonkeyPatch
) -> None:
    subject = _uscc(5)
    fake.add_entry(subject, "black", "wage_arrears", expires_on=today() + timedelta(days=1))
    checker = open_checker()
    checker.sync_snapshot()
    assert checker.must_check(subject, "bidding").outcome is Outcome.RESTRICTION
    fake.outage()
    # Two days later the entry has passed its expires_on; the snapshot still holds it
    # as "active", and the decision must read the date, not the status.
    import credit_check_sdk._checker as checker_module

    monkeypatch.setattr(checker_module, "now", lambda: now() + timedelta(days=2))
    later = checker.must_check(subject, "bidding")
    assert later.source == "snapshot"
    assert later.degraded
    assert later.outcome is Outcome.NORMAL
    assert later.measures == ()
    # ... while an entry without an end date still does.
    assert checker.must_check(BLACK, "bidding").outcome is Outcome.RESTRICTION


class PastFeed(FakePlatform):
    """A platform whose change feed and list export report data as of three days ago."""

    @staticmethod
    def _past() -> str:
        return (now() - timedelta(days=3)).isoformat(timespec="seconds")

    def _exchange(self, *args: Any) -> Any:
        ex = super()._exchange(*args)
        path = args[1]
        if ex.status == 200 and path.endswith("/lists/changes"):
            doc = json.loads(ex.body)
            doc["as_of"] = self._past()
            ex.body = json.dumps(doc).encode()
        elif ex.status == 200 and path.endswith("/lists/export"):
            head, _, rest = gzip.decompress(ex.body).partition(b"\n")
            doc = json.loads(head)
            doc["as_of"] = self._past()
            ex.body = gzip.compress(json.dumps(doc).encode() + b"\n" + rest)
        return ex


def test_a_snapshot_older_than_max_snapshot_age_gives_review(tmp_path: Path) -> None:
    with PastFeed(agency_id="zs-fgj") as old:
        old.serve()
        old.add_entry(BLACK, "black", "court_judgment_defaulter")
        old.add_entry(MODEL, "red", "integrity_model")
        old.set_record(MODEL, record_since="2010-01-01", last_adverse_on=None)
        checker = old.checker(
            tmp_path / "data", http=True, timeout=TIMEOUT, cache_ttl=0, stale_cache_age=0,
            sync_interval=60, max_snapshot_age=24 * 3600,
        )  # fmt: skip
        try:
            checker.sync_snapshot()
            health = checker.health()["snapshot"]
            assert health["entries"] == 2
            assert health["usable"] is False
            assert health["age_seconds"] > 24 * 3600
            old.outage()
            for subject, matter in ((BLACK, "bidding"), (CLEAN, "bidding"), (MODEL, "licensing")):
                decision, elapsed = timed(checker, subject, matter)
                assert decision.outcome is Outcome.REVIEW, (subject, decision.outcome)
                assert decision.source == "none"
                assert decision.degraded is True
                assert decision.data_as_of is None
                assert not any(m.kind == "incentive" for m in decision.measures)
                assert elapsed <= TIMEOUT + SLACK
                assert stored_outcome(checker, decision) == "review"
        finally:
            old.stop()
            checker.close(timeout=1)


def test_a_snapshot_ageing_past_max_snapshot_age_gives_review(
    fake: FakePlatform, open_checker: OpenChecker
) -> None:
    # The fake's as_of has whole seconds: the snapshot is up to a second old at once.
    checker = open_checker(max_snapshot_age=2.0)
    checker.sync_snapshot()
    fake.outage()
    assert checker.must_check(BLACK, "bidding").source == "snapshot"
    wait_until(lambda: checker.health()["snapshot"]["usable"] is False, timeout=3.0)
    decision = checker.must_check(BLACK, "bidding")
    assert decision.outcome is Outcome.REVIEW
    assert decision.source == "none"
    assert checker.health()["snapshot"]["usable"] is False


def test_without_a_snapshot_an_outage_gives_review(
    fake: FakePlatform, open_checker: OpenChecker
) -> None:
    checker = open_checker()
    fake.outage()
    decision = checker.must_check(CLEAN, "bidding")
    assert decision.outcome is Outcome.REVIEW
    assert decision.source == "none"
    assert decision.degraded is True


# --- cache first, agency policy ---------------------------------------------------------


def test_a_recent_cached_profile_answers_before_the_snapshot(
    fake: FakePlatform, open_checker: OpenChecker
) -> None:
    checker = open_checker(cache_ttl=0.2, stale_cache_age=3600)
    checker.sync_snapshot()
    live = checker.must_check(MODEL, "licensing")
    assert live.source == "live"
    assert "I-LIC-GREEN-CLEAN3" in measure_ids(live)
    time.sleep(0.3)  # past the ttl: no longer fresh, still kept
    fake.outage()
    stale, elapsed = timed(checker, MODEL, "licensing")
    assert stale.source == "cache"
    assert stale.degraded is True
    assert stale.outcome is Outcome.GREEN_CHANNEL
    # The cached profile holds the adverse-record history: clean years still count.
    assert "I-LIC-GREEN-CLEAN3" in measure_ids(stale)
    assert stale.data_as_of == live.data_as_of
    assert elapsed <= TIMEOUT + SLACK
    assert stored(checker, stale)["source"] == "cache"
    # A subject never cached falls through to the snapshot.
    assert checker.must_check(BLACK, "bidding").source == "snapshot"


def test_degraded_policy_review_for_bidding_only(
    fake: FakePlatform, open_checker: OpenChecker
) -> None:
    checker = open_checker(degraded_policy={"bidding": "review"})
    checker.sync_snapshot()
    assert checker.must_check(CLEAN, "bidding").outcome is Outcome.NORMAL  # live: unaffected
    fake.outage()
    bidding = checker.must_check(CLEAN, "bidding")
    assert bidding.outcome is Outcome.REVIEW
    assert bidding.source == "snapshot"
    assert bidding.degraded
    assert any("bidding" in r.en for r in bidding.reasons)
    licensing = checker.must_check(MODEL, "licensing")
    assert licensing.outcome is Outcome.GREEN_CHANNEL
    assert licensing.source == "snapshot"
    assert licensing.degraded
    assert stored(checker, bidding)["outcome"] == "review"


# --- re-checks after recovery -------------------------------------------------------------


def test_blacklisted_while_offline_is_rechecked_after_recovery(
    fake: FakePlatform, open_checker: OpenChecker
) -> None:
    changed: list[tuple[str, Outcome, Decision]] = []
    checker = open_checker(sync_interval=0.3, on_recheck_changed=lambda *a: changed.append(a))
    checker.sync_snapshot()
    fake.outage()
    degraded = checker.must_check(LATE, "bidding")
    assert degraded.outcome is Outcome.NORMAL
    assert degraded.source == "snapshot"
    assert checker.health()["followups"]["pending"] == 1
    fake.add_entry(LATE, "black", "wage_arrears")
    fake.outage(False)

    wait_until(lambda: changed)
    original_id, original_outcome, decision = changed[0]
    assert original_id == degraded.check_id
    assert original_outcome is Outcome.NORMAL
    assert decision.outcome is Outcome.RESTRICTION
    assert decision.recheck_of == degraded.check_id
    assert decision.source == "live"
    assert decision.degraded is False
    rechecks = [r for r in records(checker) if r.get("recheck_of") == degraded.check_id]
    assert len(rechecks) == 1
    assert rechecks[0]["id"] == decision.check_id
    assert rechecks[0]["outcome"] == "restriction"
    assert rechecks[0]["source"] == "live"
    followups = checker.health()["followups"]
    assert followups["pending"] == 0
    assert followups["reverified"] == 1
    assert followups["changed"] == 1
    assert len(changed) == 1
    assert checker.journal.verify().ok


def test_an_unchanged_recheck_is_counted_but_not_reported(
    fake: FakePlatform, open_checker: OpenChecker
) -> None:
    changed: list[Any] = []
    checker = open_checker(on_recheck_changed=lambda *a: changed.append(a))
    checker.sync_snapshot()
    fake.outage()
    degraded = checker.must_check(BLACK, "bidding")
    assert degraded.source == "snapshot"
    fake.outage(False)
    wait_until(lambda: checker.health()["breaker"]["state"] == "closed")
    checker.recheck_pending()
    assert checker.health()["followups"] == {
        "pending": 0, "reverified": 1, "changed": 0, "watches": 0
    }  # fmt: skip
    assert changed == []
    assert [r["outcome"] for r in records(checker) if r.get("recheck_of")] == ["restriction"]


def test_the_recheck_queue_survives_a_restart(
    fake: FakePlatform, open_checker: OpenChecker, tmp_path: Path
) -> None:
    data_dir = tmp_path / "restart"
    first = open_checker(data_dir)
    first.sync_snapshot()
    fake.outage()
    degraded = first.must_check(LATE, "bidding")
    assert degraded.source == "snapshot"
    assert degraded.outcome is Outcome.NORMAL
    first.close(timeout=1)  # still offline

    fake.add_entry(LATE, "black", "wage_arrears")
    changed: list[tuple[str, Outcome, Decision]] = []
    second = open_checker(
        data_dir, sync_interval=0.3, on_recheck_changed=lambda *a: changed.append(a)
    )
    assert second.health()["followups"]["pending"] == 1
    fake.outage(False)
    # The restarted application makes a check of its own, which starts the background work.
    assert second.must_check(CLEAN, "bidding").source == "live"
    wait_until(lambda: changed)
    assert changed[0][0] == degraded.check_id
    assert changed[0][2].outcome is Outcome.RESTRICTION
    assert second.health()["followups"]["pending"] == 0
    assert [r["recheck_of"] for r in records(second) if r.get("recheck_of")] == [degraded.check_id]
    assert second.journal.verify().ok


def test_a_lost_recheck_queue_is_rebuilt_from_the_journal(
    fake: FakePlatform, open_checker: OpenChecker, tmp_path: Path
) -> None:
    # The journal is the record of truth: should the queue file be lost (or a crash
    # fall between the journal write and the queue write), the re-check still happens.
    data_dir = tmp_path / "lost-queue"
    first = open_checker(data_dir)
    first.sync_snapshot()
    fake.outage()
    degraded = first.must_check(LATE, "bidding")
    live_before = first.must_check(CLEAN, "bidding")  # from the snapshot too: degraded
    first.close(timeout=1)
    for leftover in data_dir.glob("followups.sqlite3*"):
        leftover.unlink()
    fake.outage(False)
    fake.add_entry(LATE, "black", "wage_arrears")
    changed: list[tuple[str, Outcome, Decision]] = []
    second = open_checker(data_dir, on_recheck_changed=lambda *a: changed.append(a))
    second.recheck_pending()  # the background thread may be at it already: either way,
    wait_until(lambda: second.health()["followups"]["pending"] == 0)
    assert [c[0] for c in changed] == [degraded.check_id]  # re-checked once, not twice
    rechecked = {r["recheck_of"] for r in records(second) if r.get("recheck_of")}
    assert rechecked == {degraded.check_id, live_before.check_id}
    # Once re-checked, nothing is queued again at the next start.
    second.close(timeout=1)
    third = open_checker(data_dir)
    assert third.health()["followups"]["pending"] == 0


def test_a_restarted_checker_rechecks_without_being_asked_to_check(
    fake: FakePlatform, open_checker: OpenChecker, tmp_path: Path
) -> None:
    data_dir = tmp_path / "restart"
    first = open_checker(data_dir)
    first.sync_snapshot()
    fake.outage()
    degraded = first.must_check(LATE, "bidding")
    first.close(timeout=1)
    fake.add_entry(LATE, "black", "wage_arrears")
    changed: list[Any] = []
    open_checker(data_dir, sync_interval=0.3, on_recheck_changed=lambda *a: changed.append(a))
    fake.outage(False)
    # An approval system restarted at night makes no check until the morning; the
    # re-check queued before the restart must not wait for it.
    wait_until(lambda: changed, timeout=3.0)
    assert changed[0][0] == degraded.check_id


# --- watches ------------------------------------------------------------------------------


def test_a_watched_bidder_blacklisted_before_award_is_rechecked(
    fake: FakePlatform, open_checker: OpenChecker
) -> None:
    events: list[tuple[str, Outcome | None, Decision]] = []
    checker = open_checker(on_watch=lambda *a: events.append(a))
    checker.sync_snapshot()
    opening = checker.must_check(LATE, "bidding")
    assert opening.outcome is Outcome.NORMAL
    checker.watch(LATE, "bidding", "ZSGC-2026-118")
    assert checker.health()["followups"]["watches"] == 1

    entry_id = fake.add_entry(LATE, "black", "court_judgment_defaulter")
    assert checker.sync_snapshot().applied == 1
    wait_until(lambda: events)
    case_id, previous, decision = events[0]
    assert case_id == "ZSGC-2026-118"
    assert previous in (None, Outcome.NORMAL)
    assert decision.outcome is Outcome.RESTRICTION
    assert decision.source == "live"
    assert "P-BID-EXCLUDE" in measure_ids(decision)
    stored = checker.journal.get(decision.check_id)
    assert stored is not None
    assert stored["outcome"] == "restriction"

    # A second change (credit repair) reports the previous outcome of the watch.
    fake.set_entry_status(entry_id, "repaired")
    checker.sync_snapshot()
    wait_until(lambda: len(events) == 2)
    assert events[1][1] is Outcome.RESTRICTION
    assert events[1][2].outcome is Outcome.NORMAL

    assert checker.unwatch(LATE, "ZSGC-2026-118") is True
    fake.add_entry(LATE, "black", "wage_arrears")
    checker.sync_snapshot()
    time.sleep(0.2)
    assert len(events) == 2


def test_a_watch_set_after_a_check_of_the_case_reports_its_outcome_as_previous(
    fake: FakePlatform, open_checker: OpenChecker
) -> None:
    events: list[tuple[str, Outcome | None, Decision]] = []
    checker = open_checker(on_watch=lambda *a: events.append(a))
    checker.sync_snapshot()
    case = "ZSGC-2026-130"
    # Another case of the same bidder, and the same case of another bidder: not this one.
    checker.must_check(LATE, Matter("bidding", case_id="ZSGC-2026-131"))
    opening = checker.must_check(LATE, Matter("bidding", case_id=case))
    checker.must_check(CLEAN, Matter("bidding", case_id=case))
    assert opening.outcome is Outcome.NORMAL
    checker.watch(LATE, "bidding", case)
    (watch,) = [w for w in checker._offline.followups.watches() if w.case_id == case]
    assert (watch.last_check_id, watch.last_outcome) == (opening.check_id, "normal")

    fake.add_entry(LATE, "black", "court_judgment_defaulter")
    assert checker.sync_snapshot().applied == 1
    wait_until(lambda: events)
    case_id, previous, decision = events[0]
    assert case_id == case
    assert previous is Outcome.NORMAL
    assert decision.outcome is Outcome.RESTRICTION
    # The re-check is journaled under the case: watching again keeps it as the last check.
    recheck = checker.journal.get(decision.check_id)
    assert recheck is not None
    assert recheck["matter"]["case_id"] == case
    assert checker.journal.latest_check_for_case(LATE, case) == recheck
    checker.watch(LATE, "bidding", case)
    (watch,) = [w for w in checker._offline.followups.watches() if w.case_id == case]
    assert (watch.last_check_id, watch.last_outcome) == (decision.check_id, "restriction")


def test_a_watch_without_an_earlier_check_of_the_case_has_no_previous(
    fake: FakePlatform, open_checker: OpenChecker
) -> None:
    events: list[tuple[str, Outcome | None, Decision]] = []
    checker = open_checker(on_watch=lambda *a: events.append(a))
    checker.sync_snapshot()
    checker.must_check(LATE, Matter("bidding", case_id="ZSGC-2026-133"))  # another case
    checker.watch(LATE, "bidding", "ZSGC-2026-132")
    fake.add_entry(LATE, "black", "court_judgment_defaulter")
    checker.sync_snapshot()
    wait_until(lambda: events)
    assert events[0][0] == "ZSGC-2026-132"
    assert events[0][1] is None
    assert events[0][2].outcome is Outcome.RESTRICTION


def test_a_watch_survives_a_restart(
    fake: FakePlatform, open_checker: OpenChecker, tmp_path: Path
) -> None:
    data_dir = tmp_path / "restart"
    first = open_checker(data_dir)
    first.sync_snapshot()
    first.watch(LATE, "bidding", "ZSGC-2026-119")
    first.close(timeout=1)

    events: list[tuple[str, Outcome | None, Decision]] = []
    second = open_checker(data_dir, on_watch=lambda *a: events.append(a))
    assert second.health()["followups"]["watches"] == 1
    fake.add_entry(LATE, "black", "court_judgment_defaulter")
    second.sync_snapshot()
    wait_until(lambda: events)
    assert events[0][0] == "ZSGC-2026-119"
    assert events[0][2].outcome is Outcome.RESTRICTION


def test_a_change_to_the_watched_companys_legal_representative_fires(
    fake: FakePlatform, open_checker: OpenChecker
) -> None:
    company = _uscc(6)
    fake.relate(company, PERSON, "legal_representative")
    events: list[tuple[str, Outcome | None, Decision]] = []
    checker = open_checker(stale_cache_age=3600, on_watch=lambda *a: events.append(a))
    checker.sync_snapshot()
    live = checker.must_check(company, "bidding")  # learns the relation
    assert live.outcome is Outcome.NORMAL
    checker.watch(company, "bidding", "ZSGC-2026-120")

    fake.add_entry(PERSON, "black", "wage_arrears")
    checker.sync_snapshot()
    wait_until(lambda: events)
    case_id, _previous, decision = events[0]
    assert case_id == "ZSGC-2026-120"
    assert decision.subject.id == company
    assert decision.outcome is Outcome.RESTRICTION
    assert "P-BID-EXCLUDE" in measure_ids(decision)


def test_the_relation_is_learnt_from_a_live_check_with_the_cache_off(
    fake: FakePlatform, open_checker: OpenChecker
) -> None:
    company = _uscc(7)
    fake.relate(company, PERSON, "legal_representative")
    events: list[tuple[str, Outcome | None, Decision]] = []
    checker = open_checker(on_watch=lambda *a: events.append(a))  # cache_ttl=0, no stale cache
    checker.sync_snapshot()
    checker.watch(company, "bidding", "ZSGC-2026-121")
    assert checker.must_check(company, "bidding").source == "live"
    fake.add_entry(PERSON, "black", "wage_arrears")
    checker.sync_snapshot()
    wait_until(lambda: events, timeout=2.0)
    assert events[0][2].outcome is Outcome.RESTRICTION


# --- relations learnt from live profiles -------------------------------------------------


def _text(decision: Decision) -> str:
    return "\n".join(f"{r.zh}\n{r.en}" for r in decision.reasons)


UNKNOWN_RELATIONS = "The snapshot holds no adverse records and no related persons"
LEARNT = "relations as learnt from the platform on"


def test_a_learnt_legal_representative_restricts_a_subsidy_offline(
    fake: FakePlatform, open_checker: OpenChecker, caplog: pytest.LogCaptureFixture
) -> None:
    fake.feed_relations = False  # a platform of contract v1: relations from live checks only
    caplog.set_level(logging.DEBUG, logger="credit_check_sdk")
    company, stranger = _uscc(8), _uscc(9)
    person = _ric("44010119850607002")
    fake.add_entry(person, "black", "court_judgment_defaulter")
    fake.relate(company, person, "legal_representative")
    fake.relate(stranger, person, "legal_representative")  # never checked live
    checker = open_checker()
    checker.sync_snapshot()
    live = checker.must_check(company, "subsidy")
    assert live.source == "live"
    assert live.outcome is Outcome.RESTRICTION
    assert checker.health()["relations"]["subjects"] == 1
    fake.outage()

    offline = checker.must_check(company, "subsidy")
    assert_from_snapshot(checker, offline, Outcome.RESTRICTION)
    assert "P-SUB-RESTRICT" in measure_ids(offline)
    text = _text(offline)
    assert f"{LEARNT} {today().isoformat()}" in text
    assert "legal representative 4401**********" in text
    assert UNKNOWN_RELATIONS not in text
    # The degraded decision is queued for the live re-check, as every other.
    assert checker.health()["followups"]["pending"] == 1
    # The journal keeps what it was decided from: the learnt relation and its date.
    inputs = checker.journal.inputs_for(offline.check_id)
    assert inputs is not None
    assert inputs["profile"]["related"][0]["subject"]["id"] == person
    assert inputs["relations_as_of"]

    # A company whose relations the SDK never learnt is still decided without them.
    unknown = checker.must_check(stranger, "subsidy")
    assert_from_snapshot(checker, unknown, Outcome.NORMAL)
    assert UNKNOWN_RELATIONS in _text(unknown)
    assert LEARNT not in _text(unknown)
    # Natural persons' ids never reach the log or the reasons in full.
    assert person not in caplog.text
    assert person not in text


def test_relations_replaced_by_a_newer_live_profile(
    fake: FakePlatform, open_checker: OpenChecker
) -> None:
    fake.feed_relations = False  # a platform of contract v1: relations from live checks only
    company = _uscc(10)
    person = _ric("44010119850607003")
    fake.add_entry(person, "black", "court_judgment_defaulter")
    fake.relate(company, person, "legal_representative")
    checker = open_checker()
    checker.sync_snapshot()
    assert checker.must_check(company, "subsidy").outcome is Outcome.RESTRICTION
    fake.unrelate(company, person)  # a new legal representative, registered
    assert checker.must_check(company, "subsidy").outcome is Outcome.NORMAL
    fake.outage()

    offline = checker.must_check(company, "subsidy")
    assert_from_snapshot(checker, offline, Outcome.NORMAL)
    assert LEARNT not in _text(offline)
    assert UNKNOWN_RELATIONS in _text(offline)


def test_relations_older_than_max_relation_age_are_not_used(
    fake: FakePlatform, open_checker: OpenChecker, monkeypatch: pytest.MonkeyPatch
) -> None:
    fake.feed_relations = False  # a platform of contract v1: relations from live checks only
    company = _uscc(11)
    person = _ric("44010119850607004")
    fake.add_entry(person, "black", "court_judgment_defaulter")
    fake.relate(company, person, "principal")
    checker = open_checker(max_relation_age=timedelta(days=2))
    checker.sync_snapshot()
    assert checker.must_check(company, "subsidy").outcome is Outcome.RESTRICTION
    fake.outage()
    import credit_check_sdk._relations as relations_module

    # One day later the relation is young enough ...
    monkeypatch.setattr(relations_module, "now", lambda: now() + timedelta(days=1))
    young = checker.must_check(company, "subsidy")
    assert_from_snapshot(checker, young, Outcome.RESTRICTION)
    assert LEARNT in _text(young)
    # ... three days later it is not: decided as if no relation were known.
    monkeypatch.setattr(relations_module, "now", lambda: now() + timedelta(days=3))
    old = checker.must_check(company, "subsidy")
    assert_from_snapshot(checker, old, Outcome.NORMAL)
    assert LEARNT not in _text(old)
    assert UNKNOWN_RELATIONS in _text(old)


def test_relations_survive_a_restart_and_a_snapshot_rebuild(
    fake: FakePlatform, open_checker: OpenChecker, tmp_path: Path
) -> None:
    fake.feed_relations = False  # a platform of contract v1: relations from live checks only
    company = _uscc(12)
    person = _ric("44010119850607005")
    fake.add_entry(person, "black", "court_judgment_defaulter")
    fake.relate(company, person, "legal_representative")
    data_dir = tmp_path / "restart"
    first = open_checker(data_dir)
    first.sync_snapshot()
    assert first.must_check(company, "subsidy").source == "live"
    first.close(timeout=1)

    second = open_checker(data_dir)
    before = second.health()["snapshot"]["path"]
    fake.fail(410, times=1, path="lists/changes")
    assert second.sync_snapshot().resynced is True
    assert second.health()["snapshot"]["path"] != before  # a new snapshot generation
    assert (data_dir / "relations.sqlite3").exists()
    fake.outage()
    offline = second.must_check(company, "subsidy")
    assert_from_snapshot(second, offline, Outcome.RESTRICTION)
    assert LEARNT in _text(offline)


def test_without_the_offline_mode_no_relations_are_kept(
    fake: FakePlatform, open_checker: OpenChecker, tmp_path: Path
) -> None:
    fake.feed_relations = False  # a platform of contract v1: relations from live checks only
    company = _uscc(13)
    fake.relate(company, PERSON, "legal_representative")
    checker = open_checker(tmp_path / "online-only", offline=False)
    assert checker.must_check(company, "subsidy").source == "live"
    assert not (tmp_path / "online-only" / "relations.sqlite3").exists()
    assert checker.health()["relations"] is None


# --- the circuit breaker ----------------------------------------------------------------


def test_the_breaker_opens_answers_fast_and_closes_by_itself(
    fake: FakePlatform, open_checker: OpenChecker, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.WARNING, logger="credit_check_sdk._breaker")
    checker = open_checker(breaker_threshold=3, breaker_cooldown=0.3)
    checker.sync_snapshot()
    fake.outage()
    for _ in range(3):
        decision, elapsed = timed(checker, BLACK)
        assert decision.outcome is Outcome.RESTRICTION
        assert decision.source == "snapshot"
        assert elapsed <= TIMEOUT + SLACK
    assert checker.health()["breaker"]["state"] == "open"

    asked = profile_requests(fake)
    latencies = []
    for i in range(50):
        decision, elapsed = timed(checker, BLACK if i % 2 else CLEAN)
        assert decision.source == "snapshot"
        assert decision.degraded
        latencies.append(elapsed)
    latencies.sort()
    p95 = latencies[int(len(latencies) * 0.95) - 1]
    assert p95 < 0.05, f"p95 {p95 * 1000:.1f} ms while the breaker is open"
    assert profile_requests(fake) == asked, "the open breaker let profile requests through"

    fake.outage(False)
    wait_until(lambda: checker.health()["breaker"]["state"] == "closed", timeout=3.0)
    for _ in range(10):
        assert checker.must_check(BLACK, "bidding").source == "live"
    messages = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert sum("circuit open" in m for m in messages) == 1, messages
    assert sum("circuit closed" in m for m in messages) == 1, messages


# --- the fault matrix -------------------------------------------------------------------

FAULTS: dict[str, Callable[[FakePlatform], None]] = {
    "reset-mid-body": lambda f: f.reset(),
    "read-timeout": lambda f: f.delay(3.0),
    "slow-drip": lambda f: f.drip(0.3),
    "500": lambda f: f.fail(500),
    "502": lambda f: f.fail(502),
    "503": lambda f: f.fail(503),
    "504": lambda f: f.fail(504),
    "429-retry-after": lambda f: f.fail(429, retry_after=5),
    "truncated-json": lambda f: f.malformed("truncated"),
    "not-json": lambda f: f.malformed("not_json"),
    "schema-missing-fields": lambda f: f.malformed("missing_fields"),
    "schema-wrong-types": lambda f: f.malformed("wrong_types"),
}


@pytest.fixture
def synced(fake: FakePlatform, open_checker: OpenChecker) -> CreditChecker:
    checker = open_checker()
    checker.sync_snapshot()
    assert snapshot_entries(checker) == 2
    return checker


def assert_snapshot_decision(checker: CreditChecker, decision: Decision, elapsed: float) -> None:
    assert elapsed <= TIMEOUT + SLACK, f"the check took {elapsed:.2f} s"
    assert_from_snapshot(checker, decision, Outcome.RESTRICTION)
    assert "P-BID-EXCLUDE" in measure_ids(decision)
    assert checker.journal.verify().ok
    assert snapshot_entries(checker) == 2
    assert checker.health()["snapshot"]["usable"] is True


@pytest.mark.parametrize("arrange", FAULTS.values(), ids=FAULTS.keys())
def test_fault_gives_the_snapshot_decision(
    fake: FakePlatform, synced: CreditChecker, arrange: Callable[[FakePlatform], None]
) -> None:
    arrange(fake)
    decision, elapsed = timed(synced, BLACK)
    assert ("GET", f"/v1/subjects/{BLACK}/profile") in fake.requests
    assert_snapshot_decision(synced, decision, elapsed)


def test_connection_refused_gives_the_snapshot_decision(
    fake: FakePlatform, synced: CreditChecker
) -> None:
    url = fake.base_url
    data_dir = synced.data_dir
    synced.close(timeout=1)
    fake.stop()  # nothing listens on the port any more
    checker = CreditChecker(
        base_url=url, app_id=fake.app_id, app_secret=fake.app_secret, agency_id="zs-fgj",
        data_dir=data_dir, allow_insecure_http=True, timeout=TIMEOUT, cache_ttl=0,
        stale_cache_age=0, sync_interval=60,
    )  # fmt: skip
    try:
        decision, elapsed = timed(checker, BLACK)
        assert_snapshot_decision(checker, decision, elapsed)
        assert "ConnectError" in str(checker.health()["breaker"]["last_error"])
    finally:
        checker.close(timeout=1)


def test_a_stopped_fake_refuses_a_checker_that_was_connected(
    fake: FakePlatform, synced: CreditChecker
) -> None:
    fake.stop()
    decision, _elapsed = timed(synced, BLACK)
    assert decision.source == "snapshot"


def test_410_on_the_change_feed_resyncs_cleanly(fake: FakePlatform, synced: CreditChecker) -> None:
    fake.add_entry(LATE, "black", "wage_arrears")
    fake.fail(410, times=1, path="lists/changes")
    result = synced.sync_snapshot()
    assert result.resynced is True
    assert result.complete is True
    assert snapshot_entries(synced) == 3
    assert synced.must_check(BLACK, "bidding").source == "live"
    fake.outage()
    for subject in (BLACK, LATE):
        decision, elapsed = timed(synced, subject)
        assert_from_snapshot(synced, decision, Outcome.RESTRICTION)
        assert elapsed <= TIMEOUT + SLACK
    assert synced.journal.verify().ok


_CRASH_SCRIPT = textwrap.dedent(
    """
    import sys
    from credit_check_sdk import CreditChecker
    base_url, data_dir, subject = sys.argv[1:4]
    checker = CreditChecker(
        base_url=base_url, app_id="test-app", app_secret="test-secret-0123456789",
        agency_id="zs-fgj", data_dir=data_dir, allow_insecure_http=True, timeout=5.0,
        sync_interval=3600, cache_ttl=0, stale_cache_age=0,
    )
    def progress(applied, total):
        # A check while the first page is committed and more are to come (the
        # background pass this starts waits for the sync in progress).
        if applied <= 5000:
            print("checked", checker.must_check(subject, "bidding").outcome.value, flush=True)
        print("applied", applied, flush=True)
    checker.sync_snapshot(timeout=10, progress=progress)
    print("finished", flush=True)
    """
)


@pytest.mark.slow
def test_a_crash_during_sync_then_restart(
    fake: FakePlatform, open_checker: OpenChecker, tmp_path: Path
) -> None:
    data_dir = tmp_path / "crash"
    checker = open_checker(data_dir)
    checker.sync_snapshot()
    assert checker.must_check(BLACK, "bidding").source == "live"
    checker.close(timeout=1)

    for n in range(100, 100 + 15_000):
        fake.add_entry(_uscc(n), "black", "environment")
    fake.delay(0.3, path="lists/changes")  # slow pages: the kill lands mid-feed
    script = tmp_path / "sync.py"
    script.write_text(_CRASH_SCRIPT)
    proc = subprocess.Popen(
        [sys.executable, str(script), fake.base_url, str(data_dir), CLEAN],
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
        env={**os.environ, "PYTHONUNBUFFERED": "1"},
    )
    try:
        assert proc.stdout is not None
        seen = []
        for line in proc.stdout:
            seen.append(line.strip())
            if line.startswith("applied"):
                break
        assert seen[0] == "checked normal", seen
        assert seen[-1].startswith("applied"), seen
        os.kill(proc.pid, signal.SIGKILL)
    finally:
        proc.wait(10)
        if proc.stdout is not None:
            proc.stdout.close()
    assert proc.returncode == -signal.SIGKILL
    fake.reset_faults()

    restarted = open_checker(data_dir)
    assert restarted.journal.verify().ok
    assert len(records(restarted)) == 2  # one check by each process, both kept
    partial = snapshot_entries(restarted)
    assert 2 < partial < 15_002  # some pages committed before the kill, not all
    fake.outage()
    decision, elapsed = timed(restarted, BLACK)
    assert_from_snapshot(restarted, decision, Outcome.RESTRICTION)
    assert elapsed <= TIMEOUT + SLACK
    fake.outage(False)
    result = restarted.sync_snapshot()
    assert result.resynced is False  # resumed from the saved cursor
    assert snapshot_entries(restarted) == 15_002
    with Snapshot(data_dir) as snap:
        assert snap.status().cursor == f"s{15_002}"
    assert restarted.journal.verify().ok


# --- threads and callbacks ----------------------------------------------------------------


def _sdk_threads() -> set[threading.Thread]:
    return {t for t in threading.enumerate() if t.name.startswith("credit-check")}


def test_close_stops_the_background_threads(fake: FakePlatform, open_checker: OpenChecker) -> None:
    before = _sdk_threads()
    checker = open_checker(sync_interval=0.2, breaker_threshold=1)
    checker.sync_snapshot()
    checker.watch(CLEAN, "bidding", "ZSGC-2026-200")
    checker.must_check(BLACK, "bidding")
    fake.outage()
    checker.must_check(CLEAN, "bidding")  # opens the breaker: a probe thread
    started = _sdk_threads() - before
    names = {t.name for t in started}
    assert {"credit-check-snapshot-sync", "credit-check-uploader", "credit-check-probe"} <= names
    t0 = time.monotonic()
    checker.close(timeout=2)
    assert time.monotonic() - t0 <= 2.5
    wait_until(lambda: not any(t.is_alive() for t in started), timeout=2.0)


def test_close_stops_a_sync_in_flight(
    fake: FakePlatform, open_checker: OpenChecker, caplog: pytest.LogCaptureFixture
) -> None:
    # A request cannot be cut off mid-read; close() must still return within its
    # timeout, and the background thread (a daemon) must end cleanly once the hung
    # request comes back: no error logged, no file reopened behind the close.
    caplog.set_level(logging.INFO, logger="credit_check_sdk")
    before = _sdk_threads()
    checker = open_checker(sync_interval=0.2)
    checker.sync_snapshot()
    fake.delay(3.0, path="lists/changes")
    checker.must_check(CLEAN, "bidding")  # starts the background sync, which now hangs
    time.sleep(0.3)
    started = _sdk_threads() - before
    assert any(t.name == "credit-check-snapshot-sync" for t in started)
    assert all(t.daemon for t in started)
    t0 = time.monotonic()
    checker.close(timeout=2)
    assert time.monotonic() - t0 <= 2.5
    wait_until(lambda: not any(t.is_alive() for t in started), timeout=6.0)
    errors = [r for r in caplog.records if r.levelno >= logging.ERROR]
    assert errors == [], [r.getMessage() for r in errors]


def test_a_raising_callback_is_logged_and_isolated(
    fake: FakePlatform, open_checker: OpenChecker, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.ERROR, logger="credit_check_sdk")
    calls: list[str] = []

    def broken_recheck(*_args: Any) -> None:
        calls.append("recheck")
        raise RuntimeError("agency callback bug")

    def broken_watch(*_args: Any) -> None:
        calls.append("watch")
        raise RuntimeError("agency callback bug")

    checker = open_checker(on_recheck_changed=broken_recheck, on_watch=broken_watch)
    checker.sync_snapshot()
    checker.watch(CLEAN, "bidding", "ZSGC-2026-201")
    fake.outage()
    degraded = checker.must_check(LATE, "bidding")
    fake.add_entry(LATE, "black", "wage_arrears")
    fake.add_entry(CLEAN, "black", "wage_arrears")
    fake.outage(False)
    wait_until(lambda: checker.health()["breaker"]["state"] == "closed")
    assert checker.recheck_pending() in (0, 1)  # the background may have done it already
    checker.sync_snapshot()  # touches the watch: on_watch raises in this thread, not here
    wait_until(lambda: {"recheck", "watch"} <= set(calls))
    assert checker.health()["followups"]["changed"] == 1
    assert any(r.get("recheck_of") == degraded.check_id for r in records(checker))
    failures = [r for r in caplog.records if "callback" in r.getMessage()]
    assert len(failures) >= 2
    assert all(r.exc_info is not None for r in failures)
    assert checker.must_check(BLACK, "bidding").outcome is Outcome.RESTRICTION
    assert checker.journal.verify().ok


def test_unchanged_relations_are_not_rewritten_within_the_hour(
    fake: FakePlatform, tmp_path: Path
) -> None:
    from credit_check_sdk._models import Profile
    from credit_check_sdk._relations import RelationStore

    company, person = _uscc(12), _ric("44010119850607005")
    fake.relate(company, person, "legal_representative")
    raw = fake.profile(company)
    first = Profile.model_validate(raw)
    store = RelationStore(tmp_path / "relations.sqlite3")
    assert store.learn([first]) == 1
    # The same relations, from a profile minutes newer: no write (no write lock taken).
    later = Profile.model_validate({**raw, "as_of": (first.as_of + timedelta(minutes=5))})
    assert store.learn([later]) == 0
    known = store.known(company, max_age=86400)
    assert known is not None
    assert known.as_of == first.as_of
    # Two hours newer: written again, so that their age stays close to the truth.
    hours = Profile.model_validate({**raw, "as_of": (first.as_of + timedelta(hours=2))})
    assert store.learn([hours]) == 1
    # Changed relations: written at once.
    fake.unrelate(company, person)
    changed = Profile.model_validate(
        {**fake.profile(company), "as_of": (first.as_of + timedelta(hours=2, minutes=1))}
    )
    assert store.learn([changed]) == 1
    assert store.known(company, max_age=86400) is None  # no relation left
    # A company with no relations and none stored: nothing to write.
    assert store.learn([Profile.model_validate(fake.profile(_uscc(13)))]) == 0
    store.close()


def test_two_checkers_on_one_data_dir_recheck_each_degraded_check_once(
    fake: FakePlatform, open_checker: OpenChecker, tmp_path: Path
) -> None:
    # Two processes of one server, in effect: both come back from the outage at once and
    # both run the re-checks; each degraded decision is re-checked (and journaled) once.
    data_dir = tmp_path / "shared"
    first = open_checker(data_dir, sync_interval=3600)
    first.sync_snapshot()
    fake.outage()
    degraded = {first.must_check(s, "bidding").check_id for s in (BLACK, LATE, CLEAN)}
    second = open_checker(data_dir, sync_interval=3600)
    fake.outage(False)
    for checker in (first, second):
        wait_until(lambda c=checker: c.health()["breaker"]["state"] == "closed")
    done: list[int] = []
    threads = [
        threading.Thread(target=lambda c=c: done.append(c.recheck_pending()))
        for c in (first, second)
    ]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    wait_until(lambda: first.health()["followups"]["pending"] == 0)
    rechecks = [r["recheck_of"] for r in records(first) if r.get("recheck_of")]
    assert sorted(rechecks) == sorted(degraded)  # each once, none twice
    assert sum(done) <= 3
    assert first.journal.verify().ok
