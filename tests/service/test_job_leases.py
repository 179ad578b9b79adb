"""Leases, the sweeper, cancel and replays of interrupted jobs, on both databases.

The jobs start as rows a crashed or live executor leaves (``tests/support/crashes``);
leases and sweeps run on the started app's own event loop and runtime
(``TestClient.portal``), the rest through the HTTP API. Multi-process crashes
(kill -9 of real servers) are in ``tests/e2e/test_job_crashes.py``.
"""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import anyio
import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine, select, update
from sqlalchemy.orm import Session as SyncSession

from image_skill.contract.ids import utc_now
from image_skill.service.db.models import Job
from image_skill.service.jobs import lease, sweeper
from image_skill.service.runtime import Runtime
from tests.support.agents import Agent, sign_up
from tests.support.apps import started_app
from tests.support.crashes import (
    Leftover,
    RecordingJobs,
    idempotent_answer,
    job_row,
    leftover_job,
    order_exists,
    wait_for,
)
from tests.support.envelopes import check_error, ok
from tests.support.ledger import audit_account, ledger_rows

LEASE = {"job_lease_seconds": 2.0, "job_heartbeat_seconds": 0.2, "sweep_interval_seconds": 3600}


@pytest.fixture
def app(database_url: str, tmp_path: Path) -> Iterator[TestClient]:
    """A started app with short leases and no periodic sweep (tests sweep themselves)."""
    with started_app(database_url, tmp_path / "home", **LEASE) as client:
        yield client


@pytest.fixture
def runtime(app: TestClient) -> Runtime:
    runtime: Runtime = app.app.state.runtime  # type: ignore[attr-defined]
    return runtime


@pytest.fixture
def agent(app: TestClient) -> Agent:
    return sign_up(app)


def run(app: TestClient, work: Any, *args: Any) -> Any:
    """Run ``work(*args)`` on the app's event loop (where its engine lives)."""
    return app.portal.call(work, *args)  # type: ignore[union-attr]


def set_job(db: Engine, job_id: str, **values: Any) -> None:
    with SyncSession(db) as session, session.begin():
        session.execute(update(Job).where(Job.id == job_id).values(**values))


# --- the lease ---------------------------------------------------------------------------


def mine(runtime: Runtime, lease_in: timedelta = timedelta(seconds=2)) -> Leftover:
    return Leftover(worker_id=runtime.worker_id, lease_in=lease_in)


def test_heartbeats_renew_the_lease_while_the_work_runs(
    app: TestClient, runtime: Runtime, agent: Agent, db: Engine
) -> None:
    job_id = leftover_job(db, agent, mine(runtime))
    first = job_row(db, job_id).lease_expires_at
    assert first is not None

    async def work() -> lease.Hold:
        async with lease.held(runtime, job_id) as hold:
            await anyio.sleep(1.0)
        return hold

    hold = run(app, work)
    assert hold.reason is None
    assert hold.renewals >= 3
    renewed = job_row(db, job_id).lease_expires_at
    assert renewed is not None and renewed > first
    # renewed to about now + 2 s, not pushed out by hours
    assert renewed - utc_now().replace(tzinfo=renewed.tzinfo) < timedelta(seconds=2.5)


@pytest.mark.parametrize(
    ("change", "reason"),
    [
        ({"cancel_requested_at": utc_now()}, lease.CANCELED),
        ({"worker_id": "another-worker"}, lease.LEASE_LOST),
        ({"status": "failed"}, lease.LEASE_LOST),
        ({"status": "queued"}, lease.LEASE_LOST),
    ],
)
def test_the_work_is_cut_short_when_canceled_or_taken_away(
    app: TestClient,
    runtime: Runtime,
    agent: Agent,
    db: Engine,
    change: dict[str, Any],
    reason: str,
) -> None:
    job_id = leftover_job(db, agent, mine(runtime))

    async def work() -> tuple[lease.Hold, float, bool]:
        finished = False
        start = time.monotonic()
        async with lease.held(runtime, job_id) as hold:
            await anyio.sleep(0.3)
            await anyio.to_thread.run_sync(lambda: set_job(db, job_id, **change))
            await anyio.sleep(30)
            finished = True
        return hold, time.monotonic() - start, finished

    hold, took, finished = run(app, work)
    assert hold.reason == reason
    assert not finished
    assert took < 3


def test_errors_of_the_work_pass_through_unchanged(
    app: TestClient, runtime: Runtime, agent: Agent, db: Engine
) -> None:
    job_id = leftover_job(db, agent, mine(runtime))

    async def work() -> None:
        async with lease.held(runtime, job_id):
            raise LookupError("the work's own failure")

    with pytest.raises(LookupError, match="own failure"):
        run(app, work)


