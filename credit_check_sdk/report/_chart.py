"""The monthly report as a chart: outcomes by week and by matter (matplotlib, headless)."""

from __future__ import annotations

from pathlib import Path

from ._document import MonthlyReport, ReportDetails
from ._xlsx import INSTALL_HINT, ordered

__all__ = ["write_chart"]


def write_chart(report: MonthlyReport, details: ReportDetails | None, path: str | Path) -> Path:
    """Draw outcomes by week and by matter as a PNG (matplotlib, headless).

    Needs matplotlib: ``pip install "credit-check-sdk[report]"``.

    >>> write_chart(report, report.details, "2026-10.png")  # doctest: +SKIP
    PosixPath('2026-10.png')
    """
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError as exc:
        raise ImportError(
            f"write_chart needs matplotlib, which is not installed: {INSTALL_HINT}"
        ) from exc

    details = details if details is not None else report.details
    outcomes = [o for o, _ in ordered(report.totals)]
    colors = {
        "green_channel": "#2e7d32",
        "tolerance": "#81c784",
        "normal": "#90a4ae",
        "restriction": "#c62828",
        "review": "#f9a825",
    }
    fig, (by_week, by_matter) = plt.subplots(1, 2, figsize=(13, 5), constrained_layout=True)
    try:
        weeks = list(details.weekly)
        bottom = [0] * len(weeks)
        for o in outcomes:
            values = [details.weekly[w].get(o, 0) for w in weeks]
            by_week.bar(weeks, values, bottom=bottom, label=o, color=colors.get(o))
            bottom = [b + v for b, v in zip(bottom, values, strict=True)]
        by_week.set_title(f"Checks by week (from Monday), {report.period}")
        by_week.set_ylabel("checks")
        by_week.tick_params(axis="x", labelrotation=30)

        matters = list(report.by_matter)
        left = [0] * len(matters)
        for o in outcomes:
            values = [report.by_matter[m].get(o, 0) for m in matters]
            by_matter.barh(matters, values, left=left, label=o, color=colors.get(o))
            left = [a + v for a, v in zip(left, values, strict=True)]
        by_matter.set_title(f"Checks by matter, {report.period}")
        by_matter.set_xlabel("checks")
        by_matter.legend(loc="upper left", bbox_to_anchor=(1.01, 1.0), fontsize="small")
        by_week.yaxis.get_major_locator().set_params(integer=True)
        by_matter.xaxis.get_major_locator().set_params(integer=True)
        fig.suptitle(f"Credit checks of {report.agency_id}, {report.period}")
        out = Path(path)
        out.parent.mkdir(parents=True, exist_ok=True)
        fig.savefig(out, format="png", dpi=110)
    finally:
        plt.close(fig)
    return out
