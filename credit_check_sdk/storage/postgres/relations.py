"""Relations learnt from live profiles, in the shared database (``cc_learnt`` and
``cc_learnt_relations``): what one instance learnt, every instance can decide from
offline. Rules as the SQLite store's (:mod:`credit_check_sdk.storage.sqlite.relations`):
a subject's relations are replaced by each newer live profile; unchanged ones are
written again at most hourly; an older profile is ignored.

>>> storage.relations.counts()  # doctest: +SKIP
{'subjects': 0, 'relations': 0}
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime
from typing import Any, cast

from ... import _relations
from ..._models import Profile, RelatedRole
from ..._time import now
from .._data import LearntRelation, LearntRelations
from ..sqlite.relations import _REWRITE_AFTER, _kind
from ._database import Database

__all__ = ["PostgresRelations"]


class PostgresRelations:
    """Every instance's learnt relations (see :class:`~credit_check_sdk.storage.RelationStore`).

    >>> PostgresRelations(db).counts()  # doctest: +SKIP
    {'subjects': 0, 'relations': 0}
    """

    def __init__(self, db: Database) -> None:
        self._db = db

    def learn(self, profiles: Iterable[Profile]) -> int:
        """Replace each subject's relations with those of its live profile (one transaction);
        how many subjects were written.

        >>> storage.relations.learn([profile])  # doctest: +SKIP
        1
        """
        latest: dict[str, Profile] = {}
        for profile in profiles:
            seen = latest.get(profile.subject.id)
            if seen is None or profile.as_of >= seen.as_of:
                latest[profile.subject.id] = profile
        if not latest:
            return 0
        stored: dict[str, tuple[float, set[tuple[str, str, str]]]] = {}
        for subject_id, as_of_ts, role, related_id, kind in self._db.query(
            "SELECT l.subject_id, l.as_of_ts, r.role, r.related_id, r.related_kind"
            " FROM cc_learnt l LEFT JOIN cc_learnt_relations r ON r.subject_id = l.subject_id"
            " WHERE l.subject_id = ANY(%s)",
            (list(latest),),
        ):
            entry = stored.setdefault(subject_id, (float(as_of_ts), set()))
            if role is not None:
                entry[1].add((role, related_id, kind))
        todo: dict[str, Profile] = {}
        for subject_id, profile in latest.items():
            if subject_id not in stored:
                if profile.related:
                    todo[subject_id] = profile
                continue
            as_of_ts, relations = stored[subject_id]
            wanted = {(r.role, r.subject.id, r.subject.kind) for r in profile.related}
            age = profile.as_of.timestamp() - as_of_ts
            if age < 0 or (relations == wanted and age < _REWRITE_AFTER):
                continue  # older than what is kept, or unchanged and recent
            todo[subject_id] = profile
        if not todo:
            return 0
        learnt_at = now().isoformat()
        written = 0
        with self._db.transaction() as conn:
            for subject_id, profile in sorted(todo.items()):  # sorted: one lock order
                if self._replace(conn, subject_id, profile, learnt_at):
                    written += 1
        return written

    @staticmethod
    def _replace(conn: Any, subject_id: str, profile: Profile, learnt_at: str) -> bool:
        as_of_ts = profile.as_of.timestamp()
        row = conn.execute(
            "INSERT INTO cc_learnt (subject_id, as_of, as_of_ts, learnt_at)"
            " VALUES (%s, %s, %s, %s) ON CONFLICT (subject_id) DO UPDATE"
            " SET as_of = EXCLUDED.as_of, as_of_ts = EXCLUDED.as_of_ts,"
            " learnt_at = EXCLUDED.learnt_at WHERE cc_learnt.as_of_ts <= EXCLUDED.as_of_ts"
            " RETURNING subject_id",
            (subject_id, profile.as_of.isoformat(), as_of_ts, learnt_at),
        ).fetchone()
        if row is None:
            return False  # another instance kept a newer profile meanwhile
        conn.execute("DELETE FROM cc_learnt_relations WHERE subject_id = %s", (subject_id,))
        with conn.cursor() as cur:
            cur.executemany(
                "INSERT INTO cc_learnt_relations (subject_id, role, related_id, related_kind)"
                " VALUES (%s, %s, %s, %s) ON CONFLICT DO NOTHING",
                [(subject_id, r.role, r.subject.id, r.subject.kind) for r in profile.related],
            )
        return True

    def known(
        self, subject_id: str, *, max_age: float, at: datetime | None = None
    ) -> LearntRelations | None:
        """The subject's learnt relations, or ``None`` when none are known or too old.

        >>> storage.relations.known(uscc, max_age=86400)  # doctest: +SKIP
        """
        rows = self._db.query(
            "SELECT l.as_of, l.learnt_at, r.role, r.related_id, r.related_kind"
            " FROM cc_learnt l JOIN cc_learnt_relations r ON r.subject_id = l.subject_id"
            " WHERE l.subject_id = %s ORDER BY r.role, r.related_id",
            (subject_id,),
        )
        if not rows:
            return None
        learnt = LearntRelations(
            subject_id=subject_id,
            as_of=datetime.fromisoformat(rows[0][0]),
            learnt_at=datetime.fromisoformat(rows[0][1]),
            relations=tuple(
                LearntRelation(cast(RelatedRole, role), related_id, _kind(kind))
                for _as_of, _learnt_at, role, related_id, kind in rows
            ),
        )
        return _relations.usable(learnt, max_age=max_age, at=at)

    def counts(self) -> dict[str, int]:
        """How many subjects have relations on record, and how many relations.

        >>> storage.relations.counts()  # doctest: +SKIP
        {'subjects': 0, 'relations': 0}
        """
        ((subjects, relations),) = self._db.query(
            "SELECT COUNT(DISTINCT subject_id), COUNT(*) FROM cc_learnt_relations"
        )
        return {"subjects": int(subjects), "relations": int(relations)}

    def close(self) -> None:
        """Nothing of its own to release.

        >>> storage.relations.close()  # doctest: +SKIP
        """
