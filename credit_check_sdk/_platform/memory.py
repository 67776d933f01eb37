"""The platform core's storage in memory: :class:`MemoryStore`, behind FakePlatform.

Every change stays in the feed (no compaction): a test can page through exactly
what it did. A re-entrant lock makes each :meth:`MemoryStore.write` block atomic
for other threads (FakePlatform answers on several threads when it serves HTTP).

>>> store = MemoryStore()
>>> with store.write() as tx:
...     store.relate(tx, "91442000MA4UJ2KQ57", "director", "442000199001011233", None)
1
>>> store.profile_rows(["442000199001011233"])[1]
[('91442000MA4UJ2KQ57', 'director', '442000199001011233')]
"""

from __future__ import annotations

import collections
import contextlib
import json
import threading
import time
import uuid
from collections.abc import Iterator, Sequence
from typing import Any

from ..signing import NONCE_TTL_SECONDS
from .store import DOC_KEYS, DocTable, ProfileRows, SubjectRow

__all__ = ["MemoryStore", "json_bytes"]

_SUBJECT_FIELDS = ("kind", "name", "record_since", "last_adverse_on")


def json_bytes(value: Any) -> bytes:
    """Compact JSON as UTF-8, as the platform serves its bodies.

    >>> json_bytes({"id": "BL-1", "basis": None})
    b'{"id":"BL-1","basis":null}'
    """
    return json.dumps(value, ensure_ascii=False, separators=(",", ":")).encode()


