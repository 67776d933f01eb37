"""The decision engine: a profile, the measures catalogue and a matter in, a verdict out.

Pure: no I/O, no clock, no logging. The day of the check is passed in, so the
same inputs always give the same verdict, a degraded decision can be
re-checked later exactly, and tests need no clock.

The rules are the platform contract's "Decision semantics" (see
``docs/platform-contract.md``), from the city's implementation plan
(《中山市建立完善守信联合激励和失信联合惩戒制度的实施方案》):

1. an entry is in force when ``active`` or ``objection_pending``, listed on or
   before the day, and not yet expired (the expiry day itself is out of force);
2. a measure is triggered by an in-force entry of one of its roles matching its
   list and categories, or by N clean years: records held for N years, no
   adverse record within them, and no black listing of the subject within them
   either, even one repaired or expired since (a listing is an adverse record;
   only a ``withdrawn`` one, a mistake, does not count) (§二(二): 连续三年无不良信用记录);
3. a punishment whose every triggering entry is under objection is suspended
   (§五(三): 联合惩戒措施在信息核实期间暂不执行);
4. black overrides red (§一(一) 褒扬诚信、惩戒失信; §四(八)): no incentive (a)
   while the subject, or a role the incentive counts, has an in-force black
   entry, nor (b) in a check in which any punishment is triggered, applied or
   suspended, whoever's entry triggered it: a subject is never restricted and
   rewarded in one decision. Such an incentive is listed as ``blocked``;
5. outcome: restriction > review > tolerance > green_channel > normal.

Roles are strings: an entry of a related party counts for a measure only
through a role the measure names, whatever the role (``legal_representative``
of a company, ``legal_representative_of`` in a person's profile, or a role the
SDK does not know yet).

>>> from datetime import date
>>> from credit_check_sdk.catalogue import default_catalog
>>> from credit_check_sdk._models import Matter
>>> decide(None, default_catalog(), Matter("bidding"), on=date(2026, 11, 30)).outcome.value
'review'
"""

from __future__ import annotations

import functools
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date

from ._exceptions import UnknownMatterError
from ._fast_models import decided_measure as _new_measure
from ._fast_models import reason as _reason
from ._ids import mask_id
from ._models import (
    Catalog,
    DecidedMeasure,
    ListEntry,
    Matter,
    Measure,
    MeasureStatus,
    Outcome,
    Profile,
    Reason,
)
from .categories import category_name

__all__ = ["Verdict", "decide", "in_force", "require_matter", "years_before"]

_IN_FORCE_STATUSES = frozenset(("active", "objection_pending"))

_ROLE_NAMES: dict[str, tuple[str, str]] = {
    "subject": ("本主体", "the subject"),
    "legal_representative": ("法定代表人", "legal representative"),
    "principal": ("主要负责人", "principal"),
    "senior_manager": ("高级管理人员", "senior manager"),
    "director": ("董事", "director"),
    "shareholder": ("股东", "shareholder"),
    "responsible_person": ("直接责任人员", "responsible person"),
    "registered_practitioner": ("注册执业人员", "registered practitioner"),
    # Seen from a person: the organisations the person holds the role in (§三(二)).
    "legal_representative_of": (
        "其担任法定代表人的单位",
        "organisation whose legal representative",
    ),
    "principal_of": ("其担任主要负责人的单位", "organisation whose principal"),
    "senior_manager_of": ("其担任高级管理人员的单位", "organisation whose senior manager"),
    "director_of": ("其担任董事的单位", "organisation whose director"),
    "shareholder_of": ("其为股东的单位", "organisation whose shareholder"),
    "responsible_person_of": ("其负有直接责任的单位", "organisation whose responsible person"),
    "registered_practitioner_of": (
        "其为注册执业人员的单位",
        "organisation whose registered practitioner",
    ),
}

_LIST_ZH = {"black": "黑名单", "red": "红名单"}

