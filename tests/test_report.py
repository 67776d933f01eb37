"""The monthly feedback report from a scripted month of journal records."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import sys
from datetime import date, datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import pytest
from openpyxl import load_workbook

from credit_check_sdk._exceptions import InvalidRequestError
from credit_check_sdk.journal import Journal
from credit_check_sdk.report import (
    build_monthly_report,
    period_bounds,
    report_json,
    write_chart,
    write_xlsx,
)
from credit_check_sdk.storage import DisclosureDuty
from credit_check_sdk.storage.sqlite.disclosures import SQLiteDisclosures
from credit_check_sdk.workdays import add_working_days

CST = timezone(timedelta(hours=8))
ORG = "91442000MA4UJ2KQ57"
PERSON = "442000199001011237"  # a RIC-shaped personal id: must never appear whole
GENERATED = datetime(2026, 11, 3, 9, 0, tzinfo=CST)


def check(
    cid: str,
    at: str,
    category: str,
    outcome: str,
    measures: list[tuple[str, str, list[str]]] = (),  # type: ignore[assignment]
    *,
    source: str = "live",
    recheck_of: str | None = None,
    subject: str = ORG,
) -> dict[str, Any]:
    return {
        "type": "check",
        "id": cid,
        "agency_id": "AG-1",
        "checked_at": at,
        "department": "中山市发展和改革局",
        "operator": "op-1",
        "matter": {"category": category, "code": None, "case_id": f"case-{cid}"},
        "subject": {
            "id": subject,
            "kind": "natural_person" if subject == PERSON else "legal_entity",
        },
        "outcome": outcome,
        "measures": [{"id": m, "status": s, "entry_ids": e} for m, s, e in measures],
        "source": source,
        "data_as_of": None if source == "none" else at,
        "recheck_of": recheck_of,
        "catalog_version": "2026.11.1",
        "sdk_version": "0.1.0",
    }


def action(
    aid: str, cid: str, at: str, what: str, ids: list[str], reason: str | None = None
) -> dict[str, Any]:
    return {
        "type": "action",
        "id": aid,
        "check_id": cid,
        "agency_id": "AG-1",
        "acted_at": at,
        "action": what,
        "measure_ids": ids,
        "reason": reason,
        "operator": "op-2",
    }


COURT = "中山市中级人民法院"
TAX = "国家税务总局中山市税务局"
MARKET = "中山市市场监督管理局"
LABOUR = "中山市人力资源和社会保障局"
DRC = "中山市发展和改革局"
#: The authority (认定部门) of each entry of the month, as the checks' profiles list them
#: (RL-2, the entry of c11, is in no profile: c11 is journaled without inputs).
AUTHORITIES = {
    "BL-1": COURT, "BL-2": COURT, "BL-2b": MARKET, "BL-3": TAX, "BL-4": COURT,
    "BL-5": LABOUR, "BL-6": TAX, "BL-7": COURT, "BL-8": COURT, "RL-1": DRC,
}  # fmt: skip
#: Entries of a related party (the legal representative), not of the subject itself.
RELATED_ENTRIES = {"BL-3"}


def profile_inputs(record: dict[str, Any]) -> dict[str, Any] | None:
    """What the checker stores beside a check: the profile naming each entry's authority."""
    ids = [e for m in record["measures"] for e in m["entry_ids"] if e in AUTHORITIES]
    if record["id"] == "c11":
        return None

    def entry(entry_id: str) -> dict[str, Any]:
        return {"entry_id": entry_id, "authority": AUTHORITIES[entry_id], "list": "black"}

    return {
        "on": record["checked_at"][:10],
        "profile": {
            "subject": record["subject"],
            "entries": [entry(e) for e in ids if e not in RELATED_ENTRIES],
            "related": [
                {"role": "legal_representative", "entries": [entry(e)]}
                for e in ids
                if e in RELATED_ENTRIES
            ],
        },
    }


