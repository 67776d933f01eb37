"""Loading a list export (gzip NDJSON) into a snapshot rebuild, whatever stores the snapshot.

The export's first line is ``{"cursor", "as_of", "count"}``, then one
``ListEntry`` per line (and, from contract v2, ``{"relation": …}`` lines).
:class:`ExportLoader` takes the bytes as they arrive (a download or a file),
validates every line, and hands batches to the adapter's
:class:`~credit_check_sdk.storage.SnapshotBuilder` through four calls:
``insert_entries`` (``(entry_id, subject_id, line)`` rows), ``insert_relations``,
``discard_rows`` (a retried download starts again) and ``set_export_meta``
(the header, once the whole export has been checked). Memory stays flat
however large the export, and however hostile.

>>> is_relation_line('{"relation": {}}'), is_relation_line('{"entry_id": "BL-1"}')
(True, False)
"""

from __future__ import annotations

import io
import json
import threading
import zlib
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, NoReturn

from pydantic import BaseModel, ConfigDict, ValidationError

from .._inflate import GZIP_MAGIC, Inflater
from .._models import ListEntry, Relation
from ._errors import LoadStoppedError, SnapshotImportError

if TYPE_CHECKING:
    from ._interface_offline import SnapshotBuilder

__all__ = [
    "IMPORT_BATCH",
    "MAX_LINE_BYTES",
    "ExportHeader",
    "ExportLoader",
    "OnStored",
    "is_relation_line",
    "parse_header",
    "parse_relation_lines",
]

# Rows per INSERT batch (and transaction) when importing: large enough that the
# per-statement overhead vanishes, small enough that memory stays flat.
IMPORT_BATCH = 10_000

_READ_CHUNK = 1024 * 1024
# Inflated bytes handed on at a time: however small the gzip input, no more exists at once.
_INFLATE_CHUNK = 64 * 1024
#: The longest export line taken by default (a ListEntry line is about 1 KB).
MAX_LINE_BYTES = 1024 * 1024
# Validated lines are stored once this many bytes of them wait (or IMPORT_BATCH lines).
_BATCH_BYTES = 8 * 1024 * 1024


@dataclass(frozen=True)
class ExportHeader:
    """The first line of a list export: the feed cursor to follow on from, its time, the count."""

    cursor: str
    as_of: datetime
    count: int


OnStored = Callable[[list[str]], None]


