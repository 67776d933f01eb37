"""The SDK against the sandbox platform running as a real process (HTTP, SQLite, FastAPI).

One sandbox process serves the whole module (``seed_size=2000``); each test uses
its own checker and data folder. Scenario subjects have stable ids
(:data:`credit_check_sandbox.seed.SCENARIO_SUBJECTS`).
"""

from __future__ import annotations

import random
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

pytest.importorskip("fastapi")
pytest.importorskip("uvicorn")
pytest.importorskip("sqlalchemy")

from credit_check_sandbox.process import SandboxProcess
from credit_check_sandbox.seed import SCENARIO_SUBJECTS
from stdnum.cn import uscc

from credit_check_sdk import CreditChecker, Decision, Matter, Outcome

pytestmark = pytest.mark.sandbox

APP_ID = "agency-integration"
APP_SECRET = "integration-secret-0123456789"
S = {name: scenario.id for name, scenario in SCENARIO_SUBJECTS.items()}


@pytest.fixture(scope="session")
def sandbox() -> Iterator[SandboxProcess]:
    with SandboxProcess(seed_size=2000, app_id=APP_ID, app_secret=APP_SECRET) as proc:
        yield proc


@pytest.fixture
def faults_cleared(sandbox: SandboxProcess) -> Iterator[SandboxProcess]:
    sandbox.admin("DELETE", "/faults")
    yield sandbox
    sandbox.admin("DELETE", "/faults")


OpenChecker = Callable[..., CreditChecker]


@pytest.fixture
def open_checker(faults_cleared: SandboxProcess, tmp_path: Path) -> Iterator[OpenChecker]:
    made: list[CreditChecker] = []

    def open_(**settings: Any) -> CreditChecker:
        options: dict[str, Any] = {
            "base_url": faults_cleared.base_url,
            "app_id": APP_ID,
            "app_secret": APP_SECRET,
            "agency_id": APP_ID,
            "data_dir": tmp_path / f"cc{len(made)}",
            "allow_insecure_http": True,
            "timeout": 5.0,
            "cache_ttl": 0,
            "stale_cache_age": 0,
            "sync_interval": 60,
            "breaker_cooldown": 0.3,
            "upload_interval": 0.5,
        }
        options.update(settings)
        checker = CreditChecker(**options)
        made.append(checker)
        return checker

    yield open_
    faults_cleared.admin("DELETE", "/faults")
    for checker in made:
        checker.close(timeout=2)


@pytest.fixture
def checker(open_checker: OpenChecker) -> CreditChecker:
    return open_checker()


def new_uscc() -> str:
    alphabet = "0123456789ABCDEFGHJKLMNPQRTUWXY"
    body = "91442000N" + "".join(random.choice(alphabet) for _ in range(8))
    return body + uscc.calc_check_digit(body)


def by_id(decision: Decision) -> dict[str, Any]:
    return {m.id: m for m in decision.measures}


