"""Reads and writes of the sandbox platform, on SQLAlchemy Core.

Every list change goes through :meth:`Store.touch_entry`, in the same
transaction as the change itself, so the change feed never misses one.
Writes are serialised by a process lock (SQLite allows one writer; the lock
also avoids lock-upgrade failures between concurrent transactions).

>>> from credit_check_sdk.sandbox import db
>>> store = Store(db.make_engine("sqlite://"))
>>> store.profile("91442000MA4UC00107", "legal_entity")["record_since"] is None
True
"""

from __future__ import annotations

import contextlib
import json
import logging
import threading
import time
import uuid
from collections.abc import Iterator, Sequence
from datetime import date, datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection, Engine, RowMapping

from .._ids import mask_id
from ..signing import NONCE_TTL_SECONDS
from . import db

__all__ = ["Store"]

logger = logging.getLogger(__name__)

_E = db.entries.c
_ENTRY_COLUMNS = (_E.entry_id, _E.subject_id, _E.list, _E.category, _E.authority, _E.basis,
                  _E.listed_on, _E.expires_on, _E.status, _E.updated_at)


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


def _subject_json(sid: str, kind: str, name: str | None) -> dict[str, Any]:
    return {"id": sid, "kind": kind, "name": name}


class Store:
    """Database access for the sandbox platform (one per app)."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self._lock = threading.Lock()
        self._nonce_lock = threading.Lock()
        self._nonces: dict[tuple[str, str], float] = {}
        self._pending_nonces: list[dict[str, Any]] = []
        self._nonces_flushed = time.time()
        self._load_nonces()

    @contextlib.contextmanager
    def write(self) -> Iterator[Connection]:
        """One write transaction, serialised with every other writer of this process."""
        with self._lock, self.engine.begin() as conn:
            yield conn

    # --- meta -------------------------------------------------------------------

    def meta(self) -> dict[str, str]:
        """The ``meta`` table as a dict (``generation``, ``seed`` …)."""
        with self.engine.connect() as conn:
            return {r.key: r.value for r in conn.execute(sa.select(db.meta))}

    # --- nonces -----------------------------------------------------------------

    def _load_nonces(self) -> None:
        cutoff = time.time() - NONCE_TTL_SECONDS
        with self.engine.connect() as conn:
            rows = conn.execute(sa.select(db.nonces).where(db.nonces.c.seen_at >= cutoff))
            self._nonces = {(r.app_id, r.nonce): r.seen_at for r in rows}

    def remember_nonce(self, app_id: str, nonce: str, now: float | None = None) -> bool:
        """Record a nonce; ``False`` when it was already seen within the replay window.

        Checked in memory (loaded from the ``nonces`` table at start, so a restart
        still refuses replays); new nonces are written to the table in batches.
        """
        clock = time.time() if now is None else now
        cutoff = clock - NONCE_TTL_SECONDS
        key = (app_id, nonce)
        with self._nonce_lock:
            seen = self._nonces.get(key)
            if seen is not None and seen >= cutoff:
                return False
            self._nonces[key] = clock
            self._pending_nonces.append({"app_id": app_id, "nonce": nonce, "seen_at": clock})
            flush = len(self._pending_nonces) >= 200 or clock - self._nonces_flushed >= 1.0
            if flush:
                pending, self._pending_nonces = self._pending_nonces, []
                self._nonces_flushed = clock
                if len(self._nonces) > 50_000:
                    self._nonces = {k: v for k, v in self._nonces.items() if v >= cutoff}
        if flush:
            self._flush_nonces(pending, cutoff)
        return True

    def _flush_nonces(self, pending: list[dict[str, Any]], cutoff: float) -> None:
        n = db.nonces.c
        with self.write() as conn:
            conn.execute(db.nonces.delete().where(n.seen_at < cutoff))
            keys = [(p["app_id"], p["nonce"]) for p in pending]
            conn.execute(db.nonces.delete().where(sa.tuple_(n.app_id, n.nonce).in_(keys)))
            conn.execute(db.nonces.insert(), pending)

    def kind_of(self, subject_id: str) -> str | None:
        """The kind on record for a subject id, or ``None``."""
        with self.engine.connect() as conn:
            kind = conn.execute(sa.select(db.subjects.c.kind).where(
                db.subjects.c.id == subject_id)).scalar_one_or_none()
        return str(kind) if kind is not None else None

    # --- profiles ---------------------------------------------------------------

    def _entries_of(self, conn: Connection, ids: Sequence[str]) -> dict[str, list[dict[str, Any]]]:
        out: dict[str, list[dict[str, Any]]] = {i: [] for i in ids}
        if not ids:
            return out
        rows = conn.execute(
            sa.select(*_ENTRY_COLUMNS)
            .where(_E.subject_id.in_(list(ids)), _E.deleted.is_(False))
            .order_by(_E.listed_on, _E.entry_id)
        ).mappings()
        for row in rows:
            out[row["subject_id"]].append(entry_json(row))
        return out

    def profile(self, subject_id: str, kind: str) -> dict[str, Any]:
        """The contract's ``Profile`` for a valid subject id (empty when unknown)."""
        return self.profiles([(subject_id, kind)])[0]

    def profiles(self, ids: Sequence[tuple[str, str]]) -> list[dict[str, Any]]:
        """Profiles for valid ``(id, kind)`` pairs, in order."""
        as_of = db.format_ts(db.now())
        wanted = list(dict.fromkeys(sid for sid, _ in ids))
        with self.engine.connect() as conn:
            s = db.subjects.c
            known = {r["id"]: r for r in conn.execute(
                sa.select(db.subjects).where(s.id.in_(wanted))).mappings()}
            rel_rows = list(conn.execute(
                sa.select(db.relations.c.org_id, db.relations.c.role, db.relations.c.person_id,
                          s.kind, s.name)
                .select_from(db.relations.outerjoin(
                    db.subjects, db.subjects.c.id == db.relations.c.person_id))
                .where(db.relations.c.org_id.in_(wanted))
                .order_by(db.relations.c.org_id, db.relations.c.role, db.relations.c.person_id)
            ).mappings())
            people = [r["person_id"] for r in rel_rows]
            entries = self._entries_of(conn, list(dict.fromkeys(wanted + people)))
        result = []
        for sid, kind in ids:
            row = known.get(sid)
            related = [
                {"role": r["role"],
                 "subject": _subject_json(r["person_id"], r["kind"] or "natural_person", r["name"]),
                 "entries": entries.get(r["person_id"], [])}
                for r in rel_rows if r["org_id"] == sid
            ]
            result.append({
                "subject": _subject_json(sid, row["kind"] if row else kind,
                                         row["name"] if row else None),
                "as_of": as_of,
                "record_since": _iso(row["record_since"]) if row else None,
                "last_adverse_on": _iso(row["last_adverse_on"]) if row else None,
                "entries": entries.get(sid, []),
                "related": related,
            })
        return result

    # --- entries and the change feed --------------------------------------------

    def get_entry(self, conn: Connection, entry_id: str) -> RowMapping | None:
        """One entry row (tombstones included), or ``None``."""
        return conn.execute(
            sa.select(db.entries).where(_E.entry_id == entry_id)).mappings().one_or_none()

    def touch_entry(self, conn: Connection, entry_id: str, op: str, at: datetime) -> int:
        """Append a change of ``entry_id`` to the (compacted) feed; returns its seq."""
        conn.execute(db.changes.delete().where(db.changes.c.entry_id == entry_id))
        result = conn.execute(db.changes.insert().values(entry_id=entry_id, op=op, changed_at=at))
        seq = result.inserted_primary_key
        return int(seq[0]) if seq is not None else 0

    def set_entry_status(self, conn: Connection, entry_id: str, status: str) -> int:
        """Change an entry's status (``updated_at`` now) and emit an upsert."""
        at = db.now()
        conn.execute(db.entries.update().where(_E.entry_id == entry_id)
                     .values(status=status, updated_at=at))
        return self.touch_entry(conn, entry_id, "upsert", at)

    def max_seq(self, conn: Connection) -> int:
        """The newest seq of the feed (0 when empty)."""
        return int(conn.execute(sa.select(sa.func.max(db.changes.c.seq))).scalar() or 0)

    def changes_after(self, after: int, limit: int) -> tuple[list[dict[str, Any]], int]:
        """Up to ``limit`` changes with seq > ``after``, oldest first, and the newest seq."""
        c = db.changes.c
        with self.engine.connect() as conn:
            rows = conn.execute(
                sa.select(c.seq, c.op, *_ENTRY_COLUMNS)
                .select_from(db.changes.join(db.entries, _E.entry_id == c.entry_id))
                .where(c.seq > after).order_by(c.seq).limit(limit)
            ).mappings().all()
            newest = self.max_seq(conn)
        return [{"seq": r["seq"], "op": r["op"], "entry": entry_json(r)} for r in rows], newest

    @contextlib.contextmanager
    def export_snapshot(self) -> Iterator[tuple[int, int, Iterator[dict[str, Any]]]]:
        """``(max_seq, count, entries)`` read in one transaction, entries streamed."""
        with self.engine.connect() as conn, conn.begin():
            newest = self.max_seq(conn)
            count = int(conn.execute(
                sa.select(sa.func.count()).select_from(db.entries).where(_E.deleted.is_(False))
            ).scalar() or 0)

            def rows() -> Iterator[dict[str, Any]]:
                result = conn.execution_options(yield_per=5000).execute(
                    sa.select(*_ENTRY_COLUMNS).where(_E.deleted.is_(False)).order_by(_E.entry_id))
                for row in result.mappings():
                    yield entry_json(row)

            yield newest, count, rows()

    # --- journal records and reports ------------------------------------------------

    def known_record_ids(self, ids: Sequence[str]) -> set[str]:
        """Which of ``ids`` are stored already."""
        if not ids:
            return set()
        with self.engine.connect() as conn:
            return set(conn.execute(
                sa.select(db.records.c.id).where(db.records.c.id.in_(list(ids)))).scalars())

    def store_records(self, agency_id: str, items: Sequence[dict[str, Any]]) -> set[str]:
        """Insert records not stored yet; returns the ids that were already there."""
        at = db.now()
        with self.write() as conn:
            ids = [r["id"] for r in items]
            present: set[str] = set()
            if ids:
                present = set(conn.execute(
                    sa.select(db.records.c.id).where(db.records.c.id.in_(ids))).scalars())
            rows = [{"id": r["id"], "agency_id": agency_id, "type": r["type"],
                     "body": json.dumps(r, ensure_ascii=False), "received_at": at}
                    for r in items if r["id"] not in present]
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
            version = int(conn.execute(sa.select(sa.func.max(r.version)).where(
                r.agency_id == agency_id, r.period == period)).scalar() or 0) + 1
            receipt = f"RC-{period.replace('-', '')}-{uuid.uuid4().hex[:12].upper()}"
            conn.execute(db.reports.insert().values(
                agency_id=agency_id, period=period, version=version, receipt_id=receipt,
                body=json.dumps(body, ensure_ascii=False), received_at=db.now()))
        return receipt, version

    def list_reports(self, agency_id: str | None = None) -> list[dict[str, Any]]:
        """Every stored report version (for the admin endpoints)."""
        r = db.reports.c
        q = sa.select(db.reports).order_by(r.agency_id, r.period, r.version)
        if agency_id:
            q = q.where(r.agency_id == agency_id)
        with self.engine.connect() as conn:
            return [{"agency_id": row["agency_id"], "period": row["period"],
                     "version": row["version"], "receipt_id": row["receipt_id"],
                     "received_at": db.format_ts(row["received_at"]),
                     "report": json.loads(row["body"])}
                    for row in conn.execute(q).mappings()]

    # --- subjects and adverse records ---------------------------------------------

    def ensure_subject(self, conn: Connection, sid: str, kind: str, name: str | None = None,
                       since: date | None = None) -> None:
        """Insert a subject row unless present."""
        present = conn.execute(sa.select(db.subjects.c.id).where(db.subjects.c.id == sid)).first()
        if present is None:
            conn.execute(db.subjects.insert().values(id=sid, kind=kind, name=name,
                                                     record_since=since, last_adverse_on=None))

    def add_adverse(self, conn: Connection, sid: str, kind: str, on: date, detail: str) -> None:
        """Record an adverse record; the subject's ``last_adverse_on`` moves if newer."""
        s = db.subjects.c
        conn.execute(db.adverse_records.insert().values(
            subject_id=sid, kind=kind, occurred_on=on, detail=detail))
        row = conn.execute(sa.select(s.record_since, s.last_adverse_on).where(s.id == sid)).first()
        if row is None:
            return
        values: dict[str, Any] = {}
        if row.last_adverse_on is None or row.last_adverse_on < on:
            values["last_adverse_on"] = on
        if row.record_since is None or row.record_since > on:
            values["record_since"] = on
        if values:
            conn.execute(db.subjects.update().where(s.id == sid).values(**values))
        logger.info("adverse record %s for %s on %s", kind, mask_id(sid), on)


def _iso(value: date | None) -> str | None:
    return value.isoformat() if value is not None else None
