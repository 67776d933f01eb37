"""The inspection flow: levels from the decisions, overrides, review, the table and the XLSX."""

from __future__ import annotations

import io
import logging
from pathlib import Path
from typing import Any

import pytest
from openpyxl import load_workbook
from rich.console import Console

from credit_check_flow_inspection import Frequencies, InspectionFlow, Override, Plan, Supervised
from credit_check_sdk import CreditChecker, InvalidRequestError
from credit_check_sdk.plugins import PluginHost
from credit_check_sdk.testing import FakePlatform

RED = "91442000MA4UJ2KQ57"
BLACK = "91442000MA4UC00019"
CLEAN = "91442000MA4UC0002C"
OBJECTING = "91442000MA4UC0003F"
BOTH = "91442000MA4UC0006Q"
PERSON = "442000199001011233"
PLAN = Plan("JC-2027", title="2027年度日常检查计划", case_id="ZS-JC-2027")


@pytest.fixture
def flow(credit_checker: CreditChecker) -> InspectionFlow:
    return InspectionFlow(credit_checker, frequencies=Frequencies(reduced=1, normal=2, key=6))


def actions(checker: CreditChecker) -> dict[str, dict[str, Any]]:
    records = list(checker.journal.iter_records())
    subject_of = {r["id"]: r["subject"]["id"] for r in records if r["type"] == "check"}
    return {subject_of[r["check_id"]]: r for r in records if r["type"] == "action"}


def arrange(fake: FakePlatform) -> list[Supervised]:
    fake.add_entry(RED, "red", "tax_credit_a", entry_id="RL-TAX-1")
    fake.add_entry(BLACK, "black", "food_drug", entry_id="BL-FD-1")
    fake.add_entry(OBJECTING, "black", "environment", status="objection_pending", entry_id="BL-E")
    fake.add_entry(BOTH, "red", "customs_advanced_certified")
    fake.add_entry(BOTH, "black", "customs", entry_id="BL-C-1")
    return [
        Supervised(RED, name="红名单企业", ref="JG-1"),
        Supervised(BLACK, name="黑名单企业", ref="JG-2"),
        Supervised(CLEAN, ref="JG-3"),
        Supervised(OBJECTING, ref="JG-4"),
        Supervised(BOTH, ref="JG-5"),
    ]


def test_levels_follow_the_decisions(
    credit_fake_platform: FakePlatform, flow: InspectionFlow, credit_checker: CreditChecker
) -> None:
    plan = flow.plan(PLAN, arrange(credit_fake_platform), operator="u1")
    got = {r.subject.ref: (r.level, r.frequency) for r in plan.rows}
    assert got == {
        "JG-1": ("reduced", 1),
        "JG-2": ("key", 6),
        "JG-3": ("normal", 2),
        "JG-4": ("normal", 2),  # the punishment is suspended while the objection is verified
        "JG-5": ("key", 6),  # black overrides red
    }
    assert [r.level for r in plan.rows] == ["key", "key", "normal", "normal", "reduced"]
    assert plan.inspections == 6 + 6 + 2 + 2 + 1
    black = plan.row("JG-2")
    assert black.entry_ids == ("BL-FD-1",)
    assert black.measures == ("P-INS-KEY-SUPERVISION 列为重点监管对象，提高检查频次",)
    assert "§三(二)" in black.basis
    assert "§五(三)" in plan.row("JG-4").basis
    both = plan.row("JG-5")
    assert "I-INS-REDUCED" in both.basis  # listed blocked, never granted
    assert {m.id: m.status for m in both.decision.measures}["I-INS-REDUCED"] == "blocked"
    acts = actions(credit_checker)
    assert {s: (a["action"], a["measure_ids"]) for s, a in acts.items()} == {
        RED: ("applied", ["I-INS-REDUCED"]),
        BLACK: ("applied", ["P-INS-KEY-SUPERVISION"]),
        CLEAN: ("applied", []),
        OBJECTING: ("applied", []),
        BOTH: ("applied", ["P-INS-KEY-SUPERVISION"]),
    }
    records = [r for r in credit_checker.journal.iter_records() if r["type"] == "check"]
    assert {r["matter"]["category"] for r in records} == {"inspection"}
    assert {r["matter"]["code"] for r in records} == {"JC-2027"}
    assert {r.check_id for r in plan.rows} == {r["id"] for r in records}
    assert len(plan.action_ids) == 5


def test_a_person_overrides_with_a_reason(
    credit_fake_platform: FakePlatform, flow: InspectionFlow, credit_checker: CreditChecker
) -> None:
    subjects = arrange(credit_fake_platform)
    plan = flow.plan(
        PLAN,
        subjects,
        overrides={
            "JG-2": Override("normal", "已完成整改，经复查合格"),
            "JG-3": ("key", "群众投诉较多"),
        },
    )
    assert (plan.row("JG-2").level, plan.row("JG-2").decided_level) == ("normal", "key")
    assert plan.row("JG-3").frequency == 6
    acts = actions(credit_checker)
    # Key supervision is recommended: declining it is not_applied.
    assert (acts[BLACK]["action"], acts[BLACK]["measure_ids"], acts[BLACK]["reason"]) == (
        "not_applied", ["P-INS-KEY-SUPERVISION"], "已完成整改，经复查合格",
    )  # fmt: skip
    assert (acts[CLEAN]["action"], acts[CLEAN]["reason"]) == ("overridden", "群众投诉较多")
    assert "人工调整（原为重点监管）: 已完成整改" in str(plan)


