"""Written commitments (书面承诺) and disclosures (双公示) in the shared database.

Every instance's commitments and disclosures in ``cc_commitments`` and
``cc_disclosures``: a follow-up due is seen by whichever instance looks, and the
report counts them all. Each write is its own transaction, committed with
``synchronous_commit`` on (on disk when the call returns). Rows and rules are
those of the SQLite stores (:mod:`credit_check_sdk.storage.sqlite.commitments`,
:mod:`credit_check_sdk.storage.sqlite.disclosures`).

>>> storage.commitments.select(status="open")  # doctest: +SKIP
[]
"""

from __future__ import annotations

import json
from datetime import date

from ..._exceptions import InvalidRequestError
from .._data import DISCLOSURE_KINDS, Commitment, CommitmentStatus, DisclosureDuty, DisclosureKind
from ..sqlite.commitments import _COLUMNS as _COMMITMENT_COLUMNS
from ..sqlite.commitments import _commitment
from ..sqlite.disclosures import _COLUMNS as _DISCLOSURE_COLUMNS
from ..sqlite.disclosures import _content, _disclosure
from ._database import Database

__all__ = ["PostgresCommitments", "PostgresDisclosures"]


def _filters(clauses: list[tuple[str, object]]) -> tuple[str, tuple[object, ...]]:
    where = [sql for sql, _ in clauses]
    args = tuple(value for _, value in clauses if value is not _NO_VALUE)
    return (" WHERE " + " AND ".join(where) if where else ""), args


_NO_VALUE = object()


