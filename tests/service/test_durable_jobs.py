"""Jobs leave the request: queued admission, async create, server-side waits, on both databases.

The app runs in-process; on SQLite its own task group runs the jobs
(``inprocess``), on PostgreSQL the embedded procrastinate worker does
(``queue``). The provider is ``test.slow`` (a real sleep), so a job is
really still queued or running when a test looks at it.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest
from sqlalchemy import Engine, select, text

from image_skill.service.db.job_models import JobOrder
from image_skill.service.db.models import Job
from image_skill.service.jobs import pg_queue
from image_skill.service.jobs.executor import run_job
from tests.support.agents import Agent, sign_up
from tests.support.apps import started_app
from tests.support.envelopes import ok
from tests.support.ledger import assert_settled

SLOW = "test.slow"
ASYNC = {"Prefer": "respond-async"}
ROOMY = {"daily_job_cap_unclaimed": 100, "free_preview_credits": 1000}


@pytest.fixture
def agent(database_url: str, tmp_path: Path, counting_plugin: ModuleType) -> Iterator[Agent]:
    with started_app(database_url, tmp_path / "home", **ROOMY) as client:
        yield sign_up(client)


def _slow(agent: Agent, seconds: float, *, key: str | None = None, wait: bool = False) -> Any:
    headers = dict(agent.headers)
    if key:
        headers["Idempotency-Key"] = key
    if not wait:
        headers.update(ASYNC)
    body = {
        "prompt": "a slow lighthouse",
        "model": SLOW,
        "model_parameters": {"sleep_seconds": seconds},
    }
    return agent.client.post("/v1/create", json=body, headers=headers)


def _wait(agent: Agent, job_id: str, seconds: float = 30) -> dict[str, Any]:
    response = agent.get(f"/v1/jobs/{job_id}/wait", params={"timeout_seconds": seconds})
    job: dict[str, Any] = ok(response, 200)["job"]
    return job


def test_async_create_answers_202_with_the_queued_job_then_wait_gets_it(
    agent: Agent, db: Engine
) -> None:
    started = time.monotonic()
    response = _slow(agent, 2)
    assert time.monotonic() - started < 1.5, "respond-async must not wait for the provider"
    assert response.status_code == 202, response.text
    assert response.headers["preference-applied"] == "respond-async"
    data = response.json()["data"]
    assert data["status"] in ("queued", "running")
    assert data["terminal"] is False
    assert data["recovery"]["suggested_command"] == f"image-skill jobs wait {data['job_id']} --json"

    job = _wait(agent, data["job_id"])
    assert job["status"] == "completed"
    assert job["progress"] is None
    [asset] = job["assets"]
    assert asset["job_id"] == data["job_id"]
    assert job["cost"]["credits_debited"] == job["cost"]["credits_reserved"] > 0
    assert_settled(db, agent.actor_id)


def test_a_sync_create_waits_server_side_and_answers_as_0_1_0_did(agent: Agent) -> None:
    response = _slow(agent, 1, wait=True)
    data = ok(response)  # 201
    assert data["status"] == "completed"
    assert [a["job_id"] for a in data["assets"]] == [data["job_id"]]
    assert data["quota"]["credits_debited"] > 0
    assert data["resolved"]["model_parameters"] == {"sleep_seconds": 1}


def test_a_create_past_the_wait_limit_answers_202_and_how_to_wait(
    database_url: str, tmp_path: Path, counting_plugin: ModuleType
) -> None:
    with started_app(database_url, tmp_path / "home", create_wait_seconds=0.5, **ROOMY) as client:
        agent = sign_up(client)
        response = _slow(agent, 3, wait=True)
        assert response.status_code == 202, response.text
        assert "preference-applied" not in response.headers
        envelope = response.json()
        job_id = envelope["data"]["job_id"]
        assert "wait limit" in " ".join(envelope["warnings"])
        assert envelope["data"]["recovery"]["suggested_command"].startswith("image-skill jobs wait")
        assert _wait(agent, job_id)["status"] == "completed"


def test_wait_answers_the_job_as_it_is_when_the_timeout_passes(agent: Agent) -> None:
    job_id = _slow(agent, 4).json()["data"]["job_id"]
    started = time.monotonic()
    job = _wait(agent, job_id, seconds=0.5)
    assert 0.4 < time.monotonic() - started < 3
    assert job["status"] in ("queued", "running")
    assert job["terminal"] is False
    assert job["progress"] is not None
    assert _wait(agent, job_id)["status"] == "completed"


def test_queue_position_counts_the_jobs_admitted_before(
    database_url: str, tmp_path: Path, counting_plugin: ModuleType
) -> None:
    with started_app(database_url, tmp_path / "home", worker_concurrency=1, **ROOMY) as client:
        agent = sign_up(client)
        ids = [_slow(agent, 3).json()["data"]["job_id"] for _ in range(3)]
        deadline = time.monotonic() + 10
        while ok(agent.get(f"/v1/jobs/{ids[0]}"), 200)["job"]["status"] == "queued":
            assert time.monotonic() < deadline, "the first job never started"
            time.sleep(0.05)
        last = ok(agent.get(f"/v1/jobs/{ids[2]}"), 200)["job"]
        assert last["status"] == "queued"
        assert last["progress"] == {"queue_position": 1}  # the first runs, the second waits
        for job_id in ids:
            assert _wait(agent, job_id)["status"] == "completed"


@pytest.mark.parametrize("seconds", [0, -1, 61, "soon"])
def test_wait_refuses_a_timeout_outside_1_to_60_seconds(agent: Agent, seconds: object) -> None:
    job_id = _slow(agent, 0).json()["data"]["job_id"]
    response = agent.get(f"/v1/jobs/{job_id}/wait", params={"timeout_seconds": seconds})
    assert response.status_code == 400, response.text
    assert response.json()["error"]["code"] == "INVALID_ARGUMENTS"


def test_wait_on_another_organizations_job_is_not_found(agent: Agent) -> None:
    job_id = _slow(agent, 0).json()["data"]["job_id"]
    other = sign_up(agent.client, "other@example.com", "other")
    response = other.get(f"/v1/jobs/{job_id}/wait", params={"timeout_seconds": 1})
    assert response.status_code == 404
    assert response.json()["error"]["code"] == "NOT_FOUND"


def test_the_prompt_lives_in_the_database_only_until_the_job_ends(agent: Agent, db: Engine) -> None:
    job_id = _slow(agent, 1.5).json()["data"]["job_id"]
    with db.connect() as conn:
        payload = conn.execute(
            select(JobOrder.payload).where(JobOrder.job_id == job_id)
        ).scalar_one()
    assert payload["prompt"] == "a slow lighthouse"
    assert _wait(agent, job_id)["status"] == "completed"
    with db.connect() as conn:
        assert conn.execute(select(JobOrder).where(JobOrder.job_id == job_id)).first() is None
        row = conn.execute(select(Job).where(Job.id == job_id)).one()
        assert "lighthouse" not in repr(row)
        assert conn.execute(text("SELECT COUNT(*) FROM job_orders")).scalar_one() == 0


def test_an_idempotent_replay_answers_the_job_as_it_is_now(agent: Agent) -> None:
    first = _slow(agent, 1.5, key="k-async")
    assert first.status_code == 202
    job_id = first.json()["data"]["job_id"]
    again = _slow(agent, 1.5, key="k-async")
    assert again.status_code == 202
    assert again.json()["data"]["job_id"] == job_id
    assert again.json()["data"]["status"] in ("queued", "running")
    _wait(agent, job_id)
    replayed = _slow(agent, 1.5, key="k-async", wait=True)
    data = ok(replayed)
    assert data["job_id"] == job_id and data["status"] == "completed"


def test_a_failed_job_answers_its_error_to_the_waiting_request(agent: Agent) -> None:
    body = {"prompt": "x", "model": "test.failing", "model_parameters": {"mode": "unavailable"}}
    response = agent.post("/v1/create", body)
    envelope = response.json()
    assert response.status_code == 503, response.text
    assert envelope["error"]["code"] == "PROVIDER_UNAVAILABLE"
    assert envelope["error"]["retryable"] is True


def test_a_job_runs_once_however_often_it_is_handed_out(
    database_url: str, tmp_path: Path, counting_plugin: ModuleType
) -> None:
    with started_app(database_url, tmp_path / "home", **ROOMY) as client:
        agent = sign_up(client)
        job_id = _slow(agent, 1).json()["data"]["job_id"]
        runtime = client.app.state.runtime  # type: ignore[attr-defined]
        assert client.portal is not None
        # Three more executors are handed the same id while the first runs it.
        for _ in range(3):
            client.portal.call(run_job, runtime, job_id)
        assert _wait(agent, job_id)["status"] == "completed"
        client.portal.call(run_job, runtime, job_id)
    assert counting_plugin.calls(SLOW) == 1


def test_a_queue_row_a_dead_worker_took_goes_back_to_the_queue(
    database_url: str, tmp_path: Path, counting_plugin: ModuleType, db: Engine
) -> None:
    """A worker killed after taking a job's queue row, before claiming the job, strands nothing."""
    if not database_url.startswith("postgresql"):
        pytest.skip("procrastinate's queue exists on PostgreSQL only")
    settings = {**ROOMY, "api_runs_jobs": False}  # nothing here takes the row first
    with started_app(database_url, tmp_path / "home", **settings) as client:
        agent = sign_up(client)
        job_id = _slow(agent, 0.1).json()["data"]["job_id"]
        with db.begin() as connection:
            # procrastinate's triggers name its tables unqualified
            connection.execute(text("SET LOCAL search_path = procrastinate, public"))
            dead = connection.execute(
                text(
                    "INSERT INTO procrastinate.procrastinate_workers (last_heartbeat) "
                    "VALUES (now() - interval '1 hour') RETURNING id"
                )
            ).scalar_one()
            taken = connection.execute(
                text(
                    "UPDATE procrastinate.procrastinate_jobs SET status = 'doing', worker_id = :w "
                    "WHERE args->>'job_id' = :job RETURNING id"
                ),
                {"w": dead, "job": job_id},
            ).all()
        assert len(taken) == 1
        runtime = client.app.state.runtime  # type: ignore[attr-defined]
        assert client.portal is not None
        queue_app = runtime.queue.app

        async def clear_as_a_worker_does() -> int:
            async with queue_app.open_async():  # this API process runs no worker of its own
                return await pg_queue.clear_stalled(queue_app)

        handed_back = client.portal.call(clear_as_a_worker_does)
        assert handed_back == 1
        with db.connect() as connection:
            status = connection.execute(
                text(
                    "SELECT status FROM procrastinate.procrastinate_jobs "
                    "WHERE args->>'job_id' = :job"
                ),
                {"job": job_id},
            ).scalar_one()
        assert status == "todo"  # a live worker takes it and runs the job
        client.portal.call(run_job, runtime, job_id)
        assert _wait(agent, job_id)["status"] == "completed"
