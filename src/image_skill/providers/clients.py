"""Provider HTTP clients, built once per vendor configuration and event loop, then reused.

Building an SDK client for every call built a new connection pool, a new SSL
context and a new TCP (and TLS) connection each time: in a profile of a create
against a zero-latency upstream that was nearly half the CPU. Clients are now
kept and shared by every call with the same configuration.

A client is cached under the running event loop and a configuration key (the
vendor, its base URL, a digest of its key, its timeouts): a rotated key or a
moved base URL is read per call and simply builds another client. The loop is
part of the key because a pool's connections belong to the loop that opened
them, and one process can run several loops (tests, the embedded CLI); a loop
that is gone takes its clients with it (weak keys). The app's lifespan closes
the running loop's clients on shutdown (``aclose_clients``).
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
import weakref
from collections.abc import Awaitable, Callable, Hashable
from typing import Any, TypeVar, cast

log = logging.getLogger("image_skill.providers.clients")

T = TypeVar("T")
Closer = Callable[[], Awaitable[Any]]

_by_loop: weakref.WeakKeyDictionary[
    asyncio.AbstractEventLoop, dict[Hashable, tuple[object, Closer]]
] = weakref.WeakKeyDictionary()


def key_digest(secret: str) -> str:
    """A digest of a credential, to tell configurations apart without keeping the value."""
    return hashlib.sha256(secret.encode()).hexdigest()[:32]


def shared_client(config: Hashable, build: Callable[[], T], close: Callable[[T], Closer]) -> T:
    """The client for ``config`` on the running loop, built by ``build`` the first time.

    ``close(client)`` gives the coroutine function that releases it at shutdown.
    """
    clients = _by_loop.setdefault(asyncio.get_running_loop(), {})
    entry = clients.get(config)
    if entry is None:
        client = build()
        clients[config] = (client, close(client))
        return client
    return cast(T, entry[0])


def cached_count() -> int:
    """How many clients the running loop holds (for tests and diagnostics)."""
    return len(_by_loop.get(asyncio.get_running_loop(), {}))


async def aclose_clients() -> None:
    """Close every client the running loop holds (the app calls it on shutdown)."""
    clients = _by_loop.pop(asyncio.get_running_loop(), {})
    for _client, closer in clients.values():
        try:
            await closer()
        except Exception as exc:  # a client that fails to close must not stop the others
            # The type only: an SDK's message can carry its upstream URL.
            log.warning("provider client did not close cleanly (%s)", type(exc).__name__)
