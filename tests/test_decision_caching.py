"""The decision engine's caches: verdicts depend on values only, never on what ran before.

Measures, reasons and entry descriptions are cached on the values they are
made of and shared between verdicts; these tests pin that a cached part is
never served for inputs that differ in any field the text or status uses.
"""

from __future__ import annotations

import functools
from datetime import date

import pytest
from pydantic import ValidationError
from test_decision import (
    COMPANY,
    PERSON,
    PERSON_MASKED,
    PRINCIPAL,
    catalog,
    entry,
    measure,
    profile,
    related,
    text,
)

from credit_check_sdk import decision
from credit_check_sdk._models import Matter, Profile
from credit_check_sdk.catalogue import default_catalog
from credit_check_sdk.decision import Verdict, decide

D = date(2026, 11, 30)


def _clear_caches() -> None:
    for value in vars(decision).values():
        if isinstance(value, functools._lru_cache_wrapper):
            value.cache_clear()
    decision._INDEXES.clear()


def _dump(v: Verdict) -> object:
    return (
        v.outcome,
        [m.model_dump() for m in v.measures],
        [r.model_dump() for r in v.reasons],
    )


def _profiles() -> list[Profile]:
    return [
        profile(),
        profile(entry("RL-1", "red", "integrity_model"), last_adverse_on=None),
        profile(
            entry("RL-1", "red", "tax_credit_a"),
            entry("RL-2", "red", "integrity_model", expires_on=date(2027, 1, 1)),
            rel=(related("legal_representative", PERSON, entry("BL-9", subject_id=PERSON)),),
        ),
        profile(entry("BL-1", status="objection_pending"), entry("RL-1", "red", "integrity_model")),
        profile(
            entry("BL-1", category="food_drug"),
            entry("BL-2", category="wage_arrears", status="objection_pending"),
            rel=(
                related("principal", PRINCIPAL, entry("BL-3", subject_id=PRINCIPAL)),
                related("legal_representative", PRINCIPAL, entry("BL-3", subject_id=PRINCIPAL)),
            ),
        ),
        profile(record_since=None),
        profile(record_since=date(2024, 1, 1), last_adverse_on=None),
    ]


MATTERS = [
    Matter("licensing", missing_documents=["场地证明"], commitment=True),
    Matter("bidding"),
    Matter("procurement"),
    Matter("subsidy"),
    Matter("honours"),
    Matter("inspection"),
]


def test_cold_and_warm_caches_give_the_same_verdicts() -> None:
    cat = default_catalog()
    cases = [(p, m, known) for p in _profiles() for m in MATTERS for known in (True, False)]
    warm = [_dump(decide(p, cat, m, on=D, clean_years_known=k)) for p, m, k in cases]
    again = [_dump(decide(p, cat, m, on=D, clean_years_known=k)) for p, m, k in cases]
    cold = []
    for p, m, k in cases:
        _clear_caches()
        cold.append(_dump(decide(p, cat, m, on=D, clean_years_known=k)))
    assert warm == again == cold


def test_equal_fresh_profile_gives_an_equal_verdict() -> None:
    cat = default_catalog()
    for p in _profiles():
        fresh = Profile.model_validate(p.model_dump(mode="json"))
        for m in MATTERS:
            assert decide(fresh, cat, m, on=D) == decide(p, cat, m, on=D)


@pytest.mark.parametrize(
    "changed",
    [
        {"status": "objection_pending"},
        {"expires_on": date(2027, 1, 1)},
        {"listed_on": date(2024, 6, 1)},
        {"category": "food_drug"},
    ],
)
def test_same_entry_id_with_other_values_is_described_afresh(changed: dict[str, object]) -> None:
    cat = catalog(measure("P-R", "restrict"))
    first = decide(profile(entry("BL-1")), cat, Matter("m"), on=D)
    fields: dict[str, object] = {"status": "active", "expires_on": None, "category": "x"}
    fields.update(changed)
    other = entry(
        "BL-1",
        category=str(fields["category"]),
        status=str(fields["status"]),
        expires_on=fields["expires_on"],  # type: ignore[arg-type]
        listed_on=fields.get("listed_on", date(2025, 1, 10)),  # type: ignore[arg-type]
    )
    second = decide(profile(other), cat, Matter("m"), on=D)
    assert second.reasons[0] != first.reasons[0]
    if "status" in changed:
        assert [m.status for m in second.measures] == ["suspended"]
    else:
        assert [m.status for m in second.measures] == ["applied"]


def test_authority_change_shows_in_the_reason() -> None:
    cat = catalog(measure("P-R", "restrict"))
    a = entry("BL-1")
    b = a.model_copy(update={"authority": "中山市市场监督管理局"})
    assert "中山市中级人民法院" in text(decide(profile(a), cat, Matter("m"), on=D))
    reason = text(decide(profile(b), cat, Matter("m"), on=D))
    assert "中山市市场监督管理局" in reason
    assert "中山市中级人民法院" not in reason


def test_clean_years_reason_follows_subject_day_and_record() -> None:
    cat = catalog(measure("I-C", "green_channel", lst=None, clean_years=3))
    m = Matter("m")
    base = text(decide(profile(last_adverse_on=None), cat, m, on=D))
    other_subject = text(decide(profile(last_adverse_on=None, subject_id=PERSON), cat, m, on=D))
    other_day = text(decide(profile(last_adverse_on=None), cat, m, on=date(2026, 12, 1)))
    with_adverse = text(decide(profile(last_adverse_on=date(2020, 1, 1)), cat, m, on=D))
    assert COMPANY in base
    assert PERSON_MASKED in other_subject
    assert PERSON not in other_subject
    assert "2023-11-30" in base
    assert "2023-12-01" in other_day
    assert "2020-01-01" in with_adverse
    assert "2020-01-01" not in base
    # Not clean any more: the cached grant for the clean record is not reused.
    late = decide(profile(last_adverse_on=date(2025, 1, 1)), cat, m, on=D)
    assert late.measures == ()


def test_hits_are_described_in_role_order_of_the_measure() -> None:
    cat = catalog(measure("P-R", "restrict", roles=("legal_representative", "subject")))
    p = profile(
        entry("BL-2"),
        rel=(related("legal_representative", PERSON, entry("BL-1", subject_id=PERSON)),),
    )
    v = decide(p, cat, Matter("m"), on=D)
    assert v.measures[0].entry_ids == ("BL-1", "BL-2")
    reason = v.reasons[0].en
    assert reason.index("BL-1") < reason.index("BL-2")


def test_shared_parts_are_frozen() -> None:
    cat = default_catalog()
    p = profile(entry("RL-1", "red", "integrity_model"), last_adverse_on=None)
    v1 = decide(p, cat, MATTERS[0], on=D)
    v2 = decide(p, cat, MATTERS[0], on=D)
    assert v1 == v2
    with pytest.raises(ValidationError):
        v1.reasons[0].zh = "x"  # type: ignore[misc]
    with pytest.raises(ValidationError):
        v1.measures[0].status = "suspended"  # type: ignore[misc]
    assert v2.reasons[0].zh != "x"
