"""Deterministic synthetic data for the sandbox platform.

:func:`seed_database` fills an empty database from a fixed random seed:
``seed_size`` subjects (legal entities with checksum-valid USCCs of Zhongshan,
``91442000…``, and natural persons with checksum-valid RICs of Guangdong),
legal representatives, principals and responsible persons linked to the
organisations, red- and black-list entries across every category of
:mod:`credit_check_sdk.categories` in every status, and record histories
(``record_since``, ``last_adverse_on``) so that some subjects have three
clean years and some do not. Same seed, size and reference date: same data.

It also inserts the named fixture subjects of :data:`SCENARIO_SUBJECTS`,
whose ids never change, for demos and tests:

>>> SCENARIO_SUBJECTS["judgment_defaulter_bidder"].id
'91442000MA4UC00019'
>>> from credit_check_sdk._ids import validate_id
>>> all(validate_id(s.id)[1] == s.kind for s in SCENARIO_SUBJECTS.values())
True

Dates are relative to the reference date (default: today in Asia/Shanghai),
so that "listed 200 days ago" stays true whenever the sandbox is seeded.
"""

from __future__ import annotations

import logging
import random
import secrets
import time
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any, Literal

import sqlalchemy as sa
from sqlalchemy.engine import Engine
from stdnum.cn import ric, uscc

from ..categories import BLACK, RED
from . import db

__all__ = ["SCENARIO_SUBJECTS", "Scenario", "SeedStats", "is_seeded", "seed_database"]

logger = logging.getLogger(__name__)

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
        "91442000MA4UC00019", "legal_entity", "中山市恒达建筑工程有限公司",
        "Bidder listed as a court judgment defaulter (black, active, listed 200 days ago, "
        "no end date): bidding and procurement are restricted.",
    ),
    "tax_grade_a": Scenario(
        "91442000MA4UC0002C", "legal_entity", "中山市粤海灯饰有限公司",
        "Tax credit grade A taxpayer (red, active until 245 days from now); an administrative "
        "penalty 18 months ago, so no three clean years.",
    ),
    "integrity_model_clean": Scenario(
        "91442000MA4UC0003F", "legal_entity", "中山市信达五金制品有限公司",
        "Integrity model (red, active) with records since 2005 and no adverse record ever: "
        "green channel and clean-years incentives.",
    ),
    "legal_rep_blacklisted": Scenario(
        "91442000MA4UC0004J", "legal_entity", "中山市宏图物流有限公司",
        "Clean company whose legal representative (legal_rep_wage_arrears) is blacklisted "
        "for wage arrears: punishment reaches the company through related[].",
    ),
    "legal_rep_wage_arrears": Scenario(
        "442000198803122010", "natural_person", "梁志强",
        "Natural person on the wage-arrears black list (active); legal representative of "
        "legal_rep_blacklisted.",
    ),
    "objection_pending": Scenario(
        "91442000MA4UC0005M", "legal_entity", "中山市绿源环保科技有限公司",
        "Black entry (environment) under objection (status objection_pending, objection "
        "OB-SEED-0001 verifying): the punishment is suspended.",
    ),
    "clean_no_entries": Scenario(
        "91442000MA4UC0006Q", "legal_entity", "中山市明德电子有限公司",
        "Clean company: no entries, records since 2015, no adverse record (three clean years).",
    ),
    "repaired": Scenario(
        "91442000MA4UC0007U", "legal_entity", "中山市安泰机械设备有限公司",
        "Former safety-production black entry, now repaired (credit repair): never triggers; "
        "last adverse record two years ago.",
    ),
    "expired": Scenario(
        "91442000MA4UC0008Y", "legal_entity", "中山市华美食品有限公司",
        "Two black entries that no longer apply: statistics with status expired, and quality "
        "still marked active but past its expires_on (expired by date).",
    ),
    "red_and_black": Scenario(
        "91442000MA4UC00092", "legal_entity", "中山市金盛商贸有限公司",
        "Tax credit grade A (red, active) and a major tax violation (black, active): black "
        "overrides red.",
    ),
    "unknown_subject": Scenario(
        "91442000MA4UC00107", "legal_entity", "(not in the database)",
        "Checksum-valid USCC the platform holds nothing on: empty profile, record_since null.",
    ),
}

