"""Running one admitted job: the entry point every executor shares.

A worker process and the SQLite server's task group run a job the same way
(``run_job``): claim it (``queued`` -> ``running`` under a row lock, so
exactly one executor wins however many were handed the id), rebuild its
order from ``job_orders`` and the input bytes from the asset store, then
execute it (``run_claimed``) while ``lease.held`` renews the lease and
watches for cancel. The embedded CLI's request, whose admission already
claimed the job, calls ``run_claimed`` directly. Whatever the outcome, it is
recorded on the job row; nothing here answers a request.
"""

from __future__ import annotations

import asyncio
import contextvars
import logging
from collections import OrderedDict
from collections.abc import Coroutine
from contextlib import nullcontext
from dataclasses import dataclass
from functools import cache, partial
from typing import Any

from sqlalchemy import Select, bindparam, select
from sqlalchemy.ext.asyncio import AsyncSession

from image_skill.contract.errors import ErrorCode, ImageSkillError
from image_skill.contract.ids import utc_now
from image_skill.service.assets import repository as assets_repository
from image_skill.service.assets.schemas import AssetUrls
from image_skill.service.creative.execute import Lend, execute, fail_job
from image_skill.service.creative.order import Order
from image_skill.service.creative.responses import CreativeOutcome
from image_skill.service.db.engine import in_transaction, session_scope
from image_skill.service.db.job_models import JobOrder
from image_skill.service.db.models import Actor, Job
from image_skill.service.identity.principal import Principal
from image_skill.service.identity.service import actor_principal
from image_skill.service.jobs import cancel, lease
from image_skill.service.jobs.after_commit import on_commit
from image_skill.service.jobs.recovery import end_unfinished, interrupted_error
from image_skill.service.jobs.waiter import ending_here
from image_skill.service.redacted_traceback import redacted_traceback
from image_skill.service.runtime import Runtime
from image_skill.service.storage.base import StoreError

log = logging.getLogger("image_skill.jobs.executor")

EXECUTOR_TOKEN_CLASS = "job_executor"
MAX_CONTEXTS = 10_000

# Admitting requests' contexts by job id (``remember_context``), oldest first.
_contexts: OrderedDict[str, contextvars.Context] = OrderedDict()


@dataclass(frozen=True)
class Claimed:
    """A job this process now runs: its order and the account it runs for."""

    order: Order
    principal: Principal


def remember_context(session: AsyncSession, job_id: str) -> None:
    """Once ``session`` commits, keep the admitting request's context for ``job_id``.

    When this same process runs the job, it runs in that context, so the job's
    telemetry (metrics, the provider span, the call's event) belongs to the request
    that admitted it, as when requests ran their own jobs. Jobs run by another
    process leave their entry behind; the oldest are dropped past ``MAX_CONTEXTS``.
    """
    on_commit(session, partial(_keep_context, job_id, contextvars.copy_context()))


def _keep_context(job_id: str, context: contextvars.Context) -> None:
    _contexts[job_id] = context
    while len(_contexts) > MAX_CONTEXTS:
        _contexts.popitem(last=False)


async def run_job(runtime: Runtime, job_id: str) -> None:
    """Run ``job_id`` here if it is still queued; its outcome lands on the job row."""
    await _in_admitting_context(job_id, _claim_and_run(runtime, job_id))


async def run_admitted(runtime: Runtime, claimed: Claimed) -> None:
    """Run a job its admission already claimed for this process (``jobs.run_slot``)."""
    await _in_admitting_context(claimed.order.job_id, _run_claimed_job(runtime, claimed))


async def _in_admitting_context(job_id: str, work: Coroutine[Any, Any, None]) -> None:
    context = _contexts.pop(job_id, None)
    if context is None:
        await work
        return
    # Cancelling this await cancels the task too (asyncio cancels what it waits on).
    await asyncio.get_running_loop().create_task(work, context=context)


async def _claim_and_run(runtime: Runtime, job_id: str) -> None:
    claimed = await claim(runtime, job_id)
    if claimed is not None:
        await _run_claimed_job(runtime, claimed)


