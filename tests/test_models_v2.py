"""Contract v2 on the wire: related parties both ways, relation changes, disclosures,
the report's new fields."""

from __future__ import annotations

from datetime import date
from typing import Any

import pytest
from pydantic import ValidationError

from credit_check_sdk._client import ChangesPage
from credit_check_sdk._models import (
    KNOWN_ROLES,
    AuthorityFeedback,
    DecidedMeasure,
    Disclosure,
    DisclosureCounts,
    DisclosureReceipt,
    Profile,
    Relation,
)

ORG = "91442000MA4UJ2KQ57"
PERSON = "442000199001011233"


def _entry(entry_id: str, subject_id: str) -> dict[str, Any]:
    return {
        "entry_id": entry_id,
        "subject_id": subject_id,
        "list": "black",
        "category": "court_judgment_defaulter",
        "authority": "中山市中级人民法院",
        "listed_on": "2025-01-10",
        "status": "active",
        "updated_at": "2026-11-20T10:00:00+08:00",
    }


def test_a_persons_profile_lists_organisations_with_of_roles() -> None:
    profile = Profile.model_validate(
        {
            "subject": {"id": PERSON, "kind": "natural_person"},
            "as_of": "2026-11-29T08:00:00+08:00",
            "record_since": None,
            "last_adverse_on": None,
            "entries": [],
            "related": [
                {
                    "role": "legal_representative_of",
                    "subject": {"id": ORG, "kind": "legal_entity"},
                    "entries": [_entry("BL-1", ORG)],
                }
            ],
        }
    )
    assert profile.related[0].role == "legal_representative_of"
    assert profile.related[0].entries[0].entry_id == "BL-1"


def test_unknown_role_names_are_accepted_but_an_empty_one_is_not() -> None:
    base = {"subject": {"id": PERSON, "kind": "natural_person"}, "entries": []}
    assert (
        Profile.model_validate(
            {
                "subject": {"id": ORG, "kind": "legal_entity"},
                "as_of": "2026-11-29T08:00:00+08:00",
                "record_since": None,
                "last_adverse_on": None,
                "entries": [],
                "related": [{**base, "role": "supervisor"}],
            }
        )
        .related[0]
        .role
        == "supervisor"
    )
    with pytest.raises(ValidationError):
        Profile.model_validate(
            {
                "subject": {"id": ORG, "kind": "legal_entity"},
                "as_of": "2026-11-29T08:00:00+08:00",
                "record_since": None,
                "last_adverse_on": None,
                "entries": [],
                "related": [{**base, "role": ""}],
            }
        )


def test_known_roles_have_their_of_forms() -> None:
    for role in ("senior_manager", "director", "shareholder", "registered_practitioner"):
        assert role in KNOWN_ROLES
        assert f"{role}_of" in KNOWN_ROLES


def test_a_changes_page_keeps_entry_and_relation_changes_apart_in_seq_order() -> None:
    page = ChangesPage.model_validate(
        {
            "changes": [
                {"seq": 1, "op": "upsert", "entry": _entry("BL-1", ORG)},
                {
                    "seq": 2,
                    "op": "relate",
                    "relation": {
                        "subject_id": ORG,
                        "role": "director",
                        "related_id": PERSON,
                        "since": "2020-05-01",
                    },
                },
                {"seq": 3, "op": "delete", "entry": _entry("BL-1", ORG)},
                {
                    "seq": 4,
                    "op": "unrelate",
                    "relation": {"subject_id": ORG, "role": "director", "related_id": PERSON},
                },
            ],
            "next_cursor": "s4",
            "has_more": False,
            "as_of": "2026-11-30T08:00:00+08:00",
        }
    )
    assert [c.seq for c in page.changes] == [1, 3]
    assert [(r.seq, r.op) for r in page.relations] == [(2, "relate"), (4, "unrelate")]
    assert page.relations[0].relation.since == date(2020, 5, 1)
    assert page.relations[1].relation.since is None
    assert page.relations[0].relation.inverse_role == "director_of"


def test_a_relation_change_without_its_relation_is_refused() -> None:
    with pytest.raises(ValidationError):
        ChangesPage.model_validate(
            {
                "changes": [{"seq": 1, "op": "relate"}],
                "next_cursor": "s1",
                "has_more": False,
                "as_of": "2026-11-30T08:00:00+08:00",
            }
        )


def test_an_unknown_op_is_refused() -> None:
    with pytest.raises(ValidationError):
        ChangesPage.model_validate(
            {
                "changes": [{"seq": 1, "op": "merge", "entry": _entry("BL-1", ORG)}],
                "next_cursor": "s1",
                "has_more": False,
                "as_of": "2026-11-30T08:00:00+08:00",
            }
        )


def test_relation_fields_are_required() -> None:
    with pytest.raises(ValidationError):
        Relation.model_validate({"subject_id": ORG, "role": "director"})


def test_blocked_is_a_measure_status() -> None:
    m = DecidedMeasure(
        id="I-X",
        kind="incentive",
        effect="bonus_points",
        mandatory=False,
        status="blocked",
        entry_ids=("RL-1",),
        title={"zh": "加分", "en": "points"},
        basis="§二(三)",
        points=2.0,
    )
    assert m.record()["status"] == "blocked"


def _disclosure(**over: Any) -> dict[str, Any]:
    doc: dict[str, Any] = {
        "disclosure_id": "D-1",
        "kind": "penalty",
        "subject_id": ORG,
        "decision_no": "中环罚〔2026〕3号",
        "decided_on": "2026-11-02",
        "title": "环境违法行政处罚",
    }
    doc.update(over)
    return doc


def test_a_disclosure_normalises_its_subject_id() -> None:
    d = Disclosure.model_validate(_disclosure(subject_id=" 91442000ma4uj2kq57"))
    assert d.subject_id == ORG
    assert d.content == {}
    assert d.check_id is None


@pytest.mark.parametrize(
    "bad",
    [
        {"subject_id": "91442000MA4UJ2KQ58"},  # wrong check digit
        {"kind": "permit"},
        {"decided_on": "2026-13-01"},
        {"title": ""},
        {"decision_no": ""},
        {"disclosure_id": ""},
        {"surprise": 1},
    ],
)
def test_bad_disclosures_are_refused_before_any_request(bad: dict[str, Any]) -> None:
    with pytest.raises(ValidationError):
        Disclosure.model_validate(_disclosure(**bad))


def test_report_v2_fields() -> None:
    assert DisclosureReceipt.model_validate(
        {"disclosure_id": "D-1", "published_on": "2026-11-03", "later": True}
    ).published_on == date(2026, 11, 3)
    assert DisclosureCounts(made=3, on_time=2, late=1, overdue=0).late == 1
    with pytest.raises(ValidationError):
        DisclosureCounts(made=-1, on_time=0, late=0, overdue=0)
    fb = AuthorityFeedback(
        authority="中山市中级人民法院",
        checks=4,
        triggered=4,
        applied=3,
        not_applied=0,
        overridden=1,
    )
    assert fb.overridden == 1
