"""The decision engine, rule by rule (platform contract, "Decision semantics")."""

from __future__ import annotations

from datetime import date, datetime, timedelta, timezone
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from credit_check_sdk import _fast_models
from credit_check_sdk._exceptions import UnknownMatterError
from credit_check_sdk._models import (
    Catalog,
    DecidedMeasure,
    Document,
    ListEntry,
    Matter,
    Measure,
    Outcome,
    Profile,
    Reason,
    Related,
    SubjectRef,
    Title,
    Trigger,
)
from credit_check_sdk.catalogue import default_catalog
from credit_check_sdk.decision import (
    Verdict,
    decide,
    in_force,
    require_matter,
    years_before,
)

D = date(2026, 11, 30)
COMPANY = "91442000MA4UJ2KQ57"
PERSON = "442000199001011234"  # legal representative: a RIC, masked in reasons
PERSON_MASKED = "4420**********1234"
PRINCIPAL = "442000198502023456"
TZ = timezone(timedelta(hours=8))

# --- builders ---------------------------------------------------------------------


def entry(
    eid: str,
    lst: str = "black",
    category: str = "court_judgment_defaulter",
    *,
    status: str = "active",
    listed_on: date = date(2025, 1, 10),
    expires_on: date | None = None,
    subject_id: str = COMPANY,
) -> ListEntry:
    return ListEntry.model_validate(
        {
            "entry_id": eid,
            "subject_id": subject_id,
            "list": lst,
            "category": category,
            "authority": "中山市中级人民法院",
            "basis": None,
            "listed_on": listed_on,
            "expires_on": expires_on,
            "status": status,
            "updated_at": datetime(2026, 11, 20, 10, tzinfo=TZ),
        }
    )


def related(role: str, pid: str, *entries: ListEntry) -> Related:
    return Related(
        role=role,
        subject=SubjectRef(id=pid, kind="natural_person"),
        entries=entries,
    )


def profile(
    *entries: ListEntry,
    rel: tuple[Related, ...] = (),
    record_since: date | None = date(2012, 3, 2),
    last_adverse_on: date | None = date(2025, 5, 1),
    subject_id: str = COMPANY,
) -> Profile:
    return Profile(
        subject=SubjectRef(id=subject_id, kind="legal_entity"),
        as_of=datetime(2026, 11, 29, 8, tzinfo=TZ),
        record_since=record_since,
        last_adverse_on=last_adverse_on,
        entries=entries,
        related=rel,
    )


def measure(
    mid: str,
    effect: str,
    *,
    matters: tuple[str, ...] = ("m",),
    lst: str | None = "black",
    categories: tuple[str, ...] = (),
    roles: tuple[str, ...] = ("subject",),
    clean_years: int | None = None,
    mandatory: bool = True,
    points: float | None = None,
) -> Measure:
    kind = "punishment" if effect in ("restrict", "strict_review") else "incentive"
    return Measure(
        id=mid,
        kind=kind,
        effect=effect,
        mandatory=mandatory,
        matters=matters,
        trigger=Trigger(
            list=lst,
            categories=categories,
            roles=roles,
            clean_years=clean_years,
        ),
        title=Title(zh=f"标题{mid}", en=f"title {mid}"),
        basis=f"依据{mid}",
        points=points,
    )


def catalog(*measures: Measure) -> Catalog:
    return Catalog(version="t.1", published_at=datetime(2026, 11, 1, tzinfo=TZ), measures=measures)


PUNISH = measure("P-R", "restrict", roles=("subject", "legal_representative"))
GREEN = measure("I-G", "green_channel", lst="red", mandatory=False)
TOL = measure("I-T", "tolerance", lst="red", mandatory=False)
BASIC = catalog(PUNISH, GREEN, TOL)


def ids(v: Verdict) -> list[tuple[str, str, tuple[str, ...]]]:
    return [(m.id, m.status, m.entry_ids) for m in v.measures]


def text(v: Verdict) -> str:
    return "\n".join(f"{r.zh}\n{r.en}" for r in v.reasons)


# --- rule 1: in force ---------------------------------------------------------------


