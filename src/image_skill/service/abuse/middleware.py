"""Request rates per client IP and per bearer token, before routing and auth.

Runs before the creative admission gate, so a flood is refused at the door
instead of queueing for a place. The token is never looked up here (no
database work for a refused request): its hash is the counter's key, so a
made-up token is limited like a real one. ``/healthz`` is exempt, so probes
keep working while a client is being refused.
"""

from __future__ import annotations

from starlette.datastructures import Headers
from starlette.types import ASGIApp, Receive, Scope, Send

from image_skill.contract.errors import ImageSkillError
from image_skill.service.abuse.asgi import send_error
from image_skill.service.abuse.limiter import client_ip_of, limiter_for, rate_limited
from image_skill.service.bearer import parse_bearer

EXEMPT_PATHS = frozenset({"/healthz"})


class RateLimitMiddleware:
    """Counts every HTTP request against ``rate_limit_per_ip`` and ``rate_limit_per_token``."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["path"] in EXEMPT_PATHS:
            await self.app(scope, receive, send)
            return
        limiter = limiter_for(scope["app"])
        if limiter is not None:
            wait = await limiter.hit("rate_limit_per_ip", client_ip_of(scope, limiter.settings))
            token = bearer_token(scope)
            if wait is None and token is not None:
                wait = await limiter.hit("rate_limit_per_token", token)
            if wait is not None:
                await send_error(scope, receive, send, rate_limited(wait))
                return
        await self.app(scope, receive, send)


def bearer_token(scope: Scope) -> str | None:
    """The request's bearer token (the limiter hashes it before counting), if any.

    A malformed header counts as no token here; authentication refuses it later.
    """
    try:
        return parse_bearer(Headers(scope=scope).get("authorization"))
    except ImageSkillError:
        return None
