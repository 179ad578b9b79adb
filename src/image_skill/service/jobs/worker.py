"""``image-skill worker``: a process that only runs jobs (PostgreSQL deployments).

A worker holds no HTTP port. It migrates the database if asked to, builds
the same runtime an API process does (models, store, pricing), runs a
procrastinate worker on the job and webhook queues with
``IMAGE_SKILL_WORKER_CONCURRENCY`` slots, the lease sweeper and the re-queueing
of orphaned queued jobs (``pg_queue.requeue_orphans``). SIGTERM or
SIGINT stops it gracefully: it takes no new job and gives running ones
``SHUTDOWN_GRACE_SECONDS`` to finish; a job cut short hands its lease back,
and the next sweep of any live process resolves it.
"""

from __future__ import annotations

import logging

import anyio

from image_skill.contract.errors import ErrorCode, ImageSkillError
from image_skill.service.app import build_runtime
from image_skill.service.db.engine import create_engine_for
from image_skill.service.db.migrate import current_revision, upgrade_to_head
from image_skill.service.db.migrations import SCHEMA_HEAD
from image_skill.service.jobs.execution import job_execution
from image_skill.service.jobs.repair import repair_at_start
from image_skill.service.jobs.sweeper import sweeping
from image_skill.service.settings import Settings, to_sync_url
from image_skill.service.storage.factory import build_store
from image_skill.service.warm_up import warm_up

log = logging.getLogger("image_skill.worker")


def check_worker_settings(settings: Settings) -> None:
    """Refuse a configuration no worker can serve (INVALID_ARGUMENTS naming the fix)."""
    if settings.is_sqlite:
        raise ImageSkillError(
            ErrorCode.INVALID_ARGUMENTS,
            "image-skill worker needs PostgreSQL (IMAGE_SKILL_DATABASE_URL=postgresql://...); "
            "a SQLite server runs its own jobs.",
        )
    if settings.resolved_job_executor != "queue":
        raise ImageSkillError(
            ErrorCode.INVALID_ARGUMENTS,
            "image-skill worker runs the PostgreSQL queue; unset IMAGE_SKILL_JOB_EXECUTOR "
            "or set it to queue.",
        )


async def run_worker(settings: Settings) -> None:
    """Run jobs until SIGTERM/SIGINT (see the module docstring)."""
    check_worker_settings(settings)
    if settings.auto_migrate:
        await anyio.to_thread.run_sync(upgrade_to_head, settings)
    elif await anyio.to_thread.run_sync(_schema_revision, settings) != SCHEMA_HEAD:
        raise ImageSkillError(
            ErrorCode.SERVICE_UNAVAILABLE,
            "The database is not migrated to this version's schema, and "
            "IMAGE_SKILL_AUTO_MIGRATE is false.",
            recovery={"suggested_command": "IMAGE_SKILL_AUTO_MIGRATE=true image-skill worker"},
        )
    engine = create_engine_for(settings)
    store = build_store(settings)
    try:
        await store.check()
        runtime = build_runtime(settings, engine, store)
        # Outputs this machine spooled while the store was away (workers run the jobs).
        await repair_at_start(engine, store, settings.home)
        await anyio.to_thread.run_sync(warm_up, runtime.models, settings)
        async with (
            # It admits nothing, so it has no fast path: the queue is how it gets jobs.
            job_execution(
                runtime, runs_jobs=True, handle_signals=True, local_first=False
            ) as execution,
            sweeping(runtime),
        ):
            log.info("worker %s running jobs", runtime.worker_id)
            await execution.worker_stopped.wait()
        log.info("worker %s stopped", runtime.worker_id)
    finally:
        await store.aclose()
        await engine.dispose()


def _schema_revision(settings: Settings) -> str | None:
    return current_revision(to_sync_url(settings.resolved_database_url))