def wait_until(predicate: Callable[[], object], timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError(f"condition not met within {timeout} s")
        time.sleep(0.05)


# --- live checks of the scenario subjects ------------------------------------------------


def test_judgment_defaulter_is_excluded_from_bidding(checker: CreditChecker) -> None:
    d = checker.must_check(S["judgment_defaulter_bidder"], "bidding")
    assert d.outcome is Outcome.RESTRICTION
    assert d.source == "live"
    assert d.degraded is False
    exclude = by_id(d)["P-BID-EXCLUDE"]
    assert exclude.status == "applied"
    assert exclude.mandatory
    assert exclude.entry_ids


def test_tax_grade_a_gets_bonus_points(checker: CreditChecker) -> None:
    d = checker.must_check(S["tax_grade_a"], "bidding")
    assert d.outcome is Outcome.NORMAL
    points = by_id(d)["I-BID-POINTS"]
    assert points.effect == "bonus_points"
    assert points.points == 2.0
    assert not any(m.kind == "punishment" for m in d.measures)


def test_integrity_model_tolerance_and_green_channel(checker: CreditChecker) -> None:
    subject = S["integrity_model_clean"]
    with_commitment = Matter("licensing", missing_documents=["场地证明"], commitment=True)
    d = checker.must_check(subject, with_commitment)
    assert d.outcome is Outcome.TOLERANCE
    assert {"I-LIC-TOLERANCE", "I-LIC-TOLERANCE-CLEAN3"} <= set(by_id(d))
    without = checker.must_check(subject, "licensing")
    assert without.outcome is Outcome.GREEN_CHANNEL
    assert {"I-LIC-GREEN", "I-LIC-GREEN-CLEAN3"} <= set(by_id(without))
    no_commitment = checker.must_check(subject, Matter("licensing", missing_documents=["场地证明"]))
    assert no_commitment.outcome is Outcome.GREEN_CHANNEL


def test_legal_representative_blacklisted_restricts_the_subsidy(checker: CreditChecker) -> None:
    d = checker.must_check(S["legal_rep_blacklisted"], "subsidy")
    assert d.outcome is Outcome.RESTRICTION
    restrict = by_id(d)["P-SUB-RESTRICT"]
    assert restrict.status == "applied"
    assert restrict.entry_ids
    # The entry behind it is the legal representative's, not the company's.
    person = checker.must_check(S["legal_rep_wage_arrears"], "subsidy")
    assert set(restrict.entry_ids) <= set(by_id(person)["P-SUB-RESTRICT"].entry_ids)


def test_a_pending_objection_suspends_the_punishment(checker: CreditChecker) -> None:
    d = checker.must_check(S["objection_pending"], "bidding")
    assert by_id(d)["P-BID-EXCLUDE"].status == "suspended"
    assert d.outcome is Outcome.NORMAL
    assert not any(m.kind == "punishment" for m in d.applied)


@pytest.mark.parametrize("name", ["repaired", "expired"])
def test_repaired_and_expired_entries_do_not_punish(checker: CreditChecker, name: str) -> None:
    for matter in ("bidding", "licensing", "subsidy"):
        d = checker.must_check(S[name], matter)
        assert d.outcome is not Outcome.RESTRICTION, (name, matter)
        assert not any(m.kind == "punishment" for m in d.measures), (name, matter)


def test_black_overrides_red(checker: CreditChecker) -> None:
    d = checker.must_check(S["red_and_black"], "licensing")
    assert d.outcome is Outcome.RESTRICTION
    assert not any(m.kind == "incentive" for m in d.applied)
    bidding = checker.must_check(S["red_and_black"], "bidding")
    # Listed, but blocked (contract v2, rule 4): never restricted and rewarded at once.
    assert by_id(bidding)["I-BID-POINTS"].status == "blocked"
    assert bidding.outcome is Outcome.RESTRICTION


def test_unknown_subject_is_normal_without_clean_years(checker: CreditChecker) -> None:
    for matter in ("licensing", "bidding"):
        d = checker.must_check(S["unknown_subject"], matter)
        assert d.outcome is Outcome.NORMAL
        assert d.source == "live"
        assert d.measures == ()


# --- many at once, uploads ------------------------------------------------------------


def seeded_subjects(sandbox: SandboxProcess, count: int) -> list[str]:
    """Subjects of the seed, from the change feed, in feed order."""
    ids: list[str] = []
    cursor = None
    while len(ids) < count:
        params = {"limit": "5000", **({"cursor": cursor} if cursor else {})}
        page = sandbox.request("GET", "/v1/lists/changes", params=params).json()
        for change in page["changes"]:
            if "entry" not in change:  # a relation change (contract v2)
                continue
            sid = change["entry"]["subject_id"]
            if sid not in ids:
                ids.append(sid)
        if not page["has_more"]:
            break
        cursor = page["next_cursor"]
    assert len(ids) >= count, f"the seed lists only {len(ids)} subjects"
    return ids[:count]


def test_must_check_many_and_each_record_uploaded_once(
    faults_cleared: SandboxProcess, checker: CreditChecker
) -> None:
    subjects = seeded_subjects(faults_cleared, 450)
    decisions = checker.must_check_many(subjects, "bidding")
    assert [d.subject.id for d in decisions] == subjects
    assert all(d.source == "live" and not d.degraded for d in decisions)
    assert len({d.check_id for d in decisions}) == 450
    outcomes = {d.outcome for d in decisions}
    assert Outcome.RESTRICTION in outcomes
    assert Outcome.NORMAL in outcomes
    # One at a time gives the same answers.
    for d in decisions[::45]:
        assert checker.must_check(d.subject.id, "bidding").outcome is d.outcome
    assert checker.journal.verify().ok

    assert checker.flush(timeout=30) == 0
    ours = {r["id"] for r in checker.journal.iter_records()}
    assert len(ours) == 460
    uploaded = faults_cleared.admin("GET", f"/records?agency_id={APP_ID}&limit=100000")
    ids = [r["id"] for r in uploaded if r["id"] in ours]
    assert len(ids) == len(ours)
    assert len(set(ids)) == len(ids)
    assert checker.upload_stats()["accepted"] == 460


# --- objections ---------------------------------------------------------------------


def test_an_objection_suspends_and_its_rejection_restores(
    faults_cleared: SandboxProcess, checker: CreditChecker
) -> None:
    subject = new_uscc()
    entry = faults_cleared.admin(
        "POST",
        "/entries",
        json={"subject_id": subject, "list": "black", "category": "court_judgment_defaulter"},
    )
    first = checker.must_check(subject, "bidding")
    assert first.outcome is Outcome.RESTRICTION
    assert entry["entry_id"] in by_id(first)["P-BID-EXCLUDE"].entry_ids

    objection_id = checker.file_objection(
        first.check_id, entry["entry_id"], "判决已履行完毕", submitted_by="counter-07"
    )
    assert checker.objection_status(objection_id)["status"] == "verifying"
    during = checker.must_check(subject, "bidding")
    assert by_id(during)["P-BID-EXCLUDE"].status == "suspended"
    assert during.outcome is not Outcome.RESTRICTION

    faults_cleared.admin("POST", f"/objections/{objection_id}/resolve", json={"status": "rejected"})
    assert checker.objection_status(objection_id)["status"] == "rejected"
    after = checker.must_check(subject, "bidding")
    assert after.outcome is Outcome.RESTRICTION
    assert by_id(after)["P-BID-EXCLUDE"].status == "applied"


# --- offline against the sandbox --------------------------------------------------------


def test_offline_against_the_sandbox(
    faults_cleared: SandboxProcess, open_checker: OpenChecker
) -> None:
    changed: list[tuple[str, Outcome, Decision]] = []
    checker = open_checker(
        timeout=1.0, sync_interval=0.3, on_recheck_changed=lambda *a: changed.append(a)
    )
    result = checker.sync_snapshot()
    assert result.applied > 0
    assert checker.health()["snapshot"]["usable"] is True
    late = new_uscc()
    faults_cleared.admin("POST", "/subjects", json={"id": late, "record_since": "2015-01-01"})

    faults_cleared.admin("PUT", "/faults", json={"outage": True})
    started = time.monotonic()
    black = checker.must_check(S["judgment_defaulter_bidder"], "bidding")
    assert time.monotonic() - started <= 1.5
    assert black.outcome is Outcome.RESTRICTION
    assert black.source == "snapshot"
    assert black.degraded is True
    assert "P-BID-EXCLUDE" in by_id(black)
    clean = checker.must_check(late, "bidding")
    assert clean.outcome is Outcome.NORMAL
    assert clean.source == "snapshot"
    # Listed while the SDK could not see the platform.
    faults_cleared.admin(
        "POST", "/entries", json={"subject_id": late, "list": "black", "category": "wage_arrears"}
    )
    faults_cleared.admin("DELETE", "/faults")

    wait_until(lambda: changed)
    assert changed[0][0] == clean.check_id
    assert changed[0][1] is Outcome.NORMAL
    assert changed[0][2].outcome is Outcome.RESTRICTION
    assert changed[0][2].recheck_of == clean.check_id
    wait_until(lambda: checker.health()["followups"]["pending"] == 0)
    followups = checker.health()["followups"]
    assert followups["reverified"] == 2
    assert followups["changed"] == 1
    assert checker.flush(timeout=30) == 0
    uploaded = faults_cleared.admin("GET", f"/records?agency_id={APP_ID}&limit=100000")
    rechecks = [r for r in uploaded if r.get("recheck_of") == clean.check_id]
    assert len(rechecks) == 1
    assert rechecks[0]["outcome"] == "restriction"
    assert checker.journal.verify().ok
