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
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from datetime import date, datetime
from operator import itemgetter
from typing import Any, Literal

import sqlalchemy as sa
from sqlalchemy.engine import Engine

from credit_check_sdk.categories import BLACK, RED

from . import db
from .scenarios import SCENARIO_PERSONS, SCENARIO_SUBJECTS, V2_PERSONS, Scenario, add_scenarios

__all__ = ["SCENARIO_SUBJECTS", "Scenario", "SeedStats", "is_seeded", "seed_database"]

logger = logging.getLogger(__name__)

Kind = Literal["legal_entity", "natural_person"]


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
    "media_recommended": ("中共中山市委宣传部",),
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

_PERSON_CATEGORIES = (
    "court_judgment_defaulter",
    "finance",
    "wage_arrears",
    "major_tax_violation",
    "listed_company_violation",
    "overloaded_transport",
)
_PERSON_RED = ("outstanding_volunteer",)

_SURNAMES = "陈李黄梁张林刘吴何郑杨罗冯周谢郭麦叶苏胡朱徐高萧"
_COMPOUND_SURNAMES = ("欧阳", "司徒", "欧", "区")
_GIVEN_MALE = "伟强军明志国华建文杰俊浩嘉豪永健辉锦荣家德"
_GIVEN_FEMALE = "丽娟美玲芳敏婷静燕雪慧红秀英颖欣嘉琳晓"
_BRAND = "恒达信宏明德安泰华美金盛粤海绿源兴隆富利永昌东升新宇华通鑫荣嘉禾中润"
_INDUSTRY = (
    "建筑工程",
    "电器",
    "五金制品",
    "灯饰",
    "家具",
    "食品",
    "物流",
    "科技",
    "印务",
    "服装",
    "化工",
    "环保科技",
    "物业管理",
    "医药",
    "机械设备",
    "装饰工程",
    "农业发展",
    "电子",
    "餐饮管理",
    "商贸",
    "红木家具",
    "游艺设备",
    "纺织",
)
_SUFFIX = ("有限公司", "有限公司", "有限公司", "股份有限公司")
_TOWNS = ("", "", "", "小榄镇", "古镇镇", "南头镇", "火炬开发区", "石岐区", "东区", "三乡镇")
# Region codes that python-stdnum accepts for people born in 1988 or later.
_REGIONS = (
    "442000",
    "442000",
    "442000",
    "442000",
    "440101",
    "440103",
    "440104",
    "440303",
    "441302",
    "440902",
)
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


# USCC check-digit weights (GB 32100-2015) and the ones of the fixed "91442000MA" prefix.
_USCC_WEIGHTS = (1, 3, 9, 27, 19, 26, 16, 17, 20, 29, 25, 13, 8, 24, 10, 30, 28)
_ORG_PREFIX = "91442000MA"
_ORG_PREFIX_SUM = sum(
    _USCC_ALPHABET.index(c) * w for c, w in zip(_ORG_PREFIX, _USCC_WEIGHTS[:10], strict=True)
)
_BORN_FROM = date(1988, 1, 1).toordinal()
_BORN_DAYS = 17 * 365
#: ``updated_at`` times of day, as SQLAlchemy stores a SQLite ``DATETIME``: 09:00 + n minutes.
_TIMES = tuple(f" {9 + m // 60:02d}:{m % 60:02d}:00.000000" for m in range(480))


class _Days(dict[int, str]):
    """Day ordinal -> ISO date, filled on demand (the seed's dates span a few thousand days)."""

    def __missing__(self, day: int) -> str:
        text = date.fromordinal(day).isoformat()
        self[day] = text
        return text


def _code_table(width: int, first: int) -> tuple[list[str], list[int]]:
    """Every ``width``-character code in the USCC alphabet and its weighted sum when it
    stands at character position ``first``."""
    codes, sums = [""], [0]
    for pos in range(first, first + width):
        w = _USCC_WEIGHTS[pos]
        codes = [c + ch for c in codes for ch in _USCC_ALPHABET]
        sums = [t + r * w for t in sums for r in range(31)]
    return codes, sums


