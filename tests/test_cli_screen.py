"""``credit-check screen``: a real subprocess against a FakePlatform served over HTTP."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from openpyxl import load_workbook

from credit_check_sdk._cli_screen import read_subjects
from credit_check_sdk.journal import Journal
from credit_check_sdk.testing import FakePlatform

ROOT = Path(__file__).resolve().parents[1]
DEFAULTER = "91442000MA4X00011J"  # court judgment defaulter: bidding restricted
GRADE_A = "91442000MA4X00012M"  # tax grade A: bonus points
CLEAN = "91442000MA4X00013Q"  # nothing on the lists
PERSON = "442000199001011233"  # a natural person (RIC): masked in every output
PERSON_MASKED = "4420**********1233"
BAD_CHECKSUM = "91442000MA4X00011K"


@pytest.fixture
def fake() -> Iterator[FakePlatform]:
    platform = FakePlatform(agency_id="AG-SCREEN")
    platform.add_entry(DEFAULTER, "black", "court_judgment_defaulter")
    platform.add_entry(GRADE_A, "red", "tax_credit_a")
    platform.serve()
    yield platform
    platform.stop()


def run_screen(
    fake: FakePlatform, data_dir: Path, *args: str, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    environ = {
        **os.environ,
        "CREDIT_CHECK_BASE_URL": fake.base_url,
        "CREDIT_CHECK_APP_ID": fake.app_id,
        "CREDIT_CHECK_APP_SECRET": fake.app_secret,
        "CREDIT_CHECK_AGENCY_ID": fake.agency_id,
        "CREDIT_CHECK_DATA_DIR": str(data_dir),
        "COLUMNS": "200",
        "PYTHONIOENCODING": "utf-8",
        **(env or {}),
    }
    return subprocess.run(
        [sys.executable, "-m", "credit_check_sdk.cli", "screen", *args],
        capture_output=True,
        text=True,
        encoding="utf-8",
        env=environ,
        cwd=ROOT,
        timeout=60,
        check=False,
    )


def test_bom_file_with_bad_ids_and_blank_lines_to_xlsx(fake: FakePlatform, tmp_path: Path) -> None:
    csv_file = tmp_path / "bidders.csv"
    lines = [
        "序号,统一社会信用代码,企业名称",  # 1
        f"1,{DEFAULTER},中山市恒达建筑工程有限公司",  # 2
        f"2,{GRADE_A},中山市粤海灯饰有限公司",  # 3
        "",  # 4: blank
        f"3,{BAD_CHECKSUM},校验码错误公司",  # 5
        f"4, {CLEAN.lower()} ,中山市明德电子有限公司",  # 6: spaces and case are normalised
        ",,",  # 7: blank (only separators)
        "5,,没有代码的公司",  # 8: no id
        f"6,{PERSON},梁某",  # 9: a person
        "7,4.42E+17,数值化的身份证号",  # 10: Excel turned it into a number
    ]
    csv_file.write_bytes(b"\xef\xbb\xbf" + "\r\n".join(lines).encode("utf-8") + b"\r\n")
    out = tmp_path / "result.xlsx"
    done = run_screen(
        fake, tmp_path / "sdk", str(csv_file), "--matter", "bidding", "--out", str(out)
    )
    text = done.stdout + done.stderr
    assert done.returncode == 1, text  # invalid rows: never a silent success
    assert "4 valid ids, 3 invalid rows, 2 blank lines skipped" in text
    assert "encoding utf-8-sig" in text
    for line in ("5", "8", "10"):
        assert f"│ {line} " in text.replace("┃", "│")
    assert "no id in this row" in text
    assert "format the column as text" in text
    assert PERSON not in text
    assert "written:" in text

    wb = load_workbook(out)
    assert wb.sheetnames == ["筛查结果 results", "无效行 invalid rows"]
    results = wb["筛查结果 results"]
    header = [c.value for c in results[1]]
    assert header[:4] == ["line 行号", "id 代码", "name 名称", "outcome 结果"]
    assert header[-1] == "check id 核查编号"
    rows = [[c.value for c in r] for r in results.iter_rows(min_row=2)]
    assert [r[0] for r in rows] == [2, 3, 6, 9]
    assert [r[1] for r in rows] == [DEFAULTER, GRADE_A, CLEAN, PERSON_MASKED]
    assert [r[2] for r in rows] == [
        "中山市恒达建筑工程有限公司",
        "中山市粤海灯饰有限公司",
        "中山市明德电子有限公司",
        "梁某",
    ]
    assert [r[3] for r in rows] == ["restriction", "normal", "normal", "normal"]
    assert "P-BID-EXCLUDE" in rows[0][4]
    assert "I-BID-POINTS" in rows[1][4]
    assert rows[2][4] in (None, "")
    assert "court_judgment_defaulter" in rows[0][5] or "失信" in rows[0][5]
    assert rows[0][6] == "live"
    check_ids = [r[7] for r in rows]
    assert all(check_ids)
    assert len(set(check_ids)) == 4

    invalid = [[c.value for c in r] for r in wb["无效行 invalid rows"].iter_rows(min_row=2)]
    assert [r[0] for r in invalid] == [5, 8, 10]
    assert invalid[0][1] == BAD_CHECKSUM
    assert "checksum" in invalid[0][3]
    assert invalid[1][2] == "没有代码的公司"
    assert "no id" in invalid[1][3]
    assert "format the column as text" in invalid[2][3]

    # One journal record per screened subject, uploaded to the platform.
    journal = Journal(tmp_path / "sdk" / "journal.sqlite3")
    try:
        for check_id, subject in zip(check_ids, [DEFAULTER, GRADE_A, CLEAN, PERSON], strict=True):
            record = journal.get(check_id)
            assert record is not None
            assert record["subject"]["id"] == subject
            assert record["matter"]["category"] == "bidding"
    finally:
        journal.close()
    assert set(check_ids) <= set(fake.records)


def test_gbk_file_with_json_output(fake: FakePlatform, tmp_path: Path) -> None:
    csv_file = tmp_path / "applicants-gbk.csv"
    text = f"身份证号,姓名\r\n{PERSON},梁志强\r\n\r\n{DEFAULTER},中山市恒达建筑工程有限公司\r\n"
    csv_file.write_bytes(text.encode("gbk"))
    done = run_screen(fake, tmp_path / "sdk", str(csv_file), "--matter", "bidding", "--json")
    assert done.returncode == 0, done.stdout + done.stderr
    doc = json.loads(done.stdout)  # stdout is the JSON alone; progress went to stderr
    assert doc["encoding"] == "gbk"
    assert doc["id_column"] == "身份证号"
    assert doc["name_column"] == "姓名"
    assert doc["blank_lines"] == 1
    assert doc["invalid"] == []
    assert doc["summary"] == {"normal": 1, "restriction": 1}
    first, second = doc["results"]
    assert (first["line"], first["id"], first["name"]) == (2, PERSON_MASKED, "梁志强")
    assert first["kind"] == "natural_person"
    assert (second["line"], second["id"], second["outcome"]) == (4, DEFAULTER, "restriction")
    assert [m["id"] for m in second["measures"]] == ["P-BID-EXCLUDE"]
    assert second["reasons"][0]["zh"]
    assert second["reasons"][0]["en"]
    assert PERSON not in done.stdout + done.stderr
    assert doc["journal_pending"] == 0


def test_chunks_semicolons_and_both_outputs(fake: FakePlatform, tmp_path: Path) -> None:
    csv_file = tmp_path / "plain.csv"
    ids = [DEFAULTER, GRADE_A, CLEAN, PERSON, "91442000MA4UC00019"]
    csv_file.write_text("id;name\n" + "".join(f"{i};n{n}\n" for n, i in enumerate(ids)))
    out = tmp_path / "r.xlsx"
    before = sum(1 for _, path in fake.requests if "profiles" in path)
    done = run_screen(
        fake,
        tmp_path / "sdk",
        str(csv_file),
        "--matter",
        "bidding",
        "--chunk-size",
        "2",
        "--json",
        "--out",
        str(out),
    )
    assert done.returncode == 0, done.stdout + done.stderr
    doc = json.loads(done.stdout)
    assert [r["line"] for r in doc["results"]] == [2, 3, 4, 5, 6]
    assert "5/5" not in done.stderr  # no progress bar: standard error is not a terminal
    batches = sum(1 for _, path in fake.requests if "profiles" in path) - before
    assert batches == 3  # 5 ids, 2 per request
    sheet = load_workbook(out)["筛查结果 results"]
    assert [c.value for c in sheet["A"]][1:] == [2, 3, 4, 5, 6]
    assert sheet["B5"].value == PERSON_MASKED
    assert sheet["H2"].value == doc["results"][0]["check_id"]
    assert load_workbook(out)["无效行 invalid rows"].max_row == 1  # the header alone


def test_no_id_column_is_an_error(fake: FakePlatform, tmp_path: Path) -> None:
    csv_file = tmp_path / "wrong.csv"
    csv_file.write_text("company,city\nfoo,bar\n")
    done = run_screen(fake, tmp_path / "sdk", str(csv_file), "--matter", "bidding", "--json")
    assert done.returncode == 2
    assert "no id column" in done.stderr
    assert "--id-column" in done.stderr
    assert done.stdout == ""
    # --id-column names it.
    csv_file.write_text(f"company,code\nfoo,{CLEAN}\n")
    named = run_screen(
        fake, tmp_path / "sdk", str(csv_file), "--matter", "bidding", "--id-column", "code"
    )
    assert named.returncode == 0, named.stdout + named.stderr
    assert "outcomes: normal 1" in named.stdout


def test_without_openpyxl_the_error_says_what_to_install(
    fake: FakePlatform, tmp_path: Path
) -> None:
    shim = tmp_path / "shim" / "openpyxl"
    shim.mkdir(parents=True)
    (shim / "__init__.py").write_text("raise ImportError('openpyxl is hidden for this test')\n")
    csv_file = tmp_path / "ids.csv"
    csv_file.write_text(f"subject_id\n{CLEAN}\n")
    before = len(fake.requests)
    done = run_screen(
        fake,
        tmp_path / "sdk",
        str(csv_file),
        "--matter",
        "bidding",
        "--out",
        str(tmp_path / "x.xlsx"),
        env={"PYTHONPATH": os.pathsep.join([str(tmp_path / "shim"), str(ROOT)])},
    )
    assert done.returncode == 2
    assert 'pip install "credit-check-sdk[report]"' in done.stderr
    assert len(fake.requests) == before  # nothing was checked
    assert not (tmp_path / "x.xlsx").exists()


def test_read_subjects_in_process(tmp_path: Path) -> None:
    csv_file = tmp_path / "utf16.csv"
    csv_file.write_bytes(f"统一社会信用代码\t名称\r\n{CLEAN}\t明德\r\n".encode("utf-16"))
    found = read_subjects(csv_file)
    assert found.encoding == "utf-16"
    assert found.delimiter == "\t"
    assert [(r.line, r.subject.id, r.name) for r in found.rows] == [(2, CLEAN, "明德")]
