"""Fixtures shared by the SDK's tests and the flow packages' tests under plugins/."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.support.pgcluster import PgCluster, PgUnavailableError


@pytest.fixture(scope="session")
def pg_cluster() -> Iterator[PgCluster]:
    """A PostgreSQL cluster started for this test run (initdb + pg_ctl on a free port).

    Fails, naming the package to install, when the server binaries are missing:
    ``.ci/run`` installs them, so a missing server is a broken machine, not a skip.
    """
    try:
        cluster = PgCluster.start()
    except PgUnavailableError as exc:
        pytest.fail(str(exc))
    try:
        yield cluster
    finally:
        cluster.stop()


@pytest.fixture
def pg_url(pg_cluster: PgCluster, request: pytest.FixtureRequest) -> str:
    """The URL of a fresh, empty database on the test run's cluster (one per test)."""
    name = "t_" + "".join(c if c.isalnum() else "_" for c in request.node.name.lower())[:50]
    suffix = 0
    while True:
        candidate = name if suffix == 0 else f"{name}_{suffix}"
        # The name is built from letters, digits and "_" above: nothing to escape.
        query = f"SELECT 1 FROM pg_database WHERE datname = '{candidate}'"  # noqa: S608
        exists = pg_cluster.psql(query)
        if not exists.strip():
            return pg_cluster.create_database(candidate)
        suffix += 1
