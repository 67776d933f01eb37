"""The SQLite storage adapter: every store a file in ``data_dir`` (one host, any processes).

What lives where (each file 0600, the folder 0700: they hold personal ids)::

    journal.sqlite3                 the journal, its upload state and claims, inputs,
                                    objections and report receipts (WAL, synchronous=FULL)
    followups.sqlite3               re-check queue (with claims) and watches (WAL, NORMAL)
    relations.sqlite3               relations learnt from live profiles (WAL, NORMAL)
    snapshot.current                which snapshot generation is in service
    snapshot.<gen>.sqlite3          the snapshot's entries and relations (WAL, FULL)
    snapshot.lock                   the snapshot's build lock, also its feed lease
    licensing-commitments.sqlite3   written commitments (WAL, FULL)
    disclosures.sqlite3             disclosures to make (WAL, FULL)

Stores are opened on first use: a command that reads the journal creates no
snapshot. Every SQLite call of every store runs inside a fork-gate region
(:mod:`credit_check_sdk._fork`), and each store opens a new connection in a
forked child. Schema versions: :mod:`credit_check_sdk.storage.sqlite._schema`.

>>> import tempfile
>>> storage = SQLiteStorage(tempfile.mkdtemp())
>>> storage.uploads is storage.journal
True
>>> storage.close()
"""

from __future__ import annotations

from pathlib import Path
from types import TracebackType
from typing import Any, TypeVar

from ..._exceptions import JournalError
from ..._files import make_private_dir
from ..._fork import ShortLock
from .bookkeeping import SQLiteObjections, SQLiteReceipts
from .commitments import SQLiteCommitments
from .disclosures import SQLiteDisclosures
from .followups import Followups
from .journal import SQLiteJournal
from .relations import RelationStore
from .report import DISCLOSURES_FILE, SQLiteReportSource
from .snapshot import Snapshot

__all__ = ["FILES", "SQLiteStorage"]

#: The files of each store, in ``data_dir``.
FILES = {
    "journal": "journal.sqlite3",
    "followups": "followups.sqlite3",
    "relations": "relations.sqlite3",
    "commitments": "licensing-commitments.sqlite3",
    "disclosures": DISCLOSURES_FILE,
}

_T = TypeVar("_T")


class SQLiteStorage:
    """Every store of one ``data_dir`` (see :class:`~credit_check_sdk.storage.Storage`).

    >>> import tempfile
    >>> with SQLiteStorage(tempfile.mkdtemp()) as storage:
    ...     storage.followups.counts()["watches"]
    0
    """

    kind = "sqlite"

    def __init__(self, data_dir: str | Path) -> None:
        self.data_dir = Path(data_dir)
        self._lock = ShortLock()
        self._opened: dict[str, Any] = {}
        self._closed = False

    @property
    def location(self) -> str:
        """The data folder."""
        return str(self.data_dir)

    def _store(self, name: str, make: type[_T]) -> _T:
        store = self._opened.get(name)
        if store is None:
            with self._lock:
                if self._closed:
                    raise JournalError(f"the storage in {self.data_dir} is closed")
                store = self._opened.get(name)
                if store is None:
                    store = self._opened[name] = self._open(name)
        if not isinstance(store, make):  # pragma: no cover - the table below is fixed
            raise TypeError(f"{name} is a {type(store).__name__}")
        return store

    def _open(self, name: str) -> Any:
        if name == "snapshot":
            return Snapshot(self.data_dir)
        path = self.data_dir / FILES[name]
        if name == "journal":
            return SQLiteJournal(path)
        make_private_dir(self.data_dir)
        return {
            "followups": Followups,
            "relations": RelationStore,
            "commitments": SQLiteCommitments,
            "disclosures": SQLiteDisclosures,
        }[name](path)

    @property
    def journal(self) -> SQLiteJournal:
        """``journal.sqlite3``."""
        return self._store("journal", SQLiteJournal)

    @property
    def uploads(self) -> SQLiteJournal:
        """The journal itself: it keeps each record's upload state and claims."""
        return self.journal

    @property
    def objections(self) -> SQLiteObjections:
        """Objections, in the journal's file."""
        return self.journal.objection_store

    @property
    def receipts(self) -> SQLiteReceipts:
        """Report receipts, in the journal's file."""
        return self.journal.receipt_store

    @property
    def report(self) -> SQLiteReportSource:
        """Read views of the journal's file (opened, hence migrated, first)."""
        return self.journal.report_source()

    @property
    def followups(self) -> Followups:
        """``followups.sqlite3``."""
        return self._store("followups", Followups)

    @property
    def relations(self) -> RelationStore:
        """``relations.sqlite3``."""
        return self._store("relations", RelationStore)

    @property
    def snapshot(self) -> Snapshot:
        """``snapshot.current`` and its generation files."""
        return self._store("snapshot", Snapshot)

    @property
    def commitments(self) -> SQLiteCommitments:
        """``licensing-commitments.sqlite3``."""
        return self._store("commitments", SQLiteCommitments)

    @property
    def disclosures(self) -> SQLiteDisclosures:
        """``disclosures.sqlite3``."""
        return self._store("disclosures", SQLiteDisclosures)

    def describe(self) -> dict[str, Any]:
        """``kind``, ``location`` and, per store file present, its size in bytes.

        >>> import tempfile
        >>> SQLiteStorage(tempfile.mkdtemp()).describe()["files"]
        {}
        """
        files: dict[str, int] = {}
        for name in sorted(FILES.values()):
            path = self.data_dir / name
            try:
                files[name] = path.stat().st_size
            except OSError:
                continue  # not created yet
        return {"kind": self.kind, "location": self.location, "files": files}

    def close(self) -> None:
        """Close every store opened so far (the journal last)."""
        with self._lock:
            opened, self._opened = self._opened, {}
            self._closed = True
        journal = opened.pop("journal", None)
        for store in opened.values():
            store.close()
        if journal is not None:
            journal.close()

    def __enter__(self) -> SQLiteStorage:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"SQLiteStorage({self.location!r})"
