"""PostgreSQL's queue: procrastinate, deferred inside the admitting transaction.

Procrastinate keeps its queue in the same PostgreSQL database, so the
procrastinate job is inserted in the very transaction that writes our job
row, its order and its reservation (``defer_in`` calls procrastinate's own
defer function through the session): the work is queued exactly when the job
is committed. The queue carries only the job id; the job row stays the truth
of money and state.

Why procrastinate (over pgqueuer): its queue is plain rows and SQL functions
in our database, so a defer can join the caller's transaction (the one thing
the money rule needs); it is typed, async-first, wakes workers by
LISTEN/NOTIFY, and schedules (``schedule_at``) the webhook retries. Its known
stuck-job problem, a job left ``doing`` by a worker that died, does not strand
our jobs: executors claim by our row lock and lease, the sweeper resolves
lapsed leases, and ``clear_stalled`` (run by every worker) hands the rows of
dead workers back to the queue, so a job whose worker died before claiming it
still runs.

The fast path: an API process that runs jobs hands a job it admits to its
own in-process runner (``inprocess_queue``) when that has a free slot, with no
queue row at all: no defer, no fetch, no finish, no wake-up by NOTIFY. The job
is still a committed ``queued`` row before it runs, and once claimed it is
leased like any other; only the moment between the commit and the claim has
no queue row behind it. A process killed in that moment leaves a queued job
nothing would hand out, so every process that runs jobs re-queues the queued
jobs older than ``job_lease_seconds`` that have no live queue row
(``requeue_orphans``, at start-up and every sweep interval). Handing a job out
twice is harmless: only one executor finds it ``queued``.

Procrastinate's objects live in the ``procrastinate`` schema (migration
0008): its own pool (its workers, ``requeue_orphans``) sets that search path,
and ``defer_in`` adds it, for the rest of the transaction only, to the
admitting connection.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from datetime import datetime, timedelta
from typing import Any

import procrastinate
import procrastinate.worker
from sqlalchemy import DateTime, String, bindparam, select, text
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession

from image_skill.contract.ids import utc_now
from image_skill.service.db.engine import session_scope
from image_skill.service.db.models import Job
from image_skill.service.jobs.executor import run_job
from image_skill.service.jobs.inprocess_queue import InprocessQueue
from image_skill.service.jobs.run_slot import RunSlot
from image_skill.service.runtime import Runtime
from image_skill.service.settings import Settings, to_sync_url

log = logging.getLogger("image_skill.jobs.pg_queue")

SCHEMA = "procrastinate"
JOB_TASK = "image_skill.execute_job"
WEBHOOK_TASK = "image_skill.deliver_webhook"
JOBS_QUEUE = "image_skill_jobs"
WEBHOOKS_QUEUE = "image_skill_webhooks"
# Delivers one webhook delivery (the webhook module's entry point).
WebhookRunner = Callable[[Runtime, str], Awaitable[None]]
ORPHAN_BATCH = 500  # queued jobs re-queued per pass; the next pass takes the rest
# A queue row that still stands for its job (procrastinate's other states are ends).
_NO_LIVE_ROW = text(
    "NOT EXISTS (SELECT 1 FROM procrastinate.procrastinate_jobs AS p "
    "WHERE p.task_name = :task AND p.args->>'job_id' = jobs.id "
    "AND p.status IN ('todo', 'doing', 'aborting'))"
).bindparams(bindparam("task", JOB_TASK))


def libpq_url(settings: Settings) -> str:
    """The database URL as libpq (psycopg) takes it, without SQLAlchemy's driver tag."""
    return "postgresql://" + to_sync_url(settings.resolved_database_url).split("://", 1)[1]


def procrastinate_app(settings: Settings) -> procrastinate.App:
    """A procrastinate app on the configured database (its pool opens on first use)."""
    connector = procrastinate.PsycopgConnector(
        conninfo=libpq_url(settings),
        kwargs={"options": f"-c search_path={SCHEMA}"},
        min_size=1,
        max_size=max(4, min(settings.worker_concurrency + 2, 20)),
    )
    return procrastinate.App(connector=connector)


class PgQueue:
    """``WorkQueue`` on PostgreSQL: this process's free slot, else one procrastinate job."""

    def __init__(self, app: procrastinate.App, local: InprocessQueue | None = None) -> None:
        self.app = app
        self.local = local

    async def enqueue_job(self, session: AsyncSession, job_id: str) -> None:
        """Run ``job_id`` here after the commit if a slot is free, else defer it in ``session``."""
        if self.local is not None and self.local.has_room():
            await self.local.enqueue_job(session, job_id)
            return
        await defer_in(session, JOB_TASK, JOBS_QUEUE, {"job_id": job_id})

    def take_slot(self) -> RunSlot | None:
        """A free slot of this process's runner for a job being admitted now, if any."""
        return self.local.take_slot() if self.local is not None else None

    async def enqueue_webhook(
        self, session: AsyncSession, delivery_id: str, *, not_before: datetime
    ) -> None:
        """Defer ``deliver_webhook(delivery_id)`` at ``not_before``, inside the transaction."""
        await defer_in(
            session, WEBHOOK_TASK, WEBHOOKS_QUEUE, {"delivery_id": delivery_id}, at=not_before
        )


