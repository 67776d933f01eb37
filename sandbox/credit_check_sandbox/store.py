"""The sandbox platform's storage on SQLAlchemy Core: the platform core's SQL store.

:class:`Store` implements :class:`~credit_check_sdk._platform.store.PlatformStore`.
This module holds its connections, nonces and the read paths that serve many
requests or many rows (profiles, the change feed, the export), which on SQLite
run as plain SQL, the feed's and export's JSON written by SQLite itself; the
writes are in :mod:`credit_check_sandbox.store_writes`. Writes are
serialised by a process lock (SQLite allows one writer; the lock also avoids
lock-upgrade failures between concurrent transactions).

>>> from credit_check_sandbox import db
>>> store = Store(db.make_engine("sqlite://"))
>>> store.profile("91442000MA4UC00107", "legal_entity")["record_since"] is None
True
"""

from __future__ import annotations

import collections
import contextlib
import json
import logging
import threading
import time
from collections.abc import Iterator, Sequence
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection, Engine

from credit_check_sdk._platform.profiles import build_profiles
from credit_check_sdk._platform.store import ProfileRows
from credit_check_sdk.signing import NONCE_TTL_SECONDS

from . import db
from .store_writes import StoreWrites, entry_json

__all__ = ["Store", "entry_json", "json_bytes"]

logger = logging.getLogger(__name__)

_E = db.entries.c
_ENTRY_COLUMNS = (
    _E.entry_id,
    _E.subject_id,
    _E.list,
    _E.category,
    _E.authority,
    _E.basis,
    _E.listed_on,
    _E.expires_on,
    _E.status,
    _E.updated_at,
)


#: A ``ListEntry`` as JSON text written by SQLite itself (JSON1, in C), for the paths that
#: serve many entries (change feed, export): the members of :func:`entry_json`, in its order.
#: SQLite holds dates as the ISO text SQLAlchemy writes, served as they are (``NULL`` becomes
#: ``null``), and ``updated_at`` as "YYYY-MM-DD HH:MM:SS[.ffffff]" in platform time, which
#: :func:`db.format_ts` serves as "YYYY-MM-DDTHH:MM:SS+08:00" (fraction dropped).
_ENTRY_JSON_SQLITE = (
    "json_object('entry_id', e.entry_id, 'subject_id', e.subject_id, 'list', e.list, "
    "'category', e.category, 'authority', e.authority, 'basis', e.basis, "
    "'listed_on', e.listed_on, 'expires_on', e.expires_on, 'status', e.status, "
    "'updated_at', substr(e.updated_at, 1, 10) || 'T' || substr(e.updated_at, 12, 8) || '+08:00')"
)
# The change feed's and the export's rows. Each JSON text is cast to a BLOB, which comes out
# as the UTF-8 bytes SQLite holds: served as they are, with no decoding to str and back. A
# relation's row holds its JSON already (``json()`` keeps it compact).
_CHANGES_SQLITE = (
    "SELECT c.seq, CAST(CASE WHEN c.relation IS NULL THEN json_object('seq', c.seq, "  # noqa: S608 - constant SQL, values as placeholders
    f"'op', c.op, 'entry', {_ENTRY_JSON_SQLITE}) "
    "ELSE json_object('seq', c.seq, 'op', c.op, 'relation', json(c.relation)) END AS BLOB) "
    "FROM changes c LEFT JOIN entries e ON e.entry_id = c.entry_id "
    "WHERE c.seq > ? ORDER BY c.seq LIMIT ?"
)
_EXPORT_SQLITE = (
    f"SELECT CAST({_ENTRY_JSON_SQLITE} || char(10) AS BLOB) FROM entries e "  # noqa: S608 - constant SQL
    "WHERE e.deleted = 0 ORDER BY e.entry_id"
)
_EXPORT_RELATIONS_SQLITE = (
    "SELECT CAST(json_object('relation', json_object('subject_id', org_id, 'role', role, "
    "'related_id', person_id, 'since', since)) || char(10) AS BLOB) FROM relations "
    "ORDER BY org_id, role, person_id"
)
#: Rows fetched from SQLite at a time by the export (one chunk of NDJSON lines).
_EXPORT_BATCH = 5000
#: How much of a SQLite database file the feed and export readers map into memory
#: (SQLite's build caps it, at 2 GiB by default).
_MMAP_BYTES = 2**31


def json_bytes(value: Any) -> bytes:
    """Compact JSON as UTF-8, as the sandbox serves its bodies.

    >>> json_bytes({"id": "BL-1", "basis": None, "seq": 7})
    b'{"id":"BL-1","basis":null,"seq":7}'
    """
    return json.dumps(value, ensure_ascii=False, separators=(",", ":")).encode()


