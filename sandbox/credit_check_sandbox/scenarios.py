"""The sandbox's named scenario subjects: stable ids, what each demonstrates, and their data.

Every seeded sandbox holds them (``unknown_subject`` excepted: it is valid but
deliberately absent), whatever the seed and size, for demos and tests. Dates
are relative to the seed's reference date.

>>> SCENARIO_SUBJECTS["judgment_defaulter_bidder"].id
'91442000MA4UC00019'
>>> from credit_check_sdk._ids import validate_id
>>> all(validate_id(s.id)[1] == s.kind for s in SCENARIO_SUBJECTS.values())
True
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import date
from typing import TYPE_CHECKING, Any, Literal

if TYPE_CHECKING:
    from .seed import _Builder

__all__ = ["SCENARIO_PERSONS", "SCENARIO_SUBJECTS", "V2_PERSONS", "Scenario", "add_scenarios"]

Kind = Literal["legal_entity", "natural_person"]


@dataclass(frozen=True)
class Scenario:
    """A named fixture subject: its stable id, kind, name and what it demonstrates."""

    id: str
    kind: Kind
    name: str
    description: str


#: Named fixture subjects with stable ids, present in every seeded sandbox
#: (``unknown_subject`` excepted: it is valid but deliberately absent).
SCENARIO_SUBJECTS: dict[str, Scenario] = {
    "judgment_defaulter_bidder": Scenario(
        "91442000MA4UC00019",
        "legal_entity",
        "中山市恒达建筑工程有限公司",
        "Bidder listed as a court judgment defaulter (black, active, listed 200 days ago, "
        "no end date): bidding and procurement are restricted.",
    ),
    "tax_grade_a": Scenario(
        "91442000MA4UC0002C",
        "legal_entity",
        "中山市粤海灯饰有限公司",
        "Tax credit grade A taxpayer (red, active until 245 days from now); an administrative "
        "penalty 18 months ago, so no three clean years.",
    ),
    "integrity_model_clean": Scenario(
        "91442000MA4UC0003F",
        "legal_entity",
        "中山市信达五金制品有限公司",
        "Integrity model (red, active) with records since 2005 and no adverse record ever: "
        "green channel and clean-years incentives.",
    ),
    "legal_rep_blacklisted": Scenario(
        "91442000MA4UC0004J",
        "legal_entity",
        "中山市宏图物流有限公司",
        "Clean company whose legal representative (legal_rep_wage_arrears) is blacklisted "
        "for wage arrears: punishment reaches the company through related[].",
    ),
    "legal_rep_wage_arrears": Scenario(
        "442000198803122010",
        "natural_person",
        "梁志强",
        "Natural person on the wage-arrears black list (active); legal representative of "
        "legal_rep_blacklisted.",
    ),
    "objection_pending": Scenario(
        "91442000MA4UC0005M",
        "legal_entity",
        "中山市绿源环保科技有限公司",
        "Black entry (environment) under objection (status objection_pending, objection "
        "OB-SEED-0001 verifying): the punishment is suspended.",
    ),
    "clean_no_entries": Scenario(
        "91442000MA4UC0006Q",
        "legal_entity",
        "中山市明德电子有限公司",
        "Clean company: no entries, records since 2015, no adverse record (three clean years).",
    ),
    "repaired": Scenario(
        "91442000MA4UC0007U",
        "legal_entity",
        "中山市安泰机械设备有限公司",
        "Former safety-production black entry, now repaired (credit repair): never triggers; "
        "last adverse record two years ago.",
    ),
    "expired": Scenario(
        "91442000MA4UC0008Y",
        "legal_entity",
        "中山市华美食品有限公司",
        "Two black entries that no longer apply: statistics with status expired, and quality "
        "still marked active but past its expires_on (expired by date).",
    ),
    "red_and_black": Scenario(
        "91442000MA4UC00092",
        "legal_entity",
        "中山市金盛商贸有限公司",
        "Tax credit grade A (red, active) and a major tax violation (black, active): black "
        "overrides red.",
    ),
    # --- contract v2 ------------------------------------------------------------------
    "dishonest_company_people": Scenario(
        "91442000MA4UC0110W",
        "legal_entity",
        "中山市永昌化工有限公司",
        "Seriously dishonest company (environment, black, active) whose people are reached "
        "through it (§三(二)): entry_barred_legal_rep, honours_barred_manager, "
        "director_not_responsible.",
    ),
    "entry_barred_legal_rep": Scenario(
        "442000198804123015",
        "natural_person",
        "欧阳志明",
        "Clean person, legal representative of dishonest_company_people: market_entry and "
        "honours restricted through the company (legal_representative_of); bidding normal.",
    ),
    "honours_barred_manager": Scenario(
        "442000199008233023",
        "natural_person",
        "陈美玲",
        "Clean person, senior manager of dishonest_company_people: honours restricted "
        "(senior_manager_of); market_entry normal (the plan does not name senior managers).",
    ),
    "director_not_responsible": Scenario(
        "442000199201053032",
        "natural_person",
        "林家豪",
        "Clean person, a director of dishonest_company_people not named responsible: "
        "neither market_entry nor honours restricted.",
    ),
    "repaired_last_year": Scenario(
        "91442000MA4UC0120X",
        "legal_entity",
        "中山市东升印务有限公司",
        "Records since 2008, a quality black listing of 300 days ago since repaired, and no "
        "last_adverse_on from the platform: no three clean years (contract v2, rule 2).",
    ),
    "withdrawn_listing": Scenario(
        "91442000MA4UC0130Y",
        "legal_entity",
        "中山市新宇电器有限公司",
        "Records since 2009 and a statistics black listing of 200 days ago, withdrawn as a "
        "mistake (§五(三)): three clean years all the same, licensing green channel.",
    ),
    "tax_a_rep_blacklisted": Scenario(
        "91442000MA4UC01400",
        "legal_entity",
        "中山市华通物流有限公司",
        "Tax credit grade A (red, active) whose legal representative (442000199503173048) is a "
        "court judgment defaulter: bidding restricted with the bonus points blocked, subsidy "
        "restricted with the priority blocked (contract v2, rule 4).",
    ),
    "outstanding_volunteer": Scenario(
        "44200019890630305X",
        "natural_person",
        "何晓琳",
        "Outstanding young volunteer (red): an integrity model (诚信典型, §二(一)), licensing "
        "green channel.",
    ),
    "media_recommended": Scenario(
        "91442000MA4UC01501",
        "legal_entity",
        "中山市嘉禾食品有限公司",
        "Trustworthy market subject brought forward by the media (red, §二(一)): licensing "
        "green channel, honours priority.",
    ),
    "unknown_role": Scenario(
        "91442000MA4UC01602",
        "legal_entity",
        "中山市鑫荣五金有限公司",
        "Related to a black-listed person (442000199309093060) in a role the catalogue does "
        "not name (supervisor): decided normally, nothing triggered through it.",
    ),
    "unknown_subject": Scenario(
        "91442000MA4UC00107",
        "legal_entity",
        "(not in the database)",
        "Checksum-valid USCC the platform holds nothing on: empty profile, record_since null.",
    ),
}

# Persons linked to the scenario companies (their legal representatives etc.).
SCENARIO_PERSONS: dict[str, tuple[str, str]] = {
    "44200019900715303X": ("陈国华", "judgment_defaulter_bidder"),
    "442000198909211046": ("黄丽娟", "tax_grade_a"),
    "440101198701023054": ("李建明", "integrity_model_clean"),
    "442000199111114065": ("何美玲", "objection_pending"),
    "442000199306065072": ("吴嘉豪", "clean_no_entries"),
    "442000199512306084": ("郑伟文", "repaired"),
    "442000199204057098": ("罗少芬", "expired"),
    "442000199608178101": ("冯家俊", "red_and_black"),
}

#: Persons of the contract v2 scenarios that are not scenario subjects themselves.
V2_PERSONS = ("442000199503173048", "442000199309093060")


def add_scenarios(b: _Builder) -> None:
    """Add the scenario subjects, their entries and relations to the seed's rows."""
    ref = b.ref
    s = SCENARIO_SUBJECTS

    def day(y: int, m: int, d: int) -> int:
        return date(y, m, d).toordinal()

    clean_person_since = day(2010, 6, 1)
    for pid, (name, employer) in SCENARIO_PERSONS.items():
        b.subject(pid, "natural_person", name, clean_person_since, None)
        b.relations.append((s[employer].id, "legal_representative", pid))

    def company(key: str, since: int, adverse: int | None) -> str:
        sc = s[key]
        b.subject(sc.id, sc.kind, sc.name, since, adverse)
        return sc.id

    year3 = 3 * 365
    listed = ref - 200
    sid = company("judgment_defaulter_bidder", day(2009, 4, 15), listed)
    b.entry(sid, "black", "court_judgment_defaulter", listed, None, "active")

    sid = company("tax_grade_a", day(2008, 9, 1), ref - 548)
    b.entry(sid, "red", "tax_credit_a", ref - 120, ref + 245, "active")

    sid = company("integrity_model_clean", day(2005, 3, 2), None)
    b.entry(sid, "red", "integrity_model", ref - 400, ref + 695, "active")

    company("legal_rep_blacklisted", day(2012, 3, 2), None)
    person = s["legal_rep_wage_arrears"]
    wage_listed = ref - 90
    b.subject(person.id, person.kind, person.name, day(2011, 1, 10), wage_listed)
    b.relations.append((s["legal_rep_blacklisted"].id, "legal_representative", person.id))
    b.entry(person.id, "black", "wage_arrears", wage_listed, wage_listed + year3, "active")

    env_listed = ref - 60
    sid = company("objection_pending", day(2014, 7, 7), env_listed)
    b.entry(sid, "black", "environment", env_listed, env_listed + year3, "objection_pending")

    company("clean_no_entries", day(2015, 5, 20), None)

    rep_listed = ref - 730
    sid = company("repaired", day(2010, 1, 5), rep_listed)
    b.entry(sid, "black", "safety_production", rep_listed, rep_listed + year3, "repaired")

    sid = company("expired", day(2011, 11, 11), ref - 4 * 365)
    b.entry(sid, "black", "statistics", ref - 4 * 365, ref - 365, "expired")
    b.entry(sid, "black", "quality", ref - (year3 + 30), ref - 30, "active")

    tax_listed = ref - 45
    sid = company("red_and_black", day(2013, 2, 28), tax_listed)
    b.entry(sid, "red", "tax_credit_a", ref - 300, ref + 65, "active")
    b.entry(sid, "black", "major_tax_violation", tax_listed, tax_listed + year3, "active")
    _scenarios_v2(b, company, day)


