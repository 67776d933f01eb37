"""Who writes a hash chain: one writer per ``data_dir``, its id kept in ``writer.json``.

In the shared database every writer keeps its own hash chain, so that writers on
different hosts never wait for each other. A writer is one ``data_dir``'s SDK:
the processes sharing a ``data_dir`` (the workers of one application server)
share its chain, and its local spool. The id is made once, on the first record
written (an instance that only reads makes none), and kept in
``data_dir/writer.json``; the ``instance_id`` setting names it instead.

>>> import tempfile, pathlib
>>> folder = pathlib.Path(tempfile.mkdtemp())
>>> first = writer_id(folder)
>>> first == writer_id(folder), (folder / WRITER_FILE).exists()
(True, True)
>>> writer_id(folder, instance_id="app-01")
'app-01'
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import socket
import uuid
from datetime import datetime, timezone
from pathlib import Path

from ..._exceptions import JournalError
from ..._files import create_private_file, fsync_dir, make_private_dir
from .._journal_core import utc_text

__all__ = ["WRITER_FILE", "read_writer_id", "writer_id"]

#: The file in ``data_dir`` that names its writer.
WRITER_FILE = "writer.json"

_UNSAFE = re.compile(r"[^A-Za-z0-9._-]+")


def read_writer_id(data_dir: Path) -> str | None:
    """The writer id kept in ``data_dir``, or ``None`` when none was made yet."""
    path = data_dir / WRITER_FILE
    try:
        value = json.loads(path.read_text(encoding="utf-8"))["writer_id"]
    except FileNotFoundError:
        return None
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise JournalError(f"{path} does not name a writer: {exc}", path=str(path)) from exc
    if not isinstance(value, str) or not value:
        raise JournalError(f"{path} does not name a writer", path=str(path))
    return value


def writer_id(data_dir: Path, *, instance_id: str | None = None) -> str:
    """The writer id of ``data_dir``: ``instance_id`` when given, else the one kept in
    ``writer.json``, made (host name and a random part) and kept there on first use.

    Two processes making it at once agree: the file is created whole (written aside,
    then linked into place, which fails when it exists), and the loser reads the
    winner's.
    """
    if instance_id:
        return instance_id
    found = read_writer_id(data_dir)
    if found is not None:
        return found
    host = _UNSAFE.sub("-", socket.gethostname()).strip("-")[:40] or "host"
    made = f"{host}-{uuid.uuid4().hex[:12]}"
    _keep(data_dir, made)
    found = read_writer_id(data_dir)
    if found is None:  # pragma: no cover - the link either made it or found it
        raise JournalError(f"cannot keep the writer id in {data_dir}", path=str(data_dir))
    return found


def keep_writer_id(data_dir: Path, value: str) -> str:
    """Keep ``value`` as ``data_dir``'s writer id unless it names one already; the id in force.

    Used by the import of a host's SQLite journal: the host goes on writing the
    chain the import made.
    """
    found = read_writer_id(data_dir)
    if found is not None:
        return found
    _keep(data_dir, value)
    return read_writer_id(data_dir) or value


def _keep(data_dir: Path, value: str) -> None:
    make_private_dir(data_dir)
    final = data_dir / WRITER_FILE
    aside = data_dir / f".{WRITER_FILE}.{os.getpid()}.{uuid.uuid4().hex[:6]}"
    body = {
        "writer_id": value,
        "host": socket.gethostname(),
        "created_at": utc_text(datetime.now(timezone.utc)),
    }
    try:
        create_private_file(aside)
        with open(aside, "w", encoding="utf-8") as f:
            json.dump(body, f)
            f.flush()
            os.fsync(f.fileno())
        with contextlib.suppress(FileExistsError):
            os.link(aside, final)
        fsync_dir(data_dir)
    except OSError as exc:
        raise JournalError(f"cannot keep the writer id in {final}: {exc}", path=str(final)) from exc
    finally:
        with contextlib.suppress(OSError):
            aside.unlink()
