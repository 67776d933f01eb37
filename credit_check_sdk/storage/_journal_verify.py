"""Verifying a journal, whatever stores it: the hash chain, and the report columns against bodies.

An adapter streams its rows in chain order into a :class:`ChainVerifier`
(``(position, id, hash column, prev_hash column, body text)``), and each
record's stored columns into :func:`column_mismatches`; the rules of what is
wrong live here, once:

- ``gap``: a position is missing (a record deleted from the middle);
- ``hash_mismatch``: the body does not hash to the ``hash`` it states (altered);
- ``broken_link``: ``prev_hash`` is not the previous record's hash (reordered,
  or a record deleted and the chain patched);
- ``column_mismatch``: the id/hash/prev_hash columns differ from the body;
- ``bad_body``: the stored body is not a JSON object;
- ``head_mismatch``: the store's head (when it keeps one) is not the last
  record (the tail was deleted).

>>> from credit_check_sdk.storage._journal_core import prepare_record, seal
>>> p = prepare_record({"type": "check", "id": "c1",
...                     "checked_at": "2026-11-29T08:00:00+08:00"}, None)
>>> body = seal(p, None)
>>> v = ChainVerifier()
>>> v.feed(1, "c1", p.record["hash"], None, body)
>>> v.finish()
VerifyResult(ok=True, checked=1, problems=[])
>>> v = ChainVerifier()
>>> v.feed(2, "c1", p.record["hash"], None, body)
>>> [q.kind for q in v.finish().problems]
['gap']
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

from .._exceptions import InvalidRequestError
from ._journal_core import (
    DERIVED_COLUMNS,
    canonical_hash,
    derive_authorities,
    derive_columns,
    key_columns,
    same_value,
)

__all__ = [
    "ChainVerifier",
    "ColumnMismatch",
    "ColumnVerifyResult",
    "Problem",
    "VerifyResult",
    "column_mismatches",
]


@dataclass(frozen=True)
class Problem:
    """One defect :meth:`~credit_check_sdk.storage.JournalStore.verify` found.

    ``kind`` is ``hash_mismatch`` (the body does not hash to its ``hash``),
    ``broken_link`` (``prev_hash`` is not the previous record's hash), ``gap``
    (a sequence number is missing), ``column_mismatch`` (an indexed column
    disagrees with the body), ``bad_body`` (the stored body is not a JSON
    object), ``head_mismatch`` (the chain's recorded head is not its last
    record: records were deleted from the end) or ``missing_chain`` (a lane of a
    writer in the shared database is gone, head and all, while a higher lane of
    the same writer is there). ``chain`` names the chain in a
    store that keeps several (one per writer); ``None`` in a single-chain journal.
    """

    seq: int
    id: str
    kind: str
    detail: str
    chain: str | None = None


@dataclass
class VerifyResult:
    """The outcome of a journal's ``verify()``: ``ok`` when no problem was found."""

    ok: bool
    checked: int
    problems: list[Problem] = field(default_factory=list)


@dataclass(frozen=True)
class ColumnMismatch:
    """One stored column or measure row that a journal's ``verify_columns()`` found to
    disagree with the record's body.

    ``column`` is ``type``, ``check_id``, ``at``, ``outcome``, ``category``, ``source``,
    ``recheck_of`` or ``action`` for a column of the record; ``record_measures[n]`` for a
    measure row that is missing or should not be there, ``record_measures[n].measure_id``
    or ``record_measures[n].status`` for one that differs; ``record_authorities[n]`` when
    the list authorities stored for measure ``n`` (a sorted tuple, ``None`` for none)
    differ from those its entries have in the check's inputs; ``body`` when the body
    cannot be read at all, ``inputs`` when a check's inputs cannot. ``stored`` is what
    the store holds, ``derived`` what the body gives (``None`` for no row). ``seq`` is
    the record's sequence number; a measure row whose record does not exist has ``id``
    ``""``.
    """

    seq: int
    id: str
    column: str
    stored: Any
    derived: Any


@dataclass
class ColumnVerifyResult:
    """The outcome of a journal's ``verify_columns()``: ``ok`` when every column agrees.

    ``mismatches`` holds the first ``limit`` disagreements found; ``mismatch_count``
    counts them all.
    """

    ok: bool
    checked: int
    mismatch_count: int = 0
    mismatches: list[ColumnMismatch] = field(default_factory=list)

    def note(self, mismatch: ColumnMismatch, limit: int | None) -> None:
        """Count ``mismatch``, keeping it when fewer than ``limit`` are kept (``None``: all)."""
        self.ok = False
        self.mismatch_count += 1
        if limit is None or len(self.mismatches) < limit:
            self.mismatches.append(mismatch)


class ChainVerifier:
    """Walks one hash chain, a row at a time, in chain order; memory stays flat.

    ``first`` is the position the chain starts at (1). ``chain`` is put on every
    problem (the writer's id, in a store with one chain per writer).
    """

    def __init__(self, *, first: int = 1, chain: str | None = None) -> None:
        self._prev_seq = first - 1
        self._prev_hash: str | None = None
        self._chain = chain
        self.checked = 0
        self.problems: list[Problem] = []

    def _problem(self, seq: int, rid: str, kind: str, detail: str) -> None:
        self.problems.append(Problem(seq, rid, kind, detail, self._chain))

    def feed(
        self, seq: int, rid: str, col_hash: str | None, col_prev: str | None, text: str
    ) -> None:
        """Check the next record: position ``seq``, id column ``rid``, hash and prev_hash
        columns, and the stored body ``text``."""
        self.checked += 1
        prev_seq, prev_hash = self._prev_seq, self._prev_hash
        if seq != prev_seq + 1:
            self._problem(seq, rid, "gap", f"seq {prev_seq + 1}..{seq - 1} missing")
        try:
            body = json.loads(text)
            if not isinstance(body, dict):
                raise ValueError("not an object")
        except ValueError as exc:
            self._problem(seq, rid, "bad_body", str(exc))
            self._prev_seq, self._prev_hash = seq, col_hash
            return
        stated = body.get("hash")
        actual = canonical_hash(body)
        if stated != actual:
            self._problem(seq, rid, "hash_mismatch", f"body hashes to {actual}, states {stated}")
        if body.get("prev_hash") != prev_hash:
            self._problem(
                seq,
                rid,
                "broken_link",
                f"prev_hash {body.get('prev_hash')} but the previous record's hash is {prev_hash}",
            )
        if (body.get("id"), stated, body.get("prev_hash")) != (rid, col_hash, col_prev):
            self._problem(
                seq, rid, "column_mismatch", "id/hash/prev_hash columns differ from the body"
            )
        self._prev_seq, self._prev_hash = seq, stated

    def finish(self, head: tuple[str | None, int] | None = None) -> VerifyResult:
        """The result; ``head`` is the ``(hash, position)`` the store records as the chain's
        head, when it keeps one: a head past the last record means records were deleted
        from the end (which no link can show)."""
        if head is not None and (head[1], head[0]) != (self._prev_seq, self._prev_hash):
            self._problem(
                head[1],
                "",
                "head_mismatch",
                f"the chain's head is #{head[1]} {head[0]}, its last record"
                f" #{self._prev_seq} {self._prev_hash}",
            )
        return VerifyResult(ok=not self.problems, checked=self.checked, problems=self.problems)


def column_mismatches(
    seq: int,
    rid: str,
    text: str,
    stored: tuple[Any, ...],
    stored_measures: dict[int, tuple[Any, Any]],
    *,
    inputs: str | None = None,
    stored_authorities: dict[int, tuple[str, ...]] | None = None,
) -> Iterator[ColumnMismatch]:
    """How one record's ``stored`` columns (type, check_id, at, then the report columns
    in :data:`~credit_check_sdk.storage._journal_core.DERIVED_COLUMNS` order) and
    measure rows (``{n: (measure_id, status)}``) differ from what its body ``text`` gives,
    and, when ``stored_authorities`` is given (``{n: sorted authorities}``), how its list
    authority rows differ from what the body and its ``inputs`` text give
    (:func:`~credit_check_sdk.storage._journal_core.derive_authorities`).

    >>> body = ('{"type":"check","id":"c1","checked_at":"2026-11-29T08:00:00+08:00",'
    ...         '"outcome":"normal"}')
    >>> stored = ("check", "c1", "2026-11-29T00:00:00.000000Z", "review", None, None, None, None)
    >>> [m.column for m in column_mismatches(1, "c1", body, stored, {})]
    ['outcome']
    """
    try:
        body = json.loads(text)
        if not isinstance(body, dict):
            raise ValueError("not a JSON object")
    except ValueError as exc:
        yield ColumnMismatch(seq, rid, "body", f"unreadable: {exc}", None)
        return
    columns, measure_rows = derive_columns(body)
    names: tuple[str, ...]
    derived: tuple[Any, ...]
    try:
        keys = key_columns(body)
    except InvalidRequestError:
        # No usable time in the body (append refuses such a record): the key
        # columns cannot be derived; the report columns still can.
        yield ColumnMismatch(seq, rid, "at", stored[2], None)
        names, derived, stored = DERIVED_COLUMNS, columns, stored[3:]
    else:
        names, derived = ("type", "check_id", "at", *DERIVED_COLUMNS), (*keys, *columns)
    for name, have, want in zip(names, stored, derived, strict=True):
        if not same_value(have, want):
            yield ColumnMismatch(seq, rid, name, have, want)
    wanted = {n: (measure_id, status) for n, measure_id, status in measure_rows}
    for n in sorted(wanted.keys() | stored_measures.keys()):
        have_row, want_row = stored_measures.get(n), wanted.get(n)
        if have_row is None or want_row is None:
            yield ColumnMismatch(seq, rid, f"record_measures[{n}]", have_row, want_row)
            continue
        for name, have, want in zip(("measure_id", "status"), have_row, want_row, strict=True):
            if not same_value(have, want):
                yield ColumnMismatch(seq, rid, f"record_measures[{n}].{name}", have, want)
    if stored_authorities is not None:
        yield from _authority_mismatches(seq, rid, body, inputs, stored_authorities)


def _authority_mismatches(
    seq: int,
    rid: str,
    body: dict[str, Any],
    inputs: str | None,
    stored: dict[int, tuple[str, ...]],
) -> Iterator[ColumnMismatch]:
    given: Any = None
    if inputs is not None and _names_entries(body):
        # Parsed only for a check whose measures name entries: the rest derive no rows.
        try:
            given = json.loads(inputs)
        except ValueError as exc:
            yield ColumnMismatch(seq, rid, "inputs", f"unreadable: {exc}", None)
    wanted: dict[int, list[str]] = {}
    for n, authority in derive_authorities(body, given):
        wanted.setdefault(n, []).append(authority)
    for n in sorted(wanted.keys() | stored.keys()):
        have = stored.get(n)
        want = tuple(wanted[n]) if n in wanted else None
        if have != want:
            yield ColumnMismatch(seq, rid, f"record_authorities[{n}]", have, want)


def _names_entries(body: dict[str, Any]) -> bool:
    measures = body.get("measures")
    return (
        body.get("type") == "check"
        and isinstance(measures, list)
        and any(isinstance(m, dict) and m.get("entry_ids") for m in measures)
    )
