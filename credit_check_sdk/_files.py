"""Durable file replacement: what the catalogue store and the snapshot pointer share.

>>> import tempfile, pathlib
>>> target = pathlib.Path(tempfile.mkdtemp()) / "pointer.json"
>>> atomic_write(target, b'{"generation": 1}')
>>> target.read_bytes()
b'{"generation": 1}'
"""

from __future__ import annotations

import contextlib
import os
import sys
import tempfile
from pathlib import Path

__all__ = ["atomic_write", "fsync_dir"]


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
