"""The PostgreSQL adapter's schema, by version, and how a database is brought to it.

Every table is named ``cc_…`` (the database may hold others). ``cc_schema_version``
keeps one row per version applied. On first use in a process the adapter looks
at the newest; a database older than this code is migrated one version at a
time, each step in its own transaction, under a transaction-level advisory lock
so that instances starting together migrate it once; a database newer than this
code is refused, never written.

Plain SQL only, nothing an extension gives: text columns (JSON kept as text, with
the columns the SDK reads derived from it at write time), ``bigint``,
``double precision``, ``timestamptz``, sequences, partial indexes, ``ON CONFLICT``,
``FOR UPDATE SKIP LOCKED``, advisory locks and ``COPY``, which KingbaseES,
openGauss and Highgo share with PostgreSQL.

=======  =============================================================================
version  what it adds
=======  =============================================================================
1        the journal: writers and their heads, records (one hash chain per writer,
         a global position ``gseq``), measure rows, inputs; objections; report receipts
2        re-checks (claimed) and watches; relations learnt from live profiles;
         commitments; disclosures
3        the offline snapshot: entries, relations, meta
4        the list authorities (认定部门) behind each measure of a check (the report's
         ``by_authority``), filled for the checks stored before from their inputs
5        upload states and claims in a narrow table of their own (``cc_journal_uploads``),
         moved out of the records: a claim and a mark rewrite a row of a few bytes with
         one index, not a whole record (its body) with every index of the journal
=======  =============================================================================

>>> max(STEPS) == SCHEMA_VERSION
True
"""

from __future__ import annotations

import logging
from datetime import datetime, timezone
from typing import Any

from ..._exceptions import JournalError
from ..._version import __version__
from .._journal_core import utc_text

__all__ = ["MIGRATION_LOCK", "SCHEMA_VERSION", "STEPS", "migrate", "schema_version"]

logger = logging.getLogger(__name__)

#: The advisory lock key migrations hold (a fixed number: "cc" "schema").
MIGRATION_LOCK = 0x63635F736368

V1_JOURNAL = """
CREATE TABLE cc_journal_writers (
    writer_id   text PRIMARY KEY,
    head_hash   text,
    head_wseq   bigint NOT NULL DEFAULT 0,
    created_at  text NOT NULL,
    updated_at  text NOT NULL,
    origin      text
);
CREATE SEQUENCE cc_journal_gseq;
CREATE TABLE cc_journal_records (
    gseq          bigint PRIMARY KEY DEFAULT nextval('cc_journal_gseq'),
    writer_id     text NOT NULL,
    wseq          bigint NOT NULL,
    id            text NOT NULL,
    type          text NOT NULL,
    check_id      text,
    at            text NOT NULL,
    body          text NOT NULL,
    hash          text NOT NULL,
    prev_hash     text,
    outcome       text,
    category      text,
    source        text,
    recheck_of    text,
    action        text,
    subject_id    text,
    subject_kind  text,
    matter_code   text,
    case_id       text,
    reason        text,
    upload_state  text NOT NULL DEFAULT 'pending',
    upload_detail text,
    uploaded_at   text,
    claimed_by    text,
    claimed_until timestamptz,
    CONSTRAINT cc_journal_records_id UNIQUE (id),
    CONSTRAINT cc_journal_records_chain UNIQUE (writer_id, wseq)
);
CREATE INDEX cc_journal_records_pending ON cc_journal_records (gseq)
    WHERE upload_state = 'pending';
CREATE INDEX cc_journal_records_at ON cc_journal_records (at);
CREATE INDEX cc_journal_records_type_at
    ON cc_journal_records (type, at, outcome, category, source, id);
CREATE INDEX cc_journal_records_check_id ON cc_journal_records (check_id, type, action, at);
CREATE INDEX cc_journal_records_recheck_of ON cc_journal_records (recheck_of)
    WHERE recheck_of IS NOT NULL;
CREATE INDEX cc_journal_records_case ON cc_journal_records (case_id, subject_id, gseq)
    WHERE type = 'check' AND case_id IS NOT NULL;
CREATE TABLE cc_journal_measures (
    gseq        bigint NOT NULL,
    n           integer NOT NULL,
    measure_id  text,
    status      text,
    PRIMARY KEY (gseq, n)
);
CREATE TABLE cc_journal_inputs (
    check_id  text PRIMARY KEY,
    body      text
);
CREATE TABLE cc_objections (
    objection_id  text PRIMARY KEY,
    check_id      text,
    entry_id      text,
    subject_id    text,
    filed_at      text NOT NULL,
    status        text NOT NULL,
    updated_at    text NOT NULL
);
CREATE INDEX cc_objections_filed_at ON cc_objections (filed_at);
CREATE TABLE cc_report_receipts (
    period        text NOT NULL,
    version       integer NOT NULL,
    receipt_id    text NOT NULL,
    submitted_at  text NOT NULL,
    body_hash     text NOT NULL,
    PRIMARY KEY (period, version)
)
"""

