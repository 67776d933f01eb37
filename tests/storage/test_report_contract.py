"""The monthly report's reads (ReportSource / ReportView), for every adapter: the same
report from any store holding the same records, read in one consistent view."""

from __future__ import annotations

from dataclasses import replace
from datetime import datetime
from pathlib import Path
from typing import Any

from credit_check_sdk.report import build_monthly_report, pending_actions, report_json
from credit_check_sdk.storage import Storage, utc_text
from credit_check_sdk.storage.sqlite.disclosures import SQLiteDisclosures
from tests.test_report import (
    COURT,
    DRC,
    GENERATED,
    LABOUR,
    MARKET,
    TAX,
    expected_report,
    scripted_month,
)

OCT = ("2026-09-30T16:00:00.000000Z", "2026-10-31T16:00:00.000000Z")


def copy_month(storage: Storage, tmp_path: Path) -> None:
    """The scripted October of tests/test_report.py, appended to ``storage`` in order."""
    source = scripted_month(tmp_path / "scripted.sqlite3")
    try:
        for record in source.iter_records():
            inputs = source.inputs_for(record["id"]) if record["type"] == "check" else None
            storage.journal.append(record, inputs=inputs)
        disclosures = SQLiteDisclosures(tmp_path / "disclosures.sqlite3")
        for d in disclosures.select():
            storage.disclosures.add(replace(d, posted=False, published_on=None))
            if d.published_on is not None:
                storage.disclosures.mark_posted(d.disclosure_id, d.published_on)
        disclosures.close()
        for o in source.objections():
            filed = datetime.fromisoformat(o["filed_at"].replace("Z", "+00:00"))
            storage.objections.record(
                o["objection_id"], o["check_id"], o["entry_id"], o["subject_id"], filed_at=filed
            )
            if o["status"] != "verifying":
                storage.objections.update(o["objection_id"], o["status"])
    finally:
        source.close()


def test_the_report_from_the_storage_is_the_expected_document(
    storage: Storage, tmp_path: Path
) -> None:
    copy_month(storage, tmp_path)
    report = build_monthly_report(
        storage, agency_id="AG-1", period="2026-10", generated_at=GENERATED, details=True
    )
    assert report.wire() == expected_report(storage.journal)  # type: ignore[arg-type]
    lazy = build_monthly_report(storage, agency_id="AG-1", period="2026-10", generated_at=GENERATED)
    assert report_json(lazy) == report_json(report)
    assert lazy.details.load_cases() == report.details.cases
    assert [c.check_id for c in report.details.cases][:2] == ["c02", "c03"]
    assert [n.check_id for n in report.details.no_feedback] == ["c08"]
    assert [p.check_id for p in pending_actions(storage, days=5, at=GENERATED)] == ["c08"]


