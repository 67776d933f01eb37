"""What every journal adapter shares: record checks, hashing, report columns, group commit.

A journal adapter (the SQLite file, a PostgreSQL database) stores records; the
rules of what a record is, how it is hashed and chained, which report columns
are derived from it, and how concurrent appends are committed together are the
same for all of them, and live here:

- :func:`prepare_record` validates and copies a record (and its inputs) in the
  caller's thread, before any lock: everything that could fail for one record
  fails there, never inside another thread's group commit;
- :func:`seal` chains a prepared record to the head and hashes it
  (:func:`canonical_hash`);
- :func:`derive_columns` gives the report columns and measure rows copied from
  a body at append time (never hashed: the body stays the source of truth);
- :func:`derive_authorities` gives, for a check, the list authorities (认定部门) of
  the entries behind each of its measures, read from its inputs (the profile) at
  append time, so that the report's ``by_authority`` groups on rows, not on profiles;
- :class:`GroupCommit` queues appends and lets one thread commit every record
  queued so far in one transaction (one ``fsync`` for the lot).

>>> p = prepare_record({"type": "check", "id": "c1", "checked_at": "2026-11-29T08:00:00+08:00",
...                     "outcome": "normal"}, None)
>>> p.at, p.columns
('2026-11-29T00:00:00.000000Z', ('normal', None, None, None, None))
>>> body = seal(p, None)
>>> p.record["hash"] == canonical_hash(p.record) and p.record["prev_hash"] is None
True
"""

from __future__ import annotations

import hashlib
import json
from datetime import datetime, timezone
from typing import Any, Literal

from .._exceptions import InvalidRequestError, JournalError
from ._group_commit import GroupCommit
from ._serialised_inputs import ReadOnlyDict, SerialisedInputs, _inputs_text

__all__ = [
    "DERIVED_COLUMNS",
    "MAX_RECORD_BYTES",
    "UPLOAD_STATES",
    "GroupCommit",
    "PreparedRecord",
    "SerialisedInputs",
    "SerialisedRecord",
    "UploadState",
    "canonical_hash",
    "canonical_json",
    "column_value",
    "derive_authorities",
    "derive_columns",
    "key_columns",
    "prepare_record",
    "same_value",
    "seal",
    "time_bounds",
    "utc_text",
]

#: Where a record stands with the platform.
UploadState = Literal["pending", "accepted", "duplicate", "rejected"]
UPLOAD_STATES: tuple[UploadState, ...] = ("pending", "accepted", "duplicate", "rejected")

#: The largest record (canonical JSON, in bytes) a journal takes: records are
#: uploaded up to 1,000 to a request, and a check or action record is a few KB.
MAX_RECORD_BYTES = 256 * 1024

#: The report columns, in the order :func:`derive_columns` gives them.
DERIVED_COLUMNS = ("outcome", "category", "source", "recheck_of", "action")

_INT64 = (-(2**63), 2**63 - 1)
_NO_COLUMNS: tuple[Any, ...] = (None, None, None, None, None)


# --- canonical form and time ------------------------------------------------------------


def canonical_json(record: dict[str, Any]) -> bytes:
    """The contract's canonical form: ``record`` without ``hash``, keys sorted, no spaces, UTF-8.

    >>> canonical_json({"b": 1, "a": "中", "hash": "x"})
    b'{"a":"\\xe4\\xb8\\xad","b":1}'
    """
    body = {k: v for k, v in record.items() if k != "hash"}
    # allow_nan=False: the output is identical for every valid record, and a NaN
    # (which is not JSON and which the platform could not parse) is refused.
    return json.dumps(
        body, sort_keys=True, separators=(",", ":"), ensure_ascii=False, allow_nan=False
    ).encode("utf-8")


def canonical_hash(record: dict[str, Any]) -> str:
    """Lowercase hex SHA-256 of the record's canonical JSON (its ``hash`` key left out).

    >>> canonical_hash({"id": "a", "prev_hash": None, "hash": "ignored"}) == hashlib.sha256(
    ...     b'{"id":"a","prev_hash":null}').hexdigest()
    True
    """
    return hashlib.sha256(canonical_json(record)).hexdigest()