class TestInForce:
    def test_active_without_end_date(self) -> None:
        assert in_force(entry("B"), D)

    def test_listed_today_is_in_force(self) -> None:
        assert in_force(entry("B", listed_on=D), D)

    def test_not_yet_listed(self) -> None:
        assert not in_force(entry("B", listed_on=D + timedelta(days=1)), D)

    def test_day_before_expiry_is_in_force(self) -> None:
        assert in_force(entry("B", expires_on=D + timedelta(days=1)), D)

    def test_expiry_day_is_not_in_force(self) -> None:
        assert not in_force(entry("B", expires_on=D), D)

    def test_past_expiry(self) -> None:
        assert not in_force(entry("B", expires_on=D - timedelta(days=1)), D)

    def test_objection_pending_is_in_force(self) -> None:
        assert in_force(entry("B", status="objection_pending"), D)

    @pytest.mark.parametrize("status", ["repaired", "expired", "withdrawn"])
    def test_closed_statuses_never(self, status: str) -> None:
        assert not in_force(entry("B", status=status), D)

    @pytest.mark.parametrize("status", ["repaired", "expired", "withdrawn"])
    def test_closed_statuses_never_trigger(self, status: str) -> None:
        v = decide(profile(entry("B", status=status)), BASIC, Matter("m"), on=D)
        assert v.outcome is Outcome.NORMAL
        assert v.measures == ()

    def test_expired_by_date_does_not_trigger(self) -> None:
        v = decide(profile(entry("B", expires_on=D)), BASIC, Matter("m"), on=D)
        assert v.outcome is Outcome.NORMAL
        v = decide(profile(entry("B", expires_on=D)), BASIC, Matter("m"), on=D - timedelta(1))
        assert v.outcome is Outcome.RESTRICTION

    def test_future_entry_does_not_trigger(self) -> None:
        v = decide(profile(entry("B", listed_on=D + timedelta(1))), BASIC, Matter("m"), on=D)
        assert v.outcome is Outcome.NORMAL


# --- rule 2: triggering ------------------------------------------------------------


class TestTrigger:
    def test_matter_must_be_listed(self) -> None:
        cat = catalog(PUNISH, measure("X", "restrict", matters=("other",)))
        v = decide(profile(entry("B")), cat, Matter("other"), on=D)
        assert ids(v) == [("X", "applied", ("B",))]

    def test_category_filter(self) -> None:
        cat = catalog(measure("P", "restrict", categories=("wage_arrears", "finance")))
        assert decide(profile(entry("B")), cat, Matter("m"), on=D).outcome is Outcome.NORMAL
        v = decide(profile(entry("B", category="finance")), cat, Matter("m"), on=D)
        assert ids(v) == [("P", "applied", ("B",))]

    def test_empty_categories_match_unknown_category(self) -> None:
        v = decide(profile(entry("B", category="new_category")), BASIC, Matter("m"), on=D)
        assert ids(v) == [("P-R", "applied", ("B",))]

    def test_list_must_match(self) -> None:
        v = decide(profile(entry("R", "red", "integrity_model")), BASIC, Matter("m"), on=D)
        assert [m.kind for m in v.measures] == ["incentive", "incentive"]
        assert v.outcome is Outcome.GREEN_CHANNEL

    def test_entry_ids_sorted_and_all_listed(self) -> None:
        p = profile(entry("B-2"), entry("B-10"), entry("B-1"))
        v = decide(p, BASIC, Matter("m"), on=D)
        assert ids(v) == [("P-R", "applied", ("B-1", "B-10", "B-2"))]

    def test_measures_in_catalogue_order(self) -> None:
        cat = catalog(
            measure("Z-LAST", "strict_review"),
            measure("A-FIRST", "restrict"),
        )
        v = decide(profile(entry("B")), cat, Matter("m"), on=D)
        assert [m.id for m in v.measures] == ["Z-LAST", "A-FIRST"]

    def test_decided_measure_copies_measure(self) -> None:
        m = measure("I-B", "bonus_points", lst="red", mandatory=False, points=2.5)
        v = decide(profile(entry("R", "red", "tax_credit_a")), catalog(m), Matter("m"), on=D)
        assert v.measures == (
            DecidedMeasure(
                id="I-B",
                kind="incentive",
                effect="bonus_points",
                mandatory=False,
                status="applied",
                entry_ids=("R",),
                title=Title(zh="标题I-B", en="title I-B"),
                basis="依据I-B",
                points=2.5,
            ),
        )
        assert v.measures[0].model_dump()["points"] == 2.5


