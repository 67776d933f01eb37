"""The test run's own PostgreSQL cluster: durable settings, stop and start again."""

from __future__ import annotations

from tests.support.pgcluster import PgCluster


def test_cluster_runs_with_durable_settings(pg_cluster: PgCluster, pg_url: str) -> None:
    out = pg_cluster.psql("SHOW fsync; SHOW synchronous_commit", database=pg_url.rsplit("/", 1)[1])
    assert out.split() == ["on", "on"]


def test_a_database_survives_a_restart(pg_cluster: PgCluster, pg_url: str) -> None:
    db = pg_url.rsplit("/", 1)[1]
    pg_cluster.psql("CREATE TABLE t (v int); INSERT INTO t VALUES (7)", database=db)
    pg_cluster.pause()
    assert not pg_cluster.running()
    pg_cluster.resume()
    assert pg_cluster.psql("SELECT v FROM t", database=db).strip() == "7"
