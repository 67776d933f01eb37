"""Every schema of the SQLite adapter, with its version, in one place.

Each file in ``data_dir`` holds its schema version in ``PRAGMA user_version``
and is migrated in place when opened (inside ``BEGIN IMMEDIATE``, looked at again
once the write lock is held: another process may be migrating it at the same
moment). A file newer than this code is refused, never written.

==============================  =======  ================================================
file                            version  history
==============================  =======  ================================================
``journal.sqlite3``             8        see :data:`JOURNAL_VERSION`
``followups.sqlite3``           2        1: re-checks and watches; 2: re-check claims
``relations.sqlite3``           1        1: learnt relations
``snapshot.<gen>.sqlite3``      1        1: entries, meta, relations (added when missing)
``licensing-commitments.sqlite3`` 1      1: commitments
``disclosures.sqlite3``         1        1: disclosures (双公示)
==============================  =======  ================================================

Files written before versions were kept (``user_version`` 0) hold version 1's
tables: version 1 is written with ``CREATE … IF NOT EXISTS`` so that it applies to
them unchanged.

>>> sorted(STEPS)
['commitments', 'disclosures', 'followups', 'relations']
>>> FOLLOWUPS_VERSION == max(STEPS["followups"])
True
"""

from __future__ import annotations

__all__ = [
    "COMMITMENTS_VERSION",
    "DISCLOSURES_VERSION",
    "FOLLOWUPS_VERSION",
    "JOURNAL_VERSION",
    "RELATIONS_VERSION",
    "SNAPSHOT_VERSION",
    "STEPS",
    "statements",
]


def statements(script: str) -> list[str]:
    """The statements of ``script`` one by one (``executescript`` would commit the caller's
    transaction).

    >>> statements("CREATE TABLE a (x); CREATE TABLE b (y)")
    ['CREATE TABLE a (x)', 'CREATE TABLE b (y)']
    """
    return [s.strip() for s in script.split(";") if s.strip()]


# --- the journal -------------------------------------------------------------------------

#: The schema the journal is written in; ``PRAGMA user_version`` holds the file's.
#: 1: records, inputs, meta. 2: adds the local ``objections`` and ``report_receipts`` tables.
#: 3: adds the report columns (``outcome``, ``category``, ``source``, ``recheck_of``,
#: ``action``) and the ``record_measures`` table, copied from each body at append time.
#: 4: indexes only, for the monthly report: ``records_check_id`` covers
#: ``(check_id, type, action, at)``, ``records_type_at`` also holds ``id``, and the
#: partial ``records_overrides`` lists not_applied / overridden actions by check.
#: 5: upload claims (``claimed_by``, ``claimed_until``), so that processes sharing the
#: file do not upload the same records (see :mod:`credit_check_sdk.storage.sqlite.uploads`).
#: 6: the ``record_authorities`` table: the list authorities (认定部门) behind each measure
#: of a check, derived from its inputs at append time (filled for older files when opened).
#: 7: fewer pages written per append: a check's inputs are kept once per distinct content
#: (``input_bodies`` by SHA-256, the record's ``inputs_hash`` names it; the ``inputs``
#: table is moved there and dropped), the case index is a plain ``case_id`` column indexed
#: only where set (``records_case``, instead of ``records_case_id`` over a JSON expression
#: on every check), ``records_check_id`` holds actions only, ``records_at`` is gone.
#: 8: the upload queue walks by position from a durable floor (``meta.upload_floor``:
#: no record at or below it is pending) instead of the ``records_upload_state`` index,
#: which every append and every mark wrote; the partial ``records_upload_exceptions``
#: lists the duplicate and rejected records only (for :meth:`counts`).
JOURNAL_VERSION = 8

JOURNAL_V1 = """
CREATE TABLE IF NOT EXISTS records (
    seq INTEGER PRIMARY KEY,
    id TEXT UNIQUE NOT NULL,
    type TEXT NOT NULL,
    check_id TEXT,
    at TEXT NOT NULL,
    body TEXT NOT NULL,
    hash TEXT NOT NULL,
    prev_hash TEXT,
    upload_state TEXT NOT NULL DEFAULT 'pending',
    upload_detail TEXT,
    uploaded_at TEXT
);
CREATE INDEX IF NOT EXISTS records_upload_state ON records(upload_state);
CREATE INDEX IF NOT EXISTS records_at ON records(at);
CREATE INDEX IF NOT EXISTS records_check_id ON records(check_id);
CREATE TABLE IF NOT EXISTS inputs (check_id TEXT PRIMARY KEY, body TEXT);
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
"""

