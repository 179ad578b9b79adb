"""``GET /v1/activity`` and ``GET /v1/activity/{reference}``: the organization's ledger."""

from __future__ import annotations

import re
from typing import Annotated

from fastapi import APIRouter, Query, Request
from fastapi.responses import JSONResponse

from image_skill.contract.errors import ErrorCode, ImageSkillError
from image_skill.service.activity import queries
from image_skill.service.activity.references import reference_kind
from image_skill.service.activity.schemas import SOURCE, event_view
from image_skill.service.deps import CurrentPrincipal, Session
from image_skill.service.guarded_route import GuardedRoute
from image_skill.service.id_params import OptionalIdQuery, OptionalReferenceQuery, ReferencePath
from image_skill.service.openapi_errors import error_responses
from image_skill.service.responses import envelope_response

router = APIRouter(route_class=GuardedRoute, responses=error_responses(401, 404))
# How many related events ``activity show`` returns for a subject reference.
RELATED_LIMIT = 100
_CURSOR = re.compile(r"evt_[A-Za-z0-9]{1,60}")


@router.get("/v1/activity", name="image-skill activity list")
async def list_activity(
    request: Request,
    principal: CurrentPrincipal,
    session: Session,
    limit: Annotated[int, Query(ge=1, le=100)] = 20,
    subject: OptionalReferenceQuery = None,
    cursor: OptionalIdQuery = None,
) -> JSONResponse:
    """Newest first, ``limit`` per page; pass ``next_cursor`` back for the next page."""
    kind = reference_kind(subject, field="subject") if subject else None
    if cursor and not _CURSOR.fullmatch(cursor):
        raise ImageSkillError(
            ErrorCode.INVALID_ARGUMENTS,
            "cursor must be the next_cursor of a previous page (an evt_... id).",
            details={"field": "cursor"},
        )
    events = await queries.page(
        session,
        principal.organization_id,
        limit=limit + 1,
        before=cursor or None,
        reference=subject or None,
        reference_kind=kind,
    )
    has_more = len(events) > limit
    events = events[:limit]
    data = {
        "events": [event_view(event) for event in events],
        "next_cursor": events[-1].id if has_more and events else None,
        "source": SOURCE,
    }
    return envelope_response(request, data)


@router.get("/v1/activity/{reference}", name="image-skill activity show")
async def show_activity(
    reference: ReferencePath,
    request: Request,
    principal: CurrentPrincipal,
    session: Session,
) -> JSONResponse:
    """One event (an ``evt_`` id) or the newest events that refer to a subject."""
    kind = reference_kind(reference, field="reference")
    events = await queries.page(
        session,
        principal.organization_id,
        limit=1 if kind == "event" else RELATED_LIMIT,
        reference=reference,
        reference_kind=kind,
    )
    if not events:
        raise ImageSkillError(
            ErrorCode.NOT_FOUND,
            f"No activity for this {kind.replace('_', ' ')} in your organization.",
            recovery={"suggested_command": "image-skill activity list --json"},
        )
    views = [event_view(event) for event in events]
    data = {
        "reference": {"id": reference, "type": kind},
        "event": views[0] if kind == "event" else None,
        "events": views,
        "source": SOURCE,
    }
    return envelope_response(request, data)
