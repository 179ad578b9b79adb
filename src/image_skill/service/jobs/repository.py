"""Job queries."""

from __future__ import annotations

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from image_skill.service.db.models import Job


async def owned(session: AsyncSession, organization_id: str, job_id: str) -> Job | None:
    """The job if the id is a job id, exists and belongs to the organization."""
    job = await session.get(Job, job_id) if job_id.startswith("job_") else None
    return job if job is not None and job.organization_id == organization_id else None


async def page(
    session: AsyncSession,
    organization_id: str,
    *,
    limit: int,
    before: str | None,
    status: str | None,
) -> list[Job]:
    """Newest-first jobs of an organization, after the cursor (a job id)."""
    query = select(Job).where(Job.organization_id == organization_id)
    if before:
        query = query.where(Job.id < before)
    if status:
        query = query.where(Job.status == status)
    query = query.order_by(Job.id.desc()).limit(limit)
    return list((await session.execute(query)).scalars())


async def status_of(session: AsyncSession, job_id: str) -> str | None:
    """A job's status (None: no such job); one indexed read, for waiters."""
    status = await session.scalar(select(Job.status).where(Job.id == job_id))
    return None if status is None else str(status)


async def queue_position(session: AsyncSession, job: Job) -> int | None:
    """How many queued jobs were admitted before ``job`` (None unless it is queued)."""
    if job.status != "queued" or job.queued_at is None:
        return None
    ahead = await session.scalar(
        select(func.count())
        .select_from(Job)
        .where(Job.status == "queued", Job.queued_at < job.queued_at)
    )
    return int(ahead or 0)


async def queued_ids(session: AsyncSession, limit: int) -> list[str]:
    """The oldest queued jobs' ids, first admitted first."""
    query = select(Job.id).where(Job.status == "queued").order_by(Job.queued_at).limit(limit)
    return list((await session.execute(query)).scalars())
