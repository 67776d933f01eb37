"""The change feed's pages as the platform client parses them (``GET /v1/lists/changes``).

:class:`ChangesPage` is a page with its entry changes (:class:`Change`) and its
relation changes (:class:`RelationChange`, contract v2) kept apart; ``FeedPage``
is the page as sent, parsed straight from the JSON bytes and then split.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal

from pydantic import BaseModel, Discriminator, Tag, model_validator

from ._models import ListEntry, Relation

__all__ = ["Change", "ChangesPage", "FeedPage", "RelationChange"]


class Change(BaseModel):
    """One change-feed item: an upsert or delete of a list entry."""

    model_config = {"extra": "ignore", "frozen": True, "defer_build": True}

    seq: int
    op: Literal["upsert", "delete"]
    entry: ListEntry


class RelationChange(BaseModel):
    """One change-feed item of contract v2: a relation made (``relate``) or ended (``unrelate``)."""

    model_config = {"extra": "ignore", "frozen": True, "defer_build": True}

    seq: int
    op: Literal["relate", "unrelate"]
    relation: Relation


_RELATION_OPS = frozenset(("relate", "unrelate"))


class ChangesPage(BaseModel):
    """One page of ``GET /v1/lists/changes``.

    The feed interleaves entry and relation changes; the page keeps them apart,
    each in ``seq`` order: ``changes`` (entries, as in contract v1) and
    ``relations`` (v2), which touch different things and are applied apart.

    >>> page = ChangesPage.model_validate({"next_cursor": "s2", "has_more": False,
    ...     "as_of": "2026-11-30T08:00:00+08:00", "changes": [{"seq": 2, "op": "relate",
    ...     "relation": {"subject_id": "91442000MA4UJ2KQ57", "role": "director",
    ...     "related_id": "442000199001011233"}}]})
    >>> page.changes, page.relations[0].relation.role
    ((), 'director')
    """

    model_config = {"extra": "ignore", "frozen": True, "defer_build": True}

    changes: tuple[Change, ...]
    relations: tuple[RelationChange, ...] = ()
    next_cursor: str
    has_more: bool
    as_of: datetime

    @model_validator(mode="before")
    @classmethod
    def _split_relations(cls, data: Any) -> Any:
        if not isinstance(data, dict) or "relations" in data:
            return data
        items = data.get("changes")
        if not isinstance(items, list) or not any(
            isinstance(i, dict) and i.get("op") in _RELATION_OPS for i in items
        ):
            return data
        entries = [i for i in items if not (isinstance(i, dict) and i.get("op") in _RELATION_OPS)]
        relations = [i for i in items if isinstance(i, dict) and i.get("op") in _RELATION_OPS]
        return {**data, "changes": entries, "relations": relations}


def _change_kind(value: Any) -> str:
    op = value.get("op") if isinstance(value, dict) else getattr(value, "op", None)
    return "relation" if op in _RELATION_OPS else "entry"


_AnyChange = Annotated[
    Annotated[Change, Tag("entry")] | Annotated[RelationChange, Tag("relation")],
    Discriminator(_change_kind),
]


class FeedPage(BaseModel):
    """A page as sent, entry and relation changes in one list: parsed straight from the
    JSON bytes (a model validator on :class:`ChangesPage` would make pydantic build
    Python objects first, which costs more than the parse), then split."""

    model_config = {"extra": "ignore", "frozen": True, "defer_build": True}

    changes: tuple[_AnyChange, ...]
    next_cursor: str
    has_more: bool
    as_of: datetime

    def split(self) -> ChangesPage:
        entries = tuple(c for c in self.changes if isinstance(c, Change))
        relations = tuple(c for c in self.changes if isinstance(c, RelationChange))
        return ChangesPage.model_construct(
            changes=entries,
            relations=relations,
            next_cursor=self.next_cursor,
            has_more=self.has_more,
            as_of=self.as_of,
        )
