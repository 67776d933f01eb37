"""The seed: deterministic, checksum-valid ids, every category and status."""

from __future__ import annotations

from pathlib import Path

import sqlalchemy as sa
from credit_check_sandbox import db
from credit_check_sandbox.seed import SCENARIO_SUBJECTS, is_seeded, seed_database

from credit_check_sdk._ids import validate_id
from credit_check_sdk.categories import BLACK, RED


def _dump(seed: int) -> tuple[list[tuple[object, ...]], list[tuple[object, ...]]]:
    engine = db.make_engine("sqlite://")
    from datetime import date

    seed_database(engine, seed=seed, seed_size=300, reference_date=date(2026, 11, 1))
    with engine.connect() as conn:
        subjects = [tuple(r) for r in conn.execute(sa.select(db.subjects).order_by("id"))]
        entries = [tuple(r) for r in conn.execute(sa.select(db.entries).order_by("entry_id"))]
    return subjects, entries


def test_deterministic() -> None:
    assert _dump(1) == _dump(1)
    assert _dump(1) != _dump(2)


def test_ids_kinds_categories_statuses() -> None:
    engine = db.make_engine("sqlite://")
    assert not is_seeded(engine)
    stats = seed_database(engine, seed_size=1500)
    assert stats is not None
    assert is_seeded(engine)
    with engine.connect() as conn:
        subjects = conn.execute(sa.select(db.subjects.c.id, db.subjects.c.kind)).all()
        cats = set(conn.execute(sa.select(db.entries.c.category).distinct()).scalars())
        statuses = set(conn.execute(sa.select(db.entries.c.status).distinct()).scalars())
        orphans = conn.execute(
            sa.select(sa.func.count())
            .select_from(db.relations)
            .where(db.relations.c.person_id.not_in(sa.select(db.subjects.c.id)))
        ).scalar()
    for sid, kind in subjects:
        assert validate_id(sid)[1] == kind  # never ambiguous, always valid
        if kind == "legal_entity":
            assert sid.startswith("9144200")
    assert set(BLACK) | set(RED) <= cats
    assert statuses == {"active", "objection_pending", "repaired", "expired", "withdrawn"}
    assert orphans == 0


def test_scenarios_documented() -> None:
    for name, sc in SCENARIO_SUBJECTS.items():
        assert validate_id(sc.id)[1] == sc.kind, name
        assert sc.description


def _rows(engine: sa.engine.Engine) -> dict[str, list[tuple[object, ...]]]:
    out = {}
    with engine.connect() as conn:
        for table in (db.subjects, db.relations, db.entries, db.changes, db.adverse_records):
            out[table.name] = sorted(tuple(r) for r in conn.execute(sa.select(table)))
    return out


def test_loaders_store_the_same_rows(tmp_path: Path) -> None:
    from datetime import date

    fast = db.make_engine(f"sqlite:///{tmp_path / 'fast.db'}")
    core = db.make_engine(f"sqlite:///{tmp_path / 'core.db'}")
    ref = date(2026, 11, 1)
    seed_database(fast, seed=3, seed_size=400, reference_date=ref)
    seed_database(core, seed=3, seed_size=400, reference_date=ref, loader="core")
    assert _rows(fast) == _rows(core)
    with fast.connect() as conn:
        # back to WAL after the bulk load, secondary indexes rebuilt
        assert conn.exec_driver_sql("PRAGMA journal_mode").scalar() == "wal"
        names = set(
            conn.exec_driver_sql("SELECT name FROM sqlite_master WHERE type = 'index'").scalars()
        )
    assert {"ix_entries_subject_id", "ix_adverse_subject", "ux_changes_entry_id"} <= names