def _utc(value: datetime) -> str:
    # isoformat: the same fixed-width text as strftime("%Y-%m-%dT%H:%M:%S.%f"), faster.
    utc = value.astimezone(timezone.utc).replace(tzinfo=None)
    return utc.isoformat(timespec="microseconds") + "Z"


def utc_text(value: datetime) -> str:
    """The journal's stored form of an instant: fixed-width UTC text that sorts in time order.

    >>> from datetime import timedelta
    >>> utc_text(datetime(2026, 10, 31, 23, 59, 59, tzinfo=timezone(timedelta(hours=8))))
    '2026-10-31T15:59:59.000000Z'
    """
    if value.tzinfo is None:
        raise InvalidRequestError("an instant needs a timezone")
    return _utc(value)


def time_bounds(since: datetime | None, until: datetime | None) -> tuple[str | None, str | None]:
    """``[since, until)`` as stored text (``None`` where unbounded); both need a timezone.

    >>> time_bounds(None, datetime(2026, 11, 1, tzinfo=timezone.utc))
    (None, '2026-11-01T00:00:00.000000Z')
    """
    for bound in (since, until):
        if bound is not None and bound.tzinfo is None:
            raise InvalidRequestError("since/until need a timezone")
    return (
        _utc(since) if since is not None else None,
        _utc(until) if until is not None else None,
    )


def _parse_at(record: dict[str, Any]) -> str:
    key = "checked_at" if record.get("type") == "check" else "acted_at"
    raw = record.get(key)
    if not isinstance(raw, str):
        raise InvalidRequestError(
            f"a {record.get('type')} record needs {key} as an RFC 3339 string"
        )
    try:
        parsed = datetime.fromisoformat(raw)
    except ValueError as exc:
        raise InvalidRequestError(f"{key} {raw!r} is not an RFC 3339 timestamp") from exc
    if parsed.tzinfo is None:
        # A journal that outlives daylight-saving and server moves must not hold
        # instants whose meaning depends on the machine's clock settings.
        raise InvalidRequestError(f"{key} {raw!r} has no UTC offset")
    return _utc(parsed)


def key_columns(record: dict[str, Any]) -> tuple[Any, Any, str]:
    """The ``type``, ``check_id`` and ``at`` columns of ``record`` (a check is its own check).

    Raises :class:`InvalidRequestError` when the record has no usable time.

    >>> key_columns({"type": "action", "check_id": "c1", "acted_at": "2026-11-29T08:05:00+08:00"})
    ('action', 'c1', '2026-11-29T00:05:00.000000Z')
    """
    kind = record.get("type")
    at = _parse_at(record)
    check_id = record.get("id") if kind == "check" else record.get("check_id")
    return kind, check_id, at


# --- report columns -----------------------------------------------------------------------


def column_value(value: Any) -> Any:
    """``value`` as a report column holds it (SQLite's ``json_extract`` rules, which every
    adapter follows so that the columns agree whatever the store): scalars as they are,
    true/false as 1/0, integers beyond 64 bits as floats, objects and arrays as compact
    JSON text with sorted keys.

    >>> column_value(True), column_value({"b": 1, "a": 2}), column_value(2**70) == 2.0**70
    (1, '{"a":2,"b":1}', True)
    """
    if value is None or isinstance(value, str | float):
        return value
    if isinstance(value, bool):
        return int(value)
    if isinstance(value, int):
        return value if _INT64[0] <= value <= _INT64[1] else float(value)
    return json.dumps(value, separators=(",", ":"), ensure_ascii=False, sort_keys=True)


