"""The SQLite store of relations learnt from live profiles: ``data_dir/relations.sqlite3``.

The change feed of contract v1 carries list entries only, not who is the legal
representative or principal of an organisation. A punishment that reaches a
company through such a person (plan §三(七)) would be invisible offline, so
every live profile's ``related`` list (role, person id and kind) is kept here.
When the platform is down, the snapshot decision takes the relations from here
and each person's entries from the snapshot.

The file is not part of any snapshot generation: it survives restarts and
snapshot rebuilds. A subject's relations are replaced wholesale by every newer
live profile, so a relation the platform no longer lists disappears. Relations
older than the checker's ``max_relation_age`` are not used
(:func:`credit_check_sdk._relations.usable`).

>>> import tempfile, pathlib
>>> store = RelationStore(pathlib.Path(tempfile.mkdtemp()) / "relations.sqlite3")
>>> store.known("91442000MA4UJ2KQ57", max_age=86400) is None
True
>>> store.close()
"""

from __future__ import annotations

import json
import logging
import sqlite3
from collections.abc import Iterable
from datetime import datetime
from typing import cast

from ... import _relations
from ..._ids import SubjectKind, mask_id
from ..._models import Profile, RelatedRole
from ..._time import now
from .._data import LearntRelation, LearntRelations
from ._localstore import LocalStore
from ._schema import STEPS

__all__ = ["RelationStore"]

logger = logging.getLogger(__name__)

#: Unchanged relations are written again at most this often (seconds of profile time):
#: every live check would otherwise take the file's write lock, in every process.
_REWRITE_AFTER = 3600.0


class RelationStore(LocalStore):
    """Learnt relations on one SQLite file (WAL); safe to share between threads.

    ``synchronous=NORMAL`` survives a crash of the process; what an OS crash
    loses is learnt again from the next live profile of the subject.
    """

    STEPS = STEPS["relations"]

    def learn(self, profiles: Iterable[Profile]) -> int:
        """Replace each subject's relations with those of its live profile (one transaction).

        A profile older than what is stored for its subject is ignored (two
        threads may finish fetching out of order). A subject with no relations
        and none stored is not written, nor one whose relations are unchanged
        since a profile less than an hour older (their age, as ``known()`` judges
        it, lags by at most that). Returns how many subjects were written.

        >>> import tempfile, pathlib
        >>> from credit_check_sdk.testing import FakePlatform
        >>> fake = FakePlatform()
        >>> fake.relate("91442000MA4UJ2KQ57", "442000199001011233")
        >>> profile = Profile.model_validate(fake.profile("91442000MA4UJ2KQ57"))
        >>> store = RelationStore(pathlib.Path(tempfile.mkdtemp()) / "relations.sqlite3")
        >>> store.learn([profile])
        1
        >>> store.known("91442000MA4UJ2KQ57", max_age=86400).relations[0].role
        'legal_representative'
        >>> store.close()
        """
        latest: dict[str, Profile] = {}
        for profile in profiles:
            seen = latest.get(profile.subject.id)
            if seen is None or profile.as_of >= seen.as_of:
                latest[profile.subject.id] = profile
        for subject_id in self._unchanged(latest):
            del latest[subject_id]
        if not latest:
            return 0
        learnt_at = now().isoformat()
        written = 0
        with self._locked() as conn:
            conn.execute("BEGIN IMMEDIATE")
            try:
                for subject_id, profile in latest.items():
                    if self._replace(conn, subject_id, profile, learnt_at):
                        written += 1
                conn.execute("COMMIT")
            except BaseException:
                conn.execute("ROLLBACK")
                raise
        return written

    def _unchanged(self, latest: dict[str, Profile]) -> list[str]:
        """Subjects whose stored relations are those of their profile and were learnt from
        a profile less than ``_REWRITE_AFTER`` older (a read; no write lock)."""
        stored: dict[str, tuple[float, set[tuple[str, str, str]]]] = {}
        for subject_id, as_of_ts, role, related_id, kind in self._query(
            "SELECT l.subject_id, l.as_of_ts, r.role, r.related_id, r.related_kind "
            "FROM learnt l LEFT JOIN relations r ON r.subject_id = l.subject_id "
            "WHERE l.subject_id IN (SELECT value FROM json_each(?))",
            (json.dumps(list(latest)),),
        ):
            entry = stored.setdefault(subject_id, (float(as_of_ts), set()))
            if role is not None:
                entry[1].add((role, related_id, kind))
        same = []
        for subject_id, profile in latest.items():
            if subject_id not in stored:
                if not profile.related:
                    same.append(subject_id)  # nothing to learn, nothing to forget
                continue
            as_of_ts, relations = stored[subject_id]
            wanted = {(r.role, r.subject.id, r.subject.kind) for r in profile.related}
            age = profile.as_of.timestamp() - as_of_ts
            if relations == wanted and 0 <= age < _REWRITE_AFTER:
                same.append(subject_id)
        return same

    @staticmethod
    def _replace(
        conn: sqlite3.Connection, subject_id: str, profile: Profile, learnt_at: str
    ) -> bool:
        as_of_ts = profile.as_of.timestamp()
        row = conn.execute(
            "SELECT as_of_ts FROM learnt WHERE subject_id = ?", (subject_id,)
        ).fetchone()
        if row is None and not profile.related:
            return False  # nothing to learn, nothing to forget
        if row is not None and float(row[0]) > as_of_ts:
            logger.debug("relations of %s: older profile ignored", mask_id(subject_id))
            return False
        conn.execute(
            "INSERT INTO learnt (subject_id, as_of, as_of_ts, learnt_at) VALUES (?, ?, ?, ?) "
            "ON CONFLICT (subject_id) DO UPDATE SET as_of = excluded.as_of, "
            "as_of_ts = excluded.as_of_ts, learnt_at = excluded.learnt_at",
            (subject_id, profile.as_of.isoformat(), as_of_ts, learnt_at),
        )
        conn.execute("DELETE FROM relations WHERE subject_id = ?", (subject_id,))
        conn.executemany(
            "INSERT OR IGNORE INTO relations (subject_id, role, related_id, related_kind) "
            "VALUES (?, ?, ?, ?)",
            [(subject_id, r.role, r.subject.id, r.subject.kind) for r in profile.related],
        )
        return True

    def known(
        self, subject_id: str, *, max_age: float, at: datetime | None = None
    ) -> LearntRelations | None:
        """The subject's learnt relations, or ``None`` when none are known or they are
        older than ``max_age`` seconds (at ``at``, default now).

        >>> store.known("91442000MA4UJ2KQ57", max_age=30 * 86400)  # doctest: +SKIP
        LearntRelations(subject_id='91442000MA4UJ2KQ57', ...)
        """
        rows = self._query(
            "SELECT l.as_of, l.learnt_at, r.role, r.related_id, r.related_kind "
            "FROM learnt l JOIN relations r ON r.subject_id = l.subject_id "
            "WHERE l.subject_id = ? ORDER BY r.role, r.related_id",
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

        >>> store.counts()  # doctest: +SKIP
        {'subjects': 12, 'relations': 15}
        """
        ((subjects, relations),) = self._query(
            "SELECT (SELECT COUNT(DISTINCT subject_id) FROM relations), "
            "(SELECT COUNT(*) FROM relations)",
            (),
        )
        return {"subjects": int(subjects), "relations": int(relations)}


def _kind(value: str) -> SubjectKind:
    return "natural_person" if value == "natural_person" else "legal_entity"