# Version 2: local bookkeeping that is not part of the hash chain and is never
# uploaded (records:batch takes check and action records only).
JOURNAL_V2 = """
CREATE TABLE IF NOT EXISTS objections (
    objection_id TEXT PRIMARY KEY,
    check_id TEXT,
    entry_id TEXT,
    subject_id TEXT,
    filed_at TEXT NOT NULL,
    status TEXT NOT NULL,
    updated_at TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS objections_filed_at ON objections(filed_at);
CREATE TABLE IF NOT EXISTS report_receipts (
    period TEXT NOT NULL,
    version INTEGER NOT NULL,
    receipt_id TEXT NOT NULL,
    submitted_at TEXT NOT NULL,
    body_hash TEXT NOT NULL,
    PRIMARY KEY (period, version)
);
"""

# Version 3: what the monthly report counts, as plain columns and one side table,
# so that it groups on columns instead of parsing every body (json_extract).
# Derived from the body when a record is appended (see derive_columns), never hashed:
# the body stays the one source of truth (verify() hashes the body only).
# record_measures holds a check's ``measures`` (measure_id, status) and an
# action's ``measure_ids`` (measure_id, status NULL), ``n`` being the position in the list.
JOURNAL_V3 = """
ALTER TABLE records ADD COLUMN outcome;
ALTER TABLE records ADD COLUMN category;
ALTER TABLE records ADD COLUMN source;
ALTER TABLE records ADD COLUMN recheck_of;
ALTER TABLE records ADD COLUMN action;
CREATE TABLE IF NOT EXISTS record_measures (
    seq INTEGER NOT NULL,
    n INTEGER NOT NULL,
    measure_id,
    status,
    PRIMARY KEY (seq, n)
) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS records_type_at ON records(type, at, outcome, category, source);
CREATE INDEX IF NOT EXISTS records_recheck_of ON records(recheck_of) WHERE recheck_of IS NOT NULL
"""

# Version 4: indexes only. The report finds a month's checks, their ids and their
# actions (kind and time) in the indexes alone, without reading the record rows
# (bodies) of checks that have no measures: records_check_id is widened to cover
# (check_id, type, action, at), records_type_at also holds the id, and the small
# partial index records_overrides lists the not_applied / overridden actions (the
# ones whose body the report copies) by check. Same number of indexes written per
# append, plus one for the rare override.
JOURNAL_V4 = """
DROP INDEX IF EXISTS records_check_id;
CREATE INDEX records_check_id ON records(check_id, type, action, at);
DROP INDEX IF EXISTS records_type_at;
CREATE INDEX records_type_at ON records(type, at, outcome, category, source, id);
CREATE INDEX IF NOT EXISTS records_overrides ON records(check_id)
    WHERE type = 'action' AND action IN ('not_applied', 'overridden')
"""

# The backfill of a file written by an older version: the same values as derive_columns()
# gives (json_extract has the same rules: scalars as they are, true/false as 1/0,
# objects and arrays as compact JSON text). Bodies that are not JSON objects are
# left alone; verify() reports them as bad_body.
JOURNAL_BACKFILL_V3 = """
UPDATE records SET
    outcome = json_extract(body, '$.outcome'),
    category = CASE json_type(body, '$.matter') WHEN 'object'
               THEN json_extract(body, '$.matter.category') END,
    source = json_extract(body, '$.source'),
    recheck_of = json_extract(body, '$.recheck_of')
WHERE type = 'check' AND json_valid(body) AND json_type(body) = 'object';
UPDATE records SET action = json_extract(body, '$.action')
WHERE type = 'action' AND json_valid(body) AND json_type(body) = 'object';
INSERT OR REPLACE INTO record_measures(seq, n, measure_id, status)
SELECT r.seq, m.key, json_extract(m.value, '$.id'), json_extract(m.value, '$.status')
FROM records r, json_each(r.body, '$.measures') m
WHERE r.type = 'check' AND json_valid(r.body) AND json_type(r.body) = 'object'
  AND json_type(r.body, '$.measures') = 'array' AND m.type = 'object';
INSERT OR REPLACE INTO record_measures(seq, n, measure_id, status)
SELECT r.seq, m.key, m.value, NULL
FROM records r, json_each(r.body, '$.measure_ids') m
WHERE r.type = 'action' AND json_valid(r.body) AND json_type(r.body) = 'object'
  AND json_type(r.body, '$.measure_ids') = 'array'
"""

# Up to version 5 the files also had ``records_case_id``, an index over
# json_extract(body, '$.matter.case_id') created on open when missing (not part of a
# version); version 6 replaces it with the case_id column and records_case.

# Version 5: the claim columns (NULL: nobody's).
JOURNAL_V5 = """
ALTER TABLE records ADD COLUMN claimed_by TEXT;
ALTER TABLE records ADD COLUMN claimed_until REAL
"""