def derive_columns(record: dict[str, Any]) -> tuple[tuple[Any, ...], list[tuple[int, Any, Any]]]:
    """The report columns of ``record`` (outcome, category, source, recheck_of, action)
    and its measure rows ``(n, measure_id, status)``.

    A check's rows are its ``measures`` (id, status); an action's its ``measure_ids``
    (status ``None``); ``n`` is the position in the list.

    >>> derive_columns({"type": "check", "outcome": "restriction",
    ...     "matter": {"category": "bidding"}, "source": "live",
    ...     "measures": [{"id": "P-1", "status": "applied"}]})
    (('restriction', 'bidding', 'live', None, None), [(0, 'P-1', 'applied')])
    >>> derive_columns({"type": "action", "action": "applied", "measure_ids": ["P-1"]})
    ((None, None, None, None, 'applied'), [(0, 'P-1', None)])
    """
    kind = record.get("type")
    rows: list[tuple[int, Any, Any]] = []
    if kind == "check":
        matter = record.get("matter")
        columns = (
            column_value(record.get("outcome")),
            column_value(matter.get("category")) if isinstance(matter, dict) else None,
            column_value(record.get("source")),
            column_value(record.get("recheck_of")),
            None,
        )
        measures = record.get("measures")
        if isinstance(measures, list):
            for n, m in enumerate(measures):
                if isinstance(m, dict):
                    rows.append((n, column_value(m.get("id")), column_value(m.get("status"))))
        return columns, rows
    if kind == "action":
        ids = record.get("measure_ids")
        if isinstance(ids, list):
            rows = [(n, column_value(v), None) for n, v in enumerate(ids)]
        return (None, None, None, None, column_value(record.get("action"))), rows
    return _NO_COLUMNS, rows


def _authorities_of(profile: Any) -> dict[str, str]:
    """``{entry_id: authority}`` of every entry a profile lists (its own, then its related
    parties'); the first authority named for an id wins."""
    found: dict[str, str] = {}
    if not isinstance(profile, dict):
        return found
    lists = [profile.get("entries")]
    related = profile.get("related")
    if isinstance(related, list | tuple):
        lists += [r.get("entries") for r in related if isinstance(r, dict)]
    for entries in lists:
        if not isinstance(entries, list | tuple):
            continue
        for entry in entries:
            if not isinstance(entry, dict):
                continue
            entry_id, authority = entry.get("entry_id"), entry.get("authority")
            if isinstance(entry_id, str) and isinstance(authority, str) and authority.strip():
                found.setdefault(entry_id, authority)
    return found


def derive_authorities(record: dict[str, Any], inputs: Any) -> list[tuple[int, str]]:
    """The list authorities (认定部门) behind each measure of a check: rows
    ``(n, authority)``, ``n`` the measure's place in ``measures``, each authority once
    per measure, in sorted order.

    An entry's authority is read from the check's ``inputs["profile"]`` (the subject's
    entries and its related parties'), matched by ``entry_id``; an entry the profile
    does not list (or lists without an authority) gives no row. Anything but a check
    with inputs gives none. The same function derives the rows at append time, in the
    migration that fills them for older journals, and in ``verify_columns()``.

    >>> record = {"type": "check", "measures": [{"id": "P-1", "entry_ids": ["BL-1", "BL-2"]}]}
    >>> profile = {"entries": [{"entry_id": "BL-1", "authority": "中山市中级人民法院"}],
    ...            "related": [{"entries": [{"entry_id": "BL-2", "authority": "中山市税务局"}]}]}
    >>> derive_authorities(record, {"profile": profile})
    [(0, '中山市中级人民法院'), (0, '中山市税务局')]
    """
    if record.get("type") != "check" or not isinstance(inputs, dict):
        return []
    measures = record.get("measures")
    if not isinstance(measures, list | tuple) or not measures:
        return []
    authority_of: dict[str, str] | None = None
    rows: list[tuple[int, str]] = []
    for n, measure in enumerate(measures):
        if not isinstance(measure, dict):
            continue
        entry_ids = measure.get("entry_ids")
        if not isinstance(entry_ids, list | tuple) or not entry_ids:
            continue
        if authority_of is None:  # the profile is looked at only for a check with entries
            authority_of = _authorities_of(inputs.get("profile"))
        named = {authority_of[e] for e in entry_ids if isinstance(e, str) and e in authority_of}
        rows.extend((n, authority) for authority in sorted(named))
    return rows


def same_value(stored: Any, derived: Any) -> bool:
    """Equal in value and in type (``1``, ``1.0`` and ``'1'`` differ in a column).

    >>> same_value(1, 1), same_value(1, 1.0)
    (True, False)
    """
    return type(stored) is type(derived) and stored == derived


# --- appending ------------------------------------------------------------------------------


