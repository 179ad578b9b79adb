"""The work queue contract: what admission and webhooks hand to whatever runs jobs.

The job row is the truth of money; the queue only carries work. Both methods
are called inside the caller's transaction, so the work exists exactly when
the rows that describe it are committed: a queue backed by the same database
(PostgreSQL) enqueues in that transaction; an in-process queue starts the work
only after the commit. Implementations: a PostgreSQL queue for worker
processes, an in-process runner for a single SQLite server, and inline
execution for the embedded CLI.
"""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING, Protocol

from sqlalchemy.ext.asyncio import AsyncSession

if TYPE_CHECKING:
    from image_skill.service.jobs.run_slot import RunSlot


class WorkQueue(Protocol):
    """Where admitted jobs and due webhook deliveries go to be run."""

    async def enqueue_job(self, session: AsyncSession, job_id: str) -> None:
        """Run the queued job ``job_id`` once ``session``'s transaction commits."""
        ...

    def take_slot(self) -> RunSlot | None:
        """A slot to run a job being admitted now, claimed by its admission (None: queue it)."""
        ...

    async def enqueue_webhook(
        self, session: AsyncSession, delivery_id: str, *, not_before: datetime
    ) -> None:
        """Attempt delivery ``delivery_id`` at ``not_before`` or later, once committed."""
        ...
