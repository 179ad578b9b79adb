"""The sweeper: every process resolves the jobs whose executor stopped renewing its lease.

An executor renews its job's lease every few seconds (``lease.held``); one
that died (kill -9, a lost machine, a frozen process) stops, and its lease
lapses within ``job_lease_seconds``. Every API and worker process sweeps
once at start-up and then every ``sweep_interval_seconds``, so a lapsed job
is resolved within about lease + interval (30 + 10 s by default) as long as
any process lives. Row locks (``FOR UPDATE SKIP LOCKED`` on PostgreSQL; on
SQLite a single writer) make exactly one process resolve each job, and the
lease is checked again under the lock.

A lapsed job is resolved, in this order:
  * cancel was requested: it ends ``canceled`` (and is canceled at the
    provider where the provider allows);
  * its provider call has a recorded request id and the model can resume it
    (fal's queue), and it has not used up ``job_resume_attempts``: it goes
    back to ``queued`` and is enqueued again; the executor that claims it
    polls the existing provider request instead of submitting a second one,
    and stores and charges the result once;
  * otherwise it ends ``failed`` with JOB_INTERRUPTED, its reservation
    released (``recovery.end_unfinished``).
"""

from __future__ import annotations

import logging
import random
import time
from collections.abc import AsyncIterator, Awaitable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field

import anyio
from sqlalchemy import select
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.ext.asyncio import AsyncSession

from image_skill.contract.ids import utc_now
from image_skill.service.db.engine import in_transaction, session_scope
from image_skill.service.db.models import Job
from image_skill.service.jobs.cancel import cancel_at_provider
from image_skill.service.jobs.recovery import canceled_error, end_unfinished, interrupted_error
from image_skill.service.redacted_traceback import redacted_traceback
from image_skill.service.runtime import Runtime
from image_skill.service.webhooks.service import requeue_overdue

log = logging.getLogger("image_skill.jobs.sweeper")

BATCH = 100  # lapsed jobs resolved per transaction; the next pass takes the rest
PRUNE_EVERY_SECONDS = 3600.0


@dataclass
class Sweep:
    """What one pass did, by job id."""

    resumed: list[str] = field(default_factory=list)
    interrupted: list[str] = field(default_factory=list)
    canceled: list[str] = field(default_factory=list)

    @property
    def total(self) -> int:
        """How many jobs the pass resolved."""
        return len(self.resumed) + len(self.interrupted) + len(self.canceled)


async def sweep(runtime: Runtime) -> Sweep:
    """Resolve up to ``BATCH`` jobs whose lease lapsed (one pass)."""
    now = utc_now()
    lapsed = (Job.status == "running", Job.lease_expires_at < now)
    # A read first: on SQLite a pass that finds nothing never takes the write lock.
    async with session_scope(runtime.engine, write=False) as session:
        if (await session.execute(select(Job.id).where(*lapsed).limit(1))).first() is None:
            return Sweep()
    to_cancel: list[tuple[str | None, str]] = []

    async def work(session: AsyncSession) -> Sweep:
        done = Sweep()
        to_cancel.clear()
        query = (
            select(Job)
            .where(*lapsed)
            .order_by(Job.lease_expires_at)
            .limit(BATCH)
            .with_for_update(skip_locked=True)
        )
        lapsed_jobs = (await session.execute(query)).scalars().all()
        # Accounts in one order in every process: each release locks its actor's
        # credit_accounts row (migration 0010), and two sweeps taking two actors in
        # opposite orders would deadlock.
        for job in sorted(lapsed_jobs, key=lambda job: job.actor_id):
            if job.cancel_requested_at is not None:
                await end_unfinished(
                    session, runtime, job, canceled_error(job.id), status="canceled"
                )
                done.canceled.append(job.id)
                if job.provider_request_id:
                    to_cancel.append((job.model_id, job.provider_request_id))
            elif _resumable(runtime, job):
                await _requeue(session, runtime, job)
                done.resumed.append(job.id)
            else:
                error = interrupted_error(job.id)
                await end_unfinished(session, runtime, job, error, status="failed")
                done.interrupted.append(job.id)
        return done

    done = await in_transaction(runtime.engine, work, write=True)
    for model_id, request_id in to_cancel:
        await cancel_at_provider(runtime, model_id, request_id)
    if done.total:
        log.warning(
            "swept jobs with lapsed leases: %d resumed, %d interrupted, %d canceled",
            len(done.resumed),
            len(done.interrupted),
            len(done.canceled),
        )
    return done


