"""Nonce replay: in memory with batched writes, or claimed in the database by several
processes (``--workers``)."""

from __future__ import annotations

from pathlib import Path

from credit_check_sandbox import db
from credit_check_sandbox.store import Store

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


def test_every_fresh_nonce_comes_with_its_write(tmp_path: Path) -> None:
    engine = db.make_engine(f"sqlite:///{tmp_path / 'n.db'}")
    store = Store(engine)
    fresh, batch = store.check_nonce("a", "x" * 16)
    assert fresh
    assert batch is not None
    assert [p["nonce"] for p in batch[0]] == ["x" * 16]
    assert store.check_nonce("a", "x" * 16) == (False, None)  # a replay
    store.flush_nonces(batch)
    store.close()
    again = Store(engine)  # as after a restart
    assert not again.remember_nonce("a", "x" * 16)
    again.close()


def test_remembered_nonces_survive_a_restart(tmp_path: Path) -> None:
    engine = db.make_engine(f"sqlite:///{tmp_path / 'n.db'}")
    store = Store(engine)
    assert store.remember_nonce("a", "x" * 16)
    assert store.remember_nonce("a", "y" * 16)  # the last one before the restart
    store.close()
    again = Store(engine)
    assert not again.remember_nonce("a", "x" * 16)
    assert not again.remember_nonce("a", "y" * 16)
    again.close()


def test_nonces_out_of_the_window_leave_the_table(tmp_path: Path) -> None:
    engine = db.make_engine(f"sqlite:///{tmp_path / 'n.db'}")
    store = Store(engine)
    start = store._nonces_expired
    for i in range(5):
        assert store.remember_nonce("a", f"old-{i:012d}", now=start + 2)
    later = start + 2 + NONCE_TTL_SECONDS + 5
    assert store.remember_nonce("a", "n" * 16, now=later)
    with engine.connect() as conn:
        left = [r.nonce for r in conn.execute(db.nonces.select())]
    assert left == ["n" * 16]
    store.close()


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


def test_a_replay_after_the_sandbox_restarts_is_refused(tmp_path: Path) -> None:
    """Sign a request, send it, kill the process at once, start it again on the same
    database, replay: refused, as the nonce was stored before the first answer."""
    from urllib.parse import urlsplit

    from credit_check_sandbox.process import SandboxProcess

    from credit_check_sdk.signing import signed_headers

    database = tmp_path / "sandbox.db"
    creds = {"app_id": "agency-test", "app_secret": "test-secret"}

    def start() -> SandboxProcess:
        return SandboxProcess(seed_size=20, db_path=database, admin=False, **creds).start()

    first = start()
    try:
        headers = signed_headers(
            **creds, method="GET", path=urlsplit(first.base_url + "/v1/health").path
        )
        assert first.request("GET", "/v1/health", headers=headers).status_code == 200
        replayed = first.request("GET", "/v1/health", headers=headers)
        assert replayed.status_code == 401
        assert "nonce" in replayed.json()["detail"]
        for _ in range(3):  # and the last moments before the crash: more fresh nonces
            assert first.request("GET", "/v1/health").status_code == 200
        assert first._proc is not None
        first._proc.kill()  # no shutdown: whatever was only in memory is lost
        first._proc.wait(timeout=10)
    finally:
        first.stop()
    second = start()
    try:
        assert second.request("GET", "/v1/health").status_code == 200  # it serves
        again = second.request("GET", "/v1/health", headers=headers)
        assert again.status_code == 401, again.text
        assert "nonce" in again.json()["detail"]
    finally:
        second.stop()
