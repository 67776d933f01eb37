"""Errors of the snapshot store (the journal's and the small stores' are ``JournalError``)."""

from __future__ import annotations

from .._exceptions import CreditCheckError

__all__ = ["LoadStoppedError", "SnapshotBusyError", "SnapshotError", "SnapshotImportError"]


class SnapshotError(CreditCheckError):
    """The snapshot cannot be read or written; ``path`` names the file (or table) concerned."""

    def __init__(self, message: str, *, path: str | None = None) -> None:
        super().__init__(message)
        self.path = path


class SnapshotBusyError(SnapshotError):
    """Another rebuild or import of the same snapshot is in progress (in any process)."""


class SnapshotImportError(SnapshotError):
    """An export file is malformed, truncated or does not hold ``count`` entries."""


class LoadStoppedError(SnapshotError):
    """An export load ended early because its ``stop`` event was set."""
