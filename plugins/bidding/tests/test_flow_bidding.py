"""The bidding flow against FakePlatform: exclusions, consortia, legal representatives, award."""

from __future__ import annotations

import io
from pathlib import Path
from typing import Any

import pytest
from rich.console import Console

from credit_check_flow_bidding import Bidder, BiddingFlow, Party, Tender
from credit_check_sdk import CreditChecker, InvalidRequestError
from credit_check_sdk.plugins import PluginHost
from credit_check_sdk.testing import FakePlatform

A = "91442000MA4UJ2KQ57"
B = "91442000MA4UC00019"
C = "91442000MA4UC0002C"
D = "91442000MA4UC0003F"
REP = "442000199001011233"
TENDER = Tender("ZB-2026-001", case_id="ZSGC-2026-118", title="某道路改造工程")


@pytest.fixture
def flow(credit_checker: CreditChecker) -> BiddingFlow:
    return BiddingFlow(credit_checker, max_bonus=3.0)


def actions(checker: CreditChecker) -> dict[str, dict[str, Any]]:
    """Action records by the checked subject's id."""
    records = list(checker.journal.iter_records())
    subject_of = {r["id"]: r["subject"]["id"] for r in records if r["type"] == "check"}
    return {subject_of[r["check_id"]]: r for r in records if r["type"] == "action"}


def test_screening_in_one_batch(credit_fake_platform: FakePlatform, flow: BiddingFlow) -> None:
    credit_fake_platform.add_entry(B, "black", "court_judgment_defaulter", entry_id="BL-CJ-1")
    bids = [
        Bidder.single("B1", A, legal_representative=REP),
        Bidder.single("B2", B),
        Bidder("B3", (Party(C), Party(D)), name="C+D 联合体"),
    ]
    before = len(credit_fake_platform.requests)
    screening = flow.screen(TENDER, bids, operator="u1")
    batches = [p for _, p in credit_fake_platform.requests[before:] if "profiles:batch" in p]
    single = [p for _, p in credit_fake_platform.requests[before:] if p.endswith("/profile")]
    assert (len(batches), single) == (1, [])
    assert [r.bidder.bid_id for r in screening.admitted] == ["B1", "B3"]
    [excluded] = screening.excluded
    assert excluded.bidder.bid_id == "B2"
    [why] = excluded.exclusions
    assert (why.measure_id, why.entry_ids, why.role, why.mandatory) == (
        "P-BID-EXCLUDE", ("BL-CJ-1",), "bidder", True,
    )  # fmt: skip
    assert why.reasons
    assert screening.action_ids


def test_a_consortium_with_one_excluded_member_is_excluded(
    credit_fake_platform: FakePlatform, flow: BiddingFlow, credit_checker: CreditChecker
) -> None:
    credit_fake_platform.add_entry(D, "black", "wage_arrears", entry_id="BL-WA-9")
    credit_fake_platform.add_entry(C, "red", "tax_credit_a")
    screening = flow.screen(TENDER, [Bidder("B3", (Party(C), Party(D)))])
    [result] = screening.excluded
    assert [(e.subject_id, e.role, e.entry_ids) for e in result.exclusions] == [
        (D, "consortium_member", ("BL-WA-9",))
    ]
    assert result.bonus_points == 0.0
    acts = actions(credit_checker)
    assert acts[D]["measure_ids"] == ["P-BID-EXCLUDE"]
    assert acts[C]["measure_ids"] == []  # no bonus for an excluded bid


def test_a_blacklisted_legal_representative_excludes_the_bid(
    credit_fake_platform: FakePlatform, flow: BiddingFlow, credit_checker: CreditChecker
) -> None:
    credit_fake_platform.add_entry(REP, "black", "court_judgment_defaulter", entry_id="BL-P-1")
    screening = flow.screen(TENDER, [Bidder.single("B1", A, legal_representative=REP)])
    [result] = screening.excluded
    [why] = result.exclusions
    assert (why.subject_id, why.party_id, why.role) == (REP, A, "legal_representative")
    assert actions(credit_checker)[REP]["measure_ids"] == ["P-BID-EXCLUDE"]


def test_a_legal_representative_known_to_the_platform(
    credit_fake_platform: FakePlatform, flow: BiddingFlow
) -> None:
    """Not declared in the bid, but related on the platform: the company's own check catches it."""
    credit_fake_platform.relate(A, REP)
    credit_fake_platform.add_entry(REP, "black", "finance", entry_id="BL-P-2")
    [result] = flow.screen(TENDER, [Bidder.single("B1", A)]).excluded
    assert [(e.subject_id, e.entry_ids) for e in result.exclusions] == [(A, ("BL-P-2",))]


