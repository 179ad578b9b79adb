"""Reading jobs: one of the caller's organization, or a page of them, with their assets."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from image_skill.contract.errors import not_found
from image_skill.contract.ids import iso
from image_skill.service.assets import repository as assets
from image_skill.service.db.engine import session_scope
from image_skill.service.db.models import Asset, Job
from image_skill.service.jobs import repository
from image_skill.service.jobs.waiter import wait_until_terminal
from image_skill.service.runtime import Runtime

# The longest one ``GET /v1/jobs/{id}/wait`` holds (clients loop for longer waits).
MAX_WAIT_SECONDS = 60


@dataclass(frozen=True)
class JobPage:
    """Newest-first jobs, the assets of each (by job id) and the cursor of the next page."""

    jobs: list[Job]
    assets: dict[str, list[Asset]]
    next_cursor: str | None


async def owned_job(
    session: AsyncSession, organization_id: str, job_id: str
) -> tuple[Job, list[Asset]]:
    """A job of the organization and the assets it produced; NOT_FOUND otherwise."""
    job = await repository.owned(session, organization_id, job_id)
    if job is None:
        raise not_found(
            "No such job in your organization.", suggested_command="image-skill jobs list --json"
        )
    produced = await assets.of_jobs(session, [job.id])
    return job, produced[job.id]


async def progress_view(session: AsyncSession, job: Job) -> dict[str, Any] | None:
    """Where a job that has not ended stands: its queue position, or its run so far."""
    if job.status == "queued":
        return {"queue_position": await repository.queue_position(session, job)}
    if job.status == "running":
        return {
            "provider": job.provider,
            "provider_status": "submitted" if job.provider_request_id else "starting",
            "attempts": job.attempts,
            "lease_expires_at": iso(job.lease_expires_at),
        }
    return None


async def wait_for_job(
    runtime: Runtime, organization_id: str, job_id: str, timeout_seconds: float
) -> tuple[Job, list[Asset], dict[str, Any] | None]:
    """The job once terminal, or as it is after ``timeout_seconds``; NOT_FOUND otherwise.

    No database connection is held while waiting (``jobs.waiter``).
    """
    async with session_scope(runtime.engine, write=False) as session:
        await owned_job(session, organization_id, job_id)

    async def status() -> str | None:
        async with session_scope(runtime.engine, write=False) as session:
            return await repository.status_of(session, job_id)

    await wait_until_terminal(job_id, timeout_seconds, status)
    async with session_scope(runtime.engine, write=False) as session:
        job, produced = await owned_job(session, organization_id, job_id)
        return job, produced, await progress_view(session, job)


async def job_page(
    session: AsyncSession,
    organization_id: str,
    *,
    limit: int,
    cursor: str | None,
    status: str | None,
) -> JobPage:
    """Up to ``limit`` jobs before ``cursor``; their assets load in one query."""
    jobs = await repository.page(
        session, organization_id, limit=limit + 1, before=cursor, status=status
    )
    has_more = len(jobs) > limit
    jobs = jobs[:limit]
    produced = await assets.of_jobs(session, [job.id for job in jobs])
    next_cursor = jobs[-1].id if has_more and jobs else None
    return JobPage(jobs=jobs, assets=produced, next_cursor=next_cursor)
