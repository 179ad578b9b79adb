"""Scale-out on PostgreSQL: API processes that only admit, worker processes that run jobs.

Two ``image-skill serve`` processes (``IMAGE_SKILL_API_RUNS_JOBS=false``) and two
``image-skill worker`` processes share one PostgreSQL database; the provider
(``test.slow``) takes 3 s a call. Every test here starts real processes, so all
are marked slow. A SQLite server, one process, runs its jobs itself.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import create_engine, select

from image_skill.service.db.models import Job
from image_skill.service.settings import to_async_url, to_sync_url
from tests.support.cli import expect, run_cli
from tests.support.databases import blank_database
from tests.support.ledger import assert_settled
from tests.support.plugins import plugin_env
from tests.support.servers import running_server
from tests.support.workers import (
    ROOMY,
    Deployment,
    deployment,
    http_agent,
    kill_hard,
    on,
    pid_of,
    slow_create,
    wait_job,
)

pytestmark = pytest.mark.slow

PROVIDER_SECONDS = 3.0


@pytest.fixture(scope="module")
def deploy(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Deployment]:
    workdir = tmp_path_factory.mktemp("scale-out")
    with (
        blank_database("postgres", workdir) as url,
        deployment(url, workdir, apis=2, workers=2, worker_concurrency=8) as running,
    ):
        yield running


def _sync_engine(deploy: Deployment) -> Any:
    return create_engine(to_sync_url(to_async_url(deploy.database_url)))


def test_100_creates_across_two_api_processes_all_complete_on_the_workers(
    deploy: Deployment,
) -> None:
    first = http_agent(deploy.apis[0], "load-bot")
    agents = [first, on(first, deploy.apis[1])]

    def create(index: int) -> httpx.Response:
        return slow_create(agents[index % 2], PROVIDER_SECONDS)

    started = time.monotonic()
    with ThreadPoolExecutor(max_workers=40) as pool:
        responses = list(pool.map(create, range(100)))
    elapsed = time.monotonic() - started
    statuses = [r.status_code for r in responses]
    assert statuses == [201] * 100, {s: statuses.count(s) for s in set(statuses)}
    job_ids = {r.json()["data"]["job_id"] for r in responses}
    assert len(job_ids) == 100
    assert all(r.json()["data"]["status"] == "completed" for r in responses)
    # 2 workers x 8 slots: far faster than one 3 s call after another.
    assert elapsed < 100 * PROVIDER_SECONDS / 4, elapsed

    engine = _sync_engine(deploy)
    try:
        with engine.connect() as conn:
            runners = conn.execute(select(Job.worker_id).where(Job.id.in_(job_ids))).scalars()
            pids = {pid_of(worker_id) for worker_id in runners}
        assert pids <= deploy.worker_pids(), "an API process ran a job"
        assert len(pids) == 2, "both workers should have run jobs"
        assert_settled(engine, first.actor_id)
    finally:
        engine.dispose()


def test_async_create_then_jobs_wait_on_the_other_api_process(deploy: Deployment) -> None:
    agent = http_agent(deploy.apis[0], "async-bot")
    response = slow_create(agent, PROVIDER_SECONDS, respond_async=True)
    assert response.status_code == 202, response.text
    assert response.headers["preference-applied"] == "respond-async"
    job_id = response.json()["data"]["job_id"]
    job = wait_job(on(agent, deploy.apis[1]), job_id)
    assert job["status"] == "completed"
    assert len(job["assets"]) == 1


def test_kill_9_of_the_api_process_a_client_waits_on_does_not_lose_the_job(
    deploy: Deployment,
) -> None:
    victim, survivor = deploy.apis[0], deploy.apis[1]
    agent = http_agent(victim, "orphan-bot")
    answers: list[Any] = []

    def create() -> None:
        try:
            answers.append(slow_create(agent, 6).status_code)
        except httpx.HTTPError as exc:
            answers.append(type(exc).__name__)

    waiting = threading.Thread(target=create)
    waiting.start()
    other = on(agent, survivor)
    deadline = time.monotonic() + 30
    jobs: list[dict[str, Any]] = []
    while not jobs and time.monotonic() < deadline:
        jobs = other.get("/v1/jobs").json()["data"]["jobs"]
        time.sleep(0.2)
    assert len(jobs) == 1, f"the create never reached the queue: {answers}"
    [job] = jobs
    kill_hard(victim.process)
    waiting.join(timeout=30)
    assert answers and answers[0] != 201, "the killed process cannot have answered"

    done = wait_job(other, job["job_id"])
    assert done["status"] == "completed"
    engine = _sync_engine(deploy)
    try:
        assert_settled(engine, agent.actor_id)
    finally:
        engine.dispose()
    deploy.apis[0] = deploy.start_api()  # later tests of the module get two APIs again


def test_a_sqlite_server_runs_its_jobs_in_process(tmp_path: Path) -> None:
    env = plugin_env(tmp_path / "calls.log", **ROOMY)
    with (
        blank_database("sqlite", tmp_path) as url,
        running_server(url, tmp_path, extra_env=env) as server,
    ):
        agent = http_agent(server, "sqlite-bot")
        created = slow_create(agent, 1)
        assert created.status_code == 201, created.text
        assert created.json()["data"]["status"] == "completed"
        queued = slow_create(agent, 1, respond_async=True)
        assert queued.status_code == 202, queued.text
        assert wait_job(agent, queued.json()["data"]["job_id"])["status"] == "completed"

        # The CLI: --no-wait answers the queued job at once; jobs wait long-polls it.
        env = {"IMAGE_SKILL_TOKEN": agent.token, "IMAGE_SKILL_API_BASE_URL": server.base_url}
        flags = ["--model", "test.slow", "--model-parameters-json", '{"sleep_seconds": 2}']
        started = time.monotonic()
        created = expect(
            run_cli("create", "--prompt", "x", *flags, "--no-wait", "--json", env=env), 0
        )
        assert time.monotonic() - started < 10
        assert created["data"]["status"] in ("queued", "running")
        job_id = created["data"]["job_id"]
        waited = expect(
            run_cli("jobs", "wait", job_id, "--timeout-ms", "30000", "--json", env=env), 0
        )
        assert waited["data"]["job"]["status"] == "completed"


def test_a_worker_on_an_unmigrated_database_says_how_to_migrate(tmp_path: Path) -> None:
    with blank_database("postgresql", tmp_path) as url:
        env = {"IMAGE_SKILL_DATABASE_URL": url, "IMAGE_SKILL_AUTO_MIGRATE": "false"}
        refused = run_cli("worker", "--json", env=env, timeout=60)
    envelope = expect(refused, refused.exit_code, "SERVICE_UNAVAILABLE")
    assert refused.exit_code != 0
    assert "IMAGE_SKILL_AUTO_MIGRATE" in envelope["error"]["message"]
    assert envelope["error"]["recovery"]["suggested_command"].endswith("image-skill worker")
