"""The sandbox store's writes and documents: entries, subjects, relations, adverse
records, journal records, reports, objections, commitments and disclosures.

:class:`StoreWrites` is a part of :class:`~credit_check_sandbox.store.Store`
(which adds the connections, nonces and the hot read paths). Values come and go
in their JSON form, as the platform core's
:class:`~credit_check_sdk._platform.store.PlatformStore` interface has them:
dates as ISO text, timestamps as RFC 3339 with ``+08:00``; here they are
converted to the database's types and back.

Every list change goes through :meth:`StoreWrites.touch_entry` and every relation
change through :meth:`StoreWrites.touch_relation`, in the same transaction as
the change itself, so that the change feed never misses one.
"""

from __future__ import annotations

import contextlib
import json
import uuid
from collections.abc import Iterator, Sequence
from datetime import date, datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection, Engine, RowMapping

from credit_check_sdk._platform.store import DOC_KEYS, DocTable, SubjectRow

from . import db

__all__ = ["StoreWrites", "entry_json", "from_db", "to_db"]

_E = db.entries.c
_DOC_TABLES: dict[str, sa.Table] = {
    "objections": db.objections,
    "commitments": db.commitments,
    "disclosures": db.disclosures,
}


def entry_json(row: RowMapping | dict[str, Any]) -> dict[str, Any]:
    """A database entry row as the contract's ``ListEntry``."""
    expires = row["expires_on"]
    return {
        "entry_id": row["entry_id"],
        "subject_id": row["subject_id"],
        "list": row["list"],
        "category": row["category"],
        "authority": row["authority"],
        "basis": row["basis"],
        "listed_on": row["listed_on"].isoformat(),
        "expires_on": expires.isoformat() if expires is not None else None,
        "status": row["status"],
        "updated_at": db.format_ts(row["updated_at"]),
    }


def _timestamp(text: str) -> datetime:
    # RFC 3339 in, naive platform time out (as the database keeps it).
    value = datetime.fromisoformat(text)
    if value.tzinfo is not None:
        value = value.astimezone(db.PLATFORM_TZ).replace(tzinfo=None)
    return value


def to_db(table: sa.Table, values: dict[str, Any]) -> dict[str, Any]:
    """JSON-form ``values`` as ``table``'s column types want them.

    >>> to_db(db.entries, {"listed_on": "2025-01-10", "status": "active"})["listed_on"]
    datetime.date(2025, 1, 10)
    """
    out: dict[str, Any] = {}
    for name, value in values.items():
        kind = table.c[name].type
        if value is None or not isinstance(value, (str, dict, list)):
            out[name] = value
        elif name == "body":
            out[name] = json.dumps(value, ensure_ascii=False)
        elif isinstance(kind, sa.DateTime) and isinstance(value, str):
            out[name] = _timestamp(value)
        elif isinstance(kind, sa.Date) and isinstance(value, str):
            out[name] = date.fromisoformat(value)
        else:
            out[name] = value
    return out


def from_db(row: RowMapping) -> dict[str, Any]:
    """A row as JSON-form values (``body`` parsed)."""
    out: dict[str, Any] = {}
    for name, value in row.items():
        if name == "body" and isinstance(value, str):
            out[name] = json.loads(value)
        elif isinstance(value, datetime):
            out[name] = db.format_ts(value)
        elif isinstance(value, date):
            out[name] = value.isoformat()
        else:
            out[name] = value
    return out


def _relation_json(org_id: str, role: str, person_id: str, since: Any) -> str:
    since_text = since.isoformat() if isinstance(since, date) else since
    doc = {"subject_id": org_id, "role": role, "related_id": person_id, "since": since_text}
    return json.dumps(doc, ensure_ascii=False, separators=(",", ":"))


