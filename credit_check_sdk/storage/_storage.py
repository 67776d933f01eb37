"""The composite :class:`Storage` (every store of one deployment) and :func:`open_storage`.

Without ``database_url`` every store is a file in ``data_dir`` (the SQLite
adapter, :mod:`credit_check_sdk.storage.sqlite`): one host, any number of
processes. A ``postgresql://`` URL names the database a cluster of
application servers shares (the PostgreSQL adapter,
:mod:`credit_check_sdk.storage.postgres`; ``data_dir`` keeps each instance's
writer id and spool).

>>> import tempfile
>>> with open_storage(data_dir=tempfile.mkdtemp()) as storage:
...     storage.kind, storage.journal.counts()["pending"]
('sqlite', 0)
"""

from __future__ import annotations

import re
from pathlib import Path
from types import TracebackType
from typing import TYPE_CHECKING, Any, Protocol
from urllib.parse import urlsplit

from .._exceptions import ConfigurationError
from ._interface import JournalStore, ObjectionStore, ReceiptStore, ReportSource, UploadQueue
from ._interface_duties import CommitmentStore, DisclosureStore
from ._interface_offline import FollowupStore, RelationStore, SnapshotStore

if TYPE_CHECKING:
    from .._config import Settings

__all__ = ["DATABASE_URL_VARIABLE", "Storage", "mask_database_url", "open_storage"]

#: The environment variable that names the shared database (the ``database_url`` setting).
DATABASE_URL_VARIABLE = "CREDIT_CHECK_DATABASE_URL"

_POSTGRES_SCHEMES = ("postgresql", "postgres")
_PASSWORD_PARAMETER = re.compile(r"(?i)([?&]password=)[^&#]*")


class Storage(Protocol):
    """Every durable store of one deployment, opened on first use and closed together.

    ``storage.journal`` and ``storage.uploads`` may be the same object (they share the
    journal's records); so may ``objections``, ``receipts`` and ``report`` be views
    on it. Closing the storage closes every store it opened.

    >>> import tempfile
    >>> storage = open_storage(data_dir=tempfile.mkdtemp())
    >>> storage.describe()["kind"]
    'sqlite'
    >>> storage.close()
    """

    @property
    def kind(self) -> str:
        """``sqlite`` or ``postgresql``.

        >>> storage.kind  # doctest: +SKIP
        'sqlite'
        """

    @property
    def location(self) -> str:
        """Where the state lives, safe to show: a folder, or a database URL whose password
        is masked (:func:`mask_database_url`).

        >>> storage.location  # doctest: +SKIP
        '/var/lib/credit-check'
        """

    @property
    def journal(self) -> JournalStore:
        """The hash-chained journal.

        >>> storage.journal.counts()  # doctest: +SKIP
        """

    @property
    def uploads(self) -> UploadQueue:
        """The journal's upload queue and its claims.

        >>> storage.uploads.pending_count()  # doctest: +SKIP
        """

    @property
    def objections(self) -> ObjectionStore:
        """Objections filed through this agency.

        >>> storage.objections.select()  # doctest: +SKIP
        """

    @property
    def receipts(self) -> ReceiptStore:
        """Receipts of submitted monthly reports.

        >>> storage.receipts.select("2026-10")  # doctest: +SKIP
        """

    @property
    def report(self) -> ReportSource:
        """The monthly report's reads, in consistent views.

        >>> build_monthly_report(storage, agency_id="AG-1", period="2026-10")  # doctest: +SKIP
        """

    @property
    def followups(self) -> FollowupStore:
        """The re-check queue and the watches.

        >>> storage.followups.counts()  # doctest: +SKIP
        """

    @property
    def relations(self) -> RelationStore:
        """Relations learnt from live profiles.

        >>> storage.relations.counts()  # doctest: +SKIP
        """

    @property
    def snapshot(self) -> SnapshotStore:
        """The offline snapshot of every list entry.

        >>> storage.snapshot.status()  # doctest: +SKIP
        """

    @property
    def commitments(self) -> CommitmentStore:
        """Written commitments made under tolerance.

        >>> storage.commitments.select(status="open")  # doctest: +SKIP
        """

    @property
    def disclosures(self) -> DisclosureStore:
        """Decisions to publish (双公示).

        >>> storage.disclosures.select(unposted=True)  # doctest: +SKIP
        """

    def describe(self) -> dict[str, Any]:
        """``kind``, ``location`` (masked) and what the adapter can tell about its state
        (files, sizes, schema versions), for ``health()`` and the command line.

        >>> storage.describe()["location"]  # doctest: +SKIP
        '/var/lib/credit-check'
        """

    def close(self) -> None:
        """Close every store opened so far (idempotent).

        >>> storage.close()  # doctest: +SKIP
        """

    def __enter__(self) -> Storage: ...

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None: ...


