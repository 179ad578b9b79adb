"""kill -9 mid provider call, on real server processes: nothing stays stuck, no credit is lost.

Each test starts ``image-skill serve`` processes on loopback with short leases
(3 s lease, 0.5 s heartbeat, 1 s sweep), starts a job whose provider call
hangs, ``kill -9``s the process running it and watches the job from outside:

* on PostgreSQL another live process resolves it within lease + sweep: a
  plain provider call fails JOB_INTERRUPTED (released, the idempotent replay
  says what to do), a fal request is resumed by the other process without a
  second submission and charged once;
* on SQLite (one server) the restarted server does the same;
* a running job canceled through the API ends canceled and is never charged.

The ledger of every account is audited at the end (tests/support/ledger.py).
"""

from __future__ import annotations

import os
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Engine, create_engine

from image_skill.service.settings import to_async_url, to_sync_url
from tests.fakes.fal_api import FakeFal, Outcome
from tests.support.cli import CLI
from tests.support.crashes import call, job_row, kill_hard, wait_for
from tests.support.databases import blank_database
from tests.support.ledger import assert_settled, audit_account
from tests.support.plugins import plugin_env, provider_calls
from tests.support.servers import Server, start_server, stop_server

pytestmark = pytest.mark.slow

FAL_KEY = "fal-crash-test-key"
LEASES = {
    "IMAGE_SKILL_JOB_LEASE_SECONDS": "3",
    "IMAGE_SKILL_JOB_HEARTBEAT_SECONDS": "0.5",
    "IMAGE_SKILL_SWEEP_INTERVAL_SECONDS": "1",
    "IMAGE_SKILL_FREE_PREVIEW_CREDITS": "1000",
    "IMAGE_SKILL_DAILY_JOB_CAP_UNCLAIMED": "100",
}
RESOLVED_WITHIN = 60.0
ASYNC = {"Prefer": "respond-async"}


class Servers:
    """Servers on one database, stopped (or already killed) at the end."""

    def __init__(self, database_url: str, workdir: Path, env: dict[str, str]) -> None:
        self.database_url = database_url
        self.workdir = workdir
        self.env = env
        self.started: list[Server] = []
        self.workers: list[subprocess.Popen[bytes]] = []

    def start(self) -> Server:
        server = start_server(self.database_url, self.workdir, extra_env=self.env)
        self.started.append(server)
        return server

    def start_worker(self) -> subprocess.Popen[bytes]:
        """An ``image-skill worker`` process on the same database and home as the servers."""
        env = {
            **os.environ,
            **self.env,
            "IMAGE_SKILL_DATABASE_URL": self.database_url,
            "IMAGE_SKILL_HOME": str(self.workdir / "server-data"),
        }
        log = (self.workdir / f"worker-{len(self.workers)}.log").open("wb")
        worker = subprocess.Popen([*CLI, "worker"], env=env, stdout=log, stderr=subprocess.STDOUT)
        self.workers.append(worker)
        return worker

    def stop_all(self) -> None:
        for server in self.started:
            if server.process.poll() is None:
                stop_server(server)
        for worker in self.workers:
            if worker.poll() is None:
                worker.terminate()
                try:
                    worker.wait(timeout=15)
                except subprocess.TimeoutExpired:
                    worker.kill()
                    worker.wait()


@pytest.fixture
def fal(monkeypatch: pytest.MonkeyPatch) -> Iterator[FakeFal]:
    with FakeFal(FAL_KEY) as fake:
        yield fake


def servers_on(kind: str, tmp_path: Path, fal: FakeFal) -> Iterator[tuple[Servers, Engine]]:
    with blank_database(kind, tmp_path) as url:
        env = {
            **plugin_env(tmp_path / "calls.log"),
            **LEASES,
            "FAL_KEY": FAL_KEY,
            "FAL_QUEUE_RUN_HOST": fal.host,
        }
        group = Servers(url, tmp_path, env)
        engine = create_engine(to_sync_url(to_async_url(url)))
        try:
            yield group, engine
        finally:
            group.stop_all()
            engine.dispose()


@pytest.fixture
def pg(tmp_path: Path, fal: FakeFal) -> Iterator[tuple[Servers, Engine]]:
    yield from servers_on("postgres", tmp_path, fal)


@pytest.fixture
def sqlite(tmp_path: Path, fal: FakeFal) -> Iterator[tuple[Servers, Engine]]:
    yield from servers_on("sqlite", tmp_path, fal)


@pytest.fixture(params=["sqlite", "postgres"])
def either(
    request: pytest.FixtureRequest, tmp_path: Path, fal: FakeFal
) -> Iterator[tuple[Servers, Engine]]:
    yield from servers_on(request.param, tmp_path, fal)


