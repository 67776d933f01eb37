"""Durable file replacement, and private files: what the SDK's stores share.

The SQLite files in ``data_dir`` (journal, snapshot, relations, follow-ups) hold
full personal id numbers, so ``data_dir`` is created 0700 and each file 0600
before SQLite opens it: SQLite gives a database's ``-wal`` and ``-shm`` files
the mode of the database file itself, so they are private too. Files and
folders that exist already are left as they are (an administrator may have
chosen their modes); :func:`wider_than_private` finds those that others can
read, for ``health()``.

>>> import tempfile, pathlib
>>> target = pathlib.Path(tempfile.mkdtemp()) / "pointer.json"
>>> atomic_write(target, b'{"generation": 1}')
>>> target.read_bytes()
b'{"generation": 1}'
"""

from __future__ import annotations

import contextlib
import os
import stat
import sys
import tempfile
from pathlib import Path

__all__ = [
    "PRIVATE_DIR",
    "PRIVATE_FILE",
    "atomic_write",
    "create_private_file",
    "fsync_dir",
    "make_private_dir",
    "wider_than_private",
]

#: The mode of the SDK's data folder and of every file in it.
PRIVATE_DIR = 0o700
PRIVATE_FILE = 0o600

# The files of data_dir that hold personal data: the SQLite stores and their
# WAL, shared-memory and rollback files, and the catalogue's folder.
_PRIVATE_NAMES = (".sqlite3", ".sqlite3-wal", ".sqlite3-shm", ".sqlite3-journal", ".sqlite3.new")


def make_private_dir(path: Path) -> None:
    """Create ``path`` (and missing parents) if missing; the folder itself 0700.

    >>> import tempfile, pathlib
    >>> d = pathlib.Path(tempfile.mkdtemp()) / "cc"
    >>> make_private_dir(d)
    >>> oct(d.stat().st_mode & 0o777)
    '0o700'
    """
    path.mkdir(mode=PRIVATE_DIR, parents=True, exist_ok=True)


def create_private_file(path: str | Path) -> None:
    """Create ``path`` empty and 0600 if it does not exist, before SQLite opens it.

    An existing file keeps its mode. On Windows file modes do not apply.
    """
    if sys.platform == "win32":  # pragma: no cover - exercised on Windows only
        return
    fd = os.open(path, os.O_RDWR | os.O_CREAT, PRIVATE_FILE)
    os.close(fd)


def wider_than_private(data_dir: Path) -> list[dict[str, str]]:
    """``data_dir`` and its SQLite files (one level down too) that others may read or
    write: ``{"path", "mode", "fix"}`` for each, empty when all are private.

    >>> import tempfile, pathlib
    >>> d = pathlib.Path(tempfile.mkdtemp())
    >>> d.chmod(0o755)
    >>> [w["mode"] for w in wider_than_private(d)]
    ['0755']
    """
    if sys.platform == "win32":  # pragma: no cover - exercised on Windows only
        return []
    found: list[dict[str, str]] = []

    def note(path: Path, is_dir: bool) -> None:
        try:
            mode = stat.S_IMODE(path.stat().st_mode)
        except OSError:
            return  # gone meanwhile (a WAL file checkpointed away)
        if mode & 0o077:
            want = PRIVATE_DIR if is_dir else PRIVATE_FILE
            found.append(
                {"path": str(path), "mode": f"{mode:04o}", "fix": f"chmod {want:o} {path}"}
            )

    if not data_dir.is_dir():
        return found
    note(data_dir, True)
    for child in sorted(data_dir.iterdir()):
        if child.is_dir() and not child.is_symlink():
            for inner in sorted(child.iterdir()):
                if inner.name.endswith(_PRIVATE_NAMES):
                    note(inner, False)
        elif child.name.endswith(_PRIVATE_NAMES):
            note(child, False)
    return found


def fsync_dir(directory: Path) -> None:
    """Make a rename in ``directory`` durable: only then is the new entry itself on disk.

    Windows cannot open a directory for fsync; there the rename is already as
    durable as the platform allows.
    """
    if sys.platform == "win32":  # pragma: no cover - exercised on Windows only
        return
    fd = os.open(directory, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def atomic_write(path: Path, data: bytes) -> None:
    """Write ``data`` to ``path`` so that readers see the old or the new file, never half of one.

    The bytes are fsynced in a temporary file beside ``path``, renamed over
    it, and the rename is made durable.
    """
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise
    fsync_dir(path.parent)
