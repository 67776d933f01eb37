"""The licensing flow against FakePlatform: every mode, overrides, commitments, working days."""

from __future__ import annotations

from datetime import date
from pathlib import Path
from typing import Any

import pytest

from credit_check_flow_licensing import (
    Application,
    LicensingFlow,
    Mode,
    add_working_days,
    is_working_day,
)
from credit_check_sdk import CreditChecker, Document, InvalidRequestError, PlatformError
from credit_check_sdk.plugins import PluginHost
from credit_check_sdk.testing import FakePlatform

COMPANY = "91442000MA4UJ2KQ57"
PERSON = "442000199001011233"


@pytest.fixture
def flow(credit_checker: CreditChecker) -> LicensingFlow:
    return LicensingFlow(credit_checker, green_channel_days=5, tolerance_days=10, standard_days=20)


def app(**kw: Any) -> Application:
    args: dict[str, Any] = {
        "applicant": COMPANY,
        "matter_code": "440100-XK-001",
        "case_id": "ZS-XK-2026-0001",
        "submitted": ("申请书", "营业执照"),
    }
    args.update(kw)
    return Application(**args)


def actions(checker: CreditChecker) -> list[dict[str, Any]]:
    return [r for r in checker.journal.iter_records() if r["type"] == "action"]


def clean_three_years(fake: FakePlatform) -> None:
    fake.set_record(COMPANY, record_since="2015-01-01", last_adverse_on=None)


# -- the modes ----------------------------------------------------------------------------


def test_green_channel_for_an_integrity_model(
    credit_fake_platform: FakePlatform, flow: LicensingFlow, credit_checker: CreditChecker
) -> None:
    credit_fake_platform.add_entry(COMPANY, "red", "integrity_model")
    acc = flow.accept(app(), operator="u1", on=date(2026, 9, 28))
    assert (acc.mode, acc.decided_mode, acc.accepted) == (Mode.GREEN_CHANNEL,) * 2 + (True,)
    assert acc.time_limit_days == 5
    assert acc.decide_by == date(2026, 10, 10)  # Sep 29, 30, Oct 8, 9 and Sat 10 (make-up)
    assert acc.commitment is None
    [action] = actions(credit_checker)
    assert action["check_id"] == acc.decision.check_id
    assert (action["action"], action["measure_ids"]) == ("applied", ["I-LIC-GREEN"])
    assert action["operator"] == "u1"
    assert acc.action_id == action["id"]


def test_tolerance_records_the_commitment_with_the_platform(
    credit_fake_platform: FakePlatform, flow: LicensingFlow, credit_checker: CreditChecker
) -> None:
    clean_three_years(credit_fake_platform)
    acc = flow.accept(
        app(missing=("场地证明", "消防验收意见"), commitment_signed=True), on=date(2026, 2, 12)
    )
    assert (acc.mode, acc.accepted) == (Mode.TOLERANCE, True)
    assert acc.time_limit_days == 5  # the clean-years green channel applies too
    commitment = acc.commitment
    assert commitment is not None
    assert commitment.posted
    assert commitment.due_on == date(2026, 3, 4)
    sent = credit_fake_platform.commitments[commitment.commitment_id]
    assert sent["due_on"] == "2026-03-04"
    assert sent["check_id"] == acc.decision.check_id
    assert sent["subject_id"] == COMPANY
    assert sent["documents"] == ["场地证明", "消防验收意见"]
    assert sent["matter"] == {
        "category": "licensing", "code": "440100-XK-001", "case_id": "ZS-XK-2026-0001",
    }  # fmt: skip
    assert flow.commitments("open") == [commitment]
    [action] = actions(credit_checker)
    assert action["action"] == "applied"
    assert sorted(action["measure_ids"]) == ["I-LIC-GREEN-CLEAN3", "I-LIC-TOLERANCE-CLEAN3"]