class ExportLoader:
    """Loads a list export into a :class:`SnapshotBuilder` from bytes pushed in as they arrive.

    Accepts gzip (one or more members) or plain NDJSON, told apart by the
    first two bytes. Write the bytes in any pieces with :meth:`write`, then
    call :meth:`finish`, which checks that the stream was complete and that it
    held ``count`` entries. Every line is validated as a ``ListEntry`` and
    stored as sent; rows are inserted ``IMPORT_BATCH`` at a time (or 8 MiB of
    them), and ``on_stored`` receives the subject ids of each batch once it is
    written. Memory stays flat however large the export, and however hostile:
    gzip is inflated 64 KiB at a time, and a line longer than
    ``max_line_bytes`` refuses the export (:class:`SnapshotImportError`) as
    soon as it passes the limit (default :data:`MAX_LINE_BYTES`, or the
    client's ``max_export_line_bytes``).

    It is also the ``sink`` of a streamed ``GET /v1/lists/export``
    (:meth:`PlatformClient.export_lists`): the export is loaded while it
    downloads, and a retried request (``seek(0)`` + ``truncate()``) starts the
    load again from nothing. When ``stop`` is set, the next write raises
    :class:`LoadStoppedError`.

    >>> with snap.begin_rebuild() as builder:  # doctest: +SKIP
    ...     loader = builder.export_loader()
    ...     client.export_lists(loader)
    ...     header = loader.finish()
    ...     builder.commit()
    """

    def __init__(
        self,
        builder: SnapshotBuilder,
        *,
        on_stored: OnStored | None = None,
        stop: threading.Event | None = None,
        max_line_bytes: int | None = None,
    ) -> None:
        self._builder = builder
        self._on_stored = on_stored
        self._stop = stop
        #: The longest line taken; ``None``: :data:`MAX_LINE_BYTES`, or the setting
        #: ``max_export_line_bytes`` when :meth:`PlatformClient.export_lists` loads it.
        self.max_line_bytes = max_line_bytes
        self._reset()

    def _reset(self) -> None:
        self._magic = b""  # the first bytes, until two tell gzip from plain
        self._plain: bool | None = None  # None until the first two bytes tell
        self._inflate: Inflater | None = None
        self._tail: list[bytes] = []  # the start of a line not yet complete, in pieces
        self._tail_size = 0
        self._line_no = 0
        self.header: ExportHeader | None = None
        self._pending: list[str] = []  # lines not yet stored (fewer than a batch)
        self._pending_size = 0
        self._seen = 0

    # The file-like surface PlatformClient.request uses for a sink.

    def write(self, data: bytes) -> int:
        """Take the next bytes of the export; complete lines are validated and stored."""
        if self._stop is not None and self._stop.is_set():
            raise LoadStoppedError("the export load was asked to stop")
        taken = len(data)
        if self._plain is None:
            self._magic += data
            if len(self._magic) < 2:
                return taken
            data, self._magic = self._magic, b""
            self._plain = not data.startswith(GZIP_MAGIC)
            if not self._plain:
                self._inflate = Inflater(chunk=_INFLATE_CHUNK)
        if self._inflate is None:
            self._take(data)
            return taken
        try:
            for piece in self._inflate.feed(data):
                self._take(piece)
        except zlib.error as exc:
            raise SnapshotImportError(
                f"export is not a valid gzip stream: {exc}", path=self._builder.location
            ) from exc
        return taken

    def seek(self, offset: int, whence: int = 0) -> int:
        """Only rewinding to the start is possible; :meth:`truncate` then discards the load."""
        if (offset, whence) != (0, 0):
            raise io.UnsupportedOperation("an export load can only be rewound to the start")
        return 0

    def truncate(self, size: int | None = None) -> int:
        """Forget everything loaded so far (a retried download starts again)."""
        if size not in (None, 0):
            raise io.UnsupportedOperation("an export load can only be emptied")
        if self._seen:
            self._builder.discard_rows()
        self._reset()
        return 0

    @property
    def loaded(self) -> int:
        """Entries validated so far."""
        return self._seen

    def finish(self) -> ExportHeader:
        """End of the export: store the last rows and check it whole; its header.

        Raises :class:`SnapshotImportError` when the stream is not a complete
        gzip stream, has no header, or does not hold ``count`` entries.
        """
        where = self._builder.location
        if self._magic:  # fewer than two bytes in all
            self._plain = True
            self._take(self._magic)
            self._magic = b""
        if self._inflate is not None and not self._inflate.complete:
            raise SnapshotImportError(
                "export is truncated (the gzip stream ends early)", path=where
            )
        if self._tail:
            tail, self._tail, self._tail_size = b"".join(self._tail), [], 0
            self._add_lines(self._decode(tail))
        if self._pending:
            pending, self._pending, self._pending_size = self._pending, [], 0
            self._store(pending)
        if self.header is None:
            raise SnapshotImportError("export is empty: no header line", path=where)
        if self._seen != self.header.count:
            raise SnapshotImportError(
                f"export header promises {self.header.count} entries, "
                f"the file holds {self._seen}; refused",
                path=where,
            )
        self._builder.set_export_meta(self.header)
        return self.header

    # -- internals -----------------------------------------------------------------

    def _take(self, data: bytes) -> None:
        if not data:
            return
        limit = self.max_line_bytes or MAX_LINE_BYTES
        cut = data.rfind(b"\n")
        if cut < 0:
            self._tail.append(data)
            self._tail_size += len(data)
            if self._tail_size > limit:
                self._too_long(0, limit)
            return
        if self._tail_size + data.find(b"\n") > limit:
            self._too_long(0, limit)
        self._tail.append(data[:cut])
        block = b"".join(self._tail)
        rest = data[cut + 1 :]
        self._tail, self._tail_size = ([rest], len(rest)) if rest else ([], 0)
        if len(block) > limit:
            # Only a block this long can hold a line this long: find it.
            for at, line in enumerate(block.split(b"\n")):
                if len(line) > limit:
                    self._too_long(at, limit)
        if self._tail_size > limit:
            self._too_long(block.count(b"\n") + 1, limit)
        self._add_lines(self._decode(block))

    def _too_long(self, lines_on: int, limit: int) -> NoReturn:
        line_no = self._line_no + len(self._pending) + lines_on + 1
        raise SnapshotImportError(
            f"export line {line_no} is longer than {limit} bytes; refused (max_export_line_bytes)",
            path=self._builder.location,
        )

    def _decode(self, block: bytes) -> list[str]:
        # One decode per block, cut at a newline, so no character is split.
        try:
            return block.decode("utf-8").split("\n")
        except UnicodeDecodeError as exc:
            line_no = self._line_no + len(self._pending) + block.count(b"\n", 0, exc.start) + 1
            raise SnapshotImportError(
                f"export line {line_no} is not UTF-8", path=self._builder.location
            ) from exc

    def _add_lines(self, lines: list[str]) -> None:
        at = 0
        while self.header is None and at < len(lines):
            self._line_no += 1
            first = lines[at].strip()
            at += 1
            if first:
                self.header = parse_header(first, self._builder.location)
        taken = lines[at:] if at else lines
        self._pending.extend(taken)
        self._pending_size += sum(map(len, taken))
        while len(self._pending) >= IMPORT_BATCH or self._pending_size >= _BATCH_BYTES:
            batch, self._pending = self._pending[:IMPORT_BATCH], self._pending[IMPORT_BATCH:]
            self._pending_size = sum(map(len, self._pending))
            self._store(batch)

    def _store(self, batch: list[str]) -> None:
        """Validate a batch of lines, one entry each, and insert them in one transaction."""
        first = self._line_no + 1
        self._line_no += len(batch)
        lines = [line for line in map(str.strip, batch) if line]
        if not lines:
            return
        if any(map(is_relation_line, lines)):
            lines = self._store_relations(lines, first)
        # The hottest loop of a full sync: the model's validator is called directly,
        # and each model is dropped at once (holding a batch of them costs the
        # garbage collector more than the validation). The validated line is stored
        # as sent: reads validate it again, so unknown (newer) fields are harmless
        # and nothing is re-serialised.
        validate = ListEntry.__pydantic_validator__.validate_json
        try:
            rows = [(e.entry_id, e.subject_id, line) for line in lines for e in (validate(line),)]
        except ValidationError:
            self._refuse(batch, first)
        self._builder.insert_entries(rows)
        self._seen += len(rows)
        if self._on_stored is not None:
            self._on_stored([row[1] for row in rows])

    def _store_relations(self, lines: list[str], first: int) -> list[str]:
        """Store the batch's relation lines (contract v2); the entry lines, to store next."""
        found = [line for line in lines if is_relation_line(line)]
        parsed, bad = parse_relation_lines(found)
        if bad is not None:
            raise SnapshotImportError(
                f"export line {first + lines.index(found[bad])} is not a valid relation",
                path=self._builder.location,
            )
        self._builder.insert_relations(parsed)
        return [line for line in lines if not is_relation_line(line)]

    def _refuse(self, batch: list[str], first: int) -> NoReturn:
        where = self._builder.location
        for offset, raw in enumerate(batch):
            line = raw.strip()
            if not line:
                continue
            try:
                ListEntry.model_validate_json(line)
            except ValidationError as exc:
                raise SnapshotImportError(
                    f"export line {first + offset} is not a valid list entry: "
                    f"{exc.error_count()} error(s)",
                    path=where,
                ) from exc
        raise AssertionError("a line that failed validation passed it again")  # pragma: no cover


