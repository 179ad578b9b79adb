"""Streamable HTTP at ``/mcp`` on the served app, behind the service's own bearer tokens.

Every request to ``/mcp`` first asks the service who its token belongs to
(``GET /v1/whoami`` through the SDK, in-process); a missing, invalid or revoked
token is refused there with the service's own error envelope (HTTP 401,
``AUTH_REQUIRED`` / ``AUTH_INVALID`` / ``TOKEN_REVOKED``) and a
``WWW-Authenticate: Bearer`` header, before any MCP message is read (a rate
limit keeps its 429 and ``Retry-After``). Tool calls
then run the SDK with that same token over a loopback transport into this
app, so grants, quotas and rate limits are exactly the API's. The MCP session
manager is stateless with JSON responses, so any API process can answer any
request; it runs inside the app's lifespan (one per lifespan, so an app may
be started more than once).
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from typing import Any, TypeVar

import anyio
import anyio.to_thread
from fastapi import FastAPI
from mcp.server.mcpserver import Context
from mcp.server.streamable_http_manager import StreamableHTTPSessionManager
from mcp.server.transport_security import TransportSecuritySettings
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route
from starlette.types import Receive, Scope, Send

from image_skill.bridge.routes import forwarded_token
from image_skill.client import Client
from image_skill.contract.envelope import failure
from image_skill.contract.errors import ErrorCode, ImageSkillError
from image_skill.contract.ids import new_trace_id
from image_skill.mcp.server import build_server
from image_skill.result import Result
from image_skill.service.abuse.body_limit import MCP_PATH, body_limit_for
from image_skill.service.abuse.limiter import client_ip
from image_skill.service.settings import Settings
from image_skill.transport.loopback import LoopbackTransport

T = TypeVar("T")
COMMAND = "image-skill mcp"
# MCP calls get their own threads, like the CLI bridge, so a burst of them cannot
# take every thread of the default pool that their own requests may need.
MCP_THREADS = 16


def request_client(request: Request) -> Client:
    """An SDK client acting with ``request``'s token, dispatched into this same app."""
    base_url = str(request.base_url).rstrip("/")
    transport = LoopbackTransport(request.app, base_url=base_url, client_address=client_ip(request))
    token = forwarded_token(request.headers.get("authorization"))
    return Client(base_url, token, transport=transport, command=COMMAND)


def _limiter(app: Any, name: str = "mcp_limiter") -> anyio.CapacityLimiter:
    """The app's thread limiter ``name``: tool calls, and token checks apart from them,
    so tool calls waiting on jobs can never hold up the token check of a new request."""
    limiter: anyio.CapacityLimiter | None = getattr(app.state, name, None)
    if limiter is None:
        limiter = anyio.CapacityLimiter(MCP_THREADS)
        setattr(app.state, name, limiter)
    return limiter


class HttpBackend:
    """A client per tool call, carrying the HTTP request's own bearer token."""

    async def run(self, ctx: Context[Any, Any], work: Callable[[Client], T]) -> T:
        """Run ``work`` with this request's client in a worker thread."""
        request = ctx.request_context.request
        if not isinstance(request, Request):
            raise ImageSkillError(
                ErrorCode.AUTH_REQUIRED, "The MCP request carried no HTTP request."
            )
        client = request_client(request)
        return await anyio.to_thread.run_sync(work, client, limiter=_limiter(request.app))


class McpEndpoint:
    """``/mcp`` (an ASGI app): refuse without a valid token, else hand over to the manager."""

    def __init__(self) -> None:
        self.route = Route(MCP_PATH, endpoint=self, name=COMMAND, include_in_schema=False)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        # Plain routes leave no "route" in the scope; telemetry and envelopes read it.
        scope["route"] = self.route
        request = Request(scope, receive)
        manager: StreamableHTTPSessionManager | None = getattr(
            request.app.state, "mcp_manager", None
        )
        if scope["method"] == "GET":
            # Stateless: the server never sends on its own, so there is no event stream to
            # open (the spec's 405); an open GET would only hold a connection forever.
            error = ImageSkillError(
                ErrorCode.METHOD_NOT_ALLOWED,
                "This MCP endpoint is stateless: send JSON-RPC with POST; there is no GET stream.",
            )
            envelope = failure(COMMAND, error, trace_id=new_trace_id())
            allow = {"allow": "POST, DELETE"}
            await JSONResponse(envelope, status_code=405, headers=allow)(scope, receive, send)
            return
        if manager is None:
            error = ImageSkillError(
                ErrorCode.SERVICE_UNAVAILABLE, "The MCP endpoint is not running."
            )
            envelope = failure(COMMAND, error, trace_id=new_trace_id())
            await JSONResponse(envelope, status_code=503)(scope, receive, send)
            return
        client = request_client(request)
        checks = _limiter(request.app, "mcp_auth_limiter")
        who = await anyio.to_thread.run_sync(Client.whoami, client, limiter=checks)
        if not who.ok:
            await refusal(who)(scope, receive, send)
            return
        await manager.handle_request(scope, receive, send)


def refusal(who: Result) -> JSONResponse:
    """The token check's failure as the answer to the ``/mcp`` request itself.

    401 with ``WWW-Authenticate: Bearer`` for a missing or bad token; any other
    failure (a rate limit, an unavailable database) keeps its own status, and a
    retry hint becomes ``Retry-After``.
    """
    status = who.status if who.status >= 400 else 401
    headers: dict[str, str] = {}
    if status == 401:
        headers["www-authenticate"] = 'Bearer realm="image-skill"'
    retry_after = ((who.error or {}).get("recovery") or {}).get("retry_after_seconds")
    if isinstance(retry_after, int | float):
        headers["retry-after"] = str(max(int(retry_after), 1))
    who.envelope["command"] = COMMAND
    return JSONResponse(who.envelope, status_code=status, headers=headers)


def new_manager(settings: Settings) -> StreamableHTTPSessionManager:
    """A stateless, JSON-answering MCP session manager over a fresh server."""
    server = build_server(HttpBackend())
    # The bearer token, not the Host header, is what protects /mcp; the service's own
    # host names are the operator's, so DNS-rebinding host checks are left off here.
    server.streamable_http_app(
        json_response=True,
        stateless_http=True,
        # The upload tool's base64 image: the same bound BodyLimitMiddleware applies.
        max_request_body_size=body_limit_for(MCP_PATH, settings),
        transport_security=TransportSecuritySettings(enable_dns_rebinding_protection=False),
    )
    return server.session_manager


def mount_mcp(app: FastAPI) -> None:
    """Serve MCP at ``/mcp`` on ``app``, its session manager running in the app's lifespan."""
    inner = app.router.lifespan_context

    @asynccontextmanager
    async def lifespan(started: Any) -> AsyncIterator[Any]:
        async with inner(started) as state:
            manager = new_manager(started.state.settings)
            async with manager.run():
                started.state.mcp_manager = manager
                try:
                    yield state
                finally:
                    started.state.mcp_manager = None

    app.router.lifespan_context = lifespan
    app.router.routes.append(McpEndpoint().route)
