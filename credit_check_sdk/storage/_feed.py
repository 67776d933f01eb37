"""Applying a change-feed page to a snapshot: the rules every adapter follows.

A page is applied in one transaction with its cursor. What to apply and which
freshness values to save is decided here, from the page and the snapshot's
saved values (:func:`plan_page`); the adapter runs the plan: the entry changes
in ``seq`` order (runs of consecutive upserts or deletes, :func:`runs`), the
relation changes, and the new meta values with the entry count.

Changes at or below the snapshot's ``last_seq`` were applied before and are
skipped, so applying a page twice is a no-op. A page without changes only
moves the cursor and freshness forwards, never back. While pages remain, the
older ``as_of`` stays (still a true lower bound); the last page
(``has_more=False``) makes the page's time the snapshot's ``as_of``.

>>> from credit_check_sdk._client import ChangesPage
>>> from datetime import timezone
>>> page = ChangesPage(changes=[], relations=[], next_cursor="s1", has_more=False,
...                    as_of=datetime(2026, 11, 29, tzinfo=timezone.utc))
>>> plan = plan_page(page, {}, now=datetime(2026, 11, 29, 8, tzinfo=timezone.utc))
>>> plan.meta["cursor"], plan.meta["as_of"]
('s1', '2026-11-29T00:00:00+00:00')
"""

from __future__ import annotations

import itertools
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import TypeVar

from .._client import Change, ChangesPage, RelationChange
from .._exceptions import InvalidSubjectError
from .._ids import SubjectKind, validate_id
from .._models import ListEntry, Profile, Related, RelatedRole, SubjectRef

__all__ = ["PagePlan", "kind_of", "meta_time", "plan_page", "profile_from_rows", "runs"]

_Op = TypeVar("_Op", Change, RelationChange)


def meta_time(value: str | None) -> datetime | None:
    """A saved time (ISO 8601 text) back as a datetime; ``None`` for none.

    >>> meta_time("2026-11-29T08:00:00+08:00").hour, meta_time(None)
    (8, None)
    """
    return datetime.fromisoformat(value) if value else None


@dataclass(frozen=True)
class PagePlan:
    """What applying one page does: the fresh changes (``seq`` order) and the meta values
    to save with them (``cursor``, ``feed_as_of``, and as the page says ``last_seq``,
    ``as_of``, ``synced_at``); the adapter adds ``entries``, the count after the changes."""

    changes: list[Change]
    relations: list[RelationChange]
    meta: dict[str, str | None]


def profile_from_rows(
    subject_id: str,
    kind: SubjectKind,
    related: Sequence[tuple[RelatedRole, SubjectRef]],
    ids: Sequence[str],
    rows: Sequence[tuple[str | None, str | None, str]],
) -> Profile | None:
    """A snapshot profile from one read of its rows; ``None`` before a completed sync.

    ``rows`` are ``(meta key, None, value)`` for ``as_of`` and ``synced_at`` and
    ``(None, holder id, entry JSON)`` for the entries of every id in ``ids`` (the
    subject first, then its related parties), as both adapters' lookups return them.

    >>> profile_from_rows("91442000MA4UJ2KQ57", "legal_entity", (), ["91442000MA4UJ2KQ57"], [])
    """
    meta = {k: v for k, _holder, v in rows if k is not None}
    as_of = meta_time(meta.get("as_of"))
    if as_of is None or not meta.get("synced_at"):
        return None
    by_subject: dict[str, list[ListEntry]] = {i: [] for i in ids}
    for k, holder, body in rows:
        if k is None and holder is not None:
            by_subject[holder].append(ListEntry.model_validate_json(body))
    for entries in by_subject.values():
        entries.sort(key=lambda e: e.entry_id)
    # model_construct: every field is already typed and validated (the entries
    # were just parsed), and lookups must stay fast under load.
    return Profile.model_construct(
        subject=SubjectRef.model_construct(id=subject_id, kind=kind, name=None),
        as_of=as_of,
        record_since=None,
        last_adverse_on=None,
        entries=tuple(by_subject[subject_id]),
        related=tuple(
            Related.model_construct(role=role, subject=ref, entries=tuple(by_subject[ref.id]))
            for role, ref in related
        ),
    )


def plan_page(
    page: ChangesPage, meta: Mapping[str, str | None], *, now: datetime
) -> PagePlan | None:
    """The plan for ``page`` given the snapshot's saved ``meta``; ``None`` when the page
    brings nothing (every change applied before, or an old empty page answered again).

    ``now`` is stamped as ``synced_at`` when the page completes the feed.
    """
    last_seq = int(meta.get("last_seq") or 0)
    fresh = sorted((c for c in page.changes if c.seq > last_seq), key=lambda c: c.seq)
    fresh_relations = [r for r in page.relations if r.seq > last_seq]
    feed_as_of = meta_time(meta.get("feed_as_of"))
    if (page.changes or page.relations) and not (fresh or fresh_relations):
        return None
    old_empty = not page.changes and not page.relations
    if old_empty and feed_as_of is not None and page.as_of < feed_as_of:
        return None  # an old empty page, answered again: nothing to learn
    updates: dict[str, str | None] = {
        "cursor": page.next_cursor,
        "feed_as_of": max(page.as_of, feed_as_of or page.as_of).isoformat(),
    }
    if fresh or fresh_relations:
        seqs = [c.seq for c in fresh[-1:]] + [r.seq for r in fresh_relations]
        updates["last_seq"] = str(max(seqs))
    if not page.has_more:
        # Caught up: the data now reflects the feed as of the page's time.
        old = meta_time(meta.get("as_of"))
        updates["as_of"] = max(page.as_of, old or page.as_of).isoformat()
        updates["synced_at"] = now.isoformat()
    return PagePlan(fresh, fresh_relations, updates)


def runs(changes: Sequence[_Op]) -> Iterator[tuple[str, list[_Op]]]:
    """Consecutive changes of the same ``op``, in order: each run is one batched statement,
    and the order of changes to the same entry (or relation) is kept.

    >>> from types import SimpleNamespace as C
    >>> [(op, len(r)) for op, r in runs([C(op="upsert"), C(op="upsert"), C(op="delete")])]
    [('upsert', 2), ('delete', 1)]
    """
    for op, run in itertools.groupby(changes, key=lambda c: c.op):
        yield op, list(run)


def kind_of(subject_id: str) -> SubjectKind:
    """The kind of a party named in a relation, from its id (a snapshot holds no subjects).

    >>> kind_of("91442000MA4UJ2KQ57"), kind_of("442000199001011233")
    ('legal_entity', 'natural_person')
    """
    try:
        return validate_id(subject_id)[1]
    except InvalidSubjectError:
        # An all-digit id valid both ways: mostly a person's (an organisation's code
        # nearly always has letters).
        return "natural_person"
