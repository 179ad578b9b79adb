"""``image-skill jobs cancel`` as an agent runs it: against a server (both databases),
through the ``/v1/cli`` bridge, and embedded (no server)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path

import pytest
from sqlalchemy import create_engine

from image_skill.service.settings import to_async_url, to_sync_url
from tests.support.agents import cli_sign_up
from tests.support.cli import RunCli, expect
from tests.support.crashes import Leftover, call, job_row, leftover_job
from tests.support.servers import Server


@dataclass(frozen=True)
class Owner:
    organization_id: str
    actor_id: str


def test_jobs_cancel_against_a_server(server: Server, database_url: str, cli: RunCli) -> None:
    agent = cli_sign_up(cli, server.base_url)
    owner = Owner(agent.actor["organization_id"], agent.actor["actor_id"])
    db = create_engine(to_sync_url(to_async_url(database_url)))
    try:
        queued = leftover_job(db, owner, Leftover(status="queued"))
        running = leftover_job(db, owner, Leftover(lease_in=timedelta(minutes=5)))

        data = expect(cli("jobs", "cancel", queued, "--json", env=agent.env), 0)["data"]
        assert data["cancel"] == "canceled" and data["job"]["status"] == "canceled"
        again = expect(cli("jobs", "cancel", queued, "--json", env=agent.env), 0)["data"]
        assert again["cancel"] == "already_terminal"

        # The bridge runs the same command inside the service.
        status, envelope = call(
            server.base_url,
            "POST",
            "/v1/cli",
            token=agent.token,
            body={"argv": ["jobs", "cancel", running, "--json"]},
        )
        assert status == 200, envelope
        assert envelope["data"]["cancel"] == "cancel_requested"
        assert job_row(db, running).cancel_requested_at is not None

        missing = expect(cli("jobs", "cancel", "--json", env=agent.env), 2, "INVALID_ARGUMENTS")
        assert missing["error"]["recovery"]["required_flag"] == "JOB_ID"
        expect(
            cli("jobs", "cancel", "job_doesnotexist0000000000", "--json", env=agent.env),
            1,
            "NOT_FOUND",
        )
    finally:
        db.dispose()


@pytest.mark.slow  # two cold embedded CLI processes (the first migrates a new data dir)
def test_jobs_cancel_embedded(cli: RunCli, tmp_path: Path) -> None:
    made = expect(cli("create", "--prompt", "a quiet harbour", "--json"), 0)["data"]
    data = expect(cli("jobs", "cancel", made["job_id"], "--json"), 0)["data"]
    assert data["cancel"] == "already_terminal" and data["job"]["status"] == "completed"
