"""Nonce replay: in memory with batched writes, or claimed in the database by several
processes (``--workers``)."""

from __future__ import annotations

from pathlib import Path

from credit_check_sdk.sandbox import db
from credit_check_sdk.sandbox.store import Store
from credit_check_sdk.signing import NONCE_TTL_SECONDS


def test_in_memory_window_and_pruning() -> None:
    store = Store(db.make_engine("sqlite://"))
    assert store.check_nonce("a", "n" * 16, now=1000.0)[0]
    assert not store.check_nonce("a", "n" * 16, now=1001.0)[0]
    for i in range(50):
        store.check_nonce("a", f"other-{i:010d}", now=1002.0)
    later = 1000.0 + NONCE_TTL_SECONDS + 5
    assert store.check_nonce("a", "n" * 16, now=later)[0]  # out of the window: fresh again
    assert len(store._nonces) == 1  # the rest left the window


def test_flushed_nonces_survive_a_restart(tmp_path: Path) -> None:
    engine = db.make_engine(f"sqlite:///{tmp_path / 'n.db'}")
    store = Store(engine)
    assert store.remember_nonce("a", "x" * 16)  # not written yet (batched)
    # more than a second later: the batch is due and written
    fresh, batch = store.check_nonce("a", "y" * 16, now=store._nonces_flushed + 2)
    assert fresh
    assert batch is not None
    store.flush_nonces(batch)
    store.close()
    again = Store(engine)
    assert not again.remember_nonce("a", "x" * 16)
    assert not again.remember_nonce("a", "y" * 16, now=store._nonces_flushed + 3)
    again.close()


def test_shared_claims_across_stores(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'shared.db'}"
    one = Store(db.make_engine(url), shared_nonces=True)
    two = Store(db.make_engine(url), shared_nonces=True)
    assert one.remember_nonce("a", "z" * 16, now=5000.0)
    assert not two.remember_nonce("a", "z" * 16, now=5001.0)
    assert not one.remember_nonce("a", "z" * 16, now=5002.0)
    assert two.remember_nonce("a", "z" * 16, now=5000.0 + NONCE_TTL_SECONDS + 1)
    one.close()
    two.close()