def mask_database_url(url: str) -> str:
    """``url`` safe to log or show: the password of its user part and any ``password``
    query parameter replaced by ``***``.

    >>> mask_database_url("postgresql://cc:s3cret@db.gov.example:5432/credit?sslmode=require")
    'postgresql://cc:***@db.gov.example:5432/credit?sslmode=require'
    >>> mask_database_url("postgresql:///credit?host=/run/pg&password=s3cret")
    'postgresql:///credit?host=/run/pg&password=***'
    """
    try:
        parts = urlsplit(url)
        masked = url
        if parts.password is not None:
            user, _, host = parts.netloc.rpartition("@")
            masked = masked.replace(parts.netloc, f"{user.split(':', 1)[0]}:***@{host}", 1)
    except ValueError:
        return "(unreadable URL)"
    return _PASSWORD_PARAMETER.sub(r"\1***", masked)


def open_storage(
    settings: Settings | None = None,
    *,
    data_dir: str | Path | None = None,
    database_url: str | None = None,
) -> Storage:
    """The storage a deployment is configured for.

    ``data_dir`` and ``database_url`` default to the ``settings``' (then to the
    per-user data folder, and no database). Without a database URL: the SQLite
    adapter on ``data_dir`` (today's files, opened lazily, migrated in place).
    A ``postgresql://`` URL: the PostgreSQL adapter on that database (the
    ``postgres`` extra), with this instance's writer id and spool in ``data_dir``;
    appends wait at most the ``settings``' ``timeout`` for the database before
    spooling, and each process keeps at most ``database_pool_size`` connections
    (plus the journal's lanes). Any other URL raises :class:`~credit_check_sdk.ConfigurationError`.
    The URL is never shown whole (see :func:`mask_database_url`).

    >>> import tempfile
    >>> open_storage(data_dir=tempfile.mkdtemp()).kind
    'sqlite'
    >>> open_storage(data_dir=tempfile.mkdtemp(), database_url="mysql://u:pw@db/cc")
    ... # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    credit_check_sdk._exceptions.ConfigurationError: database_url mysql://u:***@db/cc ...
    """
    if database_url is None and settings is not None and settings.database_url is not None:
        database_url = settings.database_url.get_secret_value()
    if database_url:
        shown = mask_database_url(database_url)
        scheme = urlsplit(database_url).scheme.lower()
        if scheme in _POSTGRES_SCHEMES:
            from .postgres import PostgresStorage

            return PostgresStorage(
                database_url,
                _data_dir(settings, data_dir),
                budget=settings.timeout if settings is not None else 2.0,
                pool_size=settings.database_pool_size if settings is not None else 10,
            )
        raise ConfigurationError(
            f"database_url {shown} is not a postgresql:// URL",
            setting="database_url",
            variable=DATABASE_URL_VARIABLE,
        )
    from .sqlite import SQLiteStorage

    return SQLiteStorage(_data_dir(settings, data_dir))


def _data_dir(settings: Settings | None, data_dir: str | Path | None) -> Path:
    if data_dir is not None:
        return Path(data_dir)
    if settings is not None:
        return settings.resolved_data_dir()
    from .._config import default_data_dir

    return default_data_dir()