class PreparedRecord:
    """One validated record on its way into a journal, and what became of it.

    ``record`` is a private copy (what is hashed, stored, returned and uploaded);
    ``inputs`` its inputs as JSON text (``inputs_key`` their SHA-256); ``at`` and
    ``check_id`` its key columns; ``columns`` and ``measure_rows`` its report columns;
    ``authority_rows`` the list authorities behind its measures
    (:func:`derive_authorities`). The committing thread
    sets ``done`` and, when this record could not be stored, ``error``.
    """

    __slots__ = (
        "at",
        "authority_rows",
        "check_id",
        "columns",
        "done",
        "error",
        "inputs",
        "inputs_key",
        "measure_rows",
        "parts",
        "record",
    )

    def __init__(
        self,
        record: dict[str, Any],
        inputs: str | None,
        at: str,
        check_id: str | None,
        parts: tuple[str, str, str] | None = None,
        *,
        inputs_key: str | None = None,
        authority_rows: list[tuple[int, str]] | None = None,
        derived: tuple[tuple[Any, ...], list[tuple[int, Any, Any]]] | None = None,
    ) -> None:
        self.record = record
        self.columns, self.measure_rows = derived if derived is not None else derive_columns(record)
        self.authority_rows = authority_rows or []
        self.inputs = inputs
        #: SHA-256 hex of ``inputs`` (an adapter may keep equal inputs once, by this key).
        if inputs_key is None and inputs is not None:
            inputs_key = hashlib.sha256(inputs.encode("utf-8")).hexdigest()
        self.inputs_key = inputs_key
        self.at = at
        self.check_id = check_id
        #: The canonical JSON of the record's members other than ``hash`` and ``prev_hash``,
        #: in three runs (the keys sorting before ``hash``, between, after ``prev_hash``),
        #: so that :func:`seal` joins text instead of serialising the record again.
        self.parts = parts if parts is not None else _canonical_parts(record)
        self.done = False
        self.error: JournalError | None = None


class _Checked:
    """What :func:`prepare_record` finds out about a record and its inputs, once."""

    __slots__ = (
        "at",
        "authority_rows",
        "check_id",
        "clean",
        "derived",
        "inputs",
        "key",
        "parts",
        "text",
    )

    def __init__(
        self, record: dict[str, Any], inputs: dict[str, Any] | None, at: datetime | None = None
    ) -> None:
        if not isinstance(record, dict):
            raise InvalidRequestError(f"a record is a dict, not {type(record).__name__}")
        try:
            # The record is serialised once, canonically (sorted keys, in the three runs
            # around ``hash`` and ``prev_hash`` that seal() joins), and the private copy
            # is parsed back from that text: the caller cannot change it afterwards,
            # tuples became lists, and the returned record is exactly what was hashed,
            # stored and will be uploaded.
            try:
                parts = _canonical_parts(record)
            except TypeError:
                # Keys that are not strings (JSON makes them strings) cannot be sorted
                # among strings: as JSON first, then again.
                parts = _canonical_parts(json.loads(json.dumps(record, allow_nan=False)))
            if inputs is None or isinstance(inputs, SerialisedInputs):
                inputs_text = None if inputs is None else inputs.text
            else:
                inputs_text = _inputs_text(inputs)
        except (TypeError, ValueError) as exc:
            raise InvalidRequestError(f"record is not JSON-serialisable: {exc}") from exc
        # Everything that could fail for this one record fails here, in the caller's
        # thread: a group commit writes the records of other threads too, and one that
        # cannot be hashed or stored there (a lone surrogate has no UTF-8 form) would
        # fail the whole batch.
        text = _join(parts, None, '"prev_hash":null')
        try:
            size = len(text.encode("utf-8"))
            if inputs_text is not None:
                inputs_text.encode("utf-8")
        except UnicodeEncodeError as exc:
            raise InvalidRequestError(
                f"record holds text that is not valid Unicode (position {exc.start}:"
                f" {exc.reason}); a lone surrogate cannot be stored or uploaded"
            ) from exc
        if size > MAX_RECORD_BYTES:
            raise InvalidRequestError(
                f"record is {size:,} bytes as JSON; at most {MAX_RECORD_BYTES:,} are uploaded"
            )
        # ``at``: the record is the SDK's own, of JSON values only (no tuple, no key that is
        # not a string), its time that instant: the copy need not be parsed back.
        if at is not None:
            clean: dict[str, Any] = dict(record)
            clean.pop("hash", None)
            clean["prev_hash"] = None  # as parsed back from ``text``
        else:
            clean = json.loads(text)
        kind = clean.get("type")
        if kind not in ("check", "action"):
            raise InvalidRequestError(f"record type must be 'check' or 'action', not {kind!r}")
        if not isinstance(clean.get("id"), str) or not clean["id"]:
            raise InvalidRequestError("record needs a non-empty string id")
        if at is not None and kind == "check" and clean.get("checked_at") == at.isoformat():
            check_id, self.at = clean["id"], utc_text(at)
        else:
            _, check_id, self.at = key_columns(clean)
        if check_id is not None and not isinstance(check_id, str):
            raise InvalidRequestError("check_id must be a string")
        if inputs is not None and kind != "check":
            raise InvalidRequestError("inputs are stored with check records only")
        #: The private copy parsed here, for the first :meth:`prepared` (None once taken).
        self.clean: dict[str, Any] | None = clean
        self.text, self.parts, self.inputs = text, parts, inputs_text
        self.key = inputs.key if isinstance(inputs, SerialisedInputs) else None
        self.check_id = check_id
        # Kept as tuples of plain values, which the garbage collector stops tracking: a
        # batch of checks prepared ahead does not lengthen every collection meanwhile.
        columns, rows = derive_columns(clean)
        self.derived = (columns, tuple(rows))
        self.authority_rows = tuple(derive_authorities(clean, inputs))

    def prepared(self, clean: dict[str, Any] | None = None) -> PreparedRecord:
        """A new :class:`PreparedRecord` (its own copy of the record: ``clean`` or parsed)."""
        return PreparedRecord(
            clean if clean is not None else json.loads(self.text),
            self.inputs,
            self.at,
            self.check_id,
            self.parts,
            inputs_key=self.key,
            authority_rows=list(self.authority_rows),
            derived=(self.derived[0], list(self.derived[1])),  # the adapters' lists
        )