class TestRoles:
    def test_related_role_triggers(self) -> None:
        p = profile(
            rel=(related("legal_representative", PERSON, entry("BL-P", subject_id=PERSON)),)
        )
        v = decide(p, BASIC, Matter("m"), on=D)
        assert ids(v) == [("P-R", "applied", ("BL-P",))]
        assert PERSON_MASKED in text(v)
        assert PERSON not in text(v)
        assert "法定代表人" in text(v)

    def test_role_not_counted_does_not_trigger(self) -> None:
        p = profile(rel=(related("principal", PRINCIPAL, entry("BL-P", subject_id=PRINCIPAL)),))
        v = decide(p, BASIC, Matter("m"), on=D)
        assert v.outcome is Outcome.NORMAL
        assert v.measures == ()

    def test_subject_entries_do_not_count_for_related_only_trigger(self) -> None:
        cat = catalog(measure("P-PR", "strict_review", roles=("principal",), mandatory=False))
        assert decide(profile(entry("B")), cat, Matter("m"), on=D).measures == ()
        p = profile(rel=(related("principal", PRINCIPAL, entry("BL-P", subject_id=PRINCIPAL)),))
        v = decide(p, cat, Matter("m"), on=D)
        assert ids(v) == [("P-PR", "applied", ("BL-P",))]
        assert v.outcome is Outcome.RESTRICTION

    def test_same_person_in_two_roles_counts_entry_once(self) -> None:
        e = entry("B-P", subject_id=PERSON)
        cat = catalog(measure("P", "restrict", roles=("legal_representative", "principal")))
        p = profile(
            rel=(related("legal_representative", PERSON, e), related("principal", PERSON, e))
        )
        v = decide(p, cat, Matter("m"), on=D)
        assert ids(v) == [("P", "applied", ("B-P",))]

    def test_subject_and_related_entries_combined(self) -> None:
        p = profile(
            entry("B-S"),
            rel=(related("legal_representative", PERSON, entry("B-P", subject_id=PERSON)),),
        )
        v = decide(p, BASIC, Matter("m"), on=D)
        assert ids(v) == [("P-R", "applied", ("B-P", "B-S"))]


# --- rule 3: objections suspend --------------------------------------------------------


class TestObjection:
    def test_all_pending_suspends(self) -> None:
        v = decide(profile(entry("B", status="objection_pending")), BASIC, Matter("m"), on=D)
        assert ids(v) == [("P-R", "suspended", ("B",))]
        assert v.outcome is Outcome.NORMAL
        assert "异议核实" in text(v)
        assert "§五(三)" in text(v)

    def test_one_pending_one_active_applies(self) -> None:
        p = profile(entry("B-1", status="objection_pending"), entry("B-2"))
        v = decide(p, BASIC, Matter("m"), on=D)
        assert ids(v) == [("P-R", "applied", ("B-1", "B-2"))]
        assert v.outcome is Outcome.RESTRICTION

    def test_suspended_does_not_block_other_outcomes_but_blocks_incentives(self) -> None:
        p = profile(entry("B", status="objection_pending"), entry("R", "red", "integrity_model"))
        v = decide(p, BASIC, Matter("m"), on=D)
        assert ids(v) == [
            ("P-R", "suspended", ("B",)),
            ("I-G", "blocked", ("R",)),
            ("I-T", "blocked", ("R",)),
        ]
        assert v.outcome is Outcome.NORMAL


# --- rule 4: black overrides red ----------------------------------------------------


class TestBlackOverridesRed:
    def test_black_on_subject_blocks_incentive(self) -> None:
        p = profile(entry("B"), entry("R", "red", "integrity_model"))
        v = decide(p, BASIC, Matter("m"), on=D)
        # Contract v2, rule 4: the blocked incentive is listed, with the red entry behind it.
        assert ids(v) == [
            ("P-R", "applied", ("B",)),
            ("I-G", "blocked", ("R",)),
            ("I-T", "blocked", ("R",)),
        ]
        assert "I-G" in text(v)
        assert "不予适用" in text(v)

    def test_black_entry_from_other_matter_blocks_incentive(self) -> None:
        # The black entry triggers nothing for this matter, yet still blocks.
        cat = catalog(GREEN)
        p = profile(entry("B"), entry("R", "red", "integrity_model"))
        v = decide(p, cat, Matter("m"), on=D)
        assert ids(v) == [("I-G", "blocked", ("R",))]
        assert v.outcome is Outcome.NORMAL
        assert "black overrides red" in text(v)

    def test_suspended_black_blocks_incentive(self) -> None:
        cat = catalog(GREEN)
        p = profile(entry("B", status="objection_pending"), entry("R", "red", "integrity_model"))
        v = decide(p, cat, Matter("m"), on=D)
        assert ids(v) == [("I-G", "blocked", ("R",))]
        assert v.outcome is Outcome.NORMAL

    def test_expired_black_does_not_block(self) -> None:
        cat = catalog(GREEN)
        p = profile(entry("B", expires_on=D), entry("R", "red", "integrity_model"))
        assert decide(p, cat, Matter("m"), on=D).outcome is Outcome.GREEN_CHANNEL

    def test_black_on_related_blocks_only_if_role_counted(self) -> None:
        rep = related("legal_representative", PERSON, entry("B-P", subject_id=PERSON))
        red = entry("R", "red", "integrity_model")
        counted = measure(
            "I-G2", "green_channel", lst="red", roles=("subject", "legal_representative")
        )
        v = decide(profile(red, rel=(rep,)), catalog(GREEN), Matter("m"), on=D)
        assert v.outcome is Outcome.GREEN_CHANNEL
        assert ids(v) == [("I-G", "applied", ("R",))]
        v = decide(profile(red, rel=(rep,)), catalog(counted), Matter("m"), on=D)
        assert v.outcome is Outcome.NORMAL
        assert ids(v) == [("I-G2", "blocked", ("R",))]
        assert PERSON_MASKED in text(v)

    def test_black_blocks_clean_years_incentive(self) -> None:
        clean = measure("I-C", "green_channel", lst=None, clean_years=3)
        p = profile(entry("B"), last_adverse_on=None, record_since=date(2000, 1, 1))
        v = decide(p, catalog(clean), Matter("m"), on=D)
        # The listing itself is within the three years: the years are not clean (rule 2).
        assert v.measures == ()
        assert v.outcome is Outcome.NORMAL
        old = entry("B", listed_on=date(2020, 1, 10))
        v = decide(profile(old, last_adverse_on=None), catalog(clean), Matter("m"), on=D)
        assert ids(v) == [("I-C", "blocked", ())]  # clean years, but an in-force black entry


