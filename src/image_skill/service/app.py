"""The app factory: settings in, ASGI app out.

The same factory serves ``image-skill serve`` and the CLI's embedded mode;
only the settings differ.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import anyio
from fastapi import FastAPI

from image_skill import __version__
from image_skill.service.db.engine import create_engine_for, session_scope
from image_skill.service.db.migrate import upgrade_to_head
from image_skill.service.error_handlers import install_error_handlers
from image_skill.service.health.routes import router as health_router
from image_skill.service.identity import repository as identity_repository
from image_skill.service.identity.routes import router as identity_router
from image_skill.service.identity.service import ensure_local_owner
from image_skill.service.quota.routes import router as quota_router
from image_skill.service.settings import Settings


def create_app(settings: Settings | None = None) -> FastAPI:
    """Build the service for ``settings`` (read from the environment when omitted)."""
    settings = settings or Settings()

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        if settings.auto_migrate:
            await anyio.to_thread.run_sync(upgrade_to_head, settings)
        engine = create_engine_for(settings)
        app.state.engine = engine
        try:
            if settings.embedded:
                await _ensure_owner(app)
            yield
        finally:
            await engine.dispose()

    app = FastAPI(
        title="Image Skill",
        version=__version__,
        summary="Creative runtime for AI agents.",
        lifespan=lifespan,
    )
    app.state.settings = settings
    install_error_handlers(app)
    for router in (health_router, identity_router, quota_router):
        app.include_router(router)
    return app


async def _ensure_owner(app: FastAPI) -> None:
    """Create the local owner once; the write lock is taken only when it is missing."""
    async with session_scope(app.state.engine, write=False) as session:
        if await identity_repository.local_owner(session) is not None:
            return
    async with session_scope(app.state.engine, write=True) as session:
        await ensure_local_owner(session)
