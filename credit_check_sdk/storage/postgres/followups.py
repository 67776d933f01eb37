"""Re-checks and watches in the shared database: each runs once across instances.

A degraded decision is queued in ``cc_rechecks`` by the instance that made it;
any instance may run it: :meth:`PostgresFollowups.claim_rechecks` picks the
oldest free ones ``FOR UPDATE SKIP LOCKED`` and marks them with its owner and a
lease in the same statement, so two instances never run the same re-check, and
a killed instance's claims are free again when their lease ends. Watches
(``cc_watches``) are shared too: a list change seen by whichever instance
follows the feed re-checks each watched case once.

>>> storage.followups.counts()  # doctest: +SKIP
{'pending': 0, 'reverified': 0, 'changed': 0, 'watches': 0}
"""

from __future__ import annotations

import json
from typing import Any

from ..._ids import SubjectKind
from ..._time import now
from .._data import PendingRecheck, Watch
from .._owners import owner_is_gone
from ._database import Database

__all__ = ["PostgresFollowups"]

_CLAIM = """
UPDATE cc_rechecks SET claimed_by = %s, claimed_until = now() + %s * interval '1 second'
WHERE check_id IN (
    SELECT check_id FROM cc_rechecks
    WHERE done_at IS NULL
      AND (claimed_until IS NULL OR claimed_until <= now() OR claimed_by = %s)
    ORDER BY queued_at LIMIT %s
    FOR UPDATE SKIP LOCKED)
RETURNING check_id, subject_id, kind, matter, outcome, queued_at
"""


def _kind(value: str) -> SubjectKind:
    return "natural_person" if value == "natural_person" else "legal_entity"


def _pending(row: tuple[Any, ...]) -> PendingRecheck:
    return PendingRecheck(row[0], row[1], _kind(row[2]), json.loads(row[3]), row[4])