_SUSPENSION_BASIS_ZH = "§五(三)：联合惩戒措施在信息核实期间暂不执行"
_SUSPENSION_BASIS_EN = "§五(三): joint punishment is not executed while the information is verified"


@dataclass(frozen=True, slots=True)
class Verdict:
    """What :func:`decide` found: the outcome, the triggered measures and the reasons.

    >>> Verdict(Outcome.NORMAL, (), ()).outcome is Outcome.NORMAL
    True
    """

    outcome: Outcome
    measures: tuple[DecidedMeasure, ...]
    reasons: tuple[Reason, ...]


# --- small pure helpers -------------------------------------------------------------


def in_force(entry: ListEntry, on: date) -> bool:
    """True when ``entry`` can trigger a measure on day ``on`` (contract rule 1).

    ``expires_on`` is the first day the entry no longer applies: on that day
    it is out of force.

    >>> from datetime import date
    >>> e = ListEntry(entry_id="BL-1", subject_id="91442000MA4UJ2KQ57", list="black",
    ...     category="court_judgment_defaulter", authority="中山市中级人民法院",
    ...     listed_on="2025-01-10", expires_on="2028-01-10", status="active",
    ...     updated_at="2026-11-20T10:00:00+08:00")
    >>> in_force(e, date(2028, 1, 9)), in_force(e, date(2028, 1, 10))
    (True, False)
    """
    if entry.status not in _IN_FORCE_STATUSES or entry.listed_on > on:
        return False
    return entry.expires_on is None or on < entry.expires_on


@functools.lru_cache(maxsize=256)
def years_before(day: date, years: int) -> date:
    """``day`` minus ``years`` calendar years; 29 February falls back to 28 February.

    This follows the civil code's rule for periods counted in years
    (民法典第二百零二条): where the target month has no corresponding day, the
    last day of that month is used.

    >>> years_before(date(2028, 2, 29), 3)
    datetime.date(2025, 2, 28)
    >>> years_before(date(2026, 11, 30), 3)
    datetime.date(2023, 11, 30)

    Cached: every check of a day asks for the same few cut-offs, and
    ``date.replace`` costs more than the lookup.
    """
    try:
        return day.replace(year=day.year - years)
    except ValueError:  # 29 February into a common year
        return day.replace(year=day.year - years, day=28)


# --- per-catalogue index ------------------------------------------------------------


