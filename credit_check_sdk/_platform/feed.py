"""The change feed and the export: cursors, pages and the export's lines.

A cursor names a point of the feed (the seq of the last change a client has).
:class:`SeqCursors` writes it plainly (``s42``) and never expires it, as a test
double may; :class:`GenerationCursors` ties it to the data set (a reseeded
platform answers 410 to an old cursor) and expires it after a retention, as
the contract lets a platform do.

>>> SeqCursors().encode(42, 50)
's42'
>>> SeqCursors().decode("s42", newest=50)
42
"""

from __future__ import annotations

import base64
import binascii
import time
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager
from datetime import timedelta
from typing import Protocol

from .errors import Refusal
from .memory import json_bytes

__all__ = [
    "MAX_CHANGES",
    "Cursors",
    "GenerationCursors",
    "SeqCursors",
    "changes_page",
    "export_lines",
    "parse_limit",
]

#: The most changes one page may hold (``limit`` ≤ 5000).
MAX_CHANGES = 5000


class Cursors(Protocol):
    """How a platform writes and reads its feed cursors."""

    def encode(self, seq: int, head: int) -> str:
        """A cursor after change ``seq``, issued when the feed's newest seq was ``head``."""
        ...

    def decode(self, cursor: str, newest: int) -> int:
        """The seq a cursor stands after; raises :class:`Refusal` (400, 410)."""
        ...


class SeqCursors:
    """``s<seq>`` cursors that never expire."""

    def encode(self, seq: int, head: int) -> str:
        """``s`` and the seq."""
        return f"s{seq}"

    def decode(self, cursor: str, newest: int) -> int:
        """The seq, or 400 when it is not one of this feed's."""
        digits = cursor[1:]
        if not cursor.startswith("s") or not digits.isdigit() or int(digits) > newest:
            raise Refusal(400, "unknown cursor; start again without one", slug="bad-cursor")
        return int(digits)


class GenerationCursors:
    """Opaque cursors of one data set (``generation``) that expire.

    ``retention``: an ``int`` is how many changes may have been made since the
    cursor was issued, a ``timedelta`` its age; past either the cursor gets 410.
    ``None``: cursors live as long as the data set.
    """

    def __init__(
        self, generation: Callable[[], str], retention: int | timedelta | None = None
    ) -> None:
        self.generation = generation
        self.retention = retention

    def encode(self, seq: int, head: int) -> str:
        """``v1:generation:seq:head:issued``, base64url without padding."""
        raw = f"v1:{self.generation()}:{seq}:{head}:{int(time.time())}".encode()
        return base64.urlsafe_b64encode(raw).decode().rstrip("=")

    @staticmethod
    def parse(cursor: str) -> tuple[str, int, int, int]:
        """``(generation, seq, head, issued)``; 400 for a malformed cursor."""
        try:
            raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)).decode()
            version, generation, seq, head, issued = raw.split(":")
            if version != "v1":
                raise ValueError(version)
            return generation, int(seq), int(head), int(issued)
        except (ValueError, binascii.Error, UnicodeDecodeError):
            raise Refusal(
                400, "malformed cursor; start again without one", slug="bad-cursor"
            ) from None

    def decode(self, cursor: str, newest: int) -> int:
        """The seq; 410 for another data set's or a too old cursor, 400 past the feed's end."""
        gen, after, head, issued = self.parse(cursor)
        if gen != self.generation():
            raise Refusal(
                410,
                "the cursor belongs to an earlier data set; start again without a cursor",
                slug="cursor-expired",
            )
        if after > newest or head > newest or after > head:
            raise Refusal(400, "the cursor points past the end of the feed", slug="bad-cursor")
        retention = self.retention
        too_old = (isinstance(retention, int) and newest - head > retention) or (
            isinstance(retention, timedelta) and time.time() - issued > retention.total_seconds()
        )
        if too_old:
            raise Refusal(
                410,
                "the cursor is older than the change feed keeps; start again without a cursor",
                slug="cursor-expired",
            )
        return after


def parse_limit(raw: str | None) -> int:
    """The page size asked for (default 1000); 400 unless 1 to 5000.

    >>> parse_limit(None), parse_limit("5000")
    (1000, 5000)
    """
    if raw is None:
        return 1000
    try:
        limit = int(raw)
    except ValueError:
        raise Refusal(400, "limit must be an integer", slug="bad-request") from None
    if not 1 <= limit <= MAX_CHANGES:
        raise Refusal(400, f"limit must be 1 to {MAX_CHANGES}", slug="bad-request")
    return limit


def changes_page(
    changes: list[tuple[int, bytes]], limit: int, after: int, cursor: str, as_of: str
) -> bytes:
    """The page's JSON from up to ``limit + 1`` change texts (one more says ``has_more``).

    The changes come as JSON text and are joined as they are: parsing and
    serialising a 5000-change page again would cost more than reading it. The
    object's start and end go onto the first and last change, so that the page
    is copied once, by the one join.

    >>> changes_page([(1, b'{"seq":1}')], 10, 0, "s1", "t")
    b'{"changes":[{"seq":1}],"next_cursor":"s1","has_more":false,"as_of":"t"}'
    """
    has_more = len(changes) > limit
    page = changes[:limit]
    tail = json_bytes({"next_cursor": cursor, "has_more": has_more, "as_of": as_of})
    texts = [text for _, text in page] or [b""]
    texts[0] = b'{"changes":[' + texts[0]
    texts[-1] += b"]," + tail[1:]
    return b",".join(texts)


def export_lines(
    export: AbstractContextManager[tuple[int, int, Iterator[bytes]]],
    cursor: Callable[[int], str],
    as_of: str,
) -> Iterator[bytes]:
    """The export's NDJSON: the head line (``cursor``, ``as_of``, ``count``), then the store's
    lines, all read within one ``export`` block (one point in time)."""
    with export as (newest, count, chunks):
        yield json_bytes({"cursor": cursor(newest), "as_of": as_of, "count": count}) + b"\n"
        yield from chunks
