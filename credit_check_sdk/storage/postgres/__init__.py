"""The PostgreSQL storage adapter: a cluster of application servers sharing one database.

Needs the ``postgres`` extra (psycopg 3 and psycopg-pool); importing this package
without it raises an ImportError naming ``pip install "credit-check-sdk[postgres]"``.

What lives where::

    cc_schema_version            schema versions applied (migrated from empty, in order)
    cc_journal_writers           one row per writer (a data_dir's SDK): its chain's head
    cc_journal_records           every record: (writer_id, wseq) its place in its writer's
                                 chain, gseq a position across writers; report columns
    cc_journal_uploads           each record's upload state and claim, by its gseq
                                 (a narrow row: claims and marks never rewrite a record)
    cc_journal_measures          measure rows of each record (for the report)
    cc_journal_inputs            what each check was decided from
    cc_objections                objections filed through this agency
    cc_report_receipts           receipts of submitted monthly reports
    data_dir/writer.json         this instance's writer id
    data_dir/spool.sqlite3       records the database could not take in time (drained in order)

    cc_rechecks, cc_watches      re-checks (claimed with SKIP LOCKED: run once) and watches
    cc_learnt, cc_learnt_relations  relations learnt from live profiles
    cc_commitments, cc_disclosures  written commitments and disclosures to make
    cc_snapshot_entries, cc_snapshot_relations, cc_snapshot_meta
                                 the offline snapshot (one instance at a time follows
                                 the feed, under a session advisory lock)

>>> storage = PostgresStorage("postgresql://cc@db/credit", data_dir)  # doctest: +SKIP
>>> storage.kind  # doctest: +SKIP
'postgresql'
"""

from __future__ import annotations

from pathlib import Path
from types import TracebackType
from typing import Any

from ..._exceptions import JournalError
from ..._fork import ShortLock
from ._database import Database
from ._schema import SCHEMA_VERSION, migrate, schema_version
from ._uploads import PostgresObjections, PostgresReceipts
from .duties import PostgresCommitments, PostgresDisclosures
from .followups import PostgresFollowups
from .journal import PostgresJournal
from .relations import PostgresRelations
from .report import PostgresReportSource
from .snapshot import PostgresSnapshot

__all__ = ["PostgresStorage"]


class PostgresStorage:
    """Every store of one instance on the database at ``url`` (see
    :class:`~credit_check_sdk.storage.Storage`); ``data_dir`` holds its writer id and spool.

    ``budget`` is how long an append waits for the database before it spools (the
    check's ``timeout``).

    >>> with PostgresStorage(url, data_dir) as storage:  # doctest: +SKIP
    ...     storage.journal.counts()["pending"]
    0
    """

    kind = "postgresql"

    def __init__(
        self, url: str, data_dir: str | Path, *, budget: float = 2.0, pool_size: int = 10
    ) -> None:
        self.data_dir = Path(data_dir)
        self.db = Database(url, pool_size=pool_size, timeout=max(budget, 1.0))
        self.db.on_first_use = self._migrate
        self._budget = budget
        self._lock = ShortLock()
        self._journal: PostgresJournal | None = None
        self._objections = PostgresObjections(self.db)
        self._receipts = PostgresReceipts(self.db)
        self._followups = PostgresFollowups(self.db)
        self._relations = PostgresRelations(self.db)
        self._commitments = PostgresCommitments(self.db)
        self._disclosures = PostgresDisclosures(self.db)
        self._snapshot = PostgresSnapshot(self.db)
        self._closed = False

    def _migrate(self, conn: Any) -> None:
        migrate(conn, where=self.db.shown)

    @property
    def location(self) -> str:
        """The database URL, its password masked."""
        return self.db.shown

    @property
    def journal(self) -> PostgresJournal:
        """The shared journal (this instance's chain and spool)."""
        journal = self._journal
        if journal is None:
            with self._lock:
                if self._closed:
                    raise JournalError(f"the storage {self.db.shown} is closed")
                if self._journal is None:
                    self._journal = PostgresJournal(self.db, self.data_dir, budget=self._budget)
                journal = self._journal
        return journal

    @property
    def uploads(self) -> PostgresJournal:
        """The journal itself: it keeps each record's upload state and claims."""
        return self.journal

    @property
    def objections(self) -> PostgresObjections:
        """Objections, shared by every instance."""
        return self._objections

    @property
    def receipts(self) -> PostgresReceipts:
        """Report receipts, shared by every instance."""
        return self._receipts

    @property
    def report(self) -> PostgresReportSource:
        """Read views of the shared journal."""
        return PostgresReportSource(self.db)

    @property
    def followups(self) -> PostgresFollowups:
        """Every instance's re-check queue and watches."""
        return self._followups

    @property
    def relations(self) -> PostgresRelations:
        """Relations learnt from live profiles by every instance."""
        return self._relations

    @property
    def snapshot(self) -> PostgresSnapshot:
        """The offline snapshot every instance shares (one leader follows the feed)."""
        return self._snapshot

    @property
    def commitments(self) -> PostgresCommitments:
        """Every instance's written commitments."""
        return self._commitments

    @property
    def disclosures(self) -> PostgresDisclosures:
        """Every instance's disclosures to make."""
        return self._disclosures

    def describe(self) -> dict[str, Any]:
        """``kind``, ``location`` (masked), the schema version, this instance's writer and
        spool, the pool, and ``data_dir`` (which keeps the writer id and the spool).

        >>> storage.describe()["spool"]["records"]  # doctest: +SKIP
        0
        """
        info: dict[str, Any] = {
            "kind": self.kind,
            "location": self.location,
            "schema_expected": SCHEMA_VERSION,
            "writer": self.journal.writer,
            "spool": self.journal.spool_status(),
            "pool": self.db.stats(),
            "data_dir": str(self.data_dir),
        }
        try:
            with self.db.connection() as conn:
                info["schema"] = schema_version(conn)
            info["reachable"] = True
        except JournalError as exc:
            info["reachable"] = False
            info["error"] = str(exc)
        return info

    def close(self) -> None:
        """Close every store opened so far and the pool (idempotent)."""
        with self._lock:
            journal, self._journal = self._journal, None
            self._closed = True
        self._snapshot.close()
        if journal is not None:
            journal.close()
        self.db.close()

    def __enter__(self) -> PostgresStorage:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"PostgresStorage({self.location!r})"
