"""A running job's lease: renewed by heartbeats while its executor lives.

Whoever runs a job (a worker, the SQLite server, the embedded CLI) holds it by
its lease: ``jobs.worker_id`` names the process and ``jobs.lease_expires_at``
says until when the claim is good. ``held`` renews that deadline every
``job_heartbeat_seconds`` to ``now + job_lease_seconds`` in a short
transaction of its own. A process that dies (kill -9, a lost machine) stops
renewing, so its lease lapses within ``job_lease_seconds`` and the sweeper of
any live process resolves the job (``service/jobs/sweeper.py``).

Each renewal also reads the row back, and the enclosed work is cancelled
(an anyio cancel scope) when either
  * someone asked to cancel the job (``cancel_requested_at`` is set): the
    executor then cancels at the provider and marks the job canceled
    (``service/jobs/cancel.py: finish_canceled``), never charging it; or
  * the job is no longer ``running`` under this process (a sweeper found the
    lease lapsed, say after a long pause, and resolved or re-queued it): the
    executor must then store and charge nothing, since someone else owns the
    outcome now.
``hold.reason`` says which, after the ``async with`` block ends.

When the executor itself is cancelled from outside (a worker's shutdown grace
ran out, an embedded CLI interrupted), the lease is handed back at once: its
deadline is set to now, so the next sweep of any process resolves the job
(resumed where the provider allows, else failed and released) instead of
waiting out a lease nobody will renew.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Literal

import anyio
from sqlalchemy import update
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.ext.asyncio import AsyncSession

from image_skill.contract.ids import utc_now
from image_skill.service.db.engine import in_transaction
from image_skill.service.db.models import Job
from image_skill.service.redacted_traceback import redacted_traceback
from image_skill.service.runtime import Runtime
from image_skill.service.settings import Settings

log = logging.getLogger("image_skill.jobs.lease")

LeaseEnd = Literal["canceled", "lease_lost"]
CANCELED: LeaseEnd = "canceled"
# How long a cancelled executor may spend handing its lease back.
HAND_BACK_SECONDS = 5
LEASE_LOST: LeaseEnd = "lease_lost"


def lease_deadline(settings: Settings, now: datetime | None = None) -> datetime:
    """Until when a lease taken or renewed now is good."""
    return (now or utc_now()) + timedelta(seconds=settings.job_lease_seconds)


@dataclass
class Hold:
    """One executor's hold on one job; ``reason`` is set when the work was cut short."""

    job_id: str
    reason: LeaseEnd | None = None
    renewals: int = 0
    work: anyio.CancelScope = field(default_factory=anyio.CancelScope)

    def end(self, reason: LeaseEnd) -> None:
        """Stop the enclosed work for ``reason`` (the first reason wins)."""
        if self.reason is None:
            self.reason = reason
        self.work.cancel()


async def renew(runtime: Runtime, job_id: str) -> LeaseEnd | None:
    """One heartbeat: extend the lease if this process still runs the job.

    Answers why the work must stop (``canceled``, ``lease_lost``) or None.
    One UPDATE ... RETURNING in the common case: cheap enough to run every few
    seconds for every job in flight.
    """

    async def work(session: AsyncSession) -> LeaseEnd | None:
        renewed = await session.execute(
            update(Job)
            .where(
                Job.id == job_id,
                Job.status == "running",
                Job.worker_id == runtime.worker_id,
            )
            .values(lease_expires_at=lease_deadline(runtime.settings))
            .returning(Job.cancel_requested_at)
        )
        row = renewed.first()
        if row is None:
            return LEASE_LOST
        return CANCELED if row.cancel_requested_at is not None else None

    return await in_transaction(runtime.engine, work, write=True)


async def _heartbeat(runtime: Runtime, hold: Hold) -> None:
    """Renew until the work ends or must stop; a failed renewal is retried next beat."""
    interval = runtime.settings.job_heartbeat_seconds
    while True:
        await anyio.sleep(interval)
        try:
            # Shielded: the work ending meanwhile cancels this task, but not mid-renewal
            # (a cancelled transaction may leave its pooled connection to be closed while
            # cancelled, which asyncpg cannot do cleanly); the cancel lands at the sleep.
            # Bounded by the lease: a renewal slower than that has lost the job anyway.
            with anyio.CancelScope(shield=True) as renewal:
                renewal.deadline = anyio.current_time() + runtime.settings.job_lease_seconds
                reason = await renew(runtime, hold.job_id)
            if renewal.cancelled_caught:
                log.warning("lease renewal of %s timed out", hold.job_id)
                continue
        except SQLAlchemyError as exc:
            # The database is unreachable for now: keep working. If the lease lapses
            # meanwhile, a sweeper takes the job and the next renewal sees it lost.
            log.warning("lease renewal of %s failed (%s)", hold.job_id, type(exc).__name__)
            continue
        except Exception as exc:  # a bug here must not take the job's work down with it
            log.error("lease renewal of %s failed\n%s", hold.job_id, redacted_traceback(exc))
            continue
        hold.renewals += 1
        if reason is not None:
            log.info("job %s stops: %s", hold.job_id, reason)
            hold.end(reason)
            return


@asynccontextmanager
async def held(runtime: Runtime, job_id: str) -> AsyncIterator[Hold]:
    """Keep ``job_id``'s lease alive around the enclosed work (see the module docstring).

    The caller has already claimed the job (status ``running``, this process's
    ``worker_id``, a fresh ``lease_deadline``). When the lease ends early the
    enclosed work is cancelled and the block exits normally with
    ``hold.reason`` set; exceptions of the work propagate unchanged.
    """
    hold = Hold(job_id)
    failure: Exception | None = None
    try:
        async with anyio.create_task_group() as heartbeat:
            with hold.work:
                heartbeat.start_soon(_heartbeat, runtime, hold)
                try:
                    yield hold
                except Exception as exc:  # re-raised below, outside the task group
                    failure = exc
                finally:
                    heartbeat.cancel_scope.cancel()
    except anyio.get_cancelled_exc_class():
        with anyio.CancelScope(shield=True), anyio.move_on_after(HAND_BACK_SECONDS):
            await hand_back(runtime, job_id)
        raise
    if failure is not None:
        raise failure


async def hand_back(runtime: Runtime, job_id: str) -> None:
    """Let the lease of a job this process stops running lapse now (the sweeper takes it)."""

    async def work(session: AsyncSession) -> None:
        await session.execute(
            update(Job)
            .where(
                Job.id == job_id,
                Job.status == "running",
                Job.worker_id == runtime.worker_id,
            )
            .values(lease_expires_at=utc_now())
        )

    try:
        await in_transaction(runtime.engine, work, write=True)
    except Exception as exc:  # the lease then lapses on its own
        log.warning("handing back the lease of %s failed (%s)", job_id, type(exc).__name__)