class _Compiled:
    """One measure, with what the hot path needs precomputed."""

    __slots__ = (
        "applies",
        "basis",
        "blocked",
        "blocked_by_punishment",
        "blocking_roles",
        "categories",
        "clean_granted",
        "clean_years",
        "effect",
        "en_label",
        "id",
        "keys",
        "list",
        "mandatory",
        "measure",
        "points",
        "punishment",
        "roles",
        "suspended",
        "zh_label",
    )

    def __init__(self, measure: Measure) -> None:
        trig = measure.trigger
        self.measure = measure
        self.punishment = measure.kind == "punishment"
        self.list = trig.list
        # None means "any category": a set lookup is skipped entirely.
        self.categories: frozenset[str] | None = (
            frozenset(trig.categories) if trig.categories else None
        )
        self.clean_years = trig.clean_years
        self.clean_granted: DecidedMeasure | None = None
        # Tuples in catalogue order (not sets) so that reasons list entries in
        # the same order on every run.
        self.roles: tuple[str, ...] = tuple(dict.fromkeys(trig.roles))
        # The (role, list) buckets an entry must be in to trigger this measure,
        # in role order: each measure looks at only the entries that can match.
        self.keys: tuple[tuple[str, str], ...] = (
            tuple((role, trig.list) for role in self.roles) if trig.list is not None else ()
        )
        # Rule 4: the subject itself always blocks an incentive; so does any
        # role the incentive's trigger counts.
        self.blocking_roles: tuple[str, ...] = tuple(dict.fromkeys(("subject", *trig.roles)))
        force_zh = "强制性" if measure.mandatory else "推荐性"
        force_en = "mandatory" if measure.mandatory else "recommended"
        self.zh_label = zh = f"【{force_zh}】{measure.title.zh}（{measure.id}）"
        self.en_label = en = f"[{force_en}] {measure.title.en} ({measure.id})"
        # Reason texts are these fragments around the per-call entry descriptions:
        # everything that depends on the measure alone is formatted once here.
        self.id = measure.id
        self.mandatory = measure.mandatory
        self.effect = measure.effect
        self.applies = (zh + "适用：", en + " applies: ")
        self.basis = ("。措施依据：" + measure.basis, ". Basis: " + measure.basis)
        self.suspended = (
            zh + "暂不执行：触发的名单条目均在异议核实期间（",
            f"）。{_SUSPENSION_BASIS_ZH}。核实结束后应重新核查。措施依据：{measure.basis}",
            en + " suspended: every triggering entry is under objection (",
            f"). {_SUSPENSION_BASIS_EN}. Check again once verified. Basis: {measure.basis}",
        )
        self.blocked = (
            zh + "不予适用：存在有效的黑名单条目（",
            "），失信惩戒优先，黑名单主体不享受守信激励。",
            en + " not granted: in-force black-list entries (",
            "); black overrides red, no incentive while blacklisted.",
        )
        self.blocked_by_punishment = (
            zh + "不予适用：本次核查已触发惩戒措施（",
            "），失信惩戒优先，同一决定中不得既惩戒又激励。",
            en + " not granted: this check triggers punishment (",
            "); black overrides red, a subject is never restricted and rewarded in one decision.",
        )
        if measure.effect == "bonus_points" and measure.points is not None:
            self.points = (f"，加 {measure.points:g} 分", f", {measure.points:g} points")
        else:
            self.points = ("", "")


class _Index:
    __slots__ = ("by_matter", "catalog", "known")

    def __init__(self, catalog: Catalog) -> None:
        self.catalog = catalog
        by_matter: dict[str, list[_Compiled]] = {}
        for measure in catalog.measures:
            compiled = _Compiled(measure)
            for matter in dict.fromkeys(measure.matters):
                by_matter.setdefault(matter, []).append(compiled)
        self.by_matter: dict[str, tuple[_Compiled, ...]] = {
            k: tuple(v) for k, v in by_matter.items()
        }
        self.known = frozenset(by_matter)


# Keyed by id(): a Catalog is frozen, but hashing a whole catalogue on every
# call would cost more than the decision itself. The entry keeps the catalogue
# alive, and the identity check guards against a recycled id.
_INDEXES: dict[int, _Index] = {}
_MAX_INDEXES = 16


def _index(catalog: Catalog) -> _Index:
    idx = _INDEXES.get(id(catalog))
    if idx is not None and idx.catalog is catalog:
        return idx
    idx = _Index(catalog)
    if len(_INDEXES) >= _MAX_INDEXES:
        _INDEXES.clear()  # catalogues change rarely; a full rebuild is cheap
    _INDEXES[id(catalog)] = idx
    return idx


def require_matter(catalog: Catalog, category: str) -> None:
    """Raise :class:`UnknownMatterError` unless some measure of ``catalog`` names ``category``.

    >>> from credit_check_sdk.catalogue import default_catalog
    >>> require_matter(default_catalog(), "bidding")
    >>> require_matter(default_catalog(), "parking")
    Traceback (most recent call last):
    ...
    credit_check_sdk._exceptions.UnknownMatterError: unknown matter category 'parking' ...
    """
    idx = _index(catalog)
    if category not in idx.known:
        raise UnknownMatterError(category, list(idx.known), catalog.version)


# --- reasons ----------------------------------------------------------------------


@functools.lru_cache(maxsize=4096)
def _who(role: str, holder_id: str) -> tuple[str, str]:
    # Pure and called for every entry named in a reason; the same subjects
    # and their representatives recur across the checks of a day.
    zh, en = _ROLE_NAMES.get(role, (role, role))
    masked = mask_id(holder_id)
    return f"{zh} {masked}", f"{en} {masked}"


