"""The sandbox's seed data exercises every rule of contract v2, live and from the snapshot.

The scenario subjects (:data:`credit_check_sandbox.seed.SCENARIO_SUBJECTS`) are
checked through the SDK against the session's sandbox process; each test names
the section of the plan the outcome follows from.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from credit_check_sandbox.process import SandboxProcess
from credit_check_sandbox.seed import SCENARIO_SUBJECTS

from credit_check_sdk import CreditChecker, Decision, Matter, Outcome, Subject

S = {name: scenario.id for name, scenario in SCENARIO_SUBJECTS.items()}


@pytest.fixture
def checker(sandbox: SandboxProcess, tmp_path: Path) -> Iterator[CreditChecker]:
    sandbox.admin("DELETE", "/faults")
    with sandbox.checker(tmp_path / "cc", cache_ttl=0, stale_cache_age=0) as c:
        yield c
    sandbox.admin("DELETE", "/faults")


def statuses(decision: Decision) -> dict[str, str]:
    return {m.id: m.status for m in decision.measures}


def check(checker: CreditChecker, name: str, matter: str) -> Decision:
    scenario = SCENARIO_SUBJECTS[name]
    return checker.must_check(Subject(scenario.id, scenario.kind), Matter(matter))


@pytest.mark.parametrize(
    ("name", "market_entry", "honours"),
    [
        ("entry_barred_legal_rep", Outcome.RESTRICTION, Outcome.RESTRICTION),
        ("honours_barred_manager", Outcome.NORMAL, Outcome.RESTRICTION),
        ("director_not_responsible", Outcome.NORMAL, Outcome.NORMAL),
    ],
)
def test_people_are_reached_through_their_company(
    checker: CreditChecker, name: str, market_entry: Outcome, honours: Outcome
) -> None:
    """§三(二): market entry and honours barred for the people of a seriously dishonest
    company, through the organisation's side of the relation (…_of)."""
    assert check(checker, name, "market_entry").outcome is market_entry
    assert check(checker, name, "honours").outcome is honours
    assert check(checker, name, "bidding").outcome is Outcome.NORMAL


def test_the_companys_profile_lists_its_people_and_theirs_the_company(
    sandbox: SandboxProcess,
) -> None:
    company = sandbox.request("GET", f"/v1/subjects/{S['dishonest_company_people']}/profile")
    roles = {r["role"] for r in company.json()["related"]}
    assert roles == {"legal_representative", "senior_manager", "director"}
    person = sandbox.request(
        "POST", "/v1/profiles:batch", json={"subject_ids": [S["entry_barred_legal_rep"]]}
    ).json()["profiles"][0]
    assert [(r["role"], r["subject"]["id"]) for r in person["related"]] == [
        ("legal_representative_of", S["dishonest_company_people"])
    ]
    assert person["related"][0]["entries"][0]["category"] == "environment"


def test_a_repaired_listing_of_last_year_spoils_the_clean_years(checker: CreditChecker) -> None:
    """§二(二) 连续三年无不良信用记录 (contract v2, rule 2)."""
    decision = check(checker, "repaired_last_year", "licensing")
    assert decision.outcome is Outcome.NORMAL
    assert "I-LIC-GREEN-CLEAN3" not in statuses(decision)


def test_a_withdrawn_listing_does_not(checker: CreditChecker) -> None:
    """§五(三): a listing found wrong is withdrawn and is no adverse record."""
    decision = check(checker, "withdrawn_listing", "licensing")
    assert decision.outcome is Outcome.GREEN_CHANNEL
    assert statuses(decision)["I-LIC-GREEN-CLEAN3"] == "applied"


def test_no_reward_beside_a_punishment_through_the_legal_representative(
    checker: CreditChecker,
) -> None:
    """§三(二), §三(七) beside §二(三) (contract v2, rule 4)."""
    bidding = check(checker, "tax_a_rep_blacklisted", "bidding")
    assert bidding.outcome is Outcome.RESTRICTION
    assert statuses(bidding) == {"P-BID-EXCLUDE": "applied", "I-BID-POINTS": "blocked"}
    subsidy = check(checker, "tax_a_rep_blacklisted", "subsidy")
    assert statuses(subsidy) == {"P-SUB-RESTRICT": "applied", "I-SUB-PRIORITY": "blocked"}


@pytest.mark.parametrize("name", ["outstanding_volunteer", "media_recommended"])
def test_every_integrity_model_source_opens_the_green_channel(
    checker: CreditChecker, name: str
) -> None:
    """§二(一) 诚信典型, §二(二) 绿色通道."""
    assert check(checker, name, "licensing").outcome is Outcome.GREEN_CHANNEL


def test_a_role_the_catalogue_does_not_name_triggers_nothing(
    checker: CreditChecker, sandbox: SandboxProcess
) -> None:
    profile = sandbox.request("GET", f"/v1/subjects/{S['unknown_role']}/profile").json()
    assert [r["role"] for r in profile["related"]] == ["supervisor"]
    decision = check(checker, "unknown_role", "bidding")
    assert decision.source == "live"
    assert decision.outcome is Outcome.NORMAL
    assert decision.measures == ()


@pytest.mark.parametrize(
    ("matter", "measure"),
    [
        ("intermediary", "P-INT-EXCLUDE"),
        ("project_approval", "P-PRJ-RESTRICT"),
        ("concession", "P-CON-EXCLUDE"),
        ("market_entry", "P-ENTRY-BAR"),
    ],
)
def test_every_restricting_matter_restricts_the_judgment_defaulter(
    checker: CreditChecker, matter: str, measure: str
) -> None:
    decision = check(checker, "judgment_defaulter_bidder", matter)
    assert decision.outcome is Outcome.RESTRICTION
    assert statuses(decision)[measure] == "applied"


def test_investment_policy_priority(checker: CreditChecker) -> None:
    decision = check(checker, "tax_grade_a", "investment_policy")
    assert statuses(decision) == {"I-INV-PRIORITY": "applied"}


def test_offline_the_person_is_still_barred_through_the_company(
    sandbox: SandboxProcess, tmp_path: Path
) -> None:
    """The relations travel in the feed (contract v2): the snapshot follows them to a person
    never checked live."""
    sandbox.admin("DELETE", "/faults")
    with sandbox.checker(
        tmp_path / "offline", cache_ttl=0, stale_cache_age=0, breaker_threshold=1
    ) as checker:
        checker.sync_snapshot(timeout=60)
        sandbox.admin("PUT", "/faults", json={"outage": True})
        try:
            decision = check(checker, "entry_barred_legal_rep", "market_entry")
            assert decision.source == "snapshot"
            assert decision.outcome is Outcome.RESTRICTION
            assert statuses(decision) == {"P-ENTRY-BAR": "applied"}
            company = check(checker, "tax_a_rep_blacklisted", "bidding")
            assert company.source == "snapshot"
            assert statuses(company) == {"P-BID-EXCLUDE": "applied", "I-BID-POINTS": "blocked"}
        finally:
            sandbox.admin("DELETE", "/faults")
