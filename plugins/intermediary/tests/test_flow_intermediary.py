"""The intermediary flow: exclusions, the draw and the ranking, priority, review, the record."""

from __future__ import annotations

import io
import random
from pathlib import Path
from typing import Any

import pytest
from rich.console import Console

from credit_check_flow_intermediary import Candidate, IntermediaryFlow, Project
from credit_check_sdk import CreditChecker, InvalidRequestError, Measure
from credit_check_sdk.catalogue import default_catalog
from credit_check_sdk.plugins import PluginHost
from credit_check_sdk.testing import FakePlatform

A = "91442000MA4UJ2KQ57"
B = "91442000MA4UC00019"
C = "91442000MA4UC0002C"
D = "91442000MA4UC0003F"
REP = "442000199001011233"
PROJECT = Project("ZJ-2026-015", title="某道路环境影响评价", case_id="ZS-ZJ-2026-015")


def actions(checker: CreditChecker) -> dict[str, dict[str, Any]]:
    records = list(checker.journal.iter_records())
    subject_of = {r["id"]: r["subject"]["id"] for r in records if r["type"] == "check"}
    return {subject_of[r["check_id"]]: r for r in records if r["type"] == "action"}


def with_incentives(fake: FakePlatform, checker: CreditChecker) -> None:
    """An agency catalogue that grants priority and bonus points in the intermediary matter
    (the default catalogue grants none there)."""
    base = default_catalog()
    extra = [
        Measure.model_validate({
            "id": "I-INT-PRIORITY", "kind": "incentive", "effect": "priority",
            "mandatory": False, "matters": ["intermediary"],
            "trigger": {"list": "red", "categories": ["integrity_model"], "roles": ["subject"],
                        "clean_years": None},
            "title": {"zh": "中介超市优先选取", "en": "Priority in the intermediary supermarket"},
            "basis": "本机关设定（测试）",
        }),
        Measure.model_validate({
            "id": "I-INT-POINTS", "kind": "incentive", "effect": "bonus_points",
            "mandatory": False, "matters": ["intermediary"],
            "trigger": {"list": "red", "categories": ["tax_credit_a"], "roles": ["subject"],
                        "clean_years": None},
            "title": {"zh": "中介超市信用加分", "en": "Credit points"},
            "basis": "本机关设定（测试）", "points": 5,
        }),
    ]  # fmt: skip
    fake.set_catalog(
        base.model_copy(update={"version": "2026.12.1+int", "measures": (*base.measures, *extra)})
    )
    checker.refresh_catalog()
    assert checker.catalog.version == "2026.12.1+int"


def test_the_restricted_are_excluded_and_the_draw_is_among_the_eligible(
    credit_fake_platform: FakePlatform, credit_checker: CreditChecker
) -> None:
    credit_fake_platform.add_entry(A, "black", "finance", entry_id="BL-FIN-1")
    credit_fake_platform.add_entry(REP, "black", "court_judgment_defaulter", entry_id="BL-P-1")
    candidates = [
        Candidate("C1", A, name="甲评估"),
        Candidate("C2", B, name="乙评估", legal_representative=REP),
        Candidate("C3", C, name="丙评估"),
        Candidate("C4", D, name="丁评估"),
    ]
    flow = IntermediaryFlow(credit_checker, rng=random.Random(1))
    selection = flow.select(PROJECT, candidates, operator="u1")
    assert [r.candidate.candidate_id for r in selection.excluded] == ["C1", "C2"]
    [rep] = selection.result("C2").exclusions
    assert (rep.role, rep.subject_id, rep.entry_ids, rep.measure_id) == (
        "legal_representative", REP, ("BL-P-1",), "P-INT-EXCLUDE",
    )  # fmt: skip
    assert selection.pool == ("C3", "C4")
    assert selection.chosen is not None
    assert selection.chosen.candidate.candidate_id in ("C3", "C4")
    chosen = selection.chosen.candidate.candidate_id
    assert selection.explanation == f"随机抽取：从 2 家（C3, C4）中抽中 {chosen}"
    acts = actions(credit_checker)
    assert (acts[A]["action"], acts[A]["measure_ids"]) == ("applied", ["P-INT-EXCLUDE"])
    assert acts[REP]["measure_ids"] == ["P-INT-EXCLUDE"]
    assert acts[B]["measure_ids"] == []
    # The choice is the flow's action: every check carries it, with the operator.
    assert {a["reason"] for a in acts.values()} == {selection.explanation}
    assert {a["operator"] for a in acts.values()} == {"u1"}
    assert len(selection.action_ids) == 5