@pytest.mark.parametrize(
    ("missing", "signed"),
    [((Document("营业执照", statutory=True), Document("场地证明")), True), (("场地证明",), False)],
    ids=["statutory-document-missing", "no-commitment"],
)
def test_no_tolerance_without_its_conditions(
    credit_fake_platform: FakePlatform, flow: LicensingFlow, missing: tuple[Any, ...], signed: bool
) -> None:
    clean_three_years(credit_fake_platform)
    acc = flow.accept(app(missing=missing, commitment_signed=signed))
    assert acc.mode is Mode.GREEN_CHANNEL
    assert not acc.accepted
    assert acc.documents_required == tuple(
        d if isinstance(d, Document) else Document(d) for d in missing
    )
    assert acc.commitment is None
    assert credit_fake_platform.commitments == {}


def test_standard_for_an_unknown_subject(
    flow: LicensingFlow, credit_checker: CreditChecker
) -> None:
    acc = flow.accept(app(), on=date(2026, 2, 12))
    assert (acc.mode, acc.accepted, acc.time_limit_days) == (Mode.STANDARD, True, 20)
    assert acc.decide_by == add_working_days(date(2026, 2, 12), 20).due
    assert acc.makeup_days_known
    assert acc.calendar_note is None
    [action] = actions(credit_checker)
    assert (action["action"], action["measure_ids"]) == ("applied", [])


def test_strict_review_lists_measures_and_reasons(
    credit_fake_platform: FakePlatform, flow: LicensingFlow, credit_checker: CreditChecker
) -> None:
    entry = credit_fake_platform.add_entry(COMPANY, "black", "food_drug", entry_id="BL-FD-1")
    acc = flow.accept(app())
    assert (acc.mode, acc.accepted) == (Mode.STRICT_REVIEW, True)
    assert {m.id for m in acc.measures} == {"P-LIC-STRICT-REVIEW", "P-LIC-PERMIT-CONTROL"}
    assert all(m.entry_ids == (entry,) for m in acc.measures)
    assert acc.reasons
    [action] = actions(credit_checker)
    assert sorted(action["measure_ids"]) == ["P-LIC-PERMIT-CONTROL", "P-LIC-STRICT-REVIEW"]


def test_strict_review_through_the_legal_representative(
    credit_fake_platform: FakePlatform, flow: LicensingFlow
) -> None:
    credit_fake_platform.relate(COMPANY, PERSON, "legal_representative")
    credit_fake_platform.add_entry(PERSON, "black", "wage_arrears", entry_id="BL-WA-1")
    acc = flow.accept(app())
    assert acc.mode is Mode.STRICT_REVIEW
    assert [m.entry_ids for m in acc.measures] == [("BL-WA-1",)]


def test_manual_check_when_nothing_can_be_verified(
    credit_fake_platform: FakePlatform, tmp_path: Path
) -> None:
    credit_fake_platform.outage()
    with credit_fake_platform.checker(tmp_path, timeout=0.5, offline=False) as checker:
        acc = LicensingFlow(checker).accept(app())
        assert (acc.mode, acc.accepted, acc.decide_by) == (Mode.MANUAL_CHECK, False, None)
        assert acc.decision.degraded
        assert [a["action"] for a in actions(checker)] == ["applied"]


# -- overrides ------------------------------------------------------------------------------


@pytest.mark.parametrize("reason", [None, "", "   "])
def test_an_override_needs_a_reason(
    flow: LicensingFlow, credit_checker: CreditChecker, reason: str | None
) -> None:
    with pytest.raises(InvalidRequestError, match="reason"):
        flow.accept(app(), override="green_channel", reason=reason)
    assert list(credit_checker.journal.iter_records()) == []  # refused before checking


def test_overriding_a_mandatory_restriction(
    credit_fake_platform: FakePlatform, flow: LicensingFlow, credit_checker: CreditChecker
) -> None:
    credit_fake_platform.add_entry(COMPANY, "black", "court_judgment_defaulter")
    acc = flow.accept(app(), override=Mode.STANDARD, reason="法院已出具履行完毕证明", operator="u2")
    assert (acc.mode, acc.decided_mode, acc.overridden) == (
        Mode.STANDARD, Mode.STRICT_REVIEW, True,
    )  # fmt: skip
    [action] = actions(credit_checker)
    assert action["action"] == "overridden"
    assert action["measure_ids"] == ["P-LIC-STRICT-REVIEW"]
    assert action["reason"] == "法院已出具履行完毕证明"