def scripted_disclosures(path: Path) -> None:
    """双公示 around October 2026 (due 7 working days after the decision; the National Day
    week of 1-7 October is off), in the disclosures file ``path``."""
    store = SQLiteDisclosures(path)
    try:
        for did, kind, decided, published in (
            ("D-1", "licence", date(2026, 9, 29), date(2026, 10, 9)),  # due 10-14: on time
            ("D-2", "licence", date(2026, 10, 12), date(2026, 10, 14)),  # due 10-21: on time
            ("D-3", "licence", date(2026, 10, 15), date(2026, 10, 28)),  # due 10-26: late
            ("D-4", "licence", date(2026, 10, 19), None),  # due 10-28: overdue
            ("D-5", "penalty", date(2026, 9, 30), date(2026, 11, 2)),  # due 10-15: overdue
            ("D-6", "licence", date(2026, 10, 22), None),  # due 11-02: November's
            ("D-7", "penalty", date(2026, 9, 10), date(2026, 9, 15)),  # September's
        ):
            due = add_working_days(decided, 7).due
            store.add(
                DisclosureDuty(did, kind, ORG, f"中市监许〔2026〕{did}号", decided, due, "许可决定")  # type: ignore[arg-type]
            )
            if published is not None:
                store.mark_posted(did, published)
    finally:
        store.close()


REASON_A03 = "推荐性措施，经集体研究不予适用"
REASON_A04 = "申请材料存疑，转一般程序办理"
REASON_A09 = "法院已撤销失信决定，平台数据待更新"


def scripted_month(path: Path) -> Journal:
    """October 2026 at one agency, in journal order (see the expectations below)."""
    j = Journal(path)
    for record in (
        # 23:59:59 on 30 September in Shanghai: September (15:59:59 UTC).
        check("c01", "2026-09-30T23:59:59+08:00", "bidding", "normal"),
        # Midnight on 1 October in Shanghai is still 30 September in UTC: October.
        check(
            "c02",
            "2026-10-01T00:00:00+08:00",
            "bidding",
            "restriction",
            [("P-BID-EXCLUDE", "applied", ["BL-1"])],
        ),
        action("a02", "c02", "2026-10-01T09:00:00+08:00", "applied", ["P-BID-EXCLUDE"]),
        check(
            "c03",
            "2026-10-05T10:00:00+08:00",
            "bidding",
            "restriction",
            [
                ("P-BID-EXCLUDE", "applied", ["BL-2", "BL-2b"]),
                ("P-BID-PERSONNEL-REVIEW", "applied", ["BL-3"]),
            ],
        ),
        action(
            "a03",
            "c03",
            "2026-10-05T11:00:00+08:00",
            "not_applied",
            ["P-BID-PERSONNEL-REVIEW"],
            REASON_A03,
        ),
        action("a03b", "c03", "2026-10-05T11:01:00+08:00", "applied", ["P-BID-EXCLUDE"]),
        check(
            "c04",
            "2026-10-12T14:00:00+08:00",
            "licensing",
            "green_channel",
            [("I-LIC-GREEN", "applied", ["RL-1"])],
        ),
        action(
            "a04", "c04", "2026-10-12T15:00:00+08:00", "overridden", ["I-LIC-GREEN"], REASON_A04
        ),
        # A punishment suspended while an objection is verified: an "applied"
        # action naming it (the default: every measure) does not count as applied.
        check(
            "c05",
            "2026-10-15T09:00:00+08:00",
            "bidding",
            "normal",
            [("P-BID-EXCLUDE", "suspended", ["BL-4"])],
        ),
        action("a05", "c05", "2026-10-15T09:30:00+08:00", "applied", ["P-BID-EXCLUDE"]),
        # Degraded (no data) and re-checked live the next day with another outcome.
        check("c06", "2026-10-20T11:00:00+08:00", "subsidy", "review", source="none"),
        check(
            "r06",
            "2026-10-21T09:00:00+08:00",
            "subsidy",
            "restriction",
            [("P-SUB-RESTRICT", "applied", ["BL-5"])],
            recheck_of="c06",
        ),
        action("a06", "r06", "2026-10-21T10:00:00+08:00", "applied", ["P-SUB-RESTRICT"]),
        # Degraded (snapshot); re-checked in November, same outcome.
        check("c07", "2026-10-22T08:30:00+08:00", "licensing", "normal", source="snapshot"),
        # A person, restricted, no action ever: no feedback after 5 days.
        check(
            "c08",
            "2026-10-25T16:00:00+08:00",
            "licensing",
            "restriction",
            [("P-LIC-STRICT-REVIEW", "applied", ["BL-6"])],
            subject=PERSON,
        ),
        # An incentive with no action yet, still inside the feedback window.
        check(
            "c11",
            "2026-10-30T10:00:00+08:00",
            "honours",
            "normal",
            [("I-HON-PRIORITY", "applied", ["RL-2"])],
        ),
        # The last second of October in Shanghai (15:59:59 UTC on 31 October) ...
        check(
            "c09",
            "2026-10-31T23:59:59+08:00",
            "procurement",
            "restriction",
            [("P-BID-EXCLUDE", "applied", ["BL-7"])],
        ),
        # ... and the first of November (still 31 October in UTC).
        check(
            "c10",
            "2026-11-01T00:00:00+08:00",
            "procurement",
            "restriction",
            [("P-BID-EXCLUDE", "applied", ["BL-8"])],
        ),
        # October's check, acted on in November: counts with October.
        action(
            "a09", "c09", "2026-11-02T10:00:00+08:00", "overridden", ["P-BID-EXCLUDE"], REASON_A09
        ),
        check("r07", "2026-11-02T09:00:00+08:00", "licensing", "normal", recheck_of="c07"),
    ):
        j.append(record, inputs=profile_inputs(record) if record["type"] == "check" else None)
    scripted_disclosures(path.parent / "disclosures.sqlite3")
    for oid, cid, entry, filed, status in (
        ("OBJ-0", "c01", "BL-0", datetime(2026, 9, 30, 12, tzinfo=CST), "rejected"),
        ("OBJ-1", "c05", "BL-4", datetime(2026, 10, 14, 10, tzinfo=CST), "upheld"),
        ("OBJ-2", "c09", "BL-7", datetime(2026, 10, 31, 23, 0, tzinfo=CST), "verifying"),
        ("OBJ-3", "c10", "BL-8", datetime(2026, 11, 1, 8, 0, tzinfo=CST), "verifying"),
    ):
        j.record_objection(oid, cid, entry, ORG, filed_at=filed)
        if status != "verifying":
            j.update_objection(oid, status)  # type: ignore[arg-type]
    return j