# --- clean years ------------------------------------------------------------------------


CLEAN3 = measure("I-C3", "green_channel", lst=None, clean_years=3, mandatory=False)


class TestCleanYears:
    def test_years_before(self) -> None:
        assert years_before(date(2026, 11, 30), 3) == date(2023, 11, 30)
        assert years_before(date(2028, 2, 29), 3) == date(2025, 2, 28)
        assert years_before(date(2028, 2, 29), 4) == date(2024, 2, 29)

    @pytest.mark.parametrize(
        ("record_since", "last_adverse_on", "granted"),
        [
            (date(2023, 11, 30), None, True),  # exactly N years of records
            (date(2023, 12, 1), None, False),  # one day short
            (None, None, False),  # no records at all: nothing to vouch for
            (date(2012, 1, 1), date(2023, 11, 29), True),  # adverse the day before D-N
            (date(2012, 1, 1), date(2023, 11, 30), False),  # adverse exactly on D-N
            (date(2012, 1, 1), date(2025, 1, 1), False),
        ],
    )
    def test_boundaries(
        self, record_since: date | None, last_adverse_on: date | None, granted: bool
    ) -> None:
        p = profile(record_since=record_since, last_adverse_on=last_adverse_on)
        v = decide(p, catalog(CLEAN3), Matter("m"), on=D)
        assert (v.outcome is Outcome.GREEN_CHANNEL) is granted
        assert ids(v) == ([("I-C3", "applied", ())] if granted else [])

    def test_leap_day(self) -> None:
        leap = date(2028, 2, 29)
        cat = catalog(CLEAN3)
        ok = profile(record_since=date(2025, 2, 28), last_adverse_on=date(2025, 2, 27))
        assert decide(ok, cat, Matter("m"), on=leap).outcome is Outcome.GREEN_CHANNEL
        late = profile(record_since=date(2025, 3, 1), last_adverse_on=None)
        assert decide(late, cat, Matter("m"), on=leap).outcome is Outcome.NORMAL
        on_cutoff = profile(record_since=date(2020, 1, 1), last_adverse_on=date(2025, 2, 28))
        assert decide(on_cutoff, cat, Matter("m"), on=leap).outcome is Outcome.NORMAL

    def test_clean_years_unknown(self) -> None:
        p = profile(record_since=date(2000, 1, 1), last_adverse_on=None)
        v = decide(p, catalog(CLEAN3), Matter("m"), on=D, clean_years_known=False)
        assert v.outcome is Outcome.NORMAL
        assert v.measures == ()
        assert "I-C3" in text(v)
        assert "snapshot" in text(v)
        assert "快照" in text(v)

    def test_clean_years_unknown_keeps_list_incentives(self) -> None:
        p = profile(entry("R", "red", "integrity_model"), last_adverse_on=None)
        v = decide(p, catalog(CLEAN3, GREEN), Matter("m"), on=D, clean_years_known=False)
        assert ids(v) == [("I-G", "applied", ("R",))]
        assert v.outcome is Outcome.GREEN_CHANNEL

    def test_reason_names_dates(self) -> None:
        p = profile(record_since=date(2012, 3, 2), last_adverse_on=date(2021, 5, 1))
        v = decide(p, catalog(CLEAN3), Matter("m"), on=D)
        assert "2012-03-02" in text(v)
        assert "2021-05-01" in text(v)


# --- rule 5: outcome ------------------------------------------------------------------