def _resumable(runtime: Runtime, job: Job) -> bool:
    """Whether the job's provider request can be picked up again by another executor."""
    model = runtime.models.get(job.model_id or "")
    return (
        runtime.queue is not None
        and not runtime.settings.embedded
        and bool(job.provider_request_id)
        and model is not None
        and model.supports_resume
        and (job.attempts or 0) <= runtime.settings.job_resume_attempts
    )


async def _requeue(session: AsyncSession, runtime: Runtime, job: Job) -> None:
    """Hand the job back to the queue; its reservation and order stay as they are."""
    assert runtime.queue is not None  # _resumable checked it
    now = utc_now()
    job.status = "queued"
    job.worker_id = None
    job.lease_expires_at = None
    job.queued_at = now
    job.updated_at = now
    await runtime.queue.enqueue_job(session, job.id)


async def sweep_forever(runtime: Runtime) -> None:
    """Sweep every ``sweep_interval_seconds`` (with jitter) until cancelled; prune the
    console's ended sign-in links and sessions after the first sweep and every
    ``PRUNE_EVERY_SECONDS``."""
    interval = runtime.settings.sweep_interval_seconds
    next_prune = 0.0
    while True:
        # Jitter keeps the processes of one deploy from sweeping in lockstep.
        await anyio.sleep(interval * random.uniform(0.8, 1.2))
        await _sweep_logged(runtime)
        # Not at start: an app stopped right after starting (tests, a failed deploy)
        # cancelled a prune in flight, and its shutdown then never ended.
        if time.monotonic() >= next_prune:
            await _prune_logged(runtime)
            next_prune = time.monotonic() + PRUNE_EVERY_SECONDS


async def _prune_logged(runtime: Runtime) -> None:
    """Delete what ended long ago, a batch per transaction; a failure is only logged."""
    # Only a server sweeps forever; the embedded CLI's start must not load the console.
    from image_skill.service.console.sessions import prune_ended

    def prune(session: AsyncSession) -> Awaitable[int]:
        return prune_ended(session, utc_now())

    try:
        while await in_transaction(runtime.engine, prune, write=True):
            pass  # until a pass finds nothing left
    except SQLAlchemyError as exc:
        log.warning("pruning console sessions failed (%s); retrying later", type(exc).__name__)
    except Exception as exc:
        log.error("pruning console sessions failed; retrying later\n%s", redacted_traceback(exc))


async def _sweep_logged(runtime: Runtime) -> None:
    """Sweep until no backlog is left; a failure is logged, never raised (the loop must
    outlive a database outage or a bug in one job's resolution, and so must the app)."""
    try:
        while (await sweep(runtime)).total >= BATCH:
            pass  # a backlog (a mass crash): keep going until it is cleared
        # Webhook deliveries whose queue entry died with a worker are handed over again.
        await requeue_overdue(runtime)
    except SQLAlchemyError as exc:
        log.warning("sweeping jobs failed (%s); retrying later", type(exc).__name__)
    except Exception as exc:
        log.error("sweeping jobs failed; retrying later\n%s", redacted_traceback(exc))


@asynccontextmanager
async def sweeping(runtime: Runtime) -> AsyncIterator[None]:
    """One sweep now (what a crash before this start left behind), then one every interval.

    Embedded mode gets the start-up sweep only: the CLI process lives for one
    command, and its transport enters and leaves the app's lifespan in different
    tasks, where a task group cannot live.
    """
    await _sweep_logged(runtime)
    if runtime.settings.embedded:
        yield
        return
    failure: Exception | None = None
    async with anyio.create_task_group() as loop:
        loop.start_soon(sweep_forever, runtime)
        try:
            yield
        except Exception as exc:  # re-raised below, outside the task group
            failure = exc
        finally:
            loop.cancel_scope.cancel()
    if failure is not None:
        raise failure
