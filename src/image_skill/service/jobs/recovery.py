"""Ending a job that will never produce its output: interrupted, canceled, or failed by hand.

Three paths end a queued or running job without output, and they must leave
the same trace, or money and waiters drift apart: the sweeper (the job's
executor died and the job cannot be resumed), cancel (the agent asked), and
``admin jobs resolve --fail`` (an operator). ``end_unfinished`` is that one
transition, in the caller's transaction and under the caller's row lock:

* the job turns ``failed`` or ``canceled`` with its error recorded (code,
  message, and the whole error object the create/edit answer is rebuilt from);
* its reservation is released exactly once (the ledger's ``release:`` scope)
  and nothing is ever debited; its daily-cap slot is returned because the
  cap counts only queued, running and completed jobs;
* the idempotency key remembers the error, so a replay says what happened and
  what to do instead of "still running" forever;
* activity, the completion webhook and the waiters hear of it in the same
  transaction (the job's order, which holds its prompt, is deleted with it).
"""

from __future__ import annotations

from typing import Literal

from sqlalchemy.ext.asyncio import AsyncSession

from image_skill.contract.errors import ErrorCode, ImageSkillError
from image_skill.contract.ids import utc_now
from image_skill.service import idempotency
from image_skill.service.activity.creative_events import job_failed
from image_skill.service.creative.accounting import release
from image_skill.service.db.job_models import JobOrder
from image_skill.service.db.models import Job
from image_skill.service.jobs.waiter import announce_terminal
from image_skill.service.runtime import Runtime
from image_skill.service.webhooks.dispatch import job_reached_terminal

UNFINISHED = ("queued", "running")
Ending = Literal["failed", "canceled"]


INTERRUPTED = (
    "The process running this job stopped before it finished; no credits were spent. "
    "Send the request again with a new idempotency key."
)


def interrupted_error(job_id: str, message: str = INTERRUPTED) -> ImageSkillError:
    """JOB_INTERRUPTED: the executor died and the provider call could not be resumed."""
    return ImageSkillError(
        ErrorCode.JOB_INTERRUPTED,
        message,
        retryable=True,
        recovery={
            "required_flag": "--idempotency-key",
            "suggested_command": f"image-skill jobs show {job_id} --json",
        },
    )


def canceled_error(job_id: str) -> ImageSkillError:
    """JOB_CANCELED: someone canceled the job before it finished; nothing was charged."""
    return ImageSkillError(
        ErrorCode.JOB_CANCELED,
        "The job was canceled before it finished; no credits were spent.",
        recovery={"suggested_command": f"image-skill jobs show {job_id} --json"},
    )


def operator_failed_error(job_id: str) -> ImageSkillError:
    """JOB_INTERRUPTED, ended by an operator (``admin jobs resolve --fail``)."""
    return ImageSkillError(
        ErrorCode.JOB_INTERRUPTED,
        "An operator stopped this job before it finished; no credits were spent. "
        "Send the request again with a new idempotency key.",
        retryable=True,
        recovery={
            "required_flag": "--idempotency-key",
            "suggested_command": f"image-skill jobs show {job_id} --json",
        },
    )


async def end_unfinished(
    session: AsyncSession, runtime: Runtime, job: Job, error: ImageSkillError, *, status: Ending
) -> bool:
    """Make a queued or running ``job`` (locked by the caller) ``status`` with ``error``.

    False, with nothing changed, when the job had already ended.
    """
    if job.status not in UNFINISHED:
        return False
    # First, while the order still exists: ending the job deletes it (migration 0012).
    await _remember_for_replays(session, job, error)
    now = utc_now()
    job.status = status
    job.error_code = error.code
    job.error_message = error.message[:500]
    job.error_details = error.to_error()
    job.lease_expires_at = None
    job.completed_at = now
    job.updated_at = now
    await release(session, job.actor_id, job.organization_id, job.id, job.credits_reserved)
    await job_failed(session, job)
    await job_reached_terminal(session, runtime, job)
    announce_terminal(session, job)
    return True


async def _remember_for_replays(session: AsyncSession, job: Job, error: ImageSkillError) -> None:
    """Store ``error`` as the answer of the job's idempotency key, if it has one.

    The key is read from the job's order (the job row does not keep it), so
    this runs before the job's status changes: the database then deletes the order.
    """
    order = await session.get(JobOrder, job.id)
    key = order.payload.get("idempotency_key") if order is not None else None
    if not isinstance(key, str):
        return
    record = await idempotency.find(session, job.actor_id, job.operation, key)
    if record is not None and record.job_id == job.id:
        record.response = {"error": error.to_error()}
        record.status_code = error.http_status
