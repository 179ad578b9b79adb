"""``GET /v1/activity`` and ``GET /v1/activity/{reference}``: the organization's ledger."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse

from image_skill.service.activity import service
from image_skill.service.activity.schemas import SOURCE, ActivityAbout, ActivityPage, event_view
from image_skill.service.deps import CurrentPrincipal, Session
from image_skill.service.envelopes import answers
from image_skill.service.guarded_route import GuardedRoute
from image_skill.service.id_params import (
    OptionalIdQuery,
    OptionalReferenceQuery,
    PageLimit,
    ReferencePath,
)
from image_skill.service.openapi_errors import error_responses
from image_skill.service.responses import envelope_response

router = APIRouter(route_class=GuardedRoute, responses=error_responses(401, 404))


@router.get("/v1/activity", name="image-skill activity list", **answers(ActivityPage))
async def list_activity(
    request: Request,
    principal: CurrentPrincipal,
    session: Session,
    limit: PageLimit = 20,
    subject: OptionalReferenceQuery = None,
    cursor: OptionalIdQuery = None,
) -> JSONResponse:
    """Newest first, ``limit`` per page; pass ``next_cursor`` back for the next page."""
    found = await service.event_page(
        session, principal.organization_id, limit=limit, cursor=cursor, subject=subject
    )
    data = {
        "events": [event_view(event) for event in found.events],
        "next_cursor": found.next_cursor,
        "source": SOURCE,
    }
    return envelope_response(request, data)


@router.get("/v1/activity/{reference}", name="image-skill activity show", **answers(ActivityAbout))
async def show_activity(
    reference: ReferencePath,
    request: Request,
    principal: CurrentPrincipal,
    session: Session,
) -> JSONResponse:
    """One event (an ``evt_`` id) or the newest events that refer to a subject."""
    kind, events = await service.events_about(session, principal.organization_id, reference)
    views = [event_view(event) for event in events]
    data = {
        "reference": {"id": reference, "type": kind},
        "event": views[0] if kind == "event" else None,
        "events": views,
        "source": SOURCE,
    }
    return envelope_response(request, data)
