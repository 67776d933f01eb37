"""Golden verdicts: full ``decide()`` results, texts included, fixed byte for byte.

The file ``tests/golden/decision_verdicts.json`` was written by the engine before
its reason texts were assembled from precomputed fragments; any change to a
text, an order or a field shows here. Regenerate (only for an intended change
of the rules or texts) with ``python -m tests.test_decision_golden``.
"""

from __future__ import annotations

import json
import sys
from datetime import date
from pathlib import Path
from typing import Any

import pytest

from credit_check_sdk._models import Document, Matter, Profile
from credit_check_sdk.catalogue import default_catalog
from credit_check_sdk.decision import Verdict, decide

GOLDEN = Path(__file__).parent / "golden" / "decision_verdicts.json"
DAY = date(2026, 11, 30)
COMPANY = "91442000MA4UJ2KQ57"
PERSON = "442000199001011234"


def _entry(eid: str, subject: str, lst: str, category: str, **kw: Any) -> dict[str, Any]:
    return {
        "entry_id": eid,
        "subject_id": subject,
        "list": lst,
        "category": category,
        "authority": "中山市发展和改革局",
        "listed_on": kw.get("listed_on", "2024-03-01"),
        "expires_on": kw.get("expires_on", "2027-03-01"),
        "status": kw.get("status", "active"),
        "updated_at": "2026-11-20T10:00:00+08:00",
    }


def _profile(
    *,
    black: bool = False,
    pending: bool = False,
    person_black: bool = False,
    record_since: str | None = "2012-03-02",
    last_adverse_on: str | None = "2021-05-01",
) -> Profile:
    entries = [
        _entry("RL-2025-000101", COMPANY, "red", "tax_credit_a"),
        _entry("RL-2025-000102", COMPANY, "red", "integrity_model", expires_on=None),
        _entry(
            "RL-2019-000007",
            COMPANY,
            "red",
            "customs_advanced_certified",
            listed_on="2019-01-01",
            expires_on="2022-01-01",
        ),
        _entry("BL-2021-000050", COMPANY, "black", "wage_arrears", status="repaired"),
    ]
    if black:
        entries.append(_entry("BL-2026-000123", COMPANY, "black", "court_judgment_defaulter"))
        entries.append(_entry("BL-2026-000124", COMPANY, "black", "major_tax_violation"))
    if pending:
        entries.append(
            _entry(
                "BL-2026-000200",
                COMPANY,
                "black",
                "court_judgment_defaulter",
                status="objection_pending",
            )
        )
    person = [
        _entry(
            "BL-2020-000900",
            PERSON,
            "black",
            "finance",
            listed_on="2020-01-01",
            expires_on="2023-01-01" if not person_black else None,
        )
    ]
    return Profile.model_validate(
        {
            "subject": {"id": COMPANY, "kind": "legal_entity", "name": "中山市某某有限公司"},
            "as_of": "2026-11-29T08:00:00+08:00",
            "record_since": record_since,
            "last_adverse_on": last_adverse_on,
            "entries": entries,
            "related": [
                {
                    "role": "legal_representative",
                    "subject": {"id": PERSON, "kind": "natural_person"},
                    "entries": person,
                }
            ],
        }
    )


def scenarios() -> dict[str, Verdict]:
    catalog = default_catalog()
    tolerance = Matter("licensing", missing_documents=["场地证明"], commitment=True)
    out: dict[str, Verdict] = {}
    profiles = {
        "clean": _profile(),
        "black": _profile(black=True),
        "pending": _profile(pending=True),
        "person": _profile(person_black=True),
        "young": _profile(record_since="2025-01-01", last_adverse_on=None),
        "no-adverse": _profile(last_adverse_on=None),
    }
    matters = {
        "licensing-tolerance": tolerance,
        "licensing-statutory": Matter(
            "licensing", missing_documents=[Document("营业执照副本", statutory=True)]
        ),
        "licensing-no-commitment": Matter("licensing", missing_documents=["场地证明"]),
        "licensing": Matter("licensing"),
    }
    for category in ("bidding", "procurement", "subsidy", "honours", "inspection"):
        matters[category] = Matter(category)
    for pname, profile in profiles.items():
        for mname, matter in matters.items():
            out[f"{pname}/{mname}"] = decide(profile, catalog, matter, on=DAY)
            out[f"{pname}/{mname}/snapshot"] = decide(
                profile, catalog, matter, on=DAY, clean_years_known=False
            )
    out["none/bidding"] = decide(None, catalog, Matter("bidding"), on=DAY)
    return out


def dump(verdict: Verdict) -> dict[str, Any]:
    return {
        "repr": repr(verdict),
        "outcome": verdict.outcome.value,
        "measures": [m.model_dump(mode="json") for m in verdict.measures],
        "reasons": [[r.zh, r.en] for r in verdict.reasons],
    }


def test_verdicts_match_the_golden_file() -> None:
    golden = json.loads(GOLDEN.read_text("utf-8"))
    got = {name: dump(v) for name, v in scenarios().items()}
    assert sorted(got) == sorted(golden)
    for name in golden:
        assert got[name] == golden[name], name


@pytest.mark.parametrize("name", ["black/licensing-tolerance", "clean/bidding"])
def test_repeated_calls_give_equal_verdicts(name: str) -> None:
    # Fragments and reasons cached between calls must not leak one call into the next.
    first = scenarios()[name]
    again = scenarios()[name]
    assert first == again
    assert dump(first) == dump(again)


if __name__ == "__main__":
    data = {name: dump(v) for name, v in scenarios().items()}
    GOLDEN.parent.mkdir(exist_ok=True)
    GOLDEN.write_text(
        json.dumps(data, ensure_ascii=False, indent=1, sort_keys=True) + "\n", "utf-8"
    )
    sys.stdout.write(f"{len(data)} verdicts written to {GOLDEN}\n")