V2_FOLLOWUPS = """
CREATE TABLE cc_rechecks (
    check_id       text PRIMARY KEY,
    subject_id     text NOT NULL,
    kind           text NOT NULL,
    matter         text NOT NULL,
    outcome        text NOT NULL,
    queued_at      text NOT NULL,
    recheck_id     text,
    new_outcome    text,
    changed        integer,
    done_at        text,
    claimed_by     text,
    claimed_until  timestamptz
);
CREATE INDEX cc_rechecks_pending ON cc_rechecks (queued_at) WHERE done_at IS NULL;
CREATE TABLE cc_watches (
    subject_id     text NOT NULL,
    case_id        text NOT NULL,
    kind           text NOT NULL,
    matter         text NOT NULL,
    related_ids    text NOT NULL DEFAULT '[]',
    last_check_id  text,
    last_outcome   text,
    watched_at     text NOT NULL,
    PRIMARY KEY (subject_id, case_id)
);
CREATE TABLE cc_learnt (
    subject_id  text PRIMARY KEY,
    as_of       text NOT NULL,
    as_of_ts    double precision NOT NULL,
    learnt_at   text NOT NULL
);
CREATE TABLE cc_learnt_relations (
    subject_id    text NOT NULL,
    role          text NOT NULL,
    related_id    text NOT NULL,
    related_kind  text NOT NULL,
    PRIMARY KEY (subject_id, role, related_id)
);
CREATE TABLE cc_commitments (
    commitment_id  text PRIMARY KEY,
    check_id       text NOT NULL,
    subject_id     text NOT NULL,
    matter_code    text,
    case_id        text,
    documents      text NOT NULL,
    made_on        text NOT NULL,
    due_on         text NOT NULL,
    status         text NOT NULL DEFAULT 'open',
    resolved_on    text,
    posted         integer NOT NULL DEFAULT 0
);
CREATE INDEX cc_commitments_open ON cc_commitments (status, due_on);
CREATE TABLE cc_disclosures (
    disclosure_id  text PRIMARY KEY,
    kind           text NOT NULL,
    subject_id     text NOT NULL,
    decision_no    text NOT NULL,
    decided_on     text NOT NULL,
    due_on         text NOT NULL,
    title          text NOT NULL,
    content        text NOT NULL,
    check_id       text,
    posted         integer NOT NULL DEFAULT 0,
    published_on   text
);
CREATE INDEX cc_disclosures_due ON cc_disclosures (posted, due_on)
"""

# The snapshot in service. A rebuild writes tables of the same shape under
# ``cc_snapshot_*_new`` in its own transaction and renames them over these in the same
# transaction (see snapshot_build.py), so every name here is also made there.
SNAPSHOT_TABLES = """
CREATE TABLE {entries} (
    entry_id    text PRIMARY KEY,
    subject_id  text NOT NULL,
    body        text NOT NULL,
    seq         bigint
);
CREATE TABLE {relations} (
    subject_id  text NOT NULL,
    role        text NOT NULL,
    related_id  text NOT NULL,
    since       text,
    seq         bigint,
    PRIMARY KEY (subject_id, role, related_id)
);
CREATE TABLE {meta} (
    key    text PRIMARY KEY,
    value  text
)
"""

#: Indexes of the snapshot's tables, built after a rebuild's rows are in (one sort).
SNAPSHOT_INDEXES = """
CREATE INDEX {entries}_subject ON {entries} (subject_id);
CREATE INDEX {relations}_related ON {relations} (related_id)
"""

LIVE_SNAPSHOT = {
    "entries": "cc_snapshot_entries",
    "relations": "cc_snapshot_relations",
    "meta": "cc_snapshot_meta",
}

V3_SNAPSHOT = (
    SNAPSHOT_TABLES.format(**LIVE_SNAPSHOT) + ";\n" + SNAPSHOT_INDEXES.format(**LIVE_SNAPSHOT)
)

V4_AUTHORITIES = """
CREATE TABLE cc_journal_authorities (
    gseq       bigint NOT NULL,
    n          integer NOT NULL,
    authority  text NOT NULL,
    PRIMARY KEY (gseq, n, authority)
)
"""

