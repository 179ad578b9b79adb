"""Request bodies bounded while they are read.

A body is refused before the app reads it when its Content-Length is over the
limit, and cut off at the limit when it streams (chunked) past it: the server
never holds more than the limit plus one chunk of any request. Uploads may
carry ``max_upload_bytes`` as base64 plus JSON framing (through ``/v1/upload``
or the MCP endpoint's ``upload`` tool); the Stripe webhook
gets a small limit of its own; everything else ``max_request_bytes``.

Starlette's ``RequestBodyLimitMiddleware`` answers in plain text and only on
the first read (after routing and auth), so the service has its own, which
answers ``PAYLOAD_TOO_LARGE`` in the envelope before anything else runs.
"""

from __future__ import annotations

import math

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from image_skill.contract.errors import ErrorCode, ImageSkillError
from image_skill.service.abuse.asgi import send_error
from image_skill.service.settings import Settings

UPLOAD_PATH = "/v1/upload"
# The MCP endpoint's upload tool carries the same base64 image (docs/mcp.md).
MCP_PATH = "/mcp"
STRIPE_WEBHOOK_PATH = "/v1/webhooks/stripe"
# Stripe's event payloads are a few kilobytes; 128 KiB leaves room for metadata.
STRIPE_WEBHOOK_MAX_BYTES = 128 * 1024
JSON_FRAMING_BYTES = 64 * 1024


def body_limit_for(path: str, settings: Settings) -> int:
    """The most bytes a request body to ``path`` may have."""
    if path in (UPLOAD_PATH, MCP_PATH):
        return math.ceil(settings.max_upload_bytes * 4 / 3) + JSON_FRAMING_BYTES
    if path == STRIPE_WEBHOOK_PATH:
        return STRIPE_WEBHOOK_MAX_BYTES
    return settings.max_request_bytes


def payload_too_large(limit: int) -> ImageSkillError:
    """The PAYLOAD_TOO_LARGE refusal (HTTP 413, exit 2) naming the limit."""
    return ImageSkillError(
        ErrorCode.PAYLOAD_TOO_LARGE,
        f"The request body is larger than this route's limit of {limit} bytes.",
        details={"field": "body", "limit_bytes": limit},
    )


class BodyLimitMiddleware:
    """Refuses request bodies over their route's limit, counting bytes as they arrive."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        limit = body_limit_for(scope["path"], scope["app"].state.settings)
        declared = content_length(scope)
        if declared is not None and declared > limit:
            await send_error(scope, receive, send, payload_too_large(limit), close=True)
            return
        guard = _Guard(limit, receive, send)
        try:
            await self.app(scope, guard.receive, guard.send)
        except Exception:
            if not guard.exceeded or guard.app_started:
                raise
        if guard.exceeded and not guard.app_started:
            await send_error(scope, receive, send, payload_too_large(limit), close=True)


class _Guard:
    """Counts the body as the app reads it; once over, hides whatever the app answers."""

    def __init__(self, limit: int, receive: Receive, send: Send) -> None:
        self.limit = limit
        self._receive = receive
        self._send = send
        self.received = 0
        self.exceeded = False
        self.app_started = False

    async def receive(self) -> Message:
        if self.exceeded:
            raise payload_too_large(self.limit)
        message = await self._receive()
        if message["type"] == "http.request":
            self.received += len(message.get("body", b""))
            if self.received > self.limit:
                self.exceeded = True
                raise payload_too_large(self.limit)
        return message

    async def send(self, message: Message) -> None:
        if self.exceeded and not self.app_started:
            return  # the app's answer to a cut-off body; the middleware sends the 413
        if message["type"] == "http.response.start":
            self.app_started = True
        await self._send(message)


def content_length(scope: Scope) -> int | None:
    """The request's declared Content-Length (None: absent or not a number)."""
    for name, value in scope.get("headers", ()):
        if name == b"content-length":
            try:
                return int(value)
            except ValueError:
                return None
    return None