class StoreWrites:
    """Writes of the sandbox store (a part of :class:`~credit_check_sandbox.store.Store`)."""

    engine: Engine

    def write(self) -> contextlib.AbstractContextManager[Connection]:
        """One write transaction (the store's)."""
        raise NotImplementedError  # pragma: no cover - Store has it

    # --- the change feed ------------------------------------------------------------

    def touch_entry(self, conn: Connection, entry_id: str, op: str, at: datetime) -> int:
        """Append a change of ``entry_id`` to the (compacted) feed; returns its seq."""
        conn.execute(db.changes.delete().where(db.changes.c.entry_id == entry_id))
        result = conn.execute(db.changes.insert().values(entry_id=entry_id, op=op, changed_at=at))
        seq = result.inserted_primary_key
        return int(seq[0]) if seq is not None else 0

    def touch_relation(
        self, conn: Connection, key: tuple[str, str, str], op: str, since: Any, at: datetime
    ) -> int:
        """Append a ``relate`` or ``unrelate`` to the (compacted) feed; returns its seq."""
        feed_key = db.relation_key(*key)
        conn.execute(db.changes.delete().where(db.changes.c.entry_id == feed_key))
        result = conn.execute(
            db.changes.insert().values(
                entry_id=feed_key, op=op, changed_at=at, relation=_relation_json(*key, since)
            )
        )
        seq = result.inserted_primary_key
        return int(seq[0]) if seq is not None else 0

    # --- entries ----------------------------------------------------------------------

    def get_entry(self, tx: Connection, entry_id: str) -> dict[str, Any] | None:
        """One entry (tombstones included, with ``deleted``), or ``None``."""
        row = (
            tx.execute(sa.select(db.entries).where(_E.entry_id == entry_id))
            .mappings()
            .one_or_none()
        )
        if row is None:
            return None
        return {**entry_json(row), "deleted": bool(row["deleted"])}

    def insert_entry(self, tx: Connection, entry: dict[str, Any]) -> int:
        """Add an entry and its ``upsert``."""
        values = to_db(db.entries, {**entry, "deleted": False})
        tx.execute(db.entries.insert().values(**values))
        return self.touch_entry(tx, entry["entry_id"], "upsert", values["updated_at"])

    def update_entry(self, tx: Connection, entry_id: str, values: dict[str, Any]) -> int:
        """Change an entry and emit an ``upsert``."""
        converted = to_db(db.entries, values)
        tx.execute(db.entries.update().where(_E.entry_id == entry_id).values(**converted))
        return self.touch_entry(tx, entry_id, "upsert", converted.get("updated_at") or db.now())

    def delete_entry(self, tx: Connection, entry_id: str, at: str) -> int:
        """Leave a tombstone and emit a ``delete``."""
        when = _timestamp(at)
        tx.execute(
            db.entries.update().where(_E.entry_id == entry_id).values(deleted=True, updated_at=when)
        )
        return self.touch_entry(tx, entry_id, "delete", when)

    def set_entry_status(self, conn: Connection, entry_id: str, status: str) -> int:
        """Change an entry's status (``updated_at`` now) and emit an upsert."""
        at = db.now()
        conn.execute(
            db.entries.update().where(_E.entry_id == entry_id).values(status=status, updated_at=at)
        )
        return self.touch_entry(conn, entry_id, "upsert", at)

    # --- subjects, relations, adverse records -----------------------------------------------

    def get_subject(self, tx: Connection, sid: str) -> SubjectRow | None:
        """A subject on record, read within ``tx``."""
        s = db.subjects.c
        row = tx.execute(
            sa.select(s.kind, s.name, s.record_since, s.last_adverse_on).where(s.id == sid)
        ).first()
        if row is None:
            return None
        since, last = row.record_since, row.last_adverse_on
        return (
            row.kind,
            row.name,
            since.isoformat() if since else None,
            last.isoformat() if last else None,
        )

    def ensure_subject(
        self,
        conn: Connection,
        sid: str,
        kind: str,
        name: str | None = None,
        since: date | str | None = None,
    ) -> None:
        """Insert a subject row unless present."""
        present = conn.execute(sa.select(db.subjects.c.id).where(db.subjects.c.id == sid)).first()
        if present is None:
            day = date.fromisoformat(since) if isinstance(since, str) else since
            conn.execute(
                db.subjects.insert().values(
                    id=sid, kind=kind, name=name, record_since=day, last_adverse_on=None
                )
            )

    def update_subject(self, tx: Connection, sid: str, values: dict[str, Any]) -> None:
        """Change a subject's name, kind or dates."""
        if values:
            tx.execute(
                db.subjects.update()
                .where(db.subjects.c.id == sid)
                .values(**to_db(db.subjects, values))
            )

    def add_adverse(self, tx: Connection, sid: str, kind: str, on: str, detail: str) -> None:
        """Keep an adverse record."""
        tx.execute(
            db.adverse_records.insert().values(
                subject_id=sid, kind=kind, occurred_on=date.fromisoformat(on), detail=detail
            )
        )

    def relate(
        self, tx: Connection, org_id: str, role: str, person_id: str, since: str | None
    ) -> int:
        """Add or re-date a relation; emit ``relate``."""
        r = db.relations.c
        day = date.fromisoformat(since) if since else None
        tx.execute(
            db.relations.delete().where(
                r.org_id == org_id, r.role == role, r.person_id == person_id
            )
        )
        tx.execute(
            db.relations.insert().values(org_id=org_id, role=role, person_id=person_id, since=day)
        )
        return self.touch_relation(tx, (org_id, role, person_id), "relate", day, db.now())

    def unrelate(self, tx: Connection, org_id: str, role: str, person_id: str) -> int | None:
        """End a relation; emit ``unrelate`` (``None``: there was none)."""
        r = db.relations.c
        where = (r.org_id == org_id, r.role == role, r.person_id == person_id)
        row = tx.execute(sa.select(r.since).where(*where)).first()
        if row is None:
            return None
        tx.execute(db.relations.delete().where(*where))
        return self.touch_relation(tx, (org_id, role, person_id), "unrelate", row.since, db.now())

    def roles_between(self, tx: Connection, org_id: str, person_id: str) -> list[str]:
        """The roles ``person_id`` holds in ``org_id``."""
        r = db.relations.c
        return sorted(
            tx.execute(
                sa.select(r.role).where(r.org_id == org_id, r.person_id == person_id)
            ).scalars()
        )

    # --- documents ----------------------------------------------------------------------

    @contextlib.contextmanager
    def _reading(self, tx: Connection | None) -> Iterator[Connection]:
        if tx is not None:
            yield tx
        else:
            with self.engine.connect() as conn:
                yield conn

    def get_doc(self, tx: Connection | None, table: DocTable, key: str) -> dict[str, Any] | None:
        """One objection, commitment or disclosure by id."""
        t = _DOC_TABLES[table]
        with self._reading(tx) as conn:
            row = (
                conn.execute(sa.select(t).where(t.c[DOC_KEYS[table]] == key))
                .mappings()
                .one_or_none()
            )
        return from_db(row) if row is not None else None

    def docs(self, table: DocTable) -> list[dict[str, Any]]:
        """Every document of ``table``, oldest first."""
        t = _DOC_TABLES[table]
        when = {"objections": "filed_at", "commitments": "created_at"}.get(table, "received_at")
        with self.engine.connect() as conn:
            rows = conn.execute(sa.select(t).order_by(t.c[when])).mappings().all()
        return [from_db(r) for r in rows]

    def insert_doc(self, tx: Connection, table: DocTable, doc: dict[str, Any]) -> None:
        """Add a document."""
        t = _DOC_TABLES[table]
        tx.execute(t.insert().values(**to_db(t, doc)))

    def update_doc(self, tx: Connection, table: DocTable, key: str, values: dict[str, Any]) -> None:
        """Change fields of a document."""
        t = _DOC_TABLES[table]
        tx.execute(t.update().where(t.c[DOC_KEYS[table]] == key).values(**to_db(t, values)))

    # --- journal records and reports ------------------------------------------------------

    def store_records(self, agency_id: str, items: Sequence[dict[str, Any]]) -> set[str]:
        """Insert records not stored yet; returns the ids that were already there."""
        at = db.now()
        with self.write() as conn:
            ids = [r["id"] for r in items]
            present: set[str] = set()
            if ids:
                present = set(
                    conn.execute(
                        sa.select(db.records.c.id).where(db.records.c.id.in_(ids))
                    ).scalars()
                )
            rows = [
                {
                    "id": r["id"],
                    "agency_id": agency_id,
                    "type": r["type"],
                    "body": json.dumps(r, ensure_ascii=False),
                    "received_at": at,
                }
                for r in items
                if r["id"] not in present
            ]
            if rows:
                conn.execute(db.records.insert(), rows)
        return present

    def list_records(self, agency_id: str | None = None, limit: int = 1000) -> list[dict[str, Any]]:
        """Uploaded records, oldest first (for the admin endpoints)."""
        q = sa.select(db.records.c.body).order_by(db.records.c.received_at, db.records.c.id)
        if agency_id:
            q = q.where(db.records.c.agency_id == agency_id)
        with self.engine.connect() as conn:
            return [json.loads(b) for b in conn.execute(q.limit(limit)).scalars()]

    def put_report(self, agency_id: str, period: str, body: dict[str, Any]) -> tuple[str, int]:
        """Store a monthly report as the next version; ``(receipt_id, version)``."""
        r = db.reports.c
        with self.write() as conn:
            version = (
                int(
                    conn.execute(
                        sa.select(sa.func.max(r.version)).where(
                            r.agency_id == agency_id, r.period == period
                        )
                    ).scalar()
                    or 0
                )
                + 1
            )
            receipt = f"RC-{period.replace('-', '')}-{uuid.uuid4().hex[:12].upper()}"
            conn.execute(
                db.reports.insert().values(
                    agency_id=agency_id,
                    period=period,
                    version=version,
                    receipt_id=receipt,
                    body=json.dumps(body, ensure_ascii=False),
                    received_at=db.now(),
                )
            )
        return receipt, version

    def list_reports(self, agency_id: str | None = None) -> list[dict[str, Any]]:
        """Every stored report version (for the admin endpoints)."""
        r = db.reports.c
        q = sa.select(db.reports).order_by(r.agency_id, r.period, r.version)
        if agency_id:
            q = q.where(r.agency_id == agency_id)
        with self.engine.connect() as conn:
            return [
                {
                    "agency_id": row["agency_id"],
                    "period": row["period"],
                    "version": row["version"],
                    "receipt_id": row["receipt_id"],
                    "received_at": db.format_ts(row["received_at"]),
                    "report": json.loads(row["body"]),
                }
                for row in conn.execute(q).mappings()
            ]
