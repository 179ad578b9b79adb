"""The embedded CLI's queue: nothing to hand over, the request runs its own job.

In embedded mode the service lives inside one CLI process that exits when
its command does, so no work can outlive the request that made it: the
request claims and runs its job right after the admitting transaction
commits (``creative.service``). For the same reason this mode delivers no
webhooks: a delivery row stays pending, since no process of this mode would
be alive to retry it (docs/jobs.md).
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy.ext.asyncio import AsyncSession


class InlineQueue:
    """``WorkQueue`` for the embedded CLI."""

    async def enqueue_job(self, session: AsyncSession, job_id: str) -> None:
        """Nothing to do: the admitting request runs the job itself."""

    def take_slot(self) -> None:
        """None: the admitting request claims and runs its job itself."""

    async def enqueue_webhook(
        self, session: AsyncSession, delivery_id: str, *, not_before: datetime
    ) -> None:
        """Nothing to do: embedded mode has no process to deliver or retry webhooks."""