def _person(b: _Builder, key: str, since: int, adverse: int | None = None) -> str:
    sc = SCENARIO_SUBJECTS[key]
    b.subject(sc.id, sc.kind, sc.name, since, adverse)
    return sc.id


def _scenarios_v2(b: _Builder, company: Callable[[str, int, int | None], str], day: Any) -> None:
    """The scenarios of contract v2: people reached through their company, clean years and
    repaired or withdrawn listings, red and black in one check, new red-list sources, a role
    the catalogue does not name."""
    ref = b.ref
    year3 = 3 * 365
    people_since = day(2012, 5, 1)
    listed = ref - 150
    sid = company("dishonest_company_people", day(2006, 8, 8), listed)
    b.entry(sid, "black", "environment", listed, listed + year3, "active")
    for key, role in (
        ("entry_barred_legal_rep", "legal_representative"),
        ("honours_barred_manager", "senior_manager"),
        ("director_not_responsible", "director"),
    ):
        b.relations.append((sid, role, _person(b, key, people_since)))

    sid = company("repaired_last_year", day(2008, 3, 3), None)
    b.entry(sid, "black", "quality", ref - 300, ref - 300 + year3, "repaired")

    sid = company("withdrawn_listing", day(2009, 9, 9), None)
    b.entry(sid, "black", "statistics", ref - 200, ref - 200 + year3, "withdrawn")

    sid = company("tax_a_rep_blacklisted", day(2010, 10, 10), None)
    b.entry(sid, "red", "tax_credit_a", ref - 100, ref + 265, "active")
    rep = "442000199503173048"
    b.subject(rep, "natural_person", "梁嘉欣", day(2014, 1, 1), ref - 80)
    b.entry(rep, "black", "court_judgment_defaulter", ref - 80, None, "active")
    b.relations.append((sid, "legal_representative", rep))

    pid = _person(b, "outstanding_volunteer", day(2013, 6, 1))
    b.entry(pid, "red", "outstanding_volunteer", ref - 60, ref + 305, "active")

    sid = company("media_recommended", day(2011, 4, 4), None)
    b.entry(sid, "red", "media_recommended", ref - 90, ref + 275, "active")

    sid = company("unknown_role", day(2015, 2, 2), None)
    watcher = "442000199309093060"
    b.subject(watcher, "natural_person", "张伟强", day(2015, 1, 1), ref - 70)
    b.entry(watcher, "black", "finance", ref - 70, ref - 70 + year3, "active")
    b.relations.append((sid, "supervisor", watcher))
