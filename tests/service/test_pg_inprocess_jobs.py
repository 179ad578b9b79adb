"""On PostgreSQL the admitting process runs its own jobs while it has a free slot.

A create admitted with a slot free runs in the API process with no queue row
(no defer, fetch or finish: counted at the driver, so procrastinate's own
connections are seen too); once the slots are full the next job is deferred
to procrastinate and waits for a slot (the process never runs more than
``worker_concurrency`` at once). A job a process admitted for itself and
never claimed (it died in between) is re-queued by ``requeue_orphans`` once it
is older than the lease and run; a younger one is left alone.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from types import ModuleType
from typing import Any

import psycopg
import pytest
from sqlalchemy import Engine, create_engine, event, text, update

from image_skill.service.db.models import Job
from image_skill.service.jobs import pg_queue
from image_skill.service.settings import to_async_url, to_sync_url
from tests.support.agents import Agent, sign_up
from tests.support.apps import started_app
from tests.support.crashes import job_row, wait_for
from tests.support.databases import blank_database
from tests.support.envelopes import ok
from tests.support.ledger import assert_settled

ROOMY: dict[str, Any] = {"daily_job_cap_unclaimed": 100, "free_preview_credits": 1000}
ASYNC = {"Prefer": "respond-async"}
SKETCH = {"prompt": "a lighthouse at dusk", "model": "local.sketch"}


@pytest.fixture
def pg_url(tmp_path: Path) -> Iterator[str]:
    with blank_database("postgres", tmp_path) as url:
        yield url


@pytest.fixture
def pg(pg_url: str) -> Iterator[Engine]:
    engine = create_engine(to_sync_url(to_async_url(pg_url)))
    yield engine
    engine.dispose()


class DriverLog:
    """Every statement this process sends while ``recording``: the service's own (through
    SQLAlchemy, on asyncpg) and procrastinate's (on its psycopg pool)."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch) -> None:
        self.sent: list[str] = []
        self.recording = False
        original = psycopg.AsyncCursor.execute
        log = self

        async def execute(cursor: Any, query: Any, *args: Any, **kwargs: Any) -> Any:
            log.record(query if isinstance(query, str) else repr(query))
            return await original(cursor, query, *args, **kwargs)

        monkeypatch.setattr(psycopg.AsyncCursor, "execute", execute)

    def record(self, sql: str) -> None:
        if self.recording:
            self.sent.append(sql)

    def on_execute(self, _conn: Any, _cursor: Any, sql: str, *_rest: Any) -> None:
        self.record(sql)


@pytest.fixture
def driver(monkeypatch: pytest.MonkeyPatch) -> Iterator[DriverLog]:
    log = DriverLog(monkeypatch)
    event.listen(Engine, "before_cursor_execute", log.on_execute)
    yield log
    event.remove(Engine, "before_cursor_execute", log.on_execute)


def queue_rows(pg: Engine, job_id: str) -> list[str]:
    """The statuses of procrastinate's rows for ``job_id``."""
    with pg.connect() as connection:
        found = connection.execute(
            text("SELECT status FROM procrastinate.procrastinate_jobs WHERE args->>'job_id' = :j"),
            {"j": job_id},
        )
        return [str(status) for status in found.scalars()]


def slow_create(agent: Agent, seconds: float) -> str:
    """An async ``test.slow`` create sleeping ``seconds``; its job id."""
    body: dict[str, Any] = {
        "prompt": "a slow harbour",
        "model": "test.slow",
        "model_parameters": {"sleep_seconds": seconds},
    }
    response = agent.client.post("/v1/create", json=body, headers={**agent.headers, **ASYNC})
    assert response.status_code == 202, response.text
    return str(response.json()["data"]["job_id"])


def waited(agent: Agent, job_id: str) -> dict[str, Any]:
    job: dict[str, Any] = ok(agent.get(f"/v1/jobs/{job_id}/wait?timeout_seconds=30"), 200)["job"]
    return job