def test_declining_a_recommended_incentive_is_not_applied(
    credit_fake_platform: FakePlatform, flow: LicensingFlow, credit_checker: CreditChecker
) -> None:
    credit_fake_platform.add_entry(COMPANY, "red", "integrity_model")
    acc = flow.accept(app(), override="standard", reason="申请人要求按一般程序办理")
    assert acc.action == "not_applied"
    assert acc.time_limit_days == 20
    [action] = actions(credit_checker)
    assert (action["action"], action["measure_ids"]) == ("not_applied", ["I-LIC-GREEN"])


def test_tolerance_by_override_still_refuses_statutory_documents(flow: LicensingFlow) -> None:
    with pytest.raises(InvalidRequestError, match="statutory"):
        flow.accept(
            app(missing=(Document("营业执照", statutory=True),), commitment_signed=True),
            override="tolerance", reason="急需",
        )  # fmt: skip


def test_tolerance_by_override_is_tracked_too(
    flow: LicensingFlow, credit_checker: CreditChecker, credit_fake_platform: FakePlatform
) -> None:
    acc = flow.accept(
        app(missing=("场地证明",), commitment_signed=True),
        override="tolerance", reason="重点项目", on=date(2026, 9, 28),
    )  # fmt: skip
    assert acc.commitment is not None
    assert acc.commitment.due_on == date(2026, 10, 16)
    assert acc.time_limit_days == 20
    assert [(a["action"], a["measure_ids"]) for a in actions(credit_checker)] == [
        ("overridden", [])
    ]


# -- commitments ------------------------------------------------------------------------------


def _tolerant(fake: FakePlatform, flow: LicensingFlow, on: date, case: str = "C-1") -> str:
    clean_three_years(fake)
    acc = flow.accept(app(case_id=case, missing=("场地证明",), commitment_signed=True), on=on)
    assert acc.commitment is not None
    return acc.commitment.commitment_id


def test_resolution_reaches_the_platform(
    credit_fake_platform: FakePlatform, flow: LicensingFlow
) -> None:
    kept = _tolerant(credit_fake_platform, flow, date(2026, 2, 12), "C-1")
    broken = _tolerant(credit_fake_platform, flow, date(2026, 2, 12), "C-2")
    done = flow.resolve(kept, "fulfilled", on=date(2026, 3, 2))
    assert (done.status, done.resolved_on) == ("fulfilled", date(2026, 3, 2))
    assert credit_fake_platform.commitments[kept]["status"] == "fulfilled"
    assert flow.resolve(kept, "fulfilled").status == "fulfilled"  # idempotent
    with pytest.raises(InvalidRequestError, match="fulfilled already"):
        flow.resolve(kept, "breached")
    flow.resolve(broken, "breached", on=date(2026, 3, 5))
    assert credit_fake_platform.commitments[broken]["status"] == "breached"
    # A breach is an adverse record: no more clean-years tolerance.
    assert credit_fake_platform.profile(COMPANY)["last_adverse_on"] == "2026-03-05"
    with pytest.raises(InvalidRequestError, match="one of fulfilled, breached"):
        flow.resolve(kept, "forgotten")
    with pytest.raises(InvalidRequestError, match="no commitment"):
        flow.resolve("nope", "fulfilled")


def test_overdue_lists_open_commitments_past_due(
    credit_fake_platform: FakePlatform, flow: LicensingFlow
) -> None:
    first = _tolerant(credit_fake_platform, flow, date(2026, 2, 12), "C-1")  # due 2026-03-04
    second = _tolerant(credit_fake_platform, flow, date(2026, 9, 28), "C-2")  # due 2026-10-16
    assert flow.overdue(date(2026, 3, 4)) == []
    assert [c.commitment_id for c in flow.overdue(date(2026, 3, 5))] == [first]
    assert [c.commitment_id for c in flow.overdue(date(2026, 10, 17))] == [first, second]
    flow.resolve(first, "fulfilled", on=date(2026, 3, 6))
    assert [c.commitment_id for c in flow.overdue(date(2026, 10, 17))] == [second]


