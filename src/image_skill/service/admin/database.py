"""The admin commands' database access: the configured database, migrated, one transaction."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import TypeVar

from sqlalchemy.ext.asyncio import AsyncSession

from image_skill.service.db.engine import create_engine_for, session_scope
from image_skill.service.db.migrate import upgrade_to_head
from image_skill.service.settings import Settings

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