def expected_report(j: Journal) -> dict[str, Any]:
    def zero(**counts: int) -> dict[str, int]:
        base = dict.fromkeys(("green_channel", "tolerance", "normal", "restriction", "review"), 0)
        base.update(counts)
        return base

    def m(mid: str, t: int, a: int = 0, s: int = 0, n: int = 0, o: int = 0) -> dict[str, Any]:
        return {
            "id": mid,
            "triggered": t,
            "applied": a,
            "suspended": s,
            "not_applied": n,
            "overridden": o,
        }

    def a(authority: str, checks: int, triggered: int, **acted: int) -> dict[str, Any]:
        return {
            "authority": authority,
            "checks": checks,
            "triggered": triggered,
            "applied": acted.get("applied", 0),
            "not_applied": acted.get("not_applied", 0),
            "overridden": acted.get("overridden", 0),
        }

    return {
        "agency_id": "AG-1",
        "period": "2026-10",
        "generated_at": "2026-11-03T09:00:00+08:00",
        "totals": zero(green_channel=1, normal=3, restriction=5, review=1),
        "by_matter": {
            "bidding": zero(normal=1, restriction=2),
            "honours": zero(normal=1),
            "licensing": zero(green_channel=1, normal=1, restriction=1),
            "procurement": zero(restriction=1),
            "subsidy": zero(restriction=1, review=1),
        },
        "measures": [
            m("I-HON-PRIORITY", 1),
            m("I-LIC-GREEN", 1, o=1),
            m("P-BID-EXCLUDE", 4, a=2, s=1, o=1),
            m("P-BID-PERSONNEL-REVIEW", 1, n=1),
            m("P-LIC-STRICT-REVIEW", 1),
            m("P-SUB-RESTRICT", 1, a=1),
        ],
        "overrides": [j.get("a03"), j.get("a04"), j.get("a09")],
        "degraded": {"checks": 2, "reverified": 2, "changed": 1},
        "objections": {"filed": 2, "upheld": 1, "rejected": 0, "verifying": 1},
        "disclosures": {"made": 3, "on_time": 2, "late": 1, "overdue": 2},
        # c02, c03, c05 (suspended: its "applied" does not count), c09 (overridden in
        # November); c03's exclusion through a court and a market entry counts on both.
        "by_authority": [
            a(COURT, 4, 4, applied=2, overridden=1),
            a(LABOUR, 1, 1, applied=1),  # r06, the live re-check of c06
            a(DRC, 1, 1, overridden=1),  # c04's green channel (a red-list authority)
            a(MARKET, 1, 1, applied=1),
            a(TAX, 2, 2, not_applied=1),  # c03 through its legal representative, c08
        ],
        "journal_head_hash": j.get("r07")["hash"],  # type: ignore[index]
        "record_count": 16,
    }


