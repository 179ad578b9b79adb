"""The activity events of creative jobs, written in the job's own transactions."""

from __future__ import annotations

from sqlalchemy.ext.asyncio import AsyncSession

from image_skill.contract.ids import new_id
from image_skill.service.activity.recorder import Event, Headline, Origin, record, record_all
from image_skill.service.db.insert_together import TableRows
from image_skill.service.db.models import Asset, Job


async def job_succeeded(
    session: AsyncSession, job: Job, assets: list[Asset], *, into: list[TableRows] | None = None
) -> str:
    """usage.credit_consumed, asset.created per output and job.completed; returns the usage id.

    The usage id is the job's ``usage_event_id`` when the caller has written one
    (a completion writes it with the job's end), else a new one set on the job;
    the events and their refs go in two statements however many outputs the job made
    (or into ``into``: ``recorder.record_all``).
    """
    if job.usage_event_id is None:
        job.usage_event_id = new_id("usage")
    usage_id = job.usage_event_id
    verb = _verb(job)
    origin = _origin(job)
    cost = {"credits": job.credits_debited, "estimated_usd": job.estimated_usd}
    plural = "" if job.credits_debited == 1 else "s"
    consumed = f"{verb} job consumed {job.credits_debited} credit{plural}"
    usage_links = {"job_id": job.id, "usage_event_id": usage_id}
    events = [
        # The registry's operation for usage events is "usage", whatever the job.
        Event(
            Headline("usage.credit_consumed", consumed, "recorded"),
            origin,
            usage_id,
            usage_links,
            "usage",
            cost,
        ),
    ]
    produced = Headline("asset.created", f"{verb} job produced an image", "available")
    events += [
        Event(
            produced,
            origin,
            asset.id,
            {"job_id": job.id, "asset_ids": [asset.id], "usage_event_id": usage_id},
            job.operation,
        )
        for asset in assets
    ]
    asset_ids = [asset.id for asset in assets]
    completed = Headline("job.completed", f"{verb} job completed", "completed")
    links = {"job_id": job.id, "asset_ids": asset_ids, "usage_event_id": usage_id}
    events.append(Event(completed, origin, job.id, links, job.operation, cost))
    await record_all(session, events, into=into)
    return usage_id


async def job_failed(session: AsyncSession, job: Job) -> None:
    """job.completed with status failed, or canceled for a canceled job (nothing consumed)."""
    ended = "canceled" if job.status == "canceled" else "failed"
    await record(
        session,
        Headline("job.completed", f"{_verb(job)} job {ended}", ended),
        _origin(job),
        subject_id=job.id,
        links={"job_id": job.id, "asset_ids": [], "usage_event_id": None},
        cost={"credits": 0, "estimated_usd": job.estimated_usd},
        operation=job.operation,
    )


async def job_refused(session: AsyncSession, job: Job) -> None:
    """job.completed with status refused: a create or edit refused before it started
    (budget, daily cap, balance), kept as a failed job with the refusal's code."""
    await record(
        session,
        Headline("job.completed", f"{_verb(job)} job refused: {job.error_code}", "refused"),
        _origin(job),
        subject_id=job.id,
        links={"job_id": job.id, "asset_ids": [], "usage_event_id": None},
        cost={"credits": 0, "estimated_usd": job.estimated_usd},
        operation=job.operation,
    )


async def asset_uploaded(session: AsyncSession, job: Job, asset: Asset) -> None:
    """asset.uploaded for an upload."""
    links = {"job_id": job.id, "asset_ids": [asset.id], "usage_event_id": None}
    await record(
        session,
        Headline("asset.uploaded", "Image uploaded", "available"),
        _origin(job),
        subject_id=asset.id,
        links=links,
        operation="upload",
    )


def _verb(job: Job) -> str:
    return "Create" if job.operation == "create" else "Edit"


def _origin(job: Job) -> Origin:
    return Origin(job.organization_id, job.actor_id, job.trace_id)
