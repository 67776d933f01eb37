"""The pointer file ``snapshot.current``: which generation file of the snapshot is in service.

Each generation has its own file name (``snapshot.<gen>.sqlite3``), and the
swap to a new one is the atomic replacement of this small JSON file (see
:mod:`credit_check_sdk.storage.sqlite.snapshot` for why). Readers notice a
swap made by another process by a ``stat`` of the pointer (:func:`stamp`).

>>> import tempfile, pathlib
>>> d = pathlib.Path(tempfile.mkdtemp())
>>> read_pointer(d / POINTER_NAME)
(None, None)
>>> (d / "snapshot.3.sqlite3").write_bytes(b"")
0
>>> write_pointer(d / POINTER_NAME, Pointer("snapshot.3.sqlite3", 3))
>>> read_pointer(d / POINTER_NAME)[0]
Pointer(file='snapshot.3.sqlite3', generation=3)
"""

from __future__ import annotations

import json
import os
import re
from dataclasses import dataclass
from pathlib import Path

from ..._files import atomic_write, fsync_dir
from .._errors import SnapshotError
from .snapshot_build import remove_file

__all__ = [
    "POINTER_NAME",
    "Pointer",
    "Stamp",
    "read_pointer",
    "remove_older",
    "stamp",
    "write_pointer",
]

POINTER_NAME = "snapshot.current"
_DATA_NAME = re.compile(r"^snapshot\.([0-9]{1,18})\.sqlite3$")
_DATA_FILE_OR_SIDECAR = re.compile(r"^snapshot\.([0-9]{1,18})\.sqlite3(-wal|-shm|-journal)?$")

#: What identifies one write of the pointer: inode, modification time, size.
Stamp = tuple[int, int, int]


@dataclass(frozen=True)
class Pointer:
    """The data file in service and its generation."""

    file: str
    generation: int

    @classmethod
    def of(cls, generation: int) -> Pointer:
        """The pointer to generation ``generation``'s file."""
        return cls(f"snapshot.{generation}.sqlite3", generation)


def stamp(path: Path) -> Stamp | None:
    """The pointer's :data:`Stamp`, ``None`` when there is none (cheap: one ``stat``)."""
    try:
        st = os.stat(path)
    except FileNotFoundError:
        return None
    return (st.st_ino, st.st_mtime_ns, st.st_size)


def read_pointer(path: Path) -> tuple[Pointer | None, Stamp | None]:
    """The pointer at ``path`` and its stamp; ``(None, None)`` when there is none.

    A damaged pointer, or one naming a file that is not a generation file of this
    folder, raises :class:`~credit_check_sdk.storage.SnapshotError`.
    """
    try:
        st = os.stat(path)
        raw = path.read_text("utf-8")
    except FileNotFoundError:
        return None, None
    except OSError as exc:
        raise SnapshotError(f"cannot read {path}: {exc}", path=str(path)) from exc
    try:
        doc = json.loads(raw)
        name = str(doc["file"])
        generation = int(doc["generation"])
    except (ValueError, KeyError, TypeError) as exc:
        raise SnapshotError(f"{path} is damaged; delete it and sync again", path=str(path)) from exc
    if not _DATA_NAME.match(name):  # never follow a pointer out of data_dir
        raise SnapshotError(f"{path} names an unexpected file", path=str(path))
    return Pointer(name, generation), (st.st_ino, st.st_mtime_ns, st.st_size)


def write_pointer(path: Path, pointer: Pointer) -> None:
    """Point at ``pointer``'s file, atomically for every reader, durably (fsynced)."""
    fsync_dir(path.parent)  # the data file's rename first
    atomic_write(
        path, json.dumps({"file": pointer.file, "generation": pointer.generation}).encode()
    )


def remove_older(directory: Path, generation: int) -> None:
    """Delete the data files (and their sidecars) of generations before ``generation``
    (best effort: some may still be open)."""
    try:
        names = os.listdir(directory)
    except OSError:
        return
    for name in names:
        m = _DATA_FILE_OR_SIDECAR.match(name)
        if m and int(m.group(1)) < generation:
            remove_file(directory / name)