class MemoryStore:
    """Subjects, entries, relations, the feed and the documents of one platform, in dicts.

    The attributes are there to look at in tests (``records``, ``reports``,
    ``upload_counts`` …); change the data through the platform, not through them.
    """

    def __init__(self, *, feed_relations: bool = True) -> None:
        #: Whether relation changes go into the feed and relations into the export (contract
        #: v2); ``False`` plays a platform of contract v1, which sends entries only.
        self.feed_relations = feed_relations
        self.lock = threading.RLock()
        self.subjects: dict[str, dict[str, Any]] = {}
        self.entries: dict[str, dict[str, Any]] = {}
        #: ``(org_id, role, person_id)`` -> ``since``
        self.relations: dict[tuple[str, str, str], str | None] = {}
        self.changes: list[tuple[int, bytes]] = []
        self.adverse: list[tuple[str, str, str, str]] = []
        self.nonces: dict[tuple[str, str], float] = {}
        self.records: dict[str, dict[str, Any]] = {}
        self.upload_counts: collections.Counter[str] = collections.Counter()
        self.reports: dict[tuple[str, str], list[dict[str, Any]]] = {}
        self.tables: dict[str, dict[str, dict[str, Any]]] = {
            "objections": {},
            "commitments": {},
            "disclosures": {},
        }

    # --- reads --------------------------------------------------------------------

    def kind_of(self, subject_id: str) -> str | None:
        """The kind on record for ``subject_id``, or ``None``."""
        row = self.subjects.get(subject_id)
        return row.get("kind") if row else None

    def _subject_row(self, sid: str) -> SubjectRow | None:
        row = self.subjects.get(sid)
        if row is None:
            return None
        return row["kind"], row["name"], row["record_since"], row["last_adverse_on"]

    def profile_rows(self, ids: Sequence[str]) -> ProfileRows:
        """Subjects, relations (either side in ``ids``) and entries, from the dicts."""
        with self.lock:
            wanted = set(ids)
            links = sorted(k for k in self.relations if k[0] in wanted or k[2] in wanted)
            everyone = dict.fromkeys([*ids, *(k[0] for k in links), *(k[2] for k in links)])
            known = {sid: row for sid in everyone if (row := self._subject_row(sid)) is not None}
            entries: dict[str, list[dict[str, Any]]] = {sid: [] for sid in everyone}
            for entry in self.entries.values():
                owned = entries.get(entry["subject_id"])
                if owned is not None:
                    owned.append(dict(entry))
            for owned in entries.values():
                owned.sort(key=lambda e: (e["listed_on"], e["entry_id"]))
            return known, links, entries

    def max_seq(self) -> int:
        """The newest seq of the feed."""
        return len(self.changes)

    def change_texts_after(self, after: int, limit: int) -> tuple[list[tuple[int, bytes]], int]:
        """Changes after ``after``: the list is in seq order from 1, so a slice."""
        with self.lock:
            return self.changes[after : after + limit], len(self.changes)

    @contextlib.contextmanager
    def export_ndjson(self) -> Iterator[tuple[int, int, Iterator[bytes]]]:
        """Entries by id, then relations, as NDJSON (one chunk)."""
        with self.lock:
            entries = [self.entries[k] for k in sorted(self.entries)]
            lines = [json_bytes(e) + b"\n" for e in entries]
            if self.feed_relations:
                lines += [
                    json_bytes({"relation": _relation(key, since)}) + b"\n"
                    for key, since in sorted(self.relations.items())
                ]
            newest = len(self.changes)
        yield newest, len(entries), iter([b"".join(lines)])

    def remember_nonce(self, app_id: str, nonce: str) -> bool:
        """Nonces of the last 600 s, forgotten as they leave the window."""
        clock = time.time()
        with self.lock:
            cutoff = clock - NONCE_TTL_SECONDS
            self.nonces = {k: t for k, t in self.nonces.items() if t >= cutoff}
            if (app_id, nonce) in self.nonces:
                return False
            self.nonces[(app_id, nonce)] = clock
            return True

    def store_records(self, agency_id: str, items: Sequence[dict[str, Any]]) -> set[str]:
        """Keep records by id."""
        with self.lock:
            present = {r["id"] for r in items if r["id"] in self.records}
            for record in items:
                self.records.setdefault(record["id"], record)
            return present

    def put_report(self, agency_id: str, period: str, body: dict[str, Any]) -> tuple[str, int]:
        """Append a version of the period's report."""
        with self.lock:
            versions = self.reports.setdefault((agency_id, period), [])
            versions.append(body)
            receipt = f"RC-{period.replace('-', '')}-{uuid.uuid4().hex[:12].upper()}"
            return receipt, len(versions)

    def get_doc(self, tx: Any, table: DocTable, key: str) -> dict[str, Any] | None:
        """A copy of one document."""
        with self.lock:
            doc = self.tables[table].get(key)
            return dict(doc) if doc is not None else None

    def docs(self, table: DocTable) -> list[dict[str, Any]]:
        """Copies of every document of ``table`` in the order they came."""
        with self.lock:
            return [dict(d) for d in self.tables[table].values()]

    # --- writes -------------------------------------------------------------------

    @contextlib.contextmanager
    def write(self) -> Iterator[None]:
        """Hold the lock for the block (memory has nothing to roll back)."""
        with self.lock:
            yield None

    def get_entry(self, tx: Any, entry_id: str) -> dict[str, Any] | None:
        """A copy of a live entry (a removed one is gone: memory keeps no tombstones)."""
        entry = self.entries.get(entry_id)
        return {**entry, "deleted": False} if entry is not None else None

    def _emit(self, op: str, key: str, value: dict[str, Any]) -> int:
        seq = len(self.changes) + 1
        self.changes.append((seq, json_bytes({"seq": seq, "op": op, key: value})))
        return seq

    def insert_entry(self, tx: Any, entry: dict[str, Any]) -> int:
        """Add an entry; emit its ``upsert``."""
        self.entries[entry["entry_id"]] = dict(entry)
        return self._emit("upsert", "entry", entry)

    def update_entry(self, tx: Any, entry_id: str, values: dict[str, Any]) -> int:
        """Change an entry; emit an ``upsert`` of what it is now."""
        entry = self.entries[entry_id]
        entry.update(values)
        return self._emit("upsert", "entry", entry)

    def delete_entry(self, tx: Any, entry_id: str, at: str) -> int:
        """Remove an entry; emit a ``delete`` of what it was."""
        entry = self.entries.pop(entry_id)
        return self._emit("delete", "entry", entry)

    def get_subject(self, tx: Any, sid: str) -> SubjectRow | None:
        """A subject on record."""
        return self._subject_row(sid)

    def ensure_subject(
        self, tx: Any, sid: str, kind: str, name: str | None = None, since: str | None = None
    ) -> None:
        """Add a subject unless on record."""
        if sid not in self.subjects:
            self.subjects[sid] = {
                "kind": kind,
                "name": name,
                "record_since": since,
                "last_adverse_on": None,
            }

    def update_subject(self, tx: Any, sid: str, values: dict[str, Any]) -> None:
        """Change the named fields of a subject on record."""
        row = self.subjects[sid]
        row.update({k: v for k, v in values.items() if k in _SUBJECT_FIELDS})

    def add_adverse(self, tx: Any, sid: str, kind: str, on: str, detail: str) -> None:
        """Keep the adverse record."""
        self.adverse.append((sid, kind, on, detail))

    def relate(self, tx: Any, org_id: str, role: str, person_id: str, since: str | None) -> int:
        """Add or re-date a relation; emit ``relate``."""
        key = (org_id, role, person_id)
        self.relations[key] = since
        if not self.feed_relations:
            return len(self.changes)
        return self._emit("relate", "relation", _relation(key, since))

    def unrelate(self, tx: Any, org_id: str, role: str, person_id: str) -> int | None:
        """End a relation; emit ``unrelate``."""
        key = (org_id, role, person_id)
        if key not in self.relations:
            return None
        since = self.relations.pop(key)
        if not self.feed_relations:
            return len(self.changes)
        return self._emit("unrelate", "relation", _relation(key, since))

    def roles_between(self, tx: Any, org_id: str, person_id: str) -> list[str]:
        """Roles of ``person_id`` in ``org_id``, sorted."""
        return sorted(r for o, r, p in self.relations if o == org_id and p == person_id)

    def insert_doc(self, tx: Any, table: DocTable, doc: dict[str, Any]) -> None:
        """Add a document under its id."""
        self.tables[table][doc[DOC_KEYS[table]]] = dict(doc)

    def update_doc(self, tx: Any, table: DocTable, key: str, values: dict[str, Any]) -> None:
        """Change fields of a document."""
        self.tables[table][key].update(values)


def _relation(key: tuple[str, str, str], since: str | None) -> dict[str, Any]:
    org_id, role, person_id = key
    return {"subject_id": org_id, "role": role, "related_id": person_id, "since": since}
