"""The values the stores take and give back: plain, immutable, the same from every adapter.

>>> w = Watch("91442000MA4UJ2KQ57", "ZSGC-1", "legal_entity", {"category": "bidding"}, (),
...           None, None)
>>> w.case_id
'ZSGC-1'
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any, Literal

from .._ids import SubjectKind
from .._models import Disclosure, DisclosureKind, RelatedRole

__all__ = [
    "DISCLOSURE_KINDS",
    "OBJECTION_STATUSES",
    "Commitment",
    "CommitmentStatus",
    "DisclosureDuty",
    "DisclosureKind",
    "DisclosureState",
    "ImportResult",
    "LearntRelation",
    "LearntRelations",
    "ObjectionStatus",
    "PendingRecheck",
    "SnapshotStatus",
    "Watch",
]

#: What the platform says of an objection (``GET /v1/objections/{id}``).
ObjectionStatus = Literal["verifying", "upheld", "rejected"]
OBJECTION_STATUSES: tuple[ObjectionStatus, ...] = ("verifying", "upheld", "rejected")


# --- follow-ups ---------------------------------------------------------------------------


@dataclass(frozen=True)
class PendingRecheck:
    """A degraded decision still waiting for its live re-check."""

    check_id: str
    subject_id: str
    kind: SubjectKind
    matter: dict[str, Any]
    outcome: str


@dataclass(frozen=True)
class Watch:
    """A subject of an application still in progress."""

    subject_id: str
    case_id: str
    kind: SubjectKind
    matter: dict[str, Any]
    related_ids: tuple[str, ...]
    last_check_id: str | None
    last_outcome: str | None


# --- learnt relations ---------------------------------------------------------------------


@dataclass(frozen=True)
class LearntRelation:
    """One person linked to an organisation, as a live profile listed it."""

    role: RelatedRole
    subject_id: str
    kind: SubjectKind


@dataclass(frozen=True)
class LearntRelations:
    """A subject's relations from its newest live profile.

    ``as_of`` is the profile's ``as_of`` (the platform's time the relations
    held); ``learnt_at`` when the SDK stored them.
    """

    subject_id: str
    as_of: datetime
    learnt_at: datetime
    relations: tuple[LearntRelation, ...]


# --- snapshot -----------------------------------------------------------------------------


@dataclass(frozen=True)
class SnapshotStatus:
    """What a snapshot's ``status()`` reports (for health pages and the CLI).

    ``generation`` is 0 and ``path`` is ``None`` while there is no snapshot;
    ``path`` names where the data in service lives (a file, or a database's tables).
    """

    entries: int
    cursor: str | None
    as_of: datetime | None
    synced_at: datetime | None
    generation: int
    path: str | None
    size_bytes: int
    last_seq: int = 0


@dataclass(frozen=True)
class ImportResult:
    """What an import loaded: the entries, the feed cursor to continue from."""

    entries: int
    cursor: str
    as_of: datetime
    generation: int
    seconds: float
    path: str


# --- commitments and disclosures ------------------------------------------------------------

CommitmentStatus = Literal["open", "fulfilled", "breached"]


@dataclass(frozen=True)
class Commitment:
    """An applicant's written commitment (书面承诺) to supply missing documents by ``due_on``.

    ``posted`` tells whether the platform has it (``POST /v1/commitments``);
    one made while the platform was down is posted later.

    >>> c = Commitment("c1", "k1", "91442000MA4UJ2KQ57", "L-1", "C-1", ("场地证明",),
    ...                date(2026, 2, 12), date(2026, 3, 4))
    >>> c.platform_body()["due_on"]
    '2026-03-04'
    """

    commitment_id: str
    check_id: str
    subject_id: str
    matter_code: str | None
    case_id: str | None
    documents: tuple[str, ...]
    made_on: date
    due_on: date
    status: CommitmentStatus = "open"
    resolved_on: date | None = None
    posted: bool = False

    def overdue(self, today: date) -> bool:
        """Open and past its due day.

        >>> c = Commitment("c1", "k1", "91442000MA4UJ2KQ57", "L-1", "C-1", ("场地证明",),
        ...                date(2026, 2, 12), date(2026, 3, 4))
        >>> c.overdue(date(2026, 3, 4)), c.overdue(date(2026, 3, 5))
        (False, True)
        """
        return self.status == "open" and today > self.due_on

    def platform_body(self) -> dict[str, Any]:
        """The body of ``POST /v1/commitments``."""
        return {
            "commitment_id": self.commitment_id,
            "subject_id": self.subject_id,
            "check_id": self.check_id,
            "matter": {"category": "licensing", "code": self.matter_code, "case_id": self.case_id},
            "documents": list(self.documents),
            "due_on": self.due_on.isoformat(),
        }


#: The kinds of decision a disclosure publishes (双公示): the contract's ``kind``.
DISCLOSURE_KINDS: tuple[DisclosureKind, ...] = ("licence", "penalty")

#: Where a disclosure stands (:meth:`DisclosureDuty.state`).
DisclosureState = Literal["due", "late", "on_time"]


@dataclass(frozen=True)
class DisclosureDuty:
    """A decision the agency must publish (双公示, §四(三)): due 7 working days after it was made.

    The fields of ``POST /v1/disclosures`` (:class:`~credit_check_sdk._models.Disclosure`:
    ``disclosure_id``, ``kind``, ``subject_id``, ``decision_no``, ``decided_on``,
    ``title``, ``content``, ``check_id``), and what the SDK keeps beside them until
    the platform has it: ``due_on`` (the last day to publish on time), ``posted``
    and ``published_on`` (the day the platform's receipt names).

    >>> d = DisclosureDuty("D-1", "licence", "91442000MA4UJ2KQ57", "中市监许〔2026〕1号",
    ...                date(2026, 3, 2), date(2026, 3, 11), "食品经营许可",
    ...                {"scope": "餐饮"}, "c1")
    >>> sorted(d.platform_body())[:4]
    ['check_id', 'content', 'decided_on', 'decision_no']
    >>> d.on_time() is None
    True
    """

    disclosure_id: str
    kind: DisclosureKind
    subject_id: str
    decision_no: str
    decided_on: date
    due_on: date
    title: str
    content: dict[str, Any] = field(default_factory=dict)
    check_id: str | None = None
    posted: bool = False
    published_on: date | None = None

    def platform_body(self) -> dict[str, Any]:
        """The body of ``POST /v1/disclosures``."""
        return {
            "disclosure_id": self.disclosure_id,
            "kind": self.kind,
            "subject_id": self.subject_id,
            "decision_no": self.decision_no,
            "decided_on": self.decided_on.isoformat(),
            "title": self.title,
            "content": dict(self.content),
            "check_id": self.check_id,
        }

    def disclosure(self) -> Disclosure:
        """The request to send (``PlatformClient.disclose``); validates the subject id.

        >>> DisclosureDuty("D-1", "penalty", "91442000MA4UJ2KQ57", "中市监罚〔2026〕9号",
        ...     date(2026, 3, 2), date(2026, 3, 11), "行政处罚决定").disclosure().kind
        'penalty'
        """
        return Disclosure.model_validate(self.platform_body())

    def on_time(self) -> bool | None:
        """Whether it was published by ``due_on``; ``None`` while not published."""
        if self.published_on is None:
            return None
        return self.published_on <= self.due_on

    def state(self, today: date) -> DisclosureState:
        """``due`` (not published, ``due_on`` not passed on ``today``), ``late`` (published
        after ``due_on``, or not published and ``due_on`` passed), ``on_time`` (published
        by ``due_on``).

        >>> d = DisclosureDuty("D-1", "licence", "91442000MA4UJ2KQ57", "中市监许〔2026〕1号",
        ...                    date(2026, 3, 2), date(2026, 3, 11), "食品经营许可")
        >>> d.state(date(2026, 3, 11)), d.state(date(2026, 3, 12))
        ('due', 'late')
        """
        if self.published_on is not None:
            return "on_time" if self.published_on <= self.due_on else "late"
        return "due" if today <= self.due_on else "late"