# The 7 free characters of the seed's organisation codes, in parts of 2, 2 and 3 characters.
_ORG_PARTS = (_code_table(2, 10), _code_table(2, 12), _code_table(3, 14))


def _uscc(index: int) -> str:
    """The ``index``-th organisation code of the seed, with its check digit (as stdnum)."""
    n = (index * _ORG_STRIDE + 7_777) % _ORG_SPACE
    (a_codes, a_sums), (b_codes, b_sums), (c_codes, c_sums) = _ORG_PARTS
    a, rest = divmod(n, 31**5)
    b, c = divmod(rest, 31**3)
    total = _ORG_PREFIX_SUM + a_sums[a] + b_sums[b] + c_sums[c]
    return _ORG_PREFIX + a_codes[a] + b_codes[b] + c_codes[c] + _USCC_ALPHABET[-total % 31]


_DIGITS = "0123456789"


def _ric_part(texts: Sequence[str], first: int) -> list[tuple[str, int, int]]:
    """``(text, base-13 share, USCC weighted share)`` of RIC body parts at ``first``."""
    out = []
    for text in texts:
        shift = 13 ** (17 - first - len(text))
        weights = _USCC_WEIGHTS[first : first + len(text)]
        out.append(
            (
                text,
                int(text, 13) * shift,
                sum(int(ch) * w for ch, w in zip(text, weights, strict=True)),
            )
        )
    return out


class _Gen:
    """The random choices of the seed, on one :class:`random.Random`.

    ``below(n)`` is what ``choice`` and ``randrange`` draw from, called directly:
    the same stream of numbers as those, without their argument handling.
    """

    def __init__(self, rng: random.Random) -> None:
        self.random = rng.random
        self.below: Callable[[int], int] = rng._randbelow  # type: ignore[attr-defined]
        born = [date.fromordinal(_BORN_FROM + d).strftime("%Y%m%d") for d in range(_BORN_DAYS)]
        # RIC parts (region, birth date, sequence) with their shares of the base-13 value of
        # the 17-digit body and of its USCC weighted sum, so that the checks are additions.
        self.ric_parts = (
            _ric_part(_REGIONS, 0),
            _ric_part(born, 6),
            _ric_part([f"{q:03d}" for q in range(1000)], 14),
        )

    def ric(self, used: set[str]) -> tuple[str, bool]:
        below = self.below
        regions, borns, seqs = self.ric_parts
        while True:
            region, r13, ru = regions[below(len(regions))]
            born, b13, bu = borns[below(_BORN_DAYS)]
            seq = below(1000)
            sq, s13, su = seqs[seq]
            body = region + born + sq
            check = (1 - 2 * (r13 + b13 + s13)) % 11  # ISO 7064 MOD 11-2, as stdnum
            # About 1 in 31 all-digit RICs is also a valid USCC; such ids need a kind to be
            # told apart, so the seed leaves them out.
            if check == 10:
                number = body + "X"
                as_uscc = _USCC_ALPHABET[-(ru + bu + su) % 31] == "X"
            else:
                number = body + _DIGITS[check]
                as_uscc = _USCC_ALPHABET[-(ru + bu + su) % 31] == _DIGITS[check]
            if not as_uscc and number not in used:
                used.add(number)
                return number, seq % 2 == 1  # odd sequence digit: male

    def person_name(self, male: bool) -> str:
        below, rnd = self.below, self.random
        if rnd() < 0.03:
            surname = _COMPOUND_SURNAMES[below(len(_COMPOUND_SURNAMES))]
        else:
            surname = _SURNAMES[below(len(_SURNAMES))]
        pool = _GIVEN_MALE if male else _GIVEN_FEMALE
        if rnd() < 0.25:
            return surname + pool[below(len(pool))]
        return surname + pool[below(len(pool))] + pool[below(len(pool))]

    def company_name(self) -> str:
        below = self.below
        nb = len(_BRAND)
        brand = _BRAND[below(nb)] + _BRAND[below(nb)]
        town = _TOWNS[below(len(_TOWNS))]
        industry = _INDUSTRY[below(len(_INDUSTRY))]
        return f"中山市{town}{brand}{industry}{_SUFFIX[below(len(_SUFFIX))]}"


