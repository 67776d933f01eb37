"""Bounded gzip inflation: output in pieces of at most ``chunk`` bytes, whatever the input.

``zlib.decompressobj().decompress(data)`` without ``max_length`` turns 64 KiB of a
hostile gzip stream into 64 MiB at once. :class:`Inflater` asks zlib for at most
``chunk`` bytes at a time and hands each piece on before it asks for the next,
so the caller can count and refuse before anything large exists. Concatenated
gzip members (``cat a.gz b.gz``) are one stream, as ``gzip`` reads them.

>>> import gzip
>>> inflater = Inflater(chunk=4)
>>> b"".join(inflater.feed(gzip.compress(b"hello world")))
b'hello world'
>>> inflater.complete
True
"""

from __future__ import annotations

import zlib
from collections.abc import Iterator
from typing import Any

__all__ = ["GZIP_MAGIC", "Inflater"]

GZIP_MAGIC = b"\x1f\x8b"
# wbits for zlib: 16 + 15 reads gzip; 32 + 15 reads gzip or zlib, told by the header.
_GZIP = 31
_GZIP_OR_ZLIB = 47


class Inflater:
    """Inflate gzip (or, with ``zlib_too``, zlib) input fed in any pieces.

    :meth:`feed` yields the output in pieces of at most ``chunk`` bytes; stop
    iterating (or raise) to refuse the rest. ``complete`` is true once the
    last member's end was read: a stream that stops without it is truncated.
    """

    def __init__(self, *, chunk: int = 64 * 1024, zlib_too: bool = False) -> None:
        if chunk <= 0:
            raise ValueError("chunk must be positive")
        self._chunk = chunk
        self._wbits = _GZIP_OR_ZLIB if zlib_too else _GZIP
        self._inflate: Any = zlib.decompressobj(wbits=self._wbits)  # its type is not importable
        self._between_members = False

    @property
    def complete(self) -> bool:
        """Whether the stream so far ends at the end of a member (nothing is cut off)."""
        return bool(self._inflate.eof) or self._between_members

    def feed(self, data: bytes) -> Iterator[bytes]:
        """Inflate ``data``; yields non-empty pieces of at most ``chunk`` bytes.

        Raises :class:`zlib.error` for input that is not a valid stream.
        """
        pending = data
        while True:
            if self._inflate.eof:
                # Another member follows, in this input or in a later one.
                pending = self._inflate.unused_data + pending
                if not pending:
                    self._between_members = True
                    return
                self._inflate = zlib.decompressobj(wbits=self._wbits)
            self._between_members = False
            before = len(pending)
            out = self._inflate.decompress(pending, self._chunk)
            # At a member's end all input left over is in unused_data (unconsumed_tail
            # may still show a stale copy of it).
            pending = b"" if self._inflate.eof else self._inflate.unconsumed_tail
            if out:
                yield out
            if self._inflate.eof:
                continue
            if not out and pending and len(pending) == before:
                raise zlib.error("the compressed stream makes no progress")
            if not pending and len(out) < self._chunk:
                # Everything given was consumed and zlib had room to spare: nothing is
                # held back inside it (a full piece may have more behind it: ask again).
                return
