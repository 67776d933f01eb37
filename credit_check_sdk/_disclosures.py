"""双公示: the licensing and penalty decisions an agency must publish (§四(三)).

A decision is published on 信用中山 through ``POST /v1/disclosures`` within 7
Chinese working days of the day it was made (:mod:`credit_check_sdk.workdays`).
:meth:`CreditChecker.disclose <credit_check_sdk.CreditChecker.disclose>` checks the
decision (:func:`make_duty`), keeps it in the storage's
:class:`~credit_check_sdk.storage.DisclosureStore` (on disk before it returns) and
wakes the background uploader, whose every pass also posts the disclosures the
platform has not received yet (:class:`DisclosurePoster`). A disclosure is *late*
when the platform received it after its due day, or has not and the day has
passed (:meth:`DisclosureDuty.state <credit_check_sdk.storage.DisclosureDuty.state>`).

>>> from datetime import date
>>> duty = make_duty(agency_id="zs-scjgj", kind="licensing", subject="91442000MA4UJ2KQ57",
...                  decision_no="中市监许〔2026〕1号", decided_on=date(2026, 3, 2),
...                  title="食品经营许可", content={"scope": "餐饮"}, check_id=None,
...                  today=date(2026, 3, 3))
>>> duty.kind, duty.due_on.isoformat()
('licence', '2026-03-11')
"""

from __future__ import annotations

import json
import logging
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

from ._exceptions import (
    ArgumentTypeError,
    BadRequestError,
    ConflictError,
    InvalidArgumentError,
    InvalidRequestError,
)
from ._ids import mask_id, mask_ids_in
from ._models import Disclosure, DisclosureReceipt, Subject
from .arguments import NAME_TEXT, check_text
from .storage import DisclosureDuty, DisclosureKind, DisclosureState, DisclosureStore
from .workdays import add_working_days

__all__ = [
    "DISCLOSURE_WORKING_DAYS",
    "KINDS",
    "DisclosurePoster",
    "PendingDisclosure",
    "check_against",
    "disclosure_id_for",
    "make_duty",
    "pending_disclosures",
    "summary",
]

logger = logging.getLogger(__name__)

#: §四(三): a decision is published within 7 working days of the day it was made.
DISCLOSURE_WORKING_DAYS = 7

#: The kinds ``disclose()`` takes, and the contract's name of each: a licensing
#: decision (行政许可, ``licence`` on the wire) or a penalty (行政处罚).
KINDS: dict[str, DisclosureKind] = {
    "licensing": "licence",
    "licence": "licence",
    "penalty": "penalty",
}

#: Most bytes of a disclosure's ``content`` as JSON (it is published as it is).
MAX_CONTENT = 64 * 1024

# A fixed namespace: the same agency, kind and decision number give the same id on
# every machine and in every process, so that a repeat is a duplicate, not a second one.
_NAMESPACE = uuid.UUID("5c0a7f0e-3f7e-4c39-9d0e-2b5a5d1f6a11")


def disclosure_id_for(agency_id: str, kind: DisclosureKind, decision_no: str) -> str:
    """The disclosure id of a decision: one per agency, kind and decision number.

    >>> disclosure_id_for("zs-scjgj", "licence", "中市监许〔2026〕1号")[:3]
    'DS-'
    """
    name = json.dumps([agency_id, kind, decision_no], ensure_ascii=False)
    # 80 bits of a name-based UUID: short enough for a table, far from any clash.
    return f"DS-{uuid.uuid5(_NAMESPACE, name).hex[:20].upper()}"


def _kind(kind: object) -> DisclosureKind:
    if not isinstance(kind, str):
        raise ArgumentTypeError(
            f"kind must be a string (licensing or penalty), not {type(kind).__name__}",
            argument="kind",
        )
    if kind not in KINDS:
        raise InvalidArgumentError(
            f"kind must be licensing or penalty, not {kind!r}", argument="kind"
        )
    return KINDS[kind]


def _day(value: object, today: date) -> date:
    if isinstance(value, str):
        try:
            value = date.fromisoformat(value)
        except ValueError:
            raise InvalidArgumentError(
                f"decided_on must be a day (YYYY-MM-DD), not {value!r}", argument="decided_on"
            ) from None
    if isinstance(value, datetime) or not isinstance(value, date):
        raise ArgumentTypeError(
            f"decided_on must be a date (the decision's day), not {type(value).__name__}",
            argument="decided_on",
        )
    if value > today:
        raise InvalidArgumentError(
            f"decided_on {value} is after today ({today}): disclose a decision once it is made",
            argument="decided_on",
        )
    return value


