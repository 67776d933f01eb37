"""The honours flow: people through their organisations, organisations through their people,
priority, revocation of titles granted, the record, bad input."""

from __future__ import annotations

import io
from pathlib import Path
from typing import Any

import pytest
from rich.console import Console

from credit_check_flow_honours import Award, GrantedTitle, HonoursFlow, Link, Nominee
from credit_check_sdk import CreditChecker, InvalidRequestError
from credit_check_sdk.plugins import PluginHost
from credit_check_sdk.testing import FakePlatform

ORG = "91442000MA4UJ2KQ57"
ORG2 = "91442000MA4UC00019"
PERSON = "442000199001011233"
PERSON2 = "44200019900715303X"
AWARD = Award("PY-2026-01", title="2026年度诚信示范单位", case_id="ZS-PY-2026-01")


@pytest.fixture
def flow(credit_checker: CreditChecker) -> HonoursFlow:
    return HonoursFlow(credit_checker)


def actions(checker: CreditChecker) -> dict[str, dict[str, Any]]:
    """The last action record by the checked subject's id."""
    records = list(checker.journal.iter_records())
    subject_of = {r["id"]: r["subject"]["id"] for r in records if r["type"] == "check"}
    return {subject_of[r["check_id"]]: r for r in records if r["type"] == "action"}


def check_ids(checker: CreditChecker) -> dict[str, str]:
    return {
        r["subject"]["id"]: r["id"] for r in checker.journal.iter_records() if r["type"] == "check"
    }


@pytest.mark.parametrize(
    ("role", "barred"),
    [
        ("legal_representative", True),
        ("principal", True),
        ("senior_manager", True),
        ("responsible_person", True),
        # §三(二) names directors and shareholders only when directly responsible: as such,
        # the catalogue does not reach them.
        ("director", False),
        ("shareholder", False),
    ],
)
def test_a_person_is_barred_through_a_seriously_dishonest_company(
    credit_fake_platform: FakePlatform,
    flow: HonoursFlow,
    credit_checker: CreditChecker,
    role: str,
    barred: bool,
) -> None:
    credit_fake_platform.relate(ORG, PERSON, role)
    credit_fake_platform.add_entry(ORG, "black", "environment", entry_id="BL-ENV-1")
    screening = flow.screen(AWARD, [Nominee("N1", PERSON, name="张三")], operator="u1")
    result = screening.result("N1")
    if not barred:
        assert result.status == "eligible"
        assert actions(credit_checker)[PERSON]["measure_ids"] == []
        return
    assert result.status == "barred"
    [bar] = result.bars
    assert (bar.measure_id, bar.entry_ids, bar.via, bar.mandatory) == (
        "P-HON-EXCLUDE-PERSON", ("BL-ENV-1",), "nominee", True,
    )  # fmt: skip
    assert bar.check_id == check_ids(credit_checker)[PERSON] == result.check_ids[0]
    assert any("organisation whose" in r.en for r in bar.reasons)
    act = actions(credit_checker)[PERSON]
    assert (act["action"], act["measure_ids"], act["operator"]) == (
        "applied", ["P-HON-EXCLUDE-PERSON"], "u1",
    )  # fmt: skip


