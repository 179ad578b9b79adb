"""Rate limits with the ``limits`` library, counted per rule and key.

Why a sliding window counter: it keeps two counters per key (constant memory
in process and in Redis, unlike a moving window that stores every hit, which a
flood would turn into memory) and, unlike a fixed window, does not let a
client spend twice its allowance across a window boundary.

Counters live in process memory unless ``rate_limit_storage`` names a shared
store (``redis://...``), so several API processes count together. If that
store is unreachable the limiter fails open (the request goes on, a warning
naming only the exception type is logged) and leaves the store alone for a
few seconds: an outage of the counters must not become an outage of the API.

Keys are hashed before they reach the store: counters never hold a token, an
email or an address in the clear.
"""

from __future__ import annotations

import asyncio
import hashlib
import ipaddress
import logging
import math
import time
from typing import Any

from limits import RateLimitItem, parse_many
from limits.aio.storage import MemoryStorage, Storage
from limits.aio.strategies import SlidingWindowCounterRateLimiter
from limits.storage import storage_from_string
from starlette.requests import Request
from starlette.types import Scope

from image_skill.contract.errors import ErrorCode, ImageSkillError
from image_skill.service.settings import Settings

log = logging.getLogger("image_skill.service")

_STATE_ATTR = "rate_limiter"
_KEY_PREFIX = "image_skill"
_STORE_TIMEOUT_SECONDS = 0.5
_STORE_BACKOFF_SECONDS = 5.0


class RateLimiter:
    """One app's counters: the store, the strategy and the parsed rules."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.storage = _storage_for(settings.rate_limit_storage)
        self.strategy = SlidingWindowCounterRateLimiter(self.storage)
        self._rules: dict[str, list[RateLimitItem]] = {}
        self._store_down_until = 0.0
        # Stores hold asyncio objects (locks, a Redis connection pool) bound to one loop.
        self.loop = asyncio.get_running_loop()

    def items(self, rule: str) -> list[RateLimitItem]:
        """The limits a settings field (e.g. ``rate_limit_signup_per_ip``) names; empty = none."""
        items = self._rules.get(rule)
        if items is None:
            value = getattr(self.settings, rule)
            if not isinstance(value, str):
                raise ValueError(f"{rule} is not a rate limit setting")
            items = parse_many(value) if value.strip() else []
            self._rules[rule] = items
        return items

    async def hit(self, rule: str, key: str) -> int | None:
        """Count one hit of ``key`` under ``rule``; seconds to wait when over, else None."""
        items = self.items(rule)
        if not items or time.monotonic() < self._store_down_until:
            return None
        identifier = hashed_key(key)
        try:
            # In order, stopping at the first refusal (as Flask-Limiter does): a
            # refused request is not also counted against the longer windows.
            for item in items:
                if not await self.strategy.hit(item, rule, identifier):
                    stats = await self.strategy.get_window_stats(item, rule, identifier)
                    return max(1, math.ceil(stats.reset_time - time.time()))
        except Exception as exc:  # the shared store is down or misbehaving: fail open
            self._store_down_until = time.monotonic() + _STORE_BACKOFF_SECONDS
            log.warning("rate limit store unavailable, not limiting: %s", type(exc).__name__)
        return None


def _storage_for(uri: str | None) -> Storage:
    if not uri or uri.strip() in ("", "memory://"):
        return MemoryStorage()
    uri = uri.strip()
    options: dict[str, Any] = {}
    if not uri.startswith("async+"):
        uri = "async+" + uri  # the limits library names its asyncio stores async+<scheme>
    if uri.startswith(("async+redis", "async+rediss")):
        options = {
            "implementation": "redispy",
            "key_prefix": _KEY_PREFIX,
            "socket_connect_timeout": _STORE_TIMEOUT_SECONDS,
            "socket_timeout": _STORE_TIMEOUT_SECONDS,
        }
    storage = storage_from_string(uri, wrap_exceptions=True, **options)
    if not isinstance(storage, Storage):
        raise ValueError("IMAGE_SKILL_RATE_LIMIT_STORAGE must name an asyncio-capable store")
    return storage


def hashed_key(key: str) -> str:
    """What the store sees of a key (a token, an email, an address): a truncated SHA-256."""
    return hashlib.sha256(key.encode("utf-8", "surrogatepass")).hexdigest()[:32]


def limiter_for(app: Any) -> RateLimiter | None:
    """The app's limiter (built on first use in this event loop), or None when limits are
    off or the app is embedded (the local owner on their own machine)."""
    settings: Settings = app.state.settings
    if not settings.rate_limits_enabled or settings.embedded:
        return None
    limiter: RateLimiter | None = getattr(app.state, _STATE_ATTR, None)
    if limiter is None or limiter.loop is not asyncio.get_running_loop():
        limiter = RateLimiter(settings)
        setattr(app.state, _STATE_ATTR, limiter)
    return limiter


def rate_limited(retry_after_seconds: int) -> ImageSkillError:
    """The RATE_LIMITED refusal (HTTP 429, exit 5) with its retry hint."""
    return ImageSkillError(
        ErrorCode.RATE_LIMITED,
        f"Too many requests; retry in {retry_after_seconds} seconds.",
        recovery={"retry_after_seconds": retry_after_seconds},
    )


async def enforce(request: Request, rule: str, key: str) -> None:
    """Count one hit of ``key`` under the settings field ``rule``; raise RATE_LIMITED when over."""
    limiter = limiter_for(request.app)
    if limiter is None:
        return
    wait = await limiter.hit(rule, key)
    if wait is not None:
        raise rate_limited(wait)


def client_ip(request: Request) -> str:
    """The client's address: the socket peer, or the proxy's X-Forwarded-For when trusted."""
    return client_ip_of(request.scope, request.app.state.settings)


def client_ip_of(scope: Scope, settings: Settings) -> str:
    """``client_ip`` for a raw ASGI scope (the middlewares have no Request yet)."""
    if settings.trust_forwarded_for:
        forwarded = forwarded_for(scope)
        if forwarded is not None:
            return forwarded
    client = scope.get("client")
    return str(client[0]) if client else "unknown"


def forwarded_for(scope: Scope) -> str | None:
    """The address the trusted proxy saw: the right-most X-Forwarded-For hop, if an IP.

    The right-most hop is the one our own proxy appended; hops left of it come
    from the client and can be forged, whether the proxy appends or replaces.
    """
    values = [value for name, value in scope.get("headers", ()) if name == b"x-forwarded-for"]
    if not values:
        return None
    hop = values[-1].decode("latin-1").split(",")[-1].strip()
    try:
        return str(ipaddress.ip_address(hop))
    except ValueError:
        return None