def _content(content: object) -> dict[str, Any]:
    if content is None:
        return {}
    if not isinstance(content, Mapping):
        raise ArgumentTypeError(
            f"content must be a mapping (a JSON object), not {type(content).__name__}",
            argument="content",
        )
    try:
        text = json.dumps(dict(content), ensure_ascii=False, allow_nan=False, sort_keys=True)
    except (TypeError, ValueError) as exc:
        raise InvalidArgumentError(
            f"content must hold JSON values only: {exc}", argument="content"
        ) from None
    if not all(isinstance(k, str) for k in content):
        raise InvalidArgumentError("content's keys must be strings", argument="content")
    if len(text.encode()) > MAX_CONTENT:
        raise InvalidArgumentError(
            f"content is {len(text.encode()):,} bytes as JSON; at most {MAX_CONTENT:,}",
            argument="content",
        )
    parsed: dict[str, Any] = json.loads(text)
    return parsed


def make_duty(
    *,
    agency_id: str,
    kind: object,
    subject: object,
    decision_no: object,
    decided_on: object,
    title: object,
    content: object,
    check_id: object,
    today: date,
) -> DisclosureDuty:
    """The disclosure of a decision, every field checked; due
    :data:`DISCLOSURE_WORKING_DAYS` working days after ``decided_on``.

    Raises :class:`~credit_check_sdk.InvalidArgumentError` (a ``ValueError``) or
    :class:`~credit_check_sdk.ArgumentTypeError` (a ``TypeError``) naming the argument,
    :class:`~credit_check_sdk.InvalidSubjectError` for a subject id that fails its checksum.

    >>> make_duty(agency_id="a", kind="fine", subject="91442000MA4UJ2KQ57", decision_no="1",
    ...           decided_on="2026-03-02", title="t", content=None, check_id=None,
    ...           today=date(2026, 3, 3))
    Traceback (most recent call last):
    ...
    credit_check_sdk._exceptions.InvalidArgumentError: kind must be licensing or penalty, not 'fine'
    """
    wire_kind = _kind(kind)
    if not isinstance(subject, Subject | str):
        raise ArgumentTypeError(
            f"subject must be a Subject or an id, not {type(subject).__name__}",
            argument="subject",
        )
    subj = Subject.parse(subject)
    number = check_text(decision_no, "decision_no")
    day = _day(decided_on, today)
    heading = check_text(title, "title", max_length=NAME_TEXT)
    body = _content(content)
    check = check_text(check_id, "check_id", optional=True) or None
    deadline = add_working_days(day, DISCLOSURE_WORKING_DAYS)
    if deadline.note is not None:
        # Into a year whose holiday arrangement is not published: the officer should know.
        logger.warning(
            "disclosure of %s: due day %s is an estimate: %s", number, deadline.due, deadline.note
        )
    return DisclosureDuty(
        disclosure_id=disclosure_id_for(agency_id, wire_kind, number),
        kind=wire_kind,
        subject_id=subj.id,
        decision_no=number,
        decided_on=day,
        due_on=deadline.due,
        title=heading,
        content=body,
        check_id=check,
    )


@dataclass(frozen=True)
class PendingDisclosure:
    """A disclosure the platform has not received: ``state`` ``due`` or ``late`` on
    ``today``, and ``days_left`` (working days are not counted: calendar days to
    ``due_on``, negative once late).

    >>> d = DisclosureDuty("D-1", "licence", "91442000MA4UJ2KQ57", "1", date(2026, 3, 2),
    ...                    date(2026, 3, 11), "t")
    >>> p = pending_disclosures([d], date(2026, 3, 9))[0]
    >>> p.state, p.days_left, p.as_json()["due_on"]
    ('due', 2, '2026-03-11')
    """

    duty: DisclosureDuty
    state: DisclosureState
    days_left: int

    def as_json(self) -> dict[str, Any]:
        """The JSON of ``credit-check disclosures pending --json`` (a person's id masked)."""
        d = self.duty
        return {
            "disclosure_id": d.disclosure_id,
            "kind": d.kind,
            "subject_id": mask_id(d.subject_id),
            "decision_no": d.decision_no,
            "title": d.title,
            "decided_on": d.decided_on.isoformat(),
            "due_on": d.due_on.isoformat(),
            "state": self.state,
            "days_left": self.days_left,
            "check_id": d.check_id,
        }


