"""``GET /v1/jobs/{id}`` and ``GET /v1/jobs``."""

from __future__ import annotations

from typing import Annotated, Literal

from fastapi import APIRouter, Query, Request
from fastapi.responses import JSONResponse

from image_skill.contract.errors import ErrorCode, ImageSkillError
from image_skill.service.assets.views import AssetUrls
from image_skill.service.db.models import Job
from image_skill.service.deps import AppSettings, CurrentPrincipal, Session
from image_skill.service.guarded_route import GuardedRoute
from image_skill.service.id_params import JobId, OptionalIdQuery
from image_skill.service.jobs import repository
from image_skill.service.jobs.views import job_view
from image_skill.service.openapi_errors import error_responses
from image_skill.service.responses import envelope_response

router = APIRouter(route_class=GuardedRoute, responses=error_responses(401, 404))
Status = Literal["queued", "running", "completed", "failed", "canceled"]


@router.get("/v1/jobs/{job_id}", name="image-skill jobs show")
async def show_job(
    job_id: JobId,
    request: Request,
    principal: CurrentPrincipal,
    session: Session,
    settings: AppSettings,
) -> JSONResponse:
    """One job of the caller's organization."""
    job = await session.get(Job, job_id) if job_id.startswith("job_") else None
    if job is None or job.organization_id != principal.organization_id:
        raise ImageSkillError(ErrorCode.NOT_FOUND, "No such job in your organization.")
    urls = AssetUrls(settings, request.app.state.store, request)
    data = {"job": job_view(job, await repository.assets_of(session, job.id), urls)}
    return envelope_response(request, data)


@router.get("/v1/jobs", name="image-skill jobs list")
async def list_jobs(
    request: Request,
    principal: CurrentPrincipal,
    session: Session,
    settings: AppSettings,
    limit: Annotated[int, Query(ge=1, le=100)] = 20,
    cursor: OptionalIdQuery = None,
    status: Status | None = None,
) -> JSONResponse:
    """Newest first, ``limit`` per page; pass ``next_cursor`` back for the next page."""
    jobs = await repository.page(
        session, principal.organization_id, limit=limit + 1, before=cursor, status=status
    )
    has_more = len(jobs) > limit
    jobs = jobs[:limit]
    urls = AssetUrls(settings, request.app.state.store, request)
    views = [job_view(job, await repository.assets_of(session, job.id), urls) for job in jobs]
    data = {"jobs": views, "next_cursor": jobs[-1].id if has_more and jobs else None}
    return envelope_response(request, data)