def test_bad_input_is_refused_before_any_check(
    credit_fake_platform: FakePlatform, flow: InspectionFlow, credit_checker: CreditChecker
) -> None:
    subjects = arrange(credit_fake_platform)
    with pytest.raises(InvalidRequestError, match="once"):
        flow.plan(PLAN, [*subjects, Supervised(RED, ref="JG-9")])
    with pytest.raises(InvalidRequestError, match="unknown subject"):
        flow.plan(PLAN, subjects, overrides={"JG-99": ("key", "x")})
    with pytest.raises(InvalidRequestError, match="level must be one of normal, key"):
        flow.plan(PLAN, subjects, overrides={"JG-3": ("reduced", "诚信经营")})
    with pytest.raises(InvalidRequestError, match="reason must not be blank"):
        Override("key", "  ")
    with pytest.raises(InvalidRequestError, match="not \\(level, reason\\)"):
        flow.plan(PLAN, subjects, overrides={"JG-3": "key"})  # type: ignore[dict-item]
    with pytest.raises(InvalidRequestError, match="fall"):
        Frequencies(reduced=3, normal=2, key=4)
    with pytest.raises(InvalidRequestError, match="whole number"):
        Frequencies(key=2.5)  # type: ignore[arg-type]
    with pytest.raises(InvalidRequestError, match="subjects"):
        flow.plan(PLAN, Supervised(RED))  # type: ignore[arg-type]
    assert list(credit_checker.journal.iter_records()) == []


def test_unverifiable_subjects_wait_for_a_person(
    credit_fake_platform: FakePlatform, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    credit_fake_platform.outage()
    with credit_fake_platform.checker(tmp_path, timeout=0.5, offline=False) as checker:
        flow = InspectionFlow(checker)
        with caplog.at_level(logging.WARNING, logger="credit_check_flow_inspection"):
            plan = flow.plan(PLAN, [Supervised(RED, ref="JG-1")])
        [row] = plan.review
        assert (row.level, row.frequency) == ("review", None)
        assert "could not be verified" in caplog.text
        assert actions(checker) == {}
        assert plan.inspections == 0
        checked = flow.plan(PLAN, [Supervised(RED, ref="JG-1")],
                            overrides={"JG-1": ("normal", "人工核查：无失信记录")})  # fmt: skip
        assert checked.rows[0].frequency == 2
        assert actions(checker)[RED]["action"] == "overridden"


def test_the_plan_as_a_table_and_a_formula_safe_workbook(
    credit_fake_platform: FakePlatform, flow: InspectionFlow, tmp_path: Path
) -> None:
    credit_fake_platform.add_entry(BLACK, "black", "food_drug", entry_id="BL-FD-1")
    subjects = [
        Supervised(BLACK, name='=HYPERLINK("http://evil.example","点此")', ref="+JG-2"),
        Supervised(PERSON, name="张三", ref="@JG-3"),
    ]
    plan = flow.plan(PLAN, subjects)
    out = io.StringIO()
    Console(file=out, width=220, color_system=None).print(plan)
    table = out.getvalue()
    assert "重点监管" in table
    assert "4420**********1233" in table
    assert PERSON not in table
    assert PERSON not in str(plan)
    path = flow.plan(PLAN, subjects).write_xlsx(tmp_path / "plan.xlsx")
    wb = load_workbook(path)
    ws = wb["检查计划"]
    rows = list(ws.iter_rows(values_only=True))
    assert rows[0][:5] == (
        "监管对象编号",
        "名称",
        "统一社会信用代码/身份证号",
        "监管等级",
        "年度检查次数",
    )
    assert rows[1][0] == "Ref"
    by_ref = {r[0]: r for r in rows[2:]}
    assert by_ref["+JG-2"][3:5] == ("重点监管", 6)
    assert by_ref["+JG-2"][6] == "BL-FD-1"
    assert by_ref["@JG-3"][2] == "4420**********1233"
    for row in ws.iter_rows():
        for cell in row:
            assert cell.data_type != "f", cell.coordinate  # never a formula
    assert ws["B3"].value.startswith("=HYPERLINK")
    assert ws["B3"].quotePrefix
    notes = [r for r in wb["说明"].iter_rows(values_only=True)]
    assert ("重点监管", 6, "次/年") in notes
    assert not [c for r in rows for c in r if isinstance(c, str) and PERSON in c]


def test_found_as_an_installed_flow(credit_checker: CreditChecker) -> None:
    assert isinstance(PluginHost.load().flow("inspection")(credit_checker), InspectionFlow)


# -- against the sandbox platform process ---------------------------------------------------


@pytest.mark.sandbox
def test_against_the_sandbox(credit_sandbox_checker: CreditChecker, tmp_path: Path) -> None:
    from credit_check_sandbox.scenarios import SCENARIO_SUBJECTS as S

    keys = ["integrity_model_clean", "tax_grade_a", "judgment_defaulter_bidder", "clean_no_entries",
            "objection_pending", "red_and_black", "legal_rep_blacklisted"]  # fmt: skip
    subjects = [Supervised(S[k].id, name=S[k].name, ref=k) for k in keys]
    plan = InspectionFlow(credit_sandbox_checker).plan(PLAN, subjects, operator="u1")
    got = {r.subject.ref: r.level for r in plan.rows}
    assert got == {
        "integrity_model_clean": "reduced",
        "tax_grade_a": "reduced",
        "judgment_defaulter_bidder": "key",
        "clean_no_entries": "normal",
        "objection_pending": "normal",
        "red_and_black": "key",
        # Key supervision counts the subject's own entries (§三(二) 严重失信主体): a clean
        # company whose legal representative is listed is inspected as usual.
        "legal_rep_blacklisted": "normal",
    }
    assert plan.write_xlsx(tmp_path / "jc.xlsx").exists()
    assert len(actions(credit_sandbox_checker)) == len(keys)
    assert credit_sandbox_checker.flush(timeout=10) == 0
