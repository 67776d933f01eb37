"""The sandbox's admin endpoints (``/_sandbox/…``): unsigned, loopback only.

They change the data through the platform core (so that every change reaches
the change feed as the contract's own operations do), inject faults and show
what agencies sent: records, reports, objections, commitments, disclosures.
"""

from __future__ import annotations

import json
import logging
from dataclasses import asdict
from datetime import date
from typing import TYPE_CHECKING, Annotated, Any

from fastapi import APIRouter, Depends, Query, Request

from credit_check_sdk._platform import Refusal, parse_body
from credit_check_sdk._platform import inputs as inp
from credit_check_sdk.categories import BLACK, RED

from . import db
from .seed import SCENARIO_SUBJECTS

if TYPE_CHECKING:
    from .app import SandboxState

__all__ = ["admin_router", "loopback_only", "read_admin_body"]

logger = logging.getLogger(__name__)

_LOOPBACK = frozenset({"127.0.0.1", "::1", "localhost", "testclient"})


def _state(request: Request) -> SandboxState:
    state: SandboxState = request.app.state.sandbox
    return state


def loopback_only(request: Request) -> None:
    """Dependency of the admin routes: refuse anything but the local machine."""
    host = request.client.host if request.client else ""
    if host not in _LOOPBACK:
        raise Refusal(
            403, "the sandbox admin endpoints answer the local machine only", slug="forbidden"
        )


async def read_admin_body(request: Request) -> None:
    """Dependency: the body, read once on the event loop for the synchronous routes."""
    request.state.body = await request.body()


def _body(request: Request) -> bytes:
    body: bytes = getattr(request.state, "body", b"")
    return body