_N = db.nonces.c
_RENEW_NONCE = (
    db.nonces.update()
    .where(
        _N.app_id == sa.bindparam("a"),
        _N.nonce == sa.bindparam("n"),
        _N.seen_at < sa.bindparam("cutoff"),
    )
    .values(seen_at=sa.bindparam("t"))
)
_INSERT_NONCE = db.nonces.insert().values(
    app_id=sa.bindparam("a"), nonce=sa.bindparam("n"), seen_at=sa.bindparam("t")
)
_EXPIRE_NONCES = db.nonces.delete().where(_N.seen_at < sa.bindparam("cutoff"))
_UPSERT_NONCE_SQLITE = (
    "INSERT INTO nonces (app_id, nonce, seen_at) VALUES (?, ?, ?) "
    "ON CONFLICT (app_id, nonce) DO UPDATE SET seen_at = excluded.seen_at"
)
_CLAIM_NONCE_SQLITE = (
    "INSERT INTO nonces (app_id, nonce, seen_at) VALUES (?, ?, ?) "
    "ON CONFLICT (app_id, nonce) DO UPDATE SET seen_at = excluded.seen_at "
    "WHERE nonces.seen_at < ?"
)

#: Nonces to write, and the start of the replay window when older ones are due to go.
_NonceBatch = tuple[list[dict[str, Any]], float | None]