def test_commitments_survive_a_new_flow(
    credit_fake_platform: FakePlatform, flow: LicensingFlow, credit_checker: CreditChecker
) -> None:
    cid = _tolerant(credit_fake_platform, flow, date(2026, 2, 12))
    again = LicensingFlow(credit_checker)
    assert [c.commitment_id for c in again.commitments()] == [cid]
    assert (credit_checker.data_dir / "licensing-commitments.sqlite3").exists()


def test_a_commitment_made_while_the_platform_is_down_is_posted_later(
    credit_fake_platform: FakePlatform, flow: LicensingFlow
) -> None:
    clean_three_years(credit_fake_platform)
    credit_fake_platform.fail(400, path="/v1/commitments")  # not retried: fails at once
    acc = flow.accept(app(missing=("场地证明",), commitment_signed=True))
    assert acc.commitment is not None
    assert not acc.commitment.posted
    assert acc.accepted
    assert credit_fake_platform.commitments == {}
    with pytest.raises(PlatformError):
        flow.resolve(acc.commitment.commitment_id, "fulfilled")
    assert flow.sync() == 1
    credit_fake_platform.reset_faults()
    assert flow.sync() == 0
    assert acc.commitment.commitment_id in credit_fake_platform.commitments
    assert flow.commitments()[0].posted


# -- working days -----------------------------------------------------------------------------


def test_the_installed_calendar_knows_2026() -> None:
    assert not is_working_day(date(2026, 2, 17))  # Spring Festival
    assert is_working_day(date(2026, 2, 14))
    assert is_working_day(date(2026, 2, 28))
    assert not is_working_day(date(2026, 10, 5))  # National Day
    assert is_working_day(date(2026, 9, 20))
    assert is_working_day(date(2026, 10, 10))


@pytest.mark.parametrize(
    ("start", "days", "due"),
    [
        # Fri 13, Sat 14 (make-up), 15-23 off, 24-27, Sat 28 (make-up), Mar 2-4.
        (date(2026, 2, 12), 10, date(2026, 3, 4)),
        # Sep 29-30, Oct 1-7 off, 8, 9, Sat 10 (make-up), 12-16.
        (date(2026, 9, 28), 10, date(2026, 10, 16)),
        (date(2026, 2, 13), 1, date(2026, 2, 14)),
        (date(2026, 2, 14), 1, date(2026, 2, 24)),
        (date(2026, 2, 12), 0, date(2026, 2, 12)),
    ],
)
def test_due_days_count_chinese_working_days(start: date, days: int, due: date) -> None:
    deadline = add_working_days(start, days)
    assert (deadline.due, deadline.makeup_days_known) == (due, True)


def test_a_commitment_into_the_2027_spring_festival_says_make_up_days_are_not_known(
    credit_fake_platform: FakePlatform, flow: LicensingFlow
) -> None:
    """2027's arrangement is not published (chinese-calendar knows up to 2026): the Spring
    Festival by its rules (eve Fri 5 Feb, 6–8, made up on 9 and 10) still counts, and the
    acceptance tells the officer that the make-up days were not known."""
    clean_three_years(credit_fake_platform)
    acc = flow.accept(app(missing=("场地证明",), commitment_signed=True), on=date(2027, 1, 27))
    assert acc.commitment is not None
    # Jan 28, 29, Feb 1-4, (5, 8, 9, 10 off), 11, 12, 15, 16: not Feb 10 as Monday to Friday.
    assert acc.commitment.due_on == date(2027, 2, 16)
    sent = credit_fake_platform.commitments[acc.commitment.commitment_id]
    assert sent["due_on"] == "2027-02-16"
    assert not acc.makeup_days_known
    assert acc.calendar_note is not None
    assert "2027" in acc.calendar_note
    assert "调休" in acc.calendar_note
    with pytest.raises(ValueError, match="negative"):
        add_working_days(date(2026, 1, 1), -1)


def test_settings_are_validated(credit_checker: CreditChecker) -> None:
    with pytest.raises(InvalidRequestError, match="tolerance_days"):
        LicensingFlow(credit_checker, tolerance_days=0)