def admin_router() -> APIRouter:
    """The ``/_sandbox`` routes."""
    router = APIRouter(prefix="/_sandbox", dependencies=[Depends(loopback_only)])

    @router.get("")
    def info(request: Request) -> dict[str, Any]:
        state = _state(request)
        s = state.settings
        return {
            "meta": state.store.meta(),
            "app_id": s.app_id,
            "agency_id": s.agency_id or s.app_id,
            "base_path": s.base_path,
            "rate_limit": state.rate(),
            "change_retention": str(s.change_retention),
            "scenarios": {k: asdict(v) for k, v in SCENARIO_SUBJECTS.items()},
        }

    @router.get("/scenarios")
    def scenarios() -> dict[str, Any]:
        return {k: asdict(v) for k, v in SCENARIO_SUBJECTS.items()}

    @router.post("/entries", status_code=201)
    def add_entry(request: Request) -> dict[str, Any]:
        req = parse_body(inp.AdminEntryIn, _body(request))
        names = RED if req.list == "red" else BLACK
        if req.category not in names:
            logger.warning("entry in category %r, which categories.py does not name", req.category)
        zh = names.get(req.category, (req.category, req.category))[0]
        return _state(request).core.add_entry(
            req.subject_id,
            req.list,
            req.category,
            status=req.status,
            listed_on=req.listed_on,
            expires_on=req.expires_on,
            entry_id=req.entry_id,
            authority=req.authority or "中山市社会信用体系建设统筹协调小组办公室",
            basis=req.basis if req.basis is not None else f"{zh}认定文书",
            subject_name=req.subject_name,
        )

    @router.patch("/entries/{entry_id}")
    def change_entry(entry_id: str, request: Request) -> dict[str, Any]:
        req = parse_body(inp.AdminEntryPatch, _body(request))
        values = req.model_dump(mode="json", exclude_unset=True)
        return _state(request).core.change_entry(entry_id, values)

    @router.delete("/entries/{entry_id}")
    def delete_entry(entry_id: str, request: Request) -> dict[str, Any]:
        return {"entry_id": entry_id, "seq": _state(request).core.remove_entry(entry_id)}

    @router.post("/subjects")
    def put_subject(request: Request) -> dict[str, Any]:
        req = parse_body(inp.AdminSubjectIn, _body(request))
        core = _state(request).core
        values = req.model_dump(
            mode="json", include={"name", "record_since", "last_adverse_on"}, exclude_unset=True
        )
        sid = core.set_subject(req.id, values)
        for rel in req.related:
            core.relate(sid, rel.role, rel.subject_id, since=rel.since, name=rel.name)
        return core.profile(sid)

    @router.post("/relations", status_code=201)
    def relate(request: Request) -> dict[str, Any]:
        req = parse_body(inp.AdminRelationIn, _body(request))
        seq = _state(request).core.relate(req.subject_id, req.role, req.related_id, since=req.since)
        return {**req.model_dump(mode="json"), "seq": seq}

    @router.post("/relations:end")
    def unrelate(request: Request) -> dict[str, Any]:
        req = parse_body(inp.AdminRelationIn, _body(request))
        seqs = _state(request).core.unrelate(req.subject_id, req.related_id, req.role)
        if not seqs:
            raise Refusal(404, "no such relation", slug="not-found")
        return {**req.model_dump(mode="json"), "seq": seqs[-1]}

    @router.post("/adverse-records", status_code=201)
    def add_adverse(request: Request) -> dict[str, Any]:
        raw = json.loads(_body(request) or b"{}")
        if not isinstance(raw, dict) or not isinstance(raw.get("subject_id"), str):
            raise Refusal(400, "subject_id is required", slug="bad-body")
        try:
            on = date.fromisoformat(str(raw.get("occurred_on") or db.now().date()))
        except ValueError:
            raise Refusal(400, "occurred_on is not YYYY-MM-DD", slug="bad-body") from None
        core = _state(request).core
        core.add_adverse(
            raw["subject_id"],
            on,
            str(raw.get("kind") or "administrative_penalty"),
            str(raw.get("detail") or ""),
        )
        return core.profile(core.resolve(raw["subject_id"], as_sent=False)[0])

    @router.get("/objections")
    def list_objections(request: Request) -> list[dict[str, Any]]:
        return [
            {k: v for k, v in doc.items() if k != "previous_status"}
            for doc in _state(request).store.docs("objections")
        ]

    @router.post("/objections/{objection_id}/resolve")
    def resolve_objection(objection_id: str, request: Request) -> dict[str, Any]:
        req = parse_body(inp.ObjectionResolutionIn, _body(request))
        return _state(request).core.resolve_objection(objection_id, req.status)

    @router.get("/commitments")
    def list_commitments(request: Request) -> list[dict[str, Any]]:
        return [
            {
                **doc["body"],
                "status": doc["status"],
                "agency_id": doc["agency_id"],
                "resolved_on": doc["resolved_on"],
            }
            for doc in _state(request).store.docs("commitments")
        ]

    @router.get("/disclosures")
    def list_disclosures(request: Request) -> list[dict[str, Any]]:
        return [
            {
                **doc["body"],
                "agency_id": doc["agency_id"],
                "published_on": doc["published_on"],
                "received_at": doc["received_at"],
            }
            for doc in _state(request).store.docs("disclosures")
        ]

    @router.get("/records")
    def list_records(
        request: Request,
        agency_id: str | None = None,
        limit: Annotated[int, Query(ge=1, le=100_000)] = 1000,
    ) -> list[dict[str, Any]]:
        return _state(request).store.list_records(agency_id, limit)

    @router.get("/reports")
    def list_reports(request: Request, agency_id: str | None = None) -> list[dict[str, Any]]:
        return _state(request).store.list_reports(agency_id)

    @router.get("/faults")
    def get_faults(request: Request) -> dict[str, Any]:
        return asdict(_state(request).faults)

    @router.put("/faults")
    def put_faults(request: Request) -> dict[str, Any]:
        req = parse_body(inp.FaultsIn, _body(request) or b"{}")
        state = _state(request)
        for name in req.model_fields_set:
            setattr(state.faults, name, getattr(req, name))
        if "rate_limit" in req.model_fields_set:
            state.limiter.reset()
        logger.warning("sandbox faults now %s", asdict(state.faults))
        return asdict(state.faults)

    @router.delete("/faults")
    def clear_faults(request: Request) -> dict[str, Any]:
        state = _state(request)
        state.faults = type(state.faults)()
        state.limiter.reset()
        return asdict(state.faults)

    @router.get("/counters")
    def counters(request: Request) -> dict[str, Any]:
        return _state(request).counters()

    @router.post("/counters/reset")
    def reset_counters(request: Request) -> dict[str, Any]:
        state = _state(request)
        state.reset_counters()
        return state.counters()

    return router