def test_the_draw_never_picks_an_excluded_candidate(
    credit_fake_platform: FakePlatform, credit_checker: CreditChecker
) -> None:
    credit_fake_platform.add_entry(A, "black", "finance")
    candidates = [Candidate("C1", A), Candidate("C2", B), Candidate("C3", C)]
    drawn = {
        IntermediaryFlow(credit_checker, rng=random.Random(seed))
        .select(PROJECT, candidates)
        .chosen.candidate.candidate_id  # type: ignore[union-attr]
        for seed in range(30)
    }
    assert drawn == {"C2", "C3"}  # both drawn over thirty seeds, C1 never
    # Without an rng the system's random source draws.
    assert IntermediaryFlow(credit_checker).select(PROJECT, candidates).chosen is not None


def test_a_ranked_choice_orders_by_score(
    credit_fake_platform: FakePlatform, credit_checker: CreditChecker
) -> None:
    credit_fake_platform.add_entry(C, "black", "quality")
    candidates = [
        Candidate("C1", A, score=80),
        Candidate("C2", B, score=92.5),
        Candidate("C3", C, score=99),
        Candidate("C4", D, score=92.5),
    ]
    selection = IntermediaryFlow(credit_checker).select(PROJECT, candidates, rule="ranked")
    assert selection.ranking == ("C2", "C4", "C1")  # ties keep the candidates' order
    assert selection.chosen is selection.result("C2")
    assert selection.explanation == "择优排序：C2 > C4 > C1，选定 C2"


def test_priority_and_points_as_the_catalogue_grants_never_with_a_punishment(
    credit_fake_platform: FakePlatform, credit_checker: CreditChecker
) -> None:
    with_incentives(credit_fake_platform, credit_checker)
    credit_fake_platform.add_entry(A, "red", "integrity_model")  # priority
    credit_fake_platform.add_entry(B, "red", "integrity_model")  # priority, but its
    credit_fake_platform.relate(B, REP)  # legal representative is blacklisted
    credit_fake_platform.add_entry(REP, "black", "wage_arrears")
    credit_fake_platform.add_entry(C, "red", "tax_credit_a")  # 5 points
    # D: integrity model with a black entry under objection: suspended, so no priority.
    credit_fake_platform.add_entry(D, "red", "integrity_model")
    credit_fake_platform.add_entry(D, "black", "environment", status="objection_pending")
    candidates = [
        Candidate("C1", A, score=70),
        Candidate("C2", B, score=99),
        Candidate("C3", C, score=80),
        Candidate("C4", D, score=84),
    ]
    flow = IntermediaryFlow(credit_checker, rng=random.Random(3))
    drawn = flow.select(PROJECT, candidates)
    assert drawn.pool == ("C1",)  # the draw is among the priority candidates
    assert drawn.chosen is drawn.result("C1")
    assert "（优先对象）" in drawn.explanation
    c2 = drawn.result("C2")
    assert (c2.status, c2.priority) == ("excluded", False)
    assert {m.id: m.status for m in c2.decisions[0].measures}["I-INT-PRIORITY"] == "blocked"
    assert (drawn.result("C4").status, drawn.result("C4").priority) == ("eligible", False)
    acts = actions(credit_checker)
    assert acts[A]["measure_ids"] == ["I-INT-PRIORITY"]
    assert acts[D]["measure_ids"] == []
    ranked = flow.select(PROJECT, candidates, rule="ranked")
    # Priority first, then score with bonus points: C3 80 + 5 > C4 84.
    assert ranked.ranking == ("C1", "C3", "C4")
    assert ranked.result("C3").bonus_points == 5.0
    assert actions(credit_checker)[C]["measure_ids"] == ["I-INT-POINTS"]


def test_nobody_is_chosen_while_a_candidate_waits_for_a_person(
    credit_fake_platform: FakePlatform, tmp_path: Path
) -> None:
    credit_fake_platform.outage()
    candidates = [Candidate("C1", A), Candidate("C2", B)]
    with credit_fake_platform.checker(tmp_path, timeout=0.5, offline=False) as checker:
        flow = IntermediaryFlow(checker, rng=random.Random(0))
        selection = flow.select(PROJECT, candidates)
        assert selection.chosen is None
        assert [r.candidate.candidate_id for r in selection.waiting] == ["C1", "C2"]
        assert "须人工核查" in selection.explanation
        assert actions(checker) == {}
        # A person checked both by hand: C1 admitted, C2 left out.
        done = flow.select(
            PROJECT,
            candidates,
            overrides={"C1": "人工核查无失信记录"},
            leave_out={"C2": "无法联系认定单位，本次不参加"},
        )
        assert done.chosen is done.result("C1")
        acts = actions(checker)
        assert acts[A]["action"] == acts[B]["action"] == "overridden"
        assert acts[A]["reason"].startswith("人工核查无失信记录；随机抽取")
        assert acts[B]["reason"].startswith("无法联系认定单位")


