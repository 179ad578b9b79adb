"""An execution slot taken before an admission commits: the job is claimed by its admission.

When the process that admits a job has a free slot for it, the admitting
transaction writes the job already ``running`` under this process, with its
lease, and the commit hands the job straight to the runner holding the slot:
no separate claiming transaction (a read of the job, its order and its actor,
and an update) per create. A crash between the commit and the run leaves a
leased running job, which the sweeper resolves when the lease lapses, as for a
crash in the middle of the run. When no slot is free the job is queued and
claimed by whoever runs it (``executor.claim``).
"""

from __future__ import annotations

from collections.abc import Callable
from functools import partial

from sqlalchemy.ext.asyncio import AsyncSession

from image_skill.service.jobs.after_commit import on_commit
from image_skill.service.jobs.executor import Claimed


class RunSlot:
    """One slot of a runner, held for a job being admitted; freed unless the job starts."""

    def __init__(self, start: Callable[[Claimed], None], free: Callable[[], None]) -> None:
        self._start = start
        self._free = free
        self._settled = False

    def start_on_commit(self, session: AsyncSession, claimed: Claimed) -> None:
        """Once ``session`` commits, run ``claimed`` in this slot (the runner frees it)."""
        on_commit(session, partial(self._started, claimed))

    def free_unless_started(self) -> None:
        """Give the slot back when the admission did not commit (refused, failed, raced)."""
        if not self._settled:
            self._settled = True
            self._free()

    def _started(self, claimed: Claimed) -> None:
        self._settled = True
        self._start(claimed)