async def _run_claimed_job(runtime: Runtime, claimed: Claimed) -> None:
    job_id = claimed.order.job_id
    try:
        order = await _with_input(runtime, claimed)
        urls = AssetUrls(runtime.settings, runtime.store, order.base_url)
        await run_claimed(runtime, order, claimed.principal, urls)
    except ImageSkillError:
        return  # recorded on the job by execute
    except Exception as exc:
        # A bug or a lost database: the lease lapses and a sweeper resolves the job.
        log.error(
            "running job %s crashed (%s)\n%s",
            job_id,
            claimed.order.trace_id,
            redacted_traceback(exc),
            extra={"trace_id": claimed.order.trace_id},
        )


async def run_claimed(
    runtime: Runtime, order: Order, principal: Principal, urls: AssetUrls, lend: Lend = nullcontext
) -> CreativeOutcome | None:
    """Execute a job this process claimed; None when a cancel or a lost lease cut it short."""
    outcome: CreativeOutcome | None = None
    with ending_here(order.job_id):
        async with lease.held(runtime, order.job_id) as hold:
            outcome = await execute(runtime, order, principal, urls, lend=lend)
        if hold.reason == lease.CANCELED:
            await cancel.finish_canceled(runtime, order.job_id)
    return outcome if hold.reason is None else None


async def claim(runtime: Runtime, job_id: str) -> Claimed | None:
    """Take a queued job for this process (None: gone, or another executor has it)."""

    async def work(session: AsyncSession) -> Claimed | None:
        found = (await session.execute(_claimable(), {"job_id": job_id})).first()
        if found is None or found[0].status != "queued":
            return None
        row, record, actor = found
        stored = Order.from_payload(job_id, record.payload) if record else None
        if stored is None or actor is None:
            await end_unfinished(session, runtime, row, _order_lost_error(job_id), status="failed")
            log.error("job %s was queued without its order; failed", job_id)
            return None
        now = utc_now()
        row.status = "running"
        row.worker_id = runtime.worker_id
        row.started_at = now
        row.updated_at = now
        row.attempts = (row.attempts or 0) + 1
        row.lease_expires_at = lease.lease_deadline(runtime.settings, now)
        return Claimed(stored.resuming(row.provider_request_id), _principal_of(actor, row))

    return await in_transaction(runtime.engine, work, write=True)


@cache
def _claimable() -> Select[tuple[Job, JobOrder, Actor]]:
    """The job (row-locked), its order and its actor in one round trip; built once."""
    return (
        select(Job, JobOrder, Actor)
        .outerjoin(JobOrder, JobOrder.job_id == Job.id)
        .outerjoin(Actor, Actor.id == Job.actor_id)
        .where(Job.id == bindparam("job_id", type_=Job.id.type))
        .with_for_update(of=Job)
    )


def _principal_of(actor: Actor, job: Job) -> Principal:
    """The account a job runs for, as its admission saw it (the owner reserves nothing)."""
    return actor_principal(
        actor,
        EXECUTOR_TOKEN_CLASS,
        organization_id=job.organization_id,
        is_local_owner=actor.is_local_owner and job.credits_reserved == 0,
    )


def _order_lost_error(job_id: str) -> ImageSkillError:
    """JOB_INTERRUPTED for a queued job whose order is gone (it can never run)."""
    return interrupted_error(
        job_id, "The job's request was lost before it could run; no credits were spent."
    )


async def _with_input(runtime: Runtime, claimed: Claimed) -> Order:
    """The order with its input image's bytes read back from the store (edits only)."""
    order = claimed.order
    if order.input_asset_id is None or order.input_images:
        return order
    organization_id = claimed.principal.organization_id
    async with session_scope(runtime.engine, write=False) as session:
        asset = await assets_repository.owned(session, organization_id, order.input_asset_id)
    try:
        if asset is None:
            raise StoreError("input asset row is gone")
        return order.with_input(await runtime.store.get(asset.storage_key))
    except StoreError:
        error = ImageSkillError(
            ErrorCode.ASSET_DOWNLOAD_FAILED,
            "The input asset's bytes are unavailable; no credits were spent.",
            retryable=True,
        )
        await fail_job(runtime, order, error)
        raise error from None