def signup(server: Server) -> tuple[str, str]:
    """A new agent's (token, actor id)."""
    body = {"human_email": "crash@example.com", "agent_name": "crash", "return_token": True}
    status, envelope = call(server.base_url, "POST", "/v1/agent-signups", body=body)
    assert status in (200, 201), envelope
    return envelope["data"]["token"], envelope["actor"]["actor_id"]


def hanging_create(server: Server, token: str, *, key: str) -> str:
    """An async create whose provider call hangs (60 s, longer than the test waits)."""
    body = {
        "prompt": "a lighthouse that never finishes",
        "model": "test.failing",
        "model_parameters": {"mode": "slow"},
    }
    headers = {**ASYNC, "Idempotency-Key": key}
    status, envelope = call(
        server.base_url, "POST", "/v1/create", token=token, body=body, headers=headers
    )
    assert status == 202, envelope
    return str(envelope["data"]["job_id"])


def job(server: Server, token: str, job_id: str) -> dict[str, Any]:
    status, envelope = call(server.base_url, "GET", f"/v1/jobs/{job_id}", token=token)
    assert status == 200, envelope
    data: dict[str, Any] = envelope["data"]["job"]
    return data


def running_here(db: Engine, job_id: str, server: Server, calls: Path) -> None:
    """Wait until ``server``'s process holds the job and its provider call started."""
    running_in(db, job_id, server.process, calls)


def running_in(db: Engine, job_id: str, process: subprocess.Popen[bytes], calls: Path) -> None:
    """Wait until ``process`` holds the job and its provider call started."""
    pid = f":{process.pid}:"
    wait_for(
        lambda: (
            job_row(db, job_id).status == "running"
            and pid in (job_row(db, job_id).worker_id or "")
            and any(call_job == job_id for _m, _o, call_job in provider_calls(calls))
        ),
        timeout=30,
    )


def test_kill_9_mid_call_on_postgresql_is_failed_and_released_by_another_process(
    pg: tuple[Servers, Engine], tmp_path: Path
) -> None:
    group, db = pg
    first = group.start()
    token, actor_id = signup(first)
    job_id = hanging_create(first, token, key="crash-pg-1")
    running_here(db, job_id, first, tmp_path / "calls.log")
    second = group.start()  # a live process on the same database

    kill_hard(first.process)
    took = wait_for(lambda: job_row(db, job_id).status == "failed", timeout=RESOLVED_WITHIN)
    assert took < 3 + 1 + 10  # lease + sweep interval, with slack for a busy machine

    shown = job(second, token, job_id)
    assert shown["error"]["code"] == "JOB_INTERRUPTED"
    assert shown["cost"]["credits_debited"] == 0
    # The idempotent replay says it failed and what to do, instead of "still running".
    body = {
        "prompt": "a lighthouse that never finishes",
        "model": "test.failing",
        "model_parameters": {"mode": "slow"},
    }
    status, replay = call(
        second.base_url,
        "POST",
        "/v1/create",
        token=token,
        body=body,
        headers={"Idempotency-Key": "crash-pg-1"},
    )
    assert status == 503, replay
    assert replay["error"]["code"] == "JOB_INTERRUPTED"
    assert replay["error"]["recovery"]["required_flag"] == "--idempotency-key"
    assert_settled(db, actor_id)


def test_kill_9_mid_fal_call_resumes_without_a_second_submission(
    either: tuple[Servers, Engine], fal: FakeFal
) -> None:
    group, db = either
    one_server = db.dialect.name == "sqlite"  # SQLite: the restarted server resumes it
    first = group.start()
    token, actor_id = signup(first)
    fal.outcome = Outcome(kind="hold")
    body = {"prompt": "a harbour at dusk", "model": "fal.flux-dev"}
    status, envelope = call(
        first.base_url, "POST", "/v1/create", token=token, body=body, headers=ASYNC
    )
    assert status == 202, envelope
    job_id = str(envelope["data"]["job_id"])
    assert fal.wait_for_submits(1, timeout=30)
    wait_for(lambda: job_row(db, job_id).provider_request_id is not None, timeout=30)
    second = None if one_server else group.start()

    kill_hard(first.process)
    fal.release()  # fal finishes the request while nobody polls it
    second = second or group.start()
    wait_for(lambda: job_row(db, job_id).status == "completed", timeout=RESOLVED_WITHIN)

    assert len(fal.submits) == 1  # resumed, never submitted again
    shown = job(second, token, job_id)
    assert len(shown["assets"]) == 1
    assert shown["cost"]["credits_debited"] == shown["cost"]["credits_reserved"] > 0
    row = job_row(db, job_id)
    assert row.attempts == 2 and second.process.pid == int((row.worker_id or "::").split(":")[1])
    audit = assert_settled(db, actor_id)
    assert audit.debited_jobs == {job_id}  # charged once