RED = entry("R", "red", "integrity_model")


class TestOutcome:
    def test_normal_when_nothing(self) -> None:
        v = decide(profile(), BASIC, Matter("m"), on=D)
        assert v.outcome is Outcome.NORMAL
        assert v.measures == ()
        assert v.reasons  # always says why

    def test_green_channel(self) -> None:
        v = decide(profile(RED), BASIC, Matter("m"), on=D)
        assert v.outcome is Outcome.GREEN_CHANNEL
        assert ids(v) == [("I-G", "applied", ("R",)), ("I-T", "applied", ("R",))]

    def test_tolerance(self) -> None:
        m = Matter("m", missing_documents=["场地证明"], commitment=True)
        v = decide(profile(RED), BASIC, m, on=D)
        assert v.outcome is Outcome.TOLERANCE
        assert "场地证明" in text(v)

    def test_tolerance_needs_commitment(self) -> None:
        m = Matter("m", missing_documents=["场地证明"], commitment=False)
        v = decide(profile(RED), BASIC, m, on=D)
        assert v.outcome is Outcome.GREEN_CHANNEL
        assert "书面承诺" in text(v)
        assert "written commitment" in text(v)

    def test_tolerance_refused_for_statutory_document(self) -> None:
        m = Matter(
            "m",
            missing_documents=[Document("营业执照", statutory=True), "场地证明"],
            commitment=True,
        )
        v = decide(profile(RED), BASIC, m, on=D)
        assert v.outcome is Outcome.GREEN_CHANNEL
        assert "法定材料" in text(v)
        assert "营业执照" in text(v)

    def test_tolerance_needs_missing_documents(self) -> None:
        v = decide(profile(RED), BASIC, Matter("m", commitment=True), on=D)
        assert v.outcome is Outcome.GREEN_CHANNEL

    def test_tolerance_without_green_falls_to_normal(self) -> None:
        m = Matter("m", missing_documents=[Document("营业执照", statutory=True)], commitment=True)
        v = decide(profile(RED), catalog(TOL), m, on=D)
        assert v.outcome is Outcome.NORMAL
        assert ids(v) == [("I-T", "applied", ("R",))]

    def test_restriction_beats_tolerance(self) -> None:
        rep = related("legal_representative", PERSON, entry("B-P", subject_id=PERSON))
        m = Matter("m", missing_documents=["场地证明"], commitment=True)
        # The incentives count only the subject, but the punishment reaches the legal
        # representative: no incentive in a check that punishes (contract v2, rule 4b).
        v = decide(profile(RED, rel=(rep,)), BASIC, m, on=D)
        assert v.outcome is Outcome.RESTRICTION
        assert ids(v) == [
            ("P-R", "applied", ("B-P",)),
            ("I-G", "blocked", ("R",)),
            ("I-T", "blocked", ("R",)),
        ]

    @pytest.mark.parametrize("mandatory", [True, False])
    @pytest.mark.parametrize("effect", ["restrict", "strict_review"])
    def test_mandatory_and_recommended_punishments_restrict(
        self, mandatory: bool, effect: str
    ) -> None:
        cat = catalog(measure("P", effect, mandatory=mandatory))
        v = decide(profile(entry("B")), cat, Matter("m"), on=D)
        assert v.outcome is Outcome.RESTRICTION
        assert v.measures[0].mandatory is mandatory
        assert ("强制性" if mandatory else "推荐性") in text(v)
        assert ("mandatory" if mandatory else "recommended") in text(v)
        assert ("应当执行" if mandatory else "须记录理由") in v.reasons[-1].zh

    @pytest.mark.parametrize("effect", ["bonus_points", "priority", "reduced_inspection"])
    def test_other_incentives_do_not_change_outcome(self, effect: str) -> None:
        points = 2.0 if effect == "bonus_points" else None
        cat = catalog(measure("I-X", effect, lst="red", mandatory=False, points=points))
        v = decide(profile(RED), cat, Matter("m"), on=D)
        assert v.outcome is Outcome.NORMAL
        assert ids(v) == [("I-X", "applied", ("R",))]
        assert v.measures[0].points == points

    def test_profile_none_is_review(self) -> None:
        v = decide(None, BASIC, Matter("m"), on=D)
        assert v.outcome is Outcome.REVIEW
        assert v.measures == ()
        assert len(v.reasons) == 1
        assert "人工核查" in v.reasons[0].zh
        assert "by hand" in v.reasons[0].en