@pytest.fixture
def month(tmp_path: Path) -> Any:
    j = scripted_month(tmp_path / "journal.sqlite3")
    yield j
    j.close()


def test_report_is_exactly_the_expected_document(month: Journal) -> None:
    report = build_monthly_report(month, agency_id="AG-1", period="2026-10", generated_at=GENERATED)
    assert report.wire() == expected_report(month)
    assert json.loads(report_json(report)) == expected_report(month)


def test_details_no_feedback_cases_degraded_and_weeks(month: Journal) -> None:
    details = build_monthly_report(
        month, agency_id="AG-1", period="2026-10", generated_at=GENERATED
    ).details
    assert [
        (n.check_id, n.subject, n.days_waiting, n.measure_ids) for n in details.no_feedback
    ] == [("c08", "4420**********1237", 8, ("P-LIC-STRICT-REVIEW",))]
    assert details.awaiting == 1  # c11, made less than 5 days before
    assert [(c.check_id, c.kind) for c in details.cases] == [
        ("c02", "restriction"),
        ("c03", "restriction"),
        ("c04", "incentive"),
        ("c05", "suspended"),
        ("r06", "restriction"),
        ("c08", "restriction"),
        ("c11", "incentive"),
        ("c09", "restriction"),
    ]
    c09 = details.cases[-1]
    assert c09.actions == (
        (datetime(2026, 11, 2, 10, tzinfo=CST), "overridden", ("P-BID-EXCLUDE",), REASON_A09),
    )
    assert [
        (d.check_id, d.source, d.recheck_id, d.recheck_outcome, d.changed) for d in details.degraded
    ] == [
        ("c06", "none", "r06", "restriction", True),
        ("c07", "snapshot", "r07", "normal", False),
    ]
    z = dict.fromkeys(("green_channel", "tolerance", "normal", "restriction", "review"), 0)
    assert details.weekly == {
        "2026-09-28": {**z, "restriction": 1},
        "2026-10-05": {**z, "restriction": 1},
        "2026-10-12": {**z, "green_channel": 1, "normal": 1},
        "2026-10-19": {**z, "review": 1, "restriction": 2, "normal": 1},
        "2026-10-26": {**z, "normal": 1, "restriction": 1},
    }
    # Ten days later c11 has waited too long as well.
    later = build_monthly_report(
        month, agency_id="AG-1", period="2026-10", generated_at=GENERATED + timedelta(days=10)
    ).details
    assert [n.check_id for n in later.no_feedback] == ["c08", "c11"]
    assert later.awaiting == 0


def test_cases_are_read_on_first_use_as_the_report_saw_the_journal(month: Journal) -> None:
    eager = build_monthly_report(
        month, agency_id="AG-1", period="2026-10", generated_at=GENERATED, details=True
    )
    assert "not loaded" not in repr(eager.details)
    report = build_monthly_report(month, agency_id="AG-1", period="2026-10", generated_at=GENERATED)
    assert "not loaded" in repr(report.details)
    assert report_json(report) == report_json(eager)
    # Records appended after the report was built are not in its cases.
    month.append(action("a11", "c11", "2026-11-03T10:00:00+08:00", "applied", ["I-HON-PRIORITY"]))
    month.append(
        check(
            "c12",
            "2026-10-30T10:00:00+08:00",
            "licensing",
            "restriction",
            [("P-LIC-STRICT-REVIEW", "applied", ["BL-9"])],
        )
    )
    assert report.details.load_cases() == eager.details.cases
    assert report.details == eager.details
    assert "not loaded" not in repr(report.details)
    assert [c.actions for c in report.details.cases if c.check_id == "c11"] == [()]
    # A report built afterwards sees them.
    again = build_monthly_report(month, agency_id="AG-1", period="2026-10", generated_at=GENERATED)
    # Once the journal is closed, the cases are read from its file.
    month.close()
    cases = {c.check_id: c for c in again.details.cases}
    assert len(cases) == len(eager.details.cases) + 1
    assert cases["c12"].kind == "restriction"
    assert [a[1:3] for a in cases["c11"].actions] == [("applied", ("I-HON-PRIORITY",))]


