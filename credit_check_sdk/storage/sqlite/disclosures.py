"""The SQLite store of disclosures to make (双公示): ``data_dir/disclosures.sqlite3``.

A disclosure is a duty with a deadline (7 working days after the decision);
losing one would lose the duty, so the file is written with
``synchronous=FULL`` (on disk when the call returns).

>>> import tempfile, pathlib
>>> from datetime import date
>>> store = SQLiteDisclosures(pathlib.Path(tempfile.mkdtemp()) / "disclosures.sqlite3")
>>> store.add(DisclosureDuty("D-1", "licence", "91442000MA4UJ2KQ57", "中市监许〔2026〕1号",
...                      date(2026, 3, 2), date(2026, 3, 11), "食品经营许可"))
True
>>> store.mark_posted("D-1", date(2026, 3, 3)), store.get("D-1").on_time()
(True, True)
>>> store.close()
"""

from __future__ import annotations

import json
from datetime import date
from typing import Any, cast

from ..._exceptions import InvalidRequestError
from .._data import DISCLOSURE_KINDS, DisclosureDuty, DisclosureKind
from ._localstore import LocalStore
from ._schema import STEPS

__all__ = ["SQLiteDisclosures"]

_COLUMNS = (
    "disclosure_id, kind, subject_id, decision_no, decided_on, due_on, title, content,"
    " check_id, posted, published_on"
)


def _disclosure(row: tuple[Any, ...]) -> DisclosureDuty:
    did, kind, subject_id, decision_no, decided_on, due_on, title, content = row[:8]
    check_id, posted, published_on = row[8:]
    return DisclosureDuty(
        disclosure_id=did,
        kind=cast(DisclosureKind, kind),
        subject_id=subject_id,
        decision_no=decision_no,
        decided_on=date.fromisoformat(decided_on),
        due_on=date.fromisoformat(due_on),
        title=title,
        content=json.loads(content),
        check_id=check_id,
        posted=bool(posted),
        published_on=date.fromisoformat(published_on) if published_on else None,
    )


def _content(disclosure: DisclosureDuty) -> str:
    try:
        return json.dumps(disclosure.content, ensure_ascii=False, sort_keys=True, allow_nan=False)
    except (TypeError, ValueError) as exc:
        raise InvalidRequestError(f"disclosure content is not JSON: {exc}") from exc


class SQLiteDisclosures(LocalStore):
    """The disclosures of one install (see :class:`~credit_check_sdk.storage.DisclosureStore`)."""

    STEPS = STEPS["disclosures"]
    SYNCHRONOUS = "FULL"

    def add(self, disclosure: DisclosureDuty) -> bool:
        """Keep a disclosure to make; ``False`` when the same one is kept already; the same
        id with another body raises :class:`~credit_check_sdk.InvalidRequestError`."""
        if disclosure.kind not in DISCLOSURE_KINDS:
            raise InvalidRequestError(
                f"a disclosure's kind is licence or penalty, not {disclosure.kind!r}"
            )
        if not disclosure.disclosure_id:
            raise InvalidRequestError("a disclosure needs an id")
        content = _content(disclosure)
        values = (
            disclosure.disclosure_id,
            disclosure.kind,
            disclosure.subject_id,
            disclosure.decision_no,
            disclosure.decided_on.isoformat(),
            disclosure.due_on.isoformat(),
            disclosure.title,
            content,
            disclosure.check_id,
        )
        with self._transaction() as conn:
            row = conn.execute(
                "SELECT disclosure_id, kind, subject_id, decision_no, decided_on, due_on, title,"
                " content, check_id FROM disclosures WHERE disclosure_id = ?",
                (disclosure.disclosure_id,),
            ).fetchone()
            if row is None:
                conn.execute(
                    "INSERT INTO disclosures (disclosure_id, kind, subject_id, decision_no,"
                    " decided_on, due_on, title, content, check_id)"
                    " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
                    values,
                )
                return True
        if tuple(row) != values:
            raise InvalidRequestError(
                f"disclosure {disclosure.disclosure_id!r} is kept already with another body"
            )
        return False

    def get(self, disclosure_id: str) -> DisclosureDuty | None:
        """The disclosure with this id, or ``None``."""
        rows = self._query(
            f"SELECT {_COLUMNS} FROM disclosures WHERE disclosure_id = ?",  # noqa: S608 - a fixed column list
            (disclosure_id,),
        )
        return _disclosure(rows[0]) if rows else None

    def mark_posted(self, disclosure_id: str, published_on: date) -> bool:
        """Keep the platform's receipt; ``False`` when the id is unknown. A receipt kept
        before stays."""
        with self._transaction() as conn:
            cur = conn.execute(
                "UPDATE disclosures SET posted = 1, published_on = COALESCE(published_on, ?)"
                " WHERE disclosure_id = ?",
                (published_on.isoformat(), disclosure_id),
            )
            return cur.rowcount > 0

    def select(
        self,
        *,
        kind: DisclosureKind | None = None,
        unposted: bool = False,
        due_before: date | None = None,
        decided_from: date | None = None,
        decided_before: date | None = None,
    ) -> list[DisclosureDuty]:
        """Disclosures matching every filter given, by due day then id."""
        where: list[str] = []
        args: list[str] = []
        if kind is not None:
            where.append("kind = ?")
            args.append(kind)
        if unposted:
            where.append("posted = 0")
        for column, op, day in (
            ("due_on", "<", due_before),
            ("decided_on", ">=", decided_from),
            ("decided_on", "<", decided_before),
        ):
            if day is not None:
                where.append(f"{column} {op} ?")
                args.append(day.isoformat())
        sql = f"SELECT {_COLUMNS} FROM disclosures"  # noqa: S608 - a fixed column list
        if where:
            sql += " WHERE " + " AND ".join(where)
        rows = self._query(sql + " ORDER BY due_on, disclosure_id", tuple(args))
        return [_disclosure(r) for r in rows]
