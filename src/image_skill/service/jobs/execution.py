"""Where this process's jobs run: the one place that picks the executor.

``IMAGE_SKILL_JOB_EXECUTOR`` (``auto`` by default) chooses:
  * ``inline`` (embedded CLI): each request runs its own job;
  * ``inprocess`` (one SQLite server): the server's task group runs them;
  * ``queue`` (PostgreSQL): procrastinate carries job ids to workers; an API
    process runs an embedded worker too unless ``IMAGE_SKILL_API_RUNS_JOBS``
    is false, and ``image-skill worker`` processes run one each. An API process
    that runs jobs also runs the jobs it admits itself while it has a free slot
    (``local_first``: no queue round trips), sharing its slots with its worker,
    and re-queues jobs a dead process admitted for itself (``requeue_orphans``).
On PostgreSQL every process also keeps one LISTEN connection so requests
waiting for a job wake when any process finishes it. (The lease sweeper runs
beside this, entered after it: ``jobs.sweeper.sweeping``.)

The queue libraries (procrastinate and its psycopg pool, the webhook sender's
HTTP client) are imported only by the modes that use them: the embedded CLI's
daemon starts without them (~0.2 s of its start-up).
"""

from __future__ import annotations

import logging
import random
from collections.abc import AsyncIterator
from contextlib import AsyncExitStack, asynccontextmanager
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import anyio

from image_skill.contract.errors import ErrorCode, ImageSkillError
from image_skill.service.jobs.inline_queue import InlineQueue
from image_skill.service.runtime import Runtime

if TYPE_CHECKING:
    import procrastinate
    import procrastinate.worker

    from image_skill.service.jobs.inprocess_queue import InprocessQueue

log = logging.getLogger("image_skill.jobs.execution")

SHUTDOWN_GRACE_SECONDS = 30.0
CLEAR_STALLED_SECONDS = 60.0


@dataclass
class Execution:
    """What ``job_execution`` started; ``worker_stopped`` is set when the queue worker ends."""

    worker_stopped: anyio.Event = field(default_factory=anyio.Event)


@asynccontextmanager
async def job_execution(
    runtime: Runtime, *, runs_jobs: bool, handle_signals: bool = False, local_first: bool = True
) -> AsyncIterator[Execution]:
    """Set ``runtime.queue`` and run what this process runs until the block ends.

    ``handle_signals`` (a worker process): SIGTERM/SIGINT stop the queue worker
    gracefully (running jobs get ``SHUTDOWN_GRACE_SECONDS`` to finish), and
    ``worker_stopped`` is set once it has. ``local_first`` (PostgreSQL, with
    ``runs_jobs``): jobs this process admits run here while a slot is free.
    """
    settings = runtime.settings
    mode = settings.resolved_job_executor
    execution = Execution()
    if mode == "queue" and settings.is_sqlite:
        raise ImageSkillError(
            ErrorCode.INVALID_ARGUMENTS,
            "IMAGE_SKILL_JOB_EXECUTOR=queue needs PostgreSQL; a SQLite server runs its "
            "jobs in process (inprocess).",
        )
    if mode == "inline":
        runtime.queue = InlineQueue()
        yield execution
        return
    from image_skill.service.jobs import pg_queue
    from image_skill.service.jobs.inprocess_queue import InprocessQueue
    from image_skill.service.jobs.waiter import TerminalListener
    from image_skill.service.webhooks.delivery import deliver
    from image_skill.service.webhooks.service import enqueue_pending

    # Unwound last in, first out: in-process drain, background tasks
    # (cancelled, then awaited), and last the procrastinate pool they use.
    async with AsyncExitStack() as stack:
        app: procrastinate.App | None = None
        local: InprocessQueue | None = None
        if mode == "queue":
            app = pg_queue.procrastinate_app(settings)
            if runs_jobs and local_first:
                local = InprocessQueue(runtime, pick_up_leftovers=False)
            runtime.queue = pg_queue.PgQueue(app, local)
            if runs_jobs:
                pg_queue.register_tasks(app, runtime, deliver, local)
                await stack.enter_async_context(app.open_async())
        tasks = await stack.enter_async_context(anyio.create_task_group())
        stack.callback(tasks.cancel_scope.cancel)
        if not settings.is_sqlite:
            tasks.start_soon(TerminalListener(pg_queue.libpq_url(settings)).run)
        if mode == "inprocess":
            inprocess = InprocessQueue(runtime, deliver)
            runtime.queue = inprocess
            await tasks.start(inprocess.serve)
            # Deliveries waiting for a retry lived only in the last process's timers.
            await enqueue_pending(runtime)
            stack.push_async_callback(inprocess.drain, SHUTDOWN_GRACE_SECONDS)
        elif app is not None and runs_jobs:
            worker = pg_queue.make_worker(
                app,
                name=runtime.worker_id,
                concurrency=settings.worker_concurrency,
                install_signal_handlers=handle_signals,
                graceful_seconds=SHUTDOWN_GRACE_SECONDS,
            )
            tasks.start_soon(_run_worker, worker, execution)
            tasks.start_soon(_clear_stalled_forever, app)
            tasks.start_soon(_requeue_orphans_forever, app, runtime)
            if local is not None:
                await tasks.start(local.serve)
            # Unwound before the task group is cancelled: running jobs get their grace.
            stack.push_async_callback(_stop_all, worker, execution, local)
        yield execution


async def _run_worker(worker: procrastinate.worker.Worker, execution: Execution) -> None:
    try:
        await worker.run()
    finally:
        execution.worker_stopped.set()


async def _stop_all(
    worker: procrastinate.worker.Worker, execution: Execution, local: InprocessQueue | None
) -> None:
    """Stop the queue worker and the local runner together, each giving its jobs the grace."""
    async with anyio.create_task_group() as stopping:
        stopping.start_soon(_stop_worker, worker, execution)
        if local is not None:
            stopping.start_soon(local.drain, SHUTDOWN_GRACE_SECONDS)


async def _stop_worker(worker: procrastinate.worker.Worker, execution: Execution) -> None:
    """Take no new job; let running ones finish (procrastinate aborts them after the grace)."""
    worker.stop()
    with anyio.move_on_after(SHUTDOWN_GRACE_SECONDS + 5):
        await execution.worker_stopped.wait()


async def _clear_stalled_forever(app: procrastinate.App) -> None:
    from image_skill.service.jobs import pg_queue

    while True:
        await anyio.sleep(CLEAR_STALLED_SECONDS)
        try:
            await pg_queue.clear_stalled(app)
        except Exception as exc:  # the database may be away for a while; try again later
            log.warning("clearing stalled queue rows failed (%s)", type(exc).__name__)


async def _requeue_orphans_forever(app: procrastinate.App, runtime: Runtime) -> None:
    """At start-up and every (jittered) sweep interval: queued jobs no process runs go back."""
    from image_skill.service.jobs import pg_queue

    settings = runtime.settings
    while True:
        try:
            await pg_queue.requeue_orphans(
                app, runtime.engine, older_than=settings.job_lease_seconds
            )
        except Exception as exc:  # the database may be away for a while; try again later
            log.warning("re-queueing orphaned jobs failed (%s)", type(exc).__name__)
        await anyio.sleep(settings.sweep_interval_seconds * random.uniform(0.8, 1.2))