# Each record's upload state and claim. Rows are narrow and updated twice (claimed,
# then answered): room is left in each page so that a claim rewrites its row in place
# (a heap-only update: no index touched).
V5_UPLOADS = """
CREATE TABLE cc_journal_uploads (
    gseq           bigint PRIMARY KEY,
    upload_state   text NOT NULL DEFAULT 'pending',
    upload_detail  text,
    uploaded_at    text,
    claimed_by     text,
    claimed_until  timestamptz
) WITH (fillfactor = 70);
INSERT INTO cc_journal_uploads (gseq, upload_state, upload_detail, uploaded_at, claimed_by,
    claimed_until)
    SELECT gseq, upload_state, upload_detail, uploaded_at, claimed_by, claimed_until
    FROM cc_journal_records;
CREATE INDEX cc_journal_uploads_pending ON cc_journal_uploads (gseq)
    WHERE upload_state = 'pending';
DROP INDEX cc_journal_records_pending;
ALTER TABLE cc_journal_records DROP COLUMN upload_state, DROP COLUMN upload_detail,
    DROP COLUMN uploaded_at, DROP COLUMN claimed_by, DROP COLUMN claimed_until
"""

#: Version → the script that brings a database from the version before to it.
STEPS: dict[int, str] = {
    1: V1_JOURNAL,
    2: V2_FOLLOWUPS,
    3: V3_SNAPSHOT,
    4: V4_AUTHORITIES,
    5: V5_UPLOADS,
}

#: Version → what a step does after its script, in the same transaction (fills rows the
#: new tables need for what was stored before).
AFTER: dict[int, Any] = {}

#: The schema this code reads and writes.
SCHEMA_VERSION = max(STEPS)

_VERSION_TABLE = """
CREATE TABLE IF NOT EXISTS cc_schema_version (
    version      integer PRIMARY KEY,
    applied_at   text NOT NULL,
    sdk_version  text NOT NULL
)
"""


def statements(script: str) -> list[str]:
    """The statements of ``script`` one by one.

    >>> statements("CREATE TABLE a (x int); CREATE TABLE b (y int)")
    ['CREATE TABLE a (x int)', 'CREATE TABLE b (y int)']
    """
    return [s.strip() for s in script.split(";") if s.strip()]


def schema_version(conn: Any) -> int:
    """The newest version applied to the database (0: none yet)."""
    # to_regclass answers NULL (no error) for a table that does not exist.
    exists = conn.execute("SELECT to_regclass('cc_schema_version') IS NOT NULL").fetchone()[0]
    if not exists:
        return 0
    found = conn.execute("SELECT COALESCE(MAX(version), 0) FROM cc_schema_version").fetchone()
    return int(found[0])


def migrate(conn: Any, *, where: str, target: int = SCHEMA_VERSION) -> int:
    """Bring the database on ``conn`` (autocommit) to ``target``; the version it is at.

    Each step runs in its own transaction holding :data:`MIGRATION_LOCK`, and
    looks at the version again once the lock is held (another instance may have
    migrated meanwhile). A database newer than this code raises
    :class:`~credit_check_sdk.JournalError` (``where`` names it).
    """
    version = schema_version(conn)
    if version > SCHEMA_VERSION:
        raise JournalError(
            f"the database {where} has schema {version}; this SDK reads up to"
            f" {SCHEMA_VERSION} (upgrade credit-check-sdk)",
            path=where,
        )
    while version < target:
        with conn.transaction():
            conn.execute("SELECT pg_advisory_xact_lock(%s)", (MIGRATION_LOCK,))
            conn.execute(_VERSION_TABLE)
            version = int(
                conn.execute("SELECT COALESCE(MAX(version), 0) FROM cc_schema_version").fetchone()[
                    0
                ]
            )
            if version >= target:
                break
            step = version + 1
            logger.info("database %s: schema version %d", where, step)
            for statement in statements(STEPS[step]):
                conn.execute(statement)
            if step in AFTER:
                AFTER[step](conn)
            conn.execute(
                "INSERT INTO cc_schema_version (version, applied_at, sdk_version)"
                " VALUES (%s, %s, %s)",
                (step, utc_text(datetime.now(timezone.utc)), __version__),
            )
            version = step
    return version


def _fill_authorities(conn: Any) -> None:
    """Version 4: the authority rows of the checks stored before, from their inputs."""
    import json

    from .._journal_core import derive_authorities

    rows = conn.execute(
        "SELECT r.gseq, r.body, i.body FROM cc_journal_records r"
        " JOIN cc_journal_inputs i ON i.check_id = r.id WHERE r.type = 'check'"
    ).fetchall()
    for gseq, body, inputs in rows:
        for n, authority in derive_authorities(json.loads(body), json.loads(inputs)):
            conn.execute(
                "INSERT INTO cc_journal_authorities (gseq, n, authority) VALUES (%s, %s, %s)"
                " ON CONFLICT DO NOTHING",
                (gseq, n, authority),
            )


AFTER[4] = _fill_authorities
