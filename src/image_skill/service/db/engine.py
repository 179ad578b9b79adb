"""Async engines and sessions, with SQLite tuned for many concurrent CLI processes.

SQLite gets WAL (readers never block the writer), a generous busy timeout (a
second CLI process waits instead of failing) and explicit ``BEGIN IMMEDIATE``
for writing transactions, so a writer takes the lock up front and two writers
never deadlock upgrading a read lock.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from sqlalchemy import event
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, create_async_engine

from image_skill.service.settings import Settings

_IMMEDIATE = "image_skill_immediate"


def create_engine_for(settings: Settings) -> AsyncEngine:
    """The async engine for the configured database."""
    url = settings.resolved_database_url
    if not url.startswith("sqlite"):
        return create_async_engine(url, pool_size=10, max_overflow=20, pool_pre_ping=True)
    settings.home.mkdir(parents=True, exist_ok=True)
    engine = create_async_engine(url, connect_args={"timeout": 30}, pool_size=5, max_overflow=15)
    _tune_sqlite(engine)
    return engine


def _tune_sqlite(engine: AsyncEngine) -> None:
    @event.listens_for(engine.sync_engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: Any) -> None:
        # Hand transaction control to us so BEGIN IMMEDIATE is possible.
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        for pragma in (
            "PRAGMA journal_mode=WAL",
            "PRAGMA busy_timeout=30000",
            "PRAGMA foreign_keys=ON",
            "PRAGMA synchronous=NORMAL",
        ):
            cursor.execute(pragma)
        cursor.close()

    @event.listens_for(engine.sync_engine, "begin")
    def _on_begin(conn: Any) -> None:
        immediate = conn.get_execution_options().get(_IMMEDIATE, False)
        conn.exec_driver_sql("BEGIN IMMEDIATE" if immediate else "BEGIN")


def writer(engine: AsyncEngine) -> AsyncEngine:
    """The same engine, but its transactions take the write lock at BEGIN."""
    return engine.execution_options(**{_IMMEDIATE: True})


@asynccontextmanager
async def session_scope(engine: AsyncEngine, *, write: bool) -> AsyncIterator[AsyncSession]:
    """One unit of work: commit on success, roll back on any error."""
    bind = writer(engine) if write else engine
    async with AsyncSession(bind, expire_on_commit=False) as session:
        try:
            yield session
            await session.commit()
        except BaseException:
            await session.rollback()
            raise
