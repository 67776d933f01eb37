"""The monthly report as an Excel workbook, for the bureau and for auditors.

>>> _matter_label("bidding")
'招标投标 Bidding'
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import datetime
from pathlib import Path
from typing import Any

from .._cells import append_row
from .._time import SHANGHAI
from ._document import MATTER_NAMES, OUTCOME_NAMES, OUTCOMES, MonthlyReport, ReportDetails

__all__ = ["INSTALL_HINT", "ordered", "write_xlsx"]

INSTALL_HINT = 'pip install "credit-check-sdk[report]"'


def _naive(value: datetime) -> datetime:
    """Excel has no time zones: the Asia/Shanghai wall time."""
    return value.astimezone(SHANGHAI).replace(tzinfo=None)


def _matter_label(category: str) -> str:
    zh, en = MATTER_NAMES.get(category, (category, category))
    return f"{zh} {en}" if zh != en else category


def _actions_text(actions: Sequence[tuple[datetime, str, tuple[str, ...], str | None]]) -> str:
    if not actions:
        return "未反馈 no action yet"
    lines = []
    for acted_at, action, ids, reason in actions:
        line = f"{_naive(acted_at):%Y-%m-%d %H:%M} {action} {', '.join(ids) or '-'}"
        lines.append(line + (f": {reason}" if reason else ""))
    return "\n".join(lines)


def write_xlsx(report: MonthlyReport, details: ReportDetails | None, path: str | Path) -> Path:
    """Write the report as an Excel workbook for the bureau and for auditors.

    Sheets: 汇总 Summary, 按事项 By matter, 措施 Measures, 纠正、不执行 Overrides,
    降级决定 Degraded, 奖惩案例 Cases, 待反馈 No feedback. Each has a Chinese
    header line over an English one, frozen, and prints landscape at page
    width. Personal ids are masked. Needs openpyxl (``pip install
    "credit-check-sdk[report]"``).

    >>> write_xlsx(report, report.details, "2026-10.xlsx")  # doctest: +SKIP
    PosixPath('2026-10.xlsx')
    """
    try:
        from openpyxl import Workbook
        from openpyxl.styles import Alignment, Font, PatternFill
        from openpyxl.utils import get_column_letter
        from openpyxl.worksheet.properties import PageSetupProperties
        from openpyxl.worksheet.worksheet import Worksheet
    except ImportError as exc:  # pragma: no cover - depends on the install
        raise ImportError(f"write_xlsx needs openpyxl: {INSTALL_HINT}") from exc

    details = details if details is not None else report.details
    wb = Workbook()
    default_sheet = wb.active
    if default_sheet is not None:
        wb.remove(default_sheet)
    bold = Font(bold=True)
    fill = PatternFill("solid", fgColor="DDEBF7")
    wrap = Alignment(wrap_text=True, vertical="top")
    int_fmt, time_fmt = "#,##0", "yyyy-mm-dd hh:mm:ss"

    def sheet(
        title: str,
        columns: Sequence[tuple[str, str, float]],
        rows: Iterable[Sequence[Any]],
    ) -> Worksheet:
        ws: Worksheet = wb.create_sheet(title)
        ws.append([zh for zh, _, _ in columns])
        ws.append([en for _, en, _ in columns])
        for row_cells in ws.iter_rows(min_row=1, max_row=2):
            for cell in row_cells:
                cell.font, cell.fill = bold, fill
                cell.alignment = Alignment(wrap_text=True, vertical="center")
        for i, (_, _, width) in enumerate(columns, start=1):
            ws.column_dimensions[get_column_letter(i)].width = width
        count = 0
        for values in rows:
            append_row(ws, values)  # user text as text, never a formula
            count += 1
            for cell in ws[ws.max_row]:
                if isinstance(cell.value, bool):
                    continue
                if isinstance(cell.value, int):
                    cell.number_format = int_fmt
                elif isinstance(cell.value, datetime):
                    cell.number_format = time_fmt
                elif isinstance(cell.value, str) and "\n" in cell.value:
                    cell.alignment = wrap
        if count == 0:
            ws.append(["（无 none）"])
        ws.freeze_panes = "A3"
        ws.print_title_rows = "1:2"
        ws.page_setup.orientation = "landscape"
        ws.page_setup.paperSize = ws.PAPERSIZE_A4
        ws.page_setup.fitToWidth = 1
        ws.page_setup.fitToHeight = 0
        ws.sheet_properties.pageSetUpPr = PageSetupProperties(fitToPage=True)
        return ws

    objections = report.objections
    summary: list[tuple[str, str, Any]] = [
        ("机构", "Agency", report.agency_id),
        ("期间", "Period", report.period),
        ("生成时间（北京时间）", "Generated at (Asia/Shanghai)", _naive(report.generated_at)),
        ("核查总数", "Checks", sum(report.totals.values())),
    ]
    summary += [
        (
            f"结果：{OUTCOME_NAMES.get(o, (o, o))[0]}",
            f"Outcome: {OUTCOME_NAMES.get(o, (o, o))[1]}",
            n,
        )
        for o, n in ordered(report.totals)
    ]
    summary += [
        ("不执行或纠正", "Not applied or overridden", len(report.overrides)),
        ("降级决定", "Degraded decisions", report.degraded.checks),
        ("已复核", "Re-verified", report.degraded.reverified),
        ("复核结果变化", "Changed on re-check", report.degraded.changed),
        ("异议：提出", "Objections filed", objections.filed),
        ("异议：成立", "Objections upheld", objections.upheld),
        ("异议：不成立", "Objections rejected", objections.rejected),
        ("异议：核实中", "Objections being verified", objections.verifying),
        (
            f"待反馈（超过{details.feedback_days}天）",
            f"No feedback after {details.feedback_days} days",
            len(details.no_feedback),
        ),
        ("反馈期内未反馈", "Awaiting feedback (within the window)", details.awaiting),
        ("期间内日志记录数", "Journal records in the period", report.record_count),
        ("日志链头哈希", "Journal head hash", report.journal_head_hash or "-"),
    ]
    sheet(
        "汇总 Summary",
        [("项目", "Item", 34), ("Item", "(English)", 40), ("数值", "Value", 68)],
        summary,
    )

    outcome_cols = [(*OUTCOME_NAMES.get(o, (o, o)), 14.0) for o, _ in ordered(report.totals)]
    sheet(
        "按事项 By matter",
        [("事项", "Matter", 26), *outcome_cols, ("合计", "Total", 12)],
        (
            [
                _matter_label(m),
                *(row.get(o, 0) for o, _ in ordered(report.totals)),
                sum(row.values()),
            ]
            for m, row in report.by_matter.items()
        ),
    )
    sheet(
        "措施 Measures",
        [
            ("措施", "Measure", 26),
            ("触发", "Triggered", 12),
            ("执行", "Applied", 12),
            ("暂停（异议核实中）", "Suspended (objection)", 18),
            ("不执行", "Not applied", 12),
            ("纠正", "Overridden", 12),
        ],
        (
            [m.id, m.triggered, m.applied, m.suspended, m.not_applied, m.overridden]
            for m in report.measures
        ),
    )
    sheet(
        "纠正、不执行 Overrides",
        [
            ("时间（北京时间）", "Acted at (Asia/Shanghai)", 20),
            ("处理", "Action", 13),
            ("措施", "Measures", 26),
            ("理由", "Reason", 48),
            ("经办人", "Operator", 14),
            ("核查编号", "Check id", 38),
            ("记录编号", "Action id", 38),
        ],
        (
            [
                _naive(datetime.fromisoformat(o["acted_at"])),
                o.get("action"),
                ", ".join(o.get("measure_ids") or ()),
                o.get("reason"),
                o.get("operator"),
                o.get("check_id"),
                o.get("id"),
            ]
            for o in report.overrides
        ),
    )
    sheet(
        "降级决定 Degraded",
        [
            ("核查时间（北京时间）", "Checked at (Asia/Shanghai)", 20),
            ("主体", "Subject", 22),
            ("事项", "Matter", 22),
            ("数据来源", "Source", 10),
            ("结果", "Outcome", 14),
            ("复核结果", "Re-check outcome", 16),
            ("有变化", "Changed", 9),
            ("核查编号", "Check id", 38),
            ("复核编号", "Re-check id", 38),
        ],
        (
            [
                _naive(d.checked_at),
                d.subject,
                _matter_label(d.matter),
                d.source,
                d.outcome,
                d.recheck_outcome or "未复核 not yet",
                "是 yes" if d.changed else "否 no",
                d.check_id,
                d.recheck_id or "-",
            ]
            for d in details.degraded
        ),
    )
    sheet(
        "奖惩案例 Cases",
        [
            ("核查时间（北京时间）", "Checked at (Asia/Shanghai)", 20),
            ("主体", "Subject", 22),
            ("事项", "Matter", 22),
            ("案件编号", "Case id", 16),
            ("类型", "Kind", 12),
            ("结果", "Outcome", 14),
            ("措施", "Measures", 34),
            ("处理情况", "Action taken", 56),
            ("核查编号", "Check id", 38),
        ],
        (
            [
                _naive(c.checked_at),
                c.subject,
                _matter_label(c.matter),
                c.case_id or "-",
                c.kind,
                c.outcome,
                "\n".join(f"{mid} ({status})" for mid, status in c.measures),
                _actions_text(c.actions),
                c.check_id,
            ]
            for c in details.cases
        ),
    )
    sheet(
        "待反馈 No feedback",
        [
            ("核查时间（北京时间）", "Checked at (Asia/Shanghai)", 20),
            ("主体", "Subject", 22),
            ("事项", "Matter", 22),
            ("案件编号", "Case id", 16),
            ("结果", "Outcome", 14),
            ("措施", "Measures", 34),
            ("已等待天数", "Days waiting", 12),
            ("核查编号", "Check id", 38),
        ],
        (
            [
                _naive(n.checked_at),
                n.subject,
                _matter_label(n.matter),
                n.case_id or "-",
                n.outcome,
                ", ".join(n.measure_ids),
                n.days_waiting,
                n.check_id,
            ]
            for n in details.no_feedback
        ),
    )
    out = Path(path)
    out.parent.mkdir(parents=True, exist_ok=True)
    wb.save(out)
    return out


def ordered(counts: dict[str, int]) -> list[tuple[str, int]]:
    """Known outcomes in their usual order, then any others by name."""
    known = [(o, counts.get(o, 0)) for o in OUTCOMES]
    return known + sorted((o, n) for o, n in counts.items() if o not in OUTCOMES)
