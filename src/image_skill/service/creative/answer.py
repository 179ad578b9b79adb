"""A create or edit's answer, read from its job: the same whoever ran the job.

The executor that settles a job (maybe a worker on another machine) stores
this answer for the idempotency key; the request that waited for the job
builds it again from the committed rows, so both say the same thing. A failed
job's answer is its error, rebuilt from the whole error object the executor
recorded (``jobs.error_details``), or from its code and message when another
path (crash recovery) ended it.

When the job settles in the process whose request waits on it (the server's
in-process executor), the settling transaction hands its answer over once it
commits (``hand_over``): the request answers with it instead of reading the
job, its assets, the balance and the count back.
"""

from __future__ import annotations

from collections import OrderedDict
from functools import partial
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from image_skill.contract.errors import ErrorCode, ImageSkillError
from image_skill.contract.ids import utc_now
from image_skill.service.assets import repository as assets_repository
from image_skill.service.assets.schemas import AssetUrls
from image_skill.service.creative import responses
from image_skill.service.creative.order import Order
from image_skill.service.db.models import Asset, Job
from image_skill.service.identity.principal import Principal
from image_skill.service.jobs.after_commit import on_commit
from image_skill.service.quota.repository import jobs_today_and_balance
from image_skill.service.quota.service import daily_job_cap, utc_day_bounds
from image_skill.service.settings import Settings

# How jobs this process ended did end (an answer, or None: failed), by job id, until
# the request waiting on the job takes it; a request that stopped waiting (202)
# leaves its entry for the oldest to drop.
MAX_SETTLED = 1_000
_settled: OrderedDict[str, dict[str, Any] | None] = OrderedDict()


async def completed_answer(
    session: AsyncSession,
    settings: Settings,
    order: Order,
    principal: Principal,
    job: Job,
    assets: list[Asset],
    urls: AssetUrls,
    quota: tuple[int, int] | None = None,
) -> dict[str, Any]:
    """The 201 body of a completed job: its assets, cost, quota and resolved request.

    ``quota`` is (jobs today, balance) when the caller has just read them
    (``quota.repository.jobs_today_and_balance_columns``); otherwise they are read here.
    """
    completed_at = job.completed_at or utc_now()
    input_asset = await session.get(Asset, order.input_asset_id) if order.input_asset_id else None
    if quota is None:
        day_start = utc_day_bounds(completed_at)[0]
        quota = await jobs_today_and_balance(session, principal.actor_id, day_start)
    used_today, balance = quota
    return responses.completed_view(
        job,
        assets,
        cost=order.cost,
        resolved=responses.resolved_view(
            order.aspect_ratio, order.output_format, order.intent, order.parameters
        ),
        input_asset=input_asset,
        balance_after=balance,
        daily_cap=daily_job_cap(settings, principal),
        used_today=used_today,
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


def hand_over(session: AsyncSession, job_id: str, answer: dict[str, Any] | None) -> None:
    """Once ``session`` commits, keep how ``job_id`` ended for the request of this process
    waiting on it: its answer, or None when it failed (``ended_here``, ``take_settled``)."""
    on_commit(session, partial(_keep, job_id, answer))


def _keep(job_id: str, answer: dict[str, Any] | None) -> None:
    _settled[job_id] = answer
    while len(_settled) > MAX_SETTLED:
        _settled.popitem(last=False)


def ended_here(job_id: str) -> str | None:
    """``completed`` or ``failed`` when this process ended ``job_id`` (None: not seen here)."""
    if job_id not in _settled:
        return None
    return "failed" if _settled[job_id] is None else "completed"


def take_settled(job_id: str) -> dict[str, Any] | None:
    """The answer this process settled ``job_id`` with, once (None: failed or not kept here)."""
    return _settled.pop(job_id, None)


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
