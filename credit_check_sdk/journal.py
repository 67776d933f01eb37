"""The local journal: every check and every action, durable and hash-chained.

The journal is a store of the SDK's storage (:mod:`credit_check_sdk.storage`):
:class:`~credit_check_sdk.storage.JournalStore` says what any journal promises,
and :class:`Journal` is the SQLite one, in ``data_dir/journal.sqlite3``
(:mod:`credit_check_sdk.storage.sqlite.journal`). This module keeps the names
callers have used: open a journal file directly with :class:`Journal`, or
through the storage a checker uses (``checker.journal``,
``open_storage(settings).journal``).

A record is on disk when :meth:`Journal.append` returns (WAL with
``synchronous=FULL``). Each record carries ``prev_hash`` (the hash of the
record before it in this journal) and ``hash`` (SHA-256 of its canonical JSON,
see :func:`canonical_hash`), so a removed, altered or reordered record shows in
:meth:`Journal.verify`.

>>> import tempfile, os
>>> j = Journal(os.path.join(tempfile.mkdtemp(), "journal.db"))
>>> r = j.append({"type": "check", "id": "c1", "checked_at": "2026-11-29T08:00:00+08:00"})
>>> r["prev_hash"] is None and r["hash"] == canonical_hash(r)
True
>>> j.verify().ok
True
>>> j.close()
"""

from __future__ import annotations

from .storage._data import ObjectionStatus
from .storage._journal_core import (
    MAX_RECORD_BYTES,
    UploadState,
    canonical_hash,
    canonical_json,
    column_value,
    derive_columns,
    utc_text,
)
from .storage._journal_verify import ColumnMismatch, ColumnVerifyResult, Problem, VerifyResult
from .storage.sqlite._schema import JOURNAL_VERSION
from .storage.sqlite.journal import SQLiteJournal

__all__ = [
    "MAX_RECORD_BYTES",
    "SCHEMA_VERSION",
    "ColumnMismatch",
    "ColumnVerifyResult",
    "Journal",
    "ObjectionStatus",
    "Problem",
    "UploadState",
    "VerifyResult",
    "canonical_hash",
    "canonical_json",
    "utc_text",
]

#: The schema the SQLite journal is written in (``PRAGMA user_version``).
SCHEMA_VERSION = JOURNAL_VERSION

#: The SQLite journal (one file, WAL, ``synchronous=FULL``).
Journal = SQLiteJournal

# The earlier private names of the report columns' derivation, for callers of old.
_derived = derive_columns
_sql_value = column_value
