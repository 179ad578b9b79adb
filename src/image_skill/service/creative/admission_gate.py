"""A bounded number of creative requests doing their own work at once.

A burst of creates all parsing, authenticating, validating and writing at
the same time makes every turn of the event loop as long as the whole
burst's share of CPU, so unrelated requests (health probes, reads) wait
behind it. ``AdmissionMiddleware`` gives each creative request a place in
``Runtime.admission_gate`` before anything else is done for it; the request
lends the place out while its provider runs. Waiting requests hold no
connection and use no CPU, and are let in first come, first served.

A body of at most ``max_request_bytes`` (every create and edit, a small
upload) is received before the place is taken: a client that sends it slowly,
by accident or to starve the service, waits on its own and holds no place
while it does, and what waiting requests hold in memory stays as small as any
other route's body. A larger upload is read while it holds its place, so at
most ``admission_concurrency`` of those are in memory at once.
"""

from __future__ import annotations

from collections import deque
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Annotated

import anyio
from fastapi import Depends, Request
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from image_skill.service.abuse.body_limit import body_limit_for, content_length
from image_skill.service.runtime import Runtime

GATED_PATHS = frozenset({"/v1/create", "/v1/edit", "/v1/upload"})
_STATE_KEY = "admission_place"


class AdmissionPlace:
    """One request's place in the gate: held while working, lent out while waiting."""

    def __init__(self, gate: anyio.CapacityLimiter) -> None:
        self._gate = gate
        self._held = False

    async def take(self) -> None:
        """Wait for a place (first come, first served)."""
        await self._gate.acquire_on_behalf_of(self)
        self._held = True

    def give_up(self) -> None:
        """Free the place (no-op when not held)."""
        if self._held:
            self._held = False
            self._gate.release_on_behalf_of(self)

    @asynccontextmanager
    async def lent(self) -> AsyncIterator[None]:
        """Free the place while the body waits on something slow, then take one again.

        A body that fails does not take one again: the request only answers.
        """
        self.give_up()
        yield
        await self.take()


class AdmissionMiddleware:
    """Takes a place for ``POST`` to a creative route before routing, parsing or auth."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if not _gated(scope):
            await self.app(scope, receive, send)
            return
        if _small_body(scope):
            receive = _replayed(await _whole_body(receive), receive)
        runtime: Runtime = scope["app"].state.runtime
        place = AdmissionPlace(runtime.admission_gate)
        await place.take()
        scope.setdefault("state", {})[_STATE_KEY] = place
        try:
            await self.app(scope, receive, send)
        finally:
            place.give_up()


def _small_body(scope: Scope) -> bool:
    """Whether the body is at most ``max_request_bytes`` (by its route's limit, or else
    by its declared length), and so is received before the place is taken."""
    settings = scope["app"].state.settings
    if body_limit_for(scope["path"], settings) <= settings.max_request_bytes:
        return True
    declared = content_length(scope)
    return declared is not None and declared <= settings.max_request_bytes


async def _whole_body(receive: Receive) -> deque[Message]:
    """Every message of the request body (or up to the client's disconnect)."""
    messages: deque[Message] = deque()
    while True:
        message = await receive()
        messages.append(message)
        if message["type"] != "http.request" or not message.get("more_body", False):
            return messages


def _replayed(received: deque[Message], receive: Receive) -> Receive:
    """``receive`` for the app: the buffered messages first (each let go as it is
    handed over, so the body is not held twice), then the client's own."""

    async def replay() -> Message:
        if received:
            return received.popleft()
        return await receive()

    return replay


def _gated(scope: Scope) -> bool:
    return scope["type"] == "http" and scope["method"] == "POST" and scope["path"] in GATED_PATHS


async def admission_place(request: Request) -> AdmissionPlace:
    """The place ``AdmissionMiddleware`` took for this request."""
    place: AdmissionPlace = getattr(request.state, _STATE_KEY)
    return place


Admission = Annotated[AdmissionPlace, Depends(admission_place)]
