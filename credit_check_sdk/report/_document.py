"""The monthly report as a document: the contract's ``MonthlyReport`` and what stays local.

>>> OUTCOME_NAMES["restriction"]
('限制', 'Restriction')
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from datetime import datetime
from typing import Any, NamedTuple

from pydantic import BaseModel, ConfigDict, PrivateAttr

from .._models import AuthorityFeedback, DisclosureCounts, Outcome

__all__ = [
    "MATTER_NAMES",
    "OUTCOMES",
    "OUTCOME_NAMES",
    "Case",
    "DegradedCheck",
    "DegradedCounts",
    "MeasureCounts",
    "MonthlyReport",
    "NoFeedback",
    "ObjectionCounts",
    "ReportDetails",
    "ReportReceipt",
]

#: Outcomes in the order reports list them.
OUTCOMES: tuple[str, ...] = tuple(o.value for o in Outcome)

MATTER_NAMES: dict[str, tuple[str, str]] = {
    "licensing": ("行政许可", "Licensing"),
    "procurement": ("政府采购", "Procurement"),
    "bidding": ("招标投标", "Bidding"),
    "subsidy": ("财政资金补助", "Subsidies"),
    "honours": ("评优评先", "Honours"),
    "inspection": ("监督检查", "Inspection"),
}
OUTCOME_NAMES: dict[str, tuple[str, str]] = {
    "green_channel": ("绿色通道", "Green channel"),
    "tolerance": ("容缺受理", "Tolerance"),
    "normal": ("正常办理", "Normal"),
    "restriction": ("限制", "Restriction"),
    "review": ("人工核查", "Review"),
}


# --- the wire document ----------------------------------------------------------------


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class MeasureCounts(_Strict):
    """One measure's line of the report."""

    id: str
    triggered: int
    applied: int
    suspended: int
    not_applied: int
    overridden: int


class DegradedCounts(_Strict):
    """Checks decided without live data, and what their re-checks found."""

    checks: int
    reverified: int
    changed: int


class ObjectionCounts(_Strict):
    """Objections filed through this agency in the period, by status so far."""

    filed: int
    upheld: int
    rejected: int
    verifying: int


class NoFeedback(NamedTuple):
    """A check with measures and no action record after the feedback window."""

    check_id: str
    checked_at: datetime
    subject: str  # masked when personal
    matter: str
    case_id: str | None
    outcome: str
    measure_ids: tuple[str, ...]
    days_waiting: int


class Case(NamedTuple):
    """A restriction or incentive case: a check whose decision listed measures."""

    check_id: str
    checked_at: datetime
    subject: str  # masked when personal
    subject_kind: str
    matter: str
    matter_code: str | None
    case_id: str | None
    outcome: str
    kind: str  # restriction, incentive or suspended
    measures: tuple[tuple[str, str], ...]  # (measure id, applied|suspended)
    actions: tuple[
        tuple[datetime, str, tuple[str, ...], str | None], ...
    ]  # acted_at, action, ids, reason


class DegradedCheck(NamedTuple):
    """A check decided from the snapshot or from no data, with its latest live re-check."""

    check_id: str
    checked_at: datetime
    subject: str  # masked when personal
    matter: str
    source: str
    outcome: str
    recheck_id: str | None
    recheck_outcome: str | None
    changed: bool


