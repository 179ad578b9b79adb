"""Step two of a create or edit: admit the job, in one transaction.

The job row is the truth of money, so the job (``queued``; ``running`` under
this process when the request runs it itself), its order (the
prompt and resolved request its executor needs), its credit reservation, the
idempotency record and the enqueue (``Runtime.queue``) are written in one
transaction, under a per-account lock, after the daily cap and balance are
checked again inside it: concurrent requests of one account cannot overdraw
it, a job exists exactly when its work is queued, and a concurrent duplicate
of an idempotent request replays the first instead of being refused for the
credits the first one holds.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Table
from sqlalchemy.exc import IntegrityError

from image_skill.contract.errors import ErrorCode, retry_later
from image_skill.contract.ids import new_id, utc_now
from image_skill.service import idempotency, telemetry
from image_skill.service.catalog.schemas import CAPABILITY_FOR_OPERATION
from image_skill.service.creative import accounting, responses
from image_skill.service.creative.order import Order
from image_skill.service.creative.plan import Plan
from image_skill.service.creative.responses import CreativeOutcome
from image_skill.service.db.engine import session_scope
from image_skill.service.db.insert_together import TableRows, insert_together
from image_skill.service.db.job_models import JobOrder
from image_skill.service.db.models import IdempotencyRecord, Job
from image_skill.service.db.rows import insert_values
from image_skill.service.identity.principal import Principal
from image_skill.service.jobs.executor import Claimed, remember_context
from image_skill.service.jobs.lease import lease_deadline
from image_skill.service.jobs.run_slot import RunSlot
from image_skill.service.runtime import Runtime


@dataclass(frozen=True)
class Admitted:
    """A job that holds its reservation and may now run."""

    job_id: str
    credits_reserved: int
    order: Order
    # Claimed for a slot of this process by the admission (jobs/run_slot.py).
    runs_here: bool = False


# The job and its order are written without a flush (insert_together).
_JOBS: Table = Job.__table__  # type: ignore[assignment]
_ORDERS: Table = JobOrder.__table__  # type: ignore[assignment]


class _KeyTaken(Exception):
    """Another request claimed the same idempotency key first."""


def credits_for(principal: Principal, plan: Plan) -> int:
    """What ``plan`` reserves for ``principal`` (the local owner is unlimited)."""
    return 0 if principal.is_local_owner else plan.price.credits_required


async def replay(
    runtime: Runtime, principal: Principal, operation: str, key: str, fingerprint: str
) -> CreativeOutcome | None:
    """The answer a key already has, or None when the key is new."""
    async with session_scope(runtime.engine, write=False) as session:
        record = await idempotency.find(session, principal.actor_id, operation, key)
        if record is None:
            return None
        if record.request_hash != fingerprint:
            raise idempotency.reused()
        telemetry.annotate(replayed=True, job_id=record.job_id)
        if record.response is not None:
            error = idempotency.stored_error(record.response)
            if error is not None:
                raise error
            return responses.replayed(record.status_code or 201, record.response)
        job = await session.get(Job, record.job_id) if record.job_id else None
    return responses.still_running(record.job_id, job.status if job else "running")


async def admit(
    runtime: Runtime, principal: Principal, plan: Plan, trace_id: str, base_url: str | None
) -> Admitted | CreativeOutcome:
    """Queue the job with its order, reservation and key; a replay when a twin got there first.

    ``base_url`` is what the job's asset links are built on (``AssetUrls.base``).
    """
    key = plan.idempotency_key
    try:
        admitted = await _write(runtime, principal, plan, trace_id, base_url)
    except _KeyTaken:
        replayed = await replay(runtime, principal, plan.operation, key or "", plan.fingerprint)
        if replayed is None:
            raise retry_later(
                ErrorCode.CONFLICT,
                "A concurrent request with this idempotency key just failed; retry it.",
                seconds=1,
            ) from None
        return replayed
    telemetry.annotate(job_id=admitted.job_id)
    return admitted


def new_job(plan: Plan, principal: Principal, trace_id: str, now: datetime, **state: Any) -> Job:
    """The job row a plan makes for ``principal``; ``state`` sets its status and the rest."""
    return Job(
        id=new_id("job"),
        organization_id=principal.organization_id,
        actor_id=principal.actor_id,
        operation=plan.operation,
        capability_id=CAPABILITY_FOR_OPERATION[plan.operation],
        model_id=plan.model_id,
        provider=plan.provider,
        intent=plan.intent,
        parameters=plan.parameters,
        input_asset_id=plan.input_asset.id if plan.input_asset else None,
        trace_id=trace_id,
        credits_debited=0,
        estimated_usd=plan.price.estimated_provider_cost_usd,
        pricing_confidence=plan.price.confidence,
        safety_status="allowed",
        attempts=0,
        created_at=now,
        updated_at=now,
        **state,
    )


async def _write(
    runtime: Runtime, principal: Principal, plan: Plan, trace_id: str, base_url: str | None
) -> Admitted:
    if runtime.queue is None:
        raise RuntimeError("Runtime.queue must be set before jobs are admitted")
    now = utc_now()
    credits = credits_for(principal, plan)
    settings = runtime.settings
    job = new_job(
        plan,
        principal,
        trace_id,
        now,
        status="queued",
        credits_reserved=credits,
        webhook_url=plan.webhook_url,
        queued_at=now,
    )
    inline = settings.resolved_job_executor == "inline"
    # The request runs its own job (inline), or a slot of this process is free for it
    # (jobs.run_slot): claim it in the admitting transaction, so a crash leaves a
    # leased running job (the sweeper's), never a stranded queued one.
    slot = None if inline else runtime.queue.take_slot()
    if inline or slot is not None:
        job.status = "running"
        job.worker_id = runtime.worker_id
        job.started_at = now
        job.attempts = 1
        job.lease_expires_at = lease_deadline(settings, now)
    order = Order.of(plan, job.id, trace_id, base_url)
    try:
        await _commit_admission(runtime, principal, plan, job, order, slot)
    finally:
        if slot is not None:
            slot.free_unless_started()
    return Admitted(job.id, credits, order, runs_here=slot is not None)


async def _commit_admission(
    runtime: Runtime,
    principal: Principal,
    plan: Plan,
    job: Job,
    order: Order,
    slot: RunSlot | None,
) -> None:
    """The admitting transaction: the checks again, then the job, order, reservation, key."""
    queue, settings, key = runtime.queue, runtime.settings, plan.idempotency_key
    now, credits = job.created_at, job.credits_reserved
    assert queue is not None  # checked by _write
    # Not the request's own job (inline): it runs in the admitting request's context.
    runs_elsewhere = slot is not None or job.status == "queued"
    # Admissions of one account queue here, in the process, before taking a pooled
    # connection: a burst for one agent can no longer starve other requests.
    async with runtime.account_lock(principal.actor_id):
        try:
            async with session_scope(runtime.engine, write=True) as session:
                used, balance = await accounting.lock_for_admission(session, principal)
                # A concurrent duplicate may have claimed the key while we waited for the
                # lock; it must replay, not be refused for the credits the first one holds.
                if key and await idempotency.find(session, principal.actor_id, plan.operation, key):
                    raise _KeyTaken
                refusal = accounting.admission_refusal(settings, principal, credits, used, balance)
                if refusal is not None:
                    raise refusal
                order_row = JobOrder(job_id=job.id, payload=order.payload(), created_at=now)
                # The job, its order and the reservation: one statement (insert_together).
                writes = [
                    TableRows(_JOBS, [insert_values(job)]),
                    TableRows(_ORDERS, [insert_values(order_row)]),
                ]
                await accounting.reserve(session, principal, job.id, credits, into=writes)
                await insert_together(session, writes)
                if key:
                    session.add(
                        IdempotencyRecord(
                            id=new_id("idem"),
                            actor_id=principal.actor_id,
                            scope=plan.operation,
                            key=key,
                            request_hash=plan.fingerprint,
                            job_id=job.id,
                            created_at=now,
                        )
                    )
                    await session.flush()
                if slot is not None:
                    slot.start_on_commit(session, Claimed(order, principal))
                else:
                    await queue.enqueue_job(session, job.id)
                if runs_elsewhere:
                    remember_context(session, job.id)
        except IntegrityError as exc:
            if key:
                raise _KeyTaken from exc
            raise