def test_kill_9_on_sqlite_is_resolved_after_the_restart(
    sqlite: tuple[Servers, Engine], tmp_path: Path
) -> None:
    group, db = sqlite
    first = group.start()
    token, actor_id = signup(first)
    job_id = hanging_create(first, token, key="crash-sqlite-1")
    running_here(db, job_id, first, tmp_path / "calls.log")

    kill_hard(first.process)
    restarted = group.start()
    took = wait_for(lambda: job_row(db, job_id).status == "failed", timeout=RESOLVED_WITHIN)
    assert took < 3 + 1 + 10
    assert job(restarted, token, job_id)["error"]["code"] == "JOB_INTERRUPTED"
    assert_settled(db, actor_id)


def test_cancel_of_a_running_job_stops_it_and_never_charges(
    either: tuple[Servers, Engine], tmp_path: Path
) -> None:
    group, db = either
    server = group.start()
    token, actor_id = signup(server)
    job_id = hanging_create(server, token, key="cancel-1")
    running_here(db, job_id, server, tmp_path / "calls.log")

    status, envelope = call(
        server.base_url, "POST", f"/v1/jobs/{job_id}/cancel", token=token, body={}
    )
    assert status == 200, envelope
    assert envelope["data"]["cancel"] == "cancel_requested"
    took = wait_for(lambda: job_row(db, job_id).status == "canceled", timeout=15)
    assert took < 3  # within a heartbeat or two, not a lease

    shown = job(server, token, job_id)
    assert shown["error"]["code"] == "JOB_CANCELED"
    assert shown["cost"]["credits_debited"] == 0
    status, again = call(server.base_url, "POST", f"/v1/jobs/{job_id}/cancel", token=token, body={})
    assert again["data"]["cancel"] == "already_terminal"
    audit = assert_settled(db, actor_id)
    assert audit.debited == 0 and audit.jobs("canceled") == {job_id}
    assert audit_account(db, actor_id).balance == 1000


def test_cancel_of_a_running_fal_job_cancels_it_at_fal(
    sqlite: tuple[Servers, Engine], fal: FakeFal
) -> None:
    group, db = sqlite
    server = group.start()
    token, actor_id = signup(server)
    fal.outcome = Outcome(kind="hold")
    body = {"prompt": "a harbour at dusk", "model": "fal.flux-dev"}
    status, envelope = call(
        server.base_url, "POST", "/v1/create", token=token, body=body, headers=ASYNC
    )
    assert status == 202, envelope
    job_id = str(envelope["data"]["job_id"])
    wait_for(lambda: job_row(db, job_id).provider_request_id is not None, timeout=30)

    status, envelope = call(
        server.base_url, "POST", f"/v1/jobs/{job_id}/cancel", token=token, body={}
    )
    assert envelope["data"]["cancel"] == "cancel_requested"
    wait_for(lambda: job_row(db, job_id).status == "canceled", timeout=15)
    wait_for(lambda: bool(fal.cancels), timeout=15)
    assert fal.cancels == [job_row(db, job_id).provider_request_id]
    assert len(fal.submits) == 1
    audit = assert_settled(db, actor_id)
    assert audit.debited == 0


@pytest.mark.parametrize("model", ["test.failing", "fal.flux-dev"])
def test_kill_9_of_a_worker_process_mid_call(
    pg: tuple[Servers, Engine], fal: FakeFal, tmp_path: Path, model: str
) -> None:
    """API processes that run no jobs, two workers: the other worker resolves the job."""
    group, db = pg
    group.env["IMAGE_SKILL_API_RUNS_JOBS"] = "false"
    api = group.start()
    token, actor_id = signup(api)
    first = group.start_worker()
    if model == "fal.flux-dev":
        fal.outcome = Outcome(kind="hold")
        body: dict[str, Any] = {"prompt": "a harbour at dusk", "model": model}
        status, envelope = call(
            api.base_url, "POST", "/v1/create", token=token, body=body, headers=ASYNC
        )
        assert status == 202, envelope
        job_id = str(envelope["data"]["job_id"])
        wait_for(lambda: job_row(db, job_id).provider_request_id is not None, timeout=60)
    else:
        job_id = hanging_create(api, token, key="crash-worker-1")
        running_in(db, job_id, first, tmp_path / "calls.log")
    second = group.start_worker()

    kill_hard(first)
    fal.release()
    ending = "completed" if model == "fal.flux-dev" else "failed"
    wait_for(lambda: job_row(db, job_id).status == ending, timeout=RESOLVED_WITHIN)
    row = job_row(db, job_id)
    if model == "fal.flux-dev":
        assert len(fal.submits) == 1 and f":{second.pid}:" in (row.worker_id or "")
    else:
        assert row.error_code == "JOB_INTERRUPTED"
    assert job(api, token, job_id)["status"] == ending
    assert_settled(db, actor_id)