class PostgresCommitments:
    """Every instance's commitments (see :class:`~credit_check_sdk.storage.CommitmentStore`).

    >>> PostgresCommitments(db).get("CM-1") is None  # doctest: +SKIP
    True
    """

    def __init__(self, db: Database) -> None:
        self._db = db

    def add(self, commitment: Commitment) -> None:
        """Keep a new commitment; an id kept before raises ``JournalError``.

        >>> storage.commitments.add(commitment)  # doctest: +SKIP
        """
        self._db.execute(
            f"INSERT INTO cc_commitments ({_COMMITMENT_COLUMNS})"  # noqa: S608 - fixed names
            " VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s)",
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
        """The commitment with this id, or ``None``.

        >>> storage.commitments.get("CM-1")  # doctest: +SKIP
        """
        rows = self._db.query(
            f"SELECT {_COMMITMENT_COLUMNS} FROM cc_commitments"  # noqa: S608 - fixed names
            " WHERE commitment_id = %s",
            (commitment_id,),
        )
        return _commitment(rows[0]) if rows else None

    def mark_posted(self, commitment_id: str) -> None:
        """Note that the platform has the commitment.

        >>> storage.commitments.mark_posted("CM-1")  # doctest: +SKIP
        """
        self._db.execute(
            "UPDATE cc_commitments SET posted = 1 WHERE commitment_id = %s", (commitment_id,)
        )

    def resolve(self, commitment_id: str, status: CommitmentStatus, on: date) -> None:
        """Close a commitment as ``fulfilled`` or ``breached`` on day ``on``.

        >>> storage.commitments.resolve("CM-1", "fulfilled", date(2026, 12, 1))  # doctest: +SKIP
        """
        self._db.execute(
            "UPDATE cc_commitments SET status = %s, resolved_on = %s WHERE commitment_id = %s",
            (status, on.isoformat(), commitment_id),
        )

    def select(
        self,
        *,
        status: CommitmentStatus | None = None,
        due_before: date | None = None,
        unposted: bool = False,
    ) -> list[Commitment]:
        """Commitments matching every filter given, by due day, day made, then id.

        >>> storage.commitments.select(status="open")  # doctest: +SKIP
        []
        """
        clauses: list[tuple[str, object]] = []
        if status is not None:
            clauses.append(("status = %s", status))
        if due_before is not None:
            clauses.append(("due_on < %s", due_before.isoformat()))
        if unposted:
            clauses.append(("posted = 0", _NO_VALUE))
        where, args = _filters(clauses)
        rows = self._db.query(
            f"SELECT {_COMMITMENT_COLUMNS} FROM cc_commitments{where}"  # noqa: S608 - fixed fragments
            " ORDER BY due_on, made_on, commitment_id",
            args,
        )
        return [_commitment(r) for r in rows]

    def close(self) -> None:
        """Nothing of its own to release.

        >>> storage.commitments.close()  # doctest: +SKIP
        """


class PostgresDisclosures:
    """Every instance's disclosures (see :class:`~credit_check_sdk.storage.DisclosureStore`).

    >>> PostgresDisclosures(db).get("D-1") is None  # doctest: +SKIP
    True
    """

    def __init__(self, db: Database) -> None:
        self._db = db

    def add(self, disclosure: DisclosureDuty) -> bool:
        """Keep a disclosure to make; ``False`` when the same one is kept already; the same
        id with another body raises :class:`~credit_check_sdk.InvalidRequestError`.

        >>> storage.disclosures.add(duty)  # doctest: +SKIP
        True
        """
        if disclosure.kind not in DISCLOSURE_KINDS:
            raise InvalidRequestError(
                f"a disclosure's kind is licence or penalty, not {disclosure.kind!r}"
            )
        if not disclosure.disclosure_id:
            raise InvalidRequestError("a disclosure needs an id")
        values = (
            disclosure.disclosure_id,
            disclosure.kind,
            disclosure.subject_id,
            disclosure.decision_no,
            disclosure.decided_on.isoformat(),
            disclosure.due_on.isoformat(),
            disclosure.title,
            _content(disclosure),
            disclosure.check_id,
        )
        inserted = self._db.execute(
            "INSERT INTO cc_disclosures (disclosure_id, kind, subject_id, decision_no,"
            " decided_on, due_on, title, content, check_id)"
            " VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s) ON CONFLICT (disclosure_id) DO NOTHING",
            values,
        )
        if inserted:
            return True
        rows = self._db.query(
            "SELECT disclosure_id, kind, subject_id, decision_no, decided_on, due_on, title,"
            " content, check_id FROM cc_disclosures WHERE disclosure_id = %s",
            (disclosure.disclosure_id,),
        )
        if not rows or tuple(rows[0]) != values:
            raise InvalidRequestError(
                f"disclosure {disclosure.disclosure_id!r} is kept already with another body"
            )
        return False

    def get(self, disclosure_id: str) -> DisclosureDuty | None:
        """The disclosure with this id, or ``None``.

        >>> storage.disclosures.get("D-1")  # doctest: +SKIP
        """
        rows = self._db.query(
            f"SELECT {_DISCLOSURE_COLUMNS} FROM cc_disclosures"  # noqa: S608 - fixed names
            " WHERE disclosure_id = %s",
            (disclosure_id,),
        )
        return _disclosure(rows[0]) if rows else None

    def mark_posted(self, disclosure_id: str, published_on: date) -> bool:
        """Keep the platform's receipt; ``False`` when the id is unknown (a receipt kept
        before stays).

        >>> storage.disclosures.mark_posted("D-1", date(2026, 12, 1))  # doctest: +SKIP
        True
        """
        return (
            self._db.execute(
                "UPDATE cc_disclosures SET posted = 1, published_on = COALESCE(published_on, %s)"
                " WHERE disclosure_id = %s",
                (published_on.isoformat(), disclosure_id),
            )
            > 0
        )

    def select(
        self,
        *,
        kind: DisclosureKind | None = None,
        unposted: bool = False,
        due_before: date | None = None,
        decided_from: date | None = None,
        decided_before: date | None = None,
    ) -> list[DisclosureDuty]:
        """Disclosures matching every filter given, by due day then id.

        >>> storage.disclosures.select(unposted=True)  # doctest: +SKIP
        []
        """
        clauses: list[tuple[str, object]] = []
        if kind is not None:
            clauses.append(("kind = %s", kind))
        if unposted:
            clauses.append(("posted = 0", _NO_VALUE))
        for column, op, day in (
            ("due_on", "<", due_before),
            ("decided_on", ">=", decided_from),
            ("decided_on", "<", decided_before),
        ):
            if day is not None:
                clauses.append((f"{column} {op} %s", day.isoformat()))
        where, args = _filters(clauses)
        rows = self._db.query(
            f"SELECT {_DISCLOSURE_COLUMNS} FROM cc_disclosures{where}"  # noqa: S608 - fixed fragments
            " ORDER BY due_on, disclosure_id",
            args,
        )
        return [_disclosure(r) for r in rows]

    def close(self) -> None:
        """Nothing of its own to release.

        >>> storage.disclosures.close()  # doctest: +SKIP
        """
