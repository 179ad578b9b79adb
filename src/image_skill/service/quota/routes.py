"""HTTP route for the quota read."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse

from image_skill.service.deps import AppSettings, CurrentPrincipal, Session
from image_skill.service.envelopes import answers
from image_skill.service.guarded_route import GuardedRoute
from image_skill.service.openapi_errors import error_responses
from image_skill.service.quota.schemas import QuotaData
from image_skill.service.quota.service import quota_view
from image_skill.service.responses import envelope_response

router = APIRouter(route_class=GuardedRoute, responses=error_responses(401))


@router.get("/v1/quota", name="image-skill usage quota", **answers(QuotaData))
async def quota(
    request: Request, principal: CurrentPrincipal, session: Session, settings: AppSettings
) -> JSONResponse:
    """Balance, daily cap, jobs used today and the reset time."""
    return envelope_response(request, await quota_view(session, settings, principal))
