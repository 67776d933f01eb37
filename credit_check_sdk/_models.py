"""Typed models: what crosses the wire (platform contract v2) and what the SDK returns.

Wire models ignore unknown fields (forward compatibility, as the contract asks)
and refuse missing required ones. All models are frozen: a decision, once
made and journaled, cannot be changed by the code that received it.
"""

from __future__ import annotations

import enum
from datetime import date, datetime
from functools import lru_cache
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
    "AuthorityFeedback",
    "Catalog",
    "DecidedMeasure",
    "Decision",
    "Disclosure",
    "DisclosureCounts",
    "DisclosureReceipt",
    "Document",
    "EntryStatus",
    "ListEntry",
    "ListName",
    "Matter",
    "Measure",
    "MeasureEffect",
    "MeasureKind",
    "Outcome",
    "Parameter",
    "Profile",
    "Reason",
    "RecordsReceipt",
    "RejectedRecord",
    "Related",
    "Relation",
    "Role",
    "Source",
    "Subject",
    "SubjectRef",
    "Title",
    "Trigger",
]

ListName = Literal["red", "black"]
EntryStatus = Literal["active", "objection_pending", "repaired", "expired", "withdrawn"]
#: How a related party stands to a profile's subject. Contract v2 names
#: ``KNOWN_ROLES`` (and ``subject`` in a measure's trigger) but a client must accept
#: names it does not know: a role is any non-empty string, and an unknown one
#: counts only for a measure whose trigger names it.
Role = str
RelatedRole = str
#: An organisation's persons (and organisations) by role (§三(二), §三(七)).
ORGANISATION_ROLES: tuple[str, ...] = (
    "legal_representative",
    "principal",
    "senior_manager",
    "director",
    "shareholder",
    "responsible_person",
    "registered_practitioner",
)
#: The same roles seen from the related party: the organisations a person holds them in.
KNOWN_ROLES: tuple[str, ...] = ORGANISATION_ROLES + tuple(f"{r}_of" for r in ORGANISATION_ROLES)
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
MeasureStatus = Literal["applied", "suspended", "blocked"]
DisclosureKind = Literal["licence", "penalty"]


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

    model_config = ConfigDict(extra="ignore", frozen=True, defer_build=True)


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
    """A party linked to the profile's subject, with that party's own entries.

    In an organisation's profile: its persons by role (``legal_representative`` …,
    §三(七)); in a person's profile: the organisations the person holds a role
    in (``legal_representative_of`` …, §三(二)). Unknown role names are kept.

    >>> r = Related.model_validate({"role": "legal_representative_of", "entries": [],
    ...     "subject": {"id": "91442000MA4UJ2KQ57", "kind": "legal_entity"}})
    >>> r.role
    'legal_representative_of'
    """

    role: RelatedRole = Field(min_length=1)
    subject: SubjectRef
    entries: tuple[ListEntry, ...]


class Relation(_Wire):
    """A link from the change feed or the export: ``related_id`` is the ``role`` of ``subject_id``.

    The organisation is always ``subject_id`` and the role has no ``_of``; the
    related party's ``…_of`` side follows from it.

    >>> r = Relation(subject_id="91442000MA4UJ2KQ57", role="legal_representative",
    ...     related_id="442000199001011233", since="2020-01-01")
    >>> r.inverse_role
    'legal_representative_of'
    """

    subject_id: str
    role: RelatedRole = Field(min_length=1)
    related_id: str
    since: date | None = None

    @property
    def inverse_role(self) -> str:
        """The role as the related party's profile names it (``…_of``)."""
        return self.role + "_of"


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


class Parameter(_Wire):
    """A number of the catalogue that the plan does not fix and the agency sets (a credit
    bonus, a deadline, a term), with its unit and why it is the agency's choice.

    >>> from credit_check_sdk.catalogue import default_catalog
    >>> default_catalog().parameter("commitment_working_days")
    10.0
    """

    value: float
    unit: str
    title: Title
    basis: str