# Persons linked to the scenario companies (their legal representatives etc.).
_SCENARIO_PERSONS: dict[str, tuple[str, str]] = {
    "44200019900715303X": ("陈国华", "judgment_defaulter_bidder"),
    "442000198909211046": ("黄丽娟", "tax_grade_a"),
    "440101198701023054": ("李建明", "integrity_model_clean"),
    "442000199111114065": ("何美玲", "objection_pending"),
    "442000199306065072": ("吴嘉豪", "clean_no_entries"),
    "442000199512306084": ("郑伟文", "repaired"),
    "442000199204057098": ("罗少芬", "expired"),
    "442000199608178101": ("冯家俊", "red_and_black"),
}

_AUTHORITIES: dict[str, tuple[str, ...]] = {
    "court_judgment_defaulter": ("中山市中级人民法院", "中山市第一人民法院", "中山市第二人民法院"),
    "major_tax_violation": ("国家税务总局中山市税务局",),
    "listed_company_violation": ("中国证券监督管理委员会广东监管局",),
    "safety_production": ("中山市应急管理局",),
    "environment": ("中山市生态环境局",),
    "food_drug": ("中山市市场监督管理局",),
    "quality": ("中山市市场监督管理局",),
    "statistics": ("中山市统计局",),
    "wage_arrears": ("中山市人力资源和社会保障局",),
    "customs": ("中华人民共和国中山海关",),
    "finance": ("中国人民银行中山市分行", "中山市地方金融监督管理局"),
    "e_commerce": ("中山市商务局",),
    "fiscal_funds": ("中山市财政局",),
    "overloaded_transport": ("中山市交通运输局",),
    "farm_inputs": ("中山市农业农村局",),
    "real_estate": ("中山市住房和城乡建设局",),
    "logistics": ("中山市交通运输局",),
    "insurance": ("国家金融监督管理总局中山监管分局",),
    "e_certification": ("广东省通信管理局",),
    "integrity_model": ("中山市发展和改革局",),
    "tax_credit_a": ("国家税务总局中山市税务局",),
    "customs_advanced_certified": ("中华人民共和国中山海关",),
    "outstanding_volunteer": ("共青团中山市委员会",),
    "association_recommended": ("中山市工商业联合会",),
}

_BASIS: dict[str, str] = {
    "court_judgment_defaulter": "《最高人民法院关于公布失信被执行人名单信息的若干规定》第一条",
    "major_tax_violation": "《重大税收违法失信主体信息公布管理办法》",
    "wage_arrears": "《拖欠农民工工资失信联合惩戒对象名单管理暂行办法》",
    "safety_production": "《安全生产严重失信主体名单管理办法》",
    "environment": "《企业环境信用评价办法（试行）》",
    "tax_credit_a": "《纳税信用管理办法（试行）》第二十九条",
    "integrity_model": "《中山市建立完善守信联合激励和失信联合惩戒制度的实施方案》§二(一)",
}

_PERSON_CATEGORIES = ("court_judgment_defaulter", "finance", "wage_arrears", "major_tax_violation",
                      "listed_company_violation", "overloaded_transport")
_PERSON_RED = ("outstanding_volunteer",)

_SURNAMES = "陈李黄梁张林刘吴何郑杨罗冯周谢郭麦叶苏胡朱徐高萧"
_COMPOUND_SURNAMES = ("欧阳", "司徒", "欧", "区")
_GIVEN_MALE = "伟强军明志国华建文杰俊浩嘉豪永健辉锦荣家德"
_GIVEN_FEMALE = "丽娟美玲芳敏婷静燕雪慧红秀英颖欣嘉琳晓"
_BRAND = "恒达信宏明德安泰华美金盛粤海绿源兴隆富利永昌东升新宇华通鑫荣嘉禾中润"
_INDUSTRY = ("建筑工程", "电器", "五金制品", "灯饰", "家具", "食品", "物流", "科技", "印务",
             "服装", "化工", "环保科技", "物业管理", "医药", "机械设备", "装饰工程", "农业发展",
             "电子", "餐饮管理", "商贸", "红木家具", "游艺设备", "纺织")
