"""A bounded number of creative requests doing their own work at once.

A burst of creates all parsing, authenticating, validating and writing at
the same time makes every turn of the event loop as long as the whole
burst's share of CPU, so unrelated requests (health probes, reads) wait
behind it. Holding a place in ``Runtime.admission_gate`` while doing that
work, and giving it up while the provider runs, keeps each turn short; the
waiting requests hold no connection and use no CPU.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Annotated

import anyio
from fastapi import Depends, Request

from image_skill.service.runtime import Runtime


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


async def admission_place(request: Request) -> AsyncIterator[AdmissionPlace]:
    """A held place for the request's lifetime (declared before authentication)."""
    runtime: Runtime = request.app.state.runtime
    place = AdmissionPlace(runtime.admission_gate)
    await place.take()
    try:
        yield place
    finally:
        place.give_up()


Admission = Annotated[AdmissionPlace, Depends(admission_place, scope="function")]