#: Columns of the bulk-loaded tables, in the order of the builder's row tuples.
_COLUMNS: dict[str, tuple[str, ...]] = {
    "subjects": ("id", "kind", "name", "record_since", "last_adverse_on"),
    "relations": ("org_id", "role", "person_id"),
    "entries": (
        "entry_id",
        "subject_id",
        "list",
        "category",
        "authority",
        "basis",
        "listed_on",
        "expires_on",
        "status",
        "updated_at",
        "deleted",
    ),
    "changes": ("seq", "entry_id", "op", "changed_at", "relation"),
    "adverse_records": ("subject_id", "kind", "occurred_on", "detail"),
}

_STATUS_MOVED = frozenset({"repaired", "withdrawn", "objection_pending", "expired"})
_ENTRY_BASIS = {c: _BASIS.get(c, f"{(BLACK.get(c) or RED[c])[0]}认定文书") for c in (*BLACK, *RED)}


class _Builder:
    """Accumulates rows as tuples of database values (dates as ISO text, as SQLAlchemy
    stores them in SQLite); dates are handled as day ordinals."""

    def __init__(self, ref: date) -> None:
        self.ref = ref.toordinal()
        self.days = _Days()
        self.subjects: list[tuple[Any, ...]] = []
        self.relations: list[tuple[str, str, str]] = []
        self.entries: list[tuple[Any, ...]] = []
        self.adverse: list[tuple[str, str, str, str]] = []
        self.counter = 0

    def subject(
        self, sid: str, kind: str, name: str, record_since: int | None, last_adverse_on: int | None
    ) -> None:
        days = self.days
        since = days[record_since] if record_since is not None else None
        if last_adverse_on is None:
            self.subjects.append((sid, kind, name, since, None))
            return
        adverse = days[last_adverse_on]
        self.subjects.append((sid, kind, name, since, adverse))
        self.adverse.append((sid, "administrative_penalty", adverse, "行政处罚决定"))

    def entry(
        self,
        sid: str,
        list_name: str,
        category: str,
        listed_on: int,
        expires_on: int | None,
        status: str,
        authority: str | None = None,
    ) -> str:
        self.counter = counter = self.counter + 1
        days = self.days
        listed = days[listed_on]
        entry_id = f"{'BL' if list_name == 'black' else 'RL'}-{listed[:4]}-{counter:06d}"
        ref = self.ref
        updated = listed_on
        if status in _STATUS_MOVED:
            ceiling = min(ref, expires_on) if status == "expired" and expires_on else ref
            span = ceiling - listed_on
            if span > 0:
                updated = listed_on + span // 2 + 1
        self.entries.append(
            (
                entry_id,
                sid,
                list_name,
                category,
                authority or _AUTHORITIES[category][0],
                _ENTRY_BASIS[category],
                listed,
                days[expires_on] if expires_on is not None else None,
                status,
                days[min(updated, ref)] + _TIMES[counter % 480],
                0,
            )
        )
        return entry_id


# (status, share) for black and red entries; "expired_by_date" is status active past expires_on.
_BLACK_STATUSES = (
    ("active", 55),
    ("objection_pending", 5),
    ("repaired", 15),
    ("expired", 12),
    ("expired_by_date", 5),
    ("withdrawn", 8),
)
_RED_STATUSES = (("active", 75), ("expired", 15), ("expired_by_date", 5), ("withdrawn", 5))


#: Roles of contract v2 in the bulk data, with the share of organisations that have one.
_V2_ROLES = (
    ("senior_manager", 0.1),
    ("director", 0.1),
    ("shareholder", 0.15),
    ("registered_practitioner", 0.05),
)


def _weighted(options: tuple[tuple[str, int], ...]) -> list[str]:
    return [name for name, share in options for _ in range(share)]


