"""A batch's columns as PostgreSQL arrays in binary, encoded once, sent as they are.

The journal's one-statement append sends each table's rows as arrays, one per
column (about thirty per batch). psycopg adapts a Python list by looking at its
elements for their type and dumping each through a generic array dumper; for the
few records of one batch that costs more than the rest of the append's Python.
Here each column's values are packed straight into the binary array format the
server reads (header, dimension, each element's length and bytes:
``array_recv``), and :class:`BinaryArray` carries them through psycopg
untouched (:func:`register` gives the connection its dumper).

>>> text_array(["a", None]).data.hex()
'00000001000000010000001900000002000000010000000161ffffffff'
>>> len(int8_array([1, 2]).data) == 20 + 2 * 12
True
"""

from __future__ import annotations

import struct
from collections.abc import Sequence
from typing import Any

from psycopg import pq
from psycopg.adapt import Dumper

__all__ = ["BinaryArray", "int4_array", "int8_array", "register", "text_array"]

_TEXT, _INT4, _INT8 = 25, 23, 20
_ARRAY_OF = {_TEXT: 1009, _INT4: 1007, _INT8: 1016}
_HEAD = struct.Struct("!iiIii")  # dimensions, has nulls, element type, length, lower bound
_LENGTH = struct.Struct("!i")
_NULL = _LENGTH.pack(-1)


class BinaryArray:
    """An array already in the server's binary format (``text[]``)."""

    __slots__ = ("data",)
    oid = _ARRAY_OF[_TEXT]

    def __init__(self, data: bytes) -> None:
        self.data = data


class _Int4Array(BinaryArray):
    __slots__ = ()
    oid = _ARRAY_OF[_INT4]


class _Int8Array(BinaryArray):
    __slots__ = ()
    oid = _ARRAY_OF[_INT8]


_CLASS_OF = {_TEXT: BinaryArray, _INT4: _Int4Array, _INT8: _Int8Array}


def _empty(element: int) -> BinaryArray:
    return _CLASS_OF[element](struct.pack("!iiI", 0, 0, element))


def text_array(values: Sequence[str | None]) -> BinaryArray:
    """``values`` as a ``text[]`` (``None`` is NULL).

    >>> text_array([]).oid
    1009
    """
    if not values:
        return _empty(_TEXT)
    parts = [b""]
    nulls = 0
    pack = _LENGTH.pack
    for value in values:
        if value is None:
            nulls = 1
            parts.append(_NULL)
        else:
            data = value.encode()
            parts.append(pack(len(data)))
            parts.append(data)
    parts[0] = _HEAD.pack(1, nulls, _TEXT, len(values), 1)
    return BinaryArray(b"".join(parts))


def int8_array(values: Sequence[int]) -> BinaryArray:
    """``values`` as a ``bigint[]``.

    >>> int8_array([7]).oid
    1016
    """
    return _ints(values, _INT8, "q", 8)


def int4_array(values: Sequence[int]) -> BinaryArray:
    """``values`` as an ``int[]``.

    >>> int4_array([7]).oid
    1007
    """
    return _ints(values, _INT4, "i", 4)


def _ints(values: Sequence[int], element: int, code: str, size: int) -> BinaryArray:
    if not values:
        return _empty(element)
    items: list[int] = []
    for value in values:
        items.append(size)
        items.append(value)
    n = len(values)
    data = struct.pack("!iiIii" + ("i" + code) * n, 1, 0, element, n, 1, *items)
    return _CLASS_OF[element](data)


def _dumper(oid_: int) -> type[Dumper]:
    class _BinaryArrayDumper(Dumper):
        format = pq.Format.BINARY
        oid = oid_

        def dump(self, obj: Any) -> bytes:
            data: bytes = obj.data
            return data

    return _BinaryArrayDumper


def register(adapters: Any) -> None:
    """Have ``adapters`` (a connection's ``adapters``) send each :class:`BinaryArray` as it is."""
    for cls in _CLASS_OF.values():
        adapters.register_dumper(cls, _dumper(cls.oid))