class TestUnknownMatter:
    def test_require_matter(self) -> None:
        require_matter(BASIC, "m")
        with pytest.raises(UnknownMatterError) as info:
            require_matter(BASIC, "parking")
        assert info.value.category == "parking"
        assert info.value.known == ["m"]
        assert info.value.catalog_version == "t.1"

    def test_decide_raises_even_without_profile(self) -> None:
        with pytest.raises(UnknownMatterError):
            decide(None, BASIC, Matter("parking"), on=D)
        with pytest.raises(UnknownMatterError):
            decide(profile(), BASIC, Matter("parking"), on=D)


class TestReasons:
    def test_reason_names_entry_details(self) -> None:
        e = entry("BL-2026-000123", expires_on=date(2028, 1, 10))
        v = decide(profile(e), BASIC, Matter("m"), on=D)
        t = text(v)
        for needle in (
            "BL-2026-000123",
            "失信被执行人",
            "Court judgment defaulter",
            "中山市中级人民法院",
            "2025-01-10",
            "2028-01-10",
            "标题P-R",
            "依据P-R",
            COMPANY,  # USCCs are public and stay whole
        ):
            assert needle in t
        assert all(isinstance(r, Reason) for r in v.reasons)

    def test_fast_model_path_matches_validation(self) -> None:
        # The engine builds its models without validation; it must be
        # indistinguishable from validated ones under this pydantic version.
        assert _fast_models.fast_path_sound()
        assert _fast_models.fast_ok()  # checked at the first verdict, not at import
        made = _fast_models.reason("甲", "a")
        assert made == Reason(zh="甲", en="a")
        assert made.__pydantic_fields_set__ is _fast_models.REASON_FIELDS  # the fast path's

    def test_deterministic(self) -> None:
        p = profile(
            entry("B-2"),
            RED,
            rel=(related("legal_representative", PERSON, entry("B-1", subject_id=PERSON)),),
        )
        assert decide(p, BASIC, Matter("m"), on=D) == decide(p, BASIC, Matter("m"), on=D)

    def test_results_are_valid_models(self) -> None:
        p = profile(entry("B"), RED)
        v = decide(p, default_catalog(), Matter("bidding"), on=D)
        for m in v.measures:
            assert DecidedMeasure.model_validate(m.model_dump()) == m
        for r in v.reasons:
            assert Reason.model_validate(r.model_dump()) == r
        with pytest.raises(Exception):  # noqa: B017, PT011 - frozen models refuse writes
            v.measures[0].status = "suspended"  # type: ignore[misc]


# --- the default catalogue, end to end --------------------------------------------------


class TestDefaultCatalogue:
    cat = default_catalog()

    def test_bidding_exclusion_reaches_legal_representative(self) -> None:
        rep = related("legal_representative", PERSON, entry("B-P", subject_id=PERSON))
        v = decide(profile(rel=(rep,)), self.cat, Matter("bidding"), on=D)
        assert v.outcome is Outcome.RESTRICTION
        assert ("P-BID-EXCLUDE", "applied", ("B-P",)) in ids(v)

    def test_bidding_bonus_points_is_normal(self) -> None:
        v = decide(profile(entry("R", "red", "tax_credit_a")), self.cat, Matter("bidding"), on=D)
        assert v.outcome is Outcome.NORMAL
        assert ids(v) == [("I-BID-POINTS", "applied", ("R",))]

    def test_licensing_tolerance_by_clean_years(self) -> None:
        p = profile(last_adverse_on=date(2020, 1, 1))
        m = Matter("licensing", missing_documents=["场地证明"], commitment=True)
        v = decide(p, self.cat, m, on=D)
        assert v.outcome is Outcome.TOLERANCE
        assert [x.id for x in v.measures] == ["I-LIC-GREEN-CLEAN3", "I-LIC-TOLERANCE-CLEAN3"]

    def test_subsidy_restricted_via_principal(self) -> None:
        pr = related("principal", PRINCIPAL, entry("B-PR", subject_id=PRINCIPAL))
        v = decide(profile(rel=(pr,)), self.cat, Matter("subsidy"), on=D)
        assert ids(v) == [("P-SUB-RESTRICT", "applied", ("B-PR",))]
        assert v.outcome is Outcome.RESTRICTION

    def test_offline_licensing_is_never_clean(self) -> None:
        p = profile(last_adverse_on=None)
        m = Matter("licensing", missing_documents=["场地证明"], commitment=True)
        v = decide(p, self.cat, m, on=D, clean_years_known=False)
        assert v.outcome is Outcome.NORMAL
        assert v.measures == ()


# --- properties --------------------------------------------------------------------------

_DAYS = st.dates(min_value=date(2018, 1, 1), max_value=date(2030, 12, 31))
_STATUSES = st.sampled_from(["active", "objection_pending", "repaired", "expired", "withdrawn"])
_CATS = st.sampled_from(
    ["court_judgment_defaulter", "wage_arrears", "integrity_model", "tax_credit_a", "quality"]
)