def test_an_organisation_is_barred_through_its_people(
    credit_fake_platform: FakePlatform, flow: HonoursFlow, credit_checker: CreditChecker
) -> None:
    # ORG: its legal representative is blacklisted and the platform links them.
    credit_fake_platform.relate(ORG, PERSON)
    credit_fake_platform.add_entry(PERSON, "black", "wage_arrears", entry_id="BL-P-1")
    # ORG2: the nomination declares its principal, whom the platform does not link.
    credit_fake_platform.add_entry(PERSON2, "black", "court_judgment_defaulter", entry_id="BL-P-2")
    nominees = [
        Nominee("N1", ORG),
        Nominee("N2", ORG2, links=[Link(PERSON2, "principal", "陈国华")]),
    ]
    screening = flow.screen(AWARD, nominees)
    assert [r.nominee.nominee_id for r in screening.barred] == ["N1", "N2"]
    [via_platform] = screening.result("N1").bars
    assert (via_platform.measure_id, via_platform.entry_ids) == ("P-HON-EXCLUDE", ("BL-P-1",))
    [declared] = screening.result("N2").bars
    assert (declared.via, declared.subject_id, declared.entry_ids) == (
        "principal", PERSON2, ("BL-P-2",),
    )  # fmt: skip
    assert "申报的主要负责人 陈国华" in declared.why
    acts = actions(credit_checker)
    assert acts[PERSON2]["measure_ids"] == ["P-HON-EXCLUDE"]  # applied on the person's check
    assert acts[ORG2]["measure_ids"] == []


def test_a_declared_director_with_entries_does_not_bar_the_organisation(
    credit_fake_platform: FakePlatform, flow: HonoursFlow
) -> None:
    credit_fake_platform.add_entry(PERSON, "black", "finance")
    result = flow.screen(AWARD, [Nominee("N1", ORG, links=[Link(PERSON, "director")])]).result("N1")
    assert (result.status, result.bars, result.to_decide) == ("eligible", (), ())


def test_a_declared_company_not_linked_on_the_platform_goes_to_a_person(
    credit_fake_platform: FakePlatform, flow: HonoursFlow, credit_checker: CreditChecker
) -> None:
    credit_fake_platform.add_entry(ORG, "black", "food_drug", entry_id="BL-FD-1")
    nominees = [
        Nominee("N1", PERSON, links=[Link(ORG, "senior_manager", "甲公司")]),
        Nominee("N2", PERSON2, links=[Link(ORG, "director", "甲公司")]),
    ]
    screening = flow.screen(AWARD, nominees)
    assert [r.nominee.nominee_id for r in screening.review] == ["N1", "N2"]
    [manager] = screening.result("N1").to_decide
    assert (manager.via, manager.subject_id, manager.entry_ids) == (
        "senior_manager_of", ORG, ("BL-FD-1",),
    )  # fmt: skip
    assert "平台未关联" in manager.why
    assert "直接责任" in screening.result("N2").to_decide[0].why
    assert actions(credit_checker) == {}  # waits for a person
    # The committee has checked: the director was not responsible.
    again = flow.screen(AWARD, nominees[1:], overrides={"N2": "经核实，该董事对失信行为无直接责任"})
    [admitted] = again.eligible
    assert admitted.override_reason is not None
    assert not admitted.priority
    act = actions(credit_checker)[ORG]
    assert (act["action"], act["measure_ids"]) == ("overridden", ["P-HON-EXCLUDE"])
    assert act["reason"] == "经核实，该董事对失信行为无直接责任"


def test_priority_for_the_trustworthy_and_never_with_a_punishment(
    credit_fake_platform: FakePlatform, flow: HonoursFlow, credit_checker: CreditChecker
) -> None:
    credit_fake_platform.add_entry(ORG, "red", "integrity_model", entry_id="RL-1")
    # ORG2 is red too, but its legal representative is blacklisted: barred, and the
    # priority is listed blocked in its decision, never granted.
    credit_fake_platform.add_entry(ORG2, "red", "media_recommended")
    credit_fake_platform.relate(ORG2, PERSON2)
    credit_fake_platform.add_entry(PERSON2, "black", "court_judgment_defaulter")
    # PERSON: red, with a black entry under objection: suspended, not barred, no priority.
    credit_fake_platform.add_entry(PERSON, "red", "outstanding_volunteer")
    credit_fake_platform.add_entry(PERSON, "black", "finance", status="objection_pending")
    screening = flow.screen(AWARD, [Nominee("N3", PERSON), Nominee("N1", ORG), Nominee("N2", ORG2)])
    assert [(r.nominee.nominee_id, r.priority) for r in screening.eligible] == [
        ("N1", True), ("N3", False),
    ]  # fmt: skip
    assert screening.result("N1").priority_measures == ("I-HON-PRIORITY",)
    n2 = screening.result("N2")
    assert n2.status == "barred"
    statuses = {m.id: m.status for m in n2.decisions[0].measures}
    assert statuses["I-HON-PRIORITY"] == "blocked"
    acts = actions(credit_checker)
    assert acts[ORG]["measure_ids"] == ["I-HON-PRIORITY"]
    assert acts[ORG2]["measure_ids"] == ["P-HON-EXCLUDE"]
    assert acts[PERSON]["measure_ids"] == []