_SUFFIX = ("有限公司", "有限公司", "有限公司", "股份有限公司")
_TOWNS = ("", "", "", "小榄镇", "古镇镇", "南头镇", "火炬开发区", "石岐区", "东区", "三乡镇")
# Region codes that python-stdnum accepts for people born in 1988 or later.
_REGIONS = ("442000", "442000", "442000", "442000", "440101", "440103", "440104", "440303",
            "441302", "440902")
_USCC_ALPHABET = "0123456789ABCDEFGHJKLMNPQRTUWXY"
_ORG_SPACE = 31**7  # the 7 free characters after "MA"
_ORG_STRIDE = 1_000_003  # coprime with 31: i -> i * stride mod 31**7 is a bijection


@dataclass(frozen=True)
class SeedStats:
    """What :func:`seed_database` inserted and how long it took."""

    subjects: int
    relations: int
    entries: int
    adverse_records: int
    seconds: float


def is_seeded(engine: Engine) -> bool:
    """Whether the database already holds seeded data (a ``generation`` in ``meta``).

    >>> engine = db.make_engine("sqlite://")
    >>> is_seeded(engine)
    False
    """
    with engine.connect() as conn:
        value = conn.execute(
            sa.select(db.meta.c.value).where(db.meta.c.key == "generation")
        ).scalar_one_or_none()
    return value is not None


def _uscc(index: int) -> str:
    n = (index * _ORG_STRIDE + 7_777) % _ORG_SPACE
    chars = []
    for _ in range(7):
        n, r = divmod(n, 31)
        chars.append(_USCC_ALPHABET[r])
    body = "91442000MA" + "".join(reversed(chars))
    return body + uscc.calc_check_digit(body)


def _ric(rng: random.Random, used: set[str]) -> tuple[str, bool]:
    while True:
        region = rng.choice(_REGIONS)
        born = date(1988, 1, 1) + timedelta(days=rng.randrange(0, 17 * 365))
        seq = rng.randrange(0, 1000)
        body = f"{region}{born:%Y%m%d}{seq:03d}"
        number = body + ric.calc_check_digit(body + "0")
        # About 1 in 31 all-digit RICs is also a valid USCC; such ids need a kind to be
        # told apart, so the seed leaves them out.
        if number not in used and not uscc.is_valid(number):
            used.add(number)
            return number, seq % 2 == 1  # odd sequence digit: male


def _person_name(rng: random.Random, male: bool) -> str:
    surname = rng.choice(_COMPOUND_SURNAMES) if rng.random() < 0.03 else rng.choice(_SURNAMES)
    pool = _GIVEN_MALE if male else _GIVEN_FEMALE
    given = "".join(rng.choice(pool) for _ in range(1 if rng.random() < 0.25 else 2))
    return surname + given


def _company_name(rng: random.Random) -> str:
    brand = rng.choice(_BRAND) + rng.choice(_BRAND)
    return f"中山市{rng.choice(_TOWNS)}{brand}{rng.choice(_INDUSTRY)}{rng.choice(_SUFFIX)}"


