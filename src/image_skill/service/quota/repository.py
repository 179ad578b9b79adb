"""Quota queries: the jobs that count against the daily caps."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from image_skill.service.db.models import Job


async def creative_jobs_since(session: AsyncSession, actor_id: str, since: datetime) -> int:
    """Create/edit jobs that count against the daily cap: running or completed."""
    total = await session.scalar(
        select(func.count(Job.id)).where(
            Job.actor_id == actor_id,
            Job.operation.in_(("create", "edit")),
            Job.status.in_(("queued", "running", "completed")),
            Job.created_at >= since,
        )
    )
    return int(total or 0)


async def uploads_since(
    session: AsyncSession, organization_id: str, actor_id: str, since: datetime
) -> int:
    """Upload jobs ``actor_id`` made since ``since`` (served by ix_jobs_org_created)."""
    total = await session.scalar(
        select(func.count(Job.id)).where(
            Job.organization_id == organization_id,
            Job.created_at >= since,
            Job.actor_id == actor_id,
            Job.operation == "upload",
        )
    )
    return int(total or 0)
