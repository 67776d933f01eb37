"""Relations learnt from live profiles: the values, and the rule of how old is too old.

The store itself is the storage adapter's (:class:`~credit_check_sdk.storage.RelationStore`;
the SQLite one is :class:`credit_check_sdk.storage.sqlite.relations.RelationStore`,
also reachable here as ``RelationStore``).

>>> from datetime import timedelta
>>> learnt = LearntRelations("91442000MA4UJ2KQ57", now() - timedelta(days=3), now(), ())
>>> usable(learnt, max_age=86400) is None
True
"""

from __future__ import annotations

import logging
from datetime import datetime
from typing import Any

from ._ids import mask_id
from ._time import now
from .storage._data import LearntRelation, LearntRelations

__all__ = ["LearntRelation", "LearntRelations", "usable"]

logger = logging.getLogger(__name__)


def usable(
    learnt: LearntRelations, *, max_age: float, at: datetime | None = None
) -> LearntRelations | None:
    """``learnt`` when it holds relations no older than ``max_age`` seconds at ``at``
    (default now), else ``None``: relations that old may have changed since.

    >>> usable(LearntRelations("91442000MA4UJ2KQ57", now(), now(), ()), max_age=60) is None
    True
    """
    age = ((at or now()) - learnt.as_of).total_seconds()
    if age > max_age:
        logger.debug(
            "relations of %s learnt %s are older than %s s; not used",
            mask_id(learnt.subject_id),
            learnt.as_of.isoformat(),
            max_age,
        )
        return None
    return learnt if learnt.relations else None


def __getattr__(name: str) -> Any:
    # The SQLite store, by its old name here; imported on use (it imports this module).
    if name == "RelationStore":
        from .storage.sqlite.relations import RelationStore

        return RelationStore
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
