"""Written commitments (书面承诺) under tolerance, kept in a small SQLite file."""

from __future__ import annotations

import json
import os
import sqlite3
import threading
from collections.abc import Iterator
from contextlib import closing, contextmanager
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import Any, Literal

__all__ = ["Commitment", "CommitmentStatus", "CommitmentStore"]

CommitmentStatus = Literal["open", "fulfilled", "breached"]

_SCHEMA = """
CREATE TABLE IF NOT EXISTS commitments (
    commitment_id TEXT PRIMARY KEY,
    check_id      TEXT NOT NULL,
    subject_id    TEXT NOT NULL,
    matter_code   TEXT,
    case_id       TEXT,
    documents     TEXT NOT NULL,
    made_on       TEXT NOT NULL,
    due_on        TEXT NOT NULL,
    status        TEXT NOT NULL DEFAULT 'open',
    resolved_on   TEXT,
    posted        INTEGER NOT NULL DEFAULT 0
);
CREATE INDEX IF NOT EXISTS commitments_open ON commitments (status, due_on);
"""


@dataclass(frozen=True)
class Commitment:
    """An applicant's written commitment to supply missing documents by ``due_on``.

    ``posted`` tells whether the platform has it (``POST /v1/commitments``);
    one made while the platform was down is posted by ``LicensingFlow.sync``.
    """

    commitment_id: str
    check_id: str
    subject_id: str
    matter_code: str | None
    case_id: str | None
    documents: tuple[str, ...]
    made_on: date
    due_on: date
    status: CommitmentStatus = "open"
    resolved_on: date | None = None
    posted: bool = False

    def overdue(self, today: date) -> bool:
        """Open and past its due day.

        >>> c = Commitment("c1", "k1", "91442000MA4UJ2KQ57", "L-1", "C-1", ("场地证明",),
        ...                date(2026, 2, 12), date(2026, 3, 4))
        >>> c.overdue(date(2026, 3, 4)), c.overdue(date(2026, 3, 5))
        (False, True)
        """
        return self.status == "open" and today > self.due_on

    def platform_body(self) -> dict[str, Any]:
        """The body of ``POST /v1/commitments``."""
        return {
            "commitment_id": self.commitment_id,
            "subject_id": self.subject_id,
            "check_id": self.check_id,
            "matter": {"category": "licensing", "code": self.matter_code, "case_id": self.case_id},
            "documents": list(self.documents),
            "due_on": self.due_on.isoformat(),
        }


def _row(row: sqlite3.Row) -> Commitment:
    return Commitment(
        commitment_id=row["commitment_id"],
        check_id=row["check_id"],
        subject_id=row["subject_id"],
        matter_code=row["matter_code"],
        case_id=row["case_id"],
        documents=tuple(json.loads(row["documents"])),
        made_on=date.fromisoformat(row["made_on"]),
        due_on=date.fromisoformat(row["due_on"]),
        status=row["status"],
        resolved_on=date.fromisoformat(row["resolved_on"]) if row["resolved_on"] else None,
        posted=bool(row["posted"]),
    )


class CommitmentStore:
    """The commitments of one install, in ``path`` (created on first use)."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._lock = threading.Lock()
        # Created 0600 before SQLite opens it (its journal files take the same mode):
        # it holds the applicants' ids.
        os.close(os.open(path, os.O_RDWR | os.O_CREAT, 0o600))
        with self._connect() as db:
            db.executescript(_SCHEMA)

    @contextmanager
    def _connect(self) -> Iterator[sqlite3.Connection]:
        with self._lock, closing(sqlite3.connect(self.path, timeout=10)) as db:
            db.row_factory = sqlite3.Row
            with db:  # one transaction
                yield db

    def add(self, commitment: Commitment) -> None:
        with self._connect() as db:
            db.execute(
                "INSERT INTO commitments VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                (
                    commitment.commitment_id,
                    commitment.check_id,
                    commitment.subject_id,
                    commitment.matter_code,
                    commitment.case_id,
                    json.dumps(list(commitment.documents), ensure_ascii=False),
                    commitment.made_on.isoformat(),
                    commitment.due_on.isoformat(),
                    commitment.status,
                    commitment.resolved_on.isoformat() if commitment.resolved_on else None,
                    int(commitment.posted),
                ),
            )

    def get(self, commitment_id: str) -> Commitment | None:
        with self._connect() as db:
            row = db.execute(
                "SELECT * FROM commitments WHERE commitment_id = ?", (commitment_id,)
            ).fetchone()
        return _row(row) if row is not None else None

    def mark_posted(self, commitment_id: str) -> None:
        with self._connect() as db:
            db.execute(
                "UPDATE commitments SET posted = 1 WHERE commitment_id = ?", (commitment_id,)
            )

    def resolve(self, commitment_id: str, status: CommitmentStatus, on: date) -> None:
        with self._connect() as db:
            db.execute(
                "UPDATE commitments SET status = ?, resolved_on = ? WHERE commitment_id = ?",
                (status, on.isoformat(), commitment_id),
            )

    def select(
        self,
        *,
        status: CommitmentStatus | None = None,
        due_before: date | None = None,
        unposted: bool = False,
    ) -> list[Commitment]:
        where: list[str] = []
        args: list[str] = []
        if status is not None:
            where.append("status = ?")
            args.append(status)
        if due_before is not None:
            where.append("due_on < ?")
            args.append(due_before.isoformat())
        if unposted:
            where.append("posted = 0")
        sql = "SELECT * FROM commitments"
        if where:
            sql += " WHERE " + " AND ".join(where)
        with self._connect() as db:
            rows = db.execute(sql + " ORDER BY due_on, made_on, commitment_id", args).fetchall()
        return [_row(r) for r in rows]