class SerialisedRecord(ReadOnlyDict):
    """A record, read-only, checked and serialised with its ``inputs`` once, ahead of the
    append: :func:`prepare_record` given it (and the same ``inputs``) only copies it.

    It holds the record as parsed back from its canonical text (what will be
    hashed and stored; tuples became lists), not the values given. An append's
    private copy is shallow: it shares the nested values with this record, which
    nothing changes. ``must_check_many`` builds these while the platform's next
    answer is awaited, so that what is left once the last answer is in is the
    durable write. Raises :class:`InvalidRequestError` as :func:`prepare_record`
    would, at construction. ``at``: a check record the SDK built of JSON values
    only, checked at that instant (its ``checked_at``): kept as given, not parsed back.

    >>> r = SerialisedRecord({"type": "check", "id": "c1",
    ...                       "checked_at": "2026-11-29T08:00:00+08:00"}, None)
    >>> p = prepare_record(r, None)
    >>> p.record["id"], p.record is r, p.at
    ('c1', False, '2026-11-29T00:00:00.000000Z')
    >>> r["id"] = "c2"
    Traceback (most recent call last):
    ...
    TypeError: a serialised record is read-only
    """

    __slots__ = ("_checked", "inputs")

    def __init__(
        self, values: dict[str, Any], inputs: dict[str, Any] | None, at: datetime | None = None
    ) -> None:
        checked = _Checked(values, inputs, at)
        super().__init__(checked.clean or {})
        checked.clean = None  # this record is the parsed copy: not kept twice
        self.inputs = inputs
        self._checked = checked

    _refusal = "a serialised record is read-only"


def prepare_record(record: dict[str, Any], inputs: dict[str, Any] | None) -> PreparedRecord:
    """Validate ``record`` (and its ``inputs``) and copy it for appending.

    ``record`` needs ``type`` (``check`` or ``action``), a unique non-empty ``id``
    and ``checked_at`` or ``acted_at`` (RFC 3339 with offset); any ``prev_hash``
    and ``hash`` it carries are dropped. Raises :class:`InvalidRequestError`
    (never :class:`JournalError`): a bad record is the caller's, found before any write.
    A :class:`SerialisedRecord` with the same ``inputs`` was checked when it was made.

    >>> prepare_record({"type": "note", "id": "n1"}, None)  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    credit_check_sdk._exceptions.InvalidRequestError: record type must be ... not 'note'
    """
    if isinstance(record, SerialisedRecord) and record.inputs is inputs:
        return record._checked.prepared(dict(record))
    checked = _Checked(record, inputs)
    return checked.prepared(checked.clean)