# Listing and expiry dates recur across entries and checks; isoformat() is
# dearer than a cache hit.
_iso = functools.lru_cache(maxsize=4096)(date.isoformat)


def _describe(
    entries: Sequence[tuple[str, str, ListEntry]], memo: dict[int, tuple[str, str]]
) -> tuple[str, str]:
    """Each entry: who holds it, its id, category, authority, dates and status.

    ``memo`` (one per decision, keyed by the entry object's id) saves
    describing the same entry again for every measure it triggers or blocks.
    """
    if len(entries) == 1:  # the common case: no joining
        item = entries[0]
        e = item[2]
        done = memo.get(id(e))
        if done is None:
            done = memo[id(e)] = _describe_entry(item[0], item[1], e)
        return done
    zh_parts: list[str] = []
    en_parts: list[str] = []
    for item in entries:
        e = item[2]
        done = memo.get(id(e))
        if done is None:
            done = memo[id(e)] = _describe_entry(item[0], item[1], e)
        zh_parts.append(done[0])
        en_parts.append(done[1])
    return "；".join(zh_parts), "; ".join(en_parts)


def _describe_entry(role: str, holder: str, e: ListEntry) -> tuple[str, str]:
    return _describe_one(
        role,
        holder,
        e.entry_id,
        e.list,
        e.category,
        e.authority,
        e.listed_on,
        e.expires_on,
        e.status,
    )


@functools.lru_cache(maxsize=4096)
def _describe_one(
    role: str,
    holder: str,
    entry_id: str,
    lst: str,
    category: str,
    authority: str,
    listed_on: date,
    expires_on: date | None,
    status: str,
) -> tuple[str, str]:
    # Cached on the values the text is made of (not on the entry object): the
    # same entries come back in every check of the same subject.
    who_zh, who_en = _who(role, holder)
    cat_zh, cat_en = category_name(category)
    listed = _iso(listed_on)
    if expires_on is None:
        until_zh = "，无截止日期"
        until_en = ", no end date"
    else:
        until = _iso(expires_on)
        until_zh = "，有效期至 " + until
        until_en = ", until " + until
    if status == "objection_pending":
        until_zh += "，异议核实中"
        until_en += ", objection pending"
    return (
        f"{who_zh} 的{_LIST_ZH[lst]}条目 {entry_id}"
        f"（{cat_zh}，认定单位：{authority}，列入日期 {listed}{until_zh}）",
        f"{lst}-list entry {entry_id} of {who_en} "
        f"({cat_en}, by {authority}, listed {listed}{until_en})",
    )


def _decided(c: _Compiled, status: MeasureStatus, entry_ids: tuple[str, ...]) -> DecidedMeasure:
    m = c.measure
    return _new_measure(
        {
            "id": m.id,
            "kind": m.kind,
            "effect": m.effect,
            "mandatory": m.mandatory,
            "status": status,
            "entry_ids": entry_ids,
            "title": m.title,
            "basis": m.basis,
            "points": m.points,
        }
    )


# Verdict parts, cached on the values they are made of. A DecidedMeasure and a
# Reason are frozen, so one object serves every verdict that names the same
# measure, entries and texts; the keys are small values (a compiled measure,
# ids, dates, texts), never a profile.


@functools.lru_cache(maxsize=4096)
def _punishment(
    c: _Compiled, suspended: bool, entry_ids: tuple[str, ...], who_zh: str, who_en: str
) -> tuple[DecidedMeasure, Reason]:
    if suspended:
        pre_zh, post_zh, pre_en, post_en = c.suspended
        return (
            _decided(c, "suspended", entry_ids),
            _reason(pre_zh + who_zh + post_zh, pre_en + who_en + post_en),
        )
    return (
        _decided(c, "applied", entry_ids),
        _reason(c.applies[0] + who_zh + c.basis[0], c.applies[1] + who_en + c.basis[1]),
    )


