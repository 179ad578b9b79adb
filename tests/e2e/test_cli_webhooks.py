"""Webhooks as an agent uses them: the real CLI, a real ``image-skill serve``, a real receiver.

The server runs its jobs and webhook deliveries itself (the in-process queue
of a SQLite server). A receiver that fails once gets the retry after the
server restarts: a delivery waiting for its next attempt is handed to the
queue again at start-up, under the same ``webhook-id``.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import create_engine, text

from image_skill.service.settings import to_async_url, to_sync_url
from tests.fakes.webhook_receiver import Receiver, webhook_receiver
from tests.support.agents import CliAgent, cli_sign_up
from tests.support.cli import RunCli, expect
from tests.support.databases import blank_database
from tests.support.servers import start_server, stop_server

PROMPT = "a harbour the receiver must never read about"
SERVER_ENV = {"IMAGE_SKILL_WEBHOOK_ALLOW_PRIVATE_TARGETS": "true"}


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    with webhook_receiver() as running:
        yield running


def wait_for(condition: Callable[[], bool], what: str, timeout: float = 20) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.05)


def sql(database_url: str, statement: str, **params: Any) -> None:
    engine = create_engine(to_sync_url(to_async_url(database_url)))
    try:
        with engine.begin() as conn:
            conn.execute(text(statement), params)
    finally:
        engine.dispose()


@pytest.mark.slow
def test_a_claimed_agent_gets_signed_webhooks_retried_across_a_restart(
    cli: RunCli, tmp_path: Path, receiver: Receiver
) -> None:
    with blank_database("sqlite", tmp_path) as database_url:
        server = start_server(database_url, tmp_path, extra_env=SERVER_ENV)
        try:
            agent = cli_sign_up(cli, server.base_url)
            unclaimed = cli("webhooks", "rotate-secret", "--json", env=agent.env)
            hint = expect(unclaimed, 4, "CLAIM_REQUIRED")["error"]["recovery"]
            assert hint["suggested_command"] == "image-skill claim request --json"
            claim(cli, database_url, tmp_path, agent)

            rotated = expect(cli("webhooks", "rotate-secret", "--json", env=agent.env), 0)
            secret = rotated["data"]["signing_secret"]
            assert secret.startswith("whsec_") and rotated["warnings"]
            shown = cli("webhooks", "show", "--json", env=agent.env)
            assert secret not in shown.stdout
            assert expect(shown, 0)["data"]["webhooks"]["signing_secret"]["exists"] is True
            set_default = cli("webhooks", "set-default", receiver.url, "--json", env=agent.env)
            assert expect(set_default, 0)["data"]["signing_secret"] is None  # kept, not re-shown

            receiver.answer_next(500)
            created = cli("create", "--prompt", PROMPT, "--json", env=agent.env)
            job_id = expect(created, 0)["data"]["job_id"]
            wait_for(lambda: len(receiver.received) == 1, "the first attempt")
            first = receiver.received[0]
            assert first.verified(secret)["data"]["job"]["job_id"] == job_id
            assert PROMPT not in first.body.decode()
            listed = cli("webhooks", "deliveries", "--json", env=agent.env)
            (delivery,) = expect(listed, 0)["data"]["deliveries"]
            assert (delivery["status"], delivery["attempts"]) == ("pending", 1)
            assert delivery["last_status_code"] == 500
            assert delivery["webhook_id"] == first.headers["webhook-id"]
        finally:
            stop_server(server)

        # Due now, while no server runs: the next one picks it up at start-up.
        sql(database_url, "UPDATE webhook_deliveries SET next_attempt_at = CURRENT_TIMESTAMP")
        server = start_server(database_url, tmp_path, extra_env=SERVER_ENV)
        try:
            wait_for(lambda: len(receiver.received) == 2, "the retry after the restart")
            second = receiver.received[1]
            assert second.headers["webhook-id"] == first.headers["webhook-id"]
            assert second.verified(secret) == first.verified(secret)
            base = ("--api-base-url", server.base_url)  # a new port; the token goes with it
            listed = cli("webhooks", "deliveries", *base, "--json", env=agent.env)
            (delivery,) = expect(listed, 0)["data"]["deliveries"]
            assert (delivery["status"], delivery["attempts"]) == ("delivered", 2)
            assert secret.removeprefix("whsec_") not in server.log()
        finally:
            stop_server(server)


@pytest.mark.slow
def test_the_server_delivers_by_itself_on_either_database(
    cli: RunCli, database_url: str, tmp_path: Path, receiver: Receiver
) -> None:
    server = start_server(database_url, tmp_path, extra_env=SERVER_ENV)
    try:
        agent = cli_sign_up(cli, server.base_url)
        claim(cli, database_url, tmp_path, agent)
        secret = expect(cli("webhooks", "rotate-secret", "--json", env=agent.env), 0)["data"]
        made = cli(
            "create", "--prompt", PROMPT, "--webhook-url", receiver.url, "--json", env=agent.env
        )
        job_id = expect(made, 0)["data"]["job_id"]
        wait_for(lambda: len(receiver.received) == 1, "the webhook")
        payload = receiver.received[0].verified(secret["signing_secret"])
        assert (payload["type"], payload["data"]["job"]["job_id"]) == ("job.completed", job_id)
        asset = payload["data"]["job"]["assets"][0]
        assert asset["url"].startswith(server.base_url + "/a/")  # the server's public base URL
        wait_for(lambda: delivered(cli, agent) == [("delivered", 1)], "the delivery log to say so")
    finally:
        stop_server(server)


def delivered(cli: RunCli, agent: CliAgent) -> list[tuple[str, int]]:
    listed = expect(cli("webhooks", "deliveries", "--json", env=agent.env), 0)["data"]
    return [(d["status"], d["attempts"]) for d in listed["deliveries"]]


def claim(cli: RunCli, database_url: str, workdir: Path, agent: CliAgent) -> None:
    """The operator marks the agent claimed, on the server's database."""
    env = {"IMAGE_SKILL_DATABASE_URL": database_url, "IMAGE_SKILL_HOME": str(workdir / "data")}
    agent_id = agent.actor["actor_id"]
    expect(cli("admin", "agents", "claim", agent_id, "--json", env=env), 0)
