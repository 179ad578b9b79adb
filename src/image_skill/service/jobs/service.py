"""Reading jobs: one of the caller's organization, or a page of them, with their assets."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy.ext.asyncio import AsyncSession

from image_skill.contract.errors import not_found
from image_skill.service.assets import repository as assets
from image_skill.service.db.models import Asset, Job
from image_skill.service.jobs import repository


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
        raise not_found("No such job in your organization.")
    produced = await assets.of_jobs(session, [job.id])
    return job, produced[job.id]


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