@functools.lru_cache(maxsize=4096)
def _incentive(
    c: _Compiled, entry_ids: tuple[str, ...], why_zh: str, why_en: str
) -> tuple[DecidedMeasure, Reason]:
    points_zh, points_en = c.points
    return (
        _decided(c, "applied", entry_ids),
        _reason(
            c.applies[0] + why_zh + points_zh + c.basis[0],
            c.applies[1] + why_en + points_en + c.basis[1],
        ),
    )


@functools.lru_cache(maxsize=4096)
def _blocked(
    c: _Compiled, entry_ids: tuple[str, ...], b_zh: str, b_en: str
) -> tuple[DecidedMeasure, Reason]:
    """Rule 4a: an incentive not granted for in-force black entries (described)."""
    pre_zh, post_zh, pre_en, post_en = c.blocked
    return _decided(c, "blocked", entry_ids), _reason(
        pre_zh + b_zh + post_zh, pre_en + b_en + post_en
    )


@functools.lru_cache(maxsize=4096)
def _blocked_by_punishment(
    c: _Compiled, entry_ids: tuple[str, ...], punished: tuple[str, ...]
) -> tuple[DecidedMeasure, Reason]:
    """Rule 4b: an incentive not granted in a check that triggers punishments (their ids)."""
    pre_zh, post_zh, pre_en, post_en = c.blocked_by_punishment
    return _decided(c, "blocked", entry_ids), _reason(
        pre_zh + "、".join(punished) + post_zh, pre_en + ", ".join(punished) + post_en
    )


@functools.lru_cache(maxsize=4096)
def _clean_grant(
    c: _Compiled,
    subject_id: str,
    since: date | None,
    last: date | None,
    listed: date | None,
    on: date,
) -> tuple[DecidedMeasure, Reason] | None:
    """A clean-years incentive (rule 2), or None when the years are not clean.

    ``listed`` is the newest ``listed_on`` of the subject's own black entries
    other than withdrawn ones, in any other status: a listing within the years
    is an adverse record even once repaired or expired (contract v2).
    """
    n = c.clean_years or 0
    cutoff = years_before(on, n)
    if since is None or since > cutoff or (last is not None and last >= cutoff):
        return None
    if listed is not None and listed > cutoff:
        return None
    # A clean-years grant names no entry: the same measure for every subject.
    granted = c.clean_granted
    if granted is None:
        granted = c.clean_granted = _decided(c, "applied", ())
    since_s = _iso(since)
    if last is None:
        last_zh, last_en = "无不良信用记录", "no adverse record"
    else:
        d = _iso(last)
        last_zh, last_en = f"最近不良信用记录日期 {d}", f"last adverse record {d}"
    who = mask_id(subject_id)
    since_cut = _iso(cutoff)
    why_zh = (
        f"{who} 自 {since_s} 起有信用记录，{last_zh}，自 {since_cut} 起连续 {n} 年无不良信用记录"
    )
    why_en = (
        f"{who} has records since {since_s}, {last_en}: "
        f"{n} years without an adverse record since {since_cut}"
    )
    points_zh, points_en = c.points
    return granted, _reason(
        c.applies[0] + why_zh + points_zh + c.basis[0],
        c.applies[1] + why_en + points_en + c.basis[1],
    )


_SUBJECT_KEYS = {"black": ("subject", "black"), "red": ("subject", "red")}


def _entry_ids(hits: list[tuple[str, str, ListEntry]]) -> tuple[str, ...]:
    if len(hits) == 1:  # the common case: skip the sort machinery
        return (hits[0][2].entry_id,)
    # A set: one entry can reach a measure through two roles of the same
    # person; the record names it once.
    return tuple(sorted({item[2].entry_id for item in hits}))


# --- the decision -------------------------------------------------------------------


