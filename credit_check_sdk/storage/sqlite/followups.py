"""The SQLite re-check queue and watches: ``data_dir/followups.sqlite3``.

Neither a restart nor a crash forgets them:

- **re-checks** — every decision not made from live or fresh data (snapshot,
  stale cache, none) is queued here and checked again live once the platform
  answers; the result is recorded against the original check. A re-check is
  claimed (owner and lease, as upload claims are) before it runs, so that the
  processes sharing the file run it once;
- **watches** — subjects of applications still in progress
  (``CreditChecker.watch``); a list change touching one of them, or one of the
  persons related to it, triggers a re-check.

>>> import tempfile, pathlib
>>> f = Followups(pathlib.Path(tempfile.mkdtemp()) / "followups.sqlite3")
>>> f.counts()
{'pending': 0, 'reverified': 0, 'changed': 0, 'watches': 0}
>>> f.close()
"""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

from ..._ids import SubjectKind
from ..._time import now
from .._data import PendingRecheck, Watch
from .._owners import owner_is_gone
from ._localstore import LocalStore
from ._schema import STEPS

__all__ = ["Followups"]


def _kind(value: str) -> SubjectKind:
    return "natural_person" if value == "natural_person" else "legal_entity"


def _pending(row: tuple[Any, ...]) -> PendingRecheck:
    return PendingRecheck(row[0], row[1], _kind(row[2]), json.loads(row[3]), row[4])


