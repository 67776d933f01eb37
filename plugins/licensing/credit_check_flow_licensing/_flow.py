"""The licensing flow: accept an application as the credit check decides, track commitments,
and disclose the licences granted (双公示)."""

from __future__ import annotations

import enum
import logging
import uuid
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from datetime import date, datetime, timedelta, timezone
from typing import Any, Literal
from urllib.parse import quote

from credit_check_sdk import (
    ArgumentTypeError,
    CreditChecker,
    DecidedMeasure,
    Decision,
    Document,
    InvalidRequestError,
    Matter,
    Outcome,
    PlatformError,
    Reason,
    Subject,
)
from credit_check_sdk.arguments import (
    LONG_TEXT,
    check_choice,
    check_flag,
    check_instance,
    check_iterable,
    check_number,
    check_text,
    check_texts,
)
from credit_check_sdk.storage import Commitment, CommitmentStore, DisclosureDuty
from credit_check_sdk.workdays import Deadline, add_working_days

__all__ = ["Acceptance", "Action", "Application", "LicensingFlow", "Mode"]

#: What the flow journals against the check.
Action = Literal["applied", "not_applied", "overridden"]

logger = logging.getLogger(__name__)

_SHANGHAI = timezone(timedelta(hours=8), "Asia/Shanghai")


class Mode(str, enum.Enum):
    """How an application is handled (§二(二), §三(二) of the city's plan).

    >>> Mode("tolerance") is Mode.TOLERANCE
    True
    """

    GREEN_CHANNEL = "green_channel"  # 绿色通道: fast track, shortened time limit
    TOLERANCE = "tolerance"  # 容缺受理: accepted against a written commitment
    STANDARD = "standard"  # 一般程序
    STRICT_REVIEW = "strict_review"  # 从严审核: restriction, measures for the officer
    MANUAL_CHECK = "manual_check"  # 人工核查: the credit data could not be verified

    def __str__(self) -> str:
        return self.value


_MODE_OF = {
    Outcome.GREEN_CHANNEL: Mode.GREEN_CHANNEL,
    Outcome.TOLERANCE: Mode.TOLERANCE,
    Outcome.NORMAL: Mode.STANDARD,
    Outcome.RESTRICTION: Mode.STRICT_REVIEW,
    Outcome.REVIEW: Mode.MANUAL_CHECK,
}
# The measure effects each mode applies.
_EFFECTS = {
    Mode.GREEN_CHANNEL: ("green_channel",),
    Mode.TOLERANCE: ("tolerance", "green_channel"),
    Mode.STANDARD: (),
    Mode.STRICT_REVIEW: ("restrict", "strict_review"),
    Mode.MANUAL_CHECK: (),
}


@dataclass(frozen=True)
class Application:
    """A licence application at the counter.

    ``missing`` lists the documents not yet submitted; a plain string is a
    non-statutory document. ``commitment_signed``: the applicant has signed
    the written commitment to supply them in time.

    >>> app = Application("91442000MA4UJ2KQ57", "440100-XK-001", "ZS-XK-2026-0001",
    ...                   submitted=("申请书",), missing=("场地证明",), commitment_signed=True)
    >>> app.missing
    (Document(name='场地证明', statutory=False),)
    """

    applicant: Subject | str
    matter_code: str
    case_id: str
    submitted: tuple[str, ...] = ()
    missing: tuple[Document, ...] = ()
    commitment_signed: bool = False

    def __post_init__(self) -> None:
        if not isinstance(self.applicant, Subject):
            object.__setattr__(self, "applicant", Subject.parse(self.applicant))
        check_text(self.matter_code, "matter_code")
        check_text(self.case_id, "case_id")
        docs = tuple(
            d if isinstance(d, Document) else Document(d)
            for d in check_iterable(self.missing, "missing")
        )
        object.__setattr__(self, "missing", docs)
        object.__setattr__(self, "submitted", tuple(check_texts(self.submitted, "submitted")))
        check_flag(self.commitment_signed, "commitment_signed")

    def matter(self) -> Matter:
        """The matter to check: licensing, with the missing documents and the commitment."""
        return Matter(
            "licensing",
            code=self.matter_code,
            case_id=self.case_id,
            missing_documents=list(self.missing),
            commitment=self.commitment_signed,
        )


