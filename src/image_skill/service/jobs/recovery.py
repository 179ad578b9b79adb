"""Resolve jobs a crashed process left ``running``.

Every running job carries a lease (its start plus the provider time budget).
A job whose lease ran out can no longer finish, so it is failed and its
reservation released. Live jobs of other processes are never touched.
"""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncEngine

from image_skill.contract.errors import ErrorCode
from image_skill.contract.ids import utc_now
from image_skill.service.activity.creative_events import job_failed
from image_skill.service.creative.accounting import release
from image_skill.service.db.engine import session_scope
from image_skill.service.db.models import Job


async def recover_stale_jobs(engine: AsyncEngine) -> int:
    """Fail and release every running job whose lease expired; returns how many."""
    now = utc_now()
    stale = select(Job.id).where(Job.status == "running", Job.lease_expires_at < now)
    async with session_scope(engine, write=False) as session:
        if (await session.execute(stale.limit(1))).first() is None:
            return 0
    recovered = 0
    async with session_scope(engine, write=True) as session:
        # Row locks (skipping rows another starting process holds) make each job
        # recovered by exactly one process on PostgreSQL; SQLite serialises writers.
        query = (
            select(Job)
            .where(Job.id.in_(stale), Job.status == "running")
            .with_for_update(skip_locked=True)
        )
        jobs = (await session.execute(query)).scalars().all()
        for job in jobs:
            job.status = "failed"
            job.error_code = ErrorCode.JOB_INTERRUPTED.value
            job.error_message = "The process running this job stopped; no credits were spent."
            job.completed_at = now
            job.updated_at = now
            await release(session, job.actor_id, job.organization_id, job.id, job.credits_reserved)
            await job_failed(session, job)
            recovered += 1
    return recovered