class Followups(LocalStore):
    """The re-check queue and the watches, on one SQLite file (WAL).

    ``synchronous=NORMAL`` in WAL mode survives a crash of the process; what an
    OS crash could lose of the re-check queue is queued again from the journal
    (``synchronous=FULL``), the record of truth, when the checker opens.
    """

    STEPS = STEPS["followups"]

    def __init__(self, path: str | Path) -> None:
        super().__init__(path)
        # Consulted on every live check: kept in memory so that the common case (no
        # watch on the subject) costs no query.
        self._watched = {r[0] for r in self._run("SELECT DISTINCT subject_id FROM watches")}

    def _run(self, sql: str, params: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
        return self._query(sql, params)

    # -- re-checks -------------------------------------------------------------------

    def queue_recheck(
        self, check_id: str, subject_id: str, kind: str, matter: dict[str, Any], outcome: str
    ) -> None:
        """Queue a degraded decision for a live re-check (committed before returning)."""
        self._run(
            "INSERT OR IGNORE INTO rechecks (check_id, subject_id, kind, matter, outcome, "
            "queued_at) VALUES (?, ?, ?, ?, ?, ?)",
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
        """The oldest re-checks still to do (claimed or not)."""
        rows = self._run(
            "SELECT check_id, subject_id, kind, matter, outcome FROM rechecks "
            "WHERE done_at IS NULL ORDER BY queued_at LIMIT ?",
            (limit,),
        )
        return [_pending(r) for r in rows]

    def claim_rechecks(
        self, owner: str, limit: int = 100, lease: float = 300.0
    ) -> list[PendingRecheck]:
        """Claim the oldest re-checks still to do for ``owner`` for ``lease`` seconds.

        Skips those under another owner's live claim; one write transaction, so
        two claimers never get the same re-check.

        >>> import tempfile, pathlib
        >>> f = Followups(pathlib.Path(tempfile.mkdtemp()) / "followups.sqlite3")
        >>> f.queue_recheck("c1", "91442000MA4UJ2KQ57", "legal_entity", {}, "review")
        >>> [p.check_id for p in f.claim_rechecks("h:1:a")], f.claim_rechecks("h:2:b")
        (['c1'], [])
        >>> f.close()
        """
        at = time.time()
        with self._transaction() as conn:
            rows = conn.execute(
                "SELECT check_id, subject_id, kind, matter, outcome FROM rechecks "
                "WHERE done_at IS NULL AND (claimed_until IS NULL OR claimed_until <= ? "
                "OR claimed_by = ?) ORDER BY queued_at LIMIT ?",
                (at, owner, limit),
            ).fetchall()
            conn.executemany(
                "UPDATE rechecks SET claimed_by = ?, claimed_until = ? WHERE check_id = ?",
                [(owner, at + lease, r[0]) for r in rows],
            )
        return [_pending(r) for r in rows]

    def release_recheck(self, owner: str, check_id: str | None = None) -> None:
        """Give up ``owner``'s claim on ``check_id`` (on all of them when ``None``)."""
        if check_id is None:
            self._run(
                "UPDATE rechecks SET claimed_by = NULL, claimed_until = NULL WHERE claimed_by = ?",
                (owner,),
            )
            return
        self._run(
            "UPDATE rechecks SET claimed_by = NULL, claimed_until = NULL "
            "WHERE claimed_by = ? AND check_id = ?",
            (owner, check_id),
        )

    def release_ended_rechecks(self, owner: str) -> int:
        """Release the re-check claims of other owners of this host whose process ended;
        how many owners."""
        rows = self._run(
            "SELECT DISTINCT claimed_by FROM rechecks WHERE done_at IS NULL"
            " AND claimed_by IS NOT NULL AND claimed_by <> ?",
            (owner,),
        )
        gone = [other for (other,) in rows if owner_is_gone(other)]
        for other in gone:
            self.release_recheck(other)
        return len(gone)

    def finish_recheck(self, check_id: str, recheck_id: str, new_outcome: str) -> bool:
        """Record a re-check's result; ``True`` when the outcome changed."""
        rows = self._run("SELECT outcome FROM rechecks WHERE check_id = ?", (check_id,))
        changed = bool(rows) and rows[0][0] != new_outcome
        self._run(
            "UPDATE rechecks SET recheck_id = ?, new_outcome = ?, changed = ?, done_at = ?, "
            "claimed_by = NULL, claimed_until = NULL WHERE check_id = ?",
            (recheck_id, new_outcome, int(changed), now().isoformat(), check_id),
        )
        return changed

    def counts(self) -> dict[str, int]:
        """Re-checks pending, re-verified and changed; how many watches."""
        ((pending, done, changed),) = self._run(
            "SELECT COALESCE(SUM(done_at IS NULL), 0), COALESCE(SUM(done_at IS NOT NULL), 0), "
            "COALESCE(SUM(changed = 1), 0) FROM rechecks"
        )
        ((watches,),) = self._run("SELECT COUNT(*) FROM watches")
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

        ``check_id`` and ``outcome`` name the case's check made before the watch was
        set; they become the watch's last check unless it already knows one (a
        re-check made by the watch is newer than anything found before it).

        >>> import tempfile, pathlib
        >>> f = Followups(pathlib.Path(tempfile.mkdtemp()) / "followups.sqlite3")
        >>> f.watch("91442000MA4UJ2KQ57", "legal_entity", {"category": "bidding"}, "ZSGC-1",
        ...         check_id="c1", outcome="normal")
        >>> f.watches()[0].last_outcome
        'normal'
        >>> f.close()
        """
        self._run(
            "INSERT INTO watches (subject_id, case_id, kind, matter, last_check_id, last_outcome,"
            " watched_at) VALUES (?, ?, ?, ?, ?, ?, ?) ON CONFLICT (subject_id, case_id) DO UPDATE"
            " SET matter = excluded.matter,"
            # An empty id is what older versions stored for "no check yet".
            " last_outcome = CASE WHEN COALESCE(watches.last_check_id, '') = ''"
            " THEN excluded.last_outcome ELSE watches.last_outcome END,"
            " last_check_id = CASE WHEN COALESCE(watches.last_check_id, '') = ''"
            " THEN excluded.last_check_id ELSE watches.last_check_id END",
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
        self._watched.add(subject_id)

    def unwatch(self, subject_id: str, case_id: str) -> bool:
        """Stop watching; ``True`` when there was such a watch."""
        before = self.counts()["watches"]
        self._run("DELETE FROM watches WHERE subject_id = ? AND case_id = ?", (subject_id, case_id))
        if not self._run("SELECT 1 FROM watches WHERE subject_id = ? LIMIT 1", (subject_id,)):
            self._watched.discard(subject_id)
        return self.counts()["watches"] < before

    def learn_related(self, subject_id: str, related_ids: list[str]) -> None:
        """Remember the persons related to a watched subject (from a live profile)."""
        if subject_id not in self._watched:
            return
        known = json.dumps(sorted(related_ids))
        self._run(
            "UPDATE watches SET related_ids = ? WHERE subject_id = ? AND related_ids != ?",
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
        """Remember a watch's latest check (and, from a live profile, its related persons)."""
        if related_ids is None:
            self._run(
                "UPDATE watches SET last_check_id = ?, last_outcome = ? "
                "WHERE subject_id = ? AND case_id = ?",
                (check_id, outcome, subject_id, case_id),
            )
        else:
            self._run(
                "UPDATE watches SET last_check_id = ?, last_outcome = ?, related_ids = ? "
                "WHERE subject_id = ? AND case_id = ?",
                (check_id, outcome, json.dumps(sorted(related_ids)), subject_id, case_id),
            )

    def watches(self) -> list[Watch]:
        """Every watch."""
        rows = self._run(
            "SELECT subject_id, case_id, kind, matter, related_ids, last_check_id, "
            "last_outcome FROM watches ORDER BY watched_at"
        )
        return [
            Watch(r[0], r[1], _kind(r[2]), json.loads(r[3]), tuple(json.loads(r[4])), r[5], r[6])
            for r in rows
        ]

    def watches_touching(self, subject_ids: set[str]) -> list[Watch]:
        """Watches whose subject, or a person related to it, is in ``subject_ids``."""
        return [
            w
            for w in self.watches()
            if w.subject_id in subject_ids or subject_ids.intersection(w.related_ids)
        ]
