"""A scaled-out deploy on loopback: API processes and ``image-skill worker`` processes.

``Deployment`` starts N ``image-skill serve`` processes that only admit jobs
(``IMAGE_SKILL_API_RUNS_JOBS=false``) and M ``image-skill worker`` processes on
one PostgreSQL database, all loading the test provider plugin (``test.slow``
sleeps like a slow provider). Agents talk to any API process over real HTTP.
"""

from __future__ import annotations

import os
import signal
import subprocess
import time
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx

from tests.support.agents import Agent
from tests.support.cli import CLI
from tests.support.plugins import plugin_env
from tests.support.servers import Server, start_server, stop_server

SLOW_MODEL = "test.slow"
# Enough daily jobs and credits for a load of creates by one unclaimed agent.
ROOMY = {
    "daily_job_cap_unclaimed": 1000,
    "free_preview_credits": 2000,
    "free_preview_daily_ceiling": 1_000_000,
}


@dataclass
class Worker:
    """A running ``image-skill worker`` process."""

    process: subprocess.Popen[bytes]
    log_path: Path

    def log(self) -> str:
        """Everything the worker wrote."""
        return self.log_path.read_text(errors="replace")


@dataclass
class Deployment:
    """API and worker processes sharing one database."""

    database_url: str
    workdir: Path
    env: dict[str, str]
    apis: list[Server] = field(default_factory=list)
    workers: list[Worker] = field(default_factory=list)

    def start_worker(self) -> Worker:
        """One more ``image-skill worker`` on the shared database."""
        env = {**os.environ, **self.env, "IMAGE_SKILL_DATABASE_URL": self.database_url}
        # The API processes' data dir: one machine, one local asset store for all.
        env["IMAGE_SKILL_HOME"] = str(self.workdir / "server-data")
        log_path = self.workdir / f"worker-{len(self.workers)}.log"
        process = subprocess.Popen(
            [*CLI, "worker"], env=env, stdout=log_path.open("wb"), stderr=subprocess.STDOUT
        )
        worker = Worker(process, log_path)
        self.workers.append(worker)
        return worker

    def start_api(self) -> Server:
        """One more API process that admits jobs but runs none."""
        server = start_server(self.database_url, self.workdir, extra_env=self.env)
        self.apis.append(server)
        return server

    def worker_pids(self) -> set[int]:
        """Process ids of the worker processes started so far."""
        return {worker.process.pid for worker in self.workers}


@contextmanager
def deployment(
    database_url: str, workdir: Path, *, apis: int, workers: int, **settings: Any
) -> Iterator[Deployment]:
    """``apis`` API processes (running no jobs) and ``workers`` workers, stopped after."""
    env = plugin_env(workdir / "provider-calls.log", **{**ROOMY, **settings})
    env["IMAGE_SKILL_API_RUNS_JOBS"] = "false"
    deploy = Deployment(database_url, workdir, env)
    with ExitStack() as stack:
        deploy.start_api()  # the first one migrates the database
        stack.callback(_stop_all, deploy)
        for _ in range(apis - 1):
            deploy.start_api()
        for _ in range(workers):
            deploy.start_worker()
        yield deploy


def _stop_all(deploy: Deployment) -> None:
    for server in deploy.apis:
        if server.process.poll() is None:
            stop_server(server)
    for worker in deploy.workers:
        if worker.process.poll() is None:
            worker.process.send_signal(signal.SIGTERM)
    for worker in deploy.workers:
        try:
            worker.process.wait(timeout=45)
        except subprocess.TimeoutExpired:
            worker.process.kill()
            worker.process.wait()


def kill_hard(process: subprocess.Popen[bytes]) -> None:
    """``kill -9``: no cleanup, no graceful anything."""
    process.send_signal(signal.SIGKILL)
    process.wait()


def http_agent(server: Server, name: str = "load-bot") -> Agent:
    """A new unclaimed agent signed up over HTTP; its client talks to ``server``."""
    client = httpx.Client(base_url=server.base_url, timeout=150)
    body = {
        "human_email": f"{name}@example.com",
        "agent_name": name,
        "runtime": "pytest",
        "return_token": True,
    }
    response = client.post("/v1/agent-signups", json=body)
    assert response.status_code in (200, 201), response.text
    envelope = response.json()
    actor = envelope["actor"] or envelope["data"]["actor"]
    return Agent(client, envelope["data"]["token"], actor["actor_id"], actor["organization_id"])


def on(agent: Agent, server: Server) -> Agent:
    """The same agent talking to another API process."""
    client = httpx.Client(base_url=server.base_url, timeout=150)
    return Agent(client, agent.token, agent.actor_id, agent.organization_id)


def slow_create(agent: Agent, seconds: float, *, respond_async: bool = False) -> httpx.Response:
    """``POST /v1/create`` of ``test.slow`` sleeping ``seconds``."""
    headers = dict(agent.headers)
    if respond_async:
        headers["Prefer"] = "respond-async"
    body = {
        "prompt": "a slow lighthouse",
        "model": SLOW_MODEL,
        "model_parameters": {"sleep_seconds": seconds},
    }
    client = agent.client
    assert isinstance(client, httpx.Client)
    return client.post("/v1/create", json=body, headers=headers)


def wait_job(agent: Agent, job_id: str, timeout: float = 60) -> dict[str, Any]:
    """The job once terminal, by long polls of ``GET /v1/jobs/{id}/wait`` (asserts it ends)."""
    deadline = time.monotonic() + timeout
    while True:
        turn = max(1.0, min(30.0, deadline - time.monotonic()))
        response = agent.get(f"/v1/jobs/{job_id}/wait", params={"timeout_seconds": turn})
        assert response.status_code == 200, response.text
        job: dict[str, Any] = response.json()["data"]["job"]
        if job["terminal"] or time.monotonic() > deadline:
            assert job["terminal"], f"job {job_id} still {job['status']} after {timeout} s"
            return job


def pid_of(worker_id: str) -> int:
    """The process id in a ``host:pid:nonce`` worker id."""
    return int(worker_id.split(":")[1])
