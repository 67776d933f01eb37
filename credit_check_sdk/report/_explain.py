"""Explaining a journaled decision: re-derived from its stored inputs, under its catalogue.

>>> Explanation.__dataclass_fields__["matches"].type
'bool | None'
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date
from typing import Any

from .._exceptions import InvalidRequestError
from .._ids import mask_id
from .._models import Catalog, Document, ListEntry, Matter, Profile, Reason
from ..catalogue import CatalogStore, default_catalog
from ..decision import decide
from ..storage import JournalStore

__all__ = ["ExplainedEntry", "ExplainedMeasure", "Explanation", "explain"]


def _subject_text(subject_id: str | None) -> str:
    return mask_id(subject_id) if subject_id else "-"


@dataclass(frozen=True)
class ExplainedEntry:
    """A list entry behind a measure, as the check saw it."""

    entry_id: str
    holder: str  # subject, legal_representative, ... (whose entry it is)
    list: str
    category: str
    authority: str
    listed_on: date
    expires_on: date | None
    status: str
    basis: str | None


@dataclass(frozen=True)
class ExplainedMeasure:
    """A measure of the re-derived decision, with its catalogue text and entries."""

    id: str
    kind: str
    effect: str
    mandatory: bool
    status: str
    title_zh: str
    title_en: str
    basis: str
    entries: tuple[ExplainedEntry, ...]


@dataclass(frozen=True)
class Explanation:
    """A journaled decision re-derived from its stored inputs.

    ``matches`` is True when the re-derived outcome and measures (ids,
    statuses, entries) equal the recorded ones, False when they differ (see
    ``differences``), None when the decision cannot be re-derived (no stored
    inputs, or the catalogue version is not available here).
    """

    check_id: str
    checked_at: str
    subject: str  # masked when personal
    matter: str
    source: str
    catalog_version: str
    catalog_found: bool
    recorded_outcome: str
    recorded_measures: tuple[tuple[str, str, tuple[str, ...]], ...]
    derived_outcome: str | None
    matches: bool | None
    differences: tuple[str, ...]
    measures: tuple[ExplainedMeasure, ...]
    reasons: tuple[Reason, ...]


def _catalog_for(version: str, catalogs: CatalogStore | Iterable[Catalog] | None) -> Catalog | None:
    if version == default_catalog().version:
        return default_catalog()
    if isinstance(catalogs, CatalogStore):
        return catalogs.version(version)
    for catalog in catalogs or ():
        if catalog.version == version:
            return catalog
    return None


def explain(
    journal: JournalStore,
    catalogs: CatalogStore | Iterable[Catalog] | None,
    check_id: str,
) -> Explanation:
    """Re-derive a journaled check from its stored inputs, under the catalogue version it names.

    ``catalogs`` is the checker's :class:`CatalogStore` (``data_dir/catalog``),
    catalogues in hand, or None (the packaged default only). Raises
    :class:`InvalidRequestError` when the journal has no such check.

    >>> from credit_check_sdk.testing import FakePlatform
    >>> fake = FakePlatform()
    >>> _ = fake.add_entry("91442000MA4UJ2KQ57", "black", "court_judgment_defaulter")
    >>> with fake.checker() as checker:
    ...     d = checker.must_check("91442000MA4UJ2KQ57", "bidding")
    ...     e = explain(checker.journal, None, d.check_id)
    >>> e.matches, e.derived_outcome, [m.id for m in e.measures]
    (True, 'restriction', ['P-BID-EXCLUDE'])
    """
    record = journal.get(check_id)
    if record is None or record.get("type") != "check":
        raise InvalidRequestError(f"no check {check_id!r} in the journal")
    inputs = journal.inputs_for(check_id)
    version = str((inputs or {}).get("catalog_version") or record.get("catalog_version") or "")
    recorded = tuple(
        (str(m["id"]), str(m["status"]), tuple(m.get("entry_ids") or ()))
        for m in record.get("measures") or ()
    )
    subject = record.get("subject") or {}
    matter_ref = record.get("matter") or {}
    base: dict[str, Any] = {
        "check_id": check_id,
        "checked_at": str(record.get("checked_at")),
        "subject": _subject_text(subject.get("id")),
        "matter": str(matter_ref.get("category")),
        "source": str(record.get("source")),
        "catalog_version": version,
        "recorded_outcome": str(record.get("outcome")),
        "recorded_measures": recorded,
    }
    catalog = _catalog_for(version, catalogs)
    if inputs is None or catalog is None:
        why = (
            "the journal holds no inputs for this check"
            if inputs is None
            else f"catalogue version {version!r} is not available here"
        )
        return Explanation(
            **base,
            catalog_found=catalog is not None,
            derived_outcome=None,
            matches=None,
            differences=(why,),
            measures=(),
            reasons=(),
        )
    raw_matter = inputs.get("matter") or {"category": matter_ref.get("category")}
    matter = Matter(
        raw_matter["category"],
        code=raw_matter.get("code"),
        case_id=raw_matter.get("case_id"),
        missing_documents=[_document(d) for d in raw_matter.get("missing_documents") or ()],
        commitment=bool(raw_matter.get("commitment", False)),
    )
    profile = Profile.model_validate(inputs["profile"]) if inputs.get("profile") else None
    on = date.fromisoformat(str(inputs["on"]))
    verdict = decide(
        profile,
        catalog,
        matter,
        on=on,
        clean_years_known=bool(inputs.get("clean_years_known", True)),
    )
    derived = tuple((m.id, m.status, tuple(m.entry_ids)) for m in verdict.measures)
    differences: list[str] = []
    if verdict.outcome.value != record.get("outcome"):
        differences.append(
            f"outcome: recorded {record.get('outcome')}, re-derived {verdict.outcome.value}"
        )
    if sorted(derived) != sorted(recorded):
        differences.append(f"measures: recorded {sorted(recorded)}, re-derived {sorted(derived)}")
    entries = _entries_of(profile)
    measures = tuple(
        ExplainedMeasure(
            id=m.id,
            kind=m.kind,
            effect=m.effect,
            mandatory=m.mandatory,
            status=m.status,
            title_zh=m.title.zh,
            title_en=m.title.en,
            basis=m.basis,
            entries=tuple(entries[e] for e in m.entry_ids if e in entries),
        )
        for m in verdict.measures
    )
    return Explanation(
        **base,
        catalog_found=True,
        derived_outcome=verdict.outcome.value,
        matches=not differences,
        differences=tuple(differences),
        measures=measures,
        reasons=verdict.reasons,
    )


def _document(raw: Any) -> Document:
    if isinstance(raw, dict):
        return Document(str(raw["name"]), statutory=bool(raw.get("statutory", False)))
    return Document(str(raw))


def _entries_of(profile: Profile | None) -> dict[str, ExplainedEntry]:
    out: dict[str, ExplainedEntry] = {}
    if profile is None:
        return out

    def add(holder: str, e: ListEntry) -> None:
        out[e.entry_id] = ExplainedEntry(
            e.entry_id,
            holder,
            e.list,
            e.category,
            e.authority,
            e.listed_on,
            e.expires_on,
            e.status,
            e.basis,
        )

    for e in profile.entries:
        add("subject", e)
    for rel in profile.related:
        for e in rel.entries:
            add(rel.role, e)
    return out