def test_found_as_an_installed_flow(credit_checker: CreditChecker) -> None:
    host = PluginHost.load(entry_points=True)
    assert "licensing" in host.flows()
    assert isinstance(host.flow("licensing")(credit_checker), LicensingFlow)


# -- against the sandbox platform process ---------------------------------------------------


# -- the licence and its disclosure (双公示) --------------------------------------------------


def test_a_granted_licence_is_disclosed(
    credit_fake_platform: FakePlatform, flow: LicensingFlow, credit_checker: CreditChecker
) -> None:
    acc = flow.accept(app())
    duty = flow.grant(
        acc, "中市监许〔2026〕31号", "食品经营许可证核发", content={"scope": "餐饮服务"}
    )
    assert duty.kind == "licence"
    assert duty.check_id == acc.decision.check_id
    assert duty.subject_id == COMPANY
    assert duty.due_on == add_working_days(duty.decided_on, 7).due
    assert credit_checker.flush(timeout=10) == 0
    sent = credit_fake_platform.disclosures[duty.disclosure_id]["body"]
    assert sent["content"] == {
        "matter_code": "440100-XK-001",
        "case_id": "ZS-XK-2026-0001",
        "mode": "standard",
        "scope": "餐饮服务",
    }
    assert sent["decision_no"] == "中市监许〔2026〕31号"
    kept = credit_checker.storage.disclosures.get(duty.disclosure_id)
    assert kept is not None
    assert kept.state(kept.decided_on) == "on_time"


def test_a_licence_granted_long_after_the_decision_is_disclosed_late(
    credit_fake_platform: FakePlatform, flow: LicensingFlow, credit_checker: CreditChecker
) -> None:
    acc = flow.accept(app(), on=date(2026, 3, 2))
    duty = flow.grant(acc, "中市监许〔2026〕2号", "食品经营许可证核发", decided_on=date(2026, 3, 2))
    assert duty.due_on == date(2026, 3, 11)
    assert credit_checker.flush(timeout=10) == 0
    kept = credit_checker.storage.disclosures.get(duty.disclosure_id)
    assert kept is not None
    assert kept.state(date(2026, 3, 2)) == "late"  # published after 2026-03-11


def test_an_application_not_accepted_cannot_be_granted(
    credit_fake_platform: FakePlatform, flow: LicensingFlow, credit_checker: CreditChecker
) -> None:
    acc = flow.accept(app(missing=("场地证明",)))
    assert not acc.accepted
    with pytest.raises(InvalidRequestError, match="not accepted"):
        flow.grant(acc, "中市监许〔2026〕3号", "食品经营许可证核发")
    assert credit_checker.storage.disclosures.select() == []
    assert credit_fake_platform.disclosures == {}


@pytest.mark.sandbox
def test_against_the_sandbox(credit_sandbox_checker: CreditChecker) -> None:
    from credit_check_sandbox.seed import SCENARIO_SUBJECTS as S

    flow = LicensingFlow(credit_sandbox_checker, green_channel_days=5)
    green = flow.accept(app(applicant=S["integrity_model_clean"].id))
    assert green.mode is Mode.GREEN_CHANNEL
    tolerant = flow.accept(
        app(applicant=S["clean_no_entries"].id, case_id="C-2", missing=("场地证明",),
            commitment_signed=True),
    )  # fmt: skip
    assert tolerant.mode is Mode.TOLERANCE
    assert tolerant.commitment is not None
    assert tolerant.commitment.posted
    done = flow.resolve(tolerant.commitment.commitment_id, "fulfilled")
    assert done.status == "fulfilled"
    strict = flow.accept(app(applicant=S["legal_rep_blacklisted"].id, case_id="C-3"))
    assert strict.mode is Mode.STRICT_REVIEW
    assert [m.id for m in strict.measures] == ["P-LIC-STRICT-REVIEW"]
    assert len(actions(credit_sandbox_checker)) == 3
    duty = flow.grant(green, "中市监许〔2026〕41号", "食品经营许可证核发")
    assert credit_sandbox_checker.flush(timeout=10) == 0
    kept = credit_sandbox_checker.storage.disclosures.get(duty.disclosure_id)
    assert kept is not None
    assert kept.posted
