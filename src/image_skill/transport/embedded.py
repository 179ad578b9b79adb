"""Embedded mode: the real service app, in this process, on the local data dir.

Not a second implementation: the CLI talks ASGI to the same FastAPI app that
``image-skill serve`` runs, so every rule and every envelope is identical.
"""

from __future__ import annotations

import asyncio
from contextlib import AsyncExitStack
from typing import Any

import httpx

from image_skill.transport import RawResponse
from image_skill.transport.asgi import asgi_client, exchange


class EmbeddedTransport:
    """Runs the service app in-process; one event loop for the life of the transport."""

    description = "embedded"

    def __init__(self, settings: Any | None = None) -> None:
        from image_skill.server import create_server_app
        from image_skill.service.data_dir_log import log_to_data_dir
        from image_skill.service.settings import Settings

        self.settings = settings or Settings(embedded=True)
        log_to_data_dir(self.settings.home)
        self._app = create_server_app(self.settings)
        self._loop = asyncio.new_event_loop()
        self._stack = AsyncExitStack()
        self._client: httpx.AsyncClient | None = None

    async def _start(self) -> httpx.AsyncClient:
        await self._stack.enter_async_context(self._app.router.lifespan_context(self._app))
        client = asgi_client(self._app, base_url="http://embedded.local")
        await self._stack.enter_async_context(client)
        return client

    async def _send(
        self, method: str, path: str, headers: dict[str, str], body: bytes | None
    ) -> RawResponse:
        if self._client is None:
            self._client = await self._start()
        return await exchange(self._client, method, path, headers, body)

    def send(
        self, method: str, path: str, *, headers: dict[str, str], body: bytes | None
    ) -> RawResponse:
        """Dispatch one request to the in-process app."""
        return self._loop.run_until_complete(self._send(method, path, headers, body))

    def close(self) -> None:
        """Shut the app down (closing database connections) and the loop."""
        if self._loop.is_closed():
            return
        try:
            self._loop.run_until_complete(self._stack.aclose())
        finally:
            self._client = None
            self._loop.close()
