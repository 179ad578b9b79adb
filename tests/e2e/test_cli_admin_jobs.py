"""``image-skill admin jobs list|resolve``: an operator sees unfinished jobs and fails one by hand.

The jobs are rows a crashed or hung executor leaves (``tests/support/crashes``);
the commands run as the operator runs them, on the service database, both kinds.
"""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Engine, select
from sqlalchemy.orm import Session

from image_skill.cli.runner import execute
from image_skill.service.db.models import ActivityEvent
from tests.support.agents import Agent, sign_up
from tests.support.apps import started_app
from tests.support.cli import TRACEBACK, RunCli
from tests.support.crashes import Leftover, job_row, leftover_job, order_exists
from tests.support.envelopes import assert_envelope
from tests.support.ledger import audit_account, ledger_rows


@pytest.fixture
def operator_env(
    database_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> dict[str, str]:
    """What the operator's shell holds: the service database and home."""
    env = {"IMAGE_SKILL_DATABASE_URL": database_url, "IMAGE_SKILL_HOME": str(tmp_path / "svc")}
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    return env


@pytest.fixture
def agent(database_url: str, tmp_path: Path, operator_env: dict[str, str]) -> Agent:
    with started_app(database_url, tmp_path / "svc") as client:
        return sign_up(client)


def admin(*words: str, exit_code: int = 0, code: str | None = None) -> dict[str, Any]:
    """``image-skill admin ... --json`` through the CLI's own runner -> its envelope."""
    result = execute(["admin", *words, "--json"])
    envelope = result.envelope
    assert result.exit_code == exit_code, envelope
    assert_envelope(envelope, ok=code is None)
    assert (envelope["error"] or {}).get("code") == code, envelope
    return envelope


def test_list_shows_unfinished_jobs_and_their_leases(agent: Agent, db: Engine) -> None:
    lapsed = leftover_job(db, agent, Leftover(provider_request_id="req-1"))
    live = leftover_job(db, agent, Leftover(lease_in=timedelta(minutes=5), cancel_requested=True))
    queued = leftover_job(db, agent, Leftover(status="queued"))
    leftover_job(db, agent, Leftover(status="failed"))

    jobs = admin("jobs", "list")["data"]["jobs"]
    by_id = {job["job_id"]: job for job in jobs}
    assert list(by_id) == [lapsed, live, queued]  # oldest first; the failed one is not listed
    assert by_id[lapsed]["lease_lapsed"] is True
    assert by_id[lapsed]["provider_request_recorded"] is True
    assert by_id[live]["lease_lapsed"] is False and by_id[live]["cancel_requested_at"]
    assert by_id[queued]["worker_id"] is None
    assert all("prompt" not in job for job in jobs)

    failed = admin("jobs", "list", "--status", "failed")["data"]["jobs"]
    assert [job["status"] for job in failed] == ["failed"]
    admin("jobs", "list", "--status", "stuck", exit_code=2, code="INVALID_ARGUMENTS")


def test_resolve_fails_and_releases_a_job_by_hand_once(agent: Agent, db: Engine) -> None:
    job_id = leftover_job(db, agent, Leftover(lease_in=timedelta(minutes=5)))

    refused = admin("jobs", "resolve", job_id, exit_code=2, code="INVALID_ARGUMENTS")
    assert refused["error"]["recovery"]["required_flag"] == "--fail"
    assert job_row(db, job_id).status == "running"

    data = admin("jobs", "resolve", job_id, "--fail")["data"]
    assert data["resolved"] == "failed" and data["previous_status"] == "running"
    row = job_row(db, job_id)
    assert row.status == "failed" and row.error_code == "JOB_INTERRUPTED"
    assert sorted((r.kind, r.amount) for r in ledger_rows(db, job_id)) == [
        ("release", 4),
        ("reservation", -4),
    ]
    assert not order_exists(db, job_id)
    with Session(db) as session:
        events = session.execute(
            select(ActivityEvent.status).where(ActivityEvent.subject_id == job_id)
        ).all()
    assert [tuple(event) for event in events] == [("failed",)]
    audit = audit_account(db, agent.actor_id)
    audit.check()
    assert audit.held == 0

    admin("jobs", "resolve", job_id, "--fail", exit_code=1, code="CONFLICT")
    admin("jobs", "resolve", "job_doesnotexist0000000000", "--fail", exit_code=1, code="NOT_FOUND")


def test_resolve_as_a_process(
    agent: Agent, db: Engine, cli: RunCli, operator_env: dict[str, str]
) -> None:
    job_id = leftover_job(db, agent, Leftover(status="queued"))
    result = cli("admin", "jobs", "resolve", job_id, "--fail", "--json", env=operator_env)
    assert TRACEBACK not in result.stdout + result.stderr, result.stderr
    assert result.exit_code == 0, result.stdout
    assert result.envelope["data"]["previous_status"] == "queued"
    assert job_row(db, job_id).status == "failed"