def decide(
    profile: Profile | None,
    catalog: Catalog,
    matter: Matter,
    *,
    on: date,
    clean_years_known: bool = True,
) -> Verdict:
    """Decide the outcome of ``matter`` for the subject of ``profile`` on day ``on``.

    ``profile`` None means no usable data: the outcome is ``review`` (a person
    checks by hand). ``clean_years_known=False`` is for decisions from the
    offline list snapshot, which has no adverse records: clean-years
    incentives are then never granted. Raises :class:`UnknownMatterError`
    when the catalogue names no measure for ``matter.category``.

    >>> from datetime import date
    >>> from credit_check_sdk.catalogue import default_catalog
    >>> p = Profile.model_validate({"subject": {"id": "91442000MA4UJ2KQ57",
    ...     "kind": "legal_entity"}, "as_of": "2026-11-29T08:00:00+08:00",
    ...     "record_since": "2012-03-02", "last_adverse_on": None, "entries": [
    ...     {"entry_id": "BL-1", "subject_id": "91442000MA4UJ2KQ57", "list": "black",
    ...      "category": "court_judgment_defaulter", "authority": "中山市中级人民法院",
    ...      "listed_on": "2025-01-10", "status": "active",
    ...      "updated_at": "2026-11-20T10:00:00+08:00"}], "related": []})
    >>> v = decide(p, default_catalog(), Matter("bidding"), on=date(2026, 11, 30))
    >>> v.outcome.value, [(m.id, m.status, m.entry_ids) for m in v.measures]
    ('restriction', [('P-BID-EXCLUDE', 'applied', ('BL-1',))])
    """
    idx = _index(catalog)
    if matter.category not in idx.known:
        raise UnknownMatterError(matter.category, list(idx.known), catalog.version)

    if profile is None:
        return Verdict(
            Outcome.REVIEW,
            (),
            (
                _reason(
                    "平台信用数据暂不可用（无实时数据、缓存或可用的离线快照），"
                    "无法核实信用状况，须人工核查后办理。",
                    "Credit data is unavailable (no live answer, cache or usable snapshot); "
                    "the subject's credit cannot be verified and must be checked by hand.",
                ),
            ),
        )

    subject_id = profile.subject.id
    # In-force entries by (role, list), each as (role, holder id, entry):
    # computed once, then shared by every measure of the matter.
    by_key: dict[tuple[str, str], list[tuple[str, str, ListEntry]]] = {}
    black: dict[str, list[tuple[str, str, ListEntry]]] = {}
    in_force_statuses = _IN_FORCE_STATUSES
    # Rule 2: the subject's newest black listing that was not withdrawn, in any status.
    listed: date | None = None
    # Rule 1, as in in_force(), inlined: this loop runs for every entry of
    # every check.
    for e in profile.entries:
        if (
            e.list == "black"
            and e.status != "withdrawn"
            and (listed is None or e.listed_on > listed)
        ):
            listed = e.listed_on
        if e.status in in_force_statuses and e.listed_on <= on:
            exp = e.expires_on
            if exp is None or on < exp:
                lst = e.list
                item = ("subject", subject_id, e)
                key = _SUBJECT_KEYS[lst]
                bucket = by_key.get(key)
                if bucket is None:
                    by_key[key] = [item]
                else:
                    bucket.append(item)
                if lst == "black":
                    black.setdefault("subject", []).append(item)
    for rel in profile.related:
        rel_role: str = rel.role
        holder = rel.subject.id
        for e in rel.entries:
            if e.status in in_force_statuses and e.listed_on <= on:
                exp = e.expires_on
                if exp is None or on < exp:
                    lst = e.list
                    item = (rel_role, holder, e)
                    by_key.setdefault((rel_role, lst), []).append(item)
                    if lst == "black":
                        black.setdefault(rel_role, []).append(item)

    measures: list[DecidedMeasure] = []
    reasons: list[Reason] = []
    restricting: list[tuple[str, bool]] = []
    # Rule 4b: every punishment triggered, applied or suspended; and the incentives
    # granted so far, as (place in measures, place in reasons, measure, entry ids),
    # blocked at the end should any punishment be triggered.
    punished: list[str] = []
    granted: list[tuple[int, int, _Compiled, tuple[str, ...]]] = []
    clean_unknown: list[str] = []
    memo: dict[int, tuple[str, str]] = {}
    # Incentives sharing blocking roles share the description of their blockers.
    blocked_by: dict[tuple[str, ...], tuple[str, str] | tuple[()]] = {}
    since = profile.record_since
    last = profile.last_adverse_on

    for c in idx.by_matter[matter.category]:
        hits: list[tuple[str, str, ListEntry]] = []
        if by_key:
            cats = c.categories
            for key in c.keys:
                items = by_key.get(key)
                if items is not None:
                    if cats is None:
                        hits.extend(items)
                    else:
                        for item in items:
                            if item[2].category in cats:
                                hits.append(item)
        grant: tuple[DecidedMeasure, Reason] | None = None
        if not hits:
            if c.clean_years is None:
                continue
            if not clean_years_known:
                clean_unknown.append(c.id)
                continue
            grant = _clean_grant(c, subject_id, since, last, listed, on)
            if grant is None:
                continue

        if c.punishment:
            suspended = all(item[2].status == "objection_pending" for item in hits)
            who_zh, who_en = _describe(hits, memo)
            decided, reason = _punishment(c, suspended, _entry_ids(hits), who_zh, who_en)
            measures.append(decided)
            reasons.append(reason)
            punished.append(c.id)
            if not suspended:
                restricting.append((c.id, c.mandatory))
            continue

        own_ids = _entry_ids(hits) if hits else ()
        # An incentive: black overrides red (rule 4a), suspended black entries included.
        if black:
            roles = c.blocking_roles
            blocked = blocked_by.get(roles)
            if blocked is None:
                blockers: list[tuple[str, str, ListEntry]] = []
                for role in roles:
                    blockers.extend(black.get(role, ()))
                blocked = blocked_by[roles] = _describe(blockers, memo) if blockers else ()
            if blocked:
                decided, reason = _blocked(c, own_ids, blocked[0], blocked[1])
                measures.append(decided)
                reasons.append(reason)
                continue

        if grant is None:
            why_zh, why_en = _describe(hits, memo)
            grant = _incentive(c, own_ids, why_zh, why_en)
        granted.append((len(measures), len(reasons), c, own_ids))
        measures.append(grant[0])
        reasons.append(grant[1])

    # Rule 4b: no incentive in a check that triggers punishment, whoever's entry did.
    green: list[str] = []
    tolerance: list[str] = []
    if punished:
        punishing = tuple(punished)
        for at_measure, at_reason, c, own_ids in granted:
            measures[at_measure], reasons[at_reason] = _blocked_by_punishment(c, own_ids, punishing)
    else:
        for _, _, c, _ in granted:
            if c.effect == "green_channel":
                green.append(c.id)
            elif c.effect == "tolerance":
                tolerance.append(c.id)

    if clean_unknown:
        ids = "、".join(clean_unknown)
        reasons.append(
            _reason(
                f"依据离线名单快照决定，快照不含不良信用记录，"
                f"“连续无不良信用记录”类激励（{ids}）不予适用。",
                "Decided from the offline list snapshot, which holds no adverse records: "
                f"clean-record incentives ({', '.join(clean_unknown)}) are not granted.",
            )
        )

    outcome = _outcome(matter, restricting, green, tolerance, reasons)
    return Verdict(outcome, tuple(measures), tuple(reasons))