def pending_disclosures(duties: list[DisclosureDuty], today: date) -> list[PendingDisclosure]:
    """The disclosures of ``duties`` not yet received by the platform, late ones first,
    then by due day.

    >>> d = DisclosureDuty("D-1", "licence", "91442000MA4UJ2KQ57", "1", date(2026, 3, 2),
    ...                    date(2026, 3, 11), "t")
    >>> [(p.state, p.days_left) for p in pending_disclosures([d], date(2026, 3, 13))]
    [('late', -2)]
    """
    found = [
        PendingDisclosure(d, d.state(today), (d.due_on - today).days)
        for d in duties
        if not d.posted
    ]
    found.sort(key=lambda p: (p.state != "late", p.duty.due_on, p.duty.disclosure_id))
    return found


def summary(store: DisclosureStore, today: date) -> dict[str, Any]:
    """``health()``'s ``disclosures``: those the platform has not received (``pending``),
    of them ``due`` and ``late``, and the next due day.

    >>> import tempfile
    >>> from credit_check_sdk.storage import open_storage
    >>> with open_storage(data_dir=tempfile.mkdtemp()) as s:
    ...     summary(s.disclosures, date(2026, 3, 3))
    {'pending': 0, 'due': 0, 'late': 0, 'next_due_on': None}
    """
    pending = pending_disclosures(store.select(unposted=True), today)
    late = sum(1 for p in pending if p.state == "late")
    due = [p.duty.due_on for p in pending if p.state == "due"]
    return {
        "pending": len(pending),
        "due": len(due),
        "late": late,
        "next_due_on": min(due).isoformat() if due else None,
    }


class DisclosurePoster:
    """Posts the disclosures the platform has not received, oldest due first.

    Called by the uploader at the end of each pass (in its thread). A disclosure
    the platform refuses as malformed (400) or as another under the same id (409)
    is logged and left pending (``credit-check disclosures pending`` lists it; this
    poster does not send it again, another process will); any
    other failure raises, and the uploader backs off as for records. The platform
    is idempotent by ``disclosure_id``: two processes posting the same one get the
    same receipt.

    >>> poster = DisclosurePoster(storage.disclosures, client.disclose)  # doctest: +SKIP
    >>> poster()  # doctest: +SKIP
    1
    """

    def __init__(
        self, store: DisclosureStore, send: Callable[[Disclosure], DisclosureReceipt]
    ) -> None:
        self._store = store
        self._send = send
        self._refused: set[str] = set()  # logged once per process
        #: Disclosures still to post after the last call, but for those refused.
        self.waiting = 0

    def __call__(self) -> int:
        """Post what is pending; returns how many the platform received now."""
        posted = 0
        self.waiting = 0
        for duty in self._store.select(unposted=True):
            if duty.disclosure_id in self._refused:
                continue  # refused for its content: sent again by the next process only
            try:
                receipt = self._send(duty.disclosure())
            except (BadRequestError, ConflictError) as exc:
                if duty.disclosure_id not in self._refused:
                    self._refused.add(duty.disclosure_id)
                    logger.warning(
                        "disclosure %s (%s) refused by the platform, kept pending: %s",
                        duty.disclosure_id,
                        duty.decision_no,
                        mask_ids_in(str(exc)),
                    )
                continue
            except BaseException:
                self.waiting += 1
                raise
            self._store.mark_posted(duty.disclosure_id, receipt.published_on)
            posted += 1
            state = "late" if receipt.published_on > duty.due_on else "on time"
            log = logger.warning if state == "late" else logger.info
            log(
                "disclosure %s (%s) published on %s, %s (due %s)",
                duty.disclosure_id,
                duty.decision_no,
                receipt.published_on,
                state,
                duty.due_on,
            )
        return posted


def check_against(check: Mapping[str, Any] | None, check_id: str, subject_id: str) -> None:
    """Refuse a ``check_id`` that is not a check of the disclosed subject in the journal.

    >>> check_against(None, "c1", "91442000MA4UJ2KQ57")
    Traceback (most recent call last):
    ...
    credit_check_sdk._exceptions.InvalidRequestError: no check 'c1' in the journal
    """
    if check is None or check.get("type") != "check":
        raise InvalidRequestError(f"no check {check_id!r} in the journal")
    checked = (check.get("subject") or {}).get("id")
    if checked != subject_id:
        raise InvalidRequestError(
            f"check {check_id} is of {mask_id(str(checked))}, not of {mask_id(subject_id)}"
        )
