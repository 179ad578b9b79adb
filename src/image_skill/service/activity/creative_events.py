"""The activity events of creative jobs, written in the job's own transactions."""

from __future__ import annotations

from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from image_skill.contract.ids import new_id
from image_skill.service.activity.recorder import record
from image_skill.service.db.models import Asset, Job


async def job_succeeded(session: AsyncSession, job: Job, assets: list[Asset]) -> str:
    """usage.credit_consumed, asset.created per output and job.completed; returns the usage id."""
    usage_id = new_id("usage")
    job.usage_event_id = usage_id
    asset_ids = [asset.id for asset in assets]
    verb = "Create" if job.operation == "create" else "Edit"
    common: dict[str, Any] = {
        "organization_id": job.organization_id,
        "actor_id": job.actor_id,
        "trace_id": job.trace_id,
    }
    cost = {"credits": job.credits_debited, "estimated_usd": job.estimated_usd}
    await record(
        session,
        event_type="usage.credit_consumed",
        subject_id=usage_id,
        summary=f"{verb} job consumed {job.credits_debited} credits",
        status="recorded",
        links={"job_id": job.id, "usage_event_id": usage_id},
        cost=cost,
        operation="usage",  # the registry's operation for usage events, whatever the job
        **common,
    )
    for asset in assets:
        await record(
            session,
            event_type="asset.created",
            subject_id=asset.id,
            summary=f"{verb} job produced an image",
            status="available",
            links={"job_id": job.id, "asset_ids": [asset.id], "usage_event_id": usage_id},
            operation=job.operation,
            **common,
        )
    await record(
        session,
        event_type="job.completed",
        subject_id=job.id,
        summary=f"{verb} job completed",
        status="completed",
        links={"job_id": job.id, "asset_ids": asset_ids, "usage_event_id": usage_id},
        cost=cost,
        operation=job.operation,
        **common,
    )
    return usage_id


async def job_failed(session: AsyncSession, job: Job) -> None:
    """job.completed with status failed (a terminal state; nothing consumed)."""
    verb = "Create" if job.operation == "create" else "Edit"
    await record(
        session,
        event_type="job.completed",
        organization_id=job.organization_id,
        actor_id=job.actor_id,
        subject_id=job.id,
        summary=f"{verb} job failed",
        status="failed",
        trace_id=job.trace_id,
        operation=job.operation,
        links={"job_id": job.id, "asset_ids": [], "usage_event_id": None},
        cost={"credits": 0, "estimated_usd": job.estimated_usd},
    )


async def asset_uploaded(session: AsyncSession, job: Job, asset: Asset) -> None:
    """asset.uploaded for an upload."""
    await record(
        session,
        event_type="asset.uploaded",
        organization_id=job.organization_id,
        actor_id=job.actor_id,
        subject_id=asset.id,
        summary="Image uploaded",
        status="available",
        trace_id=job.trace_id,
        operation="upload",
        links={"job_id": job.id, "asset_ids": [asset.id], "usage_event_id": None},
    )