@dataclass(frozen=True)
class Acceptance:
    """What the counter does with an application, and what was journaled.

    ``accepted`` is false while documents are missing outside tolerance
    (``documents_required``) and under manual check. ``decide_by`` is the last
    day of the processing time limit in working days. ``measures`` are the
    triggered measures the officer must see (punishments under strict review).
    ``calendar_note`` is set when ``decide_by`` or the commitment's due day falls in
    a year whose holiday arrangement is not published yet: the day is counted with
    the statutory holidays by their rules, without the make-up working days (调休),
    so the officer checks it once the arrangement is out (``makeup_days_known``).
    """

    mode: Mode
    decided_mode: Mode
    accepted: bool
    decision: Decision
    action: Action
    action_id: str
    measure_ids: tuple[str, ...]
    time_limit_days: int | None = None
    decide_by: date | None = None
    commitment: Commitment | None = None
    documents_required: tuple[Document, ...] = ()
    reasons: tuple[Reason, ...] = ()
    measures: tuple[DecidedMeasure, ...] = field(default=())
    calendar_note: str | None = None

    @property
    def makeup_days_known(self) -> bool:
        """The due days were counted on published holiday arrangements (调休 included)."""
        return self.calendar_note is None

    @property
    def overridden(self) -> bool:
        """The officer chose another mode than the decision's."""
        return self.mode is not self.decided_mode