def test_an_executor_cancelled_from_outside_hands_its_lease_back_at_once(
    app: TestClient, runtime: Runtime, agent: Agent, db: Engine
) -> None:
    """A worker whose shutdown grace ran out leaves the job for the next sweep, not 30 s."""
    job_id = leftover_job(db, agent, mine(runtime, timedelta(seconds=60)))

    async def work() -> None:
        with anyio.move_on_after(0.3):  # the outside cancel: shutdown, Ctrl-C
            async with lease.held(runtime, job_id):
                await anyio.sleep(30)

    run(app, work)
    row = job_row(db, job_id)
    assert row.status == "running"  # still the sweeper's to resolve (resume or fail)
    assert row.lease_expires_at is not None
    assert row.lease_expires_at <= utc_now().replace(tzinfo=row.lease_expires_at.tzinfo)


# --- the sweeper -------------------------------------------------------------------------


def test_sweep_fails_and_releases_lapsed_jobs_once_and_leaves_live_ones(
    app: TestClient, runtime: Runtime, agent: Agent, db: Engine
) -> None:
    lapsed = leftover_job(db, agent, Leftover(idempotency_key="key-crashed-1"))
    live = leftover_job(db, agent, Leftover(lease_in=timedelta(minutes=5)))
    queued = leftover_job(db, agent, Leftover(status="queued"))
    assert agent.quota()["jobs"]["used_today"] == 3

    done = run(app, sweeper.sweep, runtime)
    assert done.interrupted == [lapsed] and not done.resumed and not done.canceled
    assert run(app, sweeper.sweep, runtime).total == 0  # once

    job = ok(agent.get(f"/v1/jobs/{lapsed}"), 200)["job"]
    assert job["status"] == "failed" and job["terminal"] is True
    assert job["error"]["code"] == "JOB_INTERRUPTED"
    assert job["cost"]["credits_debited"] == 0
    assert sorted((r.kind, r.amount) for r in ledger_rows(db, lapsed)) == [
        ("release", 4),
        ("reservation", -4),
    ]
    assert not order_exists(db, lapsed)  # the prompt left with the job
    # A replay of the key says what happened and what to do.
    answer = idempotent_answer(db, agent.actor_id, "key-crashed-1")
    assert answer is not None
    error: dict[str, Any] = answer["error"]  # type: ignore[assignment]
    assert error["code"] == "JOB_INTERRUPTED" and error["retryable"] is True
    assert error["recovery"]["required_flag"] == "--idempotency-key"
    assert job_row(db, live).status == "running"
    assert job_row(db, queued).status == "queued"
    audit = audit_account(db, agent.actor_id)
    audit.check()
    assert audit.held == 8  # the live and the queued job still hold theirs
    assert agent.quota()["jobs"]["used_today"] == 2  # the daily-cap slot came back


def test_concurrent_sweeps_resolve_each_job_exactly_once(
    app: TestClient, runtime: Runtime, agent: Agent, db: Engine
) -> None:
    jobs = [leftover_job(db, agent, Leftover(credits=1)) for _ in range(6)]

    async def sweep_together() -> list[sweeper.Sweep]:
        return list(await asyncio.gather(*(sweeper.sweep(runtime) for _ in range(4))))

    passes = run(app, sweep_together)
    resolved = [job for done in passes for job in done.interrupted]
    assert sorted(resolved) == sorted(jobs)
    audit = audit_account(db, agent.actor_id)
    audit.check()
    assert audit.jobs("failed") == set(jobs)


def test_sweep_hands_a_resumable_provider_request_back_to_the_queue(
    app: TestClient, runtime: Runtime, agent: Agent, db: Engine
) -> None:
    recording = RecordingJobs()
    runtime.queue, real = recording, runtime.queue
    try:
        fal = Leftover(model_id="fal.flux-dev", provider="fal", provider_request_id="abc-fal")
        resumable = leftover_job(db, agent, fal)
        worn_out = leftover_job(db, agent, Leftover(**{**fal.__dict__, "attempts": 4}))
        no_request = leftover_job(db, agent, Leftover(model_id="fal.flux-dev", provider="fal"))
        not_resumable = leftover_job(db, agent, Leftover(provider_request_id="sketch-1"))
        done = run(app, sweeper.sweep, runtime)
    finally:
        runtime.queue = real
    assert done.resumed == [resumable]
    assert sorted(done.interrupted) == sorted([worn_out, no_request, not_resumable])
    assert recording.jobs == [resumable]
    row = job_row(db, resumable)
    assert row.status == "queued" and row.worker_id is None and row.lease_expires_at is None
    assert row.provider_request_id == "abc-fal"  # the executor resumes this request
    assert order_exists(db, resumable)
    assert [(r.kind, r.amount) for r in ledger_rows(db, resumable)] == [("reservation", -4)]
    audit_account(db, agent.actor_id).check()


def test_sweep_ends_a_lapsed_job_whose_cancel_was_requested_as_canceled(
    app: TestClient, runtime: Runtime, agent: Agent, db: Engine
) -> None:
    job_id = leftover_job(db, agent, Leftover(cancel_requested=True))
    done = run(app, sweeper.sweep, runtime)
    assert done.canceled == [job_id]
    job = ok(agent.get(f"/v1/jobs/{job_id}"), 200)["job"]
    assert job["status"] == "canceled" and job["error"]["code"] == "JOB_CANCELED"
    audit = audit_account(db, agent.actor_id)
    audit.check()
    assert audit.jobs("canceled") == {job_id} and audit.held == 0


