"""A record that cannot be stored fails alone, in its caller's thread, not a whole group commit."""

from __future__ import annotations

import json
import threading
from pathlib import Path
from typing import Any

import pytest

from credit_check_sdk._exceptions import InvalidRequestError, JournalError
from credit_check_sdk.journal import MAX_RECORD_BYTES, Journal
from tests.test_journal import check_record

LONE_SURROGATE = json.loads('"\\ud800"')


@pytest.fixture
def journal(tmp_path: Path) -> Any:
    j = Journal(tmp_path / "journal.db")
    yield j
    j.close()


@pytest.mark.parametrize(
    "bad",
    [
        {"operator": LONE_SURROGATE},
        {"matter": {"category": "bidding", "code": None, "case_id": "A" + LONE_SURROGATE}},
        {"measures": [{"id": "P-1" + LONE_SURROGATE, "status": "applied", "entry_ids": []}]},
        {LONE_SURROGATE: "a key"},
    ],
)
def test_a_record_with_a_lone_surrogate_is_refused_before_it_is_queued(
    journal: Journal, bad: dict[str, Any]
) -> None:
    with pytest.raises(InvalidRequestError, match="not valid Unicode"):
        journal.append(check_record(**bad))
    assert journal._queue == []
    assert journal.counts()["pending"] == 0


def test_inputs_with_a_lone_surrogate_are_refused(journal: Journal) -> None:
    with pytest.raises(InvalidRequestError, match="not valid Unicode"):
        journal.append(check_record(), inputs={"matter": {"case_id": LONE_SURROGATE}})
    assert journal.counts()["pending"] == 0


def test_an_oversized_record_is_refused(journal: Journal) -> None:
    with pytest.raises(InvalidRequestError, match="bytes as JSON"):
        journal.append(check_record(operator="x" * (MAX_RECORD_BYTES + 1)))
    assert journal.counts()["pending"] == 0


def test_append_many_with_one_bad_record_stores_none(journal: Journal) -> None:
    items: list[tuple[dict[str, Any], dict[str, Any] | None]] = [
        (check_record(1), None),
        (check_record(2, operator=LONE_SURROGATE), None),
    ]
    with pytest.raises(InvalidRequestError):
        journal.append_many(items)
    assert journal.counts()["pending"] == 0


def test_one_thread_with_bad_records_fails_no_other_threads_append(journal: Journal) -> None:
    """The operator's finding: 57 of 760 good appends failed with the bad thread's error."""
    per_thread = 160
    good_errors: list[BaseException] = []
    bad_errors: list[BaseException] = []
    stored: list[str] = []
    lock = threading.Lock()
    start = threading.Barrier(4)

    def good() -> None:
        start.wait()
        for i in range(per_thread):
            try:
                record = journal.append(check_record(i), inputs={"n": i})
            except BaseException as exc:  # surfaced by the assertion below
                good_errors.append(exc)
            else:
                with lock:
                    stored.append(record["id"])

    def bad() -> None:
        start.wait()
        for i in range(per_thread):
            operator = LONE_SURROGATE if i % 5 == 0 else "u1"
            try:
                record = journal.append(check_record(i, operator=operator))
            except InvalidRequestError as exc:
                bad_errors.append(exc)
            else:
                with lock:
                    stored.append(record["id"])

    threads = [threading.Thread(target=good) for _ in range(3)] + [threading.Thread(target=bad)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=60)
    assert good_errors == []
    assert len(bad_errors) == per_thread // 5
    assert all("not valid Unicode" in str(e) for e in bad_errors)
    assert not any(isinstance(e, JournalError) for e in bad_errors)
    assert len(stored) == 3 * per_thread + per_thread - per_thread // 5
    result = journal.verify()
    assert result.ok
    assert result.checked == len(stored)