class Catalog(_Wire):
    """The measures catalogue (``GET /v1/catalog``).

    ``parameters`` (the project's addition, ignored by clients that do not know
    it) names the numbers the plan leaves to the agency: ``bonus_points`` (what
    a ``bonus_points`` measure without its own ``points`` gives),
    ``commitment_working_days`` (the deadline of a tolerance commitment) and
    ``list_term_years`` (the sandbox's sample list term). See
    :func:`credit_check_sdk.catalogue.with_parameters` to set them.
    """

    version: str
    published_at: datetime
    measures: tuple[Measure, ...]
    parameters: dict[str, Parameter] = Field(default_factory=dict)

    def parameter(self, name: str, default: float | None = None) -> float:
        """The value of parameter ``name``; ``default`` when the catalogue has none.

        >>> from credit_check_sdk.catalogue import default_catalog
        >>> default_catalog().parameter("bonus_points")
        2.0
        """
        found = self.parameters.get(name)
        if found is not None:
            return found.value
        if default is None:
            raise KeyError(f"catalogue {self.version} has no parameter {name!r}")
        return default

    def matters(self) -> frozenset[str]:
        """Every matter category some measure names.

        >>> from credit_check_sdk.catalogue import default_catalog
        >>> "bidding" in default_catalog().matters()
        True
        """
        return frozenset(m for measure in self.measures for m in measure.matters)


# --- what agency code passes in -------------------------------------------------


class _Input(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, defer_build=True)

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
        known_kind = kind in (None, "legal_entity", "natural_person")
        if type(value) is str and cls is Subject and known_kind:
            return _subject_from_text(value, kind)
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
        if type(value) is str and cls is Matter:
            return _matter_from_text(value)
        return cls(check_instance(value, "matter", str))

    def ref(self) -> dict[str, Any]:
        """The contract's ``MatterRef``: category, code and case id."""
        return {"category": self.category, "code": self.code, "case_id": self.case_id}


# Subjects and matters are frozen and parsed from the same few texts again and again
# (every check of a busy counter): the id's checksum and the model are built once per text.
# A text that fails is not cached (lru_cache keeps results only), so it fails every time.
@lru_cache(maxsize=4096)
def _subject_from_text(value: str, kind: SubjectKind | None) -> Subject:
    return Subject(value, kind)


@lru_cache(maxsize=256)
def _matter_from_text(value: str) -> Matter:
    return Matter(value)


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


class Disclosure(_Input):
    """A licensing or penalty decision for 双公示 (``POST /v1/disclosures``, §四(三)).

    The platform publishes it on 信用中山; it is due within 7 working days of
    ``decided_on``.

    >>> d = Disclosure(disclosure_id="D-1", kind="licence", subject_id="91442000MA4UJ2KQ57",
    ...     decision_no="中环许〔2026〕12号", decided_on="2026-11-02", title="排污许可")
    >>> d.kind, d.check_id
    ('licence', None)
    """

    disclosure_id: str = Field(min_length=1)
    kind: DisclosureKind
    subject_id: str
    decision_no: str = Field(min_length=1)
    decided_on: date
    title: str = Field(min_length=1)
    content: dict[str, Any] = Field(default_factory=dict)
    check_id: str | None = None

    @field_validator("subject_id")
    @classmethod
    def _valid_subject(cls, v: str) -> str:
        return validate_id(v)[0]


class DisclosureReceipt(_Wire):
    """The platform's answer to ``POST /v1/disclosures``."""

    disclosure_id: str
    published_on: date


class DisclosureCounts(_Wire):
    """A monthly report's ``disclosures`` (v2): 双公示 made, on time, late, overdue."""

    made: int = Field(ge=0)
    on_time: int = Field(ge=0)
    late: int = Field(ge=0)
    overdue: int = Field(ge=0)


class AuthorityFeedback(_Wire):
    """A monthly report's ``by_authority`` item (v2, §四(八)): what became of one
    listing authority's entries in the period's checks."""

    authority: str
    checks: int = Field(ge=0)
    triggered: int = Field(ge=0)
    applied: int = Field(ge=0)
    not_applied: int = Field(ge=0)
    overridden: int = Field(ge=0)


class RejectedRecord(_Wire):
    """A journal record the platform refused, with its reason."""

    id: str
    detail: str


class RecordsReceipt(_Wire):
    """The platform's answer to ``POST /v1/records:batch``."""

    accepted: tuple[str, ...]
    duplicates: tuple[str, ...]
    rejected: tuple[RejectedRecord, ...]