# --- cancel ------------------------------------------------------------------------------


def cancel(agent: Agent, job_id: str) -> Any:
    return agent.post(f"/v1/jobs/{job_id}/cancel", {})


def test_cancel_of_a_queued_job_ends_it_at_once_and_is_idempotent(
    app: TestClient, agent: Agent, db: Engine
) -> None:
    job_id = leftover_job(db, agent, Leftover(status="queued", idempotency_key="key-q"))
    data = ok(cancel(agent, job_id), 200)
    assert data["cancel"] == "canceled"
    assert data["job"]["status"] == "canceled" and data["job"]["terminal"] is True
    assert data["job"]["cost"]["credits_debited"] == 0
    assert not order_exists(db, job_id)
    again = ok(cancel(agent, job_id), 200)
    assert again["cancel"] == "already_terminal" and again["job"]["status"] == "canceled"
    events = ok(agent.get("/v1/activity", params={"subject": job_id}), 200)["events"]
    assert [(e["type"], e["status"]) for e in events] == [("job.completed", "canceled")]
    answer = idempotent_answer(db, agent.actor_id, "key-q")
    assert answer is not None and answer["error"]["code"] == "JOB_CANCELED"  # type: ignore[index]
    audit = audit_account(db, agent.actor_id)
    audit.check()
    assert audit.held == 0 and audit.debited == 0


def test_cancel_of_a_running_job_asks_its_executor(
    app: TestClient, agent: Agent, db: Engine
) -> None:
    job_id = leftover_job(db, agent, Leftover(lease_in=timedelta(minutes=5)))
    data = ok(cancel(agent, job_id), 200)
    assert data["cancel"] == "cancel_requested"
    assert data["job"]["status"] == "running"
    asked = job_row(db, job_id).cancel_requested_at
    assert asked is not None
    assert ok(cancel(agent, job_id), 200)["cancel"] == "cancel_requested"
    assert job_row(db, job_id).cancel_requested_at == asked  # idempotent
    assert [(r.kind, r.amount) for r in ledger_rows(db, job_id)] == [("reservation", -4)]


def test_cancel_of_another_organizations_job_is_not_found(
    app: TestClient, agent: Agent, db: Engine
) -> None:
    job_id = leftover_job(db, agent, Leftover(status="queued"))
    stranger = sign_up(app, email="other@example.com", name="stranger")
    check_error(cancel(stranger, job_id), "NOT_FOUND", 1)
    check_error(cancel(stranger, "job_doesnotexist0000000000"), "NOT_FOUND", 1)
    assert job_row(db, job_id).status == "queued"


def test_the_sweep_loop_outlives_failing_passes(
    database_url: str, tmp_path: Path, db: Engine, monkeypatch: pytest.MonkeyPatch
) -> None:
    real = sweeper.sweep
    passes: list[int] = []

    async def flaky(runtime: Runtime) -> sweeper.Sweep:
        passes.append(1)
        if len(passes) <= 2:  # the start-up pass and the first loop pass
            raise RuntimeError("a bug in one pass")
        return await real(runtime)

    monkeypatch.setattr(sweeper, "sweep", flaky)
    settings = {**LEASE, "sweep_interval_seconds": 0.2}
    with started_app(database_url, tmp_path / "home", **settings) as client:
        agent = sign_up(client)
        job_id = leftover_job(db, agent)
        wait_for(lambda: job_row(db, job_id).status == "failed", timeout=15)
        assert client.get("/healthz").status_code == 200
    assert len(passes) >= 3


def test_a_create_waiting_for_a_canceled_job_answers_job_canceled(
    counting_plugin: Any, database_url: str, tmp_path: Path, db: Engine
) -> None:
    with started_app(database_url, tmp_path / "home", **LEASE) as client:
        agent = sign_up(client)
        answers: list[Any] = []
        # The provider call takes 60 s: only the cancel can end the job in time.
        body = {
            "prompt": "a slow harbour",
            "model": "test.failing",
            "model_parameters": {"mode": "slow"},
        }
        waiting = threading.Thread(target=lambda: answers.append(agent.post("/v1/create", body)))
        waiting.start()

        def running_job() -> str | None:
            with SyncSession(db) as session:
                return session.scalar(
                    select(Job.id).where(Job.actor_id == agent.actor_id, Job.status == "running")
                )

        wait_for(lambda: running_job() is not None, timeout=15)
        job_id = running_job()
        assert job_id is not None
        assert ok(cancel(agent, job_id), 200)["cancel"] == "cancel_requested"
        waiting.join(timeout=15)
        assert not waiting.is_alive()
    error = check_error(answers[0], "JOB_CANCELED", 1)
    assert "no credits were spent" in error["message"]
    audit = audit_account(db, agent.actor_id)
    audit.check()
    assert audit.jobs("canceled") == {job_id} and audit.debited == 0 and audit.held == 0