# Version 6: for the report's ``by_authority`` (§四(八): feedback to the departments that
# listed the subjects). A check record names the entries behind each measure
# (``measures[].entry_ids``); the authority of each entry is in the check's inputs (the
# profile it was decided from). One row per measure (``n``, its place in the list, as in
# record_measures) and authority, derived by storage._journal_core.derive_authorities
# when the check is appended, never hashed; verify_columns() derives them again from the
# body and the inputs. An older file's rows are derived when it is opened (in Python,
# by the same function: see JournalFile._migrate).
JOURNAL_V6 = """
CREATE TABLE IF NOT EXISTS record_authorities (
    seq INTEGER NOT NULL,
    n INTEGER NOT NULL,
    authority TEXT NOT NULL,
    PRIMARY KEY (seq, n, authority)
) WITHOUT ROWID
"""


# Version 7: what an append writes besides its row is cut to what is read back.
# - Inputs by content: a check's inputs (the profile it was decided from, the day, the
#   catalogue version …) are the same for every check of a subject on a day from one
#   cached profile; they are stored once in input_bodies, keyed by the SHA-256 of their
#   text, and the record names them in inputs_hash (a check's row, no other page).
# - case_id: the check's matter.case_id copied at append time like the report columns;
#   records_case indexes only the checks that have one (CreditChecker.watch's lookup).
# - records_check_id: the report looks up actions by check id only (a check's own id is
#   in the id index), so checks no longer get an entry.
# - records_at: every query by time also names the type (records_type_at).
JOURNAL_V7 = """
ALTER TABLE records ADD COLUMN inputs_hash TEXT;
ALTER TABLE records ADD COLUMN case_id;
CREATE TABLE IF NOT EXISTS input_bodies (hash TEXT PRIMARY KEY, body TEXT NOT NULL);
DROP INDEX IF EXISTS records_at;
DROP INDEX IF EXISTS records_case_id;
DROP INDEX IF EXISTS records_check_id;
CREATE INDEX records_check_id ON records(check_id, type, action, at) WHERE type = 'action';
CREATE INDEX IF NOT EXISTS records_case ON records(case_id) WHERE case_id IS NOT NULL
"""

# The move of a version-6 file's inputs and case ids (journal_sha256 is registered on the
# migrating connection: the SHA-256 hex of the text, as appends compute it).
JOURNAL_BACKFILL_V7 = """
UPDATE records SET case_id = json_extract(body, '$.matter.case_id')
WHERE type = 'check' AND json_valid(body) AND json_type(body) = 'object'
  AND json_type(body, '$.matter') = 'object'
  AND json_extract(body, '$.matter.case_id') IS NOT NULL;
INSERT OR IGNORE INTO input_bodies(hash, body)
SELECT journal_sha256(body), body FROM inputs WHERE body IS NOT NULL;
UPDATE records SET inputs_hash = (SELECT journal_sha256(i.body) FROM inputs AS i
                                  WHERE i.check_id = records.id)
WHERE id IN (SELECT check_id FROM inputs WHERE body IS NOT NULL);
DROP TABLE inputs
"""


# Version 8: an append no longer inserts into an index of upload states, a mark no
# longer moves a record from one part of it to another (two of the four to six pages a
# check's commit wrote, and most of a mark's). The uploader walks by ``seq`` (the
# primary key) from ``meta.upload_floor``: every record at or below it has been
# answered (accepted, duplicate or rejected); above it, the few records marked out of
# order are skipped by their ``upload_state`` column as the walk reads them. The floor
# is computed by a mark inside its write transaction and stored lazily (a floor left
# behind only makes the next walk read a few more rows; records never go back to
# pending, and a new record is always appended above the newest). The floor of a
# version-7 file is found with the old index before it is dropped.
JOURNAL_V8 = """
INSERT OR REPLACE INTO meta(key, value) VALUES ('upload_floor', (
    SELECT COALESCE((SELECT MIN(seq) - 1 FROM records WHERE upload_state = 'pending'),
                    (SELECT MAX(seq) FROM records), 0)));
DROP INDEX IF EXISTS records_upload_state;
CREATE INDEX IF NOT EXISTS records_upload_exceptions ON records(upload_state)
    WHERE upload_state IN ('duplicate', 'rejected')
"""


# --- the small stores: (version -> the script that brings a file to it) ------------------

