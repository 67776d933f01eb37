"""Request bodies the platform core accepts, as strict pydantic models.

They mirror ``docs/platform-api.yaml``: JSON types are checked strictly (no
``"5"`` for an integer), unknown fields are ignored, and fields that are
optional but not nullable refuse an explicit ``null``.
"""

from __future__ import annotations

import re
from datetime import date, datetime
from typing import Annotated, Any, Literal, TypeVar
from uuid import UUID

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, ValidationError

_T = TypeVar("_T")

#: A report period, ``YYYY-MM``.
PERIOD = re.compile(r"^[0-9]{4}-(0[1-9]|1[0-2])$")

__all__ = [
    "PERIOD",
    "ActionRecordIn",
    "AdminEntryIn",
    "AdminEntryPatch",
    "AdminRelationIn",
    "AdminSubjectIn",
    "BatchProfilesIn",
    "CheckRecordIn",
    "CommitmentIn",
    "DisclosureIn",
    "FaultsIn",
    "MonthlyReportIn",
    "ObjectionIn",
    "ObjectionResolutionIn",
    "ResolveIn",
    "describe_errors",
]


class _In(BaseModel):
    model_config = ConfigDict(extra="ignore", strict=True, frozen=True)


def _not_none(value: _T) -> _T:
    if value is None:
        raise ValueError("must not be null")
    return value


#: An optional field whose schema does not allow ``null``: absent is fine, ``null`` is not
#: (validators do not run on defaults).
NotNull = AfterValidator(_not_none)


def describe_errors(exc: ValidationError, limit: int = 5) -> str:
    """A short, readable account of a validation error.

    >>> try:
    ...     ObjectionIn.model_validate_json('{"subject_id": 1}')
    ... except ValidationError as e:
    ...     print(describe_errors(e, 2))
    subject_id: Input should be a valid string; entry_id: Field required; … 2 more
    """
    errors = exc.errors(include_url=False)
    parts = []
    for err in errors[:limit]:
        loc = ".".join(str(p) for p in err["loc"]) or "body"
        parts.append(f"{loc}: {err['msg']}")
    if len(errors) > limit:
        parts.append(f"… {len(errors) - limit} more")
    return "; ".join(parts)


class BatchProfilesIn(_In):
    """``POST /v1/profiles:batch``."""

    subject_ids: list[str] = Field(min_length=1)


class MatterRefIn(_In):
    """The contract's ``MatterRef``."""

    category: str
    code: str | None = None
    case_id: str | None = None


class SubjectRefIn(_In):
    """A subject as a check record names it."""

    id: str
    kind: Literal["legal_entity", "natural_person"]


class MeasureRefIn(_In):
    """A measure as a check record lists it."""

    id: str
    status: Literal["applied", "suspended", "blocked"]
    entry_ids: list[str]


class CheckRecordIn(_In):
    """A journal ``check`` record."""

    type: Literal["check"]
    id: UUID
    agency_id: str
    checked_at: datetime
    department: str | None = None
    operator: str | None = None
    matter: MatterRefIn
    subject: SubjectRefIn
    outcome: Literal["green_channel", "tolerance", "normal", "restriction", "review"]
    measures: list[MeasureRefIn]
    source: Literal["live", "cache", "snapshot", "none"]
    data_as_of: datetime | None = None
    recheck_of: UUID | None = None
    catalog_version: str
    sdk_version: str
    prev_hash: str | None
    hash: str


class ActionRecordIn(_In):
    """A journal ``action`` record."""

    type: Literal["action"]
    id: UUID
    check_id: UUID
    agency_id: str
    acted_at: datetime
    action: Literal["applied", "not_applied", "overridden"]
    measure_ids: list[str]
    reason: str | None = None
    operator: str | None = None
    prev_hash: str | None
    hash: str


class _MeasureStats(_In):
    id: str
    triggered: int
    applied: int
    suspended: int
    not_applied: int
    overridden: int


class _Degraded(_In):
    checks: int
    reverified: int
    changed: int


class _ObjectionStats(_In):
    filed: Annotated[int | None, NotNull] = None
    upheld: Annotated[int | None, NotNull] = None
    rejected: Annotated[int | None, NotNull] = None
    verifying: Annotated[int | None, NotNull] = None


