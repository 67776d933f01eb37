"""The measures catalogue (措施清单, §四(六)): the packaged default and an on-disk store.

The SDK ships a default catalogue so that it can decide before it has ever
reached the platform; :class:`CatalogStore` keeps the newest catalogue the
platform sent (with its ``ETag``, for ``If-None-Match``) and every version
ever seen, so that a journaled decision can always be explained against the
catalogue version it names. This module does no network I/O.

>>> cat = default_catalog()
>>> sorted({"bidding", "licensing", "market_entry", "intermediary"} - cat.matters())
[]
"""

from __future__ import annotations

import contextlib
import functools
import importlib.resources
from pathlib import Path
from urllib.parse import quote

from pydantic import ValidationError

from ._files import atomic_write
from ._fork import ShortLock
from ._models import Catalog

__all__ = ["CatalogStore", "default_catalog", "known_matters", "with_parameters"]

_CURRENT = "catalog-current.json"
_ETAG = "etag"
_VERSIONS = "versions"


@functools.cache
def default_catalog() -> Catalog:
    """The catalogue packaged with the SDK, validated once and cached.

    The result is a frozen model, so sharing one instance between threads and
    callers is safe (and lets the decision engine reuse its per-catalogue index).

    >>> default_catalog() is default_catalog()
    True
    >>> default_catalog().version
    '2026.12.1'
    """
    data = importlib.resources.files("credit_check_sdk").joinpath("data")
    raw = data.joinpath("catalog.json").read_bytes()
    return Catalog.model_validate_json(raw)


def with_parameters(catalog: Catalog, **values: float) -> Catalog:
    """``catalog`` with the agency's own values of its parameters (a new version name).

    The plan leaves some numbers to the agency (§二(二) "规定期限", §二(三) "信用加分"
    without a value): the catalogue names them as parameters with defaults, and an
    agency that sets its own gets a catalogue whose ``bonus_points`` measures give
    the new value. Unknown names are refused.

    >>> cat = with_parameters(default_catalog(), bonus_points=3)
    >>> [m.points for m in cat.measures if m.effect == "bonus_points"], cat.version
    ([3.0], '2026.12.1+agency')
    """
    unknown = sorted(set(values) - set(catalog.parameters))
    if unknown:
        raise KeyError(f"catalogue {catalog.version} has no parameter {', '.join(unknown)}")
    parameters = {
        name: p.model_copy(update={"value": float(values[name])}) if name in values else p
        for name, p in catalog.parameters.items()
    }
    measures = catalog.measures
    if "bonus_points" in values:
        points = float(values["bonus_points"])
        measures = tuple(
            m.model_copy(update={"points": points}) if m.effect == "bonus_points" else m
            for m in measures
        )
    return catalog.model_copy(
        update={
            "version": catalog.version + "+agency",
            "parameters": parameters,
            "measures": measures,
        }
    )


def known_matters(catalog: Catalog) -> list[str]:
    """The matter categories a catalogue names, sorted (for messages and menus).

    >>> known_matters(default_catalog())[:2]
    ['bidding', 'concession']
    """
    return sorted(catalog.matters())


def _read_catalog(path: Path) -> Catalog | None:
    """The catalogue in one file, or None when it is missing, unreadable or invalid."""
    try:
        return Catalog.model_validate_json(path.read_bytes())
    except (OSError, ValidationError):
        return None


def _version_file_name(version: str) -> str:
    # The version comes from the platform: percent-encode it so that no value
    # ("../x", "a/b", "") can name a file outside versions/.
    return (quote(version, safe="") or "%00") + ".json"


