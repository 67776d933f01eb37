"""What the platform core asks of its storage: :class:`PlatformStore`.

Two stores implement it: :class:`~credit_check_sdk._platform.memory.MemoryStore`
(dicts, for :class:`~credit_check_sdk.testing.FakePlatform`) and the sandbox's
SQL store (:mod:`credit_check_sandbox.store`). The rules (what is valid,
what a profile holds, when a request is refused) are the core's; a store only
keeps and finds rows.

Values cross this interface in their JSON form: dates as ``YYYY-MM-DD``,
timestamps as RFC 3339 with ``+08:00``, entries as the contract's ``ListEntry``.
Writes that belong together happen inside one :meth:`PlatformStore.write` block,
whose handle (``tx``) is passed to each write.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from contextlib import AbstractContextManager
from typing import Any, Literal, Protocol, runtime_checkable

__all__ = ["DOC_KEYS", "DocTable", "PlatformStore", "ProfileRows", "SubjectRow"]

#: ``(kind, name, record_since, last_adverse_on)`` of a subject on record.
SubjectRow = tuple[str, "str | None", "str | None", "str | None"]

#: What a set of profiles is built from: the subjects on record (the wanted ones and the
#: parties related to them), the relations ``(org_id, role, person_id)`` in which a wanted
#: id takes part on either side, and the entries (tombstones left out) of every one of them.
ProfileRows = tuple[
    dict[str, SubjectRow], Sequence[tuple[str, str, str]], dict[str, list[dict[str, Any]]]
]

#: Tables of documents kept by id: objections, commitments and disclosures.
DocTable = Literal["objections", "commitments", "disclosures"]

#: The id field of each document table.
DOC_KEYS: dict[str, str] = {
    "objections": "objection_id",
    "commitments": "commitment_id",
    "disclosures": "disclosure_id",
}


@runtime_checkable
class PlatformStore(Protocol):
    """Storage of one platform: subjects, entries, relations, the change feed, records,
    reports, objections, commitments and disclosures.

    >>> from credit_check_sdk._platform.memory import MemoryStore
    >>> isinstance(MemoryStore(), PlatformStore)
    True
    """

    # --- reads --------------------------------------------------------------------

    def kind_of(self, subject_id: str) -> str | None:
        """The kind on record for ``subject_id``, or ``None``."""
        ...

    def profile_rows(self, ids: Sequence[str]) -> ProfileRows:
        """What the profiles of ``ids`` are built from (see :data:`ProfileRows`)."""
        ...

    def max_seq(self) -> int:
        """The newest seq of the change feed (0 when empty)."""
        ...

    def change_texts_after(self, after: int, limit: int) -> tuple[list[tuple[int, bytes]], int]:
        """Up to ``limit`` changes with seq > ``after`` as ``(seq, JSON bytes)``, oldest first,
        and the newest seq."""
        ...

    def export_ndjson(self) -> AbstractContextManager[tuple[int, int, Iterator[bytes]]]:
        """``(newest seq, entry count, chunks)`` read at one point in time: the chunks are whole
        NDJSON lines, every live entry, then one ``{"relation": …}`` line per relation."""
        ...

    def remember_nonce(self, app_id: str, nonce: str) -> bool:
        """Record a nonce; ``False`` when it was seen within the replay window already."""
        ...

    def store_records(self, agency_id: str, items: Sequence[dict[str, Any]]) -> set[str]:
        """Keep the records not kept yet; returns the ids that were there already."""
        ...

    def put_report(self, agency_id: str, period: str, body: dict[str, Any]) -> tuple[str, int]:
        """Keep a monthly report as the period's next version: ``(receipt_id, version)``."""
        ...

    def get_doc(self, tx: Any, table: DocTable, key: str) -> dict[str, Any] | None:
        """One objection, commitment or disclosure by id (``tx`` may be ``None`` to read)."""
        ...

    def docs(self, table: DocTable) -> list[dict[str, Any]]:
        """Every document of ``table``, oldest first."""
        ...

    # --- writes, inside write() ---------------------------------------------------

    def write(self) -> AbstractContextManager[Any]:
        """One write transaction, serialised with every other writer: its handle is ``tx``."""
        ...

    def get_entry(self, tx: Any, entry_id: str) -> dict[str, Any] | None:
        """An entry as ``ListEntry`` plus ``deleted`` (a tombstone), or ``None``."""
        ...

    def insert_entry(self, tx: Any, entry: dict[str, Any]) -> int:
        """Add an entry and its ``upsert`` change; returns the change's seq."""
        ...

    def update_entry(self, tx: Any, entry_id: str, values: dict[str, Any]) -> int:
        """Change an entry's fields (``updated_at`` among them) and emit an ``upsert``."""
        ...

    def delete_entry(self, tx: Any, entry_id: str, at: str) -> int:
        """Delete an entry (a tombstone where the feed needs one) and emit a ``delete``."""
        ...

    def get_subject(self, tx: Any, sid: str) -> SubjectRow | None:
        """A subject on record, read within ``tx``."""
        ...

    def ensure_subject(
        self, tx: Any, sid: str, kind: str, name: str | None = None, since: str | None = None
    ) -> None:
        """Add a subject unless it is on record."""
        ...

    def update_subject(self, tx: Any, sid: str, values: dict[str, Any]) -> None:
        """Change a subject's ``name``, ``kind``, ``record_since`` or ``last_adverse_on``."""
        ...

    def add_adverse(self, tx: Any, sid: str, kind: str, on: str, detail: str) -> None:
        """Keep an adverse record of ``sid`` (the subject's dates are the core's to move)."""
        ...

    def relate(self, tx: Any, org_id: str, role: str, person_id: str, since: str | None) -> int:
        """Add (or re-date) a relation and emit a ``relate``; returns its seq."""
        ...

    def unrelate(self, tx: Any, org_id: str, role: str, person_id: str) -> int | None:
        """End a relation and emit an ``unrelate``; ``None`` when there was none."""
        ...

    def roles_between(self, tx: Any, org_id: str, person_id: str) -> list[str]:
        """The roles ``person_id`` holds in ``org_id``."""
        ...

    def insert_doc(self, tx: Any, table: DocTable, doc: dict[str, Any]) -> None:
        """Add an objection, commitment or disclosure."""
        ...

    def update_doc(self, tx: Any, table: DocTable, key: str, values: dict[str, Any]) -> None:
        """Change fields of an objection, commitment or disclosure."""
        ...