def test_neighbouring_months_take_the_boundary_checks(month: Journal) -> None:
    sept = build_monthly_report(month, agency_id="AG-1", period="2026-09", generated_at=GENERATED)
    nov = build_monthly_report(month, agency_id="AG-1", period="2026-11", generated_at=GENERATED)
    assert sum(sept.totals.values()) == 1
    assert sept.totals["normal"] == 1
    assert sept.objections.filed == 1
    assert sept.objections.rejected == 1
    # November: c10 and the re-check r07 are checks; a09 and r07 are records too.
    assert nov.totals["restriction"] == 1
    assert nov.totals["normal"] == 1
    assert nov.record_count == 3
    assert nov.overrides == ()  # a09 belongs to October's check
    assert nov.objections.filed == 1


def test_reproducible_apart_from_generated_at(month: Journal, tmp_path: Path) -> None:
    first = build_monthly_report(month, agency_id="AG-1", period="2026-10", generated_at=GENERATED)
    second = build_monthly_report(month, agency_id="AG-1", period="2026-10")
    a, b = report_json(first), report_json(second)
    assert a != b
    assert a == b.replace(second.wire()["generated_at"], "2026-11-03T09:00:00+08:00")
    # A byte copy of the journal file gives the same document too.
    month.close()
    copy = tmp_path / "copy.sqlite3"
    shutil.copy(month.path, copy)
    with Journal(copy) as again:
        third = build_monthly_report(
            again, agency_id="AG-1", period="2026-10", generated_at=GENERATED
        )
    assert report_json(third) == a


def test_bad_period_and_arguments(month: Journal) -> None:
    for bad in ("2026-13", "2026-1", "202610", "x"):
        with pytest.raises(InvalidRequestError, match="YYYY-MM"):
            build_monthly_report(month, agency_id="AG-1", period=bad)
    with pytest.raises(InvalidRequestError):
        build_monthly_report(month, agency_id="", period="2026-10")
    start, end = period_bounds("2026-12")
    assert (start.month, end.year, end.month) == (12, 2027, 1)


