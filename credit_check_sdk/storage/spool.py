"""The durable local spool: records the shared database could not take in time, in ``data_dir``.

When PostgreSQL cannot take a check's record within what is left of the check's
``timeout`` (it is down, unreachable, restarting, too slow), the record is not
lost and the check is not held up: it goes here, into ``data_dir/spool.sqlite3``
(WAL, ``synchronous=FULL``: on disk before ``must_check`` returns), unchained.
While the spool holds anything, later records go behind it, so that their order
is kept. As soon as the database answers, the SDK's background runner moves them
into it in order, chaining each one to its writer's head at that moment; one
already there (its commit went through but the answer was lost) is not stored
twice. A record whose id the database holds for *another* record is set aside in
the spool's ``refused`` table and logged, never dropped.

``spool.pending`` beside the file says "the spool holds something" with one
``stat`` per append: it is made in the same SQLite transaction as the first
record and removed in the one that finds the spool empty.

>>> import tempfile, pathlib
>>> from credit_check_sdk.storage._journal_core import prepare_record
>>> folder = pathlib.Path(tempfile.mkdtemp())
>>> spool = Spool(folder)
>>> spool.put([prepare_record({"type": "check", "id": "c1",
...     "checked_at": "2026-11-29T08:00:00+08:00"}, None)], reason="database down")
>>> Spool.holds_records(folder), spool.get("c1")["id"], spool.status()["records"]
(True, 'c1', 1)
>>> spool.remove([seq for seq, _, _ in spool.head(10)]); spool.settle(), Spool.holds_records(folder)
(0, False)
>>> spool.close()
"""

from __future__ import annotations

import contextlib
import json
import os
import sqlite3
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, ClassVar

from .._exceptions import JournalError
from .._files import make_private_dir
from .._fork import ShortLock
from .._ids import mask_ids_in
from ._journal_core import GroupCommit, PreparedRecord, utc_text
from .sqlite._localstore import LocalStore
from .sqlite.snapshot_build import BuildLock

__all__ = ["MARKER_FILE", "SPOOL_FILE", "Spool"]

#: The spool's file in ``data_dir``.
SPOOL_FILE = "spool.sqlite3"
#: Present while the spool holds records.
MARKER_FILE = "spool.pending"
#: Held by the process moving the spool into the database.
LOCK_FILE = "spool.lock"

SPOOL_V1 = """
CREATE TABLE IF NOT EXISTS spooled (
    seq         INTEGER PRIMARY KEY AUTOINCREMENT,
    id          TEXT NOT NULL UNIQUE,
    record      TEXT NOT NULL,
    inputs      TEXT,
    spooled_at  TEXT NOT NULL,
    reason      TEXT
);
CREATE TABLE IF NOT EXISTS refused (
    id          TEXT NOT NULL,
    record      TEXT NOT NULL,
    inputs      TEXT,
    spooled_at  TEXT NOT NULL,
    refused_at  TEXT NOT NULL,
    detail      TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT)
"""


def _now() -> str:
    return utc_text(datetime.now(timezone.utc))


