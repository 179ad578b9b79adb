"""The daemon's own paths, answered in front of the service app.

``GET /_daemon/hello`` is the handshake: the CLI compares the fingerprint it
gets with its own and replaces a daemon started by another build or
environment. ``POST /_daemon/stop`` asks it to finish what is in flight and
exit. Every other request goes to the service app untouched, counted so the
idle timeout never stops the daemon in the middle of a request.
"""

from __future__ import annotations

import json
import os
import time
from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any

from image_skill import __version__

Scope = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[MutableMapping[str, Any]]]
Send = Callable[[MutableMapping[str, Any]], Awaitable[None]]
PREFIX = "/_daemon/"


class ControlledApp:
    """ASGI: the control paths, activity tracking, then the wrapped app."""

    def __init__(self, app: Any, *, fingerprint: str, idle: float) -> None:
        self.app = app
        self.fingerprint = fingerprint
        self.idle = idle
        self.started_at = time.time()
        self.in_flight = 0
        self.requests = 0
        self._last = time.monotonic()
        self.on_stop: Callable[[], None] = lambda: None

    def idle_for(self) -> float:
        """Seconds since the last request ended (0 while one is running)."""
        return 0.0 if self.in_flight else time.monotonic() - self._last

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        if str(scope.get("path", "")).startswith(PREFIX):
            await self._control(scope, send)  # its status shows the idle time so far
            # A handshake comes just before a command's request: the idle exit waits.
            self._last = time.monotonic()
            return
        self.in_flight += 1
        self.requests += 1
        try:
            await self.app(scope, receive, send)
        finally:
            self.in_flight -= 1
            self._last = time.monotonic()

    def status(self) -> dict[str, Any]:
        """What ``hello`` answers: who this daemon is and how busy."""
        return {
            "pid": os.getpid(),
            "fingerprint": self.fingerprint,
            "version": __version__,
            "started_at": self.started_at,
            "idle_timeout_seconds": self.idle,
            "idle_seconds": round(self.idle_for(), 3),
            "in_flight": self.in_flight,
            "requests": self.requests,
        }

    async def _control(self, scope: Scope, send: Send) -> None:
        path, method = scope["path"], scope.get("method", "GET")
        if path == PREFIX + "hello" and method == "GET":
            await _answer(send, 200, self.status())
        elif path == PREFIX + "stop" and method == "POST":
            await _answer(send, 200, {"stopping": True, "pid": os.getpid()})
            self.on_stop()
        else:
            await _answer(send, 404, {"error": "unknown daemon control path"})


async def _answer(send: Send, status: int, body: dict[str, Any]) -> None:
    payload = json.dumps(body).encode()
    await send(
        {
            "type": "http.response.start",
            "status": status,
            "headers": [
                (b"content-type", b"application/json"),
                (b"content-length", str(len(payload)).encode()),
            ],
        }
    )
    await send({"type": "http.response.body", "body": payload})