class _DisclosureStats(_In):
    made: Annotated[int | None, NotNull] = None
    on_time: Annotated[int | None, NotNull] = None
    late: Annotated[int | None, NotNull] = None
    overdue: Annotated[int | None, NotNull] = None


class _AuthorityStats(_In):
    authority: str
    checks: int
    triggered: int
    applied: int
    not_applied: int
    overridden: int


class MonthlyReportIn(_In):
    """``PUT /v1/reports/{agency_id}/{period}``."""

    agency_id: str
    period: str
    generated_at: datetime
    totals: dict[str, int]
    by_matter: dict[str, dict[str, int]]
    measures: list[_MeasureStats]
    overrides: list[ActionRecordIn]
    degraded: _Degraded
    objections: Annotated[_ObjectionStats | None, NotNull] = None
    disclosures: Annotated[_DisclosureStats | None, NotNull] = None
    by_authority: Annotated[list[_AuthorityStats] | None, NotNull] = None
    journal_head_hash: str | None
    record_count: int


class ObjectionIn(_In):
    """``POST /v1/objections``."""

    subject_id: str
    entry_id: str
    check_id: str | None = None
    reason: str = Field(min_length=1, pattern=r"\S")
    submitted_by: str = Field(pattern=r"\S")


class CommitmentIn(_In):
    """``POST /v1/commitments``."""

    commitment_id: str
    subject_id: str
    check_id: str
    matter: MatterRefIn
    documents: list[str]
    due_on: date
    status: Annotated[Literal["open", "fulfilled", "breached"] | None, NotNull] = None


class DisclosureIn(_In):
    """``POST /v1/disclosures`` (双公示, §四(三))."""

    disclosure_id: str = Field(min_length=1)
    kind: Literal["licence", "penalty"]
    subject_id: str
    decision_no: str = Field(min_length=1)
    decided_on: date
    title: str = Field(min_length=1)
    content: Annotated[dict[str, Any] | None, NotNull] = None
    check_id: str | None = None


class ResolveIn(_In):
    """``POST /v1/commitments/{id}:resolve``."""

    resolution: Literal["fulfilled", "breached"]
    resolved_on: date


# --- admin ----------------------------------------------------------------------


class AdminEntryIn(_In):
    """``POST /_sandbox/entries``: a new list entry (the subject is created if unknown)."""

    subject_id: str
    list: Literal["red", "black"]
    category: str
    entry_id: str | None = None
    authority: str | None = None
    basis: str | None = None
    listed_on: date | None = None
    expires_on: date | None = None
    status: Literal["active", "objection_pending", "repaired", "expired", "withdrawn"] = "active"
    subject_name: str | None = None


class AdminEntryPatch(_In):
    """``PATCH /_sandbox/entries/{entry_id}``: fields to change."""

    status: Literal["active", "objection_pending", "repaired", "expired", "withdrawn"] | None = None
    expires_on: date | None = None
    listed_on: date | None = None
    authority: str | None = None
    basis: str | None = None


class _RelatedIn(_In):
    role: str = Field(min_length=1, max_length=32, pattern=r"^[a-z][a-z_]*[a-z]$")
    subject_id: str
    name: str | None = None
    since: date | None = None


class AdminRelationIn(_In):
    """``POST /_sandbox/relations`` (and ``relations:end``): ``related_id`` is the ``role`` of
    ``subject_id`` (the organisation)."""

    subject_id: str
    role: str = Field(min_length=1, max_length=32, pattern=r"^[a-z][a-z_]*[a-z]$")
    related_id: str
    since: date | None = None


class AdminSubjectIn(_In):
    """``POST /_sandbox/subjects``: create or update a subject and its linked persons."""

    id: str
    name: str | None = None
    record_since: date | None = None
    last_adverse_on: date | None = None
    related: list[_RelatedIn] = []


class ObjectionResolutionIn(_In):
    """``POST /_sandbox/objections/{id}/resolve``."""

    status: Literal["upheld", "rejected"]


class FaultsIn(_In):
    """``PUT /_sandbox/faults``: only the fields given change."""

    latency_ms: int | None = Field(default=None, ge=0, le=120_000)
    error_rate: float | None = Field(default=None, ge=0.0, le=1.0)
    error_status: int | None = Field(default=None, ge=500, le=599)
    outage: bool | None = None
    rate_limit: float | None = Field(default=None, ge=0.0)
