"""The columns the PostgreSQL journal derives from a record's body at write time.

The body (canonical JSON text) stays the one source of truth and the only thing
hashed. Beside it each row holds what the report and the look-ups read, copied
when the record is written, so that no query needs a JSON operator: the report
columns every adapter keeps (:func:`~credit_check_sdk.storage._journal_core.derive_columns`)
and the details SQLite reads with ``json_extract`` (a check's subject id and kind,
matter code and case id; an action's reason). Every column is ``text``: a value
that is not text in the body (a number) is kept as its JSON text.

>>> pg_text("normal"), pg_text(1), pg_text(None), pg_text(1.5)
('normal', '1', None, '1.5')
>>> detail_columns({"type": "check", "subject": {"id": "91442000MA4UJ2KQ57",
...     "kind": "legal_entity"}, "matter": {"code": "GC-1", "case_id": "K-1"}})
('91442000MA4UJ2KQ57', 'legal_entity', 'GC-1', 'K-1', None)
"""

from __future__ import annotations

import json
from typing import Any

from .._journal_core import column_value

__all__ = ["DETAIL_COLUMNS", "as_stored", "detail_columns", "pg_text"]

#: The detail columns, in the order :func:`detail_columns` gives them.
DETAIL_COLUMNS = ("subject_id", "subject_kind", "matter_code", "case_id", "reason")


def pg_text(value: Any) -> str | None:
    """A report column's value (:func:`column_value`) as a ``text`` column holds it."""
    if value is None or isinstance(value, str):
        return value
    return json.dumps(value, ensure_ascii=False)


def _field(container: Any, key: str) -> str | None:
    return pg_text(column_value(container.get(key))) if isinstance(container, dict) else None


def detail_columns(record: dict[str, Any]) -> tuple[str | None, ...]:
    """``(subject_id, subject_kind, matter_code, case_id, reason)`` of ``record``: the first
    four for a check, the reason for an action, ``None`` where the body has none."""
    kind = record.get("type")
    if kind == "check":
        subject, matter = record.get("subject"), record.get("matter")
        return (
            _field(subject, "id"),
            _field(subject, "kind"),
            _field(matter, "code"),
            _field(matter, "case_id"),
            None,
        )
    if kind == "action":
        return (None, None, None, None, pg_text(column_value(record.get("reason"))))
    return (None, None, None, None, None)


def as_stored(stored: Any, derived: Any) -> Any:
    """A stored text column read back as the value it stands for: ``derived`` itself when
    the text is how ``derived`` is kept, else the text (which then differs from it).

    For comparing a row's columns with its body (``verify_columns``): a number kept as
    its JSON text is the number.

    >>> as_stored("1", 1), as_stored("2", 1), as_stored("normal", "normal")
    (1, '2', 'normal')
    """
    if stored is not None and stored == pg_text(derived):
        return derived
    return stored
