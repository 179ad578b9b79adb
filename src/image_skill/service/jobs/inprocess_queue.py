"""Jobs run in the server's own task group: SQLite's queue, and PostgreSQL's fast path.

SQLite has one writer and no queue library, and a single server process is
the whole deployment, so the process runs its jobs itself: ``enqueue_job``
starts a job once the admitting transaction commits, at most
``worker_concurrency`` at once, in admission order. The job row stays the
truth: at start-up every job still ``queued`` (its process stopped before
running it) is picked up again, and on shutdown the queue stops taking new
jobs and lets running ones finish for a grace period; what is cut short is
left to the lease sweeper.

On PostgreSQL the same runner is the admitting process's fast path
(``pg_queue.PgQueue``): a job this process admits while it ``has_room`` runs
here with no queue row, and the queue's own tasks in this process take their
slot from the same ``slots`` (``run_queued``), so the process never runs more
than ``worker_concurrency`` jobs at once whichever way they came. It does not
pick up leftovers at start-up there: other processes' queued jobs are theirs
or the queue's, and a job this process dropped is re-queued by
``pg_queue.requeue_orphans``.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from datetime import datetime
from functools import partial

import anyio
from anyio.abc import TaskStatus
from sqlalchemy.ext.asyncio import AsyncSession

from image_skill.contract.ids import utc_now
from image_skill.service.db.engine import session_scope
from image_skill.service.jobs import repository
from image_skill.service.jobs.after_commit import on_commit
from image_skill.service.jobs.executor import Claimed, run_admitted, run_job
from image_skill.service.jobs.run_slot import RunSlot
from image_skill.service.runtime import Runtime

log = logging.getLogger("image_skill.jobs.inprocess")

# Delivers one webhook delivery (the webhook module's entry point).
WebhookRunner = Callable[[Runtime, str], Awaitable[None]]
LEFTOVER_LIMIT = 100_000


class InprocessQueue:
    """``WorkQueue`` that runs jobs in this process (see the module docstring)."""

    def __init__(
        self,
        runtime: Runtime,
        webhook_runner: WebhookRunner | None = None,
        *,
        pick_up_leftovers: bool = True,
    ) -> None:
        self.runtime = runtime
        self.webhook_runner = webhook_runner
        self.pick_up_leftovers = pick_up_leftovers
        # The process's execution slots, shared with the queue's tasks on PostgreSQL.
        self.slots = anyio.Semaphore(runtime.settings.worker_concurrency)
        self._loop: asyncio.AbstractEventLoop | None = None
        # Job ids to claim and run, each once a slot is free.
        self._jobs: asyncio.Queue[str] | None = None
        # Jobs their admission claimed, each with its slot already held: started at
        # once, never behind a queued job waiting for a slot (which could be theirs).
        self._claimed: asyncio.Queue[Claimed] | None = None
        # Deliveries to start: filled from commit hooks, emptied by a task of serve().
        self._webhooks: asyncio.Queue[tuple[str, datetime]] | None = None
        self._accepting = False
        self._running = 0
        self._idle = asyncio.Event()

    async def enqueue_job(self, session: AsyncSession, job_id: str) -> None:
        """Start ``job_id`` in this process once ``session`` commits."""
        on_commit(session, partial(self._submit, job_id))

    async def enqueue_webhook(
        self, session: AsyncSession, delivery_id: str, *, not_before: datetime
    ) -> None:
        """Attempt delivery ``delivery_id`` at ``not_before`` once ``session`` commits."""
        on_commit(session, partial(self._submit_webhook, delivery_id, not_before))

    def take_slot(self) -> RunSlot | None:
        """A slot for a job being admitted now, so its admission claims it (``run_slot``)."""
        if not self.has_room():
            return None
        self.slots.acquire_nowait()  # has_room: a slot is free and no one waits for it
        return RunSlot(self._submit_claimed, self.slots.release)

    def has_room(self) -> bool:
        """Whether a job enqueued now would start at once: accepting, a slot free, none waiting.

        Read inside an admitting transaction, before its commit: admissions that
        commit together may overshoot by a few jobs, which then wait here for a slot
        (a wait past the orphan grace is handed to the queue, ``pg_queue``).
        """
        if not self._accepting or self._jobs is None:
            return False
        waiting = self._jobs.qsize() + self.slots.statistics().tasks_waiting
        return self.slots.value > waiting

    async def run_queued(self, job_id: str) -> None:
        """Run a job the queue handed to this process, in one of the shared slots."""
        async with self.slots:
            await run_job(self.runtime, job_id)

    async def serve(self, *, task_status: TaskStatus[None] = anyio.TASK_STATUS_IGNORED) -> None:
        """Run jobs until cancelled: the ones left queued first, then each one enqueued."""
        self._loop = asyncio.get_running_loop()
        self._jobs = asyncio.Queue()
        self._claimed = asyncio.Queue()
        self._webhooks = asyncio.Queue()
        async with anyio.create_task_group() as tasks:
            tasks.start_soon(self._start_deliveries, tasks)
            tasks.start_soon(self._start_claimed, tasks)
            self._accepting = True
            if self.pick_up_leftovers:
                for job_id in await self._leftovers():
                    self._jobs.put_nowait(job_id)
            task_status.started()
            while True:
                job_id = await self._jobs.get()
                await self.slots.acquire()
                if not self._accepting:
                    self.slots.release()  # stopping: it stays queued for the next start
                    continue
                self._start(tasks, job_id)

    async def drain(self, grace_seconds: float) -> None:
        """Take no new jobs; wait up to ``grace_seconds`` for running ones to end."""
        self._accepting = False
        if self._running:
            with anyio.move_on_after(grace_seconds):
                await self._idle.wait()

    def _submit(self, job_id: str) -> None:
        if self._loop is None or self._jobs is None or not self._accepting:
            return  # stays queued; picked up at start-up (SQLite) or re-queued (PostgreSQL)
        self._loop.call_soon_threadsafe(self._jobs.put_nowait, job_id)

    def _submit_claimed(self, claimed: Claimed) -> None:
        if self._loop is None or self._claimed is None:
            self.slots.release()  # not serving: the sweeper resolves the leased job
            return
        self._loop.call_soon_threadsafe(self._claimed.put_nowait, claimed)

    def _submit_webhook(self, delivery_id: str, not_before: datetime) -> None:
        if self._loop is None or self._webhooks is None or not self._accepting:
            return
        if self.webhook_runner is None:
            log.warning("webhook delivery %s queued but no webhook runner is set", delivery_id)
            return
        # A commit hook is not inside a task: hand over through the queue (a task group
        # can only start tasks from inside the event loop's tasks).
        self._loop.call_soon_threadsafe(self._webhooks.put_nowait, (delivery_id, not_before))

    async def _start_claimed(self, tasks: anyio.abc.TaskGroup) -> None:
        # Already running here: even while stopping it runs within the shutdown grace
        # like the others (cut short, the sweeper has it).
        assert self._claimed is not None
        while True:
            self._start(tasks, await self._claimed.get())

    def _start(self, tasks: anyio.abc.TaskGroup, job: str | Claimed) -> None:
        self._running += 1
        self._idle.clear()
        tasks.start_soon(self._run, job)

    async def _start_deliveries(self, tasks: anyio.abc.TaskGroup) -> None:
        assert self._webhooks is not None
        while True:
            delivery_id, not_before = await self._webhooks.get()
            tasks.start_soon(self._deliver, delivery_id, not_before)

    async def _run(self, job: str | Claimed) -> None:
        job_id = job.order.job_id if isinstance(job, Claimed) else job
        try:
            if isinstance(job, Claimed):
                await run_admitted(self.runtime, job)
            else:
                await run_job(self.runtime, job)
        except Exception as exc:  # the job row says what happened; keep the queue alive
            log.error("job %s: executor failed (%s)", job_id, type(exc).__name__)
        finally:
            self.slots.release()
            self._running -= 1
            if not self._running:
                self._idle.set()

    async def _deliver(self, delivery_id: str, not_before: datetime) -> None:
        delay = (not_before - utc_now()).total_seconds()
        if delay > 0:
            await anyio.sleep(delay)
        if self.webhook_runner is not None and self._accepting:
            try:
                await self.webhook_runner(self.runtime, delivery_id)
            except Exception as exc:
                log.error("webhook delivery %s failed (%s)", delivery_id, type(exc).__name__)

    async def _leftovers(self) -> list[str]:
        async with session_scope(self.runtime.engine, write=False) as session:
            found = await repository.queued_ids(session, LEFTOVER_LIMIT)
        if found:
            log.info("picking up %d queued jobs left from before", len(found))
        return found
