"""The served app: the service plus what sits above it (today the ``/v1/cli`` bridge).

``service.app.create_app`` builds the service alone, and the service never
imports the CLI. The bridge runs CLI commands inside the service, so it
depends on both; composing it here keeps that dependency pointing one way.
``image-skill serve`` and the CLI's embedded mode both run this app.
"""

from __future__ import annotations

import importlib

from fastapi import FastAPI

from image_skill.bridge.routes import router as bridge_router
from image_skill.service.app import create_app
from image_skill.service.settings import Settings
from image_skill.service.storage.base import AssetStore


def create_server_app(
    settings: Settings | None = None, *, store: AssetStore | None = None
) -> FastAPI:
    """The service for ``settings`` with the ``POST /v1/cli`` bridge and ``/mcp`` mounted."""
    app = create_app(settings, store=store)
    app.include_router(bridge_router)
    if not app.state.settings.embedded:
        # Streamable HTTP MCP at /mcp (docs/mcp.md); the embedded CLI never serves it,
        # so it never imports the MCP SDK.
        from image_skill.mcp.http import mount_mcp

        mount_mcp(app)
        # The bridge imports its in-process HTTP client on first use; a server does it
        # now, so no request's event loop stalls on the import.
        importlib.import_module("image_skill.transport.loopback")
    return app
