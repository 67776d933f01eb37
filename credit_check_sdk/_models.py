"""Typed models: what crosses the wire (platform contract v1) and what the SDK returns.

Wire models ignore unknown fields (forward compatibility, as the contract asks)
and refuse missing required ones. All models are frozen: a decision, once
made and journaled, cannot be changed by the code that received it.
"""

from __future__ import annotations

import enum
from datetime import date, datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from ._exceptions import InvalidArgumentError, InvalidSubjectError
from ._ids import SubjectKind, validate_id
from .arguments import (
    NAME_TEXT,
    SHORT_TEXT,
    check_flag,
    check_instance,
    check_iterable,
    check_text,
)

__all__ = [
    "Catalog",
    "DecidedMeasure",
    "Decision",
    "Document",
    "EntryStatus",
    "ListEntry",
    "ListName",
    "Matter",
    "Measure",
    "MeasureEffect",
    "MeasureKind",
    "Outcome",
    "Profile",
    "Reason",
    "RecordsReceipt",
    "RejectedRecord",
    "Related",
    "Role",
    "Source",
    "Subject",
    "SubjectRef",
    "Title",
    "Trigger",
]

ListName = Literal["red", "black"]
EntryStatus = Literal["active", "objection_pending", "repaired", "expired", "withdrawn"]
Role = Literal["subject", "legal_representative", "principal", "responsible_person"]
RelatedRole = Literal["legal_representative", "principal", "responsible_person"]
MeasureKind = Literal["punishment", "incentive"]
MeasureEffect = Literal[
    "restrict",
    "strict_review",
    "green_channel",
    "tolerance",
    "priority",
    "bonus_points",
    "reduced_inspection",
]
Source = Literal["live", "cache", "snapshot", "none"]
MeasureStatus = Literal["applied", "suspended"]


class Outcome(str, enum.Enum):
    """What the flow should do with the application.

    >>> Outcome("restriction") is Outcome.RESTRICTION
    True
    """

    GREEN_CHANNEL = "green_channel"
    TOLERANCE = "tolerance"
    NORMAL = "normal"
    RESTRICTION = "restriction"
    REVIEW = "review"

    def __str__(self) -> str:
        return self.value


class _Wire(BaseModel):
    """Base of the contract's models: unknown fields ignored, required ones required."""

    model_config = ConfigDict(extra="ignore", frozen=True)


class SubjectRef(_Wire):
    """A subject as the platform names it (``Profile.subject``, ``related[].subject``)."""

    id: str
    kind: SubjectKind
    name: str | None = None


class ListEntry(_Wire):
    """One red- or black-list entry.

    >>> e = ListEntry(entry_id="BL-1", subject_id="91442000MA4UJ2KQ57", list="black",
    ...     category="court_judgment_defaulter", authority="中山市中级人民法院",
    ...     listed_on="2025-01-10", status="active", updated_at="2026-11-20T10:00:00+08:00")
    >>> e.list, e.expires_on
    ('black', None)
    """

    entry_id: str
    subject_id: str
    list: ListName
    category: str
    authority: str
    basis: str | None = None
    listed_on: date
    expires_on: date | None = None
    status: EntryStatus
    updated_at: datetime


class Related(_Wire):
    """A person linked to an organisation, with that person's own entries (§三(七))."""

    role: RelatedRole
    subject: SubjectRef
    entries: tuple[ListEntry, ...]


class Profile(_Wire):
    """A subject's credit profile (``GET /v1/subjects/{id}/profile``)."""

    subject: SubjectRef
    as_of: datetime
    record_since: date | None
    last_adverse_on: date | None
    entries: tuple[ListEntry, ...]
    related: tuple[Related, ...]


class Trigger(_Wire):
    """What triggers a measure: entries on a list (by category and role), or clean years."""

    list: ListName | None
    categories: tuple[str, ...]
    roles: tuple[Role, ...]
    clean_years: int | None = Field(ge=1)

    @model_validator(mode="after")
    def _list_or_clean_years(self) -> Trigger:
        if self.list is None and self.clean_years is None:
            raise ValueError("a trigger needs a list or clean_years")
        return self


