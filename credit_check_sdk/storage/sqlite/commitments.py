"""The SQLite store of written commitments (书面承诺): ``data_dir/licensing-commitments.sqlite3``.

A commitment is a promise the applicant signed; losing one would lose the
duty to follow it up, so the file is written with ``synchronous=FULL`` (on disk
when the call returns).

>>> import tempfile, pathlib
>>> from datetime import date
>>> store = SQLiteCommitments(pathlib.Path(tempfile.mkdtemp()) / "licensing-commitments.sqlite3")
>>> store.add(Commitment("c1", "k1", "91442000MA4UJ2KQ57", "L-1", "C-1", ("场地证明",),
...                      date(2026, 2, 12), date(2026, 3, 4)))
>>> [c.commitment_id for c in store.select(status="open")]
['c1']
>>> store.close()
"""

from __future__ import annotations

import json
from datetime import date
from typing import Any

from .._data import Commitment, CommitmentStatus
from ._localstore import LocalStore
from ._schema import STEPS

__all__ = ["SQLiteCommitments"]

_COLUMNS = (
    "commitment_id, check_id, subject_id, matter_code, case_id, documents, made_on, due_on,"
    " status, resolved_on, posted"
)


def _commitment(row: tuple[Any, ...]) -> Commitment:
    (cid, check_id, subject_id, code, case_id, documents, made_on, due_on) = row[:8]
    status, resolved_on, posted = row[8:]
    return Commitment(
        commitment_id=cid,
        check_id=check_id,
        subject_id=subject_id,
        matter_code=code,
        case_id=case_id,
        documents=tuple(json.loads(documents)),
        made_on=date.fromisoformat(made_on),
        due_on=date.fromisoformat(due_on),
        status=status,
        resolved_on=date.fromisoformat(resolved_on) if resolved_on else None,
        posted=bool(posted),
    )


class SQLiteCommitments(LocalStore):
    """The commitments of one install (see :class:`~credit_check_sdk.storage.CommitmentStore`)."""

    STEPS = STEPS["commitments"]
    SYNCHRONOUS = "FULL"

    def add(self, commitment: Commitment) -> None:
        """Keep a new commitment; an id kept before raises ``JournalError``."""
        self._query(
            f"INSERT INTO commitments ({_COLUMNS}) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",  # noqa: S608 - a fixed column list
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
        """The commitment with this id, or ``None``."""
        rows = self._query(
            f"SELECT {_COLUMNS} FROM commitments WHERE commitment_id = ?",  # noqa: S608 - a fixed column list
            (commitment_id,),
        )
        return _commitment(rows[0]) if rows else None

    def mark_posted(self, commitment_id: str) -> None:
        """Note that the platform has the commitment."""
        self._query("UPDATE commitments SET posted = 1 WHERE commitment_id = ?", (commitment_id,))

    def resolve(self, commitment_id: str, status: CommitmentStatus, on: date) -> None:
        """Close a commitment as ``fulfilled`` or ``breached`` on day ``on``."""
        self._query(
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
        """Commitments matching every filter given, by due day, day made, then id."""
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
        sql = f"SELECT {_COLUMNS} FROM commitments"  # noqa: S608 - a fixed column list
        if where:
            sql += " WHERE " + " AND ".join(where)
        rows = self._query(sql + " ORDER BY due_on, made_on, commitment_id", tuple(args))
        return [_commitment(r) for r in rows]