class ReportDetails:
    """What the SDK keeps beside the report, never sent: for the workbook, chart and CLI.

    ``weekly`` maps the Monday (Asia/Shanghai) of each week that has checks to
    counts by outcome; ``awaiting`` is how many checks with measures have no
    action yet but are still inside the feedback window.

    ``cases`` (every restriction and incentive case with its actions) is read
    from the journal on first access, or at once with
    ``build_monthly_report(..., details=True)`` or :meth:`load_cases`; it
    sees the journal as the report did (records appended later are left out).
    """

    __slots__ = (
        "_cases",
        "_load",
        "_lock",
        "awaiting",
        "degraded",
        "feedback_days",
        "no_feedback",
        "period",
        "weekly",
    )

    def __init__(
        self,
        period: str,
        feedback_days: int,
        no_feedback: tuple[NoFeedback, ...] = (),
        awaiting: int = 0,
        cases: tuple[Case, ...] | None = None,
        degraded: tuple[DegradedCheck, ...] = (),
        weekly: dict[str, dict[str, int]] | None = None,
        *,
        load_cases: Callable[[], tuple[Case, ...]] | None = None,
    ) -> None:
        self.period = period
        self.feedback_days = feedback_days
        self.no_feedback = no_feedback
        self.awaiting = awaiting
        self.degraded = degraded
        self.weekly = weekly if weekly is not None else {}
        self._cases = cases if cases is not None or load_cases is not None else ()
        self._load = load_cases
        self._lock = threading.Lock()

    @property
    def cases(self) -> tuple[Case, ...]:
        """Every check of the period whose decision listed measures, oldest first."""
        return self.load_cases()

    def load_cases(self) -> tuple[Case, ...]:
        """Read the cases now if they are not read yet (once), and return them."""
        if self._cases is None:
            with self._lock:
                if self._cases is None and self._load is not None:
                    self._cases = self._load()
                    self._load = None
        return self._cases if self._cases is not None else ()

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, ReportDetails):
            return NotImplemented
        return self._fields() == other._fields()

    __hash__ = None  # type: ignore[assignment]

    def _fields(self) -> tuple[Any, ...]:
        return (
            self.period,
            self.feedback_days,
            self.no_feedback,
            self.awaiting,
            self.cases,
            self.degraded,
            self.weekly,
        )

    def __repr__(self) -> str:
        cases = "<not loaded>" if self._cases is None else f"{len(self._cases)} cases"
        return (
            f"ReportDetails(period={self.period!r}, feedback_days={self.feedback_days},"
            f" no_feedback={len(self.no_feedback)}, awaiting={self.awaiting}, cases={cases},"
            f" degraded={len(self.degraded)}, weeks={len(self.weekly)})"
        )


class MonthlyReport(_Strict):
    """The contract's ``MonthlyReport``, field for field; :attr:`details` stays local.

    >>> from credit_check_sdk._time import SHANGHAI
    >>> r = MonthlyReport(agency_id="AG-1", period="2026-10",
    ...     generated_at=datetime(2026, 11, 3, 9, tzinfo=SHANGHAI), totals={}, by_matter={},
    ...     measures=[], overrides=[], degraded=DegradedCounts(checks=0, reverified=0, changed=0),
    ...     objections=ObjectionCounts(filed=0, upheld=0, rejected=0, verifying=0),
    ...     journal_head_hash=None, record_count=0)
    >>> sorted(r.wire())[:3]
    ['agency_id', 'by_matter', 'degraded']
    """

    agency_id: str
    period: str
    generated_at: datetime
    totals: dict[str, int]
    by_matter: dict[str, dict[str, int]]
    measures: tuple[MeasureCounts, ...]
    overrides: tuple[dict[str, Any], ...]
    degraded: DegradedCounts
    objections: ObjectionCounts
    #: v2: 双公示 in the period (§四(三)); see :mod:`credit_check_sdk.report._feedback`.
    disclosures: DisclosureCounts = DisclosureCounts(made=0, on_time=0, late=0, overdue=0)
    #: v2: feedback for the departments that listed the subjects (§四(八)), by authority.
    by_authority: tuple[AuthorityFeedback, ...] = ()
    journal_head_hash: str | None
    record_count: int

    _details: ReportDetails | None = PrivateAttr(default=None)

    @property
    def details(self) -> ReportDetails:
        """The local extras (empty when the report was not built from a journal)."""
        return self._details if self._details is not None else ReportDetails(self.period, 0)

    def wire(self) -> dict[str, Any]:
        """The JSON document for ``PUT /v1/reports/{agency_id}/{period}``."""
        return self.model_dump(mode="json")


class ReportReceipt(NamedTuple):
    """The platform's answer to a report submission, as kept in the journal.

    ``sent`` is ``False`` when the platform already held this very report (same
    ``body_hash``: the content, its ``generated_at`` aside) and it was not sent again;
    the receipt is then the earlier one.
    """

    period: str
    version: int
    receipt_id: str
    body_hash: str
    correction: bool
    sent: bool = True