def test_unverifiable_nominees_go_to_review(
    credit_fake_platform: FakePlatform, tmp_path: Path
) -> None:
    credit_fake_platform.outage()
    with credit_fake_platform.checker(tmp_path, timeout=0.5, offline=False) as checker:
        screening = HonoursFlow(checker).screen(AWARD, [Nominee("N1", ORG)])
        [result] = screening.review
        assert result.unverified == (ORG,)
        assert actions(checker) == {}
        # A person checked by hand: admitted, journaled with the reason.
        done = HonoursFlow(checker).screen(
            AWARD, [Nominee("N1", ORG)], overrides={"N1": "人工核查无失信记录"}
        )
        assert done.eligible[0].override_reason == "人工核查无失信记录"
        assert actions(checker)[ORG]["action"] == "overridden"


def test_titles_granted_are_checked_again_and_revoked(
    credit_fake_platform: FakePlatform, flow: HonoursFlow, credit_checker: CreditChecker
) -> None:
    holders = [Nominee("H1", ORG, name="甲公司"), Nominee("H2", PERSON, name="张三")]
    credit_fake_platform.relate(ORG2, PERSON, "legal_representative")
    titles = [
        GrantedTitle("RY-2025-001", holders[0], Award("PY-2025")),
        GrantedTitle("RY-2025-002", holders[1], Award("PY-2025")),
    ]
    assert flow.revoke(titles).to_revoke == ()
    # Listed since: the cache is bypassed, the listings count at once.
    credit_fake_platform.add_entry(ORG, "black", "quality", entry_id="BL-Q-1")
    credit_fake_platform.add_entry(ORG2, "black", "safety_production", entry_id="BL-S-1")
    revocation = flow.revoke(titles, operator="u7")
    assert [r.title.title_id for r in revocation.to_revoke] == ["RY-2025-001", "RY-2025-002"]
    first, second = revocation.to_revoke
    assert first.findings[0].entry_ids == ("BL-Q-1",)
    assert second.findings[0].measure_id == "P-HON-EXCLUDE-PERSON"
    ids = check_ids(credit_checker)
    assert (first.check_ids, second.check_ids) == ((ids[ORG],), (ids[PERSON],))
    assert all(d.source == "live" for r in revocation.results for d in r.screening.decisions)
    act = actions(credit_checker)[ORG]
    assert (act["action"], act["measure_ids"], act["operator"]) == (
        "applied", ["P-HON-EXCLUDE"], "u7",
    )  # fmt: skip
    text = str(revocation)
    assert "[RY-2025-001] 甲公司: 撤销" in text
    assert ids[ORG] in text
    kept = flow.revoke(titles[:1], overrides={"RY-2025-001": "异议已提交，待核实"})
    assert kept.results[0].status == "keep"
    assert actions(credit_checker)[ORG]["action"] == "overridden"


