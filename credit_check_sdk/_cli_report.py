"""``credit-check report PERIOD``: the monthly feedback report (实施情况反馈, §四(一)).

::

    credit-check report 2026-10                       # summary tables from the local journal
    credit-check report 2026-10 --json r.json --xlsx r.xlsx --chart r.png
    credit-check report 2026-10 --json > r.json       # the report document on standard output
    credit-check report 2026-10 --submit              # upload pending records, then PUT the report

Without ``--submit`` only the data folder and the agency id are needed;
``--submit`` needs the platform settings (flags or ``CREDIT_CHECK_*``).
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any

from rich.console import Console
from rich.markup import escape
from rich.table import Table

from ._cli_common import JSON_KEYS, add_timeout, stderr
from ._env import ENV_VARS
from ._exceptions import ConfigurationError

if TYPE_CHECKING:  # the report package is imported by the report command alone
    from .report import MonthlyReport

__all__ = ["register", "summary_tables"]


def summary_tables(report: MonthlyReport) -> list[Table]:
    """The report as rich tables: outcomes, matters, measures, and the rest.

    >>> from credit_check_sdk.report import MonthlyReport
    >>> len(summary_tables(MonthlyReport.model_validate({"agency_id": "AG-1",
    ...     "period": "2026-10", "generated_at": "2026-11-03T09:00:00+08:00",
    ...     "totals": {"normal": 2}, "by_matter": {}, "measures": [], "overrides": [],
    ...     "degraded": {"checks": 0, "reverified": 0, "changed": 0},
    ...     "objections": {"filed": 0, "upheld": 0, "rejected": 0, "verifying": 0},
    ...     "journal_head_hash": None, "record_count": 2})))
    4
    """
    from .report import MATTER_NAMES, OUTCOME_NAMES

    outcomes = [o for o in OUTCOME_NAMES if o in report.totals] + sorted(
        o for o in report.totals if o not in OUTCOME_NAMES
    )
    totals = Table(title=f"核查结果 Outcomes — {report.agency_id} {report.period}")
    totals.add_column("结果 Outcome")
    totals.add_column("核查 Checks", justify="right")
    for o in outcomes:
        zh, en = OUTCOME_NAMES.get(o, (o, o))
        totals.add_row(f"{zh} {en}", str(report.totals[o]))
    totals.add_row("合计 Total", str(sum(report.totals.values())), style="bold")

    matters = Table(title="按事项 By matter")
    matters.add_column("事项 Matter")
    for o in outcomes:
        matters.add_column(OUTCOME_NAMES.get(o, (o, o))[1], justify="right")
    for matter, row in report.by_matter.items():
        zh, en = MATTER_NAMES.get(matter, (matter, matter))
        matters.add_row(f"{zh} {en}", *(str(row.get(o, 0)) for o in outcomes))

    measures = Table(title="措施 Measures")
    for col in ("measure", "triggered", "applied", "suspended", "not applied", "overridden"):
        measures.add_column(col, justify="left" if col == "measure" else "right")
    for m in report.measures:
        measures.add_row(
            m.id,
            str(m.triggered),
            str(m.applied),
            str(m.suspended),
            str(m.not_applied),
            str(m.overridden),
        )

    details = report.details
    other = Table(title="其他 Other", show_header=False)
    other.add_column("item")
    other.add_column("value", justify="right", overflow="fold")  # the head hash: whole
    other.add_row("不执行或纠正 Not applied / overridden", str(len(report.overrides)))
    other.add_row(
        "降级/已复核/有变化 Degraded / re-verified / changed",
        f"{report.degraded.checks} / {report.degraded.reverified} / {report.degraded.changed}",
    )
    obj = report.objections
    other.add_row(
        "异议 提出/成立/不成立/核实中 Objections filed/upheld/rejected/verifying",
        f"{obj.filed} / {obj.upheld} / {obj.rejected} / {obj.verifying}",
    )
    other.add_row(
        f"待反馈 No feedback after {details.feedback_days} days", str(len(details.no_feedback))
    )
    other.add_row("反馈期内 Awaiting feedback", str(details.awaiting))
    other.add_row("期间记录 Records in the period", str(report.record_count))
    other.add_row("链头 Journal head", report.journal_head_hash or "-")
    return [totals, matters, measures, other]


_INSTALL_HINT = 'pip install "credit-check-sdk[report]"'


def _require_extras(args: argparse.Namespace) -> None:
    """Fail before any work when --xlsx or --chart needs a package that is not installed."""
    wanted = [("--xlsx", "openpyxl")] if args.xlsx else []
    wanted += [("--chart", "matplotlib")] if args.chart else []
    for flag, module in wanted:
        try:
            __import__(module)
        except ImportError:
            raise ImportError(
                f"{flag} needs {module}, which is not installed: {_INSTALL_HINT}"
            ) from None


def _json_to_stdout(args: argparse.Namespace) -> bool:
    return bool(args.json == "-")


def _write_outputs(report: MonthlyReport, args: argparse.Namespace, out: Console) -> None:
    from .report import report_json, write_chart, write_xlsx

    # With the JSON on standard output, the rest goes to standard error.
    talk = stderr() if _json_to_stdout(args) else out
    if not _json_to_stdout(args):
        for table in summary_tables(report):
            out.print(table)
        for n in report.details.no_feedback[:20]:
            out.print(
                f"[yellow]no feedback[/yellow] {n.check_id} {n.checked_at:%Y-%m-%d %H:%M} "
                f"{escape(n.subject)} {escape(n.matter)} {', '.join(n.measure_ids)} "
                f"({n.days_waiting} days)",
                soft_wrap=True,
            )
        if len(report.details.no_feedback) > 20:
            out.print(f"… and {len(report.details.no_feedback) - 20} more (see the workbook)")
    if _json_to_stdout(args):
        sys.stdout.write(report_json(report).rstrip("\n") + "\n")
        sys.stdout.flush()
    elif args.json:
        Path(args.json).write_text(report_json(report), encoding="utf-8")
        talk.print(f"JSON: {args.json}", markup=False, soft_wrap=True)
    if args.xlsx:
        written = write_xlsx(report, report.details, args.xlsx)
        talk.print(f"workbook: {written}", markup=False, soft_wrap=True)
    if args.chart:
        drawn = write_chart(report, report.details, args.chart)
        talk.print(f"chart: {drawn}", markup=False, soft_wrap=True)


def _report(args: argparse.Namespace, out: Console) -> int:
    from ._checker import CreditChecker
    from .cli import settings_from, storage_from
    from .report import build_monthly_report, period_bounds, submit_report

    period_bounds(args.period)  # a bad period fails before anything is opened
    _require_extras(args)  # and so does a missing extra
    talk = stderr() if _json_to_stdout(args) else out
    if args.submit:
        settings = settings_from(args)
        with CreditChecker(settings) as checker:
            remaining = checker.flush(timeout=args.timeout)
            if remaining:
                talk.print(
                    f"[yellow]{remaining} journal records are not uploaded yet; the platform"
                    " may not hold every record this report sums[/yellow]"
                )
            report = build_monthly_report(
                checker.storage,
                agency_id=settings.agency_id,
                period=args.period,
                feedback_days=args.feedback_days,
                details=bool(args.xlsx),
            )
            _write_outputs(report, args, out)
            receipt = submit_report(checker.client, report, checker.storage)
        if not receipt.sent:
            talk.print(
                f"not sent: the platform holds this report already (receipt"
                f" {escape(receipt.receipt_id)}, version {receipt.version})"
            )
            return 0
        kind = "correction" if receipt.correction else "first submission"
        talk.print(
            f"submitted: receipt {escape(receipt.receipt_id)}, version {receipt.version} ({kind})"
        )
        return 0
    agency = args.agency_id or os.environ.get(ENV_VARS["agency_id"])
    if not agency:
        raise ConfigurationError(
            f"missing the agency id: pass --agency-id or set {ENV_VARS['agency_id']}"
        )
    with storage_from(args) as storage:
        report = build_monthly_report(
            storage,
            agency_id=agency,
            period=args.period,
            feedback_days=args.feedback_days,
            details=bool(args.xlsx),  # the cases, in the same snapshot
        )
    _write_outputs(report, args, out)
    return 0


def register(sub: Any) -> None:
    """Add ``report`` to the ``credit-check`` parser."""
    from .cli import add_settings

    cmd = sub.add_parser(
        "report", help="the monthly feedback report from the local journal (实施情况反馈)"
    )
    cmd.add_argument("period", help="the month, YYYY-MM (Asia/Shanghai)")
    cmd.add_argument(
        "--json",
        nargs="?",
        const="-",
        metavar="FILE",
        help=f"the report document as JSON ({JSON_KEYS['report']['…']}): on standard output "
        "(messages go to stderr), or written to FILE",
    )
    cmd.add_argument("--xlsx", metavar="FILE", help="write the workbook (extra: report)")
    cmd.add_argument("--chart", metavar="FILE.png", help="write the chart (extra: report)")
    cmd.add_argument(
        "--submit", action="store_true", help="PUT the report to the platform (needs settings)"
    )
    cmd.add_argument(
        "--feedback-days",
        type=int,
        default=5,
        help="days after which a check with measures and no action is listed (default 5)",
    )
    add_timeout(cmd, 30.0, "with --submit: seconds to upload pending records before submitting")
    add_settings(cmd)
    cmd.set_defaults(func=_report)
