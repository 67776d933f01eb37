"""Arranging a platform's data: what FakePlatform's methods and the sandbox's admin endpoints do.

:class:`Arranging` is a part of :class:`~credit_check_sdk._platform.core.PlatformCore`:
list a subject, change or remove an entry, set a subject's record, relate and
unrelate parties, add adverse records. Every change reaches the change feed
through the store, as the contract's own operations do.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import date, datetime
from typing import Any

from .._exceptions import InvalidSubjectError
from .._ids import mask_id
from .errors import Refusal
from .profiles import resolve_id
from .store import PlatformStore

__all__ = ["STATUSES", "Arranging"]

logger = logging.getLogger(__name__)

#: The statuses of a list entry.
STATUSES = ("active", "objection_pending", "repaired", "expired", "withdrawn")
_STATUSES = STATUSES


def _iso(value: date | str | None) -> str | None:
    if value is None:
        return None
    if isinstance(value, date):
        return value.isoformat()
    return date.fromisoformat(value).isoformat()


class Arranging:
    """The data-arranging operations of the platform core (see the module)."""

    store: PlatformStore
    ambiguous_kind: str
    entry_ids: Callable[[str, int], str]
    clock: Callable[[], datetime]

    def resolve(self, raw: str, *, as_sent: bool = True) -> tuple[str, str]:
        raise NotImplementedError  # pragma: no cover - PlatformCore has it

    def stamp(self) -> str:
        raise NotImplementedError  # pragma: no cover - PlatformCore has it

    def today(self) -> date:
        raise NotImplementedError  # pragma: no cover - PlatformCore has it

    def add_entry(
        self,
        subject_id: str,
        list_name: str,
        category: str,
        *,
        status: str = "active",
        listed_on: date | str | None = None,
        expires_on: date | str | None = None,
        entry_id: str | None = None,
        authority: str = "中山市社会信用体系建设统筹协调小组办公室",
        basis: str | None = None,
        subject_name: str | None = None,
    ) -> dict[str, Any]:
        """List a subject: the new entry (with its change's ``seq``). The entry's day starts the
        subject's ``record_since`` if it had none; a black entry is an adverse record."""
        if list_name not in ("red", "black"):
            raise Refusal(400, f"list must be 'red' or 'black', not {list_name!r}")
        if status not in _STATUSES:
            raise Refusal(400, f"status must be one of {', '.join(_STATUSES)}, not {status!r}")
        sid, kind = self.resolve(subject_id, as_sent=False)
        on = _iso(listed_on) or self.today().isoformat()
        prefix = "BL" if list_name == "black" else "RL"
        store = self.store
        with store.write() as tx:
            eid = entry_id or self.entry_ids(prefix, int(on[:4]))
            if store.get_entry(tx, eid) is not None:
                raise Refusal(409, f"entry {eid!r} exists already", slug="conflict")
            entry = {
                "entry_id": eid,
                "subject_id": sid,
                "list": list_name,
                "category": category,
                "authority": authority,
                "basis": basis,
                "listed_on": on,
                "expires_on": _iso(expires_on),
                "status": status,
                "updated_at": self.stamp(),
            }
            store.ensure_subject(tx, sid, kind, subject_name, since=on)
            seq = store.insert_entry(tx, entry)
            self._dates(tx, sid, since=on)
            if list_name == "black":
                self._adverse(tx, sid, kind, f"listed:{category}", on, eid)
        return {**entry, "seq": seq}

    def change_entry(self, entry_id: str, values: dict[str, Any]) -> dict[str, Any]:
        """Change an entry's status, dates, authority or basis: the entry as it is now."""
        if "status" in values and values["status"] not in _STATUSES:
            raise Refusal(400, f"status must be one of {', '.join(_STATUSES)}")
        clean = {k: (_iso(v) if k in ("listed_on", "expires_on") else v) for k, v in values.items()}
        store = self.store
        with store.write() as tx:
            entry = store.get_entry(tx, entry_id)
            if entry is None or entry["deleted"]:
                raise Refusal(404, f"no entry {entry_id!r}", slug="not-found")
            seq = store.update_entry(tx, entry_id, {**clean, "updated_at": self.stamp()})
            now = store.get_entry(tx, entry_id)
        assert now is not None  # noqa: S101 - updated in the same transaction
        now.pop("deleted", None)
        return {**now, "seq": seq}

    def remove_entry(self, entry_id: str) -> int:
        """Delete an entry: the seq of its ``delete``."""
        store = self.store
        with store.write() as tx:
            entry = store.get_entry(tx, entry_id)
            if entry is None or entry["deleted"]:
                raise Refusal(404, f"no entry {entry_id!r}", slug="not-found")
            return store.delete_entry(tx, entry_id, self.stamp())

    def set_subject(
        self,
        subject_id: str,
        values: dict[str, Any],
        kind: str | None = None,
    ) -> str:
        """Create or change a subject: ``name``, ``record_since``, ``last_adverse_on``."""
        if kind is not None:
            sid = self.resolve(subject_id, as_sent=False)[0]
        else:
            sid, kind = self.resolve(subject_id, as_sent=False)
        clean = {
            k: (_iso(v) if k in ("record_since", "last_adverse_on") else v)
            for k, v in values.items()
        }
        with self.store.write() as tx:
            self.store.ensure_subject(tx, sid, kind)
            self.store.update_subject(tx, sid, {**clean, "kind": kind})
        return sid

    def relate(
        self,
        organisation_id: str,
        role: str,
        related_id: str,
        *,
        since: date | str | None = None,
        name: str | None = None,
    ) -> int:
        """``related_id`` is the ``role`` of ``organisation_id``: the seq of its ``relate``.

        The role is named from the organisation's side (no ``_of``).
        """
        if not role or role.endswith("_of"):
            raise Refusal(400, f"role {role!r}: name it from the organisation's side (no _of)")
        org, org_kind = self.resolve(organisation_id, as_sent=False)
        other, other_kind = self.resolve(related_id, as_sent=False)
        if org == other:
            raise Refusal(400, "a subject cannot be related to itself")
        with self.store.write() as tx:
            self.store.ensure_subject(tx, org, org_kind)
            self.store.ensure_subject(tx, other, other_kind, name)
            if name is not None:
                self.store.update_subject(tx, other, {"name": name})
            return self.store.relate(tx, org, role, other, _iso(since))

    def unrelate(self, organisation_id: str, related_id: str, role: str | None = None) -> list[int]:
        """End the relations between the two (every role, or ``role``): the seqs emitted."""
        org, _ = self.resolve(organisation_id, as_sent=False)
        other, _ = self.resolve(related_id, as_sent=False)
        seqs = []
        with self.store.write() as tx:
            for held in self.store.roles_between(tx, org, other):
                if role is None or held == role:
                    seq = self.store.unrelate(tx, org, held, other)
                    if seq is not None:
                        seqs.append(seq)
        return seqs

    def add_adverse(self, subject_id: str, on: date | str, kind: str, detail: str) -> None:
        """An adverse record of a subject (its dates move)."""
        sid, subject_kind = self.resolve(subject_id, as_sent=False)
        day = _iso(on)
        assert day is not None  # noqa: S101 - a date was given
        with self.store.write() as tx:
            self._adverse(tx, sid, subject_kind, kind, day, detail)

    def _kind_unread(self, sid: str) -> tuple[str, str]:
        # Inside a write block: the kind from the id alone (the store is not read
        # outside the block's transaction); a subject on record keeps its own.
        try:
            return resolve_id(sid, None, self.ambiguous_kind)
        except InvalidSubjectError as exc:
            raise Refusal(400, str(exc), slug="invalid-subject") from None

    def _adverse(self, tx: Any, sid: str, kind: str, what: str, on: str, detail: str) -> None:
        self.store.ensure_subject(tx, sid, kind, since=on)
        self.store.add_adverse(tx, sid, what, on, detail)
        self._dates(tx, sid, since=on, adverse=on)
        logger.info("adverse record %s for %s on %s", what, mask_id(sid), on)

    def _dates(self, tx: Any, sid: str, *, since: str, adverse: str | None = None) -> None:
        """``record_since`` moves back to ``since``, ``last_adverse_on`` up to ``adverse``."""
        row = self.store.get_subject(tx, sid)
        values: dict[str, Any] = {}
        if row is not None:
            if row[2] is None or row[2] > since:
                values["record_since"] = since
            if adverse is not None and (row[3] is None or row[3] < adverse):
                values["last_adverse_on"] = adverse
        if values:
            self.store.update_subject(tx, sid, values)
