"""The default catalogue (2026.12) decided against the plan, matter by matter.

Each test names the section of the plan (《中山市建立完善守信联合激励和失信联合惩戒制度的实施方案》)
whose words the measures carry out.
"""

from __future__ import annotations

from datetime import date, datetime, timedelta, timezone
from typing import Any

import pytest

from credit_check_sdk._models import Matter, Outcome, Profile
from credit_check_sdk.catalogue import default_catalog, with_parameters
from credit_check_sdk.categories import INTEGRITY_TYPICAL
from credit_check_sdk.decision import Verdict, decide

D = date(2026, 11, 30)
TZ = timezone(timedelta(hours=8))
COMPANY = "91442000MA4UJ2KQ57"
PERSON = "442000199001011234"
CAT = default_catalog()


def _entry(eid: str, subject: str, lst: str = "black", category: str = "environment") -> Any:
    return {
        "entry_id": eid,
        "subject_id": subject,
        "list": lst,
        "category": category,
        "authority": "中山市生态环境局",
        "listed_on": "2025-06-01",
        "expires_on": None,
        "status": "active",
        "updated_at": "2026-11-20T10:00:00+08:00",
    }


def _profile(
    subject: str,
    kind: str,
    entries: list[Any] = (),  # type: ignore[assignment]
    related: list[tuple[str, str, str, list[Any]]] = (),  # type: ignore[assignment]
    **dates: Any,
) -> Profile:
    return Profile.model_validate(
        {
            "subject": {"id": subject, "kind": kind},
            "as_of": datetime(2026, 11, 29, 8, tzinfo=TZ),
            "record_since": dates.get("record_since"),
            "last_adverse_on": dates.get("last_adverse_on"),
            "entries": list(entries),
            "related": [
                {"role": role, "subject": {"id": sid, "kind": k}, "entries": e}
                for role, sid, k, e in related
            ],
        }
    )


def _company_of(role: str) -> Profile:
    """A person who holds ``role`` in a seriously dishonest company (its own entry)."""
    company = [_entry("BL-C", COMPANY)]
    return _profile(PERSON, "natural_person", related=[(role, COMPANY, "legal_entity", company)])


def statuses(v: Verdict) -> dict[str, str]:
    return {m.id: m.status for m in v.measures}


# --- §三(二): market and trade entry, honours, through the company -----------------------


@pytest.mark.parametrize(
    ("role", "barred"),
    [
        ("legal_representative_of", True),  # 法定代表人
        ("principal_of", True),  # 主要负责人
        ("responsible_person_of", True),  # 对失信行为负有直接责任的(注册执业)人员
        ("registered_practitioner_of", False),  # a practitioner not named responsible
        ("director_of", False),
        ("shareholder_of", False),
    ],
)
def test_market_entry_bars_the_people_of_a_dishonest_company(role: str, barred: bool) -> None:
    """§三(二): 对严重失信企业及其法定代表人、主要负责人和对失信行为负有直接责任的注册执业人员等
    实施市场和行业禁入措施."""
    v = decide(_company_of(role), CAT, Matter("market_entry"), on=D)
    assert (v.outcome is Outcome.RESTRICTION) is barred
    assert statuses(v) == ({"P-ENTRY-BAR": "applied"} if barred else {})
    if barred:
        assert v.measures[0].entry_ids == ("BL-C",)


def test_market_entry_bars_the_dishonest_subject_itself() -> None:
    v = decide(_profile(COMPANY, "legal_entity", [_entry("BL-1", COMPANY)]), CAT,
               Matter("market_entry"), on=D)  # fmt: skip
    assert statuses(v) == {"P-ENTRY-BAR": "applied"}


@pytest.mark.parametrize(
    ("role", "excluded"),
    [
        ("legal_representative_of", True),
        ("principal_of", True),  # 负责人
        ("senior_manager_of", True),  # 高级管理人员
        ("responsible_person_of", True),  # 负有直接责任的董事、股东等人员
        ("director_of", False),  # a director as such: the plan names responsible ones
        ("shareholder_of", False),
    ],
)
def test_honours_are_withdrawn_from_the_people_of_a_dishonest_company(
    role: str, excluded: bool
) -> None:
    """§三(二): 及时撤销严重失信企业及其法定代表人、负责人、高级管理人员和对失信行为负有直接责任的
    董事、股东等人员的荣誉称号，取消其参加评先评优资格."""
    v = decide(_company_of(role), CAT, Matter("honours"), on=D)
    assert (statuses(v).get("P-HON-EXCLUDE-PERSON") == "applied") is excluded
    assert (v.outcome is Outcome.RESTRICTION) is excluded


