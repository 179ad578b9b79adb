"""Job queries."""

from __future__ import annotations

from sqlalchemy import select
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