def _outcome(
    matter: Matter,
    restricting: list[tuple[str, bool]],
    green: list[str],
    tolerance: list[str],
    reasons: list[Reason],
) -> Outcome:
    """Rule 5, appending the reason for the outcome (and for a tolerance not given).

    The reasons depend on measure ids and document names only, so each is built
    once and shared (a :class:`Reason` is frozen).
    """
    if restricting:
        reasons.append(_restriction_reason(tuple(restricting)))
        return Outcome.RESTRICTION

    if tolerance:
        docs = matter.missing_documents
        reason, granted = _tolerance_reason(
            tuple(tolerance), tuple((d.name, d.statutory) for d in docs), matter.commitment
        )
        if reason is not None:
            reasons.append(reason)
        if granted:
            return Outcome.TOLERANCE

    if green:
        reasons.append(_green_reason(tuple(green)))
        return Outcome.GREEN_CHANNEL

    reasons.append(_normal_reason())
    return Outcome.NORMAL


@functools.lru_cache(maxsize=1024)
def _restriction_reason(restricting: tuple[tuple[str, bool], ...]) -> Reason:
    mandatory = [mid for mid, must in restricting if must]
    advised = [mid for mid, must in restricting if not must]
    zh = [f"结论：限制（{'、'.join(mid for mid, _ in restricting)}）。"]
    en = [f"Outcome: restriction ({', '.join(mid for mid, _ in restricting)})."]
    if mandatory:
        zh.append(f"强制性措施（{'、'.join(mandatory)}）应当执行。")
        en.append(f" Mandatory measures ({', '.join(mandatory)}) must be applied.")
    if advised:
        zh.append(f"推荐性措施（{'、'.join(advised)}）为建议执行，不执行的须记录理由。")
        en.append(
            f" Recommended measures ({', '.join(advised)}) are advice; declining one "
            "must be recorded with a reason."
        )
    return _reason("".join(zh), "".join(en))