def test_a_person_is_not_barred_from_bidding_for_the_company() -> None:
    """Only the measures of §三(二) that name the people reach them: a person's bidding
    (no such words) is decided on the person's own entries."""
    v = decide(_company_of("legal_representative_of"), CAT, Matter("bidding"), on=D)
    assert v.outcome is Outcome.NORMAL
    assert v.measures == ()


# --- §三(二) and §四(五): the other restricted matters -------------------------------------


@pytest.mark.parametrize(
    ("matter", "measure", "section"),
    [
        ("project_approval", "P-PRJ-RESTRICT", "限制项目审批、核准"),
        ("concession", "P-CON-EXCLUDE", "限制参与基础设施和公用事业特许经营"),
        ("intermediary", "P-INT-EXCLUDE", "中介超市"),
        ("procurement", "P-BID-EXCLUDE", "限制参与有关公共资源交易活动"),
    ],
)
def test_restricted_matters(matter: str, measure: str, section: str) -> None:
    company = _profile(COMPANY, "legal_entity", [_entry("BL-1", COMPANY)])
    v = decide(company, CAT, Matter(matter), on=D)
    assert v.outcome is Outcome.RESTRICTION
    assert statuses(v)[measure] == "applied"
    assert section in next(m.basis for m in v.measures if m.id == measure)
    # Reached through the legal representative as well (§三(七)).
    rep = _profile(
        COMPANY,
        "legal_entity",
        related=[("legal_representative", PERSON, "natural_person", [_entry("BL-P", PERSON)])],
    )
    assert decide(rep, CAT, Matter(matter), on=D).outcome is Outcome.RESTRICTION


def test_investment_policy_gives_priority_to_red_listed_subjects() -> None:
    """§二(三): 在实施财政性资金项目安排、招商引资配套政策等各类优惠政策中，
    对诚信市场主体予以优先考虑."""
    red = _profile(COMPANY, "legal_entity", [_entry("RL-1", COMPANY, "red", "tax_credit_a")])
    v = decide(red, CAT, Matter("investment_policy"), on=D)
    assert statuses(v) == {"I-INV-PRIORITY": "applied"}
    assert v.outcome is Outcome.NORMAL  # priority is for the flow to apply


# --- §二(一), §二(二): every 诚信典型 opens the green channel ----------------------------------


@pytest.mark.parametrize("category", INTEGRITY_TYPICAL)
def test_every_integrity_model_source_opens_the_green_channel(category: str) -> None:
    """§二(一) makes 诚信道德模范, 优秀青年志愿者, 行业协会商会推荐的诚信会员 and
    新闻媒体挖掘的诚信市场主体 诚信典型; §二(二) gives 诚信典型 the green channel and tolerance."""
    red = _profile(COMPANY, "legal_entity", [_entry("RL-1", COMPANY, "red", category)])
    assert decide(red, CAT, Matter("licensing"), on=D).outcome is Outcome.GREEN_CHANNEL
    missing = Matter("licensing", missing_documents=["场地证明"], commitment=True)
    assert decide(red, CAT, missing, on=D).outcome is Outcome.TOLERANCE


def test_tax_grade_a_alone_is_not_an_integrity_model() -> None:
    red = _profile(COMPANY, "legal_entity", [_entry("RL-1", COMPANY, "red", "tax_credit_a")])
    assert decide(red, CAT, Matter("licensing"), on=D).outcome is Outcome.NORMAL


# --- agency settings ---------------------------------------------------------------------


def test_bonus_points_follow_the_agencys_setting() -> None:
    """§二(三) says 信用加分 without a value: 2 points is the agency's default."""
    red = _profile(COMPANY, "legal_entity", [_entry("RL-1", COMPANY, "red", "tax_credit_a")])
    (points,) = decide(red, CAT, Matter("bidding"), on=D).measures
    assert points.points == 2.0
    mine = with_parameters(CAT, bonus_points=0.5)
    (points,) = decide(red, mine, Matter("bidding"), on=D).measures
    assert points.points == 0.5
