"""Loopback: a synchronous client inside the running service, calling that same service.

The CLI bridge (``POST /v1/cli``) runs a CLI command in a worker thread (the
command code is synchronous). Each request the command's client sends is
handed back to the app's own event loop (``anyio.from_thread.run``) and
dispatched in-process (``transport.asgi``): no socket, no second
app, no second database pool, and the loop stays free while the command
thinks or sleeps.

``send`` must be called from a thread started by ``anyio.to_thread.run_sync``
on the loop that runs ``app``; anywhere else anyio raises ``RuntimeError``.
"""

from __future__ import annotations

from typing import Any

import anyio.from_thread

from image_skill.transport import RawResponse
from image_skill.transport.asgi import asgi_client, exchange


class LoopbackTransport:
    """Sends requests to ``app`` on the event loop that owns the calling worker thread."""

    description = "loopback"

    def __init__(self, app: Any, *, base_url: str, client_address: str | None = None) -> None:
        # ``base_url`` is the outer request's, so URLs the app builds from the
        # request (asset URLs without a configured public base) come out the same.
        # ``client_address`` is the outer caller's, so per-address rate limits
        # count the command's calls against that caller, not a shared 127.0.0.1.
        self._app = app
        self._base_url = base_url.rstrip("/")
        self._client = (client_address or "127.0.0.1", 0)

    async def _send(
        self, method: str, path: str, headers: dict[str, str], body: bytes | None
    ) -> RawResponse:
        async with asgi_client(self._app, base_url=self._base_url, client=self._client) as client:
            return await exchange(client, method, path, headers, body)

    def send(
        self, method: str, path: str, *, headers: dict[str, str], body: bytes | None
    ) -> RawResponse:
        """Run one request on the app's event loop and wait for its answer."""
        return anyio.from_thread.run(self._send, method, path, headers, body)

    def close(self) -> None:
        """Nothing to release: every request uses its own short-lived client."""
