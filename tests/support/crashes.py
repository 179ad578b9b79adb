"""What crashed and canceled jobs leave behind, and the tools to look at them.

``leftover_job`` writes the rows a process leaves when it dies mid-job (a
``queued`` or ``running`` job, its reservation, its order) straight into the
database, so lease, sweeper and cancel tests start from an exact state.
``RecordingJobs`` is a work queue that only remembers what was enqueued, for
tests that must see a job handed back without anything running it.
``job_row`` reads a job back; ``wait_for`` polls a condition with a deadline;
``call`` sends one request to a real server and ``kill_hard`` kill -9s one.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, Protocol

from sqlalchemy import Engine
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import Session as SyncSession

from image_skill.contract.ids import new_id, utc_now
from image_skill.service.db.job_models import JobOrder
from image_skill.service.db.models import CreditLedgerEntry, IdempotencyRecord, Job


class Owner(Protocol):
    """Whose job it is (an ``Agent`` of tests/support/agents, or any such pair)."""

    @property
    def organization_id(self) -> str: ...

    @property
    def actor_id(self) -> str: ...


@dataclass(frozen=True)
class Leftover:
    """How the leftover job looks: status, whose lease and until when, and what it holds."""

    status: str = "running"
    lease_in: timedelta = timedelta(minutes=-1)
    worker_id: str = "crashed-worker"
    credits: int = 4
    model_id: str = "local.sketch"
    provider: str = "local"
    provider_request_id: str | None = None
    attempts: int = 1
    cancel_requested: bool = False
    idempotency_key: str | None = None


def leftover_job(db: Engine, agent: Owner, leftover: Leftover = Leftover()) -> str:
    """Insert a job as a dead or live executor leaves it, with its reservation and order."""
    now = utc_now()
    job_id = new_id("job")
    earlier = now - timedelta(minutes=2)
    running = leftover.status == "running"
    with SyncSession(db) as session, session.begin():
        session.add(
            Job(
                id=job_id,
                organization_id=agent.organization_id,
                actor_id=agent.actor_id,
                operation="create",
                status=leftover.status,
                capability_id="is.image.generate.preview.v1",
                model_id=leftover.model_id,
                provider=leftover.provider,
                trace_id="trace_0000000000000000",
                credits_reserved=leftover.credits,
                credits_debited=0,
                safety_status="allowed",
                provider_request_id=leftover.provider_request_id,
                worker_id=leftover.worker_id if running else None,
                lease_expires_at=now + leftover.lease_in if running else None,
                attempts=leftover.attempts if running else 0,
                cancel_requested_at=now if leftover.cancel_requested else None,
                queued_at=earlier,
                created_at=earlier,
                started_at=earlier if running else None,
                updated_at=earlier,
            )
        )
        session.flush()
        session.add(
            JobOrder(
                job_id=job_id,
                payload={"prompt": "a quiet harbour", "idempotency_key": leftover.idempotency_key},
                created_at=earlier,
            )
        )
        if leftover.credits:
            session.add(
                CreditLedgerEntry(
                    id=new_id("credit_event"),
                    organization_id=agent.organization_id,
                    actor_id=agent.actor_id,
                    kind="reservation",
                    amount=-leftover.credits,
                    reason="job_reservation",
                    job_id=job_id,
                    idempotency_scope=f"reserve:{job_id}",
                    created_at=earlier,
                )
            )
        if leftover.idempotency_key:
            session.add(
                IdempotencyRecord(
                    id=new_id("idem"),
                    actor_id=agent.actor_id,
                    scope="create",
                    key=leftover.idempotency_key,
                    request_hash="0" * 64,
                    job_id=job_id,
                    created_at=earlier,
                )
            )
    return job_id


def job_row(db: Engine, job_id: str) -> Job:
    """The job as the database has it now (detached)."""
    with SyncSession(db, expire_on_commit=False) as session:
        job = session.get(Job, job_id)
        assert job is not None, job_id
        session.expunge(job)
        return job


def order_exists(db: Engine, job_id: str) -> bool:
    """Whether the job's order (its prompt) is still stored."""
    with SyncSession(db) as session:
        return session.get(JobOrder, job_id) is not None


def idempotent_answer(db: Engine, actor_id: str, key: str) -> dict[str, object] | None:
    """The stored answer of an idempotency key (None while it has none)."""
    with SyncSession(db) as session:
        record = (
            session.query(IdempotencyRecord)
            .filter_by(actor_id=actor_id, scope="create", key=key)
            .one()
        )
        return record.response


@dataclass
class RecordingJobs:
    """A work queue that runs nothing: it records job ids (and webhook deliveries)."""

    jobs: list[str] = field(default_factory=list)
    webhooks: list[str] = field(default_factory=list)

    async def enqueue_job(self, session: AsyncSession, job_id: str) -> None:
        """Remember ``job_id``."""
        self.jobs.append(job_id)

    def take_slot(self) -> None:
        """None: every job is queued here, for the test to run or abandon."""

    async def enqueue_webhook(
        self, session: AsyncSession, delivery_id: str, *, not_before: datetime
    ) -> None:
        """Remember ``delivery_id``."""
        self.webhooks.append(delivery_id)


def wait_for(condition: Callable[[], bool], timeout: float, interval: float = 0.2) -> float:
    """Poll ``condition`` until true; the seconds it took (AssertionError on timeout)."""
    start = time.monotonic()
    while not condition():
        if time.monotonic() - start > timeout:
            raise AssertionError(f"condition not met within {timeout:g} s")
        time.sleep(interval)
    return time.monotonic() - start


def call(
    base_url: str,
    method: str,
    path: str,
    *,
    token: str | None = None,
    body: dict[str, Any] | None = None,
    headers: dict[str, str] | None = None,
    timeout: float = 30,
) -> tuple[int, dict[str, Any]]:
    """One JSON request to a real server: ``(status, envelope)``, HTTP errors included."""
    sent = {"content-type": "application/json", **(headers or {})}
    if token:
        sent["authorization"] = f"Bearer {token}"
    data = None if body is None else json.dumps(body).encode()
    request = urllib.request.Request(base_url + path, data, sent, method=method)
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as exc:
        return exc.code, json.loads(exc.read())


def kill_hard(process: subprocess.Popen[bytes]) -> None:
    """``kill -9``: no shutdown hook, no lease handed back, no transaction finished."""
    os.kill(process.pid, signal.SIGKILL)
    process.wait(timeout=10)