def test_a_create_with_a_free_slot_runs_here_without_a_queue_round_trip(
    pg_url: str, pg: Engine, tmp_path: Path, driver: DriverLog
) -> None:
    with started_app(pg_url, tmp_path / "home", **ROOMY) as client:
        agent = sign_up(client)
        assert ok(client.post("/v1/create", json=SKETCH, headers=agent.headers))  # warm
        driver.recording = True
        data = ok(client.post("/v1/create", json=SKETCH, headers=agent.headers))
        driver.recording = False
        runtime = client.app.state.runtime  # type: ignore[attr-defined]
    assert data["status"] == "completed"
    assert [s for s in driver.sent if "procrastinate" in s] == []
    # It counted (the admission's inserts are one statement: db/insert_together.py).
    assert any('INSERT INTO "jobs"' in s for s in driver.sent)
    # Claimed by its admission (jobs/run_slot.py): no claiming read of job, order, actor.
    assert not [s for s in driver.sent if "FROM jobs LEFT OUTER JOIN job_orders" in s]
    assert job_row(pg, data["job_id"]).worker_id == runtime.worker_id
    assert queue_rows(pg, data["job_id"]) == []
    assert_settled(pg, agent.actor_id)


def test_full_slots_spill_over_to_the_queue_and_never_run_more_at_once(
    pg_url: str, pg: Engine, tmp_path: Path, counting_plugin: ModuleType
) -> None:
    with started_app(pg_url, tmp_path / "home", worker_concurrency=1, **ROOMY) as client:
        agent = sign_up(client)
        first = slow_create(agent, 1.5)  # async: it too runs here
        wait_for(lambda: job_row(pg, first).status == "running", timeout=10)
        second = slow_create(agent, 0.1)
        assert queue_rows(pg, first) == []
        assert queue_rows(pg, second) in (["todo"], ["doing"])
        # Taken by this process's queue worker, it waits for the one slot.
        assert ok(agent.get(f"/v1/jobs/{second}"), 200)["job"]["status"] == "queued"
        assert waited(agent, first)["status"] == "completed"
        assert waited(agent, second)["status"] == "completed"
        worker_id = client.app.state.runtime.worker_id  # type: ignore[attr-defined]
    one, two = job_row(pg, first), job_row(pg, second)
    assert one.worker_id == two.worker_id == worker_id
    assert one.completed_at is not None and two.started_at is not None
    assert two.started_at >= one.completed_at
    assert queue_rows(pg, second) == []  # done: procrastinate deletes successful rows
    assert counting_plugin.calls("test.slow") == 2
    assert_settled(pg, agent.actor_id)


def test_a_job_its_process_never_claimed_is_requeued_and_run_once_old_enough(
    pg_url: str, pg: Engine, tmp_path: Path
) -> None:
    # Two jobs as a process killed between the admitting commit and its own claim
    # leaves them: queued, reserved, with their orders, and no queue row.
    with started_app(pg_url, tmp_path / "a", api_runs_jobs=False, **ROOMY) as client:
        agent = sign_up(client)
        headers = {**agent.headers, **ASYNC}
        old, young = (
            ok(client.post("/v1/create", json=SKETCH, headers=headers), 202)["job_id"]
            for _ in range(2)
        )
    with pg.begin() as connection:
        # procrastinate's triggers name its tables unqualified
        connection.execute(text("SET LOCAL search_path = procrastinate, public"))
        connection.execute(
            text("DELETE FROM procrastinate.procrastinate_jobs WHERE args->>'job_id' IN (:a, :b)"),
            {"a": old, "b": young},
        )
        earlier = job_row(pg, old).queued_at - timedelta(minutes=5)  # type: ignore[operator]
        connection.execute(update(Job).where(Job.id == old).values(queued_at=earlier))

    with started_app(pg_url, tmp_path / "b", **ROOMY) as client:
        wait_for(lambda: job_row(pg, old).status == "completed", timeout=20)
        assert job_row(pg, young).status == "queued"  # younger than the lease: left alone
        assert queue_rows(pg, young) == []
        runtime = client.app.state.runtime  # type: ignore[attr-defined]
        assert client.portal is not None
        requeued = client.portal.call(_requeue, runtime, 0.0)
        assert requeued == 1  # the young one, once it counts as old enough
        wait_for(lambda: job_row(pg, young).status == "completed", timeout=20)
        assert client.portal.call(_requeue, runtime, 0.0) == 0
    assert job_row(pg, old).worker_id == runtime.worker_id
    assert_settled(pg, agent.actor_id)


async def _requeue(runtime: Any, older_than: float) -> int:
    return await pg_queue.requeue_orphans(runtime.queue.app, runtime.engine, older_than=older_than)