class Spool(LocalStore):
    """The spool of one ``data_dir`` (shared by the processes of that ``data_dir``).

    ``put`` is durable when it returns (group commit: one ``fsync`` for the
    records of every thread waiting meanwhile).
    """

    STEPS: ClassVar[dict[int, str]] = {1: SPOOL_V1}
    SYNCHRONOUS = "FULL"

    def __init__(self, data_dir: Path) -> None:
        self.data_dir = Path(data_dir)
        self.marker = self.data_dir / MARKER_FILE
        make_private_dir(self.data_dir)
        super().__init__(self.data_dir / SPOOL_FILE)
        self._group = GroupCommit(ShortLock(), self._write, path=self.path)

    @staticmethod
    def holds_records(data_dir: Path) -> bool:
        """Whether the spool of ``data_dir`` holds records (one ``stat``; no file opened).

        >>> Spool.holds_records(Path("/nonexistent"))
        False
        """
        return os.path.exists(Path(data_dir) / MARKER_FILE)

    @staticmethod
    def exists(data_dir: Path) -> bool:
        """Whether ``data_dir`` has a spool file at all (an instance that only reads has none)."""
        return os.path.exists(Path(data_dir) / SPOOL_FILE)

    # --- writing --------------------------------------------------------------------

    def put(self, prepared: list[PreparedRecord], *, reason: str) -> None:
        """Keep ``prepared`` records, in order, durably; each comes back unchained
        (``prev_hash`` and ``hash`` ``None``). A record whose id the spool holds
        already fails alone (:class:`~credit_check_sdk.JournalError`)."""
        for p in prepared:
            p.record["prev_hash"] = None
            p.record["hash"] = None
            p.done = False
            p.error = None
        self._reason = mask_ids_in(reason)
        self._group.submit(prepared)

    def _write(self, batch: list[PreparedRecord]) -> None:
        at = _now()
        reason = getattr(self, "_reason", None)
        try:
            with self._transaction() as conn:
                # The marker is made under the spool's write lock: settle() removes it
                # under the same lock only when the spool is empty.
                with open(self.marker, "ab"):
                    pass
                for p in batch:
                    body = {k: v for k, v in p.record.items() if k not in ("prev_hash", "hash")}
                    try:
                        conn.execute(
                            "INSERT INTO spooled (id, record, inputs, spooled_at, reason)"
                            " VALUES (?, ?, ?, ?, ?)",
                            (
                                p.record["id"],
                                json.dumps(body, ensure_ascii=False),
                                p.inputs,
                                at,
                                reason,
                            ),
                        )
                    except sqlite3.IntegrityError:
                        p.error = JournalError(
                            f"spool {self.path}: record {p.record['id']!r} is spooled already"
                            " (an id may be journaled once)",
                            path=self.path,
                        )
                conn.execute(
                    "INSERT OR REPLACE INTO meta (key, value) VALUES ('last_error', ?),"
                    " ('last_error_at', ?)",
                    (reason, at),
                )
        except (sqlite3.Error, OSError) as exc:
            raise JournalError(
                f"spool {self.path}: cannot keep records: {exc}", path=self.path
            ) from exc

    def note_error(self, error: str) -> None:
        """Remember why the database could not take the spool (for ``health()``)."""
        with contextlib.suppress(JournalError, sqlite3.Error):
            self._query(
                "INSERT OR REPLACE INTO meta (key, value) VALUES ('last_error', ?),"
                " ('last_error_at', ?)",
                (mask_ids_in(error), _now()),
            )

    # --- draining ---------------------------------------------------------------------

    def head(self, limit: int) -> list[tuple[int, dict[str, Any], str | None]]:
        """The oldest ``limit`` records: ``(seq, record, inputs JSON)``, in spool order."""
        rows = self._query(
            "SELECT seq, record, inputs FROM spooled ORDER BY seq LIMIT ?", (int(limit),)
        )
        return [(int(seq), json.loads(record), inputs) for seq, record, inputs in rows]

    def remove(self, seqs: list[int]) -> None:
        """Forget records the database holds now."""
        if not seqs:
            return
        with self._transaction() as conn:
            conn.executemany("DELETE FROM spooled WHERE seq = ?", [(s,) for s in seqs])

    def refuse(self, seq: int, detail: str) -> None:
        """Set record ``seq`` aside: the database cannot take it (its id names another record)."""
        with self._transaction() as conn:
            conn.execute(
                "INSERT INTO refused (id, record, inputs, spooled_at, refused_at, detail)"
                " SELECT id, record, inputs, spooled_at, ?, ? FROM spooled WHERE seq = ?",
                (_now(), detail, seq),
            )
            conn.execute("DELETE FROM spooled WHERE seq = ?", (seq,))

    def settle(self) -> int:
        """How many records the spool holds; when none, the marker goes (same transaction)."""
        with self._transaction() as conn:
            (count,) = conn.execute("SELECT COUNT(*) FROM spooled").fetchone()
            if count == 0:
                with contextlib.suppress(FileNotFoundError):
                    self.marker.unlink()
                conn.execute("DELETE FROM meta WHERE key IN ('last_error', 'last_error_at')")
            elif not self.marker.exists():
                with open(self.marker, "ab"):
                    pass
        return int(count)

    def drain_lock(self) -> BuildLock:
        """The lock whoever moves the spool holds (one process of the ``data_dir`` at a time)."""
        return BuildLock(self.data_dir / LOCK_FILE)

    # --- reading ----------------------------------------------------------------------

    def get(self, id: str) -> dict[str, Any] | None:
        """The spooled record with this id (unchained), or ``None``."""
        rows = self._query("SELECT record FROM spooled WHERE id = ?", (id,))
        if not rows:
            return None
        record: dict[str, Any] = json.loads(rows[0][0])
        record.setdefault("prev_hash", None)
        record.setdefault("hash", None)
        return record

    def inputs_for(self, check_id: str) -> dict[str, Any] | None:
        """The inputs of spooled check ``check_id``, or ``None``."""
        rows = self._query("SELECT inputs FROM spooled WHERE id = ?", (check_id,))
        if not rows or rows[0][0] is None:
            return None
        value: dict[str, Any] = json.loads(rows[0][0])
        return value

    def status(self) -> dict[str, Any]:
        """``records`` waiting, the ``oldest`` one's spool time, ``last_error`` (why the
        database did not take them) and its time, ``refused`` records set aside.

        >>> spool.status()["records"]  # doctest: +SKIP
        0
        """
        ((count, oldest),) = self._query("SELECT COUNT(*), MIN(spooled_at) FROM spooled")
        ((refused,),) = self._query("SELECT COUNT(*) FROM refused")
        meta = dict(self._query("SELECT key, value FROM meta"))
        return {
            "records": int(count),
            "oldest": oldest,
            "last_error": meta.get("last_error"),
            "last_error_at": meta.get("last_error_at"),
            "refused": int(refused),
            "path": self.path,
        }

    def refused(self) -> list[dict[str, Any]]:
        """The records set aside, with why (for an operator to look at)."""
        rows = self._query("SELECT id, record, refused_at, detail FROM refused ORDER BY refused_at")
        return [
            {"id": rid, "record": json.loads(record), "refused_at": at, "detail": detail}
            for rid, record, at, detail in rows
        ]
