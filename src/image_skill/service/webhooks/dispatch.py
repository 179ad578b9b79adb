"""Turn a job's terminal state into a webhook delivery, inside the transaction that made it so.

A delivery row is written and enqueued in the same transaction that makes the
job completed, failed or canceled: the webhook exists exactly when the outcome
it announces is committed, and a crash can lose neither. The payload is the
job's public view (no prompt: it is never stored) with its assets' ids and
URLs; it is fixed now, so every retry sends the same bytes under the same
``webhook-id``.
"""

from __future__ import annotations

import logging
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from image_skill.contract.ids import iso, new_id, utc_now
from image_skill.service.assets import repository as assets_repository
from image_skill.service.assets.schemas import AssetUrls
from image_skill.service.db.models import Asset, Job
from image_skill.service.db.webhook_models import WebhookDelivery
from image_skill.service.jobs.schemas import job_view
from image_skill.service.runtime import Runtime
from image_skill.service.webhooks import repository

log = logging.getLogger(__name__)

TERMINAL_EVENTS = {"completed": "job.completed", "failed": "job.failed", "canceled": "job.canceled"}


async def job_reached_terminal(session: AsyncSession, runtime: Runtime, job: Job) -> None:
    """Record (and enqueue) the job's webhook, if it or its organization names a URL."""
    url = job.webhook_url
    if url is None and runtime.settings.webhooks_on and job.status in TERMINAL_EVENTS:
        endpoint = await repository.endpoint(session, job.organization_id)
        url = endpoint.default_url if endpoint else None
    await send_job_webhook(session, runtime, job, url)


async def send_job_webhook(
    session: AsyncSession,
    runtime: Runtime,
    job: Job,
    url: str | None,
    assets: list[Asset] | None = None,
) -> None:
    """Record (and enqueue) the terminal ``job``'s webhook to ``url`` (nothing when None):
    ``job_reached_terminal`` once the URL is known (a job's end reads its organization's
    default with the job: ``repository.default_url_of``). ``assets`` are the job's
    outputs when the caller has them (a completion, before it writes them); else read."""
    event_type = TERMINAL_EVENTS.get(job.status)
    if event_type is None or url is None or not runtime.settings.webhooks_on:
        return
    now = utc_now()
    delivery = WebhookDelivery(
        id=new_id("msg"),
        organization_id=job.organization_id,
        job_id=job.id,
        url=url,
        event_type=event_type,
        payload={
            "type": event_type,
            "timestamp": iso(now),
            "data": {"job": await _job_data(session, runtime, job, assets)},
        },
        status="pending",
        attempts=0,
        next_attempt_at=now,
        created_at=now,
        updated_at=now,
    )
    session.add(delivery)
    await session.flush()
    if runtime.queue is None:
        # Stays pending: enqueue_pending() hands it to the queue once one runs.
        log.warning("no work queue: webhook delivery %s waits as pending", delivery.id)
        return
    await runtime.queue.enqueue_webhook(session, delivery.id, not_before=now)


async def _job_data(
    session: AsyncSession, runtime: Runtime, job: Job, assets: list[Asset] | None
) -> dict[str, Any]:
    """The job's public view; assets keep their ids and signed URLs, never a local path.

    There is no request to take an address from, so an asset's URL is sent only
    when the service knows its public address (``IMAGE_SKILL_PUBLIC_BASE_URL`` or
    ``IMAGE_SKILL_MEDIA_BASE_URL``); otherwise it is null (``assets show`` has it).
    """
    produced = assets
    if produced is None:
        produced = (await assets_repository.of_jobs(session, [job.id]))[job.id]
    data = job_view(job, produced, AssetUrls(runtime.settings, runtime.store, None))
    for asset in data["assets"]:
        asset.pop("path", None)
        if not str(asset.get("url", "")).startswith(("https://", "http://")):
            asset["url"] = None
    return data
