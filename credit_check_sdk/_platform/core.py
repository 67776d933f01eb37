"""The platform contract, once: :class:`PlatformCore`.

Each operation of ``docs/platform-api.yaml`` is a method that takes the request's
parts (the caller's app id, path values, the body bytes) and returns what to
answer, or raises :class:`~credit_check_sdk._platform.errors.Refusal`. The
wirings (FakePlatform's in-memory and stdlib-HTTP handlers, the sandbox's
FastAPI routes) only route, add faults and write bytes; the storage is a
:class:`~credit_check_sdk._platform.store.PlatformStore`.

>>> from credit_check_sdk._platform.memory import MemoryStore
>>> core = PlatformCore(MemoryStore(), app_id="app", app_secret="s", agency_id="agency")
>>> eid = core.add_entry("91442000MA4UJ2KQ57", "black", "environment", entry_id="BL-1")
>>> core.profile("91442000MA4UJ2KQ57")["entries"][0]["entry_id"]
'BL-1'
"""

from __future__ import annotations

import hashlib
import json
import logging
import uuid
from collections.abc import Callable, Iterator, Mapping, Sequence
from datetime import date, datetime, timedelta, timezone
from typing import Any, Literal, TypeVar

from pydantic import BaseModel, ValidationError

from .._exceptions import InvalidSubjectError
from .._ids import mask_id
from ..signing import verify
from . import inputs as inp
from .arrange import Arranging
from .errors import Refusal
from .feed import Cursors, SeqCursors, changes_page, export_lines
from .profiles import build_profiles, require_normalised, resolve_id
from .records import check_records
from .store import PlatformStore

__all__ = ["PLATFORM_TZ", "PlatformCore", "parse_body"]

logger = logging.getLogger(__name__)

#: The platform's clock zone: timestamps are served with ``+08:00``.
PLATFORM_TZ = timezone(timedelta(hours=8))
_MAX_BATCH_PROFILES = 200
_M = TypeVar("_M", bound=BaseModel)


def _now() -> datetime:
    return datetime.now(PLATFORM_TZ)


def parse_body(model: type[_M], body: bytes) -> _M:
    """``body`` as ``model``; 400 with a readable account of what is wrong."""
    if not body:
        raise Refusal(400, "a JSON request body is required", slug="bad-body")
    try:
        return model.model_validate_json(body)
    except ValidationError as exc:
        raise Refusal(400, inp.describe_errors(exc), slug="bad-body") from None


