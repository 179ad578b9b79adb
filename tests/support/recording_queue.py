"""A ``WorkQueue`` that runs jobs through the app's own queue but only records webhooks.

Webhook retries wait 30 s and more, so tests hold the deliveries here and run
each attempt themselves (``webhooks.delivery.deliver``) when they choose.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

from sqlalchemy.ext.asyncio import AsyncSession

from image_skill.service.jobs.queue import WorkQueue
from image_skill.service.jobs.run_slot import RunSlot


@dataclass
class RecordingQueue:
    """Jobs go to ``inner``; webhook enqueues are kept as (delivery id, not before)."""

    inner: WorkQueue | None
    webhooks: list[tuple[str, datetime]] = field(default_factory=list)

    async def enqueue_job(self, session: AsyncSession, job_id: str) -> None:
        """Hand the job to the app's real queue."""
        assert self.inner is not None, "the app has no queue to run jobs"
        await self.inner.enqueue_job(session, job_id)

    def take_slot(self) -> RunSlot | None:
        """The app's real queue's slot, if it has one free."""
        assert self.inner is not None, "the app has no queue to run jobs"
        return self.inner.take_slot()

    async def enqueue_webhook(
        self, session: AsyncSession, delivery_id: str, *, not_before: datetime
    ) -> None:
        """Record the delivery (committed or not: tests read the rows for that)."""
        self.webhooks.append((delivery_id, not_before))
