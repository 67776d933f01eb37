"""The subsidy flow against FakePlatform: rejections, priority, ranking, progress, overrides."""

from __future__ import annotations

from pathlib import Path

import pytest
from stdnum.cn import uscc

from credit_check_flow_subsidy import SubsidyApplication, SubsidyFlow
from credit_check_sdk import CreditChecker, InvalidRequestError
from credit_check_sdk.plugins import PluginHost
from credit_check_sdk.testing import FakePlatform

A = "91442000MA4UJ2KQ57"
B = "91442000MA4UC00019"
C = "91442000MA4UC0002C"
D = "91442000MA4UC0003F"
REP = "442000199001011233"


@pytest.fixture
def flow(credit_checker: CreditChecker) -> SubsidyFlow:
    return SubsidyFlow(credit_checker)


def actions(checker: CreditChecker) -> dict[str, tuple[str, list[str]]]:
    records = list(checker.journal.iter_records())
    subject_of = {r["id"]: r["subject"]["id"] for r in records if r["type"] == "check"}
    return {
        subject_of[r["check_id"]]: (r["action"], r["measure_ids"])
        for r in records
        if r["type"] == "action"
    }


def company(n: int) -> str:
    body = f"91442000MA{n:07d}"
    return body + uscc.calc_check_digit(body)


def test_reject_prioritise_and_rank(
    credit_fake_platform: FakePlatform, flow: SubsidyFlow, credit_checker: CreditChecker
) -> None:
    credit_fake_platform.add_entry(B, "black", "fiscal_funds", entry_id="BL-FF-1")
    credit_fake_platform.add_entry(C, "red", "tax_credit_a", entry_id="RL-TAX-1")
    apps = [
        SubsidyApplication("SQ-1", A, data={"score": 70}),
        SubsidyApplication("SQ-2", B, data={"score": 99}),
        SubsidyApplication("SQ-3", C, data={"score": 60}),
        SubsidyApplication("SQ-4", D, data={"score": 90}),
    ]
    review = flow.review(apps, rank_key=lambda a: -a.data["score"], operator="u1")
    assert [(r.application.application_id, r.status, r.rank) for r in review.ranked] == [
        ("SQ-3", "priority", 1),
        ("SQ-4", "eligible", 2),
        ("SQ-1", "eligible", 3),
    ]
    [rejected] = review.rejected
    assert rejected.application.application_id == "SQ-2"
    assert (rejected.measure_ids, rejected.entry_ids) == (("P-SUB-RESTRICT",), ("BL-FF-1",))
    assert rejected.reasons
    assert rejected.rank is None
    assert review.priority[0].entry_ids == ("RL-TAX-1",)
    assert actions(credit_checker) == {
        A: ("applied", []),
        B: ("applied", ["P-SUB-RESTRICT"]),
        C: ("applied", ["I-SUB-PRIORITY"]),
        D: ("applied", []),
    }


def test_rejected_through_a_blacklisted_legal_representative(
    credit_fake_platform: FakePlatform, flow: SubsidyFlow, credit_checker: CreditChecker
) -> None:
    credit_fake_platform.add_entry(REP, "black", "wage_arrears", entry_id="BL-WA-1")
    review = flow.review([SubsidyApplication("SQ-1", A, legal_representative=REP)])
    [rejected] = review.rejected
    assert rejected.entry_ids == ("BL-WA-1",)
    assert actions(credit_checker)[REP] == ("applied", ["P-SUB-RESTRICT"])
    assert actions(credit_checker)[A] == ("applied", [])


def test_rejected_through_a_related_person_on_the_platform(
    credit_fake_platform: FakePlatform, flow: SubsidyFlow
) -> None:
    credit_fake_platform.relate(A, REP, "principal")
    credit_fake_platform.add_entry(REP, "black", "finance", entry_id="BL-F-1")
    [rejected] = flow.review([SubsidyApplication("SQ-1", A)]).rejected
    assert rejected.entry_ids == ("BL-F-1",)


