"""A create or edit's answer, read from its job: the same whoever ran the job.

The executor that settles a job (maybe a worker on another machine) stores
this answer for the idempotency key; the request that waited for the job
builds it again from the committed rows, so both say the same thing. A failed
job's answer is its error, rebuilt from the whole error object the executor
recorded (``jobs.error_details``), or from its code and message when another
path (crash recovery) ended it.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from image_skill.contract.errors import ErrorCode, ImageSkillError
from image_skill.contract.ids import utc_now
from image_skill.service.assets import repository as assets_repository
from image_skill.service.assets.schemas import AssetUrls
from image_skill.service.creative import responses
from image_skill.service.creative.order import Order
from image_skill.service.credits import ledger
from image_skill.service.db.models import Asset, Job
from image_skill.service.identity.principal import Principal
from image_skill.service.quota.repository import creative_jobs_since
from image_skill.service.quota.service import daily_job_cap, utc_day_bounds
from image_skill.service.settings import Settings


async def completed_answer(
    session: AsyncSession,
    settings: Settings,
    order: Order,
    principal: Principal,
    job: Job,
    assets: list[Asset],
    urls: AssetUrls,
) -> dict[str, Any]:
    """The 201 body of a completed job: its assets, cost, quota and resolved request."""
    completed_at = job.completed_at or utc_now()
    input_asset = await session.get(Asset, order.input_asset_id) if order.input_asset_id else None
    return responses.completed_view(
        job,
        assets,
        cost=order.cost,
        resolved=responses.resolved_view(
            order.aspect_ratio, order.output_format, order.intent, order.parameters
        ),
        input_asset=input_asset,
        balance_after=await ledger.balance(session, principal.actor_id),
        daily_cap=daily_job_cap(settings, principal),
        used_today=await creative_jobs_since(
            session, principal.actor_id, utc_day_bounds(completed_at)[0]
        ),
        completed_at=completed_at,
        urls=urls,
    )


async def answer_of_job(
    session: AsyncSession,
    settings: Settings,
    order: Order,
    principal: Principal,
    job: Job,
    urls: AssetUrls,
) -> dict[str, Any]:
    """A terminal job's answer: the completed body, or its error raised."""
    if job.status != "completed":
        raise job_error(job)
    produced = await assets_repository.of_jobs(session, [job.id])
    return await completed_answer(session, settings, order, principal, job, produced[job.id], urls)


def job_error(job: Job) -> ImageSkillError:
    """The error a failed or canceled job ended with."""
    details = job.error_details or {}
    code = details.get("code") or job.error_code or ErrorCode.JOB_INTERRUPTED.value
    message = details.get("message") or job.error_message or f"The job was {job.status}."
    error = ImageSkillError.from_wire(
        code, message, recovery=details.get("recovery"), retryable=details.get("retryable")
    )
    error.details = details.get("details")
    return error