class Title(_Wire):
    """A text in Chinese and English."""

    zh: str
    en: str


class Measure(_Wire):
    """One incentive or punishment of the measures catalogue (措施清单, §四(六))."""

    id: str
    kind: MeasureKind
    effect: MeasureEffect
    mandatory: bool
    matters: tuple[str, ...] = Field(min_length=1)
    trigger: Trigger
    title: Title
    basis: str
    points: float | None = None

    @model_validator(mode="after")
    def _effect_fits_kind(self) -> Measure:
        punishing = self.effect in ("restrict", "strict_review")
        if punishing != (self.kind == "punishment"):
            raise ValueError(
                f"measure {self.id}: effect {self.effect} does not fit kind {self.kind}"
            )
        return self


class Catalog(_Wire):
    """The measures catalogue (``GET /v1/catalog``)."""

    version: str
    published_at: datetime
    measures: tuple[Measure, ...]

    def matters(self) -> frozenset[str]:
        """Every matter category some measure names.

        >>> from credit_check_sdk.catalogue import default_catalog
        >>> "bidding" in default_catalog().matters()
        True
        """
        return frozenset(m for measure in self.measures for m in measure.matters)


# --- what agency code passes in -------------------------------------------------


class _Input(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    def _build(self, what: str, fields: dict[str, Any]) -> None:
        """pydantic's ``__init__`` with checked fields; anything it still refuses is an
        :class:`InvalidArgumentError`, never a raw pydantic error."""
        try:
            super().__init__(**fields)
        except ValidationError as exc:
            first = exc.errors(include_url=False)[0]
            where = ".".join(str(p) for p in first["loc"]) or what
            raise InvalidArgumentError(f"{what}.{where}: {first['msg']}", argument=where) from None


class Subject(_Input):
    """Who is checked. The id is normalised and its checksum verified on creation.

    >>> Subject("91442000mA4UJ2KQ57 ")
    Subject(id='91442000MA4UJ2KQ57', kind='legal_entity', name=None)

    A bad id raises :class:`InvalidSubjectError`; a bad ``kind`` or ``name``
    :class:`InvalidArgumentError` (:class:`ArgumentTypeError` for a wrong type).
    """

    id: str
    kind: SubjectKind
    name: str | None = None

    def __init__(self, id: str, kind: SubjectKind | None = None, name: str | None = None) -> None:
        if kind is not None and kind not in ("legal_entity", "natural_person"):
            raise InvalidSubjectError(
                "kind must be legal_entity or natural_person", value="", reason="kind"
            )
        number, inferred = validate_id(id, kind)
        # Positional construction (``Subject("9144…")``) reads better at call sites;
        # pydantic's own __init__ only takes keywords, hence the dict.
        fields: dict[str, Any] = {
            "id": number,
            "kind": inferred,
            "name": check_text(name, "name", max_length=NAME_TEXT, optional=True),
        }
        self._build("Subject", fields)

    @classmethod
    def parse(cls, value: Subject | str, kind: SubjectKind | None = None) -> Subject:
        """A :class:`Subject` from a string or an existing subject.

        >>> Subject.parse("91442000MA4UJ2KQ57").kind
        'legal_entity'
        """
        if isinstance(value, Subject):
            return value
        return cls(value, kind)


class Document(_Input):
    """A document missing from an application; ``statutory`` ones (法定材料) cannot be waived.

    >>> Document("营业执照副本", statutory=True).statutory
    True
    """

    name: str = Field(min_length=1)
    statutory: bool = False

    def __init__(self, name: str, statutory: bool = False) -> None:
        fields: dict[str, Any] = {
            "name": check_text(name, "document name", max_length=NAME_TEXT),
            "statutory": check_flag(statutory, "statutory"),
        }
        self._build("Document", fields)


class Matter(_Input):
    """What the agency is deciding.

    >>> m = Matter("licensing", missing_documents=["场地证明"], commitment=True)
    >>> m.missing_documents[0]
    Document(name='场地证明', statutory=False)
    """

    category: str = Field(min_length=1)
    code: str | None = None
    case_id: str | None = None
    missing_documents: tuple[Document, ...] = ()
    commitment: bool = False

    def __init__(
        self,
        category: str,
        code: str | None = None,
        case_id: str | None = None,
        missing_documents: list[Document | str] | tuple[Document | str, ...] = (),
        commitment: bool = False,
    ) -> None:
        docs = tuple(
            d if isinstance(d, Document) else Document(d)
            for d in check_iterable(missing_documents, "missing_documents")
        )
        fields: dict[str, Any] = {
            "category": check_text(category, "category", max_length=SHORT_TEXT).strip(),
            "code": check_text(code, "code", max_length=SHORT_TEXT, optional=True),
            "case_id": check_text(case_id, "case_id", max_length=SHORT_TEXT, optional=True),
            "missing_documents": docs,
            "commitment": check_flag(commitment, "commitment"),
        }
        self._build("Matter", fields)

    @classmethod
    def parse(cls, value: Matter | str) -> Matter:
        """A :class:`Matter` from a category string or an existing matter.

        Anything else (``None``, ``b"bidding"``, a dict …) raises
        :class:`ArgumentTypeError`.

        >>> Matter.parse("bidding").category
        'bidding'
        """
        if isinstance(value, Matter):
            return value
        return cls(check_instance(value, "matter", str))

    def ref(self) -> dict[str, Any]:
        """The contract's ``MatterRef``: category, code and case id."""
        return {"category": self.category, "code": self.code, "case_id": self.case_id}


# --- what the SDK returns ---------------------------------------------------------


class Reason(_Input):
    """Why, in words an officer can read, in Chinese and English."""

    zh: str
    en: str

    def __str__(self) -> str:
        return f"{self.zh} / {self.en}"


class DecidedMeasure(_Input):
    """A triggered measure, with its status and the entries behind it."""

    id: str
    kind: MeasureKind
    effect: MeasureEffect
    mandatory: bool
    status: MeasureStatus
    entry_ids: tuple[str, ...]
    title: Title
    basis: str
    points: float | None = None

    def record(self) -> dict[str, Any]:
        """The measure as a journal record lists it."""
        return {"id": self.id, "status": self.status, "entry_ids": list(self.entry_ids)}


class Decision(_Input):
    """The answer to one check.

    ``outcome`` says what to do; ``measures`` what to apply; ``check_id`` is
    the journal record to attach actions to (``record_action``).
    """

    check_id: str
    subject: Subject
    matter: Matter
    outcome: Outcome
    measures: tuple[DecidedMeasure, ...]
    reasons: tuple[Reason, ...]
    source: Source
    degraded: bool
    data_as_of: datetime | None
    checked_at: datetime
    catalog_version: str
    recheck_of: str | None = None

    @field_validator("outcome", mode="before")
    @classmethod
    def _outcome(cls, v: Any) -> Any:
        return Outcome(v) if isinstance(v, str) else v

    @property
    def applied(self) -> tuple[DecidedMeasure, ...]:
        """The measures to apply now (not suspended)."""
        return tuple(m for m in self.measures if m.status == "applied")

    @property
    def restricted(self) -> bool:
        """True when the outcome is ``restriction``."""
        return self.outcome is Outcome.RESTRICTION


class RejectedRecord(_Wire):
    """A journal record the platform refused, with its reason."""

    id: str
    detail: str


class RecordsReceipt(_Wire):
    """The platform's answer to ``POST /v1/records:batch``."""

    accepted: tuple[str, ...]
    duplicates: tuple[str, ...]
    rejected: tuple[RejectedRecord, ...]