def test_progress_over_many_applications_in_batches(
    credit_fake_platform: FakePlatform, flow: SubsidyFlow
) -> None:
    apps = [SubsidyApplication(f"SQ-{n}", company(n)) for n in range(250)]
    credit_fake_platform.add_entry(apps[123].applicant.id, "black", "fiscal_funds")
    seen: list[tuple[int, int]] = []
    before = len(credit_fake_platform.requests)
    review = flow.review(apps, progress=lambda done, total: seen.append((done, total)))
    assert seen == [(100, 250), (200, 250), (250, 250)]
    assert sum("profiles:batch" in p for _, p in credit_fake_platform.requests[before:]) == 3
    assert [r.application.application_id for r in review.rejected] == ["SQ-123"]
    assert len(review.ranked) == 249
    assert review.ranked[0].application.application_id == "SQ-0"  # given order by default


def test_the_flow_default_rank_key(
    credit_fake_platform: FakePlatform, credit_checker: CreditChecker
) -> None:
    flow = SubsidyFlow(credit_checker, rank_key=lambda a: a.data["amount"])
    review = flow.review(
        [
            SubsidyApplication("SQ-1", A, data={"amount": 500_000}),
            SubsidyApplication("SQ-2", D, data={"amount": 80_000}),
        ]
    )
    assert [r.application.application_id for r in review.ranked] == ["SQ-2", "SQ-1"]


def test_overrides_need_a_reason(
    credit_fake_platform: FakePlatform, flow: SubsidyFlow, credit_checker: CreditChecker
) -> None:
    credit_fake_platform.add_entry(B, "black", "fiscal_funds")
    apps = [SubsidyApplication("SQ-2", B)]
    with pytest.raises(InvalidRequestError, match="needs a reason"):
        flow.review(apps, overrides={"SQ-2": None})  # type: ignore[dict-item]
    with pytest.raises(InvalidRequestError, match="unknown application"):
        flow.review(apps, overrides={"SQ-9": "x"})
    assert actions(credit_checker) == {}
    review = flow.review(apps, overrides={"SQ-2": "市政府专题会议决定予以支持"})
    assert review.ranked[0].override_reason == "市政府专题会议决定予以支持"
    assert actions(credit_checker)[B] == ("overridden", ["P-SUB-RESTRICT"])


def test_unverifiable_applicants_go_to_review(
    credit_fake_platform: FakePlatform, tmp_path: Path
) -> None:
    credit_fake_platform.outage()
    with credit_fake_platform.checker(tmp_path, timeout=0.5, offline=False) as checker:
        review = SubsidyFlow(checker).review([SubsidyApplication("SQ-1", A)])
        assert [r.application.application_id for r in review.review] == ["SQ-1"]
        assert review.ranked == ()
        assert actions(checker) == {}


def test_bad_input(flow: SubsidyFlow) -> None:
    with pytest.raises(InvalidRequestError, match="unique"):
        flow.review([SubsidyApplication("SQ-1", A), SubsidyApplication("SQ-1", B)])
    with pytest.raises(InvalidRequestError, match="application_id"):
        SubsidyApplication("", A)


def test_found_as_an_installed_flow(credit_checker: CreditChecker) -> None:
    assert isinstance(PluginHost.load().flow("subsidy")(credit_checker), SubsidyFlow)


# -- against the sandbox platform process ---------------------------------------------------


@pytest.mark.sandbox
def test_against_the_sandbox(credit_sandbox_checker: CreditChecker) -> None:
    from credit_check_sandbox.seed import SCENARIO_SUBJECTS as S

    apps = [
        SubsidyApplication("SQ-1", S["clean_no_entries"].id, data={"score": 80}),
        SubsidyApplication("SQ-2", S["legal_rep_blacklisted"].id, data={"score": 99}),
        SubsidyApplication("SQ-3", S["tax_grade_a"].id, data={"score": 50}),
        SubsidyApplication("SQ-4", S["repaired"].id, data={"score": 90}),
        SubsidyApplication("SQ-5", S["judgment_defaulter_bidder"].id, data={"score": 95}),
    ]
    review = SubsidyFlow(credit_sandbox_checker).review(apps, rank_key=lambda a: -a.data["score"])
    assert [r.application.application_id for r in review.ranked] == ["SQ-3", "SQ-4", "SQ-1"]
    assert [r.application.application_id for r in review.rejected] == ["SQ-2", "SQ-5"]
    assert review.priority[0].status == "priority"
    assert len(actions(credit_sandbox_checker)) == 5
    assert credit_sandbox_checker.flush(timeout=10) == 0