def test_the_record_prints_and_renders_with_ids_masked(
    credit_fake_platform: FakePlatform, flow: HonoursFlow
) -> None:
    credit_fake_platform.relate(ORG, PERSON, "principal")
    credit_fake_platform.add_entry(ORG, "black", "environment", entry_id="BL-ENV-9")
    credit_fake_platform.add_entry(ORG2, "red", "integrity_model")
    screening = flow.screen(
        AWARD, [Nominee("N1", PERSON, name="张三"), Nominee("N2", ORG2, name="乙公司")]
    )
    text = str(screening)
    assert "PY-2026-01 2026年度诚信示范单位" in text
    assert "[N1] 张三: 取消资格" in text
    assert "[N2] 乙公司: 可参评 (优先)" in text
    assert "BL-ENV-9" in text
    assert "可参评 1 (优先 1), 取消资格 1, 待人工核查 0" in text
    out = io.StringIO()
    Console(file=out, width=200, color_system=None).print(screening)
    table = out.getvalue()
    assert "4420**********1233" in table
    assert PERSON not in table
    assert PERSON not in text


def test_bad_input_is_refused_before_any_check(
    flow: HonoursFlow, credit_checker: CreditChecker
) -> None:
    with pytest.raises(InvalidRequestError, match="unique"):
        flow.screen(AWARD, [Nominee("N1", ORG), Nominee("N1", ORG2)])
    with pytest.raises(InvalidRequestError, match="unknown nominee"):
        flow.screen(AWARD, [Nominee("N1", ORG)], overrides={"N9": "x"})
    with pytest.raises(InvalidRequestError, match="needs a reason"):
        flow.screen(AWARD, [Nominee("N1", ORG)], overrides={"N1": " "})
    with pytest.raises(InvalidRequestError, match="role must be one of"):
        Link(ORG, "chairman")
    with pytest.raises(InvalidRequestError, match="organisations"):
        Nominee("N1", PERSON, links=[Link(PERSON2, "director")])
    with pytest.raises(InvalidRequestError, match="itself"):
        Nominee("N1", ORG, links=[Link(ORG, "shareholder")])
    with pytest.raises(InvalidRequestError, match="nominees"):
        flow.screen(AWARD, Nominee("N1", ORG))  # type: ignore[arg-type]
    title = GrantedTitle("T1", Nominee("N1", ORG), AWARD)
    with pytest.raises(InvalidRequestError, match="unique"):
        flow.revoke([title, title])
    assert list(credit_checker.journal.iter_records()) == []


def test_found_as_an_installed_flow(credit_checker: CreditChecker) -> None:
    assert isinstance(PluginHost.load().flow("honours")(credit_checker), HonoursFlow)


# -- against the sandbox platform process ---------------------------------------------------


@pytest.mark.sandbox
def test_against_the_sandbox(credit_sandbox_checker: CreditChecker) -> None:
    from credit_check_sandbox.scenarios import SCENARIO_SUBJECTS as S

    company = S["dishonest_company_people"]
    nominees = [
        Nominee("N1", S["honours_barred_manager"].id, name=S["honours_barred_manager"].name),
        Nominee("N2", S["entry_barred_legal_rep"].id),
        Nominee("N3", S["director_not_responsible"].id),
        Nominee("N4", S["director_not_responsible"].id, name="林家豪",
                links=[Link(company.id, "director", company.name)]),
        Nominee("N5", S["media_recommended"].id),
        Nominee("N6", S["legal_rep_blacklisted"].id),
        Nominee("N7", company.id),
    ]  # fmt: skip
    screening = HonoursFlow(credit_sandbox_checker).screen(AWARD, nominees, operator="u1")
    assert sorted(r.nominee.nominee_id for r in screening.barred) == ["N1", "N2", "N6", "N7"]
    assert [(r.nominee.nominee_id, r.priority) for r in screening.eligible] == [
        ("N5", True), ("N3", False),
    ]  # fmt: skip
    assert [r.nominee.nominee_id for r in screening.review] == ["N4"]
    [bar] = screening.result("N1").bars
    assert bar.measure_id == "P-HON-EXCLUDE-PERSON"
    assert bar.entry_ids
    assert credit_sandbox_checker.flush(timeout=10) == 0
