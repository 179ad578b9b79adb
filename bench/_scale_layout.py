"""The scale demo's layout and clients (``bench/scale_demo.py``), apart from its phases.

PostgreSQL, SeaweedFS and Redis are started once; each phase gets a fresh
database and bucket with two API processes and its workers on them
(``tests/support/workers.py``). Clients are real HTTP agents, each its own signup.
"""

from __future__ import annotations

import os
import subprocess
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
from sqlalchemy import Engine, create_engine
from tests.support.agents import Agent
from tests.support.databases import PG_URL_ENV, create_pg_database, drop_pg_database
from tests.support.servers import free_port
from tests.support.workers import SLOW_MODEL, Deployment, deployment, http_agent, on

from image_skill.service.settings import to_async_url, to_sync_url

PROVIDER_SECONDS = 3.0
REPO = Path(__file__).resolve().parents[1]


@dataclass
class Call:
    """One create as its client saw it (``status``: HTTP status, or the transport error)."""

    seconds: float
    status: int | str
    job_id: str | None
    code: str | None = None
    retried: bool = False

    @property
    def answer(self) -> str:
        """The status with the error code, if any (``201``, ``502 JOB_INTERRUPTED``)."""
        return f"{self.status} {self.code}" if self.code else str(self.status)


@dataclass
class Infra:
    """What every phase shares: PostgreSQL's admin URL, a work dir, per-phase settings."""

    pg_admin: str
    workdir: Path
    settings: Callable[[], dict[str, Any]]


def postgres_admin() -> str:
    """PostgreSQL to make the demo's databases on: the test URL, else scripts/test-postgres."""
    url = os.environ.get(PG_URL_ENV)
    if url:
        return url
    started = subprocess.run(
        [str(REPO / "scripts" / "test-postgres")], capture_output=True, text=True, check=True
    )
    return started.stdout.strip().splitlines()[-1]


@contextmanager
def redis_server(workdir: Path) -> Iterator[str]:
    """A throwaway ``redis-server`` on a free loopback port, no persistence; its URL."""
    import redis

    workdir.mkdir(parents=True, exist_ok=True)
    port = free_port()
    process = subprocess.Popen(
        ["redis-server", "--bind", "127.0.0.1", "--port", str(port), "--save", "",
         "--appendonly", "no", "--dir", str(workdir)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.STDOUT,
    )  # fmt: skip
    client = redis.Redis(host="127.0.0.1", port=port)
    try:
        deadline = time.monotonic() + 20
        while True:
            try:
                client.ping()
                break
            except redis.ConnectionError:
                if process.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError("redis-server did not start") from None
                time.sleep(0.05)
        yield f"redis://127.0.0.1:{port}/0"
    finally:
        client.close()
        process.terminate()
        process.wait(timeout=10)


@contextmanager
def phase(infra: Infra, name: str, workers: int) -> Iterator[tuple[Deployment, Engine]]:
    """A fresh database and bucket, 2 API processes and ``workers`` workers on them."""
    url = create_pg_database(infra.pg_admin)
    engine = create_engine(to_sync_url(to_async_url(url)))
    workdir = infra.workdir / name
    workdir.mkdir()
    try:
        with deployment(url, workdir, apis=2, workers=workers, **infra.settings()) as deploy:
            yield deploy, engine
    finally:
        engine.dispose()
        drop_pg_database(infra.pg_admin, url)


def sign_up(deploy: Deployment, count: int) -> list[list[Agent]]:
    """``count`` new agents (signed up on alternate API processes), each with a client
    on every API process."""
    agents = []
    for index in range(count):
        agent = http_agent(deploy.apis[index % 2], f"demo-{uuid.uuid4().hex[:10]}")
        agents.append([on(agent, api) for api in deploy.apis])
    return agents


def timed(agent: Agent, model: str, key: str) -> Call:
    """One sync ``POST /v1/create`` with an idempotency key, timed; a transport error
    (the API process died under it) is recorded, not raised."""
    body: dict[str, Any] = {"prompt": "a lighthouse in fog", "model": model}
    if model == SLOW_MODEL:
        body["model_parameters"] = {"sleep_seconds": PROVIDER_SECONDS}
    start = time.monotonic()
    try:
        response = agent.post("/v1/create", body, key=key)
    except httpx.TransportError as exc:
        return Call(time.monotonic() - start, type(exc).__name__, None)
    seconds = time.monotonic() - start
    envelope = response.json()
    error = envelope.get("error") or {}
    job_id = (envelope.get("data") or {}).get("job_id") or (error.get("details") or {}).get(
        "job_id"
    )
    return Call(seconds, response.status_code, job_id, error.get("code"))


def run_load(clients: list[Callable[[], list[Call]]]) -> tuple[list[Call], float]:
    """Run each client's sequence of creates in its own thread; every call and the wall time."""
    calls: list[Call] = []
    lock = threading.Lock()

    def client(run: Callable[[], list[Call]]) -> None:
        try:
            done = run()
        except Exception as exc:  # shown in the table's answers, not lost with the thread
            done = [Call(0.0, f"client crashed: {type(exc).__name__}: {exc}", None)]
        with lock:
            calls.extend(done)

    threads = [threading.Thread(target=client, args=(run,)) for run in clients]
    started = time.monotonic()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return calls, time.monotonic() - started