@st.composite
def _entries(draw: Any, subject_id: str) -> ListEntry:
    listed = draw(_DAYS)
    expires = draw(st.none() | st.integers(min_value=0, max_value=2000))
    return entry(
        f"E-{draw(st.integers(0, 10**6))}",
        draw(st.sampled_from(["red", "black"])),
        draw(_CATS),
        status=draw(_STATUSES),
        listed_on=listed,
        expires_on=None if expires is None else listed + timedelta(days=expires),
        subject_id=subject_id,
    )


@st.composite
def _profiles(draw: Any) -> Profile:
    rels = tuple(
        related(role, PERSON, *draw(st.lists(_entries(PERSON), max_size=3)))
        for role in draw(
            st.lists(
                st.sampled_from(["legal_representative", "principal", "responsible_person"]),
                max_size=2,
                unique=True,
            )
        )
    )
    return profile(
        *draw(st.lists(_entries(COMPANY), max_size=5)),
        rel=rels,
        record_since=draw(st.none() | _DAYS),
        last_adverse_on=draw(st.none() | _DAYS),
    )


_MATTERS = st.builds(
    Matter,
    st.sampled_from(sorted(default_catalog().matters())),
    missing_documents=st.lists(
        st.builds(Document, st.sampled_from(["甲", "乙"]), statutory=st.booleans()), max_size=2
    ),
    commitment=st.booleans(),
)


@settings(max_examples=300, deadline=None)
@given(p=_profiles(), matter=_MATTERS, on=_DAYS, known=st.booleans())
def test_properties(p: Profile, matter: Matter, on: date, known: bool) -> None:
    v = decide(p, default_catalog(), matter, on=on, clean_years_known=known)
    applied_restrict = [m for m in v.measures if m.kind == "punishment" and m.status == "applied"]
    if applied_restrict:
        assert v.outcome is Outcome.RESTRICTION
    else:
        assert v.outcome is not Outcome.RESTRICTION
    assert v.outcome is not Outcome.REVIEW
    subject_black = any(e.list == "black" and in_force(e, on) for e in p.entries)
    granted = [m for m in v.measures if m.kind == "incentive" and m.status == "applied"]
    if subject_black:
        assert not granted
        assert v.outcome in (Outcome.RESTRICTION, Outcome.NORMAL)
    # Rule 4b: never restricted and rewarded in one decision.
    if any(m.kind == "punishment" for m in v.measures):
        assert not granted
    for m in v.measures:
        assert (m.status == "blocked") <= (m.kind == "incentive")
    if not known:
        assert not any(m.id.endswith("CLEAN3") for m in v.measures)
    for m in v.measures:
        assert list(m.entry_ids) == sorted(m.entry_ids)
        if m.status == "suspended":
            assert m.kind == "punishment"
    order = [x.id for x in default_catalog().measures]
    got = [m.id for m in v.measures]
    assert got == sorted(got, key=order.index)


# --- contract v2: the rules as the plan has them -----------------------------------------


class TestContractV2CleanYears:
    """§二(二) 连续三年无不良信用记录: a black listing within the years is an adverse record,
    even once repaired (§五(二)) or expired; a withdrawn one was a mistake (§五(三))."""

    @pytest.mark.parametrize(
        ("status", "listed_on", "granted"),
        [
            ("repaired", date(2025, 11, 1), False),  # repaired last year: not clean
            ("expired", date(2024, 1, 1), False),
            ("active", date(2030, 1, 1), False),  # listed after the day: still not clean
            ("withdrawn", date(2025, 11, 1), True),  # a mistaken listing does not count
            ("repaired", date(2023, 11, 30), True),  # on D - 3 years: not later than it
            ("repaired", date(2023, 12, 1), False),
            ("repaired", date(2019, 5, 1), True),  # repaired long ago
        ],
    )
    def test_listings_within_the_years(self, status: str, listed_on: date, granted: bool) -> None:
        listing = entry("B", status=status, listed_on=listed_on, expires_on=date(2026, 1, 1))
        # The platform's last_adverse_on says nothing of the listing: the entry alone decides.
        p = profile(listing, record_since=date(2010, 1, 1), last_adverse_on=None)
        v = decide(p, catalog(CLEAN3), Matter("m"), on=D)
        assert (v.outcome is Outcome.GREEN_CHANNEL) is granted
        assert ids(v) == ([("I-C3", "applied", ())] if granted else [])

    def test_a_persons_listing_does_not_spoil_the_companys_years(self) -> None:
        rep = related(
            "legal_representative",
            PERSON,
            entry("B-P", status="repaired", subject_id=PERSON, listed_on=date(2025, 11, 1)),
        )
        p = profile(rel=(rep,), record_since=date(2010, 1, 1), last_adverse_on=None)
        assert decide(p, catalog(CLEAN3), Matter("m"), on=D).outcome is Outcome.GREEN_CHANNEL

    def test_the_default_catalogue_green_channel(self) -> None:
        repaired = entry(
            "BL-R", category="safety_production", status="repaired", listed_on=date(2025, 12, 1)
        )
        p = profile(repaired, record_since=date(2005, 1, 1), last_adverse_on=None)
        v = decide(p, default_catalog(), Matter("licensing"), on=D)
        assert v.outcome is Outcome.NORMAL
        assert not [m for m in v.measures if m.status == "applied"]