def test_an_overridden_exclusion_is_journaled(
    credit_fake_platform: FakePlatform, credit_checker: CreditChecker
) -> None:
    credit_fake_platform.add_entry(A, "black", "finance")
    selection = IntermediaryFlow(credit_checker).select(
        PROJECT, [Candidate("C1", A)], overrides={"C1": "名单信息有误，已提出异议并核实"}
    )
    assert selection.chosen is selection.result("C1")
    act = actions(credit_checker)[A]
    assert (act["action"], act["measure_ids"]) == ("overridden", ["P-INT-EXCLUDE"])


def test_nobody_eligible(
    credit_fake_platform: FakePlatform,
    credit_checker: CreditChecker,
    caplog: pytest.LogCaptureFixture,
) -> None:
    credit_fake_platform.add_entry(A, "black", "finance")
    # Leaving out is only for a candidate under review: a verified one is judged by its checks.
    selection = IntermediaryFlow(credit_checker).select(
        PROJECT, [Candidate("C1", A)], leave_out={"C1": "本次不参加"}
    )
    assert (selection.chosen, selection.pool) == (None, ())
    assert selection.explanation == "无符合条件的中介机构"
    assert selection.result("C1").left_out_reason is None
    assert "leave_out of candidate C1 ignored" in caplog.text


def test_bad_input_is_refused_before_any_check(credit_checker: CreditChecker) -> None:
    flow = IntermediaryFlow(credit_checker)
    two = [Candidate("C1", A), Candidate("C2", B, score=1)]
    with pytest.raises(InvalidRequestError, match="unique"):
        flow.select(PROJECT, [Candidate("C1", A), Candidate("C1", B)])
    with pytest.raises(InvalidRequestError, match="needs a score: C1"):
        flow.select(PROJECT, two, rule="ranked")
    with pytest.raises(InvalidRequestError, match="rule must be one of"):
        flow.select(PROJECT, two, rule="lottery")  # type: ignore[arg-type]
    with pytest.raises(InvalidRequestError, match="unknown candidate"):
        flow.select(PROJECT, two, overrides={"C9": "x"})
    with pytest.raises(InvalidRequestError, match="both"):
        flow.select(PROJECT, two, overrides={"C1": "x"}, leave_out={"C1": "y"})
    with pytest.raises(InvalidRequestError, match="needs a reason"):
        flow.select(PROJECT, two, leave_out={"C1": ""})
    with pytest.raises(InvalidRequestError, match="score"):
        Candidate("C1", A, score=float("nan"))
    with pytest.raises(InvalidRequestError, match="rng"):
        IntermediaryFlow(credit_checker, rng=42)  # type: ignore[arg-type]
    assert list(credit_checker.journal.iter_records()) == []


def test_the_record_prints_and_renders(
    credit_fake_platform: FakePlatform, credit_checker: CreditChecker
) -> None:
    credit_fake_platform.add_entry(REP, "black", "court_judgment_defaulter", entry_id="BL-P-1")
    selection = IntermediaryFlow(credit_checker, rng=random.Random(5)).select(
        PROJECT,
        [
            Candidate("C1", A, name="甲评估", legal_representative=REP),
            Candidate("C2", B, name="乙"),
        ],
    )
    text = str(selection)
    assert "ZJ-2026-015 某道路环境影响评价" in text
    assert "[C1] 甲评估: 排除" in text
    assert "[C2] 乙: 符合条件 ★" in text
    assert "法定代表人 4420**********1233" in text
    assert REP not in text
    out = io.StringIO()
    Console(file=out, width=200, color_system=None).print(selection)
    assert "BL-P-1" in out.getvalue()
    assert "随机抽取" in out.getvalue()


def test_found_as_an_installed_flow(credit_checker: CreditChecker) -> None:
    assert isinstance(PluginHost.load().flow("intermediary")(credit_checker), IntermediaryFlow)


# -- against the sandbox platform process ---------------------------------------------------


@pytest.mark.sandbox
def test_against_the_sandbox(credit_sandbox_checker: CreditChecker) -> None:
    from credit_check_sandbox.scenarios import SCENARIO_SUBJECTS as S

    keys = ["judgment_defaulter_bidder", "legal_rep_blacklisted", "objection_pending",
            "integrity_model_clean", "clean_no_entries"]  # fmt: skip
    candidates = [Candidate(k, S[k].id, name=S[k].name, score=float(n)) for n, k in enumerate(keys)]
    flow = IntermediaryFlow(credit_sandbox_checker, rng=random.Random(11))
    drawn = flow.select(PROJECT, candidates, operator="u1")
    assert [r.candidate.candidate_id for r in drawn.excluded] == [
        "judgment_defaulter_bidder", "legal_rep_blacklisted",
    ]  # fmt: skip
    # The objection suspends the punishment (§五(三)): eligible.
    assert drawn.pool == ("objection_pending", "integrity_model_clean", "clean_no_entries")
    assert drawn.chosen is not None
    ranked = flow.select(PROJECT, candidates, rule="ranked")
    assert ranked.chosen is ranked.result("clean_no_entries")
    assert credit_sandbox_checker.flush(timeout=10) == 0