#: The canonical encoder, made once (json.dumps with these options makes one per call).
_dumps = json.JSONEncoder(
    sort_keys=True, separators=(",", ":"), ensure_ascii=False, allow_nan=False
).encode


#: A value no record holds: the ``hash`` and ``prev_hash`` members are written with it to
#: mark where the runs of :func:`_canonical_parts` begin and end in one serialisation.
_MARK = "\x00credit-check-sdk: a run ends here\x00"
_MARK_JSON = _dumps(_MARK)
_HASH_MARK = '"hash":' + _MARK_JSON
_PREV_MARK = '"prev_hash":' + _MARK_JSON


def _canonical_parts(record: dict[str, Any]) -> tuple[str, str, str]:
    """The canonical JSON members of ``record`` but ``hash`` and ``prev_hash``, as the runs
    of keys sorting before ``hash``, between ``hash`` and ``prev_hash``, and after.

    One serialisation of the record with both members set to a marker, cut at them
    (a record whose values hold the marker is serialised a run at a time instead).

    >>> _canonical_parts({"type": "check", "id": "c1", "agency_id": "AG", "hash": "x"})
    ('"agency_id":"AG"', '"id":"c1"', '"type":"check"')
    """
    text = _dumps({**record, "hash": _MARK, "prev_hash": _MARK})
    if text.count(_MARK_JSON) != 2:
        return _canonical_runs(record)
    # text: {a,HASH,b,PREV,c} where any of the runs a, b, c may be empty (with its comma).
    at_hash = text.index(_HASH_MARK)
    a = text[1 : at_hash - 1] if at_hash > 1 else ""
    after_hash = at_hash + len(_HASH_MARK) + 1  # past the comma: PREV always follows
    at_prev = text.index(_PREV_MARK, after_hash - 1)
    b = text[after_hash : at_prev - 1] if at_prev > after_hash else ""
    after_prev = at_prev + len(_PREV_MARK)
    c = text[after_prev + 1 : -1] if text[after_prev] == "," else ""
    return a, b, c


def _canonical_runs(record: dict[str, Any]) -> tuple[str, str, str]:
    """:func:`_canonical_parts`, each run serialised on its own."""
    runs: tuple[dict[str, Any], dict[str, Any], dict[str, Any]] = ({}, {}, {})
    for key, value in record.items():
        if key == "hash" or key == "prev_hash":
            continue
        runs[0 if key < "hash" else 1 if key < "prev_hash" else 2][key] = value
    a, b, c = (_dumps(run)[1:-1] if run else "" for run in runs)
    return a, b, c


def _join(parts: tuple[str, str, str], hash_member: str | None, prev_member: str) -> str:
    """The object of ``parts`` with the ``hash`` member (when given) and ``prev_hash``,
    in sorted key order: exactly what ``json.dumps(..., sort_keys=True)`` gives."""
    a, b, c = parts
    return "{" + ",".join([m for m in (a, hash_member, b, prev_member, c) if m]) + "}"


def seal(prepared: PreparedRecord, head: str | None) -> str:
    """Chain ``prepared`` to ``head`` and hash it; its stored body (canonical JSON text,
    ``hash`` included).

    Call inside the write transaction, with ``head`` read there: the chain is the
    store's order of commits.
    """
    record = prepared.record
    # The record's other members were serialised once, in the caller's thread
    # (prepare_record); here, inside the write transaction, only text is joined.
    if head is None:
        prev = '"prev_hash":null'
    elif type(head) is str and head.isalnum():  # a digest: nothing to escape
        prev = f'"prev_hash":"{head}"'
    else:
        prev = '"prev_hash":' + _dumps(head)
    digest = hashlib.sha256(_join(prepared.parts, None, prev).encode("utf-8")).hexdigest()
    record["prev_hash"] = head
    record["hash"] = digest
    return _join(prepared.parts, f'"hash":"{digest}"', prev)
