"""The storage interface, part 1: the journal and what lives beside it.

Each store is a :class:`typing.Protocol`: a list of documented, bodiless
methods (as pluggy documents its hook specifications). An adapter implements
them and keeps every promise written here; ``tests/storage/`` checks each
promise against every adapter. Values in and out are plain Python (dicts,
dataclasses, tuples), never a driver's rows or connections.

Names used below: a *record* is a check or action record as the platform
contract defines it (a dict); a *position* is an integer that grows with
every record a journal stores (SQLite's ``seq``; a global sequence in a
database shared by several writers), never reused; *stored time* is the
fixed-width UTC text of :func:`~credit_check_sdk.storage.utc_text`
(``2026-10-31T15:59:59.000000Z``), which sorts in time order.

The examples run against the SQLite adapter::

    >>> import tempfile
    >>> from credit_check_sdk.storage import open_storage
    >>> storage = open_storage(data_dir=tempfile.mkdtemp())
    >>> storage.journal.append({"type": "check", "id": "c1",
    ...     "checked_at": "2026-11-29T08:00:00+08:00"})["prev_hash"] is None
    True
    >>> storage.close()
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from contextlib import AbstractContextManager
from datetime import datetime
from typing import Any, Literal, Protocol, runtime_checkable

from ._data import ObjectionStatus
from ._journal_verify import ColumnVerifyResult, VerifyResult

__all__ = [
    "JournalStore",
    "ObjectionStore",
    "ReceiptStore",
    "ReportSource",
    "ReportView",
    "UploadQueue",
]


@runtime_checkable
class JournalStore(Protocol):
    """The durable, hash-chained journal of check and action records.

    Promises: a record is durable (fsynced, or committed with synchronous
    commit) when :meth:`append` returns; records are chained in the order the
    store commits them (``prev_hash`` is the hash of the record before it in
    the same chain, ``hash`` the SHA-256 of its canonical JSON); an id is
    stored once; many threads and processes may append at once. The rules of
    what a record is live in :mod:`credit_check_sdk.storage._journal_core`,
    which every adapter uses.
    """

    @property
    def location(self) -> str:
        """Where the journal lives, for messages (a file path; a database URL without its
        password).

        >>> storage.journal.location  # doctest: +SKIP
        '/var/lib/credit-check/journal.sqlite3'
        """

    def append(
        self,
        record: dict[str, Any],
        *,
        inputs: dict[str, Any] | None = None,
        deadline: float | None = None,
    ) -> dict[str, Any]:
        """Chain, hash and durably store ``record``; return it with ``prev_hash`` and ``hash`` set.

        ``record`` needs ``type`` (``check`` or ``action``), a unique ``id`` and
        ``checked_at`` or ``acted_at`` (RFC 3339 with offset); a ``prev_hash``
        or ``hash`` it carries is replaced. ``inputs`` (check records only) is
        what the check was decided from, for :meth:`inputs_for`. ``deadline``
        (a :func:`time.monotonic` time: when the check's time ends) bounds how
        long an adapter that can keep a record aside waits for its store: the
        PostgreSQL adapter spools the record (durably, unchained) rather than
        wait past it; the SQLite adapter, whose store is a local file, commits
        as usual. Raises
        :class:`~credit_check_sdk.InvalidRequestError` for a malformed record
        (before anything is written) and :class:`~credit_check_sdk.JournalError`
        when it cannot be stored (an id stored before, the store unreachable);
        never drops a record silently. Appends from other threads that arrive
        while a commit is in flight are committed together (group commit).

        >>> r = storage.journal.append({"type": "check", "id": "c1",  # doctest: +SKIP
        ...     "checked_at": "2026-11-29T08:00:00+08:00"}, inputs={"on": "2026-11-29"})
        >>> r["hash"] == canonical_hash(r)  # doctest: +SKIP
        True
        """

    def append_many(
        self,
        items: list[tuple[dict[str, Any], dict[str, Any] | None]],
        *,
        deadline: float | None = None,
    ) -> list[dict[str, Any]]:
        """Append ``(record, inputs)`` pairs in one durable transaction, chained in order.

        ``deadline`` as for :meth:`append`. A malformed record fails the call
        before anything is stored; a record that cannot be stored fails alone
        (the others are stored and chained past it) and its error is raised
        after the commit.

        >>> records = storage.journal.append_many([(c1, None), (c2, None)])  # doctest: +SKIP
        >>> records[1]["prev_hash"] == records[0]["hash"]  # doctest: +SKIP
        True
        """

    def get(self, id: str) -> dict[str, Any] | None:
        """The record with this id as stored (``hash`` included), or ``None``.

        >>> storage.journal.get("c1")["prev_hash"]  # doctest: +SKIP
        """

    def inputs_for(self, check_id: str) -> dict[str, Any] | None:
        """What check ``check_id`` was decided from (as given to :meth:`append`), or ``None``.

        >>> storage.journal.inputs_for("c1")["catalog_version"]  # doctest: +SKIP
        '2026.12.1'
        """

    def upload_state(self, id: str) -> tuple[str, str | None] | None:
        """``(upload_state, upload_detail)`` of record ``id`` (``pending``, ``accepted``,
        ``duplicate`` or ``rejected`` and the platform's reason), or ``None``.

        >>> storage.journal.upload_state("c1")  # doctest: +SKIP
        ('pending', None)
        """

    def degraded_without_recheck(self, since: datetime) -> list[dict[str, Any]]:
        """Check records decided without the live platform (``source`` ``snapshot`` or
        ``none``, and not themselves re-checks) at or after ``since`` that no record
        re-checks (``recheck_of``), oldest first. ``since`` needs a timezone.

        >>> [r["id"] for r in storage.journal.degraded_without_recheck(since)]  # doctest: +SKIP
        ['c7']
        """

    def latest_check_for_case(self, subject_id: str, case_id: str) -> dict[str, Any] | None:
        """The newest check record of ``subject_id`` whose ``matter.case_id`` is ``case_id``,
        or ``None``; costs a few rows however long the journal is (an index).

        >>> storage.journal.latest_check_for_case(uscc, "ZSGC-2026-118")["id"]  # doctest: +SKIP
        'c9'
        """

    def iter_records(
        self, since: datetime | None = None, until: datetime | None = None
    ) -> Iterator[dict[str, Any]]:
        """Records in journal order whose ``checked_at``/``acted_at`` is in ``[since, until)``.

        Both bounds need a timezone. Read a page at a time (memory stays flat);
        appending meanwhile is safe (new records may or may not appear).

        >>> [r["id"] for r in storage.journal.iter_records(oct1, nov1)]  # doctest: +SKIP
        ['c1', 'a1']
        """

    def head_hash(self) -> str | None:
        """The hash of the newest record (what the next record chains to), or ``None``.

        >>> storage.journal.head_hash()  # doctest: +SKIP
        '5f1c…'
        """

    def counts(self) -> dict[str, int]:
        """Records by upload state, every state listed (zeros included).

        >>> storage.journal.counts()  # doctest: +SKIP
        {'pending': 1, 'accepted': 0, 'duplicate': 0, 'rejected': 0}
        """

    def verify(self) -> VerifyResult:
        """Walk every chain: recompute each hash, check each link and position.

        A deleted record shows as a ``gap`` (or ``head_mismatch`` at the end, where
        the store keeps a head), an altered one as ``hash_mismatch``, reordered
        ones as ``broken_link``. Rows are streamed; memory stays flat.

        >>> storage.journal.verify().ok  # doctest: +SKIP
        True
        """

    def verify_columns(self, *, limit: int | None = 10_000) -> ColumnVerifyResult:
        """Re-derive every record's report columns and measure rows from its body and
        name each stored value that disagrees (the report counts from those columns,
        which are not hashed). ``limit`` bounds the mismatches kept (all are counted).

        >>> storage.journal.verify_columns().ok  # doctest: +SKIP
        True
        """

    def close(self) -> None:
        """Release the journal; later calls raise :class:`~credit_check_sdk.JournalError`.
        Closing twice is harmless.

        >>> storage.journal.close()  # doctest: +SKIP
        """


@runtime_checkable
class UploadQueue(Protocol):
    """The journal's records not yet uploaded, and the claims that keep uploaders apart.

    Several uploaders (processes sharing a journal, instances sharing a
    database) each *claim* a batch before sending it: a claim marks the records
    with an owner and a lease (an expiry) in the same transaction that picks
    them, and other owners skip records under a live claim. A claim ends with
    :meth:`mark`, :meth:`mark_rejected`, :meth:`release`, or when its lease
    runs out (an uploader killed while sending). Claims and marks are
    bookkeeping: an adapter may commit them without an fsync of their own (a
    lost mark only sends a record again, which the platform answers
    ``duplicate``).

    An *owner* is ``host:pid:token`` (:func:`~credit_check_sdk.storage.owner_name`).
    """

    def claim(
        self, owner: str, limit: int, lease: float, *, after: int = 0
    ) -> list[tuple[int, dict[str, Any]]]:
        """Claim up to ``limit`` pending records after position ``after`` for ``owner``
        for ``lease`` seconds; ``(position, record)`` pairs, oldest first.

        A record is free when nobody claimed it, its claim expired, or ``owner``
        holds it already. Two claimers never get the same record, in any process.

        >>> [r["id"] for _, r in storage.uploads.claim("h:1:a", 10, 60)]  # doctest: +SKIP
        ['c1']
        >>> storage.uploads.claim("h:2:b", 10, 60)  # doctest: +SKIP
        []
        """

    def mark(self, ids: list[str], state: Literal["accepted", "duplicate"]) -> None:
        """Record that the platform took ``ids`` (``accepted``) or had them (``duplicate``);
        clears their claims. Any other ``state`` raises
        :class:`~credit_check_sdk.InvalidRequestError`.

        >>> storage.uploads.mark(["c1"], "accepted")  # doctest: +SKIP
        """

    def mark_rejected(self, id: str, detail: str) -> None:
        """Record that the platform refused record ``id`` and why; it stays in the journal.

        >>> storage.uploads.mark_rejected("c1", "unknown agency")  # doctest: +SKIP
        """

    def release(self, owner: str, ids: list[str] | None = None) -> None:
        """Give up ``owner``'s claims on ``ids`` (all of them when ``None``): others may
        send those records now.

        >>> storage.uploads.release("h:1:a")  # doctest: +SKIP
        """

    def release_ended(self, owner: str) -> int:
        """Release the claims of other owners whose process on this host has ended
        (killed while sending); how many owners were released. Others' claims wait
        for their lease.

        >>> storage.uploads.release_ended("h:1:a")  # doctest: +SKIP
        0
        """

    def head_position(self) -> int:
        """The position of the newest record (0 when the journal is empty).

        >>> storage.uploads.head_position()  # doctest: +SKIP
        42
        """

    def pending_count(self, upto: int | None = None, *, claimed_by_others: str = "") -> int:
        """Pending records (at or before position ``upto``); with ``claimed_by_others``
        an owner, only those another owner holds a claim on (live or expired).

        >>> storage.uploads.pending_count()  # doctest: +SKIP
        3
        """

    def pending(self, limit: int = 1000) -> list[dict[str, Any]]:
        """Up to ``limit`` records not yet uploaded, oldest first (claimed or not).

        >>> [r["id"] for r in storage.uploads.pending()]  # doctest: +SKIP
        ['c1']
        """


@runtime_checkable
class ObjectionStore(Protocol):
    """Objections filed through this agency (local bookkeeping for the monthly report).

    Not journal records: not chained, not uploaded. Times are stored text.
    """

    def record(
        self,
        objection_id: str,
        check_id: str | None,
        entry_id: str,
        subject_id: str,
        *,
        filed_at: datetime | None = None,
        status: ObjectionStatus = "verifying",
    ) -> bool:
        """Note an objection; ``False`` when it was noted already (nothing changes then).

        ``filed_at`` defaults to now and needs a timezone; an empty id or an unknown
        status raises :class:`~credit_check_sdk.InvalidRequestError`.

        >>> storage.objections.record("OBJ-1", "c1", "BL-1", uscc)  # doctest: +SKIP
        True
        """

    def update(self, objection_id: str, status: ObjectionStatus) -> bool:
        """Set the platform's latest word on an objection; ``False`` when it is not known here.

        >>> storage.objections.update("OBJ-1", "upheld")  # doctest: +SKIP
        True
        """

    def select(
        self, since: datetime | None = None, until: datetime | None = None
    ) -> list[dict[str, Any]]:
        """Objections filed in ``[since, until)`` (bounds need a timezone), oldest first,
        as dicts of ``objection_id``, ``check_id``, ``entry_id``, ``subject_id``,
        ``filed_at``, ``status`` and ``updated_at`` (times as stored text).

        >>> [o["status"] for o in storage.objections.select()]  # doctest: +SKIP
        ['upheld']
        """


@runtime_checkable
class ReceiptStore(Protocol):
    """The platform's receipts for submitted monthly reports (local, not uploaded)."""

    def record(
        self,
        period: str,
        version: int,
        receipt_id: str,
        body_hash: str,
        *,
        submitted_at: datetime | None = None,
    ) -> None:
        """Keep a receipt; ``body_hash`` is the SHA-256 of the report as sent. The same
        ``(period, version)`` again replaces the earlier row.

        >>> storage.receipts.record("2026-10", 1, "RCPT-1", "ab" * 32)  # doctest: +SKIP
        """

    def select(self, period: str | None = None) -> list[dict[str, Any]]:
        """Receipts (of one period, or all) by period then version, as dicts of
        ``period``, ``version``, ``receipt_id``, ``submitted_at`` and ``body_hash``.

        >>> [r["version"] for r in storage.receipts.select("2026-10")]  # doctest: +SKIP
        [1]
        """


class ReportView(Protocol):
    """Every read the monthly report makes, inside one consistent view of the journal.

    Obtained from :meth:`ReportSource.view`; every call sees the journal as it
    was when the view began, however many appends happen meanwhile (SQLite: one
    WAL read transaction; PostgreSQL: ``REPEATABLE READ READ ONLY``). Rows are
    plain tuples, their values as the report columns hold them
    (:func:`~credit_check_sdk.storage._journal_core.column_value`); ``lo`` and
    ``hi`` bound record times as stored text, ``[lo, hi)``. The report's rules
    (latest action per measure, suspended measures, re-checks, feedback
    windows) are applied in Python by :mod:`credit_check_sdk.report`, never here.
    """

    def check_totals(self, lo: str, hi: str) -> Iterable[tuple[str, Any, Any, int]]:
        """``(hour, outcome, category, count)`` of the check records of ``[lo, hi)``, grouped
        by the hour of their stored time (its first 13 characters, ``2026-10-31T15``).

        >>> list(view.check_totals(lo, hi))  # doctest: +SKIP
        [('2026-10-31T15', 'normal', 'bidding', 1)]
        """

    def measured_checks(
        self, lo: str, hi: str
    ) -> Iterable[tuple[int, str, str, Any, Any, Any, Any]]:
        """``(position, check_id, at, category, outcome, measure_id, status)``: one row per
        measure of each check of ``[lo, hi)`` that lists measures, by position then by
        the measure's place in the list.

        >>> next(iter(view.measured_checks(lo, hi)))[5:]  # doctest: +SKIP
        ('P-BID-EXCLUDE', 'applied')
        """

    def measured_actions(self, lo: str, hi: str) -> Iterable[tuple[int, str, Any, int | None, Any]]:
        """``(position, check_id, action, n, measure_id)``: the action records on the checks
        of ``[lo, hi)`` that list measures (whenever the action was made), one row per
        measure id the action names (``n`` its place; ``n`` and ``measure_id`` ``None``
        for an action naming none), in journal order, an action's rows together.

        >>> [r[2] for r in view.measured_actions(lo, hi)]  # doctest: +SKIP
        ['applied']
        """

    def overrides(self, lo: str, hi: str) -> Iterable[tuple[str, dict[str, Any]]]:
        """``(at, record)`` of every ``not_applied`` or ``overridden`` action record on the
        checks of ``[lo, hi)``, the record whole (any order).

        >>> [r["action"] for _, r in view.overrides(lo, hi)]  # doctest: +SKIP
        ['overridden']
        """

    def degraded_checks(self, lo: str, hi: str) -> list[tuple[str, str, Any, Any, Any, Any]]:
        """``(check_id, at, subject_id, category, source, outcome)`` of the checks of
        ``[lo, hi)`` decided from the snapshot or from no data, by time then id.

        >>> view.degraded_checks(lo, hi)[0][4]  # doctest: +SKIP
        'snapshot'
        """

    def rechecks(self, lo: str, hi: str) -> Iterable[tuple[str, str, Any]]:
        """``(recheck_of, check_id, outcome)`` of the live re-checks (checks at or after
        ``lo`` whose ``recheck_of`` is text) of the degraded checks of ``[lo, hi)``,
        in journal order.

        >>> list(view.rechecks(lo, hi))  # doctest: +SKIP
        [('c7', 'c9', 'restriction')]
        """

    def record_count(self, lo: str, hi: str) -> int:
        """How many records (checks and actions) are dated in ``[lo, hi)``.

        >>> view.record_count(lo, hi)  # doctest: +SKIP
        2
        """

    def head(self) -> tuple[str, int] | None:
        """``(hash, position)`` of the newest record in the view, or ``None`` when empty.

        >>> view.head()  # doctest: +SKIP
        ('5f1c…', 2)
        """

    def objection_counts(self, lo: str, hi: str) -> dict[str, int]:
        """Objections filed in ``[lo, hi)``, by status (statuses with none left out).

        >>> view.objection_counts(lo, hi)  # doctest: +SKIP
        {'verifying': 1}
        """

    def check_details(self, positions: list[int]) -> dict[int, tuple[Any, Any]]:
        """``{position: (subject_id, case_id)}`` of the check records at ``positions``.

        >>> view.check_details([1])  # doctest: +SKIP
        {1: ('91442000MA4UJ2KQ57', 'ZSGC-2026-118')}
        """

    def case_checks(
        self, lo: str, hi: str, upto: int
    ) -> Iterable[tuple[int, str, str, Any, Any, Any, Any, Any, Any, Any, Any]]:
        """:meth:`measured_checks` rows up to position ``upto``, each followed by the check's
        ``subject_id``, ``subject_kind``, ``matter.code`` and ``matter.case_id``.

        >>> next(iter(view.case_checks(lo, hi, 2)))[7:]  # doctest: +SKIP
        ('91442000MA4UJ2KQ57', 'legal_entity', 'GC-118', 'ZSGC-2026-118')
        """

    def case_actions(
        self, lo: str, hi: str, upto: int
    ) -> Iterable[tuple[int, str, str, Any, Any, int | None, Any]]:
        """``(position, check_id, at, action, reason, n, measure_id)``: as
        :meth:`measured_actions`, actions and checks up to position ``upto``, with each
        action's time and ``reason``.

        >>> next(iter(view.case_actions(lo, hi, 2)))[3:5]  # doctest: +SKIP
        ('overridden', '申请人已补正')
        """

    def checks_awaiting_action(
        self, upto: str
    ) -> Iterable[tuple[str, str, Any, Any, Any, Any, list[Any]]]:
        """``(check_id, at, subject_id, case_id, category, outcome, measure_ids)`` of every
        check made at or before ``upto`` that lists measures and has no action record,
        by time then id (over the whole journal).

        >>> [r[0] for r in view.checks_awaiting_action(upto)]  # doctest: +SKIP
        ['c3']
        """

    def measure_authorities(self, lo: str, hi: str) -> Iterable[tuple[str, Any, str]]:
        """``(check_id, measure_id, authority)``: for each measure of each check of
        ``[lo, hi)``, each list authority (认定部门) of the entries behind it, once, as
        :func:`~credit_check_sdk.storage._journal_core.derive_authorities` derives them
        from the check and its inputs when it is appended (stored, not read from the
        profiles here: the report must stay cheap). Any order.

        Added with contract v2's ``by_authority`` (§四(八)). An adapter stores the rows at
        append time beside the measure rows, derives them for records appended before it
        knew them, and checks them in ``verify_columns()``.

        >>> sorted(view.measure_authorities(lo, hi))  # doctest: +SKIP
        [('c2', 'P-BID-EXCLUDE', '中山市中级人民法院')]
        """

    def disclosure_days(self, first: str, end: str) -> Iterable[tuple[str, str | None]]:
        """``(due_on, published_on)`` (ISO days; ``published_on`` ``None`` while the platform
        has not received it) of every disclosure (双公示) due in ``[first, end)`` or
        published in ``[first, end)``, ``first`` and ``end`` ISO days; read from the
        storage's :class:`~credit_check_sdk.storage.DisclosureStore` in the same view
        where the adapter can (SQLite: the disclosures file, attached read-only; none
        when it does not exist yet). Any order.

        Added with contract v2's report ``disclosures``.

        >>> list(view.disclosure_days("2026-10-01", "2026-11-01"))  # doctest: +SKIP
        [('2026-10-12', '2026-10-09')]
        """


@runtime_checkable
class ReportSource(Protocol):
    """Where the monthly report reads from: consistent views of one journal.

    A view may be opened after the journal store was closed (a report's cases
    are read on first use, possibly later): an adapter keeps what it needs to
    open one (a path, a connection pool).
    """

    def view(self) -> AbstractContextManager[ReportView]:
        """A consistent read view for the ``with`` block; it takes no lock appends wait for.

        >>> with storage.report.view() as view:  # doctest: +SKIP
        ...     view.record_count(lo, hi)
        2
        """