def test_workbook_sheets_headers_and_cells(month: Journal, tmp_path: Path) -> None:
    report = build_monthly_report(month, agency_id="AG-1", period="2026-10", generated_at=GENERATED)
    path = write_xlsx(report, report.details, tmp_path / "out" / "2026-10.xlsx")
    wb = load_workbook(path)
    assert wb.sheetnames == [
        "汇总 Summary",
        "按事项 By matter",
        "措施 Measures",
        "纠正、不执行 Overrides",
        "降级决定 Degraded",
        "奖惩案例 Cases",
        "待反馈 No feedback",
    ]
    for ws in wb.worksheets:
        assert ws.freeze_panes == "A3"
        assert ws.page_setup.orientation == "landscape"
        assert ws.page_setup.fitToWidth == 1
        assert ws.sheet_properties.pageSetUpPr.fitToPage is True
        assert ws.cell(1, 1).font.bold
        assert ws.column_dimensions["A"].width >= 10
    summary = wb["汇总 Summary"]
    assert (summary["A1"].value, summary["A2"].value) == ("项目", "Item")
    rows = {r[1]: r[2] for r in summary.iter_rows(min_row=3, values_only=True)}
    assert rows["Agency"] == "AG-1"
    assert rows["Checks"] == 10
    assert rows["Generated at (Asia/Shanghai)"] == datetime(2026, 11, 3, 9, 0)
    assert rows["Journal head hash"] == report.journal_head_hash
    assert rows["No feedback after 5 days"] == 1

    measures = wb["措施 Measures"]
    assert [c.value for c in measures[1]] == [
        "措施",
        "触发",
        "执行",
        "暂停（异议核实中）",
        "不执行",
        "纠正",
    ]
    assert [c.value for c in measures[2]][:3] == ["Measure", "Triggered", "Applied"]
    row = next(r for r in measures.iter_rows(min_row=3) if r[0].value == "P-BID-EXCLUDE")
    assert [c.value for c in row] == ["P-BID-EXCLUDE", 4, 2, 1, 0, 1]
    assert row[1].number_format == "#,##0"

    overrides = wb["纠正、不执行 Overrides"]
    got = [(r[1], r[3], r[5]) for r in overrides.iter_rows(min_row=3, values_only=True)]
    assert got == [
        ("not_applied", REASON_A03, "c03"),
        ("overridden", REASON_A04, "c04"),
        ("overridden", REASON_A09, "c09"),
    ]
    assert overrides["A3"].value == datetime(2026, 10, 5, 11, 0)
    assert overrides["A3"].number_format == "yyyy-mm-dd hh:mm:ss"

    matters = wb["按事项 By matter"]
    bidding = next(
        r for r in matters.iter_rows(min_row=3, values_only=True) if "bidding" in r[0].lower()
    )
    assert bidding[-1] == 3

    cases = wb["奖惩案例 Cases"]
    assert cases.max_row == 2 + 8
    texts = [str(v) for r in cases.iter_rows(values_only=True) for v in r if v is not None]
    assert "4420**********1237" in texts
    nofeedback = wb["待反馈 No feedback"]
    assert [r[-1] for r in nofeedback.iter_rows(min_row=3, values_only=True)] == ["c08"]
    # No full personal id anywhere in the workbook.
    for ws in wb.worksheets:
        for r in ws.iter_rows(values_only=True):
            assert all(PERSON not in str(v) for v in r)


def test_workbook_converts_to_pdf_with_libreoffice(month: Journal, tmp_path: Path) -> None:
    office = shutil.which("libreoffice") or shutil.which("soffice")
    if office is None:
        pytest.skip("LibreOffice (libreoffice/soffice) is not installed; cannot check PDF export")
    report = build_monthly_report(month, agency_id="AG-1", period="2026-10", generated_at=GENERATED)
    xlsx = write_xlsx(report, report.details, tmp_path / "r.xlsx")
    subprocess.run(
        [office, "--headless", "--convert-to", "pdf", "--outdir", str(tmp_path), str(xlsx)],
        check=True,
        timeout=120,
        capture_output=True,
    )
    pdf = (tmp_path / "r.pdf").read_bytes()
    assert pdf[:5] == b"%PDF-"
    # The print layout the workbook asks for: every page landscape A4 (842 x 595 pt),
    # and at least one page for each sheet.
    boxes = re.findall(rb"/MediaBox\s*\[\s*0 0 ([0-9.]+) ([0-9.]+)\s*\]", pdf)
    assert len(boxes) >= len(load_workbook(xlsx).worksheets)
    assert all(round(float(w)) == 842 and round(float(h)) == 595 for w, h in boxes), boxes


def test_chart_is_a_png(month: Journal, tmp_path: Path) -> None:
    pytest.importorskip("matplotlib")
    report = build_monthly_report(month, agency_id="AG-1", period="2026-10", generated_at=GENERATED)
    path = write_chart(report, report.details, tmp_path / "chart.png")
    data = path.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    assert len(data) > 10_000


def test_chart_without_matplotlib_names_the_extra(
    month: Journal, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    report = build_monthly_report(month, agency_id="AG-1", period="2026-10", generated_at=GENERATED)
    monkeypatch.setitem(sys.modules, "matplotlib", None)
    with pytest.raises(ImportError, match=r'pip install "credit-check-sdk\[report\]"'):
        write_chart(report, report.details, tmp_path / "chart.png")


def test_empty_month(tmp_path: Path) -> None:
    with Journal(tmp_path / "j.db") as j:
        report = build_monthly_report(j, agency_id="AG-1", period="2026-10", generated_at=GENERATED)
        wb = load_workbook(write_xlsx(report, None, tmp_path / "e.xlsx"))
    assert report.measures == ()
    assert report.record_count == 0
    assert wb["奖惩案例 Cases"]["A3"].value == "（无 none）"
