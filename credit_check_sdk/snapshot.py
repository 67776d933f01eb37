"""The offline snapshot: every red- and black-list entry, to decide from when offline.

The snapshot is a store of the SDK's storage (:mod:`credit_check_sdk.storage`):
:class:`~credit_check_sdk.storage.SnapshotStore` says what any snapshot
promises, and :class:`Snapshot` is the SQLite one, in ``data_dir``
(:mod:`credit_check_sdk.storage.sqlite.snapshot`: a pointer file and one data
file per generation). It is kept current from the platform's change feed
(``GET /v1/lists/changes``, see :mod:`credit_check_sdk._sync`) or seeded from a
list export (``GET /v1/lists/export``, gzip NDJSON, loaded by
:class:`ExportLoader`). When the platform cannot answer,
:meth:`Snapshot.profile_for` gives the decision engine a profile built from it.

>>> import tempfile
>>> snap = Snapshot(tempfile.mkdtemp())
>>> snap.profile_for("91442000MA4UJ2KQ57", "legal_entity") is None  # never synced
True
>>> snap.close()
"""

from __future__ import annotations

from .storage._data import ImportResult, SnapshotStatus
from .storage._errors import (
    LoadStoppedError,
    SnapshotBusyError,
    SnapshotError,
    SnapshotImportError,
)
from .storage._export import IMPORT_BATCH, MAX_LINE_BYTES, ExportHeader, ExportLoader
from .storage.sqlite._schema import SNAPSHOT_VERSION
from .storage.sqlite._snapshot_pointer import POINTER_NAME
from .storage.sqlite.snapshot import Snapshot
from .storage.sqlite.snapshot_build import BUILD_NAME, LOCK_NAME, SnapshotBuilder

__all__ = [
    "BUILD_NAME",
    "IMPORT_BATCH",
    "LOCK_NAME",
    "MAX_LINE_BYTES",
    "POINTER_NAME",
    "SCHEMA_VERSION",
    "ExportHeader",
    "ExportLoader",
    "ImportResult",
    "LoadStoppedError",
    "Snapshot",
    "SnapshotBuilder",
    "SnapshotBusyError",
    "SnapshotError",
    "SnapshotImportError",
    "SnapshotStatus",
]

#: The schema of a SQLite snapshot generation file (``PRAGMA user_version``).
SCHEMA_VERSION = SNAPSHOT_VERSION