@functools.lru_cache(maxsize=1024)
def _tolerance_reason(
    tolerance: tuple[str, ...], docs: tuple[tuple[str, bool], ...], commitment: bool
) -> tuple[Reason | None, bool]:
    """The reason about a tolerance measure, and whether tolerance is the outcome."""
    statutory = [name for name, is_statutory in docs if is_statutory]
    ids = "、".join(tolerance)
    if not docs:
        # Nothing is missing: tolerance is simply not needed.
        return None, False
    if statutory:
        names = "、".join(statutory)
        return (
            _reason(
                f"不予容缺受理（{ids}）：缺少法定材料（{names}）。"
                "§二(二)：容缺受理仅限法律法规要求提供的材料以外的申报材料。",
                f"Tolerance ({', '.join(tolerance)}) not given: statutory documents missing "
                f"({', '.join(statutory)}). §二(二): only documents the law does not "
                "require may be supplied later.",
            ),
            False,
        )
    if not commitment:
        return (
            _reason(
                f"不予容缺受理（{ids}）：申请人未作出在规定期限内补齐材料的书面承诺（§二(二)）。",
                f"Tolerance ({', '.join(tolerance)}) not given: the applicant has not given "
                "a written commitment to supply the missing documents by a deadline "
                "(§二(二)).",
            ),
            False,
        )
    names = "、".join(name for name, _ in docs)
    return (
        _reason(
            f"结论：容缺受理（{ids}）：缺少非法定材料（{names}），"
            "申请人已书面承诺在规定期限内补齐，先行受理。",
            f"Outcome: tolerance ({', '.join(tolerance)}): non-statutory documents "
            f"missing ({', '.join(name for name, _ in docs)}), with a written commitment "
            "to supply them; the application is accepted now.",
        ),
        True,
    )


@functools.lru_cache(maxsize=256)
def _green_reason(green: tuple[str, ...]) -> Reason:
    return _reason(
        f"结论：绿色通道（{'、'.join(green)}），加快办理。",
        f"Outcome: green channel ({', '.join(green)}), fast-track handling.",
    )


@functools.cache
def _normal_reason() -> Reason:
    # Made at the first verdict, not at import (see _fast_ok); the same object after.
    return _reason(
        "结论：按一般程序办理（无适用的惩戒措施或绿色通道、容缺受理）。",
        "Outcome: normal handling (no punishment, green channel or tolerance applies).",
    )
