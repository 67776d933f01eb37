"""The sandbox platform's database: SQLAlchemy Core schema and connection set-up.

SQLite (a file, WAL journal) is the default; the queries use SQLAlchemy Core
only, with no dialect-specific SQL, so a PostgreSQL URL works as well.

Timestamps are stored as naive ``DATETIME`` values in platform time
(Asia/Shanghai, UTC+08:00) and given the ``+08:00`` offset when served; dates
are ``DATE``.

>>> engine = make_engine("sqlite://")
>>> sorted(metadata.tables)[:3]
['adverse_records', 'changes', 'commitments']
"""

from __future__ import annotations

import logging
from datetime import datetime, timedelta, timezone
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Engine

__all__ = [
    "PLATFORM_TZ",
    "adverse_records",
    "changes",
    "commitments",
    "disclosures",
    "entries",
    "format_ts",
    "make_engine",
    "meta",
    "metadata",
    "nonces",
    "now",
    "objections",
    "records",
    "relation_key",
    "relations",
    "reports",
    "subjects",
]

logger = logging.getLogger(__name__)

#: The platform's clock zone: timestamps are served with ``+08:00``.
PLATFORM_TZ = timezone(timedelta(hours=8))

metadata = sa.MetaData()

#: Key/value facts about this database: ``generation`` (changes when reseeded),
#: ``seed``, ``seed_size``, ``reference_date``.
meta = sa.Table(
    "meta",
    metadata,
    sa.Column("key", sa.String(64), primary_key=True),
    sa.Column("value", sa.String(256), nullable=False),
)

subjects = sa.Table(
    "subjects",
    metadata,
    sa.Column("id", sa.String(18), primary_key=True),
    sa.Column("kind", sa.String(16), nullable=False),
    sa.Column("name", sa.String(128)),
    sa.Column("record_since", sa.Date),
    sa.Column("last_adverse_on", sa.Date),
)

#: Parties linked to an organisation (§三(二), §三(七)): ``person_id`` is the ``role`` of
#: ``org_id`` (legal representative, principal, director, shareholder …); the party's own
#: profile shows the ``…_of`` side, found through ``ix_relations_person``.
relations = sa.Table(
    "relations",
    metadata,
    sa.Column("org_id", sa.String(18), nullable=False),
    sa.Column("role", sa.String(32), nullable=False),
    sa.Column("person_id", sa.String(18), nullable=False),
    sa.Column("since", sa.Date),
    sa.PrimaryKeyConstraint("org_id", "role", "person_id"),
    sa.Index("ix_relations_person", "person_id"),
)

entries = sa.Table(
    "entries",
    metadata,
    sa.Column("entry_id", sa.String(32), primary_key=True),
    sa.Column("subject_id", sa.String(18), nullable=False, index=True),
    sa.Column("list", sa.String(8), nullable=False),
    sa.Column("category", sa.String(64), nullable=False),
    sa.Column("authority", sa.String(128), nullable=False),
    sa.Column("basis", sa.Text),
    sa.Column("listed_on", sa.Date, nullable=False),
    sa.Column("expires_on", sa.Date),
    sa.Column("status", sa.String(24), nullable=False),
    sa.Column("updated_at", sa.DateTime, nullable=False),
    # A deleted entry stays as a tombstone so that the change feed can say so.
    sa.Column("deleted", sa.Boolean, nullable=False, default=False),
)