# Procrastinate's own defer, as its ``defer_jobs`` query calls it, but sent through
# the session: the queue row is written in the caller's transaction on whichever
# driver the engine uses (procrastinate's connector would need a psycopg connection).
# The function and its row type are those of the schema migration 0008 pins.
_ON_SEARCH_PATH = text(
    "SELECT set_config('search_path', current_setting('search_path') || ', ' || :schema, true)"
).bindparams(bindparam("schema", SCHEMA, type_=String))
_DEFER = text(
    "SELECT procrastinate.procrastinate_defer_jobs_v1(ARRAY[ROW("
    ":queue, :task, 0, NULL, NULL, :args, :at"
    ")::procrastinate.procrastinate_job_to_defer_v1])"
).bindparams(
    bindparam("queue", type_=String),
    bindparam("task", type_=String),
    bindparam("args", type_=JSONB),
    bindparam("at", type_=DateTime(timezone=True)),
)


async def defer_in(
    session: AsyncSession,
    task: str,
    queue: str,
    args: dict[str, Any],
    *,
    at: datetime | None = None,
) -> None:
    """Queue ``task(**args)`` (at ``at``, else now) in ``session``'s transaction.

    The function's body names procrastinate's tables unqualified, so its schema
    joins the search path for the rest of this transaction only.
    """
    await session.execute(_ON_SEARCH_PATH)
    await session.execute(_DEFER, {"queue": queue, "task": task, "args": args, "at": at})


def register_tasks(
    app: procrastinate.App,
    runtime: Runtime,
    webhook_runner: WebhookRunner | None,
    local: InprocessQueue | None = None,
) -> None:
    """Teach ``app`` what its jobs do in this process (run a job, deliver a webhook).

    With a ``local`` runner a queued job waits for one of its slots, which this
    process's own admissions share.
    """

    @app.task(name=JOB_TASK, queue=JOBS_QUEUE)
    async def execute_job(job_id: str) -> None:
        if local is not None:
            await local.run_queued(job_id)
        else:
            await run_job(runtime, job_id)

    if webhook_runner is not None:
        runner = webhook_runner

        @app.task(name=WEBHOOK_TASK, queue=WEBHOOKS_QUEUE)
        async def deliver_webhook(delivery_id: str) -> None:
            await runner(runtime, delivery_id)


def make_worker(
    app: procrastinate.App,
    *,
    name: str,
    concurrency: int,
    install_signal_handlers: bool,
    graceful_seconds: float,
) -> procrastinate.worker.Worker:
    """A procrastinate worker on our queues; ``run()`` it, ``stop()`` it gracefully."""
    return procrastinate.worker.Worker(
        app=app,
        queues=[JOBS_QUEUE, WEBHOOKS_QUEUE],
        name=name,
        concurrency=concurrency,
        delete_jobs="successful",
        install_signal_handlers=install_signal_handlers,
        shutdown_graceful_timeout=graceful_seconds,
    )


async def clear_stalled(app: procrastinate.App) -> int:
    """Hand back the procrastinate rows left ``doing`` by workers that stopped heartbeating.

    A worker may die after taking a row but before claiming our job: deleting the
    row would strand that job ``queued`` with nothing left to run it. So every
    stalled row goes back to the queue at once. Running it again is harmless: an
    executor claims a job only while it is ``queued`` (the sweeper owns lapsed
    running ones), and a webhook delivery is never sent twice.
    """
    stalled = list(await app.job_manager.get_stalled_jobs())
    for job in stalled:
        await app.job_manager.retry_job(job)
    if stalled:
        log.info("handed back %d procrastinate jobs of stopped workers", len(stalled))
    return len(stalled)


async def requeue_orphans(app: procrastinate.App, engine: AsyncEngine, *, older_than: float) -> int:
    """Defer the jobs ``queued`` for over ``older_than`` seconds with no live queue row.

    Such a job was admitted for a process's own runner (the fast path), and that
    process died or stopped between the commit and the claim; a job still waiting
    in a live process's runner is handed out twice, which is harmless.
    """
    cutoff = utc_now() - timedelta(seconds=older_than)
    query = (
        select(Job.id)
        .where(Job.status == "queued", Job.queued_at < cutoff, _NO_LIVE_ROW)
        .order_by(Job.queued_at)
        .limit(ORPHAN_BATCH)
    )
    async with session_scope(engine, write=False) as session:
        orphans = list((await session.execute(query)).scalars())
    deferrer = app.configure_task(JOB_TASK, queue=JOBS_QUEUE)
    for job_id in orphans:
        await deferrer.defer_async(job_id=job_id)
    if orphans:
        log.info("re-queued %d queued jobs no process was running", len(orphans))
    return len(orphans)
