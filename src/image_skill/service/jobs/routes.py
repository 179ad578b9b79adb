"""``GET /v1/jobs/{id}``, ``GET /v1/jobs`` and ``POST /v1/jobs/{id}/cancel``."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from fastapi import APIRouter, Query, Request
from fastapi.responses import JSONResponse

from image_skill.service.assets.schemas import AssetUrls
from image_skill.service.catalog.defaults import is_stand_in
from image_skill.service.db.models import Asset, Job
from image_skill.service.deps import CurrentPrincipal, MediaUrls, Session
from image_skill.service.envelopes import answers
from image_skill.service.guarded_route import GuardedRoute
from image_skill.service.id_params import JobId, OptionalIdQuery, PageLimit
from image_skill.service.jobs import cancel, service
from image_skill.service.jobs.schemas import JobCancel, JobPage, JobShown, job_view
from image_skill.service.openapi_errors import error_responses
from image_skill.service.responses import envelope_response
from image_skill.service.runtime import Runtime

router = APIRouter(route_class=GuardedRoute, responses=error_responses(401, 404))
Status = Literal["queued", "running", "completed", "failed", "canceled"]


@router.get("/v1/jobs/{job_id}", name="image-skill jobs show", **answers(JobShown))
async def show_job(
    job_id: JobId, request: Request, principal: CurrentPrincipal, session: Session, urls: MediaUrls
) -> JSONResponse:
    """One job of the caller's organization (with its queue position or progress)."""
    job, produced = await service.owned_job(session, principal.organization_id, job_id)
    progress = await service.progress_view(session, job)
    view = _shown(request.app.state.runtime, job, produced, urls, progress)
    return envelope_response(request, {"job": view})


@router.get("/v1/jobs/{job_id}/wait", name="image-skill jobs wait", **answers(JobShown))
async def wait_job(
    job_id: JobId,
    request: Request,
    principal: CurrentPrincipal,
    urls: MediaUrls,
    timeout_seconds: Annotated[float, Query(gt=0, le=service.MAX_WAIT_SECONDS)] = 30,
) -> JSONResponse:
    """Long poll: the job once it is terminal, or as it is after ``timeout_seconds``."""
    runtime: Runtime = request.app.state.runtime
    job, produced, progress = await service.wait_for_job(
        runtime, principal.organization_id, job_id, timeout_seconds
    )
    return envelope_response(request, {"job": _shown(runtime, job, produced, urls, progress)})


@router.get("/v1/jobs", name="image-skill jobs list", **answers(JobPage))
async def list_jobs(
    request: Request,
    principal: CurrentPrincipal,
    session: Session,
    urls: MediaUrls,
    limit: PageLimit = 20,
    cursor: OptionalIdQuery = None,
    status: Status | None = None,
) -> JSONResponse:
    """Newest first, ``limit`` per page; pass ``next_cursor`` back for the next page."""
    found = await service.job_page(
        session, principal.organization_id, limit=limit, cursor=cursor, status=status
    )
    models = request.app.state.runtime.models
    views = [
        job_view(job, found.assets[job.id], urls, stand_in=is_stand_in(models, job.model_id))
        for job in found.jobs
    ]
    return envelope_response(request, {"jobs": views, "next_cursor": found.next_cursor})


@router.post("/v1/jobs/{job_id}/cancel", name="image-skill jobs cancel", **answers(JobCancel))
async def cancel_job(
    job_id: JobId,
    request: Request,
    principal: CurrentPrincipal,
    session: Session,
    urls: MediaUrls,
) -> JSONResponse:
    """Cancel a queued job now, or ask a running job's executor to stop; ``data.cancel``
    says which (``canceled``, ``cancel_requested``, ``already_terminal``)."""
    runtime: Runtime = request.app.state.runtime
    done = await cancel.cancel_job(session, runtime, principal.organization_id, job_id)
    job, produced = await service.owned_job(session, principal.organization_id, done.job.id)
    view = job_view(job, produced, urls, stand_in=is_stand_in(runtime.models, job.model_id))
    return envelope_response(request, {"cancel": done.outcome, "job": view})


def _shown(
    runtime: Runtime,
    job: Job,
    produced: list[Asset],
    urls: AssetUrls,
    progress: dict[str, Any] | None,
) -> dict[str, Any]:
    """A job as ``jobs show`` and ``jobs wait`` answer it: its view and its progress."""
    view = job_view(job, produced, urls, stand_in=is_stand_in(runtime.models, job.model_id))
    view["progress"] = progress
    return view
