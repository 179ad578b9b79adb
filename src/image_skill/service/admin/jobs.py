"""``admin jobs list`` and ``admin jobs resolve``: an operator sees and ends unfinished jobs.

The sweeper resolves a job whose executor died within a bounded time, but an
operator still needs to see what is queued or running (whose lease, since
when, whether cancel was asked) and to end a job by hand: a provider call
that hangs while its executor keeps renewing, say. ``resolve --fail`` ends
the job through the same transition as the sweeper and cancel
(``jobs.recovery.end_unfinished``): failed JOB_INTERRUPTED, reservation
released, the job.completed activity event recorded, webhooks and waiters
told. A live executor of that job sees on its next renewal that it lost the
job and stores and charges nothing.
"""

from __future__ import annotations

from datetime import UTC
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from image_skill.contract.errors import conflict, invalid_arguments, not_found
from image_skill.contract.ids import iso, utc_now
from image_skill.service.admin.service import check_limit
from image_skill.service.catalog.pricing import PricingPolicy
from image_skill.service.creative.prompt_rules import PromptPolicy
from image_skill.service.db.engine import create_engine_for, in_transaction
from image_skill.service.db.models import Job
from image_skill.service.jobs.recovery import UNFINISHED, end_unfinished, operator_failed_error
from image_skill.service.runtime import Runtime
from image_skill.service.settings import Settings
from image_skill.service.storage.factory import build_store

STATUSES = ("queued", "running", "completed", "failed", "canceled")


def job_row_view(job: Job) -> dict[str, Any]:
    """A job as the operator sees it: who, what, and where its lease stands (no prompt)."""
    lease = job.lease_expires_at
    if lease is not None and lease.tzinfo is None:  # SQLite hands timestamps back naive
        lease = lease.replace(tzinfo=UTC)
    return {
        "job_id": job.id,
        "status": job.status,
        "operation": job.operation,
        "organization_id": job.organization_id,
        "actor_id": job.actor_id,
        "model_id": job.model_id,
        "credits_reserved": job.credits_reserved,
        "credits_debited": job.credits_debited,
        "attempts": job.attempts,
        "worker_id": job.worker_id,
        "lease_expires_at": iso(lease),
        "lease_lapsed": job.status == "running" and lease is not None and lease < utc_now(),
        "provider_request_recorded": job.provider_request_id is not None,
        "cancel_requested_at": iso(job.cancel_requested_at),
        "created_at": iso(job.created_at),
        "started_at": iso(job.started_at),
        "completed_at": iso(job.completed_at),
        "error_code": job.error_code,
    }


def check_status(value: str | None) -> str | None:
    """One of the job statuses, or None."""
    if value is None:
        return None
    if value not in STATUSES:
        raise invalid_arguments(f"--status must be one of {', '.join(STATUSES)}.", field="--status")
    return value


async def list_jobs(
    session: AsyncSession, *, status: str | None, limit: int | None
) -> dict[str, Any]:
    """Jobs oldest first; unfinished ones (queued and running) unless ``status`` says otherwise."""
    wanted = (check_status(status),) if status else UNFINISHED
    query = (
        select(Job)
        .where(Job.status.in_(wanted))
        .order_by(Job.created_at, Job.id)
        .limit(check_limit(limit))
    )
    jobs = (await session.execute(query)).scalars().all()
    return {"statuses": list(wanted), "jobs": [job_row_view(job) for job in jobs]}


async def fail_job(session: AsyncSession, runtime: Runtime, job_id: str) -> dict[str, Any]:
    """Fail a queued or running job by hand and release its credits (CONFLICT if it ended)."""
    job = (
        await session.get(Job, job_id, with_for_update=True) if job_id.startswith("job_") else None
    )
    if job is None:
        raise not_found(f"No job {job_id}.", suggested_command="image-skill admin jobs list --json")
    if job.status not in UNFINISHED:
        raise conflict(
            f"Job {job_id} already ended ({job.status}); nothing to resolve.",
            suggested_command=f"image-skill admin jobs list --status {job.status} --json",
        )
    was = job.status
    await end_unfinished(session, runtime, job, operator_failed_error(job.id), status="failed")
    return {"resolved": "failed", "previous_status": was, "job": job_row_view(job)}


async def resolve_job(settings: Settings, job_id: str) -> dict[str, Any]:
    """``admin jobs resolve JOB_ID --fail`` on its own engine and store.

    No work queue runs here: a webhook the job owes is recorded as pending
    and a running service's queue delivers it.
    """
    engine = create_engine_for(settings)
    store = build_store(settings)
    runtime = Runtime(
        settings=settings,
        engine=engine,
        store=store,
        models={},
        pricing=PricingPolicy(
            markup=settings.pricing_markup,
            unknown_cost_hold_credits=settings.unknown_cost_hold_credits,
        ),
        prompt_policy=PromptPolicy.from_setting(settings.prompt_blocked_terms),
    )
    try:
        return await in_transaction(
            engine, lambda session: fail_job(session, runtime, job_id), write=True
        )
    finally:
        await store.aclose()
        await engine.dispose()
