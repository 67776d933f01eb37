"""The storage interface, part 3: what an agency owes after a decision.

Written commitments (书面承诺) made under tolerance, to be fulfilled or
breached (:class:`CommitmentStore`), and decisions to be published (双公示,
:class:`DisclosureStore`). Both are kept locally until the platform has them
(``posted``), so that a platform outage loses nothing. See
:mod:`credit_check_sdk.storage._interface` for the conventions.

>>> import tempfile
>>> from credit_check_sdk.storage import open_storage
>>> storage = open_storage(data_dir=tempfile.mkdtemp())
>>> storage.disclosures.select()
[]
>>> storage.close()
"""

from __future__ import annotations

from datetime import date
from typing import Protocol, runtime_checkable

from ._data import Commitment, CommitmentStatus, DisclosureDuty, DisclosureKind

__all__ = ["CommitmentStore", "DisclosureStore"]


@runtime_checkable
class CommitmentStore(Protocol):
    """Written commitments, durable before the call returns."""

    def add(self, commitment: Commitment) -> None:
        """Keep a new commitment; an id kept before raises
        :class:`~credit_check_sdk.JournalError` (commitments are made once).

        >>> storage.commitments.add(commitment)  # doctest: +SKIP
        """

    def get(self, commitment_id: str) -> Commitment | None:
        """The commitment with this id, or ``None``.

        >>> storage.commitments.get("c1").status  # doctest: +SKIP
        'open'
        """

    def mark_posted(self, commitment_id: str) -> None:
        """Note that the platform has the commitment.

        >>> storage.commitments.mark_posted("c1")  # doctest: +SKIP
        """

    def resolve(self, commitment_id: str, status: CommitmentStatus, on: date) -> None:
        """Close a commitment as ``fulfilled`` or ``breached`` on day ``on``.

        >>> storage.commitments.resolve("c1", "fulfilled", date(2026, 3, 2))  # doctest: +SKIP
        """

    def select(
        self,
        *,
        status: CommitmentStatus | None = None,
        due_before: date | None = None,
        unposted: bool = False,
    ) -> list[Commitment]:
        """Commitments (of one ``status``, due before a day, not yet posted: filters
        combine), by due day, then day made, then id.

        >>> [c.commitment_id for c in storage.commitments.select(status="open")]  # doctest: +SKIP
        ['c1']
        """


@runtime_checkable
class DisclosureStore(Protocol):
    """Decisions to publish (双公示), modelled on ``POST /v1/disclosures``; durable
    before the call returns. The SDK's ``disclose()`` posts them and marks them posted
    with the platform's receipt; the monthly report counts them made on time or late."""

    def add(self, disclosure: DisclosureDuty) -> bool:
        """Keep a disclosure to make; ``False`` when the same one (same id and body) is
        kept already. The same id with another body raises
        :class:`~credit_check_sdk.InvalidRequestError` (the platform answers 409 too).

        >>> storage.disclosures.add(disclosure)  # doctest: +SKIP
        True
        """

    def get(self, disclosure_id: str) -> DisclosureDuty | None:
        """The disclosure with this id, or ``None``.

        >>> storage.disclosures.get("D-1").posted  # doctest: +SKIP
        False
        """

    def mark_posted(self, disclosure_id: str, published_on: date) -> bool:
        """Keep the platform's receipt (``published_on``); ``False`` when the id is unknown.
        A receipt kept before stays (the platform answers a repeat with the first one).

        >>> storage.disclosures.mark_posted("D-1", date(2026, 3, 3))  # doctest: +SKIP
        True
        """

    def select(
        self,
        *,
        kind: DisclosureKind | None = None,
        unposted: bool = False,
        due_before: date | None = None,
        decided_from: date | None = None,
        decided_before: date | None = None,
    ) -> list[DisclosureDuty]:
        """Disclosures (of one ``kind``, not yet posted, due before a day, decided in
        ``[decided_from, decided_before)``: filters combine), by due day then id.

        >>> [d.disclosure_id for d in storage.disclosures.select(unposted=True)]  # doctest: +SKIP
        ['D-1']
        """