FOLLOWUPS_VERSION = 2
FOLLOWUPS_V1 = """
CREATE TABLE IF NOT EXISTS rechecks (
    check_id     TEXT PRIMARY KEY,
    subject_id   TEXT NOT NULL,
    kind         TEXT NOT NULL,
    matter       TEXT NOT NULL,
    outcome      TEXT NOT NULL,
    queued_at    TEXT NOT NULL,
    recheck_id   TEXT,
    new_outcome  TEXT,
    changed      INTEGER,
    done_at      TEXT
);
CREATE INDEX IF NOT EXISTS rechecks_pending ON rechecks (done_at, queued_at);
CREATE TABLE IF NOT EXISTS watches (
    subject_id    TEXT NOT NULL,
    case_id       TEXT NOT NULL,
    kind          TEXT NOT NULL,
    matter        TEXT NOT NULL,
    related_ids   TEXT NOT NULL DEFAULT '[]',
    last_check_id TEXT,
    last_outcome  TEXT,
    watched_at    TEXT NOT NULL,
    PRIMARY KEY (subject_id, case_id)
);
"""

# Version 2: re-checks are claimed before they run, so that one runs once whatever
# the number of processes sharing the file (NULL: nobody's).
FOLLOWUPS_V2 = """
ALTER TABLE rechecks ADD COLUMN claimed_by TEXT;
ALTER TABLE rechecks ADD COLUMN claimed_until REAL
"""

RELATIONS_VERSION = 1
LEARNT_RELATIONS_V1 = """
CREATE TABLE IF NOT EXISTS learnt (
    subject_id  TEXT PRIMARY KEY,
    as_of       TEXT NOT NULL,
    as_of_ts    REAL NOT NULL,
    learnt_at   TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS relations (
    subject_id   TEXT NOT NULL,
    role         TEXT NOT NULL,
    related_id   TEXT NOT NULL,
    related_kind TEXT NOT NULL,
    PRIMARY KEY (subject_id, role, related_id)
) WITHOUT ROWID;
"""

COMMITMENTS_VERSION = 1
COMMITMENTS_V1 = """
CREATE TABLE IF NOT EXISTS commitments (
    commitment_id TEXT PRIMARY KEY,
    check_id      TEXT NOT NULL,
    subject_id    TEXT NOT NULL,
    matter_code   TEXT,
    case_id       TEXT,
    documents     TEXT NOT NULL,
    made_on       TEXT NOT NULL,
    due_on        TEXT NOT NULL,
    status        TEXT NOT NULL DEFAULT 'open',
    resolved_on   TEXT,
    posted        INTEGER NOT NULL DEFAULT 0
);
CREATE INDEX IF NOT EXISTS commitments_open ON commitments (status, due_on);
"""

DISCLOSURES_VERSION = 1
# Dates as ISO text (they sort); content as JSON text (plain columns only, as every
# adapter can hold them).
DISCLOSURES_V1 = """
CREATE TABLE IF NOT EXISTS disclosures (
    disclosure_id TEXT PRIMARY KEY,
    kind          TEXT NOT NULL,
    subject_id    TEXT NOT NULL,
    decision_no   TEXT NOT NULL,
    decided_on    TEXT NOT NULL,
    due_on        TEXT NOT NULL,
    title         TEXT NOT NULL,
    content       TEXT NOT NULL,
    check_id      TEXT,
    posted        INTEGER NOT NULL DEFAULT 0,
    published_on  TEXT
);
CREATE INDEX IF NOT EXISTS disclosures_due ON disclosures (posted, due_on)
"""

#: Per small store, the script that brings a file from the version before to each version.
STEPS: dict[str, dict[int, str]] = {
    "followups": {1: FOLLOWUPS_V1, 2: FOLLOWUPS_V2},
    "relations": {1: LEARNT_RELATIONS_V1},
    "commitments": {1: COMMITMENTS_V1},
    "disclosures": {1: DISCLOSURES_V1},
}


# --- the snapshot ------------------------------------------------------------------------

#: The schema of a snapshot generation file. A rebuild writes a new file, so a new
#: version needs no migration: the next sync rebuilds (the old file is refused).
SNAPSHOT_VERSION = 1

SNAPSHOT_RELATIONS = """
CREATE TABLE IF NOT EXISTS relations (
    subject_id TEXT NOT NULL,
    role TEXT NOT NULL,
    related_id TEXT NOT NULL,
    since TEXT,
    seq INTEGER,
    PRIMARY KEY (subject_id, role, related_id)
) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS relations_related ON relations(related_id);
"""

SNAPSHOT_SCHEMA = (
    """
CREATE TABLE IF NOT EXISTS entries (
    entry_id TEXT PRIMARY KEY,
    subject_id TEXT NOT NULL,
    body TEXT NOT NULL,
    seq INTEGER
);
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT);
"""
    + SNAPSHOT_RELATIONS
)
# Built after a rebuild's rows are in: one sort instead of millions of B-tree inserts.
SNAPSHOT_INDEX = "CREATE INDEX IF NOT EXISTS entries_subject ON entries(subject_id)"