class Store(StoreWrites):
    """Database access for the sandbox platform (one per app): the core's SQL store."""

    def __init__(self, engine: Engine, *, shared_nonces: bool = False) -> None:
        self.engine = engine
        self.shared_nonces = shared_nonces
        self._claims = 0
        # SQLite: one pooled connection kept for the hot paths (profiles, nonce claims), so
        # that they skip the pool's check-out and reset; a lock keeps its users in turn.
        self._raw: Any = None
        self._raw_lock = threading.Lock()
        #: SQLite: the hot read paths use plain SQL on the DBAPI connection.
        self.is_sqlite = engine.dialect.name == "sqlite"
        self._lock = threading.Lock()
        self._nonce_lock = threading.Lock()
        self._nonces: dict[tuple[str, str], float] = {}
        self._nonce_order: collections.deque[tuple[float, tuple[str, str]]] = collections.deque()
        self._nonces_expired = time.time()
        self._load_nonces()

    @contextlib.contextmanager
    def _cursor(self) -> Iterator[Any]:
        """A cursor on the kept SQLite connection (plain SQL, ``?`` parameters)."""
        with self._raw_lock:
            if self._raw is None:
                self._raw = self.engine.raw_connection()
            conn = self._raw.driver_connection
            cur = conn.cursor()
            try:
                yield cur
            finally:
                cur.close()
                if conn.in_transaction:  # a write that failed half-way: never keep it open
                    conn.rollback()

    @contextlib.contextmanager
    def _snapshot(self) -> Iterator[Any]:
        """A cursor in one read transaction, on a pooled SQLite connection of its own: the
        readers of many rows keep off the kept connection, whose lock the profile look-ups
        take on the event loop, and every query in the block sees the same data."""
        raw: Any = self.engine.raw_connection()  # as the kept one: the sqlite3 API, untyped
        try:
            conn = raw.driver_connection
            cur = conn.cursor()
            # An in-memory database has one connection for all: one already in a transaction
            # is another thread's, to be neither nested nor rolled back.
            own = not conn.in_transaction
            try:
                # Pages read in place from the file's mapping rather than copied into SQLite's
                # cache: these readers visit far more pages than the cache holds.
                cur.execute(f"PRAGMA mmap_size = {_MMAP_BYTES}")
                if own:
                    cur.execute("BEGIN")  # the read lock, so the snapshot, from the first SELECT
                yield cur
            finally:
                cur.close()
                if own and conn.in_transaction:
                    conn.rollback()
        finally:
            raw.close()

    def close(self) -> None:
        """Give the kept connection back to the pool."""
        with self._raw_lock:
            if self._raw is not None:
                self._raw.close()
                self._raw = None

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
            rows = conn.execute(
                sa.select(db.nonces)
                .where(db.nonces.c.seen_at >= cutoff)
                .order_by(db.nonces.c.seen_at)
            )
            self._nonces = {(r.app_id, r.nonce): r.seen_at for r in rows}
        self._nonce_order = collections.deque((t, k) for k, t in self._nonces.items())

    def remember_nonce(self, app_id: str, nonce: str, now: float | None = None) -> bool:
        """Record a nonce; ``False`` when it was already seen within the replay window.

        Checked in memory (loaded from the ``nonces`` table at start); every new nonce
        is written to the table before the request is answered, so a restart, even
        after a crash, still refuses the replay of a request answered before it.
        With ``shared_nonces`` (several processes serve one database) every nonce is
        claimed in the table itself, so that a replay to another process is refused too.
        """
        if self.shared_nonces:
            return self._claim_nonce(app_id, nonce, time.time() if now is None else now)
        fresh, batch = self.check_nonce(app_id, nonce, now)
        if batch is not None:
            self.flush_nonces(batch)
        return fresh

    def check_nonce(
        self, app_id: str, nonce: str, now: float | None = None
    ) -> tuple[bool, _NonceBatch | None]:
        """:meth:`remember_nonce`'s check, in memory (no database access, so cheap enough
        for an event loop). A fresh nonce comes with the batch that :meth:`flush_nonces`
        must write before the request is answered: the window is durable, never
        only in memory (a replay after a restart would pass)."""
        clock = time.time() if now is None else now
        cutoff = clock - NONCE_TTL_SECONDS
        key = (app_id, nonce)
        with self._nonce_lock:
            nonces = self._nonces
            seen = nonces.get(key)
            if seen is not None and seen >= cutoff:
                return False, None
            nonces[key] = clock
            order = self._nonce_order
            order.append((clock, key))
            while order[0][0] < cutoff:  # forget what left the window, oldest first
                at, old = order.popleft()
                if nonces.get(old) == at:
                    del nonces[old]
            expire: float | None = None
            if clock - self._nonces_expired >= 1.0:  # rows out of the window: once a second
                expire, self._nonces_expired = cutoff, clock
        return True, ([{"app_id": app_id, "nonce": nonce, "seen_at": clock}], expire)

    def flush_nonces(self, batch: _NonceBatch) -> None:
        """Write a batch of nonces from :meth:`check_nonce` to the ``nonces`` table (and
        forget those out of the window when the batch says so); committed on return."""
        pending, cutoff = batch
        n = db.nonces.c
        if self.is_sqlite:
            with self._cursor() as cur:
                if cutoff is not None:
                    cur.execute("DELETE FROM nonces WHERE seen_at < ?", (cutoff,))
                cur.executemany(
                    _UPSERT_NONCE_SQLITE, [(p["app_id"], p["nonce"], p["seen_at"]) for p in pending]
                )
                cur.connection.commit()
            return
        with self.write() as conn:
            if cutoff is not None:
                conn.execute(db.nonces.delete().where(n.seen_at < cutoff))
            keys = [(p["app_id"], p["nonce"]) for p in pending]
            conn.execute(db.nonces.delete().where(sa.tuple_(n.app_id, n.nonce).in_(keys)))
            conn.execute(db.nonces.insert(), pending)

    def _claim_nonce(self, app_id: str, nonce: str, clock: float) -> bool:
        cutoff = clock - NONCE_TTL_SECONDS
        self._claims += 1
        expire = self._claims % 1000 == 0
        if self.is_sqlite:
            # One statement: inserted, or renewed when last seen before the window; a replay
            # changes no row. A concurrent claim (another process) waits for the write lock.
            with self._cursor() as cur:
                cur.execute(_CLAIM_NONCE_SQLITE, (app_id, nonce, clock, cutoff))
                fresh = bool(cur.rowcount == 1)
                if expire:
                    cur.execute("DELETE FROM nonces WHERE seen_at < ?", (cutoff,))
                cur.connection.commit()
            return fresh
        params = {"a": app_id, "n": nonce, "t": clock, "cutoff": cutoff}
        try:
            with self.write() as conn:
                if conn.execute(_RENEW_NONCE, params).rowcount:
                    return True  # seen before the window: a fresh use
                conn.execute(_INSERT_NONCE, params)
                if expire:
                    conn.execute(_EXPIRE_NONCES, params)
        except sa.exc.IntegrityError:
            return False
        return True

    def kind_of(self, subject_id: str) -> str | None:
        """The kind on record for a subject id, or ``None``."""
        if self.is_sqlite:
            with self._cursor() as cur:
                row = cur.execute(
                    "SELECT kind FROM subjects WHERE id = ?", (subject_id,)
                ).fetchone()
            return str(row[0]) if row is not None else None
        with self.engine.connect() as conn:
            kind = conn.execute(
                sa.select(db.subjects.c.kind).where(db.subjects.c.id == subject_id)
            ).scalar_one_or_none()
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

    def _profile_rows_core(self, wanted: list[str]) -> ProfileRows:
        """Relations (either side in ``wanted``), subjects and entries (SQLAlchemy Core, any
        database)."""
        r = db.relations.c
        s = db.subjects.c
        with self.engine.connect() as conn:
            links = [
                (row.org_id, row.role, row.person_id)
                for row in conn.execute(
                    sa.select(r.org_id, r.role, r.person_id).where(
                        sa.or_(r.org_id.in_(wanted), r.person_id.in_(wanted))
                    )
                )
            ]
            everyone = list(dict.fromkeys(wanted + [k[0] for k in links] + [k[2] for k in links]))
            known = {
                row.id: (row.kind, row.name, _iso(row.record_since), _iso(row.last_adverse_on))
                for row in conn.execute(
                    sa.select(s.id, s.kind, s.name, s.record_since, s.last_adverse_on).where(
                        s.id.in_(everyone)
                    )
                )
            }
            entries = self._entries_of(conn, everyone)
        return known, links, entries

    def _profile_rows_sqlite(self, wanted: list[str]) -> ProfileRows:
        """:meth:`_profile_rows_core` as plain SQL on the SQLite connection: the hot path of
        the sandbox, where building and compiling SQLAlchemy statements cost more than the
        queries. SQLite holds dates and times as the ISO text SQLAlchemy writes, served
        nearly as is."""
        marks = ",".join("?" * len(wanted))
        with self._cursor() as cur:
            # UNION ALL, no sorting for duplicates: a relation between two wanted ids comes
            # twice, and the dict keeps it once.
            links = list(
                dict.fromkeys(
                    cur.execute(
                        "SELECT org_id, role, person_id FROM relations "  # noqa: S608 - placeholders only
                        f"WHERE org_id IN ({marks}) UNION ALL SELECT org_id, role, person_id "
                        f"FROM relations WHERE person_id IN ({marks})",
                        wanted + wanted,
                    )
                )
            )
            owners = list(dict.fromkeys(wanted + [k[0] for k in links] + [k[2] for k in links]))
            owner_marks = ",".join("?" * len(owners))
            known = {
                row[0]: row[1:]
                for row in cur.execute(
                    "SELECT id, kind, name, record_since, last_adverse_on FROM subjects "  # noqa: S608 - placeholders only
                    f"WHERE id IN ({owner_marks})",
                    owners,
                )
            }
            entries: dict[str, list[dict[str, Any]]] = {i: [] for i in owners}
            rows = cur.execute(
                "SELECT entry_id, subject_id, list, category, authority, basis, listed_on, "  # noqa: S608 - placeholders only
                "expires_on, status, updated_at FROM entries "
                f"WHERE subject_id IN ({owner_marks}) AND deleted = 0 "
                "ORDER BY listed_on, entry_id",
                owners,
            )
            for (
                entry_id,
                sid,
                list_name,
                category,
                authority,
                basis,
                listed_on,
                expires_on,
                status,
                updated_at,
            ) in rows:
                entries[sid].append(
                    {
                        "entry_id": entry_id,
                        "subject_id": sid,
                        "list": list_name,
                        "category": category,
                        "authority": authority,
                        "basis": basis,
                        "listed_on": listed_on,
                        "expires_on": expires_on,
                        "status": status,
                        # stored "YYYY-MM-DD HH:MM:SS[.ffffff]", platform time
                        "updated_at": f"{updated_at[:10]}T{updated_at[11:19]}+08:00",
                    }
                )
        return known, links, entries

    def profile_rows(self, ids: Sequence[str]) -> ProfileRows:
        """What the profiles of ``ids`` are built from (the core builds them)."""
        wanted = list(dict.fromkeys(ids))
        if self.is_sqlite:
            return self._profile_rows_sqlite(wanted)
        return self._profile_rows_core(wanted)

    def profile(self, subject_id: str, kind: str) -> dict[str, Any]:
        """The contract's ``Profile`` for a valid subject id (empty when unknown)."""
        return self.profiles([(subject_id, kind)])[0]

    def profiles(self, ids: Sequence[tuple[str, str]]) -> list[dict[str, Any]]:
        """Profiles for valid ``(id, kind)`` pairs, in order."""
        rows = self.profile_rows([sid for sid, _ in ids])
        return build_profiles(ids, rows, db.format_ts(db.now()))

    # --- the change feed and the export ---------------------------------------------

    def max_seq(self) -> int:
        """The newest seq of the feed (0 when empty)."""
        with self.engine.connect() as conn:
            return self._max_seq(conn)

    @staticmethod
    def _max_seq(conn: Connection) -> int:
        return int(conn.execute(sa.select(sa.func.max(db.changes.c.seq))).scalar() or 0)

    def changes_after(self, after: int, limit: int) -> tuple[list[dict[str, Any]], int]:
        """Up to ``limit`` changes with seq > ``after``, oldest first, and the newest seq."""
        c = db.changes.c
        with self.engine.connect() as conn:
            rows = (
                conn.execute(
                    sa.select(c.seq, c.op, c.relation, *_ENTRY_COLUMNS)
                    .select_from(db.changes.outerjoin(db.entries, _E.entry_id == c.entry_id))
                    .where(c.seq > after)
                    .order_by(c.seq)
                    .limit(limit)
                )
                .mappings()
                .all()
            )
            newest = self._max_seq(conn)
        out = []
        for r in rows:
            if r["relation"] is not None:
                out.append({"seq": r["seq"], "op": r["op"], "relation": json.loads(r["relation"])})
            else:
                out.append({"seq": r["seq"], "op": r["op"], "entry": entry_json(r)})
        return out, newest

    @contextlib.contextmanager
    def export_snapshot(self) -> Iterator[tuple[int, int, Iterator[dict[str, Any]]]]:
        """``(max_seq, entry count, lines)`` read in one transaction, streamed: every live
        entry by id, then ``{"relation": …}`` for every relation."""
        r = db.relations.c
        with self.engine.connect() as conn, conn.begin():
            newest = self._max_seq(conn)
            count = int(
                conn.execute(
                    sa.select(sa.func.count()).select_from(db.entries).where(_E.deleted.is_(False))
                ).scalar()
                or 0
            )

            def rows() -> Iterator[dict[str, Any]]:
                result = conn.execution_options(yield_per=5000).execute(
                    sa.select(*_ENTRY_COLUMNS).where(_E.deleted.is_(False)).order_by(_E.entry_id)
                )
                for row in result.mappings():
                    yield entry_json(row)
                relations = conn.execution_options(yield_per=5000).execute(
                    sa.select(r.org_id, r.role, r.person_id, r.since).order_by(
                        r.org_id, r.role, r.person_id
                    )
                )
                for rel in relations:
                    yield {
                        "relation": {
                            "subject_id": rel.org_id,
                            "role": rel.role,
                            "related_id": rel.person_id,
                            "since": _iso(rel.since),
                        }
                    }

            yield newest, count, rows()

    def change_texts_after(self, after: int, limit: int) -> tuple[list[tuple[int, bytes]], int]:
        """:meth:`changes_after` with each change as its JSON text: ``[(seq, json)]`` and the
        newest seq. On SQLite the JSON is written by SQLite, so a page of changes is served
        without a Python object per value (the bulk of the feed's cost otherwise)."""
        if not self.is_sqlite:
            changes, newest = self.changes_after(after, limit)
            return [(int(ch["seq"]), json_bytes(ch)) for ch in changes], newest
        with self._snapshot() as cur:
            rows = cur.execute(_CHANGES_SQLITE, (after, limit)).fetchall()
            newest = cur.execute("SELECT max(seq) FROM changes").fetchone()[0]
        return rows, int(newest or 0)

    @contextlib.contextmanager
    def export_ndjson(self) -> Iterator[tuple[int, int, Iterator[bytes]]]:
        """:meth:`export_snapshot` as NDJSON: ``(max_seq, entry count, chunks)``, each chunk
        whole UTF-8 lines. On SQLite the lines are written by SQLite and fetched a batch at
        a time, all in one read transaction."""
        if not self.is_sqlite:
            with self.export_snapshot() as (newest, count, rows):
                yield newest, count, (json_bytes(row) + b"\n" for row in rows)
            return
        with self._snapshot() as cur:
            newest = int(cur.execute("SELECT max(seq) FROM changes").fetchone()[0] or 0)
            count = int(cur.execute("SELECT count(*) FROM entries WHERE deleted = 0").fetchone()[0])

            def chunks() -> Iterator[bytes]:
                for query in (_EXPORT_SQLITE, _EXPORT_RELATIONS_SQLITE):
                    cur.execute(query)
                    while rows := cur.fetchmany(_EXPORT_BATCH):
                        yield b"".join([row[0] for row in rows])

            yield newest, count, chunks()

    # --- journal records ---------------------------------------------------------

    def known_record_ids(self, ids: Sequence[str]) -> set[str]:
        """Which of ``ids`` are stored already."""
        if not ids:
            return set()
        with self.engine.connect() as conn:
            return set(
                conn.execute(
                    sa.select(db.records.c.id).where(db.records.c.id.in_(list(ids)))
                ).scalars()
            )


def _iso(value: Any) -> str | None:
    if isinstance(value, str):  # SQLite through the DBAPI: ISO text already
        return value
    return value.isoformat() if value is not None else None
