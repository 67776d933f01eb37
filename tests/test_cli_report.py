"""``credit-check report`` and ``credit-check objection``, end to end."""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from openpyxl import load_workbook
from test_report import GENERATED, scripted_month

from credit_check_sdk._time import today
from credit_check_sdk.cli import main
from credit_check_sdk.journal import Journal
from credit_check_sdk.report import build_monthly_report, report_json
from credit_check_sdk.testing import FakePlatform

ROOT = Path(__file__).resolve().parents[1]
ORG = "91442000MA4UJ2KQ57"


@pytest.fixture
def month_dir(tmp_path: Path) -> Path:
    scripted_month(tmp_path / "journal.sqlite3").close()
    return tmp_path


@pytest.fixture
def fake() -> Iterator[FakePlatform]:
    platform = FakePlatform(agency_id="AG-1")
    platform.serve()
    yield platform
    platform.stop()


def settings(fake: FakePlatform, data_dir: Path) -> list[str]:
    return [
        "--base-url", fake.base_url, "--app-id", fake.app_id, "--app-secret", fake.app_secret,
        "--agency-id", fake.agency_id, "--data-dir", str(data_dir),
    ]  # fmt: skip


def test_report_prints_tables_and_writes_files(
    month_dir: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("COLUMNS", "160")
    out_json, out_xlsx, out_png = (month_dir / f"r.{x}" for x in ("json", "xlsx", "png"))
    status = main(
        [
            "report", "2026-10", "--agency-id", "AG-1", "--data-dir", str(month_dir),
            "--json", str(out_json), "--xlsx", str(out_xlsx), "--chart", str(out_png),
        ]
    )  # fmt: skip
    printed = capsys.readouterr().out
    assert status == 0
    for text in (
        "Outcomes",
        "By matter",
        "P-BID-EXCLUDE",
        "no feedback",
        "c08",
        "4420**********1237",
    ):
        assert text in printed
    assert "442000199001011237" not in printed
    doc = json.loads(out_json.read_text(encoding="utf-8"))
    with Journal(month_dir / "journal.sqlite3") as j:
        rebuilt = build_monthly_report(
            j, agency_id="AG-1", period="2026-10", generated_at=GENERATED
        ).wire()
    doc["generated_at"] = rebuilt["generated_at"]
    assert doc == rebuilt
    assert load_workbook(out_xlsx).sheetnames[0] == "汇总 Summary"
    assert out_png.read_bytes()[:4] == b"\x89PNG"


def test_report_needs_an_agency_and_a_good_period(
    month_dir: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.delenv("CREDIT_CHECK_AGENCY_ID", raising=False)
    assert main(["report", "2026-10", "--data-dir", str(month_dir)]) == 2
    assert "--agency-id" in capsys.readouterr().err
    assert main(["report", "2026-13", "--agency-id", "AG-1", "--data-dir", str(month_dir)]) == 2


def test_report_as_a_real_subprocess(month_dir: Path) -> None:
    out = month_dir / "r.json"
    done = subprocess.run(
        [sys.executable, "-m", "credit_check_sdk.cli", "report", "2026-10",
         "--data-dir", str(month_dir), "--json", str(out)],
        capture_output=True, text=True, timeout=60, cwd=ROOT,
        env={"PATH": "/usr/bin:/bin", "CREDIT_CHECK_AGENCY_ID": "AG-1", "COLUMNS": "160",
             "PYTHONIOENCODING": "utf-8"},
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert json.loads(out.read_text(encoding="utf-8"))["totals"]["restriction"] == 5


def test_submit_objection_and_correction_against_the_fake_platform(
    fake: FakePlatform, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    entry = fake.add_entry(ORG, "black", "court_judgment_defaulter")
    with fake.checker(tmp_path, http=True) as checker:
        decision = checker.must_check(ORG, "bidding")
    period = today().strftime("%Y-%m")

    assert main(["objection", "file", decision.check_id, entry, "--reason", "已履行判决",
                 "--by", "u123", *settings(fake, tmp_path)]) == 0  # fmt: skip
    (objection_id,) = fake.objections
    assert objection_id in capsys.readouterr().out
    with Journal(tmp_path / "journal.sqlite3") as j:
        (row,) = j.objections()
    assert (row["objection_id"], row["check_id"], row["entry_id"], row["status"]) == (
        objection_id,
        decision.check_id,
        entry,
        "verifying",
    )

    assert main(["report", period, "--submit", *settings(fake, tmp_path)]) == 0
    assert "version 1 (first submission)" in capsys.readouterr().out
    fake.decide_objection(objection_id, "upheld")
    assert main(["objection", "status", objection_id, *settings(fake, tmp_path)]) == 0
    assert "upheld" in capsys.readouterr().out
    assert main(["report", period, "--submit", *settings(fake, tmp_path)]) == 0
    assert "version 2 (correction)" in capsys.readouterr().out

    first, second = fake.reports[("AG-1", period)]
    assert first["objections"] == {"filed": 1, "upheld": 0, "rejected": 0, "verifying": 1}
    assert second["objections"] == {"filed": 1, "upheld": 1, "rejected": 0, "verifying": 0}
    assert second["totals"]["restriction"] == 1
    # The check record reached the platform before the report that sums it.
    assert decision.check_id in fake.records
    with Journal(tmp_path / "journal.sqlite3") as j:
        assert [r["version"] for r in j.report_receipts(period)] == [1, 2]
        latest = build_monthly_report(j, agency_id="AG-1", period=period)
    assert json.loads(report_json(latest))["objections"] == second["objections"]
