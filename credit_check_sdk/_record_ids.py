"""Ids of the records the SDK writes: random (version 4) UUIDs, as text.

``uuid.uuid4()`` asks the kernel for 16 random bytes at every call, and
``os.urandom`` lets go of the GIL for it: on a busy counter, every check
would then wait for the uploader thread to hand the interpreter back. Here
the bytes come from ``os.urandom`` 4 KiB at a time (256 ids per system
call), the same source and the same randomness as ``uuid.uuid4()``.

Fork-safe: a forked child drops what it inherited of the buffer (else
parent and child would hand out the same ids) and the lock.

>>> a, b = new_record_id(), new_record_id()
>>> a != b, len(a), a[14], a[19] in "89ab"
(True, 36, '4', True)
"""

from __future__ import annotations

import os
import threading

__all__ = ["new_record_id"]

_CHUNK = 4096

# Version 4 (bits 76-79 = 0100) and the RFC 4122 variant (bits 62-63 = 10).
_CLEAR = ~((0xF << 76) | (0x3 << 62))
_SET = (0x4 << 76) | (0x2 << 62)


class _Pool:
    __slots__ = ("buffer", "lock", "position")

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.buffer = b""
        self.position = 0

    def take(self) -> bytes:
        with self.lock:
            position = self.position
            if position + 16 > len(self.buffer):
                self.buffer = os.urandom(_CHUNK)
                position = 0
            self.position = position + 16
            return self.buffer[position : position + 16]


_pool = _Pool()


def _after_fork_in_child() -> None:
    global _pool
    _pool = _Pool()


os.register_at_fork(after_in_child=_after_fork_in_child)


def new_record_id() -> str:
    """A new random UUID (version 4) as 36 characters, like ``str(uuid.uuid4())``.

    >>> import uuid
    >>> uuid.UUID(new_record_id()).version
    4
    """
    n = (int.from_bytes(_pool.take(), "big") & _CLEAR) | _SET
    h = f"{n:032x}"
    return f"{h[:8]}-{h[8:12]}-{h[12:16]}-{h[16:20]}-{h[20:]}"
