"""Where the SDK keeps everything durable: one interface, one adapter per kind of store.

:func:`open_storage` gives the :class:`Storage` a deployment is configured for:
without ``database_url``, the SQLite adapter (:mod:`credit_check_sdk.storage.sqlite`:
files in ``data_dir``, one host, any number of processes). Every part of the SDK
that keeps state (:class:`~credit_check_sdk.CreditChecker`, its uploader and
snapshot sync, the monthly report, the command line, the flow plugins) goes
through the stores of a :class:`Storage`:

=====================  ====================================================================
``storage.journal``    :class:`JournalStore`: the hash-chained journal of checks and actions
``storage.uploads``    :class:`UploadQueue`: records to upload, and claims on them
``storage.objections`` :class:`ObjectionStore`: objections filed through this agency
``storage.receipts``   :class:`ReceiptStore`: receipts of submitted monthly reports
``storage.report``     :class:`ReportSource`: the monthly report's reads, in one view
``storage.followups``  :class:`FollowupStore`: re-checks (claimed) and watches
``storage.relations``  :class:`RelationStore`: relations learnt from live profiles
``storage.snapshot``   :class:`SnapshotStore`: the offline snapshot, its rebuilds and lease
``storage.commitments`` :class:`CommitmentStore`: written commitments (书面承诺)
``storage.disclosures`` :class:`DisclosureStore`: decisions to publish (双公示)
=====================  ====================================================================

An adapter implements each protocol and keeps every promise its methods
document; the contract tests in ``tests/storage/`` check them against each
adapter. What every adapter shares (record validation and hashing, group
commit, chain verification, export loading, the rules of applying a feed page)
lives in this package's common modules, not in an adapter.

>>> import tempfile
>>> with open_storage(data_dir=tempfile.mkdtemp()) as storage:
...     r = storage.journal.append({"type": "check", "id": "c1",
...                                 "checked_at": "2026-11-29T08:00:00+08:00"})
...     storage.journal.verify().ok, isinstance(storage.journal, JournalStore)
(True, True)
"""

from __future__ import annotations

from ._data import (
    Commitment,
    CommitmentStatus,
    DisclosureDuty,
    DisclosureKind,
    DisclosureState,
    ImportResult,
    LearntRelation,
    LearntRelations,
    ObjectionStatus,
    PendingRecheck,
    SnapshotStatus,
    Watch,
)
from ._errors import LoadStoppedError, SnapshotBusyError, SnapshotError, SnapshotImportError
from ._export import ExportHeader, ExportLoader
from ._interface import (
    JournalStore,
    ObjectionStore,
    ReceiptStore,
    ReportSource,
    ReportView,
    UploadQueue,
)
from ._interface_duties import CommitmentStore, DisclosureStore
from ._interface_offline import (
    FollowupStore,
    RelationStore,
    SnapshotBuilder,
    SnapshotLease,
    SnapshotStore,
)
from ._journal_core import MAX_RECORD_BYTES, UploadState, canonical_hash, canonical_json, utc_text
from ._journal_verify import ColumnMismatch, ColumnVerifyResult, Problem, VerifyResult
from ._owners import owner_is_gone, owner_name
from ._storage import DATABASE_URL_VARIABLE, Storage, mask_database_url, open_storage

__all__ = [
    "DATABASE_URL_VARIABLE",
    "MAX_RECORD_BYTES",
    "ColumnMismatch",
    "ColumnVerifyResult",
    "Commitment",
    "CommitmentStatus",
    "CommitmentStore",
    "DisclosureDuty",
    "DisclosureKind",
    "DisclosureState",
    "DisclosureStore",
    "ExportHeader",
    "ExportLoader",
    "FollowupStore",
    "ImportResult",
    "JournalStore",
    "LearntRelation",
    "LearntRelations",
    "LoadStoppedError",
    "ObjectionStatus",
    "ObjectionStore",
    "PendingRecheck",
    "Problem",
    "ReceiptStore",
    "RelationStore",
    "ReportSource",
    "ReportView",
    "SnapshotBuilder",
    "SnapshotBusyError",
    "SnapshotError",
    "SnapshotImportError",
    "SnapshotLease",
    "SnapshotStatus",
    "SnapshotStore",
    "Storage",
    "UploadQueue",
    "UploadState",
    "VerifyResult",
    "Watch",
    "canonical_hash",
    "canonical_json",
    "mask_database_url",
    "open_storage",
    "owner_is_gone",
    "owner_name",
    "utc_text",
]
