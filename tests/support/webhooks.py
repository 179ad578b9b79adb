"""Webhook test helpers: a started app whose webhook enqueues are recorded, claimed agents,
and running one delivery attempt on the app's own event loop."""

from __future__ import annotations

import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sqlalchemy import create_engine, text

from image_skill.service.runtime import Runtime
from image_skill.service.settings import to_async_url, to_sync_url
from image_skill.service.webhooks.delivery import deliver
from tests.support.agents import Agent, sign_up
from tests.support.apps import started_app
from tests.support.recording_queue import RecordingQueue

with warnings.catch_warnings():
    warnings.simplefilter("ignore")
    from fastapi.testclient import TestClient


@dataclass
class HookedApp:
    """A started app, its runtime, and the queue that holds its webhook deliveries."""

    client: TestClient
    runtime: Runtime
    queue: RecordingQueue
    database_url: str

    def attempt(self, delivery_id: str) -> None:
        """Run one ``deliver`` of ``delivery_id`` on the app's loop (as the work queue would)."""
        portal = self.client.portal
        assert portal is not None
        portal.call(deliver, self.runtime, delivery_id)

    def sql(self, statement: str, **params: Any) -> list[Any]:
        """Run SQL on the app's database behind its back (rows, if any)."""
        engine = create_engine(to_sync_url(to_async_url(self.database_url)))
        try:
            with engine.begin() as conn:
                result = conn.execute(text(statement), params)
                return list(result) if result.returns_rows else []
        finally:
            engine.dispose()

    def claimed_agent(self, name: str = "hooked") -> Agent:
        """A new agent, claimed (as if its human confirmed the emailed link)."""
        agent = sign_up(self.client, f"{name}@example.com", name)
        self.sql("UPDATE actors SET claim_state = 'claimed' WHERE id = :id", id=agent.actor_id)
        return agent

    def deliveries(self) -> list[str]:
        """Every delivery id enqueued so far, in order (retries included)."""
        return [delivery_id for delivery_id, _ in self.queue.webhooks]


@contextmanager
def hooked_app(database_url: str, home: Path, **overrides: Any) -> Iterator[HookedApp]:
    """``started_app`` (loopback targets allowed unless overridden) with webhooks recorded."""
    settings: dict[str, Any] = {
        "webhook_allow_private_targets": True,
        # As a deployed server has it: webhooks then carry absolute asset URLs.
        "public_base_url": "https://images.example.test",
        # The test runs every attempt (and every hand-over) itself; no sweep between its steps.
        "sweep_interval_seconds": 3600,
        **overrides,
    }
    with started_app(database_url, home, **settings) as client:
        runtime: Runtime = client.app.state.runtime  # type: ignore[attr-defined]
        queue = RecordingQueue(runtime.queue)
        runtime.queue = queue
        yield HookedApp(client, runtime, queue, database_url)
