"""Job queries."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from image_skill.service.db.models import Asset, Job


async def assets_of(session: AsyncSession, job_id: str) -> list[Asset]:
    """Assets produced by a job, in creation order."""
    query = select(Asset).where(Asset.job_id == job_id).order_by(Asset.id)
    return list((await session.execute(query)).scalars())


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
