"""Loopback: a synchronous client inside the running service, calling that same service.

The CLI bridge (``POST /v1/cli``) runs a CLI command in a worker thread (the
command code is synchronous). Each request the command's client sends is
handed back to the app's own event loop (``anyio.from_thread.run``) and
dispatched in-process through ``httpx.ASGITransport``: no socket, no second
app, no second database pool, and the loop stays free while the command
thinks or sleeps.

``send`` must be called from a thread started by ``anyio.to_thread.run_sync``
on the loop that runs ``app``; anywhere else anyio raises ``RuntimeError``.
"""

from __future__ import annotations

from typing import Any

import anyio.from_thread
import httpx

from image_skill.transport import RawResponse, TransportError, describe


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
        transport = httpx.ASGITransport(
            app=self._app, raise_app_exceptions=False, client=self._client
        )
        async with httpx.AsyncClient(transport=transport, base_url=self._base_url) as client:
            try:
                response = await client.request(method, path, headers=headers, content=body)
            except httpx.TransportError as exc:  # pragma: no cover - ASGITransport rarely raises
                raise TransportError(f"The in-process call failed ({describe(exc)}).") from exc
        return RawResponse(
            response.status_code,
            {k.lower(): v for k, v in response.headers.items()},
            response.content,
        )

    def send(
        self, method: str, path: str, *, headers: dict[str, str], body: bytes | None
    ) -> RawResponse:
        """Run one request on the app's event loop and wait for its answer."""
        return anyio.from_thread.run(self._send, method, path, headers, body)

    def close(self) -> None:
        """Nothing to release: every request uses its own short-lived client."""
