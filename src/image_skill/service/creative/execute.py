"""Step three of a create or edit: provider -> store -> settle, or fail -> release.

Execution starts from an admitted job and plain data (an ``Order``), never
from the HTTP request, so whatever runs it (this request, or a worker) does
the same thing. The provider runs outside any transaction; the debit happens
only after the assets are stored, in the same transaction that records them
and the idempotent answer. Every failure after admission goes through
``fail_job``, which fails the job and releases its reservation at once. The
provider's request id gets a transaction of its own only where a re-queued job
can resume that request (``Model.supports_resume``); otherwise it is written
with the job's end, so completing a job is one write transaction.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Callable
from contextlib import AbstractAsyncContextManager, nullcontext
from dataclasses import dataclass
from typing import Any

import anyio
from sqlalchemy import Table, bindparam, func, update
from sqlalchemy.ext.asyncio import AsyncSession

from image_skill.contract.errors import ErrorCode, ImageSkillError, retry_later
from image_skill.contract.ids import new_id, utc_now
from image_skill.providers.base import GeneratedImage, GenerationRequest, Model
from image_skill.service import idempotency, telemetry
from image_skill.service.activity import creative_events
from image_skill.service.assets.schemas import AssetUrls
from image_skill.service.creative import accounting
from image_skill.service.creative.answer import completed_answer, hand_over
from image_skill.service.creative.order import Order
from image_skill.service.creative.outputs import store_output
from image_skill.service.creative.responses import CreativeOutcome
from image_skill.service.db.engine import in_transaction
from image_skill.service.db.insert_together import TableRows, insert_together
from image_skill.service.db.models import Asset, Job
from image_skill.service.db.rows import insert_values
from image_skill.service.identity.principal import Principal
from image_skill.service.jobs.waiter import announce_terminal
from image_skill.service.outcome import Outcome
from image_skill.service.quota.repository import (
    QUOTA_ACTOR,
    QUOTA_DAY,
    day_key,
    jobs_today_and_balance_columns,
)
from image_skill.service.redacted_traceback import redacted_traceback
from image_skill.service.runtime import Runtime
from image_skill.service.storage.base import StoreError
from image_skill.service.storage.spool import spool_outputs
from image_skill.service.webhooks.dispatch import job_reached_terminal, send_job_webhook
from image_skill.service.webhooks.repository import default_url_of

log = logging.getLogger("image_skill.creative")

# While the provider runs, the request may lend out what it holds (its admission place).
Lend = Callable[[], AbstractAsyncContextManager[None]]


class _JobFailed(Exception):
    """A step failed after admission: the job must fail and release its credits."""

    def __init__(self, error: ImageSkillError, spool_ref: str | None = None) -> None:
        super().__init__(error.message)
        self.error = error
        self.spool_ref = spool_ref


@dataclass
class _ProviderRequest:
    """The provider's id for this job's request: written at once where a resume needs it
    (``durable``), else kept for the transaction that ends the job."""

    runtime: Runtime
    job_id: str
    durable: bool
    request_id: str | None = None

    async def record(self, provider_request_id: str) -> None:
        """Keep the id; commit it now when a re-queued job must be able to resume it."""
        self.request_id = provider_request_id[:200]
        if not self.durable:
            return
        request_id = self.request_id

        async def work(session: AsyncSession) -> None:
            row = await session.get(Job, self.job_id)
            if row is not None:
                row.provider_request_id = request_id

        await in_transaction(self.runtime.engine, work, write=True)


async def execute(
    runtime: Runtime,
    order: Order,
    principal: Principal,
    urls: AssetUrls,
    lend: Lend = nullcontext,
) -> CreativeOutcome:
    """Run an admitted job to its end: the finished job, or its error raised."""
    model = runtime.models.get(order.model_id)
    provider = _ProviderRequest(
        runtime, order.job_id, durable=bool(model and model.supports_resume)
    )
    try:
        if model is None:  # a worker built without the admitting process's plugins
            raise _JobFailed(
                ImageSkillError(
                    ErrorCode.MODEL_NOT_FOUND,
                    f"The process that ran this job has no model '{order.model_id}'; "
                    "no credits were spent.",
                    retryable=True,
                )
            )
        async with lend():
            images = await _generate(runtime, model, order, provider)
        assets = await _store(runtime, order, principal, images)
        data = await _settle(runtime, order, principal, assets, urls, provider.request_id)
    except _JobFailed as failed:
        await fail_job(
            runtime,
            order,
            failed.error,
            spool_ref=failed.spool_ref,
            provider_request_id=provider.request_id,
        )
        raise failed.error from failed.__cause__
    telemetry.job_finished(order.operation, "completed", outputs=len(assets))
    return Outcome(data, status_code=201)


async def fail_job(
    runtime: Runtime,
    order: Order,
    error: ImageSkillError,
    *,
    spool_ref: str | None = None,
    provider_request_id: str | None = None,
) -> None:
    """Mark the job failed and release its reservation, in one (retried) transaction."""
    key = order.idempotency_key

    async def work(session: AsyncSession) -> None:
        now = utc_now()
        row = await session.get(Job, order.job_id, with_for_update=True)
        if row is None or row.status != "running" or row.worker_id != runtime.worker_id:
            return  # already resolved (crash recovery, cancel) or handed to another executor
        row.status = "failed"
        row.error_code = error.code
        row.error_message = error.message[:500]
        row.error_details = error.to_error()
        row.spool_ref = spool_ref
        if provider_request_id:
            row.provider_request_id = provider_request_id
        row.completed_at = now
        row.updated_at = now
        await creative_events.job_failed(session, row)
        if error.code == ErrorCode.CONTENT_POLICY_DENIED:
            row.safety_status = "denied"
        await accounting.release(
            session, row.actor_id, row.organization_id, row.id, row.credits_reserved
        )
        if key:
            if error.retryable:
                await idempotency.forget(session, row.actor_id, row.operation, key)
            else:
                record = await idempotency.find(session, row.actor_id, row.operation, key)
                if record is not None:
                    record.response = {"error": error.to_error()}
                    record.status_code = error.http_status
        announce_terminal(session, row)
        await job_reached_terminal(session, runtime, row)
        _hand_over(runtime, session, row.id, None)

    await in_transaction(runtime.engine, work, write=True)
    telemetry.job_finished(order.operation, "failed")


def _hand_over(
    runtime: Runtime, session: AsyncSession, job_id: str, answer: dict[str, Any] | None
) -> None:
    """Tell the request waiting on ``job_id`` in this process how it ended, on commit
    (not the embedded CLI's request: it ran the job itself and has the outcome)."""
    if runtime.settings.resolved_job_executor != "inline":
        hand_over(session, job_id, answer)


async def _generate(
    runtime: Runtime, model: Model, order: Order, provider: _ProviderRequest
) -> list[GeneratedImage]:
    request = GenerationRequest(
        operation=order.operation,
        prompt=order.prompt,
        parameters=order.parameters,
        width=None,
        height=None,
        aspect_ratio=order.aspect_ratio,
        output_format=order.output_format,
        input_images=order.input_images,
        job_id=order.job_id,
        record_provider_request=provider.record,
    )
    limiter = await _provider_slot(runtime, model)
    try:
        return await _call_provider(runtime, model, request, order)
    finally:
        limiter.release()


async def _provider_slot(runtime: Runtime, model: Model) -> anyio.CapacityLimiter:
    """Wait for one of the provider's slots (``provider_concurrency``).

    The wait is bounded by ``provider_queue_timeout_seconds`` and does not
    count toward ``provider_timeout_seconds``, which starts only once the
    call does. No database session is held while waiting: the job was
    admitted (and its credits reserved) in a transaction already committed.
    When no slot frees up in time the job fails with a retryable
    PROVIDER_UNAVAILABLE and its reservation is released.
    """
    wait = runtime.settings.provider_queue_timeout_seconds
    limiter = runtime.provider_limiter(model.provider)
    try:
        with anyio.fail_after(wait):
            await limiter.acquire()
    except TimeoutError:
        raise _JobFailed(
            ImageSkillError(
                ErrorCode.PROVIDER_UNAVAILABLE,
                f"Provider '{model.provider}' is busy: no slot freed up within {wait:g} s; "
                "no credits were spent.",
                retryable=True,
                details={
                    "provider": model.provider,
                    "concurrency_limit": int(limiter.total_tokens),
                    "queue_timeout_seconds": wait,
                },
                recovery={"retry_after_seconds": max(1, min(30, math.ceil(wait)))},
            )
        ) from None
    return limiter


async def _call_provider(
    runtime: Runtime, model: Model, request: GenerationRequest, order: Order
) -> list[GeneratedImage]:
    trace_id = order.trace_id
    # A job re-queued after its executor died mid-call resumes the provider request
    # it already submitted (where the provider can), so it is never submitted twice.
    resume_id = order.provider_request_id if model.supports_resume else None
    try:
        with (
            anyio.fail_after(runtime.settings.provider_timeout_seconds),
            telemetry.provider_call(model.model_id),
        ):
            if resume_id is not None:
                images = await model.resume(resume_id, request)
            else:
                images = await model.generate(request)
    except TimeoutError:
        raise _JobFailed(
            ImageSkillError(
                ErrorCode.PROVIDER_TIMEOUT, "The model did not answer in time.", retryable=True
            )
        ) from None
    except ImageSkillError as refused:
        raise _JobFailed(refused) from refused.__cause__
    except Exception as exc:
        log.error(
            "provider %s crashed (%s)\n%s",
            model.model_id,
            trace_id,
            redacted_traceback(exc),
            extra={"trace_id": trace_id},
        )
        raise _JobFailed(
            ImageSkillError(
                ErrorCode.PROVIDER_FAILED, "The model failed to produce an image.", retryable=True
            )
        ) from exc
    if not images:
        raise _JobFailed(
            ImageSkillError(
                ErrorCode.PROVIDER_FAILED, "The model returned no image.", retryable=True
            )
        )
    return images


async def _store(
    runtime: Runtime, order: Order, principal: Principal, images: list[GeneratedImage]
) -> list[Asset]:
    owner = Job(
        id=order.job_id,
        organization_id=principal.organization_id,
        actor_id=principal.actor_id,
        operation=order.operation,
    )
    assets = []
    try:
        for image in images:
            assets.append(await store_output(runtime.store, owner, image))
    except StoreError:
        spool = await anyio.to_thread.run_sync(
            spool_outputs, runtime.settings.home / "spool", order.job_id, images
        )
        raise _JobFailed(
            ImageSkillError(
                ErrorCode.ARTIFACT_STORAGE_WRITE_FAILED,
                "The image was generated but could not be stored. Do not retry blindly: "
                "the job keeps the output for repair.",
                retryable=False,
                recovery={"suggested_command": f"image-skill jobs show {order.job_id} --json"},
            ),
            spool_ref=spool,
        ) from None
    return assets


async def _settle(
    runtime: Runtime,
    order: Order,
    principal: Principal,
    assets: list[Asset],
    urls: AssetUrls,
    provider_request_id: str | None,
) -> dict[str, Any]:
    """Record assets, settle credits and store the idempotent answer, all at once."""

    async def work(session: AsyncSession) -> dict[str, Any]:
        now = utc_now()
        # One statement ends the job, if it is still this executor's running job, and
        # returns it with its organization's webhook URL and the quota the answer reports.
        completed = await session.execute(
            _COMPLETE_JOB,
            {
                "job_id": order.job_id,
                "executor": runtime.worker_id,
                "request_id": provider_request_id or None,
                "usage_event_id": new_id("usage"),
                "now": now,
                QUOTA_ACTOR: principal.actor_id,
                QUOTA_DAY: day_key(now),
            },
        )
        record = dict(completed.mappings().one_or_none() or {})
        if not record:
            raise ImageSkillError(
                ErrorCode.JOB_INTERRUPTED,
                "The job was resolved by crash recovery before it could finish; "
                "no credits were spent.",
            )
        organization_webhook = record.pop(_ORGANIZATION_WEBHOOK)
        # The balance before this job's settlement, which moves no credits in total
        # (accounting.settle): the balance after it as well.
        quota = (int(record.pop(_USED_TODAY) or 0), int(record.pop(_BALANCE) or 0))
        # A copy outside the session, as the job is once this transaction commits: what
        # the events, the webhook and the answer read.
        row = Job(**record)
        # The assets, the events and the settlement: one statement (insert_together),
        # the transaction's last, for the settlement locks the account's running balance
        # (the ledger's trigger) until the commit, holding up its other jobs' ends.
        writes = [TableRows(_ASSETS, [insert_values(asset) for asset in assets])]
        await creative_events.job_succeeded(session, row, assets, into=writes)
        await accounting.settle(session, principal, row.id, row.credits_reserved, into=writes)
        announce_terminal(session, row)
        webhook = row.webhook_url or organization_webhook
        await send_job_webhook(session, runtime, row, webhook, assets)
        data = await completed_answer(
            session,
            runtime.settings,
            order,
            principal,
            row,
            assets,
            urls,
            quota=quota,
        )
        _hand_over(runtime, session, row.id, data)
        if order.idempotency_key:
            record_of_key = await idempotency.find(
                session, row.actor_id, row.operation, order.idempotency_key
            )
            if record_of_key is not None:
                record_of_key.response = data
                record_of_key.status_code = 201
        await insert_together(session, writes)
        return data

    try:
        return await in_transaction(runtime.engine, work, write=True)
    except ImageSkillError:
        raise
    except Exception as exc:
        log.error(
            "settling a job failed (%s)\n%s",
            order.trace_id,
            redacted_traceback(exc),
            extra={"trace_id": order.trace_id},
        )
        raise _JobFailed(
            retry_later(
                ErrorCode.SERVICE_UNAVAILABLE,
                "The image was made but the job could not be recorded; no credits were spent.",
                seconds=2,
            )
        ) from exc


# Built once: the completing transaction's statements, on the tables themselves (no
# unit of work tracks the job: it costs more than the one UPDATE it would send).
_JOBS: Table = Job.__table__  # type: ignore[assignment]
_ASSETS: Table = Asset.__table__  # type: ignore[assignment]
# The completion: the job ends only if it is still this executor's running job (crash
# recovery or a cancel may have ended it), and the statement returns it, as it now is,
# with its organization's default webhook URL and the actor's quota (jobs today,
# balance): one statement where a locked read, an UPDATE and two reads were.
_ORGANIZATION_WEBHOOK, _USED_TODAY, _BALANCE = "organization_webhook_url", "used_today", "balance"
_COMPLETE_JOB = (
    update(_JOBS)
    .where(
        _JOBS.c.id == bindparam("job_id", type_=_JOBS.c.id.type),
        _JOBS.c.status == "running",
        _JOBS.c.worker_id == bindparam("executor", type_=_JOBS.c.worker_id.type),
    )
    .values(
        status="completed",
        provider_request_id=func.coalesce(
            bindparam("request_id", type_=_JOBS.c.provider_request_id.type),
            _JOBS.c.provider_request_id,
        ),
        usage_event_id=bindparam("usage_event_id", type_=_JOBS.c.usage_event_id.type),
        credits_debited=_JOBS.c.credits_reserved,
        completed_at=bindparam("now", type_=_JOBS.c.completed_at.type),
        updated_at=bindparam("now", type_=_JOBS.c.updated_at.type),
    )
    .returning(
        *_JOBS.columns,
        default_url_of(_JOBS.c.organization_id).label(_ORGANIZATION_WEBHOOK),
        *(
            column.label(name)
            for column, name in zip(
                jobs_today_and_balance_columns(), (_USED_TODAY, _BALANCE), strict=True
            )
        ),
    )
)
