"""The app factory: settings in, ASGI app out.

The same factory serves ``image-skill serve`` and the CLI's embedded mode
(through ``image_skill.server``, which adds the ``/v1/cli`` bridge); only the
settings differ. The embedded service serves no web pages: nobody can open the
console or an emailed claim link on a private unix socket or inside a CLI process,
so those routes (and their imports) are left to ``image-skill serve``.
"""

from __future__ import annotations

import gc
import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import anyio
from fastapi import APIRouter, FastAPI
from sqlalchemy.ext.asyncio import AsyncEngine

from image_skill import __version__
from image_skill.providers.clients import aclose_clients
from image_skill.providers.plugins import default_models
from image_skill.service.abuse.body_limit import BodyLimitMiddleware
from image_skill.service.abuse.middleware import RateLimitMiddleware
from image_skill.service.activity.routes import router as activity_router
from image_skill.service.assets.routes import router as assets_router
from image_skill.service.catalog.pricing import PricingPolicy
from image_skill.service.catalog.routes import router as catalog_router
from image_skill.service.claims.routes import router as claims_router
from image_skill.service.creative.admission_gate import AdmissionMiddleware
from image_skill.service.creative.prompt_rules import PromptPolicy
from image_skill.service.creative.routes import router as creative_router
from image_skill.service.credits.routes import router as credits_router
from image_skill.service.db.engine import (
    create_engine_for,
    create_health_engine_for,
    session_scope,
)
from image_skill.service.db.migrate import upgrade_to_head
from image_skill.service.error_handlers import install_error_handlers
from image_skill.service.feedback.routes import router as feedback_router
from image_skill.service.guide.api_docs import install_api_docs
from image_skill.service.guide.routes import router as guide_router
from image_skill.service.health.routes import router as health_router
from image_skill.service.identity import repository as identity_repository
from image_skill.service.identity.routes import router as identity_router
from image_skill.service.identity.service import ensure_local_owner
from image_skill.service.input_guard import InputGuardMiddleware
from image_skill.service.jobs.execution import job_execution
from image_skill.service.jobs.repair import repair_at_start
from image_skill.service.jobs.routes import router as jobs_router
from image_skill.service.jobs.sweeper import sweeping
from image_skill.service.mail import warn_about_mail_settings
from image_skill.service.quota.routes import router as quota_router
from image_skill.service.runtime import Runtime
from image_skill.service.settings import Settings
from image_skill.service.storage.base import AssetStore, StoreError
from image_skill.service.storage.factory import build_store
from image_skill.service.telemetry import install_telemetry
from image_skill.service.telemetry.routes import router as telemetry_router
from image_skill.service.warm_up import warm_up
from image_skill.service.webhooks.routes import router as webhooks_router

log = logging.getLogger(__name__)


def create_app(settings: Settings | None = None, *, store: AssetStore | None = None) -> FastAPI:
    """Build the service for ``settings`` (read from the environment when omitted)."""
    settings = settings or Settings()

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        if settings.auto_migrate:
            await anyio.to_thread.run_sync(upgrade_to_head, settings)
        engine = create_engine_for(settings)
        app.state.engine = engine
        app.state.health_engine = create_health_engine_for(settings)
        app.state.store = store or build_store(settings)
        app.state.runtime = build_runtime(settings, engine, app.state.store)
        try:
            await _check_store(app.state.store)
            if settings.embedded:
                await _ensure_owner(app)
            if not settings.embedded:
                await repair_at_start(engine, app.state.store, settings.home)
                await anyio.to_thread.run_sync(warm_up, app.state.runtime.models, settings)
                # Startup objects (modules, schemas, models) live as long as the
                # process; left in the collected generations, each full
                # collection walks them all and pauses every request for
                # ~0.2-0.3 s under load.
                gc.freeze()
            # Jobs run where IMAGE_SKILL_JOB_EXECUTOR says (docs/jobs.md); the queue is
            # set up before the sweeper, which may hand a job back to it.
            runtime = app.state.runtime
            async with (
                job_execution(runtime, runs_jobs=settings.api_runs_jobs),
                # Jobs whose executor died (in any process) are resolved now and every interval.
                sweeping(runtime),
            ):
                yield
        finally:
            await aclose_clients()  # the provider clients this app's loop built and reused
            if store is None:  # built here, so closed here
                await app.state.store.aclose()
            await engine.dispose()
            await app.state.health_engine.dispose()

    app = FastAPI(
        title="Image Skill",
        version=__version__,
        summary="Creative runtime for AI agents.",
        lifespan=lifespan,
        # The docs pages are served with bundled assets instead (install_api_docs).
        docs_url=None,
        redoc_url=None,
    )
    app.state.settings = settings
    warn_about_mail_settings(settings)
    install_error_handlers(app)
    # Inside telemetry, so a request's recorded duration includes its wait for a place.
    app.add_middleware(AdmissionMiddleware)
    # Malformed query strings, paths and headers are refused before routing.
    app.add_middleware(InputGuardMiddleware)
    # Before routing, auth and parsing: bodies are bounded while read, and a flood
    # is refused at the door instead of queueing for an admission place.
    app.add_middleware(BodyLimitMiddleware)
    app.add_middleware(RateLimitMiddleware)
    install_telemetry(app, settings)
    for router in _api_routers():
        app.include_router(router)
    if not settings.embedded:
        _install_pages(app)
    install_api_docs(app)
    return app


def _api_routers() -> tuple[APIRouter, ...]:
    return (
        health_router,
        identity_router,
        claims_router,
        quota_router,
        catalog_router,
        creative_router,
        assets_router,
        jobs_router,
        credits_router,
        activity_router,
        feedback_router,
        webhooks_router,
        telemetry_router,
        guide_router,
    )


def _install_pages(app: FastAPI) -> None:
    """The HTML pages: the claim link's page and the console (served apps only)."""
    from image_skill.service.claims.pages import router as claim_pages_router
    from image_skill.service.console.access import PageExit, page_exit_response
    from image_skill.service.console.routes import router as console_router

    app.include_router(claim_pages_router)
    app.include_router(console_router)
    app.add_exception_handler(PageExit, page_exit_response)


async def _check_store(store: AssetStore) -> None:
    """Refuse to start when the asset store cannot be reached (the error names the setting)."""
    try:
        await store.check()
    except StoreError as exc:
        log.error("the asset store is not usable: %s", exc)
        raise


def build_runtime(settings: Settings, engine: AsyncEngine, store: AssetStore) -> Runtime:
    """What every process that admits or runs jobs shares (API processes and workers)."""
    return Runtime(
        settings=settings,
        engine=engine,
        store=store,
        models=default_models(),
        pricing=PricingPolicy(
            markup=settings.pricing_markup,
            unknown_cost_hold_credits=settings.unknown_cost_hold_credits,
        ),
        prompt_policy=PromptPolicy.from_setting(settings.prompt_blocked_terms),
    )


async def _ensure_owner(app: FastAPI) -> None:
    """Create the local owner once; the write lock is taken only when it is missing."""
    async with session_scope(app.state.engine, write=False) as session:
        if await identity_repository.local_owner(session) is not None:
            return
    async with session_scope(app.state.engine, write=True) as session:
        await ensure_local_owner(session)