class LicensingFlow:
    """Credit checks in licensing (行政许可), from acceptance to the commitment's resolution.

    Args:
        checker: the agency's :class:`~credit_check_sdk.CreditChecker`.
        green_channel_days: the shortened time limit of the green channel, in working days.
        tolerance_days: working days the applicant has to supply missing documents; by
            default the catalogue's ``commitment_working_days`` (§二(二) says only
            "规定期限": the number is the agency's setting, 10 unless the catalogue says).
        standard_days: the ordinary time limit, in working days (行政许可法 第四十二条: 20).

    >>> from credit_check_sdk.testing import FakePlatform
    >>> fake = FakePlatform()
    >>> _ = fake.add_entry("91442000MA4UJ2KQ57", "red", "integrity_model")
    >>> with fake.checker() as checker:
    ...     flow = LicensingFlow(checker, green_channel_days=5)
    ...     acc = flow.accept(Application("91442000MA4UJ2KQ57", "XK-1", "C-1"))
    ...     acc.mode.value, acc.time_limit_days, acc.action
    ('green_channel', 5, 'applied')
    """

    def __init__(
        self,
        checker: CreditChecker,
        *,
        green_channel_days: int = 10,
        tolerance_days: int | None = None,
        standard_days: int = 20,
    ) -> None:
        if tolerance_days is None:
            tolerance_days = int(checker.catalog.parameter("commitment_working_days", 10))
        for name, value in (
            ("green_channel_days", green_channel_days),
            ("tolerance_days", tolerance_days),
            ("standard_days", standard_days),
        ):
            if isinstance(value, bool) or not isinstance(value, int):
                check_instance(value, name, int)  # raises ArgumentTypeError
            check_number(value, name, minimum=1)
        self.checker = check_instance(checker, "checker", CreditChecker)
        self.green_channel_days = green_channel_days
        self.tolerance_days = tolerance_days
        self.standard_days = standard_days
        #: The commitments, in the checker's storage (SQLite: licensing-commitments.sqlite3).
        self.store: CommitmentStore = checker.storage.commitments

    # -- acceptance ----------------------------------------------------------------

    def accept(
        self,
        application: Application,
        *,
        operator: str | None = None,
        override: Mode | str | None = None,
        reason: str | None = None,
        on: date | None = None,
    ) -> Acceptance:
        """Check the applicant, choose the mode, record the action; the result for the counter.

        ``override`` is the officer's choice of another mode; it needs a
        ``reason`` (:class:`~credit_check_sdk.InvalidRequestError` otherwise,
        raised before anything is checked). Declining recommended incentives
        is journaled ``not_applied``, anything else ``overridden``. Tolerance
        is never granted with a statutory document missing or no commitment.
        ``on`` is the day of acceptance (default: the check's day).

        >>> acc = flow.accept(app, override="standard",
        ...                   reason="申请人要求一般程序")  # doctest: +SKIP
        >>> acc.action  # doctest: +SKIP
        'not_applied'
        """
        check_instance(application, "application", Application)
        check_text(operator, "operator", optional=True)
        if override is not None:
            check_choice(override, "override", [m.value for m in Mode])
        check_text(reason, "reason", max_length=LONG_TEXT, optional=True, multiline=True)
        if on is not None:
            check_instance(on, "on", date)
        chosen = Mode(override) if override is not None else None
        if chosen is not None and not (reason and reason.strip()):
            raise InvalidRequestError("an override of the decided mode needs the officer's reason")
        if chosen is Mode.TOLERANCE:
            _tolerance_allowed(application)
        decision = self.checker.must_check(
            application.applicant, application.matter(), operator=operator
        )
        decided = _MODE_OF[decision.outcome]
        mode = chosen or decided
        decided_ids = _measure_ids(decision, decided)
        action: Action
        why: str | None = None
        if mode is decided:
            action = "applied"
        else:
            declined = [m for m in decision.applied if m.id in decided_ids]
            quiet = bool(declined) and not any(m.mandatory for m in declined)
            action, why = ("not_applied" if quiet else "overridden"), reason
        action_id = self.checker.record_action(
            decision.check_id, action, measure_ids=decided_ids, reason=why, operator=operator
        )
        day = on or decision.checked_at.date()
        missing = application.missing
        accepted = mode is Mode.TOLERANCE or (mode is not Mode.MANUAL_CHECK and not missing)
        commitment = None
        deadlines: list[Deadline] = []
        if mode is Mode.TOLERANCE:
            due = add_working_days(day, self.tolerance_days)
            deadlines.append(due)
            commitment = self._commit(decision, application, day, due.due)
        limit = self._time_limit(mode, decision) if accepted else None
        if limit is not None:
            deadlines.append(add_working_days(day, limit))
        note = _calendar_note(deadlines)
        measures = tuple(m for m in decision.measures if m.kind == "punishment")
        return Acceptance(
            mode=mode,
            decided_mode=decided,
            accepted=accepted,
            decision=decision,
            action=action,
            action_id=action_id,
            measure_ids=tuple(decided_ids),
            time_limit_days=limit,
            decide_by=deadlines[-1].due if limit is not None else None,
            commitment=commitment,
            documents_required=() if accepted or mode is Mode.MANUAL_CHECK else missing,
            reasons=decision.reasons,
            measures=measures,
            calendar_note=note,
        )

    def _time_limit(self, mode: Mode, decision: Decision) -> int:
        if mode is Mode.GREEN_CHANNEL:
            return self.green_channel_days
        if mode is Mode.TOLERANCE and any(m.effect == "green_channel" for m in decision.applied):
            return self.green_channel_days
        return self.standard_days

    # -- the decision and its disclosure (双公示) ---------------------------------------

    def grant(
        self,
        acceptance: Acceptance,
        decision_no: str,
        title: str,
        *,
        decided_on: date | None = None,
        content: Mapping[str, Any] | None = None,
    ) -> DisclosureDuty:
        """Record that the licence was granted and disclose the decision (双公示, §四(三)).

        ``decision_no`` is the licence decision's number (文号), ``title`` what the
        public list shows, ``decided_on`` the decision's day (default: today,
        Asia/Shanghai). The disclosure (``kind`` licensing, with the check behind the
        acceptance) goes through :meth:`CreditChecker.disclose
        <credit_check_sdk.CreditChecker.disclose>`: on disk before this returns, posted
        in the background, due 7 working days after ``decided_on``. ``content`` gets
        the matter code, the case id and the mode added (``matter_code``, ``case_id``,
        ``mode``) unless it names them. An application that was not accepted
        (documents missing, manual check) cannot be granted:
        :class:`~credit_check_sdk.InvalidRequestError`, nothing disclosed.

        >>> duty = flow.grant(acc, "中市监许〔2026〕31号", "食品经营许可证核发")  # doctest: +SKIP
        >>> duty.kind, duty.due_on  # doctest: +SKIP
        ('licence', datetime.date(2026, 12, 14))
        """
        check_instance(acceptance, "acceptance", Acceptance)
        if not acceptance.accepted:
            raise InvalidRequestError(
                f"the application of case {acceptance.decision.matter.case_id} was not"
                f" accepted ({acceptance.mode}): there is no licence to grant"
            )
        if content is not None and not isinstance(content, Mapping):
            raise ArgumentTypeError(
                f"content must be a mapping, not {type(content).__name__}", argument="content"
            )
        matter = acceptance.decision.matter
        details: dict[str, Any] = {
            "matter_code": matter.code,
            "case_id": matter.case_id,
            "mode": acceptance.mode.value,
        }
        details.update(content or {})
        return self.checker.disclose(
            "licensing",
            acceptance.decision.subject,
            decision_no,
            decided_on if decided_on is not None else _today(),
            title,
            details,
            check_id=acceptance.decision.check_id,
        )

    # -- commitments ---------------------------------------------------------------

    def _commit(
        self, decision: Decision, application: Application, day: date, due_on: date
    ) -> Commitment:
        commitment = Commitment(
            commitment_id=str(uuid.uuid4()),
            check_id=decision.check_id,
            subject_id=decision.subject.id,
            matter_code=application.matter_code,
            case_id=application.case_id,
            documents=tuple(d.name for d in application.missing),
            made_on=day,
            due_on=due_on,
        )
        self.store.add(commitment)
        return self._post(commitment)

    def _post(self, commitment: Commitment) -> Commitment:
        try:
            self.checker.client.post("/v1/commitments", commitment.platform_body(), ok=(201, 200))
        except PlatformError as exc:
            logger.warning(
                "commitment %s kept locally, not yet on the platform: %s",
                commitment.commitment_id,
                exc,
            )
            return commitment
        self.store.mark_posted(commitment.commitment_id)
        return _replace_posted(commitment)

    def sync(self) -> int:
        """Post the commitments the platform has not received yet; returns how many remain."""
        left = 0
        for commitment in self.store.select(unposted=True):
            if not self._post(commitment).posted:
                left += 1
        return left

    def resolve(self, commitment_id: str, resolution: str, *, on: date | None = None) -> Commitment:
        """Close a commitment as ``fulfilled`` or ``breached`` (a breach is an adverse record).

        Tells the platform first (``POST /v1/commitments/{id}:resolve``); a
        :class:`~credit_check_sdk.PlatformError` leaves it open here, to retry.

        >>> flow.resolve(acc.commitment.commitment_id, "fulfilled")  # doctest: +SKIP
        """
        check_text(commitment_id, "commitment_id")
        check_choice(resolution, "resolution", ("fulfilled", "breached"))
        if on is not None:
            check_instance(on, "on", date)
        commitment = self.store.get(commitment_id)
        if commitment is None:
            raise InvalidRequestError(f"no commitment {commitment_id!r}")
        if commitment.status == resolution:
            return commitment
        if commitment.status != "open":
            raise InvalidRequestError(f"commitment {commitment_id} is {commitment.status} already")
        if not commitment.posted and not self._post(commitment).posted:
            raise PlatformError(f"commitment {commitment_id} could not be posted; try again")
        day = on or _today()
        self.checker.client.post(
            f"/v1/commitments/{quote(commitment_id, safe='')}:resolve",
            {"resolution": resolution, "resolved_on": day.isoformat()},
            ok=(200, 201),
        )
        self.store.resolve(
            commitment_id, "fulfilled" if resolution == "fulfilled" else "breached", day
        )
        resolved = self.store.get(commitment_id)
        assert resolved is not None  # noqa: S101 - just written
        return resolved

    def overdue(self, today: date | None = None) -> list[Commitment]:
        """Open commitments past their due day, oldest first.

        >>> [c.case_id for c in flow.overdue(date(2026, 3, 5))]  # doctest: +SKIP
        ['ZS-XK-2026-0001']
        """
        if today is not None:
            check_instance(today, "today", date)
        return self.store.select(status="open", due_before=today or _today())

    def commitments(self, status: str | None = None) -> list[Commitment]:
        """Every commitment kept here (optionally only ``open``, ``fulfilled`` or ``breached``)."""
        if status is None:
            return self.store.select()
        check_choice(status, "status", ("open", "fulfilled", "breached"))
        return self.store.select(status=status)  # type: ignore[arg-type]


def _today() -> date:
    """Today in Asia/Shanghai (UTC+8, no daylight saving)."""
    return datetime.now(_SHANGHAI).date()


def _calendar_note(deadlines: list[Deadline]) -> str | None:
    """One note for the due days counted without a published holiday arrangement."""
    years = sorted({y for d in deadlines for y in d.estimated_years})
    if not years:
        return None
    note = Deadline(deadlines[0].start, 0, deadlines[0].start, tuple(years)).note
    logger.info("due days counted without the make-up working days (调休) of %s", years)
    return note


def _replace_posted(commitment: Commitment) -> Commitment:
    return replace(commitment, posted=True)


def _measure_ids(decision: Decision, mode: Mode) -> list[str]:
    effects = _EFFECTS[mode]
    return [m.id for m in decision.applied if m.effect in effects]


def _tolerance_allowed(application: Application) -> None:
    statutory = [d.name for d in application.missing if d.statutory]
    if statutory:
        raise InvalidRequestError(
            f"tolerance cannot waive statutory documents (法定材料): {', '.join(statutory)}"
        )
    if not application.missing:
        raise InvalidRequestError("tolerance needs missing documents to commit to")
    if not application.commitment_signed:
        raise InvalidRequestError("tolerance needs the applicant's written commitment")