class TestContractV2NoRewardWithPunishment:
    """Black overrides red also through a related party (§三(二), §三(七) with §二(三)):
    a subject is never restricted and rewarded in one decision."""

    def _company(self) -> Profile:
        rep = related("legal_representative", PERSON, entry("BL-P", "black", "wage_arrears"))
        tax_a = entry("RL-A", "red", "tax_credit_a", expires_on=date(2027, 6, 1))
        return profile(tax_a, rel=(rep,), last_adverse_on=None)

    def test_bidding_points_are_blocked_beside_the_exclusion(self) -> None:
        v = decide(self._company(), default_catalog(), Matter("bidding"), on=D)
        assert v.outcome is Outcome.RESTRICTION
        by_id = {m.id: m for m in v.measures}
        assert by_id["P-BID-EXCLUDE"].status == "applied"
        assert by_id["I-BID-POINTS"].status == "blocked"
        assert by_id["I-BID-POINTS"].entry_ids == ("RL-A",)
        assert "P-BID-EXCLUDE" in text(v)
        assert "同一决定中不得既惩戒又激励" in text(v)

    def test_subsidy_priority_is_blocked_beside_the_restriction(self) -> None:
        v = decide(self._company(), default_catalog(), Matter("subsidy"), on=D)
        by_id = {m.id: m.status for m in v.measures}
        assert by_id["P-SUB-RESTRICT"] == "applied"
        assert by_id["I-SUB-PRIORITY"] == "blocked"

    def test_a_suspended_or_recommended_punishment_blocks_too(self) -> None:
        advised = measure("P-A", "strict_review", roles=("legal_representative",), mandatory=False)
        rep = related("legal_representative", PERSON, entry("B-P", status="objection_pending"))
        v = decide(profile(RED, rel=(rep,)), catalog(advised, GREEN), Matter("m"), on=D)
        assert ids(v) == [("P-A", "suspended", ("B-P",)), ("I-G", "blocked", ("R",))]
        assert v.outcome is Outcome.NORMAL

    def test_without_punishment_the_incentive_stands(self) -> None:
        v = decide(profile(RED), catalog(PUNISH, GREEN), Matter("m"), on=D)
        assert ids(v) == [("I-G", "applied", ("R",))]
        assert v.outcome is Outcome.GREEN_CHANNEL


class TestContractV2Roles:
    """Related parties both ways (§三(二), §三(七)); a role counts only where a measure
    names it, known to the SDK or not."""

    def test_an_unknown_role_triggers_only_measures_that_name_it(self) -> None:
        sup = related("supervisor", PERSON, entry("B-S", subject_id=PERSON))
        p = profile(rel=(sup,))
        assert decide(p, BASIC, Matter("m"), on=D).measures == ()
        naming = measure("P-SUP", "restrict", roles=("supervisor",))
        v = decide(p, catalog(naming), Matter("m"), on=D)
        assert ids(v) == [("P-SUP", "applied", ("B-S",))]
        assert "supervisor" in text(v)

    def test_an_organisation_reaches_a_person_through_an_of_role(self) -> None:
        company_entry = entry("B-C", subject_id=COMPANY)
        of = Related(
            role="legal_representative_of",
            subject=SubjectRef(id=COMPANY, kind="legal_entity"),
            entries=(company_entry,),
        )
        person = Profile(
            subject=SubjectRef(id=PERSON, kind="natural_person"),
            as_of=datetime(2026, 11, 29, 8, tzinfo=TZ),
            record_since=None,
            last_adverse_on=None,
            entries=(),
            related=(of,),
        )
        barred = measure("P-ENTRY", "restrict", roles=("legal_representative_of",))
        v = decide(person, catalog(barred, PUNISH), Matter("m"), on=D)
        # Only the measure naming the _of role sees the company's entry.
        assert ids(v) == [("P-ENTRY", "applied", ("B-C",))]
        assert "其担任法定代表人的单位" in text(v)