class PlatformCore(Arranging):
    """One platform: the rules of every endpoint over one store.

    ``clock`` gives the platform's time (aware); ``cursors`` how feed cursors
    are written; ``ambiguous_kind`` the kind of an all-digit id valid both as
    a USCC and a RIC that is not on record; ``entry_ids`` makes the id of an
    entry added without one from its list's prefix (``BL``/``RL``) and year.
    """

    def __init__(
        self,
        store: PlatformStore,
        *,
        app_id: str,
        app_secret: str,
        agency_id: str | None = None,
        verify_signatures: bool = True,
        clock: Callable[[], datetime] = _now,
        cursors: Cursors | None = None,
        ambiguous_kind: str = "natural_person",
        entry_ids: Callable[[str, int], str] | None = None,
    ) -> None:
        self.store = store
        self.app_id = app_id
        self.app_secret = app_secret
        self.agency_id = agency_id or app_id
        self.verify_signatures = verify_signatures
        self.clock = clock
        self.cursors: Cursors = cursors or SeqCursors()
        self.ambiguous_kind = ambiguous_kind
        self.entry_ids = entry_ids or (
            lambda prefix, year: f"{prefix}-{year}-X{uuid.uuid4().hex[:8].upper()}"
        )
        self._catalog = (b"", "")

    # --- time ---------------------------------------------------------------------

    def stamp(self) -> str:
        """The platform's time now, RFC 3339 with ``+08:00``, to the second."""
        return self.clock().astimezone(PLATFORM_TZ).isoformat(timespec="seconds")

    def today(self) -> date:
        """The platform's date."""
        return self.clock().astimezone(PLATFORM_TZ).date()

    # --- signatures -----------------------------------------------------------------

    def check_signature(
        self,
        method: str,
        path: str,
        query: Sequence[tuple[str, str]],
        headers: Mapping[str, str],
        body: bytes,
    ) -> str:
        """The caller's app id, or 401 for a bad, stale or missing signature or an unknown app.

        ``headers`` must look names up case-insensitively. Nonce replay is
        :meth:`check_nonce`'s.
        """
        app_id = headers.get("X-App-Id", "")
        known = app_id == self.app_id
        why = verify(
            headers,
            secret=self.app_secret if known else "",
            method=method,
            path=path,
            query=query,
            body=body,
        )
        if why is None and not known:
            why = "unknown app id"
        if why is not None:
            raise Refusal(401, why, slug="bad-signature")
        return app_id

    @staticmethod
    def replayed() -> Refusal:
        """The refusal of a nonce seen within the replay window."""
        return Refusal(401, "nonce already used within the last 600 s", slug="replayed-nonce")

    def authenticate(
        self,
        method: str,
        path: str,
        query: Sequence[tuple[str, str]],
        headers: Mapping[str, str],
        body: bytes,
    ) -> str:
        """:meth:`check_signature`, then the nonce through the store; the caller's app id."""
        if not self.verify_signatures:
            return self.app_id
        app_id = self.check_signature(method, path, query, headers, body)
        if not self.store.remember_nonce(app_id, headers["X-Nonce"]):
            raise self.replayed()
        return app_id

    # --- subjects and profiles --------------------------------------------------------

    def resolve(self, raw: str, *, as_sent: bool = True) -> tuple[str, str]:
        """``(id, kind)`` of a subject id; 400 when it is not valid. An id in a request must
        be sent normalised (upper case, no blanks: the contract's pattern); ``as_sent=False``
        (arranging data) normalises it first."""
        try:
            if as_sent:
                require_normalised(raw)
            return resolve_id(raw, self.store, self.ambiguous_kind)
        except InvalidSubjectError as exc:
            raise Refusal(400, str(exc), slug="invalid-subject") from None

    def profiles(self, ids: Sequence[tuple[str, str]]) -> list[dict[str, Any]]:
        """Profiles of valid ``(id, kind)`` pairs, in order."""
        wanted = list(dict.fromkeys(sid for sid, _ in ids))
        return build_profiles(ids, self.store.profile_rows(wanted), self.stamp())

    def profile(self, raw_id: str) -> dict[str, Any]:
        """``GET /v1/subjects/{id}/profile``."""
        return self.profiles([self.resolve(raw_id)])[0]

    def batch_profiles(self, body: bytes) -> dict[str, Any]:
        """``POST /v1/profiles:batch``: 413 past 200 ids; invalid ids listed apart."""
        try:
            raw = json.loads(body) if body else None
        except ValueError:
            raise Refusal(400, "the body is not JSON", slug="bad-body") from None
        ids = raw.get("subject_ids") if isinstance(raw, dict) else None
        if isinstance(ids, list) and len(ids) > _MAX_BATCH_PROFILES:
            raise Refusal(
                413, f"at most {_MAX_BATCH_PROFILES} subject ids per batch", slug="too-many"
            )
        req = parse_body(inp.BatchProfilesIn, body)
        valid: list[tuple[str, str]] = []
        invalid: list[dict[str, str]] = []
        for raw_id in req.subject_ids:
            try:
                require_normalised(raw_id)
                valid.append(resolve_id(raw_id, self.store, self.ambiguous_kind))
            except InvalidSubjectError as exc:
                invalid.append({"subject_id": raw_id, "detail": str(exc)})
        return {"profiles": self.profiles(valid) if valid else [], "invalid": invalid}

    # --- catalogue ------------------------------------------------------------------

    def set_catalog(self, body: bytes) -> None:
        """Publish a catalogue (its JSON bytes); its ``ETag`` is a hash of them."""
        self._catalog = (body, '"' + hashlib.sha256(body).hexdigest()[:32] + '"')

    def catalog(self, if_none_match: str | None) -> tuple[int, bytes, str]:
        """``GET /v1/catalog``: ``(status, body, etag)``; 304 with no body when it matches."""
        body, etag = self._catalog
        if if_none_match is not None:
            tags = {t.strip().removeprefix("W/") for t in if_none_match.split(",")}
            if "*" in tags or etag in tags:
                return 304, b"", etag
        return 200, body, etag

    # --- change feed and export -----------------------------------------------------

    def changes(self, cursor: str | None, limit: int) -> bytes:
        """``GET /v1/lists/changes``: the page's JSON bytes (``limit`` already checked)."""
        after = 0
        if cursor is not None:
            after = self.cursors.decode(cursor, self.store.max_seq())
        texts, newest = self.store.change_texts_after(after, limit + 1)
        last = texts[min(limit, len(texts)) - 1][0] if texts else after
        return changes_page(texts, limit, after, self.cursors.encode(last, newest), self.stamp())

    def export(self) -> Iterator[bytes]:
        """``GET /v1/lists/export``, uncompressed: the head line, entries, relations."""
        return export_lines(
            self.store.export_ndjson(), lambda seq: self.cursors.encode(seq, seq), self.stamp()
        )

    # --- records and reports ---------------------------------------------------------

    def upload_records(self, caller: str, body: bytes) -> dict[str, Any]:
        """``POST /v1/records:batch``: each record checked on its own, idempotent by id."""
        accepted, duplicates, rejected = check_records(self._agency(caller), body)
        present = self.store.store_records(self._agency(caller), accepted) if accepted else set()
        duplicates.extend(r["id"] for r in accepted if r["id"] in present)
        return {
            "accepted": [r["id"] for r in accepted if r["id"] not in present],
            "duplicates": duplicates,
            "rejected": rejected,
        }

    def _agency(self, caller: str) -> str:
        # The app's agency: the one every record and report of the caller must name.
        return self.agency_id if caller == self.app_id else caller

    def put_report(self, caller: str, agency_id: str, period: str, body: bytes) -> dict[str, Any]:
        """``PUT /v1/reports/{agency_id}/{period}``: the next version of the period's report."""
        agency = self._agency(caller)
        if agency_id != agency:
            raise Refusal(
                403, f"app {caller} may not file reports for agency {agency_id}", slug="forbidden"
            )
        if not inp.PERIOD.match(period):
            raise Refusal(400, f"period {period!r} is not YYYY-MM", slug="bad-period")
        report = parse_body(inp.MonthlyReportIn, body)
        if report.agency_id != agency_id or report.period != period:
            raise Refusal(
                400, "the report's agency_id and period must match the URL", slug="bad-body"
            )
        receipt, version = self.store.put_report(agency_id, period, json.loads(body))
        logger.info("report %s %s stored as version %d", agency_id, period, version)
        return {"receipt_id": receipt, "version": version}

    # --- objections, commitments, disclosures --------------------------------------------

    def file_objection(self, caller: str, body: bytes) -> dict[str, Any]:
        """``POST /v1/objections``: the entry becomes ``objection_pending`` (§五(三))."""
        req = parse_body(inp.ObjectionIn, body)
        subject_id, _ = self.resolve(req.subject_id)
        store = self.store
        with store.write() as tx:
            entry = store.get_entry(tx, req.entry_id)
            if entry is None or entry["deleted"] or entry["subject_id"] != subject_id:
                raise Refusal(
                    404,
                    f"no entry {req.entry_id!r} for subject {mask_id(subject_id)}",
                    slug="not-found",
                )
            if entry["status"] == "objection_pending":
                raise Refusal(
                    409, f"entry {req.entry_id} is already under objection", slug="conflict"
                )
            if entry["status"] != "active":
                raise Refusal(
                    409,
                    f"entry {req.entry_id} is {entry['status']}; only active entries can be "
                    "disputed",
                    slug="conflict",
                )
            at = self.stamp()
            objection_id = f"OB-{self.today():%Y%m%d}-{uuid.uuid4().hex[:10].upper()}"
            store.insert_doc(
                tx,
                "objections",
                {
                    "objection_id": objection_id,
                    "agency_id": self._agency(caller),
                    "subject_id": subject_id,
                    "entry_id": req.entry_id,
                    "check_id": req.check_id,
                    "reason": req.reason,
                    "submitted_by": req.submitted_by,
                    "status": "verifying",
                    "previous_status": entry["status"],
                    "filed_at": at,
                    "resolved_at": None,
                },
            )
            store.update_entry(tx, req.entry_id, {"status": "objection_pending", "updated_at": at})
        logger.info("objection %s filed on entry %s", objection_id, req.entry_id)
        return {
            "objection_id": objection_id,
            "status": "verifying",
            "subject_id": subject_id,
            "entry_id": req.entry_id,
        }

    def objection(self, objection_id: str) -> dict[str, Any]:
        """``GET /v1/objections/{id}``."""
        doc = self.store.get_doc(None, "objections", objection_id)
        if doc is None:
            raise Refusal(404, f"no objection {objection_id!r}", slug="not-found")
        return _objection_json(doc)

    def resolve_objection(
        self, objection_id: str, outcome: Literal["upheld", "rejected"]
    ) -> dict[str, Any]:
        """End a verification: upheld withdraws the entry (经核实有误的信息应及时更正或撤销,
        §五(三)); rejected puts back the status it had."""
        store = self.store
        with store.write() as tx:
            doc = store.get_doc(tx, "objections", objection_id)
            if doc is None:
                raise Refusal(404, f"no objection {objection_id!r}", slug="not-found")
            if doc["status"] != "verifying":
                raise Refusal(
                    409, f"objection {objection_id} is already {doc['status']}", slug="conflict"
                )
            at = self.stamp()
            store.update_doc(tx, "objections", objection_id, {"status": outcome, "resolved_at": at})
            entry = store.get_entry(tx, doc["entry_id"])
            if entry is not None and not entry["deleted"]:
                status = "withdrawn" if outcome == "upheld" else doc["previous_status"]
                store.update_entry(tx, doc["entry_id"], {"status": status, "updated_at": at})
            done = store.get_doc(tx, "objections", objection_id)
        assert done is not None  # noqa: S101 - updated in the same transaction
        logger.info("objection %s %s", objection_id, outcome)
        return _objection_json(done)

    def record_commitment(self, caller: str, body: bytes) -> dict[str, Any]:
        """``POST /v1/commitments``: idempotent by id; other content under the same id is 409."""
        req = parse_body(inp.CommitmentIn, body)
        subject_id, _ = self.resolve(req.subject_id)
        content = req.model_dump(mode="json", exclude={"status"})
        content["subject_id"] = subject_id
        store = self.store
        with store.write() as tx:
            doc = store.get_doc(tx, "commitments", req.commitment_id)
            if doc is not None:
                if doc["body"] != content:
                    raise Refusal(
                        409,
                        f"commitment {req.commitment_id!r} exists with other content",
                        slug="conflict",
                    )
                return {**content, "status": doc["status"]}
            store.insert_doc(
                tx,
                "commitments",
                {
                    "commitment_id": req.commitment_id,
                    "agency_id": self._agency(caller),
                    "subject_id": subject_id,
                    "body": content,
                    "status": "open",
                    "resolved_on": None,
                    "created_at": self.stamp(),
                },
            )
        return {**content, "status": "open"}

    def resolve_commitment(self, commitment_id: str, body: bytes) -> dict[str, Any]:
        """``POST /v1/commitments/{id}:resolve``: a breach is an adverse record of the subject."""
        store = self.store
        if store.get_doc(None, "commitments", commitment_id) is None:
            raise Refusal(404, f"no commitment {commitment_id!r}", slug="not-found")
        req = parse_body(inp.ResolveIn, body)
        resolved_on = req.resolved_on.isoformat()
        with store.write() as tx:
            doc = store.get_doc(tx, "commitments", commitment_id)
            if doc is None:
                raise Refusal(404, f"no commitment {commitment_id!r}", slug="not-found")
            if doc["status"] != "open":
                if doc["status"] == req.resolution and doc["resolved_on"] == resolved_on:
                    return {**doc["body"], "status": doc["status"]}
                raise Refusal(
                    409, f"commitment {commitment_id!r} is already {doc['status']}", slug="conflict"
                )
            store.update_doc(
                tx,
                "commitments",
                commitment_id,
                {"status": req.resolution, "resolved_on": resolved_on},
            )
            if req.resolution == "breached":
                sid, kind = self._kind_unread(doc["subject_id"])
                self._adverse(
                    tx, sid, kind, "commitment_breach", resolved_on, f"breached {commitment_id}"
                )
        return {**doc["body"], "status": req.resolution}

    def disclose(self, caller: str, body: bytes) -> tuple[int, dict[str, Any]]:
        """``POST /v1/disclosures`` (双公示, §四(三)): ``(201, receipt)``, or ``(200, the first
        receipt)`` for a repeat; other content under the same id is 409."""
        req = parse_body(inp.DisclosureIn, body)
        subject_id, _ = self.resolve(req.subject_id)
        today = self.today()
        if req.decided_on > today:
            raise Refusal(
                400, f"decided_on {req.decided_on} is after today ({today})", slug="bad-body"
            )
        content = req.model_dump(mode="json")
        content["subject_id"] = subject_id
        content["content"] = content["content"] or {}
        store = self.store
        with store.write() as tx:
            doc = store.get_doc(tx, "disclosures", req.disclosure_id)
            if doc is not None:
                if doc["body"] != content:
                    raise Refusal(
                        409,
                        f"disclosure {req.disclosure_id!r} exists with other content",
                        slug="conflict",
                    )
                return 200, _receipt(doc)
            doc = {
                "disclosure_id": req.disclosure_id,
                "agency_id": self._agency(caller),
                "subject_id": subject_id,
                "body": content,
                "published_on": today.isoformat(),
                "received_at": self.stamp(),
            }
            store.insert_doc(tx, "disclosures", doc)
        logger.info("disclosure %s (%s) published", req.disclosure_id, req.kind)
        return 201, _receipt(doc)


def _objection_json(doc: dict[str, Any]) -> dict[str, Any]:
    return {
        "objection_id": doc["objection_id"],
        "status": doc["status"],
        "subject_id": doc["subject_id"],
        "entry_id": doc["entry_id"],
        "check_id": doc["check_id"],
        "filed_at": doc["filed_at"],
        "resolved_at": doc["resolved_at"],
    }


def _receipt(doc: dict[str, Any]) -> dict[str, Any]:
    return {"disclosure_id": doc["disclosure_id"], "published_on": doc["published_on"]}