#: The change feed, compacted: one row per entry or relation, holding the seq of its
#: newest change. A change deletes the old row and adds a new one. An entry's row names
#: it in ``entry_id`` (op ``upsert``/``delete``); a relation's row (op ``relate``/
#: ``unrelate``) holds the relation's JSON in ``relation`` and its key (see
#: :func:`relation_key`) in ``entry_id``, which keeps the compaction to one index.
changes = sa.Table(
    "changes",
    metadata,
    sa.Column("seq", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("entry_id", sa.String(96), nullable=False),
    sa.Column("op", sa.String(8), nullable=False),
    sa.Column("changed_at", sa.DateTime, nullable=False),
    sa.Column("relation", sa.Text),
    # A unique index rather than a constraint: the seed builds it after loading the rows.
    sa.Index("ux_changes_entry_id", "entry_id", unique=True),
    sqlite_autoincrement=True,
)

adverse_records = sa.Table(
    "adverse_records",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("subject_id", sa.String(18), nullable=False),
    sa.Column("kind", sa.String(32), nullable=False),
    sa.Column("occurred_on", sa.Date, nullable=False),
    sa.Column("detail", sa.Text),
    sa.Index("ix_adverse_subject", "subject_id", "occurred_on"),
)

#: Journal records uploaded by agencies (``POST /v1/records:batch``).
records = sa.Table(
    "records",
    metadata,
    sa.Column("id", sa.String(64), primary_key=True),
    sa.Column("agency_id", sa.String(64), nullable=False, index=True),
    sa.Column("type", sa.String(8), nullable=False),
    sa.Column("body", sa.Text, nullable=False),
    sa.Column("received_at", sa.DateTime, nullable=False),
)

reports = sa.Table(
    "reports",
    metadata,
    sa.Column("agency_id", sa.String(64), nullable=False),
    sa.Column("period", sa.String(7), nullable=False),
    sa.Column("version", sa.Integer, nullable=False),
    sa.Column("receipt_id", sa.String(64), nullable=False, unique=True),
    sa.Column("body", sa.Text, nullable=False),
    sa.Column("received_at", sa.DateTime, nullable=False),
    sa.PrimaryKeyConstraint("agency_id", "period", "version"),
)

objections = sa.Table(
    "objections",
    metadata,
    sa.Column("objection_id", sa.String(40), primary_key=True),
    sa.Column("agency_id", sa.String(64), nullable=False),
    sa.Column("subject_id", sa.String(18), nullable=False),
    sa.Column("entry_id", sa.String(32), nullable=False, index=True),
    sa.Column("check_id", sa.String(64)),
    sa.Column("reason", sa.Text, nullable=False),
    sa.Column("submitted_by", sa.String(256), nullable=False),
    sa.Column("status", sa.String(16), nullable=False),
    sa.Column("previous_status", sa.String(24), nullable=False),
    sa.Column("filed_at", sa.DateTime, nullable=False),
    sa.Column("resolved_at", sa.DateTime),
)

commitments = sa.Table(
    "commitments",
    metadata,
    sa.Column("commitment_id", sa.String(128), primary_key=True),
    sa.Column("agency_id", sa.String(64), nullable=False),
    sa.Column("subject_id", sa.String(18), nullable=False),
    sa.Column("body", sa.Text, nullable=False),
    sa.Column("status", sa.String(16), nullable=False),
    sa.Column("resolved_on", sa.Date),
    sa.Column("created_at", sa.DateTime, nullable=False),
)

#: 双公示 received (``POST /v1/disclosures``, §四(三)).
disclosures = sa.Table(
    "disclosures",
    metadata,
    sa.Column("disclosure_id", sa.String(128), primary_key=True),
    sa.Column("agency_id", sa.String(64), nullable=False),
    sa.Column("subject_id", sa.String(18), nullable=False),
    sa.Column("body", sa.Text, nullable=False),
    sa.Column("published_on", sa.Date, nullable=False),
    sa.Column("received_at", sa.DateTime, nullable=False),
)

#: Nonces seen within the replay window (``NONCE_TTL_SECONDS``).
nonces = sa.Table(
    "nonces",
    metadata,
    sa.Column("app_id", sa.String(64), nullable=False),
    sa.Column("nonce", sa.String(128), nullable=False),
    sa.Column("seen_at", sa.Float, nullable=False, index=True),
    sa.PrimaryKeyConstraint("app_id", "nonce"),
)


def now() -> datetime:
    """The platform clock: naive local time in UTC+08:00, to the second.

    >>> now().tzinfo is None
    True
    """
    return datetime.now(PLATFORM_TZ).replace(tzinfo=None, microsecond=0)


def format_ts(value: datetime) -> str:
    """RFC 3339 with the platform offset.

    >>> format_ts(datetime(2026, 11, 20, 10, 0))
    '2026-11-20T10:00:00+08:00'
    """
    if value.tzinfo is None:
        value = value.replace(tzinfo=PLATFORM_TZ)
    return value.astimezone(PLATFORM_TZ).isoformat(timespec="seconds")


def relation_key(org_id: str, role: str, person_id: str) -> str:
    """The change feed's key of a relation (kept in ``changes.entry_id``; entry ids never
    start with ``R|``).

    >>> relation_key("91442000MA4UJ2KQ57", "director", "442000199001011233")
    'R|91442000MA4UJ2KQ57|director|442000199001011233'
    """
    return f"R|{org_id}|{role}|{person_id}"


#: Columns added since the first schema: ``(table, column, SQL type)``, for databases made
#: before them (``create_all`` makes missing tables, not missing columns).
_ADDED_COLUMNS = (("relations", "since", "DATE"), ("changes", "relation", "TEXT"))


def _migrate(engine: Engine) -> None:
    # One connection for all: the seed later switches SQLite's journal mode, which needs
    # the database to itself (no other pooled connection open).
    with engine.begin() as conn:
        inspector = sa.inspect(conn)
        for table, column, kind in _ADDED_COLUMNS:
            present = {c["name"] for c in inspector.get_columns(table)}
            if column not in present:
                conn.execute(sa.text(f"ALTER TABLE {table} ADD COLUMN {column} {kind}"))
                logger.info("database: added %s.%s", table, column)
        indexes = {ix["name"] for ix in inspector.get_indexes("relations")}
        if "ix_relations_person" not in indexes:
            conn.execute(sa.text("CREATE INDEX ix_relations_person ON relations (person_id)"))


def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
    cursor = dbapi_connection.cursor()
    try:
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA synchronous=NORMAL")
        cursor.execute("PRAGMA busy_timeout=10000")
        cursor.execute("PRAGMA cache_size=-65536")
    finally:
        cursor.close()


def make_engine(url: str) -> Engine:
    """An engine for ``url`` with the schema created; SQLite gets WAL and a busy timeout.

    >>> make_engine("sqlite://").dialect.name
    'sqlite'
    """
    kwargs: dict[str, Any] = {"future": True}
    is_sqlite = url.startswith("sqlite")
    if is_sqlite:
        kwargs["connect_args"] = {"check_same_thread": False, "timeout": 10}
        if url in ("sqlite://", "sqlite:///:memory:"):
            # One shared connection, or every thread would see its own empty database.
            kwargs["poolclass"] = sa.pool.StaticPool
        else:
            kwargs["pool_size"] = 8
            kwargs["max_overflow"] = 8
    engine = sa.create_engine(url, **kwargs)
    if is_sqlite:
        sa.event.listen(engine, "connect", _sqlite_pragmas)
    metadata.create_all(engine)
    _migrate(engine)
    logger.debug("database ready at %s", engine.url.render_as_string(hide_password=True))
    return engine
