"""Cancel a job: at once while it waits in the queue, through its executor while it runs.

``POST /v1/jobs/{id}/cancel`` (``image-skill jobs cancel``) answers which of
three things happened, and is idempotent:

* ``canceled``: the job was still queued; it ends ``canceled`` now, its
  reservation released, its daily-cap slot returned, its order deleted
  (``recovery.end_unfinished``). An executor handed the id later finds it no
  longer queued and leaves it.
* ``cancel_requested``: the job is running; ``cancel_requested_at`` is set.
  The executor's next lease renewal (``lease.held``, every few seconds) sees
  it, cancels the provider call, and ``finish_canceled`` ends the job
  ``canceled`` and cancels at the provider where the provider allows (fal),
  so it is never charged. If the executor is dead, the sweeper does the same
  once the lease lapses. A job that completes before its executor sees the
  request stays completed (and charged): the answer said only "requested".
* ``already_terminal``: nothing changes.

Another organization's job answers NOT_FOUND, exactly like a missing one.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Literal

import anyio
from sqlalchemy.ext.asyncio import AsyncSession

from image_skill.contract.errors import not_found
from image_skill.contract.ids import utc_now
from image_skill.service.db.engine import in_transaction
from image_skill.service.db.models import Job
from image_skill.service.jobs.recovery import canceled_error, end_unfinished
from image_skill.service.runtime import Runtime

log = logging.getLogger("image_skill.jobs.cancel")

CancelOutcome = Literal["canceled", "cancel_requested", "already_terminal"]
PROVIDER_CANCEL_SECONDS = 15.0


@dataclass(frozen=True)
class Cancellation:
    """What a cancel request did, and the job as it is now."""

    outcome: CancelOutcome
    job: Job


async def cancel_job(
    session: AsyncSession, runtime: Runtime, organization_id: str, job_id: str
) -> Cancellation:
    """Cancel ``job_id`` of the organization (see the module docstring)."""
    job = (
        await session.get(Job, job_id, with_for_update=True) if job_id.startswith("job_") else None
    )
    if job is None or job.organization_id != organization_id:
        raise not_found(
            "No such job in your organization.", suggested_command="image-skill jobs list --json"
        )
    if job.status == "queued":
        await end_unfinished(session, runtime, job, canceled_error(job.id), status="canceled")
        return Cancellation("canceled", job)
    if job.status == "running":
        if job.cancel_requested_at is None:
            now = utc_now()
            job.cancel_requested_at = now
            job.updated_at = now
        return Cancellation("cancel_requested", job)
    return Cancellation("already_terminal", job)


async def finish_canceled(runtime: Runtime, job_id: str) -> bool:
    """End a running job of this process whose cancel its lease saw; False if it had ended.

    Called by the executor after ``lease.held`` cut the work short with
    ``hold.reason == "canceled"``: the job ends ``canceled`` and released,
    then the provider is asked to stop its request (best effort).
    """

    async def work(session: AsyncSession) -> tuple[str | None, str | None] | None:
        job = await session.get(Job, job_id, with_for_update=True)
        if job is None or job.status != "running" or job.worker_id != runtime.worker_id:
            return None  # ended meanwhile (completed, swept, failed by an operator)
        await end_unfinished(session, runtime, job, canceled_error(job.id), status="canceled")
        return job.model_id, job.provider_request_id

    ended = await in_transaction(runtime.engine, work, write=True)
    if ended is None:
        return False
    model_id, request_id = ended
    if request_id:
        await cancel_at_provider(runtime, model_id, request_id)
    return True


async def cancel_at_provider(runtime: Runtime, model_id: str | None, request_id: str) -> bool:
    """Ask the model's provider to stop ``request_id``; never raises (the job is already
    canceled on our side, and a provider that cannot cancel simply finishes unused)."""
    model = runtime.models.get(model_id or "")
    if model is None or not model.supports_cancel:
        return False
    try:
        with anyio.fail_after(PROVIDER_CANCEL_SECONDS):
            accepted = await model.cancel(request_id)
    except Exception as exc:  # best effort: a failure here changes nothing we owe
        log.warning("provider cancel for %s failed (%s)", model.model_id, type(exc).__name__)
        return False
    log.info("provider cancel for %s: %s", model.model_id, "accepted" if accepted else "refused")
    return accepted