class PostgresFollowups:
    """The re-check queue and the watches of every instance (see
    :class:`~credit_check_sdk.storage.FollowupStore`).

    >>> PostgresFollowups(db).pending_rechecks()  # doctest: +SKIP
    []
    """

    def __init__(self, db: Database) -> None:
        self._db = db

    # -- re-checks -------------------------------------------------------------------

    def queue_recheck(
        self, check_id: str, subject_id: str, kind: str, matter: dict[str, Any], outcome: str
    ) -> None:
        """Queue a degraded decision for a live re-check (committed before returning).

        >>> followups.queue_recheck("c1", uscc, "legal_entity", {"category": "bidding"},
        ...                         "review")  # doctest: +SKIP
        """
        self._db.execute(
            "INSERT INTO cc_rechecks (check_id, subject_id, kind, matter, outcome, queued_at)"
            " VALUES (%s, %s, %s, %s, %s, %s) ON CONFLICT (check_id) DO NOTHING",
            (
                check_id,
                subject_id,
                kind,
                json.dumps(matter, ensure_ascii=False),
                outcome,
                now().isoformat(),
            ),
        )

    def pending_rechecks(self, limit: int = 100) -> list[PendingRecheck]:
        """The oldest re-checks still to do (claimed or not).

        >>> followups.pending_rechecks()  # doctest: +SKIP
        []
        """
        rows = self._db.query(
            "SELECT check_id, subject_id, kind, matter, outcome FROM cc_rechecks"
            " WHERE done_at IS NULL ORDER BY queued_at LIMIT %s",
            (int(limit),),
        )
        return [_pending(r) for r in rows]

    def claim_rechecks(
        self, owner: str, limit: int = 100, lease: float = 300.0
    ) -> list[PendingRecheck]:
        """Claim the oldest free re-checks for ``owner`` for ``lease`` seconds (SKIP LOCKED).

        >>> [p.check_id for p in followups.claim_rechecks("h:1:a")]  # doctest: +SKIP
        ['c1']
        """
        rows = self._db.query(_CLAIM, (owner, float(lease), owner, int(limit)))
        rows.sort(key=lambda r: (r[5], r[0]))
        return [_pending(r) for r in rows]

    def release_recheck(self, owner: str, check_id: str | None = None) -> None:
        """Give up ``owner``'s claim on ``check_id`` (on all of them when ``None``).

        >>> followups.release_recheck("h:1:a")  # doctest: +SKIP
        """
        if check_id is None:
            self._db.execute(
                "UPDATE cc_rechecks SET claimed_by = NULL, claimed_until = NULL"
                " WHERE claimed_by = %s",
                (owner,),
            )
            return
        self._db.execute(
            "UPDATE cc_rechecks SET claimed_by = NULL, claimed_until = NULL"
            " WHERE claimed_by = %s AND check_id = %s",
            (owner, check_id),
        )

    def release_ended_rechecks(self, owner: str) -> int:
        """Release the re-check claims of other owners of this host whose process ended
        (one killed while re-checking); how many owners. Other hosts' wait for their lease.

        >>> followups.release_ended_rechecks("h:1:a")  # doctest: +SKIP
        0
        """
        rows = self._db.query(
            "SELECT DISTINCT claimed_by FROM cc_rechecks WHERE done_at IS NULL"
            " AND claimed_by IS NOT NULL AND claimed_by <> %s",
            (owner,),
        )
        gone = [other for (other,) in rows if owner_is_gone(other)]
        for other in gone:
            self.release_recheck(other)
        return len(gone)

    def finish_recheck(self, check_id: str, recheck_id: str, new_outcome: str) -> bool:
        """Record a re-check's result; ``True`` when the outcome changed.

        >>> followups.finish_recheck("c1", "c2", "normal")  # doctest: +SKIP
        False
        """
        rows = self._db.query(
            "UPDATE cc_rechecks SET recheck_id = %s, new_outcome = %s,"
            " changed = CASE WHEN outcome <> %s THEN 1 ELSE 0 END, done_at = %s,"
            " claimed_by = NULL, claimed_until = NULL WHERE check_id = %s RETURNING changed",
            (recheck_id, new_outcome, new_outcome, now().isoformat(), check_id),
        )
        return bool(rows) and rows[0][0] == 1

    def counts(self) -> dict[str, int]:
        """Re-checks pending, re-verified and changed; how many watches.

        >>> followups.counts()["watches"]  # doctest: +SKIP
        0
        """
        ((pending, done, changed, watches),) = self._db.query(
            "SELECT COUNT(*) FILTER (WHERE done_at IS NULL),"
            " COUNT(*) FILTER (WHERE done_at IS NOT NULL),"
            " COUNT(*) FILTER (WHERE changed = 1),"
            " (SELECT COUNT(*) FROM cc_watches) FROM cc_rechecks"
        )
        return {
            "pending": int(pending),
            "reverified": int(done),
            "changed": int(changed),
            "watches": int(watches),
        }

    # -- watches ---------------------------------------------------------------------

    def watch(
        self,
        subject_id: str,
        kind: str,
        matter: dict[str, Any],
        case_id: str,
        *,
        check_id: str | None = None,
        outcome: str | None = None,
    ) -> None:
        """Watch a subject for the application ``case_id`` (idempotent).

        >>> followups.watch(uscc, "legal_entity", {"category": "bidding"},
        ...                 "ZSGC-2026-118")  # doctest: +SKIP
        """
        self._db.execute(
            "INSERT INTO cc_watches (subject_id, case_id, kind, matter, last_check_id,"
            " last_outcome, watched_at) VALUES (%s, %s, %s, %s, %s, %s, %s)"
            " ON CONFLICT (subject_id, case_id) DO UPDATE SET matter = EXCLUDED.matter,"
            " last_outcome = CASE WHEN COALESCE(cc_watches.last_check_id, '') = ''"
            " THEN EXCLUDED.last_outcome ELSE cc_watches.last_outcome END,"
            " last_check_id = CASE WHEN COALESCE(cc_watches.last_check_id, '') = ''"
            " THEN EXCLUDED.last_check_id ELSE cc_watches.last_check_id END",
            (
                subject_id,
                case_id,
                kind,
                json.dumps(matter, ensure_ascii=False),
                check_id,
                outcome,
                now().isoformat(),
            ),
        )

    def unwatch(self, subject_id: str, case_id: str) -> bool:
        """Stop watching; ``True`` when there was such a watch.

        >>> followups.unwatch(uscc, "ZSGC-2026-118")  # doctest: +SKIP
        True
        """
        return (
            self._db.execute(
                "DELETE FROM cc_watches WHERE subject_id = %s AND case_id = %s",
                (subject_id, case_id),
            )
            > 0
        )

    def learn_related(self, subject_id: str, related_ids: list[str]) -> None:
        """Remember the persons related to a watched subject (from a live profile).

        >>> followups.learn_related(uscc, ["110101199003070035"])  # doctest: +SKIP
        """
        known = json.dumps(sorted(related_ids))
        self._db.execute(
            "UPDATE cc_watches SET related_ids = %s WHERE subject_id = %s AND related_ids <> %s",
            (known, subject_id, known),
        )

    def update_watch(
        self,
        subject_id: str,
        case_id: str,
        *,
        check_id: str,
        outcome: str,
        related_ids: list[str] | None,
    ) -> None:
        """Remember a watch's latest check (and, from a live profile, its related persons).

        >>> followups.update_watch(uscc, "K-1", check_id="c2", outcome="normal",
        ...                        related_ids=None)  # doctest: +SKIP
        """
        if related_ids is None:
            self._db.execute(
                "UPDATE cc_watches SET last_check_id = %s, last_outcome = %s"
                " WHERE subject_id = %s AND case_id = %s",
                (check_id, outcome, subject_id, case_id),
            )
        else:
            self._db.execute(
                "UPDATE cc_watches SET last_check_id = %s, last_outcome = %s, related_ids = %s"
                " WHERE subject_id = %s AND case_id = %s",
                (check_id, outcome, json.dumps(sorted(related_ids)), subject_id, case_id),
            )

    def watches(self) -> list[Watch]:
        """Every watch, oldest first.

        >>> followups.watches()  # doctest: +SKIP
        []
        """
        rows = self._db.query(
            "SELECT subject_id, case_id, kind, matter, related_ids, last_check_id,"
            " last_outcome FROM cc_watches ORDER BY watched_at, subject_id, case_id"
        )
        return [
            Watch(r[0], r[1], _kind(r[2]), json.loads(r[3]), tuple(json.loads(r[4])), r[5], r[6])
            for r in rows
        ]

    def watches_touching(self, subject_ids: set[str]) -> list[Watch]:
        """Watches whose subject, or a person related to it, is in ``subject_ids``.

        >>> followups.watches_touching({uscc})  # doctest: +SKIP
        []
        """
        return [
            w
            for w in self.watches()
            if w.subject_id in subject_ids or subject_ids.intersection(w.related_ids)
        ]

    def close(self) -> None:
        """Nothing of its own to release (the storage closes the pool).

        >>> followups.close()  # doctest: +SKIP
        """