class _Builder:
    """Accumulates rows; entries get their change-feed seq when written."""

    def __init__(self, ref: date) -> None:
        self.ref = ref
        self.subjects: list[dict[str, Any]] = []
        self.relations: list[dict[str, Any]] = []
        self.entries: list[dict[str, Any]] = []
        self.adverse: list[dict[str, Any]] = []
        self.counter = 0

    def subject(
        self,
        sid: str,
        kind: Kind,
        name: str,
        record_since: date | None,
        last_adverse_on: date | None,
    ) -> None:
        self.subjects.append({"id": sid, "kind": kind, "name": name,
                              "record_since": record_since, "last_adverse_on": last_adverse_on})
        if last_adverse_on is not None:
            self.adverse.append({"subject_id": sid, "kind": "administrative_penalty",
                                 "occurred_on": last_adverse_on, "detail": "行政处罚决定"})

    def entry(
        self,
        sid: str,
        list_name: str,
        category: str,
        listed_on: date,
        expires_on: date | None,
        status: str,
        authority: str | None = None,
    ) -> str:
        self.counter += 1
        prefix = "BL" if list_name == "black" else "RL"
        entry_id = f"{prefix}-{listed_on.year}-{self.counter:06d}"
        zh = (BLACK.get(category) or RED[category])[0]
        updated = listed_on
        if status in ("repaired", "withdrawn", "objection_pending", "expired"):
            ceiling = min(self.ref, expires_on) if status == "expired" and expires_on else self.ref
            span = max((ceiling - listed_on).days, 0)
            updated = listed_on + timedelta(days=span // 2 + 1) if span else listed_on
        self.entries.append({
            "entry_id": entry_id,
            "subject_id": sid,
            "list": list_name,
            "category": category,
            "authority": authority or _AUTHORITIES[category][0],
            "basis": _BASIS.get(category, f"{zh}认定文书"),
            "listed_on": listed_on,
            "expires_on": expires_on,
            "status": status,
            "updated_at": datetime.combine(min(updated, self.ref), datetime.min.time())
            + timedelta(hours=9, minutes=self.counter % 480),
            "deleted": False,
        })
        return entry_id


def _scenarios(b: _Builder) -> None:
    ref = b.ref
    s = SCENARIO_SUBJECTS
    clean_person_since = date(2010, 6, 1)
    for pid, (name, employer) in _SCENARIO_PERSONS.items():
        b.subject(pid, "natural_person", name, clean_person_since, None)
        b.relations.append({"org_id": s[employer].id, "role": "legal_representative",
                            "person_id": pid})

    def company(key: str, since: date, adverse: date | None) -> str:
        sc = s[key]
        b.subject(sc.id, sc.kind, sc.name, since, adverse)
        return sc.id

    listed = ref - timedelta(days=200)
    sid = company("judgment_defaulter_bidder", date(2009, 4, 15), listed)
    b.entry(sid, "black", "court_judgment_defaulter", listed, None, "active")

    sid = company("tax_grade_a", date(2008, 9, 1), ref - timedelta(days=548))
    b.entry(sid, "red", "tax_credit_a", ref - timedelta(days=120), ref + timedelta(days=245),
            "active")

    sid = company("integrity_model_clean", date(2005, 3, 2), None)
    b.entry(sid, "red", "integrity_model", ref - timedelta(days=400), ref + timedelta(days=695),
            "active")

    company("legal_rep_blacklisted", date(2012, 3, 2), None)
    person = s["legal_rep_wage_arrears"]
    wage_listed = ref - timedelta(days=90)
    b.subject(person.id, person.kind, person.name, date(2011, 1, 10), wage_listed)
    b.relations.append({"org_id": s["legal_rep_blacklisted"].id, "role": "legal_representative",
                        "person_id": person.id})
    b.entry(person.id, "black", "wage_arrears", wage_listed, wage_listed + timedelta(days=3 * 365),
            "active")

    env_listed = ref - timedelta(days=60)
    sid = company("objection_pending", date(2014, 7, 7), env_listed)
    b.entry(sid, "black", "environment", env_listed, env_listed + timedelta(days=3 * 365),
            "objection_pending")

    company("clean_no_entries", date(2015, 5, 20), None)

    rep_listed = ref - timedelta(days=730)
    sid = company("repaired", date(2010, 1, 5), rep_listed)
    b.entry(sid, "black", "safety_production", rep_listed, rep_listed + timedelta(days=3 * 365),
            "repaired")

    sid = company("expired", date(2011, 11, 11), ref - timedelta(days=4 * 365))
    b.entry(sid, "black", "statistics", ref - timedelta(days=4 * 365), ref - timedelta(days=365),
            "expired")
    b.entry(sid, "black", "quality", ref - timedelta(days=3 * 365 + 30), ref - timedelta(days=30),
            "active")

    tax_listed = ref - timedelta(days=45)
    sid = company("red_and_black", date(2013, 2, 28), tax_listed)
    b.entry(sid, "red", "tax_credit_a", ref - timedelta(days=300), ref + timedelta(days=65),
            "active")
    b.entry(sid, "black", "major_tax_violation", tax_listed, tax_listed + timedelta(days=3 * 365),
            "active")


# (status, share) for black and red entries; "expired_by_date" is status active past expires_on.
_BLACK_STATUSES = (("active", 55), ("objection_pending", 5), ("repaired", 15), ("expired", 12),
                   ("expired_by_date", 5), ("withdrawn", 8))
_RED_STATUSES = (("active", 75), ("expired", 15), ("expired_by_date", 5), ("withdrawn", 5))


def _weighted(options: tuple[tuple[str, int], ...]) -> list[str]:
    return [name for name, share in options for _ in range(share)]


def _bulk(b: _Builder, rng: random.Random, seed_size: int, entries_per_subject: float) -> None:
    ref = b.ref
    black_status = _weighted(_BLACK_STATUSES)
    red_status = _weighted(_RED_STATUSES)
    org_black = tuple(BLACK)
    org_red = tuple(c for c in RED if c not in _PERSON_RED)
    # The first entries cycle through every category and status, so that even a
    # small sandbox has each of them at least once.
    coverage: Iterator[tuple[str, str, str | None]] = iter(
        [("black", c, None) for c in BLACK] + [("red", c, None) for c in RED]
        + [("black", "court_judgment_defaulter", st) for st, _ in _BLACK_STATUSES]
        + [("red", "tax_credit_a", st) for st, _ in _RED_STATUSES]
    )
    listed_share = 0.3
    extra_mean = max(entries_per_subject / listed_share - 1.0, 0.0)
    used_rics: set[str] = set(_SCENARIO_PERSONS) | {SCENARIO_SUBJECTS["legal_rep_wage_arrears"].id}
    n_orgs = max(int(seed_size * 0.6), 1)
    n_persons = max(seed_size - n_orgs, 1)
    persons: list[str] = []
    earliest = date(1995, 1, 1)
    span_days = (ref - earliest).days - 30

    def one_subject(sid: str, kind: Kind, name: str) -> None:
        record_since: date | None = earliest + timedelta(days=rng.randrange(span_days))
        if kind == "natural_person":
            record_since = max(record_since or earliest, date(2008, 1, 1))
        n = 0
        if rng.random() < listed_share:
            n = 1 + int(rng.random() * 2 * extra_mean + 0.5)
        last_adverse: date | None = None
        if n == 0 and rng.random() < 0.35 and record_since is not None:
            last_adverse = record_since + timedelta(
                days=rng.randrange(max((ref - record_since).days, 1)))
        if n == 0 and rng.random() < 0.1:
            record_since = None  # the platform holds no records for this one
        for _ in range(n):
            picked = next(coverage, None)
            if picked is not None:
                list_name, category, status = picked
            else:
                list_name = "black" if rng.random() < 0.65 else "red"
                if kind == "natural_person":
                    pool: tuple[str, ...] = (
                        _PERSON_CATEGORIES if list_name == "black" else _PERSON_RED)
                else:
                    pool = org_black if list_name == "black" else org_red
                category = rng.choice(pool)
                status = None
            if status is None:
                status = rng.choice(black_status if list_name == "black" else red_status)
            listed_on = ref - timedelta(days=rng.randrange(1, 8 * 365))
            term = timedelta(days=365 * (3 if list_name == "black" else rng.choice((1, 2, 3))))
            expires_on: date | None = listed_on + term
            if status == "expired" or status == "expired_by_date":
                if expires_on is not None and expires_on >= ref:
                    listed_on = ref - term - timedelta(days=rng.randrange(1, 900))
                    expires_on = listed_on + term
                if status == "expired_by_date":
                    status = "active"
            elif status in ("active", "objection_pending"):
                if list_name == "black" and rng.random() < 0.2:
                    expires_on = None
                elif expires_on is not None and expires_on <= ref:
                    listed_on = ref - timedelta(days=rng.randrange(1, term.days - 1))
                    expires_on = listed_on + term
            if record_since is None or record_since > listed_on:
                record_since = listed_on - timedelta(days=rng.randrange(0, 2000))
            if list_name == "black" and (last_adverse is None or listed_on > last_adverse):
                last_adverse = listed_on
            authority = rng.choice(_AUTHORITIES[category])
            b.entry(sid, list_name, category, listed_on, expires_on, status, authority)
        b.subject(sid, kind, name, record_since, last_adverse)

    for _ in range(n_persons):
        pid, male = _ric(rng, used_rics)
        persons.append(pid)
        one_subject(pid, "natural_person", _person_name(rng, male))
    fixture_ids = {sc.id for sc in SCENARIO_SUBJECTS.values()}
    for i in range(n_orgs):
        oid = _uscc(i)
        if oid in fixture_ids:  # pragma: no cover - the fixtures' codes are outside the sequence
            oid = _uscc(i + _ORG_SPACE // 2)
        one_subject(oid, "legal_entity", _company_name(rng))
        b.relations.append({"org_id": oid, "role": "legal_representative",
                            "person_id": persons[rng.randrange(len(persons))]})
        if rng.random() < 0.2:
            b.relations.append({"org_id": oid, "role": "principal",
                                "person_id": persons[rng.randrange(len(persons))]})
        if rng.random() < 0.1:
            b.relations.append({"org_id": oid, "role": "responsible_person",
                                "person_id": persons[rng.randrange(len(persons))]})


def _chunks(rows: list[dict[str, Any]], size: int = 50_000) -> Iterator[list[dict[str, Any]]]:
    for start in range(0, len(rows), size):
        yield rows[start:start + size]


def seed_database(
    engine: Engine,
    *,
    seed: int = 20181130,
    seed_size: int = 10_000,
    reference_date: date | None = None,
    entries_per_subject: float = 1.0,
) -> SeedStats | None:
    """Fill an empty sandbox database; ``None`` (and nothing done) when already seeded.

    ``seed_size`` is the number of bulk subjects (the fixtures come on top);
    about ``entries_per_subject`` list entries are made per subject.

    >>> engine = db.make_engine("sqlite://")
    >>> stats = seed_database(engine, seed=1, seed_size=200)
    >>> stats.subjects > 200, stats.entries > 50
    (True, True)
    >>> seed_database(engine) is None
    True
    """
    if is_seeded(engine):
        return None
    started = time.perf_counter()
    ref = reference_date or db.now().date()
    rng = random.Random(seed)  # noqa: S311 - reproducible synthetic data, not security
    b = _Builder(ref)
    _scenarios(b)
    _bulk(b, rng, seed_size, entries_per_subject)
    # The change feed lists the entries in the order they last changed.
    b.entries.sort(key=lambda e: (e["updated_at"], e["entry_id"]))
    change_rows = [
        {"seq": i, "entry_id": e["entry_id"], "op": "upsert", "changed_at": e["updated_at"]}
        for i, e in enumerate(b.entries, start=1)
    ]
    seeded_at = db.now()
    objection = {
        "objection_id": "OB-SEED-0001", "agency_id": "sandbox-seed",
        "subject_id": SCENARIO_SUBJECTS["objection_pending"].id,
        "entry_id": next(e["entry_id"] for e in b.entries
                         if e["subject_id"] == SCENARIO_SUBJECTS["objection_pending"].id),
        "check_id": None, "reason": "处罚决定已被行政复议撤销",
        "submitted_by": "中山市绿源环保科技有限公司",
        "status": "verifying", "previous_status": "active", "filed_at": seeded_at,
        "resolved_at": None,
    }
    with engine.begin() as conn:
        for table, rows in ((db.subjects, b.subjects), (db.relations, b.relations),
                            (db.entries, b.entries), (db.changes, change_rows),
                            (db.adverse_records, b.adverse)):
            for chunk in _chunks(rows):
                conn.execute(table.insert(), chunk)
        conn.execute(db.objections.insert(), [objection])
        conn.execute(db.meta.insert(), [
            {"key": "generation", "value": secrets.token_hex(6)},
            {"key": "seed", "value": str(seed)},
            {"key": "seed_size", "value": str(seed_size)},
            {"key": "reference_date", "value": ref.isoformat()},
            {"key": "seeded_at", "value": db.format_ts(seeded_at)},
        ])
    stats = SeedStats(len(b.subjects), len(b.relations), len(b.entries), len(b.adverse),
                      time.perf_counter() - started)
    logger.info("seeded %d subjects, %d relations, %d entries in %.1f s", stats.subjects,
                stats.relations, stats.entries, stats.seconds)
    return stats
