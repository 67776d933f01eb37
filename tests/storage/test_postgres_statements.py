"""One statement in a transaction of its own (``Database.query`` / ``Database.execute``).

Upload claims and marks are bookkeeping committed without waiting for the WAL flush
(``durable=False``); a statement may be bounded on the server (``timeout``). Both
settings travel with the statement in one pipeline, and must hold for that
statement's transaction only. Against the test run's real cluster (``pg_url``).
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from credit_check_sdk import JournalError
from credit_check_sdk.storage.postgres._database import Database


@pytest.fixture
def db(pg_url: str) -> Iterator[Database]:
    database = Database(pg_url, pool_size=1, timeout=5.0)
    try:
        yield database
    finally:
        database.close()


def test_bookkeeping_commits_without_the_flush_and_only_that_transaction(db: Database) -> None:
    assert db.query("SHOW synchronous_commit") == [("on",)]
    assert db.query("SHOW synchronous_commit", durable=False) == [("off",)]
    # The one pooled connection is back to the durable setting for the next statement.
    assert db.query("SHOW synchronous_commit") == [("on",)]


def test_a_bounded_statement_is_cut_on_the_server_and_the_bound_ends_with_it(
    db: Database,
) -> None:
    assert db.query("SHOW statement_timeout", timeout=2.5) == [("2500ms",)]
    with pytest.raises(JournalError):
        db.query("SELECT pg_sleep(3)", timeout=0.3, durable=False)
    assert db.query("SHOW statement_timeout") == [("0",)]


def test_rows_changed_are_counted_and_a_failed_statement_leaves_nothing(db: Database) -> None:
    db.execute("CREATE TABLE counted (v int)")
    assert db.execute("INSERT INTO counted VALUES (1), (2), (3)", durable=False) == 3
    assert db.execute("UPDATE counted SET v = v + 1 WHERE v > 1", durable=False) == 2
    with pytest.raises(JournalError):
        db.execute("UPDATE counted SET v = v / 0", durable=False)
    assert db.query("SELECT v FROM counted ORDER BY v", durable=False) == [(1,), (3,), (4,)]
