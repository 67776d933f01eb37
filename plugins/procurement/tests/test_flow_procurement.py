"""The procurement flow against FakePlatform: basis of exclusion, consortia, re-check at signing."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from credit_check_flow_procurement import Member, Procurement, ProcurementFlow, Supplier
from credit_check_sdk import CreditChecker, InvalidRequestError
from credit_check_sdk.plugins import PluginHost
from credit_check_sdk.testing import FakePlatform

A = "91442000MA4UJ2KQ57"
B = "91442000MA4UC00019"
C = "91442000MA4UC0002C"
REP = "442000199001011233"
PROJECT = Procurement("CG-2026-07", case_id="ZSCG-2026-0031")


@pytest.fixture
def flow(credit_checker: CreditChecker) -> ProcurementFlow:
    return ProcurementFlow(credit_checker)


def actions(checker: CreditChecker) -> list[tuple[str, str, list[str]]]:
    records = list(checker.journal.iter_records())
    subject_of = {r["id"]: r["subject"]["id"] for r in records if r["type"] == "check"}
    return [
        (subject_of[r["check_id"]], r["action"], r["measure_ids"])
        for r in records
        if r["type"] == "action"
    ]


def test_excluded_suppliers_with_their_basis(
    credit_fake_platform: FakePlatform, flow: ProcurementFlow, credit_checker: CreditChecker
) -> None:
    credit_fake_platform.add_entry(B, "black", "major_tax_violation", entry_id="BL-TAX-1")
    q = flow.evaluate(PROJECT, [Supplier.single("S1", A), Supplier.single("S2", B)], operator="u")
    assert [r.supplier.supplier_id for r in q.qualified] == ["S1"]
    [excluded] = q.excluded
    [basis] = excluded.basis
    assert (basis.subject_id, basis.role, basis.measure_id, basis.entry_ids) == (
        B, "supplier", "P-BID-EXCLUDE", ("BL-TAX-1",),
    )  # fmt: skip
    assert basis.basis
    assert basis.title == "限制参与有关公共资源交易活动"
    assert sorted(actions(credit_checker)) == [
        (B, "applied", ["P-BID-EXCLUDE"]),
        (A, "applied", []),
    ]


def test_consortium_members_and_legal_representatives(
    credit_fake_platform: FakePlatform, flow: ProcurementFlow
) -> None:
    credit_fake_platform.add_entry(REP, "black", "court_judgment_defaulter", entry_id="BL-P-1")
    consortium = Supplier("S3", (Member(A), Member(C, legal_representative=REP)))
    [result] = flow.evaluate(PROJECT, [consortium]).excluded
    assert [(b.subject_id, b.role) for b in result.basis] == [(REP, "legal_representative")]
    credit_fake_platform.reset_faults()
    plain = Supplier("S4", (Member(A), Member(B)))
    credit_fake_platform.add_entry(B, "black", "wage_arrears")
    [result] = flow.evaluate(PROJECT, [plain]).excluded
    assert [(b.subject_id, b.role) for b in result.basis] == [(B, "consortium_member")]


def test_the_contract_check_catches_a_late_listing(
    credit_fake_platform: FakePlatform, flow: ProcurementFlow
) -> None:
    chosen = Supplier.single("S1", A, legal_representative=REP)
    assert flow.evaluate(PROJECT, [chosen]).qualified
    credit_fake_platform.add_entry(A, "black", "fiscal_funds", entry_id="BL-LATE")
    check = flow.confirm_contract(PROJECT, chosen)
    assert not check.may_sign
    assert [b.entry_ids for b in check.result.basis] == [("BL-LATE",)]


def test_an_override_needs_a_reason(
    credit_fake_platform: FakePlatform, flow: ProcurementFlow, credit_checker: CreditChecker
) -> None:
    credit_fake_platform.add_entry(B, "black", "major_tax_violation")
    with pytest.raises(InvalidRequestError, match="needs a reason"):
        flow.evaluate(PROJECT, [Supplier.single("S2", B)], overrides={"S2": ""})
    with pytest.raises(InvalidRequestError, match="unknown supplier"):
        flow.evaluate(PROJECT, [Supplier.single("S2", B)], overrides={"S9": "x"})
    q = flow.evaluate(PROJECT, [Supplier.single("S2", B)], overrides={"S2": "唯一供应商"})
    assert q.qualified[0].override_reason == "唯一供应商"
    assert actions(credit_checker) == [(B, "overridden", ["P-BID-EXCLUDE"])]


def test_strict_review_is_listed_not_excluding(
    credit_fake_platform: FakePlatform, flow: ProcurementFlow, credit_checker: CreditChecker
) -> None:
    credit_fake_platform.relate(A, REP, "responsible_person")
    credit_fake_platform.add_entry(REP, "black", "finance")
    [result] = flow.evaluate(PROJECT, [Supplier.single("S1", A)]).qualified
    assert [b.measure_id for b in result.strict_review] == ["P-BID-PERSONNEL-REVIEW"]
    flow.evaluate(PROJECT, [Supplier.single("S1", A)], overrides={"S1": "已更换负责人"})
    assert actions(credit_checker)[-1] == (A, "not_applied", ["P-BID-PERSONNEL-REVIEW"])


def test_unverifiable_suppliers_go_to_review(
    credit_fake_platform: FakePlatform, tmp_path: Path
) -> None:
    credit_fake_platform.outage()
    with credit_fake_platform.checker(tmp_path, timeout=0.5, offline=False) as checker:
        q = ProcurementFlow(checker).evaluate(PROJECT, [Supplier.single("S1", A)])
        assert [r.unverified for r in q.review] == [(A,)]
        assert actions(checker) == []


def test_bad_input(flow: ProcurementFlow) -> None:
    with pytest.raises(InvalidRequestError, match="unique"):
        flow.evaluate(PROJECT, [Supplier.single("S1", A), Supplier.single("S1", B)])
    with pytest.raises(InvalidRequestError, match="at least one member"):
        Supplier("S1", ())


def test_found_as_an_installed_flow(credit_checker: CreditChecker) -> None:
    flow: Any = PluginHost.load().flow("procurement")(credit_checker)
    assert isinstance(flow, ProcurementFlow)


# -- against the sandbox platform process ---------------------------------------------------


@pytest.mark.sandbox
def test_against_the_sandbox(credit_sandbox_checker: CreditChecker) -> None:
    from credit_check_sandbox.seed import SCENARIO_SUBJECTS as S

    suppliers = [
        Supplier.single("S1", S["red_and_black"].id),
        Supplier("S2", (Member(S["clean_no_entries"].id), Member(S["repaired"].id))),
        Supplier("S3", (Member(S["expired"].id), Member(S["legal_rep_blacklisted"].id))),
    ]
    q = ProcurementFlow(credit_sandbox_checker).evaluate(PROJECT, suppliers, operator="u1")
    assert [r.supplier.supplier_id for r in q.qualified] == ["S2"]
    assert [r.supplier.supplier_id for r in q.excluded] == ["S1", "S3"]
    assert [b.measure_id for b in q.excluded[0].basis] == ["P-BID-EXCLUDE"]
    assert ProcurementFlow(credit_sandbox_checker).confirm_contract(PROJECT, suppliers[1]).may_sign
    assert credit_sandbox_checker.flush(timeout=10) == 0