def parse_header(text: str, where: str) -> ExportHeader:
    """The export's first line as an :class:`ExportHeader`; ``where`` names the export in errors.

    >>> parse_header('{"cursor": "s9", "as_of": "2026-11-29T08:00:00+08:00", "count": 2}',
    ...              "x").count
    2
    """
    try:
        head = json.loads(text)
        header = ExportHeader(
            cursor=str(head["cursor"]),
            as_of=datetime.fromisoformat(str(head["as_of"])),
            count=int(head["count"]),
        )
    except (ValueError, KeyError, TypeError) as exc:
        raise SnapshotImportError(
            "export: the first line is not a {cursor, as_of, count} header", path=where
        ) from exc
    if header.as_of.tzinfo is None:
        raise SnapshotImportError("export: as_of has no UTC offset", path=where)
    if header.count < 0:
        raise SnapshotImportError("export: count is negative", path=where)
    return header


def is_relation_line(line: str) -> bool:
    """Whether an export line is a relation (``{"relation": …}``) rather than an entry.

    >>> is_relation_line('{"relation": {}}'), is_relation_line('{"entry_id": "BL-1"}')
    (True, False)
    """
    return line[1:].lstrip().startswith('"relation"')


class _RelationLine(BaseModel):
    model_config = ConfigDict(extra="ignore", defer_build=True)

    relation: Relation


def parse_relation_lines(lines: Sequence[str]) -> tuple[list[Relation], int | None]:
    """The relations of export lines, or ``([], i)`` with the index of the first bad one."""
    out: list[Relation] = []
    validate = _RelationLine.model_validate_json
    for i, line in enumerate(lines):
        try:
            out.append(validate(line).relation)
        except ValidationError:
            return [], i
    return out, None