def test_strict_review_of_a_principal_does_not_exclude(
    credit_fake_platform: FakePlatform, flow: BiddingFlow, credit_checker: CreditChecker
) -> None:
    credit_fake_platform.relate(A, REP, "principal")
    credit_fake_platform.add_entry(REP, "black", "finance")
    [result] = flow.screen(TENDER, [Bidder.single("B1", A)]).admitted
    assert [e.measure_id for e in result.strict_review] == ["P-BID-PERSONNEL-REVIEW"]
    assert actions(credit_checker)[A]["measure_ids"] == ["P-BID-PERSONNEL-REVIEW"]


def test_bonus_points_capped_and_consortium_takes_the_weakest(
    credit_fake_platform: FakePlatform, credit_checker: CreditChecker
) -> None:
    for subject in (A, C):
        credit_fake_platform.add_entry(subject, "red", "integrity_model")
    screening = BiddingFlow(credit_checker, max_bonus=1.5).screen(
        TENDER, [Bidder.single("B1", A), Bidder("B2", (Party(C), Party(D)))]
    )
    assert [r.bonus_points for r in screening.results] == [1.5, 0.0]
    assert actions(credit_checker)[A]["measure_ids"] == ["I-BID-POINTS"]
    uncapped = BiddingFlow(credit_checker, max_bonus=10).screen(TENDER, [Bidder.single("B1", A)])
    assert uncapped.results[0].bonus_points == 2.0


def test_a_suspended_punishment_does_not_exclude(
    credit_fake_platform: FakePlatform, flow: BiddingFlow
) -> None:
    credit_fake_platform.add_entry(A, "black", "environment", status="objection_pending")
    [result] = flow.screen(TENDER, [Bidder.single("B1", A)]).admitted
    assert result.exclusions == ()


def test_unverifiable_bids_go_to_review(credit_fake_platform: FakePlatform, tmp_path: Path) -> None:
    credit_fake_platform.outage()
    with credit_fake_platform.checker(tmp_path, timeout=0.5, offline=False) as checker:
        screening = BiddingFlow(checker).screen(TENDER, [Bidder.single("B1", A)])
        assert [r.unverified for r in screening.review] == [(A,)]
        assert actions(checker) == {}  # waits for the person's check


def test_the_award_check_catches_a_listing_after_opening(
    credit_fake_platform: FakePlatform, flow: BiddingFlow, credit_checker: CreditChecker
) -> None:
    winner = Bidder("B3", (Party(C, legal_representative=REP), Party(D)))
    assert [r.bidder.bid_id for r in flow.screen(TENDER, [winner]).admitted] == ["B3"]
    assert flow.confirm_award(TENDER, winner).allowed
    credit_fake_platform.add_entry(REP, "black", "court_judgment_defaulter", entry_id="BL-LATE-1")
    award = flow.confirm_award(TENDER, winner, operator="u9")
    assert not award.allowed
    assert award.live
    assert [(e.subject_id, e.entry_ids) for e in award.exclusions] == [(REP, ("BL-LATE-1",))]
    assert award.refusal is not None
    assert "BL-LATE-1" in award.refusal
    last = actions(credit_checker)[REP]
    assert (last["action"], last["measure_ids"], last["operator"]) == (
        "applied", ["P-BID-EXCLUDE"], "u9",
    )  # fmt: skip


def test_overrides_need_a_reason_and_are_journaled(
    credit_fake_platform: FakePlatform, flow: BiddingFlow, credit_checker: CreditChecker
) -> None:
    credit_fake_platform.add_entry(B, "black", "court_judgment_defaulter")
    bids = [Bidder.single("B2", B)]
    with pytest.raises(InvalidRequestError, match="needs a reason"):
        flow.screen(TENDER, bids, overrides={"B2": " "})
    with pytest.raises(InvalidRequestError, match="unknown bid"):
        flow.screen(TENDER, bids, overrides={"B9": "x"})
    assert list(credit_checker.journal.iter_records()) == []
    screening = flow.screen(TENDER, bids, overrides={"B2": "名单信息有误，已提出异议"})
    [result] = screening.admitted
    assert result.override_reason == "名单信息有误，已提出异议"
    act = actions(credit_checker)[B]
    assert (act["action"], act["measure_ids"], act["reason"]) == (
        "overridden", ["P-BID-EXCLUDE"], "名单信息有误，已提出异议",
    )  # fmt: skip