def test_each_read_of_the_view(storage: Storage, tmp_path: Path) -> None:
    copy_month(storage, tmp_path)
    lo, hi = OCT
    with storage.report.view() as view:
        totals = {(o, m): 0 for _, o, m, _ in view.check_totals(lo, hi)}
        for hour, o, m, n in view.check_totals(lo, hi):
            assert len(hour) == 13
            totals[(o, m)] += n
        assert totals[("restriction", "bidding")] == 2
        assert sum(totals.values()) == 10
        measured = list(view.measured_checks(lo, hi))
        assert [(r[1], r[5], r[6]) for r in measured][:3] == [
            ("c02", "P-BID-EXCLUDE", "applied"),
            ("c03", "P-BID-EXCLUDE", "applied"),
            ("c03", "P-BID-PERSONNEL-REVIEW", "applied"),
        ]
        actions = [(r[1], r[2], r[3], r[4]) for r in view.measured_actions(lo, hi)]
        assert ("c03", "not_applied", 0, "P-BID-PERSONNEL-REVIEW") in actions
        assert ("c09", "overridden", 0, "P-BID-EXCLUDE") in actions  # acted on in November
        assert sorted(r["id"] for _, r in view.overrides(lo, hi)) == ["a03", "a04", "a09"]
        degraded = view.degraded_checks(lo, hi)
        assert [(d[0], d[4]) for d in degraded] == [("c06", "none"), ("c07", "snapshot")]
        assert list(view.rechecks(lo, hi)) == [
            ("c06", "r06", "restriction"),
            ("c07", "r07", "normal"),
        ]
        assert view.record_count(lo, hi) == 16
        head = view.head()
        assert head is not None
        assert head[0] == storage.journal.head_hash()
        assert view.objection_counts(lo, hi) == {"upheld": 1, "verifying": 1}
        c08 = next(r[0] for r in measured if r[1] == "c08")
        assert view.check_details([c08]) == {c08: ("442000199001011237", "case-c08")}
        cases = list(view.case_checks(lo, hi, head[1]))
        assert cases[0][1:] == (
            "c02",
            "2026-09-30T16:00:00.000000Z",
            "bidding",
            "restriction",
            "P-BID-EXCLUDE",
            "applied",
            "91442000MA4UJ2KQ57",
            "legal_entity",
            None,
            "case-c02",
        )
        reasons = {r[1]: r[4] for r in view.case_actions(lo, hi, head[1])}
        assert reasons["c04"] == "申请材料存疑，转一般程序办理"
        awaiting = list(view.checks_awaiting_action(utc_text(GENERATED)))
        assert [(r[0], r[6]) for r in awaiting] == [
            ("c08", ["P-LIC-STRICT-REVIEW"]),
            ("c11", ["I-HON-PRIORITY"]),
            ("c10", ["P-BID-EXCLUDE"]),
        ]
        # The list authorities behind each measure, stored when the checks were appended.
        assert sorted(view.measure_authorities(lo, hi)) == [
            ("c02", "P-BID-EXCLUDE", COURT),
            ("c03", "P-BID-EXCLUDE", COURT),
            ("c03", "P-BID-EXCLUDE", MARKET),
            ("c03", "P-BID-PERSONNEL-REVIEW", TAX),  # its legal representative's entry
            ("c04", "I-LIC-GREEN", DRC),
            ("c05", "P-BID-EXCLUDE", COURT),
            ("c08", "P-LIC-STRICT-REVIEW", TAX),
            ("c09", "P-BID-EXCLUDE", COURT),
            ("r06", "P-SUB-RESTRICT", LABOUR),
        ]  # c11's entry is in no profile; c10 is November's
        # Disclosures due or published in October, received or not.
        assert sorted(view.disclosure_days("2026-10-01", "2026-11-01"), key=str) == [
            ("2026-10-14", "2026-10-09"),
            ("2026-10-15", "2026-11-02"),
            ("2026-10-21", "2026-10-14"),
            ("2026-10-26", "2026-10-28"),
            ("2026-10-28", None),
        ]


def test_the_authority_rows_are_derived_at_append_and_verified(storage: Storage) -> None:
    def check(cid: str, entry_ids: list[str]) -> dict[str, Any]:
        return {
            "type": "check",
            "id": cid,
            "checked_at": "2026-10-05T10:00:00+08:00",
            "outcome": "restriction",
            "matter": {"category": "bidding"},
            "source": "live",
            "measures": [{"id": "P-1", "status": "applied", "entry_ids": entry_ids}],
        }

    profile = {
        "entries": [{"entry_id": "BL-1", "authority": COURT}, {"entry_id": "BL-9"}],
        "related": [{"role": "principal", "entries": [{"entry_id": "BL-2", "authority": TAX}]}],
    }
    storage.journal.append(check("c1", ["BL-1", "BL-2", "BL-9"]), inputs={"profile": profile})
    storage.journal.append(check("c2", ["BL-1"]))  # no inputs: no authority known
    storage.journal.append_many([(check("c3", ["BL-2"]), {"profile": profile})])
    with storage.report.view() as view:
        assert sorted(view.measure_authorities(*OCT)) == [
            ("c1", "P-1", COURT),
            ("c1", "P-1", TAX),
            ("c3", "P-1", TAX),
        ]
        assert list(view.disclosure_days("2026-10-01", "2026-11-01")) == []
    assert storage.journal.verify_columns().ok


def test_a_view_is_consistent_while_records_are_appended(storage: Storage) -> None:
    def check(cid: str) -> dict[str, Any]:
        return {
            "type": "check",
            "id": cid,
            "checked_at": "2026-10-05T10:00:00+08:00",
            "outcome": "normal",
            "matter": {"category": "bidding"},
            "source": "live",
        }

    storage.journal.append(check("c1"))
    lo, hi = OCT
    with storage.report.view() as view:
        before = view.record_count(lo, hi)
        head = view.head()
        storage.journal.append(check("c2"))
        assert view.record_count(lo, hi) == before == 1
        assert view.head() == head
        assert sum(n for *_, n in view.check_totals(lo, hi)) == 1
    with storage.report.view() as view:
        assert view.record_count(lo, hi) == 2


def test_a_view_can_be_opened_after_the_report_was_built_and_the_journal_closed(
    adapter: Any, tmp_path: Path
) -> None:
    storage = adapter.open()
    copy_month(storage, tmp_path)
    report = build_monthly_report(
        storage, agency_id="AG-1", period="2026-10", generated_at=GENERATED
    )
    storage.journal.close()
    assert len(report.details.cases) == 8
    storage.close()
