"""``image-skill admin`` through the real CLI, on a running server's database (both kinds).

The operator's commands act on the database directly; their effects are then
seen by the running server: quota after a grant, claim state and daily cap
after a claim, TOKEN_REVOKED after a revocation.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import create_engine, select
from sqlalchemy.orm import Session

from image_skill.cli.runner import execute
from image_skill.contract.ids import new_id
from image_skill.service.db.models import CreditLedgerEntry, Feedback
from image_skill.service.settings import to_async_url, to_sync_url
from tests.support.cli import TRACEBACK, CliRun, RunCli
from tests.support.databases import blank_database
from tests.support.envelopes import assert_envelope
from tests.support.servers import Server, http_call, start_server, stop_server
from tests.support.web import file_url_path


def call(
    server: Server, method: str, path: str, token: str | None = None, body: Any = None
) -> tuple[int, dict[str, Any]]:
    """One HTTP call to the server: ``(status, envelope)``."""
    status, _headers, raw = http_call(server, method, path, body, token, timeout=30)
    return status, json.loads(raw)


def sign_up(server: Server, email: str, name: str) -> dict[str, Any]:
    status, envelope = call(
        server,
        "POST",
        "/v1/agent-signups",
        body={"human_email": email, "agent_name": name, "return_token": True},
    )
    assert status == 201, envelope
    data: dict[str, Any] = envelope["data"]
    return data


def together(*thunks: Callable[[], dict[str, Any]]) -> list[dict[str, Any]]:
    """Independent CLI processes at once (each is a fresh interpreter: mostly import time)."""
    with ThreadPoolExecutor(max_workers=len(thunks)) as pool:
        futures = [pool.submit(thunk) for thunk in thunks]
        return [future.result(timeout=120) for future in futures]


@dataclass
class Shared:
    """One server per database kind for the module (each test signs up its own agents)."""

    server: Server
    database_url: str
    env: dict[str, str]


@pytest.fixture(scope="module", params=["sqlite", "postgres"])
def shared(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Shared]:
    workdir = tmp_path_factory.mktemp(f"admin-{request.param}")
    with blank_database(request.param, workdir) as database_url:
        env = {"IMAGE_SKILL_TELEMETRY": "off", "IMAGE_SKILL_ENVIRONMENT": "test"}
        server = start_server(database_url, workdir, extra_env=env)
        try:
            # What the operator's shell holds: the server's database and home, nothing else.
            env = {
                "IMAGE_SKILL_DATABASE_URL": database_url,
                "IMAGE_SKILL_HOME": str(workdir / "server-data"),
            }
            yield Shared(server, database_url, env)
        finally:
            stop_server(server)


@pytest.fixture
def server(shared: Shared) -> Server:
    return shared.server


@pytest.fixture
def database_url(shared: Shared) -> str:
    return shared.database_url


Admin = Callable[..., dict[str, Any]]


def check(
    envelope: dict[str, Any], exit_code: int, actual_exit: int, code: str | None
) -> dict[str, Any]:
    assert actual_exit == exit_code, envelope
    assert_envelope(envelope, ok=code is None)
    assert (envelope["error"] or {}).get("code") == code, envelope
    assert envelope["command"].startswith("image-skill admin ")
    return envelope


@pytest.fixture
def admin(cli: RunCli, shared: Shared) -> Admin:
    """``admin(*words)``: ``image-skill admin ... --json`` as a process -> its envelope."""

    def run(*words: str, exit_code: int = 0, code: str | None = None) -> dict[str, Any]:
        result: CliRun = cli("admin", *words, "--json", env=shared.env)
        assert TRACEBACK not in result.stdout + result.stderr, result.stderr
        return check(result.envelope, exit_code, result.exit_code, code)

    return run


@pytest.fixture
def admin_here(shared: Shared, monkeypatch: pytest.MonkeyPatch) -> Admin:
    """The same command run in this process (the CLI's own runner), for the quick refusals."""
    for name, value in shared.env.items():
        monkeypatch.setenv(name, value)

    def run(*words: str, exit_code: int = 0, code: str | None = None) -> dict[str, Any]:
        result = execute(["admin", *words, "--json"])
        return check(result.envelope, exit_code, result.exit_code, code)

    return run


def test_agents_credits_claim_and_revoke(
    server: Server, admin: Admin, admin_here: Admin, database_url: str
) -> None:
    first = sign_up(server, "alice@example.com", "first")
    second = sign_up(server, "bob@example.com", "second")
    first_id, second_id = first["actor"]["actor_id"], second["actor"]["actor_id"]
    free = first["quota"]["free_preview_credits_granted"]

    # The grant touches only the first agent; the listing is checked on the second.
    listed, granted = together(
        lambda: admin("agents", "list"),
        lambda: admin(
            "credits", "grant", first_id, "--credits", "250", "--reason", "support refund"
        ),
    )
    agents = {agent["actor_id"]: agent for agent in listed["data"]["agents"]}
    assert {first_id, second_id} <= set(agents)
    assert agents[second_id]["claim_state"] == "unclaimed"
    assert agents[second_id]["sponsor"]["email"] == "bob@example.com"
    assert agents[second_id]["live_tokens"] == 1
    assert agents[second_id]["credits_balance"] == free
    assert first["token"] not in json.dumps(listed) and second["token"] not in json.dumps(listed)

    # The grant: one append-only row, visible in the agent's quota at once.
    assert granted["data"]["credits"] == 250
    assert granted["data"]["balance_after"] == free + 250
    status, quota = call(server, "GET", "/v1/quota", first["token"])
    assert status == 200 and quota["data"]["credits"]["balance"] == free + 250
    assert quota["data"]["jobs"]["daily_cap"] == 2
    engine = create_engine(to_sync_url(to_async_url(database_url)))
    try:
        with Session(engine) as session:
            query = select(CreditLedgerEntry).where(CreditLedgerEntry.actor_id == first_id)
            rows = list(session.execute(query).scalars())
    finally:
        engine.dispose()
    grants = [row for row in rows if (row.idempotency_scope or "").startswith("admin:")]
    assert len(grants) == 1 and grants[0].amount == 250 and grants[0].kind == "grant"
    assert grants[0].id == granted["data"]["credit_event_id"]
    assert grants[0].reason == "admin:support refund"

    # Claim the first agent; revoke the second agent's tokens and the agent itself.
    claimed, revoked = together(
        lambda: admin("agents", "claim", first_id),
        lambda: admin("tokens", "revoke", second_id, "--agent"),
    )
    assert claimed["data"]["previous_claim_state"] == "unclaimed"
    assert claimed["data"]["agent"]["claim_state"] == "claimed"
    status, who = call(server, "GET", "/v1/whoami", first["token"])
    assert status == 200 and who["data"]["claim_state"] == "claimed"
    status, quota = call(server, "GET", "/v1/quota", first["token"])
    assert quota["data"]["jobs"]["daily_cap"] == 500

    assert revoked["data"]["tokens_revoked"] == 1 and revoked["data"]["agent_revoked"] is True
    status, who = call(server, "GET", "/v1/whoami", second["token"])
    assert status == 401 and who["error"]["code"] == "TOKEN_REVOKED"
    status, who = call(server, "GET", "/v1/whoami", first["token"])
    assert status == 200

    # Filters and refusals (the same CLI runner, in this process: no new interpreter each).
    only_claimed = admin_here("agents", "list", "--claim-state", "claimed", "--limit", "5")
    assert [a["actor_id"] for a in only_claimed["data"]["agents"]] == [first_id]
    revoked_list = admin_here("agents", "list", "--claim-state", "revoked")
    assert [a["actor_id"] for a in revoked_list["data"]["agents"]] == [second_id]
    assert revoked_list["data"]["agents"][0]["live_tokens"] == 0
    missing = admin_here(
        "credits",
        "grant",
        "agt_nosuch",
        "--credits",
        "5",
        "--reason",
        "x",
        exit_code=1,
        code="NOT_FOUND",
    )
    assert missing["error"]["recovery"]["suggested_command"].startswith("image-skill admin")
    for credits in ("0", "1000001", "-5", "lots"):
        refused = admin_here(
            "credits",
            "grant",
            first_id,
            f"--credits={credits}",
            "--reason",
            "x",
            exit_code=2,
            code="INVALID_ARGUMENTS",
        )
        assert refused["error"]["details"]["field"] == "--credits"
    refused = admin_here(
        "credits", "grant", first_id, "--credits", "5", exit_code=2, code="INVALID_ARGUMENTS"
    )
    assert refused["error"]["details"]["field"] == "--reason"
    refused = admin_here("agents", "claim", second_id, exit_code=2, code="INVALID_ARGUMENTS")
    assert "revoked" in refused["error"]["message"]
    refused = admin_here(
        "agents", "list", "--claim-state", "bogus", exit_code=2, code="INVALID_ARGUMENTS"
    )
    assert refused["error"]["details"]["field"] == "--claim-state"
    refused = admin_here(
        "agents", "list", "--api-base-url", server.base_url, exit_code=2, code="INVALID_ARGUMENTS"
    )
    assert refused["error"]["details"]["field"] == "--api-base-url"
    admin_here("tokens", "revoke", "agt_nosuch", exit_code=1, code="NOT_FOUND")
    status, quota = call(server, "GET", "/v1/quota", first["token"])
    assert quota["data"]["credits"]["balance"] == free + 250, "a refused grant moved credits"


def test_feedback_list_and_triage(
    server: Server, admin: Admin, admin_here: Admin, database_url: str
) -> None:
    agent = sign_up(server, "carol@example.com", "feedbacker")
    now = datetime.now(UTC)
    states = ["new", "watch"]
    ids = [new_id("sig") for _ in states]
    engine = create_engine(to_sync_url(to_async_url(database_url)))
    try:
        with Session(engine) as session, session.begin():
            for index, (feedback_id, state) in enumerate(zip(ids, states, strict=True)):
                session.add(
                    Feedback(
                        id=feedback_id,
                        organization_id=agent["actor"]["organization_id"],
                        actor_id=agent["actor"]["actor_id"],
                        type="user_feedback",
                        title=f"title {index}",
                        body="what happened",
                        severity="medium",
                        confidence="high",
                        next_state=state,
                        surface=["cli"],
                        evidence=[],
                        quality_warnings=[],
                        occurrences=1,
                        created_at=now + timedelta(seconds=index),
                        updated_at=now + timedelta(seconds=index),
                    )
                )
        # The triage moves only the first item; the listing asks for the second's state.
        listed, triaged = together(
            lambda: admin("feedback", "list", "--next-state", "watch"),
            lambda: admin("feedback", "triage", ids[0], "--next-state", "fix", "--note", "on it"),
        )
        assert [f["feedback_id"] for f in listed["data"]["feedback"]] == [ids[1]]
        assert listed["data"]["feedback"][0]["title"] == "title 1"
        assert triaged["data"]["previous_next_state"] == "new"
        assert triaged["data"]["feedback"]["next_state"] == "fix"
        assert triaged["data"]["feedback"]["triage_note"] == "on it"
        with Session(engine) as session:
            row = session.get(Feedback, ids[0])
            assert row is not None and (row.next_state, row.triage_note) == ("fix", "on it")
            untouched = session.get(Feedback, ids[1])
            assert untouched is not None and untouched.next_state == "watch"
    finally:
        engine.dispose()

    mine = set(ids)
    everything = admin_here("feedback", "list", "--limit", "500")
    assert [
        f["feedback_id"] for f in everything["data"]["feedback"] if f["feedback_id"] in mine
    ] == [
        ids[1],
        ids[0],
    ]
    assert admin_here("feedback", "list", "--next-state", "new")["data"]["feedback"] == []
    missing = admin_here(
        "feedback", "triage", "sig_nosuch", "--next-state", "fix", exit_code=1, code="NOT_FOUND"
    )
    assert missing["error"]["message"] == "No feedback has that id."
    for bad in ("Not A State!", "x" * 40):
        refused = admin_here(
            "feedback", "triage", ids[1], "--next-state", bad, exit_code=2, code="INVALID_ARGUMENTS"
        )
        assert refused["error"]["details"]["field"] == "--next-state"
    refused = admin_here("feedback", "triage", ids[1], exit_code=2, code="INVALID_ARGUMENTS")
    assert refused["error"]["recovery"]["required_flag"] == "--next-state"
    admin_here("feedback", "list", "--limit", "0", exit_code=2, code="INVALID_ARGUMENTS")


def test_jobs_repair_delivers_the_spooled_image(cli: RunCli, isolated_home: Path) -> None:
    """Embedded mode: the store fails (its folder is a file), the paid image waits in the
    spool; once the store works again, ``admin jobs repair`` completes the job with it."""
    home = Path(os.environ["IMAGE_SKILL_HOME"])
    assert cli("whoami", "--json").exit_code == 0
    assets = home / "assets"
    shutil.rmtree(assets, ignore_errors=True)
    assets.write_text("not a folder")

    failed = cli("create", "--prompt", "a kite over dunes", "--json")
    assert (failed.exit_code, failed.code) == (9, "ARTIFACT_STORAGE_WRITE_FAILED")
    [job] = cli("jobs", "list", "--json").envelope["data"]["jobs"]
    assert job["error"]["repairable"] is True
    [spooled] = (home / "spool" / job["job_id"]).iterdir()
    image = spooled.read_bytes()

    still = check(*_admin_run(cli, "jobs", "repair"), 0, None)["data"]
    assert still["jobs"] == [{"job_id": job["job_id"], "outcome": "store_still_failing"}]

    assets.unlink()
    done = check(*_admin_run(cli, "jobs", "repair", job["job_id"]), 0, None)["data"]
    assert done["repaired"] == 1
    shown = cli("jobs", "show", job["job_id"], "--json").envelope["data"]["job"]
    assert shown["status"] == "completed" and shown["error"] is None
    [asset] = shown["assets"]
    assert asset["sha256"] == hashlib.sha256(image).hexdigest()
    assert file_url_path(asset["url"]).read_bytes() == image
    assert not spooled.exists()

    again = _admin_run(cli, "jobs", "repair", job["job_id"])
    check(*again, 1, "CONFLICT")


def _admin_run(cli: RunCli, *words: str) -> tuple[dict[str, Any], int]:
    result = cli("admin", *words, "--json")
    assert TRACEBACK not in result.stdout + result.stderr, result.stderr
    return result.envelope, result.exit_code
