"""A bounded number of creative requests doing their own work at once.

A burst of creates all parsing, authenticating, validating and writing at
the same time makes every turn of the event loop as long as the whole
burst's share of CPU, so unrelated requests (health probes, reads) wait
behind it. ``AdmissionMiddleware`` gives each creative request a place in
``Runtime.admission_gate`` before anything else is done for it; the request
lends the place out while its provider runs. Waiting requests hold no
connection and use no CPU, and are let in first come, first served.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Annotated

import anyio
from fastapi import Depends, Request
from starlette.types import ASGIApp, Receive, Scope, Send

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
        runtime: Runtime = scope["app"].state.runtime
        place = AdmissionPlace(runtime.admission_gate)
        await place.take()
        scope.setdefault("state", {})[_STATE_KEY] = place
        try:
            await self.app(scope, receive, send)
        finally:
            place.give_up()


def _gated(scope: Scope) -> bool:
    return scope["type"] == "http" and scope["method"] == "POST" and scope["path"] in GATED_PATHS


async def admission_place(request: Request) -> AdmissionPlace:
    """The place ``AdmissionMiddleware`` took for this request."""
    place: AdmissionPlace = getattr(request.state, _STATE_KEY)
    return place


Admission = Annotated[AdmissionPlace, Depends(admission_place)]