class CatalogStore:
    """The current catalogue, its ETag, and every version seen, kept in ``directory``.

    Layout: ``catalog-current.json`` (the platform's bytes as received),
    ``etag`` (absent when the platform sent none) and ``versions/<version>.json``.
    Each file is replaced atomically (temporary file, fsync, ``os.replace``), so
    a crash leaves either the old or the new state, never a torn file.

    >>> import tempfile, pathlib
    >>> store = CatalogStore(pathlib.Path(tempfile.mkdtemp()))
    >>> store.load() is None
    True
    >>> cat = default_catalog()
    >>> store.save(cat, '"v1"', cat.model_dump_json().encode())
    >>> store.load()[1], store.version(cat.version).version
    ('"v1"', '2026.12.1')
    """

    def __init__(self, directory: Path) -> None:
        self.directory = Path(directory)
        # Serialises writers in this process; os.replace keeps readers and
        # other processes safe without a lock.
        self._lock = ShortLock()  # a fork waits for a catalogue being written

    @property
    def current_path(self) -> Path:
        """Where the current catalogue is kept.

        >>> CatalogStore(Path("/var/lib/app")).current_path.name
        'catalog-current.json'
        """
        return self.directory / _CURRENT

    def load(self) -> tuple[Catalog, str | None] | None:
        """The current catalogue and its ETag, or None when none was saved or it is unreadable.

        An unreadable or invalid file is treated as absent (the caller falls
        back to the default catalogue and fetches again) rather than raised:
        a damaged cache must not stop checks.

        >>> import tempfile, pathlib
        >>> CatalogStore(pathlib.Path(tempfile.mkdtemp())).load() is None
        True
        """
        catalog = _read_catalog(self.current_path)
        if catalog is None:
            return None
        try:
            etag: str | None = (self.directory / _ETAG).read_text(encoding="utf-8").strip() or None
        except OSError:
            etag = None
        return catalog, etag

    def save(self, catalog: Catalog, etag: str | None, raw: bytes) -> None:
        """Keep ``raw`` (the bytes as received) as the current catalogue and as its version.

        ``raw`` must be the JSON of ``catalog``; a mismatch raises ValueError
        so that the store never pairs one version's bytes with another's ETag.

        >>> import tempfile, pathlib
        >>> store = CatalogStore(pathlib.Path(tempfile.mkdtemp()))
        >>> cat = default_catalog()
        >>> store.save(cat, None, cat.model_dump_json().encode())
        >>> store.load()[1] is None
        True
        """
        try:
            parsed = Catalog.model_validate_json(raw)
        except ValidationError as exc:
            raise ValueError(f"catalogue bytes are not a valid catalogue: {exc}") from exc
        if parsed.version != catalog.version:
            raise ValueError(
                f"catalogue bytes are version {parsed.version!r}, not {catalog.version!r}"
            )
        etag_path = self.directory / _ETAG
        with self._lock:
            atomic_write(self.directory / _VERSIONS / _version_file_name(catalog.version), raw)
            # Drop the old ETag before replacing the catalogue: a crash in
            # between then costs one full download, whereas an old ETag next
            # to a new catalogue (or the reverse) could make the platform's
            # 304 confirm the wrong version.
            with contextlib.suppress(FileNotFoundError):
                etag_path.unlink()
            atomic_write(self.current_path, raw)
            if etag is not None:
                atomic_write(etag_path, etag.encode("utf-8"))

    def version(self, v: str) -> Catalog | None:
        """A catalogue version seen earlier, or None.

        >>> import tempfile, pathlib
        >>> CatalogStore(pathlib.Path(tempfile.mkdtemp())).version("2026.11.1") is None
        True
        """
        return _read_catalog(self.directory / _VERSIONS / _version_file_name(v))

    def versions(self) -> list[str]:
        """Every version kept, sorted.

        >>> import tempfile, pathlib
        >>> CatalogStore(pathlib.Path(tempfile.mkdtemp())).versions()
        []
        """
        folder = self.directory / _VERSIONS
        if not folder.is_dir():
            return []
        out = []
        for p in folder.glob("*.json"):
            cat = _read_catalog(p)
            if cat is not None:
                out.append(cat.version)
        return sorted(out)
