"""The storage adapters the contract tests run against, and how each is reached from outside.

An adapter here is what the tests need beyond the interface itself:

- ``open()``: a :class:`~credit_check_sdk.storage.Storage` on a fresh, empty store;
- ``spec``: the keywords of :func:`~credit_check_sdk.storage.open_storage` that reach
  the same store from another process (JSON: handed to a subprocess);
- raw access to tamper with the journal as an attacker or a broken disk would
  (delete, alter, reorder records; change a report column), for the verify tests.

Adding the PostgreSQL adapter to every contract test is one class here and one
entry in :data:`ADAPTERS` (its ``make`` takes the ``pg_url`` fixture's database).
"""

from __future__ import annotations

import sqlite3
from collections.abc import Callable
from contextlib import closing
from pathlib import Path
from typing import Any

import pytest

from credit_check_sdk.storage import Storage, open_storage


class SQLiteAdapter:
    """The SQLite adapter on a fresh ``data_dir``."""

    name = "sqlite"

    def __init__(self, tmp_path: Path) -> None:
        self.data_dir = tmp_path / "data"
        self.spec: dict[str, Any] = {"data_dir": str(self.data_dir)}

    def open(self) -> Storage:
        return open_storage(**self.spec)

    def _raw(self) -> sqlite3.Connection:
        return sqlite3.connect(self.data_dir / "journal.sqlite3", isolation_level=None)

    def delete_record(self, record_id: str) -> None:
        with closing(self._raw()) as raw:
            raw.execute("DELETE FROM records WHERE id = ?", (record_id,))

    def alter_body(self, record_id: str, change: Callable[[dict[str, Any]], None]) -> None:
        import json

        with closing(self._raw()) as raw:
            (body,) = raw.execute("SELECT body FROM records WHERE id = ?", (record_id,)).fetchone()
            record = json.loads(body)
            change(record)
            raw.execute(
                "UPDATE records SET body = ? WHERE id = ?",
                (json.dumps(record, sort_keys=True, separators=(",", ":")), record_id),
            )

    def swap_records(self, first: str, second: str) -> None:
        """Exchange two records' places in the chain (every column but the position)."""
        select = "SELECT id, type, check_id, at, body, hash, prev_hash FROM records WHERE id = ?"
        update = (
            "UPDATE records SET id = ?, type = ?, check_id = ?, at = ?, body = ?, hash = ?,"
            " prev_hash = ? WHERE id = ?"
        )
        with closing(self._raw()) as raw:
            a = raw.execute(select, (first,)).fetchone()
            b = raw.execute(select, (second,)).fetchone()
            raw.execute("BEGIN")
            raw.execute("UPDATE records SET id = '~tmp' WHERE id = ?", (first,))
            raw.execute(update, (*a, second))
            raw.execute(update, (*b, "~tmp"))
            raw.execute("COMMIT")

    def set_outcome_column(self, record_id: str, outcome: str) -> None:
        with closing(self._raw()) as raw:
            raw.execute("UPDATE records SET outcome = ? WHERE id = ?", (outcome, record_id))

    def set_authority(self, record_id: str, n: int, old: str, new: str) -> None:
        """Change one stored list-authority row of a check's measure ``n``."""
        with closing(self._raw()) as raw:
            raw.execute(
                "UPDATE record_authorities SET authority = ? WHERE n = ? AND authority = ?"
                " AND seq = (SELECT seq FROM records WHERE id = ?)",
                (new, n, old, record_id),
            )

    def set_inputs(self, record_id: str, inputs: dict[str, Any]) -> None:
        """Replace a check's stored inputs (not hashed: what verify_columns must catch)."""
        import hashlib
        import json

        body = json.dumps(inputs)
        key = hashlib.sha256(body.encode()).hexdigest()
        with closing(self._raw()) as raw:
            # Inputs are kept once per content (schema 7): new content, and the check
            # pointed at it (other checks sharing the old inputs keep them).
            raw.execute("INSERT OR IGNORE INTO input_bodies(hash, body) VALUES (?, ?)", (key, body))
            raw.execute("UPDATE records SET inputs_hash = ? WHERE id = ?", (key, record_id))


class PostgresAdapter:
    """The PostgreSQL adapter on a fresh database of the test run's cluster (``pg_url``),
    with a fresh ``data_dir`` for this instance's writer id and spool."""

    name = "postgresql"

    def __init__(self, url: str, tmp_path: Path) -> None:
        self.url = url
        self.data_dir = tmp_path / "data"
        self.spec: dict[str, Any] = {"data_dir": str(self.data_dir), "database_url": url}

    def open(self) -> Storage:
        return open_storage(**self.spec)

    def _sql(self, sql: str, params: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
        import psycopg

        with psycopg.connect(self.url, autocommit=True) as raw:
            cur = raw.execute(sql, params)
            return cur.fetchall() if cur.description else []

    def delete_record(self, record_id: str) -> None:
        self._sql("DELETE FROM cc_journal_records WHERE id = %s", (record_id,))

    def alter_body(self, record_id: str, change: Callable[[dict[str, Any]], None]) -> None:
        import json

        ((body,),) = self._sql("SELECT body FROM cc_journal_records WHERE id = %s", (record_id,))
        record = json.loads(body)
        change(record)
        self._sql(
            "UPDATE cc_journal_records SET body = %s WHERE id = %s",
            (json.dumps(record, sort_keys=True, separators=(",", ":")), record_id),
        )

    def swap_records(self, first: str, second: str) -> None:
        """Exchange two records' places in their chain (every column but the positions)."""
        cols = "id, type, check_id, at, body, hash, prev_hash"
        a = self._sql(f"SELECT {cols} FROM cc_journal_records WHERE id = %s", (first,))[0]  # noqa: S608 - fixed names
        b = self._sql(f"SELECT {cols} FROM cc_journal_records WHERE id = %s", (second,))[0]  # noqa: S608 - fixed names
        update = (
            "UPDATE cc_journal_records SET id = %s, type = %s, check_id = %s, at = %s, body = %s,"
            " hash = %s, prev_hash = %s WHERE id = %s"
        )
        self._sql("UPDATE cc_journal_records SET id = '~tmp' WHERE id = %s", (first,))
        self._sql(update, (*a, second))
        self._sql(update, (*b, "~tmp"))

    def set_outcome_column(self, record_id: str, outcome: str) -> None:
        self._sql("UPDATE cc_journal_records SET outcome = %s WHERE id = %s", (outcome, record_id))

    def set_authority(self, record_id: str, n: int, old: str, new: str) -> None:
        """Change one stored list-authority row of a check's measure ``n``."""
        self._sql(
            "UPDATE cc_journal_authorities SET authority = %s WHERE n = %s AND authority = %s"
            " AND gseq = (SELECT gseq FROM cc_journal_records WHERE id = %s)",
            (new, n, old, record_id),
        )

    def set_inputs(self, record_id: str, inputs: dict[str, Any]) -> None:
        """Replace a check's stored inputs (not hashed: what verify_columns must catch)."""
        import json

        self._sql(
            "UPDATE cc_journal_input_bodies SET body = %s WHERE hash ="
            " (SELECT inputs_hash FROM cc_journal_records WHERE id = %s)",
            (json.dumps(inputs), record_id),
        )


#: Adapter name → how to make one for a test (given the test's request and tmp_path).
ADAPTERS: dict[str, Callable[[pytest.FixtureRequest, Path], Any]] = {
    "sqlite": lambda request, tmp_path: SQLiteAdapter(tmp_path),
    "postgresql": lambda request, tmp_path: PostgresAdapter(
        request.getfixturevalue("pg_url"), tmp_path
    ),
}
