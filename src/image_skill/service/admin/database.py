"""The admin commands' database access: the configured database, migrated, one transaction."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

from sqlalchemy.ext.asyncio import AsyncSession

from image_skill.service.db.engine import create_engine_for, session_scope
from image_skill.service.db.migrate import upgrade_to_head
from image_skill.service.jobs.repair import repair_spooled_jobs
from image_skill.service.settings import Settings
from image_skill.service.storage.factory import build_store

T = TypeVar("T")


def prepare(settings: Settings) -> None:
    """Bring the database to the current schema, as the app does on start."""
    if settings.auto_migrate:
        upgrade_to_head(settings)


async def in_session(
    settings: Settings, work: Callable[[AsyncSession], Awaitable[T]], *, write: bool
) -> T:
    """Run ``work`` in one transaction on its own engine (committed unless it raises)."""
    engine = create_engine_for(settings)
    try:
        async with session_scope(engine, write=write) as session:
            return await work(session)
    finally:
        await engine.dispose()


async def repair_jobs(settings: Settings, job_id: str | None) -> dict[str, Any]:
    """``admin jobs repair``: the service's own store and spool, on its own engine."""
    engine = create_engine_for(settings)
    try:
        store = build_store(settings)
        try:
            return await repair_spooled_jobs(engine, store, settings.home, job_id)
        finally:
            await store.aclose()
    finally:
        await engine.dispose()