def _bulk(
    b: _Builder,
    rng: random.Random,
    seed_size: int,
    entries_per_subject: float,
    roles_seed: int = 0,
) -> None:
    gen = _Gen(rng)
    below, rnd = gen.below, gen.random
    ref = b.ref
    black_status = _weighted(_BLACK_STATUSES)
    red_status = _weighted(_RED_STATUSES)
    org_black = tuple(BLACK)
    org_red = tuple(c for c in RED if c not in _PERSON_RED)
    # The first entries cycle through every category and status, so that even a
    # small sandbox has each of them at least once.
    coverage: Iterator[tuple[str, str, str | None]] = iter(
        [("black", c, None) for c in BLACK]
        + [("red", c, None) for c in RED]
        + [("black", "court_judgment_defaulter", st) for st, _ in _BLACK_STATUSES]
        + [("red", "tax_credit_a", st) for st, _ in _RED_STATUSES]
    )
    listed_share = 0.3
    extra_mean = max(entries_per_subject / listed_share - 1.0, 0.0)
    used_rics: set[str] = (
        set(SCENARIO_PERSONS)
        | {sc.id for sc in SCENARIO_SUBJECTS.values() if sc.kind == "natural_person"}
        | set(V2_PERSONS)
    )
    n_orgs = max(int(seed_size * 0.6), 1)
    n_persons = max(seed_size - n_orgs, 1)
    persons: list[str] = []
    earliest = date(1995, 1, 1).toordinal()
    span_days = (ref - earliest) - 30
    person_floor = date(2008, 1, 1).toordinal()
    entry = b.entry
    subject = b.subject

    def one_subject(sid: str, kind: Kind, name: str) -> None:
        since = earliest + below(span_days)
        person = kind == "natural_person"
        if person and since < person_floor:
            since = person_floor
        record_since: int | None = since
        n = 0
        if rnd() < listed_share:
            n = 1 + int(rnd() * 2 * extra_mean + 0.5)
        last_adverse: int | None = None
        if n == 0:
            if rnd() < 0.35:
                last_adverse = since + below(max(ref - since, 1))
            if rnd() < 0.1:
                record_since = None  # the platform holds no records for this one
        for _ in range(n):
            picked = next(coverage, None)
            if picked is not None:
                list_name, category, status = picked
            else:
                list_name = "black" if rnd() < 0.65 else "red"
                if person:
                    pool: tuple[str, ...] = (
                        _PERSON_CATEGORIES if list_name == "black" else _PERSON_RED
                    )
                else:
                    pool = org_black if list_name == "black" else org_red
                category = pool[below(len(pool))]
                status = None
            black = list_name == "black"
            if status is None:
                statuses = black_status if black else red_status
                status = statuses[below(len(statuses))]
            listed_on = ref - (1 + below(8 * 365 - 1))
            term = 365 * (3 if black else 1 + below(3))
            expires_on: int | None = listed_on + term
            if status == "expired" or status == "expired_by_date":
                if listed_on + term >= ref:
                    listed_on = ref - term - (1 + below(899))
                    expires_on = listed_on + term
                if status == "expired_by_date":
                    status = "active"
            elif status == "active" or status == "objection_pending":
                if black and rnd() < 0.2:
                    expires_on = None
                elif listed_on + term <= ref:
                    listed_on = ref - (1 + below(term - 2))
                    expires_on = listed_on + term
            if record_since is None or record_since > listed_on:
                record_since = listed_on - below(2000)
            if black and (last_adverse is None or listed_on > last_adverse):
                last_adverse = listed_on
            authorities = _AUTHORITIES[category]
            entry(
                sid,
                list_name,
                category,
                listed_on,
                expires_on,
                status,
                authorities[below(len(authorities))],
            )
        subject(sid, kind, name, record_since, last_adverse)

    for _ in range(n_persons):
        pid, male = gen.ric(used_rics)
        persons.append(pid)
        one_subject(pid, "natural_person", gen.person_name(male))
    fixture_ids = {sc.id for sc in SCENARIO_SUBJECTS.values()}
    relations = b.relations
    extra = random.Random(f"v2-roles-{roles_seed}")  # noqa: S311 - reproducible synthetic data
    more, more_below = extra.random, extra.randrange
    n_people = len(persons)
    for i in range(n_orgs):
        oid = _uscc(i)
        if oid in fixture_ids:  # pragma: no cover - the fixtures' codes are outside the sequence
            oid = _uscc(i + _ORG_SPACE // 2)
        one_subject(oid, "legal_entity", gen.company_name())
        relations.append((oid, "legal_representative", persons[below(n_people)]))
        if rnd() < 0.2:
            relations.append((oid, "principal", persons[below(n_people)]))
        if rnd() < 0.1:
            relations.append((oid, "responsible_person", persons[below(n_people)]))
        # The roles contract v2 adds, drawn from a stream of their own so that the data
        # drawn above stays what it was for the same seed.
        for role, share in _V2_ROLES:
            if more() < share:
                relations.append((oid, role, persons[more_below(n_people)]))


def _load_sqlite(engine: Engine, tables: list[tuple[sa.Table, list[tuple[Any, ...]]]]) -> None:
    """Bulk-load into SQLite through the DBAPI connection: plain ``executemany``, no journal
    and no fsync while loading, secondary indexes built once the rows are in.

    A seed that fails half-way leaves a database to delete (there is no journal to roll back).
    """
    raw = engine.raw_connection()
    try:
        dbapi = raw.driver_connection
        assert dbapi is not None  # noqa: S101 - a live pooled connection
        dbapi.commit()
        cur = dbapi.cursor()
        mode = cur.execute("PRAGMA journal_mode=OFF").fetchone()
        cur.execute("PRAGMA synchronous=OFF")
        cur.execute("PRAGMA cache_size=-262144")
        logger.debug("bulk load with journal_mode=%s", mode[0] if mode else "?")
        try:
            indexes = [ix for table, _ in tables for ix in table.indexes]
            for ix in indexes:
                cur.execute(f'DROP INDEX IF EXISTS "{ix.name}"')
            cur.execute("BEGIN")
            for table, rows in tables:
                cols = _COLUMNS[table.name]
                cur.executemany(
                    f"INSERT INTO {table.name} ({', '.join(cols)}) "  # noqa: S608 - fixed names
                    f"VALUES ({', '.join('?' * len(cols))})",
                    rows,
                )
            for ix in indexes:
                cur.execute(str(sa.schema.CreateIndex(ix).compile(dialect=engine.dialect)))
            dbapi.commit()
        finally:
            cur.execute("PRAGMA journal_mode=WAL")
            cur.execute("PRAGMA synchronous=NORMAL")
            cur.execute("PRAGMA cache_size=-65536")
            cur.close()
    finally:
        raw.close()


def _as_python(table: sa.Table, rows: list[tuple[Any, ...]]) -> Iterator[dict[str, Any]]:
    """Rows as dicts of Python values, for SQLAlchemy on other databases."""
    cols = _COLUMNS[table.name]
    convert: list[Callable[[Any], Any] | None] = []
    for name in cols:
        kind = table.c[name].type
        if isinstance(kind, sa.DateTime):
            convert.append(datetime.fromisoformat)
        elif isinstance(kind, sa.Date):
            convert.append(date.fromisoformat)
        elif isinstance(kind, sa.Boolean):
            convert.append(bool)
        else:
            convert.append(None)
    for row in rows:
        yield {
            name: (v if f is None or v is None else f(v))
            for name, f, v in zip(cols, convert, row, strict=True)
        }


def _load_core(
    engine: Engine, tables: list[tuple[sa.Table, list[tuple[Any, ...]]]], chunk: int = 10_000
) -> None:
    """Bulk-load through SQLAlchemy Core: one ``insert()`` per chunk of rows, which SQLAlchemy
    sends as multi-row ``INSERT … VALUES`` batches where the driver supports them."""
    with engine.begin() as conn:
        for table, rows in tables:
            batch: list[dict[str, Any]] = []
            for row in _as_python(table, rows):
                batch.append(row)
                if len(batch) >= chunk:
                    conn.execute(table.insert(), batch)
                    batch = []
            if batch:
                conn.execute(table.insert(), batch)
        if engine.dialect.name == "postgresql":
            # The feed's seqs were given explicitly: its sequence must go on after them, or
            # the next change would be given seq 1 again.
            conn.execute(
                sa.text(
                    "SELECT setval(pg_get_serial_sequence('changes', 'seq'), "
                    "(SELECT coalesce(max(seq), 0) + 1 FROM changes), false)"
                )
            )


def seed_database(
    engine: Engine,
    *,
    seed: int = 20181130,
    seed_size: int = 10_000,
    reference_date: date | None = None,
    entries_per_subject: float = 1.0,
    loader: Literal["auto", "core"] = "auto",
) -> SeedStats | None:
    """Fill an empty sandbox database; ``None`` (and nothing done) when already seeded.

    ``seed_size`` is the number of bulk subjects (the fixtures come on top);
    about ``entries_per_subject`` list entries are made per subject.

    SQLite is bulk-loaded through its DBAPI connection (``executemany``, no
    journal while loading, indexes built afterwards); other databases, or
    ``loader="core"``, through SQLAlchemy Core. Both store the same rows.

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
    add_scenarios(b)
    _bulk(b, rng, seed_size, entries_per_subject, roles_seed=seed)
    # The change feed lists the entries in the order they last changed (updated_at is
    # fixed-width text, so one string orders as the pair would).
    b.entries.sort(key=lambda e: e[9] + e[0])  # updated_at, entry_id
    change_rows: list[tuple[Any, ...]] = [
        (i, e[0], "upsert", e[9], None) for i, e in enumerate(b.entries, start=1)
    ]
    # Then every relation, as a ``relate`` (contract v2): a snapshot filled from the feed
    # can follow punishment from a company to its people and back.
    b.relations = sorted(set(b.relations))
    related_at = b.days[b.ref] + _TIMES[0]
    change_rows.extend(
        (
            len(change_rows) + i,
            db.relation_key(org, role, person),
            "relate",
            related_at,
            f'{{"subject_id":"{org}","role":"{role}","related_id":"{person}","since":null}}',
        )
        for i, (org, role, person) in enumerate(b.relations, start=1)
    )
    pending_id = SCENARIO_SUBJECTS["objection_pending"].id
    pending_entry = next(e[0] for e in b.entries if e[1] == pending_id)
    # Rows go in in primary-key order, which keeps SQLite's key indexes appending.
    b.subjects.sort(key=itemgetter(0))
    b.entries.sort(key=itemgetter(0))
    built = time.perf_counter()
    seeded_at = db.now()
    objection = {
        "objection_id": "OB-SEED-0001",
        "agency_id": "sandbox-seed",
        "subject_id": pending_id,
        "entry_id": pending_entry,
        "check_id": None,
        "reason": "处罚决定已被行政复议撤销",
        "submitted_by": "中山市绿源环保科技有限公司",
        "status": "verifying",
        "previous_status": "active",
        "filed_at": seeded_at,
        "resolved_at": None,
    }
    tables = [
        (db.subjects, b.subjects),
        (db.relations, b.relations),
        (db.entries, b.entries),
        (db.changes, change_rows),
        (db.adverse_records, b.adverse),
    ]
    if loader == "auto" and engine.dialect.name == "sqlite":
        _load_sqlite(engine, tables)
    else:
        _load_core(engine, tables)
    # Written last: a database counts as seeded only once every row is in.
    with engine.begin() as conn:
        conn.execute(db.objections.insert(), [objection])
        conn.execute(
            db.meta.insert(),
            [
                {"key": "generation", "value": secrets.token_hex(6)},
                {"key": "seed", "value": str(seed)},
                {"key": "seed_size", "value": str(seed_size)},
                {"key": "reference_date", "value": ref.isoformat()},
                {"key": "seeded_at", "value": db.format_ts(seeded_at)},
            ],
        )
    done = time.perf_counter()
    stats = SeedStats(
        len(b.subjects), len(b.relations), len(b.entries), len(b.adverse), done - started
    )
    logger.info(
        "seeded %d subjects, %d relations, %d entries in %.1f s (%.1f s generating, "
        "%.1f s loading)",
        stats.subjects,
        stats.relations,
        stats.entries,
        stats.seconds,
        built - started,
        done - built,
    )
    return stats