def test_an_overridden_exclusion_earns_no_bonus_points(
    credit_fake_platform: FakePlatform, flow: BiddingFlow, credit_checker: CreditChecker
) -> None:
    """§三(二) beside §二(三): a bidder restricted through its legal representative is not
    also rewarded, even when the exclusion is overridden (contract v2, rule 4)."""
    credit_fake_platform.add_entry(A, "red", "tax_credit_a")
    credit_fake_platform.add_entry(REP, "black", "wage_arrears", entry_id="BL-P-2")
    # The representative as declared in the bid, not (yet) linked on the platform: the
    # bidder's own check grants the points, the representative's check excludes.
    screening = flow.screen(
        TENDER,
        [Bidder.single("B1", A, legal_representative=REP)],
        overrides={"B1": "名单信息有误，已提出异议"},
    )
    [result] = screening.admitted
    assert result.bonus_points == 0.0
    acts = actions(credit_checker)
    assert "I-BID-POINTS" not in acts[A]["measure_ids"]
    assert acts[REP]["action"] == "overridden"
    # Linked on the platform, the bidder's own decision lists the points as blocked.
    credit_fake_platform.relate(A, REP, "legal_representative")
    decision = credit_checker.must_check(A, "bidding")
    assert {m.id: m.status for m in decision.measures}["I-BID-POINTS"] == "blocked"


def test_declining_a_recommended_strict_review_is_not_applied(
    credit_fake_platform: FakePlatform, flow: BiddingFlow, credit_checker: CreditChecker
) -> None:
    credit_fake_platform.relate(A, REP, "responsible_person")
    credit_fake_platform.add_entry(REP, "black", "finance")
    flow.screen(TENDER, [Bidder.single("B1", A)], overrides={"B1": "责任人已离职"})
    assert actions(credit_checker)[A]["action"] == "not_applied"


def test_the_record_prints_and_renders(
    credit_fake_platform: FakePlatform, flow: BiddingFlow
) -> None:
    credit_fake_platform.add_entry(B, "black", "court_judgment_defaulter", entry_id="BL-CJ-1")
    credit_fake_platform.add_entry(A, "red", "tax_credit_a")
    screening = flow.screen(
        TENDER, [Bidder.single("B1", A, name="甲公司"), Bidder.single("B2", B, name="乙公司")]
    )
    text = str(screening)
    assert "ZB-2026-001" in text
    assert "[B1] 甲公司: 通过, 信用加分 2" in text
    assert "[B2] 乙公司: 排除" in text
    assert "P-BID-EXCLUDE 限制参与有关公共资源交易活动 ← BL-CJ-1" in text
    out = io.StringIO()
    Console(file=out, width=160, color_system=None).print(screening)
    table = out.getvalue()
    assert "乙公司" in table
    assert "BL-CJ-1" in table


def test_bad_input_is_refused(flow: BiddingFlow, credit_checker: CreditChecker) -> None:
    with pytest.raises(InvalidRequestError, match="unique"):
        flow.screen(TENDER, [Bidder.single("B1", A), Bidder.single("B1", B)])
    with pytest.raises(InvalidRequestError, match="no party"):
        Bidder("B1", ())
    with pytest.raises(InvalidRequestError, match="max_bonus"):
        BiddingFlow(credit_checker, max_bonus=-1)


def test_found_as_an_installed_flow(credit_checker: CreditChecker) -> None:
    assert isinstance(PluginHost.load().flow("bidding")(credit_checker), BiddingFlow)


# -- against the sandbox platform process ---------------------------------------------------


@pytest.mark.sandbox
def test_against_the_sandbox(credit_sandbox_checker: CreditChecker) -> None:
    from credit_check_sandbox.seed import SCENARIO_SUBJECTS as S

    bids = [
        Bidder.single("B1", S["judgment_defaulter_bidder"].id),
        Bidder.single("B2", S["legal_rep_blacklisted"].id),
        Bidder.single("B3", S["tax_grade_a"].id),
        Bidder("B4", (Party(S["integrity_model_clean"].id), Party(S["objection_pending"].id))),
        Bidder.single("B5", S["clean_no_entries"].id,
                      legal_representative=S["legal_rep_wage_arrears"].id),
    ]  # fmt: skip
    screening = BiddingFlow(credit_sandbox_checker, max_bonus=3).screen(TENDER, bids, operator="u1")
    assert sorted(r.bidder.bid_id for r in screening.excluded) == ["B1", "B2", "B5"]
    assert [(r.bidder.bid_id, r.bonus_points) for r in screening.admitted] == [
        ("B3", 2.0), ("B4", 0.0),
    ]  # fmt: skip
    b5 = screening.result("B5").exclusions
    assert [e.role for e in b5] == ["legal_representative"]
    assert "P-BID-EXCLUDE" in str(screening)
    # Six companies and one declared representative.
    assert len(actions(credit_sandbox_checker)) == 7
    assert credit_sandbox_checker.flush(timeout=10) == 0
