"""The measures catalogue a checker decides with: the one on disk, refreshed from the platform.

``Catalogs`` keeps the catalogue in force and asks the platform for a newer one
(with ETags) at most once per refresh period, by one thread at a time.
"""

from __future__ import annotations

import logging
import time

from ._client import PlatformClient
from ._exceptions import PlatformError
from ._fork import LongLock
from ._models import Catalog
from ._steps import Offload, Steps
from .catalogue import CatalogStore, default_catalog

__all__ = ["Catalogs"]

# Catalogue refreshes are logged as the checker's work (docs/logging.md names them there).
logger = logging.getLogger("credit_check_sdk._checker")


class Catalogs:
    """The catalogue in force: from disk, refreshed from the platform with ETags.

    Refreshing happens at most once per ``refresh`` seconds, by one thread at
    a time; other threads keep deciding with the catalogue they have.
    """

    def __init__(self, store: CatalogStore, client: PlatformClient, refresh: float) -> None:
        self._store = store
        self._client = client
        self._refresh = refresh
        # Held across the catalogue request: a forked child gets a new one.
        self._lock = LongLock()
        loaded = store.load()
        if loaded is None:
            self.current, self._etag = default_catalog(), None
        else:
            self.current, self._etag = loaded
        self._stored = loaded is not None
        self._next_refresh = 0.0

    def get(self, *, deadline: float) -> Catalog:
        """The catalogue to decide with.

        Refreshing is the background thread's work. Only an install that has
        never stored the platform's catalogue asks for it here, with a third
        of the check's budget, so that a slow catalogue cannot starve the
        profile request.
        """
        return self._client.run(self.get_steps(deadline=deadline))

    def get_steps(self, *, deadline: float) -> Steps[Catalog]:
        """:meth:`get` as steps (:mod:`._steps`), for the sync and async checkers."""
        if not self._stored and self._lock.acquire(blocking=False):
            try:
                if not self._stored:
                    yield from self.refresh_steps(
                        timeout=max(0.001, (deadline - time.monotonic()) / 3)
                    )
            finally:
                self._lock.release()
        return self.current

    def refresh(self, *, timeout: float, force: bool = False) -> bool:
        """Ask the platform for a newer catalogue (at most once per refresh period).

        ``True`` when a new one is in force.
        """
        return self._client.run(self.refresh_steps(timeout=timeout, force=force))

    def refresh_steps(self, *, timeout: float, force: bool = False) -> Steps[bool]:
        """:meth:`refresh` as steps (:mod:`._steps`)."""
        if not force and time.monotonic() < self._next_refresh:
            return False
        self._next_refresh = time.monotonic() + self._refresh
        try:
            fetched = yield from self._client.catalog_steps(self._etag, timeout=timeout)
        except PlatformError as exc:
            logger.warning("catalogue refresh failed, keeping %s: %s", self.current.version, exc)
            return False
        if fetched is None:
            self._stored = True  # 304: what is on disk is current
            return False
        catalog, etag, raw = fetched
        try:
            yield Offload(self._store.save, (catalog, etag, raw))
        except (OSError, ValueError) as exc:
            # Decide with the fetched catalogue anyway; it is stored on the next refresh.
            logger.warning("catalogue %s not stored on disk: %s", catalog.version, exc)
        if catalog.version != self.current.version:
            logger.info("catalogue %s in force (was %s)", catalog.version, self.current.version)
        self.current, self._etag = catalog, etag
        self._stored = True
        return True

    def version(self, version: str) -> Catalog | None:
        if version == self.current.version:
            return self.current
        if version == default_catalog().version:
            return default_catalog()
        return self._store.version(version)
